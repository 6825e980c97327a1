//! Hand-written todo routes on SQLite.
//!
//! The SQL text, the transaction steps (`BEGIN IMMEDIATE` in a task of its own, row change,
//! event append, `COMMIT`) and the pools (reads on a pool, writes on one connection of their own)
//! are the store's for the same requests; keep them in step with
//! `live-runtime/src/store/`, since that equivalence is what the benchmark compares.

use std::error::Error;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Json, Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use chrono::SubsecRound;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{Row, Sqlite, Transaction};

use super::{
    ACQUIRE_TIMEOUT, Bell, Committed, ListParams, NewTodo, PATH, Refusal, TodoPatch, created, json_with_etag, page,
};
use crate::todo::{Todo, validate_todo};

// The store's DDL for `Todo` (`live-runtime/src/store/sql.rs`), byte for byte.
const CREATE_TODOS: &str = r#"CREATE TABLE IF NOT EXISTS "todos" ("id" INTEGER PRIMARY KEY AUTOINCREMENT, "title" TEXT NOT NULL, "completed" INTEGER NOT NULL, "order" INTEGER NOT NULL, "_version" INTEGER NOT NULL)"#;
const CREATE_EVENTS: &str = "CREATE TABLE IF NOT EXISTS live_events (seq INTEGER PRIMARY KEY AUTOINCREMENT, channel TEXT NOT NULL, method TEXT NOT NULL, body TEXT NOT NULL, version INTEGER NOT NULL, origin TEXT, at TEXT NOT NULL)";
const CREATE_EVENTS_INDEX: &str = "CREATE INDEX IF NOT EXISTS live_events_channel_seq ON live_events (channel, seq)";

// The statements the store issues for these requests, byte for byte.
const SELECT_ONE: &str = r#"SELECT "id", "title", "completed", "order", "_version" FROM "todos" WHERE "id" = ?"#;
const SELECT_PAGE: &str =
    r#"SELECT "id", "title", "completed", "order", "_version" FROM "todos" ORDER BY "id" LIMIT ?"#;
const SELECT_PAGE_AFTER: &str =
    r#"SELECT "id", "title", "completed", "order", "_version" FROM "todos" ORDER BY "id" LIMIT ? OFFSET ?"#;
const INSERT: &str = r#"INSERT INTO "todos" ("title", "completed", "order", "_version") VALUES (?, ?, ?, ?) RETURNING "id", "title", "completed", "order", "_version""#;
const UPDATE: &str = r#"UPDATE "todos" SET "title" = ?, "completed" = ?, "order" = ?, "_version" = ? WHERE "id" = ? RETURNING "id", "title", "completed", "order", "_version""#;
const APPEND_EVENT: &str =
    "INSERT INTO live_events (channel, method, body, version, origin, at) VALUES (?, ?, ?, ?, ?, ?) RETURNING seq";

/// What every handler needs.
#[derive(Clone)]
struct AppState {
    /// Reads: the pool of `max_connections`.
    reads: SqlitePool,
    /// Writes: one connection of their own, so writers queue here instead of in SQLite's busy
    /// handler (as the store does).
    writes: SqlitePool,
    bell: Arc<Bell>,
}

/// Opens the pool with the store's settings, creates the tables, and returns the routes.
pub(super) async fn router(url: &str, max_connections: u32) -> Result<Router, Box<dyn Error>> {
    let options = SqliteConnectOptions::from_str(url)?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(5))
        .pragma("case_sensitive_like", "ON");
    let open = |connections: u32| {
        SqlitePoolOptions::new()
            .max_connections(connections)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .test_before_acquire(false)
            .connect_with(options.clone())
    };
    // The writes pool opens first, so that it creates the file and switches it to WAL.
    let writes = open(1).await?;
    let reads = open(max_connections).await?;
    // In the store's order: the event log on connect, then the resource's table.
    sqlx::query(CREATE_EVENTS).persistent(false).execute(&writes).await?;
    sqlx::query(CREATE_EVENTS_INDEX).persistent(false).execute(&writes).await?;
    sqlx::query(CREATE_TODOS).persistent(false).execute(&writes).await?;
    let state = AppState { reads, writes, bell: Bell::new() };
    Ok(Router::new()
        .route(PATH, get(list).post(create))
        .route(&format!("{PATH}/{{id}}"), get(get_one).patch(patch))
        .with_state(state))
}

/// `BEGIN IMMEDIATE` in a task of its own, as the store does, so that a client that goes away
/// cannot interrupt it after the `BEGIN` ran but before the transaction exists.
async fn begin_write(pool: &SqlitePool) -> Result<Transaction<'static, Sqlite>, Refusal> {
    let pool = pool.clone();
    match tokio::spawn(async move { pool.begin_with("BEGIN IMMEDIATE").await }).await {
        Ok(begun) => Ok(begun?),
        Err(error) => Err(Refusal::Internal(error.to_string())),
    }
}

/// The event time as the store writes it on SQLite: microseconds, RFC 3339 UTC with six
/// fractional digits.
fn now() -> String {
    chrono::Utc::now().trunc_subsecs(6).format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

fn decode(row: &SqliteRow) -> Result<(Todo, i64), sqlx::Error> {
    let todo = Todo { id: row.try_get(0)?, title: row.try_get(1)?, completed: row.try_get(2)?, order: row.try_get(3)? };
    Ok((todo, row.try_get(4)?))
}

/// Appends the change to the event log, commits, and rings the bell, under the bell's order
/// lock: the store's `commit` step.
async fn commit(
    mut tx: Transaction<'static, Sqlite>,
    bell: &Bell,
    method: &'static str,
    body: &str,
    version: i64,
) -> Result<(), Refusal> {
    let _order = bell.order.lock().await;
    let seq: i64 = sqlx::query_scalar(APPEND_EVENT)
        .bind(PATH)
        .bind(method)
        .bind(body)
        .bind(version)
        .bind(None::<&str>)
        .bind(now())
        .fetch_one(&mut *tx)
        .await?;
    tx.commit().await?;
    bell.ring(Committed { seq, method, body: body.to_owned(), version });
    Ok(())
}

async fn get_one(State(state): State<AppState>, Path(id): Path<String>) -> Result<Response, Refusal> {
    let id: i64 = id.parse().map_err(|_| Refusal::NotFound)?;
    let row = sqlx::query(SELECT_ONE).bind(id).fetch_optional(&state.reads).await?;
    let (todo, version) = decode(&row.ok_or(Refusal::NotFound)?)?;
    let body = serde_json::to_string(&todo)?;
    Ok(json_with_etag(StatusCode::OK, version, body))
}

async fn list(State(state): State<AppState>, Query(params): Query<ListParams>) -> Result<Response, Refusal> {
    let limit = params.limit()?;
    let rows = if params.offset == 0 {
        sqlx::query(SELECT_PAGE).bind(limit).fetch_all(&state.reads).await
    } else {
        sqlx::query(SELECT_PAGE_AFTER).bind(limit).bind(params.offset).fetch_all(&state.reads).await
    };
    let todos = rows?.iter().map(|row| decode(row).map(|(todo, _)| todo)).collect::<Result<Vec<_>, _>>()?;
    page(&todos, &params, limit)
}

async fn create(State(state): State<AppState>, Json(new): Json<NewTodo>) -> Result<Response, Refusal> {
    let new = new.validated()?;
    let mut tx = begin_write(&state.writes).await?;
    let row = sqlx::query(INSERT)
        .bind(&new.title)
        .bind(new.completed)
        .bind(new.order)
        .bind(1_i64)
        .fetch_one(&mut *tx)
        .await?;
    let (todo, version) = decode(&row)?;
    let body = serde_json::to_string(&todo)?;
    commit(tx, &state.bell, "POST", &body, version).await?;
    Ok(created(&todo, version, body))
}

async fn patch(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Json(change): Json<TodoPatch>,
) -> Result<Response, Refusal> {
    let id: i64 = id.parse().map_err(|_| Refusal::NotFound)?;
    let mut tx = begin_write(&state.writes).await?;
    let row = sqlx::query(SELECT_ONE).bind(id).fetch_optional(&mut *tx).await?;
    let (current, version) = decode(&row.ok_or(Refusal::NotFound)?)?;
    let next = change.apply(current)?;
    validate_todo(&next).map_err(Refusal::Invalid)?;
    let row = sqlx::query(UPDATE)
        .bind(&next.title)
        .bind(next.completed)
        .bind(next.order)
        .bind(version + 1)
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
    let (todo, version) = decode(&row)?;
    let body = serde_json::to_string(&todo)?;
    commit(tx, &state.bell, "PATCH", &body, version).await?;
    Ok(json_with_etag(StatusCode::OK, version, body))
}
