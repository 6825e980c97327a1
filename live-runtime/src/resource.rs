//! The contract between `#[derive(LiveResource)]` and the runtime.
//!
//! A resource is a plain Rust struct plus a static [`Descriptor`] (its REST path, its table and its
//! columns) and two trivial accessors that move the struct's stored fields to and from a row of
//! [`Value`]s. Everything else (SQL, REST, events) is generic code elsewhere in the crate that
//! reads the descriptor. This module depends on nothing else in the crate: `store` and `http`
//! depend on it, never the other way round.
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

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;
use uuid::Uuid;

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
}

impl Column {
    /// A writable column; `const` so that descriptors can be built in constants.
    pub const fn new(name: &'static str, field: &'static str, ty: SqlType, nullable: bool) -> Self {
        Column { name, field, ty, nullable, read_only: false }
    }

    /// The same column, kept from being set by clients.
    pub const fn read_only(mut self) -> Self {
        self.read_only = true;
        self
    }
}

/// The logical type of a column; each database maps it to its own SQL type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SqlType {
    /// `bool`.
    Bool,
    /// `i16`.
    I16,
    /// `i32`.
    I32,
    /// `i64`.
    I64,
    /// `f32`.
    F32,
    /// `f64`.
    F64,
    /// `String`.
    Text,
    /// `Vec<u8>`.
    Bytes,
    /// `uuid::Uuid`.
    Uuid,
    /// `chrono::DateTime<Utc>`.
    Timestamp,
    /// `serde_json::Value`.
    Json,
}

impl SqlType {
    /// Whether an id of this type can be assigned by the store (an auto-increment integer or a
    /// random UUID).
    pub fn can_be_id(self) -> bool {
        matches!(self, SqlType::I32 | SqlType::I64 | SqlType::Uuid)
    }
}

impl fmt::Display for SqlType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            SqlType::Bool => "bool",
            SqlType::I16 => "i16",
            SqlType::I32 => "i32",
            SqlType::I64 => "i64",
            SqlType::F32 => "f32",
            SqlType::F64 => "f64",
            SqlType::Text => "text",
            SqlType::Bytes => "bytes",
            SqlType::Uuid => "uuid",
            SqlType::Timestamp => "timestamp",
            SqlType::Json => "json",
        };
        f.write_str(name)
    }
}

/// One column value of a row, independent of the database.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Value {
    /// SQL NULL (`None`).
    Null,
    /// A boolean.
    Bool(bool),
    /// Any integer column (`i16`, `i32`, `i64`).
    Int(i64),
    /// Any float column.
    Float(f64),
    /// Text.
    Text(String),
    /// Bytes.
    Bytes(Vec<u8>),
    /// A UUID.
    Uuid(Uuid),
    /// A UTC timestamp.
    Timestamp(DateTime<Utc>),
    /// A JSON document.
    Json(serde_json::Value),
}

impl From<i64> for Value {
    fn from(value: i64) -> Self {
        Value::Int(value)
    }
}

impl From<i32> for Value {
    fn from(value: i32) -> Self {
        Value::Int(value.into())
    }
}

impl From<Uuid> for Value {
    fn from(value: Uuid) -> Self {
        Value::Uuid(value)
    }
}

impl From<&str> for Value {
    fn from(value: &str) -> Self {
        Value::Text(value.to_owned())
    }
}

impl From<String> for Value {
    fn from(value: String) -> Self {
        Value::Text(value)
    }
}

/// A Rust type that can be stored in one column.
///
/// Implemented for `bool`, `i16`, `i32`, `i64`, `f32`, `f64`, `String`, `Vec<u8>`,
/// `uuid::Uuid`, `chrono::DateTime<Utc>`, `serde_json::Value` and `Option<T>` of each. The derive
/// names it for every field, so a field of another type is a compile error on that field.
#[diagnostic::on_unimplemented(
    message = "the type `{Self}` cannot be stored in a column",
    label = "unsupported field type",
    note = "supported: bool, i16, i32, i64, f32, f64, String, Vec<u8>, uuid::Uuid, chrono::DateTime<Utc>, serde_json::Value, and Option of each; or mark the field #[live(skip)]"
)]
pub trait ColumnType: Sized {
    /// The column's logical type.
    const SQL_TYPE: SqlType;
    /// Whether the column accepts NULL.
    const NULLABLE: bool = false;

    /// The value to store.
    fn to_value(&self) -> Value;

    /// The Rust value from a stored one.
    fn from_value(value: Value) -> Result<Self, DecodeError>;
}

macro_rules! column_type {
    ($ty:ty, $sql:ident, $variant:ident, |$v:ident| $to:expr, |$w:ident| $from:expr) => {
        impl ColumnType for $ty {
            const SQL_TYPE: SqlType = SqlType::$sql;

            fn to_value(&self) -> Value {
                let $v = self;
                Value::$variant($to)
            }

            fn from_value(value: Value) -> Result<Self, DecodeError> {
                match value {
                    Value::$variant($w) => $from,
                    other => Err(DecodeError::mismatch(SqlType::$sql, &other)),
                }
            }
        }
    };
}

column_type!(bool, Bool, Bool, |v| *v, |w| Ok(w));
column_type!(i16, I16, Int, |v| (*v).into(), |w| i16::try_from(w)
    .map_err(|_| DecodeError::out_of_range(SqlType::I16, w)));
column_type!(i32, I32, Int, |v| (*v).into(), |w| i32::try_from(w)
    .map_err(|_| DecodeError::out_of_range(SqlType::I32, w)));
column_type!(i64, I64, Int, |v| *v, |w| Ok(w));
column_type!(f32, F32, Float, |v| (*v).into(), |w| Ok(w as f32));
column_type!(f64, F64, Float, |v| *v, |w| Ok(w));
column_type!(String, Text, Text, |v| v.clone(), |w| Ok(w));
column_type!(Vec<u8>, Bytes, Bytes, |v| v.clone(), |w| Ok(w));
column_type!(Uuid, Uuid, Uuid, |v| *v, |w| Ok(w));
column_type!(DateTime<Utc>, Timestamp, Timestamp, |v| *v, |w| Ok(w));
column_type!(serde_json::Value, Json, Json, |v| v.clone(), |w| Ok(w));

impl<T: ColumnType> ColumnType for Option<T> {
    const SQL_TYPE: SqlType = T::SQL_TYPE;
    const NULLABLE: bool = true;

    fn to_value(&self) -> Value {
        match self {
            Some(inner) => inner.to_value(),
            None => Value::Null,
        }
    }

    fn from_value(value: Value) -> Result<Self, DecodeError> {
        match value {
            Value::Null => Ok(None),
            other => T::from_value(other).map(Some),
        }
    }
}

/// Receives the columns of one value, in descriptor order (see [`LiveResource::write_columns`]).
#[derive(Debug, Default)]
pub struct ColumnWriter {
    values: Vec<Value>,
}

impl ColumnWriter {
    /// An empty writer with room for `columns` values.
    pub fn with_capacity(columns: usize) -> Self {
        ColumnWriter { values: Vec::with_capacity(columns) }
    }

    /// Appends the next column's value.
    pub fn write<T: ColumnType>(&mut self, value: &T) {
        self.values.push(value.to_value());
    }

    /// The values written so far, in order.
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
        let index = self.index;
        self.index += 1;
        let value = self.values.next().ok_or(DecodeError::MissingColumn { index })?;
        T::from_value(value).map_err(|error| error.at(index))
    }
}

/// A stored value that does not fit the Rust field it is read into.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The stored value has another type than the column's.
    #[error("column {index:?}: expected {expected}, found {found}")]
    Mismatch {
        /// The column's index, once known.
        index: Option<usize>,
        /// The column's type.
        expected: SqlType,
        /// What was found instead.
        found: String,
    },
    /// The stored integer does not fit the field.
    #[error("column {index:?}: {value} is out of range for {expected}")]
    OutOfRange {
        /// The column's index, once known.
        index: Option<usize>,
        /// The column's type.
        expected: SqlType,
        /// The stored value.
        value: i64,
    },
    /// The row has fewer values than the descriptor has columns.
    #[error("column {index}: the row has no value for it")]
    MissingColumn {
        /// The column's index.
        index: usize,
    },
}

impl DecodeError {
    fn mismatch(expected: SqlType, found: &Value) -> Self {
        let found = match found {
            Value::Null => "null",
            Value::Bool(_) => "bool",
            Value::Int(_) => "integer",
            Value::Float(_) => "float",
            Value::Text(_) => "text",
            Value::Bytes(_) => "bytes",
            Value::Uuid(_) => "uuid",
            Value::Timestamp(_) => "timestamp",
            Value::Json(_) => "json",
        };
        DecodeError::Mismatch { index: None, expected, found: found.to_owned() }
    }

    fn out_of_range(expected: SqlType, value: i64) -> Self {
        DecodeError::OutOfRange { index: None, expected, value }
    }

    fn at(self, at: usize) -> Self {
        match self {
            DecodeError::Mismatch { expected, found, .. } => DecodeError::Mismatch { index: Some(at), expected, found },
            DecodeError::OutOfRange { expected, value, .. } => {
                DecodeError::OutOfRange { index: Some(at), expected, value }
            }
            other => other,
        }
    }
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

/// Writes `value`'s columns into a fresh row of values.
pub fn to_row<R: LiveResource>(value: &R) -> Vec<Value> {
    let mut out = ColumnWriter::with_capacity(R::DESCRIPTOR.columns.len());
    value.write_columns(&mut out);
    out.into_values()
}

/// Builds a value from a row of values in descriptor order.
pub fn from_row<R: LiveResource>(row: Vec<Value>) -> Result<R, DecodeError> {
    R::read_columns(&mut ColumnReader::new(row))
}
