//! `example-todo` as a user runs it: a real process on a real socket, with no set-up.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command};
use std::time::Duration;

struct Server {
    child: Child,
    addr: String,
}

impl Server {
    /// Starts the binary in `dir` with `args` and waits (bounded) for its "listening on" line.
    fn start(dir: &Path, args: &[&str]) -> Server {
        let (child, addr) =
            common::spawn_listening(Command::new(env!("CARGO_BIN_EXE_example-todo")).args(args).current_dir(dir));
        Server { child, addr }
    }

    /// One HTTP/1.1 request on a fresh connection; returns the status and the body.
    fn request(&self, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
        let mut stream = TcpStream::connect(&self.addr).expect("connect");
        stream.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
        let body = body.unwrap_or("");
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            self.addr,
            body.len()
        )
        .expect("send");
        let mut response = String::new();
        stream.read_to_string(&mut response).expect("read");
        let status = response.split(' ').nth(1).and_then(|code| code.parse().ok()).expect("a status line");
        let body = response.split_once("\r\n\r\n").map(|(_, body)| body.to_owned()).unwrap_or_default();
        (status, body)
    }

    /// Sends SIGTERM and waits (bounded) for a clean exit.
    fn stop(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status().expect("kill runs");
        assert!(sent.success());
        for _ in 0..200 {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            std::thread::sleep(Duration::from_millis(50)); // polling a child's exit, bounded to 10 s
        }
        let _ = self.child.kill();
        panic!("example-todo did not stop within 10 s of SIGTERM");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|error| panic!("not JSON ({error}): {body}"))
}

#[test]
fn starts_with_no_setup_on_a_sqlite_file_in_the_working_directory() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = Server::start(dir.path(), &["--bind", "127.0.0.1:0"]);

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
    let server = Server::start(dir.path(), &["--bind", "127.0.0.1:0", "--database", &database]);

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
    let server = Server::start(dir.path(), &["--bind", "127.0.0.1:0"]);
    let (status, _) = server.request("POST", "/api/todos", Some(r#"{"title":"persist me","order":3}"#));
    assert_eq!(status, 201);
    assert!(server.stop().success());

    let server = Server::start(dir.path(), &["--bind", "127.0.0.1:0"]);
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
