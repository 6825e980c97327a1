//! Parents (`docs/rest.md`, "Parents"), on SQLite and PostgreSQL: a nested resource under another
//! prepared resource's record path lives only under an existing parent; a parent with children
//! cannot be deleted unless the children cascade, and then each removal is logged and published in
//! the parent's transaction; a create racing its parent's delete never leaves an orphan.

mod rest_support;

use axum::Router;
use http::{Method, StatusCode};
use live_runtime::http::routes;
use live_runtime::{StoreError, Write};
use live_tests::{Backend, Message, Pin, Reaction, Room, fixture_store};
use rest_support::Api;
use serde_json::{Value as Json, json};

on_every_backend!(
    a_missing_parent_is_404,
    a_parent_with_children_is_409,
    cascading_children_are_deleted_and_logged_with_their_parent,
    a_refused_delete_removes_nothing_at_any_depth,
    creates_racing_their_parents_delete_leave_no_orphan,
);

async fn api(backend: Backend) -> Api {
    let store = fixture_store(backend).await;
    // Children first: the family is complete whatever the order.
    store.prepare::<Reaction>().await.expect("prepare reactions");
    store.prepare::<Message>().await.expect("prepare messages");
    store.prepare::<Room>().await.expect("prepare rooms");
    store.prepare::<Pin>().await.expect("prepare pins");
    let router = Router::new()
        .merge(routes::<Room>(store.store.clone()))
        .merge(routes::<Message>(store.store.clone()))
        .merge(routes::<Pin>(store.store.clone()))
        .merge(routes::<Reaction>(store.store.clone()));
    Api { router, store }
}

impl Api {
    async fn post(&self, uri: &str, body: Json) -> Json {
        let reply = self.json(Method::POST, uri, &body).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{uri}: {}", String::from_utf8_lossy(&reply.bytes));
        reply.json()
    }

    async fn room(&self, name: &str) -> i64 {
        self.post("/api/rooms", json!({"name": name})).await["id"].as_i64().expect("an id")
    }
}

async fn a_missing_parent_is_404(backend: Backend) {
    let api = api(backend).await;
    let room = api.room("lobby").await;
    let empty = api.get(&format!("/api/rooms/{room}/messages")).await;
    assert_eq!(empty.json(), json!([]), "an existing room without messages lists empty");
    let missing = room + 1000;
    api.get(&format!("/api/rooms/{missing}/messages")).await.error(StatusCode::NOT_FOUND, "not_found");
    let uri = format!("/api/rooms/{missing}/messages");
    api.json(Method::POST, &uri, &json!({"text": "hello?"})).await.error(StatusCode::NOT_FOUND, "not_found");
    api.json(Method::POST, &uri, &json!([{"text": "a"}, {"text": "b"}]))
        .await
        .error(StatusCode::NOT_FOUND, "not_found");
    api.json(Method::POST, &uri, &json!([])).await.error(StatusCode::NOT_FOUND, "not_found");
    let deep = format!("/api/rooms/{room}/messages/999/reactions");
    api.get(&deep).await.error(StatusCode::NOT_FOUND, "not_found");
    api.json(Method::POST, &deep, &json!({"emoji": "+1"})).await.error(StatusCode::NOT_FOUND, "not_found");
    // A message of room A does not make room B's message 1 exist.
    let message = api.post(&format!("/api/rooms/{room}/messages"), json!({"text": "hi"})).await;
    let other = api.room("other").await;
    let across = format!("/api/rooms/{other}/messages/{}/reactions", message["id"]);
    api.json(Method::POST, &across, &json!({"emoji": "+1"})).await.error(StatusCode::NOT_FOUND, "not_found");
    // The typed API refuses the same way.
    let typed = api.store.records::<Message>().create(Message::new(missing, "typed"), &Write::new()).await;
    assert!(matches!(typed, Err(StoreError::NotFound)), "{typed:?}");
    assert_eq!(api.rows::<Message>().await.len(), 1, "only the message of the existing room");
    assert!(api.rows::<Reaction>().await.is_empty());
}

async fn a_parent_with_children_is_409(backend: Backend) {
    let api = api(backend).await;
    let room = api.room("busy").await;
    let message = api.post(&format!("/api/rooms/{room}/messages"), json!({"text": "still here"})).await;
    let refused = api.call(Method::DELETE, &format!("/api/rooms/{room}")).await;
    let error = refused.error(StatusCode::CONFLICT, "conflict");
    let text = error["message"].as_str().unwrap_or_default();
    assert!(text.contains(&format!("/api/rooms/{room}")) && text.contains("Message"), "{error}");
    assert_eq!(api.rows::<Room>().await.len(), 1, "the room stays");
    let before = api.store.last_seq_any().await.expect("the log");
    let deleted = api.call(Method::DELETE, &format!("/api/rooms/{room}/messages/{}", message["id"])).await;
    assert_eq!(deleted.status, StatusCode::OK);
    assert_eq!(api.call(Method::DELETE, &format!("/api/rooms/{room}")).await.status, StatusCode::OK);
    let log = api.store.events_after_any(before, 10).await.expect("the log");
    assert_eq!(log.len(), 2, "the refused delete logged nothing");
}

async fn cascading_children_are_deleted_and_logged_with_their_parent(backend: Backend) {
    let api = api(backend).await;
    let room = api.room("pinned").await;
    let other = api.room("kept").await;
    for label in ["a", "b", "c"] {
        api.post(&format!("/api/rooms/{room}/pins"), json!({"label": label})).await;
    }
    api.post(&format!("/api/rooms/{other}/pins"), json!({"label": "other"})).await;
    let before = api.store.last_seq_any().await.expect("the log");
    let deleted = api.call(Method::DELETE, &format!("/api/rooms/{room}")).await;
    assert_eq!(deleted.status, StatusCode::OK, "{}", String::from_utf8_lossy(&deleted.bytes));
    let log = api.store.events_after_any(before, 10).await.expect("the log");
    let seen: Vec<(String, &str)> =
        log.iter().map(|change| (change.channel.to_string(), change.method.as_str())).collect();
    let pins = format!("/api/rooms/{room}/pins");
    assert_eq!(
        seen,
        [
            (pins.clone(), "DELETE"),
            (pins.clone(), "DELETE"),
            (pins.clone(), "DELETE"),
            ("/api/rooms".to_owned(), "DELETE")
        ],
        "each pin's removal, then the room's"
    );
    let seqs: Vec<i64> = log.iter().map(|change| change.seq).collect();
    assert!(seqs.windows(2).all(|pair| pair[1] == pair[0] + 1), "one transaction, consecutive seqs: {seqs:?}");
    let labels: Vec<Json> = log[..3].iter().map(|change| change.body_value().expect("json")["label"].clone()).collect();
    assert_eq!(labels, [json!("a"), json!("b"), json!("c")], "each DELETE carries the row as it was");
    let left = api.rows::<Pin>().await;
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].0.room_id, other, "another room's pins stay");

    // Two levels: a message's reactions cascade with it.
    let message = api.post(&format!("/api/rooms/{other}/messages"), json!({"text": "react"})).await;
    let reactions = format!("/api/rooms/{other}/messages/{}/reactions", message["id"]);
    api.post(&reactions, json!({"emoji": "+1"})).await;
    api.post(&reactions, json!({"emoji": "heart"})).await;
    let before = api.store.last_seq_any().await.expect("the log");
    let gone = api.call(Method::DELETE, &format!("/api/rooms/{other}/messages/{}", message["id"])).await;
    assert_eq!(gone.status, StatusCode::OK);
    let log = api.store.events_after_any(before, 10).await.expect("the log");
    let channels: Vec<&str> = log.iter().map(|change| &*change.channel).collect();
    let messages = format!("/api/rooms/{other}/messages");
    assert_eq!(channels, [reactions.as_str(), reactions.as_str(), messages.as_str()]);
    assert!(api.rows::<Reaction>().await.is_empty());
}

async fn a_refused_delete_removes_nothing_at_any_depth(backend: Backend) {
    let api = api(backend).await;
    let room = api.room("deep").await;
    api.post(&format!("/api/rooms/{room}/pins"), json!({"label": "p"})).await;
    let message = api.post(&format!("/api/rooms/{room}/messages"), json!({"text": "m"})).await;
    api.post(&format!("/api/rooms/{room}/messages/{}/reactions", message["id"]), json!({"emoji": "+1"})).await;
    let before = api.store.last_seq_any().await.expect("the log");
    // Pins would cascade, but messages do not: the whole delete is refused.
    api.call(Method::DELETE, &format!("/api/rooms/{room}")).await.error(StatusCode::CONFLICT, "conflict");
    assert_eq!(api.rows::<Pin>().await.len(), 1);
    assert_eq!(api.rows::<Reaction>().await.len(), 1);
    assert_eq!(api.rows::<Room>().await.len(), 1);
    assert_eq!(api.store.last_seq_any().await.expect("the log"), before, "nothing logged");
}

async fn creates_racing_their_parents_delete_leave_no_orphan(backend: Backend) {
    const ROUNDS: usize = 8;
    const WRITERS: usize = 4;
    let api = api(backend).await;
    let rooms = api.store.records::<Room>();
    for round in 0..ROUNDS {
        let room = rooms.create(Room { id: 0, name: format!("r{round}") }, &Write::new()).await.expect("a room");
        let room = room.value.id;
        let mut writers = Vec::new();
        for writer in 0..WRITERS {
            let messages = api.store.records::<Message>();
            let pins = api.store.records::<Pin>();
            writers.push(tokio::spawn(async move {
                let mut created = 0usize;
                for n in 0..100 {
                    // Messages block the delete; pins cascade with it. Both race it.
                    let result = if n % 2 == 0 {
                        messages.create(Message::new(room, &format!("w{writer} n{n}")), &Write::new()).await.map(|_| ())
                    } else {
                        pins.create(Pin { id: 0, room_id: room, label: format!("w{writer}") }, &Write::new())
                            .await
                            .map(|_| ())
                    };
                    match result {
                        Ok(()) => created += 1,
                        Err(StoreError::NotFound) => return created,
                        Err(other) => panic!("a create failed: {other}"),
                    }
                }
                created
            }));
        }
        // Delete the room as soon as it can be: first clear its messages, then try again.
        let deleter = {
            let rooms = rooms.clone();
            let messages = api.store.records::<Message>();
            tokio::spawn(async move {
                for _ in 0..10_000 {
                    match rooms.delete(room, &Write::new()).await {
                        Ok(_) => return,
                        Err(StoreError::Conflict(_)) => {
                            let scoped = messages.partition(vec![room.into()]).expect("a partition");
                            for message in scoped.list(&Default::default()).await.expect("list") {
                                let _ = scoped.delete(message.value.id, &Write::new()).await;
                            }
                        }
                        Err(other) => panic!("the delete failed: {other}"),
                    }
                }
                panic!("the room was never deleted");
            })
        };
        deleter.await.expect("the deleter");
        for writer in writers {
            writer.await.expect("a writer");
        }
        let orphans = api.rows::<Message>().await.into_iter().filter(|(m, _)| m.room_id == room).count()
            + api.rows::<Pin>().await.into_iter().filter(|(p, _)| p.room_id == room).count();
        assert_eq!(orphans, 0, "round {round}: rows outlived their room");
        // Every pin created was published, and so was its removal.
        let pins = api.store.events_after(&format!("/api/rooms/{room}/pins"), 0, 100_000).await.expect("the log");
        let posts = pins.iter().filter(|change| change.method.as_str() == "POST").count();
        let deletes = pins.iter().filter(|change| change.method.as_str() == "DELETE").count();
        assert_eq!(posts, deletes, "round {round}: each pin's removal is logged");
    }
}
