//! Bad input, on SQLite and PostgreSQL: each case gets its 4xx with the one JSON error shape,
//! never a 500, and leaves every table as it was.

mod rest_support;

use axum::body::Body;
use http::{Method, Request, StatusCode};
use live_runtime::http::RestOptions;
use live_tests::{Backend, Note};
use rest_support::{Api, api, json_request, notes_with, raw_request};
use serde_json::{Value as Json, json};

on_every_backend!(
    malformed_json_is_400,
    wrong_json_types_are_422_per_field,
    missing_required_fields_are_422,
    unknown_fields_are_422_by_name,
    non_object_bodies_are_422,
    bodies_over_the_limit_are_413,
    wrong_content_types_are_415,
    missing_bodies_are_400,
    malformed_ids_are_400_and_unknown_ids_404,
    unknown_filter_fields_and_operators_are_400,
    bad_paging_is_400,
    sql_metacharacters_are_data,
    stale_if_match_is_412,
    stale_body_version_is_409,
    body_id_other_than_the_url_is_422,
    bad_request_ids_are_400,
    bad_method_overrides_are_400,
    bad_forms_are_400,
    nul_characters_are_refused,
);

/// An API with a few rows in every table, so that "unchanged" means something.
async fn seeded(backend: Backend) -> Api {
    let api = api(backend).await;
    api.note("first", 1).await;
    api.note("second", 2).await;
    let doc = api.json(Method::POST, "/api/docs", &json!({"title": "doc"})).await;
    assert_eq!(doc.status, StatusCode::CREATED);
    api
}

fn raw_json(method: Method, uri: &str, body: impl Into<Body>) -> Request<Body> {
    raw_request(method, uri, "application/json", body)
}

fn bare(method: Method, uri: &str) -> Request<Body> {
    Request::builder().method(method).uri(uri).body(Body::empty()).expect("request")
}

fn with_header(method: Method, uri: &str, name: &str, value: &str, body: &Json) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri(uri)
        .header(name, value)
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .expect("request")
}

async fn malformed_json_is_400(backend: Backend) {
    let api = seeded(backend).await;
    for (method, uri) in [(Method::POST, "/api/notes"), (Method::PUT, "/api/notes/1"), (Method::PATCH, "/api/notes/1")]
    {
        for body in [&b"{\"title\": \"a\","[..], b"{title: 'a'}", b"[{}", b"\xff\xfe{}", b"{\"title\": \"a\"} trailing"]
        {
            let error =
                api.refused(raw_json(method.clone(), uri, body), StatusCode::BAD_REQUEST, "malformed_json").await;
            assert!(error.get("fields").is_none());
        }
    }
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    api.refused(raw_json(Method::POST, "/api/notes", deep), StatusCode::BAD_REQUEST, "malformed_json").await;
}

async fn wrong_json_types_are_422_per_field(backend: Backend) {
    let api = seeded(backend).await;
    for (body, field) in [
        (json!({"title": 5}), "title"),
        (json!({"title": "a", "done": "yes"}), "done"),
        (json!({"title": "a", "rank": 1.5}), "rank"),
        (json!({"title": "a", "rank": 3_000_000_000_i64}), "rank"),
        (json!({"title": "a", "rank": "3"}), "rank"),
        (json!({"title": ["a"]}), "title"),
        (json!({"title": "a", "owner": {"name": "x"}}), "owner"),
    ] {
        for (method, uri) in [(Method::POST, "/api/notes"), (Method::PATCH, "/api/notes/1")] {
            let error =
                api.refused(json_request(method, uri, &body), StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
            assert!(error["fields"][field].is_string(), "{body}: {error}");
        }
    }
    for (field, value) in [
        ("small", json!(70_000)),
        ("key", json!("not-a-uuid")),
        ("at", json!("yesterday")),
        ("data", json!([256])),
        ("data", json!("bytes")),
        ("ratio", json!("0.5")),
        ("flag", json!(null)),
    ] {
        let body = json!({ field: value });
        let error = api
            .refused(json_request(Method::POST, "/api/kitchen", &body), StatusCode::UNPROCESSABLE_ENTITY, "validation")
            .await;
        assert!(error["fields"][field].is_string(), "{body}: {error}");
    }
}

async fn missing_required_fields_are_422(backend: Backend) {
    let api = seeded(backend).await;
    for (method, uri) in [(Method::POST, "/api/notes"), (Method::PUT, "/api/notes/1")] {
        let error = api
            .refused(json_request(method, uri, &json!({"done": true})), StatusCode::UNPROCESSABLE_ENTITY, "validation")
            .await;
        assert_eq!(error["fields"]["title"], "is required", "{error}");
    }
    let error = api
        .refused(
            json_request(Method::POST, "/api/notes", &json!({"title": null})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation",
        )
        .await;
    assert_eq!(error["fields"]["title"], "must not be null");
}

async fn unknown_fields_are_422_by_name(backend: Backend) {
    let api = seeded(backend).await;
    let body = json!({"title": "a", "colour": "red", "_version": 1});
    for (method, uri) in [(Method::POST, "/api/notes"), (Method::PUT, "/api/notes/1"), (Method::PATCH, "/api/notes/1")]
    {
        let error = api.refused(json_request(method, uri, &body), StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
        assert_eq!(error["fields"]["colour"], "unknown field");
        assert_eq!(error["fields"]["_version"], "unknown field");
        assert!(error["fields"].get("title").is_none());
    }
}

async fn non_object_bodies_are_422(backend: Backend) {
    let api = seeded(backend).await;
    for body in [json!(42), json!("title"), json!(null), json!(true)] {
        api.refused(json_request(Method::POST, "/api/notes", &body), StatusCode::UNPROCESSABLE_ENTITY, "validation")
            .await;
        api.refused(json_request(Method::PUT, "/api/notes/1", &body), StatusCode::UNPROCESSABLE_ENTITY, "validation")
            .await;
    }
    let error = api
        .refused(
            json_request(Method::POST, "/api/notes", &json!([{"title": "ok"}, 7])),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation",
        )
        .await;
    assert!(error["fields"]["1"].is_string(), "{error}");
    // Arrays create; they do not replace.
    api.refused(json_request(Method::PUT, "/api/notes/1", &json!([])), StatusCode::UNPROCESSABLE_ENTITY, "validation")
        .await;
}

async fn bodies_over_the_limit_are_413(backend: Backend) {
    let api = notes_with(backend, RestOptions::default().with_body_limit(64)).await;
    api.note("kept", 0).await;
    let big = json!({"title": "x".repeat(100)}).to_string();
    api.refused(raw_json(Method::POST, "/api/notes", big.clone()), StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large")
        .await;
    api.refused(raw_json(Method::PUT, "/api/notes/1", big.clone()), StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large")
        .await;
    // Announced too large: refused on the header alone.
    let announced = Request::builder()
        .method(Method::POST)
        .uri("/api/notes")
        .header("content-type", "application/json")
        .header("content-length", big.len())
        .body(Body::from(big))
        .expect("request");
    api.refused(announced, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;

    // The default limit is 1 MiB.
    let api = seeded(backend).await;
    let huge = json!({"title": "x".repeat(1 << 20)}).to_string();
    api.refused(raw_json(Method::POST, "/api/notes", huge), StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
}

async fn wrong_content_types_are_415(backend: Backend) {
    let api = seeded(backend).await;
    let body = r#"{"title":"a"}"#;
    for content_type in ["text/plain", "application/xml", "multipart/form-data; boundary=x", "application/jsonp"] {
        for (method, uri) in [(Method::POST, "/api/notes"), (Method::PATCH, "/api/notes/1")] {
            let request = raw_request(method, uri, content_type, body);
            api.refused(request, StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type").await;
        }
    }
    let untyped = Request::builder().method(Method::POST).uri("/api/notes").body(Body::from(body)).expect("request");
    api.refused(untyped, StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type").await;
}

async fn missing_bodies_are_400(backend: Backend) {
    let api = seeded(backend).await;
    api.refused(raw_json(Method::POST, "/api/notes", ""), StatusCode::BAD_REQUEST, "missing_body").await;
    api.refused(bare(Method::PUT, "/api/notes/1"), StatusCode::BAD_REQUEST, "missing_body").await;
    api.refused(bare(Method::PATCH, "/api/notes/1"), StatusCode::BAD_REQUEST, "missing_body").await;
}

async fn malformed_ids_are_400_and_unknown_ids_404(backend: Backend) {
    let api = seeded(backend).await;
    let body = json!({"title": "x"});
    for uri in ["/api/notes/abc", "/api/notes/1.5", "/api/notes/-", "/api/notes/99999999999999999999", "/api/docs/123"]
    {
        let error = api.refused(bare(Method::GET, uri), StatusCode::BAD_REQUEST, "invalid_id").await;
        assert!(error["message"].as_str().is_some_and(|message| message.contains("id")), "{error}");
        api.refused(bare(Method::DELETE, uri), StatusCode::BAD_REQUEST, "invalid_id").await;
        api.refused(json_request(Method::PUT, uri, &body), StatusCode::BAD_REQUEST, "invalid_id").await;
        api.refused(json_request(Method::PATCH, uri, &body), StatusCode::BAD_REQUEST, "invalid_id").await;
    }
    for uri in ["/api/notes/424242", "/api/notes/-1", "/api/docs/00000000-0000-0000-0000-000000000000"] {
        api.refused(bare(Method::GET, uri), StatusCode::NOT_FOUND, "not_found").await;
        api.refused(bare(Method::DELETE, uri), StatusCode::NOT_FOUND, "not_found").await;
        api.refused(json_request(Method::PUT, uri, &body), StatusCode::NOT_FOUND, "not_found").await;
        api.refused(json_request(Method::PATCH, uri, &body), StatusCode::NOT_FOUND, "not_found").await;
    }
}

async fn unknown_filter_fields_and_operators_are_400(backend: Backend) {
    let api = seeded(backend).await;
    for query in [
        "colour=eq.red",
        "title=regex.a",
        "title=eq",
        "title=not.a",
        "rank=eq.abc",
        "rank=in.(1,two)",
        "done=is.maybe",
        "title=like",
        "rank=like.1",
        "order=colour",
        "order=title.sideways",
        "select=colour",
        "foo=bar",
        "created_by=in.()",
    ] {
        let uri = format!("/api/notes?{query}");
        let error = api.refused(bare(Method::GET, &uri), StatusCode::BAD_REQUEST, "invalid_query").await;
        assert!(error.get("fields").is_none());
    }
    api.refused(bare(Method::GET, "/api/notes/1?colour=red"), StatusCode::BAD_REQUEST, "invalid_query").await;
    // Writes take no query parameters either, apart from `_method` and `_`.
    let body = json!({"title": "a"});
    api.refused(json_request(Method::POST, "/api/notes?title=eq.a", &body), StatusCode::BAD_REQUEST, "invalid_query")
        .await;
    api.refused(json_request(Method::PATCH, "/api/notes/1?select=id", &body), StatusCode::BAD_REQUEST, "invalid_query")
        .await;
}

async fn bad_paging_is_400(backend: Backend) {
    let api = seeded(backend).await;
    for query in
        ["limit=-1", "limit=abc", "limit=", "limit=1001", "limit=1e3", "offset=-5", "offset=x", "limit=1&limit=2"]
    {
        let uri = format!("/api/notes?{query}");
        let error = api.refused(bare(Method::GET, &uri), StatusCode::BAD_REQUEST, "invalid_query").await;
        let message = error["message"].as_str().expect("message");
        assert!(message.contains("limit") || message.contains("offset"), "{query}: {message}");
    }
}

async fn sql_metacharacters_are_data(backend: Backend) {
    let api = seeded(backend).await;
    let nasty = [
        "'; DROP TABLE notes; --",
        "\" OR 1=1 --",
        "x'); DELETE FROM notes; --",
        "%_\\",
        "Robert'); DROP TABLE \"notes\";--",
        "$1 ? :name @p1",
    ];
    let before = api.rows::<Note>().await;
    // As filter values (each operator), they match nothing and change nothing.
    for text in nasty {
        let encoded = encode(text);
        for op in ["eq", "neq", "like", "ilike", "gt"] {
            let reply = api.get(&format!("/api/notes?title={op}.{encoded}&order=id")).await;
            assert_eq!(reply.status, StatusCode::OK, "{op} {text}: {}", String::from_utf8_lossy(&reply.bytes));
        }
        let quoted = encode(&format!("(\"{}\",plain)", text.replace('\\', "\\\\").replace('"', "\\\"")));
        let reply = api.get(&format!("/api/notes?title=in.{quoted}")).await;
        assert_eq!(reply.status, StatusCode::OK, "in {text}");
        assert_eq!(reply.json(), json!([]));
        let reply = api.get(&format!("/api/notes?title=eq.{encoded}")).await;
        assert_eq!(reply.json(), json!([]), "{text}");
    }
    assert_eq!(api.rows::<Note>().await, before);

    // As names (fields, order, select), ids and body keys, they are refused.
    for text in nasty {
        let encoded = encode(text);
        for query in [
            format!("{encoded}=eq.1"),
            format!("title{encoded}=eq.1"),
            format!("order={encoded}"),
            format!("order=title.{encoded}"),
            format!("select=title,{encoded}"),
        ] {
            let uri = format!("/api/notes?{query}");
            api.refused(bare(Method::GET, &uri), StatusCode::BAD_REQUEST, "invalid_query").await;
        }
        let uri = format!("/api/notes/1{encoded}");
        api.refused(bare(Method::GET, &uri), StatusCode::BAD_REQUEST, "invalid_id").await;
        api.refused(bare(Method::DELETE, &uri), StatusCode::BAD_REQUEST, "invalid_id").await;
        let body = json!({"title": "ok", text: 1});
        let error = api
            .refused(json_request(Method::POST, "/api/notes", &body), StatusCode::UNPROCESSABLE_ENTITY, "validation")
            .await;
        assert_eq!(error["fields"][text], "unknown field");
    }

    // As values in a body and in the request id, they are stored verbatim.
    for text in nasty {
        let reply = api
            .send(with_header(
                Method::POST,
                "/api/notes",
                "live-request-id",
                "a'b;--\"",
                &json!({"title": text, "owner": text}),
            ))
            .await;
        assert_eq!(reply.status, StatusCode::CREATED);
        let created = reply.json();
        assert_eq!((created["title"].as_str(), created["owner"].as_str()), (Some(text), Some(text)));
        let uri = format!("/api/notes/{}", created["id"]);
        assert_eq!(api.get(&uri).await.json(), created);
        let found = api.get(&format!("/api/notes?title=eq.{}", encode(text))).await;
        assert_eq!(found.json(), json!([created]));
        let patched = api.json(Method::PATCH, &uri, &json!({"title": format!("{text}{text}")})).await;
        assert_eq!(patched.json()["title"], format!("{text}{text}"));
    }
    let after = api.rows::<Note>().await;
    assert_eq!(after.len(), before.len() + nasty.len());
    assert_eq!(&after[..before.len()], &before[..]);
}

/// Percent-encodes every byte but ASCII letters and digits.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|byte| if byte.is_ascii_alphanumeric() { (byte as char).to_string() } else { format!("%{byte:02X}") })
        .collect()
}

async fn stale_if_match_is_412(backend: Backend) {
    let api = seeded(backend).await;
    let bump = api.json(Method::PATCH, "/api/notes/1", &json!({"rank": 5})).await;
    assert_eq!(bump.header("etag"), "\"2\"");
    let body = json!({"title": "lost"});
    for (method, tag) in
        [(Method::PUT, "\"1\""), (Method::PATCH, "W/\"1\""), (Method::DELETE, "\"1\", \"3\""), (Method::PUT, "\"abc\"")]
    {
        let error = api
            .refused(
                with_header(method, "/api/notes/1", "if-match", tag, &body),
                StatusCode::PRECONDITION_FAILED,
                "precondition_failed",
            )
            .await;
        assert!(error.get("fields").is_none());
    }
    api.refused(
        with_header(Method::PUT, "/api/notes/1", "if-match", "1", &body),
        StatusCode::BAD_REQUEST,
        "invalid_header",
    )
    .await;
}

async fn stale_body_version_is_409(backend: Backend) {
    let api = seeded(backend).await;
    let list = api.get("/api/docs").await.json();
    let doc = &list[0];
    let uri = format!("/api/docs/{}", doc["id"].as_str().expect("id"));
    let bump = api.json(Method::PATCH, &uri, &json!({"title": "v2"})).await;
    assert_eq!(bump.status, StatusCode::OK);
    for method in [Method::PUT, Method::PATCH] {
        let error = api
            .refused(
                json_request(method, &uri, &json!({"version": 1, "title": "lost"})),
                StatusCode::CONFLICT,
                "version_conflict",
            )
            .await;
        assert!(error["message"].as_str().is_some_and(|message| message.contains('2')), "{error}");
    }
    api.refused(
        json_request(Method::PATCH, &uri, &json!({"version": "2"})),
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation",
    )
    .await;
}

async fn body_id_other_than_the_url_is_422(backend: Backend) {
    let api = seeded(backend).await;
    for method in [Method::PUT, Method::PATCH] {
        let error = api
            .refused(
                json_request(method, "/api/notes/1", &json!({"id": 2, "title": "moved"})),
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation",
            )
            .await;
        assert!(error["fields"]["id"].is_string(), "{error}");
    }
    let same = api.json(Method::PATCH, "/api/notes/1", &json!({"id": 1, "title": "same"})).await;
    assert_eq!(same.status, StatusCode::OK);
}

async fn bad_request_ids_are_400(backend: Backend) {
    let api = seeded(backend).await;
    let long = "x".repeat(201);
    for id in ["has space", "", long.as_str(), "tab\there"] {
        let request = with_header(Method::POST, "/api/notes", "live-request-id", id, &json!({"title": "a"}));
        api.refused(request, StatusCode::BAD_REQUEST, "invalid_header").await;
    }
    let mut request = json_request(Method::PATCH, "/api/notes/1", &json!({"title": "a"}));
    request.headers_mut().insert("live-request-id", http::HeaderValue::from_bytes(b"caf\xc3\xa9").expect("header"));
    api.refused(request, StatusCode::BAD_REQUEST, "invalid_header").await;
}

async fn bad_method_overrides_are_400(backend: Backend) {
    let api = seeded(backend).await;
    let body = json!({"title": "a"});
    for (method, uri, value) in [
        (Method::POST, "/api/notes/1", "GET"),
        (Method::POST, "/api/notes/1", "TRACE"),
        (Method::GET, "/api/notes/1", "DELETE"),
        (Method::GET, "/api/notes", "DELETE"),
        (Method::PUT, "/api/notes/1", "DELETE"),
    ] {
        let request = with_header(method, uri, "x-http-method-override", value, &body);
        api.refused(request, StatusCode::BAD_REQUEST, "invalid_method_override").await;
    }
    api.refused(bare(Method::GET, "/api/notes/1?_method=DELETE"), StatusCode::BAD_REQUEST, "invalid_query").await;
    api.refused(bare(Method::GET, "/api/notes?_method=DELETE"), StatusCode::BAD_REQUEST, "invalid_query").await;
    let disagreeing =
        with_header(Method::POST, "/api/notes/1?_method=PATCH", "x-http-method-override", "DELETE", &body);
    api.refused(disagreeing, StatusCode::BAD_REQUEST, "invalid_method_override").await;
}

async fn bad_forms_are_400(backend: Backend) {
    let api = seeded(backend).await;
    let form = "application/x-www-form-urlencoded";
    api.refused(raw_request(Method::POST, "/api/notes", form, "title=a"), StatusCode::BAD_REQUEST, "malformed_form")
        .await;
    api.refused(
        raw_request(Method::POST, "/api/notes", form, "model=%7B%7D&model=%7B%7D"),
        StatusCode::BAD_REQUEST,
        "malformed_form",
    )
    .await;
    api.refused(
        raw_request(Method::POST, "/api/notes", form, "model=%7Bbroken"),
        StatusCode::BAD_REQUEST,
        "malformed_json",
    )
    .await;
    api.refused(
        raw_request(Method::POST, "/api/notes", form, "_method=PATCH&model=%7B%7D"),
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
    )
    .await;
}

async fn nul_characters_are_refused(backend: Backend) {
    let api = seeded(backend).await;
    for query in ["title=eq.a%00", "title=like.%00*", "title=in.(a,%22%00%22)", "owner=neq.%00"] {
        let uri = format!("/api/notes?{query}");
        api.refused(bare(Method::GET, &uri), StatusCode::BAD_REQUEST, "invalid_query").await;
    }
    for (method, uri) in [(Method::POST, "/api/notes"), (Method::PUT, "/api/notes/1"), (Method::PATCH, "/api/notes/1")]
    {
        let request = json_request(method, uri, &json!({"title": "nul\u{0}here"}));
        let error = api.refused(request, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
        assert!(error["fields"]["title"].is_string(), "{error}");
    }
    let request = json_request(Method::POST, "/api/docs", &json!({"title": "d", "body": {"k": "\u{0}"}}));
    api.refused(request, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
}
