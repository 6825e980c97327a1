//! Scale-out (`docs/deployment.md`): three `Live` nodes on one PostgreSQL database, joined
//! by each bus (PostgreSQL LISTEN/NOTIFY, Redis on 127.0.0.1:6379, NATS on 127.0.0.1:4222), behave
//! as one service: with writers on every node, every subscriber of every node receives exactly the
//! event log of its channel, once each, in seq order. Lost and duplicated wake-ups only delay;
//! a broker killed and restarted under load, or PostgreSQL cut off and back, loses nothing; writes
//! while the database is away answer 503. A missing broker or database fails these tests, never
//! skips them.
//!
//! Subscribers are real Bayeux clients over WebSocket on 127.0.0.1. The nodes read the log on a
//! timer only every 60 s in the tests that check the bus itself, so those tests cannot pass by
//! polling alone.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use live_runtime::bus::{Bus, BusError};
use live_runtime::{Live, LiveBuilder, LiveError, Store, StoreOptions, Write, bayeux};
use live_tests::outage::{Broker, BrokerKind, TcpProxy, url_via};
use live_tests::{Backend, Message, Note, Room, TestDb};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message as Frame;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

const CHANNEL: &str = "/api/notes";
/// The shared brokers of the machine (deliberately, tests fail when they are absent).
const REDIS: &str = "redis://127.0.0.1:6379";
const NATS: &str = "nats://127.0.0.1:4222";
/// A timer slow enough that a test passing within its bounds was served by the bus.
const NO_POLL: Duration = Duration::from_secs(60);
/// The longest any one step may take.
const STEP: Duration = Duration::from_secs(10);
/// The longest delivery to every subscriber may take after the last write.
const DELIVERY: Duration = Duration::from_secs(30);

/// A topic of this test's own, so that wake-ups of tests running beside it never reach it.
fn topic() -> String {
    format!("t_{}", uuid::Uuid::new_v4().simple())
}

fn bus(url: &str, topic: &str) -> Bus {
    Bus::parse(url).and_then(|bus| bus.topic(topic)).expect("a valid bus")
}

fn note(title: String) -> Note {
    Note { id: 0, title, done: false, rank: 0, owner: None, created_by: String::new() }
}

/// Runs `future`, failing the test after `limit`.
async fn within<F: Future>(limit: Duration, what: &str, future: F) -> F::Output {
    tokio::time::timeout(limit, future).await.unwrap_or_else(|_| panic!("timed out after {limit:?}: {what}"))
}

/// Waits until `condition` holds, failing the test after `limit`.
async fn until(limit: Duration, what: &str, mut condition: impl FnMut() -> bool) {
    within(limit, what, async {
        while !condition() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
}

/// One process of the service: a `Live` on its own store (its own pool) and an HTTP server on a
/// free port of 127.0.0.1. Stopped when dropped.
struct Node {
    live: Live,
    addr: SocketAddr,
    server: JoinHandle<()>,
}

impl Drop for Node {
    fn drop(&mut self) {
        self.server.abort();
        self.live.shutdown();
    }
}

async fn node_on(url: &str, bus: Bus, poll: Duration) -> Node {
    node_with(url, bus, poll, Live::builder().resource::<Note>()).await
}

/// A node serving `builder`'s resources.
async fn node_with(url: &str, bus: Bus, poll: Duration, builder: LiveBuilder) -> Node {
    let mut options = StoreOptions::default();
    options.acquire_timeout = Duration::from_secs(2);
    let store = Store::connect_with(url, options).await.expect("connect the node's store");
    let bayeux = bayeux::Options::default().timeout(Duration::from_secs(2)).queue_limit(100_000);
    let live = builder.bayeux(bayeux).bus(bus).poll_interval(poll).store(store).await.expect("the node starts");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind a local port");
    let addr = listener.local_addr().expect("a local address");
    let router = live.router();
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    Node { live, addr, server }
}

/// `count` nodes on `db`, started together as a deployment starts them: on a fresh database they
/// race to create the same tables, and each must start.
async fn nodes(db: &TestDb, bus: &Bus, poll: Duration, count: usize) -> Vec<Node> {
    futures_util::future::join_all((0..count).map(|_| node_on(db.url(), bus.clone(), poll))).await
}

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A faye-like Bayeux client over WebSocket, subscribed to one channel on one node ([`CHANNEL`] unless
/// told otherwise), collecting the `data` of the events it receives. Stopped when dropped.
struct Subscriber {
    events: Arc<Mutex<Vec<Value>>>,
    task: JoinHandle<()>,
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn send(socket: &mut Socket, message: Value) {
    within(STEP, "a frame to be sent", socket.send(Frame::text(json!([message]).to_string())))
        .await
        .expect("send a frame");
}

/// The next array of messages on the socket.
async fn messages(socket: &mut Socket) -> Vec<Value> {
    loop {
        match within(STEP, "a frame", socket.next()).await {
            Some(Ok(Frame::Text(text))) => match serde_json::from_str(&text) {
                Ok(Value::Array(messages)) => return messages,
                other => panic!("expected an array of messages, got {other:?}"),
            },
            Some(Ok(Frame::Ping(_) | Frame::Pong(_))) => {}
            other => panic!("expected a text frame, got {other:?}"),
        }
    }
}

fn connect_message(id: &str, n: u64) -> Value {
    json!({"channel": "/meta/connect", "clientId": id, "connectionType": "websocket", "id": format!("c{n}")})
}

impl Subscriber {
    async fn on(node: &Node) -> Subscriber {
        Subscriber::to(node, CHANNEL, Value::Null).await
    }

    /// Subscribes to `channel` with `ext` (none when null); returns the subscribe's reply too.
    async fn to(node: &Node, channel: &str, ext: Value) -> Subscriber {
        Subscriber::replying(node, channel, ext).await.0
    }

    async fn replying(node: &Node, channel: &str, ext: Value) -> (Subscriber, Value) {
        let url = format!("ws://{}/live", node.addr);
        let (mut socket, _) = within(STEP, "a WebSocket upgrade", tokio_tungstenite::connect_async(url))
            .await
            .expect("upgrade to WebSocket");
        send(
            &mut socket,
            json!({"channel": "/meta/handshake", "version": "1.0",
            "supportedConnectionTypes": ["websocket", "long-polling"], "id": "h"}),
        )
        .await;
        let handshake = messages(&mut socket).await;
        let id = handshake[0]["clientId"].as_str().expect("a clientId").to_owned();
        // The first connect is answered at once.
        send(&mut socket, connect_message(&id, 0)).await;
        assert_eq!(messages(&mut socket).await[0]["successful"], json!(true));
        let mut subscribe = json!({"channel": "/meta/subscribe", "clientId": id, "subscription": channel, "id": "s"});
        if !ext.is_null() {
            subscribe["ext"] = ext;
        }
        send(&mut socket, subscribe).await;
        let mut subscribed = messages(&mut socket).await;
        // A replay arrives with the reply.
        let replayed: Vec<Value> =
            subscribed.iter().filter(|m| m["channel"] == json!(channel)).map(|m| m["data"].clone()).collect();
        subscribed.retain(|m| m["channel"] == json!("/meta/subscribe"));
        assert_eq!(subscribed[0]["successful"], json!(true), "{subscribed:?}");
        let reply = subscribed[0].clone();
        let events = Arc::new(Mutex::new(replayed));
        let collected = events.clone();
        let task = tokio::spawn(async move {
            let mut connects = 1;
            send(&mut socket, connect_message(&id, connects)).await;
            while let Some(Ok(frame)) = socket.next().await {
                let Frame::Text(text) = frame else { continue };
                let Ok(Value::Array(messages)) = serde_json::from_str::<Value>(&text) else { continue };
                for message in messages {
                    // Every event is of the one subscription: a pattern's arrive on their concrete channels.
                    if message["channel"].as_str().is_some_and(|name| !name.starts_with("/meta/")) {
                        assert!(message["data"]["seq"].is_i64(), "an event with a seq: {message}");
                        collected.lock().unwrap_or_else(PoisonError::into_inner).push(message["data"].clone());
                    } else if message["channel"] == json!("/meta/connect") {
                        // The held connect came back: hold the next one, as faye does.
                        connects += 1;
                        send(&mut socket, connect_message(&id, connects)).await;
                    }
                }
            }
        });
        (Subscriber { events, task }, reply)
    }

    fn events(&self) -> Vec<Value> {
        self.events.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    fn seqs(&self) -> Vec<i64> {
        self.events().iter().map(|data| data["seq"].as_i64().unwrap_or_default()).collect()
    }
}

/// The seqs of [`CHANNEL`] in the log.
async fn log_seqs(store: &Store) -> Vec<i64> {
    let events = store.events_after(CHANNEL, 0, 1_000_000).await.expect("the log reads");
    events.iter().map(|event| event.seq).collect()
}

/// Waits until every subscriber has received the last event of the log, then checks that each
/// received exactly the log: nothing lost, nothing twice, in seq order.
async fn assert_all_delivered(store: &Store, subscribers: &[Subscriber], limit: Duration) -> Vec<i64> {
    let log = log_seqs(store).await;
    let last = *log.last().expect("events in the log");
    until(limit, "every subscriber to receive the last event", || {
        subscribers.iter().all(|subscriber| subscriber.seqs().last().is_some_and(|&seq| seq >= last))
    })
    .await;
    for (index, subscriber) in subscribers.iter().enumerate() {
        let got = subscriber.seqs();
        assert_eq!(got.len(), log.len(), "subscriber {index}: {} events for {} in the log", got.len(), log.len());
        assert_eq!(got, log, "subscriber {index} differs from the log");
    }
    log
}

/// `writers` tasks on each node, each creating then updating `rounds` notes: two events a round.
async fn write_everywhere(nodes: &[Node], writers: usize, rounds: usize) {
    let mut tasks = Vec::new();
    for (n, node) in nodes.iter().enumerate() {
        for w in 0..writers {
            let records = node.live.records::<Note>();
            tasks.push(tokio::spawn(async move {
                for r in 0..rounds {
                    let created =
                        records.create(note(format!("n{n} w{w} r{r}")), &Write::new()).await.expect("a create");
                    records.update(created.value.id, &Write::new(), |note| note.done = true).await.expect("an update");
                }
            }));
        }
    }
    for task in tasks {
        within(Duration::from_secs(60), "the writers to finish", task).await.expect("a writer");
    }
}

/// Three nodes with `url`'s bus, two concurrent writers and two subscribers on each node.
async fn three_nodes_deliver_every_event_once_in_order(url: &str) {
    let db = TestDb::new(Backend::Postgres).await;
    let nodes = nodes(&db, &bus(url, &topic()), NO_POLL, 3).await;
    let mut subscribers = Vec::new();
    for node in &nodes {
        subscribers.push(Subscriber::on(node).await);
        subscribers.push(Subscriber::on(node).await);
    }
    write_everywhere(&nodes, 2, 20).await;
    // The last write of all: the others learn of it through the bus only.
    nodes[1].live.records::<Note>().create(note("last".to_owned()), &Write::new()).await.expect("a create");
    let log = assert_all_delivered(nodes[0].live.store(), &subscribers, DELIVERY).await;
    assert_eq!(log.len(), 3 * 2 * 20 * 2 + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_deliver_every_event_once_in_order_over_postgres() {
    three_nodes_deliver_every_event_once_in_order("postgres").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_deliver_every_event_once_in_order_over_redis() {
    three_nodes_deliver_every_event_once_in_order(REDIS).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_deliver_every_event_once_in_order_over_nats() {
    three_nodes_deliver_every_event_once_in_order(NATS).await;
}

/// The events of a filtered subscription as what a client sees of each: seq, method, enter, leave.
fn judged(events: &[Value]) -> Vec<(i64, String, bool, bool)> {
    events
        .iter()
        .map(|data| {
            (
                data["seq"].as_i64().unwrap_or_default(),
                data["method"].as_str().unwrap_or_default().to_owned(),
                data["enter"] == json!(true),
                data["leave"] == json!(true),
            )
        })
        .collect()
}

/// Three nodes with `url`'s bus serve partitions and filters as one service: writers on every node, and
/// on every node a subscriber of room 1, one of every room (`/api/rooms/**`) and one of room 1's pinned
/// messages (`ext.where`). Each room subscriber receives exactly room 1's log; each filtered subscriber
/// receives the same enters and leaves, judged alike on every node, and equal to a replay of the log with
/// the same filter; applied, they are exactly the pinned rows.
async fn three_nodes_judge_partitions_and_filters_alike(url: &str) {
    const ROOM: &str = "/api/rooms/1/messages";
    let db = TestDb::new(Backend::Postgres).await;
    let bus = bus(url, &topic());
    let rooms = || Live::builder().resource::<Room>().resource::<Message>();
    let nodes =
        futures_util::future::join_all((0..3).map(|_| node_with(db.url(), bus.clone(), NO_POLL, rooms()))).await;
    for name in ["one", "two"] {
        nodes[0]
            .live
            .records::<Room>()
            .create(Room { id: 0, name: name.to_owned() }, &Write::new())
            .await
            .expect("a room");
    }
    let pinned = json!({"where": "pinned=eq.true"});
    let (mut rooms, mut everything, mut filtered) = (Vec::new(), Vec::new(), Vec::new());
    for node in &nodes {
        rooms.push(Subscriber::to(node, ROOM, Value::Null).await);
        everything.push(Subscriber::to(node, "/api/rooms/**", Value::Null).await);
        filtered.push(Subscriber::to(node, ROOM, pinned.clone()).await);
    }
    let mut tasks = Vec::new();
    for (n, node) in nodes.iter().enumerate() {
        let messages = node.live.records::<Message>();
        tasks.push(tokio::spawn(async move {
            for r in 0..10_i64 {
                let room = 1 + (r + n as i64) % 2;
                let created = messages
                    .create(Message { pinned: r % 3 == 0, ..Message::new(room, &format!("n{n} r{r}")) }, &Write::new())
                    .await
                    .expect("a create");
                messages.update(created.value.id, &Write::new(), |m| m.pinned = !m.pinned).await.expect("an update");
                if r % 4 == 0 {
                    messages.delete(created.value.id, &Write::new()).await.expect("a delete");
                }
            }
        }));
    }
    for task in tasks {
        within(Duration::from_secs(60), "the writers to finish", task).await.expect("a writer");
    }
    let store = nodes[0].live.store();
    let log: Vec<i64> = store.events_after(ROOM, 0, 100_000).await.expect("the log").iter().map(|e| e.seq).collect();
    let last = *log.last().expect("events in room 1");
    let all_rooms: usize = [ROOM, "/api/rooms/2/messages"]
        .iter()
        .map(|channel| async move { store.events_after(channel, 0, 100_000).await.expect("the log").len() })
        .collect::<futures_util::stream::FuturesOrdered<_>>()
        .collect::<Vec<usize>>()
        .await
        .iter()
        .sum();
    until(DELIVERY, "room subscribers to reach the last event", || {
        rooms.iter().all(|s| s.seqs().last().is_some_and(|&seq| seq >= last))
            && everything.iter().all(|s| s.seqs().len() >= all_rooms)
    })
    .await;
    for subscriber in &rooms {
        assert_eq!(subscriber.seqs(), log, "a room subscriber receives exactly the room's log");
    }
    for subscriber in &everything {
        assert_eq!(subscriber.seqs().len(), all_rooms, "every room's events, once");
    }
    // The expected view: the pinned messages of room 1 now.
    let scoped = nodes[2].live.records::<Message>().partition(vec![1.into()]).expect("a partition");
    let mut expected: Vec<i64> = scoped
        .list(&Default::default())
        .await
        .expect("list")
        .iter()
        .filter(|m| m.value.pinned)
        .map(|m| m.value.id)
        .collect();
    expected.sort_unstable();
    let view_of = |events: &[Value]| {
        let mut view = std::collections::BTreeSet::new();
        for data in events {
            let id = data["body"]["id"].as_i64().unwrap_or_default();
            if data["method"] == json!("DELETE") {
                view.remove(&id);
            } else {
                view.insert(id);
            }
        }
        view.into_iter().collect::<Vec<i64>>()
    };
    // The replay of the whole log through the same filter, on another node than the writers' first.
    let (replay, reply) = Subscriber::replying(&nodes[1], ROOM, json!({"where": "pinned=eq.true", "since": 0})).await;
    let replayed = reply["ext"]["replayed"].as_u64().expect("a replay count") as usize;
    until(DELIVERY, "the replay", || replay.events().len() >= replayed).await;
    let reference = judged(&replay.events()[..replayed]);
    assert_eq!(view_of(&replay.events()[..replayed]), expected, "the replay makes the pinned rows");
    until(DELIVERY, "filtered subscribers to receive every judged event", || {
        filtered.iter().all(|s| s.events().len() >= reference.len())
    })
    .await;
    for (node, subscriber) in filtered.iter().enumerate() {
        assert_eq!(judged(&subscriber.events()), reference, "node {node} judged as the replay did");
        assert_eq!(view_of(&subscriber.events()), expected, "node {node}'s view is the pinned rows");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_judge_partitions_and_filters_alike_over_postgres() {
    three_nodes_judge_partitions_and_filters_alike("postgres").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_judge_partitions_and_filters_alike_over_redis() {
    three_nodes_judge_partitions_and_filters_alike(REDIS).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_judge_partitions_and_filters_alike_over_nats() {
    three_nodes_judge_partitions_and_filters_alike(NATS).await;
}

/// Publishes raw wake-ups on `url`'s bus, as a confused or replaying node would.
async fn inject(url: &str, topic: &str, payloads: &[String]) {
    if url == "postgres" {
        let mut connection =
            <sqlx::PgConnection as sqlx::Connection>::connect(&live_tests::postgres_url()).await.expect("PostgreSQL");
        for payload in payloads {
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(topic)
                .bind(payload)
                .execute(&mut connection)
                .await
                .expect("NOTIFY");
        }
    } else if url.starts_with("redis://") {
        let client = redis::Client::open(url).expect("a Redis URL");
        let mut connection = within(STEP, "Redis", client.get_multiplexed_async_connection()).await.expect("Redis");
        for payload in payloads {
            let _: i64 =
                redis::cmd("PUBLISH").arg(topic).arg(payload).query_async(&mut connection).await.expect("PUBLISH");
        }
    } else {
        let client = within(STEP, "NATS", async_nats::connect(url)).await.expect("NATS");
        for payload in payloads {
            client.publish(topic.to_owned(), payload.clone().into()).await.expect("publish");
        }
        within(STEP, "NATS flush", client.flush()).await.expect("flush");
    }
}

/// Wake-ups repeated, stale, from the future or garbled deliver nothing twice and nothing early.
async fn duplicate_wake_ups_deliver_nothing_twice(url: &str) {
    let db = TestDb::new(Backend::Postgres).await;
    let topic = topic();
    let nodes = nodes(&db, &bus(url, &topic), NO_POLL, 2).await;
    let subscribers = vec![Subscriber::on(&nodes[0]).await, Subscriber::on(&nodes[1]).await];
    let records = nodes[0].live.records::<Note>();
    for i in 0..10 {
        records.create(note(format!("first {i}")), &Write::new()).await.expect("a create");
    }
    let first = assert_all_delivered(nodes[0].live.store(), &subscribers, DELIVERY).await;
    // Every seq again, twice, then seqs nobody wrote and payloads that are not seqs.
    let mut payloads: Vec<String> = first.iter().chain(first.iter()).map(i64::to_string).collect();
    payloads.extend(["999999999", "9223372036854775807", "-1", "", "not a seq"].map(str::to_owned));
    inject(url, &topic, &payloads).await;
    for i in 0..5 {
        records.create(note(format!("then {i}")), &Write::new()).await.expect("a create");
    }
    inject(url, &topic, &payloads).await;
    let log = assert_all_delivered(nodes[0].live.store(), &subscribers, DELIVERY).await;
    assert_eq!(log.len(), 15);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_wake_ups_deliver_nothing_twice_over_postgres() {
    duplicate_wake_ups_deliver_nothing_twice("postgres").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_wake_ups_deliver_nothing_twice_over_redis() {
    duplicate_wake_ups_deliver_nothing_twice(REDIS).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_wake_ups_deliver_nothing_twice_over_nats() {
    duplicate_wake_ups_deliver_nothing_twice(NATS).await;
}

/// A node that never hears the writer's wake-ups (its bus carries another topic, as if every
/// publish were dropped) still delivers every event, by its timer, within a bounded delay.
async fn lost_wake_ups_are_made_up_by_the_timer(url: &str) {
    let db = TestDb::new(Backend::Postgres).await;
    let poll = Duration::from_millis(200);
    let writer = node_on(db.url(), bus(url, &topic()), poll).await;
    let deaf = node_on(db.url(), bus(url, &topic()), poll).await;
    let subscribers = vec![Subscriber::on(&deaf).await];
    let records = writer.live.records::<Note>();
    for i in 0..20 {
        records.create(note(format!("unheard {i}")), &Write::new()).await.expect("a create");
    }
    let started = Instant::now();
    let log = assert_all_delivered(writer.live.store(), &subscribers, Duration::from_secs(5)).await;
    assert_eq!(log.len(), 20);
    assert!(started.elapsed() < Duration::from_secs(5), "delivered within a few poll intervals");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_wake_ups_are_made_up_by_the_timer_over_postgres() {
    lost_wake_ups_are_made_up_by_the_timer("postgres").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_wake_ups_are_made_up_by_the_timer_over_redis() {
    lost_wake_ups_are_made_up_by_the_timer(REDIS).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_wake_ups_are_made_up_by_the_timer_over_nats() {
    lost_wake_ups_are_made_up_by_the_timer(NATS).await;
}

/// Without a bus, another process's writes still arrive, by the timer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_bus_other_processes_writes_arrive_by_the_timer() {
    let db = TestDb::new(Backend::Postgres).await;
    let poll = Duration::from_millis(200);
    let writer = node_on(db.url(), Bus::in_process(), poll).await;
    let reader = node_on(db.url(), Bus::in_process(), poll).await;
    let subscribers = vec![Subscriber::on(&reader).await, Subscriber::on(&writer).await];
    for i in 0..10 {
        writer.live.records::<Note>().create(note(format!("elsewhere {i}")), &Write::new()).await.expect("a create");
    }
    assert_all_delivered(writer.live.store(), &subscribers, Duration::from_secs(5)).await;
}

/// Writers keep writing on three nodes while their broker is killed (SIGKILL) and started again
/// on the same port. Nothing is lost or doubled; afterwards, the bus carries wake-ups again (the
/// nodes' timers are too slow to explain the delivery).
async fn a_broker_restart_under_load_loses_nothing(kind: BrokerKind) {
    let mut broker = Broker::start(kind).await;
    let db = TestDb::new(Backend::Postgres).await;
    let nodes = nodes(&db, &bus(&broker.url(), &topic()), NO_POLL, 3).await;
    let mut subscribers = Vec::new();
    for node in &nodes {
        subscribers.push(Subscriber::on(node).await);
    }
    let written = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut writers = Vec::new();
    for (n, node) in nodes.iter().enumerate() {
        let records = node.live.records::<Note>();
        let (written, stop) = (written.clone(), stop.clone());
        writers.push(tokio::spawn(async move {
            // Bounded in count; the test stops it earlier.
            for i in 0..2_000 {
                if stop.load(std::sync::atomic::Ordering::Acquire) {
                    break;
                }
                records.create(note(format!("n{n} {i}")), &Write::new()).await.expect("a create");
                written.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
            }
        }));
    }
    let count = || written.load(std::sync::atomic::Ordering::Acquire);
    until(STEP, "writes before the crash", || count() >= 30).await;
    broker.kill();
    let at_crash = count();
    until(STEP, "writes while the broker is down", || count() >= at_crash + 30).await;
    broker.restart().await;
    let at_restart = count();
    until(STEP, "writes after the restart", || count() >= at_restart + 30).await;
    stop.store(true, std::sync::atomic::Ordering::Release);
    for writer in writers {
        within(STEP, "a writer to stop", writer).await.expect("a writer");
    }
    // Only node 0 writes now: the others must hear of it through the restarted broker.
    let records = nodes[0].live.records::<Note>();
    for i in 0..5 {
        records.create(note(format!("after {i}")), &Write::new()).await.expect("a create");
    }
    let log = assert_all_delivered(nodes[0].live.store(), &subscribers, DELIVERY).await;
    assert!(log.len() >= 95, "{} events", log.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_restart_under_load_loses_nothing() {
    a_broker_restart_under_load_loses_nothing(BrokerKind::Redis).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nats_restart_under_load_loses_nothing() {
    a_broker_restart_under_load_loses_nothing(BrokerKind::Nats).await;
}

/// One REST write; the status and the JSON body.
async fn post(node: &Node, title: &str) -> (http::StatusCode, Value) {
    let stream = within(STEP, "connect", TcpStream::connect(node.addr)).await.expect("connect to the node");
    let (mut sender, connection) =
        within(STEP, "an HTTP handshake", hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)))
            .await
            .expect("an HTTP handshake");
    tokio::spawn(connection);
    let request = http::Request::post(CHANNEL)
        .header(http::header::HOST, "127.0.0.1")
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(http_body_util::Full::new(bytes::Bytes::from(json!({"title": title}).to_string())))
        .expect("a request");
    let response = within(STEP, "a response", sender.send_request(request)).await.expect("a response");
    let status = response.status();
    let body = within(STEP, "a body", http_body_util::BodyExt::collect(response.into_body()))
        .await
        .expect("a body")
        .to_bytes();
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

/// PostgreSQL cut off (every connection closed, new ones refused) and back, under the postgres bus:
/// writes answer 503 in the usual error shape and change nothing; once it is back, the nodes write
/// again without a restart, the LISTEN connection listens again, and every subscriber gets every
/// event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_going_away_answers_503_and_the_nodes_recover() {
    let db = TestDb::new(Backend::Postgres).await;
    let options: sqlx::postgres::PgConnectOptions = db.url().parse().expect("a PostgreSQL URL");
    let upstream = tokio::net::lookup_host((options.get_host(), options.get_port()))
        .await
        .expect("resolve PostgreSQL")
        .next()
        .expect("an address of PostgreSQL");
    let proxy = TcpProxy::start(upstream).await;
    let url = url_via(db.url(), proxy.addr());
    let bus = bus("postgres", &topic());
    let nodes = vec![node_on(&url, bus.clone(), NO_POLL).await, node_on(&url, bus, NO_POLL).await];
    let subscribers = vec![Subscriber::on(&nodes[0]).await, Subscriber::on(&nodes[1]).await];
    for i in 0..5 {
        let (status, body) = post(&nodes[i % 2], &format!("before {i}")).await;
        assert_eq!(status, http::StatusCode::CREATED, "{body}");
    }
    assert_all_delivered(nodes[0].live.store(), &subscribers, DELIVERY).await;
    // Read directly, not through the proxy.
    let direct = db.connect().await;
    let before = direct.events_after(CHANNEL, 0, 1000).await.expect("the log reads").len();

    proxy.cut();
    for node in &nodes {
        let (status, body) = post(node, "while away").await;
        assert_eq!(status, http::StatusCode::SERVICE_UNAVAILABLE, "{body}");
        assert_eq!(body["error"]["code"], json!("unavailable"), "{body}");
        assert!(body["error"]["message"].is_string(), "{body}");
    }
    assert_eq!(direct.events_after(CHANNEL, 0, 1000).await.expect("the log reads").len(), before);

    proxy.restore().await;
    // Pooled connections that died with the cut fail once each; then writes succeed again.
    for node in &nodes {
        let deadline = Instant::now() + DELIVERY;
        // Bounded in time and count: at most one failure per pooled connection is expected.
        for attempt in 0.. {
            let (status, body) = post(node, "back").await;
            if status == http::StatusCode::CREATED {
                break;
            }
            assert_eq!(status, http::StatusCode::SERVICE_UNAVAILABLE, "{body}");
            assert!(
                Instant::now() < deadline && attempt < 100,
                "no successful write after {attempt} attempts since PostgreSQL came back"
            );
        }
    }
    for i in 0..5 {
        let (status, body) = post(&nodes[0], &format!("after {i}")).await;
        assert_eq!(status, http::StatusCode::CREATED, "{body}");
    }
    let log = assert_all_delivered(&direct, &subscribers, DELIVERY).await;
    assert_eq!(log.len(), before + 2 + 5);
}

#[tokio::test]
async fn the_postgres_bus_is_refused_on_sqlite_before_anything_is_created() {
    let db = TestDb::new(Backend::Sqlite).await;
    let error = Live::builder().resource::<Note>().bus("postgres").connect(db.url()).await.expect_err("refused");
    assert!(matches!(error, LiveError::Bus(BusError::NeedsPostgres)), "{error:?}");
    assert!(error.to_string().contains("SQLite"), "{error}");
    let file = db.url().trim_start_matches("sqlite://");
    assert!(!std::path::Path::new(file).exists(), "the SQLite file was created");
    // Given an open SQLite store, the same.
    let store = db.connect().await;
    let error = Live::builder().resource::<Note>().bus(Bus::postgres()).store(store).await.expect_err("refused");
    assert!(matches!(error, LiveError::Bus(BusError::NeedsPostgres)), "{error:?}");
}

#[tokio::test]
async fn a_bad_bus_url_or_an_unreachable_broker_fails_the_start() {
    let db = TestDb::new(Backend::Sqlite).await;
    let error = Live::builder().bus("kafka://127.0.0.1:9092").connect(db.url()).await.expect_err("refused");
    assert!(matches!(error, LiveError::Bus(BusError::Url { .. })), "{error:?}");
    assert!(error.to_string().contains("redis://"), "names what is expected: {error}");
    let port = live_tests::outage::free_port();
    for url in [format!("redis://127.0.0.1:{port}"), format!("nats://127.0.0.1:{port}")] {
        let store = db.connect().await;
        let error = within(STEP, "the start to fail", Live::builder().bus(&url).store(store)).await.expect_err("fails");
        assert!(matches!(error, LiveError::Bus(BusError::Connect { .. })), "{url}: {error:?}");
        assert!(error.to_string().contains(&url), "{error}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_nodes_share_a_file_over_redis() {
    let db = TestDb::new(Backend::Sqlite).await;
    let nodes = nodes(&db, &bus(REDIS, &topic()), NO_POLL, 2).await;
    let subscribers = vec![Subscriber::on(&nodes[0]).await, Subscriber::on(&nodes[1]).await];
    write_everywhere(&nodes, 1, 10).await;
    nodes[0].live.records::<Note>().create(note("last".to_owned()), &Write::new()).await.expect("a create");
    let log = assert_all_delivered(nodes[1].live.store(), &subscribers, DELIVERY).await;
    assert_eq!(log.len(), 2 * 10 * 2 + 1);
}
