//! The Bayeux server: the protocol of faye and CometD, as the unmodified faye 1.4.3 client speaks it
//! (`docs/protocol.md`).
//!
//! [`Server`] is the transport-agnostic engine: sessions, subscriptions, routing and the held
//! `/meta/connect`. The transports under [`transport`] only move bytes: long-polling (HTTP POST on the mount
//! path and every sub-path) and WebSocket (an upgrade on the same paths), plus the opt-in browser transports
//! (JSONP, CORS, EventSource: see [`transport`]). The rest of the runtime publishes
//! with [`Server::publish`]. This module knows nothing of SQL or resources.
//!
//! Inside, one concern per module, each depending only on those listed before it:
//!
//! | module | owns |
//! | --- | --- |
//! | `channel`, `error`, `advice` | channel grammar, error strings, advice |
//! | `message` | the wire message, and the typed request each is parsed into once |
//! | `event`, `sink` | delivered events (serialized once per publish), and the trait a transport that writes in place implements |
//! | `session` | one client: subscriptions, bounded queue, consumer, catch-up fences |
//! | `registry` | every session, the subscription index, routing |
//! | `engine` | what the handlers share: options, the registry, expiry |
//! | `meta`, `catchup` | the `/meta/*` handlers and client publishes; resume and snapshot |
//! | `server` | the public handle: publishing, batches, extensions |
//! | `transport` | HTTP and WebSocket in and out |
//!
//! Choices worth knowing (each explained where it is made):
//!
//! - Across sessions delivery is at most once, as in faye (docs/protocol.md §6.4): events published while a
//!   session is gone are lost, so clients resume (`ext.since`) or re-fetch after a re-handshake.
//! - Within a session, a client that acknowledges (CometD's ack extension, docs/protocol.md §6.5) gets again
//!   every event written to a connection it left without acknowledging it; one that does not is told to
//!   handshake again (and so to resume) when it comes back with events unconfirmed.
//! - A subscribe may ask to resume (`ext.since`) or for a snapshot (`ext.snapshot`); a [`History`] hook
//!   answers, and the engine fences the subscription by seq so the answer and the live events meet with
//!   no gap and no duplicate (see [`history`]).
//! - A session whose queue fills up ([`Options::queue_limit`]) is dropped; its client is told to handshake
//!   again instead of silently missing events.
//! - Clients may publish only where [`Options::allow_publish`] (or [`Options::publish_policy`]) says, and
//!   only with a valid `clientId` unless [`Options::unconnected_publish`] is set; a missing or unknown
//!   `clientId` gets a 401 with handshake advice, like every other unknown-client reply.
//! - Delivered events are `{channel, data}`: no `id`, no `clientId`, no `ext`. Extensions see incoming
//!   messages and outgoing replies, not each delivery, so an event is serialized once per publish.
//! - The first `/meta/connect` of a session, and any connect with `advice.timeout: 0`, is answered at
//!   once; later ones are held for [`Options::timeout`] at most.
//!
//! ```no_run
//! use live_runtime::bayeux::{Options, Server};
//! use std::time::Duration;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let options = Options::default().timeout(Duration::from_secs(25)).allow_publish("/chat/**")?;
//! let bayeux = Server::new(options);
//! let app = axum::Router::new().merge(bayeux.router());
//! bayeux.publish("/api/todos", serde_json::json!({"method": "POST", "body": {"id": 1}}))?;
//! # let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! # axum::serve(listener, app).await?;
//! # Ok(())
//! # }
//! ```

pub mod advice;
mod catchup;
pub mod channel;
mod engine;
pub mod error;
pub(crate) mod event;
pub mod history;
pub mod message;
mod meta;
mod registry;
mod server;
pub(crate) mod session;
mod sink;
#[cfg(test)]
mod testing;
pub mod transport;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use http::HeaderMap;

pub use advice::{Advice, Reconnect};
pub use channel::{ChannelError, MetaChannel};
pub use error::Error;
pub(crate) use event::Event;
pub use history::{Catchup, Caught, History, Replayed};
pub use message::Message;
pub(crate) use server::WeakServer;
pub use server::{PublishError, Server};
pub use session::ClientId;

/// A boxed future, as extension hooks return (async functions in traits are not object-safe yet).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The transport a message arrived on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Transport {
    /// An HTTP POST (long-polling, or any other request/response message).
    LongPolling,
    /// A WebSocket frame.
    WebSocket,
    /// A JSONP GET (`callback-polling`, docs/protocol.md §10.4).
    CallbackPolling,
}

/// What an extension or a publish policy knows about the request a message came with.
#[derive(Debug, Clone)]
pub struct Context {
    headers: Arc<HeaderMap>,
    transport: Transport,
    connection: u64,
}

impl Context {
    /// A context for messages that came with `headers` over `transport`, on a connection of their own: one
    /// context per WebSocket, or per HTTP request.
    pub fn new(headers: Arc<HeaderMap>, transport: Transport) -> Self {
        static CONNECTIONS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let connection = CONNECTIONS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Self { headers, transport, connection }
    }

    /// Which connection the messages came on: a connect on the same connection as the events the server
    /// wrote follows them on one ordered stream (docs/protocol.md §6.5).
    pub(crate) fn connection(&self) -> u64 {
        self.connection
    }

    /// The HTTP request's headers; for WebSocket, the upgrade request's (kept for the connection's life only
    /// when an extension or a custom publish policy is installed, to keep idle connections small).
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The transport.
    pub fn transport(&self) -> Transport {
        self.transport
    }
}

/// A server extension (docs/protocol.md §9.1): sees every incoming message before the server acts on it, and
/// every reply before it is sent. Hooks run in the order the extensions were added.
///
/// An incoming hook may change the message (for example remove credentials from `ext`) or reject it with an
/// [`Error`], which becomes the reply's `error` with `successful: false`. An outgoing hook may change a
/// reply (add `advice`, `ext`) or turn it into a failure. Delivered events are not passed to outgoing
/// hooks: they are serialized once per publish and carry only `channel` and `data`, so nothing a client put
/// in `ext` is ever forwarded to other clients.
pub trait Extension: Send + Sync + 'static {
    /// Inspects or changes an incoming message; an error rejects it.
    fn incoming<'a>(&'a self, message: &'a mut Message, context: &'a Context) -> BoxFuture<'a, Result<(), Error>> {
        let _ = (message, context);
        Box::pin(std::future::ready(Ok(())))
    }

    /// Inspects or changes a reply; an error turns it into a failed reply.
    fn outgoing<'a>(&'a self, message: &'a mut Message, context: &'a Context) -> BoxFuture<'a, Result<(), Error>> {
        let _ = (message, context);
        Box::pin(std::future::ready(Ok(())))
    }
}

/// Checks a subscription filter (`ext.where`) for a channel and returns its canonical text, or the
/// error that refuses the subscription (installed by the application layer).
pub(crate) type FilterCheck = dyn Fn(&str, &str) -> Result<String, Error> + Send + Sync;

/// Decides whether a client may publish on a plain channel outside `/meta` and `/service`.
type PublishPolicy = dyn Fn(&str, &Context) -> bool + Send + Sync;

/// Server settings. Start from [`Options::default`] and change what you need.
#[derive(Clone)]
pub struct Options {
    pub(crate) mount: String,
    pub(crate) timeout: Duration,
    pub(crate) session_expiry: Option<Duration>,
    pub(crate) unknown_client_interval: Duration,
    pub(crate) queue_limit: usize,
    pub(crate) ack_interval: Duration,
    pub(crate) max_subscriptions: usize,
    pub(crate) max_message_size: usize,
    pub(crate) max_batch: usize,
    pub(crate) ws_ping_interval: Option<Duration>,
    pub(crate) websocket: bool,
    pub(crate) publishable: Vec<String>,
    pub(crate) publish_policy: Option<Arc<PublishPolicy>>,
    pub(crate) unconnected_publish: bool,
    pub(crate) extensions: Vec<Arc<dyn Extension>>,
    pub(crate) history: Option<Arc<dyn History>>,
    pub(crate) filters: Option<Arc<FilterCheck>>,
    /// CORS, JSONP and EventSource settings, set through the methods in [`transport`].
    pub(crate) browser: transport::Browser,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            mount: "/live".to_owned(),
            // Below common proxy idle limits (nginx 60 s, Heroku 30 s): docs/protocol.md, pitfall P18.
            timeout: Duration::from_secs(25),
            session_expiry: None,
            // Slows a handshake/401 cycle to two a second (docs/protocol.md §7.3).
            unknown_client_interval: Duration::from_millis(500),
            queue_limit: 1000,
            ack_interval: Duration::from_secs(10),
            max_subscriptions: 1000,
            // Comfortably above faye's 2 KB batches and a single 10 KB publish (docs/protocol.md §2.5).
            max_message_size: 256 * 1024,
            max_batch: 256,
            ws_ping_interval: Some(Duration::from_secs(20)),
            websocket: true,
            publishable: Vec::new(),
            publish_policy: None,
            unconnected_publish: false,
            extensions: Vec::new(),
            history: None,
            filters: None,
            browser: transport::Browser::default(),
        }
    }
}

impl fmt::Debug for Options {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Options")
            .field("mount", &self.mount)
            .field("timeout", &self.timeout)
            .field("session_expiry", &self.expiry())
            .field("unknown_client_interval", &self.unknown_client_interval)
            .field("queue_limit", &self.queue_limit)
            .field("ack_interval", &self.ack_interval)
            .field("max_subscriptions", &self.max_subscriptions)
            .field("max_message_size", &self.max_message_size)
            .field("max_batch", &self.max_batch)
            .field("ws_ping_interval", &self.ws_ping_interval)
            .field("websocket", &self.websocket)
            .field("publishable", &self.publishable)
            .field("publish_policy", &self.publish_policy.as_ref().map(|_| "custom"))
            .field("unconnected_publish", &self.unconnected_publish)
            .field("extensions", &self.extensions.len())
            .field("history", &self.history.is_some())
            .field("browser", &self.browser)
            .finish()
    }
}

impl Options {
    /// The path the endpoint is mounted on (default `/live`); every sub-path is served too.
    pub fn mount(mut self, path: impl Into<String>) -> Self {
        let path = path.into();
        let trimmed = path.trim_end_matches('/');
        self.mount = if trimmed.starts_with('/') { trimmed.to_owned() } else { format!("/{trimmed}") };
        self
    }

    /// How long a `/meta/connect` is held when nothing happens (default 25 s). Advertised as
    /// `advice.timeout`, which must be the true hold (docs/protocol.md, pitfall P5).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How long a session lives without a connect (default 2 × timeout + 5 s, as faye: docs/protocol.md §12).
    pub fn session_expiry(mut self, expiry: Duration) -> Self {
        self.session_expiry = Some(expiry);
        self
    }

    /// The `interval` advised with every 401 (default 500 ms).
    pub fn unknown_client_interval(mut self, interval: Duration) -> Self {
        self.unknown_client_interval = interval;
        self
    }

    /// How many undelivered events a session may hold (default 1000), counting those written to a client that
    /// acknowledges and not yet acknowledged (docs/protocol.md §6.5). Past that the session is dropped and
    /// its client must handshake again and re-fetch: a silent gap would be worse.
    pub fn queue_limit(mut self, limit: usize) -> Self {
        self.queue_limit = limit.max(1);
        self
    }

    /// For a client that acknowledges (CometD's ack extension, docs/protocol.md §6.5) over WebSocket: how long
    /// after the first event of a batch its held connect is answered, closing the batch (default 10 s, at
    /// most the hold of [`Options::timeout`]). The events written meanwhile share the batch and its one
    /// reply, and the client confirms them a round trip later. Shorter means fewer events kept and fewer sent
    /// again after an outage (the client drops those by seq); longer means fewer connect round trips per
    /// event: a round trip costs the server about what ten deliveries do, so under a steady stream the
    /// interval should span many events per subscriber.
    pub fn ack_interval(mut self, interval: Duration) -> Self {
        self.ack_interval = interval;
        self
    }

    /// How many channels and patterns one session may subscribe to (default 1000).
    pub fn max_subscriptions(mut self, limit: usize) -> Self {
        self.max_subscriptions = limit;
        self
    }

    /// The largest HTTP body or WebSocket message accepted, in bytes (default 256 KiB).
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.max_message_size = bytes;
        self
    }

    /// The most messages one request or frame may carry (default 256).
    pub fn max_batch(mut self, messages: usize) -> Self {
        self.max_batch = messages.max(1);
        self
    }

    /// WebSocket ping period (default 20 s), so proxies keep idle sockets open; `None` turns pings off.
    pub fn ws_ping_interval(mut self, interval: Option<Duration>) -> Self {
        self.ws_ping_interval = interval;
        self
    }

    /// Whether to accept WebSocket upgrades (default true). When off, upgrades get a quick 400 and the
    /// handshake does not list `websocket` (docs/protocol.md, pitfall P10).
    pub fn websocket(mut self, enabled: bool) -> Self {
        self.websocket = enabled;
        self
    }

    /// Lets clients publish on channels matching `pattern` (a name, `/x/*` or `/x/**`). By default clients
    /// may publish nowhere: live resource channels are server-only (docs/protocol.md §6.1).
    pub fn allow_publish(mut self, pattern: &str) -> Result<Self, ChannelError> {
        channel::parse(pattern)?;
        self.publishable.push(pattern.to_owned());
        Ok(self)
    }

    /// Replaces the client publish rule with `policy(channel, context)`. It is asked only for plain channels
    /// outside `/meta` and `/service`.
    pub fn publish_policy(mut self, policy: impl Fn(&str, &Context) -> bool + Send + Sync + 'static) -> Self {
        self.publish_policy = Some(Arc::new(policy));
        self
    }

    /// Whether a publish without `clientId` is accepted (default false: it gets a 401 with handshake advice).
    /// faye accepts such publishes from anyone (docs/protocol.md, pitfall P14).
    pub fn unconnected_publish(mut self, allowed: bool) -> Self {
        self.unconnected_publish = allowed;
        self
    }

    /// Adds an extension; extensions run in the order added.
    pub fn extension(mut self, extension: impl Extension) -> Self {
        self.extensions.push(Arc::new(extension));
        self
    }

    /// Answers `ext.since` and `ext.snapshot` on `/meta/subscribe` with `history` (docs/protocol.md §14.1, §14.2; see
    /// [`history`]). Without one, such subscribes are refused.
    pub fn history(mut self, history: impl History) -> Self {
        self.history = Some(Arc::new(history));
        self
    }

    /// Accepts `ext.where` on `/meta/subscribe` (docs/live.md, "Filtered subscriptions"): `check` refuses a
    /// filter or gives its canonical text, and the subscription is indexed as the channel, `?`, then that text,
    /// so that the publisher can find each distinct filter of a channel.
    pub(crate) fn filters(
        mut self,
        check: impl Fn(&str, &str) -> Result<String, Error> + Send + Sync + 'static,
    ) -> Self {
        self.filters = Some(Arc::new(check));
        self
    }

    /// The mount path.
    pub fn mount_path(&self) -> &str {
        &self.mount
    }

    /// The connect hold time.
    pub fn hold(&self) -> Duration {
        self.timeout
    }

    /// The effective session expiry.
    pub fn expiry(&self) -> Duration {
        self.session_expiry.unwrap_or(self.timeout * 2 + Duration::from_secs(5))
    }

    /// Whether request headers must be kept for hooks.
    pub(crate) fn needs_headers(&self) -> bool {
        !self.extensions.is_empty() || self.publish_policy.is_some()
    }

    /// Whether a client may publish on `name` (a plain channel outside `/meta` and `/service`).
    pub(crate) fn may_publish(&self, name: &str, context: &Context) -> bool {
        match &self.publish_policy {
            Some(policy) => policy(name, context),
            None => self.publishable.iter().any(|pattern| channel::matches(pattern, name)),
        }
    }
}
