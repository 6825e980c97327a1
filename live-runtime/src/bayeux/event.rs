//! Delivered events: each is serialized once per publish, as the frame `[{"channel":..,"data":..}]`, and
//! shared by every session it reaches (a clone is a reference count, so a queue, a fence or a transport
//! that keeps an event until the client has it holds it by reference, never by copy).
//!
//! Events carry no `id` (CometD clients match replies by id), never `successful`, never the publisher's
//! `clientId` (docs/protocol.md §6.2). The core knows nothing of how a transport frames them: long-polling
//! splices [`Event::object`] into its reply array, EventSource writes [`Event::frame`] after `data: `, and a
//! transport that needs a framing of its own (WebSocket's frame header) builds it once per event through
//! [`Event::encoded`].

use std::fmt;
use std::sync::{Arc, OnceLock};

use serde::Serialize;

use super::message::Message;

/// One delivered event.
#[derive(Clone)]
pub(crate) struct Event(Arc<Frame>);

struct Frame {
    /// `[{"channel":..,"data":..}]`, always UTF-8 JSON (a `Vec` as serialized: shrinking it would copy it).
    json: Vec<u8>,
    /// A transport's own encoding of the frame, built the first time one of its sessions needs it.
    encoded: OnceLock<Box<[u8]>>,
}

#[derive(Serialize)]
struct Body<'a, T: ?Sized> {
    channel: &'a str,
    data: &'a T,
}

impl Event {
    /// Serializes `{channel, data}` into a one-element array.
    pub(crate) fn new<T: Serialize + ?Sized>(channel: &str, data: &T) -> Result<Self, serde_json::Error> {
        let json = serde_json::to_vec(&[Body { channel, data }])?;
        Ok(Self::from_frame(json))
    }

    /// Builds the frame around already-serialized JSON `data`, which the caller has checked.
    pub(crate) fn from_json(channel: &str, data: &str) -> Result<Self, serde_json::Error> {
        let name = serde_json::to_string(channel)?;
        let data = data.trim();
        let mut json = Vec::with_capacity(data.len() + name.len() + 24);
        json.extend_from_slice(b"[{\"channel\":");
        json.extend_from_slice(name.as_bytes());
        json.extend_from_slice(b",\"data\":");
        json.extend_from_slice(data.as_bytes());
        json.extend_from_slice(b"}]");
        Ok(Self::from_frame(json))
    }

    /// The same event marked `ext: {"resent": true}`, for a session that writes it again after a connection
    /// was lost (docs/protocol.md §6.5): a client that may have seen it drops the duplicate by its seq.
    pub(crate) fn resent(&self) -> Self {
        let frame = self.frame();
        // The frame ends with `}]`: the member goes before them.
        let body = frame.get(..frame.len().saturating_sub(2)).unwrap_or_default();
        let mut json = Vec::with_capacity(frame.len() + 24);
        json.extend_from_slice(body);
        json.extend_from_slice(br#","ext":{"resent":true}}]"#);
        Self::from_frame(json)
    }

    fn from_frame(json: Vec<u8>) -> Self {
        Self(Arc::new(Frame { json, encoded: OnceLock::new() }))
    }

    /// The whole frame, `[event]`.
    pub(crate) fn frame(&self) -> &[u8] {
        &self.0.json
    }

    /// The event object without the surrounding brackets, for splicing into a reply array.
    pub(crate) fn object(&self) -> &[u8] {
        let frame = self.frame();
        frame.get(1..frame.len().saturating_sub(1)).unwrap_or_default()
    }

    /// The frame as encoded by `encode`, built at the first call and then shared by every session this
    /// event reaches. One slot per event: only the transport that writes events in place (WebSocket) uses it,
    /// and always with the same `encode`.
    pub(crate) fn encoded(&self, encode: impl FnOnce(&[u8]) -> Box<[u8]>) -> &[u8] {
        self.0.encoded.get_or_init(|| encode(&self.0.json))
    }
}

impl PartialEq for Event {
    fn eq(&self, other: &Self) -> bool {
        self.frame() == other.frame()
    }
}

impl Eq for Event {}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Event").field(&String::from_utf8_lossy(self.frame())).finish()
    }
}

/// Serializes replies followed by events as one JSON array, copying each shared event once.
pub(crate) fn encode_batch(replies: &[Message], events: &[Event]) -> Vec<u8> {
    let mut out = Vec::with_capacity(128 * replies.len() + events.iter().map(|e| e.frame().len()).sum::<usize>() + 2);
    out.push(b'[');
    for reply in replies {
        let mark = out.len();
        if out.len() > 1 {
            out.push(b',');
        }
        // Serializing a `Message` does not fail in practice (strings, bools, numbers and JSON values); if it
        // ever did, the reply is left out rather than the array broken.
        if serde_json::to_writer(&mut out, reply).is_err() {
            out.truncate(mark);
        }
    }
    for event in events {
        if out.len() > 1 {
            out.push(b',');
        }
        out.extend_from_slice(event.object());
    }
    out.push(b']');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    #[test]
    fn events_are_serialized_once_and_spliced() -> Result<(), serde_json::Error> {
        let event = Event::new("/api/todos", &json!({"method":"POST","body":{"id":1}}))?;
        let frame: Value = serde_json::from_slice(event.frame())?;
        assert_eq!(frame, json!([{"channel":"/api/todos","data":{"method":"POST","body":{"id":1}}}]));
        let raw = Event::from_json("/api/todos", r#" {"method":"POST","body":{"id":1}} "#)?;
        assert_eq!(serde_json::from_slice::<Value>(raw.frame())?, frame);
        assert_eq!(raw.object(), br#"{"channel":"/api/todos","data":{"method":"POST","body":{"id":1}}}"#);

        let ack = Message { channel: Some("/meta/connect".into()), id: Some(json!("9")), ..Message::default() };
        let batch: Value = serde_json::from_slice(&encode_batch(&[ack.succeed()], &[event.clone(), event]))?;
        assert_eq!(batch.as_array().map(Vec::len), Some(3));
        assert_eq!(batch[0]["id"], json!("9"));
        assert_eq!(batch[2]["channel"], json!("/api/todos"));
        assert_eq!(encode_batch(&[], &[]), b"[]");

        let again: Value = serde_json::from_slice(raw.resent().frame())?;
        assert_eq!(
            again,
            json!([{"channel":"/api/todos","data":{"method":"POST","body":{"id":1}},"ext":{"resent":true}}])
        );
        Ok(())
    }

    #[test]
    fn a_transport_encoding_is_built_once_and_shared_by_clones() -> Result<(), serde_json::Error> {
        let event = Event::new("/a", &1)?;
        let copy = event.clone();
        let mut builds = 0;
        let first = event
            .encoded(|json| {
                builds += 1;
                [b"<".as_slice(), json].concat().into_boxed_slice()
            })
            .to_vec();
        let again = copy.encoded(|_| unreachable!("built once")).to_vec();
        assert_eq!((builds, first.as_slice()), (1, br#"<[{"channel":"/a","data":1}]"#.as_slice()));
        assert_eq!(again, first);
        Ok(())
    }
}
