//! An example's web page: `index.html`, the page's own script and style, and a fixed allow-list of vendor
//! files from the web folder's `node_modules` (installed there by `npm ci`), all read from the web root.
//!
//! Every URL served here is named in a table: `/`, `/index.html`, `/app.js`, `/app.css`, and under
//! `/vendor/` the files of jquery, underscore, backbone, faye and backbone-live (with their source maps) plus
//! the example's own [`WebApp::vendor`] files. A request is looked up in that table and nothing else, so there
//! is no directory listing and no path to traverse (`/vendor/../../Cargo.toml` matches no entry). When a file
//! the page needs is missing, `/` answers a page that says to run `npm ci` in the web folder instead of a
//! broken page. Knows nothing of the store or of Bayeux: the page talks to the REST API and `/live` like any
//! other client.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const MAP: &str = "application/json";

/// What an example serves at `/`, and how its set-up page names it.
#[derive(Clone, Copy, Debug)]
pub struct WebApp {
    /// The example's name, as the set-up page says it: `todo` gives "The todo web app is not installed".
    pub name: &'static str,
    /// What it is: `app` or `page`.
    pub noun: &'static str,
    /// The REST API the set-up page says works meanwhile, such as `/api/todos`.
    pub api: &'static str,
    /// The example's own vendor files, besides those every example serves (jquery, underscore, backbone,
    /// faye and backbone-live).
    pub vendor: &'static [Vendor],
}

/// A file of the web folder's `node_modules`, served at `/vendor/{name}`. It keeps its file name, so that
/// the `sourceMappingURL` comment at its end resolves to the map listed beside it.
#[derive(Clone, Copy, Debug)]
pub struct Vendor {
    /// Its name under `/vendor/`.
    name: &'static str,
    /// Its path below the web root.
    file: &'static str,
    /// Its `Content-Type`.
    content_type: &'static str,
    /// Whether the page needs it (source maps are only for developer tools).
    required: bool,
}

impl Vendor {
    /// A script the page needs, served at `/vendor/{name}` from `file` below the web root.
    pub const fn script(name: &'static str, file: &'static str) -> Vendor {
        Vendor { name, file, content_type: JS, required: true }
    }

    /// A style sheet the page needs, served at `/vendor/{name}` from `file` below the web root.
    pub const fn style(name: &'static str, file: &'static str) -> Vendor {
        Vendor { name, file, content_type: CSS, required: true }
    }

    /// A source map, served at `/vendor/{name}` from `file` below the web root; the page works without it.
    pub const fn source_map(name: &'static str, file: &'static str) -> Vendor {
        Vendor { name, file, content_type: MAP, required: false }
    }
}

/// The page's own files: URL, path below the web root, `Content-Type`.
const PAGE: &[(&str, &str, &str)] =
    &[("/", "index.html", HTML), ("/app.js", "app.js", JS), ("/app.css", "app.css", CSS)];

/// The vendor files of every example's page.
const VENDOR: &[Vendor] = &[
    Vendor::script("jquery.js", "node_modules/jquery/dist/jquery.js"),
    Vendor::script("underscore-umd.js", "node_modules/underscore/underscore-umd.js"),
    Vendor::source_map("underscore-umd.js.map", "node_modules/underscore/underscore-umd.js.map"),
    Vendor::script("backbone.js", "node_modules/backbone/backbone.js"),
    Vendor::script("faye-browser.js", "node_modules/faye/client/faye-browser.js"),
    Vendor::source_map("faye-browser.js.map", "node_modules/faye/client/faye-browser.js.map"),
    Vendor::script("backbone-live.js", "node_modules/backbone-live/backbone-live.js"),
];

/// A [`WebApp`] and the folder it is served from: the state of its routes.
struct Site {
    app: WebApp,
    root: PathBuf,
}

impl WebApp {
    /// The routes of the page, serving files from `root` (normally the example's `web` folder).
    pub fn router(self, root: PathBuf) -> Router {
        Router::new()
            .route("/", get(index))
            .route("/index.html", get(index))
            .route("/app.js", get(app_file))
            .route("/app.css", get(app_file))
            .route("/vendor/{name}", get(vendor_file))
            .with_state(Arc::new(Site { app: self, root }))
    }

    /// The files the page needs that are missing under `root`, as their paths below it.
    pub fn missing(&self, root: &Path) -> Vec<&'static str> {
        let page = PAGE.iter().map(|&(_, file, _)| file);
        let vendor = self.vendor_files().filter(|vendor| vendor.required).map(|vendor| vendor.file);
        page.chain(vendor).filter(|file| !root.join(file).is_file()).collect()
    }

    /// The example's own vendor files, then those of every example.
    fn vendor_files(&self) -> impl Iterator<Item = &'static Vendor> {
        self.vendor.iter().chain(VENDOR)
    }

    /// 503 with a page naming the web folder, the command to run there and the files it lacks.
    fn setup_page(&self, root: &Path, missing: &[&str]) -> Response {
        let WebApp { name, noun, api, .. } = self;
        let folder = escape(&root.display().to_string());
        let mut list = String::new();
        for file in missing {
            let _ = write!(list, "<li><code>{}</code></li>", escape(file));
        }
        let page = format!(
            "<!doctype html>\n<html lang=\"en\">\n<head><meta charset=\"utf-8\"><title>{name} {noun} not installed</title></head>\n\
             <body>\n<h1>The {name} web {noun} is not installed</h1>\n\
             <p>Its files are not in <code>{folder}</code>. Install them with</p>\n\
             <pre>cd {folder} &amp;&amp; npm ci</pre>\n\
             <p>and reload this page (or start the server with <code>--web-root DIR</code> naming the folder of the \
             {noun}). The REST API at <code>{api}</code> and Bayeux at <code>/live</code> work meanwhile.</p>\n\
             <p>Missing:</p>\n<ul>{list}</ul>\n</body>\n</html>\n"
        );
        (StatusCode::SERVICE_UNAVAILABLE, [(header::CACHE_CONTROL, "no-cache")], Html(page)).into_response()
    }
}

/// `/`: the page, or a page saying how to install it.
async fn index(State(site): State<Arc<Site>>) -> Response {
    let check = Arc::clone(&site);
    let missing = tokio::task::spawn_blocking(move || check.app.missing(&check.root)).await.unwrap_or_default();
    if missing.is_empty() {
        serve(&site.root, "index.html", HTML).await
    } else {
        site.app.setup_page(&site.root, &missing)
    }
}

/// `/app.js`, `/app.css`: the page's own files.
async fn app_file(State(site): State<Arc<Site>>, uri: Uri) -> Response {
    match PAGE.iter().find(|&&(url, _, _)| url == uri.path()) {
        Some(&(_, file, content_type)) => serve(&site.root, file, content_type).await,
        None => not_found(),
    }
}

/// `/vendor/{name}`: a file of the allow-list, else 404.
async fn vendor_file(State(site): State<Arc<Site>>, UrlPath(name): UrlPath<String>) -> Response {
    match site.app.vendor_files().find(|vendor| vendor.name == name) {
        Some(vendor) => serve(&site.root, vendor.file, vendor.content_type).await,
        None => not_found(),
    }
}

/// Answers `file` below `root` as `content_type`: 404 when it is not there.
async fn serve(root: &Path, file: &str, content_type: &'static str) -> Response {
    let path = root.join(file);
    let read = {
        let path = path.clone();
        tokio::task::spawn_blocking(move || std::fs::read(path)).await
    };
    match read {
        Ok(Ok(bytes)) => (
            [
                (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
                // The files change when the page is edited or `npm ci` runs again: revalidate each time.
                (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
                (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
            ],
            bytes,
        )
            .into_response(),
        Ok(Err(error)) if error.kind() == std::io::ErrorKind::NotFound => not_found(),
        Ok(Err(error)) => {
            tracing::error!(path = %path.display(), "cannot read a web file: {error}");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
        Err(error) => {
            tracing::error!(path = %path.display(), "reading a web file failed: {error}");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

fn not_found() -> Response {
    (StatusCode::NOT_FOUND, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], "not found\n").into_response()
}

/// Escapes text for HTML.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const APP: WebApp = WebApp {
        name: "demo",
        noun: "app",
        api: "/api/demos",
        vendor: &[Vendor::style("demo.css", "node_modules/demo-css/index.css")],
    };

    #[test]
    fn every_url_is_listed_once_and_every_file_stays_in_the_root() {
        let vendor: Vec<_> = APP.vendor_files().collect();
        for (index, asset) in vendor.iter().enumerate() {
            assert!(vendor[index + 1..].iter().all(|other| other.name != asset.name), "{} listed twice", asset.name);
            assert!(!asset.name.contains('/'), "{} is not one segment", asset.name);
        }
        let files = PAGE.iter().map(|&(_, file, _)| file).chain(vendor.iter().map(|vendor| vendor.file));
        for file in files {
            assert!(!file.contains(".."), "{file} leaves the root");
            assert!(!file.starts_with('/'), "{file} is absolute");
        }
    }

    #[test]
    fn the_example_vendor_files_come_first_and_source_maps_are_optional() {
        let missing = APP.missing(Path::new("/nonexistent-web-root"));
        assert_eq!(missing[..4], ["index.html", "app.js", "app.css", "node_modules/demo-css/index.css"]);
        assert!(missing.iter().all(|file| !file.ends_with(".map")), "{missing:?}");
        assert_eq!(missing.len(), 3 + 1 + VENDOR.iter().filter(|vendor| vendor.required).count());
    }

    #[test]
    fn escape_neutralises_markup() {
        assert_eq!(escape("<a href=\"x\">&'"), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;");
    }
}
