//! PostgreSQL: connection settings, and how values are bound and decoded.
//!
//! Every value binds as its column's own type (an `i16` column as `int2`, JSON as `jsonb`,
//! timestamps as `timestamptz`, naive timestamps as `timestamp`, dates as `date`, UUIDs as
//! `uuid`), so the server never has to guess or cast. Enums are `text`, holding the variant's
//! name.

use std::future::Future;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgRow};
use sqlx::types::Json;
use sqlx::{PgConnection, PgPool, Pool, Postgres, Row as _, Transaction};
use uuid::Uuid;

use super::driver::{Dialect, Driver, Query, TableColumn};
use super::{StoreError, StoreOptions, classify};
use crate::value::{SqlType, Value};

/// Opens a pool on `url` (`postgres://...` or `postgresql://...`).
pub(crate) async fn connect(url: &str, options: &StoreOptions) -> Result<PgPool, StoreError> {
    let connect =
        PgConnectOptions::from_str(url).map_err(|error| StoreError::Unsupported(format!("PostgreSQL URL: {error}")))?;
    PgPoolOptions::new()
        .max_connections(options.max_connections.max(1))
        .acquire_timeout(options.acquire_timeout)
        // A ping before every checkout would double the round trips of a read; a connection
        // that died while idle fails its next query instead, which is reported as unavailable
        // and the pool replaces it.
        .test_before_acquire(false)
        .connect_with(connect)
        .await
        .map_err(classify)
}

/// The columns of `table` in the connection's current schema (empty when there is no such
/// table).
pub(crate) async fn table_columns(pool: &PgPool, table: &str) -> Result<Vec<TableColumn>, StoreError> {
    let rows = sqlx::query(
        "SELECT c.column_name::TEXT, c.data_type::TEXT, c.is_nullable = 'NO', \
         c.column_default IS NOT NULL OR c.is_identity = 'YES' OR c.is_generated <> 'NEVER', \
         EXISTS (SELECT 1 FROM information_schema.table_constraints t \
                 JOIN information_schema.key_column_usage k \
                   ON k.constraint_name = t.constraint_name AND k.table_schema = t.table_schema \
                 WHERE t.constraint_type = 'PRIMARY KEY' AND t.table_schema = c.table_schema \
                   AND t.table_name = c.table_name AND k.column_name = c.column_name) \
         FROM information_schema.columns c \
         WHERE c.table_schema = current_schema() AND c.table_name = $1 ORDER BY c.ordinal_position",
    )
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
                primary_key: row.try_get(4)?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(classify)
}

/// Runs DDL statements, in one transaction that first takes an advisory lock.
///
/// Processes that start together on a fresh database (the nodes of one service) create the same
/// tables at the same moment, and `CREATE ... IF NOT EXISTS` does not survive that race: the
/// second create fails on a unique index of the catalog instead of doing nothing. Under the lock,
/// the second process waits for the first one's commit, then finds the table and does nothing.
pub(crate) async fn execute(pool: &PgPool, statements: &[&str]) -> Result<(), StoreError> {
    let mut tx = pool.begin().await.map_err(classify)?;
    // 1818850916 is the event log's key (1818850917, ASCII "live") minus one: the key of the
    // store's DDL; any other user of advisory locks on the database must avoid both.
    sqlx::query("SELECT pg_advisory_xact_lock(1818850916)").execute(&mut *tx).await.map_err(classify)?;
    for statement in statements {
        sqlx::query(statement).persistent(false).execute(&mut *tx).await.map_err(classify)?;
    }
    tx.commit().await.map_err(classify)
}

/// The column type a table is created with.
pub(crate) fn ddl_type(ty: SqlType) -> &'static str {
    match ty {
        SqlType::Bool => "BOOLEAN",
        SqlType::I16 => "SMALLINT",
        SqlType::I32 => "INTEGER",
        SqlType::I64 => "BIGINT",
        SqlType::F32 => "REAL",
        SqlType::F64 => "DOUBLE PRECISION",
        SqlType::Text | SqlType::Enum(_) => "TEXT",
        SqlType::Bytes => "BYTEA",
        SqlType::Uuid => "UUID",
        SqlType::Timestamp => "TIMESTAMPTZ",
        SqlType::Date => "DATE",
        SqlType::NaiveTimestamp => "TIMESTAMP",
        SqlType::Json => "JSONB",
    }
}

/// Whether a column whose `information_schema` data type is `declared` (lower case) holds `ty`
/// values without conversion.
pub(crate) fn fits(ty: SqlType, declared: &str) -> bool {
    match ty {
        SqlType::Bool => declared == "boolean",
        SqlType::I16 => declared == "smallint",
        SqlType::I32 => declared == "integer",
        SqlType::I64 => declared == "bigint",
        SqlType::F32 => declared == "real",
        SqlType::F64 => declared == "double precision",
        SqlType::Text | SqlType::Enum(_) => matches!(declared, "text" | "character varying" | "character"),
        SqlType::Bytes => declared == "bytea",
        SqlType::Uuid => declared == "uuid",
        SqlType::Timestamp => declared == "timestamp with time zone",
        SqlType::Date => declared == "date",
        SqlType::NaiveTimestamp => declared == "timestamp without time zone",
        SqlType::Json => matches!(declared, "jsonb" | "json"),
    }
}

/// The PostgreSQL driver.
#[derive(Debug)]
pub(crate) struct PgDriver;

impl Driver for PgDriver {
    type DB = Postgres;
    const DIALECT: Dialect = Dialect::Postgres;

    fn bind<'q>(query: Query<'q, Postgres>, value: &'q Value, ty: SqlType) -> Query<'q, Postgres> {
        match (value, ty) {
            // A NULL still carries the column's type, or PostgreSQL could not infer it.
            (Value::Null, SqlType::Bool) => query.bind(None::<bool>),
            (Value::Null, SqlType::I16) => query.bind(None::<i16>),
            (Value::Null, SqlType::I32) => query.bind(None::<i32>),
            (Value::Null, SqlType::I64) => query.bind(None::<i64>),
            (Value::Null, SqlType::F32) => query.bind(None::<f32>),
            (Value::Null, SqlType::F64) => query.bind(None::<f64>),
            (Value::Null, SqlType::Text | SqlType::Enum(_)) => query.bind(None::<&str>),
            (Value::Null, SqlType::Bytes) => query.bind(None::<&[u8]>),
            (Value::Null, SqlType::Uuid) => query.bind(None::<Uuid>),
            (Value::Null, SqlType::Timestamp) => query.bind(None::<DateTime<Utc>>),
            (Value::Null, SqlType::Date) => query.bind(None::<NaiveDate>),
            (Value::Null, SqlType::NaiveTimestamp) => query.bind(None::<NaiveDateTime>),
            (Value::Null, SqlType::Json) => query.bind(None::<Json<&serde_json::Value>>),
            (Value::Bool(value), _) => query.bind(*value),
            // A value out of a narrow column's range (only possible in a filter) binds wide,
            // and PostgreSQL compares across integer widths.
            (Value::Int(value), SqlType::I16) => match i16::try_from(*value) {
                Ok(narrow) => query.bind(narrow),
                Err(_) => query.bind(*value),
            },
            (Value::Int(value), SqlType::I32) => match i32::try_from(*value) {
                Ok(narrow) => query.bind(narrow),
                Err(_) => query.bind(*value),
            },
            (Value::Int(value), _) => query.bind(*value),
            // Rounds to the nearest f32, as storing into a `real` column does.
            (Value::Float(value), SqlType::F32) => query.bind(*value as f32),
            (Value::Float(value), _) => query.bind(*value),
            (Value::Text(value), _) => query.bind(value.as_str()),
            (Value::Bytes(value), _) => query.bind(value.as_slice()),
            (Value::Uuid(value), _) => query.bind(*value),
            (Value::Timestamp(value), _) => query.bind(*value),
            (Value::Date(value), _) => query.bind(*value),
            (Value::NaiveTimestamp(value), _) => query.bind(*value),
            (Value::Json(value), _) => query.bind(Json(value)),
        }
    }

    fn bind_text<'q>(query: Query<'q, Postgres>, value: Option<&'q str>) -> Query<'q, Postgres> {
        query.bind(value)
    }

    fn bind_i64<'q>(query: Query<'q, Postgres>, value: i64) -> Query<'q, Postgres> {
        query.bind(value)
    }

    fn decode(row: &PgRow, index: usize, ty: SqlType) -> Result<Value, sqlx::Error> {
        fn get<'r, T: sqlx::Decode<'r, Postgres> + sqlx::Type<Postgres>>(
            row: &'r PgRow,
            index: usize,
            wrap: impl FnOnce(T) -> Value,
        ) -> Result<Value, sqlx::Error> {
            Ok(row.try_get::<Option<T>, _>(index)?.map_or(Value::Null, wrap))
        }
        match ty {
            SqlType::Bool => get(row, index, Value::Bool),
            SqlType::I16 => get(row, index, |int: i16| Value::Int(int.into())),
            SqlType::I32 => get(row, index, |int: i32| Value::Int(int.into())),
            SqlType::I64 => get(row, index, Value::Int),
            SqlType::F32 => get(row, index, |float: f32| Value::Float(float.into())),
            SqlType::F64 => get(row, index, Value::Float),
            SqlType::Text | SqlType::Enum(_) => get(row, index, Value::Text),
            SqlType::Bytes => get(row, index, Value::Bytes),
            SqlType::Uuid => get(row, index, Value::Uuid),
            SqlType::Timestamp => get(row, index, Value::Timestamp),
            SqlType::Date => get(row, index, Value::Date),
            SqlType::NaiveTimestamp => get(row, index, Value::NaiveTimestamp),
            SqlType::Json => get(row, index, |Json(json): Json<serde_json::Value>| Value::Json(json)),
        }
    }

    fn begin_write(
        pool: &Pool<Postgres>,
    ) -> impl Future<Output = Result<Transaction<'static, Postgres>, sqlx::Error>> + Send + '_ {
        pool.begin()
    }

    fn fetch_optional<'c>(
        conn: &'c mut PgConnection,
        query: Query<'c, Postgres>,
    ) -> impl Future<Output = Result<Option<PgRow>, sqlx::Error>> + Send + 'c {
        query.fetch_optional(conn)
    }

    fn fetch_all<'c>(
        conn: &'c mut PgConnection,
        query: Query<'c, Postgres>,
    ) -> impl Future<Output = Result<Vec<PgRow>, sqlx::Error>> + Send + 'c {
        query.fetch_all(conn)
    }
}
