//! The REST contract (`docs/rest.md`), on SQLite and PostgreSQL: every route and
//! header, Backbone's legacy modes, versions and paging.

mod rest_support;

use axum::Router;
use axum::body::Body;
use http::{Method, Request, StatusCode};
use live_runtime::http::{RestOptions, routes};
use live_tests::{Backend, Note, fixture_store};
use rest_support::{Api, api, json_request, notes_with, raw_request};
use serde_json::{Value as Json, json};

on_every_backend!(
    list_is_a_bare_array_with_paging_headers,
    list_filters_by_every_operator,
    list_orders_and_selects,
    list_pages_with_limit_offset_and_links,
    get_answers_the_object_with_its_etag,
    get_if_none_match_is_not_modified,
    create_answers_201_with_location_and_defaults,
    create_ignores_id_version_and_read_only_fields,
    create_many_is_one_transaction,
    put_replaces_writable_fields,
    patch_merges_the_given_fields,
    delete_answers_the_deleted_object,
    if_match_guards_writes,
    body_version_must_be_current,
    head_and_options_follow_http,
    unserved_methods_are_405_with_allow,
    disabled_verbs_are_405,
    method_override_header_and_query,
    form_bodies_carry_the_model,
    request_id_becomes_the_event_origin,
    each_write_logs_its_method,
    uuid_ids_round_trip,
    every_column_type_round_trips,
    nested_routers_link_to_their_own_path,
    validation_rules_answer_422,
    derived_resources_are_served,
    an_unreachable_database_is_503,
);

async fn list_is_a_bare_array_with_paging_headers(backend: Backend) {
    let api = api(backend).await;
    let empty = api.get("/api/notes").await;
    assert_eq!(empty.status, StatusCode::OK);
    assert_eq!(empty.json(), json!([]));
    assert_eq!(empty.header("content-range"), "*/0");
    assert_eq!(empty.header("content-type"), "application/json");

    for title in ["a", "b", "c"] {
        api.note(title, 1).await;
    }
    let list = api.get("/api/notes").await;
    assert_eq!(list.status, StatusCode::OK);
    let titles: Vec<_> = list.json().as_array().expect("array").iter().map(|n| n["title"].clone()).collect();
    assert_eq!(titles, [json!("a"), json!("b"), json!("c")]);
    assert_eq!(list.header("content-range"), "0-2/*");
    assert!(list.headers.get("link").is_none(), "no next page after a short page");

    let counted = api
        .send(
            Request::builder()
                .uri("/api/notes?limit=2")
                .header("prefer", "count=exact")
                .body(Body::empty())
                .expect("request"),
        )
        .await;
    assert_eq!(counted.header("content-range"), "0-1/3");
    assert_eq!(counted.header("preference-applied"), "count=exact");
}

/// Titles of a list answer, in order.
async fn titles(api: &Api, uri: &str) -> Vec<String> {
    let reply = api.get(uri).await;
    assert_eq!(reply.status, StatusCode::OK, "{uri}: {}", String::from_utf8_lossy(&reply.bytes));
    reply.json().as_array().expect("array").iter().map(|n| n["title"].as_str().expect("title").to_owned()).collect()
}

async fn list_filters_by_every_operator(backend: Backend) {
    let api = api(backend).await;
    for (title, rank) in [("apple", 1), ("Avocado", 2), ("b,c", 3), ("cherry", 4)] {
        api.note(title, rank).await;
    }
    let done = api.json(Method::PATCH, "/api/notes/4", &json!({"done": true, "owner": "ann"})).await;
    assert_eq!(done.status, StatusCode::OK);

    for (query, expected) in [
        ("rank=eq.2", &["Avocado"][..]),
        ("rank=neq.2", &["apple", "b,c", "cherry"]),
        ("rank=gt.3", &["cherry"]),
        ("rank=gte.3", &["b,c", "cherry"]),
        ("rank=lt.2", &["apple"]),
        ("rank=lte.2", &["apple", "Avocado"]),
        ("rank=not.lte.2", &["b,c", "cherry"]),
        ("title=like.a*", &["apple"]),
        ("title=ilike.a*", &["apple", "Avocado"]),
        ("title=in.(apple,%22b,c%22)", &["apple", "b,c"]),
        ("rank=not.in.(1,2)", &["b,c", "cherry"]),
        ("done=is.true", &["cherry"]),
        ("done=is.false&rank=gt.1", &["Avocado", "b,c"]),
        ("owner=is.null", &["apple", "Avocado", "b,c"]),
        ("owner=not.is.null", &["cherry"]),
        ("rank=gt.1&rank=lt.4", &["Avocado", "b,c"]),
        ("title=eq.b%2Cc&_=1712345", &["b,c"]),
    ] {
        assert_eq!(titles(&api, &format!("/api/notes?{query}&order=id")).await, expected, "{query}");
    }
}

async fn list_orders_and_selects(backend: Backend) {
    let api = api(backend).await;
    for (title, rank) in [("b", 2), ("a", 2), ("c", 1)] {
        api.note(title, rank).await;
    }
    assert_eq!(titles(&api, "/api/notes?order=rank.desc,title").await, ["a", "b", "c"]);
    assert_eq!(titles(&api, "/api/notes?order=rank.asc,title.desc").await, ["c", "b", "a"]);
    assert_eq!(titles(&api, "/api/notes?order=title.desc").await, ["c", "b", "a"]);

    let selected = api.get("/api/notes?select=title,rank&order=title").await;
    assert_eq!(selected.status, StatusCode::OK);
    assert_eq!(
        selected.json(),
        json!([{"title": "a", "rank": 2}, {"title": "b", "rank": 2}, {"title": "c", "rank": 1}])
    );
    // Keys come in the order asked for.
    assert!(String::from_utf8_lossy(&selected.bytes).starts_with(r#"[{"title":"a","rank":2}"#));
}

async fn list_pages_with_limit_offset_and_links(backend: Backend) {
    let api = api(backend).await;
    for title in ["a", "b", "c", "d", "e"] {
        api.note(title, 0).await;
    }
    let first = api.get("/api/notes?order=title&limit=2").await;
    assert_eq!(first.json().as_array().expect("array").len(), 2);
    assert_eq!(first.header("content-range"), "0-1/*");
    assert_eq!(first.header("link"), r#"</api/notes?order=title&limit=2&offset=2>; rel="next""#);

    let middle = api.get("/api/notes?order=title&limit=2&offset=2").await;
    assert_eq!(titles(&api, "/api/notes?order=title&limit=2&offset=2").await, ["c", "d"]);
    assert_eq!(middle.header("content-range"), "2-3/*");
    assert_eq!(
        middle.header("link"),
        r#"</api/notes?order=title&limit=2&offset=4>; rel="next", </api/notes?order=title&limit=2&offset=0>; rel="prev""#
    );

    let last = api.get("/api/notes?order=title&limit=2&offset=4").await;
    assert_eq!(titles(&api, "/api/notes?order=title&limit=2&offset=4").await, ["e"]);
    assert_eq!(last.header("content-range"), "4-4/*");
    assert_eq!(last.header("link"), r#"</api/notes?order=title&limit=2&offset=2>; rel="prev""#);

    let past = api.get("/api/notes?limit=2&offset=10").await;
    assert_eq!(past.json(), json!([]));
    assert_eq!(past.header("content-range"), "*/*");

    let zero = api.get("/api/notes?limit=0").await;
    assert_eq!(zero.json(), json!([]));
}

async fn get_answers_the_object_with_its_etag(backend: Backend) {
    let api = api(backend).await;
    let created = api.note("read me", 3).await;
    let id = created["id"].as_i64().expect("id");
    let reply = api.get(&format!("/api/notes/{id}")).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json(), created);
    assert_eq!(reply.header("etag"), "\"1\"");
    assert_eq!(reply.header("content-type"), "application/json");

    let missing = api.get(&format!("/api/notes/{}", id + 100)).await;
    missing.error(StatusCode::NOT_FOUND, "not_found");
}

async fn get_if_none_match_is_not_modified(backend: Backend) {
    let api = api(backend).await;
    api.note("cached", 0).await;
    let request = |tag: &str| Request::builder().uri("/api/notes/1").header("if-none-match", tag).body(Body::empty());
    let same = api.send(request("\"1\"").expect("request")).await;
    assert_eq!(same.status, StatusCode::NOT_MODIFIED);
    assert!(same.bytes.is_empty());
    assert_eq!(same.header("etag"), "\"1\"");
    let other = api.send(request("\"7\"").expect("request")).await;
    assert_eq!(other.status, StatusCode::OK);
}

async fn create_answers_201_with_location_and_defaults(backend: Backend) {
    let api = api(backend).await;
    let reply = api.json(Method::POST, "/api/notes", &json!({"title": "new"})).await;
    assert_eq!(reply.status, StatusCode::CREATED);
    let body = reply.json();
    let id = body["id"].as_i64().expect("an assigned id");
    assert!(id > 0);
    assert_eq!(body, json!({"id": id, "title": "new", "done": false, "rank": 0, "owner": null, "created_by": ""}));
    assert_eq!(reply.header("location"), format!("/api/notes/{id}"));
    assert_eq!(reply.header("etag"), "\"1\"");

    let fetched = api.get(reply.header("location")).await;
    assert_eq!(fetched.json(), body);

    // JSON with a charset or a `+json` suffix is JSON.
    let charset = api
        .send(raw_request(Method::POST, "/api/notes", "application/json; charset=utf-8", r#"{"title":"utf8 ✓"}"#))
        .await;
    assert_eq!(charset.status, StatusCode::CREATED);
    assert_eq!(charset.json()["title"], "utf8 ✓");
    let suffix =
        api.send(raw_request(Method::POST, "/api/notes", "application/vnd.notes+json", r#"{"title":"x"}"#)).await;
    assert_eq!(suffix.status, StatusCode::CREATED);
}

async fn create_ignores_id_version_and_read_only_fields(backend: Backend) {
    let api = api(backend).await;
    let body = json!({"id": 999, "title": "t", "created_by": "mallory"});
    let reply = api.json(Method::POST, "/api/notes", &body).await;
    assert_eq!(reply.status, StatusCode::CREATED);
    let created = reply.json();
    assert_ne!(created["id"], 999);
    assert_eq!(created["created_by"], "");

    let doc = api.json(Method::POST, "/api/docs", &json!({"title": "d", "version": 42, "id": null})).await;
    assert_eq!(doc.status, StatusCode::CREATED);
    assert_eq!(doc.json()["version"], 1);
}

async fn create_many_is_one_transaction(backend: Backend) {
    let api = api(backend).await;
    let reply = api.json(Method::POST, "/api/notes", &json!([{"title": "one"}, {"title": "two", "rank": 2}])).await;
    assert_eq!(reply.status, StatusCode::CREATED);
    assert!(reply.headers.get("location").is_none());
    assert!(reply.headers.get("etag").is_none());
    let created = reply.json();
    let created = created.as_array().expect("array");
    assert_eq!(created.len(), 2);
    assert_eq!(created[1]["rank"], 2);
    assert_eq!(titles(&api, "/api/notes?order=id").await, ["one", "two"]);

    // A bad item refuses the whole array, naming the item.
    let refused = api.json(Method::POST, "/api/notes", &json!([{"title": "three"}, {"title": 4}])).await;
    let error = refused.error(StatusCode::UNPROCESSABLE_ENTITY, "validation");
    assert!(error["fields"]["1.title"].is_string(), "{error}");
    // A rule broken by one item rolls the others back.
    let rolled_back = api.json(Method::POST, "/api/notes", &json!([{"title": "three"}, {"title": " "}])).await;
    rolled_back.error(StatusCode::UNPROCESSABLE_ENTITY, "validation");
    assert_eq!(titles(&api, "/api/notes?order=id").await, ["one", "two"]);

    let empty = api.json(Method::POST, "/api/notes", &json!([])).await;
    assert_eq!(empty.status, StatusCode::CREATED);
    assert_eq!(empty.json(), json!([]));
}

async fn put_replaces_writable_fields(backend: Backend) {
    let api = api(backend).await;
    let note = api.note("before", 5).await;
    let id = note["id"].as_i64().expect("id");
    // Server-side code sets the read-only field; a PUT must keep it.
    api.store
        .records::<Note>()
        .modify(id, live_runtime::Method::Put, &Default::default(), |mut current| {
            current.value.created_by = "server".into();
            Ok(current.value)
        })
        .await
        .expect("server-side write");

    // Backbone sends the whole model back, read-only fields included.
    let body = json!({"id": id, "title": "after", "done": true, "created_by": "client"});
    let reply = api.json(Method::PUT, &format!("/api/notes/{id}"), &body).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", String::from_utf8_lossy(&reply.bytes));
    assert_eq!(
        reply.json(),
        json!({"id": id, "title": "after", "done": true, "rank": 0, "owner": null, "created_by": "server"})
    );
    assert_eq!(reply.header("etag"), "\"3\"");
    assert_eq!(api.get(&format!("/api/notes/{id}")).await.json(), reply.json());

    let missing = api.json(Method::PUT, "/api/notes/12345", &json!({"title": "x"})).await;
    missing.error(StatusCode::NOT_FOUND, "not_found");
}

async fn patch_merges_the_given_fields(backend: Backend) {
    let api = api(backend).await;
    let note = api.note("keep", 7).await;
    let id = note["id"].as_i64().expect("id");
    let reply = api.json(Method::PATCH, &format!("/api/notes/{id}"), &json!({"done": true, "owner": "bo"})).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(
        reply.json(),
        json!({"id": id, "title": "keep", "done": true, "rank": 7, "owner": "bo", "created_by": ""})
    );
    assert_eq!(reply.header("etag"), "\"2\"");
    let cleared = api.json(Method::PATCH, &format!("/api/notes/{id}"), &json!({"owner": null})).await;
    assert_eq!(cleared.json()["owner"], Json::Null);
    assert_eq!(cleared.json()["done"], true);
}

async fn delete_answers_the_deleted_object(backend: Backend) {
    let api = api(backend).await;
    let note = api.note("bye", 1).await;
    let uri = format!("/api/notes/{}", note["id"]);
    let reply = api.call(Method::DELETE, &uri).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json(), note);
    assert_eq!(reply.header("etag"), "\"1\"");
    api.get(&uri).await.error(StatusCode::NOT_FOUND, "not_found");
    api.call(Method::DELETE, &uri).await.error(StatusCode::NOT_FOUND, "not_found");
}

fn with_header(method: Method, uri: &str, name: &str, value: &str, body: Option<&Json>) -> Request<Body> {
    let builder = Request::builder().method(method).uri(uri).header(name, value);
    match body {
        Some(body) => builder.header("content-type", "application/json").body(Body::from(body.to_string())),
        None => builder.body(Body::empty()),
    }
    .expect("request")
}

async fn if_match_guards_writes(backend: Backend) {
    let api = api(backend).await;
    let note = api.note("v1", 0).await;
    let uri = format!("/api/notes/{}", note["id"]);
    let body = json!({"title": "v2"});

    let ok = api.send(with_header(Method::PUT, &uri, "if-match", "\"1\"", Some(&body))).await;
    assert_eq!(ok.status, StatusCode::OK);
    assert_eq!(ok.header("etag"), "\"2\"");

    let stale = api.send(with_header(Method::PATCH, &uri, "if-match", "\"1\"", Some(&json!({"title": "lost"})))).await;
    stale.error(StatusCode::PRECONDITION_FAILED, "precondition_failed");
    assert_eq!(api.get(&uri).await.json()["title"], "v2");

    let listed =
        api.send(with_header(Method::PATCH, &uri, "if-match", "\"9\", W/\"2\"", Some(&json!({"rank": 1})))).await;
    assert_eq!(listed.status, StatusCode::OK);
    let any = api.send(with_header(Method::PATCH, &uri, "if-match", "*", Some(&json!({"rank": 2})))).await;
    assert_eq!(any.status, StatusCode::OK);
    assert_eq!(any.header("etag"), "\"4\"");

    let stale_delete = api.send(with_header(Method::DELETE, &uri, "if-match", "\"3\"", None)).await;
    stale_delete.error(StatusCode::PRECONDITION_FAILED, "precondition_failed");
    let delete = api.send(with_header(Method::DELETE, &uri, "if-match", "\"4\"", None)).await;
    assert_eq!(delete.status, StatusCode::OK);
}

async fn body_version_must_be_current(backend: Backend) {
    let api = api(backend).await;
    let created = api.json(Method::POST, "/api/docs", &json!({"title": "d"})).await;
    let doc = created.json();
    let uri = format!("/api/docs/{}", doc["id"].as_str().expect("uuid id"));

    let current = api.json(Method::PUT, &uri, &json!({"id": doc["id"], "version": 1, "title": "d2"})).await;
    assert_eq!(current.status, StatusCode::OK, "{}", String::from_utf8_lossy(&current.bytes));
    assert_eq!(current.json()["version"], 2);

    let stale = api.json(Method::PATCH, &uri, &json!({"version": 1, "title": "lost"})).await;
    stale.error(StatusCode::CONFLICT, "version_conflict");
    assert_eq!(api.get(&uri).await.json()["title"], "d2");

    let without = api.json(Method::PATCH, &uri, &json!({"title": "d3"})).await;
    assert_eq!(without.json()["version"], 3);
}

async fn head_and_options_follow_http(backend: Backend) {
    let api = api(backend).await;
    api.note("h", 0).await;
    let list = api.get("/api/notes").await;
    let head = api.call(Method::HEAD, "/api/notes").await;
    assert_eq!(head.status, StatusCode::OK);
    assert!(head.bytes.is_empty());
    assert_eq!(head.header("content-range"), "0-0/*");
    assert_eq!(head.header("content-length"), list.bytes.len().to_string());

    let head_one = api.call(Method::HEAD, "/api/notes/1").await;
    assert_eq!(head_one.status, StatusCode::OK);
    assert_eq!(head_one.header("etag"), "\"1\"");
    assert!(head_one.bytes.is_empty());
    let head_missing = api.call(Method::HEAD, "/api/notes/99").await;
    assert_eq!(head_missing.status, StatusCode::NOT_FOUND);
    assert!(head_missing.bytes.is_empty());

    let options = api.call(Method::OPTIONS, "/api/notes").await;
    assert_eq!(options.status, StatusCode::NO_CONTENT);
    assert_eq!(options.header("allow"), "GET, HEAD, POST, OPTIONS");
    let options = api.call(Method::OPTIONS, "/api/notes/1").await;
    assert_eq!(options.status, StatusCode::NO_CONTENT);
    assert_eq!(options.header("allow"), "GET, HEAD, PUT, PATCH, DELETE, OPTIONS");
}

async fn unserved_methods_are_405_with_allow(backend: Backend) {
    let api = api(backend).await;
    api.note("stays", 0).await;
    let before = api.rows::<Note>().await;
    for (method, uri, allow) in [
        (Method::PUT, "/api/notes", "GET, HEAD, POST, OPTIONS"),
        (Method::DELETE, "/api/notes", "GET, HEAD, POST, OPTIONS"),
        (Method::PATCH, "/api/notes", "GET, HEAD, POST, OPTIONS"),
        (Method::POST, "/api/notes/1", "GET, HEAD, PUT, PATCH, DELETE, OPTIONS"),
        (Method::TRACE, "/api/notes/1", "GET, HEAD, PUT, PATCH, DELETE, OPTIONS"),
    ] {
        let reply = api.json(method.clone(), uri, &json!({"title": "x"})).await;
        reply.error(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
        assert_eq!(reply.header("allow"), allow, "{method} {uri}");
    }
    assert_eq!(api.rows::<Note>().await, before);
}

async fn disabled_verbs_are_405(backend: Backend) {
    let api = notes_with(backend, RestOptions::default().read_only()).await;
    api.store.records::<Note>().create(Note::new("fixed"), &Default::default()).await.expect("server-side create");
    let before = api.rows::<Note>().await;

    assert_eq!(api.get("/api/notes").await.status, StatusCode::OK);
    assert_eq!(api.call(Method::OPTIONS, "/api/notes").await.header("allow"), "GET, HEAD, OPTIONS");
    assert_eq!(api.call(Method::OPTIONS, "/api/notes/1").await.header("allow"), "GET, HEAD, OPTIONS");
    for (method, uri) in [
        (Method::POST, "/api/notes"),
        (Method::PUT, "/api/notes/1"),
        (Method::PATCH, "/api/notes/1"),
        (Method::DELETE, "/api/notes/1"),
    ] {
        let reply = api.json(method, uri, &json!({"title": "x"})).await;
        reply.error(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
        assert_eq!(reply.header("allow"), "GET, HEAD, OPTIONS");
    }
    // Nor through a method override.
    let overridden =
        api.send(with_header(Method::POST, "/api/notes/1", "x-http-method-override", "DELETE", None)).await;
    overridden.error(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
    assert_eq!(api.rows::<Note>().await, before);
}

async fn method_override_header_and_query(backend: Backend) {
    let api = api(backend).await;
    let note = api.note("orig", 0).await;
    let uri = format!("/api/notes/{}", note["id"]);

    let put = api
        .send(with_header(Method::POST, &uri, "x-http-method-override", "PUT", Some(&json!({"title": "put"}))))
        .await;
    assert_eq!(put.status, StatusCode::OK);
    assert_eq!(put.json()["title"], "put");

    let patch = api.json(Method::POST, &format!("{uri}?_method=PATCH"), &json!({"rank": 4})).await;
    assert_eq!(patch.status, StatusCode::OK);
    assert_eq!((patch.json()["title"].clone(), patch.json()["rank"].clone()), (json!("put"), json!(4)));

    let delete = api.call(Method::POST, &format!("{uri}?_method=DELETE")).await;
    assert_eq!(delete.status, StatusCode::OK);
    api.get(&uri).await.error(StatusCode::NOT_FOUND, "not_found");
}

fn form(uri: &str, fields: &[(&str, &str)]) -> Request<Body> {
    let body = form_encode(fields);
    raw_request(Method::POST, uri, "application/x-www-form-urlencoded; charset=UTF-8", body)
}

fn form_encode(fields: &[(&str, &str)]) -> String {
    let mut out = String::new();
    for (key, value) in fields {
        if !out.is_empty() {
            out.push('&');
        }
        out.push_str(key);
        out.push('=');
        for byte in value.bytes() {
            if byte.is_ascii_alphanumeric() {
                out.push(byte as char);
            } else {
                out.push_str(&format!("%{byte:02X}"));
            }
        }
    }
    out
}

async fn form_bodies_carry_the_model(backend: Backend) {
    let api = api(backend).await;
    // emulateJSON: the model as JSON text in a form field.
    let created = api.send(form("/api/notes", &[("model", r#"{"title":"form","rank":2}"#)])).await;
    assert_eq!(created.status, StatusCode::CREATED);
    let note = created.json();
    assert_eq!(note["title"], "form");
    let uri = format!("/api/notes/{}", note["id"]);

    // emulateJSON + emulateHTTP: the method in `_method`.
    let updated = api.send(form(&uri, &[("model", r#"{"title":"formed"}"#), ("_method", "PATCH")])).await;
    assert_eq!(updated.status, StatusCode::OK);
    assert_eq!((updated.json()["title"].clone(), updated.json()["rank"].clone()), (json!("formed"), json!(2)));

    let replaced = api.send(form(&uri, &[("_method", "PUT"), ("model", r#"{"title":"put"}"#)])).await;
    assert_eq!(replaced.json()["rank"], 0);

    let deleted = api.send(form(&uri, &[("_method", "DELETE")])).await;
    assert_eq!(deleted.status, StatusCode::OK);
    assert_eq!(deleted.json()["title"], "put");
    assert_eq!(api.get("/api/notes").await.json(), json!([]));
}

async fn request_id_becomes_the_event_origin(backend: Backend) {
    let api = api(backend).await;
    let create = api
        .send(with_header(Method::POST, "/api/notes", "live-request-id", "tab-1:42", Some(&json!({"title": "mine"}))))
        .await;
    assert_eq!(create.status, StatusCode::CREATED);
    let uri = format!("/api/notes/{}", create.json()["id"]);
    let update =
        api.send(with_header(Method::PATCH, &uri, "live-request-id", "tab-1:43", Some(&json!({"done": true})))).await;
    assert_eq!(update.status, StatusCode::OK);
    let delete = api.send(with_header(Method::DELETE, &uri, "live-request-id", "tab-1:44", None)).await;
    assert_eq!(delete.status, StatusCode::OK);
    let unnamed = api.json(Method::POST, "/api/notes", &json!({"title": "anonymous"})).await;
    assert_eq!(unnamed.status, StatusCode::CREATED);

    let events: Vec<_> = api
        .events::<Note>()
        .await
        .into_iter()
        .map(|event| {
            (event.method, event.origin.clone(), event.version, event.body_value().expect("JSON")["title"].clone())
        })
        .collect();
    assert_eq!(
        events,
        [
            (live_runtime::Method::Post, Some("tab-1:42".to_owned()), 1, json!("mine")),
            (live_runtime::Method::Patch, Some("tab-1:43".to_owned()), 2, json!("mine")),
            (live_runtime::Method::Delete, Some("tab-1:44".to_owned()), 2, json!("mine")),
            (live_runtime::Method::Post, None, 1, json!("anonymous")),
        ]
    );
}

async fn each_write_logs_its_method(backend: Backend) {
    let api = api(backend).await;
    let note = api.note("a", 0).await;
    let uri = format!("/api/notes/{}", note["id"]);
    assert_eq!(api.json(Method::PUT, &uri, &json!({"title": "b"})).await.status, StatusCode::OK);
    assert_eq!(api.json(Method::PATCH, &uri, &json!({"done": true})).await.status, StatusCode::OK);
    let form = raw_request(Method::POST, &uri, "application/x-www-form-urlencoded", "_method=DELETE");
    assert_eq!(api.send(form).await.status, StatusCode::OK);
    let many = api.json(Method::POST, "/api/notes", &json!([{"title": "c"}, {"title": "d"}])).await;
    assert_eq!(many.status, StatusCode::CREATED);
    let events = api.events::<Note>().await;
    let methods: Vec<_> = events.iter().map(|event| event.method).collect();
    use live_runtime::Method::{Delete, Patch, Post, Put};
    assert_eq!(methods, [Post, Put, Patch, Delete, Post, Post]);
    assert_eq!(
        events[2].body_value().expect("JSON"),
        json!({"id": note["id"], "title": "b", "done": true, "rank": 0, "owner": null, "created_by": ""})
    );
    // Reads log nothing.
    api.get("/api/notes").await;
    api.get(&uri).await;
    assert_eq!(api.events::<Note>().await.len(), events.len());
}

async fn uuid_ids_round_trip(backend: Backend) {
    let api = api(backend).await;
    let created = api.json(Method::POST, "/api/docs", &json!({"title": "d", "body": {"k": [1, 2]}})).await;
    assert_eq!(created.status, StatusCode::CREATED);
    let doc = created.json();
    let id: uuid::Uuid = doc["id"].as_str().expect("uuid").parse().expect("a UUID");
    assert!(!id.is_nil());
    assert_eq!(created.header("location"), format!("/api/docs/{id}"));
    let fetched = api.get(&format!("/api/docs/{id}")).await;
    assert_eq!(fetched.json(), doc);
    assert_eq!(fetched.json()["body"], json!({"k": [1, 2]}));
    let listed = api.get(&format!("/api/docs?id=eq.{id}")).await;
    assert_eq!(listed.json(), json!([doc]));
    api.get(&format!("/api/docs/{}", uuid::Uuid::new_v4())).await.error(StatusCode::NOT_FOUND, "not_found");
}

async fn every_column_type_round_trips(backend: Backend) {
    let api = api(backend).await;
    let body = json!({
        "flag": true, "small": -12, "medium": 70000, "big": 9_000_000_000_i64, "ratio": 0.5, "score": 2.25,
        "name": "kitchen", "data": [0, 1, 255], "key": "67e55044-10b1-426f-9247-bb680e5fe0c8",
        "at": "2024-02-29T12:34:56Z", "doc": {"nested": [true, null]},
        "opt_flag": null, "opt_small": 3, "opt_medium": null, "opt_big": -1, "opt_ratio": null, "opt_score": 1.5,
        "opt_name": "x", "opt_data": null, "opt_key": null, "opt_at": "2000-01-01T00:00:00Z", "opt_doc": [1]
    });
    let created = api.json(Method::POST, "/api/kitchen", &body).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", String::from_utf8_lossy(&created.bytes));
    let mut expected = body.clone();
    expected["id"] = created.json()["id"].clone();
    assert_eq!(created.json(), expected);
    let uri = created.header("location").to_owned();
    assert_eq!(api.get(&uri).await.json(), expected);

    for query in [
        "flag=is.true",
        "small=eq.-12",
        "big=gt.8000000000",
        "score=lt.3",
        "key=eq.67e55044-10b1-426f-9247-bb680e5fe0c8",
        "at=gte.2024-01-01T00:00:00Z",
        "opt_medium=is.null",
        "opt_name=eq.x",
    ] {
        let reply = api.get(&format!("/api/kitchen?{query}")).await;
        assert_eq!(reply.status, StatusCode::OK, "{query}: {}", String::from_utf8_lossy(&reply.bytes));
        assert_eq!(reply.json().as_array().map(Vec::len), Some(1), "{query}");
    }
}

async fn nested_routers_link_to_their_own_path(backend: Backend) {
    let store = fixture_store(backend).await;
    let router = Router::new().nest("/v1", routes::<Note>(store.store.clone()));
    let api = Api { router, store };
    let created = api.send(json_request(Method::POST, "/v1/api/notes", &json!({"title": "n"}))).await;
    assert_eq!(created.status, StatusCode::CREATED);
    assert_eq!(created.header("location"), format!("/v1/api/notes/{}", created.json()["id"]));
    let second = api.send(json_request(Method::POST, "/v1/api/notes", &json!({"title": "m"}))).await;
    assert_eq!(second.status, StatusCode::CREATED);
    let page = api.get("/v1/api/notes?limit=1").await;
    assert_eq!(page.header("link"), r#"</v1/api/notes?limit=1&offset=1>; rel="next""#);
}

async fn validation_rules_answer_422(backend: Backend) {
    let api = api(backend).await;
    let refused = api.json(Method::POST, "/api/notes", &json!({"title": "   "})).await;
    let error = refused.error(StatusCode::UNPROCESSABLE_ENTITY, "validation");
    assert_eq!(error["fields"]["title"], "must not be empty");
    let note = api.note("fine", 0).await;
    let uri = format!("/api/notes/{}", note["id"]);
    let refused = api.json(Method::PATCH, &uri, &json!({"title": ""})).await;
    refused.error(StatusCode::UNPROCESSABLE_ENTITY, "validation");
    assert_eq!(api.get(&uri).await.json(), note);
}

/// A resource from the derive rather than a hand-written impl: renamed field, version field.
#[derive(live_runtime::LiveResource, serde::Serialize, serde::Deserialize, Debug, Clone, PartialEq)]
#[live(path = "/api/todos")]
struct Todo {
    #[live(id)]
    id: i64,
    title: String,
    #[serde(default, rename = "isDone")]
    completed: bool,
    #[live(version)]
    #[serde(default)]
    version: i64,
}

async fn derived_resources_are_served(backend: Backend) {
    let store = fixture_store(backend).await;
    store.prepare::<Todo>().await.expect("prepare todos");
    let api = Api { router: routes::<Todo>(store.store.clone()), store };
    let created = api.json(Method::POST, "/api/todos", &json!({"title": "derived", "isDone": true})).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", String::from_utf8_lossy(&created.bytes));
    let todo = created.json();
    assert_eq!(todo, json!({"id": todo["id"], "title": "derived", "isDone": true, "version": 1}));
    let uri = created.header("location").to_owned();
    let updated = api.json(Method::PATCH, &uri, &json!({"isDone": false, "version": 1})).await;
    assert_eq!(updated.json()["version"], 2);
    assert_eq!(updated.header("etag"), "\"2\"");
    let listed = api.get("/api/todos?isDone=is.false&select=title,isDone").await;
    assert_eq!(listed.json(), json!([{"title": "derived", "isDone": false}]));
    let stale = api.json(Method::PUT, &uri, &json!({"title": "lost", "version": 1})).await;
    stale.error(StatusCode::CONFLICT, "version_conflict");
    let unknown = api.json(Method::POST, "/api/todos", &json!({"title": "x", "completed": true})).await;
    let error = unknown.error(StatusCode::UNPROCESSABLE_ENTITY, "validation");
    assert_eq!(error["fields"]["completed"], "unknown field");
}

async fn an_unreachable_database_is_503(backend: Backend) {
    let api = api(backend).await;
    api.note("before the outage", 0).await;
    api.store.close().await;
    for (method, uri) in [(Method::GET, "/api/notes"), (Method::GET, "/api/notes/1"), (Method::DELETE, "/api/notes/1")]
    {
        let reply = api.call(method, uri).await;
        let error = reply.error(StatusCode::SERVICE_UNAVAILABLE, "unavailable");
        assert!(reply.headers.contains_key("retry-after"));
        assert!(!error["message"].as_str().unwrap_or_default().contains("pool"), "{error}");
    }
}
