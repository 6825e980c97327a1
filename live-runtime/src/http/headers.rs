//! Request headers with a meaning for resources: `If-Match`, `If-None-Match`, `Prefer` and
//! `Live-Request-Id`.
//!
//! A row's entity tag is its version in quotes (`"3"`); weak tags (`W/"3"`) compare equal, since
//! a version names exactly one state of the row whatever its serialization.

use http::{HeaderMap, HeaderName, HeaderValue, header};

use super::error::ApiError;

/// The header whose value a write keeps as the `origin` of its change.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("live-request-id");

/// The longest `Live-Request-Id` accepted, in bytes.
pub const MAX_REQUEST_ID: usize = 200;

/// A parsed `If-Match` or `If-None-Match`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Condition {
    /// `*`: any current version.
    Any,
    /// These versions; tags that are not versions of ours can never match and are left out.
    Versions(Vec<i64>),
}

impl Condition {
    /// Whether the row at `version` satisfies the condition.
    pub(crate) fn matches(&self, version: i64) -> bool {
        match self {
            Condition::Any => true,
            Condition::Versions(versions) => versions.contains(&version),
        }
    }
}

/// Parses every value of the header `name` (a list of entity tags, or `*`).
pub(crate) fn condition(headers: &HeaderMap, name: HeaderName) -> Result<Option<Condition>, ApiError> {
    let mut values = headers.get_all(&name).iter().peekable();
    if values.peek().is_none() {
        return Ok(None);
    }
    let malformed = || ApiError::bad_request("invalid_header", format!("malformed {name} header"));
    let mut versions = Vec::new();
    for value in values {
        let text = value.to_str().map_err(|_| malformed())?;
        for tag in text.split(',').map(str::trim).filter(|tag| !tag.is_empty()) {
            if tag == "*" {
                return Ok(Some(Condition::Any));
            }
            let opaque = tag.strip_prefix("W/").unwrap_or(tag);
            let inner = opaque.strip_prefix('"').and_then(|rest| rest.strip_suffix('"')).ok_or_else(malformed)?;
            if let Ok(version) = inner.parse::<i64>() {
                versions.push(version);
            }
        }
    }
    Ok(Some(Condition::Versions(versions)))
}

/// The `If-Match` of a write.
pub(crate) fn if_match(headers: &HeaderMap) -> Result<Option<Condition>, ApiError> {
    condition(headers, header::IF_MATCH)
}

/// The `If-None-Match` of a read.
pub(crate) fn if_none_match(headers: &HeaderMap) -> Result<Option<Condition>, ApiError> {
    condition(headers, header::IF_NONE_MATCH)
}

/// The `Live-Request-Id` of a write: 1 to [`MAX_REQUEST_ID`] visible ASCII characters, since it
/// is echoed to every subscriber.
pub(crate) fn request_id(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let mut values = headers.get_all(REQUEST_ID).iter();
    let Some(value) = values.next() else { return Ok(None) };
    let bytes = value.as_bytes();
    let visible = bytes.iter().all(|b| (0x21..=0x7e).contains(b));
    if values.next().is_some() || bytes.is_empty() || bytes.len() > MAX_REQUEST_ID || !visible {
        return Err(ApiError::bad_request(
            "invalid_header",
            format!("{REQUEST_ID} must be one value of 1 to {MAX_REQUEST_ID} visible ASCII characters"),
        ));
    }
    // Visible ASCII is valid UTF-8.
    Ok(std::str::from_utf8(bytes).ok().map(str::to_owned))
}

/// Whether the client asked for the total of a list (`Prefer: count=exact`).
pub(crate) fn prefers_exact_count(headers: &HeaderMap) -> bool {
    headers
        .get_all(HeaderName::from_static("prefer"))
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|preference| preference.trim().eq_ignore_ascii_case("count=exact"))
}

/// The entity tag of a row version.
pub(crate) fn etag(version: i64) -> HeaderValue {
    // Digits and quotes are always a valid header value.
    HeaderValue::try_from(format!("\"{version}\"")).unwrap_or_else(|_| HeaderValue::from_static("\"0\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(name: HeaderName, values: &[&'static str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for value in values {
            map.append(name.clone(), HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn entity_tags_parse_strong_weak_and_any() {
        let map = headers(header::IF_MATCH, &["\"3\", W/\"4\"", "\"x\""]);
        assert_eq!(if_match(&map).expect("parses"), Some(Condition::Versions(vec![3, 4])));
        assert_eq!(if_match(&headers(header::IF_MATCH, &["*"])).expect("parses"), Some(Condition::Any));
        assert_eq!(if_match(&HeaderMap::new()).expect("parses"), None);
        assert!(if_match(&headers(header::IF_MATCH, &["3"])).is_err());
        assert_eq!(etag(12), "\"12\"");
    }

    #[test]
    fn request_ids_are_bounded_visible_ascii() {
        assert_eq!(request_id(&headers(REQUEST_ID, &["abc-123"])).expect("ok"), Some("abc-123".to_owned()));
        assert!(request_id(&headers(REQUEST_ID, &["has space"])).is_err());
        assert!(request_id(&headers(REQUEST_ID, &[""])).is_err());
        assert!(request_id(&headers(REQUEST_ID, &["a", "b"])).is_err());
        let mut long = HeaderMap::new();
        long.insert(REQUEST_ID, HeaderValue::try_from("x".repeat(MAX_REQUEST_ID + 1)).expect("header"));
        assert!(request_id(&long).is_err());
    }

    #[test]
    fn exact_count_preference() {
        assert!(prefers_exact_count(&headers(HeaderName::from_static("prefer"), &["return=minimal, count=exact"])));
        assert!(!prefers_exact_count(&headers(HeaderName::from_static("prefer"), &["count=planned"])));
    }
}
