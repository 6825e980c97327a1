//! `example-todo` as a user runs it: a real process on a real socket, with no set-up.

use std::path::Path;
use std::process::Command;

use example_support::testing::Server;

/// Starts the binary in `dir` with `args` and waits (bounded) for its "listening on" line.
fn start(dir: &Path, args: &[&str]) -> Server {
    Server::start(Command::new(env!("CARGO_BIN_EXE_example-todo")).args(args).current_dir(dir))
}

fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|error| panic!("not JSON ({error}): {body}"))
}

#[test]
fn starts_with_no_setup_on_a_sqlite_file_in_the_working_directory() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = start(dir.path(), &["--bind", "127.0.0.1:0"]);

    let (status, body) = server.request("POST", "/api/todos", Some(r#"{"title":"buy milk"}"#));
    assert_eq!(status, 201, "{body}");
    let created = json(&body);
    assert_eq!(created["title"], "buy milk");
    assert_eq!(created["completed"], false, "completed defaults to false");
    assert_eq!(created["order"], 0, "order defaults to 0");
    let id = created["id"].as_i64().expect("a server-assigned integer id");

    let (status, body) = server.request("GET", "/api/todos", None);
    assert_eq!(status, 200);
    assert_eq!(json(&body), serde_json::json!([created]));

    let (status, body) = server.request("PATCH", &format!("/api/todos/{id}"), Some(r#"{"completed":true}"#));
    assert_eq!(status, 200, "{body}");
    assert_eq!(json(&body)["completed"], true);

    assert!(dir.path().join("todo.db").exists(), "the default database is todo.db in the working directory");
    assert!(server.stop().success(), "SIGTERM stops the server cleanly");
}

#[test]
fn a_todo_needs_a_title() {
    let dir = tempfile::tempdir().expect("temp dir");
    let database = format!("sqlite://{}", dir.path().join("titles.db").display());
    let server = start(dir.path(), &["--bind", "127.0.0.1:0", "--database", &database]);

    for body in [r#"{"title":""}"#, r#"{"title":"   "}"#, r#"{"completed":true}"#] {
        let (status, answer) = server.request("POST", "/api/todos", Some(body));
        assert_eq!(status, 422, "{body} → {answer}");
        assert!(json(&answer)["error"]["fields"]["title"].is_string(), "{answer}");
    }
    let (_, list) = server.request("GET", "/api/todos", None);
    assert_eq!(json(&list), serde_json::json!([]), "nothing was written");
}

#[test]
fn data_survives_a_restart() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = start(dir.path(), &["--bind", "127.0.0.1:0"]);
    let (status, _) = server.request("POST", "/api/todos", Some(r#"{"title":"persist me","order":3}"#));
    assert_eq!(status, 201);
    assert!(server.stop().success());

    let server = start(dir.path(), &["--bind", "127.0.0.1:0"]);
    let (_, list) = server.request("GET", "/api/todos", None);
    let list = json(&list);
    assert_eq!(list[0]["title"], "persist me");
    assert_eq!(list[0]["order"], 3);
}

#[test]
fn a_bad_database_url_is_a_clear_startup_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let output = Command::new(env!("CARGO_BIN_EXE_example-todo"))
        .args(["--bind", "127.0.0.1:0", "--database", "mongodb://127.0.0.1/todos"])
        .current_dir(dir.path())
        .env("NO_COLOR", "1")
        .output()
        .expect("example-todo runs");
    assert!(!output.status.success());
    let printed = String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr);
    assert!(printed.contains("mongodb://127.0.0.1/todos"), "the error names the URL: {printed}");
}
