//! WebSocket: an upgrade on the endpoint's paths (docs/protocol.md §10.5).
//!
//! Each text frame holds an array or an object; the replies to one frame go back in one frame. A
//! `/meta/connect` binds the socket to its session: from then on every event is pushed at once in its own
//! `[event]` frame, while the connect itself is still answered when its hold runs out, so the client's
//! connect cycle keeps going. A later connect on this socket rebinds it (for another session too); a
//! connect for the same session on another transport unbinds it. `/meta/handshake` may be the first frame
//! (CometD). A frame that is not a JSON array or object gets a `400::Bad request` reply and the socket
//! stays open. The socket is closed with code 1000 when its client disconnects, as faye does
//! (docs/protocol.md §5.4, pitfall P16). When the server ends the session (expiry, overflow), the held connect
//! is answered with a 401 and handshake advice on the open socket instead, so the client handshakes again at
//! once.
//!
//! One task serves a connection and sleeps on a single timer (the held connect's deadline, the next ping,
//! or, while no session is bound, the session expiry after which the socket is closed), so an idle socket
//! costs little more than its buffers, which are sized down from tungstenite's 128 KiB defaults.

use std::future::poll_fn;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http::request::Parts;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde_json::Value;
use tokio::time::Instant;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message as Frame;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};

use crate::bayeux::event::encode_batch;
use crate::bayeux::message::{self, Message};
use crate::bayeux::meta;
use crate::bayeux::session::{AckDue, Consumer, Session, Take};
use crate::bayeux::sink::Sink;
use crate::bayeux::transport::ws_socket::{SharedSocket, SocketIo};
use crate::bayeux::{Context, Error, Server, Transport};

/// Initial read buffer: a faye frame is one message of a few hundred bytes; larger frames grow it. Small,
/// because it is the largest part of an idle socket's cost (measured by `idle_subscribers_memory`).
const READ_BUFFER: usize = 512;

/// Answers a WebSocket upgrade (a GET with `Upgrade: websocket`) with `101 Switching Protocols` and spawns
/// the connection's task; a request that is not a valid RFC 6455 upgrade gets a `400` saying why.
pub(crate) fn upgrade(server: Server, mut parts: Parts) -> Response {
    let headers = &parts.headers;
    let has = |name: header::HeaderName, token: &str| {
        headers.get_all(name).iter().any(|value| {
            value.to_str().is_ok_and(|value| value.split(',').any(|part| part.trim().eq_ignore_ascii_case(token)))
        })
    };
    if !has(header::CONNECTION, "upgrade") {
        return refuse(StatusCode::BAD_REQUEST, "Connection header did not include 'upgrade'");
    }
    if headers.get(header::SEC_WEBSOCKET_VERSION).is_none_or(|version| version.as_bytes() != b"13") {
        return refuse(StatusCode::BAD_REQUEST, "WebSocket version not supported: send Sec-WebSocket-Version: 13");
    }
    let Some(key) = headers.get(header::SEC_WEBSOCKET_KEY) else {
        return refuse(StatusCode::BAD_REQUEST, "Sec-WebSocket-Key header missing");
    };
    let Ok(accept) = HeaderValue::from_str(&derive_accept_key(key.as_bytes())) else {
        return refuse(StatusCode::BAD_REQUEST, "Bad Sec-WebSocket-Key");
    };
    let Some(on_upgrade) = parts.extensions.remove::<hyper::upgrade::OnUpgrade>() else {
        return refuse(
            StatusCode::UPGRADE_REQUIRED,
            "WebSocket request couldn't be upgraded since no upgrade state was present",
        );
    };
    static NO_HEADERS: OnceLock<Arc<HeaderMap>> = OnceLock::new();
    // Upgrade headers are kept for the connection's life only when a hook can look at them.
    let headers = if server.options().needs_headers() {
        Arc::new(parts.headers)
    } else {
        Arc::clone(NO_HEADERS.get_or_init(Arc::default))
    };
    let context = Context::new(headers, Transport::WebSocket);
    let limit = server.options().max_message_size;
    // Frames up to twice the limit are read and answered with a Bayeux error; past that tungstenite closes
    // the socket (1009) rather than buffer without bound.
    let hard_limit = limit.saturating_mul(2).max(64 * 1024);
    let config = WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER)
        // Write each frame out at once instead of collecting 128 KiB first.
        .write_buffer_size(0)
        .max_write_buffer_size(hard_limit.saturating_mul(4))
        .max_message_size(Some(hard_limit))
        .max_frame_size(Some(hard_limit));
    tokio::spawn(async move {
        let Ok(upgraded) = on_upgrade.await else { return };
        let shared = SharedSocket::new(upgraded);
        let socket = WebSocketStream::from_raw_socket(SocketIo(Arc::clone(&shared)), Role::Server, Some(config)).await;
        Connection::new(server, socket, shared, context).run().await;
    });
    (
        StatusCode::SWITCHING_PROTOCOLS,
        [
            (header::CONNECTION, HeaderValue::from_static("upgrade")),
            (header::UPGRADE, HeaderValue::from_static("websocket")),
            (header::SEC_WEBSOCKET_ACCEPT, accept),
        ],
    )
        .into_response()
}

fn refuse(status: StatusCode, text: &'static str) -> Response {
    (status, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response()
}

/// Why the connection loop stops.
struct Closed;

struct Connection {
    server: Server,
    socket: WebSocketStream<SocketIo>,
    /// The same stream, for writing queued events in place (see `ws_socket.rs`).
    shared: Arc<SharedSocket>,
    context: Context,
    /// The session this socket delivers for, once a connect bound it.
    bound: Option<Consumer>,
    /// The held connect: its reply, when to send it and its session (boxed: an idle socket should not carry
    /// a whole `Message` inline).
    pending: Option<Held>,
    ping_every: Option<Duration>,
    next_ping: Option<Instant>,
    /// While no session is bound: when to give up on the socket. A client that never connects (or was
    /// moved to another transport and never came back) does not keep a socket open for ever.
    unbound_until: Option<Instant>,
    pings: u64,
}

/// A connect held on this socket.
struct Held {
    reply: Box<Message>,
    at: Instant,
    session: Arc<Session>,
}

impl Held {
    /// The reply, closing its session's open batch: every event written before it is covered by its
    /// `ext.ack` (docs/protocol.md §6.5).
    fn answer(self) -> Message {
        let mut reply = *self.reply;
        meta::close_batch(&self.session, &mut reply);
        reply
    }
}

enum Step {
    Frame(Option<Result<Frame, tokio_tungstenite::tungstenite::Error>>),
    Wake,
    Timer,
}

impl Connection {
    fn new(server: Server, socket: WebSocketStream<SocketIo>, shared: Arc<SharedSocket>, context: Context) -> Self {
        let ping_every = server.options().ws_ping_interval.filter(|every| !every.is_zero());
        let next_ping = ping_every.map(|every| Instant::now() + every);
        let unbound_until = Some(Instant::now() + server.options().expiry());
        Self {
            server,
            socket,
            shared,
            context,
            bound: None,
            pending: None,
            ping_every,
            next_ping,
            unbound_until,
            pings: 0,
        }
    }

    async fn run(mut self) {
        loop {
            let timer = [self.pending.as_ref().map(|held| held.at), self.next_ping, self.unbound_until]
                .into_iter()
                .flatten()
                .min();
            let step = tokio::select! {
                frame = self.socket.next() => Step::Frame(frame),
                () = changed(self.bound.as_ref()) => Step::Wake,
                () = sleep_until(timer) => Step::Timer,
            };
            let result = match step {
                Step::Frame(Some(Ok(frame))) => self.on_frame(frame).await,
                Step::Frame(Some(Err(_)) | None) => Err(Closed),
                Step::Wake => self.on_wake().await,
                Step::Timer => self.on_timer().await,
            };
            if result.is_err() {
                break;
            }
        }
        // Dropping the consumer unbinds the session, which may now expire if the client does not return.
        self.bound = None;
    }

    async fn on_frame(&mut self, frame: Frame) -> Result<(), Closed> {
        let bytes: Bytes = match frame {
            Frame::Text(text) => text.into(),
            Frame::Binary(bytes) => bytes,
            // tungstenite answers pings itself; a pong needs nothing.
            Frame::Ping(_) | Frame::Pong(_) | Frame::Frame(_) => return Ok(()),
            Frame::Close(_) => return Err(Closed),
        };
        if bytes.len() > self.server.options().max_message_size {
            return self.send_error("Message too large").await;
        }
        let Some(values) = serde_json::from_slice::<Value>(&bytes).ok().and_then(message::split_body) else {
            return self.send_error("Bad request").await;
        };
        // Boxed so that the idle connection's future stays small; processing is the rare path.
        let outcome = Box::pin(self.server.process(values, &self.context)).await;
        let mut replies = outcome.replies;
        if let Some(connect) = outcome.connect {
            let mut reply = connect.reply;
            Box::pin(self.server.outgoing(&mut reply, &self.context)).await;
            // Binding makes this socket the session's consumer; an older consumer (a held long-poll, or this
            // socket's previous binding) is superseded. Queued events flush on the next wake.
            self.bound = Some(connect.session.attach_direct(Some(self.shared.clone() as Arc<dyn Sink>)));
            self.unbound_until = None;
            // One outstanding connect per client: an earlier one held on this socket is answered now.
            if let Some(earlier) = self.pending.take() {
                replies.push(earlier.answer());
            }
            let held = Held { reply: Box::new(reply), at: Instant::now() + connect.hold, session: connect.session };
            if connect.hold.is_zero() {
                replies.push(held.answer());
            } else {
                self.pending = Some(held);
            }
        }
        if !replies.is_empty() {
            self.send(encode_batch(&replies, &[])).await?;
        }
        let bound_gone = self
            .bound
            .as_ref()
            .is_some_and(|consumer| outcome.disconnected.iter().any(|id| *id == consumer.session().id));
        if bound_gone {
            return self.close().await;
        }
        Ok(())
    }

    async fn on_wake(&mut self) -> Result<(), Closed> {
        let Some(consumer) = &self.bound else { return Ok(()) };
        let shared = &self.shared;
        let take = poll_fn(|cx| consumer.poll_write_queue(cx, &**shared)).await.map_err(|_| Closed)?;
        match take {
            // Written (an event the socket could not take stays queued for the client's next connect). A client
            // that acknowledges and has many events unacknowledged gets its connect answered now, so that its
            // next connect acknowledges them before the session's bound is reached (docs/protocol.md §6.5).
            Take::Events(_) => {
                let options = self.server.options();
                match consumer.session().ack_due(options.queue_limit) {
                    AckDue::Now => {
                        if let Some(held) = self.pending.take() {
                            let reply = held.answer();
                            return self.send(encode_batch(&[reply], &[])).await;
                        }
                    }
                    // Events went out in the open batch: it closes within the ack interval, so that the
                    // client confirms them a round trip later, and an outage re-sends only what it may
                    // really have missed.
                    AckDue::Soon => {
                        if let Some(held) = &mut self.pending {
                            held.at = held.at.min(Instant::now() + options.ack_interval);
                        }
                    }
                    AckDue::Later => {}
                }
                Ok(())
            }
            Take::Superseded => {
                self.bound = None;
                self.unbound_until = Some(Instant::now() + self.server.options().expiry());
                match self.pending.take() {
                    Some(held) => {
                        let reply = held.answer();
                        self.send(encode_batch(&[reply], &[])).await
                    }
                    None => Ok(()),
                }
            }
            // The client disconnected: close the socket, as faye does (docs/protocol.md §5.4, pitfall P16).
            Take::Closed { disconnected: true } => self.close().await,
            Take::Closed { disconnected: false } => {
                // The server ended the session (expiry, overflow, close_all): answer the held connect with a
                // 401 and handshake advice and keep the socket, so the client handshakes again at once
                // instead of first waiting out its reconnect delay for a new socket.
                self.bound = None;
                self.unbound_until = Some(Instant::now() + self.server.options().expiry());
                match self.pending.take() {
                    Some(held) => {
                        let mut ended = self.server.ended(&held.reply);
                        Box::pin(self.server.outgoing(&mut ended, &self.context)).await;
                        self.send(encode_batch(&[ended], &[])).await
                    }
                    None => Ok(()),
                }
            }
        }
    }

    async fn on_timer(&mut self) -> Result<(), Closed> {
        let now = Instant::now();
        if self.unbound_until.is_some_and(|at| at <= now) {
            return self.close().await;
        }
        if self.pending.as_ref().is_some_and(|held| held.at <= now)
            && let Some(held) = self.pending.take()
        {
            let reply = held.answer();
            self.send(encode_batch(&[reply], &[])).await?;
        }
        if let (Some(every), Some(at)) = (self.ping_every, self.next_ping)
            && at <= now
        {
            self.pings += 1;
            self.next_ping = Some(now + every);
            // A counter as payload, as faye's server pings (docs/protocol.md §10.5).
            let payload = Bytes::from(self.pings.to_string());
            self.socket.send(Frame::Ping(payload)).await.map_err(|_| Closed)?;
        }
        Ok(())
    }

    async fn send_error(&mut self, text: &'static str) -> Result<(), Closed> {
        self.send(encode_batch(&[Message::default().fail(&Error::BadRequest(text))], &[])).await
    }

    async fn send(&mut self, json: Vec<u8>) -> Result<(), Closed> {
        let text = String::from_utf8(json).map_err(|_| Closed)?;
        self.socket.send(Frame::text(text)).await.map_err(|_| Closed)
    }

    /// Closes with 1000 (normal closure) when the bound session has ended.
    async fn close(&mut self) -> Result<(), Closed> {
        self.bound = None;
        let frame = CloseFrame { code: CloseCode::Normal, reason: "".into() };
        // The peer may already be gone; the loop ends either way.
        let _ = self.socket.send(Frame::Close(Some(frame))).await;
        Err(Closed)
    }
}

async fn changed(consumer: Option<&Consumer>) {
    match consumer {
        Some(consumer) => consumer.changed().await,
        None => std::future::pending().await,
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
