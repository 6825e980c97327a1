//! The baseline: axum + sqlx handlers written by hand for [`Todo`] alone.
//!
//! They do what a developer would write for this one struct (typed extractors, typed rows, no
//! descriptor, no dynamic values) but issue exactly the SQL the store issues for the same request,
//! in the same transaction steps, on a pool with the same settings, append the same event-log row,
//! ring the same in-process commit bell, and answer the same status, headers and JSON. Whatever
//! the generated routes spend beyond this is the price of being generic.
//!
//! One module per database, as a hand-written server would target one: [`sqlite`] and
//! [`postgres`]. What they share (request and response shapes) is here.

mod postgres;
mod sqlite;

use std::error::Error;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use live_runtime::ValidationErrors;
use serde::{Deserialize, Serialize};
use tokio::sync::{Mutex, broadcast};

use crate::Backend;
use crate::todo::{Todo, validate_todo};

/// The REST base path, which is also the event channel.
const PATH: &str = "/api/todos";

/// The store's default pool size and wait for a free connection.
pub(crate) const MAX_CONNECTIONS: u32 = 8;
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// Builds the hand-written routes over a pool to `url`, creating the tables when missing.
pub(crate) async fn router(backend: Backend, url: &str, max_connections: u32) -> Result<Router, Box<dyn Error>> {
    match backend {
        Backend::Sqlite => sqlite::router(url, max_connections).await,
        Backend::Postgres => postgres::router(url, max_connections).await,
    }
}

/// A `POST` body. The id is accepted and ignored, as the generated routes do (Backbone sends
/// the whole model); anything else unknown is refused.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewTodo {
    #[serde(default, rename = "id")]
    _id: Option<serde::de::IgnoredAny>,
    title: String,
    #[serde(default)]
    completed: bool,
    #[serde(default)]
    order: i64,
}

impl NewTodo {
    /// The todo to insert (its id is the store's to assign), checked by the example's rule.
    fn validated(self) -> Result<Todo, Refusal> {
        let todo = Todo { id: 0, title: self.title, completed: self.completed, order: self.order };
        validate_todo(&todo).map_err(Refusal::Invalid)?;
        Ok(todo)
    }
}

/// A `PATCH` body: the fields to change.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TodoPatch {
    id: Option<i64>,
    title: Option<String>,
    completed: Option<bool>,
    order: Option<i64>,
}

impl TodoPatch {
    /// The current row with the patch applied; an id in the body must be the row's.
    fn apply(self, mut todo: Todo) -> Result<Todo, Refusal> {
        if self.id.is_some_and(|id| id != todo.id) {
            let mut errors = ValidationErrors::new();
            errors.add("id", "does not match the id in the URL");
            return Err(Refusal::Invalid(errors));
        }
        if let Some(title) = self.title {
            todo.title = title;
        }
        if let Some(completed) = self.completed {
            todo.completed = completed;
        }
        if let Some(order) = self.order {
            todo.order = order;
        }
        Ok(todo)
    }
}

/// The in-process commit bell, as the store has it: a broadcast of committed changes (sent
/// only when someone listens) and the lock that keeps appends, commits and sends of this
/// process in seq order.
struct Bell {
    sender: broadcast::Sender<Committed>,
    order: Mutex<()>,
}

/// A committed change, as the bell announces it.
#[derive(Clone, Debug)]
#[allow(dead_code)] // Read by subscribers, of which the benchmark has none.
struct Committed {
    seq: i64,
    method: &'static str,
    body: String,
    version: i64,
}

impl Bell {
    fn new() -> Arc<Bell> {
        // The store's capacity (`COMMIT_CHANNEL_CAPACITY`).
        let (sender, _) = broadcast::channel(1024);
        Arc::new(Bell { sender, order: Mutex::new(()) })
    }

    fn ring(&self, committed: Committed) {
        if self.sender.receiver_count() > 0 {
            let _ = self.sender.send(committed);
        }
    }
}

/// Page size when a list names no `limit`, and the largest `limit` accepted (the REST default).
const MAX_LIMIT: i64 = 1000;

/// The list query this benchmark sends (`?limit=20`), plus `offset`.
#[derive(Debug, Deserialize)]
struct ListParams {
    limit: Option<i64>,
    #[serde(default)]
    offset: i64,
}

impl ListParams {
    /// The page size in force: the `limit` given, else the maximum.
    fn limit(&self) -> Result<i64, Refusal> {
        match self.limit {
            _ if self.offset < 0 => Err(Refusal::BadQuery("offset must not be negative")),
            None => Ok(MAX_LIMIT),
            Some(limit) if (0..=MAX_LIMIT).contains(&limit) => Ok(limit),
            Some(_) => Err(Refusal::BadQuery("limit must be 0..=1000")),
        }
    }
}

/// Why a request is refused; answered in the error shape of the generated routes,
/// `{"error": {"code": ..., "message": ..., "fields": ...}}`.
#[derive(Debug)]
enum Refusal {
    NotFound,
    BadQuery(&'static str),
    Invalid(ValidationErrors),
    Internal(String),
}

impl From<sqlx::Error> for Refusal {
    fn from(cause: sqlx::Error) -> Self {
        Refusal::Internal(cause.to_string())
    }
}

impl From<serde_json::Error> for Refusal {
    fn from(cause: serde_json::Error) -> Self {
        Refusal::Internal(cause.to_string())
    }
}

/// The error shape of the generated routes.
#[derive(Serialize)]
struct ErrorBody<'a> {
    error: ErrorDetail<'a>,
}

#[derive(Serialize)]
struct ErrorDetail<'a> {
    code: &'a str,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    fields: Option<&'a ValidationErrors>,
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let (status, code, message, fields) = match &self {
            Refusal::NotFound => (StatusCode::NOT_FOUND, "not_found", "not found".to_owned(), None),
            Refusal::BadQuery(message) => (StatusCode::BAD_REQUEST, "invalid_query", (*message).to_owned(), None),
            Refusal::Invalid(errors) => {
                (StatusCode::UNPROCESSABLE_ENTITY, "validation", format!("invalid value: {errors}"), Some(errors))
            }
            Refusal::Internal(cause) => {
                eprintln!("internal error: {cause}");
                (StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error".to_owned(), None)
            }
        };
        let body = ErrorBody { error: ErrorDetail { code, message: &message, fields } };
        (status, axum::Json(body)).into_response()
    }
}

/// A JSON answer with the row's version as its strong `ETag`.
fn json_with_etag(status: StatusCode, version: i64, body: String) -> Response {
    let etag = HeaderValue::from_str(&format!("\"{version}\"")).unwrap_or(HeaderValue::from_static("\"0\""));
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(header::ETAG, etag);
    response
}

/// `201 Created` with `Location`, `ETag` and the stored todo.
fn created(todo: &Todo, version: i64, body: String) -> Response {
    let mut response = json_with_etag(StatusCode::CREATED, version, body);
    if let Ok(location) = HeaderValue::from_str(&format!("{PATH}/{}", todo.id)) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}

/// `200` with the page of todos, `Content-Range` and `Link`s to the next page (after a full
/// one) and the previous one (after an offset).
fn page(todos: &[Todo], params: &ListParams, limit: i64) -> Result<Response, Refusal> {
    let body = serde_json::to_string(todos)?;
    let mut response = (StatusCode::OK, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    let offset = params.offset;
    let range = if todos.is_empty() {
        if offset == 0 { "*/0".to_owned() } else { "*/*".to_owned() }
    } else {
        format!("{offset}-{}/*", offset + todos.len() as i64 - 1)
    };
    if let Ok(range) = HeaderValue::from_str(&range) {
        headers.insert(header::CONTENT_RANGE, range);
    }
    let mut links = Vec::new();
    if limit > 0 && todos.len() as i64 >= limit {
        links.push(format!("<{PATH}?limit={limit}&offset={}>; rel=\"next\"", offset + limit));
    }
    if offset > 0 {
        links.push(format!("<{PATH}?limit={limit}&offset={}>; rel=\"prev\"", (offset - limit).max(0)));
    }
    if !links.is_empty()
        && let Ok(links) = HeaderValue::from_str(&links.join(", "))
    {
        headers.insert(header::LINK, links);
    }
    Ok(response)
}
