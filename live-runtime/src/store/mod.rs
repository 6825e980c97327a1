//! The SQL store: rows of [`LiveResource`] types and the event log, on SQLite or PostgreSQL.
//!
//! The store owns SQL and nothing else: it knows resources only through their
//! [`Descriptor`](crate::Descriptor) and knows nothing of HTTP. Every write runs in one
//! transaction that changes the row and appends the change to the event log (design §4), so a
//! rolled-back write leaves neither. `sqlx::Error` is classified here, once, into [`StoreError`].

mod query;

pub use query::{Direction, Filter, FilterOp, ListQuery, Order};

use std::marker::PhantomData;

use crate::resource::{LiveResource, ValidationErrors, Value};

/// A connection pool to one database, holding the tables of the registered resources and the
/// event log.
#[derive(Clone, Debug)]
pub struct Store {
    _private: (),
}

/// Settings of a [`Store`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct StoreOptions {
    /// Create missing tables from descriptors (default `true`); when `false` a missing table is a
    /// start-up error, for users who run their own migrations.
    pub create_tables: bool,
    /// Most connections in the pool.
    pub max_connections: u32,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions { create_tables: true, max_connections: 8 }
    }
}

impl Store {
    /// Connects to `url` (`sqlite://file.db`, created when missing, or `postgres://...`).
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        Store::connect_with(url, StoreOptions::default()).await
    }

    /// Connects with explicit options.
    pub async fn connect_with(_url: &str, _options: StoreOptions) -> Result<Store, StoreError> {
        Err(StoreError::Unsupported("store not built yet".into()))
    }

    /// Creates `R`'s table when missing, or checks that the existing one matches the descriptor.
    pub async fn prepare<R: LiveResource>(&self) -> Result<(), StoreError> {
        Err(StoreError::Unsupported("store not built yet".into()))
    }

    /// The typed API for `R`'s rows. `R` must have been [`prepare`](Self::prepare)d.
    pub fn records<R: LiveResource>(&self) -> Records<R> {
        Records { store: self.clone(), _resource: PhantomData }
    }
}

/// The typed read and write API of one resource, used by the REST handlers and by server code.
#[derive(Debug)]
pub struct Records<R> {
    store: Store,
    _resource: PhantomData<fn() -> R>,
}

impl<R> Clone for Records<R> {
    fn clone(&self) -> Self {
        Records { store: self.store.clone(), _resource: PhantomData }
    }
}

/// A value as stored, with its row version.
#[derive(Debug, Clone, PartialEq)]
pub struct Stored<R> {
    /// The value.
    pub value: R,
    /// The row version: 1 after create, one more after each update.
    pub version: i64,
}

/// What a write carries besides the value.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct Write {
    /// The writer's request id (`Live-Request-Id`), kept with the change as its `origin`.
    pub origin: Option<String>,
    /// Write only if the row is at this version, else [`StoreError::VersionMismatch`].
    pub if_version: Option<i64>,
}

impl<R: LiveResource> Records<R> {
    /// The value with this id, or [`StoreError::NotFound`].
    pub async fn get(&self, _id: impl Into<Value>) -> Result<Stored<R>, StoreError> {
        let _ = &self.store;
        Err(StoreError::Unsupported("store not built yet".into()))
    }

    /// The values matching `query`, in its order.
    pub async fn list(&self, _query: &ListQuery) -> Result<Vec<Stored<R>>, StoreError> {
        Err(StoreError::Unsupported("store not built yet".into()))
    }

    /// How many values match `filters`.
    pub async fn count(&self, _filters: &[Filter]) -> Result<u64, StoreError> {
        Err(StoreError::Unsupported("store not built yet".into()))
    }

    /// Inserts `value` (its id is assigned by the store) and logs a `POST` change.
    pub async fn create(&self, _value: R, _write: &Write) -> Result<Stored<R>, StoreError> {
        Err(StoreError::Unsupported("store not built yet".into()))
    }

    /// Inserts every value in one transaction: all or none.
    pub async fn create_many(&self, _values: Vec<R>, _write: &Write) -> Result<Vec<Stored<R>>, StoreError> {
        Err(StoreError::Unsupported("store not built yet".into()))
    }

    /// Replaces the row with `id` by `change(current)` in one transaction and logs a `PUT`
    /// (`method` says which) change. The id and version are kept by the store whatever `change`
    /// returns.
    pub async fn modify<F>(
        &self,
        _id: impl Into<Value>,
        _method: Method,
        _write: &Write,
        _change: F,
    ) -> Result<Stored<R>, StoreError>
    where
        F: FnOnce(Stored<R>) -> Result<R, StoreError> + Send,
    {
        Err(StoreError::Unsupported("store not built yet".into()))
    }

    /// Deletes the row with `id`, logs a `DELETE` change, and returns the row as it was.
    pub async fn delete(&self, _id: impl Into<Value>, _write: &Write) -> Result<Stored<R>, StoreError> {
        Err(StoreError::Unsupported("store not built yet".into()))
    }
}

/// The kind of a change, as REST names it and as events carry it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Method {
    /// A create.
    Post,
    /// A replace.
    Put,
    /// A merge.
    Patch,
    /// A delete.
    Delete,
}

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// No row has that id.
    #[error("not found")]
    NotFound,
    /// The row is at another version than the write expected.
    #[error("version mismatch: the row is at version {current}")]
    VersionMismatch {
        /// The row's current version.
        current: i64,
    },
    /// The value broke a rule ([`LiveResource::validate`] or a merge that did not fit).
    #[error("invalid value: {0}")]
    Invalid(ValidationErrors),
    /// A unique constraint refused the write.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The table does not match the descriptor, or is missing and creation is off.
    #[error("table `{table}`: {detail}")]
    Schema {
        /// The table.
        table: String,
        /// What is wrong, naming the column.
        detail: String,
    },
    /// The database cannot be reached now (connection refused, pool timed out, shut down).
    #[error("database unavailable: {0}")]
    Unavailable(#[source] sqlx::Error),
    /// A URL or feature this store does not support.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// A stored value does not fit the struct.
    #[error("decode: {0}")]
    Decode(#[from] crate::resource::DecodeError),
    /// Any other database error.
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
}
