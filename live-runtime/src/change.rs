//! The change record: one value per committed create, update or delete, built once at commit and then only
//! passed along (docs/architecture.md).
//!
//! A write serializes its row to JSON once, at commit. Those bytes, the [`Change::body`], are what the event
//! log stores, what the live event and a replay deliver as `body`, and what the REST response answers with; a
//! snapshot serializes the rows the same way, into the same shape. Nothing on those paths parses the JSON
//! back into a tree.
//!
//! This module depends on nothing else in the crate: the store builds changes and reports them to a
//! [`CommitSink`] it is given, the feed delivers them, REST answers with them.

use std::borrow::Cow;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use tokio::sync::Mutex;

/// The kind of a change, as REST names it and as events carry it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Method {
    /// A create.
    Post,
    /// A replace.
    Put,
    /// A merge.
    Patch,
    /// A delete.
    Delete,
}

impl Method {
    /// The HTTP method name, as events carry it: `POST`, `PUT`, `PATCH` or `DELETE`.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
        }
    }

    /// The method named `name` (upper case), if it is one of the four.
    pub fn parse(name: &str) -> Option<Method> {
        match name {
            "POST" => Some(Method::Post),
            "PUT" => Some(Method::Put),
            "PATCH" => Some(Method::Patch),
            "DELETE" => Some(Method::Delete),
            _ => None,
        }
    }
}

/// One committed change, as the event log keeps it and as it is published on its channel.
#[derive(Clone)]
#[non_exhaustive]
pub struct Change {
    /// The stream position: grows with commit order, across all channels. Rolled-back writes on PostgreSQL
    /// may leave gaps; a seq is never reused.
    pub seq: i64,
    /// The channel, which is the resource's REST path (for example `/api/todos`).
    pub channel: Cow<'static, str>,
    /// What the change was.
    pub method: Method,
    /// The row version after the change; for a `DELETE`, the version of the deleted row.
    pub version: i64,
    /// The writer's request id (`Live-Request-Id`), if it gave one.
    pub origin: Option<String>,
    /// When the change was written (microseconds, as both databases keep them).
    pub at: DateTime<Utc>,
    /// The full row after the change as JSON, serialized once at commit; for a `DELETE`, the row as it was.
    pub body: Box<RawValue>,
    /// For a `PUT` or `PATCH`, the full row before the change, serialized at commit as `body` is; `None`
    /// otherwise (a `DELETE`'s `body` is already the row before it), and for updates logged by versions
    /// that kept no before-images. Not delivered to clients: it is for judging which rows a change
    /// concerns ([`Change::row_before`]).
    pub before: Option<Box<RawValue>>,
}

impl Change {
    /// A change as the store builds it at commit, before the log gives it its seq.
    pub(crate) fn new(
        channel: Cow<'static, str>,
        method: Method,
        version: i64,
        origin: Option<String>,
        at: DateTime<Utc>,
        body: Box<RawValue>,
        before: Option<Box<RawValue>>,
    ) -> Change {
        Change { seq: 0, channel, method, version, origin, at, body, before }
    }

    /// The row as it was before the change: `None` for a `POST` (there was none), the `body` of a
    /// `DELETE`, the [`before`](Change::before) image of a `PUT` or `PATCH` (`None` if the log has none).
    pub fn row_before(&self) -> Option<&RawValue> {
        match self.method {
            Method::Post => None,
            Method::Delete => Some(&self.body),
            Method::Put | Method::Patch => self.before.as_deref(),
        }
    }

    /// The row as it is after the change: the `body`, except for a `DELETE` (there is none).
    pub fn row_after(&self) -> Option<&RawValue> {
        match self.method {
            Method::Delete => None,
            Method::Post | Method::Put | Method::Patch => Some(&self.body),
        }
    }

    /// The body parsed into a JSON tree, for code that wants to look inside it (delivery never does).
    pub fn body_value(&self) -> Result<serde_json::Value, serde_json::Error> {
        serde_json::from_str(self.body.get())
    }

    /// The event's `data` as delivered (docs/live.md, "Change events"): `{method, body, seq, version, origin}`, with
    /// `body` copied as it is.
    pub fn data(&self) -> Data<'_> {
        Data {
            method: self.method,
            body: &self.body,
            seq: self.seq,
            version: self.version,
            origin: self.origin.as_deref(),
            enter: false,
            leave: false,
        }
    }

    /// The `data` a filtered subscription receives when the row enters its view with this change:
    /// a `POST` of the row after it, marked `enter` (docs/live.md, "Filtered subscriptions").
    pub fn data_entering(&self) -> Data<'_> {
        Data { method: Method::Post, enter: true, ..self.data() }
    }

    /// The `data` a filtered subscription receives when the row leaves its view with this change: a
    /// `DELETE` of the row before it (the body, when the log kept no before-image), marked `leave`.
    pub fn data_leaving(&self) -> Data<'_> {
        let body = self.row_before().unwrap_or(&self.body);
        Data { method: Method::Delete, body, leave: true, ..self.data() }
    }
}

/// Bodies compare as the JSON text they are: the same row serialized the same way.
impl PartialEq for Change {
    fn eq(&self, other: &Self) -> bool {
        self.seq == other.seq
            && self.channel == other.channel
            && self.method == other.method
            && self.version == other.version
            && self.origin == other.origin
            && self.at == other.at
            && self.body.get() == other.body.get()
            && self.before.as_ref().map(|before| before.get()) == other.before.as_ref().map(|before| before.get())
    }
}

impl fmt::Debug for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Change")
            .field("seq", &self.seq)
            .field("channel", &self.channel)
            .field("method", &self.method)
            .field("version", &self.version)
            .field("origin", &self.origin)
            .field("at", &self.at)
            .field("body", &self.body.get())
            .field("before", &self.before.as_ref().map(|before| before.get()))
            .finish()
    }
}

/// The `data` of a delivered change: see [`Change::data`].
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Data<'a> {
    /// `POST`, `PUT`, `PATCH` or `DELETE`.
    pub method: Method,
    /// The row, as JSON text.
    pub body: &'a RawValue,
    /// The change's seq.
    pub seq: i64,
    /// The row version.
    pub version: i64,
    /// The writer's request id.
    pub origin: Option<&'a str>,
    /// The row entered a filtered subscription's view with this change (sent only when `true`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub enter: bool,
    /// The row left a filtered subscription's view with this change (sent only when `true`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub leave: bool,
}

/// Where a store reports its commits: the feed (which publishes them) is one.
///
/// The store takes [`CommitSink::order`] before a write appends its first change to the log and holds it
/// until [`CommitSink::committed`] has returned, so a sink learns of one process's commits in seq order. The
/// database already serialises that stretch (SQLite's one writer, PostgreSQL's advisory lock), so the lock
/// adds no waiting of its own; it only keeps two writers' reports from overtaking each other after their
/// commits.
pub trait CommitSink: Send + Sync + 'static {
    /// The lock that orders reports.
    fn order(&self) -> &Mutex<()>;

    /// `changes` committed, in seq order. Called with [`CommitSink::order`] held; must not block.
    fn committed(&self, changes: &[std::sync::Arc<Change>]);
}
