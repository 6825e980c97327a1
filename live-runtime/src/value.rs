//! Column values: for every column type, in one place, how a Rust value becomes a [`Value`] and
//! back ([`ColumnType`]), how its JSON form is checked in a request body (`check_json`), how its
//! text form parses in a query or a URL (`parse_text`), and which other values stand for it in a
//! filter (`coerce`).
//!
//! This module depends on nothing else in the crate: `resource` (the contract), `store` and
//! `http` use it. What differs per database (the SQL type a table is created with, whether an
//! existing column fits, how a value is bound and decoded) lives in `store/sqlite.rs` and
//! `store/postgres.rs`, one `match` per concern in each.
//!
//! | Rust type | [`SqlType`] | [`Value`] | JSON in a body | text in a filter |
//! | --- | --- | --- | --- | --- |
//! | `bool` | `Bool` | `Bool` | `true`, `false` | `true`, `false` |
//! | `i16`, `i32`, `i64` | `I16`, `I32`, `I64` | `Int` | an integer in the type's range | the same |
//! | `f32`, `f64` | `F32`, `F64` | `Float` | a number | a finite number |
//! | `String` | `Text` | `Text` | a string | the text, without NUL |
//! | `Vec<u8>` | `Bytes` | `Bytes` | an array of 0–255 | (`is.null` only) |
//! | `uuid::Uuid` | `Uuid` | `Uuid` | a UUID string | a UUID |
//! | `chrono::DateTime<Utc>` | `Timestamp` | `Timestamp` | an RFC 3339 string | the same |
//! | `time::OffsetDateTime` (feature `time`) | `Timestamp` | `Timestamp` | as the field's serde says | an RFC 3339 timestamp |
//! | `chrono::NaiveDate` | `Date` | `Date` | `"2024-02-29"` | `2024-02-29` |
//! | `chrono::NaiveDateTime` | `NaiveTimestamp` | `NaiveTimestamp` | `"2024-02-29T12:30:00"` | the same, unquoted |
//! | `serde_json::Value`, or any serde type with `#[live(json)]` | `Json` | `Json` | any document | (`is.null` only) |
//! | a `#[derive(LiveEnum)]` enum | `Enum` | `Text` | one of its serde names | the same |
//! | `Option<T>` of each | `T`'s, nullable | `Null` for `None` | `null` too | `is.null` too |
//!
//! # Adding a column type
//!
//! Three files change, and only these:
//!
//! - this one: a [`SqlType`] variant (and a [`Value`] variant if no existing one holds it), its
//!   [`ColumnType`] impl, and its arms in `check_json` (request bodies), `parse_text` (filters
//!   and ids; `coerce` reads text through it too), `coerce` (its own value passes as is),
//!   [`SqlType::ordered`] and the `Display` and `kind` names;
//! - `store/sqlite.rs`: its arm in `storage` (the declared type and affinity, hence `ddl_type`
//!   and `fits`), `bind` and `decode`;
//! - `store/postgres.rs`: its arms in `ddl_type`, `fits`, `bind` and `decode`.
//!
//! Every one of these matches but `coerce`'s names each type, without a wildcard arm, so the
//! compiler lists the places to fill; `coerce` ends in "cannot be", so its one arm is added by
//! hand. The tables above and in `docs/rest.md` then get a row.

use std::borrow::Cow;
use std::fmt;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde_json::Value as Json;
use uuid::Uuid;

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
    /// `chrono::DateTime<Utc>` (and `time::OffsetDateTime` with the `time` feature): an instant,
    /// kept to the microsecond.
    Timestamp,
    /// `chrono::NaiveDate`: a calendar date.
    Date,
    /// `chrono::NaiveDateTime`: a date and a time of day without a time zone, kept to the
    /// microsecond.
    NaiveTimestamp,
    /// `serde_json::Value`, or any serde type marked `#[live(json)]`.
    Json,
    /// A fieldless enum stored as the serde name of its variant ([`LiveEnum`]): the names a
    /// column may hold, in declaration order.
    Enum(&'static [&'static str]),
}

impl SqlType {
    /// Whether an id of this type can be assigned by the store (an auto-increment integer or a
    /// random UUID).
    pub fn can_be_id(self) -> bool {
        matches!(self, SqlType::I32 | SqlType::I64 | SqlType::Uuid)
    }

    /// Whether `gt`, `gte`, `lt` and `lte` compare values of this type. Not an enum's: its
    /// names would compare as text, which is not the order of its variants.
    pub fn ordered(self) -> bool {
        match self {
            SqlType::Enum(_) => false,
            SqlType::Bool
            | SqlType::I16
            | SqlType::I32
            | SqlType::I64
            | SqlType::F32
            | SqlType::F64
            | SqlType::Text
            | SqlType::Bytes
            | SqlType::Uuid
            | SqlType::Timestamp
            | SqlType::Date
            | SqlType::NaiveTimestamp
            | SqlType::Json => true,
        }
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
            SqlType::Date => "date",
            SqlType::NaiveTimestamp => "naive timestamp",
            SqlType::Json => "json",
            SqlType::Enum(_) => "enum",
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
    /// Text, and the name of an enum's variant.
    Text(String),
    /// Bytes.
    Bytes(Vec<u8>),
    /// A UUID.
    Uuid(Uuid),
    /// A UTC timestamp.
    Timestamp(DateTime<Utc>),
    /// A calendar date.
    Date(NaiveDate),
    /// A date and time of day without a time zone.
    NaiveTimestamp(NaiveDateTime),
    /// A JSON document.
    Json(Json),
}

impl Value {
    /// What kind of value this is, for messages.
    fn kind(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "bool",
            Value::Int(_) => "integer",
            Value::Float(_) => "float",
            Value::Text(_) => "text",
            Value::Bytes(_) => "bytes",
            Value::Uuid(_) => "uuid",
            Value::Timestamp(_) => "timestamp",
            Value::Date(_) => "date",
            Value::NaiveTimestamp(_) => "naive timestamp",
            Value::Json(_) => "json",
        }
    }
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
/// `uuid::Uuid`, `chrono::DateTime<Utc>`, `chrono::NaiveDate`, `chrono::NaiveDateTime`,
/// `serde_json::Value`, `time::OffsetDateTime` (with the `time` feature), enums that derive
/// [`LiveEnum`], and `Option<T>` of each (the [module documentation](self) has the JSON and filter
/// forms of each). The derive names it for every field, so a field of another type is a compile
/// error on that field; `#[live(json)]` stores any serde type as a JSON document instead.
///
/// `time::OffsetDateTime` is stored as a [`SqlType::Timestamp`], in UTC. Its JSON form is
/// whatever the field's serde says: `time`'s own default is not RFC 3339 (and differs with
/// `time`'s features), so most fields say `#[serde(with = "time::serde::rfc3339")]` (or
/// `time::serde::rfc3339::option` on an `Option`). Request bodies leave its values to that serde
/// form ([`CUSTOM_JSON`](Self::CUSTOM_JSON)); filters take RFC 3339 text, as for every timestamp.
#[diagnostic::on_unimplemented(
    message = "the type `{Self}` cannot be stored in a column",
    label = "unsupported field type",
    note = "the types a column holds are listed on `live_runtime::ColumnType`; mark the field #[live(json)] to store any serde type as JSON, or #[live(skip)] to not store it"
)]
pub trait ColumnType: Sized {
    /// The column's logical type.
    const SQL_TYPE: SqlType;
    /// Whether the column accepts NULL.
    const NULLABLE: bool = false;
    /// Whether the type's JSON form is its own rather than the one [`SQL_TYPE`](Self::SQL_TYPE)
    /// describes (it varies with the type's crate features, say), so that a request body's
    /// value is left to serde instead of being checked against the column type first.
    const CUSTOM_JSON: bool = false;

    /// The value to store.
    fn to_value(&self) -> Value;

    /// The Rust value from a stored one.
    fn from_value(value: Value) -> Result<Self, DecodeError>;

    /// Why this value cannot be stored, if it cannot (a time outside the range of the stored
    /// type, say). The store checks it before every write and refuses such a value, so
    /// [`to_value`](Self::to_value) is never asked for it. Every value can be stored by default.
    fn check_storable(&self) -> Result<(), String> {
        Ok(())
    }
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
column_type!(NaiveDate, Date, Date, |v| *v, |w| Ok(w));
column_type!(NaiveDateTime, NaiveTimestamp, NaiveTimestamp, |v| *v, |w| Ok(w));
column_type!(Json, Json, Json, |v| v.clone(), |w| Ok(w));

impl<T: ColumnType> ColumnType for Option<T> {
    const SQL_TYPE: SqlType = T::SQL_TYPE;
    const NULLABLE: bool = true;
    const CUSTOM_JSON: bool = T::CUSTOM_JSON;

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

    fn check_storable(&self) -> Result<(), String> {
        self.as_ref().map_or(Ok(()), T::check_storable)
    }
}

#[cfg(feature = "time")]
mod time_impl {
    //! `time::OffsetDateTime`, stored as the chrono timestamp of the same instant.

    use chrono::{DateTime, Utc};
    use time::OffsetDateTime;

    use super::{ColumnType, DecodeError, SqlType, Value};

    /// The same instant as a chrono UTC timestamp; `None` beyond chrono's range (years past
    /// ±262 143, which only `time`'s `large-dates` feature reaches).
    fn to_chrono(at: &OffsetDateTime) -> Option<DateTime<Utc>> {
        DateTime::from_timestamp(at.unix_timestamp(), at.nanosecond())
    }

    impl ColumnType for OffsetDateTime {
        const SQL_TYPE: SqlType = SqlType::Timestamp;
        // `time`'s serde form is not RFC 3339 and varies with its features and with the field's
        // `#[serde(with)]`.
        const CUSTOM_JSON: bool = true;

        fn to_value(&self) -> Value {
            // `check_storable` refuses the values that have no chrono timestamp before a write.
            to_chrono(self).map_or(Value::Null, Value::Timestamp)
        }

        fn from_value(value: Value) -> Result<Self, DecodeError> {
            let at = match value {
                Value::Timestamp(at) => at,
                other => return Err(DecodeError::mismatch(SqlType::Timestamp, &other)),
            };
            OffsetDateTime::from_unix_timestamp(at.timestamp())
                .and_then(|seconds| seconds.replace_nanosecond(at.timestamp_subsec_nanos()))
                .map_err(|error| DecodeError::invalid(SqlType::Timestamp, format!("{at}: {error}")))
        }

        fn check_storable(&self) -> Result<(), String> {
            match to_chrono(self) {
                Some(_) => Ok(()),
                None => Err(format!("{self} is outside the range of a stored timestamp")),
            }
        }
    }
}

/// A fieldless enum stored in a text column as the serde name of its variant.
///
/// Derive it with `#[derive(LiveEnum)]` beside serde's derives: the names follow serde exactly
/// (the variant, its `#[serde(rename)]`, the enum's `#[serde(rename_all)]`), and the derive also
/// implements [`ColumnType`], so a field of the enum needs no attribute. A request body or a
/// filter value that is not one of the names is refused, listing them; filters take `eq`, `neq`,
/// `in` and `is`, not the range operators (names do not sort in variant order) nor `like`.
///
/// ```
/// use live_runtime::{ColumnType, LiveEnum, SqlType};
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Serialize, Deserialize, LiveEnum, Debug, PartialEq)]
/// #[serde(rename_all = "snake_case")]
/// enum Priority {
///     Low,
///     VeryHigh,
///     #[serde(rename = "urgent!")]
///     Urgent,
/// }
///
/// assert_eq!(Priority::VARIANTS, ["low", "very_high", "urgent!"]);
/// assert_eq!(Priority::VeryHigh.name(), "very_high");
/// assert_eq!(Priority::from_name("urgent!"), Some(Priority::Urgent));
/// assert_eq!(<Priority as ColumnType>::SQL_TYPE, SqlType::Enum(Priority::VARIANTS));
/// ```
pub trait LiveEnum: Sized {
    /// The serde name of every variant, in declaration order.
    const VARIANTS: &'static [&'static str];

    /// This variant's serde name.
    fn name(&self) -> &'static str;

    /// The variant with this serde name.
    fn from_name(name: &str) -> Option<Self>;
}

/// The stored value of an enum ([`ColumnType::to_value`] of a [`LiveEnum`]).
#[doc(hidden)]
pub fn enum_to_value<E: LiveEnum>(value: &E) -> Value {
    Value::Text(value.name().to_owned())
}

/// An enum from its stored value ([`ColumnType::from_value`] of a [`LiveEnum`]).
#[doc(hidden)]
pub fn enum_from_value<E: LiveEnum>(value: Value) -> Result<E, DecodeError> {
    match value {
        Value::Text(name) => E::from_name(&name)
            .ok_or_else(|| DecodeError::invalid(SqlType::Enum(E::VARIANTS), format!("{name:?} is not a variant"))),
        other => Err(DecodeError::mismatch(SqlType::Enum(E::VARIANTS), &other)),
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
    /// The stored value has the column's type but no value of the field stands for it: a name
    /// that is no longer a variant of the enum, a JSON document of another shape.
    #[error("column {index:?}: not a valid {expected}: {reason}")]
    Invalid {
        /// The column's index, once known.
        index: Option<usize>,
        /// The column's type.
        expected: SqlType,
        /// Why not.
        reason: String,
    },
    /// The row has fewer values than the descriptor has columns.
    #[error("column {index}: the row has no value for it")]
    MissingColumn {
        /// The column's index.
        index: usize,
    },
}

impl DecodeError {
    pub(crate) fn mismatch(expected: SqlType, found: &Value) -> Self {
        DecodeError::Mismatch { index: None, expected, found: found.kind().to_owned() }
    }

    pub(crate) fn out_of_range(expected: SqlType, value: i64) -> Self {
        DecodeError::OutOfRange { index: None, expected, value }
    }

    pub(crate) fn invalid(expected: SqlType, reason: String) -> Self {
        DecodeError::Invalid { index: None, expected, reason }
    }

    /// The same error, at column `at`.
    pub(crate) fn at(self, at: usize) -> Self {
        match self {
            DecodeError::Mismatch { expected, found, .. } => DecodeError::Mismatch { index: Some(at), expected, found },
            DecodeError::OutOfRange { expected, value, .. } => {
                DecodeError::OutOfRange { index: Some(at), expected, value }
            }
            DecodeError::Invalid { expected, reason, .. } => DecodeError::Invalid { index: Some(at), expected, reason },
            other @ DecodeError::MissingColumn { .. } => other,
        }
    }
}

/// `one of "a", "b", "c"`, for messages about an enum's names.
fn one_of(names: &[&str]) -> String {
    let mut out = String::from("one of ");
    for (index, name) in names.iter().enumerate() {
        if index > 0 {
            out.push_str(", ");
        }
        out.push_str(&format!("{name:?}"));
    }
    out
}

/// What a value of a `ty` column is, for a message that starts "expected ".
pub(crate) fn expected(ty: SqlType) -> String {
    match ty {
        SqlType::Enum(names) => one_of(names),
        other => format!("a {other} value"),
    }
}

/// Whether `json` is the JSON form of a value of a `ty` column (`nullable` when the field is an
/// `Option`); `Err` says what was expected, for the `422` of a request body.
pub(crate) fn check_json(ty: SqlType, nullable: bool, json: &Json) -> Result<(), String> {
    if json.is_null() {
        // A JSON column holds `null` as a document; any other column needs an `Option` field.
        return if nullable || ty == SqlType::Json { Ok(()) } else { Err("must not be null".to_owned()) };
    }
    let integer = |min: i64, max: i64| match json.as_i64() {
        Some(n) if (min..=max).contains(&n) => Ok(()),
        _ => Err(format!("expected an integer in {ty}'s range")),
    };
    // The types whose JSON form is a string that reads as their filter text.
    let text = |expected: &str| match json.as_str().map(|text| parse_text(ty, text)) {
        Some(Ok(_)) => Ok(()),
        _ => Err(format!("expected {expected}")),
    };
    match ty {
        SqlType::Bool if json.is_boolean() => Ok(()),
        SqlType::Bool => Err("expected a boolean".to_owned()),
        SqlType::I16 => integer(i16::MIN.into(), i16::MAX.into()),
        SqlType::I32 => integer(i32::MIN.into(), i32::MAX.into()),
        SqlType::I64 => integer(i64::MIN, i64::MAX),
        SqlType::F32 | SqlType::F64 if json.is_number() => Ok(()),
        SqlType::F32 | SqlType::F64 => Err("expected a number".to_owned()),
        SqlType::Text if json.is_string() => Ok(()),
        SqlType::Text => Err("expected a string".to_owned()),
        SqlType::Bytes => match json.as_array() {
            Some(items) if items.iter().all(|item| item.as_u64().is_some_and(|b| b <= 255)) => Ok(()),
            _ => Err("expected an array of bytes".to_owned()),
        },
        SqlType::Uuid => text("a UUID string"),
        SqlType::Timestamp => text("an RFC 3339 timestamp string"),
        SqlType::Date => text("a date string such as \"2024-02-29\""),
        SqlType::NaiveTimestamp => text("a timestamp string without time zone such as \"2024-02-29T12:30:00\""),
        // Any document fits a JSON column.
        SqlType::Json => Ok(()),
        SqlType::Enum(names) => text(&one_of(names)),
    }
}

/// Parses the text form of a value of type `ty`, as it appears in a query or a URL.
pub(crate) fn parse_text(ty: SqlType, text: &str) -> Result<Value, String> {
    let integer = |min: i64, max: i64| {
        text.parse::<i64>()
            .ok()
            .filter(|value| (min..=max).contains(value))
            .map(Value::Int)
            .ok_or_else(|| format!("expected an integer in {ty}'s range, got {text:?}"))
    };
    match ty {
        SqlType::Bool => match text {
            "true" => Ok(Value::Bool(true)),
            "false" => Ok(Value::Bool(false)),
            _ => Err(format!("expected true or false, got {text:?}")),
        },
        SqlType::I16 => integer(i16::MIN.into(), i16::MAX.into()),
        SqlType::I32 => integer(i32::MIN.into(), i32::MAX.into()),
        SqlType::I64 => integer(i64::MIN, i64::MAX),
        SqlType::F32 | SqlType::F64 => text
            .parse::<f64>()
            .ok()
            .filter(|value| value.is_finite())
            .map(Value::Float)
            .ok_or_else(|| format!("expected a number, got {text:?}")),
        // No stored text can hold a NUL (PostgreSQL refuses it), so it is a mistake, not a miss.
        SqlType::Text if text.contains('\0') => Err("text must not contain NUL characters".to_owned()),
        SqlType::Text => Ok(Value::Text(text.to_owned())),
        SqlType::Uuid => Uuid::parse_str(text).map(Value::Uuid).map_err(|_| format!("expected a UUID, got {text:?}")),
        SqlType::Timestamp => text
            .parse::<DateTime<Utc>>()
            .map(Value::Timestamp)
            .map_err(|_| format!("expected an RFC 3339 timestamp, got {text:?}")),
        // `FromStr` is what chrono's serde uses too, so a filter takes what a body takes.
        SqlType::Date => text
            .parse::<NaiveDate>()
            .map(Value::Date)
            .map_err(|_| format!("expected a date such as 2024-02-29, got {text:?}")),
        SqlType::NaiveTimestamp => text
            .parse::<NaiveDateTime>()
            .map(Value::NaiveTimestamp)
            .map_err(|_| format!("expected a timestamp without time zone such as 2024-02-29T12:30:00, got {text:?}")),
        SqlType::Enum(names) if names.contains(&text) => Ok(Value::Text(text.to_owned())),
        SqlType::Enum(names) => Err(format!("expected {}, got {text:?}", one_of(names))),
        SqlType::Bytes | SqlType::Json => Err(format!("cannot compare a {ty} field in a query")),
    }
}

/// Whether a JSON document holds no NUL character in any string or key (PostgreSQL's `jsonb`
/// cannot store one).
pub(crate) fn json_is_storable(json: &Json) -> bool {
    match json {
        Json::String(text) => !text.contains('\0'),
        Json::Array(items) => items.iter().all(json_is_storable),
        Json::Object(map) => map.iter().all(|(key, item)| !key.contains('\0') && json_is_storable(item)),
        _ => true,
    }
}

/// `value` as a value of a `ty` column, converting what converts without loss of meaning (an
/// integer for a float column; text for any column whose values have a text form, read exactly as
/// [`parse_text`] reads a query); `None` when it cannot be one.
pub(crate) fn coerce(value: &Value, ty: SqlType) -> Option<Cow<'_, Value>> {
    match (value, ty) {
        // PostgreSQL cannot take a NUL in text; no stored value holds one anyway.
        (Value::Text(text), _) if text.contains('\0') => None,
        (Value::Json(json), _) if !json_is_storable(json) => None,
        (Value::Null, _)
        | (Value::Bool(_), SqlType::Bool)
        | (Value::Int(_), SqlType::I16 | SqlType::I32 | SqlType::I64)
        | (Value::Float(_), SqlType::F32 | SqlType::F64)
        | (Value::Text(_), SqlType::Text)
        | (Value::Bytes(_), SqlType::Bytes)
        | (Value::Uuid(_), SqlType::Uuid)
        | (Value::Timestamp(_), SqlType::Timestamp)
        | (Value::Date(_), SqlType::Date)
        | (Value::NaiveTimestamp(_), SqlType::NaiveTimestamp)
        | (Value::Json(_), SqlType::Json) => Some(Cow::Borrowed(value)),
        (Value::Int(int), SqlType::F32 | SqlType::F64) => Some(Cow::Owned(Value::Float(*int as f64))),
        (Value::Text(text), _) => parse_text(ty, text).ok().map(Cow::Owned),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const LEVELS: SqlType = SqlType::Enum(&["low", "very-high"]);

    #[test]
    fn new_types_check_their_json_form() {
        assert_eq!(check_json(SqlType::Date, false, &json!("2024-02-29")), Ok(()));
        assert!(check_json(SqlType::Date, false, &json!("2023-02-29")).is_err());
        assert!(check_json(SqlType::Date, false, &json!(20240229)).is_err());
        assert_eq!(check_json(SqlType::NaiveTimestamp, false, &json!("2024-02-29T12:30:00.123456")), Ok(()));
        assert!(check_json(SqlType::NaiveTimestamp, false, &json!("2024-02-29T12:30:00Z")).is_err());
        assert_eq!(check_json(LEVELS, false, &json!("very-high")), Ok(()));
        assert_eq!(check_json(LEVELS, false, &json!("High")), Err("expected one of \"low\", \"very-high\"".to_owned()));
        assert_eq!(check_json(LEVELS, true, &json!(null)), Ok(()));
        assert_eq!(check_json(LEVELS, false, &json!(null)), Err("must not be null".to_owned()));
    }

    #[test]
    fn new_types_parse_filter_text() {
        let date = NaiveDate::from_ymd_opt(2024, 2, 29).expect("a date");
        assert_eq!(parse_text(SqlType::Date, "2024-02-29"), Ok(Value::Date(date)));
        let at = date.and_hms_micro_opt(12, 30, 0, 5).expect("a time");
        assert_eq!(parse_text(SqlType::NaiveTimestamp, "2024-02-29T12:30:00.000005"), Ok(Value::NaiveTimestamp(at)));
        assert_eq!(parse_text(LEVELS, "low"), Ok(Value::Text("low".to_owned())));
        let error = parse_text(LEVELS, "medium").expect_err("not a variant");
        assert!(error.contains("\"low\", \"very-high\"") && error.contains("medium"), "{error}");
        assert!(parse_text(SqlType::Date, "yesterday").is_err());
    }

    #[test]
    fn coercion_keeps_enums_to_their_names() {
        assert!(coerce(&Value::Text("low".into()), LEVELS).is_some());
        assert!(coerce(&Value::Text("Low".into()), LEVELS).is_none());
        assert!(coerce(&Value::Int(1), LEVELS).is_none());
        let date = coerce(&Value::Text("2024-02-29".into()), SqlType::Date).map(Cow::into_owned);
        assert_eq!(date, NaiveDate::from_ymd_opt(2024, 2, 29).map(Value::Date));
    }

    #[test]
    fn coerced_text_reads_as_a_query_does() {
        assert_eq!(coerce(&Value::Text("7".into()), SqlType::I32).map(Cow::into_owned), Some(Value::Int(7)));
        assert_eq!(coerce(&Value::Text("70000".into()), SqlType::I16), None, "out of an i16's range");
        assert_eq!(coerce(&Value::Text("NaN".into()), SqlType::F64), None, "not a finite number");
        assert_eq!(coerce(&Value::Text("x".into()), SqlType::Json), None);
        assert_eq!(coerce(&Value::Int(2), SqlType::F32).map(Cow::into_owned), Some(Value::Float(2.0)));
    }

    #[test]
    fn only_enums_are_unordered() {
        assert!(!LEVELS.ordered());
        assert!(SqlType::Date.ordered() && SqlType::NaiveTimestamp.ordered() && SqlType::Text.ordered());
    }

    #[cfg(feature = "time")]
    #[test]
    fn offset_date_times_are_the_same_instant_in_utc() {
        let at = time::OffsetDateTime::from_unix_timestamp(1_709_280_000)
            .and_then(|at| at.replace_nanosecond(5_000))
            .and_then(|at| at.to_offset(time::UtcOffset::from_hms(2, 0, 0)?).replace_nanosecond(5_000))
            .expect("a time");
        let value = at.to_value();
        assert_eq!(value, Value::Timestamp(DateTime::from_timestamp(1_709_280_000, 5_000).expect("a timestamp")));
        let back = time::OffsetDateTime::from_value(value).expect("decode");
        assert_eq!((back, back.offset()), (at, time::UtcOffset::UTC));
        const { assert!(<Option<time::OffsetDateTime> as ColumnType>::CUSTOM_JSON) };
        assert_eq!(at.check_storable(), Ok(()));
    }

    #[test]
    fn decode_errors_name_the_column() {
        let error = DecodeError::invalid(LEVELS, "\"x\" is not a variant".to_owned()).at(3);
        assert_eq!(error.to_string(), "column Some(3): not a valid enum: \"x\" is not a variant");
    }
}
