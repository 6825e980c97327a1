//! The feed: from the event log to Bayeux (design.md §4, §5, §6, §8).
//!
//! One task per [`Live`](crate::Live) publishes each committed event on its resource's channel as
//! `data = {method, body, seq, version, origin}`, serialized once, with its seq so that subscriptions
//! that resumed or took a snapshot can skip what they already have ([`bayeux::history`]). It
//! remembers the last seq it published and only ever publishes a greater one, so nothing is
//! published twice or out of order, whatever woke it.
//!
//! What wakes it:
//!
//! - the store's commit bell ([`Store::subscribe_commits`]), the fast path for this process's own
//!   writes: the bell carries the events in seq order, already built, and the feed publishes them
//!   without reading the log. When the bell lags (a burst larger than its capacity) or skips a seq
//!   (a write whose task was dropped between its commit and the bell, a write from another
//!   process), the feed reads the missing events from the log with [`Store::events_after_any`]
//!   first;
//! - the bus ([`crate::bus`]), when other processes share the database: each node announces the
//!   seqs it commits, and a node that hears of a seq it has not published reads the log after its
//!   last one;
//! - a timer: when nothing made it read the log for the poll interval (1 s by default), it reads it
//!   anyway. A lost wake-up, or a bus that is down, therefore delays an event by at most that much.
//!
//! The log is the truth; the bell and the bus only say when to look. Reading the log "after the
//! last seq published, in seq order" can never skip an event that commits later with a smaller seq,
//! because a seq is visible only once every smaller seq that will ever commit is: SQLite runs one
//! write transaction at a time; on PostgreSQL the append takes a transaction-level advisory lock
//! before it draws its seq from the identity sequence and holds it until commit, so the next
//! appender draws a greater seq only after this transaction ended, and PostgreSQL makes a
//! committed transaction visible before it releases its locks (`CommitTransaction` in `xact.c`
//! calls `ProcArrayEndTransaction` before `ResourceOwnerRelease` of the locks). So a read that
//! sees seq N sees every committed seq below N, and a missing smaller seq is one that never
//! commits: a rolled-back write (PostgreSQL's sequence does not give values back), or an event
//! retention pruned. Such a gap is final, and the feed steps over it rather than wait for it.
//! Rolled back writes never reach the log, so they publish nothing.
//!
//! If the log cannot be read (the database is down), the feed publishes nothing past the last
//! event it could account for and tries again on its timer: delivery resumes, in order and
//! complete, when the database is back. The same task prunes the log when a retention is
//! configured, and answers resume and snapshot requests through [`LogHistory`].

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::sync::broadcast::error::RecvError;
use tokio::task::JoinHandle;
use tokio::time::{Instant, Interval, Sleep};

use crate::bayeux::{self, BoxFuture, Catchup, Caught, Context, History, Replayed};
use crate::bus::{Link, Wake};
use crate::store::{Event, Method, Retention, Store, StoreError};

/// How many events one catch-up read takes from the log.
const PAGE: u32 = 512;
/// Most pages one catch-up reads before going back to the bell (which then lags again if still behind).
const MAX_PAGES: usize = 1024;

/// How often the feed reads the log when nothing else made it, unless configured otherwise.
pub(crate) const DEFAULT_POLL: Duration = Duration::from_secs(1);

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

/// The running feed; dropping it stops the task (and with it the bus's tasks).
#[derive(Debug)]
pub(crate) struct Feed {
    task: JoinHandle<()>,
}

impl Feed {
    /// Starts following `store` from the current end of its log, woken by its commit bell, by
    /// `link` when there is a bus, and every `poll` when nothing else woke it.
    pub(crate) async fn start(
        store: Store,
        bayeux: bayeux::Server,
        pruning: Option<Pruning>,
        link: Option<Link>,
        poll: Duration,
    ) -> Result<Feed, StoreError> {
        // Subscribed (to the bell, and to the bus, which `link` already listens to) before reading
        // the end of the log: an event committed in between is then both announced and at or
        // below `last`, and is skipped once rather than lost.
        let commits = store.subscribe_commits();
        let last = store.last_seq_any().await?;
        let follower = Follower { store, bayeux, last, link, failing: false };
        let task = tokio::spawn(follower.run(commits, pruning, poll));
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

/// How far a read of the log got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Read {
    /// To the end asked for.
    Complete,
    /// [`MAX_PAGES`] pages, and there is more.
    Partial,
    /// The log could not be read.
    Failed,
}

struct Follower {
    store: Store,
    bayeux: bayeux::Server,
    /// The seq of the last event published (or skipped as already past).
    last: i64,
    /// The bus, when other processes share the database.
    link: Option<Link>,
    /// Whether the last read of the log failed (its failures are logged once per outage).
    failing: bool,
}

/// Waits for a wake-up from the bus; never, without one.
async fn heard(wake: Option<&Wake>) -> i64 {
    match wake {
        Some(wake) => wake.heard().await,
        None => std::future::pending().await,
    }
}

/// Waits for the next pruning; never, without a retention.
async fn prune_due(prune: Option<&mut Interval>) {
    match prune {
        Some(tick) => {
            tick.tick().await;
        }
        None => std::future::pending().await,
    }
}

impl Follower {
    async fn run(
        mut self,
        mut commits: tokio::sync::broadcast::Receiver<Event>,
        pruning: Option<Pruning>,
        every: Duration,
    ) {
        let (retention, mut prune) = match pruning {
            Some(pruning) => {
                let mut tick = tokio::time::interval(pruning.every);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                (Some(pruning.retention), Some(tick))
            }
            None => (None, None),
        };
        let wake: Option<Arc<Wake>> = self.link.as_ref().map(Link::wake);
        let poll = tokio::time::sleep(every);
        tokio::pin!(poll);
        loop {
            // Biased: this process's commits first, as they come with their events.
            tokio::select! {
                biased;
                received = commits.recv() => match received {
                    Ok(event) if event.seq <= self.last => {
                        // Already published from the log: a read woken by another node or by the timer
                        // saw this process's commit before its bell did. Announce it all the same, or no
                        // other node hears of it before its own poll.
                        self.announce(self.last);
                    }
                    Ok(event) => {
                        if event.seq > self.last + 1 {
                            // A gap: seqs may be missing from the bell (see the module docs) or
                            // never committed; the log says which.
                            let read = self.catch_up(Some(event.seq - 1)).await;
                            if read != Read::Complete {
                                // Publishing this event now would skip the missing ones for
                                // good: leave it to the next read of the log, which has it.
                                rearm(poll.as_mut(), read, every);
                                continue;
                            }
                        }
                        self.publish(&event);
                        self.announce(event.seq);
                    }
                    Err(RecvError::Lagged(missed)) => {
                        tracing::debug!(missed, "event feed lagged; catching up from the log");
                        let read = self.catch_up(None).await;
                        rearm(poll.as_mut(), read, every);
                        // Some of what the bell dropped was this process's: tell the others.
                        self.announce(self.last);
                    }
                    Err(RecvError::Closed) => break,
                },
                seq = heard(wake.as_deref()) => {
                    // Our own announcements come back too, and duplicates: only a seq past the
                    // last published one is worth a read.
                    if seq > self.last {
                        let read = self.catch_up(None).await;
                        rearm(poll.as_mut(), read, every);
                    }
                }
                () = &mut poll => {
                    let read = self.catch_up(None).await;
                    rearm(poll.as_mut(), read, every);
                }
                () = prune_due(prune.as_mut()) => {
                    if let Some(retention) = &retention
                        && let Err(error) = self.store.prune_events(retention).await
                    {
                        tracing::warn!(%error, "pruning the event log failed");
                    }
                }
            }
        }
    }

    /// Publishes from the log every event after `last`, up to `until` (or the end of the log).
    async fn catch_up(&mut self, until: Option<i64>) -> Read {
        for _ in 0..MAX_PAGES {
            let events = match self.store.events_after_any(self.last, PAGE).await {
                Ok(events) => events,
                Err(error) => {
                    // Nothing is skipped: the next read starts after the same seq.
                    if self.failing {
                        tracing::debug!(%error, after = self.last, "the event log is still unreadable");
                    } else {
                        tracing::warn!(%error, after = self.last, "reading the event log failed; retrying");
                        self.failing = true;
                    }
                    return Read::Failed;
                }
            };
            if self.failing {
                tracing::info!(after = self.last, "the event log is readable again");
                self.failing = false;
            }
            let full = events.len() >= PAGE as usize;
            for event in &events {
                if until.is_some_and(|until| event.seq > until) {
                    return Read::Complete;
                }
                self.publish(event);
            }
            if !full {
                return Read::Complete;
            }
        }
        Read::Partial
    }

    fn publish(&mut self, event: &Event) {
        self.last = event.seq;
        if let Err(error) = self.bayeux.publish_serialize_seq(&event.channel, event.seq, &Data::of(event)) {
            tracing::warn!(%error, channel = %event.channel, seq = event.seq, "cannot publish a change");
        }
    }

    /// Tells the other nodes, if any, that the log reaches `seq`.
    fn announce(&self, seq: i64) {
        if let Some(link) = &self.link {
            link.announce(seq);
        }
    }
}

/// Sets the timer after a read of the log: the full interval after a complete read, at once when
/// more is waiting, and the interval again (a retry) after a failure.
fn rearm(poll: Pin<&mut Sleep>, read: Read, every: Duration) {
    let next = match read {
        Read::Partial => Instant::now(),
        Read::Complete | Read::Failed => Instant::now() + every,
    };
    poll.reset(next);
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
