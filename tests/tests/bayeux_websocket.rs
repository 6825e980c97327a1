//! The Bayeux server over WebSocket, on a real socket (`docs/protocol.md` §10.5): per-event
//! frames while the connect is held, CometD's handshake frame, pings, closing on disconnect, and bad
//! frames answered without closing the socket.

mod bayeux_support;

use std::time::{Duration, Instant};

use bayeux_support::*;
use bytes::Bytes;
use futures_util::StreamExt;
use http::{Method, StatusCode, header};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message as Frame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

fn ws_connect(id: &str, message_id: &str) -> Value {
    json!({"channel":"/meta/connect","clientId":id,"connectionType":"websocket","id":message_id})
}

/// A socket for the session `id`: its first connect ("1") answered, subscribed to `channels` (over HTTP), and
/// connect "2" held on it.
async fn held_socket(t: &TestServer, id: &str, channels: &[&str]) -> Ws {
    let mut ws = t.ws().await;
    assert_eq!(ws.call(ws_connect(id, "1")).await[0]["successful"], json!(true));
    for channel in channels {
        t.subscribe(id, json!(channel)).await;
    }
    ws.send(json!([ws_connect(id, "2")])).await;
    eventually("the socket to be bound", || t.server.is_listening(id)).await;
    ws
}

#[tokio::test]
async fn events_are_pushed_in_their_own_frames_while_the_connect_is_held() {
    let t = start(options().timeout(Duration::from_secs(2))).await;
    // faye handshakes over HTTP, then connects over the socket (seen in
    // `live-runtime/tests/bayeux-traces/node-websocket.json`).
    let id = t.handshake().await;
    let mut ws = t.ws().await;
    // The first connect is answered at once (CometD).
    let first = ws.call(ws_connect(&id, "2")).await;
    assert_eq!(first[0]["successful"], json!(true));
    let subscribed =
        ws.call(json!({"channel":"/meta/subscribe","clientId":id,"subscription":"/api/todos","id":"3"})).await;
    assert_eq!(
        subscribed,
        vec![json!({"id":"3","channel":"/meta/subscribe","clientId":id,"successful":true,"subscription":"/api/todos"})]
    );

    // The next connect is held; events meanwhile arrive at once, one frame each.
    ws.send(json!([ws_connect(&id, "4")])).await;
    eventually("the socket to be bound", || t.server.is_listening(&id)).await;
    let started = Instant::now();
    for method in ["POST", "PUT", "DELETE"] {
        assert_eq!(t.server.publish("/api/todos", json!({"method":method})).expect("publish"), 1);
    }
    for method in ["POST", "PUT", "DELETE"] {
        assert_eq!(ws.recv().await, json!([{"channel":"/api/todos","data":{"method":method}}]));
    }
    assert!(started.elapsed() < Duration::from_millis(1500), "pushed at once, not with the connect reply");
    // The held connect is still answered at its timeout, with no events inside (docs/protocol.md, pitfall P15).
    let connect = ws.recv().await;
    assert_eq!(
        connect,
        json!([{"id":"4","channel":"/meta/connect","clientId":id,"successful":true,
        "advice":{"reconnect":"retry","interval":0,"timeout":2000}}])
    );
    assert!(started.elapsed() >= Duration::from_secs(1));
}

/// Publishers write to an idle socket in place, and queue behind anything not yet written: a subscriber that
/// stops reading while two threads publish large events fills its socket (partial writes, a full kernel
/// buffer), and once it reads again it gets every event, each frame whole, each publisher's in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_socket_keeps_every_event_whole_and_in_order() {
    const PER_THREAD: usize = 300;
    let t = start(options().timeout(Duration::from_secs(30))).await;
    let id = t.handshake().await;
    let mut ws = t.ws().await;
    ws.call(ws_connect(&id, "2")).await;
    ws.call(json!({"channel":"/meta/subscribe","clientId":id,"subscription":"/api/todos","id":"3"})).await;
    ws.send(json!([ws_connect(&id, "4")])).await;
    eventually("the socket to be bound", || t.server.is_listening(&id)).await;

    // 600 events of about 8 KiB: several megabytes, more than loopback socket buffers hold unread.
    let pad = "x".repeat(8000);
    let publishers: Vec<_> = (0..2)
        .map(|thread| {
            let server = t.server.clone();
            let pad = pad.clone();
            std::thread::spawn(move || {
                for n in 0..PER_THREAD {
                    let data = json!({"thread": thread, "n": n, "pad": pad});
                    assert_eq!(server.publish("/api/todos", data).expect("publish"), 1, "event {thread}/{n}");
                }
            })
        })
        .collect();
    for publisher in publishers {
        publisher.join().expect("a publisher thread");
    }

    let mut next = [0_u64; 2];
    while next.iter().sum::<u64>() < 2 * PER_THREAD as u64 {
        let frame = ws.recv().await;
        let data = &frame[0]["data"];
        let thread = data["thread"].as_u64().expect("a thread number") as usize;
        assert_eq!(data["n"], json!(next[thread]), "publisher {thread}'s events in order");
        assert_eq!(data["pad"].as_str().map(str::len), Some(8000), "the frame whole");
        next[thread] += 1;
    }
    // The socket still serves: a later event arrives alone and whole.
    assert_eq!(t.server.publish("/api/todos", json!({"after": true})).expect("publish"), 1);
    assert_eq!(ws.recv().await, json!([{"channel":"/api/todos","data":{"after":true}}]));
}

#[tokio::test]
async fn events_queued_before_binding_are_flushed_on_connect() {
    let t = start(options()).await;
    let id = t.connected().await;
    t.subscribe(&id, json!("/chat/a")).await;
    t.server.publish("/chat/a", json!(1)).expect("publish");
    let mut ws = t.ws().await;
    ws.send(json!([ws_connect(&id, "5")])).await;
    // The connect is held (not the first one), so the first frame is the queued event.
    assert_eq!(ws.recv().await, json!([{"channel":"/chat/a","data":1}]));
}

#[tokio::test]
async fn handshake_may_be_the_first_frame() {
    let t = start(options()).await;
    let mut ws = t.ws().await;
    let replies = ws.call(handshake_message()).await;
    assert_eq!(replies[0]["successful"], json!(true));
    let id = replies[0]["clientId"].as_str().expect("a clientId").to_owned();
    // A bare object works as well as an array.
    ws.send(ws_connect(&id, "2")).await;
    assert_eq!(ws.recv().await[0]["successful"], json!(true));
}

#[tokio::test]
async fn client_timeout_zero_is_honoured_over_websocket() {
    let t = start(options().timeout(Duration::from_secs(20))).await;
    let id = t.connected().await;
    let mut ws = t.ws().await;
    let started = Instant::now();
    let mut connect = ws_connect(&id, "3");
    connect["advice"] = json!({"timeout": 0});
    assert_eq!(ws.call(connect).await[0]["successful"], json!(true));
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn wildcards_deliver_once_per_client_over_websocket() {
    let t = start(options()).await;
    let id = t.handshake().await;
    let mut ws = t.ws().await;
    ws.call(ws_connect(&id, "1")).await;
    ws.call(
        json!({"channel":"/meta/subscribe","clientId":id,"subscription":["/api/todos","/api/*","/api/**"],"id":"2"}),
    )
    .await;
    t.server.publish("/api/todos", json!("once")).expect("publish");
    t.server.publish("/api/other", json!("marker")).expect("publish");
    assert_eq!(ws.recv().await, json!([{"channel":"/api/todos","data":"once"}]));
    // The next frame is the marker, not a second copy.
    assert_eq!(ws.recv().await, json!([{"channel":"/api/other","data":"marker"}]));
}

#[tokio::test]
async fn client_publish_over_websocket_reaches_other_clients() {
    let t = start(options()).await;
    let (listener, talker) = (t.handshake().await, t.handshake().await);
    let mut ws = t.ws().await;
    ws.call(ws_connect(&listener, "1")).await;
    ws.call(json!({"channel":"/meta/subscribe","clientId":listener,"subscription":"/chat/lobby","id":"2"})).await;
    let mut other = t.ws().await;
    let ack = other.call(json!({"channel":"/chat/lobby","clientId":talker,"data":{"text":"hi"},"id":"7"})).await;
    assert_eq!(ack, vec![json!({"id":"7","channel":"/chat/lobby","clientId":talker,"successful":true})]);
    assert_eq!(ws.recv().await, json!([{"channel":"/chat/lobby","data":{"text":"hi"}}]));
    let denied = other.call(json!({"channel":"/api/todos","clientId":talker,"data":{},"id":"8"})).await;
    assert_eq!(denied[0]["error"], json!("403:/api/todos:Forbidden channel"));
}

#[tokio::test]
async fn bad_frames_are_answered_and_the_socket_keeps_serving() {
    let t = start(options().max_message_size(4096)).await;
    let mut ws = t.ws().await;
    let bad = json!([{"successful":false,"error":"400::Bad request"}]);
    ws.send_text("this is not JSON".to_owned()).await;
    assert_eq!(ws.recv().await, bad);
    ws.send_text("42".to_owned()).await;
    assert_eq!(ws.recv().await, bad);
    ws.send_text(format!("[{{\"channel\":\"/chat/a\",\"data\":\"{}\"}}]", "x".repeat(5000))).await;
    assert_eq!(ws.recv().await, json!([{"successful":false,"error":"400::Message too large"}]));
    // Unknown clients get the same 401 and advice as over HTTP.
    let unknown = ws.call(ws_connect("nosuchclient", "9")).await;
    assert_eq!(unknown[0]["error"], json!("401:nosuchclient:Unknown client"));
    assert_eq!(unknown[0]["advice"]["reconnect"], json!("handshake"));
    // The same socket, and the server, still work.
    assert_eq!(ws.call(handshake_message()).await[0]["successful"], json!(true));
    t.handshake().await;
}

#[tokio::test]
async fn an_oversized_frame_closes_only_its_own_socket() {
    let t = start(options().max_message_size(4096)).await;
    let mut bystander = t.ws().await;
    let mut ws = t.ws().await;
    // Past twice the limit (and at least 64 KiB) the frame is not even buffered: the socket is closed.
    ws.send_text("x".repeat(200_000)).await;
    match bounded("the socket to close", ws.stream.next()).await {
        Some(Ok(Frame::Close(_)) | Err(_)) | None => {}
        Some(Ok(other)) => panic!("expected the socket to close, got {other:?}"),
    }
    assert_eq!(bystander.call(handshake_message()).await[0]["successful"], json!(true));
    t.handshake().await;
}

async fn assert_closed_normally(ws: &mut Ws) {
    loop {
        match ws.frame().await {
            Some(Frame::Close(Some(close))) => {
                assert_eq!(close.code, CloseCode::Normal);
                return;
            }
            Some(Frame::Ping(_) | Frame::Pong(_) | Frame::Text(_)) => {}
            other => panic!("expected a close frame, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn disconnect_over_the_socket_closes_it_with_1000() {
    let t = start(options()).await;
    let id = t.handshake().await;
    let mut ws = t.ws().await;
    ws.call(ws_connect(&id, "1")).await;
    let reply = ws.call(json!({"channel":"/meta/disconnect","clientId":id,"id":"2"})).await;
    assert_eq!(reply, vec![json!({"id":"2","channel":"/meta/disconnect","clientId":id,"successful":true})]);
    assert_closed_normally(&mut ws).await;
    assert!(!t.server.has_session(&id));
}

#[tokio::test]
async fn disconnect_over_http_closes_the_bound_socket() {
    let t = start(options()).await;
    let id = t.handshake().await;
    let mut ws = t.ws().await;
    ws.call(ws_connect(&id, "1")).await;
    ws.send(json!([ws_connect(&id, "2")])).await;
    eventually("the socket to be bound", || t.server.is_listening(&id)).await;
    let reply = t.post(json!({"channel":"/meta/disconnect","clientId":id,"id":"3"})).await;
    assert_eq!(reply[0]["successful"], json!(true));
    assert_closed_normally(&mut ws).await;
}

#[tokio::test]
async fn a_session_ended_by_the_server_gets_a_handshake_advice_on_the_open_socket() {
    let t = start(options().timeout(Duration::from_secs(20))).await;
    let id = t.handshake().await;
    let mut ws = held_socket(&t, &id, &[]).await;
    t.server.close_all();
    assert_eq!(t.server.session_count(), 0);
    // The held connect is answered with a 401 at once, so the client re-handshakes without first waiting
    // out its reconnect delay for a new socket.
    let reply = ws.recv().await;
    assert_eq!(
        reply,
        json!([{"id":"2","channel":"/meta/connect","successful":false,
        "error":format!("401:{id}:Unknown client"),"advice":{"reconnect":"handshake","interval":500}}])
    );
    // The same socket carries the new session.
    let handshake = ws.call(handshake_message()).await;
    let new_id = handshake[0]["clientId"].as_str().expect("a clientId").to_owned();
    assert_eq!(ws.call(ws_connect(&new_id, "3")).await[0]["successful"], json!(true));
}

#[tokio::test]
async fn an_http_connect_takes_over_from_the_socket() {
    let t = start(options().timeout(Duration::from_secs(20))).await;
    let id = t.handshake().await;
    let mut ws = held_socket(&t, &id, &[]).await;
    // After a transport switch the newest connect wins; the socket's held connect is answered at once.
    let started = Instant::now();
    let replies = t.post(connect_now(&id, "3")).await;
    assert_eq!(replies[0]["successful"], json!(true));
    assert_eq!(ws.recv().await[0]["id"], json!("2"));
    assert!(started.elapsed() < Duration::from_secs(3));
    // Events now queue for the next HTTP connect instead of going to the socket.
    t.subscribe(&id, json!("/chat/a")).await;
    t.server.publish("/chat/a", json!("via http")).expect("publish");
    assert_eq!(events(&t.post(connect_now(&id, "4")).await), vec![&json!({"channel":"/chat/a","data":"via http"})]);
}

#[tokio::test]
async fn pings_keep_the_socket_alive() {
    let t = start(options().ws_ping_interval(Some(Duration::from_millis(100)))).await;
    let mut ws = t.ws().await;
    let mut pings = 0;
    while pings < 2 {
        match ws.frame().await {
            Some(Frame::Ping(payload)) => {
                pings += 1;
                assert_eq!(payload, Bytes::from(pings.to_string()), "a counter, as faye sends");
            }
            other => panic!("expected a ping, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_bound_socket_keeps_its_session_until_it_closes() {
    let t = start(options().timeout(Duration::from_millis(200)).session_expiry(Duration::from_millis(300))).await;
    let id = t.handshake().await;
    let mut ws = t.ws().await;
    ws.call(ws_connect(&id, "1")).await;
    // A bound socket keeps the session alive past its expiry (this waits to see that nothing happens)...
    tokio::time::sleep(Duration::from_millis(900)).await;
    assert!(t.server.has_session(&id));
    // ...and closing the socket lets it expire.
    ws.stream.close(None).await.expect("close");
    eventually("the session to expire", || !t.server.has_session(&id)).await;
}

#[tokio::test]
async fn a_socket_that_never_binds_a_session_is_closed() {
    let t = start(options().session_expiry(Duration::from_millis(300))).await;
    let mut ws = t.ws().await;
    // A handshake over the socket does not bind it; only a connect does.
    assert_eq!(ws.call(handshake_message()).await[0]["successful"], json!(true));
    assert_closed_normally(&mut ws).await;
}

#[tokio::test]
async fn upgrades_are_refused_quickly_when_websocket_is_off() {
    let t = start(options().websocket(false)).await;
    let replies = t.post(handshake_message()).await;
    assert_eq!(replies[0]["supportedConnectionTypes"], json!(["long-polling"]));
    let url = format!("ws://{}/live", t.addr);
    let refused = bounded("a refused upgrade", tokio_tungstenite::connect_async(url)).await;
    match refused {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        }
        other => panic!("expected an HTTP refusal, got {other:?}"),
    }
    let plain_get = t.request(Method::GET, "/live", None, Bytes::new()).await;
    assert_eq!(plain_get.headers[header::CONTENT_TYPE], "text/plain; charset=utf-8");
}

#[tokio::test]
async fn websocket_works_on_sub_paths() {
    let t = start(options()).await;
    let mut ws = t.ws_at("/live/connect").await;
    assert_eq!(ws.call(handshake_message()).await[0]["successful"], json!(true));
}

/// Resident memory of this process in bytes (Linux only).
fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

/// One masked client text frame, written by hand so the measuring side holds nothing but a socket.
fn client_frame(text: &str) -> Vec<u8> {
    let payload = text.as_bytes();
    let mut frame = vec![0x81];
    match payload.len() {
        n @ 0..=125 => frame.push(0x80 | u8::try_from(n).unwrap_or(125)),
        n => {
            frame.push(0x80 | 126);
            frame.extend_from_slice(&u16::try_from(n).unwrap_or(u16::MAX).to_be_bytes());
        }
    }
    // A zero mask key leaves the payload as it is.
    frame.extend_from_slice(&[0, 0, 0, 0]);
    frame.extend_from_slice(payload);
    frame
}

/// Measures what an idle, subscribed WebSocket client costs the server (a benchmark target is 8 KiB at
/// 10k subscribers). Ignored by default: run with
/// `cargo test -p live-tests --test bayeux_websocket -- --ignored --nocapture idle_subscribers`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement; opens thousands of sockets"]
async fn idle_subscribers_memory() {
    const CLIENTS: usize = 4000;
    let t = start(options().timeout(Duration::from_secs(25))).await;
    let before = resident_bytes().unwrap_or(0);
    let sockets = raw_subscribers(&t, CLIENTS).await;
    let reached = t.server.publish("/api/todos", json!({"method":"POST"})).expect("publish");
    assert_eq!(reached, CLIENTS);
    let after = resident_bytes().unwrap_or(0);
    let per_client = after.saturating_sub(before) / CLIENTS as u64;
    println!(
        "{CLIENTS} idle subscribed WebSocket clients: {per_client} bytes resident each \
         (session, server socket, and the test's client socket)"
    );
    drop(sockets);
}

/// Opens `clients` subscribed and bound WebSocket clients on `/api/todos`, written by hand so the
/// measuring side holds nothing but a socket.
async fn raw_subscribers(t: &TestServer, clients: usize) -> Vec<tokio::net::TcpStream> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut sockets = Vec::with_capacity(clients);
    let mut last = String::new();
    for _ in 0..clients {
        let id = t.handshake().await;
        let mut socket = tokio::net::TcpStream::connect(t.addr).await.expect("connect");
        let upgrade = "GET /live HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
        socket.write_all(upgrade.as_bytes()).await.expect("write");
        let mut buffer = [0u8; 1024];
        let n = bounded("the 101", socket.read(&mut buffer)).await.expect("read");
        assert!(buffer[..n].starts_with(b"HTTP/1.1 101"));
        let subscribe = json!([{"channel":"/meta/subscribe","clientId":id,"subscription":"/api/todos","id":"2"}]);
        socket.write_all(&client_frame(&subscribe.to_string())).await.expect("write");
        for n in 0..2 {
            let connect =
                json!([{"channel":"/meta/connect","clientId":id,"connectionType":"websocket","id":format!("c{n}")}]);
            socket.write_all(&client_frame(&connect.to_string())).await.expect("write");
        }
        sockets.push(socket);
        last = id;
    }
    eventually("every socket to be bound", || t.server.is_listening(&last)).await;
    sockets
}

/// Measures fan-out over WebSocket: every event to every subscriber, counted on the wire. Ignored by
/// default: run with `cargo test --release -p live-tests --test bayeux_websocket -- --ignored --nocapture
/// fan_out`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement; opens a thousand sockets"]
async fn fan_out_throughput() {
    use tokio::io::AsyncReadExt;
    const CLIENTS: usize = 1000;
    const EVENTS: usize = 200;
    let t = start(options().timeout(Duration::from_secs(25))).await;
    let sockets = raw_subscribers(&t, CLIENTS).await;
    // Each event's data is "E": the only uppercase E in anything the server sends these sockets.
    let readers: Vec<_> = sockets
        .into_iter()
        .map(|mut socket| {
            tokio::spawn(async move {
                let (mut seen, mut buffer) = (0, vec![0u8; 16 * 1024]);
                while seen < EVENTS {
                    let n = socket.read(&mut buffer).await.expect("read");
                    assert!(n > 0, "closed early");
                    seen += buffer[..n].iter().filter(|b| **b == b'E').count();
                }
            })
        })
        .collect();
    let started = Instant::now();
    for _ in 0..EVENTS {
        assert_eq!(t.server.publish("/api/todos", json!("E")).expect("publish"), CLIENTS);
    }
    let published = started.elapsed();
    for reader in readers {
        bounded("every event to arrive", reader).await.expect("reader");
    }
    let elapsed = started.elapsed();
    let deliveries = (CLIENTS * EVENTS) as f64;
    println!(
        "{CLIENTS} subscribers x {EVENTS} events: published in {published:?}, all delivered in {elapsed:?}: \
         {:.0} deliveries/s (client reads in the same process)",
        deliveries / elapsed.as_secs_f64()
    );
}

/// CometD's ack extension over WebSocket (docs/protocol.md §6.5): events written to a socket that then
/// died are written again, in order and marked, when the client connects on a new socket with an older ack.
#[tokio::test]
async fn an_acknowledging_client_gets_what_a_dead_socket_carried_on_the_next_one() {
    let t = start(options().timeout(Duration::from_secs(20))).await;
    let mut ws = t.ws().await;
    let mut handshake = handshake_message();
    handshake["ext"] = json!({"ack": true});
    let reply = ws.call(handshake).await;
    assert_eq!(reply[0]["ext"], json!({"ack": true}), "the server says it acknowledges");
    let id = reply[0]["clientId"].as_str().expect("a clientId").to_owned();
    let connect = |message_id: &str, ack: u64| {
        let mut message = ws_connect(&id, message_id);
        message["ext"] = json!({"ack": ack});
        message
    };
    let first = ws.call(connect("2", 0)).await;
    assert_eq!(first[0]["ext"], json!({"ack": 1}), "the first reply closes batch 1");
    t.subscribe(&id, json!("/chat/a")).await;
    ws.send(json!([connect("3", 1)])).await;
    eventually("the socket to be bound", || t.server.is_listening(&id)).await;
    for n in 1..=3 {
        t.server.publish("/chat/a", json!(n)).expect("publish");
    }
    for n in 1..=3 {
        assert_eq!(ws.recv().await, json!([{"channel":"/chat/a","data":n}]), "written in place");
    }
    // The client never saw them (its network went away) and comes back on a new socket, acknowledging
    // only batch 1.
    drop(ws);
    let mut ws = t.ws().await;
    ws.send(json!([connect("4", 1)])).await;
    // The connect is held (not the first); the events come first, in one frame or several.
    let mut delivered = Vec::new();
    while delivered.len() < 3 {
        delivered.extend(ws.recv().await.as_array().expect("an array").iter().cloned());
    }
    let resent: Vec<Value> = (1..=3).map(|n| json!({"channel":"/chat/a","data":n,"ext":{"resent":true}})).collect();
    assert_eq!(delivered, resent, "every unacknowledged event again, in order, marked");
    // Live events carry on over the new socket, once and unmarked.
    t.server.publish("/chat/a", json!(4)).expect("publish");
    assert_eq!(ws.recv().await, json!([{"channel":"/chat/a","data":4}]));
    assert_eq!(t.server.session_count(), 1, "the same session carried on");
}

/// A client without acks that comes back on a new socket while events written to the old one are
/// unconfirmed may have lost them: its session ends, so that it handshakes again and resumes (§6.5).
#[tokio::test]
async fn a_client_without_acks_that_left_events_on_a_dead_socket_must_handshake_again() {
    let t = start(options().timeout(Duration::from_secs(20))).await;
    let id = t.handshake().await;
    let mut ws = held_socket(&t, &id, &["/chat/a"]).await;
    t.server.publish("/chat/a", json!(1)).expect("publish");
    assert_eq!(ws.recv().await, json!([{"channel":"/chat/a","data":1}]));
    drop(ws);
    let mut ws = t.ws().await;
    let reply = ws.call(ws_connect(&id, "2")).await;
    assert_eq!(
        reply,
        vec![json!({"id":"2","channel":"/meta/connect","successful":false,
        "error":format!("401:{id}:Unknown client"),"advice":{"reconnect":"handshake","interval":500}})]
    );
    assert_eq!(t.server.session_count(), 0);

    // Nothing written since the last reply: a new socket carries on with the same session.
    let id = t.handshake().await;
    drop(held_socket(&t, &id, &["/chat/a"]).await);
    let mut ws = t.ws().await;
    ws.send(json!([ws_connect(&id, "2")])).await;
    eventually("the new socket to be bound", || t.server.is_listening(&id)).await;
    t.server.publish("/chat/a", json!(2)).expect("publish");
    assert_eq!(ws.recv().await, json!([{"channel":"/chat/a","data":2}]));
}
