//! What the integration tests of `example-todo` share: starting the binary and learning where it listens.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// How long the server may take to say where it listens.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// Spawns `command` (the binary with its arguments and working directory), without colour and without
/// the caller's DATABASE_URL and LIVE_BIND, and waits (bounded) for its "listening on" line. Returns the
/// child and the address it listens on; the server's stdout is echoed with a `server:` prefix.
pub fn spawn_listening(command: &mut Command) -> (Child, String) {
    let mut child = command
        .env("NO_COLOR", "1")
        .env_remove("DATABASE_URL")
        .env_remove("LIVE_BIND")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("example-todo starts");
    let stdout = child.stdout.take().expect("piped stdout");
    let (found, address) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { return };
            println!("server: {line}");
            if let Some(rest) = line.split("listening on http://").nth(1) {
                let addr = rest.split_whitespace().next().unwrap_or_default().to_owned();
                let _ = found.send(addr);
            }
        }
    });
    match address.recv_timeout(START_TIMEOUT) {
        Ok(addr) => (child, addr),
        Err(error) => {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the server logs where it listens: {error}");
        }
    }
}
