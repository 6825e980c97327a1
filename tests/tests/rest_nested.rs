//! Nested resources over REST (`docs/rest.md`, "Nested resources"), on SQLite and PostgreSQL: each
//! partition of `/api/rooms/{room_id}/messages` is its own collection, keys come from the path, a
//! row of another partition does not exist there, keys never change, and a malformed key is a 400
//! that writes nothing.

mod rest_support;

use axum::Router;
use axum::body::Body;
use http::{Method, Request, StatusCode};
use live_runtime::http::routes;
use live_runtime::store::ListQuery;
use live_tests::{Backend, Message, Task, fixture_store};
use rest_support::{Api, json_request};
use serde_json::{Value as Json, json};
use uuid::Uuid;

on_every_backend!(
    a_partition_lists_only_its_rows,
    lists_filter_order_page_and_select_within_a_partition,
    create_takes_the_keys_from_the_path,
    bulk_create_takes_the_keys_from_the_path,
    another_partitions_row_is_not_found,
    keys_cannot_change,
    malformed_keys_are_400_and_write_nothing,
    conditions_overrides_and_forms_work_under_nested_paths,
    each_partition_is_its_own_channel,
    string_and_uuid_keys_two_levels_down,
    the_partition_index_is_created_with_the_table,
);

async fn api(backend: Backend) -> Api {
    let store = fixture_store(backend).await;
    store.prepare::<Message>().await.expect("prepare messages");
    store.prepare::<Task>().await.expect("prepare tasks");
    let router = Router::new().merge(routes::<Message>(store.store.clone())).merge(routes::<Task>(store.store.clone()));
    Api { router, store }
}

impl Api {
    async fn say(&self, room: i64, text: &str) -> Json {
        let reply = self.json(Method::POST, &format!("/api/rooms/{room}/messages"), &json!({"text": text})).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", String::from_utf8_lossy(&reply.bytes));
        reply.json()
    }

    async fn texts(&self, uri: &str) -> Vec<String> {
        let reply = self.get(uri).await;
        assert_eq!(reply.status, StatusCode::OK, "{uri}: {}", String::from_utf8_lossy(&reply.bytes));
        reply.json().as_array().expect("array").iter().map(|m| m["text"].as_str().expect("text").to_owned()).collect()
    }

    async fn messages(&self) -> Vec<(Message, i64)> {
        self.rows::<Message>().await
    }
}

async fn a_partition_lists_only_its_rows(backend: Backend) {
    let api = api(backend).await;
    api.say(1, "a1").await;
    api.say(2, "b1").await;
    api.say(1, "a2").await;
    assert_eq!(api.texts("/api/rooms/1/messages").await, ["a1", "a2"]);
    assert_eq!(api.texts("/api/rooms/2/messages").await, ["b1"]);
    let empty = api.get("/api/rooms/3/messages").await;
    assert_eq!(empty.json(), json!([]));
    assert_eq!(empty.header("content-range"), "*/0");
    let counted = api
        .send(
            Request::builder()
                .uri("/api/rooms/1/messages")
                .header("prefer", "count=exact")
                .body(Body::empty())
                .expect("a valid request"),
        )
        .await;
    assert_eq!(counted.header("content-range"), "0-1/2", "the count is the partition's");
}

async fn lists_filter_order_page_and_select_within_a_partition(backend: Backend) {
    let api = api(backend).await;
    for text in ["milk", "bread", "oat milk", "eggs"] {
        api.say(5, text).await;
        api.say(6, text).await;
    }
    assert_eq!(api.texts("/api/rooms/5/messages?text=like.*milk*").await, ["milk", "oat milk"]);
    assert_eq!(api.texts("/api/rooms/5/messages?order=text.desc&limit=2").await, ["oat milk", "milk"]);
    let page = api.get("/api/rooms/5/messages?order=text&limit=2&offset=1").await;
    assert_eq!(page.header("content-range"), "1-2/*");
    let link = page.header("link");
    assert!(link.contains("</api/rooms/5/messages?order=text&limit=2&offset=3>; rel=\"next\""), "{link}");
    let selected = api.get("/api/rooms/6/messages?select=text,room_id&order=id&limit=1").await;
    assert_eq!(selected.json(), json!([{"text": "milk", "room_id": 6}]));
    // A filter on the key itself cannot reach into another partition.
    assert_eq!(api.texts("/api/rooms/5/messages?room_id=eq.6").await, Vec::<String>::new());
}

async fn create_takes_the_keys_from_the_path(backend: Backend) {
    let api = api(backend).await;
    let created = api.json(Method::POST, "/api/rooms/7/messages", &json!({"text": "hi"})).await;
    assert_eq!(created.status, StatusCode::CREATED);
    let message = created.json();
    assert_eq!(message["room_id"], 7);
    assert_eq!(created.header("location"), format!("/api/rooms/7/messages/{}", message["id"]));
    let same = api.json(Method::POST, "/api/rooms/7/messages", &json!({"text": "again", "room_id": 7})).await;
    assert_eq!(same.status, StatusCode::CREATED, "a body that repeats the key is fine");

    let before = api.messages().await;
    let other = api.json(Method::POST, "/api/rooms/7/messages", &json!({"text": "sneaky", "room_id": 8})).await;
    let error = other.error(StatusCode::UNPROCESSABLE_ENTITY, "validation");
    assert_eq!(error["fields"]["room_id"], "does not match the path");
    let mistyped = api.json(Method::POST, "/api/rooms/7/messages", &json!({"text": "x", "room_id": "eight"})).await;
    mistyped.error(StatusCode::UNPROCESSABLE_ENTITY, "validation");
    assert_eq!(api.messages().await, before, "nothing was written");
}

async fn bulk_create_takes_the_keys_from_the_path(backend: Backend) {
    let api = api(backend).await;
    let created = api.json(Method::POST, "/api/rooms/3/messages", &json!([{"text": "a"}, {"text": "b"}])).await;
    assert_eq!(created.status, StatusCode::CREATED);
    let rooms: Vec<Json> = created.json().as_array().expect("array").iter().map(|m| m["room_id"].clone()).collect();
    assert_eq!(rooms, [json!(3), json!(3)]);

    let before = api.messages().await;
    let refused =
        api.json(Method::POST, "/api/rooms/3/messages", &json!([{"text": "c"}, {"text": "d", "room_id": 4}])).await;
    let error = refused.error(StatusCode::UNPROCESSABLE_ENTITY, "validation");
    assert_eq!(error["fields"]["1.room_id"], "does not match the path");
    assert_eq!(api.messages().await, before, "all or nothing");
}

async fn another_partitions_row_is_not_found(backend: Backend) {
    let api = api(backend).await;
    let message = api.say(1, "mine").await;
    let id = &message["id"];
    let foreign = format!("/api/rooms/2/messages/{id}");
    let before = api.messages().await;
    api.get(&foreign).await.error(StatusCode::NOT_FOUND, "not_found");
    assert_eq!(api.call(Method::HEAD, &foreign).await.status, StatusCode::NOT_FOUND);
    api.json(Method::PUT, &foreign, &json!({"text": "taken"})).await.error(StatusCode::NOT_FOUND, "not_found");
    api.json(Method::PATCH, &foreign, &json!({"pinned": true})).await.error(StatusCode::NOT_FOUND, "not_found");
    api.call(Method::DELETE, &foreign).await.error(StatusCode::NOT_FOUND, "not_found");
    let conditional = json_request(Method::DELETE, &foreign, &Json::Null);
    let mut conditional = conditional;
    conditional.headers_mut().insert("if-match", "\"1\"".parse().expect("a header value"));
    api.send(conditional).await.error(StatusCode::NOT_FOUND, "not_found");
    assert_eq!(api.messages().await, before, "nothing changed");
    let own = api.get(&format!("/api/rooms/1/messages/{id}")).await;
    assert_eq!(own.json(), message);
}

async fn keys_cannot_change(backend: Backend) {
    let api = api(backend).await;
    let message = api.say(1, "stay").await;
    let uri = format!("/api/rooms/1/messages/{}", message["id"]);
    let before = api.messages().await;
    let patched = api.json(Method::PATCH, &uri, &json!({"room_id": 2})).await;
    let error = patched.error(StatusCode::UNPROCESSABLE_ENTITY, "validation");
    assert!(error["fields"]["room_id"].as_str().is_some_and(|m| m.contains("cannot be changed")), "{error}");
    let put = api.json(Method::PUT, &uri, &json!({"text": "moved", "room_id": 2})).await;
    put.error(StatusCode::UNPROCESSABLE_ENTITY, "validation");
    assert_eq!(api.messages().await, before);
    // A PUT need not repeat the key, and may repeat it unchanged.
    let replaced = api.json(Method::PUT, &uri, &json!({"text": "replaced"})).await;
    assert_eq!(replaced.status, StatusCode::OK, "{}", String::from_utf8_lossy(&replaced.bytes));
    assert_eq!(replaced.json()["room_id"], 1);
    let again = api.json(Method::PUT, &uri, &json!({"text": "again", "room_id": 1})).await;
    assert_eq!(again.status, StatusCode::OK);
}

async fn malformed_keys_are_400_and_write_nothing(backend: Backend) {
    let api = api(backend).await;
    api.say(1, "one").await;
    let before = api.messages().await;
    let project = Uuid::new_v4();
    for (method, uri) in [
        (Method::GET, "/api/rooms/abc/messages".to_owned()),
        (Method::POST, "/api/rooms/abc/messages".to_owned()),
        (Method::POST, "/api/rooms/99999999999999999999/messages".to_owned()),
        (Method::GET, "/api/rooms/1.5/messages/1".to_owned()),
        (Method::PATCH, "/api/rooms/x/messages/1".to_owned()),
        (Method::DELETE, "/api/rooms/%20/messages/1".to_owned()),
        (Method::POST, format!("/api/orgs/a.b/projects/{project}/tasks")),
        (Method::POST, "/api/orgs/acme/projects/not-a-uuid/tasks".to_owned()),
        (Method::GET, "/api/orgs/%C3%A9/projects/{project}/tasks".to_owned()),
        (Method::POST, format!("/api/orgs/a'b/projects/{project}/tasks")),
        (Method::POST, format!("/api/orgs/a%00b/projects/{project}/tasks")),
        (Method::POST, format!("/api/orgs/x%3BDROP%20TABLE%20tasks/projects/{project}/tasks")),
        (Method::POST, format!("/api/orgs/a%2Fb/projects/{project}/tasks")),
    ] {
        let reply = api.json(method.clone(), &uri, &json!({"text": "x", "title": "x"})).await;
        let error = reply.error(StatusCode::BAD_REQUEST, "invalid_key");
        assert!(error["message"].as_str().is_some_and(|m| m.contains('`')), "{method} {uri}: {error}");
    }
    assert_eq!(api.messages().await, before);
    assert!(api.rows::<Task>().await.is_empty());
    // A malformed id under a valid key is still the id's 400.
    api.get("/api/rooms/1/messages/x").await.error(StatusCode::BAD_REQUEST, "invalid_id");
}

async fn conditions_overrides_and_forms_work_under_nested_paths(backend: Backend) {
    let api = api(backend).await;
    let message = api.say(4, "v1").await;
    let uri = format!("/api/rooms/4/messages/{}", message["id"]);
    let mut stale = json_request(Method::PATCH, &uri, &json!({"text": "v2"}));
    stale.headers_mut().insert("if-match", "\"9\"".parse().expect("a header value"));
    api.send(stale).await.error(StatusCode::PRECONDITION_FAILED, "precondition_failed");
    let mut fresh = json_request(Method::PATCH, &uri, &json!({"text": "v2"}));
    fresh.headers_mut().insert("if-match", "\"1\"".parse().expect("a header value"));
    let fresh = api.send(fresh).await;
    assert_eq!(fresh.status, StatusCode::OK);
    assert_eq!(fresh.header("etag"), "\"2\"");

    let mut overridden = json_request(Method::POST, &uri, &json!({"pinned": true}));
    overridden.headers_mut().insert("x-http-method-override", "PATCH".parse().expect("a valid request"));
    let overridden = api.send(overridden).await;
    assert_eq!(overridden.json()["pinned"], true, "{}", String::from_utf8_lossy(&overridden.bytes));

    let model = json!({"text": "from a form"}).to_string();
    let encoded: String = model.bytes().map(|b| format!("%{b:02X}")).collect();
    let form = Request::builder()
        .method(Method::POST)
        .uri("/api/rooms/4/messages")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(format!("model={encoded}")))
        .expect("a valid request");
    let created = api.send(form).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", String::from_utf8_lossy(&created.bytes));
    assert_eq!(created.json()["room_id"], 4);

    let deleted = api.call(Method::DELETE, &uri).await;
    assert_eq!(deleted.status, StatusCode::OK);
    assert_eq!(api.texts("/api/rooms/4/messages").await, ["from a form"]);
}

async fn each_partition_is_its_own_channel(backend: Backend) {
    let api = api(backend).await;
    let one = api.say(1, "a").await;
    api.say(2, "b").await;
    api.json(Method::PATCH, &format!("/api/rooms/1/messages/{}", one["id"]), &json!({"pinned": true})).await;
    api.call(Method::DELETE, &format!("/api/rooms/1/messages/{}", one["id"])).await;
    let store = &api.store.store;
    let room_one = store.events_after("/api/rooms/1/messages", 0, 10).await.expect("read the log");
    let methods: Vec<&str> = room_one.iter().map(|change| change.method.as_str()).collect();
    assert_eq!(methods, ["POST", "PATCH", "DELETE"]);
    let room_two = store.events_after("/api/rooms/2/messages", 0, 10).await.expect("read the log");
    assert_eq!(room_two.len(), 1);
    assert_eq!(room_two[0].body_value().expect("json")["text"], "b");
    assert!(store.events_after("/api/rooms/{room_id}/messages", 0, 10).await.expect("read").is_empty());
    // The typed API publishes on the row's partition too, and keeps keys fixed.
    let records = store.records::<Message>();
    let created = records.create(Message::new(9, "typed"), &Default::default()).await.expect("create");
    assert_eq!(created.change.channel, "/api/rooms/9/messages");
    let moved = records.update(created.value.id, &Default::default(), |message| message.room_id = 10).await;
    assert!(matches!(moved, Err(live_runtime::StoreError::Invalid(_))), "{moved:?}");
    let scoped = records.partition(vec![9.into()]).expect("a partition");
    let listed = scoped.list(&ListQuery::default()).await.expect("list");
    assert_eq!(listed.len(), 1);
    let wrong = records.partition(vec![8.into()]).expect("a partition");
    let refused = wrong.create(Message::new(9, "x"), &Default::default()).await;
    assert!(matches!(refused, Err(live_runtime::StoreError::Invalid(_))), "{refused:?}");
    assert!(matches!(wrong.get(created.value.id).await, Err(live_runtime::StoreError::NotFound)));
}

async fn string_and_uuid_keys_two_levels_down(backend: Backend) {
    let api = api(backend).await;
    let project = Uuid::new_v4();
    let uri = format!("/api/orgs/acme/projects/{project}/tasks");
    let created = api.json(Method::POST, &uri, &json!({"title": "ship"})).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", String::from_utf8_lossy(&created.bytes));
    let task = created.json();
    assert_eq!(task["org"], "acme");
    assert_eq!(task["projectId"], project.to_string());
    // An upper-case spelling of the UUID names the same partition over REST.
    let upper = format!("/api/orgs/acme/projects/{}/tasks", project.to_string().to_uppercase());
    assert_eq!(api.get(&upper).await.json(), json!([task]));
    assert_eq!(api.get(&format!("/api/orgs/other/projects/{project}/tasks")).await.json(), json!([]));
    let changes = api.store.store.events_after(&uri, 0, 10).await.expect("read the log");
    assert_eq!(changes.len(), 1, "the channel is the canonical path");
    let text_key = api.json(Method::POST, &uri, &json!({"title": "x", "org": "a b"})).await;
    text_key.error(StatusCode::UNPROCESSABLE_ENTITY, "validation");
}

async fn the_partition_index_is_created_with_the_table(backend: Backend) {
    use sqlx::Connection;
    let api = api(backend).await;
    let url = api.store.db.url();
    let columns: Vec<String> = match backend {
        Backend::Sqlite => {
            let mut conn = sqlx::SqliteConnection::connect(url).await.expect("open the database");
            sqlx::query_scalar("SELECT name FROM pragma_index_info('messages_partition') ORDER BY seqno")
                .fetch_all(&mut conn)
                .await
                .expect("read the index")
        }
        Backend::Postgres => {
            let mut conn = sqlx::PgConnection::connect(url).await.expect("open the database");
            let definition: String = sqlx::query_scalar(
                "SELECT indexdef FROM pg_indexes WHERE schemaname = current_schema() AND indexname = 'messages_partition'",
            )
            .fetch_one(&mut conn)
            .await
            .expect("read the index");
            let inside = definition.rsplit_once('(').map(|(_, rest)| rest.trim_end_matches(')')).unwrap_or_default();
            inside.split(", ").map(str::to_owned).collect()
        }
    };
    assert_eq!(columns, ["room_id", "id"]);
}
