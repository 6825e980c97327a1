//! The browser transports on a real socket, with a raw HTTP client: JSONP (`callback-polling`), CORS
//! (`cross-origin-long-polling`) and EventSource, as faye 1.4.3's browser client uses them
//! (`docs/protocol.md` §10.3, §10.4, §10.6; wire facts from the `browser-cross-origin-*` and
//! `browser-same-origin-eventsource` traces in `live-runtime/tests/bayeux-traces/`).

mod bayeux_support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bayeux_support::*;
use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use live_runtime::bayeux::Options;
use serde_json::{Value, json};
use tokio::net::TcpStream;

const APP: &str = "http://app.test:8080";
const EVIL: &str = "http://evil.test";

/// Percent-encodes everything but RFC 3986's unreserved characters, as `encodeURIComponent` nearly does.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => char::from(b).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Sends one request on a fresh connection and returns the response with its body unread.
async fn open(
    addr: SocketAddr,
    method: Method,
    uri: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> http::Response<Incoming> {
    bounded("a response", async {
        let stream = TcpStream::connect(addr).await.expect("connect");
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.expect("HTTP handshake");
        tokio::spawn(connection);
        let mut request = Request::builder().method(method).uri(uri).header(header::HOST, "127.0.0.1");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request.body(Full::new(Bytes::from(body.to_owned()))).expect("a valid request");
        sender.send_request(request).await.expect("a response")
    })
    .await
}

/// A response read whole.
struct Whole {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

async fn fetch(addr: SocketAddr, method: Method, uri: &str, headers: &[(&str, &str)], body: &str) -> Whole {
    let response = open(addr, method, uri, headers, body).await;
    let (parts, body) = response.into_parts();
    let body = bounded("a body", body.collect()).await.expect("a body").to_bytes();
    Whole { status: parts.status, headers: parts.headers, body: String::from_utf8(body.to_vec()).expect("UTF-8") }
}

/// The JSONP GET faye's callback-polling transport sends.
async fn jsonp(addr: SocketAddr, messages: &Value, callback: Option<&str>) -> Whole {
    let mut uri = format!("/live?message={}", encode(&messages.to_string()));
    if let Some(callback) = callback {
        uri.push_str(&format!("&jsonp={}", encode(callback)));
    }
    fetch(addr, Method::GET, &uri, &[("accept", "*/*")], "").await
}

/// Checks a JSONP reply's envelope and returns the array inside `/**/<callback>(...);`.
fn unwrap_script(reply: &Whole, callback: &str) -> Vec<Value> {
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.headers[header::CONTENT_TYPE], "text/javascript; charset=utf-8");
    assert_eq!(reply.headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    assert_eq!(reply.headers[header::CACHE_CONTROL], "no-cache, no-store");
    assert_eq!(reply.headers[header::CONTENT_DISPOSITION], "attachment; filename=f.txt");
    let inner = reply
        .body
        .strip_prefix(&format!("/**/{callback}("))
        .and_then(|rest| rest.strip_suffix(");"))
        .unwrap_or_else(|| panic!("not a call of {callback}: {}", reply.body));
    match serde_json::from_str(inner) {
        Ok(Value::Array(messages)) => messages,
        other => panic!("expected an array, got {other:?}"),
    }
}

fn browser_options() -> Options {
    options().jsonp(true).eventsource(true).allow_origin(APP).expect("a valid origin")
}

#[tokio::test]
async fn jsonp_handshake_subscribe_and_held_connect() {
    let t = start(browser_options()).await;
    let handshake = json!([{"channel":"/meta/handshake","version":"1.0",
        "supportedConnectionTypes":["websocket","eventsource","long-polling","cross-origin-long-polling","callback-polling"],
        "id":"1"}]);
    let replies = unwrap_script(&jsonp(t.addr, &handshake, Some("__jsonp1__")).await, "__jsonp1__");
    assert_eq!(replies[0]["successful"], json!(true));
    assert_eq!(replies[0]["id"], json!("1"));
    let id = replies[0]["clientId"].as_str().expect("a clientId").to_owned();

    let batch = json!([
        {"channel":"/meta/connect","clientId":id,"connectionType":"callback-polling","id":"2","advice":{"timeout":0}},
        {"channel":"/meta/subscribe","clientId":id,"subscription":"/api/todos","id":"3"},
    ]);
    let replies = unwrap_script(&jsonp(t.addr, &batch, Some("__jsonp2__")).await, "__jsonp2__");
    assert_eq!(reply_to(&replies, "2")["successful"], json!(true));
    assert_eq!(reply_to(&replies, "3")["successful"], json!(true));

    // A JSONP connect is held like a long-poll and answered as soon as the server publishes.
    let connect = json!([{"channel":"/meta/connect","clientId":id,"connectionType":"callback-polling","id":"4"}]);
    let held = tokio::spawn({
        let addr = t.addr;
        async move { jsonp(addr, &connect, Some("__jsonp3__")).await }
    });
    eventually("the JSONP connect to be held", || t.server.is_listening(&id)).await;
    let started = Instant::now();
    assert_eq!(t.server.publish("/api/todos", json!({"method":"POST","body":{"id":1}})).expect("publish"), 1);
    let reply = bounded("the held JSONP connect", held).await.expect("the task");
    assert!(started.elapsed() < Duration::from_millis(1500), "answered at once, not at the 2 s timeout");
    let replies = unwrap_script(&reply, "__jsonp3__");
    assert_eq!(reply_to(&replies, "4")["successful"], json!(true));
    assert_eq!(events(&replies), [&json!({"channel":"/api/todos","data":{"method":"POST","body":{"id":1}}})]);
}

#[tokio::test]
async fn jsonp_without_callback_uses_faye_default() {
    let t = start(browser_options()).await;
    let replies = unwrap_script(&jsonp(t.addr, &handshake_message(), None).await, "jsonpcallback");
    assert_eq!(replies[0]["successful"], json!(true));
}

#[tokio::test]
async fn jsonp_refuses_callbacks_that_are_not_identifiers() {
    let t = start(browser_options()).await;
    let long = "a".repeat(200);
    for callback in ["alert(1)//", "a b", "", "x;alert(1)", "1abc", "a..b", long.as_str()] {
        let reply = jsonp(t.addr, &handshake_message(), Some(callback)).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "callback {callback:?}");
        assert_eq!(reply.headers[header::CONTENT_TYPE], "text/plain; charset=utf-8");
        assert_eq!(reply.headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert!(reply.body.starts_with("Bad request"), "{}", reply.body);
        assert!(!reply.body.contains(callback) || callback.is_empty(), "the name is not reflected");
    }
    // Nothing was run: no handshake was processed.
    assert_eq!(t.server.session_count(), 0);
    // A dotted path is a valid callback.
    unwrap_script(&jsonp(t.addr, &handshake_message(), Some("app.faye_cb")).await, "app.faye_cb");
}

#[tokio::test]
async fn jsonp_refuses_a_message_that_is_not_json() {
    let t = start(browser_options()).await;
    for uri in ["/live?message=%7Bnope&jsonp=cb", "/live?message=42&jsonp=cb", "/live?jsonp=cb", "/live"] {
        let reply = fetch(t.addr, Method::GET, uri, &[], "").await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{uri}");
        assert_eq!(reply.headers[header::CONTENT_TYPE], "text/plain; charset=utf-8");
        assert!(reply.body.starts_with("Bad request"), "{}", reply.body);
    }
}

#[tokio::test]
async fn jsonp_on_a_sub_path() {
    let t = start(browser_options()).await;
    let uri = format!("/live/handshake?message={}&jsonp=cb", encode(&handshake_message().to_string()));
    let replies = unwrap_script(&fetch(t.addr, Method::GET, &uri, &[], "").await, "cb");
    assert_eq!(replies[0]["successful"], json!(true));
}

#[tokio::test]
async fn jsonp_over_the_size_limit_gets_a_bayeux_error() {
    let t = start(browser_options().max_jsonp_size(1024)).await;
    let id = t.connected().await;
    let publish = json!([{"channel":"/chat/a","clientId":id,"data":"x".repeat(2000),"id":"5"}]);
    let replies = unwrap_script(&jsonp(t.addr, &publish, Some("cb")).await, "cb");
    assert_eq!(replies.len(), 1);
    assert_eq!(replies[0]["successful"], json!(false));
    assert_eq!(replies[0]["error"], json!("400::Message too large"));
    // Under the limit the same client publishes fine.
    let small = json!([{"channel":"/chat/a","clientId":id,"data":"x","id":"6"}]);
    assert_eq!(unwrap_script(&jsonp(t.addr, &small, Some("cb")).await, "cb")[0]["successful"], json!(true));
}

#[tokio::test]
async fn jsonp_escapes_line_and_paragraph_separators() {
    let t = start(browser_options()).await;
    let id = t.connected().await;
    t.subscribe(&id, json!("/chat/a")).await;
    let text = "line\u{2028}para\u{2029}end";
    assert_eq!(t.server.publish("/chat/a", json!({ "text": text })).expect("publish"), 1);
    let connect = json!([{"channel":"/meta/connect","clientId":id,"connectionType":"callback-polling","id":"7"}]);
    let reply = jsonp(t.addr, &connect, Some("cb")).await;
    assert!(!reply.body.contains('\u{2028}') && !reply.body.contains('\u{2029}'), "raw separators break old JS");
    assert!(reply.body.contains("line\\u2028para\\u2029end"), "{}", reply.body);
    let replies = unwrap_script(&reply, "cb");
    assert_eq!(events(&replies)[0]["data"]["text"], json!(text), "the escapes decode to the same string");
}

#[tokio::test]
async fn jsonp_is_off_by_default() {
    let t = start(options()).await;
    let reply = jsonp(t.addr, &handshake_message(), Some("cb")).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.body, "Bad request");
    assert_eq!(t.server.session_count(), 0);
}

#[tokio::test]
async fn preflight_for_allowed_and_disallowed_origins() {
    let t = start(browser_options()).await;
    let preflight = |origin: &'static str| {
        let addr = t.addr;
        async move {
            let headers = [
                ("origin", origin),
                ("access-control-request-method", "POST"),
                ("access-control-request-headers", "pragma"),
            ];
            fetch(addr, Method::OPTIONS, "/live", &headers, "").await
        }
    };
    let allowed = preflight(APP).await;
    assert_eq!(allowed.status, StatusCode::OK);
    let h = &allowed.headers;
    assert_eq!(h[header::ACCESS_CONTROL_ALLOW_ORIGIN], APP);
    assert_eq!(h[header::ACCESS_CONTROL_ALLOW_CREDENTIALS], "true");
    assert_eq!(h[header::ACCESS_CONTROL_ALLOW_METHODS], "POST, GET");
    assert_eq!(
        h[header::ACCESS_CONTROL_ALLOW_HEADERS],
        "Accept, Authorization, Content-Type, Pragma, X-Requested-With"
    );
    assert_eq!(h[header::ACCESS_CONTROL_MAX_AGE], "86400");
    assert_eq!(h[header::VARY], "Origin");

    let refused = preflight(EVIL).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    for name in [header::ACCESS_CONTROL_ALLOW_ORIGIN, header::ACCESS_CONTROL_ALLOW_CREDENTIALS] {
        assert!(!refused.headers.contains_key(&name), "{name} must not be sent to {EVIL}");
    }
    assert_eq!(refused.headers[header::VARY], "Origin");
}

#[tokio::test]
async fn cors_post_echoes_the_origin_with_credentials_and_reads_text_plain_forms() {
    let t = start(browser_options()).await;
    // What the cross-origin-long-polling transport posts: a `message=` form sent as text/plain.
    let body = format!("message={}", encode(&handshake_message().to_string()));
    let headers = [("origin", APP), ("content-type", "text/plain;charset=UTF-8"), ("pragma", "no-cache")];
    let reply = fetch(t.addr, Method::POST, "/live", &headers, &body).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.headers[header::CONTENT_TYPE], "application/json; charset=utf-8");
    assert_eq!(reply.headers[header::ACCESS_CONTROL_ALLOW_ORIGIN], APP);
    assert_eq!(reply.headers[header::ACCESS_CONTROL_ALLOW_CREDENTIALS], "true");
    assert_eq!(reply.headers[header::VARY], "Origin");
    let replies: Value = serde_json::from_str(&reply.body).expect("JSON");
    assert_eq!(replies[0]["successful"], json!(true));
    assert!(
        replies[0]["supportedConnectionTypes"]
            .as_array()
            .is_some_and(|t| t.contains(&json!("cross-origin-long-polling"))),
        "{replies}"
    );

    // Another origin's request is still answered (a browser would keep it from the page), without the headers.
    let headers = [("origin", EVIL), ("content-type", "application/json")];
    let reply = fetch(t.addr, Method::POST, "/live", &headers, &handshake_message().to_string()).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(!reply.headers.contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN));
    assert!(!reply.headers.contains_key(header::ACCESS_CONTROL_ALLOW_CREDENTIALS));

    // JSONP responses to an allowed origin carry the same headers.
    let uri = format!("/live?message={}&jsonp=cb", encode(&handshake_message().to_string()));
    let reply = fetch(t.addr, Method::GET, &uri, &[("origin", APP)], "").await;
    assert_eq!(reply.headers[header::ACCESS_CONTROL_ALLOW_ORIGIN], APP);
}

#[tokio::test]
async fn any_origin_echoes_the_concrete_origin_never_a_wildcard() {
    let t = start(options().allow_any_origin(true)).await;
    let headers = [("origin", EVIL), ("content-type", "application/json")];
    let reply = fetch(t.addr, Method::POST, "/live", &headers, "[]").await;
    assert_eq!(reply.headers[header::ACCESS_CONTROL_ALLOW_ORIGIN], EVIL);
    assert_eq!(reply.headers[header::ACCESS_CONTROL_ALLOW_CREDENTIALS], "true");
    // Sandboxed frames and local files send `null`, which is never trusted.
    let headers = [("origin", "null"), ("content-type", "application/json")];
    let reply = fetch(t.addr, Method::POST, "/live", &headers, "[]").await;
    assert!(!reply.headers.contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN));
}

#[tokio::test]
async fn no_cors_headers_by_default() {
    let t = start(options()).await;
    let headers = [("origin", APP), ("content-type", "application/json")];
    let reply = fetch(t.addr, Method::POST, "/live", &headers, "[]").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(!reply.headers.contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN));
    assert!(!reply.headers.contains_key(header::VARY));
    let reply = fetch(t.addr, Method::OPTIONS, "/live", &[("origin", APP)], "").await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn handshake_lists_exactly_the_enabled_connection_types() {
    let cases = [
        (options(), json!(["long-polling", "websocket"])),
        (
            browser_options(),
            json!(["long-polling", "cross-origin-long-polling", "callback-polling", "websocket", "eventsource"]),
        ),
        (options().jsonp(true).websocket(false), json!(["long-polling", "callback-polling"])),
        (
            options().eventsource(true).allow_any_origin(true),
            json!(["long-polling", "cross-origin-long-polling", "websocket", "eventsource"]),
        ),
    ];
    for (options, expected) in cases {
        let t = start(options).await;
        let replies = t.post(handshake_message()).await;
        assert_eq!(replies[0]["supportedConnectionTypes"], expected);
    }
}

/// An open event stream, read chunk by chunk.
struct EventStream {
    status: StatusCode,
    headers: HeaderMap,
    body: Incoming,
    text: String,
}

impl EventStream {
    async fn open(addr: SocketAddr, path: &str) -> Self {
        let response = open(addr, Method::GET, path, &[("accept", "text/event-stream")], "").await;
        let (parts, body) = response.into_parts();
        Self { status: parts.status, headers: parts.headers, body, text: String::new() }
    }

    /// Reads until the unread text contains `needle`; returns the text up to and including it. `None` when
    /// the stream ended first.
    async fn until(&mut self, needle: &str) -> Option<String> {
        bounded("the event stream", async {
            loop {
                if let Some(at) = self.text.find(needle) {
                    let rest = self.text.split_off(at + needle.len());
                    return Some(std::mem::replace(&mut self.text, rest));
                }
                match self.body.frame().await {
                    Some(Ok(frame)) => {
                        if let Ok(data) = frame.into_data() {
                            self.text.push_str(std::str::from_utf8(&data).expect("UTF-8"));
                        }
                    }
                    Some(Err(_)) | None => return None,
                }
            }
        })
        .await
    }

    /// The next `data:` event as JSON.
    async fn event(&mut self) -> Value {
        let text = self.until("\r\n\r\n").await.expect("an event before the stream ended");
        if text.trim() == ":" {
            return Box::pin(self.event()).await;
        }
        let data = text.trim_end().strip_prefix("data: ").unwrap_or_else(|| panic!("not a data line: {text:?}"));
        serde_json::from_str(data).expect("the data is JSON")
    }
}

#[tokio::test]
async fn eventsource_stream_delivers_events_at_once_and_pings() {
    let t = start(browser_options().eventsource_ping_interval(Some(Duration::from_millis(300)))).await;
    let id = t.handshake().await;
    let mut stream = EventStream::open(t.addr, &format!("/live/{id}")).await;
    assert_eq!(stream.status, StatusCode::OK);
    assert_eq!(stream.headers[header::CONTENT_TYPE], "text/event-stream");
    assert_eq!(stream.headers[header::CACHE_CONTROL], "no-cache, no-store");
    assert_eq!(stream.until("\r\n\r\n").await.as_deref(), Some("retry: 5000\r\n\r\n"));

    // faye's first batch after opening the stream: a long-polling connect with timeout 0, and a subscribe.
    let batch = t.post(json!([connect_now(&id, "2"), subscribe_message(&id, json!("/api/todos"), "3")])).await;
    assert_eq!(reply_to(&batch, "2")["successful"], json!(true));
    // Then eventsource connects: heartbeats, answered at once with the interval advice.
    let started = Instant::now();
    let connect = json!({"channel":"/meta/connect","clientId":id,"connectionType":"eventsource","id":"4"});
    let replies = t.post(connect).await;
    assert!(started.elapsed() < Duration::from_secs(1), "an eventsource connect is not held");
    assert_eq!(reply_to(&replies, "4")["successful"], json!(true));
    assert_eq!(reply_to(&replies, "4")["advice"], json!({"reconnect":"retry","interval":2000,"timeout":0}));

    // The stream took the session back after the long-polling connect, and delivers at once.
    eventually("the stream to be bound", || t.server.is_listening(&id)).await;
    let started = Instant::now();
    t.server.publish("/api/todos", json!({"method":"POST","body":{"id":1}})).expect("publish");
    assert_eq!(stream.event().await, json!([{"channel":"/api/todos","data":{"method":"POST","body":{"id":1}}}]));
    t.server.publish("/api/todos", json!({"method":"PUT","body":{"id":1}})).expect("publish");
    assert_eq!(stream.event().await, json!([{"channel":"/api/todos","data":{"method":"PUT","body":{"id":1}}}]));
    assert!(started.elapsed() < Duration::from_secs(1), "events are pushed, not held for a connect");

    // An idle stream gets `:` comment lines.
    assert_eq!(stream.until(":\r\n\r\n").await.as_deref(), Some(":\r\n\r\n"));
}

#[tokio::test]
async fn eventsource_refuses_unknown_clients_and_is_off_by_default() {
    let t = start(browser_options()).await;
    for path in ["/live/nosuchclient", "/live", "/live/a/b"] {
        let reply = fetch(t.addr, Method::GET, path, &[("accept", "text/event-stream")], "").await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(reply.headers[header::CONTENT_TYPE], "text/plain; charset=utf-8");
    }
    let t = start(options()).await;
    let id = t.handshake().await;
    let path = format!("/live/{id}");
    let reply = fetch(t.addr, Method::GET, &path, &[("accept", "text/event-stream")], "").await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    // Without eventsource enabled its connects are refused like any unknown connection type.
    let connect = json!({"channel":"/meta/connect","clientId":id,"connectionType":"eventsource","id":"2"});
    assert_eq!(t.post(connect).await[0]["error"], json!("301:eventsource:Connection types not supported"));
}

#[tokio::test]
async fn closing_the_stream_unbinds_and_ending_the_session_closes_it() {
    let t = start(browser_options().eventsource_ping_interval(Some(Duration::from_millis(100)))).await;
    let id = t.handshake().await;
    let mut stream = EventStream::open(t.addr, &format!("/live/{id}")).await;
    stream.until("retry: 5000\r\n\r\n").await.expect("the retry line");
    eventually("the stream to be bound", || t.server.is_listening(&id)).await;
    drop(stream);
    eventually("the closed stream to unbind", || !t.server.is_listening(&id)).await;

    // A second stream ends when the server ends the session.
    let mut stream = EventStream::open(t.addr, &format!("/live/{id}")).await;
    stream.until("retry: 5000\r\n\r\n").await.expect("the retry line");
    eventually("the stream to be bound", || t.server.is_listening(&id)).await;
    t.server.close_all();
    assert_eq!(stream.until("never sent").await, None, "the stream ends with its session");
    let connect = json!({"channel":"/meta/connect","clientId":id,"connectionType":"eventsource","id":"9"});
    let replies = t.post(connect).await;
    assert_eq!(replies[0]["advice"]["reconnect"], json!("handshake"), "the next heartbeat re-handshakes");
}

#[tokio::test]
async fn huge_jsonp_urls_are_refused_before_the_endpoint() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let t = start(browser_options()).await;
    // Past the HTTP layer's 64 KiB URI bound: refused with 414, documented at `Options::max_jsonp_size`.
    let request = format!("GET /live?jsonp=cb&message={} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", "x".repeat(70_000));
    let mut socket = bounded("a connection", TcpStream::connect(t.addr)).await.expect("connect");
    bounded("the request", socket.write_all(request.as_bytes())).await.expect("write");
    let mut head = vec![0; 12];
    bounded("the status line", socket.read_exact(&mut head)).await.expect("a status line");
    assert_eq!(String::from_utf8_lossy(&head), "HTTP/1.1 414");
    assert_eq!(t.server.session_count(), 0);
}
