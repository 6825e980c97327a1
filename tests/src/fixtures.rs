//! Hand-written [`LiveResource`] implementations, as the derive would generate them; and derived
//! ones for what only the derive names (enums, JSON columns of any serde type, serde's
//! `rename_all`).

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use live_runtime::{
    Column, ColumnReader, ColumnType, ColumnWriter, DecodeError, Descriptor, LiveEnum, LiveResource, ValidationErrors,
};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

/// The column of a field of type `$ty`.
macro_rules! column {
    ($name:literal, $ty:ty) => {
        Column::new($name, $name, <$ty as ColumnType>::SQL_TYPE, <$ty as ColumnType>::NULLABLE)
    };
}

/// Every column type, plain and optional, with an `i64` id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct Kitchen {
    pub id: i64,
    pub flag: bool,
    pub small: i16,
    pub medium: i32,
    pub big: i64,
    pub ratio: f32,
    pub score: f64,
    pub name: String,
    pub data: Vec<u8>,
    pub key: Uuid,
    pub at: DateTime<Utc>,
    pub doc: serde_json::Value,
    pub opt_flag: Option<bool>,
    pub opt_small: Option<i16>,
    pub opt_medium: Option<i32>,
    pub opt_big: Option<i64>,
    pub opt_ratio: Option<f32>,
    pub opt_score: Option<f64>,
    pub opt_name: Option<String>,
    pub opt_data: Option<Vec<u8>>,
    pub opt_key: Option<Uuid>,
    pub opt_at: Option<DateTime<Utc>>,
    pub opt_doc: Option<serde_json::Value>,
}

impl LiveResource for Kitchen {
    const DESCRIPTOR: &'static Descriptor = &Descriptor {
        type_name: "Kitchen",
        path: "/api/kitchen",
        table: "kitchen",
        columns: &[
            column!("id", i64),
            column!("flag", bool),
            column!("small", i16),
            column!("medium", i32),
            column!("big", i64),
            column!("ratio", f32),
            column!("score", f64),
            column!("name", String),
            column!("data", Vec<u8>),
            column!("key", Uuid),
            column!("at", DateTime<Utc>),
            column!("doc", serde_json::Value),
            column!("opt_flag", Option<bool>),
            column!("opt_small", Option<i16>),
            column!("opt_medium", Option<i32>),
            column!("opt_big", Option<i64>),
            column!("opt_ratio", Option<f32>),
            column!("opt_score", Option<f64>),
            column!("opt_name", Option<String>),
            column!("opt_data", Option<Vec<u8>>),
            column!("opt_key", Option<Uuid>),
            column!("opt_at", Option<DateTime<Utc>>),
            column!("opt_doc", Option<serde_json::Value>),
        ],
        id: 0,
        version: None,
        keys: &[],
    };

    fn write_columns(&self, out: &mut ColumnWriter) {
        out.write(&self.id);
        out.write(&self.flag);
        out.write(&self.small);
        out.write(&self.medium);
        out.write(&self.big);
        out.write(&self.ratio);
        out.write(&self.score);
        out.write(&self.name);
        out.write(&self.data);
        out.write(&self.key);
        out.write(&self.at);
        out.write(&self.doc);
        out.write(&self.opt_flag);
        out.write(&self.opt_small);
        out.write(&self.opt_medium);
        out.write(&self.opt_big);
        out.write(&self.opt_ratio);
        out.write(&self.opt_score);
        out.write(&self.opt_name);
        out.write(&self.opt_data);
        out.write(&self.opt_key);
        out.write(&self.opt_at);
        out.write(&self.opt_doc);
    }

    fn read_columns(input: &mut ColumnReader) -> Result<Self, DecodeError> {
        Ok(Kitchen {
            id: input.read()?,
            flag: input.read()?,
            small: input.read()?,
            medium: input.read()?,
            big: input.read()?,
            ratio: input.read()?,
            score: input.read()?,
            name: input.read()?,
            data: input.read()?,
            key: input.read()?,
            at: input.read()?,
            doc: input.read()?,
            opt_flag: input.read()?,
            opt_small: input.read()?,
            opt_medium: input.read()?,
            opt_big: input.read()?,
            opt_ratio: input.read()?,
            opt_score: input.read()?,
            opt_name: input.read()?,
            opt_data: input.read()?,
            opt_key: input.read()?,
            opt_at: input.read()?,
            opt_doc: input.read()?,
        })
    }
}

impl Kitchen {
    /// A value with every optional column NULL and plain columns at simple values; the id is
    /// assigned by the store on create.
    pub fn sample(name: &str) -> Kitchen {
        Kitchen {
            id: 0,
            flag: false,
            small: 0,
            medium: 0,
            big: 0,
            ratio: 0.0,
            score: 0.0,
            name: name.to_owned(),
            data: Vec::new(),
            key: Uuid::nil(),
            at: DateTime::<Utc>::UNIX_EPOCH,
            doc: serde_json::Value::Null,
            opt_flag: None,
            opt_small: None,
            opt_medium: None,
            opt_big: None,
            opt_ratio: None,
            opt_score: None,
            opt_name: None,
            opt_data: None,
            opt_key: None,
            opt_at: None,
            opt_doc: None,
        }
    }
}

/// A todo-like note: an `i64` id, the store's own version column (`_version`), a read-only
/// field, and a validation rule (the title must not be empty or blank).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Note {
    /// Assigned by the store.
    pub id: i64,
    /// Must not be blank.
    pub title: String,
    /// Whether it is done.
    #[serde(default)]
    pub done: bool,
    /// A sort key.
    #[serde(default)]
    pub rank: i32,
    /// Who owns it, if anyone.
    #[serde(default)]
    pub owner: Option<String>,
    /// Set by the server only (`#[live(read_only)]`).
    #[serde(default)]
    pub created_by: String,
}

impl LiveResource for Note {
    const DESCRIPTOR: &'static Descriptor = &Descriptor {
        type_name: "Note",
        path: "/api/notes",
        table: "notes",
        columns: &[
            column!("id", i64),
            column!("title", String),
            column!("done", bool),
            column!("rank", i32),
            column!("owner", Option<String>),
            column!("created_by", String).read_only(),
        ],
        id: 0,
        version: None,
        keys: &[],
    };

    fn write_columns(&self, out: &mut ColumnWriter) {
        out.write(&self.id);
        out.write(&self.title);
        out.write(&self.done);
        out.write(&self.rank);
        out.write(&self.owner);
        out.write(&self.created_by);
    }

    fn read_columns(input: &mut ColumnReader) -> Result<Self, DecodeError> {
        Ok(Note {
            id: input.read()?,
            title: input.read()?,
            done: input.read()?,
            rank: input.read()?,
            owner: input.read()?,
            created_by: input.read()?,
        })
    }

    fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::new();
        if self.title.trim().is_empty() {
            errors.add("title", "must not be empty");
        }
        errors.into_result()
    }
}

impl Note {
    /// A note with this title, not done, rank 0, no owner; the id is assigned on create.
    pub fn new(title: &str) -> Note {
        Note { id: 0, title: title.to_owned(), done: false, rank: 0, owner: None, created_by: String::new() }
    }
}

/// A document with a UUID id and a version field (`#[live(version)]`) that mirrors the row
/// version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Doc {
    /// Assigned by the store (a random v4 UUID).
    pub id: Uuid,
    /// The row version, kept by the store.
    #[serde(default)]
    pub version: i64,
    /// The title.
    pub title: String,
    /// Free-form content.
    #[serde(default)]
    pub body: Option<serde_json::Value>,
}

impl LiveResource for Doc {
    const DESCRIPTOR: &'static Descriptor = &Descriptor {
        type_name: "Doc",
        path: "/api/docs",
        table: "docs",
        columns: &[
            column!("id", Uuid),
            column!("version", i64),
            column!("title", String),
            column!("body", Option<serde_json::Value>),
        ],
        id: 0,
        version: Some(1),
        keys: &[],
    };

    fn write_columns(&self, out: &mut ColumnWriter) {
        out.write(&self.id);
        out.write(&self.version);
        out.write(&self.title);
        out.write(&self.body);
    }

    fn read_columns(input: &mut ColumnReader) -> Result<Self, DecodeError> {
        Ok(Doc { id: input.read()?, version: input.read()?, title: input.read()?, body: input.read()? })
    }
}

impl Doc {
    /// A document with this title and no body; id and version are assigned on create.
    pub fn new(title: &str) -> Doc {
        Doc { id: Uuid::nil(), version: 0, title: title.to_owned(), body: None }
    }
}

/// A label with an `i32` id, the narrowest id the store assigns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tag {
    /// Assigned by the store.
    pub id: i32,
    /// The label.
    pub label: String,
}

impl LiveResource for Tag {
    const DESCRIPTOR: &'static Descriptor = &Descriptor {
        type_name: "Tag",
        path: "/api/tags",
        table: "tags",
        columns: &[column!("id", i32), column!("label", String)],
        id: 0,
        version: None,
        keys: &[],
    };

    fn write_columns(&self, out: &mut ColumnWriter) {
        out.write(&self.id);
        out.write(&self.label);
    }

    fn read_columns(input: &mut ColumnReader) -> Result<Self, DecodeError> {
        Ok(Tag { id: input.read()?, label: input.read()? })
    }
}

/// How urgent an [`Appointment`] is: stored as its serde name, `low`, `normal` or `very-high`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, LiveEnum)]
#[serde(rename_all = "kebab-case")]
#[allow(missing_docs)]
pub enum Priority {
    Low,
    #[serde(rename = "normal")]
    Medium,
    VeryHigh,
}

/// Where an [`Appointment`] takes place: a nested struct, stored as a JSON column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct Place {
    pub name: String,
    pub floor: i32,
}

/// An appointment (derived): a date, a naive timestamp, an enum and JSON columns, plain and
/// optional, with camelCase JSON names over snake_case columns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, live_runtime::LiveResource)]
#[live(path = "/api/appointments")]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct Appointment {
    #[live(id)]
    pub id: i64,
    pub title: String,
    pub day: NaiveDate,
    pub starts_at: NaiveDateTime,
    pub priority: Priority,
    #[live(json)]
    pub place: Place,
    #[live(json)]
    #[serde(default)]
    pub tags: Vec<String>,
    #[live(json)]
    #[serde(default)]
    pub scores: BTreeMap<String, i64>,
    #[serde(default)]
    pub end_day: Option<NaiveDate>,
    #[serde(default)]
    pub ends_at: Option<NaiveDateTime>,
    #[serde(default)]
    pub fallback: Option<Priority>,
    #[live(json)]
    #[serde(default)]
    pub backup_place: Option<Place>,
}

impl Appointment {
    /// An appointment on `day` at `hour`, every optional column NULL; the id is assigned on create.
    pub fn new(title: &str, day: NaiveDate, hour: u32, priority: Priority) -> Appointment {
        Appointment {
            id: 0,
            title: title.to_owned(),
            day,
            starts_at: day.and_hms_opt(hour, 0, 0).unwrap_or_default(),
            priority,
            place: Place { name: "hall".to_owned(), floor: 0 },
            tags: Vec::new(),
            scores: BTreeMap::new(),
            end_day: None,
            ends_at: None,
            fallback: None,
            backup_place: None,
        }
    }
}

/// A shift (derived): `time::OffsetDateTime` fields, stored as timestamps. `starts` and `ends`
/// are RFC 3339 in JSON, as applications write them; `logged` keeps `time`'s own serde form.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, live_runtime::LiveResource)]
#[live(path = "/api/shifts")]
#[allow(missing_docs)]
pub struct Shift {
    #[live(id)]
    pub id: i64,
    pub label: String,
    #[serde(with = "time::serde::rfc3339")]
    pub starts: OffsetDateTime,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub ends: Option<OffsetDateTime>,
    pub logged: OffsetDateTime,
}
