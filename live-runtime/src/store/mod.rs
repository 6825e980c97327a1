//! The SQL store: rows of [`LiveResource`] types and the event log, on SQLite or PostgreSQL.
//!
//! The store owns SQL and nothing else: it knows resources only through their
//! [`Descriptor`](crate::Descriptor) and knows nothing of HTTP. Every write runs in one
//! transaction that changes the row and appends the change to the event log (docs/architecture.md), so a
//! rolled-back write leaves neither. `sqlx::Error` is classified here, once, into [`StoreError`].
//!
//! Layout: `sql.rs` builds the SQL text from a descriptor (once per resource and database, then
//! cached); `ops.rs` holds the operations, written once over the small `Driver` trait of
//! `driver.rs` that `sqlite.rs` and `postgres.rs` implement (binding and decoding values,
//! beginning a write, each column type's SQL type); `schema.rs` checks existing tables; `log.rs`
//! is the event log's public face.
//!
//! Delivery is not the store's business: after each commit it reports the logged
//! [`Change`]s to the [`CommitSink`]s it was given ([`Store::report_to`]), and the feed, one
//! such sink, publishes them.
//!
//! Seq order is commit order, so a reader that resumes after the last seq it saw never skips
//! one: SQLite write transactions begin `IMMEDIATE` and so run one at a time; on PostgreSQL the
//! event append first takes a transaction-level advisory lock, held until commit, so appends
//! from concurrent transactions (from this process or others) queue for the short stretch from
//! the append to the commit. The contract suite's concurrent-writer test fails without it.
//!
//! Storage per type: PostgreSQL uses the native types (`smallint`, `integer`, `bigint`, `real`,
//! `double precision`, `boolean`, `text`, `bytea`, `uuid`, `timestamptz`, `jsonb`); SQLite
//! uses `INTEGER` for booleans and integers, `REAL`, `BLOB`, and `TEXT` for UUIDs (hyphenated),
//! timestamps (RFC 3339 UTC with microseconds, so text order is time order) and JSON.

mod driver;
mod family;
mod log;
mod ops;
mod postgres;
mod query;
mod schema;
mod sql;
mod sqlite;

pub use crate::change::{Change, Method};
pub use log::{Pruned, Retention};
pub use query::{Direction, Filter, FilterOp, ListQuery, Order};

use std::marker::PhantomData;
use std::sync::{Arc, RwLock, Weak};
use std::time::Duration;

use sqlx::{PgPool, SqlitePool};

use self::family::{Family, Links, Node};
use self::postgres::PgDriver;
use self::sqlite::SqliteDriver;
use crate::change::CommitSink;
use crate::resource::{LiveResource, ValidationErrors, Value};

/// A connection pool to one database, holding the tables of the registered resources and the
/// event log. Cheap to clone: clones share the pool.
///
/// ```no_run
/// # async fn demo() -> Result<(), live_runtime::StoreError> {
/// use live_runtime::Store;
///
/// let store = Store::connect("sqlite::memory:").await?;
/// assert_eq!(store.backend(), live_runtime::store::Backend::Sqlite);
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct Store {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    pool: Pool,
    options: StoreOptions,
    sinks: Sinks,
    /// The prepared resources and their parents and children, replaced whole on each prepare.
    family: RwLock<Arc<Family>>,
}

/// The sinks commits are reported to. Weak, so that a sink's owner going away (a stopped feed) is all it
/// takes to stop reporting to it.
#[derive(Default)]
pub(crate) struct Sinks(RwLock<Vec<Weak<dyn CommitSink>>>);

impl Sinks {
    /// The sinks still alive, in the order they were added (their order locks are taken in that order).
    pub(crate) fn live(&self) -> Vec<Arc<dyn CommitSink>> {
        let sinks = self.0.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        sinks.iter().filter_map(Weak::upgrade).collect()
    }

    fn add(&self, sink: Weak<dyn CommitSink>) {
        let mut sinks = self.0.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        sinks.retain(|sink| sink.strong_count() > 0);
        sinks.push(sink);
    }
}

impl std::fmt::Debug for Sinks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Sinks").field(&self.live().len()).finish()
    }
}

#[derive(Debug)]
enum Pool {
    /// SQLite allows one writer at a time. Writers share one connection of their own, so they
    /// queue in the pool, in order, instead of racing for the write lock and sleeping in SQLite's
    /// busy handler (which made write latency spiky under load); reads keep the whole pool. An
    /// in-memory database has a single connection, and both are the same pool.
    Sqlite {
        reads: SqlitePool,
        writes: SqlitePool,
    },
    Postgres(PgPool),
}

/// Runs `$body` with `$pool` bound to the concrete pool for reads and `$driver` to its driver
/// type.
macro_rules! dispatch {
    ($store:expr, |$pool:ident, $driver:ident| $body:expr) => {
        match &$store.inner.pool {
            Pool::Sqlite { reads: $pool, .. } => {
                type $driver = SqliteDriver;
                $body
            }
            Pool::Postgres($pool) => {
                type $driver = PgDriver;
                $body
            }
        }
    };
}

/// As [`dispatch!`], with the pool for writes.
macro_rules! dispatch_write {
    ($store:expr, |$pool:ident, $driver:ident| $body:expr) => {
        match &$store.inner.pool {
            Pool::Sqlite { writes: $pool, .. } => {
                type $driver = SqliteDriver;
                $body
            }
            Pool::Postgres($pool) => {
                type $driver = PgDriver;
                $body
            }
        }
    };
}

/// The database behind a [`Store`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Backend {
    /// SQLite (`sqlite:` URLs).
    Sqlite,
    /// PostgreSQL (`postgres:` and `postgresql:` URLs).
    Postgres,
}

/// Settings of a [`Store`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct StoreOptions {
    /// Create missing tables from descriptors (default `true`); when `false` a missing table is a
    /// start-up error, for users who run their own migrations. The event log `live_events` is
    /// the store's own table and is created either way.
    pub create_tables: bool,
    /// Most connections in the pool (an in-memory SQLite database always has exactly one). On
    /// SQLite this is the pool for reads: writes, which SQLite runs one at a time anyway, queue
    /// for one connection of their own.
    pub max_connections: u32,
    /// How long an operation waits for a free connection before failing with
    /// [`StoreError::Unavailable`] (default 5 s).
    pub acquire_timeout: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions { create_tables: true, max_connections: 8, acquire_timeout: Duration::from_secs(5) }
    }
}

impl Store {
    /// Connects to `url` (`sqlite://file.db`, created when missing, or `postgres://...`).
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        Store::connect_with(url, StoreOptions::default()).await
    }

    /// Connects with explicit options, and creates the event log when missing.
    ///
    /// `sqlite:file.db`, `sqlite://file.db` (created when missing) and `sqlite::memory:` open
    /// SQLite in WAL mode with `synchronous=NORMAL`, foreign keys on and a busy timeout;
    /// `postgres://` and `postgresql://` open PostgreSQL. Anything else is
    /// [`StoreError::Unsupported`].
    pub async fn connect_with(url: &str, options: StoreOptions) -> Result<Store, StoreError> {
        let scheme = url.split_once(':').map(|(scheme, _)| scheme.to_ascii_lowercase());
        let pool = match scheme.as_deref() {
            Some("sqlite") => {
                let (reads, writes) = sqlite::connect(url, &options).await?;
                Pool::Sqlite { reads, writes }
            }
            Some("postgres" | "postgresql") => Pool::Postgres(postgres::connect(url, &options).await?),
            _ => {
                let shown = url.split_once(':').map_or("no scheme", |(scheme, _)| scheme);
                return Err(StoreError::Unsupported(format!(
                    "database URL scheme `{shown}`: expected sqlite:, postgres: or postgresql:"
                )));
            }
        };
        let store =
            Store { inner: Arc::new(Inner { pool, options, sinks: Sinks::default(), family: RwLock::default() }) };
        store.execute(store.dialect().create_event_log()).await?;
        store.upgrade_event_log().await?;
        Ok(store)
    }

    /// Brings an event log made by an earlier version up to date: adds the `before_body` column (the row
    /// before each update) when it is missing. Another process may be doing the same at the same time; the
    /// column being there afterwards is what counts.
    async fn upgrade_event_log(&self) -> Result<(), StoreError> {
        let has_before = |columns: &[driver::TableColumn]| columns.iter().any(|column| column.name == "before_body");
        if has_before(&self.table_columns("live_events").await?) {
            return Ok(());
        }
        let added = self.execute(&[self.dialect().add_before_body()]).await;
        if added.is_err() && has_before(&self.table_columns("live_events").await?) {
            return Ok(());
        }
        added
    }

    /// Which database this store is connected to.
    pub fn backend(&self) -> Backend {
        match self.inner.pool {
            Pool::Sqlite { .. } => Backend::Sqlite,
            Pool::Postgres(_) => Backend::Postgres,
        }
    }

    /// Creates `R`'s table when missing, or checks that the existing one matches the descriptor.
    ///
    /// A mismatch (a missing column, a column of another type family or nullability, an extra
    /// `NOT NULL` column without a default) is [`StoreError::Schema`] naming the table and the
    /// column; so is a missing table when [`StoreOptions::create_tables`] is off.
    pub async fn prepare<R: LiveResource>(&self) -> Result<(), StoreError> {
        let descriptor = R::DESCRIPTOR;
        let statements = sql::statements::<R>(self.dialect());
        let existing = self.table_columns(descriptor.table).await?;
        if !existing.is_empty() {
            schema::check(self.dialect(), descriptor, &existing)?;
            // A table created before its resource was nested gets its partition index.
            if let (true, Some(index)) = (self.inner.options.create_tables, &statements.create_index) {
                self.execute(&[index.as_str()]).await?;
            }
            self.join_family::<R>();
            return Ok(());
        }
        if !self.inner.options.create_tables {
            return Err(StoreError::Schema {
                table: descriptor.table.to_owned(),
                detail: "the table does not exist and table creation is off".to_owned(),
            });
        }
        let mut create = vec![statements.create_table.as_str()];
        create.extend(statements.create_index.as_deref());
        self.execute(&create).await?;
        // Another process may have created it differently between the look and the create.
        let existing = self.table_columns(descriptor.table).await?;
        schema::check(self.dialect(), descriptor, &existing)?;
        self.join_family::<R>();
        Ok(())
    }

    /// Adds `R` to the resources whose parents and children writes respect.
    fn join_family<R: LiveResource>(&self) {
        let mut family = self.inner.family.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        *family = Arc::new(family.with(Node::of::<R>(self.dialect()), self.dialect()));
    }

    /// The links of `R` to its parent and children, if it has any.
    fn links<R: LiveResource>(&self) -> Option<Arc<Links>> {
        let family = self.inner.family.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        family.links(std::any::TypeId::of::<R>()).cloned()
    }

    /// The family as it is now.
    fn family(&self) -> Arc<Family> {
        Arc::clone(&self.inner.family.read().unwrap_or_else(std::sync::PoisonError::into_inner))
    }

    /// The typed API for `R`'s rows. `R`'s table must exist: call [`prepare`](Self::prepare) first
    /// (a [`Live`](crate::Live) prepares every resource it serves).
    pub fn records<R: LiveResource>(&self) -> Records<R> {
        Records { store: self.clone(), partition: None, _resource: PhantomData }
    }

    /// The events of `channel` (a resource path) with a seq greater than `after_seq`, oldest
    /// first, at most `limit` of them. Committed events only: a reader that resumes after the
    /// last seq it saw never skips one (docs/architecture.md, "One write, end to end").
    pub async fn events_after(&self, channel: &str, after_seq: i64, limit: u32) -> Result<Vec<Change>, StoreError> {
        dispatch!(self, |pool, D| ops::events_after::<D>(pool, channel, after_seq, limit).await)
    }

    /// The events of every channel with a seq greater than `after_seq`, oldest first, at most
    /// `limit` of them: how a reader that follows the whole log catches up.
    pub async fn events_after_any(&self, after_seq: i64, limit: u32) -> Result<Vec<Change>, StoreError> {
        dispatch!(self, |pool, D| ops::events_after_any::<D>(pool, after_seq, limit).await)
    }

    /// The seq of the last committed event of any channel, 0 when the log is empty.
    pub async fn last_seq_any(&self) -> Result<i64, StoreError> {
        dispatch!(self, |pool, D| ops::last_seq_any::<D>(pool).await)
    }

    /// The seq of the last committed event of `channel`, 0 when it has none.
    pub async fn last_seq(&self, channel: &str) -> Result<i64, StoreError> {
        dispatch!(self, |pool, D| ops::last_seq::<D>(pool, channel).await)
    }

    /// Deletes the events `retention` does not keep and returns the new pruned-through mark.
    ///
    /// Run it periodically; it takes the write lock (SQLite) for one short transaction. A reader
    /// resuming after a seq below [`pruned_through`](Self::pruned_through) may have missed
    /// events and must reload instead (docs/live.md, `reset`).
    pub async fn prune_events(&self, retention: &Retention) -> Result<Pruned, StoreError> {
        dispatch_write!(self, |pool, D| ops::prune_events::<D>(pool, retention).await)
    }

    /// Every event with a seq at or below this has been pruned (0 when none was): resuming
    /// after an older seq cannot be complete.
    pub async fn pruned_through(&self) -> Result<i64, StoreError> {
        dispatch!(self, |pool, D| ops::pruned_through::<D>(pool).await)
    }

    /// Reports every commit made through this store from now on to `sink`, in seq order, while `sink` is
    /// alive (the store keeps only a weak reference). Writes made by other processes on the same
    /// database are not reported, only logged; nor is a write whose future is dropped between its
    /// commit and the report. A reader that must see everything follows the log
    /// ([`events_after`](Self::events_after)) and uses reports only as a wake-up.
    ///
    /// ```
    /// # async fn demo() -> Result<(), live_runtime::StoreError> {
    /// use live_runtime::Store;
    /// use live_runtime::feed::Bell;
    ///
    /// let store = Store::connect("sqlite::memory:").await?;
    /// let bell = Bell::new();
    /// store.report_to(&bell);
    /// let mut commits = bell.subscribe();
    /// # drop(commits.try_recv());
    /// # Ok(())
    /// # }
    /// ```
    pub fn report_to<S: CommitSink>(&self, sink: &Arc<S>) {
        let sink: Arc<dyn CommitSink> = Arc::clone(sink) as Arc<dyn CommitSink>;
        self.inner.sinks.add(Arc::downgrade(&sink));
    }

    /// Closes every connection; later operations fail with [`StoreError::Unavailable`].
    pub async fn close(&self) {
        match &self.inner.pool {
            Pool::Sqlite { reads, writes } => {
                writes.close().await;
                reads.close().await;
            }
            Pool::Postgres(pool) => pool.close().await,
        }
    }

    /// The PostgreSQL pool (`None` on SQLite): the PostgreSQL bus opens its own connections with
    /// the same settings.
    pub(crate) fn postgres_pool(&self) -> Option<&PgPool> {
        match &self.inner.pool {
            Pool::Postgres(pool) => Some(pool),
            Pool::Sqlite { .. } => None,
        }
    }

    fn dialect(&self) -> driver::Dialect {
        match self.inner.pool {
            Pool::Sqlite { .. } => driver::Dialect::Sqlite,
            Pool::Postgres(_) => driver::Dialect::Postgres,
        }
    }

    async fn table_columns(&self, table: &str) -> Result<Vec<driver::TableColumn>, StoreError> {
        match &self.inner.pool {
            Pool::Sqlite { reads, .. } => sqlite::table_columns(reads, table).await,
            Pool::Postgres(pool) => postgres::table_columns(pool, table).await,
        }
    }

    async fn execute(&self, statements: &[&str]) -> Result<(), StoreError> {
        match &self.inner.pool {
            Pool::Sqlite { writes, .. } => sqlite::execute(writes, statements).await,
            Pool::Postgres(pool) => postgres::execute(pool, statements).await,
        }
    }
}

/// The typed read and write API of one resource, used by the REST handlers and by server code.
#[derive(Debug)]
pub struct Records<R> {
    store: Store,
    /// The partition keys these records are seen under, if any (see [`Records::partition`]).
    partition: Option<Arc<[Value]>>,
    _resource: PhantomData<fn() -> R>,
}

impl<R> Clone for Records<R> {
    fn clone(&self) -> Self {
        Records { store: self.store.clone(), partition: self.partition.clone(), _resource: PhantomData }
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

/// What a write returns: the value as it committed, its version, and the change it logged, whose
/// [`body`](Change::body) is the value's JSON serialized once at commit (REST answers with those
/// bytes, and subscribers receive them).
#[derive(Debug, Clone)]
pub struct Committed<R> {
    /// The value, with its store-assigned id and version.
    pub value: R,
    /// The row version: 1 after create, one more after each update.
    pub version: i64,
    /// The change logged with the write, carrying its seq.
    pub change: Arc<Change>,
}

impl<R> From<Committed<R>> for Stored<R> {
    fn from(committed: Committed<R>) -> Stored<R> {
        Stored { value: committed.value, version: committed.version }
    }
}

/// What a write carries besides the value.
///
/// ```
/// use live_runtime::Write;
///
/// let write = Write::new().origin("req-1").if_version(3);
/// assert_eq!(write.if_version, Some(3));
/// ```
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct Write {
    /// The writer's request id (`Live-Request-Id`), kept with the change as its `origin`.
    pub origin: Option<String>,
    /// Write only if the row is at this version, else [`StoreError::VersionMismatch`].
    pub if_version: Option<i64>,
}

impl Write {
    /// No origin, no version condition.
    pub fn new() -> Write {
        Write::default()
    }

    /// The same write, carrying the writer's request id.
    pub fn origin(mut self, origin: impl Into<String>) -> Write {
        self.origin = Some(origin.into());
        self
    }

    /// The same write, made only if the row is at `version`.
    pub fn if_version(mut self, version: i64) -> Write {
        self.if_version = Some(version);
        self
    }
}

impl<R: LiveResource> Records<R> {
    /// The same records seen under one partition of a nested path (docs/rest.md, "Nested
    /// resources"), whose keys are `keys` in the order of [`Descriptor::keys`](crate::Descriptor::keys):
    /// lists, counts and snapshots then hold that partition's rows only; a row of another
    /// partition is [`StoreError::NotFound`] to `get`, `modify` and `delete`; and `create` refuses
    /// a value whose keys differ, as [`StoreError::Invalid`] on the key's field. This is how the
    /// REST routes of `/api/rooms/7/messages` see `Message`.
    ///
    /// Keys of the wrong number, or that cannot name a partition, are [`StoreError::Invalid`].
    pub fn partition(&self, keys: Vec<Value>) -> Result<Records<R>, StoreError> {
        let descriptor = R::DESCRIPTOR;
        let mut errors = ValidationErrors::new();
        if keys.len() != descriptor.keys.len() {
            errors.add("path", format!("expected {} partition keys, found {}", descriptor.keys.len(), keys.len()));
            return Err(StoreError::Invalid(errors));
        }
        let mut typed = Vec::with_capacity(keys.len());
        for (&column, key) in descriptor.keys.iter().zip(&keys) {
            let column = &descriptor.columns[column];
            match crate::value::coerce(key, column.ty) {
                Some(value) if crate::partition::key_segment(&value).is_some() => typed.push(value.into_owned()),
                _ => {
                    errors.add(column.field, crate::partition::SEGMENT_RULE);
                }
            }
        }
        errors.into_result().map_err(StoreError::Invalid)?;
        Ok(Records { store: self.store.clone(), partition: Some(typed.into()), _resource: PhantomData })
    }

    /// Whether the partition these records are seen under exists: `false` only when the resource
    /// has a parent (docs/rest.md, "Parents") and the parent these keys name does not exist. A
    /// list under a missing parent answers `404` rather than an empty list.
    pub async fn partition_exists(&self) -> Result<bool, StoreError> {
        let (Some(keys), Some(links)) = (self.partition.as_deref(), self.store.links::<R>()) else {
            return Ok(true);
        };
        let Some(parent) = &links.parent else { return Ok(true) };
        dispatch!(self.store, |pool, D| ops::parent_exists::<D>(pool, parent, keys).await)
    }

    /// The partition keys these records are seen under (see [`partition`](Self::partition)).
    pub fn partition_keys(&self) -> Option<&[Value]> {
        self.partition.as_deref()
    }

    /// The value with this id, or [`StoreError::NotFound`].
    pub async fn get(&self, id: impl Into<Value>) -> Result<Stored<R>, StoreError> {
        let id = id.into();
        let scope = self.partition.as_deref();
        dispatch!(self.store, |pool, D| ops::get::<D, R>(pool, id, scope).await)
    }

    /// The values matching `query`, in its order (then by id).
    pub async fn list(&self, query: &ListQuery) -> Result<Vec<Stored<R>>, StoreError> {
        let scope = self.partition.as_deref();
        dispatch!(self.store, |pool, D| ops::list::<D, R>(pool, query, scope).await)
    }

    /// The values matching `query` together with the seq of the whole log they correspond to,
    /// read in one transaction: every event with a greater seq changes them, none at or below
    /// it does (docs/live.md, "Snapshot").
    pub async fn snapshot(&self, query: &ListQuery) -> Result<(i64, Vec<Stored<R>>), StoreError> {
        let scope = self.partition.as_deref();
        dispatch!(self.store, |pool, D| ops::snapshot::<D, R>(pool, query, scope).await)
    }

    /// How many values match `filters`.
    pub async fn count(&self, filters: &[Filter]) -> Result<u64, StoreError> {
        let scope = self.partition.as_deref();
        dispatch!(self.store, |pool, D| ops::count::<D, R>(pool, filters, scope).await)
    }

    /// Inserts `value` (its id is assigned by the store, its version is 1) and logs a `POST`
    /// change.
    pub async fn create(&self, value: R, write: &Write) -> Result<Committed<R>, StoreError> {
        let sinks = &self.store.inner.sinks;
        let scope = self.partition.as_deref();
        let links = self.store.links::<R>();
        let parent = links.as_ref().and_then(|links| links.parent.as_ref());
        dispatch_write!(self.store, |pool, D| ops::create::<D, R>(pool, sinks, value, write, scope, parent).await)
    }

    /// Inserts every value in one transaction: all or none. Each is validated first.
    pub async fn create_many(&self, values: Vec<R>, write: &Write) -> Result<Vec<Committed<R>>, StoreError> {
        if values.is_empty() {
            return Ok(Vec::new());
        }
        let sinks = &self.store.inner.sinks;
        let scope = self.partition.as_deref();
        let links = self.store.links::<R>();
        let parent = links.as_ref().and_then(|links| links.parent.as_ref());
        dispatch_write!(self.store, |pool, D| ops::create_many::<D, R>(pool, sinks, values, write, scope, parent).await)
    }

    /// Replaces the row with `id` by `change(current)` in one transaction and logs a `PUT`
    /// (`method` says which) change. The id and version are kept by the store whatever `change`
    /// returns: the version grows by exactly one.
    ///
    /// The row is locked while `change` runs, so `change` should be quick and must not write
    /// through the store itself. An error from `change` rolls back and is returned as is.
    pub async fn modify<F>(
        &self,
        id: impl Into<Value>,
        method: Method,
        write: &Write,
        change: F,
    ) -> Result<Committed<R>, StoreError>
    where
        F: FnOnce(Stored<R>) -> Result<R, StoreError> + Send,
    {
        let id = id.into();
        let sinks = &self.store.inner.sinks;
        let scope = self.partition.as_deref();
        dispatch_write!(self.store, |pool, D| ops::modify::<D, R, F>(pool, sinks, id, method, write, scope, change)
            .await)
    }

    /// Replaces the row with `id` by `value` (a `PUT`).
    pub async fn replace(&self, id: impl Into<Value>, value: R, write: &Write) -> Result<Committed<R>, StoreError> {
        self.modify(id, Method::Put, write, |_| Ok(value)).await
    }

    /// Changes the row with `id` in place (a `PATCH`): `change` edits the current value.
    pub async fn update<F>(&self, id: impl Into<Value>, write: &Write, change: F) -> Result<Committed<R>, StoreError>
    where
        F: FnOnce(&mut R) + Send,
    {
        self.modify(id, Method::Patch, write, |mut current| {
            change(&mut current.value);
            Ok(current.value)
        })
        .await
    }

    /// Deletes the row with `id`, logs a `DELETE` change, and returns the row as it was.
    pub async fn delete(&self, id: impl Into<Value>, write: &Write) -> Result<Committed<R>, StoreError> {
        let id = id.into();
        let sinks = &self.store.inner.sinks;
        let scope = self.partition.as_deref();
        let family = self.store.family();
        dispatch_write!(self.store, |pool, D| ops::delete::<D, R>(pool, sinks, id, write, scope, &family).await)
    }
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
    /// The value could not be serialised to JSON for the event log.
    #[error("event body: {0}")]
    Body(String),
    /// Any other database error.
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
}

/// Sorts a database error into the [`StoreError`] a caller can act on. The only place that
/// looks inside `sqlx::Error`.
pub(crate) fn classify(error: sqlx::Error) -> StoreError {
    match &error {
        sqlx::Error::RowNotFound => StoreError::NotFound,
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => StoreError::Unavailable(error),
        sqlx::Error::Database(database) => {
            if database.is_unique_violation() {
                return StoreError::Conflict(database.message().to_owned());
            }
            let code = database.code();
            let code = code.as_deref().unwrap_or_default();
            // PostgreSQL: class 08 is a connection exception, 53 insufficient resources
            // (too many connections), 57P0x an operator or crash shutdown. SQLite: 5 and 6
            // (BUSY, LOCKED) mean another writer outlasted the busy timeout.
            let postgres = database.try_downcast_ref::<sqlx::postgres::PgDatabaseError>();
            // PostgreSQL class 22 (data exception: a timestamp out of its range, say) is a
            // value the database cannot hold: the writer's mistake, not a failure.
            if let Some(postgres) = postgres
                && code.starts_with("22")
            {
                let mut errors = ValidationErrors::new();
                errors.add(postgres.column().unwrap_or("value"), postgres.message());
                return StoreError::Invalid(errors);
            }
            let unavailable = match postgres {
                Some(_) => code.starts_with("08") || code.starts_with("53") || code.starts_with("57P0"),
                None => matches!(code, "5" | "6" | "261" | "262" | "517"),
            };
            if unavailable { StoreError::Unavailable(error) } else { StoreError::Database(error) }
        }
        _ => StoreError::Database(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send<T: Send>(_: &T) {}

    // Handlers generic over `R` need every future of the API to be `Send` without knowing `R`.
    #[allow(dead_code)]
    fn futures_are_send_for_any_resource<R: LiveResource>(records: Records<R>, value: R, query: ListQuery) {
        let write = Write::new();
        assert_send(&records.get(1));
        assert_send(&records.list(&query));
        assert_send(&records.count(&query.filters));
        assert_send(&records.delete(1, &write));
        assert_send(&records.update(1, &write, |_| {}));
        assert_send(&records.modify(1, Method::Put, &write, |current| Ok(current.value)));
        assert_send(&records.create(value, &write));
    }
}
