//! JSONP, faye's `callback-polling` (docs/protocol.md §10.4): `GET <mount>?message=<urlencoded JSON>&jsonp=<name>`
//! answered with the script `/**/<name>(<reply array>);`.
//!
//! The batch goes through the same engine path as a long-polling POST, so a `/meta/connect` is held the same
//! way; only the wrapping differs. The callback name must be a dotted JavaScript identifier (faye's rule),
//! else the request is refused with a plain-text 400 that no browser runs as a script (`nosniff`). The
//! reply escapes U+2028 and U+2029, which JSON allows raw in strings but older JavaScript engines do not.
//! `Content-Disposition: attachment` and the leading `/**/` are faye's guards against the reply being
//! saved or sniffed as another file type.
//!
//! Size: the batch travels in the URL. A query string longer than [`Options::max_jsonp_size`] gets the Bayeux
//! error `400::Message too large` inside the callback (status 200, so the script still runs); a URL past the
//! HTTP layer's 64 KiB bound is refused with 414 before it gets here.
//!
//! [`Options::max_jsonp_size`]: crate::bayeux::Options::max_jsonp_size

use std::borrow::Cow;
use std::sync::Arc;

use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde_json::Value;

use super::{long_polling, refuse};
use crate::bayeux::event::encode_batch;
use crate::bayeux::message::{self, Message};
use crate::bayeux::{Context, Error, Server, Transport};

/// The callback faye uses when the request names none (docs/protocol.md §10.4).
pub const DEFAULT_CALLBACK: &str = "jsonpcallback";

/// The longest callback name accepted; faye's are `__jsonpN__`.
const MAX_CALLBACK: usize = 128;

/// Serves one JSONP GET whose query string is `query`.
pub(crate) async fn handle(server: Server, headers: HeaderMap, query: &str) -> Response {
    let mut message = None;
    let mut callback = None;
    for (key, value) in form_urlencoded::parse(query.as_bytes()) {
        match &*key {
            "message" if message.is_none() => message = Some(value),
            "jsonp" if callback.is_none() => callback = Some(value),
            _ => {}
        }
    }
    let callback = callback.unwrap_or(Cow::Borrowed(DEFAULT_CALLBACK));
    if !is_callback(&callback) {
        return refuse(StatusCode::BAD_REQUEST, "Bad request: jsonp must name a JavaScript function, like a.b_c");
    }
    if query.len() > server.options().browser.max_jsonp_size {
        // A Bayeux error, as for an oversized POST body; it cannot carry the message ids (docs/protocol.md §2.5).
        let error = Message::default().fail(&Error::BadRequest("Message too large"));
        return script(&callback, &encode_batch(&[error], &[]));
    }
    let values = message.and_then(|text| serde_json::from_str::<Value>(&text).ok()).and_then(message::split_body);
    let Some(values) = values else {
        return refuse(StatusCode::BAD_REQUEST, "Bad request: message must be a JSON array or object");
    };
    let context = Context::new(Arc::new(headers), Transport::CallbackPolling);
    script(&callback, &long_polling::respond(&server, values, &context).await)
}

/// Whether `name` is a dotted JavaScript identifier path (`a`, `a.b`, `$_x1`), as faye requires.
pub(crate) fn is_callback(name: &str) -> bool {
    let identifier = |part: &str| {
        let mut bytes = part.bytes();
        bytes.next().is_some_and(|b| b.is_ascii_alphabetic() || b == b'_' || b == b'$')
            && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'$')
    };
    name.len() <= MAX_CALLBACK && name.split('.').all(identifier)
}

/// The script `/**/<callback>(<json>);` with faye's headers.
fn script(callback: &str, json: &[u8]) -> Response {
    let mut body = Vec::with_capacity(json.len() + callback.len() + 8);
    body.extend_from_slice(b"/**/");
    body.extend_from_slice(callback.as_bytes());
    body.push(b'(');
    escape_separators(json, &mut body);
    body.extend_from_slice(b");");
    let mut response = (StatusCode::OK, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/javascript; charset=utf-8"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache, no-store"));
    headers.insert(header::CONTENT_DISPOSITION, HeaderValue::from_static("attachment; filename=f.txt"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response
}

/// Appends `json` to `out` with U+2028 and U+2029 written as `\u2028` and `\u2029`. In valid JSON they can
/// only occur inside strings, where the escape means the same; UTF-8 being self-synchronizing, their byte
/// sequences cannot appear inside another character.
fn escape_separators(json: &[u8], out: &mut Vec<u8>) {
    let mut rest = json;
    while let Some(at) = rest.windows(3).position(|w| w == "\u{2028}".as_bytes() || w == "\u{2029}".as_bytes()) {
        out.extend_from_slice(&rest[..at]);
        out.extend_from_slice(if rest[at + 2] == 0xA8 { b"\\u2028" } else { b"\\u2029" });
        rest = &rest[at + 3..];
    }
    out.extend_from_slice(rest);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callback_names() {
        for good in ["jsonpcallback", "__jsonp7__", "a.b.c", "$", "_x1", "A$b"] {
            assert!(is_callback(good), "{good}");
        }
        let long = "a".repeat(MAX_CALLBACK + 1);
        for bad in ["", "alert(1)//", "a b", "1a", "a..b", ".a", "a.", "a-b", "a;b", "é", long.as_str()] {
            assert!(!is_callback(bad), "{bad}");
        }
    }

    #[test]
    fn line_separators_are_escaped() {
        let json = serde_json::to_vec(&serde_json::json!(["a\u{2028}b\u{2029}c", "é"])).expect("serializes");
        let mut out = Vec::new();
        escape_separators(&json, &mut out);
        assert_eq!(String::from_utf8(out).expect("UTF-8"), r#"["a\u2028b\u2029c","é"]"#);
    }
}
