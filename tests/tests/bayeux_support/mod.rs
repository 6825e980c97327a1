//! Helpers for the Bayeux protocol suites: a server on `127.0.0.1:0`, a tiny HTTP/1.1 client for
//! long-polling, and a WebSocket client. Every wait is bounded by [`WAIT`].

#![allow(dead_code, unreachable_pub)] // Each suite uses a different subset.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http::{HeaderMap, Method, Request, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use live_runtime::bayeux::{Options, Server};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message as Frame;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// The longest any single step may take before the test fails.
pub const WAIT: Duration = Duration::from_secs(5);

/// Fails the test if `future` does not finish within [`WAIT`].
pub async fn bounded<F: Future>(what: &str, future: F) -> F::Output {
    match tokio::time::timeout(WAIT, future).await {
        Ok(output) => output,
        Err(_) => panic!("timed out after {WAIT:?}: {what}"),
    }
}

/// Polls `condition` until it holds, failing after [`WAIT`].
pub async fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    bounded(what, async {
        while !condition() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
}

/// A Bayeux server serving on a local port until dropped.
pub struct TestServer {
    pub addr: SocketAddr,
    pub server: Server,
    task: JoinHandle<()>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Options for tests: a 2 s hold, so a held connect is clearly distinguishable from an immediate one.
pub fn options() -> Options {
    Options::default().timeout(Duration::from_secs(2)).allow_publish("/chat/**").expect("a valid pattern")
}

/// Starts `options` on `127.0.0.1:0`.
pub async fn start(options: Options) -> TestServer {
    let server = Server::new(options);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind a local port");
    let addr = listener.local_addr().expect("a local address");
    let app = server.router();
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.expect("serve");
    });
    TestServer { addr, server, task }
}

/// An HTTP response, read whole.
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    /// The body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
}

/// A client of a test server that can be moved into a task.
#[derive(Debug, Clone, Copy)]
pub struct Probe(pub SocketAddr);

impl Probe {
    /// Sends one request on a fresh connection.
    pub async fn request(&self, method: Method, path: &str, content_type: Option<&str>, body: Bytes) -> Reply {
        bounded("an HTTP request", async {
            let stream = TcpStream::connect(self.0).await.expect("connect");
            let (mut sender, connection) =
                hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.expect("HTTP handshake");
            tokio::spawn(connection);
            let mut request = Request::builder().method(method).uri(path).header(header::HOST, "127.0.0.1");
            if let Some(content_type) = content_type {
                request = request.header(header::CONTENT_TYPE, content_type);
            }
            let request = request.body(Full::new(body)).expect("a valid request");
            let response = sender.send_request(request).await.expect("a response");
            let (parts, body) = response.into_parts();
            let body = body.collect().await.expect("a body").to_bytes();
            Reply { status: parts.status, headers: parts.headers, body }
        })
        .await
    }

    /// POSTs `body` as JSON to `path` and returns the reply array, checking Bayeux's HTTP envelope.
    pub async fn post_to(&self, path: &str, body: Value) -> Vec<Value> {
        let reply = self.request(Method::POST, path, Some("application/json"), Bytes::from(body.to_string())).await;
        assert_eq!(reply.status, StatusCode::OK, "Bayeux replies are always 200");
        assert_eq!(reply.headers[header::CONTENT_TYPE], "application/json; charset=utf-8");
        match reply.json() {
            Value::Array(messages) => messages,
            other => panic!("expected an array, got {other}"),
        }
    }

    /// POSTs `body` to the mount path.
    pub async fn post(&self, body: Value) -> Vec<Value> {
        self.post_to("/live", body).await
    }
}

impl TestServer {
    /// Sends one request on a fresh connection.
    pub async fn request(&self, method: Method, path: &str, content_type: Option<&str>, body: Bytes) -> Reply {
        Probe(self.addr).request(method, path, content_type, body).await
    }

    /// POSTs `body` as JSON to `path` and returns the reply array.
    pub async fn post_to(&self, path: &str, body: Value) -> Vec<Value> {
        Probe(self.addr).post_to(path, body).await
    }

    /// POSTs `body` to the mount path.
    pub async fn post(&self, body: Value) -> Vec<Value> {
        self.post_to("/live", body).await
    }

    /// Handshakes and returns the new clientId.
    pub async fn handshake(&self) -> String {
        let replies = self.post(handshake_message()).await;
        assert_eq!(replies[0]["successful"], json!(true), "{replies:?}");
        replies[0]["clientId"].as_str().expect("a clientId").to_owned()
    }

    /// Handshakes and does the first connect (answered at once), leaving the session ready.
    pub async fn connected(&self) -> String {
        let id = self.handshake().await;
        let replies = self.post(connect_message(&id, "c0")).await;
        assert_eq!(replies[0]["successful"], json!(true), "{replies:?}");
        id
    }

    /// Subscribes `id` and asserts success.
    pub async fn subscribe(&self, id: &str, subscription: Value) {
        let replies = self.post(subscribe_message(id, subscription, "s")).await;
        assert_eq!(replies[0]["successful"], json!(true), "{replies:?}");
    }

    /// Opens a WebSocket on `path`.
    pub async fn ws_at(&self, path: &str) -> Ws {
        let url = format!("ws://{}{path}", self.addr);
        let (stream, _) = bounded("a WebSocket upgrade", tokio_tungstenite::connect_async(url)).await.expect("upgrade");
        Ws { stream }
    }

    /// Opens a WebSocket on the mount path.
    pub async fn ws(&self) -> Ws {
        self.ws_at("/live").await
    }
}

/// faye 1.4.3's handshake (docs/protocol.md §5.1).
pub fn handshake_message() -> Value {
    json!({"channel":"/meta/handshake","version":"1.0","supportedConnectionTypes":["in-process","websocket","long-polling"],"id":"1"})
}

pub fn connect_message(id: &str, message_id: &str) -> Value {
    json!({"channel":"/meta/connect","clientId":id,"connectionType":"long-polling","id":message_id})
}

/// A connect asking to be answered at once, as faye sends when it batches (docs/protocol.md §5.2).
pub fn connect_now(id: &str, message_id: &str) -> Value {
    json!({"channel":"/meta/connect","clientId":id,"connectionType":"long-polling","id":message_id,"advice":{"timeout":0}})
}

pub fn subscribe_message(id: &str, subscription: Value, message_id: &str) -> Value {
    json!({"channel":"/meta/subscribe","clientId":id,"subscription":subscription,"id":message_id})
}

/// The messages of a reply array that are delivered events (they have `data` and no `successful`).
pub fn events(replies: &[Value]) -> Vec<&Value> {
    replies.iter().filter(|m| m.get("successful").is_none() && m.get("data").is_some()).collect()
}

/// The reply to the message with `id`.
pub fn reply_to<'a>(replies: &'a [Value], id: &str) -> &'a Value {
    replies.iter().find(|m| m["id"] == json!(id)).unwrap_or_else(|| panic!("no reply to {id} in {replies:?}"))
}

/// A WebSocket client.
pub struct Ws {
    pub stream: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl Ws {
    /// Sends `value` as a text frame.
    pub async fn send(&mut self, value: Value) {
        self.send_text(value.to_string()).await;
    }

    /// Sends raw text.
    pub async fn send_text(&mut self, text: String) {
        bounded("a frame to be sent", self.stream.send(Frame::text(text))).await.expect("send");
    }

    /// The next frame of any kind, or `None` when the stream ended.
    pub async fn frame(&mut self) -> Option<Frame> {
        bounded("a frame", self.stream.next()).await.map(|frame| frame.expect("a readable frame"))
    }

    /// The next text frame as JSON, skipping pings and pongs.
    pub async fn recv(&mut self) -> Value {
        loop {
            match self.frame().await {
                Some(Frame::Text(text)) => {
                    return serde_json::from_str(&text).unwrap_or_else(|e| panic!("frame is not JSON ({e}): {text}"));
                }
                Some(Frame::Ping(_) | Frame::Pong(_)) => {}
                other => panic!("expected a text frame, got {other:?}"),
            }
        }
    }

    /// Sends `message` and returns the next frame, which must be its reply array.
    pub async fn call(&mut self, message: Value) -> Vec<Value> {
        self.send(json!([message])).await;
        match self.recv().await {
            Value::Array(replies) => replies,
            other => panic!("expected an array, got {other}"),
        }
    }
}
