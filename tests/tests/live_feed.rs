//! Live resources end to end on real sockets, on SQLite and PostgreSQL (`docs/live.md`): every
//! committed write reaches subscribers as `{method, body, seq, version, origin}`, in seq order,
//! once, under concurrent writers; resume with `since`, reset, snapshot; resource channels are
//! server-only.

mod bayeux_support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bayeux_support::*;
use bytes::Bytes;
use http::{Method, StatusCode};
use live_runtime::store::Retention;
use live_runtime::{Live, Write, bayeux};
use live_tests::{Backend, Note, TestStore, store};
use serde_json::{Value, json};

const CHANNEL: &str = "/api/notes";

struct App {
    live: Live,
    probe: Probe,
    _db: TestStore,
}

async fn app(backend: Backend) -> App {
    let db = store(backend).await;
    let options = bayeux::Options::default()
        .timeout(Duration::from_millis(500))
        .queue_limit(10_000)
        .allow_publish("/chat/**")
        .expect("a valid pattern");
    let live = Live::builder().resource::<Note>().bayeux(options).store(db.store.clone()).await.expect("live starts");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind a local port");
    let addr: SocketAddr = listener.local_addr().expect("a local address");
    let router = live.router();
    tokio::spawn(async move { axum::serve(listener, router).await });
    App { live, probe: Probe(addr), _db: db }
}

fn note(title: &str) -> Note {
    Note { id: 0, title: title.to_owned(), done: false, rank: 0, owner: None, created_by: String::new() }
}

impl App {
    async fn rest(&self, method: Method, path: &str, body: Value, request_id: &str) -> (StatusCode, Value) {
        bounded("a REST request", async {
            let stream = tokio::net::TcpStream::connect(self.probe.0).await.expect("connect");
            let (mut sender, connection) =
                hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await.expect("handshake");
            tokio::spawn(connection);
            let request = http::Request::builder()
                .method(method)
                .uri(path)
                .header(http::header::HOST, "127.0.0.1")
                .header(http::header::CONTENT_TYPE, "application/json")
                .header("Live-Request-Id", request_id)
                .body(http_body_util::Full::new(Bytes::from(body.to_string())))
                .expect("a valid request");
            let response = sender.send_request(request).await.expect("a response");
            let status = response.status();
            let bytes = http_body_util::BodyExt::collect(response.into_body()).await.expect("a body").to_bytes();
            (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
        })
        .await
    }

    /// Handshakes and does the first connect over long-polling.
    async fn client(&self) -> String {
        let replies = self.probe.post(handshake_message()).await;
        let id = replies[0]["clientId"].as_str().expect("a clientId").to_owned();
        let replies = self.probe.post(connect_message(&id, "c0")).await;
        assert_eq!(replies[0]["successful"], json!(true), "{replies:?}");
        id
    }

    async fn subscribe_ext(&self, id: &str, ext: Value) -> Value {
        let mut message = subscribe_message(id, json!(CHANNEL), "s");
        message["ext"] = ext;
        let replies = self.probe.post(message).await;
        reply_to(&replies, "s").clone()
    }

    /// Long-polls until `count` events of CHANNEL arrived (bounded in rounds and time).
    async fn collect(&self, id: &str, count: usize) -> Vec<Value> {
        let mut got = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        for round in 0..10_000 {
            if got.len() >= count || Instant::now() > deadline {
                break;
            }
            let replies = self.probe.post(connect_message(id, &format!("c{round}"))).await;
            got.extend(
                events(&replies).into_iter().filter(|e| e["channel"] == json!(CHANNEL)).map(|e| e["data"].clone()),
            );
        }
        got
    }
}

fn seqs(events: &[Value]) -> Vec<i64> {
    events.iter().map(|event| event["seq"].as_i64().expect("a seq")).collect()
}

async fn rest_writes_are_published_on(backend: Backend) {
    let app = app(backend).await;
    let id = app.client().await;
    app.probe.post(subscribe_message(&id, json!(CHANNEL), "s")).await;
    let (status, created) = app.rest(Method::POST, CHANNEL, json!({"title": "milk"}), "req-1").await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let path = format!("{CHANNEL}/{}", created["id"]);
    let (status, _) = app.rest(Method::POST, CHANNEL, json!({"title": " "}), "rejected").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (_, put) = app.rest(Method::PUT, &path, json!({"title": "oat milk", "done": false}), "req-2").await;
    let (_, patched) = app.rest(Method::PATCH, &path, json!({"done": true}), "req-3").await;
    let (status, _) = app.rest(Method::DELETE, &path, Value::Null, "req-4").await;
    assert!(status.is_success(), "{status}");
    let got = app.collect(&id, 4).await;
    let methods: Vec<&str> = got.iter().map(|e| e["method"].as_str().unwrap_or_default()).collect();
    assert_eq!(methods, ["POST", "PUT", "PATCH", "DELETE"], "{got:?}");
    // The rejected write published nothing: the origins are the accepted requests, in order.
    let origins: Vec<&str> = got.iter().map(|e| e["origin"].as_str().unwrap_or_default()).collect();
    assert_eq!(origins, ["req-1", "req-2", "req-3", "req-4"]);
    assert_eq!(got[0]["body"], created);
    assert_eq!(got[1]["body"], put);
    assert_eq!(got[2]["body"], patched);
    assert_eq!(got[3]["body"], patched, "a DELETE carries the row as it was");
    assert!(got.iter().all(|e| e["version"].is_i64()));
    let seqs = seqs(&got);
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    let log = app.live.store().events_after(CHANNEL, 0, 100).await.expect("the log reads");
    assert_eq!(seqs, log.iter().map(|e| e.seq).collect::<Vec<_>>());
}

#[tokio::test]
async fn rest_writes_are_published_sqlite() {
    rest_writes_are_published_on(Backend::Sqlite).await;
}

#[tokio::test]
async fn rest_writes_are_published_postgres() {
    rest_writes_are_published_on(Backend::Postgres).await;
}

async fn hammer_on(backend: Backend) {
    const TASKS: usize = 8;
    const WRITES: usize = 50;
    let app = app(backend).await;
    let poller = app.client().await;
    app.probe.post(subscribe_message(&poller, json!(CHANNEL), "s")).await;
    let mut ws = ws_client(app.probe.0).await;
    let mut writers = Vec::new();
    for task in 0..TASKS {
        let records = app.live.records::<Note>();
        writers.push(tokio::spawn(async move {
            for n in 0..WRITES {
                let write = Write::new().origin(format!("t{task}-{n}"));
                records.create(note(&format!("t{task} n{n}")), &write).await.expect("a write succeeds");
            }
        }));
    }
    let total = TASKS * WRITES;
    let (polled, pushed) = tokio::join!(app.collect(&poller, total), ws_collect(&mut ws, total));
    for writer in writers {
        bounded("writers finish", writer).await.expect("a writer task");
    }
    let log: Vec<i64> =
        app.live.store().events_after(CHANNEL, 0, 10_000).await.expect("the log reads").iter().map(|e| e.seq).collect();
    assert_eq!(log.len(), total);
    assert_eq!(seqs(&polled), log, "long-polling saw every seq once, in order");
    assert_eq!(seqs(&pushed), log, "WebSocket saw every seq once, in order");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_never_reorder_sqlite() {
    hammer_on(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_never_reorder_postgres() {
    hammer_on(Backend::Postgres).await;
}

/// A WebSocket client subscribed to CHANNEL.
async fn ws_client(addr: SocketAddr) -> Ws {
    let url = format!("ws://{addr}/live");
    let (stream, _) = bounded("an upgrade", tokio_tungstenite::connect_async(url)).await.expect("upgrade");
    let mut ws = Ws { stream };
    let replies = ws.call(handshake_message()).await;
    let id = replies[0]["clientId"].as_str().expect("a clientId").to_owned();
    ws.send(json!({"channel":"/meta/connect","clientId":id,"connectionType":"websocket","id":"c0"})).await;
    ws.recv().await;
    let replies = ws.call(subscribe_message(&id, json!(CHANNEL), "s")).await;
    assert_eq!(replies[0]["successful"], json!(true), "{replies:?}");
    ws.send(json!({"channel":"/meta/connect","clientId":id,"connectionType":"websocket","id":"c1"})).await;
    ws
}

/// Reads frames until `count` events of CHANNEL arrived (bounded in frames and time); re-connects when a
/// held connect is answered.
async fn ws_collect(ws: &mut Ws, count: usize) -> Vec<Value> {
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    for _ in 0..100_000 {
        if got.len() >= count || Instant::now() > deadline {
            break;
        }
        let frame = ws.recv().await;
        for message in frame.as_array().into_iter().flatten() {
            if message["channel"] == json!("/meta/connect") {
                let id = message["clientId"].clone();
                ws.send(json!({"channel":"/meta/connect","clientId":id,"connectionType":"websocket","id":"cn"})).await;
            } else if message["channel"] == json!(CHANNEL) {
                got.push(message["data"].clone());
            }
        }
    }
    got
}

async fn resume_on(backend: Backend) {
    let app = app(backend).await;
    let records = app.live.records::<Note>();
    let first = records.create(note("a"), &Write::new()).await.expect("write");
    let _ = first;
    let since = app.live.store().last_seq(CHANNEL).await.expect("last seq");
    // Written while the client was away.
    for title in ["b", "c"] {
        records.create(note(title), &Write::new()).await.expect("write");
    }
    let id = app.client().await;
    // Writes racing the subscribe: each must arrive once, after the replay, with no gap.
    let racer = {
        let records = app.live.records::<Note>();
        tokio::spawn(async move {
            for n in 0..20 {
                records.create(note(&format!("race {n}")), &Write::new()).await.expect("write");
            }
        })
    };
    let reply = app.subscribe_ext(&id, json!({"since": since})).await;
    assert_eq!(reply["successful"], json!(true), "{reply}");
    assert!(reply["ext"]["seq"].as_i64().is_some_and(|seq| seq > since), "{reply}");
    bounded("the racing writer", racer).await.expect("writer task");
    let got = app.collect(&id, 22).await;
    let log: Vec<i64> =
        app.live.store().events_after(CHANNEL, since, 100).await.expect("log").iter().map(|e| e.seq).collect();
    assert_eq!(log.len(), 22);
    assert_eq!(seqs(&got), log, "replayed then live, no gap, no duplicate");
    assert_eq!(got[0]["body"]["title"], json!("b"));
    // Too old once pruned: reset, subscribed without replay.
    app.live.store().prune_events(&Retention::default().max_events(1)).await.expect("prune");
    let other = app.client().await;
    let reply = app.subscribe_ext(&other, json!({"since": since})).await;
    assert_eq!(reply["successful"], json!(true), "{reply}");
    assert_eq!(reply["ext"], json!({"reset": true}));
    let created = records.create(note("after reset"), &Write::new()).await.expect("write");
    let got = app.collect(&other, 1).await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0]["body"]["id"], json!(created.value.id));
}

#[tokio::test]
async fn resume_replays_then_goes_live_sqlite() {
    resume_on(Backend::Sqlite).await;
}

#[tokio::test]
async fn resume_replays_then_goes_live_postgres() {
    resume_on(Backend::Postgres).await;
}

async fn snapshot_on(backend: Backend) {
    let app = app(backend).await;
    let records = app.live.records::<Note>();
    for n in 0..5 {
        records.create(note(&format!("before {n}")), &Write::new()).await.expect("write");
    }
    let id = app.client().await;
    let racer = {
        let records = app.live.records::<Note>();
        tokio::spawn(async move {
            for n in 0..30 {
                let created = records.create(note(&format!("race {n}")), &Write::new()).await.expect("write");
                if n % 3 == 0 {
                    records.delete(created.value.id, &Write::new()).await.expect("delete");
                }
            }
        })
    };
    let reply = app.subscribe_ext(&id, json!({"snapshot": true})).await;
    assert_eq!(reply["successful"], json!(true), "{reply}");
    let seq = reply["ext"]["snapshot"]["seq"].as_i64().expect("a snapshot seq");
    let mut rows: Vec<Value> = reply["ext"]["snapshot"]["rows"].as_array().expect("rows").clone();
    bounded("the racing writer", racer).await.expect("writer task");
    let expected: Vec<i64> =
        app.live.store().events_after(CHANNEL, seq, 1000).await.expect("log").iter().map(|e| e.seq).collect();
    let got = app.collect(&id, expected.len()).await;
    assert_eq!(seqs(&got), expected, "exactly the events after the snapshot's seq");
    for event in &got {
        let id = &event["body"]["id"];
        rows.retain(|row| &row["id"] != id);
        if event["method"] != json!("DELETE") {
            rows.push(event["body"].clone());
        }
    }
    rows.sort_by_key(|row| row["id"].as_i64());
    let now: Vec<Value> = records
        .list(&Default::default())
        .await
        .expect("list")
        .into_iter()
        .map(|stored| serde_json::to_value(stored.value).expect("serializes"))
        .collect();
    assert_eq!(rows, now, "snapshot plus later events is the current state");
}

#[tokio::test]
async fn snapshot_is_atomic_with_the_subscription_sqlite() {
    snapshot_on(Backend::Sqlite).await;
}

#[tokio::test]
async fn snapshot_is_atomic_with_the_subscription_postgres() {
    snapshot_on(Backend::Postgres).await;
}

#[tokio::test]
async fn resource_channels_are_server_only_and_chat_is_open() {
    let app = app(Backend::Sqlite).await;
    let id = app.client().await;
    app.probe.post(subscribe_message(&id, json!("/chat/room"), "s")).await;
    let replies =
        app.probe.post(json!({"channel": CHANNEL, "clientId": id, "data": {"forged": true}, "id": "p"})).await;
    assert_eq!(reply_to(&replies, "p")["successful"], json!(false));
    assert!(reply_to(&replies, "p")["error"].as_str().is_some_and(|e| e.starts_with("403:")), "{replies:?}");
    let replies =
        app.probe.post(json!({"channel": "/chat/room", "clientId": id, "data": {"text": "hi"}, "id": "p2"})).await;
    assert_eq!(reply_to(&replies, "p2")["successful"], json!(true));
    let replies = app.probe.post(connect_message(&id, "c1")).await;
    let delivered = events(&replies);
    assert_eq!(delivered.len(), 1, "{replies:?}");
    assert_eq!(delivered[0]["data"], json!({"text": "hi"}));
    // A pattern cannot resume.
    let mut message = subscribe_message(&id, json!("/api/*"), "w");
    message["ext"] = json!({"since": 0});
    let replies = app.probe.post(message).await;
    assert!(reply_to(&replies, "w")["error"].as_str().is_some_and(|e| e.starts_with("405:")), "{replies:?}");
}

async fn bulk_on(backend: Backend) {
    // One bulk write rings the bell for every row at once, more than the bell holds: the feed lags and
    // must catch up from the log without a gap.
    const ROWS: usize = 1500;
    let app = app(backend).await;
    let id = app.client().await;
    app.probe.post(subscribe_message(&id, json!(CHANNEL), "s")).await;
    let notes = (0..ROWS).map(|n| note(&format!("bulk {n}"))).collect();
    app.live.records::<Note>().create_many(notes, &Write::new().origin("bulk")).await.expect("bulk write");
    let got = app.collect(&id, ROWS).await;
    let log: Vec<i64> =
        app.live.store().events_after(CHANNEL, 0, 10_000).await.expect("log").iter().map(|e| e.seq).collect();
    assert_eq!(log.len(), ROWS);
    assert_eq!(seqs(&got), log);
    assert!(got.iter().all(|event| event["origin"] == json!("bulk") && event["method"] == json!("POST")));
}

#[tokio::test]
async fn a_bulk_write_larger_than_the_bell_arrives_whole_sqlite() {
    bulk_on(Backend::Sqlite).await;
}

#[tokio::test]
async fn a_bulk_write_larger_than_the_bell_arrives_whole_postgres() {
    bulk_on(Backend::Postgres).await;
}

#[tokio::test]
async fn resume_works_over_websocket() {
    let app = app(Backend::Sqlite).await;
    let records = app.live.records::<Note>();
    records.create(note("seen"), &Write::new()).await.expect("write");
    let since = app.live.store().last_seq(CHANNEL).await.expect("last seq");
    for title in ["missed 1", "missed 2"] {
        records.create(note(title), &Write::new()).await.expect("write");
    }
    let url = format!("ws://{}/live", app.probe.0);
    let (stream, _) = bounded("an upgrade", tokio_tungstenite::connect_async(url)).await.expect("upgrade");
    let mut ws = Ws { stream };
    let replies = ws.call(handshake_message()).await;
    let id = replies[0]["clientId"].as_str().expect("a clientId").to_owned();
    let mut subscribe = subscribe_message(&id, json!(CHANNEL), "s");
    subscribe["ext"] = json!({"since": since});
    let replies = ws.call(subscribe).await;
    assert_eq!(replies[0]["successful"], json!(true), "{replies:?}");
    assert_eq!(replies[0]["ext"]["replayed"], json!(2), "{replies:?}");
    ws.send(json!({"channel":"/meta/connect","clientId":id,"connectionType":"websocket","id":"c0"})).await;
    records.create(note("live"), &Write::new()).await.expect("write");
    let got = ws_collect(&mut ws, 3).await;
    let titles: Vec<&str> = got.iter().map(|e| e["body"]["title"].as_str().unwrap_or_default()).collect();
    assert_eq!(titles, ["missed 1", "missed 2", "live"]);
}

#[tokio::test]
async fn shutdown_stops_publishing() {
    let app = app(Backend::Sqlite).await;
    let before = app.client().await;
    app.probe.post(subscribe_message(&before, json!(CHANNEL), "s")).await;
    app.live.shutdown();
    // The session is over: its next connect is told to handshake again.
    let replies = app.probe.post(connect_message(&before, "c1")).await;
    assert!(reply_to(&replies, "c1")["error"].as_str().is_some_and(|e| e.starts_with("401:")), "{replies:?}");
    // A client arriving afterwards gets no changes: the feed is stopped, though writes still succeed.
    let after = app.client().await;
    app.probe.post(subscribe_message(&after, json!(CHANNEL), "s")).await;
    app.live.records::<Note>().create(note("unpublished"), &Write::new()).await.expect("write");
    let replies = app.probe.post(connect_message(&after, "c2")).await;
    assert!(events(&replies).is_empty(), "{replies:?}");
    assert_eq!(app.live.store().events_after(CHANNEL, 0, 10).await.expect("log").len(), 1);
}

#[tokio::test]
async fn retention_prunes_the_log_periodically() {
    let db = store(Backend::Sqlite).await;
    let live = Live::builder()
        .resource::<Note>()
        .retention(Retention::default().max_events(2), Duration::from_millis(20))
        .store(db.store.clone())
        .await
        .expect("live starts");
    for n in 0..5 {
        live.records::<Note>().create(note(&format!("n{n}")), &Write::new()).await.expect("write");
    }
    let last = live.store().last_seq(CHANNEL).await.expect("last seq");
    let deadline = Instant::now() + WAIT;
    let mut pruned = 0;
    for _ in 0..1000 {
        pruned = live.store().pruned_through().await.expect("mark");
        if pruned >= last - 2 || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(pruned, last - 2, "only the last two seqs are kept");
    assert_eq!(live.store().events_after(CHANNEL, 0, 10).await.expect("log").len(), 2);
}
