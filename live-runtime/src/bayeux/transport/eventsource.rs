//! EventSource, faye's `eventsource` transport (docs/protocol.md §10.6, pitfall P17).
//!
//! After its handshake, a same-origin browser opens `GET <mount>/<clientId>` with
//! `Accept: text/event-stream` and keeps it open; everything it sends goes over long-polling POSTs, and its
//! `/meta/connect`s (`connectionType: "eventsource"`) are heartbeats the engine answers at once with
//! `advice {interval: timeout, timeout: 0}`.
//!
//! The stream first sends `retry: 5000` (faye's reconnect delay), then each event as soon as it is
//! published, as `data: [event]` followed by a blank line, and a `:` comment line every
//! [`Options::eventsource_ping_interval`] so proxies keep it open.
//!
//! Binding: unlike faye, the clientId is checked: an unknown one is refused with 404 before any stream
//! starts, so a stale page cannot keep a stream open for nothing. The stream becomes the session's consumer,
//! as a bound WebSocket does. When a connect on another transport takes that place (faye's client sends
//! its first connect as `long-polling` right after opening the stream), the stream waits until that
//! consumer is gone and binds again, rather than fight it. It ends when the session ends (disconnect,
//! expiry, overflow: the client's next heartbeat then gets a 401 with handshake advice) and when the browser
//! goes away, which is noticed at the next write at the latest; the session then no longer counts as
//! listening and may expire. While the stream is bound the session does not expire, as with a WebSocket.
//!
//! [`Options::eventsource_ping_interval`]: crate::bayeux::Options::eventsource_ping_interval

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use http_body::Frame;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::refuse;
use crate::bayeux::Server;
use crate::bayeux::session::{Consumer, Session, Take};

/// The browser's reconnect delay after the stream drops, in ms: faye's value (docs/protocol.md §10.6).
const RETRY: &[u8] = b"retry: 5000\r\n\r\n";
/// A comment line: ignored by the browser, but traffic for proxies and a write that finds a closed socket.
const PING: &[u8] = b":\r\n\r\n";
/// While another consumer holds the session, how often to look whether it has gone.
const REBIND_POLL: Duration = Duration::from_millis(100);
/// Chunks buffered between the stream's task and the socket.
const BUFFER: usize = 16;

/// Whether a GET asks for an event stream.
pub(crate) fn wants_stream(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .any(|value| value.to_ascii_lowercase().contains("text/event-stream"))
}

/// Opens the stream for `client_id` (the path below the mount).
pub(crate) fn handle(server: Server, client_id: &str) -> Response {
    // An empty or nested path names no session either.
    let session = (!client_id.is_empty() && !client_id.contains('/')).then(|| server.session_by_id(client_id));
    let Some(session) = session.flatten() else {
        return refuse(StatusCode::NOT_FOUND, "Unknown client: handshake first");
    };
    let (sender, receiver) = mpsc::channel(BUFFER);
    let ping = server.options().browser.eventsource_ping;
    tokio::spawn(Stream { server, session, sender, ping }.run());
    let mut response = (StatusCode::OK, Body::new(Chunks(receiver))).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache, no-store"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    // nginx buffers proxied responses unless told not to, which would hold events back.
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}

/// The response body: chunks written by the stream's task. Dropping it (the browser left) closes the
/// channel, which ends the task and unbinds the session.
struct Chunks(mpsc::Receiver<Bytes>);

impl http_body::Body for Chunks {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.0.poll_recv(cx).map(|chunk| chunk.map(|bytes| Ok(Frame::data(bytes))))
    }
}

/// Why the stream ends.
struct Ended;

/// The task feeding one stream.
struct Stream {
    server: Server,
    session: Arc<Session>,
    sender: mpsc::Sender<Bytes>,
    ping: Option<Duration>,
}

impl Stream {
    async fn run(self) {
        if self.write(Bytes::from_static(RETRY)).await.is_err() {
            return;
        }
        let mut bound = Some(self.session.attach());
        let mut next_ping = self.ping.map(|every| Instant::now() + every);
        loop {
            match self.step(&mut bound) {
                Ok(Some(events)) => {
                    if self.deliver(events).await.is_err() {
                        return;
                    }
                    continue;
                }
                Ok(None) => {}
                Err(Ended) => return,
            }
            let rebind = bound.is_none().then(|| Instant::now() + REBIND_POLL);
            let timer = [next_ping, rebind].into_iter().flatten().min();
            tokio::select! {
                () = changed(bound.as_ref()) => {}
                () = sleep_until(timer) => {}
                () = self.sender.closed() => return,
            }
            if let (Some(every), Some(at)) = (self.ping, next_ping)
                && at <= Instant::now()
            {
                next_ping = Some(Instant::now() + every);
                if self.write(Bytes::from_static(PING)).await.is_err() {
                    return;
                }
            }
        }
    }

    /// Looks at the session: events to deliver, nothing for now, or the end of the stream.
    fn step(&self, bound: &mut Option<Consumer>) -> Result<Option<Vec<crate::bayeux::event::Event>>, Ended> {
        match bound {
            Some(consumer) => match consumer.take() {
                Take::Events(events) if events.is_empty() => Ok(None),
                Take::Events(events) => Ok(Some(events)),
                Take::Superseded => {
                    *bound = None;
                    Ok(None)
                }
                Take::Closed { .. } => Err(Ended),
            },
            None if !self.server.has_session(self.session.id.as_str()) => Err(Ended),
            None if !self.session.is_attached() => {
                *bound = Some(self.session.attach());
                Ok(None)
            }
            None => Ok(None),
        }
    }

    /// Writes each event as its own `data:` line; what could not be written goes back to the queue for the
    /// session's next consumer (docs/protocol.md, pitfall P5).
    async fn deliver(&self, events: Vec<crate::bayeux::event::Event>) -> Result<(), Ended> {
        let mut events = events.into_iter();
        while let Some(event) = events.next() {
            let frame = event.frame();
            let mut chunk = Vec::with_capacity(frame.len() + 10);
            chunk.extend_from_slice(b"data: ");
            chunk.extend_from_slice(frame);
            chunk.extend_from_slice(b"\r\n\r\n");
            if self.write(Bytes::from(chunk)).await.is_err() {
                self.session.requeue(std::iter::once(event).chain(events));
                return Err(Ended);
            }
        }
        Ok(())
    }

    async fn write(&self, chunk: Bytes) -> Result<(), Ended> {
        self.sender.send(chunk).await.map_err(|_| Ended)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_requests_are_recognised() {
        let mut headers = HeaderMap::new();
        assert!(!wants_stream(&headers));
        headers.insert(header::ACCEPT, HeaderValue::from_static("Text/Event-Stream"));
        assert!(wants_stream(&headers));
        headers.insert(header::ACCEPT, HeaderValue::from_static("*/*"));
        assert!(!wants_stream(&headers));
    }
}
