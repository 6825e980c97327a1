//! The event log (docs/architecture.md, "One write, end to end"): one row per committed change, the
//! source of truth for every reader.
//!
//! The table `live_events(seq, channel, method, body, version, origin, at, before_body)` holds each
//! [`Change`](crate::change::Change) as the write built it: `body` is the row's JSON exactly as it was
//! serialized at commit, and `before_body` the row before a `PUT` or `PATCH`, serialized the same way
//! (`JSON` columns on PostgreSQL, which keep the text as given; logs created with a `JSONB` body by earlier
//! versions still work, their text normalised by PostgreSQL, and logs without `before_body` gain it when a
//! store opens them). A reader catches up with [`Store::events_after`](super::Store::events_after);
//! in-process readers are also told of each commit through the
//! [`CommitSink`](crate::change::CommitSink) the store reports to.

use std::time::Duration;

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
