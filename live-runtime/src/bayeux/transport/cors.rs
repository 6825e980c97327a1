//! CORS for faye's `cross-origin-long-polling` (docs/protocol.md §10.3, pitfall P9).
//!
//! faye's client posts cross-origin with credentials and a `Pragma` header, so the browser first sends an
//! `OPTIONS` preflight, then a `text/plain` POST whose body is `message=<urlencoded JSON>` (long-polling reads
//! that form already). Because credentials are sent, `Access-Control-Allow-Origin: *` would make the browser
//! drop the reply: the allowed origin is echoed instead, with `Access-Control-Allow-Credentials: true`, on
//! the preflight and on every later response. Origins not allowed get none of these headers, so the browser
//! keeps the reply from the page; a preflight from them is refused with 403.
//!
//! Responses carry `Vary: Origin` whenever CORS is configured, since they then differ by origin and a
//! shared cache must not hand one origin's reply to another.

use http::{HeaderMap, HeaderValue, StatusCode, header};

use super::{Browser, refuse};
use axum::response::{IntoResponse, Response};

/// Headers a preflight may ask for: what faye's XHR transports send (docs/protocol.md §10.2, §10.3).
const ALLOW_HEADERS: &str = "Accept, Authorization, Content-Type, Pragma, X-Requested-With";
/// Methods of the endpoint: POST for long-polling, GET for JSONP and EventSource.
const ALLOW_METHODS: &str = "POST, GET";
/// How long a browser may reuse a preflight, in seconds (faye's value, docs/protocol.md §10.3).
const MAX_AGE: &str = "86400";

/// An origin given to [`Options::allow_origin`](crate::bayeux::Options::allow_origin) that browsers never
/// send, so allowing it would be a mistake.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not an origin: expected scheme://host[:port], without a path, `*` or `null`")]
pub struct InvalidOrigin(pub String);

/// Checks and normalizes an allowed origin: `scheme://host[:port]`, lowercase, no trailing slash.
pub(crate) fn parse_origin(origin: &str) -> Result<String, InvalidOrigin> {
    let invalid = || InvalidOrigin(origin.to_owned());
    let normalized = origin.trim().trim_end_matches('/').to_ascii_lowercase();
    let (scheme, authority) = normalized.split_once("://").ok_or_else(invalid)?;
    let scheme_ok =
        !scheme.is_empty() && scheme.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
    let authority_ok = !authority.is_empty()
        && authority.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b':' | b'[' | b']'));
    if scheme_ok && authority_ok { Ok(normalized) } else { Err(invalid()) }
}

/// The request's `Origin`, if cross-origin reads are allowed for it.
pub(crate) fn allowed_origin(browser: &Browser, headers: &HeaderMap) -> Option<HeaderValue> {
    if !browser.cors() {
        return None;
    }
    let origin = headers.get(header::ORIGIN)?;
    let text = origin.to_str().ok()?;
    // `null` is what sandboxed frames and local files send: never trusted, even with `allow_any_origin`.
    if text.is_empty() || text == "null" {
        return None;
    }
    let allowed = browser.any_origin || browser.origins.iter().any(|allowed| allowed.eq_ignore_ascii_case(text));
    allowed.then(|| origin.clone())
}

/// Adds the CORS headers to a response: the echoed origin and credentials when `origin` is allowed, and
/// `Vary: Origin` whenever CORS is configured.
pub(crate) fn decorate(headers: &mut HeaderMap, origin: Option<HeaderValue>, cors: bool) {
    if cors {
        headers.append(header::VARY, HeaderValue::from_static("Origin"));
    }
    if let Some(origin) = origin {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        headers.insert(header::ACCESS_CONTROL_ALLOW_CREDENTIALS, HeaderValue::from_static("true"));
    }
}

/// Answers an `OPTIONS` preflight; [`decorate`] adds the origin and credentials headers.
pub(crate) fn preflight(allowed: bool) -> Response {
    if !allowed {
        return refuse(StatusCode::FORBIDDEN, "Cross-origin requests from this origin are not allowed");
    }
    let headers = [
        (header::ACCESS_CONTROL_ALLOW_METHODS, ALLOW_METHODS),
        (header::ACCESS_CONTROL_ALLOW_HEADERS, ALLOW_HEADERS),
        (header::ACCESS_CONTROL_MAX_AGE, MAX_AGE),
    ];
    (StatusCode::OK, headers).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_checked_and_normalized() {
        assert_eq!(parse_origin("https://App.Example.com/"), Ok("https://app.example.com".to_owned()));
        assert_eq!(parse_origin("http://127.0.0.1:9104"), Ok("http://127.0.0.1:9104".to_owned()));
        for bad in ["*", "null", "", "example.com", "https://a.test/path", "https://", "https://a b"] {
            assert!(parse_origin(bad).is_err(), "{bad} must be refused");
        }
    }

    #[test]
    fn only_allowed_origins_are_echoed() {
        let browser = Browser { origins: vec!["http://a.test".to_owned()], ..Browser::default() };
        let with = |origin: &'static str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::ORIGIN, HeaderValue::from_static(origin));
            headers
        };
        assert_eq!(allowed_origin(&browser, &with("http://a.test")), Some(HeaderValue::from_static("http://a.test")));
        assert_eq!(allowed_origin(&browser, &with("http://b.test")), None);
        assert_eq!(allowed_origin(&browser, &HeaderMap::new()), None);
        let any = Browser { any_origin: true, ..Browser::default() };
        assert_eq!(allowed_origin(&any, &with("http://b.test")), Some(HeaderValue::from_static("http://b.test")));
        assert_eq!(allowed_origin(&any, &with("null")), None);
        assert_eq!(allowed_origin(&Browser::default(), &with("http://a.test")), None);
    }
}
