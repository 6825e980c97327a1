//! The contract between `#[derive(LiveResource)]` and the runtime.
//!
//! A resource is a plain Rust struct plus a static [`Descriptor`] (its REST path, its table and its
//! columns) and two trivial accessors that move the struct's stored fields to and from a row of
//! [`Value`]s. Everything else (SQL, REST, events) is generic code elsewhere in the crate that
//! reads the descriptor. This module depends only on [`value`](crate::value) (the column types,
//! re-exported here): `store` and `http` depend on it, never the other way round.
//!
//! The derive is sugar: the trait can be implemented by hand, as below.
//!
//! ```
//! use live_runtime::{Column, ColumnReader, ColumnType, ColumnWriter, DecodeError, Descriptor, LiveResource};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Serialize, Deserialize)]
//! struct Note {
//!     id: i64,
//!     text: String,
//! }
//!
//! impl LiveResource for Note {
//!     const DESCRIPTOR: &'static Descriptor = &Descriptor {
//!         type_name: "Note",
//!         path: "/api/notes",
//!         table: "notes",
//!         columns: &[
//!             Column::new("id", "id", <i64 as ColumnType>::SQL_TYPE, <i64 as ColumnType>::NULLABLE),
//!             Column::new("text", "text", <String as ColumnType>::SQL_TYPE, <String as ColumnType>::NULLABLE),
//!         ],
//!         id: 0,
//!         version: None,
//!         keys: &[],
//!     };
//!
//!     fn write_columns(&self, out: &mut ColumnWriter) {
//!         out.write(&self.id);
//!         out.write(&self.text);
//!     }
//!
//!     fn read_columns(input: &mut ColumnReader) -> Result<Self, DecodeError> {
//!         Ok(Note { id: input.read()?, text: input.read()? })
//!     }
//! }
//!
//! assert_eq!(Note::DESCRIPTOR.id_column().name, "id");
//! ```

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;
use serde::de::DeserializeOwned;

pub use crate::value::{ColumnType, DecodeError, SqlType, Value};

/// A struct whose values live in a SQL table, are served over REST and are published on a channel.
///
/// Usually derived with `#[derive(LiveResource)]`; see the [module documentation](self) for a
/// hand-written implementation. The JSON form of the struct (its `Serialize`/`Deserialize`
/// implementations) is the REST and event body; the column accessors are the SQL form.
pub trait LiveResource: Serialize + DeserializeOwned + Send + Sync + 'static {
    /// The static description of the resource: path, table and columns.
    const DESCRIPTOR: &'static Descriptor;

    /// Writes every column of [`Descriptor::columns`], in order, with one [`ColumnWriter::write`]
    /// call each.
    fn write_columns(&self, out: &mut ColumnWriter);

    /// Builds a value from one row: one [`ColumnReader::read`] call per column of
    /// [`Descriptor::columns`], in order; fields that are not columns take their defaults.
    fn read_columns(input: &mut ColumnReader) -> Result<Self, DecodeError>;

    /// Whether deleting this resource's parent deletes its rows too (`#[live(cascade)]`): each
    /// removal is then logged and published in the parent's transaction. Without it, a parent with
    /// rows of this resource cannot be deleted (docs/rest.md, "Parents"). Only a nested resource
    /// has a parent.
    const CASCADE: bool = false;

    /// Application rules a value must satisfy before it is written (for example a non-empty
    /// title). Rejected values answer `422` with the errors per field. Accepts everything by
    /// default; the derive calls the function named by `#[live(validate = path)]`.
    fn validate(&self) -> Result<(), ValidationErrors> {
        Ok(())
    }
}

/// The static description of a resource, built by the derive (or by hand) as a `const`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Descriptor {
    /// The Rust type's name, for messages.
    pub type_name: &'static str,
    /// The REST base path, which is also the live channel name, for example `/api/todos`.
    pub path: &'static str,
    /// The SQL table.
    pub table: &'static str,
    /// The stored columns, in the order of [`LiveResource::write_columns`].
    pub columns: &'static [Column],
    /// Index in [`columns`](Self::columns) of the primary key, assigned by the store on create.
    pub id: usize,
    /// Index in [`columns`](Self::columns) of a field that mirrors the row version, if the struct
    /// has one (`#[live(version)]`). The store keeps a version for every row either way.
    pub version: Option<usize>,
    /// Indexes in [`columns`](Self::columns) of the partition keys, one per `{name}` segment of
    /// [`path`](Self::path), in the order they appear there; empty for a flat path such as
    /// `/api/todos` (docs/rest.md, "Nested resources").
    pub keys: &'static [usize],
}

/// Name of the column that holds the row version when the struct has no `#[live(version)]` field.
pub const VERSION_COLUMN: &str = "_version";

impl Descriptor {
    /// The primary key column.
    pub fn id_column(&self) -> &'static Column {
        &self.columns[self.id]
    }

    /// The name of the SQL column that holds the row version.
    pub fn version_column(&self) -> &'static str {
        match self.version {
            Some(index) => self.columns[index].name,
            None => VERSION_COLUMN,
        }
    }

    /// The column whose JSON field name is `field`, with its index.
    pub fn column_by_field(&self, field: &str) -> Option<(usize, &'static Column)> {
        self.columns.iter().enumerate().find(|(_, column)| column.field == field)
    }

    /// Whether clients may set the column in a request body: not the id, not the version, not a
    /// `#[live(read_only)]` field.
    pub fn is_client_writable(&self, index: usize) -> bool {
        index != self.id && Some(index) != self.version && !self.columns[index].read_only
    }
}

/// One stored column of a resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    /// The SQL column name.
    pub name: &'static str,
    /// The JSON field name (the key in REST and event bodies).
    pub field: &'static str,
    /// The logical SQL type.
    pub ty: SqlType,
    /// Whether the column accepts NULL (the field is an `Option<T>`).
    pub nullable: bool,
    /// Whether clients are kept from setting it (`#[live(read_only)]`): the server's own writes
    /// through the typed API still can.
    pub read_only: bool,
    /// Whether the field's JSON form is its own (a `#[serde(with)]`, or a type whose
    /// [`ColumnType::CUSTOM_JSON`] says so): a request body's value for it is then left to serde
    /// rather than checked against [`ty`](Self::ty) first.
    pub custom_json: bool,
}

impl Column {
    /// A writable column; `const` so that descriptors can be built in constants.
    pub const fn new(name: &'static str, field: &'static str, ty: SqlType, nullable: bool) -> Self {
        Column { name, field, ty, nullable, read_only: false, custom_json: false }
    }

    /// The writable column of a field of type `T`: its type, nullability and JSON form from
    /// `T`'s [`ColumnType`].
    ///
    /// ```
    /// use live_runtime::{Column, SqlType};
    ///
    /// const DUE: Column = Column::of::<Option<chrono::NaiveDate>>("due", "dueOn");
    /// assert_eq!(DUE, Column::new("due", "dueOn", SqlType::Date, true));
    /// ```
    pub const fn of<T: ColumnType>(name: &'static str, field: &'static str) -> Self {
        Column { name, field, ty: T::SQL_TYPE, nullable: T::NULLABLE, read_only: false, custom_json: T::CUSTOM_JSON }
    }

    /// The same column, kept from being set by clients.
    pub const fn read_only(mut self) -> Self {
        self.read_only = true;
        self
    }

    /// The same column, with a JSON form of its own (its `custom_json` field).
    pub const fn custom_json(mut self) -> Self {
        self.custom_json = true;
        self
    }
}

/// Receives the columns of one value, in descriptor order (see [`LiveResource::write_columns`]).
#[derive(Debug, Default)]
pub struct ColumnWriter {
    values: Vec<Value>,
    /// The columns whose value cannot be stored, with why.
    refused: Vec<(usize, String)>,
}

impl ColumnWriter {
    /// An empty writer with room for `columns` values.
    pub fn with_capacity(columns: usize) -> Self {
        ColumnWriter { values: Vec::with_capacity(columns), refused: Vec::new() }
    }

    /// Appends the next column's value.
    pub fn write<T: ColumnType>(&mut self, value: &T) {
        match value.check_storable() {
            Ok(()) => self.values.push(value.to_value()),
            Err(why) => self.refuse(why),
        }
    }

    /// Appends the next column's value as a JSON document: the column of a field of any serde
    /// type (`#[live(json)]`), of type [`SqlType::Json`], not nullable.
    pub fn write_json<T: Serialize + ?Sized>(&mut self, value: &T) {
        match serde_json::to_value(value) {
            Ok(json) => self.values.push(Value::Json(json)),
            Err(error) => self.refuse(format!("cannot be written as JSON: {error}")),
        }
    }

    /// Appends the next column's value as a JSON document, `None` as NULL: the column of an
    /// `Option` field of any serde type (`#[live(json)]`), of type [`SqlType::Json`], nullable.
    pub fn write_nullable_json<T: Serialize>(&mut self, value: &Option<T>) {
        match value {
            Some(value) => self.write_json(value),
            None => self.values.push(Value::Null),
        }
    }

    /// Records that the next column's value cannot be stored; a NULL stands in for it, which
    /// [`encode_row`] never hands on.
    fn refuse(&mut self, why: String) {
        self.refused.push((self.values.len(), why));
        self.values.push(Value::Null);
    }

    /// The values written so far, in order; NULL for those that cannot be stored (see
    /// [`ColumnType::check_storable`]).
    pub fn into_values(self) -> Vec<Value> {
        self.values
    }
}

/// Hands out the columns of one row, in descriptor order (see [`LiveResource::read_columns`]).
#[derive(Debug)]
pub struct ColumnReader {
    values: std::vec::IntoIter<Value>,
    index: usize,
}

impl ColumnReader {
    /// A reader over one row's values, in descriptor order.
    pub fn new(values: Vec<Value>) -> Self {
        ColumnReader { values: values.into_iter(), index: 0 }
    }

    /// Takes the next column's value.
    pub fn read<T: ColumnType>(&mut self) -> Result<T, DecodeError> {
        self.next(T::from_value)
    }

    /// Takes the next column's value from its JSON document (see [`ColumnWriter::write_json`]).
    pub fn read_json<T: DeserializeOwned>(&mut self) -> Result<T, DecodeError> {
        self.next(|value| match value {
            Value::Json(json) => from_json(json),
            other => Err(DecodeError::mismatch(SqlType::Json, &other)),
        })
    }

    /// Takes the next column's value from its JSON document, NULL as `None` (see
    /// [`ColumnWriter::write_nullable_json`]).
    pub fn read_nullable_json<T: DeserializeOwned>(&mut self) -> Result<Option<T>, DecodeError> {
        self.next(|value| match value {
            Value::Null => Ok(None),
            Value::Json(json) => from_json(json).map(Some),
            other => Err(DecodeError::mismatch(SqlType::Json, &other)),
        })
    }

    fn next<T>(&mut self, decode: impl FnOnce(Value) -> Result<T, DecodeError>) -> Result<T, DecodeError> {
        let index = self.index;
        self.index += 1;
        let value = self.values.next().ok_or(DecodeError::MissingColumn { index })?;
        decode(value).map_err(|error| error.at(index))
    }
}

fn from_json<T: DeserializeOwned>(json: serde_json::Value) -> Result<T, DecodeError> {
    serde_json::from_value(json).map_err(|error| DecodeError::invalid(SqlType::Json, error.to_string()))
}

/// Why a value was refused, per JSON field: answered as `422` with
/// `{"error": {"code": "validation", "fields": {...}}}`.
///
/// ```
/// use live_runtime::ValidationErrors;
///
/// let mut errors = ValidationErrors::new();
/// errors.add("title", "must not be empty");
/// assert!(!errors.is_empty());
/// assert_eq!(errors.get("title"), Some("must not be empty"));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct ValidationErrors {
    fields: BTreeMap<String, String>,
}

impl ValidationErrors {
    /// No errors yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records why `field` was refused (the first reason per field is kept).
    pub fn add(&mut self, field: impl Into<String>, message: impl Into<String>) -> &mut Self {
        self.fields.entry(field.into()).or_insert_with(|| message.into());
        self
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// The reason recorded for `field`.
    pub fn get(&self, field: &str) -> Option<&str> {
        self.fields.get(field).map(String::as_str)
    }

    /// Every field and its reason, by field name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.fields.iter().map(|(field, message)| (field.as_str(), message.as_str()))
    }

    /// `Ok(())` when empty, else `Err(self)`: the usual end of a validation function.
    pub fn into_result(self) -> Result<(), ValidationErrors> {
        if self.is_empty() { Ok(()) } else { Err(self) }
    }
}

impl fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for (field, message) in self.iter() {
            if !first {
                f.write_str("; ")?;
            }
            first = false;
            write!(f, "{field}: {message}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ValidationErrors {}

/// Writes `value`'s columns into a fresh row of values; a value that cannot be stored is NULL
/// there (see [`encode_row`]).
pub fn to_row<R: LiveResource>(value: &R) -> Vec<Value> {
    let mut out = ColumnWriter::with_capacity(R::DESCRIPTOR.columns.len());
    value.write_columns(&mut out);
    out.into_values()
}

/// Writes `value`'s columns into a fresh row of values, as the store does before a write: a
/// value that cannot be stored (see [`ColumnType::check_storable`], and a `#[live(json)]` field
/// that does not serialize) is refused, by its JSON field name.
pub fn encode_row<R: LiveResource>(value: &R) -> Result<Vec<Value>, ValidationErrors> {
    let mut out = ColumnWriter::with_capacity(R::DESCRIPTOR.columns.len());
    value.write_columns(&mut out);
    let mut errors = ValidationErrors::new();
    for (index, why) in &out.refused {
        let field = R::DESCRIPTOR.columns.get(*index).map_or("value", |column| column.field);
        errors.add(field, why.as_str());
    }
    errors.into_result().map(|()| out.values)
}

/// Builds a value from a row of values in descriptor order.
pub fn from_row<R: LiveResource>(row: Vec<Value>) -> Result<R, DecodeError> {
    R::read_columns(&mut ColumnReader::new(row))
}
