//! The feed: from the event log to Bayeux (design.md §4, §5, §6).
//!
//! One task per [`Live`](crate::Live) follows the store's commit bell
//! ([`Store::subscribe_commits`]) and publishes each committed event on its resource's channel as
//! `data = {method, body, seq, version, origin}`, serialized once, with its seq so that subscriptions that
//! resumed or took a snapshot can skip what they already have ([`bayeux::history`]).
//!
//! Order: the bell rings in seq order and the feed publishes in that order, remembering the last seq it
//! published. The bell is only a fast path, the log is the truth: when the bell lags (a burst larger than
//! its capacity) or skips a seq (a write whose task was dropped between its commit and the bell, a write
//! from another process), the feed reads the missing events from the log with
//! [`Store::events_after_any`] before going on, so a subscriber never sees a gap or a reordering. Rolled
//! back writes never reach the log, so they publish nothing.
//!
//! The same task prunes the log when a retention is configured, and answers resume and snapshot
//! requests through [`LogHistory`].

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::sync::broadcast::error::RecvError;
use tokio::task::JoinHandle;

use crate::bayeux::{self, BoxFuture, Catchup, Caught, Context, History, Replayed};
use crate::store::{Event, Method, Retention, Store, StoreError};

/// How many events one catch-up read takes from the log.
const PAGE: u32 = 512;
/// Most pages one catch-up reads before going back to the bell (which then lags again if still behind).
const MAX_PAGES: usize = 1024;

/// The `data` of a delivered change (design.md §5).
#[derive(Serialize)]
struct Data<'a> {
    method: Method,
    body: &'a serde_json::Value,
    seq: i64,
    version: i64,
    origin: Option<&'a str>,
}

impl<'a> Data<'a> {
    fn of(event: &'a Event) -> Self {
        Data {
            method: event.method,
            body: &event.body,
            seq: event.seq,
            version: event.version,
            origin: event.origin.as_deref(),
        }
    }
}

/// When the feed prunes the log, and how much it keeps.
#[derive(Debug, Clone)]
pub(crate) struct Pruning {
    pub(crate) retention: Retention,
    pub(crate) every: Duration,
}

/// The running feed; dropping it stops the task.
#[derive(Debug)]
pub(crate) struct Feed {
    task: JoinHandle<()>,
}

impl Feed {
    /// Starts following `store` from the current end of its log.
    pub(crate) async fn start(
        store: Store,
        bayeux: bayeux::Server,
        pruning: Option<Pruning>,
    ) -> Result<Feed, StoreError> {
        // Subscribed before reading the end of the log: an event committed in between is then both
        // on the bell and at or below `last`, and is skipped once rather than lost.
        let commits = store.subscribe_commits();
        let last = store.last_seq_any().await?;
        let follower = Follower { store, bayeux, last };
        let task = tokio::spawn(follower.run(commits, pruning));
        Ok(Feed { task })
    }

    /// Stops the task (idempotent).
    pub(crate) fn stop(&self) {
        self.task.abort();
    }
}

impl Drop for Feed {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct Follower {
    store: Store,
    bayeux: bayeux::Server,
    /// The seq of the last event published (or skipped as already past).
    last: i64,
}

impl Follower {
    async fn run(mut self, mut commits: tokio::sync::broadcast::Receiver<Event>, pruning: Option<Pruning>) {
        let mut prune = pruning.map(|pruning| {
            let mut tick = tokio::time::interval(pruning.every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            (pruning.retention, tick)
        });
        loop {
            let received = match &mut prune {
                Some((retention, tick)) => tokio::select! {
                    received = commits.recv() => received,
                    _ = tick.tick() => {
                        if let Err(error) = self.store.prune_events(retention).await {
                            tracing::warn!(%error, "pruning the event log failed");
                        }
                        continue;
                    }
                },
                None => commits.recv().await,
            };
            match received {
                Ok(event) if event.seq <= self.last => {}
                Ok(event) => {
                    if event.seq > self.last + 1 {
                        // A gap: seqs may be missing from the bell (see the module docs) or just unused
                        // (PostgreSQL rollbacks); the log says which.
                        self.catch_up(Some(event.seq - 1)).await;
                    }
                    self.publish(&event);
                }
                Err(RecvError::Lagged(missed)) => {
                    tracing::debug!(missed, "event feed lagged; catching up from the log");
                    self.catch_up(None).await;
                }
                Err(RecvError::Closed) => break,
            }
        }
    }

    /// Publishes from the log every event after `last`, up to `until` (or the end of the log).
    async fn catch_up(&mut self, until: Option<i64>) {
        for _ in 0..MAX_PAGES {
            let events = match self.store.events_after_any(self.last, PAGE).await {
                Ok(events) => events,
                Err(error) => {
                    // Live subscribers miss these events; one that resumes with `since` gets them.
                    tracing::warn!(%error, after = self.last, "reading the event log failed");
                    return;
                }
            };
            let full = events.len() >= PAGE as usize;
            for event in &events {
                if until.is_some_and(|until| event.seq > until) {
                    return;
                }
                self.publish(event);
            }
            if !full {
                return;
            }
        }
    }

    fn publish(&mut self, event: &Event) {
        self.last = event.seq;
        if let Err(error) = self.bayeux.publish_serialize_seq(&event.channel, event.seq, &Data::of(event)) {
            tracing::warn!(%error, channel = %event.channel, seq = event.seq, "cannot publish a change");
        }
    }
}

/// The rows of a resource and the seq they correspond to, being read.
pub(crate) type SnapshotFuture<'a> =
    Pin<Box<dyn Future<Output = Result<(i64, serde_json::Value), StoreError>> + Send + 'a>>;

/// Reads a resource's current rows and the seq they correspond to.
pub(crate) type SnapshotFn = for<'a> fn(&'a Store) -> SnapshotFuture<'a>;

/// [`SnapshotFn`] for `R`: every row, in id order, as the REST list shows them.
pub(crate) fn snapshot<R: crate::LiveResource>(store: &Store) -> SnapshotFuture<'_> {
    Box::pin(async move {
        let (seq, rows) = store.records::<R>().snapshot(&crate::store::ListQuery::default()).await?;
        let values: Vec<&R> = rows.iter().map(|stored| &stored.value).collect();
        let rows = serde_json::to_value(values).map_err(|error| StoreError::Body(error.to_string()))?;
        Ok((seq, rows))
    })
}

/// Resume and snapshot over the event log (design.md §6), for the resource channels it was given.
pub(crate) struct LogHistory {
    pub(crate) store: Store,
    pub(crate) snapshots: Arc<HashMap<&'static str, SnapshotFn>>,
}

impl LogHistory {
    async fn replay(&self, channel: &str, since: i64, max_events: usize) -> Result<Caught, StoreError> {
        // A seq beyond the end of the log is not one this log gave out (a client of another database,
        // or one restored from a backup): its client must reload.
        if since > self.store.last_seq_any().await? {
            return Ok(Caught::Reset);
        }
        let limit = u32::try_from(max_events.saturating_add(1)).unwrap_or(u32::MAX);
        let events = self.store.events_after(channel, since, limit).await?;
        // Read after the events: pruning raises the mark in the transaction that deletes, so a prune
        // that raced the read above is seen here.
        if since < self.store.pruned_through().await? || events.len() > max_events {
            return Ok(Caught::Reset);
        }
        let through = events.last().map_or(since, |event| event.seq);
        let events = events
            .iter()
            .map(|event| {
                serde_json::to_string(&Data::of(event))
                    .map(|data| Replayed { seq: event.seq, data })
                    .map_err(|error| StoreError::Body(error.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Caught::Replay { events, through })
    }
}

impl History for LogHistory {
    fn catch_up<'a>(
        &'a self,
        channel: &'a str,
        catchup: Catchup,
        max_events: usize,
        _context: &'a Context,
    ) -> BoxFuture<'a, Result<Caught, bayeux::Error>> {
        Box::pin(async move {
            let Some(snapshot) = self.snapshots.get(channel) else {
                return Err(bayeux::Error::custom(405, [channel], "No history on this channel"));
            };
            let caught = match catchup {
                Catchup::Since(since) => self.replay(channel, since, max_events).await,
                Catchup::Snapshot => snapshot(&self.store).await.map(|(seq, rows)| Caught::Snapshot { seq, rows }),
            };
            caught.map_err(|error| {
                tracing::warn!(%error, channel, "a subscribe could not catch up");
                bayeux::Error::custom(503, [channel], "History unavailable")
            })
        })
    }
}
