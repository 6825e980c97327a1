//! The engine's public handle: [`Server`] takes parsed batches from the transports and hands back replies
//! plus, for a connect, what to wait on; the rest of the runtime publishes through [`Server::publish`]. What
//! the handlers share (options, registry, expiry) is the `Engine` of `engine.rs`.
//!
//! A batch goes: incoming extensions (which may change or refuse each message), then the typed
//! [`Request`] parsed once, then the handler of its channel (`meta/`, `catchup.rs`), then the outgoing
//! extensions on every reply.

use std::sync::{Arc, Weak};

use serde::Serialize;
use serde_json::Value;

use super::channel::{self, Kind, MetaChannel};
use super::engine::Engine;
use super::error::Error;
use super::event::Event;
use super::message::{self, Incoming, Message, Request};
use super::meta::{self, PendingConnect, failure, handshake_advice};
use super::session::{ClientId, Session};
use super::{Context, Options, catchup};

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
    /// The data could not be serialized.
    #[error("event data is not valid JSON: {0}")]
    Data(#[from] serde_json::Error),
}

/// The Bayeux server. Cheap to clone: all clones share one engine.
#[derive(Clone)]
pub struct Server {
    inner: Arc<Engine>,
}

/// A server that does not keep the engine alive (see [`Server::downgrade`]).
#[derive(Clone, Debug)]
pub(crate) struct WeakServer(Weak<Engine>);

impl WeakServer {
    /// The server, while any clone of it is alive.
    pub(crate) fn upgrade(&self) -> Option<Server> {
        self.0.upgrade().map(|inner| Server { inner })
    }
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("options", &self.inner.options)
            .field("sessions", &self.session_count())
            .finish_non_exhaustive()
    }
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

impl Server {
    /// A server with `options`.
    pub fn new(options: Options) -> Self {
        // Only what is enabled is listed: the client picks from this list (docs/protocol.md §5.1, §11).
        let supported = options.connection_types();
        Self { inner: Arc::new(Engine::new(options, supported)) }
    }

    /// What the handlers share.
    #[cfg(test)]
    pub(crate) fn engine(&self) -> &Arc<Engine> {
        &self.inner
    }

    /// A handle that does not keep the server alive: the feed holds one, so that it stops once nothing can
    /// deliver its events any more.
    pub(crate) fn downgrade(&self) -> WeakServer {
        WeakServer(Arc::downgrade(&self.inner))
    }

    /// The options the server runs with.
    pub fn options(&self) -> &Options {
        &self.inner.options
    }

    /// How many sessions are alive.
    pub fn session_count(&self) -> usize {
        self.inner.registry.len()
    }

    /// Whether `client_id` names a live session.
    pub fn has_session(&self, client_id: &str) -> bool {
        self.inner.registry.get(client_id).is_some()
    }

    /// Whether a held connect or a bound WebSocket is waiting to deliver to `client_id` right now.
    pub fn is_listening(&self, client_id: &str) -> bool {
        self.inner.registry.get(client_id).is_some_and(|session| session.is_attached())
    }

    /// Ends every session, as a restart would but without losing the process: held connects are answered
    /// with a 401 and handshake advice, as is each client's next message, after which the client handshakes
    /// and subscribes again (docs/protocol.md §13). For drills, tests and shutdown.
    pub fn close_all(&self) {
        for session in self.inner.registry.all() {
            self.inner.registry.remove(&session, false);
        }
    }

    /// Publishes `data` on `channel` to every subscribed session (exact name, `/*` or `/**`), once per
    /// session, as `{channel, data}`, serialized once. Returns how many sessions took it. A `/service`
    /// channel reaches no remote client and returns 0.
    ///
    /// `data` is anything serializable: a `serde_json::Value`, a struct, or JSON text already serialized as a
    /// [`serde_json::value::RawValue`], which is copied as it is.
    pub fn publish<T: Serialize>(&self, channel: &str, data: T) -> Result<usize, PublishError> {
        self.publish_event(channel, &data, None)
    }

    /// Like [`Server::publish`] for an event at stream position `seq`, which lets subscriptions that resumed
    /// or took a snapshot skip what their catch-up already covered (see [`history`]). The events of one
    /// channel must be published in seq order.
    ///
    /// [`history`]: super::history
    pub fn publish_at<T: Serialize>(&self, channel: &str, seq: i64, data: T) -> Result<usize, PublishError> {
        self.publish_event(channel, &data, Some(seq))
    }

    /// Like [`Server::publish_at`], but only to the sessions subscribed to exactly `channel`: no
    /// wildcard subscription receives it. This is how a record channel (`/api/todos/42`) carries its
    /// record's events while `/api/todos/*` and `/api/**` see each event once, on the collection's
    /// channel (docs/live.md, "Record channels").
    pub fn publish_exact_at<T: Serialize>(&self, channel: &str, seq: i64, data: T) -> Result<usize, PublishError> {
        self.check_publish(channel)?;
        if channel::is_service(channel) {
            return Ok(0);
        }
        Ok(self.inner.route_exact(channel, &Event::new(channel, &data)?, Some(seq)))
    }

    /// Whether any session is subscribed to a plain channel one segment below `channel` (such as
    /// `/api/todos/42` below `/api/todos`): a publisher of record channels asks this first, so that it
    /// builds nothing when nobody listens. One lookup under a read lock.
    pub fn has_subscriptions_below(&self, channel: &str) -> bool {
        self.inner.registry.has_names_below(channel)
    }

    /// What a publisher of `channel` must serve besides its plain subscribers, in one look at the index:
    /// whether anyone listens one segment below it (see [`Server::has_subscriptions_below`]), and the
    /// keys of its filtered subscriptions (`channel?filter`, one per distinct filter).
    pub(crate) fn beyond(&self, channel: &str) -> (bool, Vec<Arc<str>>) {
        self.inner.registry.beyond(channel)
    }

    /// Queues `event` (of the channel the filtered subscription `key` is of) at `seq` for the sessions
    /// subscribed through that filter.
    pub(crate) fn publish_filtered_at(&self, key: &str, event: &Event, seq: i64) -> usize {
        self.inner.route_exact(key, event, Some(seq))
    }

    /// Whether any session is subscribed to exactly `channel` (a record channel, say), so that a publisher
    /// can skip building an event nobody would receive.
    pub fn has_exact_subscribers(&self, channel: &str) -> bool {
        self.inner.registry.has_name(channel)
    }

    /// Refuses a server-side publish on a reserved or malformed channel.
    fn check_publish(&self, name: &str) -> Result<(), PublishError> {
        if channel::is_meta(name) {
            return Err(PublishError::Reserved(name.to_owned()));
        }
        if channel::parse(name) != Ok(Kind::Name) {
            return Err(PublishError::InvalidChannel(name.to_owned()));
        }
        Ok(())
    }

    /// The one way into the fan-out for server-side publishes: checks the channel, serializes the event once.
    fn publish_event<T: Serialize>(&self, name: &str, data: &T, seq: Option<i64>) -> Result<usize, PublishError> {
        self.check_publish(name)?;
        if channel::is_service(name) {
            return Ok(0);
        }
        Ok(self.inner.route(name, &Event::new(name, data)?, seq))
    }

    /// Processes one batch of raw messages, in order. Handles everything but the waiting part of a connect.
    pub(crate) async fn process(&self, values: Vec<Value>, context: &Context) -> Outcome {
        let mut outcome = Outcome::default();
        if values.len() > self.inner.options.max_batch {
            outcome.replies.push(Message::default().fail(&Error::BadRequest("Too many messages")));
            return outcome;
        }
        for value in values {
            match message::read_message(value) {
                Ok(message) => self.process_one(message, context, &mut outcome).await,
                Err(reply) => outcome.replies.push(*reply),
            }
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
                outcome.replies.push(self.refused(&message, &error));
                return;
            }
        }
        let Incoming { reply, request } = Incoming::parse(message);
        let request = match request {
            Ok(request) => request,
            Err(error) => {
                outcome.replies.push(failure(&self.inner.options, reply, &error));
                return;
            }
        };
        let reply = match request {
            Request::Handshake(request) => meta::handshake(&self.inner, request, reply),
            Request::Connect(request) => {
                let heartbeat = request.is_eventsource();
                match meta::connect(&self.inner, request, reply, context) {
                    // The EventSource stream delivers; its client's connect is only a heartbeat, answered at
                    // once without taking the stream's place as the session's consumer (docs/protocol.md §10.6).
                    Ok(pending) if heartbeat => pending.reply,
                    Ok(pending) => {
                        // One outstanding connect per client (docs/protocol.md §5.2): an earlier connect in the same
                        // batch is answered at once.
                        if let Some(earlier) = outcome.connect.replace(pending) {
                            outcome.replies.push(earlier.reply);
                        }
                        return;
                    }
                    Err(reply) => *reply,
                }
            }
            Request::Subscribe(request) => match request.catchup {
                None => meta::subscribe(&self.inner, request, reply),
                Some(catchup) => catchup::subscribe(&self.inner, request, catchup, reply, context).await,
            },
            Request::Unsubscribe(request) => meta::unsubscribe(&self.inner, request, reply),
            Request::Disconnect(request) => {
                let client_id = ClientId::from(request.client_id.as_str());
                let reply = meta::disconnect(&self.inner, request, reply);
                if reply.successful == Some(true) {
                    outcome.disconnected.push(client_id);
                }
                reply
            }
            Request::Publish(request) => meta::publish(&self.inner, request, reply, context),
        };
        outcome.replies.push(reply);
    }

    /// The reply to a message an incoming extension refused.
    fn refused(&self, message: &Message, error: &Error) -> Message {
        let mut reply = failure(&self.inner.options, message.reply(), error);
        let channel = message.channel.as_deref().and_then(MetaChannel::from_name);
        if matches!(channel, Some(MetaChannel::Subscribe | MetaChannel::Unsubscribe)) {
            // Bayeux §3.4/§3.5: a subscribe or unsubscribe reply names its subscription, refused or not.
            reply.subscription = message.subscription.clone();
        }
        if matches!(channel, Some(MetaChannel::Handshake | MetaChannel::Connect)) && reply.advice.is_none() {
            // A refused handshake with faye's bare `handshake` advice retries ~80 times a second (docs/protocol.md,
            // pitfall P7); the interval slows it. An outgoing hook may advise `none` instead.
            reply.advice = Some(handshake_advice(&self.inner.options));
        }
        reply
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
        reply.advice = Some(handshake_advice(&self.inner.options));
        reply.fail(&Error::UnknownClient(id))
    }

    /// The live session named `client_id`, for a transport that binds to one (EventSource).
    pub(crate) fn session_by_id(&self, client_id: &str) -> Option<Arc<Session>> {
        self.inner.registry.get(client_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bayeux::testing::{handshake, queued, send, subscribe};
    use serde_json::json;

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
        assert!(server.inner.registry.index_is_empty());
    }

    #[tokio::test]
    async fn server_publish_refuses_reserved_and_patterns() {
        let server = Server::new(Options::default());
        assert!(matches!(server.publish("/meta/connect", json!(1)), Err(PublishError::Reserved(_))));
        assert!(matches!(server.publish("/api/*", json!(1)), Err(PublishError::InvalidChannel(_))));
        assert!(matches!(server.publish("/api/v1.0", json!(1)), Err(PublishError::InvalidChannel(_))));
        let raw = serde_json::value::RawValue::from_string(r#"{"ok":true}"#.to_owned()).expect("JSON");
        assert_eq!(server.publish("/api", &raw).expect("valid"), 0);
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
        assert!(server.inner.registry.index_is_empty());
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
