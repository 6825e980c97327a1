//! Channel names and subscription patterns (docs/protocol.md §4).
//!
//! A channel is `/segment(/segment)*`, each segment made of `[A-Za-z0-9]` and `- _ ! ~ ( ) $ @`. A trailing
//! `/*` (one more segment) or `/**` (one or more) makes a pattern, legal in subscriptions only. The reserved
//! `/meta/**` names are recognised in exactly one place, [`MetaChannel::from_name`], by exact comparison: a
//! prefix match is the faye CVE-2020-11020 bug (docs/protocol.md §9.3, pitfall P21).

use std::fmt;

/// Prefix of the protocol's own channels (docs/protocol.md §4.4).
const META: &str = "/meta";
/// Prefix of request/response channels that are never delivered to remote clients (docs/protocol.md §4.5).
const SERVICE: &str = "/service";

/// A malformed channel name or pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChannelError {
    /// The name does not start with `/`.
    #[error("a channel name starts with `/`")]
    NoLeadingSlash,
    /// Two slashes in a row, or a trailing slash, or `/` alone.
    #[error("a channel name has no empty segment")]
    EmptySegment,
    /// A character outside `[A-Za-z0-9]` and `- _ ! ~ ( ) $ @`.
    #[error("a channel segment uses only letters, digits and `-_!~()$@`")]
    InvalidCharacter,
    /// `*` or `**` somewhere other than the whole last segment.
    #[error("`*` and `**` are allowed only as the whole last segment")]
    MisplacedWildcard,
}

/// The protocol channels under `/meta`, matched exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MetaChannel {
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
}

impl MetaChannel {
    /// The meta channel named exactly `name`, if any. `/meta/subscribe/x` is *not* a subscribe: the exact
    /// comparison is the fix for CVE-2020-11020 (docs/protocol.md §9.3).
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "/meta/handshake" => Some(Self::Handshake),
            "/meta/connect" => Some(Self::Connect),
            "/meta/subscribe" => Some(Self::Subscribe),
            "/meta/unsubscribe" => Some(Self::Unsubscribe),
            "/meta/disconnect" => Some(Self::Disconnect),
            _ => None,
        }
    }

    /// The channel name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Handshake => "/meta/handshake",
            Self::Connect => "/meta/connect",
            Self::Subscribe => "/meta/subscribe",
            Self::Unsubscribe => "/meta/unsubscribe",
            Self::Disconnect => "/meta/disconnect",
        }
    }
}

impl fmt::Display for MetaChannel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a syntactically valid string names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A plain channel such as `/api/todos`: publishable and subscribable.
    Name,
    /// A pattern ending in `/*` (exactly one more segment).
    One,
    /// A pattern ending in `/**` (one or more segments).
    Many,
}

impl Kind {
    /// Whether this is a wildcard pattern.
    pub fn is_pattern(self) -> bool {
        !matches!(self, Self::Name)
    }
}

/// Checks `name` against the channel grammar and says whether it is a plain name or a pattern.
pub fn parse(name: &str) -> Result<Kind, ChannelError> {
    let rest = name.strip_prefix('/').ok_or(ChannelError::NoLeadingSlash)?;
    let mut segments = rest.split('/').peekable();
    while let Some(segment) = segments.next() {
        let last = segments.peek().is_none();
        match segment {
            "" => return Err(ChannelError::EmptySegment),
            "*" if last => return Ok(Kind::One),
            "**" if last => return Ok(Kind::Many),
            _ if segment.contains('*') => return Err(ChannelError::MisplacedWildcard),
            _ if !segment.bytes().all(is_segment_byte) => return Err(ChannelError::InvalidCharacter),
            _ => {}
        }
    }
    Ok(Kind::Name)
}

/// Whether `segment` is one plain segment of a channel name: not empty, within the alphabet below.
pub(crate) fn is_segment(segment: &str) -> bool {
    !segment.is_empty() && segment.bytes().all(is_segment_byte)
}

/// The segment alphabet of docs/protocol.md §4.1 (faye's grammar: no dots, spaces, `%`, `:` or `+`).
fn is_segment_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'!' | b'~' | b'(' | b')' | b'$' | b'@')
}

/// Whether `name` is `/meta` or lies under it. Such names are never published, subscribed or delivered.
pub fn is_meta(name: &str) -> bool {
    is_under(name, META)
}

/// Whether `name` is `/service` or lies under it: acked on publish, never delivered to remote clients.
pub fn is_service(name: &str) -> bool {
    is_under(name, SERVICE)
}

fn is_under(name: &str, prefix: &str) -> bool {
    name.strip_prefix(prefix).is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// Whether the subscription `pattern` (a plain name or a wildcard pattern, already valid) covers `name`.
pub fn matches(pattern: &str, name: &str) -> bool {
    if let Some(parent) = pattern.strip_suffix("/**") {
        // `/**` has an empty parent and covers every channel.
        name.strip_prefix(parent).is_some_and(|rest| rest.len() > 1 && rest.starts_with('/'))
    } else if let Some(parent) = pattern.strip_suffix("/*") {
        name.strip_prefix(parent)
            .and_then(|rest| rest.strip_prefix('/'))
            .is_some_and(|segment| !segment.is_empty() && !segment.contains('/'))
    } else {
        pattern == name
    }
}

/// Calls `each` with every subscription key that covers the plain channel `name`: the name itself, its
/// parent's `/*`, and `/**` on every ancestor. Routing looks these few keys up in a map instead of testing
/// every subscription (docs/protocol.md §4.3). One scratch buffer serves all keys.
pub fn for_each_key(name: &str, mut each: impl FnMut(&str)) {
    each(name);
    let mut key = String::with_capacity(name.len() + 3);
    if let Some(parent_end) = name.rfind('/') {
        key.push_str(&name[..parent_end]);
        key.push_str("/*");
        each(&key);
    }
    // Ancestors from the deepest to the root: `/a/b/**`, `/a/**`, `/**`.
    let mut end = name.len();
    while let Some(slash) = name[..end].rfind('/') {
        key.clear();
        key.push_str(&name[..slash]);
        key.push_str("/**");
        each(&key);
        end = slash;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grammar_accepts_rest_paths_and_patterns() {
        assert_eq!(parse("/api/todos"), Ok(Kind::Name));
        assert_eq!(parse("/api/todos/42"), Ok(Kind::Name));
        assert_eq!(parse("/a-b_c!d~e(f)g$h@i"), Ok(Kind::Name));
        assert_eq!(parse("/api/*"), Ok(Kind::One));
        assert_eq!(parse("/api/**"), Ok(Kind::Many));
        assert_eq!(parse("/**"), Ok(Kind::Many));
        assert_eq!(parse("/*"), Ok(Kind::One));
    }

    #[test]
    fn grammar_rejects_what_faye_rejects() {
        assert_eq!(parse("no-slash"), Err(ChannelError::NoLeadingSlash));
        assert_eq!(parse(""), Err(ChannelError::NoLeadingSlash));
        assert_eq!(parse("/"), Err(ChannelError::EmptySegment));
        assert_eq!(parse("/a//b"), Err(ChannelError::EmptySegment));
        assert_eq!(parse("/a/"), Err(ChannelError::EmptySegment));
        assert_eq!(parse("/api/v1.0/todos"), Err(ChannelError::InvalidCharacter));
        assert_eq!(parse("/a b"), Err(ChannelError::InvalidCharacter));
        assert_eq!(parse("/a%20"), Err(ChannelError::InvalidCharacter));
        assert_eq!(parse("/a:b"), Err(ChannelError::InvalidCharacter));
        assert_eq!(parse("/a+b"), Err(ChannelError::InvalidCharacter));
        assert_eq!(parse("/caf\u{e9}"), Err(ChannelError::InvalidCharacter));
        assert_eq!(parse("/*/a"), Err(ChannelError::MisplacedWildcard));
        assert_eq!(parse("/a/***"), Err(ChannelError::MisplacedWildcard));
        assert_eq!(parse("/a*"), Err(ChannelError::MisplacedWildcard));
    }

    #[test]
    fn meta_names_match_exactly() {
        assert_eq!(MetaChannel::from_name("/meta/subscribe"), Some(MetaChannel::Subscribe));
        assert_eq!(MetaChannel::from_name("/meta/subscribe/x"), None);
        assert_eq!(MetaChannel::from_name("/meta/subscribex"), None);
        assert_eq!(MetaChannel::from_name("/META/subscribe"), None);
        for meta in [
            MetaChannel::Handshake,
            MetaChannel::Connect,
            MetaChannel::Subscribe,
            MetaChannel::Unsubscribe,
            MetaChannel::Disconnect,
        ] {
            assert_eq!(MetaChannel::from_name(meta.as_str()), Some(meta));
        }
    }

    #[test]
    fn reserved_prefixes_are_whole_segments() {
        assert!(is_meta("/meta"));
        assert!(is_meta("/meta/foo"));
        assert!(!is_meta("/metadata"));
        assert!(is_service("/service/echo"));
        assert!(!is_service("/services"));
    }

    #[test]
    fn single_wildcard_matches_one_segment() {
        assert!(matches("/api/*", "/api/todos"));
        assert!(!matches("/api/*", "/api/todos/42"));
        assert!(!matches("/api/*", "/api"));
        assert!(!matches("/api/*", "/apix/todos"));
        assert!(matches("/*", "/api"));
        assert!(!matches("/*", "/api/todos"));
    }

    #[test]
    fn double_wildcard_matches_one_or_more_segments() {
        assert!(matches("/api/**", "/api/todos"));
        assert!(matches("/api/**", "/api/todos/42"));
        assert!(!matches("/api/**", "/api"));
        assert!(!matches("/api/**", "/apix/todos"));
        assert!(matches("/**", "/api"));
        assert!(matches("/**", "/api/todos/42"));
        assert!(matches("/api/todos", "/api/todos"));
        assert!(!matches("/api/todos", "/api/todos/42"));
    }

    #[test]
    fn keys_are_exactly_the_covering_subscriptions() {
        let mut keys = Vec::new();
        for_each_key("/a/b/c", |k| keys.push(k.to_owned()));
        assert_eq!(keys, ["/a/b/c", "/a/b/*", "/a/b/**", "/a/**", "/**"]);
        let mut keys = Vec::new();
        for_each_key("/a", |k| keys.push(k.to_owned()));
        assert_eq!(keys, ["/a", "/*", "/**"]);
        // Every key produced matches, by the independent `matches` rule.
        for_each_key("/api/todos/42", |k| assert!(matches(k, "/api/todos/42"), "{k}"));
    }
}
