//! SQLite: connection settings, and how values are bound and decoded.
//!
//! Storage classes: booleans and integers are `INTEGER`, floats `REAL`, bytes `BLOB`; UUIDs are
//! hyphenated lower-case `TEXT`, timestamps RFC 3339 UTC `TEXT` with six fractional digits, naive
//! timestamps the same without the `Z`, dates `YYYY-MM-DD` (all fixed-width for years 0 to 9999,
//! so text order is time order), JSON is its text and an enum its variant's name.

use std::future::Future;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous};
use sqlx::{Pool, Row as _, Sqlite, SqliteConnection, SqlitePool, Transaction};
use uuid::fmt::Hyphenated;

use super::driver::{Dialect, Driver, Query, TableColumn};
use super::{StoreError, StoreOptions, classify};
use crate::value::{SqlType, Value};

/// How long a writer waits for another's write transaction before giving up with
/// [`StoreError::Unavailable`].
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Opens the pools on `url` (`sqlite:file.db`, `sqlite://file.db`, `sqlite::memory:`): one for
/// reads and one of a single connection for writes (the same pool for an in-memory database).
pub(crate) async fn connect(url: &str, options: &StoreOptions) -> Result<(SqlitePool, SqlitePool), StoreError> {
    let connect = SqliteConnectOptions::from_str(url)
        .map_err(|error| StoreError::Unsupported(format!("SQLite URL {url:?}: {error}")))?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .foreign_keys(true)
        .busy_timeout(BUSY_TIMEOUT)
        // LIKE then matches case as on PostgreSQL; ILIKE is lower() on both sides.
        .pragma("case_sensitive_like", "ON");
    let in_memory = url.contains(":memory:") || url.contains("mode=memory");
    if in_memory {
        // Every in-memory connection is its own database, so there must be exactly one, and it
        // must never be closed for idleness or age, or the data goes with it.
        let pool = SqlitePoolOptions::new().max_connections(1).min_connections(1).idle_timeout(None).max_lifetime(None);
        let pool = open(pool, connect, options).await?;
        return Ok((pool.clone(), pool));
    }
    // The writes pool opens first, so that it is the one that creates the file and switches it
    // to WAL.
    let writes = open(SqlitePoolOptions::new().max_connections(1), connect.clone(), options).await?;
    let reads =
        open(SqlitePoolOptions::new().max_connections(options.max_connections.max(1)), connect, options).await?;
    Ok((reads, writes))
}

async fn open(
    pool: SqlitePoolOptions,
    connect: SqliteConnectOptions,
    options: &StoreOptions,
) -> Result<SqlitePool, StoreError> {
    pool.acquire_timeout(options.acquire_timeout)
        .test_before_acquire(false)
        .connect_with(connect)
        .await
        .map_err(classify)
}

/// The columns of `table` (empty when there is no such table).
pub(crate) async fn table_columns(pool: &SqlitePool, table: &str) -> Result<Vec<TableColumn>, StoreError> {
    let rows = sqlx::query("SELECT name, type, \"notnull\", dflt_value IS NOT NULL, pk FROM pragma_table_info(?)")
        .bind(table)
        .fetch_all(pool)
        .await
        .map_err(classify)?;
    rows.iter()
        .map(|row| {
            Ok(TableColumn {
                name: row.try_get(0)?,
                declared: row.try_get(1)?,
                not_null: row.try_get(2)?,
                has_default: row.try_get(3)?,
                primary_key: row.try_get::<i64, _>(4)? > 0,
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(classify)
}

/// Runs DDL statements.
pub(crate) async fn execute(pool: &SqlitePool, statements: &[&str]) -> Result<(), StoreError> {
    for statement in statements {
        sqlx::query(statement).persistent(false).execute(pool).await.map_err(classify)?;
    }
    Ok(())
}

/// The column type a table is created with.
pub(crate) fn ddl_type(ty: SqlType) -> &'static str {
    storage(ty).1
}

/// Whether a column declared as `declared` (lower case) holds `ty` values without conversion:
/// its affinity is the one `ty` is created with, or, for a bool, numeric.
pub(crate) fn fits(ty: SqlType, declared: &str) -> bool {
    let found = Affinity::of(declared);
    match storage(ty).0 {
        Affinity::Integer if ty == SqlType::Bool => matches!(found, Affinity::Integer | Affinity::Numeric),
        wanted => found == wanted,
    }
}

/// The affinity a `ty` column needs, and the declared type it is created with.
fn storage(ty: SqlType) -> (Affinity, &'static str) {
    match ty {
        SqlType::Bool | SqlType::I16 | SqlType::I32 | SqlType::I64 => (Affinity::Integer, "INTEGER"),
        SqlType::F32 | SqlType::F64 => (Affinity::Real, "REAL"),
        // Text is readable in the sqlite3 shell, and dates and timestamps are written
        // fixed-width, so they sort as text in time order. Numeric affinity would turn text that
        // looks like a number into one.
        SqlType::Text
        | SqlType::Uuid
        | SqlType::Timestamp
        | SqlType::Date
        | SqlType::NaiveTimestamp
        | SqlType::Json
        | SqlType::Enum(_) => (Affinity::Text, "TEXT"),
        SqlType::Bytes => (Affinity::Blob, "BLOB"),
    }
}

/// How SQLite converts what a column receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Affinity {
    Integer,
    Text,
    Blob,
    Real,
    Numeric,
}

impl Affinity {
    /// The affinity of a column declared as `declared` (lower case), by the rules of
    /// sqlite.org/datatype3.html §3.1.
    fn of(declared: &str) -> Affinity {
        if declared.contains("int") {
            Affinity::Integer
        } else if declared.contains("char") || declared.contains("clob") || declared.contains("text") {
            Affinity::Text
        } else if declared.contains("blob") || declared.is_empty() {
            Affinity::Blob
        } else if declared.contains("real") || declared.contains("floa") || declared.contains("doub") {
            Affinity::Real
        } else {
            Affinity::Numeric
        }
    }
}

/// A timestamp as stored: RFC 3339 in UTC with exactly six fractional digits, so that text order
/// is time order and precision matches PostgreSQL's microseconds.
fn timestamp_text(at: &DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// A naive timestamp as stored: as [`timestamp_text`], without the zone.
fn naive_timestamp_text(at: &NaiveDateTime) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.6f").to_string()
}

/// A date as stored: `YYYY-MM-DD`.
fn date_text(date: &NaiveDate) -> String {
    date.format("%Y-%m-%d").to_string()
}

/// The SQLite driver.
#[derive(Debug)]
pub(crate) struct SqliteDriver;

impl Driver for SqliteDriver {
    type DB = Sqlite;
    const DIALECT: Dialect = Dialect::Sqlite;

    fn bind<'q>(query: Query<'q, Sqlite>, value: &'q Value, ty: SqlType) -> Query<'q, Sqlite> {
        // SQLite columns are dynamically typed, so every value binds by its own kind; the
        // column type matters only for the precision of `f32` columns.
        match value {
            // Rounded as the stored `f32` field was, so that a filter value equal to it as an
            // `f32` matches, as it does in a PostgreSQL `real` column.
            Value::Float(value) if ty == SqlType::F32 => query.bind(f64::from(*value as f32)),
            Value::Null => query.bind(None::<i64>),
            Value::Bool(value) => query.bind(*value),
            Value::Int(value) => query.bind(*value),
            Value::Float(value) => query.bind(*value),
            Value::Text(value) => query.bind(value.as_str()),
            Value::Bytes(value) => query.bind(value.as_slice()),
            Value::Uuid(value) => query.bind(value.hyphenated()),
            Value::Timestamp(value) => query.bind(timestamp_text(value)),
            Value::Date(value) => query.bind(date_text(value)),
            Value::NaiveTimestamp(value) => query.bind(naive_timestamp_text(value)),
            Value::Json(value) => query.bind(value.to_string()),
        }
    }

    fn bind_text<'q>(query: Query<'q, Sqlite>, value: Option<&'q str>) -> Query<'q, Sqlite> {
        query.bind(value)
    }

    fn bind_i64<'q>(query: Query<'q, Sqlite>, value: i64) -> Query<'q, Sqlite> {
        query.bind(value)
    }

    fn decode(row: &SqliteRow, index: usize, ty: SqlType) -> Result<Value, sqlx::Error> {
        fn get<'r, T: sqlx::Decode<'r, Sqlite> + sqlx::Type<Sqlite>>(
            row: &'r SqliteRow,
            index: usize,
            wrap: impl FnOnce(T) -> Value,
        ) -> Result<Value, sqlx::Error> {
            Ok(row.try_get::<Option<T>, _>(index)?.map_or(Value::Null, wrap))
        }
        match ty {
            SqlType::Bool => get(row, index, Value::Bool),
            SqlType::I16 | SqlType::I32 | SqlType::I64 => get(row, index, Value::Int),
            SqlType::F32 | SqlType::F64 => get(row, index, Value::Float),
            SqlType::Bytes => get(row, index, Value::Bytes),
            SqlType::Uuid => get(row, index, |uuid: Hyphenated| Value::Uuid(uuid.into_uuid())),
            SqlType::Timestamp => get(row, index, |at: DateTime<Utc>| Value::Timestamp(at)),
            SqlType::Date => get(row, index, Value::Date),
            SqlType::NaiveTimestamp => get(row, index, Value::NaiveTimestamp),
            SqlType::Text | SqlType::Enum(_) => get(row, index, Value::Text),
            SqlType::Json => match row.try_get::<Option<&str>, _>(index)? {
                None => Ok(Value::Null),
                Some(text) => serde_json::from_str(text)
                    .map(Value::Json)
                    .map_err(|error| sqlx::Error::ColumnDecode { index: index.to_string(), source: error.into() }),
            },
        }
    }

    fn begin_write(
        pool: &Pool<Sqlite>,
    ) -> impl Future<Output = Result<Transaction<'static, Sqlite>, sqlx::Error>> + Send + '_ {
        pool.begin_with("BEGIN IMMEDIATE")
    }

    fn fetch_optional<'c>(
        conn: &'c mut SqliteConnection,
        query: Query<'c, Sqlite>,
    ) -> impl Future<Output = Result<Option<SqliteRow>, sqlx::Error>> + Send + 'c {
        query.fetch_optional(conn)
    }

    fn fetch_all<'c>(
        conn: &'c mut SqliteConnection,
        query: Query<'c, Sqlite>,
    ) -> impl Future<Output = Result<Vec<SqliteRow>, sqlx::Error>> + Send + 'c {
        query.fetch_all(conn)
    }
}
