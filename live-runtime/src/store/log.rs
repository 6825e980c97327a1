//! The event log (design §4): one row per committed change, and the in-process bell that rings
//! after each commit.
//!
//! The table `live_events(seq, channel, method, body, version, origin, at)` is the source of
//! truth; the broadcast here is only a fast path for subscribers in this process. A subscriber
//! that lags, or that needs writes made by other processes, reads the log with
//! [`Store::events_after`](super::Store::events_after).

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::{Mutex, MutexGuard, broadcast};

use super::Method;

/// How many committed events a subscriber may fall behind before it misses some. Past that the
/// oldest are dropped for that subscriber (it gets `RecvError::Lagged(n)`) and it must catch up
/// from the log; writers never wait for subscribers.
pub const COMMIT_CHANNEL_CAPACITY: usize = 1024;

/// One committed change, as stored in the event log and published on its channel.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    /// The stream position: grows with commit order, across all channels. Rolled-back writes
    /// on PostgreSQL may leave gaps; a seq is never reused.
    pub seq: i64,
    /// The channel, which is the resource's REST path (for example `/api/todos`).
    pub channel: String,
    /// What the change was.
    pub method: Method,
    /// The full row after the change as its JSON form; for a `DELETE`, the row as it was.
    pub body: serde_json::Value,
    /// The row version after the change; for a `DELETE`, the version of the deleted row.
    pub version: i64,
    /// The writer's request id (`Live-Request-Id`), if it gave one.
    pub origin: Option<String>,
    /// When the change was written.
    pub at: DateTime<Utc>,
}

/// How much of the event log [`Store::prune_events`](super::Store::prune_events) keeps. Both
/// limits apply; `None` means no limit of that kind.
///
/// ```
/// use std::time::Duration;
/// use live_runtime::store::Retention;
///
/// let retention = Retention::default().max_events(10_000).max_age(Duration::from_secs(24 * 3600));
/// assert_eq!(retention.max_events, Some(10_000));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Retention {
    /// Keep only the events among the last this many seqs (of all channels together).
    pub max_events: Option<u64>,
    /// Keep only events younger than this.
    pub max_age: Option<Duration>,
}

impl Retention {
    /// The same retention, keeping at most the last `count` seqs.
    pub fn max_events(mut self, count: u64) -> Retention {
        self.max_events = Some(count);
        self
    }

    /// The same retention, keeping only events younger than `age`.
    pub fn max_age(mut self, age: Duration) -> Retention {
        self.max_age = Some(age);
        self
    }
}

/// What [`Store::prune_events`](super::Store::prune_events) did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Pruned {
    /// Every event with a seq at or below this is gone (the mark only grows).
    pub through: i64,
}

/// The in-process side of the log: orders appends within this process and tells subscribers
/// about commits.
#[derive(Debug)]
pub(crate) struct Notifier {
    sender: broadcast::Sender<Event>,
    order: Mutex<()>,
}

impl Notifier {
    pub(crate) fn new() -> Notifier {
        let (sender, _) = broadcast::channel(COMMIT_CHANNEL_CAPACITY);
        Notifier { sender, order: Mutex::new(()) }
    }

    /// Held from appending events until subscribers have been told of their commit.
    pub(crate) async fn order(&self) -> MutexGuard<'_, ()> {
        self.order.lock().await
    }

    /// Whether anyone listens: events are built for the bell only then.
    pub(crate) fn has_subscribers(&self) -> bool {
        self.sender.receiver_count() > 0
    }

    pub(crate) fn send(&self, event: Event) {
        // An error only means every receiver went away since the check: nobody to tell.
        let _ = self.sender.send(event);
    }

    pub(crate) fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.sender.subscribe()
    }
}
