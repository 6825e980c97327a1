//! The derive against hand-written impls of the same structs: same descriptor, same rows.

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};
use live_runtime::resource::{from_row, to_row};
use live_runtime::{
    Column, ColumnReader, ColumnType, ColumnWriter, DecodeError, Descriptor, LiveEnum, LiveResource, SqlType,
    ValidationErrors, Value,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The descriptor of `hand`, as if it had been written for a type named `type_name`.
fn renamed(hand: &Descriptor, type_name: &'static str) -> Descriptor {
    Descriptor { type_name, ..*hand }
}

/// Asserts that the derived and the hand-written impls agree on `value`: same row, and reading
/// that row back through the derived impl gives the value again.
fn assert_same_rows<D, H>(derived: &D, hand: &H)
where
    D: LiveResource + PartialEq + std::fmt::Debug,
    H: LiveResource,
{
    let row = to_row(derived);
    assert_eq!(row, to_row(hand));
    assert_eq!(row.len(), D::DESCRIPTOR.columns.len());
    assert_eq!(from_row::<D>(row).as_ref(), Ok(derived));
}

// --- the smallest resource ---------------------------------------------------------------------

#[derive(LiveResource, Serialize, Deserialize, Debug, PartialEq)]
#[live(path = "/api/todos")]
struct Todo {
    #[live(id)]
    id: i64,
    title: String,
    completed: bool,
}

#[derive(Serialize, Deserialize)]
struct TodoByHand {
    id: i64,
    title: String,
    completed: bool,
}

impl LiveResource for TodoByHand {
    const DESCRIPTOR: &'static Descriptor = &Descriptor {
        type_name: "TodoByHand",
        path: "/api/todos",
        table: "todos",
        columns: &[
            Column::new("id", "id", SqlType::I64, false),
            Column::new("title", "title", SqlType::Text, false),
            Column::new("completed", "completed", SqlType::Bool, false),
        ],
        id: 0,
        version: None,
        keys: &[],
    };

    fn write_columns(&self, out: &mut ColumnWriter) {
        out.write(&self.id);
        out.write(&self.title);
        out.write(&self.completed);
    }

    fn read_columns(input: &mut ColumnReader) -> Result<Self, DecodeError> {
        Ok(TodoByHand { id: input.read()?, title: input.read()?, completed: input.read()? })
    }
}

#[test]
fn simple_struct_matches_a_hand_written_impl() {
    assert_eq!(*Todo::DESCRIPTOR, renamed(TodoByHand::DESCRIPTOR, "Todo"));
    assert_same_rows(
        &Todo { id: 7, title: "milk".to_owned(), completed: true },
        &TodoByHand { id: 7, title: "milk".to_owned(), completed: true },
    );
}

#[test]
fn default_validate_accepts_everything() {
    assert_eq!(Todo { id: 1, title: String::new(), completed: false }.validate(), Ok(()));
}

#[test]
fn decode_errors_are_the_same_as_by_hand() {
    let row = vec![Value::Int(1), Value::Bool(true), Value::Bool(false)];
    let derived = from_row::<Todo>(row.clone()).err();
    let hand = from_row::<TodoByHand>(row).err();
    assert!(derived.is_some());
    assert_eq!(derived, hand);
    assert_eq!(from_row::<Todo>(vec![Value::Int(1)]).err(), Some(DecodeError::MissingColumn { index: 1 }));
}

// --- every supported column type ---------------------------------------------------------------

#[derive(LiveResource, Serialize, Deserialize, Debug, PartialEq)]
#[live(path = "/api/all-types")]
struct AllTypes {
    #[live(id)]
    id: i32,
    a_bool: bool,
    an_i16: i16,
    an_i32: i32,
    an_i64: i64,
    an_f32: f32,
    an_f64: f64,
    a_string: String,
    some_bytes: Vec<u8>,
    a_uuid: Uuid,
    a_time: DateTime<Utc>,
    a_json: serde_json::Value,
    maybe_bool: Option<bool>,
    maybe_i16: Option<i16>,
    maybe_i32: Option<i32>,
    maybe_i64: Option<i64>,
    maybe_f32: Option<f32>,
    maybe_f64: Option<f64>,
    maybe_string: Option<String>,
    maybe_bytes: Option<Vec<u8>>,
    maybe_uuid: Option<Uuid>,
    maybe_time: Option<DateTime<Utc>>,
    maybe_json: Option<serde_json::Value>,
}

macro_rules! all_types_by_hand {
    ($($field:ident: $ty:ty => $sql:ident, $nullable:literal;)*) => {
        #[derive(Serialize, Deserialize)]
        struct AllTypesByHand {
            $($field: $ty,)*
        }

        impl LiveResource for AllTypesByHand {
            const DESCRIPTOR: &'static Descriptor = &Descriptor {
                type_name: "AllTypesByHand",
                path: "/api/all-types",
                table: "all_types",
                columns: &[$(Column::new(stringify!($field), stringify!($field), SqlType::$sql, $nullable)),*],
                id: 0,
                version: None,
                keys: &[],
            };

            fn write_columns(&self, out: &mut ColumnWriter) {
                $(out.write(&self.$field);)*
            }

            fn read_columns(input: &mut ColumnReader) -> Result<Self, DecodeError> {
                Ok(AllTypesByHand { $($field: input.read()?,)* })
            }
        }

        impl From<&AllTypes> for AllTypesByHand {
            fn from(value: &AllTypes) -> Self {
                AllTypesByHand { $($field: value.$field.clone(),)* }
            }
        }
    };
}

all_types_by_hand! {
    id: i32 => I32, false;
    a_bool: bool => Bool, false;
    an_i16: i16 => I16, false;
    an_i32: i32 => I32, false;
    an_i64: i64 => I64, false;
    an_f32: f32 => F32, false;
    an_f64: f64 => F64, false;
    a_string: String => Text, false;
    some_bytes: Vec<u8> => Bytes, false;
    a_uuid: Uuid => Uuid, false;
    a_time: DateTime<Utc> => Timestamp, false;
    a_json: serde_json::Value => Json, false;
    maybe_bool: Option<bool> => Bool, true;
    maybe_i16: Option<i16> => I16, true;
    maybe_i32: Option<i32> => I32, true;
    maybe_i64: Option<i64> => I64, true;
    maybe_f32: Option<f32> => F32, true;
    maybe_f64: Option<f64> => F64, true;
    maybe_string: Option<String> => Text, true;
    maybe_bytes: Option<Vec<u8>> => Bytes, true;
    maybe_uuid: Option<Uuid> => Uuid, true;
    maybe_time: Option<DateTime<Utc>> => Timestamp, true;
    maybe_json: Option<serde_json::Value> => Json, true;
}

fn all_types(filled: bool) -> AllTypes {
    let time = Utc.with_ymd_and_hms(2013, 5, 1, 12, 30, 0).single().unwrap_or_default();
    let uuid = Uuid::from_u128(0x1234_5678_9abc_def0_1234_5678_9abc_def0);
    let json = serde_json::json!({"tags": ["a", "b"], "n": 1});
    AllTypes {
        id: 3,
        a_bool: true,
        an_i16: -16,
        an_i32: 32,
        an_i64: i64::MAX,
        an_f32: 1.5,
        an_f64: -2.25,
        a_string: "text".to_owned(),
        some_bytes: vec![0, 1, 255],
        a_uuid: uuid,
        a_time: time,
        a_json: json.clone(),
        maybe_bool: filled.then_some(false),
        maybe_i16: filled.then_some(i16::MIN),
        maybe_i32: filled.then_some(i32::MIN),
        maybe_i64: filled.then_some(0),
        maybe_f32: filled.then_some(0.5),
        maybe_f64: filled.then_some(1e10),
        maybe_string: filled.then(|| String::from("maybe")),
        maybe_bytes: filled.then(Vec::new),
        maybe_uuid: filled.then_some(uuid),
        maybe_time: filled.then_some(time),
        maybe_json: filled.then_some(json),
    }
}

#[test]
fn every_column_type_matches_a_hand_written_impl() {
    assert_eq!(*AllTypes::DESCRIPTOR, renamed(AllTypesByHand::DESCRIPTOR, "AllTypes"));
    for filled in [true, false] {
        let value = all_types(filled);
        assert_same_rows(&value, &AllTypesByHand::from(&value));
    }
}

#[test]
fn options_are_nullable_columns() {
    let row = to_row(&all_types(false));
    for (column, value) in AllTypes::DESCRIPTOR.columns.iter().zip(&row) {
        assert_eq!(column.nullable, *value == Value::Null, "{}", column.name);
    }
}

// --- every attribute -----------------------------------------------------------------------------

fn check_note(note: &Note) -> Result<(), ValidationErrors> {
    let mut errors = ValidationErrors::new();
    if note.text.trim().is_empty() {
        errors.add("text", "must not be empty");
    }
    errors.into_result()
}

#[derive(LiveResource, Serialize, Deserialize, Debug, PartialEq)]
#[live(path = "/api/v1/notes", table = "note_rows", validate = check_note)]
struct Note {
    #[live(id)]
    key: Uuid,
    #[live(rename = "body")]
    text: String,
    #[serde(rename = "createdBy")]
    #[live(read_only)]
    created_by: String,
    #[live(skip)]
    #[serde(skip)]
    cache: Vec<Vec<String>>,
    #[live(version)]
    revision: i64,
    r#type: Option<String>,
    #[serde(rename(serialize = "pinned", deserialize = "pinned"))]
    #[live(rename = "is_pinned")]
    pin: bool,
}

#[derive(Serialize, Deserialize)]
struct NoteByHand {
    key: Uuid,
    text: String,
    #[serde(rename = "createdBy")]
    created_by: String,
    revision: i64,
    r#type: Option<String>,
    #[serde(rename = "pinned")]
    pin: bool,
}

impl LiveResource for NoteByHand {
    const DESCRIPTOR: &'static Descriptor = &Descriptor {
        type_name: "NoteByHand",
        path: "/api/v1/notes",
        table: "note_rows",
        columns: &[
            Column::new("key", "key", <Uuid as ColumnType>::SQL_TYPE, false),
            Column::new("body", "text", SqlType::Text, false),
            Column::new("created_by", "createdBy", SqlType::Text, false).read_only(),
            Column::new("revision", "revision", SqlType::I64, false),
            Column::new("type", "type", SqlType::Text, true),
            Column::new("is_pinned", "pinned", SqlType::Bool, false),
        ],
        id: 0,
        version: Some(3),
        keys: &[],
    };

    fn write_columns(&self, out: &mut ColumnWriter) {
        out.write(&self.key);
        out.write(&self.text);
        out.write(&self.created_by);
        out.write(&self.revision);
        out.write(&self.r#type);
        out.write(&self.pin);
    }

    fn read_columns(input: &mut ColumnReader) -> Result<Self, DecodeError> {
        Ok(NoteByHand {
            key: input.read()?,
            text: input.read()?,
            created_by: input.read()?,
            revision: input.read()?,
            r#type: input.read()?,
            pin: input.read()?,
        })
    }
}

fn note(cache: Vec<Vec<String>>) -> Note {
    Note {
        key: Uuid::from_u128(42),
        text: "hello".to_owned(),
        created_by: "ann".to_owned(),
        cache,
        revision: 4,
        r#type: Some("memo".to_owned()),
        pin: true,
    }
}

#[test]
fn attributes_match_a_hand_written_impl() {
    assert_eq!(*Note::DESCRIPTOR, renamed(NoteByHand::DESCRIPTOR, "Note"));
    let hand = NoteByHand {
        key: Uuid::from_u128(42),
        text: "hello".to_owned(),
        created_by: "ann".to_owned(),
        revision: 4,
        r#type: Some("memo".to_owned()),
        pin: true,
    };
    assert_same_rows(&note(Vec::new()), &hand);
}

#[test]
fn skipped_fields_are_not_columns_and_read_back_as_default() {
    let row = to_row(&note(vec![vec!["cached".to_owned()]]));
    assert_eq!(row.len(), 6);
    let back = from_row::<Note>(row).map(|note| note.cache);
    assert_eq!(back, Ok(Vec::new()));
}

#[test]
fn json_names_follow_serde() {
    let json = serde_json::to_value(note(Vec::new())).unwrap_or_default();
    for column in Note::DESCRIPTOR.columns {
        assert!(json.get(column.field).is_some(), "`{}` is not a key of {json}", column.field);
    }
    assert_eq!(Note::DESCRIPTOR.column_by_field("createdBy").map(|(index, _)| index), Some(2));
}

#[test]
fn id_version_and_read_only_are_not_client_writable() {
    let descriptor = Note::DESCRIPTOR;
    let writable: Vec<&str> = (0..descriptor.columns.len())
        .filter(|index| descriptor.is_client_writable(*index))
        .map(|index| descriptor.columns[index].field)
        .collect();
    assert_eq!(writable, ["text", "type", "pinned"]);
    assert_eq!(descriptor.id_column().name, "key");
    assert_eq!(descriptor.version_column(), "revision");
}

#[test]
fn validate_calls_the_named_function() {
    assert_eq!(note(Vec::new()).validate(), Ok(()));
    let blank = Note { text: " ".to_owned(), ..note(Vec::new()) };
    let errors = blank.validate().err().unwrap_or_default();
    assert_eq!(errors.get("text"), Some("must not be empty"));
}

// --- enums, dates and JSON columns -------------------------------------------------------------

#[derive(LiveEnum, Serialize, Deserialize, Debug, Clone, Copy, PartialEq)]
#[serde(rename_all = "kebab-case")]
enum Level {
    Low,
    #[serde(rename = "normal")]
    Medium,
    VeryHigh,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
struct Place {
    name: String,
    floor: i32,
}

#[derive(LiveResource, Serialize, Deserialize, Debug, PartialEq)]
#[live(path = "/api/plans")]
#[serde(rename_all = "camelCase")]
struct Plan {
    #[live(id)]
    id: i64,
    due_on: NaiveDate,
    starts_at: Option<NaiveDateTime>,
    level: Level,
    maybe_level: Option<Level>,
    #[live(json)]
    place: Place,
    #[live(json)]
    other_place: Option<Place>,
    #[live(json, read_only)]
    tags: Vec<String>,
    #[serde(with = "chrono::serde::ts_seconds")]
    stamped: DateTime<Utc>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PlanByHand {
    id: i64,
    due_on: NaiveDate,
    starts_at: Option<NaiveDateTime>,
    level: Level,
    maybe_level: Option<Level>,
    place: Place,
    other_place: Option<Place>,
    tags: Vec<String>,
    #[serde(with = "chrono::serde::ts_seconds")]
    stamped: DateTime<Utc>,
}

impl LiveResource for PlanByHand {
    const DESCRIPTOR: &'static Descriptor = &Descriptor {
        type_name: "PlanByHand",
        path: "/api/plans",
        table: "plans",
        columns: &[
            Column::new("id", "id", SqlType::I64, false),
            Column::new("due_on", "dueOn", SqlType::Date, false),
            Column::new("starts_at", "startsAt", SqlType::NaiveTimestamp, true),
            Column::new("level", "level", SqlType::Enum(&["low", "normal", "very-high"]), false),
            Column::new("maybe_level", "maybeLevel", SqlType::Enum(&["low", "normal", "very-high"]), true),
            Column::new("place", "place", SqlType::Json, false),
            Column::new("other_place", "otherPlace", SqlType::Json, true),
            Column::new("tags", "tags", SqlType::Json, false).read_only(),
            Column::new("stamped", "stamped", SqlType::Timestamp, false).custom_json(),
        ],
        id: 0,
        version: None,
        keys: &[],
    };

    fn write_columns(&self, out: &mut ColumnWriter) {
        out.write(&self.id);
        out.write(&self.due_on);
        out.write(&self.starts_at);
        out.write(&self.level);
        out.write(&self.maybe_level);
        out.write_json(&self.place);
        out.write_nullable_json(&self.other_place);
        out.write_json(&self.tags);
        out.write(&self.stamped);
    }

    fn read_columns(input: &mut ColumnReader) -> Result<Self, DecodeError> {
        Ok(PlanByHand {
            id: input.read()?,
            due_on: input.read()?,
            starts_at: input.read()?,
            level: input.read()?,
            maybe_level: input.read()?,
            place: input.read_json()?,
            other_place: input.read_nullable_json()?,
            tags: input.read_json()?,
            stamped: input.read()?,
        })
    }
}

fn plan(filled: bool) -> (Plan, PlanByHand) {
    let due_on = NaiveDate::from_ymd_opt(2024, 2, 29).unwrap_or_default();
    let starts_at = filled.then(|| due_on.and_hms_micro_opt(9, 30, 0, 250).unwrap_or_default());
    let place = Place { name: "hall".to_owned(), floor: -1 };
    let other_place = filled.then(|| Place { name: "roof".to_owned(), floor: 9 });
    let stamped = Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).single().unwrap_or_default();
    let tags = vec!["a".to_owned()];
    let maybe_level = filled.then_some(Level::Low);
    let derived = Plan {
        id: 5,
        due_on,
        starts_at,
        level: Level::VeryHigh,
        maybe_level,
        place: place.clone(),
        other_place: other_place.clone(),
        tags: tags.clone(),
        stamped,
    };
    let hand =
        PlanByHand { id: 5, due_on, starts_at, level: Level::VeryHigh, maybe_level, place, other_place, tags, stamped };
    (derived, hand)
}

#[test]
fn enums_dates_and_json_columns_match_a_hand_written_impl() {
    assert_eq!(*Plan::DESCRIPTOR, renamed(PlanByHand::DESCRIPTOR, "Plan"));
    for filled in [true, false] {
        let (derived, hand) = plan(filled);
        assert_same_rows(&derived, &hand);
    }
}

#[test]
fn enums_are_stored_as_their_serde_names() {
    assert_eq!(Level::VARIANTS, ["low", "normal", "very-high"]);
    assert_eq!(Level::Medium.to_value(), Value::Text("normal".to_owned()));
    assert_eq!(Level::from_value(Value::Text("very-high".to_owned())), Ok(Level::VeryHigh));
    let stale = Level::from_value(Value::Text("Medium".to_owned()));
    assert!(matches!(stale, Err(DecodeError::Invalid { .. })), "{stale:?}");
}

#[test]
fn optional_json_columns_store_none_as_null() {
    let (empty, _) = plan(false);
    let row = to_row(&empty);
    assert_eq!(row[6], Value::Null);
    assert_eq!(row[5], Value::Json(serde_json::json!({"name": "hall", "floor": -1})));
    let (full, _) = plan(true);
    assert_eq!(to_row(&full)[6], Value::Json(serde_json::json!({"name": "roof", "floor": 9})));
}

#[test]
fn json_documents_of_another_shape_are_decode_errors() {
    let mut row = to_row(&plan(true).0);
    row[5] = Value::Json(serde_json::json!(["not", "a", "place"]));
    let error = from_row::<Plan>(row).err();
    assert!(matches!(error, Some(DecodeError::Invalid { index: Some(5), .. })), "{error:?}");
}

// --- nested paths ------------------------------------------------------------------------------

#[derive(LiveResource, Serialize, Deserialize, Debug, PartialEq)]
#[live(path = "/api/orgs/{org_id}/kinds/{type}/tasks")]
struct Task {
    #[live(skip)]
    #[serde(skip)]
    draft: String,
    #[live(id)]
    id: i64,
    title: String,
    r#type: String,
    #[live(skip)]
    #[serde(skip)]
    cache: Vec<String>,
    #[live(rename = "organisation")]
    org_id: Uuid,
}

#[derive(Serialize, Deserialize)]
struct TaskByHand {
    id: i64,
    title: String,
    r#type: String,
    org_id: Uuid,
}

impl LiveResource for TaskByHand {
    const DESCRIPTOR: &'static Descriptor = &Descriptor {
        type_name: "TaskByHand",
        path: "/api/orgs/{org_id}/kinds/{type}/tasks",
        table: "tasks",
        columns: &[
            Column::new("id", "id", SqlType::I64, false),
            Column::new("title", "title", SqlType::Text, false),
            Column::new("type", "type", SqlType::Text, false),
            Column::new("organisation", "org_id", <Uuid as ColumnType>::SQL_TYPE, false),
        ],
        id: 0,
        version: None,
        keys: &[3, 2],
    };

    fn write_columns(&self, out: &mut ColumnWriter) {
        out.write(&self.id);
        out.write(&self.title);
        out.write(&self.r#type);
        out.write(&self.org_id);
    }

    fn read_columns(input: &mut ColumnReader) -> Result<Self, DecodeError> {
        Ok(TaskByHand { id: input.read()?, title: input.read()?, r#type: input.read()?, org_id: input.read()? })
    }
}

#[test]
fn nested_path_keys_are_stored_column_indexes_in_path_order() {
    let descriptor = Task::DESCRIPTOR;
    assert_eq!(*descriptor, renamed(TaskByHand::DESCRIPTOR, "Task"));
    assert_eq!(descriptor.path, "/api/orgs/{org_id}/kinds/{type}/tasks");
    assert_eq!(descriptor.table, "tasks");
    // `draft` and `cache` are skipped: the indexes count stored columns only.
    assert_eq!(descriptor.keys, [3, 2]);
    let keys: Vec<(&str, &str)> = descriptor
        .keys
        .iter()
        .map(|&index| (descriptor.columns[index].name, descriptor.columns[index].field))
        .collect();
    assert_eq!(keys, [("organisation", "org_id"), ("type", "type")]);

    let task = Task {
        draft: String::new(),
        id: 1,
        title: "ship".to_owned(),
        r#type: "bug".to_owned(),
        cache: Vec::new(),
        org_id: Uuid::from_u128(7),
    };
    let hand = TaskByHand { id: 1, title: "ship".to_owned(), r#type: "bug".to_owned(), org_id: Uuid::from_u128(7) };
    assert_same_rows(&task, &hand);
}

#[test]
fn flat_paths_have_no_keys() {
    assert!(Todo::DESCRIPTOR.keys.is_empty());
    assert!(Note::DESCRIPTOR.keys.is_empty());
}
