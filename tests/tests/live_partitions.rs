//! Partitions live, on real sockets, on SQLite and PostgreSQL (docs/live.md, "Partitions"): each
//! partition of a nested resource is its own channel, so a room's subscriber receives that room's
//! events only, in seq order, once, under concurrent writers to every room; `/api/rooms/**`
//! receives all of them, each on its concrete channel; snapshot and resume work per partition.

mod bayeux_support;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bayeux_support::*;
use live_runtime::{Live, Write, bayeux};
use live_tests::{Backend, Message, Pin, Room, TestStore, store};
use serde_json::{Value, json};

struct App {
    live: Live,
    probe: Probe,
    _db: TestStore,
}

async fn app(backend: Backend) -> App {
    let db = store(backend).await;
    let options = bayeux::Options::default().timeout(Duration::from_millis(500)).queue_limit(10_000);
    let live = Live::builder()
        .resource::<Room>()
        .resource::<Message>()
        .resource::<Pin>()
        .bayeux(options)
        .store(db.store.clone())
        .await
        .expect("live starts");
    // Rooms 1 to 4.
    for n in 1..=4 {
        let room = live.records::<Room>().create(Room { id: 0, name: format!("room {n}") }, &Write::new()).await;
        assert_eq!(room.expect("a room").value.id, n);
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind a local port");
    let addr: SocketAddr = listener.local_addr().expect("a local address");
    let router = live.router();
    tokio::spawn(async move { axum::serve(listener, router).await });
    App { live, probe: Probe(addr), _db: db }
}

fn room(n: i64) -> String {
    format!("/api/rooms/{n}/messages")
}

impl App {
    /// Handshakes and does the first connect over long-polling.
    async fn client(&self) -> String {
        let replies = self.probe.post(handshake_message()).await;
        let id = replies[0]["clientId"].as_str().expect("a clientId").to_owned();
        let replies = self.probe.post(connect_message(&id, "c0")).await;
        assert_eq!(replies[0]["successful"], json!(true), "{replies:?}");
        id
    }

    /// Subscribes `id` to `channel` with `ext`, and returns the reply.
    async fn subscribe(&self, id: &str, channel: &str, ext: Value) -> Value {
        let mut message = subscribe_message(id, json!(channel), "s");
        if !ext.is_null() {
            message["ext"] = ext;
        }
        let replies = self.probe.post(message).await;
        reply_to(&replies, "s").clone()
    }

    /// Long-polls until `count` events arrived (bounded in rounds and time); then one more round, so
    /// that an event too many would be seen. Returns `(channel, data)` pairs in arrival order.
    async fn collect(&self, id: &str, count: usize) -> Vec<(String, Value)> {
        let mut got = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        for round in 0..10_000 {
            if Instant::now() > deadline {
                break;
            }
            let done = got.len() >= count;
            let message = if done { connect_now(id, "last") } else { connect_message(id, &format!("c{round}")) };
            let replies = self.probe.post(message).await;
            got.extend(
                events(&replies)
                    .into_iter()
                    .map(|event| (event["channel"].as_str().expect("a channel").to_owned(), event["data"].clone())),
            );
            if done {
                break;
            }
        }
        got
    }

    async fn log(&self, channel: &str, after: i64) -> Vec<i64> {
        let log = self.live.store().events_after(channel, after, 10_000).await.expect("the log reads");
        log.iter().map(|change| change.seq).collect()
    }
}

fn seqs(events: &[(String, Value)]) -> Vec<i64> {
    events.iter().map(|(_, data)| data["seq"].as_i64().expect("a seq")).collect()
}

async fn concurrent_writers_across_partitions_on(backend: Backend) {
    const ROOMS: i64 = 4;
    const TASKS: i64 = 4;
    const WRITES: i64 = 20;
    let app = app(backend).await;
    let one = app.client().await;
    assert_eq!(app.subscribe(&one, &room(1), Value::Null).await["successful"], json!(true));
    let all = app.client().await;
    assert_eq!(app.subscribe(&all, "/api/rooms/**", Value::Null).await["successful"], json!(true));
    let two = app.client().await;
    assert_eq!(app.subscribe(&two, "/api/rooms/2/*", Value::Null).await["successful"], json!(true));

    let mut writers = Vec::new();
    for task in 0..TASKS {
        let records = app.live.records::<Message>();
        writers.push(tokio::spawn(async move {
            for n in 0..WRITES {
                // Every task writes to every room, in an order of its own.
                let room = (task + n) % ROOMS + 1;
                let created =
                    records.create(Message::new(room, &format!("t{task} n{n}")), &Write::new()).await.expect("a write");
                if n % 5 == 0 {
                    records.update(created.value.id, &Write::new(), |m| m.pinned = true).await.expect("an update");
                }
            }
        }));
    }
    for writer in writers {
        bounded("the writers", writer).await.expect("a writer task");
    }
    let mut per_room = BTreeMap::new();
    let mut total = 0;
    for n in 1..=ROOMS {
        let log = app.log(&room(n), 0).await;
        total += log.len();
        per_room.insert(room(n), log);
    }
    assert_eq!(total, (TASKS * WRITES + TASKS * WRITES / 5) as usize);

    let (got_one, got_all, got_two) = tokio::join!(
        app.collect(&one, per_room[&room(1)].len()),
        app.collect(&all, total),
        app.collect(&two, per_room[&room(2)].len())
    );
    assert!(got_one.iter().all(|(channel, _)| *channel == room(1)), "room 1 only");
    assert_eq!(seqs(&got_one), per_room[&room(1)], "room 1's events, in seq order, once");
    assert!(got_two.iter().all(|(channel, _)| *channel == room(2)), "room 2 only");
    assert_eq!(seqs(&got_two), per_room[&room(2)]);
    for (channel, data) in &got_one {
        assert_eq!(data["body"]["room_id"], json!(1), "{channel}: {data}");
    }
    // The wildcard subscriber gets everything, each on its concrete channel, once, in seq order.
    let mut all_seqs = seqs(&got_all);
    assert!(all_seqs.windows(2).all(|pair| pair[0] < pair[1]), "{all_seqs:?}");
    all_seqs.sort_unstable();
    let mut expected: Vec<i64> = per_room.values().flatten().copied().collect();
    expected.sort_unstable();
    assert_eq!(all_seqs, expected);
    for (channel, data) in &got_all {
        assert_eq!(*channel, room(data["body"]["room_id"].as_i64().expect("a room id")), "{data}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_across_partitions_sqlite() {
    concurrent_writers_across_partitions_on(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_across_partitions_postgres() {
    concurrent_writers_across_partitions_on(Backend::Postgres).await;
}

async fn snapshot_and_resume_per_partition_on(backend: Backend) {
    let app = app(backend).await;
    let records = app.live.records::<Message>();
    for (room, text) in [(1, "a"), (2, "b"), (1, "c")] {
        records.create(Message::new(room, text), &Write::new()).await.expect("write");
    }
    let id = app.client().await;
    let reply = app.subscribe(&id, &room(1), json!({"snapshot": true})).await;
    assert_eq!(reply["successful"], json!(true), "{reply}");
    let texts: Vec<&str> = reply["ext"]["snapshot"]["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|row| row["text"].as_str().expect("text"))
        .collect();
    assert_eq!(texts, ["a", "c"], "the partition's rows only");

    let since = app.live.store().last_seq_any().await.expect("the last seq");
    let rooms_log = app.log("/api/rooms", 0).await;
    assert_eq!(rooms_log.len(), 4);
    records.create(Message::new(2, "away in 2"), &Write::new()).await.expect("write");
    records.create(Message::new(1, "away in 1"), &Write::new()).await.expect("write");
    let other = app.client().await;
    let reply = app.subscribe(&other, &room(1), json!({"since": since})).await;
    assert_eq!(reply["successful"], json!(true), "{reply}");
    let got = app.collect(&other, 1).await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].1["body"]["text"], json!("away in 1"));

    // A partition spelled otherwise than its channel has no history: its channel never carries an event.
    let odd = app.subscribe(&other, "/api/rooms/01/messages", json!({"snapshot": true})).await;
    assert_eq!(odd["successful"], json!(false), "{odd}");
    let template = app.subscribe(&other, "/api/rooms/{room_id}/messages", json!({"snapshot": true})).await;
    assert_eq!(template["successful"], json!(false), "{template}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_and_resume_per_partition_sqlite() {
    snapshot_and_resume_per_partition_on(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_and_resume_per_partition_postgres() {
    snapshot_and_resume_per_partition_on(Backend::Postgres).await;
}

async fn a_cascade_reaches_the_child_partitions_subscribers_on(backend: Backend) {
    let app = app(backend).await;
    let pins = app.live.records::<Pin>();
    let mut created = Vec::new();
    for label in ["a", "b"] {
        let pin = pins.create(Pin { id: 0, room_id: 3, label: label.to_owned() }, &Write::new()).await.expect("a pin");
        created.push(pin.value.id);
    }
    let id = app.client().await;
    let reply = app.subscribe(&id, "/api/rooms/3/pins", Value::Null).await;
    assert_eq!(reply["successful"], json!(true), "{reply}");
    let rooms = app.client().await;
    assert_eq!(app.subscribe(&rooms, "/api/rooms", Value::Null).await["successful"], json!(true));
    app.live.records::<Room>().delete(3, &Write::new()).await.expect("the room is deleted");
    let got = app.collect(&id, 2).await;
    let removed: Vec<(&str, &str, i64)> = got
        .iter()
        .map(|(channel, data)| {
            (
                channel.as_str(),
                data["method"].as_str().unwrap_or_default(),
                data["body"]["id"].as_i64().unwrap_or_default(),
            )
        })
        .collect();
    let channel = "/api/rooms/3/pins";
    assert_eq!(removed, [(channel, "DELETE", created[0]), (channel, "DELETE", created[1])], "each pin's removal, once");
    let room = app.collect(&rooms, 1).await;
    assert_eq!(room.len(), 1, "{room:?}");
    assert_eq!(room[0].1["method"], json!("DELETE"));
    assert!(seqs(&got).iter().all(|seq| *seq < room[0].1["seq"].as_i64().unwrap_or_default()), "children first");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cascade_reaches_the_child_partitions_subscribers_sqlite() {
    a_cascade_reaches_the_child_partitions_subscribers_on(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cascade_reaches_the_child_partitions_subscribers_postgres() {
    a_cascade_reaches_the_child_partitions_subscribers_on(Backend::Postgres).await;
}

async fn record_channels_carry_one_record_exactly_on(backend: Backend) {
    let app = app(backend).await;
    let messages = app.live.records::<Message>();
    let watched = messages.create(Message::new(1, "watched"), &Write::new()).await.expect("write");
    let other = messages.create(Message::new(1, "other"), &Write::new()).await.expect("write");
    let record = format!("/api/rooms/1/messages/{}", watched.value.id);

    let id = app.client().await;
    let reply = app.subscribe(&id, &record, json!({"snapshot": true})).await;
    assert_eq!(reply["successful"], json!(true), "{reply}");
    assert_eq!(reply["ext"]["snapshot"]["rows"], json!([watched.change.body_value().expect("json")]), "[row]");
    let star = app.client().await;
    assert_eq!(app.subscribe(&star, "/api/rooms/1/messages/*", Value::Null).await["successful"], json!(true));
    let all = app.client().await;
    assert_eq!(app.subscribe(&all, "/api/rooms/**", Value::Null).await["successful"], json!(true));
    let room = app.client().await;
    assert_eq!(
        app.subscribe(&room, "/api/rooms/2", json!({"snapshot": true})).await["ext"]["snapshot"]["rows"][0]["name"],
        json!("room 2")
    );

    messages.update(other.value.id, &Write::new(), |m| m.pinned = true).await.expect("write");
    messages.update(watched.value.id, &Write::new(), |m| m.text = "edited".into()).await.expect("write");
    messages.delete(watched.value.id, &Write::new()).await.expect("write");
    app.live.records::<Room>().update(2, &Write::new(), |r| r.name = "renamed".into()).await.expect("write");

    let got = app.collect(&id, 2).await;
    let seen: Vec<(&str, &str)> =
        got.iter().map(|(channel, data)| (channel.as_str(), data["method"].as_str().unwrap_or_default())).collect();
    assert_eq!(seen, [(record.as_str(), "PATCH"), (record.as_str(), "DELETE")], "that record's events only");
    let everything = app.collect(&all, 3).await;
    assert_eq!(everything.len(), 3, "each message event once, on its collection channel: {everything:?}");
    assert!(everything.iter().all(|(channel, _)| channel == "/api/rooms/1/messages"));
    assert!(app.collect(&star, 0).await.is_empty(), "a wildcard never matches a record channel");
    let renamed = app.collect(&room, 1).await;
    assert_eq!(renamed.len(), 1);
    assert_eq!(renamed[0].0, "/api/rooms/2", "a flat resource's record channel");
    assert_eq!(renamed[0].1["body"]["name"], json!("renamed"));

    // Gone: the snapshot is empty; resume replays the record's own events only.
    let late = app.client().await;
    let reply = app.subscribe(&late, &record, json!({"snapshot": true})).await;
    assert_eq!(reply["ext"]["snapshot"]["rows"], json!([]), "{reply}");
    let again = app.client().await;
    let reply = app.subscribe(&again, &record, json!({"since": watched.change.seq})).await;
    assert_eq!(reply["successful"], json!(true), "{reply}");
    let replayed = app.collect(&again, 2).await;
    let methods: Vec<&str> = replayed.iter().map(|(_, data)| data["method"].as_str().unwrap_or_default()).collect();
    assert_eq!(methods, ["PATCH", "DELETE"], "{replayed:?}");
    assert!(replayed.iter().all(|(channel, _)| *channel == record));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn record_channels_carry_one_record_exactly_sqlite() {
    record_channels_carry_one_record_exactly_on(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn record_channels_carry_one_record_exactly_postgres() {
    record_channels_carry_one_record_exactly_on(Backend::Postgres).await;
}

/// Applies a filtered subscription's events to a view of rows by id, as a client would: `enter` and any
/// other non-DELETE put the row, `leave` and DELETE remove it.
fn apply(view: &mut BTreeMap<i64, Value>, events: &[(String, Value)]) {
    for (_, data) in events {
        let id = data["body"]["id"].as_i64().expect("an id");
        if data["method"] == json!("DELETE") {
            view.remove(&id);
        } else {
            view.insert(id, data["body"].clone());
        }
    }
}

/// The rows of room `room` that are pinned, by id, as the store has them.
async fn pinned_rows(app: &App, room: i64) -> BTreeMap<i64, Value> {
    let scoped = app.live.records::<Message>().partition(vec![room.into()]).expect("a partition");
    let rows = scoped.list(&Default::default()).await.expect("list");
    rows.into_iter()
        .filter(|stored| stored.value.pinned)
        .map(|stored| (stored.value.id, serde_json::to_value(&stored.value).expect("json")))
        .collect()
}

async fn filters_send_enter_and_leave_on(backend: Backend) {
    let app = app(backend).await;
    let messages = app.live.records::<Message>();
    let id = app.client().await;
    let reply = app.subscribe(&id, &room(1), json!({"where": "pinned=eq.true"})).await;
    assert_eq!(reply["successful"], json!(true), "{reply}");
    assert_eq!(reply["subscription"], json!(room(1)), "the reply names the channel");

    let a = messages.create(Message { pinned: true, ..Message::new(1, "a") }, &Write::new()).await.expect("write");
    let b = messages.create(Message::new(1, "b"), &Write::new()).await.expect("write");
    messages.update(b.value.id, &Write::new(), |m| m.pinned = true).await.expect("write");
    messages.update(a.value.id, &Write::new(), |m| m.text = "a2".into()).await.expect("write");
    messages.update(a.value.id, &Write::new(), |m| m.pinned = false).await.expect("write");
    messages.update(a.value.id, &Write::new(), |m| m.text = "a3".into()).await.expect("write");
    messages.delete(a.value.id, &Write::new()).await.expect("write");
    messages.delete(b.value.id, &Write::new()).await.expect("write");
    messages.create(Message { pinned: true, ..Message::new(2, "other room") }, &Write::new()).await.expect("write");

    let got = app.collect(&id, 5).await;
    let seen: Vec<(String, &str, bool, bool, String)> = got
        .iter()
        .map(|(channel, data)| {
            (
                channel.clone(),
                data["method"].as_str().unwrap_or_default(),
                data["enter"] == json!(true),
                data["leave"] == json!(true),
                data["body"]["text"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let r = room(1);
    assert_eq!(
        seen,
        [
            (r.clone(), "POST", true, false, "a".to_owned()),
            (r.clone(), "POST", true, false, "b".to_owned()),
            (r.clone(), "PATCH", false, false, "a2".to_owned()),
            (r.clone(), "DELETE", false, true, "a2".to_owned()),
            (r.clone(), "DELETE", false, true, "b".to_owned()),
        ],
        "entering, as is, leaving (with the row before), and nothing for rows outside the view"
    );
    assert!(got.iter().all(|(_, data)| data.get("enter").is_none() || data.get("leave").is_none()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_send_enter_and_leave_sqlite() {
    filters_send_enter_and_leave_on(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_send_enter_and_leave_postgres() {
    filters_send_enter_and_leave_on(Backend::Postgres).await;
}

async fn filtered_views_stay_exact_under_concurrent_updates_on(backend: Backend) {
    const WRITERS: i64 = 4;
    const ROUNDS: i64 = 15;
    let app = app(backend).await;
    let messages = app.live.records::<Message>();
    let mut ids = Vec::new();
    for n in 0..6 {
        ids.push(messages.create(Message::new(1, &format!("m{n}")), &Write::new()).await.expect("write").value.id);
    }
    let id = app.client().await;
    let reply = app.subscribe(&id, &room(1), json!({"where": "pinned=is.true", "snapshot": true})).await;
    assert_eq!(reply["successful"], json!(true), "{reply}");
    assert_eq!(reply["ext"]["snapshot"]["rows"], json!([]), "nothing pinned yet");
    // A second client with the same filter written otherwise shares the group and sees the same.
    let twin = app.client().await;
    let reply = app.subscribe(&twin, &room(1), json!({"where": "pinned=is.true&"})).await;
    assert_eq!(reply["successful"], json!(true), "{reply}");

    let mut writers = Vec::new();
    for writer in 0..WRITERS {
        let messages = app.live.records::<Message>();
        let ids = ids.clone();
        writers.push(tokio::spawn(async move {
            for round in 0..ROUNDS {
                let id = ids[((writer * 7 + round * 3) % ids.len() as i64) as usize];
                messages
                    .update(id, &Write::new(), |m| {
                        m.pinned = !m.pinned;
                        m.text = format!("w{writer} r{round}");
                    })
                    .await
                    .expect("an update");
            }
        }));
    }
    for writer in writers {
        bounded("the writers", writer).await.expect("a writer task");
    }
    let expected = pinned_rows(&app, 1).await;
    let all = app.log(&room(1), 0).await;
    let mut view = BTreeMap::new();
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    // The number of events is not known in advance: collect until the view matches, within a bound.
    while view != expected && Instant::now() < deadline {
        let batch = app.collect(&id, got.len() + 1).await;
        got.extend(batch);
        view.clear();
        apply(&mut view, &got);
    }
    assert_eq!(view, expected, "the view equals the pinned rows");
    let seqs = seqs(&got);
    assert!(seqs.windows(2).all(|pair| pair[0] < pair[1]), "in seq order, once: {seqs:?}");
    assert!(seqs.iter().all(|seq| all.contains(seq)));
    let mut twin_view = BTreeMap::new();
    apply(&mut twin_view, &app.collect(&twin, got.len()).await);
    assert_eq!(twin_view, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filtered_views_stay_exact_under_concurrent_updates_sqlite() {
    filtered_views_stay_exact_under_concurrent_updates_on(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filtered_views_stay_exact_under_concurrent_updates_postgres() {
    filtered_views_stay_exact_under_concurrent_updates_on(Backend::Postgres).await;
}

async fn a_filtered_resume_replays_missed_enters_and_leaves_on(backend: Backend) {
    let app = app(backend).await;
    let messages = app.live.records::<Message>();
    let stays = messages.create(Message { pinned: true, ..Message::new(1, "stays") }, &Write::new()).await.expect("w");
    let leaves =
        messages.create(Message { pinned: true, ..Message::new(1, "leaves") }, &Write::new()).await.expect("w");
    let enters = messages.create(Message::new(1, "enters"), &Write::new()).await.expect("w");
    let first = app.client().await;
    let reply = app.subscribe(&first, &room(1), json!({"where": "pinned=eq.true", "snapshot": true})).await;
    let mut view: BTreeMap<i64, Value> = reply["ext"]["snapshot"]["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|row| (row["id"].as_i64().expect("an id"), row.clone()))
        .collect();
    assert_eq!(view.len(), 2, "the snapshot holds the pinned rows only");
    let seq = reply["ext"]["snapshot"]["seq"].as_i64().expect("a seq");
    // Missed while away.
    messages.update(leaves.value.id, &Write::new(), |m| m.pinned = false).await.expect("w");
    messages.update(enters.value.id, &Write::new(), |m| m.pinned = true).await.expect("w");
    messages.update(stays.value.id, &Write::new(), |m| m.text = "still".into()).await.expect("w");
    messages.create(Message::new(1, "never pinned"), &Write::new()).await.expect("w");
    let back = app.client().await;
    let reply = app.subscribe(&back, &room(1), json!({"where": "pinned=eq.true", "since": seq})).await;
    assert_eq!(reply["successful"], json!(true), "{reply}");
    assert_eq!(reply["ext"]["replayed"], json!(3), "the unpinned row's create is not replayed: {reply}");
    let replayed = app.collect(&back, 3).await;
    let flags: Vec<(&str, bool, bool)> = replayed
        .iter()
        .map(|(_, d)| (d["method"].as_str().unwrap_or_default(), d["enter"] == json!(true), d["leave"] == json!(true)))
        .collect();
    assert_eq!(flags, [("DELETE", false, true), ("POST", true, false), ("PATCH", false, false)]);
    apply(&mut view, &replayed);
    assert_eq!(view, pinned_rows(&app, 1).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_filtered_resume_replays_missed_enters_and_leaves_sqlite() {
    a_filtered_resume_replays_missed_enters_and_leaves_on(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_filtered_resume_replays_missed_enters_and_leaves_postgres() {
    a_filtered_resume_replays_missed_enters_and_leaves_on(Backend::Postgres).await;
}

async fn filters_per_channel_and_refusals_on(backend: Backend) {
    let app = app(backend).await;
    let messages = app.live.records::<Message>();
    let id = app.client().await;
    for (channel, ext, expected) in [
        (room(1), json!({"where": "pinned=eq.true&order=id.asc"}), "order is not allowed"),
        (room(1), json!({"where": "limit=2"}), "limit is not allowed"),
        (room(1), json!({"where": "offset=2"}), "offset is not allowed"),
        (room(1), json!({"where": "select=text"}), "select is not allowed"),
        (room(1), json!({"where": "colour=eq.red"}), "colour"),
        (room(1), json!({"where": "pinned=sometimes.true"}), "pinned"),
        (room(1), json!({"where": "pinned=eq.maybe"}), "pinned"),
        (room(1), json!({"where": 7}), "where must be a string"),
        (room(1), json!({"where": ""}), "empty"),
        ("/api/rooms/**".to_owned(), json!({"where": "pinned=eq.true"}), "not a pattern"),
        ("/api/rooms/1/messages/1".to_owned(), json!({"where": "pinned=eq.true"}), "collection channel"),
        ("/chat/x".to_owned(), json!({"where": "pinned=eq.true"}), "collection channel"),
    ] {
        let reply = app.subscribe(&id, &channel, ext.clone()).await;
        assert_eq!(reply["successful"], json!(false), "{ext}: {reply}");
        let error = reply["error"].as_str().unwrap_or_default();
        assert!(error.contains(expected), "{ext}: {error}");
        // faye reads the code only from an error within its grammar: `code:args:message`, a small alphabet.
        let (code, rest) = error.split_once(':').unwrap_or_default();
        let (_, message) = rest.split_once(':').unwrap_or_default();
        assert!(code.len() == 3 && code.bytes().all(|b| b.is_ascii_digit()), "{error}");
        assert!(message.chars().all(|c| c.is_ascii_alphanumeric() || "-_!~()$@ /*.".contains(c)), "{error}");
    }
    // One client, a filter per channel; a new filter on a channel replaces the old one.
    assert_eq!(app.subscribe(&id, &room(1), json!({"where": "pinned=eq.true"})).await["successful"], json!(true));
    assert_eq!(app.subscribe(&id, &room(2), json!({"where": "text=like.*x*"})).await["successful"], json!(true));
    assert_eq!(app.subscribe(&id, &room(1), json!({"where": "text=like.*y*"})).await["successful"], json!(true));
    messages.create(Message { pinned: true, ..Message::new(1, "pinned alone") }, &Write::new()).await.expect("w");
    messages.create(Message::new(1, "y in room 1"), &Write::new()).await.expect("w");
    messages.create(Message::new(2, "x in room 2"), &Write::new()).await.expect("w");
    messages.create(Message::new(2, "nothing here"), &Write::new()).await.expect("w");
    let got = app.collect(&id, 2).await;
    let texts: Vec<&str> = got.iter().map(|(_, data)| data["body"]["text"].as_str().unwrap_or_default()).collect();
    assert_eq!(texts, ["y in room 1", "x in room 2"], "{got:?}");
    // Unsubscribing the channel drops its filtered subscription.
    let message = json!({"channel": "/meta/unsubscribe", "clientId": id, "subscription": room(1), "id": "u"});
    assert_eq!(reply_to(&app.probe.post(message).await, "u")["successful"], json!(true));
    messages.create(Message::new(1, "y again"), &Write::new()).await.expect("w");
    messages.create(Message::new(2, "x again"), &Write::new()).await.expect("w");
    let got = app.collect(&id, 1).await;
    let texts: Vec<&str> = got.iter().map(|(_, data)| data["body"]["text"].as_str().unwrap_or_default()).collect();
    assert_eq!(texts, ["x again"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_per_channel_and_refusals_sqlite() {
    filters_per_channel_and_refusals_on(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_per_channel_and_refusals_postgres() {
    filters_per_channel_and_refusals_on(Backend::Postgres).await;
}
