//! The feed: delivery, from the event log to Bayeux (docs/architecture.md, docs/live.md,
//! docs/deployment.md). The store only logs changes and reports its commits; everything about
//! publishing them lives here: the [`Bell`] the store reports to and the order it keeps, the
//! catch-up from the log, the bus wake-ups, and resume and snapshot for subscribers
//! (`history`).
//!
//! One task per [`Live`](crate::Live) publishes each committed change on its resource's channel as
//! `data = {method, body, seq, version, origin}` ([`Change::data`]), serialized once with the body
//! copied as it was logged, and with its seq so that subscriptions that resumed or took a snapshot
//! can skip what they already have ([`bayeux::history`]). It remembers the last seq it published and
//! only ever publishes a greater one, so nothing is published twice or out of order, whatever woke
//! it.
//!
//! The task runs as long as the Bayeux server it publishes through is alive (whoever holds it: the
//! [`Live`](crate::Live), or only a router taken from it), and ends at its next wake-up after that,
//! or at [`Live::shutdown`](crate::Live::shutdown).
//!
//! What wakes it:
//!
//! - the [`Bell`], the fast path for this process's own writes: it carries the changes in seq
//!   order, already built, and the feed publishes them without reading the log. When the bell lags (a burst larger than its capacity) or skips a seq
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
//! configured.

mod bell;
pub(crate) mod history;

pub use bell::{Bell, COMMIT_CHANNEL_CAPACITY};

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use serde_json::value::RawValue;
use serde_json::{Map, Value as Json};
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::RecvError;
use tokio::task::JoinHandle;
use tokio::time::{Instant, Interval, Sleep};

use crate::bayeux::Event;
use crate::bayeux::{self, WeakServer};
use crate::bus::{Link, Wake};
use crate::change::Change;
use crate::filter::{Verdict, View};
use crate::partition;
use crate::resource::Descriptor;
use crate::store::{Retention, Store, StoreError};

/// How many events one catch-up read takes from the log.
const PAGE: u32 = 512;
/// Most pages one catch-up reads before going back to the bell (which then lags again if still behind).
const MAX_PAGES: usize = 1024;

/// How often the feed reads the log when nothing else made it, unless configured otherwise.
pub(crate) const DEFAULT_POLL: Duration = Duration::from_secs(1);

/// When the feed prunes the log, and how much it keeps.
#[derive(Debug, Clone)]
pub(crate) struct Pruning {
    pub(crate) retention: Retention,
    pub(crate) every: Duration,
}

/// The running feed's handle. Dropping it leaves the task running: it ends by itself once the Bayeux server
/// is gone (see the module docs), or at [`Feed::stop`].
#[derive(Debug)]
pub(crate) struct Feed {
    task: JoinHandle<()>,
}

impl Feed {
    /// Starts following `store` from the current end of its log, woken by the commits it reports, by
    /// `link` when there is a bus, and every `poll` when nothing else woke it; publishes through `bayeux`
    /// while it is alive.
    pub(crate) async fn start(
        store: Store,
        bayeux: &bayeux::Server,
        pruning: Option<Pruning>,
        link: Option<Link>,
        poll: Duration,
        resources: Arc<[&'static Descriptor]>,
    ) -> Result<Feed, StoreError> {
        // Following the bell (and the bus, which `link` already listens to) before reading the end of
        // the log: a change committed in between is then both announced and at or below `last`, and
        // is skipped once rather than lost.
        let bell = Bell::new();
        store.report_to(&bell);
        let commits = bell.subscribe();
        let last = store.last_seq_any().await?;
        let follower = Follower {
            store,
            bayeux: bayeux.downgrade(),
            _bell: bell,
            last,
            link,
            failing: false,
            resources,
            views: HashMap::new(),
        };
        let task = tokio::spawn(follower.run(commits, pruning, poll));
        Ok(Feed { task })
    }

    /// Stops the task (idempotent).
    pub(crate) fn stop(&self) {
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
    /// The server to publish through, while anything else keeps it alive.
    bayeux: WeakServer,
    /// The bell the store reports to, kept alive by the task that follows it (the store holds it weakly).
    _bell: Arc<Bell>,
    /// The seq of the last event published (or skipped as already past).
    last: i64,
    /// The bus, when other processes share the database.
    link: Option<Link>,
    /// Whether the last read of the log failed (its failures are logged once per outage).
    failing: bool,
    /// The resources whose changes these are, to find a change's record channel.
    resources: Arc<[&'static Descriptor]>,
    /// The compiled filters of the filtered subscriptions seen, by key (`None`: the key is no filter of
    /// a resource, which the subscribe refused, so none is expected).
    views: HashMap<Arc<str>, Option<Arc<View>>>,
}

/// How many compiled filters the feed keeps before it starts over (they compile again on use).
const MAX_VIEWS: usize = 4096;

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

/// What woke the follower.
enum Woken {
    Commit(Result<Arc<Change>, RecvError>),
    Heard(i64),
    Poll,
    Prune,
}

impl Follower {
    async fn run(mut self, mut commits: broadcast::Receiver<Arc<Change>>, pruning: Option<Pruning>, every: Duration) {
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
            // Biased: this process's commits first, as they come with their changes.
            let woken = tokio::select! {
                biased;
                received = commits.recv() => Woken::Commit(received),
                seq = heard(wake.as_deref()) => Woken::Heard(seq),
                () = &mut poll => Woken::Poll,
                () = prune_due(prune.as_mut()) => Woken::Prune,
            };
            // Held only while handling this wake-up, so that the task never keeps the server alive.
            let Some(bayeux) = self.bayeux.upgrade() else {
                tracing::debug!("the Bayeux server is gone; the feed stops");
                break;
            };
            match woken {
                Woken::Commit(Ok(change)) if change.seq <= self.last => {
                    // Already published from the log: a read woken by another node or by the timer saw
                    // this process's commit before its bell did. Announce it all the same, or no other
                    // node hears of it before its own poll.
                    self.announce(self.last);
                }
                Woken::Commit(Ok(change)) => {
                    if change.seq > self.last + 1 {
                        // A gap: seqs may be missing from the bell (see the module docs) or never
                        // committed; the log says which.
                        let read = self.catch_up(&bayeux, Some(change.seq - 1)).await;
                        if read != Read::Complete {
                            // Publishing this change now would skip the missing ones for good: leave it
                            // to the next read of the log, which has it.
                            rearm(poll.as_mut(), read, every);
                            continue;
                        }
                    }
                    self.publish(&bayeux, &change);
                    self.announce(change.seq);
                }
                Woken::Commit(Err(RecvError::Lagged(missed))) => {
                    tracing::debug!(missed, "event feed lagged; catching up from the log");
                    let read = self.catch_up(&bayeux, None).await;
                    rearm(poll.as_mut(), read, every);
                    // Some of what the bell dropped was this process's: tell the others.
                    self.announce(self.last);
                }
                // The follower holds the bell, so its sender cannot go away first.
                Woken::Commit(Err(RecvError::Closed)) => break,
                Woken::Heard(seq) => {
                    // Our own announcements come back too, and duplicates: only a seq past the last
                    // published one is worth a read.
                    if seq > self.last {
                        let read = self.catch_up(&bayeux, None).await;
                        rearm(poll.as_mut(), read, every);
                    }
                }
                Woken::Poll => {
                    let read = self.catch_up(&bayeux, None).await;
                    rearm(poll.as_mut(), read, every);
                }
                Woken::Prune => {
                    if let Some(retention) = &retention
                        && let Err(error) = self.store.prune_events(retention).await
                    {
                        tracing::warn!(%error, "pruning the event log failed");
                    }
                }
            }
        }
    }

    /// Publishes from the log every change after `last`, up to `until` (or the end of the log).
    async fn catch_up(&mut self, bayeux: &bayeux::Server, until: Option<i64>) -> Read {
        for _ in 0..MAX_PAGES {
            let changes = match self.store.events_after_any(self.last, PAGE).await {
                Ok(changes) => changes,
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
            let full = changes.len() >= PAGE as usize;
            for change in &changes {
                if until.is_some_and(|until| change.seq > until) {
                    return Read::Complete;
                }
                self.publish(bayeux, change);
            }
            if !full {
                return Read::Complete;
            }
        }
        Read::Partial
    }

    fn publish(&mut self, bayeux: &bayeux::Server, change: &Change) {
        self.last = change.seq;
        if let Err(error) = bayeux.publish_at(&change.channel, change.seq, change.data()) {
            tracing::warn!(%error, channel = %change.channel, seq = change.seq, "cannot publish a change");
        }
        // One look at the index for both filtered and record subscribers; nothing more when there are none.
        let (below, filtered) = bayeux.beyond(&change.channel);
        if !filtered.is_empty() {
            self.publish_filtered(bayeux, change, &filtered);
        }
        // The record channel, matched exactly: built only when someone listens below the collection.
        if below
            && let Some(record) = self.record_channel(change)
            && bayeux.has_exact_subscribers(&record)
            && let Err(error) = bayeux.publish_exact_at(&record, change.seq, change.data())
        {
            tracing::warn!(%error, channel = %record, seq = change.seq, "cannot publish a change");
        }
    }

    /// Publishes `change` to the filtered subscriptions `keys` of its channel: each distinct filter judged
    /// once on the rows before and after, and each distinct `data` (as is, entering, leaving) serialized
    /// once whatever the number of filters (docs/live.md, "Filtered subscriptions").
    fn publish_filtered(&mut self, bayeux: &bayeux::Server, change: &Change, keys: &[Arc<str>]) {
        let parse = |raw: &RawValue| serde_json::from_str::<Map<String, Json>>(raw.get()).ok();
        let before = change.row_before().and_then(parse);
        let after = change.row_after().and_then(parse);
        let mut frames: [Option<Event>; 3] = [None, None, None];
        for key in keys {
            let Some(view) = self.view(key) else { continue };
            let slot = match view.judge(before.as_ref(), after.as_ref()) {
                Verdict::AsIs => 0,
                Verdict::Enter => 1,
                Verdict::Leave => 2,
                Verdict::Skip => continue,
            };
            if frames[slot].is_none() {
                let data = match slot {
                    0 => change.data(),
                    1 => change.data_entering(),
                    _ => change.data_leaving(),
                };
                match Event::new(&change.channel, &data) {
                    Ok(event) => frames[slot] = Some(event),
                    Err(error) => {
                        tracing::warn!(%error, channel = %change.channel, "cannot serialize a filtered event");
                        continue;
                    }
                }
            }
            if let Some(event) = &frames[slot] {
                bayeux.publish_filtered_at(key, event, change.seq);
            }
        }
    }

    /// The compiled filter of the filtered subscription `key`.
    fn view(&mut self, key: &Arc<str>) -> Option<Arc<View>> {
        if let Some(view) = self.views.get(key) {
            return view.clone();
        }
        if self.views.len() >= MAX_VIEWS {
            self.views.clear();
        }
        let view = compile_key(&self.resources, key).ok().map(Arc::new);
        self.views.insert(Arc::clone(key), view.clone());
        view
    }

    /// The record channel of a change (`/api/rooms/7/messages/42`).
    fn record_channel(&self, change: &Change) -> Option<String> {
        let (descriptor, _, _) = partition::resolve(self.resources.iter().copied(), &change.channel, false)?;
        let id = partition::record_segment(descriptor, &change.body)?;
        Some(format!("{}/{id}", change.channel))
    }

    /// Tells the other nodes, if any, that the log reaches `seq`.
    fn announce(&self, seq: i64) {
        if let Some(link) = &self.link {
            link.announce(seq);
        }
    }
}

/// The filter of a filtered subscription key (`channel?filter`), compiled for the resource whose
/// partition the channel is; the error says why it cannot be one.
pub(crate) fn compile_key(resources: &[&'static Descriptor], key: &str) -> Result<View, String> {
    let (channel, filter) = key.split_once('?').unwrap_or((key, ""));
    compile_filter(resources.iter().copied(), channel, filter)
}

/// `filter` compiled for the resource whose partition (or flat collection) `channel` is.
pub(crate) fn compile_filter<I>(resources: I, channel: &str, filter: &str) -> Result<View, String>
where
    I: IntoIterator<Item = &'static Descriptor> + Clone,
{
    let Some((descriptor, _, _)) = partition::resolve(resources, channel, false) else {
        return Err("where applies to a resource's collection channel only".to_owned());
    };
    View::compile(descriptor, filter)
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
