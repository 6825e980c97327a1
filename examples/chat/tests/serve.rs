//! `example-chat` as a user runs it: a real process on a real socket, with no set-up.

use std::path::Path;
use std::process::Command;

use example_support::testing;
use serde_json::{Value, json};

struct Server(testing::Server);

impl Server {
    /// Starts the binary in `dir` with `args` and waits (bounded) for its "listening on" line.
    fn start(dir: &Path, args: &[&str]) -> Server {
        Server(testing::Server::start(Command::new(env!("CARGO_BIN_EXE_example-chat")).args(args).current_dir(dir)))
    }

    /// One HTTP/1.1 request with a JSON body on a fresh connection; returns the status and the body.
    fn request(&self, method: &str, path: &str, body: Option<&Value>) -> (u16, String) {
        self.0.request(method, path, body.map(Value::to_string).as_deref())
    }

    /// Like `request`, for a JSON answer with status `expected`.
    fn json(&self, method: &str, path: &str, body: Option<&Value>, expected: u16) -> Value {
        let (status, answer) = self.request(method, path, body);
        assert_eq!(status, expected, "{method} {path} → {answer}");
        serde_json::from_str(&answer).unwrap_or_else(|error| panic!("not JSON ({error}): {answer}"))
    }
}

#[test]
fn rooms_and_their_messages_on_a_sqlite_file_in_the_working_directory() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = Server::start(dir.path(), &["--bind", "127.0.0.1:0"]);

    let room = server.json("POST", "/api/rooms", Some(&json!({"name": "general"})), 201);
    let room_id = room["id"].as_i64().expect("a server-assigned integer id");
    let path = format!("/api/rooms/{room_id}/messages");

    // The room comes from the path; the time from the server's clock, whatever the body says.
    let sent = json!({"author": "ada", "text": "hello", "sent_at": "2000-01-01T00:00:00Z"});
    let message = server.json("POST", &path, Some(&sent), 201);
    assert_eq!(message["room_id"], room_id);
    let sent_at = message["sent_at"].as_str().expect("sent_at is set").to_owned();
    assert!(!sent_at.starts_with("2000-"), "sent_at is the server's: {sent_at}");

    // An edit keeps the stored time.
    let id = message["id"].as_i64().expect("an id");
    let patch = json!({"text": "hello again", "sent_at": "2000-01-01T00:00:00Z"});
    let edited = server.json("PATCH", &format!("{path}/{id}"), Some(&patch), 200);
    assert_eq!(edited["text"], "hello again");
    assert_eq!(edited["sent_at"], sent_at.as_str());

    let list = server.json("GET", &path, None, 200);
    assert_eq!(list, json!([edited]));
    assert!(dir.path().join("chat.db").exists(), "the default database is chat.db in the working directory");
}

#[test]
fn names_and_texts_are_checked() {
    let dir = tempfile::tempdir().expect("temp dir");
    let database = format!("sqlite://{}", dir.path().join("checks.db").display());
    let server = Server::start(dir.path(), &["--bind", "127.0.0.1:0", "--database", &database]);

    for (name, field) in [(json!(""), "name"), (json!("   "), "name"), (json!("x".repeat(81)), "name")] {
        let refused = server.json("POST", "/api/rooms", Some(&json!({ "name": name })), 422);
        assert!(refused["error"]["fields"][field].is_string(), "{refused}");
    }
    let room = server.json("POST", "/api/rooms", Some(&json!({"name": "x".repeat(80)})), 201);
    let path = format!("/api/rooms/{}/messages", room["id"]);
    let refusals = [
        (json!({"author": "", "text": "hi"}), "author"),
        (json!({"author": "a".repeat(41), "text": "hi"}), "author"),
        (json!({"author": "ada", "text": " \n "}), "text"),
        (json!({"author": "ada", "text": "t".repeat(2001)}), "text"),
    ];
    for (body, field) in refusals {
        let refused = server.json("POST", &path, Some(&body), 422);
        assert!(refused["error"]["fields"][field].is_string(), "{body} → {refused}");
    }
    assert_eq!(server.json("GET", &path, None, 200), json!([]), "nothing was written");
    server.json("POST", &path, Some(&json!({"author": "a".repeat(40), "text": "t".repeat(2000)})), 201);
}

#[test]
fn the_page_is_served_at_the_root_or_says_how_to_install_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let web = Path::new(env!("CARGO_MANIFEST_DIR")).join("web");
    let web = web.to_str().expect("a UTF-8 path");
    let server = Server::start(dir.path(), &["--bind", "127.0.0.1:0", "--web-root", web]);
    let (status, body) = server.request("GET", "/", None);
    if Path::new(web).join("node_modules").is_dir() {
        assert_eq!(status, 200, "{body}");
        assert!(body.contains("id=\"composer\""), "{body}");
        assert_eq!(server.request("GET", "/vendor/backbone-live.js", None).0, 200);
    } else {
        assert_eq!(status, 503, "{body}");
        assert!(body.contains("npm ci"), "{body}");
    }
    assert_eq!(server.request("GET", "/app.js", None).0, 200);
    assert_eq!(server.request("GET", "/vendor/../Cargo.toml", None).0, 404);

    // Without a page folder, the API still works.
    let empty = tempfile::tempdir().expect("temp dir");
    let bare = Server::start(dir.path(), &["--bind", "127.0.0.1:0", "--web-root", &empty.path().display().to_string()]);
    assert_eq!(bare.request("GET", "/", None).0, 503);
    bare.json("GET", "/api/rooms", None, 200);
}
