//! The engine: handshake, connect, subscribe, unsubscribe, disconnect and publish, independent of any
//! transport. Transports hand it parsed batches and get back replies plus, for a connect, what to wait on.
//!
//! Routing: subscriptions live in one index from channel name or pattern to the sessions subscribed, so a
//! publish looks up the handful of keys that can cover its channel (`/a/b`, `/a/*`, `/a/**`, `/**`) instead
//! of scanning sessions, and each session is reached once even when several of its subscriptions match
//! (bayeux.md a.3). Each event is serialized once per publish and the bytes are shared by every queue.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard, Weak};
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;
use tokio::time::Instant;

use super::advice::Advice;
use super::channel::{self, Kind, MetaChannel};
use super::error::Error;
use super::history::{Catchup, Caught};
use super::message::{self, Event, Message, Request};
use super::session::{ClientId, Push, Session};
use super::{Context, Options};

/// Why a server-side publish was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PublishError {
    /// The channel is malformed or a wildcard pattern.
    #[error("`{0}` is not a channel name events can be published on")]
    InvalidChannel(String),
    /// The channel is under `/meta`, which carries only protocol messages.
    #[error("`{0}` is reserved for the protocol")]
    Reserved(String),
    /// The data could not be serialized, or the given JSON text is not JSON.
    #[error("event data is not valid JSON: {0}")]
    Data(#[from] serde_json::Error),
}

/// The Bayeux server. Cheap to clone: all clones share one engine.
#[derive(Clone)]
pub struct Server {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("options", &self.inner.options)
            .field("sessions", &self.session_count())
            .finish_non_exhaustive()
    }
}

/// Sessions subscribed to one name or pattern, by session key.
type Subscribers = HashMap<u64, Arc<Session>>;

struct Inner {
    options: Options,
    supported: Vec<String>,
    sessions: RwLock<HashMap<Arc<str>, Arc<Session>>>,
    index: RwLock<HashMap<Arc<str>, Subscribers>>,
    next_key: AtomicU64,
    sweeper_started: AtomicBool,
}

/// A validated connect, for the transport to hold.
#[derive(Debug)]
pub(crate) struct PendingConnect {
    /// The successful reply, sent when the hold ends (outgoing extensions not yet applied).
    pub(crate) reply: Message,
    pub(crate) session: Arc<Session>,
    /// How long to hold: zero for the first connect of a session and for a client's `advice.timeout: 0`.
    pub(crate) hold: Duration,
}

/// The result of processing one batch.
#[derive(Debug, Default)]
pub(crate) struct Outcome {
    /// Replies in completion order, outgoing extensions applied. A connect's reply is not among them.
    pub(crate) replies: Vec<Message>,
    /// The batch's connect, if it had a valid one.
    pub(crate) connect: Option<PendingConnect>,
    /// Sessions disconnected by this batch (a WebSocket bound to one of them closes).
    pub(crate) disconnected: Vec<ClientId>,
}

fn read<T>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn write<T>(lock: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

impl Server {
    /// A server with `options`.
    pub fn new(options: Options) -> Self {
        // Only what is enabled is listed: the client picks from this list (bayeux.md a.13, b.3).
        let supported = options.connection_types();
        let inner = Inner {
            options,
            supported,
            sessions: RwLock::default(),
            index: RwLock::default(),
            next_key: AtomicU64::new(1),
            sweeper_started: AtomicBool::new(false),
        };
        Self { inner: Arc::new(inner) }
    }

    /// The options the server runs with.
    pub fn options(&self) -> &Options {
        &self.inner.options
    }

    /// How many sessions are alive.
    pub fn session_count(&self) -> usize {
        read(&self.inner.sessions).len()
    }

    /// Whether `client_id` names a live session.
    pub fn has_session(&self, client_id: &str) -> bool {
        read(&self.inner.sessions).contains_key(client_id)
    }

    /// Whether a held connect or a bound WebSocket is waiting to deliver to `client_id` right now.
    pub fn is_listening(&self, client_id: &str) -> bool {
        read(&self.inner.sessions).get(client_id).is_some_and(|session| session.is_attached())
    }

    /// Ends every session, as a restart would but without losing the process: held connects are answered
    /// with a 401 and handshake advice, as is each client's next message, after which the client handshakes
    /// and subscribes again (bayeux.md a.15). For drills, tests and shutdown.
    pub fn close_all(&self) {
        let sessions: Vec<Arc<Session>> = read(&self.inner.sessions).values().cloned().collect();
        for session in sessions {
            self.destroy(&session, false);
        }
    }

    /// Publishes `data` on `channel` to every subscribed session (exact name, `/*` or `/**`), once per
    /// session, as `{channel, data}`. Returns how many sessions it was queued for. A `/service` channel
    /// reaches no remote client and returns 0.
    pub fn publish(&self, channel: &str, data: Value) -> Result<usize, PublishError> {
        self.publish_serialize(channel, &data)
    }

    /// Like [`Server::publish`] for any serializable value, serialized straight into the shared event
    /// without building a `serde_json::Value`.
    pub fn publish_serialize<T: Serialize + ?Sized>(&self, channel: &str, data: &T) -> Result<usize, PublishError> {
        self.check_server_channel(channel)?;
        if channel::is_service(channel) {
            return Ok(0);
        }
        Ok(self.route(channel, &Event::new(channel, data)?, None))
    }

    /// Like [`Server::publish_serialize`] for an event at stream position `seq`, which lets subscriptions
    /// that resumed or took a snapshot skip what their catch-up already covered (see [`history`]). The
    /// events of one channel must be published in seq order.
    ///
    /// [`history`]: super::history
    pub fn publish_serialize_seq<T: Serialize + ?Sized>(
        &self,
        channel: &str,
        seq: i64,
        data: &T,
    ) -> Result<usize, PublishError> {
        self.check_server_channel(channel)?;
        if channel::is_service(channel) {
            return Ok(0);
        }
        Ok(self.route(channel, &Event::new(channel, data)?, Some(seq)))
    }

    /// Like [`Server::publish_json`] for an event at stream position `seq` (see
    /// [`Server::publish_serialize_seq`]).
    pub fn publish_json_seq(&self, channel: &str, seq: i64, json: &str) -> Result<usize, PublishError> {
        self.check_server_channel(channel)?;
        serde_json::from_str::<serde::de::IgnoredAny>(json)?;
        if channel::is_service(channel) {
            return Ok(0);
        }
        Ok(self.route(channel, &Event::from_json(channel, json)?, Some(seq)))
    }

    /// Like [`Server::publish`] for data already serialized as JSON text, which is checked, not re-encoded.
    pub fn publish_json(&self, channel: &str, json: &str) -> Result<usize, PublishError> {
        self.check_server_channel(channel)?;
        serde_json::from_str::<serde::de::IgnoredAny>(json)?;
        if channel::is_service(channel) {
            return Ok(0);
        }
        Ok(self.route(channel, &Event::from_json(channel, json)?, None))
    }

    fn check_server_channel(&self, name: &str) -> Result<(), PublishError> {
        if channel::is_meta(name) {
            return Err(PublishError::Reserved(name.to_owned()));
        }
        match channel::parse(name) {
            Ok(Kind::Name) => Ok(()),
            _ => Err(PublishError::InvalidChannel(name.to_owned())),
        }
    }

    /// Queues `event` (at stream position `seq`, if it has one) for every session whose subscriptions
    /// cover `name`, each once.
    fn route(&self, name: &str, event: &Event, seq: Option<i64>) -> usize {
        let limit = self.inner.options.queue_limit;
        let mut queued = 0;
        let mut overflowed = Vec::new();
        {
            let index = read(&self.inner.index);
            let mut groups: Vec<&Subscribers> = Vec::new();
            channel::for_each_key(name, |key| groups.extend(index.get(key)));
            let fence = seq.map(|seq| (name, seq));
            let mut deliver = |session: &Arc<Session>| match session.push_seq(event, fence, limit) {
                Push::Queued => queued += 1,
                Push::Overflow => overflowed.push(Arc::clone(session)),
                Push::Closed | Push::Covered => {}
            };
            // Pushing may write to WebSocket subscribers in place; tokio's per-task I/O budget (128 operations)
            // must not turn the rest of a large fan-out into queued events.
            without_io_budget(|| {
                if let [only] = groups.as_slice() {
                    only.values().for_each(&mut deliver);
                } else {
                    // Several keys matched: a session subscribed to `/a/b` and `/a/**` gets the event once.
                    let mut seen = HashSet::new();
                    for group in groups {
                        group.iter().filter(|(key, _)| seen.insert(**key)).for_each(|(_, s)| deliver(s));
                    }
                }
            });
        }
        for session in overflowed {
            tracing::debug!(client_id = %session.id, "bayeux queue full, dropping session");
            self.destroy(&session, false);
        }
        queued
    }

    /// Processes one batch of raw messages, in order. Handles everything but the waiting part of a connect.
    pub(crate) async fn process(&self, values: Vec<Value>, context: &Context) -> Outcome {
        let mut outcome = Outcome::default();
        if values.len() > self.inner.options.max_batch {
            outcome.replies.push(Message::default().fail(&Error::BadRequest("Too many messages")));
            return outcome;
        }
        for value in values {
            let message = match message::read_message(value) {
                Ok(message) => message,
                Err(reply) => {
                    outcome.replies.push(*reply);
                    continue;
                }
            };
            self.process_one(message, context, &mut outcome).await;
        }
        if !self.inner.options.extensions.is_empty() {
            for reply in &mut outcome.replies {
                self.outgoing(reply, context).await;
            }
        }
        outcome
    }

    async fn process_one(&self, mut message: Message, context: &Context, outcome: &mut Outcome) {
        for extension in &self.inner.options.extensions {
            if let Err(error) = extension.incoming(&mut message, context).await {
                let mut reply = self.failure(message.reply(), &error);
                let channel = message.channel.as_deref().and_then(MetaChannel::from_name);
                if matches!(channel, Some(MetaChannel::Subscribe | MetaChannel::Unsubscribe)) {
                    // Bayeux §3.4/§3.5: a subscribe or unsubscribe reply names its subscription, refused or not.
                    reply.subscription = message.subscription.clone();
                }
                if matches!(channel, Some(MetaChannel::Handshake | MetaChannel::Connect)) && reply.advice.is_none() {
                    // A refused handshake with faye's bare `handshake` advice retries ~80 times a second
                    // (pitfall 7); the interval slows it. An outgoing hook may advise `none` instead.
                    reply.advice = Some(Advice::handshake(millis(self.inner.options.unknown_client_interval)));
                }
                outcome.replies.push(reply);
                return;
            }
        }
        let request = match Request::classify(&message) {
            Ok(request) => request,
            Err(error) => {
                outcome.replies.push(self.failure(message.reply(), &error));
                return;
            }
        };
        let reply = match request {
            Request::Handshake => self.handshake(&message),
            Request::Connect => match self.connect(&message) {
                // The EventSource stream delivers; its client's connect is only a heartbeat, answered at once
                // without taking the stream's place as the session's consumer (bayeux.md a.12.5).
                Ok(pending) if is_eventsource(&message) => pending.reply,
                Ok(pending) => {
                    // One outstanding connect per client (bayeux.md b.4): an earlier connect in the same
                    // batch is answered at once.
                    if let Some(earlier) = outcome.connect.replace(pending) {
                        outcome.replies.push(earlier.reply);
                    }
                    return;
                }
                Err(reply) => *reply,
            },
            Request::Subscribe => match catchup(&message) {
                Ok(None) => self.subscribe(&message),
                Ok(Some(catchup)) => self.subscribe_catching_up(&message, catchup, context).await,
                Err(error) => {
                    let mut reply = message.reply();
                    reply.subscription = message.subscription.clone();
                    reply.fail(&error)
                }
            },
            Request::Unsubscribe => self.unsubscribe(&message),
            Request::Disconnect => {
                let reply = self.disconnect(&message);
                if reply.successful == Some(true) {
                    outcome.disconnected.extend(message.client_id.as_deref().map(ClientId::from));
                }
                reply
            }
            Request::Publish { service } => self.client_publish(&message, service, context),
        };
        outcome.replies.push(reply);
    }

    /// Applies outgoing extensions to a reply, turning it into a failure if one refuses it.
    pub(crate) async fn outgoing(&self, reply: &mut Message, context: &Context) {
        for extension in &self.inner.options.extensions {
            if let Err(error) = extension.outgoing(reply, context).await {
                let failed = std::mem::take(reply).fail(&error);
                *reply = failed;
                return;
            }
        }
    }

    /// The reply to a connect whose session the server ended while it was held: a 401 with handshake advice,
    /// so the client handshakes again at once instead of after its next connect.
    pub(crate) fn ended(&self, connect: &Message) -> Message {
        let id = connect.client_id.clone().unwrap_or_default();
        let mut reply = Message { id: connect.id.clone(), channel: connect.channel.clone(), ..Message::default() };
        reply.advice = Some(Advice::handshake(millis(self.inner.options.unknown_client_interval)));
        reply.fail(&Error::UnknownClient(id))
    }

    /// A failed reply; every 401 carries handshake advice (pitfall 3) and no clientId (as faye on connect).
    fn failure(&self, mut reply: Message, error: &Error) -> Message {
        if error.code() == 401 {
            reply.advice = Some(Advice::handshake(millis(self.inner.options.unknown_client_interval)));
            reply.client_id = None;
        }
        reply.fail(error)
    }

    /// The live session named `client_id`, for a transport that binds to one (EventSource).
    pub(crate) fn session_by_id(&self, client_id: &str) -> Option<Arc<Session>> {
        read(&self.inner.sessions).get(client_id).cloned()
    }

    /// The session named by the message's `clientId`.
    fn session(&self, message: &Message) -> Result<Arc<Session>, Error> {
        let id = message.client_id.as_deref().unwrap_or_default();
        read(&self.inner.sessions).get(id).cloned().ok_or_else(|| Error::UnknownClient(id.to_owned()))
    }

    fn handshake(&self, message: &Message) -> Message {
        let mut reply = message.reply();
        reply.version = Some("1.0".to_owned());
        reply.supported_connection_types = Some(self.inner.supported.clone());
        let types = match (&message.version, &message.supported_connection_types) {
            (None, _) => Err(Error::MissingParameter("version")),
            (_, None) => Err(Error::MissingParameter("supportedConnectionTypes")),
            (Some(_), Some(types)) if !types.iter().any(|t| self.inner.supported.contains(t)) => {
                Err(Error::ConnectionTypes(types.join(",")))
            }
            (Some(_), Some(_)) => Ok(()),
        };
        if let Err(error) = types {
            // faye's bare `handshake` advice makes a rejected client retry ~80 times a second (a.4).
            reply.advice = Some(Advice::handshake(millis(self.inner.options.unknown_client_interval)));
            return reply.fail(&error);
        }
        let key = self.inner.next_key.fetch_add(1, Ordering::Relaxed);
        let session = Arc::new(Session::new(key, ClientId::random()));
        reply.client_id = Some(session.id.as_str().to_owned());
        write(&self.inner.sessions).insert(session.id.as_str().into(), session);
        self.ensure_sweeper();
        reply.advice = Some(Advice::retry(millis(self.inner.options.timeout)));
        reply.succeed()
    }

    fn connect(&self, message: &Message) -> Result<PendingConnect, Box<Message>> {
        let fail = |error: Error| {
            let mut reply = self.failure(message.reply(), &error);
            // faye advises a handshake on every connect failure (bayeux.md a.5.1).
            reply.advice = Some(Advice::handshake(millis(self.inner.options.unknown_client_interval)));
            Box::new(reply)
        };
        let session = self.session(message).map_err(fail)?;
        match message.connection_type.as_deref() {
            None => return Err(fail(Error::MissingParameter("connectionType"))),
            Some(kind) if !self.inner.supported.iter().any(|s| s == kind) => {
                return Err(fail(Error::ConnectionTypes(kind.to_owned())));
            }
            Some(_) => {}
        }
        let timeout = self.inner.options.timeout;
        let before = session.connected();
        // The first connect is answered at once (CometD waits for it before anything else), and so is one
        // whose client asks for `advice.timeout: 0`; a client may shorten the hold, never lengthen it.
        let hold = match message.advice.and_then(|advice| advice.timeout) {
            _ if before == 0 => Duration::ZERO,
            Some(ms) => timeout.min(Duration::from_millis(ms)),
            None => timeout,
        };
        let mut reply = message.reply();
        reply.advice = Some(Advice::retry(millis(timeout)));
        if is_eventsource(message) {
            // faye's heartbeat advice: the next connect after `timeout`, answered at once (bayeux.md a.12.5).
            reply.advice = Some(Advice { interval: Some(millis(timeout)), timeout: Some(0), ..Advice::retry(0) });
        }
        Ok(PendingConnect { reply: reply.succeed(), session, hold })
    }

    fn subscribe(&self, message: &Message) -> Message {
        self.change_subscriptions(message, true)
    }

    /// A subscribe with `ext.since` or `ext.snapshot` (design.md §6): registers the subscription fenced,
    /// asks the [`History`](super::History) hook, then queues its replay and lifts the fence (history.rs).
    async fn subscribe_catching_up(&self, message: &Message, catchup: Catchup, context: &Context) -> Message {
        let mut reply = message.reply();
        reply.subscription = message.subscription.clone();
        let session = match self.session(message) {
            Ok(session) => session,
            Err(error) => return self.failure(reply, &error),
        };
        let name: Arc<str> = match message::subscriptions(message) {
            Ok(names) => match names.as_slice() {
                [name] => (*name).into(),
                _ => return reply.fail(&Error::custom(400, names, "since and snapshot take one channel")),
            },
            Err(error) => return reply.fail(&error),
        };
        if channel::is_meta(&name) || channel::is_service(&name) {
            return reply.fail(&Error::ForbiddenChannel(name.to_string()));
        }
        match channel::parse(&name) {
            Ok(Kind::Name) => {}
            // A pattern spans channels whose events interleave; one `since` cannot resume them all.
            Ok(Kind::One | Kind::Many) => {
                return reply.fail(&Error::custom(405, [&*name], "since and snapshot need a channel name"));
            }
            Err(_) => return reply.fail(&Error::InvalidChannel(name.to_string())),
        }
        let Some(history) = self.inner.options.history.clone() else {
            return reply.fail(&Error::custom(405, [&*name], "No history on this server"));
        };
        let added = {
            let mut index = write(&self.inner.index);
            if session.is_full(&name, self.inner.options.max_subscriptions) {
                return reply.fail(&Error::custom(403, [&*name], "Too many subscriptions"));
            }
            if !session.begin_fence(&name) {
                return reply.fail(&Error::custom(409, [&*name], "A catch-up of this channel is running"));
            }
            let added = session.add_subscription(&name);
            if added {
                index.entry(Arc::clone(&name)).or_default().insert(session.key, Arc::clone(&session));
            }
            added
        };
        let limit = self.inner.options.queue_limit;
        let caught = history.catch_up(&name, catchup, limit, context).await;
        let (replay, floor, ext) = match caught {
            Ok(Caught::Replay { events, through }) => {
                let count = events.len();
                let replay: Result<Vec<Event>, _> =
                    events.iter().map(|event| Event::from_json(&name, &event.data)).collect();
                match replay {
                    Ok(replay) => (replay, Some(through), serde_json::json!({"seq": through, "replayed": count})),
                    Err(_) => {
                        self.abandon(&session, &name, added);
                        return reply.fail(&Error::custom(500, [&*name], "Internal server error"));
                    }
                }
            }
            Ok(Caught::Reset) => (Vec::new(), None, serde_json::json!({"reset": true})),
            Ok(Caught::Snapshot { seq, rows }) => {
                (Vec::new(), Some(seq), serde_json::json!({"snapshot": {"seq": seq, "rows": rows}}))
            }
            Err(error) => {
                self.abandon(&session, &name, added);
                return reply.fail(&error);
            }
        };
        if session.end_fence(&name, replay, floor, limit) == Push::Overflow {
            tracing::debug!(client_id = %session.id, "bayeux queue full after a catch-up, dropping session");
            self.destroy(&session, false);
            return self.failure(reply, &Error::UnknownClient(session.id.to_string()));
        }
        reply.ext = Some(ext);
        reply.succeed()
    }

    /// Undoes a fenced subscribe whose catch-up failed. A subscription that existed before is kept, and
    /// the live events buffered meanwhile are delivered: they belong to it.
    fn abandon(&self, session: &Arc<Session>, name: &str, added: bool) {
        if !added {
            if session.end_fence(name, Vec::new(), None, self.inner.options.queue_limit) == Push::Overflow {
                self.destroy(session, false);
            }
            return;
        }
        let mut index = write(&self.inner.index);
        session.abort_fence(name);
        if session.remove_subscription(name) {
            remove_from_index(&mut index, name, session.key);
        }
    }

    fn unsubscribe(&self, message: &Message) -> Message {
        self.change_subscriptions(message, false)
    }

    fn change_subscriptions(&self, message: &Message, subscribe: bool) -> Message {
        let mut reply = message.reply();
        reply.subscription = message.subscription.clone();
        let session = match self.session(message) {
            Ok(session) => session,
            Err(error) => return self.failure(reply, &error),
        };
        let names = match message::subscriptions(message) {
            Ok(names) => names,
            Err(error) => {
                if matches!(error, Error::MissingParameter(_)) {
                    reply.subscription = Some(Value::Array(Vec::new()));
                }
                return reply.fail(&error);
            }
        };
        // Validate every name before changing anything, so a batch is all or nothing.
        for name in &names {
            if channel::is_meta(name) || channel::is_service(name) {
                return reply.fail(&Error::ForbiddenChannel((*name).to_owned()));
            }
            if channel::parse(name).is_err() {
                return reply.fail(&Error::InvalidChannel((*name).to_owned()));
            }
        }
        let mut index = write(&self.inner.index);
        for name in names {
            if subscribe {
                if session.is_full(name, self.inner.options.max_subscriptions) {
                    return reply.fail(&Error::custom(403, [name], "Too many subscriptions"));
                }
                let name: Arc<str> = name.into();
                // The session's own set makes a repeated subscribe a no-op: faye 1.4.3 sends one subscribe
                // per `subscribe()` call but a single unsubscribe (pitfall 12).
                if session.add_subscription(&name) {
                    index.entry(name).or_default().insert(session.key, Arc::clone(&session));
                }
            } else if session.remove_subscription(name) {
                remove_from_index(&mut index, name, session.key);
            }
        }
        reply.succeed()
    }

    fn disconnect(&self, message: &Message) -> Message {
        match self.session(message) {
            Ok(session) => {
                self.destroy(&session, true);
                message.reply().succeed()
            }
            Err(error) => self.failure(message.reply(), &error),
        }
    }

    fn client_publish(&self, message: &Message, service: bool, context: &Context) -> Message {
        let reply = message.reply();
        let name = message.channel.as_deref().unwrap_or_default();
        let known = match message.client_id {
            Some(_) => self.session(message).map(|_| ()),
            // Anonymous publishes are off by default: faye's acceptance of them is pitfall 14.
            None if self.inner.options.unconnected_publish => Ok(()),
            None => Err(Error::UnknownClient(String::new())),
        };
        if let Err(error) = known {
            return self.failure(reply, &error);
        }
        let Some(data) = &message.data else {
            return reply.fail(&Error::MissingParameter("data"));
        };
        if service {
            // Acked, delivered to no remote client (bayeux.md a.3).
            return reply.succeed();
        }
        if !self.inner.options.may_publish(name, context) {
            return reply.fail(&Error::ForbiddenChannel(name.to_owned()));
        }
        match Event::new(name, data) {
            Ok(event) => {
                self.route(name, &event, None);
                reply.succeed()
            }
            Err(_) => reply.fail(&Error::custom(500, Vec::<String>::new(), "Internal server error")),
        }
    }

    /// Removes a session and its subscriptions, and wakes whoever waits on it; `disconnected` says the
    /// client asked for it.
    pub(crate) fn destroy(&self, session: &Arc<Session>, disconnected: bool) {
        {
            let mut sessions = write(&self.inner.sessions);
            if sessions.get(session.id.as_str()).is_some_and(|s| Arc::ptr_eq(s, session)) {
                sessions.remove(session.id.as_str());
            }
        }
        let mut index = write(&self.inner.index);
        for name in session.close(disconnected) {
            remove_from_index(&mut index, &name, session.key);
        }
    }

    /// Starts the expiry sweeper once, from inside the runtime (the first handshake). The task holds only a
    /// weak reference, so it ends at its next tick after the last clone of the server is dropped.
    fn ensure_sweeper(&self) {
        if self.inner.sweeper_started.swap(true, Ordering::AcqRel) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            self.inner.sweeper_started.store(false, Ordering::Release);
            return;
        };
        let expiry = self.inner.options.expiry();
        let period = (expiry / 4).clamp(Duration::from_millis(50), Duration::from_secs(5));
        let weak: Weak<Inner> = Arc::downgrade(&self.inner);
        runtime.spawn(async move {
            let mut tick = tokio::time::interval(period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(inner) = weak.upgrade() else { break };
                Server { inner }.sweep(expiry);
            }
        });
    }

    /// Destroys sessions with no consumer that have been silent for `expiry` (faye: 2 × timeout, a.14).
    fn sweep(&self, expiry: Duration) {
        let now = Instant::now();
        let expired: Vec<Arc<Session>> =
            read(&self.inner.sessions).values().filter(|s| s.is_expired(now, expiry)).cloned().collect();
        for session in expired {
            tracing::debug!(client_id = %session.id, "bayeux session expired");
            self.destroy(&session, false);
        }
    }
}

fn is_eventsource(message: &Message) -> bool {
    message.connection_type.as_deref() == Some(super::transport::EVENTSOURCE)
}

/// What a `/meta/subscribe` asks for in `ext` beyond a plain subscription: `since` (a seq, a non-negative
/// integer) or `snapshot: true`; both at once is refused.
fn catchup(message: &Message) -> Result<Option<Catchup>, Error> {
    let Some(ext) = message.ext.as_ref().and_then(Value::as_object) else {
        return Ok(None);
    };
    let since = match ext.get("since") {
        None | Some(Value::Null) => None,
        Some(value) => match value.as_i64() {
            Some(seq) if seq >= 0 => Some(seq),
            _ => return Err(Error::custom(400, ["since"], "since must be a non-negative integer")),
        },
    };
    let snapshot = matches!(ext.get("snapshot"), Some(Value::Bool(true)));
    match (since, snapshot) {
        (Some(_), true) => Err(Error::custom(400, ["since", "snapshot"], "since and snapshot exclude each other")),
        (Some(seq), false) => Ok(Some(Catchup::Since(seq))),
        (None, true) => Ok(Some(Catchup::Snapshot)),
        (None, false) => Ok(None),
    }
}

fn remove_from_index(index: &mut HashMap<Arc<str>, Subscribers>, name: &str, key: u64) {
    if let Some(subscribers) = index.get_mut(name) {
        subscribers.remove(&key);
        if subscribers.is_empty() {
            index.remove(name);
        }
    }
}

/// Runs `f` outside tokio's cooperative budget: I/O it does in place never reports `Pending` merely because
/// the calling task used up its budget.
fn without_io_budget(f: impl FnOnce()) {
    let mut f = Some(f);
    let once = tokio::task::unconstrained(std::future::poll_fn(move |_| {
        if let Some(f) = f.take() {
            f();
        }
        std::task::Poll::Ready(())
    }));
    let mut once = std::pin::pin!(once);
    // The future is ready at its first poll; the waker is never used.
    let _ = once.as_mut().poll(&mut std::task::Context::from_waker(std::task::Waker::noop()));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bayeux::{Replayed, Transport};
    use serde_json::json;

    fn context() -> Context {
        Context::new(Arc::default(), Transport::LongPolling)
    }

    async fn send(server: &Server, message: Value) -> Outcome {
        server.process(vec![message], &context()).await
    }

    async fn handshake(server: &Server) -> String {
        let outcome = send(
            server,
            json!({"channel":"/meta/handshake","version":"1.0","supportedConnectionTypes":["long-polling"],"id":"1"}),
        )
        .await;
        outcome.replies[0].client_id.clone().expect("handshake succeeds")
    }

    async fn subscribe(server: &Server, id: &str, subscription: Value) -> Message {
        let message = json!({"channel":"/meta/subscribe","clientId":id,"subscription":subscription,"id":"s"});
        send(server, message).await.replies.remove(0)
    }

    fn queued(server: &Server, id: &str) -> Vec<Event> {
        let session = read(&server.inner.sessions).get(id).cloned().expect("session exists");
        match session.attach().take() {
            crate::bayeux::session::Take::Events(events) => events,
            _ => Vec::new(),
        }
    }

    #[tokio::test]
    async fn handshake_reply_has_what_faye_needs() {
        let server = Server::new(Options::default());
        let outcome = send(
            &server,
            json!({"channel":"/meta/handshake","version":"1.0","supportedConnectionTypes":["long-polling"],"id":"1"}),
        )
        .await;
        let reply = serde_json::to_value(&outcome.replies[0]).expect("serializes");
        assert_eq!(reply["successful"], json!(true));
        assert_eq!(reply["id"], json!("1"));
        assert_eq!(reply["supportedConnectionTypes"], json!(["long-polling", "websocket"]));
        assert_eq!(reply["advice"], json!({"reconnect":"retry","interval":0,"timeout":25000}));
        assert!(reply["clientId"].as_str().is_some_and(|id| id.len() >= 26));
    }

    #[tokio::test]
    async fn wildcards_deliver_once_per_session() {
        let server = Server::new(Options::default());
        let id = handshake(&server).await;
        let reply = subscribe(&server, &id, json!(["/api/todos", "/api/*", "/api/**", "/**"])).await;
        assert_eq!(reply.successful, Some(true));
        assert_eq!(server.publish("/api/todos", json!({"n":1})).expect("publishes"), 1);
        assert_eq!(queued(&server, &id).len(), 1);
        // `/api/*` does not cover a two-segment tail, `/api/**` and `/**` do: still one delivery.
        assert_eq!(server.publish("/api/todos/42", json!({"n":2})).expect("publishes"), 1);
        assert_eq!(server.publish("/other", json!({"n":3})).expect("publishes"), 1);
        assert_eq!(server.publish("/service/x", json!({})).expect("publishes"), 0);
    }

    #[tokio::test]
    async fn duplicate_subscribe_then_one_unsubscribe_stops_delivery() {
        let server = Server::new(Options::default());
        let id = handshake(&server).await;
        subscribe(&server, &id, json!("/chat/a")).await;
        subscribe(&server, &id, json!("/chat/a")).await;
        let message = json!({"channel":"/meta/unsubscribe","clientId":id,"subscription":"/chat/a","id":"u"});
        assert_eq!(send(&server, message).await.replies[0].successful, Some(true));
        assert_eq!(server.publish("/chat/a", json!(1)).expect("publishes"), 0);
        assert!(read(&server.inner.index).is_empty());
    }

    #[tokio::test]
    async fn server_publish_refuses_reserved_and_patterns() {
        let server = Server::new(Options::default());
        assert!(matches!(server.publish("/meta/connect", json!(1)), Err(PublishError::Reserved(_))));
        assert!(matches!(server.publish("/api/*", json!(1)), Err(PublishError::InvalidChannel(_))));
        assert!(matches!(server.publish("/api/v1.0", json!(1)), Err(PublishError::InvalidChannel(_))));
        assert!(matches!(server.publish_json("/api", "{nope"), Err(PublishError::Data(_))));
        assert_eq!(server.publish_json("/api", r#"{"ok":true}"#).expect("valid"), 0);
    }

    #[tokio::test]
    async fn overflow_drops_the_session() {
        let server = Server::new(Options::default().queue_limit(2));
        let id = handshake(&server).await;
        subscribe(&server, &id, json!("/a")).await;
        for n in 0..2 {
            assert_eq!(server.publish("/a", json!(n)).expect("publishes"), 1);
        }
        assert_eq!(server.publish("/a", json!(3)).expect("publishes"), 0);
        assert!(!server.has_session(&id));
        assert!(read(&server.inner.index).is_empty());
    }

    /// A history that answers every channel with a fixed reply, publishing `live` on it first, as a
    /// publisher racing the hook would.
    struct Fixed {
        server: std::sync::OnceLock<Server>,
        live: Vec<i64>,
        answer: Result<Caught, Error>,
    }

    impl super::super::History for Fixed {
        fn catch_up<'a>(
            &'a self,
            channel: &'a str,
            _catchup: Catchup,
            _max: usize,
            _context: &'a Context,
        ) -> super::super::BoxFuture<'a, Result<Caught, Error>> {
            if let Some(server) = self.server.get() {
                for seq in &self.live {
                    server.publish_serialize_seq(channel, *seq, &json!({"seq": seq})).expect("publishes");
                }
            }
            Box::pin(std::future::ready(self.answer.clone()))
        }
    }

    async fn with_history(live: Vec<i64>, answer: Result<Caught, Error>) -> (Server, String) {
        let history = Arc::new(Fixed { server: std::sync::OnceLock::new(), live, answer });
        let server = Server::new(Options::default().history(Shared(Arc::clone(&history))));
        let _ = history.server.set(server.clone());
        let id = handshake(&server).await;
        (server, id)
    }

    struct Shared(Arc<Fixed>);

    impl super::super::History for Shared {
        fn catch_up<'a>(
            &'a self,
            channel: &'a str,
            catchup: Catchup,
            max: usize,
            context: &'a Context,
        ) -> super::super::BoxFuture<'a, Result<Caught, Error>> {
            self.0.catch_up(channel, catchup, max, context)
        }
    }

    async fn subscribe_ext(server: &Server, id: &str, subscription: Value, ext: Value) -> Message {
        let message = json!({"channel":"/meta/subscribe","clientId":id,"subscription":subscription,"id":"s","ext":ext});
        send(server, message).await.replies.remove(0)
    }

    fn data(events: &[Event]) -> Vec<Value> {
        events.iter().map(|e| serde_json::from_slice::<Value>(e.frame()).expect("JSON")[0]["data"].clone()).collect()
    }

    #[tokio::test]
    async fn a_replay_and_racing_live_events_meet_without_gap_or_duplicate() {
        // The publisher is behind the hook's read of the log: it publishes 2 while the hook runs, the
        // replay reaches 3, and then the publisher goes on with 3 (already replayed) and 4.
        let replay = (1..=3).map(|seq| Replayed { seq, data: json!({"seq": seq}).to_string() }).collect();
        let (server, id) = with_history(vec![2], Ok(Caught::Replay { events: replay, through: 3 })).await;
        let reply = subscribe_ext(&server, &id, json!("/api/x"), json!({"since": 0})).await;
        assert_eq!(reply.successful, Some(true), "{reply:?}");
        assert_eq!(reply.ext, Some(json!({"seq": 3, "replayed": 3})));
        server.publish_serialize_seq("/api/x", 3, &json!({"seq": 3})).expect("publishes");
        server.publish_serialize_seq("/api/x", 4, &json!({"seq": 4})).expect("publishes");
        let seqs: Vec<Value> = data(&queued(&server, &id)).into_iter().map(|d| d["seq"].clone()).collect();
        assert_eq!(seqs, vec![json!(1), json!(2), json!(3), json!(4)]);
    }

    #[tokio::test]
    async fn a_failed_catch_up_keeps_an_existing_subscription_and_its_events() {
        let (server, id) = with_history(vec![7], Err(Error::custom(503, ["/api/x"], "History unavailable"))).await;
        subscribe(&server, &id, json!("/api/x")).await;
        let reply = subscribe_ext(&server, &id, json!("/api/x"), json!({"snapshot": true})).await;
        assert_eq!(reply.error.as_deref(), Some("503:/api/x:History unavailable"));
        assert_eq!(data(&queued(&server, &id)), vec![json!({"seq": 7})]);
        assert_eq!(server.publish("/api/x", json!(8)).expect("publishes"), 1, "still subscribed");
        // A new subscription whose catch-up fails is not left behind.
        let reply = subscribe_ext(&server, &id, json!("/api/y"), json!({"since": 1})).await;
        assert_eq!(reply.successful, Some(false));
        assert_eq!(server.publish("/api/y", json!(1)).expect("publishes"), 0);
    }

    #[tokio::test]
    async fn catch_up_requests_are_checked() {
        let (server, id) = with_history(Vec::new(), Ok(Caught::Reset)).await;
        let reply = subscribe_ext(&server, &id, json!("/api/*"), json!({"since": 1})).await;
        assert_eq!(reply.error.as_deref(), Some("405:/api/*:since and snapshot need a channel name"));
        let reply = subscribe_ext(&server, &id, json!("/api/x"), json!({"since": 1, "snapshot": true})).await;
        assert!(reply.error.as_deref().is_some_and(|e| e.starts_with("400:")), "{reply:?}");
        let reply = subscribe_ext(&server, &id, json!("/api/x"), json!({"since": -1})).await;
        assert!(reply.error.as_deref().is_some_and(|e| e.starts_with("400:")), "{reply:?}");
        let reply = subscribe_ext(&server, &id, json!(["/api/x", "/api/y"]), json!({"since": 1})).await;
        assert!(reply.error.as_deref().is_some_and(|e| e.starts_with("400:")), "{reply:?}");
        let reply = subscribe_ext(&server, &id, json!("/api/x"), json!({"since": 1})).await;
        assert_eq!(reply.ext, Some(json!({"reset": true})));
        // Without a history, resuming is refused rather than silently ignored.
        let plain = Server::new(Options::default());
        let id = handshake(&plain).await;
        let reply = subscribe_ext(&plain, &id, json!("/api/x"), json!({"snapshot": true})).await;
        assert_eq!(reply.error.as_deref(), Some("405:/api/x:No history on this server"));
    }

    #[tokio::test]
    async fn subscriptions_are_bounded() {
        let server = Server::new(Options::default().max_subscriptions(2));
        let id = handshake(&server).await;
        assert_eq!(subscribe(&server, &id, json!(["/a", "/b"])).await.successful, Some(true));
        // Re-subscribing to a channel already held does not count against the bound.
        assert_eq!(subscribe(&server, &id, json!("/a")).await.successful, Some(true));
        let reply = subscribe(&server, &id, json!("/c")).await;
        assert_eq!(reply.error.as_deref(), Some("403:/c:Too many subscriptions"));
    }
}
