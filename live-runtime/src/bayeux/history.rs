//! Resume and snapshot on subscribe (docs/protocol.md §14.1, §14.2), without the engine knowing where history lives.
//!
//! A `/meta/subscribe` may carry `ext: {"since": N}` (replay every retained event of the channel after
//! seq `N`, then live ones) or `ext: {"snapshot": true}` (the channel's current state and the seq it
//! corresponds to, then live events after it). The engine cannot answer either: it keeps no history. It
//! asks a [`History`] installed with [`Options::history`](super::Options::history), which the application
//! layer implements over its event log, and fences the subscription so the answer and the live stream meet
//! without a gap or a duplicate:
//!
//! 1. the subscription is registered and, in the same step, marked pending: live events published for it
//!    with a seq ([`Server::publish_at`](super::Server::publish_at)) are buffered, not queued;
//! 2. the hook runs and returns the replay (events with seq at most `through`) or a snapshot at `seq`;
//! 3. the replay is queued, then the buffered events with a greater seq; from then on, until one passes,
//!    live events at or below that seq are dropped for this session and channel (the publisher may still
//!    be behind the hook's reading of the log).
//!
//! This needs the publisher to publish each channel's events in seq order, which the feed of the
//! application layer does.

use serde_json::value::RawValue;

use super::{BoxFuture, Context, Error};

/// What a subscriber asked for through the `ext` of its `/meta/subscribe`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Catchup {
    /// `ext: {"since": N}`: the events after seq `N`.
    Since(i64),
    /// `ext: {"snapshot": true}`: the current state.
    Snapshot,
}

/// One replayed event: its seq and its `data`, already serialized as JSON text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replayed {
    /// The event's stream position.
    pub seq: i64,
    /// The event's `data` as JSON text, exactly as it was (or would have been) published live.
    pub data: String,
}

/// A [`History`]'s answer.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Caught {
    /// The channel's events after the requested seq, oldest first: every one with a seq up to `through`.
    /// The subscriber then receives live events with a seq above `through` only.
    Replay {
        /// The events, oldest first.
        events: Vec<Replayed>,
        /// The seq the subscriber is brought to.
        through: i64,
    },
    /// The requested seq is older than what is retained (or not a seq this log ever had): the subscriber
    /// is subscribed without replay and told `ext: {"reset": true}`, so it reloads.
    Reset,
    /// The channel's current state and the seq it corresponds to; the subscriber then receives live events
    /// with a seq above `seq` only.
    Snapshot {
        /// The seq of the last event the state includes.
        seq: i64,
        /// The state as JSON, sent as it is in the reply's `ext.snapshot.rows`.
        rows: Box<RawValue>,
    },
}

/// Answers resume and snapshot requests for the channels it knows (docs/protocol.md §14.1, §14.2).
pub trait History: Send + Sync + 'static {
    /// Answers `catchup` for `channel` (a plain channel name). A replay longer than `max_events` must be
    /// answered with [`Caught::Reset`] instead: the session could not queue it. An error refuses the
    /// subscription (for example a channel without history).
    fn catch_up<'a>(
        &'a self,
        channel: &'a str,
        catchup: Catchup,
        max_events: usize,
        context: &'a Context,
    ) -> BoxFuture<'a, Result<Caught, Error>>;
}
