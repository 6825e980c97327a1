//! The store's operations, written once over the [`Driver`] each database implements
//! (`driver.rs`): reads, writes, the event log and its retention.
//!
//! A write is always: begin; read or change the row; serialize the row once; append its change to
//! the log; commit; report the change to the store's sinks. The append, the commit and the report
//! run under each sink's order lock, so that a sink learns of this process's commits in seq order.

use std::borrow::Cow;
use std::sync::Arc;

use chrono::{SubsecRound, Utc};
use serde_json::value::RawValue;
use sqlx::{Pool, Transaction};

use super::driver::{Conn, Driver, Query, Row};
use super::family::{Family, Links, ParentLink};
use super::log::{Pruned, Retention};
use super::query::FilterOp;
use super::sql::{self, Statements};
use super::{Committed, Filter, ListQuery, Sinks, StoreError, Stored, Write, classify};
use crate::change::{Change, Method};
use crate::partition;
use crate::resource::{self, Descriptor, LiveResource, SqlType, ValidationErrors, Value};

/// Decodes a selected row (descriptor columns, then the version if separate) into its values, in
/// descriptor order, and its version.
fn decode_values<D: Driver>(
    row: &Row<D::DB>,
    descriptor: &Descriptor,
    statements: &Statements,
) -> Result<(Vec<Value>, i64), StoreError> {
    let mut values = Vec::with_capacity(descriptor.columns.len());
    for (index, column) in descriptor.columns.iter().enumerate() {
        values.push(D::decode(row, index, column.ty).map_err(classify)?);
    }
    let version = if statements.separate_version {
        D::decode(row, statements.version_index, SqlType::I64).map_err(classify)?
    } else {
        values[statements.version_index].clone()
    };
    let Value::Int(version) = version else {
        return Err(StoreError::Decode(resource::DecodeError::MissingColumn { index: statements.version_index }));
    };
    Ok((values, version))
}

/// Decodes a selected row into a value, its version and its id, and with `keys` also its
/// partition keys (empty otherwise).
fn decode_stored<D: Driver, R: LiveResource>(
    row: &Row<D::DB>,
    statements: &Statements,
    keys: bool,
) -> Result<(Stored<R>, Value, Vec<Value>), StoreError> {
    let descriptor = R::DESCRIPTOR;
    let (values, version) = decode_values::<D>(row, descriptor, statements)?;
    let id = values[descriptor.id].clone();
    let keys = if keys { descriptor.keys_of(&values) } else { Vec::new() };
    let value = resource::from_row(values)?;
    Ok((Stored { value, version }, id, keys))
}

/// Decodes a selected row into a value and its version.
fn decode_value<D: Driver, R: LiveResource>(
    row: &Row<D::DB>,
    statements: &Statements,
) -> Result<Stored<R>, StoreError> {
    decode_stored::<D, R>(row, statements, false).map(|(stored, _, _)| stored)
}

/// Whether a row with partition keys `keys` is in `scope` (every row is, without one).
fn in_scope(keys: &[Value], scope: Option<&[Value]>) -> bool {
    scope.is_none_or(|scope| scope == keys)
}

/// The channel of a row with partition keys `keys`: the resource's path, or for a nested one the
/// path of the row's partition.
fn channel_of(descriptor: &'static Descriptor, keys: &[Value]) -> Result<Cow<'static, str>, StoreError> {
    if keys.is_empty() {
        return Ok(Cow::Borrowed(descriptor.path));
    }
    // Keys are checked before they are written, so a stored row always has a channel.
    descriptor.channel(keys).map(Cow::Owned).ok_or_else(|| {
        StoreError::Database(sqlx::Error::Protocol(format!(
            "a row of {} has no partition channel",
            descriptor.type_name
        )))
    })
}

/// Refuses a change of partition keys: a row stays in its partition (and on its channel) for life.
fn unchanged_keys(descriptor: &Descriptor, keys: &[Value], next: &[Value]) -> Result<(), StoreError> {
    let mut errors = ValidationErrors::new();
    for (&column, key) in descriptor.keys.iter().zip(keys) {
        if next[column] != *key {
            errors.add(descriptor.columns[column].field, "cannot be changed: it names the record's partition");
        }
    }
    errors.into_result().map_err(StoreError::Invalid)
}

/// `query` narrowed to the partition `scope`, if any.
fn scoped<'q>(descriptor: &Descriptor, query: &'q ListQuery, scope: Option<&[Value]>) -> Cow<'q, ListQuery> {
    match scope {
        None => Cow::Borrowed(query),
        Some(keys) => {
            let mut narrowed = query.clone();
            narrowed.filters.splice(0..0, partition_filters(descriptor, keys));
            Cow::Owned(narrowed)
        }
    }
}

/// One equality filter per partition key.
fn partition_filters(descriptor: &Descriptor, keys: &[Value]) -> Vec<Filter> {
    descriptor
        .keys
        .iter()
        .zip(keys)
        .map(|(&column, value)| Filter { column, op: FilterOp::Eq, negate: false, values: vec![value.clone()] })
        .collect()
}

/// Refuses partition keys that cannot name a partition (a string that is no channel segment), and
/// with a `scope`, keys of another partition than the one the write was made under.
fn check_keys(descriptor: &Descriptor, row: &[Value], scope: Option<&[Value]>) -> Result<(), StoreError> {
    let mut errors = ValidationErrors::new();
    for (position, &column) in descriptor.keys.iter().enumerate() {
        let field = descriptor.columns[column].field;
        if partition::key_segment(&row[column]).is_none() {
            errors.add(field, partition::SEGMENT_RULE);
        } else if scope.is_some_and(|scope| scope.get(position) != Some(&row[column])) {
            errors.add(field, "does not match the path");
        }
    }
    errors.into_result().map_err(StoreError::Invalid)
}

/// The id as a value of the id column's type; `None` when it cannot be one (so no row has it).
fn id_value(descriptor: &Descriptor, id: &Value) -> Option<Value> {
    match crate::value::coerce(id, descriptor.id_column().ty)? {
        Cow::Borrowed(Value::Null) => None,
        coerced => Some(coerced.into_owned()),
    }
}

/// Refuses text that PostgreSQL cannot store (a NUL character, in a text column or inside a
/// JSON document), on every backend so that the contract is the same everywhere and such input
/// is a validation error, not a database failure.
fn check_storable(descriptor: &Descriptor, values: &[Value]) -> Result<(), StoreError> {
    let mut errors = ValidationErrors::new();
    for (column, value) in descriptor.columns.iter().zip(values) {
        let storable = match value {
            Value::Text(text) => !text.contains('\0'),
            Value::Json(json) => crate::value::json_is_storable(json),
            _ => true,
        };
        if !storable {
            errors.add(column.field, "must not contain NUL characters");
        }
    }
    errors.into_result().map_err(StoreError::Invalid)
}

/// Binds the columns of `values` for an insert (`with_id`) or an update (without), then the
/// version when it is a column of its own.
fn bind_columns<'q, D: Driver>(
    mut query: Query<'q, D::DB>,
    descriptor: &Descriptor,
    values: &'q [Value],
    with_id: bool,
    separate_version: Option<&'q Value>,
) -> Query<'q, D::DB> {
    for (index, (column, value)) in descriptor.columns.iter().zip(values).enumerate() {
        if index != descriptor.id || with_id {
            query = D::bind(query, value, column.ty);
        }
    }
    if let Some(version) = separate_version {
        query = D::bind(query, version, SqlType::I64);
    }
    query
}

/// A change made in the current transaction, waiting for its event to be appended: its channel, the
/// method, the row version, the row serialized once, and for an update the row before it.
struct Pending {
    channel: Cow<'static, str>,
    method: Method,
    version: i64,
    body: Box<RawValue>,
    before: Option<Box<RawValue>>,
}

impl Pending {
    fn of<R: LiveResource>(method: Method, stored: &Stored<R>, keys: &[Value]) -> Result<Pending, StoreError> {
        let channel = channel_of(R::DESCRIPTOR, keys)?;
        Ok(Pending { channel, method, version: stored.version, body: serialize(&stored.value)?, before: None })
    }

    /// The same change with `before`, the row as it was, as its before-image.
    fn with_before(self, before: Box<RawValue>) -> Pending {
        Pending { before: Some(before), ..self }
    }
}

/// A row as JSON, as the log keeps it and REST answers with it.
fn serialize<R: LiveResource>(value: &R) -> Result<Box<RawValue>, StoreError> {
    serde_json::value::to_raw_value(value).map_err(|error| StoreError::Body(error.to_string()))
}

/// A write's outcome, with the change it logged.
fn committed<R>(stored: Stored<R>, change: Arc<Change>) -> Committed<R> {
    Committed { value: stored.value, version: stored.version, change }
}

/// Begins a write transaction in a task of its own, so that a caller that stops waiting (a client
/// that went away drops its request's future) cannot interrupt it half-way. sqlx sends `BEGIN`
/// before it has a `Transaction` to roll back on drop: cancelled in that window, the connection
/// went back to the pool still inside a transaction, holding SQLite's write lock, and every later
/// write failed until a restart. In its own task the begin always finishes; a transaction nobody
/// waits for any more is then dropped, which rolls it back.
async fn begin<D: Driver>(pool: &Pool<D::DB>) -> Result<Transaction<'static, D::DB>, StoreError> {
    let pool = pool.clone();
    match tokio::spawn(async move { D::begin_write(&pool).await }).await {
        Ok(begun) => begun.map_err(classify),
        Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
        // Only a runtime that is shutting down cancels the task.
        Err(_) => Err(StoreError::Unavailable(sqlx::Error::PoolClosed)),
    }
}

/// Appends `pending` to the event log, commits, and reports the logged changes to the store's sinks;
/// returns them, in seq order.
async fn commit<D: Driver>(
    mut tx: Transaction<'static, D::DB>,
    sinks: &Sinks,
    pending: Vec<Pending>,
    write: &Write,
) -> Result<Vec<Arc<Change>>, StoreError> {
    if write.origin.as_deref().is_some_and(|origin| origin.contains('\0')) {
        let mut errors = ValidationErrors::new();
        errors.add("origin", "must not contain NUL characters");
        return Err(StoreError::Invalid(errors));
    }
    // Held from the first append until every sink is told, so that this store's commits reach each in
    // seq order. Tokio mutexes, because they are held across awaits; the database already serialises
    // this stretch (SQLite's write lock, PostgreSQL's advisory lock), so they add no waiting of their
    // own. Always taken in the same order, so two writers cannot deadlock on them.
    let sinks = sinks.live();
    let mut order = Vec::with_capacity(sinks.len());
    for sink in &sinks {
        order.push(sink.order().lock().await);
    }
    // Microseconds are what both databases keep, so a change reported and the same change read back
    // from the log agree.
    let at = Utc::now().trunc_subsecs(6);
    let at_value = Value::Timestamp(at);
    let mut changes = Vec::with_capacity(pending.len());
    for Pending { channel, method, version, body, before } in pending {
        let mut query = sqlx::query(D::DIALECT.insert_event());
        query = D::bind_text(query, Some(&channel));
        query = D::bind_text(query, Some(method.as_str()));
        query = D::bind_text(query, Some(body.get()));
        query = D::bind_i64(query, version);
        query = D::bind_text(query, write.origin.as_deref());
        query = D::bind(query, &at_value, SqlType::Timestamp);
        query = D::bind_text(query, before.as_deref().map(RawValue::get));
        let row = D::fetch_optional(&mut tx, query).await.map_err(classify)?;
        let seq = match row.map(|row| D::decode(&row, 0, SqlType::I64)) {
            Some(Ok(Value::Int(seq))) => seq,
            Some(Err(error)) => return Err(classify(error)),
            _ => return Err(StoreError::Database(sqlx::Error::RowNotFound)),
        };
        let mut change = Change::new(channel, method, version, write.origin.clone(), at, body, before);
        change.seq = seq;
        changes.push(Arc::new(change));
    }
    tx.commit().await.map_err(classify)?;
    for sink in &sinks {
        sink.committed(&changes);
    }
    drop(order);
    Ok(changes)
}

/// Commits a write of one change and returns it.
async fn commit_one<D: Driver>(
    tx: Transaction<'static, D::DB>,
    sinks: &Sinks,
    pending: Pending,
    write: &Write,
) -> Result<Arc<Change>, StoreError> {
    let mut changes = commit::<D>(tx, sinks, vec![pending], write).await?;
    changes.pop().ok_or(StoreError::Database(sqlx::Error::RowNotFound))
}

/// The value with this id, if it is in `scope`.
pub(crate) async fn get<D: Driver, R: LiveResource>(
    pool: &Pool<D::DB>,
    id: Value,
    scope: Option<&[Value]>,
) -> Result<Stored<R>, StoreError> {
    let statements = sql::statements::<R>(D::DIALECT);
    let id = id_value(R::DESCRIPTOR, &id).ok_or(StoreError::NotFound)?;
    let mut conn = pool.acquire().await.map_err(classify)?;
    let query = D::bind(sqlx::query(&statements.get), &id, R::DESCRIPTOR.id_column().ty);
    let row = D::fetch_optional(&mut conn, query).await.map_err(classify)?.ok_or(StoreError::NotFound)?;
    let (stored, _, keys) = decode_stored::<D, R>(&row, statements, scope.is_some())?;
    if !in_scope(&keys, scope) {
        return Err(StoreError::NotFound);
    }
    Ok(stored)
}

/// A list's or count's SQL with its parameters bound.
fn bound<'q, D: Driver>(built: &'q sql::Built<'_>) -> Query<'q, D::DB> {
    let mut query = sqlx::query(&built.sql);
    for (value, ty) in &built.params {
        query = D::bind(query, value, *ty);
    }
    query
}

/// The values of `scope` matching `query`.
pub(crate) async fn list<D: Driver, R: LiveResource>(
    pool: &Pool<D::DB>,
    query: &ListQuery,
    scope: Option<&[Value]>,
) -> Result<Vec<Stored<R>>, StoreError> {
    let statements = sql::statements::<R>(D::DIALECT);
    let query = scoped(R::DESCRIPTOR, query, scope);
    let built = sql::list(D::DIALECT, R::DESCRIPTOR, statements, &query)?;
    let mut conn = pool.acquire().await.map_err(classify)?;
    let rows = D::fetch_all(&mut conn, bound::<D>(&built)).await.map_err(classify)?;
    rows.iter().map(|row| decode_value::<D, R>(row, statements)).collect()
}

/// How many values of `scope` match `filters`.
pub(crate) async fn count<D: Driver, R: LiveResource>(
    pool: &Pool<D::DB>,
    filters: &[Filter],
    scope: Option<&[Value]>,
) -> Result<u64, StoreError> {
    let statements = sql::statements::<R>(D::DIALECT);
    let mut all = scope.map(|keys| partition_filters(R::DESCRIPTOR, keys)).unwrap_or_default();
    let filters = if all.is_empty() {
        filters
    } else {
        all.extend_from_slice(filters);
        &all
    };
    let built = sql::count(D::DIALECT, R::DESCRIPTOR, statements, filters)?;
    let mut conn = pool.acquire().await.map_err(classify)?;
    let row = D::fetch_optional(&mut conn, bound::<D>(&built)).await.map_err(classify)?;
    match row.map(|row| D::decode(&row, 0, SqlType::I64)) {
        Some(Ok(Value::Int(count))) => Ok(u64::try_from(count).unwrap_or(0)),
        Some(Err(error)) => Err(classify(error)),
        _ => Ok(0),
    }
}

/// Inserts one validated value in the open transaction; returns it as stored, with its change.
async fn insert<D: Driver, R: LiveResource>(
    tx: &mut Transaction<'static, D::DB>,
    statements: &Statements,
    value: R,
    scope: Option<&[Value]>,
    parent: Option<&ParentLink>,
) -> Result<(Stored<R>, Pending), StoreError> {
    let descriptor = R::DESCRIPTOR;
    let first = Value::Int(1);
    let mut row = resource::encode_row(&value).map_err(StoreError::Invalid)?;
    drop(value);
    check_storable(descriptor, &row)?;
    check_keys(descriptor, &row, scope)?;
    if let Some(parent) = parent {
        let keys: Vec<Value> = descriptor.keys.iter().map(|&column| row[column].clone()).collect();
        // Locks the parent against a delete until this transaction ends (PostgreSQL).
        if !parent_found::<D>(tx, parent, &parent.sql.parent_exists_locking, &keys).await? {
            return Err(StoreError::NotFound);
        }
    }
    if !statements.id_generated {
        row[descriptor.id] = Value::Uuid(uuid::Uuid::new_v4());
    }
    if let Some(version) = descriptor.version {
        row[version] = first.clone();
    }
    let separate = statements.separate_version.then_some(&first);
    let query =
        bind_columns::<D>(sqlx::query(&statements.insert), descriptor, &row, !statements.id_generated, separate);
    let returned = D::fetch_optional(tx, query).await.map_err(classify)?;
    let returned = returned.ok_or(StoreError::Database(sqlx::Error::RowNotFound))?;
    let (stored, _, keys) = decode_stored::<D, R>(&returned, statements, descriptor.is_nested())?;
    let pending = Pending::of(Method::Post, &stored, &keys)?;
    Ok((stored, pending))
}

/// Inserts `value` and logs a `POST`.
pub(crate) async fn create<D: Driver, R: LiveResource>(
    pool: &Pool<D::DB>,
    sinks: &Sinks,
    value: R,
    write: &Write,
    scope: Option<&[Value]>,
    parent: Option<&ParentLink>,
) -> Result<Committed<R>, StoreError> {
    let statements = sql::statements::<R>(D::DIALECT);
    value.validate().map_err(StoreError::Invalid)?;
    let mut tx = begin::<D>(pool).await?;
    let (stored, pending) = insert::<D, R>(&mut tx, statements, value, scope, parent).await?;
    let change = commit_one::<D>(tx, sinks, pending, write).await?;
    Ok(committed(stored, change))
}

/// Inserts `values` in one transaction and logs a `POST` for each: all or none.
pub(crate) async fn create_many<D: Driver, R: LiveResource>(
    pool: &Pool<D::DB>,
    sinks: &Sinks,
    values: Vec<R>,
    write: &Write,
    scope: Option<&[Value]>,
    parent: Option<&ParentLink>,
) -> Result<Vec<Committed<R>>, StoreError> {
    let statements = sql::statements::<R>(D::DIALECT);
    for value in &values {
        value.validate().map_err(StoreError::Invalid)?;
    }
    let mut tx = begin::<D>(pool).await?;
    let mut stored = Vec::with_capacity(values.len());
    let mut pending = Vec::with_capacity(values.len());
    for value in values {
        let (value, change) = insert::<D, R>(&mut tx, statements, value, scope, parent).await?;
        pending.push(change);
        stored.push(value);
    }
    let changes = commit::<D>(tx, sinks, pending, write).await?;
    Ok(stored.into_iter().zip(changes).map(|(stored, change)| committed(stored, change)).collect())
}

/// Replaces the row with `id` by `change(current)` and logs `method`.
pub(crate) async fn modify<D: Driver, R: LiveResource, F>(
    pool: &Pool<D::DB>,
    sinks: &Sinks,
    id: Value,
    method: Method,
    write: &Write,
    scope: Option<&[Value]>,
    change: F,
) -> Result<Committed<R>, StoreError>
where
    F: FnOnce(Stored<R>) -> Result<R, StoreError> + Send,
{
    let descriptor = R::DESCRIPTOR;
    let statements = sql::statements::<R>(D::DIALECT);
    let id = id_value(descriptor, &id).ok_or(StoreError::NotFound)?;
    let mut tx = begin::<D>(pool).await?;
    let query = D::bind(sqlx::query(&statements.get_for_update), &id, descriptor.id_column().ty);
    let row = D::fetch_optional(&mut tx, query).await.map_err(classify)?.ok_or(StoreError::NotFound)?;
    let (current, stored_id, keys) = decode_stored::<D, R>(&row, statements, descriptor.is_nested())?;
    drop(row);
    if !in_scope(&keys, scope) {
        return Err(StoreError::NotFound);
    }
    if let Some(expected) = write.if_version
        && expected != current.version
    {
        return Err(StoreError::VersionMismatch { current: current.version });
    }
    let version = Value::Int(current.version + 1);
    // The before-image: the row as it is now, serialized as its event body was.
    let before = serialize(&current.value)?;
    let next = change(current)?;
    next.validate().map_err(StoreError::Invalid)?;
    let mut values = resource::encode_row(&next).map_err(StoreError::Invalid)?;
    drop(next);
    check_storable(descriptor, &values)?;
    unchanged_keys(descriptor, &keys, &values)?;
    values[descriptor.id] = stored_id;
    if let Some(index) = descriptor.version {
        values[index] = version.clone();
    }
    let separate = statements.separate_version.then_some(&version);
    let mut query = bind_columns::<D>(sqlx::query(&statements.update), descriptor, &values, false, separate);
    query = D::bind(query, &values[descriptor.id], descriptor.id_column().ty);
    let returned = D::fetch_optional(&mut tx, query).await.map_err(classify)?.ok_or(StoreError::NotFound)?;
    let stored = decode_value::<D, R>(&returned, statements)?;
    let pending = Pending::of(method, &stored, &keys)?.with_before(before);
    let change = commit_one::<D>(tx, sinks, pending, write).await?;
    Ok(committed(stored, change))
}

/// Deletes the row with `id`, logs a `DELETE`, and returns the row as it was.
pub(crate) async fn delete<D: Driver, R: LiveResource>(
    pool: &Pool<D::DB>,
    sinks: &Sinks,
    id: Value,
    write: &Write,
    scope: Option<&[Value]>,
    family: &Family,
) -> Result<Committed<R>, StoreError> {
    let descriptor = R::DESCRIPTOR;
    let statements = sql::statements::<R>(D::DIALECT);
    let id = id_value(descriptor, &id).ok_or(StoreError::NotFound)?;
    let expected = write.if_version.map(Value::Int);
    let mut tx = begin::<D>(pool).await?;
    let query = match &expected {
        None => D::bind(sqlx::query(&statements.delete), &id, descriptor.id_column().ty),
        Some(version) => {
            let query = D::bind(sqlx::query(&statements.delete_if_version), &id, descriptor.id_column().ty);
            D::bind(query, version, SqlType::I64)
        }
    };
    let Some(row) = D::fetch_optional(&mut tx, query).await.map_err(classify)? else {
        if expected.is_none() {
            return Err(StoreError::NotFound);
        }
        // Nothing deleted under a version condition: tell a stale version from a missing row.
        let query = D::bind(sqlx::query(&statements.get), &id, descriptor.id_column().ty);
        let row = D::fetch_optional(&mut tx, query).await.map_err(classify)?.ok_or(StoreError::NotFound)?;
        let (current, _, keys) = decode_stored::<D, R>(&row, statements, scope.is_some())?;
        if !in_scope(&keys, scope) {
            return Err(StoreError::NotFound);
        }
        return Err(StoreError::VersionMismatch { current: current.version });
    };
    let (stored, _, keys) = decode_stored::<D, R>(&row, statements, descriptor.is_nested())?;
    // Deleted in this transaction, which dropping it rolls back.
    if !in_scope(&keys, scope) {
        return Err(StoreError::NotFound);
    }
    let pending = Pending::of(Method::Delete, &stored, &keys)?;
    let links = family.links(std::any::TypeId::of::<R>()).filter(|links| !links.children.is_empty());
    let Some(links) = links else {
        let change = commit_one::<D>(tx, sinks, pending, write).await?;
        return Ok(committed(stored, change));
    };
    // The row is deleted (and on PostgreSQL locked) before its children are looked for: a create
    // under it either committed first and is seen, or waits for this transaction and finds no parent.
    let mut name = keys;
    name.push(id);
    let mut pendings = remove_children::<D>(&mut tx, family, links, descriptor, name).await?;
    pendings.push(pending);
    let mut changes = commit::<D>(tx, sinks, pendings, write).await?;
    let change = changes.pop().ok_or(StoreError::Database(sqlx::Error::RowNotFound))?;
    Ok(committed(stored, change))
}

/// Binds `values` as the columns `columns` of `descriptor` (by index), each as its column's type;
/// `None` when a value cannot be one (so no row has it).
fn bind_as<'q, D: Driver>(
    mut query: Query<'q, D::DB>,
    descriptor: &Descriptor,
    columns: impl Iterator<Item = usize>,
    values: &'q [Value],
) -> Option<Query<'q, D::DB>> {
    for (column, value) in columns.zip(values) {
        let ty = descriptor.columns[column].ty;
        crate::value::coerce(value, ty)?;
        query = D::bind(query, value, ty);
    }
    Some(query)
}

/// Whether the parent named by a child's partition `keys` exists, asked with `sql` (locking or not).
async fn parent_found<D: Driver>(
    conn: &mut Conn<D::DB>,
    parent: &ParentLink,
    sql: &str,
    keys: &[Value],
) -> Result<bool, StoreError> {
    let descriptor = parent.node.descriptor;
    let columns = descriptor.keys.iter().copied().chain([descriptor.id]);
    let Some(query) = bind_as::<D>(sqlx::query(sql), descriptor, columns, &keys[..parent.shared]) else {
        return Ok(false);
    };
    Ok(D::fetch_optional(conn, query).await.map_err(classify)?.is_some())
}

/// Whether the parent named by a child's partition `keys` exists (not locking it).
pub(crate) async fn parent_exists<D: Driver>(
    pool: &Pool<D::DB>,
    parent: &ParentLink,
    keys: &[Value],
) -> Result<bool, StoreError> {
    let mut conn = pool.acquire().await.map_err(classify)?;
    parent_found::<D>(&mut conn, parent, &parent.sql.parent_exists, keys).await
}

/// In the transaction deleting a row of `parent` (named by `name`: its keys, then its id), deletes
/// the rows of every cascading child resource under it, depth first, and returns their changes in
/// the order they are to be logged; a child resource that does not cascade and has rows under it
/// refuses the delete with a conflict.
fn remove_children<'t, D: Driver>(
    tx: &'t mut Transaction<'static, D::DB>,
    family: &'t Family,
    links: &'t Links,
    parent: &'static Descriptor,
    name: Vec<Value>,
) -> std::pin::Pin<Box<dyn Future<Output = Result<Vec<Pending>, StoreError>> + Send + 't>> {
    Box::pin(async move {
        let mut pendings = Vec::new();
        for child in &links.children {
            let descriptor = child.node.descriptor;
            let columns = descriptor.keys.iter().copied().take(child.shared);
            if !child.node.cascade {
                let Some(query) = bind_as::<D>(sqlx::query(&child.sql.any_child), descriptor, columns, &name) else {
                    continue;
                };
                if D::fetch_optional(&mut **tx, query).await.map_err(classify)?.is_some() {
                    return Err(StoreError::Conflict(format!(
                        "{} still has {} rows under it: delete them first",
                        record_path(parent, &name),
                        descriptor.type_name,
                    )));
                }
                continue;
            }
            let Some(query) = bind_as::<D>(sqlx::query(&child.sql.delete_children), descriptor, columns, &name) else {
                continue;
            };
            let rows = D::fetch_all(&mut **tx, query).await.map_err(classify)?;
            let mut removed = Vec::with_capacity(rows.len());
            for row in &rows {
                removed.push(decode_values::<D>(row, descriptor, child.node.statements)?);
            }
            drop(rows);
            let grandchildren = family.links(child.node.type_id()).filter(|links| !links.children.is_empty());
            for (values, version) in removed {
                let keys = descriptor.keys_of(&values);
                if let Some(grandchildren) = grandchildren {
                    let mut name = keys.clone();
                    name.push(values[descriptor.id].clone());
                    pendings.extend(remove_children::<D>(tx, family, grandchildren, descriptor, name).await?);
                }
                let channel = channel_of(descriptor, &keys)?;
                let body = (child.node.body)(values)?;
                pendings.push(Pending { channel, method: Method::Delete, version, body, before: None });
            }
        }
        Ok(pendings)
    })
}

/// The record path of a row of `descriptor` named by `name` (its keys, then its id), for messages.
fn record_path(descriptor: &Descriptor, name: &[Value]) -> String {
    let (id, keys) = name.split_last().map_or((None, name), |(id, keys)| (Some(id), keys));
    let collection = descriptor.channel(keys).unwrap_or_else(|| descriptor.path.to_owned());
    match id.and_then(partition::key_segment) {
        Some(id) => format!("{collection}/{id}"),
        None => collection,
    }
}

/// Events of `channel` after `after`, oldest first, at most `limit`.
pub(crate) async fn events_after<D: Driver>(
    pool: &Pool<D::DB>,
    channel: &str,
    after: i64,
    limit: u32,
) -> Result<Vec<Change>, StoreError> {
    if channel.contains('\0') {
        // No channel has such a name, and PostgreSQL could not even compare it.
        return Ok(Vec::new());
    }
    let mut conn = pool.acquire().await.map_err(classify)?;
    let mut query = sqlx::query(D::DIALECT.events_after());
    query = D::bind_text(query, Some(channel));
    query = D::bind_i64(query, after);
    query = D::bind_i64(query, limit.into());
    let rows = D::fetch_all(&mut conn, query).await.map_err(classify)?;
    rows.iter().map(decode_event::<D>).collect()
}

/// Events of every channel after `after`, oldest first, at most `limit`.
pub(crate) async fn events_after_any<D: Driver>(
    pool: &Pool<D::DB>,
    after: i64,
    limit: u32,
) -> Result<Vec<Change>, StoreError> {
    let mut conn = pool.acquire().await.map_err(classify)?;
    let query = D::bind_i64(D::bind_i64(sqlx::query(D::DIALECT.events_after_any()), after), limit.into());
    let rows = D::fetch_all(&mut conn, query).await.map_err(classify)?;
    rows.iter().map(decode_event::<D>).collect()
}

/// The last seq of the whole log, 0 when it is empty.
pub(crate) async fn last_seq_any<D: Driver>(pool: &Pool<D::DB>) -> Result<i64, StoreError> {
    let mut conn = pool.acquire().await.map_err(classify)?;
    scalar::<D>(&mut conn, sqlx::query(D::DIALECT.prune().last)).await
}

/// The values matching `query` and the last seq of the whole log, read in one transaction so
/// that the values are exactly the state after that seq (seq order is commit order).
pub(crate) async fn snapshot<D: Driver, R: LiveResource>(
    pool: &Pool<D::DB>,
    query: &ListQuery,
    scope: Option<&[Value]>,
) -> Result<(i64, Vec<Stored<R>>), StoreError> {
    let statements = sql::statements::<R>(D::DIALECT);
    let query = scoped(R::DESCRIPTOR, query, scope);
    let built = sql::list(D::DIALECT, R::DESCRIPTOR, statements, &query)?;
    let mut tx = pool.begin_with(D::DIALECT.begin_snapshot()).await.map_err(classify)?;
    let seq = scalar::<D>(&mut tx, sqlx::query(D::DIALECT.prune().last)).await?;
    let rows = D::fetch_all(&mut tx, bound::<D>(&built)).await.map_err(classify)?;
    let values: Result<Vec<_>, _> = rows.iter().map(|row| decode_value::<D, R>(row, statements)).collect();
    tx.rollback().await.map_err(classify)?;
    Ok((seq, values?))
}

fn decode_event<D: Driver>(row: &Row<D::DB>) -> Result<Change, StoreError> {
    let get = |index, ty| D::decode(row, index, ty).map_err(classify);
    let malformed =
        |what: &str| StoreError::Database(sqlx::Error::Protocol(format!("malformed event log row: {what}")));
    let (Value::Int(seq), Value::Text(channel), Value::Text(method), Value::Text(body), Value::Int(version)) = (
        get(0, SqlType::I64)?,
        get(1, SqlType::Text)?,
        get(2, SqlType::Text)?,
        get(3, SqlType::Text)?,
        get(4, SqlType::I64)?,
    ) else {
        return Err(malformed("a required column is null"));
    };
    // Checked, not parsed into a tree: the text is kept as it is.
    let body = RawValue::from_string(body).map_err(|_| malformed("body is not JSON"))?;
    let origin = match get(5, SqlType::Text)? {
        Value::Text(origin) => Some(origin),
        _ => None,
    };
    let Value::Timestamp(at) = get(6, SqlType::Timestamp)? else {
        return Err(malformed("at is null"));
    };
    let before = match get(7, SqlType::Text)? {
        Value::Text(before) => Some(RawValue::from_string(before).map_err(|_| malformed("before_body is not JSON"))?),
        _ => None,
    };
    let method = Method::parse(&method).ok_or_else(|| malformed("unknown method"))?;
    let mut change = Change::new(Cow::Owned(channel), method, version, origin, at, body, before);
    change.seq = seq;
    Ok(change)
}

/// The last seq of `channel`, 0 when it has no events.
pub(crate) async fn last_seq<D: Driver>(pool: &Pool<D::DB>, channel: &str) -> Result<i64, StoreError> {
    if channel.contains('\0') {
        return Ok(0);
    }
    let mut conn = pool.acquire().await.map_err(classify)?;
    let query = D::bind_text(sqlx::query(D::DIALECT.last_seq()), Some(channel));
    let row = D::fetch_optional(&mut conn, query).await.map_err(classify)?;
    match row.map(|row| D::decode(&row, 0, SqlType::I64)) {
        Some(Ok(Value::Int(seq))) => Ok(seq),
        Some(Err(error)) => Err(classify(error)),
        _ => Ok(0),
    }
}

/// Runs a query that returns one `i64` (0 when it returns nothing).
async fn scalar<'c, D: Driver>(conn: &'c mut Conn<D::DB>, query: Query<'c, D::DB>) -> Result<i64, StoreError> {
    let row = D::fetch_optional(conn, query).await.map_err(classify)?;
    match row.map(|row| D::decode(&row, 0, SqlType::I64)) {
        Some(Ok(Value::Int(value))) => Ok(value),
        Some(Err(error)) => Err(classify(error)),
        _ => Ok(0),
    }
}

/// Deletes the events `retention` does not keep, in one write transaction, and raises the
/// pruned-through mark to match.
pub(crate) async fn prune_events<D: Driver>(pool: &Pool<D::DB>, retention: &Retention) -> Result<Pruned, StoreError> {
    let sql = D::DIALECT.prune();
    let mut tx = begin::<D>(pool).await?;
    let mut through = scalar::<D>(&mut tx, sqlx::query(sql.mark)).await?;
    if let Some(keep) = retention.max_events {
        let last = scalar::<D>(&mut tx, sqlx::query(sql.last)).await?;
        through = through.max(last.saturating_sub(i64::try_from(keep).unwrap_or(i64::MAX)));
    }
    if let Some(age) = retention.max_age {
        let cutoff = chrono::Duration::from_std(age).ok().and_then(|age| Utc::now().checked_sub_signed(age));
        if let Some(cutoff) = cutoff {
            let cutoff = Value::Timestamp(cutoff);
            let query = D::bind(sqlx::query(sql.last_before), &cutoff, SqlType::Timestamp);
            through = through.max(scalar::<D>(&mut tx, query).await?);
        }
    }
    let query = D::bind_i64(sqlx::query(sql.delete_through), through);
    D::fetch_all(&mut tx, query).await.map_err(classify)?;
    let query = D::bind_i64(D::bind_i64(sqlx::query(sql.raise_mark), through), through);
    D::fetch_all(&mut tx, query).await.map_err(classify)?;
    tx.commit().await.map_err(classify)?;
    Ok(Pruned { through })
}

/// The pruned-through mark: events with a seq at or below it may be gone.
pub(crate) async fn pruned_through<D: Driver>(pool: &Pool<D::DB>) -> Result<i64, StoreError> {
    let mut conn = pool.acquire().await.map_err(classify)?;
    scalar::<D>(&mut conn, sqlx::query(D::DIALECT.prune().mark)).await
}
