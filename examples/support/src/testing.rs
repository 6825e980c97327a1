//! Starting an example's binary in its integration tests: a real process on a real socket, spoken to in
//! plain HTTP/1.1 so that every byte sent is the test's own.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// How long the server may take to say where it listens.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a request may wait for its answer.
const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// A running example binary, killed when dropped.
#[derive(Debug)]
pub struct Server {
    child: Child,
    addr: String,
}

/// An answer as it came over the wire.
#[derive(Debug)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The status line and the headers.
    pub head: String,
    /// The body, as sent.
    pub body: Vec<u8>,
}

impl Server {
    /// Spawns `command` (the binary with its arguments and working directory), without colour and without
    /// the caller's `DATABASE_URL`, `LIVE_BIND` and `LIVE_WEB_ROOT`, and waits (bounded) for its "listening
    /// on" line. The server's stdout is echoed with a `server:` prefix.
    ///
    /// # Panics
    ///
    /// When the binary does not start, or does not say where it listens within 30 s.
    pub fn start(command: &mut Command) -> Server {
        let program = command.get_program().to_string_lossy().into_owned();
        let mut child = command
            .env("NO_COLOR", "1")
            .env_remove("DATABASE_URL")
            .env_remove("LIVE_BIND")
            .env_remove("LIVE_WEB_ROOT")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|error| panic!("{program} starts: {error}"));
        let stdout = child.stdout.take().expect("piped stdout");
        let (found, address) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                println!("server: {line}");
                if let Some(rest) = line.split("listening on http://").nth(1) {
                    let _ = found.send(rest.split_whitespace().next().unwrap_or_default().to_owned());
                }
            }
        });
        match address.recv_timeout(START_TIMEOUT) {
            Ok(addr) => Server { child, addr },
            Err(error) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("the server logs where it listens: {error}");
            }
        }
    }

    /// The address it listens on, as `host:port`.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// One request with a JSON `body` (none: empty) on a fresh connection; returns the status and the body.
    ///
    /// # Panics
    ///
    /// When the server does not answer with a status line within 10 s.
    pub fn request(&self, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
        let body = body.unwrap_or("");
        let response = self.exchange(&format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            self.addr,
            body.len()
        ));
        (response.status, response.text())
    }

    /// A GET with `path` sent exactly as given (no client-side normalisation), on a fresh connection.
    ///
    /// # Panics
    ///
    /// When the server does not answer with a complete head within 10 s.
    pub fn get(&self, path: &str) -> Response {
        self.exchange(&format!("GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n", self.addr))
    }

    /// Sends `request` on a fresh connection and reads the answer until the server closes it.
    fn exchange(&self, request: &str) -> Response {
        let mut stream = TcpStream::connect(&self.addr).expect("connect");
        stream.set_read_timeout(Some(READ_TIMEOUT)).expect("timeout");
        stream.write_all(request.as_bytes()).expect("send");
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).expect("read");
        let split = raw.windows(4).position(|window| window == b"\r\n\r\n").expect("a complete head");
        let head = String::from_utf8_lossy(&raw[..split]).into_owned();
        let status = head.split(' ').nth(1).and_then(|code| code.parse().ok()).expect("a status line");
        let body = raw[split + 4..].to_vec();
        Response { status, head, body }
    }

    /// Sends SIGTERM and waits (bounded) for the process to exit.
    ///
    /// # Panics
    ///
    /// When `kill` cannot be run, or the process is still running 10 s after it.
    pub fn stop(mut self) -> ExitStatus {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status().expect("kill runs");
        assert!(sent.success());
        for _ in 0..200 {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            std::thread::sleep(Duration::from_millis(50)); // polling a child's exit, bounded to 10 s
        }
        panic!("the server did not stop within 10 s of SIGTERM");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Response {
    /// The value of header `name` (case-insensitive), if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().skip(1).find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.trim().eq_ignore_ascii_case(name).then(|| value.trim())
        })
    }

    /// The body as text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}
