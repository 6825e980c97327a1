//! Wire types: the message object every transport carries (bayeux.md a.2), the typed request it is parsed
//! into once at the edge, and the serialized events fanned out to sessions.

use bytes::Bytes;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use super::advice::Advice;
use super::channel::{self, Kind, MetaChannel};
use super::error::Error;

/// One Bayeux message, in either direction. Extensions see and may change it.
///
/// `id` is kept as the JSON value the client sent and echoed unchanged: the faye client matches replies by
/// the id *string* and ignores a reply whose id is missing or retyped (pitfall 2). `data` distinguishes
/// "absent" (`None`) from `null` (`Some(Value::Null)`): a publish without `data` is refused with 402, while
/// `null` is legal data (bayeux.md a.2).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Message {
    /// The channel; required on every message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    /// The client's message id, echoed on the reply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<Value>,
    /// The session, given by the server at handshake.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// Present on replies only: its presence is what marks a message as a reply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub successful: Option<bool>,
    /// `CODE:ARGS:MESSAGE` on a failed reply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Subscribe and unsubscribe: a channel or pattern, or an array of them (echoed as given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription: Option<Value>,
    /// The payload of a publish or a delivered event.
    #[serde(default, deserialize_with = "present", skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
    /// Reconnect advice (server to client), or the connect `timeout` (client to server).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub advice: Option<Advice>,
    /// Free-form extension data. Never forwarded to subscribers by this server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ext: Option<Value>,
    /// Handshake: the protocol version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Handshake: the oldest version the client accepts (unused by faye).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minimum_version: Option<String>,
    /// Handshake: the transports the client (request) or the server (reply) supports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supported_connection_types: Option<Vec<String>>,
    /// Connect: the transport in use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_type: Option<String>,
}

/// Keeps an explicit `null` as `Some(Value::Null)`; a missing field stays `None` through `default`.
fn present<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(deserializer).map(Some)
}

impl Message {
    /// A reply skeleton to `self`: same `id`, `channel` and `clientId` (bayeux.md b.2).
    pub fn reply(&self) -> Self {
        Self {
            id: self.id.clone(),
            channel: self.channel.clone(),
            client_id: self.client_id.clone(),
            ..Self::default()
        }
    }

    /// Marks `self` as successful.
    pub fn succeed(mut self) -> Self {
        self.successful = Some(true);
        self.error = None;
        self
    }

    /// Marks `self` as failed with `error`.
    pub fn fail(mut self, error: &Error) -> Self {
        self.successful = Some(false);
        self.error = Some(error.to_string());
        self
    }
}

/// Splits a parsed body into messages: an array, or a bare object (bayeux.md a.1). Anything else is not a
/// Bayeux body and the HTTP transport answers 400.
pub(crate) fn split_body(value: Value) -> Option<Vec<Value>> {
    match value {
        Value::Array(items) => Some(items),
        object @ Value::Object(_) => Some(vec![object]),
        _ => None,
    }
}

/// Reads one array element as a [`Message`]. On failure the caller still gets a reply to send, carrying
/// whatever `id` and `channel` could be read, so the client can match it.
pub(crate) fn read_message(value: Value) -> Result<Message, Box<Message>> {
    let fallback = |value: &Value| Message {
        id: value.get("id").cloned(),
        channel: value.get("channel").and_then(Value::as_str).map(str::to_owned),
        ..Message::default()
    };
    if !value.is_object() {
        return Err(Box::new(Message::default().fail(&Error::BadRequest("Bad request"))));
    }
    let reply = fallback(&value);
    Message::deserialize(value).map_err(|_| Box::new(reply.fail(&Error::BadRequest("Bad request"))))
}

/// What a message asks for, once its channel has been classified. Parsing happens once, here; the engine
/// matches on this and never looks at channel strings again.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Request {
    /// `/meta/handshake`
    Handshake,
    /// `/meta/connect`
    Connect,
    /// `/meta/subscribe`
    Subscribe,
    /// `/meta/unsubscribe`
    Unsubscribe,
    /// `/meta/disconnect`
    Disconnect,
    /// A publish to a plain channel outside `/meta`.
    Publish {
        /// Whether the channel is under `/service` (acked, never delivered remotely).
        service: bool,
    },
}

impl Request {
    /// Classifies `message` by its channel. `/meta/...` names other than the five protocol channels are
    /// refused here, in one place (CVE-2020-11020, bayeux.md a.11).
    pub(crate) fn classify(message: &Message) -> Result<Self, Error> {
        let name = message.channel.as_deref().ok_or(Error::MissingParameter("channel"))?;
        if let Some(meta) = MetaChannel::from_name(name) {
            return Ok(match meta {
                MetaChannel::Handshake => Self::Handshake,
                MetaChannel::Connect => Self::Connect,
                MetaChannel::Subscribe => Self::Subscribe,
                MetaChannel::Unsubscribe => Self::Unsubscribe,
                MetaChannel::Disconnect => Self::Disconnect,
            });
        }
        if channel::is_meta(name) {
            return Err(Error::ForbiddenChannel(name.to_owned()));
        }
        match channel::parse(name) {
            // Publishing to a pattern is 405, like a malformed name (bayeux.md a.3).
            Ok(Kind::Name) => Ok(Self::Publish { service: channel::is_service(name) }),
            Ok(Kind::One | Kind::Many) | Err(_) => Err(Error::InvalidChannel(name.to_owned())),
        }
    }
}

/// The channels of a subscribe or unsubscribe: one string or an array of strings (bayeux.md a.6).
pub(crate) fn subscriptions(message: &Message) -> Result<Vec<&str>, Error> {
    match &message.subscription {
        None | Some(Value::Null) => Err(Error::MissingParameter("subscription")),
        Some(Value::String(one)) => Ok(vec![one.as_str()]),
        Some(Value::Array(many)) if !many.is_empty() => {
            many.iter().map(|item| item.as_str().ok_or(Error::BadRequest("Bad request"))).collect()
        }
        Some(_) => Err(Error::MissingParameter("subscription")),
    }
}

/// One delivered event, serialized once per publish as the frame `[{"channel":..,"data":..}]` and shared by
/// every session it reaches. The bytes are preceded by the header of an unmasked WebSocket text frame, so
/// WebSocket writes the whole (header and frame) as is; long-polling splices the inner object into its reply
/// array. Events carry no `id` (CometD clients match replies by id), never `successful`, never the
/// publisher's `clientId` (bayeux.md b.6, b.10).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Event {
    /// WebSocket frame header, then the JSON frame.
    bytes: Bytes,
    /// Length of the header.
    header: u8,
}

#[derive(Serialize)]
struct EventBody<'a, T: ?Sized> {
    channel: &'a str,
    data: &'a T,
}

/// Room left at the front of an event's buffer for the largest WebSocket frame header (RFC 6455 §5.2).
const HEADER_ROOM: usize = 10;

impl Event {
    /// Serializes `{channel, data}` into a one-element array.
    pub(crate) fn new<T: Serialize + ?Sized>(channel: &str, data: &T) -> Result<Self, serde_json::Error> {
        let mut buffer = vec![0; HEADER_ROOM];
        serde_json::to_writer(&mut buffer, &[EventBody { channel, data }])?;
        Ok(Self::framed(buffer))
    }

    /// Builds the frame around already-serialized JSON `data`, which the caller has checked.
    pub(crate) fn from_json(channel: &str, data: &str) -> Result<Self, serde_json::Error> {
        let name = serde_json::to_string(channel)?;
        let mut buffer = Vec::with_capacity(HEADER_ROOM + data.len() + name.len() + 24);
        buffer.resize(HEADER_ROOM, 0);
        buffer.extend_from_slice(b"[{\"channel\":");
        buffer.extend_from_slice(name.as_bytes());
        buffer.extend_from_slice(b",\"data\":");
        buffer.extend_from_slice(data.trim().as_bytes());
        buffer.extend_from_slice(b"}]");
        Ok(Self::framed(buffer))
    }

    /// Writes the WebSocket header of the JSON after the first [`HEADER_ROOM`] bytes of `buffer` just
    /// before it, and keeps the buffer from the header on.
    fn framed(mut buffer: Vec<u8>) -> Self {
        let len = buffer.len() - HEADER_ROOM;
        // FIN and the text opcode; a server's frames are not masked.
        let mut header = [0_u8; HEADER_ROOM];
        header[0] = 0x81;
        let header_len = match len {
            0..=125 => {
                header[1] = len as u8;
                2
            }
            126..=0xFFFF => {
                header[1] = 126;
                header[2..4].copy_from_slice(&(len as u16).to_be_bytes());
                4
            }
            _ => {
                header[1] = 127;
                header[2..10].copy_from_slice(&(len as u64).to_be_bytes());
                10
            }
        };
        let start = HEADER_ROOM - header_len;
        buffer[start..HEADER_ROOM].copy_from_slice(&header[..header_len]);
        Self { bytes: Bytes::from(buffer).slice(start..), header: header_len as u8 }
    }

    /// The whole frame, `[event]`, always UTF-8 JSON.
    pub(crate) fn frame(&self) -> &[u8] {
        self.bytes.get(usize::from(self.header)..).unwrap_or_default()
    }

    /// The frame as one WebSocket text frame, header included.
    pub(crate) fn websocket_frame(&self) -> &[u8] {
        &self.bytes
    }

    /// The event object without the surrounding brackets, for splicing into a reply array.
    pub(crate) fn object(&self) -> &[u8] {
        let frame = self.frame();
        frame.get(1..frame.len().saturating_sub(1)).unwrap_or_default()
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
        // Serializing a `Message` does not fail in practice (strings, bools, numbers and `Value`s); if it
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
    use serde_json::json;

    /// An event's WebSocket frame is an unmasked, final text frame whose payload is exactly the JSON frame,
    /// with the length in 7, 16 or 64 bits as RFC 6455 §5.2 requires.
    #[test]
    fn events_carry_their_websocket_frame() {
        // `[{"channel":"/a","data":"…"}]` is 28 bytes around the string: JSON of 28, 125, 126, 65 535 and 65 536.
        for (len, header) in [(0, 2), (97, 2), (98, 4), (65_507, 4), (65_508, 10)] {
            let event = Event::new("/a", &"x".repeat(len)).unwrap_or_else(|e| panic!("serializes: {e}"));
            let json = event.frame().to_vec();
            assert_eq!(
                serde_json::from_slice::<Value>(&json).ok(),
                Some(json!([{"channel":"/a","data":"x".repeat(len)}]))
            );
            let frame = event.websocket_frame();
            assert_eq!(frame.len(), header + json.len(), "a JSON frame of {} bytes", json.len());
            assert_eq!(frame[0], 0x81, "FIN and text");
            let declared = match header {
                2 => u64::from(frame[1]),
                4 => {
                    assert_eq!(frame[1], 126);
                    u64::from(u16::from_be_bytes([frame[2], frame[3]]))
                }
                _ => {
                    assert_eq!(frame[1], 127);
                    u64::from_be_bytes(frame[2..10].try_into().unwrap_or_default())
                }
            };
            assert_eq!(declared, json.len() as u64);
            assert_eq!(&frame[header..], &json[..]);
        }
        let spliced = Event::from_json("/b", " {\"k\": 1} ").unwrap_or_else(|e| panic!("frames: {e}"));
        assert_eq!(spliced.frame(), br#"[{"channel":"/b","data":{"k": 1}}]"#);
        assert_eq!(spliced.object(), br#"{"channel":"/b","data":{"k": 1}}"#);
        assert_eq!(&spliced.websocket_frame()[2..], spliced.frame());
    }

    /// Parses a literal request as faye 1.4.3 sends it (bayeux.md a.4 to a.8) and checks the typed view.
    fn parse(text: &str) -> Message {
        let value: Value = serde_json::from_str(text).unwrap_or(Value::Null);
        read_message(value).unwrap_or_default()
    }

    #[test]
    fn faye_requests_round_trip() {
        let handshake = parse(
            r#"{"channel":"/meta/handshake","version":"1.0","supportedConnectionTypes":["in-process","websocket","long-polling"],"id":"1"}"#,
        );
        assert_eq!(Request::classify(&handshake), Ok(Request::Handshake));
        assert_eq!(handshake.id, Some(json!("1")));
        assert_eq!(handshake.supported_connection_types.as_ref().map(Vec::len), Some(3));

        let connect = parse(
            r#"{"channel":"/meta/connect","clientId":"abc","connectionType":"long-polling","id":"2","advice":{"timeout":0}}"#,
        );
        assert_eq!(Request::classify(&connect), Ok(Request::Connect));
        assert_eq!(connect.advice.and_then(|a| a.timeout), Some(0));

        let publish = parse(r#"{"channel":"/chat/lobby","data":null,"clientId":"abc","id":"b"}"#);
        assert_eq!(Request::classify(&publish), Ok(Request::Publish { service: false }));
        assert_eq!(publish.data, Some(Value::Null));
        let no_data = parse(r#"{"channel":"/chat/lobby","clientId":"abc","id":"c"}"#);
        assert_eq!(no_data.data, None);

        // Serializing a reply keeps the id a string and omits what is absent.
        let reply = connect.reply().succeed();
        assert_eq!(
            serde_json::to_value(&reply).unwrap_or_default(),
            json!({"channel":"/meta/connect","id":"2","clientId":"abc","successful":true})
        );
    }

    /// Every message in the captured faye 1.4.3 traces (`../shared/docs/bayeux-traces/`, beside the
    /// checkout) reads as a [`Message`] and serializes back unchanged, so no field faye uses is lost; every
    /// client message classifies. The traces are read at test time when present.
    #[test]
    fn trace_messages_round_trip() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/docs/bayeux-traces");
        let Ok(files) = std::fs::read_dir(&dir) else {
            eprintln!("no traces at {}: round trip not checked", dir.display());
            return;
        };
        let mut checked = 0;
        for file in files.flatten().map(|f| f.path()).filter(|p| p.extension().is_some_and(|e| e == "json")) {
            let text = std::fs::read_to_string(&file).expect("a readable trace");
            let trace: Value = serde_json::from_str(&text).expect("a JSON trace");
            for entry in trace.as_array().into_iter().flatten() {
                let body = entry.get("json").or_else(|| entry.pointer("/body_decoded/json"));
                let Some(messages) = body.cloned().and_then(split_body) else { continue };
                for original in messages {
                    let message = read_message(original.clone()).unwrap_or_else(|reply| {
                        panic!("{}: unreadable {original} ({:?})", file.display(), reply.error)
                    });
                    let again = serde_json::to_value(&message).expect("serializes");
                    assert_eq!(again, original, "{}", file.display());
                    if entry["dir"] == "C->S" {
                        let request = Request::classify(&message);
                        assert!(request.is_ok(), "{}: {original} gives {request:?}", file.display());
                    }
                    checked += 1;
                }
            }
        }
        assert!(checked > 100, "only {checked} messages found in {}", dir.display());
    }

    #[test]
    fn cometd_extras_are_tolerated() {
        let message = parse(
            r#"{"channel":"/meta/handshake","version":"1.0","minimumVersion":"1.0","supportedConnectionTypes":["websocket","long-polling"],"advice":{"timeout":60000,"interval":0},"ext":{"ack":true,"timestamp":"x"},"id":"1","timestamp":"Thu, 26 Nov 2026 07:00:00 GMT"}"#,
        );
        assert_eq!(Request::classify(&message), Ok(Request::Handshake));
        assert_eq!(message.ext, Some(json!({"ack":true,"timestamp":"x"})));
    }

    #[test]
    fn channels_are_classified_in_one_place() {
        let on = |channel: &str| Request::classify(&Message { channel: Some(channel.into()), ..Message::default() });
        assert_eq!(on("/meta/subscribe/x"), Err(Error::ForbiddenChannel("/meta/subscribe/x".into())));
        assert_eq!(on("/meta/foo"), Err(Error::ForbiddenChannel("/meta/foo".into())));
        assert_eq!(on("/api/*"), Err(Error::InvalidChannel("/api/*".into())));
        assert_eq!(on("bad"), Err(Error::InvalidChannel("bad".into())));
        assert_eq!(on("/service/echo"), Ok(Request::Publish { service: true }));
        assert_eq!(Request::classify(&Message::default()), Err(Error::MissingParameter("channel")));
    }

    #[test]
    fn unreadable_messages_still_get_a_matchable_reply() {
        let reply = read_message(json!({"channel": 5, "id": "7"})).err().unwrap_or_default();
        assert_eq!(reply.id, Some(json!("7")));
        assert_eq!(reply.successful, Some(false));
        assert_eq!(reply.error.as_deref(), Some("400::Bad request"));
        assert!(read_message(json!(42)).is_err());
    }

    #[test]
    fn subscription_forms() {
        let with = |s: Value| Message { subscription: Some(s), ..Message::default() };
        assert_eq!(subscriptions(&with(json!("/a"))), Ok(vec!["/a"]));
        assert_eq!(subscriptions(&with(json!(["/a", "/b/*"]))), Ok(vec!["/a", "/b/*"]));
        assert_eq!(subscriptions(&Message::default()), Err(Error::MissingParameter("subscription")));
        assert_eq!(subscriptions(&with(json!([]))), Err(Error::MissingParameter("subscription")));
        assert_eq!(subscriptions(&with(json!([1]))), Err(Error::BadRequest("Bad request")));
    }

    #[test]
    fn events_are_serialized_once_and_spliced() -> Result<(), serde_json::Error> {
        let event = Event::new("/api/todos", &json!({"method":"POST","body":{"id":1}}))?;
        let frame: Value = serde_json::from_slice(event.frame())?;
        assert_eq!(frame, json!([{"channel":"/api/todos","data":{"method":"POST","body":{"id":1}}}]));
        let raw = Event::from_json("/api/todos", r#" {"method":"POST","body":{"id":1}} "#)?;
        assert_eq!(serde_json::from_slice::<Value>(raw.frame())?, frame);

        let ack = Message { channel: Some("/meta/connect".into()), id: Some(json!("9")), ..Message::default() };
        let batch: Value = serde_json::from_slice(&encode_batch(&[ack.succeed()], &[event.clone(), event]))?;
        assert_eq!(batch.as_array().map(Vec::len), Some(3));
        assert_eq!(batch[0]["id"], json!("9"));
        assert_eq!(batch[2]["channel"], json!("/api/todos"));
        assert_eq!(encode_batch(&[], &[]), b"[]");
        Ok(())
    }
}
