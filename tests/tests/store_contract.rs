//! The store contract: one set of test bodies, run against SQLite (a temporary file) and the
//! local PostgreSQL (a fresh schema per test). PostgreSQL being down fails the suite.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use live_runtime::feed::Bell;
use live_runtime::store::{Backend as StoreBackend, Direction, Filter, FilterOp, ListQuery, Order, Retention};
use live_runtime::{Change, LiveResource, Method, Records, Store, StoreError, StoreOptions, Value, Write};
use live_tests::{
    Appointment, Backend, Doc, Kitchen, Note, Place, Priority, Shift, Tag, TestDb, TestStore, fixture_store,
};
use serde_json::{Value as Json, json};
use uuid::Uuid;

/// Runs each listed test body once per backend, as `sqlite::name` and `postgres::name`.
macro_rules! contract {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(live_tests::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(live_tests::Backend::Postgres).await
                }
            )*
        }
    };
}

contract!(
    every_type_round_trips_with_nulls,
    string_metacharacters_are_only_data,
    ids_are_never_reused_after_delete,
    uuid_ids_are_assigned_and_found_by_text,
    versions_grow_by_one_per_write,
    version_field_mirrors_the_row_version,
    stale_if_version_changes_nothing_and_logs_nothing,
    rejected_values_change_nothing,
    create_many_is_all_or_nothing,
    every_filter_op_selects_the_right_rows,
    order_limit_and_offset_page_stably,
    mistyped_filters_are_invalid,
    missing_rows_are_not_found,
    unique_violations_are_conflicts,
    schema_mismatch_names_the_column,
    matching_hand_made_table_is_accepted,
    missing_table_with_creation_off_is_a_schema_error,
    event_log_has_one_entry_per_committed_write,
    commit_subscribers_get_events_in_seq_order,
    concurrent_updates_lose_nothing,
    an_event_log_without_before_images_is_upgraded,
    concurrent_writers_commit_in_seq_order,
    closed_store_is_unavailable,
    f32_columns_match_their_decimal_text,
    pruning_keeps_the_newest_events_and_marks_the_rest,
    i32_ids_are_assigned_and_kept,
    nul_characters_are_invalid_not_database_errors,
    timestamps_beyond_the_database_range_are_invalid_or_kept,
    dates_enums_and_json_round_trip_with_nulls,
    date_ranges_and_enum_membership_select_rows,
    naive_timestamps_keep_microseconds_in_time_order,
    enum_filters_take_names_and_equality_only,
    stored_values_the_field_cannot_hold_are_decode_errors,
    new_column_types_are_checked_at_start_up,
    offset_date_times_are_stored_as_timestamps,
);

/// Every bounded wait in this file.
const WAIT: Duration = Duration::from_secs(60);

fn at_micros(micros: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(micros).expect("a timestamp in range")
}

/// Strings that must be stored and matched as data, never as SQL.
const NASTY: &[&str] = &[
    "'; DROP TABLE kitchen; --",
    "Robert'); DROP TABLE notes;--",
    "100%",
    "under_score",
    "it's \"quoted\"",
    r"back\slash \\ and \%",
    "日本語 ✓ émoji 🎉 Ω",
    "",
    "*star*",
];

fn full_kitchen(name: &str) -> Kitchen {
    Kitchen {
        id: 0,
        flag: true,
        small: i16::MIN,
        medium: i32::MAX,
        big: i64::MIN + 1,
        ratio: 1.5,
        score: -2.25e100,
        name: name.to_owned(),
        data: vec![0, 1, 127, 128, 255],
        key: Uuid::new_v4(),
        at: at_micros(1_709_251_198_123_456),
        doc: json!({"a": [1, "x", null, 2.5], "b": {"c": true}, "quote": "'\""}),
        opt_flag: Some(false),
        opt_small: Some(i16::MAX),
        opt_medium: Some(i32::MIN),
        opt_big: Some(i64::MAX),
        opt_ratio: Some(-0.25),
        opt_score: Some(f64::MIN_POSITIVE),
        opt_name: Some(format!("opt {name}")),
        opt_data: Some(Vec::new()),
        opt_key: Some(Uuid::new_v4()),
        opt_at: Some(at_micros(-86_400_000_001)),
        opt_doc: Some(json!([])),
    }
}

fn filter(column: &str, op: FilterOp, values: Vec<Value>) -> Filter {
    let (column, _) = Note::DESCRIPTOR.column_by_field(column).expect("a Note field");
    Filter { column, op, negate: false, values }
}

fn not(mut filter: Filter) -> Filter {
    filter.negate = true;
    filter
}

fn kitchen_filter(column: &str, op: FilterOp, values: Vec<Value>) -> Filter {
    let (column, _) = Kitchen::DESCRIPTOR.column_by_field(column).expect("a Kitchen field");
    Filter { column, op, negate: false, values }
}

/// A change's body as a JSON value.
fn body(change: &Change) -> Json {
    change.body_value().expect("a logged body is JSON")
}

/// Every commit of `store` from now on, as its feed would hear of them.
fn commits_of(store: &Store) -> (Arc<Bell>, tokio::sync::broadcast::Receiver<Arc<Change>>) {
    let bell = Bell::new();
    store.report_to(&bell);
    let commits = bell.subscribe();
    (bell, commits)
}

async fn all_events(store: &Store, channel: &str) -> Vec<Change> {
    store.events_after(channel, 0, 100_000).await.expect("read the event log")
}

async fn every_type_round_trips_with_nulls(backend: Backend) {
    let store = fixture_store(backend).await;
    let records = store.records::<Kitchen>();
    let write = Write::new();

    let full = records.create(full_kitchen("full"), &write).await.expect("create full");
    let empty = records.create(Kitchen::sample("empty"), &write).await.expect("create empty");
    assert!(full.value.id > 0);
    assert_ne!(full.value.id, empty.value.id);
    assert_eq!(full.version, 1);

    let expected_full = Kitchen { id: full.value.id, ..full_kitchen("full") };
    let expected_full = Kitchen { key: full.value.key, opt_key: full.value.opt_key, ..expected_full };
    assert_eq!(full.value, expected_full, "the create returns what was stored");
    assert_eq!(records.get(full.value.id).await.expect("get full").value, expected_full);
    let empty_value = records.get(empty.value.id).await.expect("get empty").value;
    assert_eq!(empty_value, Kitchen { id: empty.value.id, ..Kitchen::sample("empty") });
    assert_eq!(empty_value.opt_doc, None, "a NULL JSON column is None, not JSON null");

    let listed = records.list(&ListQuery::default()).await.expect("list");
    assert_eq!(listed.iter().map(|s| s.value.clone()).collect::<Vec<_>>(), vec![expected_full.clone(), empty_value]);

    // IS NULL and equality on every optional column tell the two rows apart.
    for field in [
        "opt_flag",
        "opt_small",
        "opt_medium",
        "opt_big",
        "opt_ratio",
        "opt_score",
        "opt_name",
        "opt_data",
        "opt_key",
        "opt_at",
        "opt_doc",
    ] {
        let nulls = records
            .list(&ListQuery {
                filters: vec![kitchen_filter(field, FilterOp::Is, vec![Value::Null])],
                ..ListQuery::default()
            })
            .await
            .expect("filter IS NULL");
        assert_eq!(nulls.iter().map(|s| s.value.id).collect::<Vec<_>>(), vec![empty.value.id], "{field} IS NULL");
    }
    let eq = |field: &str, value: Value| ListQuery {
        filters: vec![kitchen_filter(field, FilterOp::Eq, vec![value])],
        ..ListQuery::default()
    };
    for (field, value) in [
        ("flag", Value::Bool(true)),
        ("small", Value::Int(i16::MIN.into())),
        ("medium", Value::Int(i32::MAX.into())),
        ("big", Value::Int(i64::MIN + 1)),
        ("ratio", Value::Float(1.5)),
        ("opt_ratio", Value::Float(-0.25)),
        ("score", Value::Float(-2.25e100)),
        ("data", Value::Bytes(vec![0, 1, 127, 128, 255])),
        ("key", Value::Uuid(full.value.key)),
        ("at", Value::Timestamp(at_micros(1_709_251_198_123_456))),
    ] {
        let found = records.list(&eq(field, value)).await.expect("filter by equality");
        assert_eq!(found.iter().map(|s| s.value.id).collect::<Vec<_>>(), vec![full.value.id], "{field} =");
    }
}

async fn string_metacharacters_are_only_data(backend: Backend) {
    let store = fixture_store(backend).await;
    let notes = store.records::<Note>();
    let write = Write::new().origin("'; DROP TABLE live_events; --");
    let mut ids = Vec::new();
    for nasty in NASTY {
        let title = if nasty.is_empty() { "x".to_owned() } else { (*nasty).to_owned() };
        let mut note = Note::new(&title);
        note.owner = Some((*nasty).to_owned());
        note.created_by = (*nasty).to_owned();
        let stored = notes.create(note.clone(), &write).await.expect("create with metacharacters");
        assert_eq!(stored.value, Note { id: stored.value.id, ..note.clone() });
        assert_eq!(notes.get(stored.value.id).await.expect("get").value, stored.value);
        ids.push(stored.value.id);
    }
    for (nasty, id) in NASTY.iter().zip(&ids) {
        let by_owner =
            ListQuery { filters: vec![filter("owner", FilterOp::Eq, vec![(*nasty).into()])], ..ListQuery::default() };
        let found = notes.list(&by_owner).await.expect("filter with metacharacters");
        assert_eq!(found.iter().map(|s| s.value.id).collect::<Vec<_>>(), vec![*id], "owner = {nasty:?}");
        let in_list = ListQuery {
            filters: vec![filter("created_by", FilterOp::In, vec![(*nasty).into(), "no such".into()])],
            ..ListQuery::default()
        };
        assert_eq!(notes.count(&in_list.filters).await.expect("count in"), 1, "created_by in ({nasty:?})");
    }
    // LIKE wildcards in a pattern are wildcards; quotes and backslashes are literal.
    let like = |pattern: &str| ListQuery {
        filters: vec![filter("owner", FilterOp::Like, vec![pattern.into()])],
        ..ListQuery::default()
    };
    let count = |query: ListQuery| {
        let notes = notes.clone();
        async move { notes.list(&query).await.expect("like").len() }
    };
    assert_eq!(count(like("'; DROP TABLE kitchen; --")).await, 1);
    assert_eq!(count(like("it's \"quoted\"")).await, 1);
    assert_eq!(count(like(r"back\slash \\ and \%")).await, 1, "a backslash is no escape character");
    assert_eq!(count(like("100%")).await, 1);
    assert_eq!(count(like("%DROP TABLE%")).await, 2);
    assert_eq!(count(like("under_score")).await, 1);
    assert_eq!(count(like("*")).await, NASTY.len(), "* stands for %");
    let events = all_events(&store, "/api/notes").await;
    assert!(events.iter().all(|event| event.origin.as_deref() == Some("'; DROP TABLE live_events; --")));
    assert_eq!(events.len(), NASTY.len());
}

async fn ids_are_never_reused_after_delete(backend: Backend) {
    let store = fixture_store(backend).await;
    let notes = store.records::<Note>();
    let write = Write::new();
    let first = notes.create(Note::new("one"), &write).await.expect("create");
    let second = notes.create(Note::new("two"), &write).await.expect("create");
    notes.delete(second.value.id, &write).await.expect("delete the newest");
    notes.delete(first.value.id, &write).await.expect("delete the other");
    let third = notes.create(Note::new("three"), &write).await.expect("create after deletes");
    assert!(third.value.id > second.value.id, "id {} was handed out again", third.value.id);
}

async fn uuid_ids_are_assigned_and_found_by_text(backend: Backend) {
    let store = fixture_store(backend).await;
    let docs = store.records::<Doc>();
    let mut doc = Doc::new("uuid");
    doc.id = Uuid::from_u128(7);
    let stored = docs.create(doc, &Write::new()).await.expect("create doc");
    assert_ne!(stored.value.id, Uuid::from_u128(7), "the store assigns the id");
    assert_eq!(stored.value.id.get_version_num(), 4);
    let by_text = docs.get(stored.value.id.to_string()).await.expect("get by the id's text");
    assert_eq!(by_text.value, stored.value);
    assert!(matches!(docs.get("not a uuid").await, Err(StoreError::NotFound)));
    assert!(matches!(docs.get(Uuid::new_v4()).await, Err(StoreError::NotFound)));
}

async fn i32_ids_are_assigned_and_kept(backend: Backend) {
    let store = fixture_store(backend).await;
    let tags = store.records::<Tag>();
    let write = Write::new();
    let first = tags.create(Tag { id: -5, label: "first".to_owned() }, &write).await.expect("create");
    let second = tags.create(Tag { id: 0, label: "second".to_owned() }, &write).await.expect("create");
    assert!(first.value.id > 0 && second.value.id > first.value.id, "{first:?} {second:?}");
    let renamed = tags.update(first.value.id, &write, |tag| tag.label = "renamed".to_owned()).await;
    assert_eq!(renamed.expect("update").value, Tag { id: first.value.id, label: "renamed".to_owned() });
    assert_eq!(tags.get(i64::from(second.value.id)).await.expect("get by an i64").value, second.value);
    assert!(matches!(tags.get(i64::MAX).await, Err(StoreError::NotFound)), "an id out of the column's range");
    tags.delete(second.value.id, &write).await.expect("delete");
    let third = tags.create(Tag { id: 0, label: "third".to_owned() }, &write).await.expect("create");
    assert!(third.value.id > second.value.id);
}

async fn nul_characters_are_invalid_not_database_errors(backend: Backend) {
    let store = fixture_store(backend).await;
    let notes = store.records::<Note>();
    let write = Write::new();
    let result = notes.create(Note::new("nul\0here"), &write).await;
    let Err(StoreError::Invalid(errors)) = result else { panic!("NUL accepted: {result:?}") };
    assert!(errors.get("title").is_some());
    let mut doc = Doc::new("json");
    doc.body = Some(json!({"key": "nul\u{0}"}));
    let result = store.records::<Doc>().create(doc, &write).await;
    assert!(matches!(result, Err(StoreError::Invalid(_))), "{result:?}");
    let created = notes.create(Note::new("fine"), &write).await.expect("create");
    let result = notes.update(created.value.id, &write, |note| note.owner = Some("\0".to_owned())).await;
    assert!(matches!(result, Err(StoreError::Invalid(_))), "{result:?}");
    let result = notes.delete(created.value.id, &Write::new().origin("req\0")).await;
    assert!(matches!(result, Err(StoreError::Invalid(_))), "{result:?}");
    for op in [FilterOp::Eq, FilterOp::Like, FilterOp::Ilike] {
        let query = ListQuery { filters: vec![filter("title", op, vec!["a\0".into()])], ..ListQuery::default() };
        let result = notes.list(&query).await;
        assert!(matches!(result, Err(StoreError::Invalid(_))), "{op:?}: {result:?}");
    }
    assert!(matches!(notes.get("1\0").await, Err(StoreError::NotFound)));
    assert!(store.events_after("/api/\0", 0, 10).await.expect("no such channel").is_empty());
    let now = notes.get(created.value.id).await.expect("unchanged");
    assert_eq!((now.version, now.value.owner), (1, None));
    assert_eq!(all_events(&store, "/api/notes").await.len(), 1);
}

/// Year 5001 BC fits `DateTime<Utc>` but not PostgreSQL: a validation error there, kept as is
/// by SQLite; never a database failure.
async fn timestamps_beyond_the_database_range_are_invalid_or_kept(backend: Backend) {
    let store = fixture_store(backend).await;
    let kitchen = store.records::<Kitchen>();
    let mut value = Kitchen::sample("far past");
    value.at = "-005000-01-01T00:00:00Z".parse().expect("a far timestamp");
    let result = kitchen.create(value.clone(), &Write::new()).await;
    match backend {
        Backend::Postgres => assert!(matches!(result, Err(StoreError::Invalid(_))), "{result:?}"),
        Backend::Sqlite => assert_eq!(result.expect("kept").value.at, value.at),
    }
}

async fn versions_grow_by_one_per_write(backend: Backend) {
    let store = fixture_store(backend).await;
    let notes = store.records::<Note>();
    let write = Write::new();
    let created = notes.create(Note::new("v"), &write).await.expect("create");
    assert_eq!(created.version, 1);
    let id = created.value.id;
    let second = notes.update(id, &write, |note| note.done = true).await.expect("update");
    assert_eq!((second.version, second.value.done), (2, true));
    let mut replacement = Note::new("replaced");
    replacement.id = 9999;
    let third = notes.replace(id, replacement, &write).await.expect("replace");
    assert_eq!(third.version, 3);
    assert_eq!(third.value.id, id, "the id is kept whatever the change returns");
    assert_eq!(third.value.title, "replaced");
    assert_eq!(notes.get(id).await.expect("get").version, 3);
    let deleted = notes.delete(id, &write).await.expect("delete");
    assert_eq!((deleted.version, deleted.value.title.as_str()), (3, "replaced"), "delete returns the row as it was");
}

async fn version_field_mirrors_the_row_version(backend: Backend) {
    let store = fixture_store(backend).await;
    let docs = store.records::<Doc>();
    let write = Write::new();
    let mut doc = Doc::new("versioned");
    doc.version = 42;
    let created = docs.create(doc, &write).await.expect("create");
    assert_eq!((created.version, created.value.version), (1, 1));
    let updated = docs
        .modify(created.value.id, Method::Put, &write, |current| {
            Ok(Doc { version: 100, title: "again".to_owned(), ..current.value })
        })
        .await
        .expect("modify");
    assert_eq!((updated.version, updated.value.version), (2, 2));
    assert_eq!(docs.get(created.value.id).await.expect("get").value.version, 2);
    let events = all_events(&store, "/api/docs").await;
    assert_eq!(
        events.iter().map(|e| (e.version, body(e)["version"].clone())).collect::<Vec<_>>(),
        vec![(1, json!(1)), (2, json!(2))]
    );
}

async fn stale_if_version_changes_nothing_and_logs_nothing(backend: Backend) {
    let store = fixture_store(backend).await;
    let notes = store.records::<Note>();
    let created = notes.create(Note::new("guarded"), &Write::new()).await.expect("create");
    let id = created.value.id;
    notes.update(id, &Write::new().if_version(1), |note| note.rank = 1).await.expect("matching version");
    let before = all_events(&store, "/api/notes").await;

    let stale = Write::new().if_version(1);
    let result = notes.update(id, &stale, |note| note.rank = 2).await;
    assert!(matches!(result, Err(StoreError::VersionMismatch { current: 2 })), "{result:?}");
    let result = notes.delete(id, &stale).await;
    assert!(matches!(result, Err(StoreError::VersionMismatch { current: 2 })), "{result:?}");
    let result = notes.delete(id + 1000, &stale).await;
    assert!(matches!(result, Err(StoreError::NotFound)), "{result:?}");

    let now = notes.get(id).await.expect("still there");
    assert_eq!((now.version, now.value.rank), (2, 1));
    assert_eq!(all_events(&store, "/api/notes").await, before, "nothing logged");
    notes.delete(id, &Write::new().if_version(2)).await.expect("delete at the current version");
}

async fn rejected_values_change_nothing(backend: Backend) {
    let store = fixture_store(backend).await;
    let notes = store.records::<Note>();
    let write = Write::new();
    let result = notes.create(Note::new("   "), &write).await;
    let Err(StoreError::Invalid(errors)) = result else { panic!("blank title accepted: {result:?}") };
    assert_eq!(errors.get("title"), Some("must not be empty"));

    let created = notes.create(Note::new("valid"), &write).await.expect("create");
    let result = notes.update(created.value.id, &write, |note| note.title.clear()).await;
    assert!(matches!(result, Err(StoreError::Invalid(_))), "{result:?}");
    // An error from the change itself rolls back too.
    let result = notes
        .modify(created.value.id, Method::Patch, &write, |_| Err(StoreError::Conflict("refused".to_owned())))
        .await;
    assert!(matches!(result, Err(StoreError::Conflict(_))), "{result:?}");

    let now = notes.get(created.value.id).await.expect("get");
    assert_eq!((now.version, now.value.title.as_str()), (1, "valid"));
    assert_eq!(notes.count(&[]).await.expect("count"), 1);
    assert_eq!(all_events(&store, "/api/notes").await.len(), 1, "only the successful create is logged");
}

async fn create_many_is_all_or_nothing(backend: Backend) {
    let store = fixture_store(backend).await;
    let notes = store.records::<Note>();
    let write = Write::new().origin("batch");
    let result = notes.create_many(vec![Note::new("a"), Note::new(""), Note::new("c")], &write).await;
    assert!(matches!(result, Err(StoreError::Invalid(_))), "{result:?}");
    assert_eq!(notes.count(&[]).await.expect("count"), 0);

    // A failure in the database half-way (a unique index) rolls back the earlier rows too.
    store.db.execute("CREATE UNIQUE INDEX notes_title ON notes (title)").await;
    let result = notes.create_many(vec![Note::new("a"), Note::new("b"), Note::new("a")], &write).await;
    assert!(matches!(result, Err(StoreError::Conflict(_))), "{result:?}");
    assert_eq!(notes.count(&[]).await.expect("count"), 0);
    assert!(all_events(&store, "/api/notes").await.is_empty());

    let created =
        notes.create_many(vec![Note::new("a"), Note::new("b"), Note::new("c")], &write).await.expect("create many");
    assert_eq!(created.iter().map(|s| s.value.title.as_str()).collect::<Vec<_>>(), ["a", "b", "c"]);
    assert!(created.windows(2).all(|pair| pair[0].value.id < pair[1].value.id));
    let events = all_events(&store, "/api/notes").await;
    assert_eq!(events.len(), 3);
    assert!(events.iter().all(|e| e.method == Method::Post && e.origin.as_deref() == Some("batch")));
}

/// Notes with titles a..f, ranks 1..6, done on even ranks, owners alice / Bob / none.
async fn seed_notes(store: &Store) -> Vec<Note> {
    let notes = store.records::<Note>();
    let owners = [Some("alice"), Some("Bob"), None, Some("alice"), Some("ALICE"), None];
    let mut seeded = Vec::new();
    for (i, owner) in owners.iter().enumerate() {
        let rank = i32::try_from(i).expect("small") + 1;
        let mut note = Note::new(&format!("{}", char::from(b'a' + u8::try_from(i).expect("small"))));
        note.rank = rank;
        note.done = rank % 2 == 0;
        note.owner = owner.map(str::to_owned);
        seeded.push(notes.create(note, &Write::new()).await.expect("seed").value);
    }
    seeded
}

async fn every_filter_op_selects_the_right_rows(backend: Backend) {
    let store = fixture_store(backend).await;
    seed_notes(&store).await;
    let notes = store.records::<Note>();
    let titles = |filters: Vec<Filter>| {
        let notes = notes.clone();
        async move {
            let query = ListQuery { filters: filters.clone(), ..ListQuery::default() };
            let listed: String = notes.list(&query).await.expect("list").into_iter().map(|s| s.value.title).collect();
            let counted = notes.count(&filters).await.expect("count");
            assert_eq!(usize::try_from(counted).expect("small"), listed.len(), "count agrees with list");
            listed
        }
    };
    let rank = |op, value: i64| filter("rank", op, vec![Value::Int(value)]);
    assert_eq!(titles(vec![rank(FilterOp::Eq, 3)]).await, "c");
    assert_eq!(titles(vec![rank(FilterOp::Neq, 3)]).await, "abdef");
    assert_eq!(titles(vec![rank(FilterOp::Gt, 4)]).await, "ef");
    assert_eq!(titles(vec![rank(FilterOp::Gte, 4)]).await, "def");
    assert_eq!(titles(vec![rank(FilterOp::Lt, 2)]).await, "a");
    assert_eq!(titles(vec![rank(FilterOp::Lte, 2)]).await, "ab");
    assert_eq!(titles(vec![not(rank(FilterOp::Lte, 2))]).await, "cdef");
    assert_eq!(titles(vec![rank(FilterOp::Gt, 100_000)]).await, "", "a bound wider than the column");
    assert_eq!(titles(vec![rank(FilterOp::Gt, 1), rank(FilterOp::Lt, 5)]).await, "bcd", "filters all hold");

    let owner = |op, value: &str| filter("owner", op, vec![value.into()]);
    assert_eq!(titles(vec![owner(FilterOp::Like, "ali*")]).await, "ad", "like is case-sensitive");
    assert_eq!(titles(vec![owner(FilterOp::Like, "_ob")]).await, "b");
    assert_eq!(titles(vec![owner(FilterOp::Ilike, "ali*")]).await, "ade");
    assert_eq!(titles(vec![owner(FilterOp::Ilike, "%B")]).await, "b");
    assert_eq!(titles(vec![not(owner(FilterOp::Ilike, "alice"))]).await, "b", "NULL owners match neither");

    let ranks_in = |values: Vec<i64>| filter("rank", FilterOp::In, values.into_iter().map(Value::Int).collect());
    assert_eq!(titles(vec![ranks_in(vec![1, 3, 99])]).await, "ac");
    assert_eq!(titles(vec![not(ranks_in(vec![1, 3]))]).await, "bdef");
    assert_eq!(titles(vec![ranks_in(vec![])]).await, "", "in () holds for nothing");
    assert_eq!(titles(vec![not(ranks_in(vec![]))]).await, "abcdef");
    let owners_in = filter("owner", FilterOp::In, vec!["alice".into(), "Bob".into()]);
    assert_eq!(titles(vec![owners_in]).await, "abd");

    let is = |field: &str, value: Value| filter(field, FilterOp::Is, vec![value]);
    assert_eq!(titles(vec![is("owner", Value::Null)]).await, "cf");
    assert_eq!(titles(vec![not(is("owner", Value::Null))]).await, "abde");
    assert_eq!(titles(vec![is("done", Value::Bool(true))]).await, "bdf");
    assert_eq!(titles(vec![is("done", Value::Bool(false))]).await, "ace");
    assert_eq!(titles(vec![not(is("done", Value::Bool(true)))]).await, "ace");
    assert_eq!(titles(vec![filter("done", FilterOp::Eq, vec![Value::Bool(true)])]).await, "bdf");
}

async fn order_limit_and_offset_page_stably(backend: Backend) {
    let store = fixture_store(backend).await;
    let seeded = seed_notes(&store).await;
    let notes = store.records::<Note>();
    let page = |order: Vec<(&str, Direction)>, limit: Option<u64>, offset: u64| {
        let notes = notes.clone();
        let order = order
            .into_iter()
            .map(|(field, direction)| Order {
                column: Note::DESCRIPTOR.column_by_field(field).expect("a Note field").0,
                direction,
            })
            .collect();
        async move {
            let query = ListQuery { filters: Vec::new(), order, limit, offset };
            notes.list(&query).await.expect("list").into_iter().map(|s| s.value.title).collect::<String>()
        }
    };
    assert_eq!(page(vec![], None, 0).await, "abcdef", "by id when no order is given");
    assert_eq!(page(vec![("rank", Direction::Desc)], None, 0).await, "fedcba");
    assert_eq!(page(vec![("done", Direction::Asc)], None, 0).await, "acebdf", "the id breaks ties");
    assert_eq!(page(vec![("done", Direction::Desc), ("rank", Direction::Desc)], None, 0).await, "fdbeca");
    // Only where NULLs go is checked: how "alice", "ALICE" and "Bob" sort is the collation's.
    assert!(page(vec![("owner", Direction::Asc)], None, 0).await.ends_with("cf"), "NULLs last ascending");
    assert!(page(vec![("owner", Direction::Desc)], None, 0).await.starts_with("cf"), "NULLs first descending");
    assert_eq!(page(vec![], Some(2), 0).await, "ab");
    assert_eq!(page(vec![], Some(2), 2).await, "cd");
    assert_eq!(page(vec![], None, 4).await, "ef", "an offset without a limit");
    assert_eq!(page(vec![], Some(10), 5).await, "f");
    assert_eq!(page(vec![], Some(0), 0).await, "");
    assert_eq!(page(vec![], Some(u64::MAX), u64::MAX).await, "", "huge numbers are clamped, not errors");
    assert_eq!(seeded.len(), 6);
}

async fn mistyped_filters_are_invalid(backend: Backend) {
    let store = fixture_store(backend).await;
    let notes = store.records::<Note>();
    let cases = [
        filter("rank", FilterOp::Eq, vec!["three".into()]),
        filter("rank", FilterOp::Like, vec!["1*".into()]),
        filter("rank", FilterOp::Eq, vec![]),
        filter("done", FilterOp::Is, vec!["maybe".into()]),
        Filter { column: 99, op: FilterOp::Eq, negate: false, values: vec![Value::Int(1)] },
    ];
    for case in cases {
        let query = ListQuery { filters: vec![case.clone()], ..ListQuery::default() };
        let result = notes.list(&query).await;
        assert!(matches!(result, Err(StoreError::Invalid(_))), "{case:?}: {result:?}");
    }
    // Text that reads as the column's type is accepted, as a query string would carry it.
    let query = ListQuery { filters: vec![filter("rank", FilterOp::Eq, vec!["3".into()])], ..ListQuery::default() };
    assert!(notes.list(&query).await.expect("numeric text").is_empty());
}

async fn missing_rows_are_not_found(backend: Backend) {
    let store = fixture_store(backend).await;
    let notes = store.records::<Note>();
    let write = Write::new();
    assert!(matches!(notes.get(12345).await, Err(StoreError::NotFound)));
    assert!(matches!(notes.get("abc").await, Err(StoreError::NotFound)), "an id of the wrong type");
    assert!(matches!(notes.delete(12345, &write).await, Err(StoreError::NotFound)));
    assert!(matches!(notes.update(12345, &write, |_| {}).await, Err(StoreError::NotFound)));
    assert!(all_events(&store, "/api/notes").await.is_empty());
}

async fn unique_violations_are_conflicts(backend: Backend) {
    let store = fixture_store(backend).await;
    store.db.execute("CREATE UNIQUE INDEX notes_title ON notes (title)").await;
    let notes = store.records::<Note>();
    let write = Write::new();
    let first = notes.create(Note::new("same"), &write).await.expect("first");
    let result = notes.create(Note::new("same"), &write).await;
    assert!(matches!(result, Err(StoreError::Conflict(_))), "{result:?}");
    let other = notes.create(Note::new("other"), &write).await.expect("other");
    let result = notes.update(other.value.id, &write, |note| note.title = "same".to_owned()).await;
    assert!(matches!(result, Err(StoreError::Conflict(_))), "{result:?}");
    assert_eq!(notes.get(other.value.id).await.expect("get").version, 1);
    assert_eq!(all_events(&store, "/api/notes").await.len(), 2);
    assert_eq!(first.version, 1);
}

/// The `detail` of the schema error `prepare::<Note>()` reports for a `notes` table made by
/// `ddl`.
async fn schema_error(backend: Backend, ddl: &str) -> String {
    schema_error_of::<Note>(backend, ddl).await
}

/// The `detail` of the schema error `prepare::<R>()` reports for `R`'s table made by `ddl`.
async fn schema_error_of<R: LiveResource>(backend: Backend, ddl: &str) -> String {
    let db = TestDb::new(backend).await;
    db.execute(ddl).await;
    let store = db.connect().await;
    match store.prepare::<R>().await {
        Err(StoreError::Schema { table, detail }) => {
            assert_eq!(table, R::DESCRIPTOR.table);
            detail
        }
        other => panic!("{ddl}: expected a schema error, got {other:?}"),
    }
}

async fn schema_mismatch_names_the_column(backend: Backend) {
    let id = match backend {
        Backend::Sqlite => "id INTEGER PRIMARY KEY AUTOINCREMENT",
        Backend::Postgres => "id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
    };
    let table = |columns: &str| format!("CREATE TABLE notes ({id}, {columns})");
    let good = "title TEXT NOT NULL, done BOOLEAN NOT NULL, rank INTEGER NOT NULL, owner TEXT, \
                created_by TEXT NOT NULL, _version BIGINT NOT NULL";

    let detail = schema_error(backend, &table(&good.replace("owner TEXT, ", ""))).await;
    assert!(detail.contains("`owner`") && detail.contains("missing"), "{detail}");
    let detail = schema_error(backend, &table(&good.replace("rank INTEGER", "rank TEXT"))).await;
    assert!(detail.contains("`rank`") && detail.contains("expected INTEGER"), "{detail}");
    let detail = schema_error(backend, &table(&good.replace("title TEXT NOT NULL", "title TEXT"))).await;
    assert!(detail.contains("`title`") && detail.contains("expected NOT NULL"), "{detail}");
    let detail = schema_error(backend, &table(&good.replace("owner TEXT", "owner TEXT NOT NULL"))).await;
    assert!(detail.contains("`owner`") && detail.contains("expected nullable"), "{detail}");
    let detail = schema_error(backend, &table(&format!("{good}, secret TEXT NOT NULL"))).await;
    assert!(detail.contains("`secret`"), "{detail}");
    let detail = schema_error(backend, &table(&good.replace(", _version BIGINT NOT NULL", ""))).await;
    assert!(detail.contains("`_version`"), "{detail}");
    let detail = schema_error(backend, &format!("CREATE TABLE notes (id BIGINT PRIMARY KEY, {good})")).await;
    assert!(detail.contains("`id`") && detail.contains("assigned by the database"), "{detail}");
}

async fn matching_hand_made_table_is_accepted(backend: Backend) {
    let db = TestDb::new(backend).await;
    let id = match backend {
        Backend::Sqlite => "id INTEGER PRIMARY KEY",
        Backend::Postgres => "id BIGSERIAL PRIMARY KEY",
    };
    db.execute(&format!(
        "CREATE TABLE notes ({id}, title VARCHAR(200) NOT NULL, done BOOLEAN NOT NULL, rank INT NOT NULL, \
         owner TEXT, created_by TEXT NOT NULL, _version BIGINT NOT NULL, \
         note TEXT, added TEXT NOT NULL DEFAULT 'x')"
    ))
    .await;
    let store = db.connect().await;
    store.prepare::<Note>().await.expect("a compatible table with extra optional columns is accepted");
    let created = store.records::<Note>().create(Note::new("fits"), &Write::new()).await.expect("create");
    assert_eq!(created.version, 1);
}

async fn missing_table_with_creation_off_is_a_schema_error(backend: Backend) {
    let db = TestDb::new(backend).await;
    let mut options = StoreOptions::default();
    options.create_tables = false;
    let store = db.connect_with(options.clone()).await.expect("connect");
    let result = store.prepare::<Note>().await;
    let Err(StoreError::Schema { table, detail }) = result else { panic!("missing table accepted: {result:?}") };
    assert_eq!(table, "notes");
    assert!(detail.contains("does not exist"), "{detail}");

    // Once the table exists (made by a default store), the same options accept it.
    db.connect().await.prepare::<Note>().await.expect("create the table");
    let store = db.connect_with(options).await.expect("connect again");
    store.prepare::<Note>().await.expect("an existing table is checked, not created");
    assert_eq!(store.backend(), if backend == Backend::Sqlite { StoreBackend::Sqlite } else { StoreBackend::Postgres });
}

async fn event_log_has_one_entry_per_committed_write(backend: Backend) {
    let store = fixture_store(backend).await;
    let notes = store.records::<Note>();
    assert_eq!(store.last_seq("/api/notes").await.expect("last seq"), 0);
    let created = notes.create(Note::new("logged"), &Write::new().origin("req-1")).await.expect("create");
    let id = created.value.id;
    let put = notes.replace(id, Note::new("put"), &Write::new()).await.expect("put");
    let patch = notes.update(id, &Write::new().origin("req-3"), |note| note.done = true).await.expect("patch");
    // Rejected and rolled-back writes in between leave no trace.
    assert!(notes.update(id, &Write::new().if_version(1), |_| {}).await.is_err());
    assert!(notes.update(id, &Write::new(), |note| note.title.clear()).await.is_err());
    assert!(notes.create(Note::new(""), &Write::new()).await.is_err());
    let deleted = notes.delete(id, &Write::new().origin("req-4")).await.expect("delete");
    // Another channel's writes are logged on their own channel.
    store.records::<Doc>().create(Doc::new("elsewhere"), &Write::new()).await.expect("doc");

    let events = all_events(&store, "/api/notes").await;
    let summary: Vec<_> =
        events.iter().map(|e| (e.channel.as_ref(), e.method, e.version, e.origin.as_deref())).collect();
    assert_eq!(
        summary,
        vec![
            ("/api/notes", Method::Post, 1, Some("req-1")),
            ("/api/notes", Method::Put, 2, None),
            ("/api/notes", Method::Patch, 3, Some("req-3")),
            ("/api/notes", Method::Delete, 3, Some("req-4")),
        ]
    );
    let bodies: Vec<_> = events.iter().map(body).collect();
    let json = |note: &Note| serde_json::to_value(note).expect("serialise");
    assert_eq!(bodies, vec![json(&created.value), json(&put.value), json(&patch.value), json(&deleted.value)]);
    assert!(events.windows(2).all(|pair| pair[0].seq < pair[1].seq));
    assert!(events.iter().all(|e| (Utc::now() - e.at).num_minutes().abs() < 5), "at is the write time");
    // Each update keeps the row as it was before it; a delete's body is that row, a create has none.
    let raw = |row: Option<&serde_json::value::RawValue>| {
        row.map(|row| serde_json::from_str::<Json>(row.get()).expect("JSON"))
    };
    let befores: Vec<_> = events.iter().map(|e| raw(e.row_before())).collect();
    assert_eq!(befores, vec![None, Some(json(&created.value)), Some(json(&put.value)), Some(json(&deleted.value))]);
    let afters: Vec<_> = events.iter().map(|e| raw(e.row_after())).collect();
    assert_eq!(afters, vec![Some(json(&created.value)), Some(json(&put.value)), Some(json(&patch.value)), None]);
    assert!(events[0].before.is_none() && events[3].before.is_none(), "kept only for updates");

    let last = store.last_seq("/api/notes").await.expect("last seq");
    assert_eq!(last, events[3].seq);
    let after = store.events_after("/api/notes", events[1].seq, 1).await.expect("page");
    assert_eq!(after, vec![events[2].clone()], "after and limit page through the log");
    assert_eq!(all_events(&store, "/api/docs").await.len(), 1);
    assert!(store.events_after("/api/notes", last, 10).await.expect("tail").is_empty());
}

/// A log made by a version without before-images gains the column when a store opens it: its old
/// events read back without one, new updates keep theirs.
async fn an_event_log_without_before_images_is_upgraded(backend: Backend) {
    let db = TestDb::new(backend).await;
    let (log, event) = match backend {
        Backend::Sqlite => (
            "CREATE TABLE live_events (seq INTEGER PRIMARY KEY AUTOINCREMENT, channel TEXT NOT NULL, \
             method TEXT NOT NULL, body TEXT NOT NULL, version INTEGER NOT NULL, origin TEXT, at TEXT NOT NULL)",
            "INSERT INTO live_events (channel, method, body, version, origin, at) \
             VALUES ('/api/old', 'PATCH', '{\"id\":1}', 2, NULL, '2026-01-01T00:00:00.000000Z')",
        ),
        Backend::Postgres => (
            "CREATE TABLE live_events (seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, channel TEXT NOT NULL, \
             method TEXT NOT NULL, body JSONB NOT NULL, version BIGINT NOT NULL, origin TEXT, \
             at TIMESTAMPTZ NOT NULL)",
            "INSERT INTO live_events (channel, method, body, version, origin, at) \
             VALUES ('/api/old', 'PATCH', '{\"id\":1}', 2, NULL, '2026-01-01T00:00:00Z')",
        ),
    };
    db.execute(log).await;
    db.execute(event).await;
    let store = db.connect().await;
    let old = all_events(&store, "/api/old").await;
    assert_eq!(old.len(), 1);
    assert_eq!((old[0].method, old[0].before.is_none(), old[0].row_before().is_none()), (Method::Patch, true, true));
    // A second store on the same log (another process starting) finds it up to date.
    let again = db.connect().await;
    again.prepare::<Note>().await.expect("prepare");
    let (_bell, mut commits) = commits_of(&again);
    let notes = again.records::<Note>();
    let created = notes.create(Note::new("new"), &Write::new()).await.expect("create");
    notes.update(created.value.id, &Write::new(), |note| note.done = true).await.expect("patch");
    let events = all_events(&store, "/api/notes").await;
    let before = events[1].row_before().map(|row| serde_json::from_str::<Json>(row.get()).expect("JSON"));
    assert_eq!(before, Some(serde_json::to_value(&created.value).expect("serialise")));
    // The change the feed hears of at commit is the one the log keeps, before-image included (compared as
    // JSON: this log's body column is an earlier version's JSONB, which normalises the text).
    let mut reported = Vec::new();
    while reported.len() < 2 {
        let change = tokio::time::timeout(WAIT, commits.recv()).await.expect("a change in time").expect("no lag");
        reported.push(Change::clone(&change));
    }
    let parsed =
        |row: Option<&serde_json::value::RawValue>| row.map(|row| serde_json::from_str::<Json>(row.get()).ok());
    let seen = |changes: &[Change]| -> Vec<_> {
        changes.iter().map(|c| (c.seq, c.method, parsed(c.row_before()), parsed(c.row_after()))).collect()
    };
    assert_eq!(seen(&reported), seen(&events));
}

async fn commit_subscribers_get_events_in_seq_order(backend: Backend) {
    let store = fixture_store(backend).await;
    let (_bell, mut commits) = commits_of(&store);
    let notes = store.records::<Note>();
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let notes = notes.clone();
            tokio::spawn(async move {
                for i in 0..10 {
                    notes.create(Note::new(&format!("{w}-{i}")), &Write::new()).await.expect("create");
                }
            })
        })
        .collect();
    for writer in writers {
        writer.await.expect("writer");
    }
    let mut seen = Vec::new();
    while seen.len() < 40 {
        let event = tokio::time::timeout(WAIT, commits.recv()).await.expect("an event in time").expect("no lag");
        seen.push(Change::clone(&event));
    }
    assert_eq!(seen, all_events(&store, "/api/notes").await, "the bell carries the log, in seq order");
}

async fn concurrent_updates_lose_nothing(backend: Backend) {
    let store = fixture_store(backend).await;
    let notes = store.records::<Note>();
    let id = notes.create(Note::new("counter"), &Write::new()).await.expect("create").value.id;
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let notes = notes.clone();
            tokio::spawn(async move {
                for _ in 0..10 {
                    notes.update(id, &Write::new(), |note| note.rank += 1).await.expect("update");
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("task");
    }
    let now = notes.get(id).await.expect("get");
    assert_eq!((now.value.rank, now.version), (80, 81), "every read-modify-write saw the one before");
    let versions: Vec<_> = all_events(&store, "/api/notes").await.iter().map(|e| e.version).collect();
    assert_eq!(versions, (1..=81).collect::<Vec<_>>(), "versions are logged in seq order");
}

/// The outbox pitfall (docs/architecture.md, "One write, end to end"): a reader that polls the log while writers commit
/// concurrently must never see seq N+1 before N. The reader keeps a cursor, as a subscriber
/// resuming with `since` does; at the end it must have seen every committed seq exactly once,
/// in order. The writers use two stores (two pools, as two server processes would), so only
/// the database can keep their appends in order.
async fn concurrent_writers_commit_in_seq_order(backend: Backend) {
    const WRITERS: usize = 8;
    const WRITES: usize = 50;
    let store = fixture_store(backend).await;
    let other = store.db.connect().await;
    let (_bell, mut bell) = commits_of(&store);
    let (finished, writers_done) = tokio::sync::watch::channel(false);

    let reader = {
        let store = store.store.clone();
        tokio::spawn(async move {
            let mut seen: Vec<i64> = Vec::new();
            let mut cursor = 0;
            loop {
                // Read before polling: once the writers are done, one empty poll means the
                // reader has everything it will ever get.
                let done = *writers_done.borrow();
                let batch = store.events_after("/api/notes", cursor, 37).await.expect("poll");
                for event in &batch {
                    assert!(event.seq > cursor, "seq {} after cursor {cursor}", event.seq);
                    cursor = event.seq;
                    seen.push(event.seq);
                }
                if batch.is_empty() {
                    if done {
                        break seen;
                    }
                    // Wait for the next commit of this store, or re-poll soon for the other's.
                    let _ = tokio::time::timeout(Duration::from_millis(20), bell.recv()).await;
                }
            }
        })
    };
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let notes = if w % 2 == 0 { store.records::<Note>() } else { other.records::<Note>() };
            tokio::spawn(async move {
                let mut mine = None;
                for i in 0..WRITES {
                    // Mix inserts and updates so transactions of different lengths overlap.
                    match mine {
                        Some(id) if i % 2 == 1 => {
                            notes.update(id, &Write::new(), |note: &mut Note| note.rank += 1).await.expect("update");
                        }
                        _ => {
                            let created = notes.create(Note::new(&format!("w{w}")), &Write::new()).await;
                            mine = Some(created.expect("create").value.id);
                        }
                    }
                }
            })
        })
        .collect();
    for writer in writers {
        tokio::time::timeout(WAIT, writer).await.expect("writers finish in time").expect("writer");
    }
    finished.send_replace(true);
    let seen = tokio::time::timeout(WAIT, reader).await.expect("the reader catches up in time").expect("reader");
    let logged: Vec<i64> = all_events(&store, "/api/notes").await.iter().map(|e| e.seq).collect();
    assert_eq!(logged.len(), WRITERS * WRITES);
    assert_eq!(seen, logged, "the reader saw every seq exactly once, in order");
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), seen.len());
}

async fn closed_store_is_unavailable(backend: Backend) {
    let store = fixture_store(backend).await;
    store.close().await;
    let result = store.records::<Note>().get(1).await;
    assert!(matches!(result, Err(StoreError::Unavailable(_))), "{result:?}");
    let result = store.records::<Note>().create(Note::new("late"), &Write::new()).await;
    assert!(matches!(result, Err(StoreError::Unavailable(_))), "{result:?}");
}

/// An `f32` column filtered by the decimal a client would send (as an `f64`) still matches.
async fn f32_columns_match_their_decimal_text(backend: Backend) {
    let store = fixture_store(backend).await;
    let kitchen = store.records::<Kitchen>();
    let mut value = Kitchen::sample("tenth");
    value.ratio = 0.1;
    let id = kitchen.create(value, &Write::new()).await.expect("create").value.id;
    let filters = [kitchen_filter("ratio", FilterOp::Eq, vec![Value::Float(0.1)])];
    let found = kitchen.list(&ListQuery { filters: filters.to_vec(), ..ListQuery::default() }).await.expect("list");
    assert_eq!(found.iter().map(|s| s.value.id).collect::<Vec<_>>(), vec![id]);
    assert_eq!(found[0].value.ratio, 0.1_f32);
}

async fn pruning_keeps_the_newest_events_and_marks_the_rest(backend: Backend) {
    let store = fixture_store(backend).await;
    let notes = store.records::<Note>();
    for i in 0..5 {
        notes.create(Note::new(&format!("n{i}")), &Write::new()).await.expect("create");
    }
    let seqs = |events: Vec<Change>| events.into_iter().map(|e| e.seq).collect::<Vec<_>>();
    let all = seqs(all_events(&store, "/api/notes").await);
    assert_eq!(store.pruned_through().await.expect("mark"), 0);

    let pruned = store.prune_events(&Retention::default()).await.expect("prune nothing");
    assert_eq!((pruned.through, seqs(all_events(&store, "/api/notes").await)), (0, all.clone()));

    let pruned = store.prune_events(&Retention::default().max_events(2)).await.expect("prune by count");
    assert_eq!(pruned.through, all[2]);
    assert_eq!(seqs(all_events(&store, "/api/notes").await), all[3..].to_vec());
    assert_eq!(store.pruned_through().await.expect("mark"), all[2]);

    let pruned = store.prune_events(&Retention::default().max_events(10)).await.expect("keep more");
    assert_eq!(pruned.through, all[2], "the mark never goes back");
    let pruned = store.prune_events(&Retention::default().max_age(Duration::from_secs(3600))).await;
    assert_eq!(pruned.expect("prune by a long age").through, all[2], "young events stay");
    let pruned = store.prune_events(&Retention::default().max_age(Duration::ZERO)).await.expect("prune by age");
    assert_eq!(pruned.through, all[4]);
    assert!(all_events(&store, "/api/notes").await.is_empty());

    notes.create(Note::new("after"), &Write::new()).await.expect("create after pruning");
    let after = seqs(all_events(&store, "/api/notes").await);
    assert!(after.len() == 1 && after[0] > all[4], "seqs are not reused after pruning: {after:?}");
}

/// A day of 2024.
fn day(month: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2024, month, day).expect("a date")
}

fn at(day: NaiveDate, hour: u32, minute: u32, second: u32, micro: u32) -> NaiveDateTime {
    day.and_hms_micro_opt(hour, minute, second, micro).expect("a time of day")
}

/// An appointment with every optional column set.
fn full_appointment(title: &str) -> Appointment {
    Appointment {
        id: 0,
        title: title.to_owned(),
        day: day(2, 29),
        starts_at: at(day(2, 29), 9, 30, 15, 123_456),
        priority: Priority::VeryHigh,
        place: Place { name: "hall \"A\" ✓ '; --".to_owned(), floor: -2 },
        tags: vec!["a".to_owned(), "b,c".to_owned()],
        scores: BTreeMap::from([("x".to_owned(), 1), ("y".to_owned(), -2)]),
        end_day: Some(day(3, 1)),
        ends_at: Some(at(day(3, 1), 0, 0, 0, 0)),
        fallback: Some(Priority::Medium),
        backup_place: Some(Place { name: "roof".to_owned(), floor: 9 }),
    }
}

fn appointment_filter(field: &str, op: FilterOp, values: Vec<Value>) -> Filter {
    let (column, _) = Appointment::DESCRIPTOR.column_by_field(field).expect("an Appointment field");
    Filter { column, op, negate: false, values }
}

/// A store with only [`Appointment`] prepared.
async fn appointment_store(backend: Backend) -> TestStore {
    let store = live_tests::store(backend).await;
    store.prepare::<Appointment>().await.expect("prepare appointments");
    store
}

/// The titles of the appointments that `filters` select, in `order` (then id order).
async fn titles_where(records: &Records<Appointment>, filters: Vec<Filter>, order: Vec<Order>) -> Vec<String> {
    let query = ListQuery { filters, order, ..ListQuery::default() };
    let found = records.list(&query).await.unwrap_or_else(|error| panic!("{query:?}: {error}"));
    found.into_iter().map(|stored| stored.value.title).collect()
}

fn text(value: &str) -> Value {
    Value::Text(value.to_owned())
}

async fn dates_enums_and_json_round_trip_with_nulls(backend: Backend) {
    let store = appointment_store(backend).await;
    let records = store.records::<Appointment>();
    let write = Write::new();
    let full = records.create(full_appointment("full"), &write).await.expect("create full");
    let empty = Appointment::new("empty", day(3, 1), 8, Priority::Low);
    let empty = records.create(empty, &write).await.expect("create empty");

    let expected_full = Appointment { id: full.value.id, ..full_appointment("full") };
    let expected_empty = Appointment { id: empty.value.id, ..Appointment::new("empty", day(3, 1), 8, Priority::Low) };
    assert_eq!(full.value, expected_full, "the create returns what was stored");
    assert_eq!(records.get(full.value.id).await.expect("get full").value, expected_full);
    assert_eq!(records.get(empty.value.id).await.expect("get empty").value, expected_empty);
    let listed = records.list(&ListQuery::default()).await.expect("list");
    let listed: Vec<_> = listed.into_iter().map(|stored| stored.value).collect();
    assert_eq!(listed, vec![expected_full.clone(), expected_empty.clone()]);

    // An optional JSON column holds `None` as SQL NULL, like every other optional column.
    for field in ["endDay", "endsAt", "fallback", "backupPlace"] {
        let nulls = titles_where(&records, vec![appointment_filter(field, FilterOp::Is, vec![Value::Null])], vec![]);
        assert_eq!(nulls.await, ["empty"], "{field} IS NULL");
    }
    for (field, value) in [
        ("day", Value::Date(day(2, 29))),
        ("startsAt", Value::NaiveTimestamp(at(day(2, 29), 9, 30, 15, 123_456))),
        ("priority", text("very-high")),
        ("fallback", text("normal")),
        ("endDay", Value::Date(day(3, 1))),
        ("endsAt", Value::NaiveTimestamp(at(day(3, 1), 0, 0, 0, 0))),
    ] {
        let found = titles_where(&records, vec![appointment_filter(field, FilterOp::Eq, vec![value])], vec![]);
        assert_eq!(found.await, ["full"], "{field} =");
    }

    let updated = records
        .update(full.value.id, &write, |appointment| {
            appointment.day = day(12, 31);
            appointment.priority = Priority::Low;
            appointment.place.floor = 3;
            appointment.tags.push("d".to_owned());
            appointment.end_day = None;
            appointment.fallback = None;
            appointment.backup_place = None;
        })
        .await
        .expect("update");
    let expected = Appointment {
        day: day(12, 31),
        priority: Priority::Low,
        place: Place { floor: 3, ..expected_full.place.clone() },
        tags: vec!["a".to_owned(), "b,c".to_owned(), "d".to_owned()],
        end_day: None,
        fallback: None,
        backup_place: None,
        ..expected_full
    };
    assert_eq!((updated.version, &updated.value), (2, &expected));
    assert_eq!(records.get(full.value.id).await.expect("get updated").value, expected);
    let nulls =
        titles_where(&records, vec![appointment_filter("backupPlace", FilterOp::Is, vec![Value::Null])], vec![]);
    assert_eq!(nulls.await, ["full", "empty"]);
}

async fn date_ranges_and_enum_membership_select_rows(backend: Backend) {
    let store = appointment_store(backend).await;
    let records = store.records::<Appointment>();
    let early = NaiveDate::from_ymd_opt(999, 1, 1).expect("a date before year 1000");
    for (title, date, hour, priority) in [
        ("a", day(1, 15), 9, Priority::Low),
        ("b", day(2, 29), 14, Priority::Medium),
        ("c", day(3, 1), 8, Priority::VeryHigh),
        ("d", day(12, 31), 23, Priority::Low),
        ("e", early, 9, Priority::Medium),
    ] {
        records.create(Appointment::new(title, date, hour, priority), &Write::new()).await.expect("create");
    }
    let filter = appointment_filter;
    let noon = |date| Value::NaiveTimestamp(at(date, 14, 0, 0, 0));
    for (filters, expected) in [
        (vec![filter("day", FilterOp::Gte, vec![Value::Date(day(2, 29))])], &["b", "c", "d"][..]),
        (vec![filter("day", FilterOp::Lt, vec![Value::Date(day(3, 1))])], &["a", "b", "e"]),
        (vec![filter("day", FilterOp::Gt, vec![text("2024-02-29")])], &["c", "d"]),
        (vec![filter("day", FilterOp::In, vec![Value::Date(day(3, 1)), Value::Date(early)])], &["c", "e"]),
        (vec![filter("startsAt", FilterOp::Gt, vec![noon(day(2, 29))])], &["c", "d"]),
        (vec![filter("startsAt", FilterOp::Gte, vec![noon(day(2, 29))])], &["b", "c", "d"]),
        (vec![filter("startsAt", FilterOp::Lte, vec![Value::NaiveTimestamp(at(day(1, 15), 9, 0, 0, 0))])], &["a", "e"]),
        (
            vec![
                filter("startsAt", FilterOp::Gte, vec![text("2024-01-01T00:00:00")]),
                filter("startsAt", FilterOp::Lt, vec![text("2024-03-01T00:00:00")]),
            ],
            &["a", "b"],
        ),
        (vec![filter("priority", FilterOp::In, vec![text("low"), text("very-high")])], &["a", "c", "d"]),
        (vec![filter("priority", FilterOp::Neq, vec![text("low")])], &["b", "c", "e"]),
        (vec![not(filter("priority", FilterOp::In, vec![text("normal")]))], &["a", "c", "d"]),
    ] {
        assert_eq!(titles_where(&records, filters.clone(), vec![]).await, expected, "{filters:?}");
    }
    let by = |field: &str, direction| {
        let (column, _) = Appointment::DESCRIPTOR.column_by_field(field).expect("a field");
        vec![Order { column, direction }]
    };
    assert_eq!(titles_where(&records, vec![], by("startsAt", Direction::Desc)).await, ["d", "c", "b", "a", "e"]);
    assert_eq!(titles_where(&records, vec![], by("day", Direction::Asc)).await, ["e", "a", "b", "c", "d"]);
}

async fn naive_timestamps_keep_microseconds_in_time_order(backend: Backend) {
    let store = appointment_store(backend).await;
    let records = store.records::<Appointment>();
    let with_nanos = day(2, 29).and_hms_nano_opt(9, 59, 59, 999_999_999).expect("a time");
    for (title, starts_at) in [
        ("ten", at(day(2, 29), 10, 0, 0, 0)),
        ("half", at(day(2, 29), 9, 59, 59, 500_000)),
        ("nanos", with_nanos),
        ("after", at(day(2, 29), 10, 0, 0, 1)),
    ] {
        let appointment = Appointment { starts_at, ..Appointment::new(title, day(2, 29), 0, Priority::Low) };
        records.create(appointment, &Write::new()).await.expect("create");
    }
    // Both databases keep microseconds: the nanoseconds are dropped, not rounded up.
    let nanos = records.list(&ListQuery::default()).await.expect("list").remove(2).value;
    assert_eq!(nanos.starts_at, at(day(2, 29), 9, 59, 59, 999_999));
    let (column, _) = Appointment::DESCRIPTOR.column_by_field("startsAt").expect("a field");
    let ascending = vec![Order { column, direction: Direction::Asc }];
    assert_eq!(titles_where(&records, vec![], ascending).await, ["half", "nanos", "ten", "after"]);
    let later =
        appointment_filter("startsAt", FilterOp::Gt, vec![Value::NaiveTimestamp(at(day(2, 29), 9, 59, 59, 999_999))]);
    assert_eq!(titles_where(&records, vec![later], vec![]).await, ["ten", "after"]);
}

async fn enum_filters_take_names_and_equality_only(backend: Backend) {
    let store = appointment_store(backend).await;
    let records = store.records::<Appointment>();
    records.create(Appointment::new("a", day(1, 1), 9, Priority::Medium), &Write::new()).await.expect("create");
    for case in [
        appointment_filter("priority", FilterOp::Gt, vec![text("low")]),
        appointment_filter("priority", FilterOp::Lte, vec![text("low")]),
        appointment_filter("priority", FilterOp::Like, vec![text("l*")]),
        appointment_filter("priority", FilterOp::Eq, vec![text("urgent")]),
        appointment_filter("priority", FilterOp::Eq, vec![text("Medium")]),
        appointment_filter("priority", FilterOp::In, vec![text("low"), text("urgent")]),
        appointment_filter("priority", FilterOp::Eq, vec![Value::Int(1)]),
        appointment_filter("fallback", FilterOp::Is, vec![Value::Bool(true)]),
        appointment_filter("day", FilterOp::Eq, vec![text("yesterday")]),
        appointment_filter("place", FilterOp::Like, vec![text("hall")]),
    ] {
        let query = ListQuery { filters: vec![case.clone()], ..ListQuery::default() };
        let result = records.list(&query).await;
        assert!(matches!(result, Err(StoreError::Invalid(_))), "{case:?}: {result:?}");
    }
    let normal = appointment_filter("priority", FilterOp::Eq, vec![text("normal")]);
    assert_eq!(titles_where(&records, vec![normal], vec![]).await, ["a"]);
}

/// A row changed outside the store (a name no longer among the variants, a document of another
/// shape) is a decode error, never a panic or a wrong value.
async fn stored_values_the_field_cannot_hold_are_decode_errors(backend: Backend) {
    let store = appointment_store(backend).await;
    let records = store.records::<Appointment>();
    let id = records.create(full_appointment("x"), &Write::new()).await.expect("create").value.id;
    store.db.execute("UPDATE appointments SET priority = 'urgent'").await;
    assert!(matches!(records.get(id).await, Err(StoreError::Decode(_))));
    assert!(matches!(records.list(&ListQuery::default()).await, Err(StoreError::Decode(_))));
    store.db.execute("UPDATE appointments SET priority = 'low', backup_place = '[1, 2]'").await;
    assert!(matches!(records.get(id).await, Err(StoreError::Decode(_))));
    store.db.execute("UPDATE appointments SET backup_place = NULL").await;
    assert_eq!(records.get(id).await.expect("readable again").value.backup_place, None);
}

/// The columns of [`Appointment`]: name, SQLite declaration, PostgreSQL declaration.
const APPOINTMENT_COLUMNS: &[(&str, &str, &str)] = &[
    ("title", "TEXT NOT NULL", "TEXT NOT NULL"),
    ("day", "TEXT NOT NULL", "DATE NOT NULL"),
    ("starts_at", "TEXT NOT NULL", "TIMESTAMP NOT NULL"),
    ("priority", "TEXT NOT NULL", "VARCHAR(20) NOT NULL"),
    ("place", "TEXT NOT NULL", "JSONB NOT NULL"),
    ("tags", "TEXT NOT NULL", "JSON NOT NULL"),
    ("scores", "TEXT NOT NULL", "JSONB NOT NULL"),
    ("end_day", "TEXT", "DATE"),
    ("ends_at", "TEXT", "TIMESTAMP"),
    ("fallback", "TEXT", "TEXT"),
    ("backup_place", "TEXT", "JSONB"),
    ("_version", "INTEGER NOT NULL", "BIGINT NOT NULL"),
];

/// `CREATE TABLE appointments` as a user would write it, with `column` declared as `declared`
/// instead (left out when empty).
fn appointment_table(backend: Backend, (column, declared): (&str, &str)) -> String {
    let mut ddl = match backend {
        Backend::Sqlite => "CREATE TABLE appointments (id INTEGER PRIMARY KEY AUTOINCREMENT".to_owned(),
        Backend::Postgres => {
            "CREATE TABLE appointments (id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY".to_owned()
        }
    };
    for (name, sqlite, postgres) in APPOINTMENT_COLUMNS {
        let own = if backend == Backend::Sqlite { sqlite } else { postgres };
        let declared = if *name == column { declared } else { own };
        if !declared.is_empty() {
            ddl.push_str(&format!(", {name} {declared}"));
        }
    }
    ddl.push(')');
    ddl
}

async fn new_column_types_are_checked_at_start_up(backend: Backend) {
    // The table the store creates is accepted when it starts again, creation on or off.
    let db = TestDb::new(backend).await;
    db.connect().await.prepare::<Appointment>().await.expect("create the table");
    db.connect().await.prepare::<Appointment>().await.expect("the created table is accepted");
    let mut options = StoreOptions::default();
    options.create_tables = false;
    let store = db.connect_with(options).await.expect("connect");
    store.prepare::<Appointment>().await.expect("the created table is accepted without creation");

    // So is one made by hand the way the docs describe.
    let db = TestDb::new(backend).await;
    db.execute(&appointment_table(backend, ("", ""))).await;
    let store = db.connect().await;
    store.prepare::<Appointment>().await.expect("a hand-made table is accepted");
    let created = store.records::<Appointment>().create(full_appointment("fits"), &Write::new()).await;
    assert_eq!(created.expect("create in the hand-made table").value.title, "fits");

    let wrong: &[(&str, &str, &str)] = match backend {
        Backend::Sqlite => &[
            ("day", "INTEGER NOT NULL", "expected TEXT"),
            ("starts_at", "REAL NOT NULL", "expected TEXT"),
            ("priority", "INTEGER NOT NULL", "expected TEXT"),
            ("place", "BLOB NOT NULL", "expected TEXT"),
            ("backup_place", "TEXT NOT NULL", "expected nullable"),
            ("fallback", "TEXT NOT NULL", "expected nullable"),
            ("end_day", "", "missing"),
        ],
        Backend::Postgres => &[
            ("day", "TEXT NOT NULL", "expected DATE"),
            ("day", "TIMESTAMP NOT NULL", "expected DATE"),
            ("starts_at", "TIMESTAMPTZ NOT NULL", "expected TIMESTAMP"),
            ("ends_at", "DATE", "expected TIMESTAMP"),
            ("priority", "INTEGER NOT NULL", "expected TEXT"),
            ("place", "TEXT NOT NULL", "expected JSONB"),
            ("backup_place", "JSONB NOT NULL", "expected nullable"),
            ("end_day", "", "missing"),
        ],
    };
    for (column, declared, needle) in wrong {
        let ddl = appointment_table(backend, (column, declared));
        let detail = schema_error_of::<Appointment>(backend, &ddl).await;
        assert!(detail.contains(&format!("`{column}`")) && detail.contains(needle), "{ddl}: {detail}");
    }
}

async fn offset_date_times_are_stored_as_timestamps(backend: Backend) {
    use time::macros::datetime;

    let store = live_tests::store(backend).await;
    store.prepare::<Shift>().await.expect("prepare shifts");
    let records = store.records::<Shift>();
    let starts = datetime!(2024-03-01 10:00:00.123456789 +02:00);
    let logged = datetime!(2024-02-29 23:59:59 -05:00);
    let shift = Shift { id: 0, label: "early".to_owned(), starts, ends: None, logged };
    let created = records.create(shift, &Write::new()).await.expect("create");
    // The same instants, kept to the microsecond, read back in UTC.
    let stored_starts = datetime!(2024-03-01 08:00:00.123456 UTC);
    assert_eq!((created.value.starts, created.value.logged, created.value.ends), (stored_starts, logged, None));
    assert_eq!(created.value.starts.offset(), time::UtcOffset::UTC);
    assert_eq!(records.get(created.value.id).await.expect("get").value, created.value);

    let ends = datetime!(2024-03-01 18:30:00 +02:00);
    let updated = records.update(created.value.id, &Write::new(), |shift| shift.ends = Some(ends)).await;
    assert_eq!(updated.expect("update").value.ends, Some(ends));
    let late = Shift { label: "late".to_owned(), starts: datetime!(2024-03-01 20:00 UTC), ..created.value.clone() };
    records.create(late, &Write::new()).await.expect("create late");

    let column = |field: &str| Shift::DESCRIPTOR.column_by_field(field).expect("a Shift field").0;
    let utc = |text: &str| Value::Timestamp(text.parse::<DateTime<Utc>>().expect("a timestamp"));
    for (filter, expected) in [
        (
            Filter {
                column: column("starts"),
                op: FilterOp::Gte,
                negate: false,
                values: vec![utc("2024-03-01T08:00:00Z")],
            },
            &["early", "late"][..],
        ),
        (
            Filter {
                column: column("starts"),
                op: FilterOp::Lt,
                negate: false,
                values: vec![utc("2024-03-01T08:00:00.123457Z")],
            },
            &["early"],
        ),
        (Filter { column: column("ends"), op: FilterOp::Is, negate: true, values: vec![Value::Null] }, &["early"]),
    ] {
        let query = ListQuery { filters: vec![filter], ..ListQuery::default() };
        let labels: Vec<_> = records.list(&query).await.expect("list").into_iter().map(|s| s.value.label).collect();
        assert_eq!(labels, expected, "{query:?}");
    }

    let db = TestDb::new(backend).await;
    db.connect().await.prepare::<Shift>().await.expect("create the table");
    db.connect().await.prepare::<Shift>().await.expect("the created table is accepted");
    let (id, naive) = match backend {
        Backend::Sqlite => ("id INTEGER PRIMARY KEY AUTOINCREMENT", "INTEGER"),
        Backend::Postgres => ("id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY", "TIMESTAMP"),
    };
    let ddl = format!(
        "CREATE TABLE shifts ({id}, label TEXT NOT NULL, starts {naive} NOT NULL, ends {naive}, \
         logged {naive} NOT NULL, _version BIGINT NOT NULL)"
    );
    let detail = schema_error_of::<Shift>(backend, &ddl).await;
    assert!(detail.contains("`starts`"), "{detail}");
}

#[tokio::test]
async fn unknown_url_schemes_are_unsupported() {
    for url in ["mysql://localhost/db", "file.db", "redis://x"] {
        let result = Store::connect(url).await;
        assert!(matches!(result, Err(StoreError::Unsupported(_))), "{url}: {result:?}");
    }
}

#[tokio::test]
async fn unreachable_postgres_is_unavailable() {
    let mut options = StoreOptions::default();
    options.acquire_timeout = Duration::from_secs(2);
    // Port 9 (discard) on loopback refuses connections.
    let result = Store::connect_with("postgres://postgres@127.0.0.1:9/test", options).await;
    assert!(matches!(result, Err(StoreError::Unavailable(_))), "{result:?}");
}

#[tokio::test]
async fn sqlite_memory_keeps_its_data_on_one_connection() {
    let store = Store::connect("sqlite::memory:").await.expect("connect");
    store.prepare::<Note>().await.expect("prepare");
    let notes = store.records::<Note>();
    let created = notes.create(Note::new("in memory"), &Write::new()).await.expect("create");
    let found = notes.get(created.value.id).await.expect("the same database on the next call");
    assert_eq!(found.value.title, "in memory");
    assert_eq!(store.events_after("/api/notes", 0, 10).await.expect("log").len(), 1);
}

#[tokio::test]
async fn sqlite_file_is_created_when_missing() {
    let db = TestDb::new(Backend::Sqlite).await;
    let store = db.connect().await;
    store.prepare::<Kitchen>().await.expect("prepare");
    let path = db.url().trim_start_matches("sqlite://").to_owned();
    assert!(std::path::Path::new(&path).exists(), "{path}");
    // A second store on the same file sees the first one's rows.
    store.records::<Kitchen>().create(Kitchen::sample("shared"), &Write::new()).await.expect("create");
    let again = db.connect().await;
    assert_eq!(again.records::<Kitchen>().count(&[]).await.expect("count"), 1);
}

/// The helpers' clean-up must not hang when a test ends while one of its transactions still
/// waits to roll back (a current-thread runtime cannot run the rollback while the clean-up
/// blocks it).
#[test]
fn test_db_clean_up_survives_an_abandoned_transaction() {
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
        runtime.block_on(async {
            let store = fixture_store(Backend::Postgres).await;
            let notes = store.records::<Note>();
            let id = notes.create(Note::new("locked"), &Write::new()).await.expect("create").value.id;
            // A stale version returns while its transaction, holding the row, still waits for
            // its rollback to be sent.
            let result = notes.delete(id, &Write::new().if_version(7)).await;
            assert!(matches!(result, Err(StoreError::VersionMismatch { current: 1 })), "{result:?}");
        });
        let _ = done.send(());
    });
    finished.recv_timeout(WAIT / 2).expect("the test database is dropped without hanging");
}
