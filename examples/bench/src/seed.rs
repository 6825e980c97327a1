//! Start-up chores shared by both modes, so that both start from the same database: an empty
//! one on `--fresh`, and the same seed rows on `--seed`.
//!
//! Seeding uses its own short-lived connection and plain SQL in one transaction, the same in both
//! modes: rows get version 1 and no event-log entries (the seed is set-up, not measured work).

use std::error::Error;
use std::str::FromStr;

use live_runtime::LiveResource;
use sqlx::Connection;
use sqlx::postgres::PgConnection;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};

use crate::Backend;
use crate::todo::Todo;

/// Every table either mode creates, dropped on `--fresh` for PostgreSQL.
const TABLES: &str = r#"DROP TABLE IF EXISTS "todos", "live_events""#;

/// Deletes the SQLite file (with its WAL and shared-memory files) or drops the PostgreSQL tables.
pub(crate) async fn wipe(backend: Backend, url: &str) -> Result<(), Box<dyn Error>> {
    match backend {
        Backend::Sqlite => {
            let options = SqliteConnectOptions::from_str(url)?;
            let file = options.get_filename().to_string_lossy().into_owned();
            for suffix in ["", "-wal", "-shm"] {
                match std::fs::remove_file(format!("{file}{suffix}")) {
                    Err(error) if error.kind() != std::io::ErrorKind::NotFound => return Err(error.into()),
                    _ => {}
                }
            }
        }
        Backend::Postgres => {
            let mut connection = PgConnection::connect(url).await?;
            sqlx::query(TABLES).execute(&mut connection).await?;
            connection.close().await?;
        }
    }
    Ok(())
}

/// The title, completion and order of seed row `i` (1-based), as the Feathers server seeds them.
fn seed_row(i: u32) -> (String, bool, i64) {
    (format!("seed todo number {i}"), i.is_multiple_of(3), i64::from(i))
}

/// Inserts `rows` seed rows when the table is empty; answers how many rows the table holds.
pub(crate) async fn seed(backend: Backend, url: &str, rows: u32) -> Result<i64, Box<dyn Error>> {
    let version = Todo::DESCRIPTOR.version_column();
    let count = r#"SELECT COUNT(*) FROM "todos""#;
    match backend {
        Backend::Sqlite => {
            let mut connection = SqliteConnection::connect_with(&SqliteConnectOptions::from_str(url)?).await?;
            let existing: i64 = sqlx::query_scalar(count).fetch_one(&mut connection).await?;
            if existing == 0 && rows > 0 {
                let insert =
                    format!(r#"INSERT INTO "todos" ("title", "completed", "order", "{version}") VALUES (?, ?, ?, 1)"#);
                let mut tx = connection.begin().await?;
                for i in 1..=rows {
                    let (title, completed, order) = seed_row(i);
                    sqlx::query(&insert).bind(title).bind(completed).bind(order).execute(&mut *tx).await?;
                }
                tx.commit().await?;
            }
            let total = sqlx::query_scalar(count).fetch_one(&mut connection).await?;
            connection.close().await?;
            Ok(total)
        }
        Backend::Postgres => {
            let mut connection = PgConnection::connect(url).await?;
            let existing: i64 = sqlx::query_scalar(count).fetch_one(&mut connection).await?;
            if existing == 0 && rows > 0 {
                let insert = format!(
                    r#"INSERT INTO "todos" ("title", "completed", "order", "{version}") VALUES ($1, $2, $3, 1)"#
                );
                let mut tx = connection.begin().await?;
                for i in 1..=rows {
                    let (title, completed, order) = seed_row(i);
                    sqlx::query(&insert).bind(title).bind(completed).bind(order).execute(&mut *tx).await?;
                }
                tx.commit().await?;
            }
            let total = sqlx::query_scalar(count).fetch_one(&mut connection).await?;
            connection.close().await?;
            Ok(total)
        }
    }
}
