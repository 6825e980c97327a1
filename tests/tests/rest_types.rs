//! Column types beyond the basic ones, through the REST router on SQLite and PostgreSQL: dates,
//! naive timestamps, enums (`#[derive(LiveEnum)]`), JSON columns of any serde type
//! (`#[live(json)]`), `time::OffsetDateTime`, and camelCase JSON names over snake_case columns.
//! Valid values round-trip and filter; each bad value is a 422 (body) or a 400 (filter) that
//! writes nothing.

mod rest_support;

use axum::Router;
use axum::body::Body;
use http::{Method, Request, StatusCode};
use live_runtime::LiveResource;
use live_runtime::http::routes;
use live_tests::{Appointment, Backend, Shift};
use rest_support::{Api, json_request};
use serde_json::{Value as Json, json};
use time::macros::datetime;

on_every_backend!(
    new_types_round_trip_through_rest,
    date_ranges_and_enum_filters_select_rows,
    bad_values_of_new_types_are_422_and_write_nothing,
    bad_filters_on_new_types_are_400,
    offset_date_times_take_their_serde_form,
);

/// The routes of [`Appointment`] and [`Shift`] over one isolated store.
async fn typed_api(backend: Backend) -> Api {
    let store = live_tests::store(backend).await;
    store.prepare::<Appointment>().await.expect("prepare appointments");
    store.prepare::<Shift>().await.expect("prepare shifts");
    let router =
        Router::new().merge(routes::<Appointment>(store.store.clone())).merge(routes::<Shift>(store.store.clone()));
    Api { router, store }
}

/// Sends a request that must be refused with `status` and `code`, and checks that no row and no
/// event was written; returns the `error` object.
async fn refused(api: &Api, request: Request<Body>, status: StatusCode, code: &str) -> Json {
    let what = format!("{} {}", request.method(), request.uri());
    let before = (api.rows::<Appointment>().await, api.rows::<Shift>().await, last_seqs(api).await);
    let error = api.send(request).await.error(status, code);
    let after = (api.rows::<Appointment>().await, api.rows::<Shift>().await, last_seqs(api).await);
    assert_eq!(after, before, "{what} wrote something");
    error
}

async fn last_seqs(api: &Api) -> (i64, i64) {
    let seq = |path| api.store.last_seq(path);
    (
        seq(Appointment::DESCRIPTOR.path).await.expect("read the event log"),
        seq(Shift::DESCRIPTOR.path).await.expect("read the event log"),
    )
}

/// Creates an appointment from `body`; returns it as stored.
async fn create(api: &Api, body: &Json) -> Json {
    let reply = api.json(Method::POST, "/api/appointments", body).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{body}: {}", String::from_utf8_lossy(&reply.bytes));
    reply.json()
}

/// The smallest valid body: every optional or defaulted field left out.
fn minimal(title: &str, day: &str, starts_at: &str, priority: &str) -> Json {
    json!({
        "title": title, "day": day, "startsAt": starts_at, "priority": priority,
        "place": {"name": "hall", "floor": 0}
    })
}

/// Titles of a list answer, in order.
async fn titles(api: &Api, uri: &str) -> Vec<String> {
    let reply = api.get(uri).await;
    assert_eq!(reply.status, StatusCode::OK, "{uri}: {}", String::from_utf8_lossy(&reply.bytes));
    reply.json().as_array().expect("array").iter().map(|a| a["title"].as_str().expect("title").to_owned()).collect()
}

async fn new_types_round_trip_through_rest(backend: Backend) {
    let api = typed_api(backend).await;
    let full = json!({
        "title": "full", "day": "2024-02-29", "startsAt": "2024-02-29T09:30:15.123456", "priority": "very-high",
        "place": {"name": "hall \"A\"", "floor": -2}, "tags": ["a", "b,c"], "scores": {"x": 1, "y": -2},
        "endDay": "2024-03-01", "endsAt": "2024-03-01T00:00:00", "fallback": "normal",
        "backupPlace": {"name": "roof", "floor": 9}
    });
    let created = create(&api, &full).await;
    let mut expected = full.clone();
    expected["id"] = created["id"].clone();
    assert_eq!(created, expected);
    let uri = format!("/api/appointments/{}", created["id"]);
    assert_eq!(api.get(&uri).await.json(), expected);
    let events = api.events::<Appointment>().await;
    assert_eq!(
        events.last().map(|event| event.body_value().expect("JSON")),
        Some(expected),
        "the event carries the same JSON"
    );

    let created = create(&api, &minimal("minimal", "2024-03-01", "2024-03-01T08:00:00", "low")).await;
    let defaults =
        json!({"tags": [], "scores": {}, "endDay": null, "endsAt": null, "fallback": null, "backupPlace": null});
    for (field, value) in defaults.as_object().expect("an object") {
        assert_eq!(&created[field], value, "{field}");
    }
    let uri = format!("/api/appointments/{}", created["id"]);
    let patch = json!({"priority": "normal", "backupPlace": {"name": "x", "floor": 1}, "endDay": "2025-01-01"});
    let patched = api.json(Method::PATCH, &uri, &patch).await.json();
    for (field, value) in patch.as_object().expect("an object") {
        assert_eq!(&patched[field], value, "{field}");
    }
    let cleared = api.json(Method::PATCH, &uri, &json!({"backupPlace": null, "endDay": null})).await.json();
    assert_eq!(
        (&cleared["backupPlace"], &cleared["endDay"], &cleared["priority"]),
        (&json!(null), &json!(null), &json!("normal"))
    );
    let mut replaced = full.clone();
    replaced["title"] = json!("replaced");
    let put = api.json(Method::PUT, &uri, &replaced).await.json();
    replaced["id"] = created["id"].clone();
    assert_eq!(put, replaced);

    let selected = api.get("/api/appointments?select=title,priority,backupPlace&order=id").await.json();
    assert_eq!(
        selected,
        json!([
            {"title": "full", "priority": "very-high", "backupPlace": {"name": "roof", "floor": 9}},
            {"title": "replaced", "priority": "very-high", "backupPlace": {"name": "roof", "floor": 9}}
        ])
    );
}

async fn date_ranges_and_enum_filters_select_rows(backend: Backend) {
    let api = typed_api(backend).await;
    create(&api, &minimal("a", "2024-01-15", "2024-01-15T09:00:00", "low")).await;
    let mut b = minimal("b", "2024-02-29", "2024-02-29T14:00:00", "normal");
    b["backupPlace"] = json!({"name": "roof", "floor": 9});
    create(&api, &b).await;
    let mut c = minimal("c", "2024-03-01", "2024-03-01T08:00:00", "very-high");
    c["endDay"] = json!("2024-03-02");
    c["fallback"] = json!("low");
    create(&api, &c).await;
    create(&api, &minimal("d", "2024-12-31", "2024-12-31T23:00:00", "low")).await;

    for (query, expected) in [
        ("day=gte.2024-02-29", &["b", "c", "d"][..]),
        ("day=lt.2024-03-01&day=gt.2024-01-15", &["b"]),
        ("day=in.(2024-01-15,2024-12-31)", &["a", "d"]),
        ("day=not.eq.2024-01-15", &["b", "c", "d"]),
        ("startsAt=gt.2024-02-29T14:00:00", &["c", "d"]),
        ("startsAt=lte.2024-02-29T14:00:00.000000", &["a", "b"]),
        ("priority=eq.very-high", &["c"]),
        ("priority=in.(low,normal)", &["a", "b", "d"]),
        ("priority=neq.low", &["b", "c"]),
        ("priority=not.in.(low)", &["b", "c"]),
        ("fallback=is.null", &["a", "b", "d"]),
        ("fallback=eq.low", &["c"]),
        ("backupPlace=is.null", &["a", "c", "d"]),
        ("backupPlace=not.is.null", &["b"]),
        ("endDay=not.is.null", &["c"]),
    ] {
        assert_eq!(titles(&api, &format!("/api/appointments?{query}&order=id")).await, expected, "{query}");
    }
    assert_eq!(titles(&api, "/api/appointments?order=startsAt.desc").await, ["d", "c", "b", "a"]);
    // Enum columns sort by name, as stored.
    assert_eq!(titles(&api, "/api/appointments?order=priority,day.desc").await, ["d", "a", "b", "c"]);
}

async fn bad_values_of_new_types_are_422_and_write_nothing(backend: Backend) {
    let api = typed_api(backend).await;
    let existing = create(&api, &minimal("existing", "2024-01-15", "2024-01-15T09:00:00", "low")).await;
    let uri = format!("/api/appointments/{}", existing["id"]);
    // Refused by the type check before serde, naming the field.
    for (field, value, reason) in [
        ("priority", json!("urgent"), r#"expected one of "low", "normal", "very-high""#),
        ("priority", json!("VeryHigh"), "expected one of"),
        ("priority", json!(1), "expected one of"),
        ("priority", json!(null), "must not be null"),
        ("fallback", json!("Low"), "expected one of"),
        ("day", json!("2024-13-01"), "expected a date"),
        ("day", json!("yesterday"), "expected a date"),
        ("day", json!(20240229), "expected a date"),
        ("day", json!(null), "must not be null"),
        ("endDay", json!("29/02/2024"), "expected a date"),
        ("startsAt", json!("2024-02-29T09:00:00Z"), "without time zone"),
        ("startsAt", json!("2024-02-29"), "without time zone"),
        ("endsAt", json!(true), "without time zone"),
    ] {
        let mut body = minimal("new", "2024-02-29", "2024-02-29T09:00:00", "normal");
        body[field] = value.clone();
        let patch = json!({ field: value });
        for (method, uri, body) in [(Method::POST, "/api/appointments", &body), (Method::PATCH, uri.as_str(), &patch)] {
            let request = json_request(method.clone(), uri, body);
            let error = refused(&api, request, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
            let message = error["fields"][field].as_str().unwrap_or_default();
            assert!(message.contains(reason), "{method} {body}: {error}");
        }
    }
    // A JSON column takes any document, so the wrong shape is serde's to refuse, as a whole.
    for (field, value) in [
        ("place", json!("hall")),
        ("place", json!(null)),
        ("place", json!({"name": "hall"})),
        ("tags", json!({"a": 1})),
        ("scores", json!([1])),
        ("backupPlace", json!(5)),
    ] {
        let mut body = minimal("new", "2024-02-29", "2024-02-29T09:00:00", "normal");
        body[field] = value.clone();
        let patch = json!({ field: value });
        for (method, uri, body) in [(Method::POST, "/api/appointments", &body), (Method::PATCH, uri.as_str(), &patch)] {
            refused(&api, json_request(method, uri, body), StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
        }
    }
    let error = refused(
        &api,
        json_request(Method::POST, "/api/appointments", &json!({"title": "no day", "startsAt": "2024-02-29T09:00:00"})),
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation",
    )
    .await;
    assert_eq!(error["fields"]["day"], "is required", "{error}");
}

async fn bad_filters_on_new_types_are_400(backend: Backend) {
    let api = typed_api(backend).await;
    create(&api, &minimal("existing", "2024-01-15", "2024-01-15T09:00:00", "low")).await;
    for (query, needles) in [
        ("priority=eq.urgent", &["priority", r#""low", "normal", "very-high""#, "urgent"][..]),
        ("priority=in.(low,urgent)", &["priority", "urgent"]),
        ("priority=gt.low", &["`gt`", "priority", "`eq`"]),
        ("priority=lte.normal", &["`lte`", "priority"]),
        ("priority=like.l*", &["like", "priority"]),
        ("fallback=ilike.l*", &["ilike", "fallback"]),
        ("fallback=is.true", &["bool", "fallback"]),
        ("day=eq.yesterday", &["day", "yesterday"]),
        ("day=gt.2024-02-30", &["day"]),
        ("startsAt=gt.2024-02-29T09:00:00Z", &["startsAt"]),
        ("endsAt=lt.noon", &["endsAt"]),
        ("place=eq.hall", &["place"]),
        ("tags=like.a*", &["like", "tags"]),
        ("backupPlace=in.(x)", &["backupPlace"]),
    ] {
        let request =
            Request::builder().uri(format!("/api/appointments?{query}")).body(Body::empty()).expect("request");
        let error = refused(&api, request, StatusCode::BAD_REQUEST, "invalid_query").await;
        let message = error["message"].as_str().unwrap_or_default();
        for needle in needles {
            assert!(message.contains(needle), "{query}: {message} lacks {needle}");
        }
    }
}

/// `time::OffsetDateTime` fields keep their own serde form in bodies (RFC 3339 through
/// `time::serde::rfc3339`, or `time`'s default, an array of numbers); filters take RFC 3339 text.
async fn offset_date_times_take_their_serde_form(backend: Backend) {
    let api = typed_api(backend).await;
    let logged = datetime!(2024-02-29 23:59:59 -05:00);
    let body = json!({
        "label": "early", "starts": "2024-03-01T10:00:00.5+02:00",
        "logged": serde_json::to_value(logged).expect("time's own form"),
    });
    let reply = api.json(Method::POST, "/api/shifts", &body).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", String::from_utf8_lossy(&reply.bytes));
    let created = reply.json();
    // Stored as the same instants, read back in UTC.
    let expected = Shift {
        id: created["id"].as_i64().expect("an id"),
        label: "early".to_owned(),
        starts: datetime!(2024-03-01 08:00:00.5 UTC),
        ends: None,
        logged: logged.to_offset(time::UtcOffset::UTC),
    };
    assert_eq!(created, serde_json::to_value(&expected).expect("serialize"));
    assert_eq!(created["starts"], "2024-03-01T08:00:00.5Z");
    let uri = format!("/api/shifts/{}", expected.id);
    let patched = api.json(Method::PATCH, &uri, &json!({"ends": "2024-03-01T18:00:00Z"})).await.json();
    assert_eq!(patched["ends"], "2024-03-01T18:00:00Z");

    for (query, count) in [
        ("starts=gte.2024-03-01T08:00:00Z", 1),
        ("starts=gt.2024-03-01T08:00:00.5Z", 0),
        ("starts=lt.2024-03-01T10:00:01%2B02:00", 1),
        ("ends=not.is.null", 1),
    ] {
        let reply = api.get(&format!("/api/shifts?{query}")).await;
        assert_eq!(reply.status, StatusCode::OK, "{query}: {}", String::from_utf8_lossy(&reply.bytes));
        assert_eq!(reply.json().as_array().map(Vec::len), Some(count), "{query}");
    }

    let logged = serde_json::to_value(logged).expect("time's own form");
    for body in [
        json!({"label": "x", "starts": "yesterday", "logged": logged}),
        json!({"label": "x", "starts": "2024-03-01 10:00:00", "logged": logged}),
        json!({"label": "x", "starts": "2024-03-01T10:00:00Z", "logged": "2024-03-01T10:00:00Z"}),
        json!({"label": "x", "starts": 1_709_280_000, "logged": logged}),
    ] {
        refused(&api, json_request(Method::POST, "/api/shifts", &body), StatusCode::UNPROCESSABLE_ENTITY, "validation")
            .await;
    }
    let missing = json!({"label": "x", "logged": logged});
    let error = refused(
        &api,
        json_request(Method::POST, "/api/shifts", &missing),
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation",
    )
    .await;
    assert_eq!(error["fields"]["starts"], "is required", "{error}");
    let request = Request::builder().uri("/api/shifts?starts=gt.yesterday").body(Body::empty()).expect("request");
    refused(&api, request, StatusCode::BAD_REQUEST, "invalid_query").await;
}
