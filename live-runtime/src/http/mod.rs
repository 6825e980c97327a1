//! REST routes for a resource: generic handlers over `R: LiveResource` (design §3).
//!
//! This module owns HTTP: it turns requests into store calls and store results into responses.
//! It knows nothing of SQL.

use axum::Router;

use crate::resource::LiveResource;
use crate::store::Store;

/// The REST routes of `R` at its descriptor's path, backed by `store`.
pub fn routes<R: LiveResource>(store: Store) -> Router {
    let _ = store;
    Router::new()
}
