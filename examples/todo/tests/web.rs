//! The web app's files as `example-todo` serves them: the page, the app's own files and the allow-listed
//! vendor files with their content types; nothing else of the web folder; and a page that says to run
//! `npm ci` when the vendor files are missing.

use std::path::{Path, PathBuf};
use std::process::Command;

use example_support::testing::{self, Response};

/// The app's folder in this repository (its own files are committed; `node_modules` may be absent).
fn app_folder() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("web")
}

/// Every vendor URL, the file under the web root it comes from, and its content type.
const VENDOR: &[(&str, &str, &str)] = &[
    ("/vendor/todomvc-app.css", "node_modules/todomvc-app-css/index.css", "text/css; charset=utf-8"),
    ("/vendor/jquery.js", "node_modules/jquery/dist/jquery.js", "text/javascript; charset=utf-8"),
    ("/vendor/underscore-umd.js", "node_modules/underscore/underscore-umd.js", "text/javascript; charset=utf-8"),
    ("/vendor/underscore-umd.js.map", "node_modules/underscore/underscore-umd.js.map", "application/json"),
    ("/vendor/backbone.js", "node_modules/backbone/backbone.js", "text/javascript; charset=utf-8"),
    ("/vendor/faye-browser.js", "node_modules/faye/client/faye-browser.js", "text/javascript; charset=utf-8"),
    ("/vendor/faye-browser.js.map", "node_modules/faye/client/faye-browser.js.map", "application/json"),
    ("/vendor/backbone-live.js", "node_modules/backbone-live/backbone-live.js", "text/javascript; charset=utf-8"),
];

struct Server {
    process: testing::Server,
    _db: tempfile::TempDir,
}

impl Server {
    /// Starts the binary on a free port with a fresh database; `web_root`: `--web-root`, or the default.
    fn start(web_root: Option<&Path>) -> Server {
        let db = tempfile::tempdir().expect("temp dir");
        let database = format!("sqlite://{}", db.path().join("todo.db").display());
        let mut command = Command::new(env!("CARGO_BIN_EXE_example-todo"));
        command.args(["--bind", "127.0.0.1:0", "--database", &database]);
        if let Some(root) = web_root {
            command.arg("--web-root").arg(root);
        }
        command.current_dir(db.path());
        Server { process: testing::Server::start(&mut command), _db: db }
    }

    /// A GET with `path` sent exactly as given (no client-side normalisation), on a fresh connection.
    fn get(&self, path: &str) -> Response {
        let response = self.process.get(path);
        assert!(
            !response.head.to_ascii_lowercase().contains("transfer-encoding: chunked"),
            "static files are sent with a length: {}",
            response.head
        );
        response
    }
}

/// A web root with the app's real files and, under `node_modules`, one distinct small file per vendor
/// entry, plus files that must never be served.
fn installed_root() -> tempfile::TempDir {
    let root = tempfile::tempdir().expect("temp dir");
    for file in ["index.html", "app.js", "app.css", "package.json"] {
        std::fs::copy(app_folder().join(file), root.path().join(file)).expect("copy an app file");
    }
    for (url, file, _) in VENDOR {
        let path = root.path().join(file);
        std::fs::create_dir_all(path.parent().expect("a parent")).expect("mkdir");
        std::fs::write(&path, format!("/* vendor file for {url} */\n")).expect("write a vendor file");
    }
    std::fs::write(root.path().join("node_modules/secret.txt"), "not for the web").expect("write");
    root
}

#[test]
fn serves_the_page_the_app_files_and_every_vendor_file_with_its_content_type() {
    let root = installed_root();
    let server = Server::start(Some(root.path()));

    let page = server.get("/");
    assert_eq!(page.status, 200, "{}", page.text());
    assert_eq!(page.header("content-type"), Some("text/html; charset=utf-8"));
    assert_eq!(page.body, std::fs::read(app_folder().join("index.html")).expect("index.html"));
    assert!(page.text().contains("<section class=\"todoapp\">"));
    assert_eq!(server.get("/index.html").body, page.body);

    for (url, file, content_type) in
        [("/app.js", "app.js", "text/javascript; charset=utf-8"), ("/app.css", "app.css", "text/css; charset=utf-8")]
    {
        let response = server.get(url);
        assert_eq!(response.status, 200, "{url}");
        assert_eq!(response.header("content-type"), Some(content_type), "{url}");
        assert_eq!(response.body, std::fs::read(app_folder().join(file)).expect("an app file"), "{url}");
    }
    for (url, _, content_type) in VENDOR {
        let response = server.get(url);
        assert_eq!(response.status, 200, "{url}");
        assert_eq!(response.header("content-type"), Some(*content_type), "{url}");
        assert_eq!(response.header("x-content-type-options"), Some("nosniff"), "{url}");
        assert_eq!(response.text(), format!("/* vendor file for {url} */\n"));
    }

    // The page names only files that are served.
    for src in page.text().split("src=\"").skip(1).chain(page.text().split("href=\"").skip(1)) {
        let link = src.split('"').next().unwrap_or_default();
        if link.starts_with('#') || link.starts_with("data:") {
            continue;
        }
        assert_eq!(server.get(&format!("/{link}")).status, 200, "the page links {link}");
    }

    // The REST API and Bayeux are still there beside the page.
    assert_eq!(server.get("/api/todos").status, 200);
}

#[test]
fn nothing_outside_the_allow_list_is_served() {
    let root = installed_root();
    let server = Server::start(Some(root.path()));
    for path in [
        "/vendor/../../Cargo.toml",
        "/vendor/..%2F..%2FCargo.toml",
        "/vendor/%2e%2e/%2e%2e/Cargo.toml",
        "/vendor/../package.json",
        "/../Cargo.toml",
        "/package.json",
        "/node_modules/backbone/backbone.js",
        "/node_modules/secret.txt",
        "/vendor/secret.txt",
        "/vendor/",
        "/vendor",
        "/vendor/backbone.js/",
        "/web/index.html",
        "/app.js/../package.json",
    ] {
        let response = server.get(path);
        assert_eq!(response.status, 404, "{path} answered {} {}", response.status, response.text());
        assert!(!response.text().contains("not for the web"), "{path}");
        assert!(!response.text().contains("\"name\""), "{path} leaked a package.json");
    }
}

#[test]
fn without_node_modules_the_page_says_to_run_npm_ci() {
    let root = tempfile::tempdir().expect("temp dir");
    for file in ["index.html", "app.js", "app.css"] {
        std::fs::copy(app_folder().join(file), root.path().join(file)).expect("copy an app file");
    }
    let server = Server::start(Some(root.path()));
    let page = server.get("/");
    assert_eq!(page.status, 503);
    assert_eq!(page.header("content-type"), Some("text/html; charset=utf-8"));
    let text = page.text();
    assert!(text.contains("npm ci"), "{text}");
    assert!(text.contains(&root.path().display().to_string()), "the page names the folder: {text}");
    assert!(text.contains("node_modules/backbone/backbone.js"), "the page names a missing file: {text}");
    assert_eq!(server.get("/vendor/backbone.js").status, 404);
    // The API works meanwhile.
    assert_eq!(server.get("/api/todos").status, 200);
}

#[test]
fn by_default_the_app_comes_from_this_crate_web_folder() {
    // Started in a temp dir, far from the repository, with no --web-root.
    let server = Server::start(None);
    let script = server.get("/app.js");
    assert_eq!(script.status, 200);
    assert_eq!(script.body, std::fs::read(app_folder().join("app.js")).expect("app.js"));
}
