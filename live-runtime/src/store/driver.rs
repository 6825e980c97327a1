//! What the store's operations (`ops.rs`) need from one database, implemented by `sqlite.rs` and
//! `postgres.rs`: how to bind and decode a [`Value`], how to begin a write transaction, and how to run a
//! query on a connection; and the two things every part of the store names, the SQL [`Dialect`] and a
//! [`TableColumn`] as the database's catalog describes it.
//!
//! This module depends on nothing else in the store, so that the drivers, the SQL text (`sql.rs`) and the
//! schema check (`schema.rs`) can each name it without depending on one another's users.

use std::future::Future;

use sqlx::{Database, Pool, Transaction};

use crate::value::{SqlType, Value};

/// The SQL differences between the databases the store speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Dialect {
    Sqlite,
    Postgres,
}

/// One column of an existing table, as the database describes it.
#[derive(Debug, Clone)]
pub(crate) struct TableColumn {
    pub(crate) name: String,
    /// The declared type (SQLite) or `information_schema` data type (PostgreSQL).
    pub(crate) declared: String,
    pub(crate) not_null: bool,
    pub(crate) has_default: bool,
    pub(crate) primary_key: bool,
}

/// A query with its bound parameters.
pub(crate) type Query<'q, DB> = sqlx::query::Query<'q, DB, <DB as Database>::Arguments<'q>>;
/// A result row.
pub(crate) type Row<DB> = <DB as Database>::Row;
/// A live connection (a pooled one or a transaction's derefs to it).
pub(crate) type Conn<DB> = <DB as Database>::Connection;

/// What the generic store logic needs from one database.
pub(crate) trait Driver: Send + Sync + 'static {
    /// The sqlx database.
    type DB: Database;
    /// Its SQL dialect.
    const DIALECT: Dialect;

    /// Binds `value` as a parameter of a `ty` column.
    fn bind<'q>(query: Query<'q, Self::DB>, value: &'q Value, ty: SqlType) -> Query<'q, Self::DB>;

    /// Binds a nullable text parameter.
    fn bind_text<'q>(query: Query<'q, Self::DB>, value: Option<&'q str>) -> Query<'q, Self::DB>;

    /// Binds an `i64` parameter.
    fn bind_i64<'q>(query: Query<'q, Self::DB>, value: i64) -> Query<'q, Self::DB>;

    /// Decodes column `index` of `row` as a `ty` value (NULL as [`Value::Null`]).
    fn decode(row: &Row<Self::DB>, index: usize, ty: SqlType) -> Result<Value, sqlx::Error>;

    /// Begins a transaction that will write (SQLite: `BEGIN IMMEDIATE`, so that two writers
    /// queue on the write lock up front instead of failing to upgrade a read lock later).
    fn begin_write(
        pool: &Pool<Self::DB>,
    ) -> impl Future<Output = Result<Transaction<'static, Self::DB>, sqlx::Error>> + Send + '_;

    /// Runs `query`, returning its first row if any.
    fn fetch_optional<'c>(
        conn: &'c mut Conn<Self::DB>,
        query: Query<'c, Self::DB>,
    ) -> impl Future<Output = Result<Option<Row<Self::DB>>, sqlx::Error>> + Send + 'c;

    /// Runs `query`, returning every row.
    fn fetch_all<'c>(
        conn: &'c mut Conn<Self::DB>,
        query: Query<'c, Self::DB>,
    ) -> impl Future<Output = Result<Vec<Row<Self::DB>>, sqlx::Error>> + Send + 'c;
}
