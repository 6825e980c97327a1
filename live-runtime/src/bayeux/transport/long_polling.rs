//! Long-polling: one HTTP POST carries a batch and gets a JSON array back, always with status 200 (the browser's XHR
//! transport treats any other status as a network failure: docs/protocol.md, pitfall P19). A `/meta/connect` in the
//! batch is held until an event is queued, the hold runs out, or a newer connect supersedes it; its reply comes after
//! the batch's other replies, followed by the queued events (docs/protocol.md §5.2).

use std::borrow::Cow;
use std::sync::Arc;

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde_json::Value;
use tokio::time::Instant;

use super::bad_request;
use crate::bayeux::event::{Event, encode_batch};
use crate::bayeux::message::{self, Message};
use crate::bayeux::meta;
use crate::bayeux::session::{Session, Take};
use crate::bayeux::{Context, Error, Server, Transport};

/// Serves one POST.
pub(crate) async fn handle(server: Server, headers: HeaderMap, body: Body) -> Response {
    let limit = server.options().max_message_size;
    let bytes = match Limited::new(body, limit).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(error) if error.downcast_ref::<LengthLimitError>().is_some() => {
            // A Bayeux error rather than a dropped connection (docs/protocol.md §2.5). It cannot carry the
            // message ids, which were never read.
            return json(encode_batch(&[Message::default().fail(&Error::BadRequest("Message too large"))], &[]));
        }
        Err(_) => return bad_request(),
    };
    let Some(values) = messages(&headers, &bytes) else {
        return bad_request();
    };
    let context = Context::new(Arc::new(headers), Transport::LongPolling);
    json(respond(&server, values, &context).await)
}

/// Finds the messages in a body: JSON for `application/json`, otherwise a form with a `message` field, as
/// the CORS transport posts `text/plain` forms (docs/protocol.md §10.2, §10.3). A non-JSON content type whose
/// body is plainly JSON is read as JSON too.
fn messages(headers: &HeaderMap, body: &[u8]) -> Option<Vec<Value>> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.trim_start().to_ascii_lowercase().starts_with("application/json"));
    let text: Cow<'_, [u8]> = if is_json {
        Cow::Borrowed(body)
    } else {
        match form_urlencoded::parse(body).find(|(key, _)| key == "message") {
            Some((_, message)) => Cow::Owned(message.into_owned().into_bytes()),
            None if body.trim_ascii_start().starts_with(b"[") || body.trim_ascii_start().starts_with(b"{") => {
                Cow::Borrowed(body)
            }
            None => return None,
        }
    };
    serde_json::from_slice(&text).ok().and_then(message::split_body)
}

/// Processes a batch and holds its connect; returns the reply array's bytes. JSONP (`jsonp.rs`) answers with
/// the same bytes, only wrapped in its callback.
pub(crate) async fn respond(server: &Server, values: Vec<Value>, context: &Context) -> Vec<u8> {
    let outcome = server.process(values, context).await;
    let mut replies = outcome.replies;
    let mut events = Vec::new();
    if let Some(connect) = outcome.connect {
        let mut reply = connect.reply;
        // Extensions run before the hold: once events are taken from the queue nothing may await, or a
        // client that goes away would take them with it (docs/protocol.md, pitfall P5).
        server.outgoing(&mut reply, context).await;
        match hold(&connect.session, connect.hold).await {
            Held::Events(taken) => {
                events = taken;
                // The reply closes the batch its events went out in (docs/protocol.md §6.5).
                meta::close_batch(&connect.session, &mut reply);
                replies.push(reply);
            }
            Held::Ended => {
                // Nothing was taken from the queue, so awaiting the hooks again is safe.
                let mut ended = server.ended(&reply);
                server.outgoing(&mut ended, context).await;
                replies.push(ended);
            }
        }
    }
    encode_batch(&replies, &events)
}

/// How a held connect ended.
enum Held {
    /// The hold ran out, events arrived, the client disconnected, or a newer connect took over.
    Events(Vec<Event>),
    /// The server ended the session (expiry, overflow, [`Server::close_all`]).
    Ended,
}

/// Waits, as the session's consumer, until events are queued or `hold` runs out.
async fn hold(session: &Arc<Session>, hold: std::time::Duration) -> Held {
    let consumer = session.attach();
    let deadline = Instant::now() + hold;
    loop {
        match consumer.take_written() {
            Take::Events(events) if !events.is_empty() => return Held::Events(events),
            Take::Events(_) => {}
            // A newer connect answers from now on; a disconnect answers the held connect at once (docs/protocol.md
            // §5.2, §5.4).
            Take::Superseded | Take::Closed { disconnected: true } => return Held::Events(Vec::new()),
            Take::Closed { disconnected: false } => return Held::Ended,
        }
        if Instant::now() >= deadline {
            return Held::Events(Vec::new());
        }
        tokio::select! {
            () = consumer.changed() => {}
            () = tokio::time::sleep_until(deadline) => {}
        }
    }
}

fn json(body: Vec<u8>) -> Response {
    let mut response = (StatusCode::OK, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json; charset=utf-8"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache, no-store"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn typed(content_type: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_str(content_type).expect("valid header"));
        headers
    }

    #[test]
    fn bodies_in_every_accepted_shape() {
        let json = typed("application/json; charset=UTF-8");
        assert_eq!(messages(&json, br#"[{"channel":"/a"}]"#).map(|m| m.len()), Some(1));
        assert_eq!(messages(&json, br#"{"channel":"/a"}"#).map(|m| m.len()), Some(1));
        assert_eq!(messages(&json, b"[]").map(|m| m.len()), Some(0));
        assert_eq!(messages(&json, b"42"), None);
        assert_eq!(messages(&json, br#"[{"channel":"#), None);
        let form = typed("application/x-www-form-urlencoded");
        assert_eq!(messages(&form, b"message=%5B%7B%22channel%22%3A%22%2Fa%22%7D%5D").map(|m| m.len()), Some(1));
        let plain = typed("text/plain;charset=UTF-8");
        assert_eq!(messages(&plain, b"message=%7B%22channel%22%3A%22%2Fa%22%7D").map(|m| m.len()), Some(1));
        assert_eq!(messages(&plain, b"hello"), None);
        assert_eq!(messages(&HeaderMap::new(), br#"[{"channel":"/a"}]"#).map(|m| m.len()), Some(1));
    }
}
