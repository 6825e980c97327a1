//! The `Live` API as an application uses it, on real sockets: what it hands out to be served keeps the
//! feed running, the router merges into an application with its own state, routes and middleware, and
//! builder calls take effect whatever their order.

mod bayeux_support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::get;
use bayeux_support::*;
use bytes::Bytes;
use http::{HeaderValue, Method, StatusCode};
use live_runtime::http::RestOptions;
use live_runtime::{Live, LiveBuilder, bayeux};
use live_tests::{Backend, Note, TestStore, store};
use serde_json::{Value, json};

const CHANNEL: &str = "/api/notes";

/// Serves `router` on a free port of 127.0.0.1.
async fn serve(router: Router) -> Probe {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind a local port");
    let addr: SocketAddr = listener.local_addr().expect("a local address");
    tokio::spawn(async move { axum::serve(listener, router).await });
    Probe(addr)
}

async fn live(db: &TestStore, builder: LiveBuilder) -> Live {
    builder.store(db.store.clone()).await.expect("live starts")
}

fn short_hold() -> bayeux::Options {
    bayeux::Options::default().timeout(Duration::from_millis(300))
}

/// Handshakes, connects and subscribes to the notes over long-polling at `mount`.
async fn subscriber(probe: Probe, mount: &str) -> String {
    let replies = probe.post_to(mount, handshake_message()).await;
    let id = replies[0]["clientId"].as_str().expect("a clientId").to_owned();
    let replies = probe.post_to(mount, connect_message(&id, "c0")).await;
    assert_eq!(replies[0]["successful"], json!(true), "{replies:?}");
    let replies = probe.post_to(mount, subscribe_message(&id, json!(CHANNEL), "s")).await;
    assert_eq!(reply_to(&replies, "s")["successful"], json!(true), "{replies:?}");
    id
}

/// Long-polls at `mount` until an event of the notes' channel arrives, within a bounded time.
async fn next_event(probe: Probe, mount: &str, id: &str) -> Value {
    let deadline = Instant::now() + WAIT;
    for round in 0..1000 {
        assert!(Instant::now() < deadline, "no event within {WAIT:?}");
        let replies = probe.post_to(mount, connect_message(id, &format!("c{round}"))).await;
        if let Some(event) = events(&replies).into_iter().find(|e| e["channel"] == json!(CHANNEL)) {
            return event["data"].clone();
        }
    }
    panic!("no event in 1000 connects")
}

async fn create(probe: Probe, title: &str) -> Reply {
    let body = Bytes::from(json!({"title": title}).to_string());
    probe.request(Method::POST, CHANNEL, Some("application/json"), body).await
}

#[tokio::test]
async fn a_router_served_alone_keeps_publishing_after_live_is_dropped() {
    let db = store(Backend::Sqlite).await;
    let live = live(&db, Live::builder().resource::<Note>().bayeux(short_hold())).await;
    let router: Router = live.router();
    drop(live);
    let probe = serve(router).await;
    let id = subscriber(probe, "/live").await;
    let created = create(probe, "after the drop").await;
    assert_eq!(created.status, StatusCode::CREATED);
    let data = next_event(probe, "/live", &id).await;
    assert_eq!((data["method"].clone(), data["body"]["title"].clone()), (json!("POST"), json!("after the drop")));
}

/// Adds a header to every response, as an application's middleware would.
async fn stamp(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    response.headers_mut().insert("x-app", HeaderValue::from_static("stamped"));
    response
}

#[derive(Clone)]
struct AppState {
    greeting: &'static str,
}

#[tokio::test]
async fn the_router_merges_into_an_app_with_its_own_state_routes_and_middleware() {
    let db = store(Backend::Sqlite).await;
    let live = live(&db, Live::builder().resource::<Note>().bayeux(short_hold())).await;
    let app: Router = Router::new()
        .route("/hello", get(|State(state): State<AppState>| async move { state.greeting }))
        .merge(live.router())
        .layer(middleware::from_fn(stamp))
        .with_state(AppState { greeting: "hello from the app" });
    let probe = serve(app).await;

    let hello = probe.request(Method::GET, "/hello", None, Bytes::new()).await;
    assert_eq!((hello.status, hello.body.as_ref()), (StatusCode::OK, b"hello from the app".as_slice()));
    let id = subscriber(probe, "/live").await;
    let created = create(probe, "through the app").await;
    assert_eq!(created.status, StatusCode::CREATED);
    assert_eq!(created.headers["x-app"], "stamped", "the app's middleware wraps the REST routes");
    let bayeux = probe.request(Method::POST, "/live", Some("application/json"), Bytes::from("[]")).await;
    assert_eq!(bayeux.headers["x-app"], "stamped", "and the Bayeux endpoint");
    let data = next_event(probe, "/live", &id).await;
    assert_eq!(data["body"]["title"], json!("through the app"));
}

#[tokio::test]
async fn rest_options_go_through_the_builder_in_any_order() {
    let db = store(Backend::Sqlite).await;
    let orders = [
        Live::builder().resource::<Note>().resource_with::<Note>(RestOptions::default().read_only()),
        Live::builder().resource_with::<Note>(RestOptions::default().read_only()).resource::<Note>(),
    ];
    for builder in orders {
        let live = live(&db, builder).await;
        let probe = serve(live.router()).await;
        let created = create(probe, "refused").await;
        assert_eq!(created.status, StatusCode::METHOD_NOT_ALLOWED, "{:?}", created.body);
        assert_eq!(created.headers[http::header::ALLOW], "GET, HEAD, OPTIONS");
        let listed = probe.request(Method::GET, CHANNEL, None, Bytes::new()).await;
        assert_eq!(listed.status, StatusCode::OK);
    }
}

#[tokio::test]
async fn the_mount_holds_whichever_comes_first_of_mount_and_bayeux_options() {
    let db = store(Backend::Sqlite).await;
    let orders = [
        Live::builder().resource::<Note>().mount("/events").bayeux(short_hold()),
        Live::builder().resource::<Note>().bayeux(short_hold()).mount("/events"),
    ];
    for builder in orders {
        let live = live(&db, builder).await;
        assert_eq!(live.bayeux().options().mount_path(), "/events");
        assert_eq!(live.bayeux().options().hold(), Duration::from_millis(300), "the options are kept too");
        let probe = serve(live.router()).await;
        let id = subscriber(probe, "/events").await;
        let moved = probe.request(Method::POST, "/live", Some("application/json"), Bytes::from("[]")).await;
        assert_eq!(moved.status, StatusCode::NOT_FOUND, "nothing is served at the default mount");
        create(probe, "mounted").await;
        let data = next_event(probe, "/events", &id).await;
        assert_eq!(data["body"]["title"], json!("mounted"));
    }
}
