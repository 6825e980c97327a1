//! Wire types: the message object every transport carries (docs/protocol.md §3), and the typed `Request` it is
//! parsed into once, at the edge, after the incoming extensions ran. The engine matches on the request and
//! never reads the message's optional fields again.

use std::fmt;

use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;
use serde_json::value::RawValue;

use super::advice::Advice;
use super::channel::{self, Kind, MetaChannel};
use super::error::Error;
use super::history::Catchup;

/// One Bayeux message, in either direction. Extensions see and may change it.
///
/// `id` is kept as the JSON value the client sent and echoed unchanged: the faye client matches replies by the id
/// *string* and ignores a reply whose id is missing or retyped (docs/protocol.md, pitfall P2). `data` distinguishes
/// "absent" (`None`) from `null` (`Some(Value::Null)`): a publish without `data` is refused with 402, while `null` is
/// legal data (docs/protocol.md §3).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
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
    /// Members the server adds to `ext` as JSON it already serialized (a snapshot's rows), written after
    /// `ext`'s own members without being parsed again. Not visible to extensions.
    #[serde(skip)]
    pub(crate) ext_raw: RawMembers,
}

/// JSON members serialized once, kept as text (see [`Message::ext_raw`]).
#[derive(Clone, Default)]
pub(crate) struct RawMembers(Vec<(&'static str, Box<RawValue>)>);

impl RawMembers {
    /// Adds the member `key: json`.
    pub(crate) fn push(&mut self, key: &'static str, json: Box<RawValue>) {
        self.0.push((key, json));
    }
}

impl PartialEq for RawMembers {
    fn eq(&self, other: &Self) -> bool {
        self.0.len() == other.0.len()
            && self.0.iter().zip(&other.0).all(|((a, x), (b, y))| a == b && x.get() == y.get())
    }
}

impl fmt::Debug for RawMembers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.0.iter().map(|(key, json)| (key, json.get()))).finish()
    }
}

/// Serialized by hand only to merge the `ext_raw` field into `ext`; the fields, their names and their
/// order are those the derive would give.
impl Serialize for Message {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        fn field<M: SerializeMap, T: Serialize>(map: &mut M, key: &str, value: Option<&T>) -> Result<(), M::Error> {
            match value {
                Some(value) => map.serialize_entry(key, value),
                None => Ok(()),
            }
        }
        let mut map = serializer.serialize_map(None)?;
        field(&mut map, "channel", self.channel.as_ref())?;
        field(&mut map, "id", self.id.as_ref())?;
        field(&mut map, "clientId", self.client_id.as_ref())?;
        field(&mut map, "successful", self.successful.as_ref())?;
        field(&mut map, "error", self.error.as_ref())?;
        field(&mut map, "subscription", self.subscription.as_ref())?;
        field(&mut map, "data", self.data.as_ref())?;
        field(&mut map, "advice", self.advice.as_ref())?;
        if self.ext_raw.0.is_empty() {
            field(&mut map, "ext", self.ext.as_ref())?;
        } else {
            map.serialize_entry("ext", &Ext { ext: self.ext.as_ref(), raw: &self.ext_raw })?;
        }
        field(&mut map, "version", self.version.as_ref())?;
        field(&mut map, "minimumVersion", self.minimum_version.as_ref())?;
        field(&mut map, "supportedConnectionTypes", self.supported_connection_types.as_ref())?;
        field(&mut map, "connectionType", self.connection_type.as_ref())?;
        map.end()
    }
}

/// `ext`'s own members (an object's; anything else is replaced), then the raw ones.
struct Ext<'a> {
    ext: Option<&'a Value>,
    raw: &'a RawMembers,
}

impl Serialize for Ext<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        if let Some(Value::Object(members)) = self.ext {
            for (key, value) in members.iter().filter(|(key, _)| !self.raw.0.iter().any(|(raw, _)| raw == key)) {
                map.serialize_entry(key, value)?;
            }
        }
        for (key, json) in &self.raw.0 {
            map.serialize_entry(key, json)?;
        }
        map.end()
    }
}

/// Keeps an explicit `null` as `Some(Value::Null)`; a missing field stays `None` through `default`.
fn present<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(deserializer).map(Some)
}

impl Message {
    /// Sets the member `name` of `ext`, keeping its other members (an `ext` that is not an object is
    /// replaced).
    pub(crate) fn put_ext(&mut self, name: &str, value: Value) {
        match &mut self.ext {
            Some(Value::Object(members)) => {
                members.insert(name.to_owned(), value);
            }
            ext => {
                let mut members = serde_json::Map::new();
                members.insert(name.to_owned(), value);
                *ext = Some(Value::Object(members));
            }
        }
    }

    /// A reply skeleton to `self`: same `id`, `channel` and `clientId` (docs/protocol.md §2.3).
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

/// Splits a parsed body into messages: an array, or a bare object (docs/protocol.md §2.2). Anything else is not a
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

/// What a message asks for: parsed once from the wire [`Message`], after the incoming extensions ran.
///
/// Failures the protocol reports only after another check keep their place: a subscribe to a malformed
/// channel from an unknown client is a 401, not a 405, as in faye, so such a request carries its parse error
/// in a field ([`Subscribe::channels`]) that the handler looks at in turn.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Request {
    /// `/meta/handshake`
    Handshake(Handshake),
    /// `/meta/connect`
    Connect(Connect),
    /// `/meta/subscribe`
    Subscribe(Subscribe),
    /// `/meta/unsubscribe`
    Unsubscribe(Unsubscribe),
    /// `/meta/disconnect`
    Disconnect(Disconnect),
    /// A publish to a plain channel outside `/meta`.
    Publish(Publish),
}

/// A `/meta/handshake`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Handshake {
    /// The connection types the client supports; a missing `version` or `supportedConnectionTypes` (in that
    /// order) is a 402 (docs/protocol.md §5.1).
    pub(crate) connection_types: Result<Vec<String>, Error>,
    /// `ext.ack: true`: the client acknowledges batches (CometD's ack extension, docs/protocol.md §6.5).
    pub(crate) ack: bool,
}

/// A `/meta/connect`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Connect {
    /// The session (empty when missing: an unknown client).
    pub(crate) client_id: String,
    /// The transport in use; checked after the session.
    pub(crate) connection_type: Option<String>,
    /// `advice.timeout`: how long the client lets the server hold the connect, in milliseconds.
    pub(crate) timeout: Option<u64>,
    /// `ext.ack`: the last batch the client received (docs/protocol.md §6.5).
    pub(crate) ack: Option<u64>,
}

impl Connect {
    /// Whether this is an EventSource client's heartbeat (docs/protocol.md §10.6).
    pub(crate) fn is_eventsource(&self) -> bool {
        self.connection_type.as_deref() == Some(EVENTSOURCE)
    }
}

/// The `connectionType` of the EventSource transport, whose connects are heartbeats (docs/protocol.md §10.6).
pub(crate) const EVENTSOURCE: &str = "eventsource";

/// A `/meta/subscribe`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Subscribe {
    /// The session (empty when missing).
    pub(crate) client_id: String,
    /// The channels and patterns asked for; checked after the session.
    pub(crate) channels: Result<Vec<String>, Error>,
    /// `ext.since` or `ext.snapshot` (docs/protocol.md §14.1, §14.2).
    pub(crate) catchup: Option<Catchup>,
    /// `ext.where`: a filter on the channel's events (docs/live.md, "Filtered subscriptions").
    pub(crate) filter: Option<String>,
}

/// A `/meta/unsubscribe`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Unsubscribe {
    /// The session (empty when missing).
    pub(crate) client_id: String,
    /// The channels and patterns to drop; checked after the session.
    pub(crate) channels: Result<Vec<String>, Error>,
}

/// A `/meta/disconnect`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Disconnect {
    /// The session (empty when missing).
    pub(crate) client_id: String,
}

/// A client's publish.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Publish {
    /// The publisher's session, if it gave one.
    pub(crate) client_id: Option<String>,
    /// A plain channel name.
    pub(crate) channel: String,
    /// Whether the channel is under `/service` (acked, never delivered remotely).
    pub(crate) service: bool,
    /// The payload; `Some(Value::Null)` is legal data, `None` a missing field.
    pub(crate) data: Option<Value>,
}

/// A message taken apart: the skeleton of its reply, and what it asks for.
#[derive(Debug)]
pub(crate) struct Incoming {
    /// Same `id`, `channel` and `clientId` (docs/protocol.md §2.3); a subscribe's or unsubscribe's also echoes its
    /// `subscription`, refused or not (Bayeux §3.4, §3.5).
    pub(crate) reply: Message,
    /// The request, or why the message asks for nothing the server does.
    pub(crate) request: Result<Request, Error>,
}

impl Incoming {
    /// Parses `message`. Its channel is classified here, in one place: `/meta/...` names other than the five
    /// protocol channels are refused (CVE-2020-11020, docs/protocol.md §9.3), and so is a publish to a pattern.
    pub(crate) fn parse(mut message: Message) -> Self {
        let mut reply = message.reply();
        // The reply has its copies; the request takes the message's fields instead of copying them again.
        let Some(name) = message.channel.take() else {
            return Self { reply, request: Err(Error::MissingParameter("channel")) };
        };
        let client_id = message.client_id.take();
        let request = match MetaChannel::from_name(&name) {
            Some(MetaChannel::Handshake) => {
                let connection_types = match (&message.version, message.supported_connection_types.take()) {
                    (None, _) => Err(Error::MissingParameter("version")),
                    (_, None) => Err(Error::MissingParameter("supportedConnectionTypes")),
                    (Some(_), Some(types)) => Ok(types),
                };
                let ack = ext_member(message.ext.as_ref(), "ack") == Some(&Value::Bool(true));
                Ok(Request::Handshake(Handshake { connection_types, ack }))
            }
            Some(MetaChannel::Connect) => Ok(Request::Connect(Connect {
                client_id: client_id.unwrap_or_default(),
                connection_type: message.connection_type.take(),
                timeout: message.advice.and_then(|advice| advice.timeout),
                ack: ext_member(message.ext.as_ref(), "ack").and_then(Value::as_u64),
            })),
            Some(MetaChannel::Subscribe) => {
                let channels = channels(message.subscription.as_ref());
                reply.subscription = message.subscription.take();
                let catchup = catchup(message.ext.as_ref());
                catchup.and_then(|catchup| {
                    let filter = filter(message.ext.as_ref())?;
                    Ok(Request::Subscribe(Subscribe {
                        client_id: client_id.unwrap_or_default(),
                        channels,
                        catchup,
                        filter,
                    }))
                })
            }
            Some(MetaChannel::Unsubscribe) => {
                let channels = channels(message.subscription.as_ref());
                reply.subscription = message.subscription.take();
                Ok(Request::Unsubscribe(Unsubscribe { client_id: client_id.unwrap_or_default(), channels }))
            }
            Some(MetaChannel::Disconnect) => {
                Ok(Request::Disconnect(Disconnect { client_id: client_id.unwrap_or_default() }))
            }
            None if channel::is_meta(&name) => Err(Error::ForbiddenChannel(name)),
            None => match channel::parse(&name) {
                Ok(Kind::Name) => Ok(Request::Publish(Publish {
                    client_id,
                    service: channel::is_service(&name),
                    channel: name,
                    data: message.data.take(),
                })),
                // Publishing to a pattern is 405, like a malformed name (docs/protocol.md §4.2).
                Ok(Kind::One | Kind::Many) | Err(_) => Err(Error::InvalidChannel(name)),
            },
        };
        Self { reply, request }
    }
}

/// A member of an `ext` object.
fn ext_member<'a>(ext: Option<&'a Value>, name: &str) -> Option<&'a Value> {
    ext.and_then(Value::as_object).and_then(|ext| ext.get(name))
}

/// The channels of a subscribe or unsubscribe: one string or an array of strings (docs/protocol.md §5.3).
fn channels(subscription: Option<&Value>) -> Result<Vec<String>, Error> {
    match subscription {
        None | Some(Value::Null) => Err(Error::MissingParameter("subscription")),
        Some(Value::String(one)) => Ok(vec![one.clone()]),
        Some(Value::Array(many)) if !many.is_empty() => {
            many.iter().map(|item| item.as_str().map(str::to_owned).ok_or(Error::BadRequest("Bad request"))).collect()
        }
        Some(_) => Err(Error::MissingParameter("subscription")),
    }
}

/// What a `/meta/subscribe` asks for in `ext` beyond a plain subscription: `since` (a seq, a non-negative
/// integer) or `snapshot: true`; both at once is refused.
fn catchup(ext: Option<&Value>) -> Result<Option<Catchup>, Error> {
    let Some(ext) = ext.and_then(Value::as_object) else {
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

/// The `ext.where` of a `/meta/subscribe`: a string, when given.
fn filter(ext: Option<&Value>) -> Result<Option<String>, Error> {
    match ext.and_then(|ext| ext.get("where")) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(filter)) => Ok(Some(filter.clone())),
        Some(_) => Err(Error::custom(400, ["where"], "where must be a string of REST filter conditions")),
    }
}

/// Whether clients may subscribe to `name`, and whether it is a plain name or a pattern: never to
/// `/meta` or `/service` (403), never to a malformed name (405).
pub(crate) fn subscribable(name: &str) -> Result<Kind, Error> {
    if channel::is_meta(name) || channel::is_service(name) {
        return Err(Error::ForbiddenChannel(name.to_owned()));
    }
    channel::parse(name).map_err(|_| Error::InvalidChannel(name.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Parses a literal request as faye 1.4.3 sends it (docs/protocol.md §5 and §6).
    fn parse(text: &str) -> Message {
        let value: Value = serde_json::from_str(text).unwrap_or(Value::Null);
        read_message(value).unwrap_or_default()
    }

    fn request(message: &Message) -> Result<Request, Error> {
        Incoming::parse(message.clone()).request
    }

    #[test]
    fn faye_requests_round_trip() {
        let handshake = parse(
            r#"{"channel":"/meta/handshake","version":"1.0","supportedConnectionTypes":["in-process","websocket","long-polling"],"id":"1"}"#,
        );
        let types = vec!["in-process".to_owned(), "websocket".to_owned(), "long-polling".to_owned()];
        assert_eq!(request(&handshake), Ok(Request::Handshake(Handshake { connection_types: Ok(types), ack: false })));
        assert_eq!(handshake.id, Some(json!("1")));

        let connect = parse(
            r#"{"channel":"/meta/connect","clientId":"abc","connectionType":"long-polling","id":"2","advice":{"timeout":0}}"#,
        );
        let expected = Connect {
            client_id: "abc".into(),
            connection_type: Some("long-polling".into()),
            timeout: Some(0),
            ack: None,
        };
        assert_eq!(request(&connect), Ok(Request::Connect(expected)));

        let publish = parse(r#"{"channel":"/chat/lobby","data":null,"clientId":"abc","id":"b"}"#);
        let expected = Publish {
            client_id: Some("abc".into()),
            channel: "/chat/lobby".into(),
            service: false,
            data: Some(Value::Null),
        };
        assert_eq!(request(&publish), Ok(Request::Publish(expected)));
        let no_data = parse(r#"{"channel":"/chat/lobby","clientId":"abc","id":"c"}"#);
        assert!(matches!(request(&no_data), Ok(Request::Publish(Publish { data: None, .. }))));

        let subscribe = parse(r#"{"channel":"/meta/subscribe","clientId":"abc","subscription":"/a","id":"3"}"#);
        let incoming = Incoming::parse(subscribe);
        assert_eq!(incoming.reply.subscription, Some(json!("/a")), "the reply echoes the subscription");
        let expected =
            Subscribe { client_id: "abc".into(), channels: Ok(vec!["/a".into()]), catchup: None, filter: None };
        assert_eq!(incoming.request, Ok(Request::Subscribe(expected)));

        // Serializing a reply keeps the id a string and omits what is absent.
        let reply = connect.reply().succeed();
        assert_eq!(
            serde_json::to_value(&reply).unwrap_or_default(),
            json!({"channel":"/meta/connect","id":"2","clientId":"abc","successful":true})
        );
    }

    /// Every message in the captured faye 1.4.3 traces (`tests/bayeux-traces/` in this crate) reads as a
    /// [`Message`] and serializes back unchanged, so no field faye uses is lost; every client message parses
    /// into a request.
    #[test]
    fn trace_messages_round_trip() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bayeux-traces");
        let files = std::fs::read_dir(&dir).unwrap_or_else(|error| panic!("{}: {error}", dir.display()));
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
                        let request = request(&message);
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
        assert!(matches!(request(&message), Ok(Request::Handshake(Handshake { connection_types: Ok(_), ack: true }))));
        assert_eq!(message.ext, Some(json!({"ack":true,"timestamp":"x"})));
    }

    #[test]
    fn channels_are_classified_in_one_place() {
        let on = |channel: &str| request(&Message { channel: Some(channel.into()), ..Message::default() });
        assert_eq!(on("/meta/subscribe/x"), Err(Error::ForbiddenChannel("/meta/subscribe/x".into())));
        assert_eq!(on("/meta/foo"), Err(Error::ForbiddenChannel("/meta/foo".into())));
        assert_eq!(on("/api/*"), Err(Error::InvalidChannel("/api/*".into())));
        assert_eq!(on("bad"), Err(Error::InvalidChannel("bad".into())));
        assert!(matches!(on("/service/echo"), Ok(Request::Publish(Publish { service: true, .. }))));
        assert_eq!(request(&Message::default()), Err(Error::MissingParameter("channel")));
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
        assert_eq!(channels(Some(&json!("/a"))), Ok(vec!["/a".to_owned()]));
        assert_eq!(channels(Some(&json!(["/a", "/b/*"]))), Ok(vec!["/a".to_owned(), "/b/*".to_owned()]));
        assert_eq!(channels(None), Err(Error::MissingParameter("subscription")));
        assert_eq!(channels(Some(&json!(null))), Err(Error::MissingParameter("subscription")));
        assert_eq!(channels(Some(&json!([]))), Err(Error::MissingParameter("subscription")));
        assert_eq!(channels(Some(&json!([1]))), Err(Error::BadRequest("Bad request")));
    }

    #[test]
    fn catch_up_requests_are_read_from_ext() {
        assert_eq!(catchup(Some(&json!({"since": 4}))), Ok(Some(Catchup::Since(4))));
        assert_eq!(catchup(Some(&json!({"snapshot": true, "since": null}))), Ok(Some(Catchup::Snapshot)));
        assert_eq!(catchup(Some(&json!({"snapshot": false, "token": "x"}))), Ok(None));
        assert!(catchup(Some(&json!({"since": -1}))).is_err());
        assert!(catchup(Some(&json!({"since": "4"}))).is_err());
        assert!(catchup(Some(&json!({"since": 1, "snapshot": true}))).is_err());
    }

    #[test]
    fn raw_ext_members_are_merged_into_ext() -> Result<(), serde_json::Error> {
        let mut reply = Message { ext: Some(json!({"seq": 3, "snapshot": "replaced"})), ..Message::default() };
        reply.ext_raw.push("snapshot", RawValue::from_string(r#"{"rows":[{"id":1}]}"#.to_owned())?);
        let text = serde_json::to_string(&reply)?;
        assert_eq!(text, r#"{"ext":{"seq":3,"snapshot":{"rows":[{"id":1}]}}}"#);
        Ok(())
    }
}
