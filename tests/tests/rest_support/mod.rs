//! What the REST suites share: a router over the fixture resources on an isolated store, a way
//! to call it without sockets, and checks of the one error shape.

#![allow(dead_code, unreachable_pub)]

use axum::Router;
use axum::body::Body;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::BodyExt;
use live_runtime::LiveResource;
use live_runtime::http::{RestOptions, routes, routes_with};
use live_tests::{Backend, Doc, Kitchen, Note, TestStore, fixture_store};
use serde_json::{Value as Json, json};
use tower::ServiceExt;

/// Runs each named `async fn(Backend)` once on SQLite and once on PostgreSQL, as two tests
/// named `<name>::sqlite` and `<name>::postgres`.
///
/// The runtime has worker threads because the test database is dropped synchronously: a pool
/// connection whose transaction was abandoned (a write refused with 404) is rolled back by a task
/// of the runtime, and until it runs its locks would keep `DROP SCHEMA` waiting for ever.
#[macro_export]
macro_rules! on_every_backend {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name(live_tests::Backend::Sqlite).await
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    super::$name(live_tests::Backend::Postgres).await
                }
            }
        )*
    };
}

/// The fixture resources served over one isolated store.
pub struct Api {
    /// The routes of [`Note`], [`Doc`] and [`Kitchen`].
    pub router: Router,
    /// The store behind them.
    pub store: TestStore,
}

/// Every fixture resource with default options.
pub async fn api(backend: Backend) -> Api {
    let store = fixture_store(backend).await;
    let router = Router::new()
        .merge(routes::<Note>(store.store.clone()))
        .merge(routes::<Doc>(store.store.clone()))
        .merge(routes::<Kitchen>(store.store.clone()));
    Api { router, store }
}

/// [`Note`] alone, with `options`.
pub async fn notes_with(backend: Backend, options: RestOptions) -> Api {
    let store = fixture_store(backend).await;
    let router = routes_with::<Note>(store.store.clone(), options);
    Api { router, store }
}

/// An answer, read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub bytes: Vec<u8>,
}

impl Reply {
    /// The body as JSON; fails the test when it is not.
    pub fn json(&self) -> Json {
        serde_json::from_slice(&self.bytes)
            .unwrap_or_else(|error| panic!("not JSON ({error}): {:?}", String::from_utf8_lossy(&self.bytes)))
    }

    /// A header as text; fails the test when it is missing.
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .unwrap_or_else(|| panic!("no {name} header in {:?}", self.headers))
            .to_str()
            .expect("a text header")
    }

    /// Asserts the status and the error shape, and returns the `error` object.
    pub fn error(&self, status: StatusCode, code: &str) -> Json {
        assert_eq!(self.status, status, "body: {}", String::from_utf8_lossy(&self.bytes));
        assert_eq!(self.header("content-type"), "application/json");
        let body = self.json();
        let object = body.as_object().expect("an error body is an object");
        assert_eq!(object.len(), 1, "only `error` at the top: {body}");
        let error = &body["error"];
        assert_eq!(error["code"], code, "{body}");
        assert!(error["message"].as_str().is_some_and(|message| !message.is_empty()), "{body}");
        for key in error.as_object().expect("`error` is an object").keys() {
            assert!(["code", "message", "fields"].contains(&key.as_str()), "unexpected key {key} in {body}");
        }
        if let Some(fields) = error.get("fields") {
            let fields = fields.as_object().expect("`fields` is an object");
            assert!(!fields.is_empty() && fields.values().all(Json::is_string), "{body}");
        }
        error.clone()
    }
}

impl Api {
    /// Sends a request through the router.
    pub async fn send(&self, request: Request<Body>) -> Reply {
        let response = self.router.clone().oneshot(request).await.expect("the router is infallible");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.expect("read the body").to_bytes().to_vec();
        Reply { status, headers, bytes }
    }

    /// A request without a body.
    pub async fn call(&self, method: Method, uri: &str) -> Reply {
        self.send(Request::builder().method(method).uri(uri).body(Body::empty()).expect("request")).await
    }

    /// `GET uri`.
    pub async fn get(&self, uri: &str) -> Reply {
        self.call(Method::GET, uri).await
    }

    /// A request with a JSON body.
    pub async fn json(&self, method: Method, uri: &str, body: &Json) -> Reply {
        self.send(json_request(method, uri, body)).await
    }

    /// Creates a note with this title and rank; returns it as stored.
    pub async fn note(&self, title: &str, rank: i32) -> Json {
        let reply = self.json(Method::POST, "/api/notes", &json!({"title": title, "rank": rank})).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", String::from_utf8_lossy(&reply.bytes));
        reply.json()
    }

    /// Every row of `R`, straight from the store, to check that a refused request changed
    /// nothing.
    pub async fn rows<R: LiveResource>(&self) -> Vec<(R, i64)> {
        let query = live_runtime::store::ListQuery::default();
        let rows = self.store.records::<R>().list(&query).await.expect("list the table");
        rows.into_iter().map(|stored| (stored.value, stored.version)).collect()
    }
}

/// A request with a JSON body.
pub fn json_request(method: Method, uri: &str, body: &Json) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .expect("request")
}

/// A request with a raw body and content type.
pub fn raw_request(method: Method, uri: &str, content_type: &str, body: impl Into<Body>) -> Request<Body> {
    Request::builder().method(method).uri(uri).header("content-type", content_type).body(body.into()).expect("request")
}

impl Api {
    /// Sends a request that must be refused with `status` and `code`, and checks that no table
    /// changed; returns the `error` object.
    pub async fn refused(&self, request: Request<Body>, status: StatusCode, code: &str) -> Json {
        let what = format!("{} {}", request.method(), request.uri());
        let notes = self.rows::<Note>().await;
        let docs = self.rows::<Doc>().await;
        let kitchen = self.rows::<Kitchen>().await;
        let seqs = self.last_seqs().await;
        let reply = self.send(request).await;
        let error = reply.error(status, code);
        assert_eq!(self.rows::<Note>().await, notes, "{what} changed the notes");
        assert_eq!(self.rows::<Doc>().await, docs, "{what} changed the docs");
        assert_eq!(self.rows::<Kitchen>().await, kitchen, "{what} changed the kitchen");
        assert_eq!(self.last_seqs().await, seqs, "{what} logged an event");
        error
    }

    /// The last logged seq of each fixture's channel.
    pub async fn last_seqs(&self) -> [i64; 3] {
        let mut seqs = [0; 3];
        for (seq, channel) in
            seqs.iter_mut().zip([Note::DESCRIPTOR.path, Doc::DESCRIPTOR.path, Kitchen::DESCRIPTOR.path])
        {
            *seq = self.store.last_seq(channel).await.expect("read the event log");
        }
        seqs
    }

    /// Every logged event of `R`'s channel, oldest first.
    pub async fn events<R: LiveResource>(&self) -> Vec<live_runtime::Change> {
        self.store.events_after(R::DESCRIPTOR.path, 0, 1000).await.expect("read the event log")
    }
}
