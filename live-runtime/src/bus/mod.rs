//! The bus: how the nodes of one service tell each other that the event log grew (docs/deployment.md).
//!
//! N processes on one database behave as one service when each of them publishes every committed
//! event to its own Bayeux sessions. Each node's feed (feed.rs) tails the shared event log in seq
//! order; the bus only rings its bell sooner. A wake-up carries the seq a node just committed, as
//! decimal text, and nothing else: the receiving feed reads the log after the last seq it published
//! ([`Store::events_after_any`]). So a wake-up that is lost, duplicated, delayed or garbled, or a
//! bus that restarts, only delays an event: it can never lose, double or reorder one. The feed also
//! reads the log on a timer when nothing woke it, which bounds the delay a lost wake-up causes.
//!
//! The engines, chosen by URL ([`Bus::parse`]):
//!
//! | URL | engine |
//! | --- | --- |
//! | `inprocess` (the default) | none: the feed follows this process's commits in memory |
//! | `postgres` | `LISTEN`/`NOTIFY` on the store's own PostgreSQL database |
//! | `redis://host:6379` | Redis pub/sub (feature `redis`) |
//! | `nats://host:4222` | NATS core publish/subscribe (feature `nats`) |
//!
//! Every engine publishes and listens on one topic (`live_events` unless [`Bus::topic`] says
//! otherwise): a channel for `NOTIFY` and Redis, a subject for NATS. Services that share a broker
//! should each take their own topic; wake-ups from another service are harmless (a read of the log
//! that finds nothing) but useless.
//!
//! Failures: the first connection is made at start-up, so a wrong URL or an unreachable broker is
//! a start-up error. Later, a connection that drops is re-established by the engine's task with a
//! backoff (100 ms doubling to 5 s), with a warning in the log; while it is down the feed keeps
//! delivering from its timer, and once it is back the feed reads the log at once, for whatever was
//! committed meanwhile. Wake-ups a node could not send are sent when its connection is back.
//!
//! This module knows the store only to reach its PostgreSQL pool; it knows nothing of Bayeux.

mod nats;
mod postgres;
mod redis;

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

use crate::store::{Backend, Store};

/// The topic wake-ups travel on unless [`Bus::topic`] names another.
pub const DEFAULT_TOPIC: &str = "live_events";

/// The longest a topic may be: PostgreSQL truncates channel names past 63 bytes.
const MAX_TOPIC_LEN: usize = 63;

/// The first wait before reconnecting a dropped bus connection; it doubles on each failure.
const BACKOFF_FIRST: Duration = Duration::from_millis(100);
/// The longest wait between two reconnection attempts.
const BACKOFF_MAX: Duration = Duration::from_secs(5);
/// How long one connection attempt (or one publish) may take before it counts as failed.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How the nodes of a service tell each other about commits: chosen by URL, given to
/// [`LiveBuilder::bus`](crate::LiveBuilder::bus).
///
/// ```
/// use live_runtime::bus::Bus;
///
/// let bus: Bus = "redis://127.0.0.1:6379".parse()?;
/// assert_eq!(bus.to_string(), "redis://127.0.0.1:6379");
/// assert_eq!(bus.topic_name(), "live_events");
/// let bus = Bus::parse("nats://127.0.0.1:4222")?.topic("orders")?;
/// assert_eq!(bus.topic_name(), "orders");
/// assert!(Bus::parse("postgres")?.is_postgres());
/// assert!(Bus::parse("kafka://broker").is_err());
/// # Ok::<(), live_runtime::bus::BusError>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Bus {
    engine: Engine,
    topic: String,
}

#[derive(Clone, PartialEq, Eq)]
enum Engine {
    InProcess,
    Postgres,
    Redis(String),
    Nats(String),
}

impl Default for Bus {
    fn default() -> Self {
        Bus::in_process()
    }
}

impl Bus {
    /// No bus: the feed follows this process's own commits in memory (and reads the log on its timer,
    /// so writes of other processes on the same database still arrive, late).
    pub fn in_process() -> Bus {
        Bus { engine: Engine::InProcess, topic: DEFAULT_TOPIC.to_owned() }
    }

    /// `LISTEN`/`NOTIFY` on the store's own PostgreSQL database (refused on SQLite).
    pub fn postgres() -> Bus {
        Bus { engine: Engine::Postgres, topic: DEFAULT_TOPIC.to_owned() }
    }

    /// The bus named by `url`:
    ///
    /// - empty, `inprocess` or `in-process`: [`Bus::in_process`];
    /// - `postgres` (or `postgresql`): [`Bus::postgres`], on the store's database; a full
    ///   `postgres://` URL is refused, since the wake-ups must come from the database that holds
    ///   the log;
    /// - `redis://...` (or `rediss://...`, which needs TLS support compiled into `redis`);
    /// - `nats://...` (several servers separated by commas).
    ///
    /// Anything else is [`BusError::Url`]; an engine whose feature is off is
    /// [`BusError::NotCompiled`].
    pub fn parse(url: &str) -> Result<Bus, BusError> {
        let trimmed = url.trim();
        let lower = trimmed.to_ascii_lowercase();
        let engine = match lower.as_str() {
            "" | "inprocess" | "in-process" => Engine::InProcess,
            "postgres" | "postgresql" | "postgres:" | "postgresql:" => Engine::Postgres,
            _ if lower.starts_with("postgres://") || lower.starts_with("postgresql://") => {
                return Err(BusError::Url {
                    url: redact(trimmed),
                    reason: "the postgres bus uses the store's own database: write `postgres`, not a URL".to_owned(),
                });
            }
            _ if lower.starts_with("redis://") || lower.starts_with("rediss://") => {
                if cfg!(feature = "redis") {
                    Engine::Redis(trimmed.to_owned())
                } else {
                    return Err(BusError::NotCompiled { engine: "redis", feature: "redis" });
                }
            }
            _ if lower.starts_with("nats://") => {
                if cfg!(feature = "nats") {
                    Engine::Nats(trimmed.to_owned())
                } else {
                    return Err(BusError::NotCompiled { engine: "nats", feature: "nats" });
                }
            }
            _ => {
                return Err(BusError::Url {
                    url: redact(trimmed),
                    reason: "expected `inprocess`, `postgres`, `redis://HOST:PORT` or `nats://HOST:PORT`".to_owned(),
                });
            }
        };
        Ok(Bus { engine, topic: DEFAULT_TOPIC.to_owned() })
    }

    /// The same bus on another topic: 1 to 63 ASCII letters, digits and `_` (a name every engine
    /// carries unchanged).
    pub fn topic(mut self, topic: &str) -> Result<Bus, BusError> {
        let valid = !topic.is_empty()
            && topic.len() <= MAX_TOPIC_LEN
            && topic.bytes().all(|byte| byte.is_ascii_alphanumeric() || byte == b'_');
        if !valid {
            return Err(BusError::Topic(topic.to_owned()));
        }
        self.topic = topic.to_owned();
        Ok(self)
    }

    /// The topic wake-ups travel on.
    pub fn topic_name(&self) -> &str {
        &self.topic
    }

    /// Whether this is the in-process default (no engine between nodes).
    pub fn is_in_process(&self) -> bool {
        self.engine == Engine::InProcess
    }

    /// Whether this is PostgreSQL `LISTEN`/`NOTIFY`.
    pub fn is_postgres(&self) -> bool {
        self.engine == Engine::Postgres
    }
}

impl FromStr for Bus {
    type Err = BusError;

    fn from_str(url: &str) -> Result<Bus, BusError> {
        Bus::parse(url)
    }
}

/// The URL, with any password hidden.
impl fmt::Display for Bus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.engine {
            Engine::InProcess => f.write_str("inprocess"),
            Engine::Postgres => f.write_str("postgres"),
            Engine::Redis(url) | Engine::Nats(url) => f.write_str(&redact(url)),
        }
    }
}

impl fmt::Debug for Bus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bus").field("url", &self.to_string()).field("topic", &self.topic).finish()
    }
}

/// `url` with the user information of each server hidden (`redis://:secret@host` shows as
/// `redis://***@host`), for logs and errors.
fn redact(url: &str) -> String {
    url.split(',')
        .map(|server| match server.split_once("://") {
            Some((scheme, rest)) => {
                let authority_end = rest.find('/').unwrap_or(rest.len());
                match rest[..authority_end].rfind('@') {
                    Some(at) => format!("{scheme}://***{}", &rest[at..]),
                    None => server.to_owned(),
                }
            }
            None => server.to_owned(),
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// What [`LiveBuilder::bus`](crate::LiveBuilder::bus) accepts: a [`Bus`], or a URL that is parsed
/// then (a bad one fails the builder's `connect`/`store`).
pub trait IntoBus {
    /// The bus, or why there is none.
    fn into_bus(self) -> Result<Bus, BusError>;
}

impl IntoBus for Bus {
    fn into_bus(self) -> Result<Bus, BusError> {
        Ok(self)
    }
}

impl IntoBus for &str {
    fn into_bus(self) -> Result<Bus, BusError> {
        Bus::parse(self)
    }
}

impl IntoBus for String {
    fn into_bus(self) -> Result<Bus, BusError> {
        Bus::parse(&self)
    }
}

impl IntoBus for &String {
    fn into_bus(self) -> Result<Bus, BusError> {
        Bus::parse(self)
    }
}

impl IntoBus for Result<Bus, BusError> {
    fn into_bus(self) -> Result<Bus, BusError> {
        self
    }
}

/// Why a bus could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BusError {
    /// The URL names no bus this crate knows.
    #[error("bus URL `{url}`: {reason}")]
    Url {
        /// The URL, its password hidden.
        url: String,
        /// What was expected.
        reason: String,
    },
    /// The URL names an engine whose cargo feature is off in this build.
    #[error("the {engine} bus is not compiled in: enable the `{feature}` feature of live-runtime")]
    NotCompiled {
        /// The engine.
        engine: &'static str,
        /// The feature that brings it.
        feature: &'static str,
    },
    /// The topic is not 1 to 63 ASCII letters, digits and `_`.
    #[error("bus topic `{0}`: expected 1 to 63 ASCII letters, digits or `_`")]
    Topic(String),
    /// The postgres bus was asked for on a store that is not PostgreSQL.
    #[error(
        "the postgres bus listens on the store's PostgreSQL database, but the store is SQLite: \
         use a redis:// or nats:// bus, or none"
    )]
    NeedsPostgres,
    /// The bus could not be reached at start-up.
    #[error("cannot connect to the bus {bus}: {detail}")]
    Connect {
        /// The bus URL, its password hidden.
        bus: String,
        /// What went wrong.
        detail: String,
    },
}

impl BusError {
    fn connect(bus: &Bus, detail: impl fmt::Display) -> BusError {
        BusError::Connect { bus: bus.to_string(), detail: detail.to_string() }
    }
}

/// What the engines tell the feed: the highest seq heard of since the feed last looked, and a
/// bell. [`Wake::WHATEVER`] asks for a read of the log without naming a seq (a garbled payload,
/// a reconnection after which anything may have been missed).
#[derive(Debug, Default)]
pub(crate) struct Wake {
    heard: AtomicI64,
    bell: Notify,
}

impl Wake {
    /// A seq above every real one: "read the log, whatever you published last".
    pub(crate) const WHATEVER: i64 = i64::MAX;

    /// Tells the feed that the log reaches at least `seq`.
    pub(crate) fn ring(&self, seq: i64) {
        self.heard.fetch_max(seq, Ordering::AcqRel);
        // A permit is stored when the feed is not waiting, so a ring is never lost between two
        // waits; rings before the feed looks again merge into one.
        self.bell.notify_one();
    }

    /// Tells the feed that the log may have grown by any amount.
    pub(crate) fn ring_whatever(&self) {
        self.ring(Wake::WHATEVER);
    }

    /// Waits for a ring, and returns the highest seq heard of since the last call.
    pub(crate) async fn heard(&self) -> i64 {
        self.bell.notified().await;
        self.heard.swap(0, Ordering::AcqRel)
    }

    /// The seq a wake-up payload names; anything that is not one asks for a read all the same.
    pub(crate) fn ring_payload(&self, payload: &[u8]) {
        let seq = std::str::from_utf8(payload).ok().and_then(|text| text.trim().parse::<i64>().ok());
        self.ring(seq.unwrap_or(Wake::WHATEVER));
    }
}

/// A running bus: the engine's tasks, the wake-ups heard from other nodes, and the seqs this
/// node has to announce. Dropping it stops the tasks.
#[derive(Debug)]
pub(crate) struct Link {
    wake: Arc<Wake>,
    announce: watch::Sender<i64>,
    tasks: Vec<JoinHandle<()>>,
}

impl Link {
    /// What other nodes rang.
    pub(crate) fn wake(&self) -> Arc<Wake> {
        self.wake.clone()
    }

    /// Tells the other nodes that this one committed up to `seq`. Never waits: the engine's
    /// publisher sends the latest value when it is free, so a burst of commits costs one
    /// wake-up per round trip to the broker, not one per commit.
    pub(crate) fn announce(&self, seq: i64) {
        // Keeps the highest seq: a smaller one announced later must not hide a larger one still unsent.
        self.announce.send_if_modified(|pending| {
            if seq > *pending {
                *pending = seq;
                true
            } else {
                false
            }
        });
    }

    /// Stops the engine's tasks (idempotent).
    pub(crate) fn stop(&self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The pieces an engine's tasks share with the [`Link`].
pub(crate) struct Parts {
    /// Where heard wake-ups go.
    pub(crate) wake: Arc<Wake>,
    /// The seqs to announce; `changed()` fires on each new one.
    pub(crate) announce: watch::Receiver<i64>,
}

/// Connects `bus` for `store` (the first connection is made here, so a bad URL or an unreachable
/// broker fails now) and starts its tasks. `None` for the in-process bus, which needs nothing.
pub(crate) async fn start(bus: &Bus, store: &Store) -> Result<Option<Link>, BusError> {
    let wake = Arc::new(Wake::default());
    let (announce, announced) = watch::channel(0);
    let parts = Parts { wake: wake.clone(), announce: announced };
    let tasks = match &bus.engine {
        Engine::InProcess => return Ok(None),
        Engine::Postgres => {
            if store.backend() != Backend::Postgres {
                return Err(BusError::NeedsPostgres);
            }
            let pool = store.postgres_pool().ok_or(BusError::NeedsPostgres)?;
            postgres::start(bus, pool, parts).await?
        }
        Engine::Redis(url) => redis::start(bus, url, parts).await?,
        Engine::Nats(url) => nats::start(bus, url, parts).await?,
    };
    tracing::info!(bus = %bus, topic = %bus.topic, "bus connected");
    Ok(Some(Link { wake, announce, tasks }))
}

/// The wait before reconnection attempt `attempt` (0 for the first): 100 ms doubling to 5 s.
pub(crate) fn backoff(attempt: u32) -> Duration {
    BACKOFF_FIRST.saturating_mul(2u32.saturating_pow(attempt.min(16))).min(BACKOFF_MAX)
}

/// Runs `future` for at most [`CONNECT_TIMEOUT`].
pub(crate) async fn timed<T, E: fmt::Display>(future: impl Future<Output = Result<T, E>>) -> Result<T, String> {
    match tokio::time::timeout(CONNECT_TIMEOUT, future).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) => Err(error.to_string()),
        Err(_) => Err(format!("no answer within {CONNECT_TIMEOUT:?}")),
    }
}

/// How an engine sends one wake-up.
pub(crate) trait Publisher: Send + 'static {
    /// Sends `seq` on the bus's topic.
    fn send(&mut self, seq: i64) -> impl Future<Output = Result<(), String>> + Send;
}

/// Sends announced seqs with `publisher` until the link stops: the latest one each time, retried
/// with a backoff while sending fails (so wake-ups pending during an outage go out when it ends).
/// The first failure of an outage is a warning, its end an info line.
pub(crate) async fn announce_loop(bus: String, mut announced: watch::Receiver<i64>, mut publisher: impl Publisher) {
    let mut failures: u32 = 0;
    loop {
        if failures == 0 && announced.changed().await.is_err() {
            return;
        }
        let seq = *announced.borrow_and_update();
        match publisher.send(seq).await {
            Ok(()) => {
                if failures > 0 {
                    tracing::info!(%bus, "the bus takes wake-ups again");
                }
                failures = 0;
            }
            Err(error) => {
                if failures == 0 {
                    tracing::warn!(%bus, %error, "cannot send a wake-up on the bus; retrying (other nodes poll the log meanwhile)");
                } else {
                    tracing::debug!(%bus, %error, "the bus still refuses wake-ups");
                }
                tokio::time::sleep(backoff(failures)).await;
                failures = failures.saturating_add(1);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_their_engine() {
        assert!(Bus::parse("").expect("empty").is_in_process());
        assert!(Bus::parse("inprocess").expect("inprocess").is_in_process());
        assert!(Bus::parse(" In-Process ").expect("in-process").is_in_process());
        assert!(Bus::parse("postgres").expect("postgres").is_postgres());
        assert!(Bus::parse("PostgreSQL").expect("postgresql").is_postgres());
        let error = Bus::parse("postgres://db/other").expect_err("a separate database");
        assert!(error.to_string().contains("write `postgres`"), "{error}");
        let error = Bus::parse("amqp://user:secret@broker/").expect_err("unknown");
        assert!(error.to_string().contains("amqp://***@broker/"), "{error}");
        assert!(!error.to_string().contains("secret"), "{error}");
    }

    #[cfg(all(feature = "redis", feature = "nats"))]
    #[test]
    fn urls_of_brokers_are_kept_and_shown_without_passwords() {
        let bus = Bus::parse("redis://:secret@127.0.0.1:6379/0").expect("redis");
        assert_eq!(bus.to_string(), "redis://***@127.0.0.1:6379/0");
        assert!(!format!("{bus:?}").contains("secret"));
        let bus = Bus::parse("nats://a:1@h1:4222,nats://h2:4222").expect("nats");
        assert_eq!(bus.to_string(), "nats://***@h1:4222,nats://h2:4222");
    }

    #[test]
    fn topics_are_names_every_engine_carries() {
        let bus = Bus::postgres().topic("orders_2").expect("a plain name");
        assert_eq!(bus.topic_name(), "orders_2");
        for bad in ["", "a b", "a.b", "ü", "x;NOTIFY", &"t".repeat(64)] {
            assert!(matches!(Bus::postgres().topic(bad), Err(BusError::Topic(_))), "{bad:?}");
        }
    }

    #[test]
    fn backoff_doubles_up_to_its_cap() {
        assert_eq!(backoff(0), Duration::from_millis(100));
        assert_eq!(backoff(1), Duration::from_millis(200));
        assert_eq!(backoff(5), Duration::from_millis(3200));
        assert_eq!(backoff(6), BACKOFF_MAX);
        assert_eq!(backoff(u32::MAX), BACKOFF_MAX);
    }

    #[tokio::test]
    async fn rings_merge_into_the_highest_seq_and_are_not_lost_between_waits() {
        let wake = Wake::default();
        wake.ring(3);
        wake.ring(7);
        wake.ring(5);
        assert_eq!(wake.heard().await, 7);
        wake.ring_payload(b"12");
        assert_eq!(wake.heard().await, 12);
        wake.ring_payload(b"not a seq");
        assert_eq!(wake.heard().await, Wake::WHATEVER);
        // Nothing rang since: the next wait does not finish.
        let waited = tokio::time::timeout(Duration::from_millis(20), wake.heard()).await;
        assert!(waited.is_err(), "a wait without a ring returned {waited:?}");
    }
}
