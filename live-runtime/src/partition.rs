//! Nested resource paths (docs/rest.md, "Nested resources"): a path such as
//! `/api/rooms/{room_id}/messages` names one collection per value of its keys, and each of those
//! partitions is its own REST collection and its own channel, the concrete path
//! `/api/rooms/7/messages`.
//!
//! This module turns key values into path segments and back. A key is an integer, a UUID or a
//! string; as a segment it is written the one way [`key_segment`] writes it (an integer in
//! decimal, a UUID hyphenated in lower case, a string as it is), so that one partition has exactly
//! one channel. A string key must be a valid Bayeux channel segment: non-empty, ASCII letters,
//! digits and `-_!~()$@` only.

use std::borrow::Cow;

use crate::resource::Descriptor;
use crate::value::{self, SqlType, Value};

/// One segment of a path template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Segment<'a> {
    /// A fixed name, such as `api` or `messages`.
    Literal(&'a str),
    /// The `n`th key (a `{name}` segment), by its position in [`Descriptor::keys`].
    Key(usize),
}

/// The segments of a path template, after its leading `/`.
pub(crate) fn segments(path: &str) -> impl Iterator<Item = Segment<'_>> {
    let mut key = 0;
    path.trim_start_matches('/').split('/').map(move |segment| {
        if segment.starts_with('{') && segment.ends_with('}') {
            key += 1;
            Segment::Key(key - 1)
        } else {
            Segment::Literal(segment)
        }
    })
}

/// Whether `text` may be one segment of a Bayeux channel name.
pub(crate) fn is_channel_segment(text: &str) -> bool {
    crate::bayeux::channel::is_segment(text)
}

/// A key value as the path segment that names it; `None` for a value that cannot be one (a
/// string with characters a channel name may not hold, or a value of another type).
pub(crate) fn key_segment(value: &Value) -> Option<Cow<'_, str>> {
    match value {
        Value::Int(int) => Some(Cow::Owned(int.to_string())),
        Value::Uuid(uuid) => Some(Cow::Owned(uuid.hyphenated().to_string())),
        Value::Text(text) if is_channel_segment(text) => Some(Cow::Borrowed(text)),
        _ => None,
    }
}

/// Why a key's value cannot name a partition, for the error that refuses it.
pub(crate) const SEGMENT_RULE: &str =
    "expected a value that can be a channel segment: ASCII letters, digits and `-_!~()$@`, not empty";

/// Parses one path segment as the value of a key column of type `ty`: an integer in range, a
/// UUID, or a string that is a valid channel segment.
pub(crate) fn parse_key(ty: SqlType, raw: &str) -> Result<Value, String> {
    let parsed = value::parse_text(ty, raw)?;
    match &parsed {
        Value::Int(_) | Value::Uuid(_) => Ok(parsed),
        Value::Text(text) if is_channel_segment(text) => Ok(parsed),
        Value::Text(_) => Err(SEGMENT_RULE.to_owned()),
        _ => Err(format!("a {ty} cannot be a path key")),
    }
}

/// The id of the row a change's `body` holds, as the segment of its record channel
/// (`/api/todos/42`): the id field's number, or its UUID as serialized.
pub(crate) fn record_segment(descriptor: &Descriptor, body: &serde_json::value::RawValue) -> Option<String> {
    let row: serde_json::Map<String, serde_json::Value> = serde_json::from_str(body.get()).ok()?;
    match row.get(descriptor.id_column().field)? {
        serde_json::Value::Number(number) => Some(number.to_string()),
        serde_json::Value::String(text) if is_channel_segment(text) => Some(text.clone()),
        _ => None,
    }
}

/// The resource among `resources` whose partition (or, with `records`, one of whose records)
/// `channel` is: the descriptor, the partition's keys, and for a record channel the record's id
/// segment.
pub(crate) fn resolve<'d, I>(
    resources: I,
    channel: &str,
    records: bool,
) -> Option<(&'d Descriptor, Vec<Value>, Option<String>)>
where
    I: IntoIterator<Item = &'d Descriptor> + Clone,
{
    let partition = resources.clone().into_iter().find_map(|d| d.partition_of(channel).map(|keys| (d, keys, None)));
    if partition.is_some() || !records {
        return partition;
    }
    let (collection, id) = channel.rsplit_once('/')?;
    resources.into_iter().find_map(|descriptor| {
        let keys = descriptor.partition_of(collection)?;
        let parsed = parse_key(descriptor.id_column().ty, id).ok()?;
        // Written one way, as the record channel is published.
        (key_segment(&parsed).as_deref() == Some(id)).then(|| (descriptor, keys, Some(id.to_owned())))
    })
}

impl Descriptor {
    /// Whether the path has keys (`{name}` segments): each partition is then its own collection.
    pub fn is_nested(&self) -> bool {
        !self.keys.is_empty()
    }

    /// The concrete path (and channel) of the partition whose keys are `keys`, in the order of
    /// [`keys`](Self::keys); `None` when their number is wrong or a value cannot be a segment.
    ///
    /// ```
    /// use live_runtime::{Column, Descriptor, SqlType, Value};
    ///
    /// const MESSAGES: Descriptor = Descriptor {
    ///     type_name: "Message",
    ///     path: "/api/rooms/{room_id}/messages",
    ///     table: "messages",
    ///     columns: &[
    ///         Column::new("id", "id", SqlType::I64, false),
    ///         Column::new("room_id", "room_id", SqlType::I64, false),
    ///         Column::new("text", "text", SqlType::Text, false),
    ///     ],
    ///     id: 0,
    ///     version: None,
    ///     keys: &[1],
    /// };
    ///
    /// assert_eq!(MESSAGES.channel(&[Value::Int(7)]).as_deref(), Some("/api/rooms/7/messages"));
    /// assert_eq!(MESSAGES.partition_of("/api/rooms/7/messages"), Some(vec![Value::Int(7)]));
    /// assert_eq!(MESSAGES.partition_of("/api/rooms/07/messages"), None);
    /// ```
    pub fn channel(&self, keys: &[Value]) -> Option<String> {
        if keys.len() != self.keys.len() {
            return None;
        }
        let mut out = String::with_capacity(self.path.len() + 8 * keys.len());
        for segment in segments(self.path) {
            out.push('/');
            match segment {
                Segment::Literal(name) => out.push_str(name),
                Segment::Key(index) => out.push_str(&key_segment(&keys[index])?),
            }
        }
        Some(out)
    }

    /// The key values of a concrete partition path (or channel) of this resource, in the order of
    /// [`keys`](Self::keys): `Some(vec![])` for the path of a flat resource itself, `None` for a
    /// path that is not one of its partitions, and for one written otherwise than
    /// [`channel`](Self::channel) writes it (`/api/rooms/07/messages`), whose channel would never
    /// carry an event.
    pub fn partition_of(&self, path: &str) -> Option<Vec<Value>> {
        let mut given = path.strip_prefix('/')?.split('/');
        let mut keys = Vec::with_capacity(self.keys.len());
        for segment in segments(self.path) {
            let raw = given.next()?;
            match segment {
                Segment::Literal(name) if name == raw => {}
                Segment::Literal(_) => return None,
                Segment::Key(index) => {
                    let column = self.columns.get(*self.keys.get(index)?)?;
                    let value = parse_key(column.ty, raw).ok()?;
                    if key_segment(&value).as_deref() != Some(raw) {
                        return None;
                    }
                    keys.push(value);
                }
            }
        }
        match given.next() {
            None if keys.len() == self.keys.len() => Some(keys),
            _ => None,
        }
    }

    /// The key values of a row (in descriptor column order), in the order of [`keys`](Self::keys).
    pub(crate) fn keys_of(&self, row: &[Value]) -> Vec<Value> {
        self.keys.iter().map(|&column| row[column].clone()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resource::Column;
    use uuid::Uuid;

    const TASKS: Descriptor = Descriptor {
        type_name: "Task",
        path: "/api/orgs/{org}/projects/{project_id}/tasks",
        table: "tasks",
        columns: &[
            Column::new("id", "id", SqlType::I64, false),
            Column::new("project_id", "project_id", SqlType::Uuid, false),
            Column::new("org", "org", SqlType::Text, false),
        ],
        id: 0,
        version: None,
        keys: &[2, 1],
    };

    #[test]
    fn templates_split_into_literals_and_keys() {
        let parts: Vec<_> = segments(TASKS.path).collect();
        assert_eq!(
            parts,
            [
                Segment::Literal("api"),
                Segment::Literal("orgs"),
                Segment::Key(0),
                Segment::Literal("projects"),
                Segment::Key(1),
                Segment::Literal("tasks")
            ]
        );
    }

    #[test]
    fn channels_round_trip_through_their_keys() {
        let project = Uuid::parse_str("67e55044-10b1-426f-9247-bb680e5fe0c8").unwrap_or_default();
        let keys = [Value::Text("acme".into()), Value::Uuid(project)];
        let channel = TASKS.channel(&keys).unwrap_or_default();
        assert_eq!(channel, format!("/api/orgs/acme/projects/{project}/tasks"));
        assert_eq!(TASKS.partition_of(&channel), Some(keys.to_vec()));
        let row = [Value::Int(1), Value::Uuid(project), Value::Text("acme".into())];
        assert_eq!(TASKS.keys_of(&row), keys);
    }

    #[test]
    fn only_the_canonical_spelling_of_a_partition_matches() {
        let upper = "/api/orgs/acme/projects/67E55044-10B1-426F-9247-BB680E5FE0C8/tasks";
        assert_eq!(TASKS.partition_of(upper), None);
        for other in [
            "/api/orgs/acme/projects",
            "/api/orgs/acme/projects/67e55044-10b1-426f-9247-bb680e5fe0c8/tasks/1",
            "/api/orgs/acme/projects/x/tasks",
            "/api/orgs/a.b/projects/67e55044-10b1-426f-9247-bb680e5fe0c8/tasks",
            "/api/orgs//projects/67e55044-10b1-426f-9247-bb680e5fe0c8/tasks",
            "api/orgs/acme/projects/67e55044-10b1-426f-9247-bb680e5fe0c8/tasks",
        ] {
            assert_eq!(TASKS.partition_of(other), None, "{other}");
        }
    }

    #[test]
    fn keys_that_cannot_be_segments_have_no_channel() {
        let project = Value::Uuid(Uuid::nil());
        assert_eq!(TASKS.channel(&[Value::Text("a b".into()), project.clone()]), None);
        assert_eq!(TASKS.channel(&[Value::Text(String::new()), project.clone()]), None);
        assert_eq!(TASKS.channel(&[project]), None);
        assert!(parse_key(SqlType::I32, "99999999999").is_err());
        assert!(parse_key(SqlType::Text, "a/b").is_err());
        assert_eq!(parse_key(SqlType::I64, "-3"), Ok(Value::Int(-3)));
    }

    #[test]
    fn a_flat_path_is_its_own_only_partition() {
        const TODOS: Descriptor = Descriptor {
            type_name: "Todo",
            path: "/api/todos",
            table: "todos",
            columns: &[Column::new("id", "id", SqlType::I64, false)],
            id: 0,
            version: None,
            keys: &[],
        };
        assert!(!TODOS.is_nested());
        assert_eq!(TODOS.partition_of("/api/todos"), Some(Vec::new()));
        assert_eq!(TODOS.partition_of("/api/todos/1"), None);
        assert_eq!(TODOS.channel(&[]).as_deref(), Some("/api/todos"));
    }
}
