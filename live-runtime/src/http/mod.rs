//! REST routes for a resource: generic handlers over `R: LiveResource` (docs/rest.md).
//!
//! This module owns HTTP: it turns requests into store calls and store results into responses.
//! It knows nothing of SQL. The contract is documented in `docs/rest.md`.
//!
//! Each resource gets two routes, `P` and `P/{id}`, each served by one handler that dispatches
//! on the method itself. Doing the dispatch here rather than in axum's method router lets a
//! `POST` stand for another method (Backbone's `emulateHTTP`, which may name it in the form
//! body), and keeps `405`, `OPTIONS` and `Allow` in step with the verbs a resource enables.

mod body;
mod error;
mod handlers;
mod headers;
pub(crate) mod query;

pub use error::ApiError;
pub use headers::{MAX_REQUEST_ID, REQUEST_ID};

use std::sync::Arc;

use axum::Router;
use axum::routing::any;
use http::HeaderValue;

use crate::resource::LiveResource;
use crate::store::{Records, Store};

/// The default most bytes of a request body: 1 MiB.
pub const DEFAULT_BODY_LIMIT: usize = 1 << 20;

/// The default page size of a list, and the largest `limit` accepted.
pub const DEFAULT_MAX_LIMIT: u64 = 1000;

/// Settings of a resource's REST routes, for [`routes_with`].
///
/// ```
/// use live_runtime::http::RestOptions;
///
/// let options = RestOptions::default().with_body_limit(64 * 1024).read_only();
/// assert!(!options.allow_delete);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RestOptions {
    /// Most bytes of a request body; a larger one is answered `413`.
    pub body_limit: usize,
    /// The page size when a list names no `limit`, and the largest `limit` accepted.
    pub max_limit: u64,
    /// Serve `POST P` (create).
    pub allow_post: bool,
    /// Serve `PUT P/{id}` (replace).
    pub allow_put: bool,
    /// Serve `PATCH P/{id}` (merge).
    pub allow_patch: bool,
    /// Serve `DELETE P/{id}`.
    pub allow_delete: bool,
}

impl Default for RestOptions {
    fn default() -> Self {
        RestOptions {
            body_limit: DEFAULT_BODY_LIMIT,
            max_limit: DEFAULT_MAX_LIMIT,
            allow_post: true,
            allow_put: true,
            allow_patch: true,
            allow_delete: true,
        }
    }
}

impl RestOptions {
    /// The same options with another body limit in bytes.
    pub fn with_body_limit(mut self, bytes: usize) -> Self {
        self.body_limit = bytes;
        self
    }

    /// The same options with another page size limit.
    pub fn with_max_limit(mut self, rows: u64) -> Self {
        self.max_limit = rows;
        self
    }

    /// The same options with every write disabled: writes answer `405`.
    pub fn read_only(mut self) -> Self {
        self.allow_post = false;
        self.allow_put = false;
        self.allow_patch = false;
        self.allow_delete = false;
        self
    }

    fn allow_collection(&self) -> HeaderValue {
        allow_header(&[("GET", true), ("HEAD", true), ("POST", self.allow_post), ("OPTIONS", true)])
    }

    fn allow_member(&self) -> HeaderValue {
        allow_header(&[
            ("GET", true),
            ("HEAD", true),
            ("PUT", self.allow_put),
            ("PATCH", self.allow_patch),
            ("DELETE", self.allow_delete),
            ("OPTIONS", true),
        ])
    }
}

fn allow_header(methods: &[(&str, bool)]) -> HeaderValue {
    let list: Vec<&str> = methods.iter().filter(|(_, on)| *on).map(|(name, _)| *name).collect();
    // Method names are header-safe tokens.
    HeaderValue::try_from(list.join(", ")).unwrap_or_else(|_| HeaderValue::from_static("GET, HEAD, OPTIONS"))
}

/// What every handler of one resource shares: built once per router, not per request.
#[derive(Debug)]
struct Context<R> {
    records: Records<R>,
    options: RestOptions,
    allow_collection: HeaderValue,
    allow_member: HeaderValue,
}

/// The REST routes of `R` at its descriptor's path, backed by `store`, with default options.
pub fn routes<R: LiveResource>(store: Store) -> Router {
    routes_with::<R>(store, RestOptions::default())
}

/// The REST routes of `R` at its descriptor's path, backed by `store`.
///
/// Serves `P` (list, create) and `P/{id}` (get, replace, merge, delete) where `P` is
/// `R::DESCRIPTOR.path`; for a nested path such as `/api/rooms/{room_id}/messages`, each partition
/// at its concrete path (docs/rest.md, "Nested resources"). The router has no fallback, so it can
/// be merged with others.
pub fn routes_with<R: LiveResource>(store: Store, options: RestOptions) -> Router {
    let path = R::DESCRIPTOR.path.trim_end_matches('/');
    let context = Arc::new(Context {
        records: store.records::<R>(),
        allow_collection: options.allow_collection(),
        allow_member: options.allow_member(),
        options,
    });
    // The id's parameter takes a name no key of a nested path has; handlers read parameters by
    // position.
    let mut id = String::from("id");
    while path.contains(&format!("{{{id}}}")) {
        id.insert(0, '_');
    }
    Router::new()
        .route(path, any(handlers::collection::<R>))
        .route(&format!("{path}/{{{id}}}"), any(handlers::member::<R>))
        .with_state(context)
}
