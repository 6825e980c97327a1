//! SQL text, built from a [`Descriptor`] once per resource and dialect, and per request only for
//! lists (whose filters vary).
//!
//! Column names come only from descriptors and are always quoted; values are never spliced into
//! the text, only bound as parameters.

use std::any::TypeId;
use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::{OnceLock, RwLock};

use super::driver::Dialect;
use super::query::{Direction, FilterOp, ListQuery};
use super::{Filter, StoreError};
use crate::resource::{Descriptor, LiveResource, ValidationErrors};
use crate::value::{self, SqlType, Value};

impl Dialect {
    /// Appends the `n`th (1-based) parameter placeholder.
    fn placeholder(self, out: &mut String, n: usize) {
        match self {
            Dialect::Sqlite => out.push('?'),
            Dialect::Postgres => {
                let _ = write!(out, "${n}");
            }
        }
    }

    /// The column type used when creating a table.
    pub(crate) fn ddl_type(self, ty: SqlType) -> &'static str {
        match self {
            Dialect::Sqlite => super::sqlite::ddl_type(ty),
            Dialect::Postgres => super::postgres::ddl_type(ty),
        }
    }

    /// Creates the event log and its per-channel index.
    pub(crate) fn create_event_log(self) -> &'static [&'static str] {
        match self {
            Dialect::Sqlite => &[
                "CREATE TABLE IF NOT EXISTS live_events (\
                 seq INTEGER PRIMARY KEY AUTOINCREMENT, \
                 channel TEXT NOT NULL, \
                 method TEXT NOT NULL, \
                 body TEXT NOT NULL, \
                 version INTEGER NOT NULL, \
                 origin TEXT, \
                 at TEXT NOT NULL, \
                 before_body TEXT)",
                "CREATE INDEX IF NOT EXISTS live_events_channel_seq ON live_events (channel, seq)",
                "CREATE TABLE IF NOT EXISTS live_events_pruned (\
                 id INTEGER PRIMARY KEY CHECK (id = 1), \
                 through INTEGER NOT NULL)",
                "INSERT INTO live_events_pruned (id, through) VALUES (1, 0) ON CONFLICT DO NOTHING",
            ],
            Dialect::Postgres => &[
                "CREATE TABLE IF NOT EXISTS live_events (\
                 seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, \
                 channel TEXT NOT NULL, \
                 method TEXT NOT NULL, \
                 body JSON NOT NULL, \
                 version BIGINT NOT NULL, \
                 origin TEXT, \
                 at TIMESTAMPTZ NOT NULL, \
                 before_body JSON)",
                "CREATE INDEX IF NOT EXISTS live_events_channel_seq ON live_events (channel, seq)",
                "CREATE TABLE IF NOT EXISTS live_events_pruned (\
                 id INTEGER PRIMARY KEY CHECK (id = 1), \
                 through BIGINT NOT NULL)",
                "INSERT INTO live_events_pruned (id, through) VALUES (1, 0) ON CONFLICT DO NOTHING",
            ],
        }
    }

    /// Adds the column of before-images to an event log created by a version that had none.
    pub(crate) fn add_before_body(self) -> &'static str {
        match self {
            Dialect::Sqlite => "ALTER TABLE live_events ADD COLUMN before_body TEXT",
            Dialect::Postgres => "ALTER TABLE live_events ADD COLUMN IF NOT EXISTS before_body JSON",
        }
    }

    /// The statements of [`Store::prune_events`](super::Store::prune_events), in the order it
    /// runs them.
    pub(crate) fn prune(self) -> &'static PruneSql {
        const SQLITE: PruneSql = PruneSql {
            last: "SELECT COALESCE(MAX(seq), 0) FROM live_events",
            last_before: "SELECT COALESCE(MAX(seq), 0) FROM live_events WHERE at < ?",
            delete_through: "DELETE FROM live_events WHERE seq <= ?",
            raise_mark: "UPDATE live_events_pruned SET through = ? WHERE id = 1 AND through < ?",
            mark: "SELECT through FROM live_events_pruned WHERE id = 1",
        };
        const POSTGRES: PruneSql = PruneSql {
            last: "SELECT COALESCE(MAX(seq), 0)::BIGINT FROM live_events",
            last_before: "SELECT COALESCE(MAX(seq), 0)::BIGINT FROM live_events WHERE at < $1",
            delete_through: "DELETE FROM live_events WHERE seq <= $1",
            raise_mark: "UPDATE live_events_pruned SET through = $1 WHERE id = 1 AND through < $2",
            mark: "SELECT through FROM live_events_pruned WHERE id = 1",
        };
        match self {
            Dialect::Sqlite => &SQLITE,
            Dialect::Postgres => &POSTGRES,
        }
    }

    /// Appends one event and returns its `seq`. Parameters: channel, method, body (JSON text),
    /// version, origin, at, before (JSON text or null). On PostgreSQL the bodies are cast to `json`, which keeps the text exactly
    /// (and converts by assignment into the `jsonb` column of a log created by an earlier version).
    ///
    /// On SQLite the write transaction began `IMMEDIATE`, so it already holds the database's one
    /// write lock: seqs are taken and committed in the same order. On PostgreSQL concurrent
    /// transactions could commit out of seq order, so the statement first takes a
    /// transaction-level advisory lock (held until commit) and only then draws the seq; the
    /// `OFFSET 0` keeps the planner from folding the lock into the outer query, so the lock is
    /// taken before the identity value is. The lock is taken at the very end of the
    /// transaction, so it is held only for this statement and the commit.
    pub(crate) fn insert_event(self) -> &'static str {
        match self {
            Dialect::Sqlite => {
                "INSERT INTO live_events (channel, method, body, version, origin, at, before_body) \
                 VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING seq"
            }
            // 1818850917 (ASCII "live") is the advisory lock key of the event log; any other
            // user of advisory locks on the database must avoid it.
            Dialect::Postgres => {
                "INSERT INTO live_events (channel, method, body, version, origin, at, before_body) \
                 SELECT $1, $2, $3::json, $4, $5, $6, $7::json \
                 FROM (SELECT pg_advisory_xact_lock(1818850917) OFFSET 0) AS serialise \
                 RETURNING seq"
            }
        }
    }

    /// Events of one channel after a seq, oldest first. Parameters: channel, after, limit.
    pub(crate) fn events_after(self) -> &'static str {
        match self {
            Dialect::Sqlite => {
                "SELECT seq, channel, method, body, version, origin, at, before_body FROM live_events \
                 WHERE channel = ? AND seq > ? ORDER BY seq LIMIT ?"
            }
            Dialect::Postgres => {
                "SELECT seq, channel, method, body::text, version, origin, at, before_body::text FROM live_events \
                 WHERE channel = $1 AND seq > $2 ORDER BY seq LIMIT $3"
            }
        }
    }

    /// Events of every channel after a seq, oldest first. Parameters: after, limit.
    pub(crate) fn events_after_any(self) -> &'static str {
        match self {
            Dialect::Sqlite => {
                "SELECT seq, channel, method, body, version, origin, at, before_body FROM live_events \
                 WHERE seq > ? ORDER BY seq LIMIT ?"
            }
            Dialect::Postgres => {
                "SELECT seq, channel, method, body::text, version, origin, at, before_body::text FROM live_events \
                 WHERE seq > $1 ORDER BY seq LIMIT $2"
            }
        }
    }

    /// Begins the read-only transaction of a snapshot: every read in it sees one committed
    /// state. SQLite in WAL mode pins its snapshot at the first read of a deferred
    /// transaction; PostgreSQL needs `REPEATABLE READ` for that.
    pub(crate) fn begin_snapshot(self) -> &'static str {
        match self {
            Dialect::Sqlite => "BEGIN",
            Dialect::Postgres => "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
        }
    }

    /// The last seq of one channel, 0 when it has none. Parameter: channel.
    pub(crate) fn last_seq(self) -> &'static str {
        match self {
            Dialect::Sqlite => "SELECT COALESCE(MAX(seq), 0) FROM live_events WHERE channel = ?",
            Dialect::Postgres => "SELECT COALESCE(MAX(seq), 0)::BIGINT FROM live_events WHERE channel = $1",
        }
    }
}

/// The SQL of event-log retention.
#[derive(Debug)]
pub(crate) struct PruneSql {
    /// The last seq of the whole log.
    pub(crate) last: &'static str,
    /// The last seq written before a time.
    pub(crate) last_before: &'static str,
    /// Deletes every event up to a seq.
    pub(crate) delete_through: &'static str,
    /// Raises the pruned-through mark to a seq (bound twice).
    pub(crate) raise_mark: &'static str,
    /// The pruned-through mark.
    pub(crate) mark: &'static str,
}

/// Appends `ident` as a quoted identifier (an embedded `"` is doubled, as both databases expect).
fn quote(out: &mut String, ident: &str) {
    out.push('"');
    for c in ident.chars() {
        if c == '"' {
            out.push('"');
        }
        out.push(c);
    }
    out.push('"');
}

/// The SQL of one resource in one dialect, built once and reused for every request.
#[derive(Debug)]
pub(crate) struct Statements {
    /// The selected columns, quoted and comma-separated: the descriptor's, then the version if
    /// separate.
    pub(crate) columns: String,
    /// `SELECT <columns> FROM <table>`: the start of a list.
    pub(crate) select: String,
    /// `SELECT COUNT(*) FROM <table>`.
    pub(crate) count: String,
    /// One row by id.
    pub(crate) get: String,
    /// One row by id, locked for the rest of the transaction (PostgreSQL `FOR UPDATE`; on SQLite
    /// the immediate transaction already excludes other writers).
    pub(crate) get_for_update: String,
    /// Insert returning the stored row; see [`Statements::id_generated`] for the id.
    pub(crate) insert: String,
    /// Update every column but the id (then the version, if separate, then the id as key)
    /// returning the stored row.
    pub(crate) update: String,
    /// Delete by id returning the row as it was.
    pub(crate) delete: String,
    /// Delete by id and version returning the row as it was.
    pub(crate) delete_if_version: String,
    /// `CREATE TABLE IF NOT EXISTS` for the resource.
    pub(crate) create_table: String,
    /// For a nested resource, `CREATE INDEX IF NOT EXISTS` on its partition keys then its id, so
    /// that a partition's list (in id order) reads only that partition's rows.
    pub(crate) create_index: Option<String>,
    /// Whether the database assigns the id (an integer identity) rather than the store (a UUID):
    /// then the id is not among the inserted columns.
    pub(crate) id_generated: bool,
    /// Whether the version is a column of its own after the descriptor's columns.
    pub(crate) separate_version: bool,
    /// Index of the version in a selected row.
    pub(crate) version_index: usize,
}

impl Statements {
    fn build(dialect: Dialect, descriptor: &Descriptor) -> Statements {
        let table = {
            let mut table = String::new();
            quote(&mut table, descriptor.table);
            table
        };
        let id = descriptor.id_column();
        let id_generated = id.ty != SqlType::Uuid;
        let separate_version = descriptor.version.is_none();
        let version_index = descriptor.version.unwrap_or(descriptor.columns.len());
        let mut version = String::new();
        quote(&mut version, descriptor.version_column());
        let mut id_name = String::new();
        quote(&mut id_name, id.name);

        let mut columns = String::new();
        for (index, column) in descriptor.columns.iter().enumerate() {
            if index > 0 {
                columns.push_str(", ");
            }
            quote(&mut columns, column.name);
        }
        if separate_version {
            columns.push_str(", ");
            columns.push_str(&version);
        }

        let select = format!("SELECT {columns} FROM {table}");
        let columns = columns.clone();
        let count = format!("SELECT COUNT(*) FROM {table}");
        let mut key = format!(" WHERE {id_name} = ");
        dialect.placeholder(&mut key, 1);
        let get = format!("{select}{key}");
        let get_for_update = match dialect {
            Dialect::Sqlite => get.clone(),
            Dialect::Postgres => format!("{get} FOR UPDATE"),
        };

        let mut names = String::new();
        let mut values = String::new();
        let mut n = 0;
        for (index, column) in descriptor.columns.iter().enumerate() {
            if index == descriptor.id && id_generated {
                continue;
            }
            if n > 0 {
                names.push_str(", ");
                values.push_str(", ");
            }
            n += 1;
            quote(&mut names, column.name);
            dialect.placeholder(&mut values, n);
        }
        if separate_version {
            n += 1;
            names.push_str(", ");
            names.push_str(&version);
            values.push_str(", ");
            dialect.placeholder(&mut values, n);
        }
        let insert = format!("INSERT INTO {table} ({names}) VALUES ({values}) RETURNING {columns}");

        let mut sets = String::new();
        let mut n = 0;
        for (index, column) in descriptor.columns.iter().enumerate() {
            if index == descriptor.id {
                continue;
            }
            if n > 0 {
                sets.push_str(", ");
            }
            n += 1;
            quote(&mut sets, column.name);
            sets.push_str(" = ");
            dialect.placeholder(&mut sets, n);
        }
        if separate_version {
            n += 1;
            let _ = write!(sets, ", {version} = ");
            dialect.placeholder(&mut sets, n);
        }
        let mut update = format!("UPDATE {table} SET {sets} WHERE {id_name} = ");
        dialect.placeholder(&mut update, n + 1);
        let _ = write!(update, " RETURNING {columns}");

        let delete = format!("DELETE FROM {table}{key} RETURNING {columns}");
        let mut delete_if_version = format!("DELETE FROM {table}{key} AND {version} = ");
        dialect.placeholder(&mut delete_if_version, 2);
        let _ = write!(delete_if_version, " RETURNING {columns}");

        let create_table = create_table(dialect, descriptor, &table, &version);
        let create_index = create_index(descriptor, &table);

        Statements {
            columns,
            select,
            count,
            get,
            get_for_update,
            insert,
            update,
            delete,
            delete_if_version,
            create_table,
            create_index,
            id_generated,
            separate_version,
            version_index,
        }
    }
}

/// The index of a nested resource's partitions: `(keys..., id)`.
fn create_index(descriptor: &Descriptor, table: &str) -> Option<String> {
    if descriptor.keys.is_empty() {
        return None;
    }
    let mut sql = String::from("CREATE INDEX IF NOT EXISTS ");
    quote(&mut sql, &format!("{}_partition", descriptor.table));
    let _ = write!(sql, " ON {table} (");
    for &column in descriptor.keys.iter().chain([&descriptor.id]) {
        quote(&mut sql, descriptor.columns[column].name);
        sql.push_str(", ");
    }
    sql.truncate(sql.len() - 2);
    sql.push(')');
    Some(sql)
}

fn create_table(dialect: Dialect, descriptor: &Descriptor, table: &str, version: &str) -> String {
    let mut sql = format!("CREATE TABLE IF NOT EXISTS {table} (");
    for (index, column) in descriptor.columns.iter().enumerate() {
        if index > 0 {
            sql.push_str(", ");
        }
        quote(&mut sql, column.name);
        sql.push(' ');
        if index == descriptor.id {
            // AUTOINCREMENT (SQLite) and identity sequences (PostgreSQL) never hand out an id
            // again after its row is deleted, so a stale client reference cannot hit a new row.
            sql.push_str(match (dialect, column.ty) {
                (Dialect::Sqlite, SqlType::Uuid) => "TEXT NOT NULL PRIMARY KEY",
                (Dialect::Sqlite, _) => "INTEGER PRIMARY KEY AUTOINCREMENT",
                (Dialect::Postgres, SqlType::Uuid) => "UUID PRIMARY KEY",
                (Dialect::Postgres, SqlType::I32) => "INTEGER GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
                (Dialect::Postgres, _) => "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
            });
            continue;
        }
        sql.push_str(dialect.ddl_type(column.ty));
        if !column.nullable {
            sql.push_str(" NOT NULL");
        }
    }
    if descriptor.version.is_none() {
        let _ = write!(sql, ", {version} {} NOT NULL", dialect.ddl_type(SqlType::I64));
    }
    sql.push(')');
    sql
}

/// The SQL that ties a child resource to its parent (docs/rest.md, "Parents"). The child's first
/// `shared` keys name the parent: its own keys, then its id.
#[derive(Debug)]
pub(crate) struct FamilySql {
    /// `SELECT 1 FROM parent WHERE <parent keys> AND <id>`: whether a partition's parent exists.
    pub(crate) parent_exists: String,
    /// The same, on PostgreSQL locking the parent row against a delete (`FOR KEY SHARE`) until the
    /// child's transaction ends, so that a child cannot be created under a parent being deleted.
    pub(crate) parent_exists_locking: String,
    /// `SELECT 1 FROM child WHERE <first shared keys> LIMIT 1`: whether a parent has children.
    pub(crate) any_child: String,
    /// `DELETE FROM child WHERE <first shared keys> RETURNING <columns>`: a cascade.
    pub(crate) delete_children: String,
}

impl FamilySql {
    pub(crate) fn build(
        dialect: Dialect,
        parent: &Descriptor,
        child: &Descriptor,
        child_statements: &Statements,
        shared: usize,
    ) -> FamilySql {
        let mut parent_where = String::from(" WHERE ");
        for (n, &column) in parent.keys.iter().chain([&parent.id]).enumerate() {
            if n > 0 {
                parent_where.push_str(" AND ");
            }
            quote(&mut parent_where, parent.columns[column].name);
            parent_where.push_str(" = ");
            dialect.placeholder(&mut parent_where, n + 1);
        }
        let mut child_where = String::from(" WHERE ");
        for (n, &column) in child.keys.iter().take(shared).enumerate() {
            if n > 0 {
                child_where.push_str(" AND ");
            }
            quote(&mut child_where, child.columns[column].name);
            child_where.push_str(" = ");
            dialect.placeholder(&mut child_where, n + 1);
        }
        let mut parent_table = String::new();
        quote(&mut parent_table, parent.table);
        let mut child_table = String::new();
        quote(&mut child_table, child.table);
        let parent_exists = format!("SELECT 1 FROM {parent_table}{parent_where}");
        let parent_exists_locking = match dialect {
            Dialect::Sqlite => parent_exists.clone(),
            Dialect::Postgres => format!("{parent_exists} FOR KEY SHARE"),
        };
        FamilySql {
            parent_exists,
            parent_exists_locking,
            any_child: format!("SELECT 1 FROM {child_table}{child_where} LIMIT 1"),
            delete_children: format!("DELETE FROM {child_table}{child_where} RETURNING {}", child_statements.columns),
        }
    }
}

/// The statements of `R` in `dialect`, built on first use.
///
/// The cache is process-wide and entries are leaked on purpose: there is one per resource type
/// and dialect, a small fixed number for any program, and a `&'static` lets the hot path borrow
/// the SQL text without reference counting.
pub(crate) fn statements<R: LiveResource>(dialect: Dialect) -> &'static Statements {
    type Cache = RwLock<HashMap<(TypeId, Dialect), &'static Statements>>;
    static CACHE: OnceLock<Cache> = OnceLock::new();
    let cache = CACHE.get_or_init(Cache::default);
    let key = (TypeId::of::<R>(), dialect);
    // A poisoned lock only means another thread panicked while inserting a complete entry;
    // the map itself is still consistent.
    if let Some(found) = cache.read().unwrap_or_else(|poisoned| poisoned.into_inner()).get(&key) {
        return found;
    }
    let mut map = cache.write().unwrap_or_else(|poisoned| poisoned.into_inner());
    map.entry(key).or_insert_with(|| Box::leak(Box::new(Statements::build(dialect, R::DESCRIPTOR))))
}

/// A list or count request as SQL text and the parameters to bind, in order, each with the
/// column type to bind it as.
#[derive(Debug)]
pub(crate) struct Built<'a> {
    pub(crate) sql: String,
    pub(crate) params: Vec<(Cow<'a, Value>, SqlType)>,
}

/// `SELECT ... WHERE ... ORDER BY ... LIMIT ... OFFSET ...` for `query`.
pub(crate) fn list<'a>(
    dialect: Dialect,
    descriptor: &Descriptor,
    statements: &Statements,
    query: &'a ListQuery,
) -> Result<Built<'a>, StoreError> {
    let mut built = Built { sql: statements.select.clone(), params: Vec::new() };
    where_clause(dialect, descriptor, &query.filters, &mut built)?;
    built.sql.push_str(" ORDER BY ");
    for order in &query.order {
        let column = descriptor.columns.get(order.column).ok_or_else(|| bad_column(order.column))?;
        quote(&mut built.sql, column.name);
        // Both databases are told where NULLs go, since their defaults differ.
        built.sql.push_str(match order.direction {
            Direction::Asc => " ASC NULLS LAST, ",
            Direction::Desc => " DESC NULLS FIRST, ",
        });
    }
    quote(&mut built.sql, descriptor.id_column().name);
    let clamp = |n: u64| Value::Int(i64::try_from(n).unwrap_or(i64::MAX));
    match query.limit {
        Some(limit) => {
            built.sql.push_str(" LIMIT ");
            push_param(dialect, &mut built, Cow::Owned(clamp(limit)), SqlType::I64);
        }
        // SQLite accepts OFFSET only after a LIMIT; -1 means none.
        None if query.offset > 0 && dialect == Dialect::Sqlite => built.sql.push_str(" LIMIT -1"),
        None => {}
    }
    if query.offset > 0 {
        built.sql.push_str(" OFFSET ");
        push_param(dialect, &mut built, Cow::Owned(clamp(query.offset)), SqlType::I64);
    }
    Ok(built)
}

/// `SELECT COUNT(*) ... WHERE ...` for `filters`.
pub(crate) fn count<'a>(
    dialect: Dialect,
    descriptor: &Descriptor,
    statements: &Statements,
    filters: &'a [Filter],
) -> Result<Built<'a>, StoreError> {
    let mut built = Built { sql: statements.count.clone(), params: Vec::new() };
    where_clause(dialect, descriptor, filters, &mut built)?;
    Ok(built)
}

fn push_param<'a>(dialect: Dialect, built: &mut Built<'a>, value: Cow<'a, Value>, ty: SqlType) {
    built.params.push((value, ty));
    dialect.placeholder(&mut built.sql, built.params.len());
}

fn bad_column(index: usize) -> StoreError {
    invalid("column", &format!("no column at index {index}"))
}

fn invalid(field: &str, message: &str) -> StoreError {
    let mut errors = ValidationErrors::new();
    errors.add(field, message);
    StoreError::Invalid(errors)
}

fn where_clause<'a>(
    dialect: Dialect,
    descriptor: &Descriptor,
    filters: &'a [Filter],
    built: &mut Built<'a>,
) -> Result<(), StoreError> {
    for (n, filter) in filters.iter().enumerate() {
        let column = descriptor.columns.get(filter.column).ok_or_else(|| bad_column(filter.column))?;
        built.sql.push_str(if n == 0 { " WHERE " } else { " AND " });
        if filter.negate {
            built.sql.push_str("NOT ");
        }
        built.sql.push('(');
        let single = || match filter.values.as_slice() {
            [value] => Ok(value),
            _ => Err(invalid(column.field, "expected exactly one value")),
        };
        let operand = |given: &'a Value| {
            value::coerce(given, column.ty)
                .ok_or_else(|| invalid(column.field, &format!("expected {}", value::expected(column.ty))))
        };
        match filter.op {
            FilterOp::Gt | FilterOp::Gte | FilterOp::Lt | FilterOp::Lte if !column.ty.ordered() => {
                return Err(invalid(column.field, &format!("{} columns take eq, neq, in and is only", column.ty)));
            }
            FilterOp::Eq | FilterOp::Neq | FilterOp::Gt | FilterOp::Gte | FilterOp::Lt | FilterOp::Lte => {
                let value = operand(single()?)?;
                quote(&mut built.sql, column.name);
                built.sql.push_str(match filter.op {
                    FilterOp::Eq => " = ",
                    FilterOp::Neq => " <> ",
                    FilterOp::Gt => " > ",
                    FilterOp::Gte => " >= ",
                    FilterOp::Lt => " < ",
                    _ => " <= ",
                });
                push_param(dialect, built, value, column.ty);
            }
            FilterOp::Like | FilterOp::Ilike => {
                if column.ty != SqlType::Text {
                    return Err(invalid(column.field, "like and ilike apply to text columns only"));
                }
                let Value::Text(pattern) = single()? else {
                    return Err(invalid(column.field, "expected a text pattern"));
                };
                if pattern.contains('\0') {
                    return Err(invalid(column.field, "must not contain NUL characters"));
                }
                let pattern = Cow::Owned(Value::Text(pattern.replace('*', "%")));
                // No escape character on either database, so a backslash is an ordinary
                // character everywhere (PostgreSQL would otherwise treat it as one).
                match (dialect, filter.op) {
                    (Dialect::Postgres, FilterOp::Like) => {
                        quote(&mut built.sql, column.name);
                        built.sql.push_str(" LIKE ");
                        push_param(dialect, built, pattern, SqlType::Text);
                        built.sql.push_str(" ESCAPE ''");
                    }
                    (Dialect::Postgres, _) => {
                        quote(&mut built.sql, column.name);
                        built.sql.push_str(" ILIKE ");
                        push_param(dialect, built, pattern, SqlType::Text);
                        built.sql.push_str(" ESCAPE ''");
                    }
                    // Connections run with `case_sensitive_like`, so LIKE matches case as on
                    // PostgreSQL and ILIKE folds both sides (ASCII only, as SQLite's lower()).
                    (Dialect::Sqlite, FilterOp::Like) => {
                        quote(&mut built.sql, column.name);
                        built.sql.push_str(" LIKE ");
                        push_param(dialect, built, pattern, SqlType::Text);
                    }
                    (Dialect::Sqlite, _) => {
                        built.sql.push_str("lower(");
                        quote(&mut built.sql, column.name);
                        built.sql.push_str(") LIKE lower(");
                        push_param(dialect, built, pattern, SqlType::Text);
                        built.sql.push(')');
                    }
                }
            }
            FilterOp::In => {
                if filter.values.is_empty() {
                    // `IN ()` is not SQL; membership in nothing is false.
                    built.sql.push_str("1 = 0");
                } else {
                    quote(&mut built.sql, column.name);
                    built.sql.push_str(" IN (");
                    for (i, value) in filter.values.iter().enumerate() {
                        if i > 0 {
                            built.sql.push_str(", ");
                        }
                        let value = operand(value)?;
                        push_param(dialect, built, value, column.ty);
                    }
                    built.sql.push(')');
                }
            }
            FilterOp::Is => {
                let test = match single()? {
                    Value::Null => " IS NULL",
                    Value::Bool(true) if column.ty == SqlType::Bool => " IS TRUE",
                    Value::Bool(false) if column.ty == SqlType::Bool => " IS FALSE",
                    _ => return Err(invalid(column.field, "expected null, true or false")),
                };
                quote(&mut built.sql, column.name);
                built.sql.push_str(test);
            }
        }
        built.sql.push(')');
    }
    // Both databases cap the parameters of one statement (SQLite at 32766, PostgreSQL at
    // 65535); a longer `in` list is the client's mistake, not a database failure.
    if built.params.len() > MAX_FILTER_VALUES {
        return Err(invalid("filters", &format!("too many values: at most {MAX_FILTER_VALUES}")));
    }
    Ok(())
}

/// The most values the filters of one list may bind.
const MAX_FILTER_VALUES: usize = 30_000;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resource::Column;
    use crate::store::query::Order;

    const NOTE: Descriptor = Descriptor {
        type_name: "Note",
        path: "/api/notes",
        table: "notes",
        columns: &[
            Column::new("id", "id", SqlType::I64, false),
            Column::new("title", "title", SqlType::Text, false),
            Column::new("owner", "owner", SqlType::Text, true),
        ],
        id: 0,
        version: None,
        keys: &[],
    };

    #[test]
    fn hot_path_statements_are_fixed_text() {
        let pg = Statements::build(Dialect::Postgres, &NOTE);
        assert_eq!(pg.get, r#"SELECT "id", "title", "owner", "_version" FROM "notes" WHERE "id" = $1"#);
        assert_eq!(pg.get_for_update, format!("{} FOR UPDATE", pg.get));
        assert_eq!(
            pg.insert,
            r#"INSERT INTO "notes" ("title", "owner", "_version") VALUES ($1, $2, $3) RETURNING "id", "title", "owner", "_version""#
        );
        assert_eq!(
            pg.update,
            r#"UPDATE "notes" SET "title" = $1, "owner" = $2, "_version" = $3 WHERE "id" = $4 RETURNING "id", "title", "owner", "_version""#
        );
        let lite = Statements::build(Dialect::Sqlite, &NOTE);
        assert_eq!(
            lite.delete_if_version,
            r#"DELETE FROM "notes" WHERE "id" = ? AND "_version" = ? RETURNING "id", "title", "owner", "_version""#
        );
        assert_eq!(
            lite.create_table,
            r#"CREATE TABLE IF NOT EXISTS "notes" ("id" INTEGER PRIMARY KEY AUTOINCREMENT, "title" TEXT NOT NULL, "owner" TEXT, "_version" INTEGER NOT NULL)"#
        );
    }

    #[test]
    fn identifiers_are_quoted_and_values_bound() {
        let mut sql = String::new();
        quote(&mut sql, r#"we"ird"#);
        assert_eq!(sql, r#""we""ird""#);

        let statements = Statements::build(Dialect::Postgres, &NOTE);
        let query = ListQuery {
            filters: vec![
                Filter { column: 1, op: FilterOp::Ilike, negate: true, values: vec!["'; DROP TABLE x; --*".into()] },
                Filter { column: 0, op: FilterOp::In, negate: false, values: vec![1.into(), 2.into()] },
                Filter { column: 2, op: FilterOp::Is, negate: false, values: vec![Value::Null] },
            ],
            order: vec![Order { column: 1, direction: Direction::Desc }],
            limit: Some(10),
            offset: 5,
        };
        let built = list(Dialect::Postgres, &NOTE, &statements, &query).map_err(|e| e.to_string());
        let built = built.as_ref().map(|b| (b.sql.as_str(), b.params.len()));
        assert_eq!(
            built,
            Ok((
                r#"SELECT "id", "title", "owner", "_version" FROM "notes" WHERE NOT ("title" ILIKE $1 ESCAPE '') AND ("id" IN ($2, $3)) AND ("owner" IS NULL) ORDER BY "title" DESC NULLS FIRST, "id" LIMIT $4 OFFSET $5"#,
                5
            ))
        );
    }

    #[test]
    fn sqlite_offset_without_limit_gets_unbounded_limit() {
        let statements = Statements::build(Dialect::Sqlite, &NOTE);
        let query = ListQuery { offset: 3, ..ListQuery::default() };
        let sql = list(Dialect::Sqlite, &NOTE, &statements, &query).map(|b| b.sql).map_err(|e| e.to_string());
        assert_eq!(
            sql,
            Ok(r#"SELECT "id", "title", "owner", "_version" FROM "notes" ORDER BY "id" LIMIT -1 OFFSET ?"#.to_owned())
        );
    }

    #[test]
    fn overlong_in_lists_are_invalid() {
        let statements = Statements::build(Dialect::Postgres, &NOTE);
        let values = (0..=MAX_FILTER_VALUES as i64).map(Value::Int).collect();
        let query = ListQuery {
            filters: vec![Filter { column: 0, op: FilterOp::In, negate: false, values }],
            ..ListQuery::default()
        };
        assert!(matches!(list(Dialect::Postgres, &NOTE, &statements, &query), Err(StoreError::Invalid(_))));
    }

    #[test]
    fn mistyped_filter_values_are_invalid_not_sql_errors() {
        let statements = Statements::build(Dialect::Sqlite, &NOTE);
        let query = ListQuery {
            filters: vec![Filter { column: 0, op: FilterOp::Eq, negate: false, values: vec!["abc".into()] }],
            ..ListQuery::default()
        };
        assert!(matches!(list(Dialect::Sqlite, &NOTE, &statements, &query), Err(StoreError::Invalid(_))));
    }
}
