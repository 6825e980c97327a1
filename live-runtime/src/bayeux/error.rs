//! Bayeux error strings: `CODE:ARGS:MESSAGE` (docs/protocol.md §8.1).
//!
//! The faye client parses the string with a strict grammar: arguments and message may use only letters,
//! digits, `- _ ! ~ ( ) $ @`, space, `/`, `*` and `.`; anything else makes the client see `code: null`. The
//! messages below stay inside that alphabet. Protocol errors are replies (`successful: false`), never HTTP
//! statuses (docs/protocol.md §8.3, pitfall P19).

/// A protocol-level failure, rendered as the `error` field of a reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// 301: none of the client's connection types is served here.
    #[error("301:{0}:Connection types not supported")]
    ConnectionTypes(String),
    /// 400: the message or request could not be understood.
    #[error("400::{0}")]
    BadRequest(&'static str),
    /// 401: the `clientId` names no live session (never seen, expired or disconnected).
    #[error("401:{0}:Unknown client")]
    UnknownClient(String),
    /// 402: a required field is missing.
    #[error("402:{0}:Missing required parameter")]
    MissingParameter(&'static str),
    /// 403: the channel is reserved or the client may not use it.
    #[error("403:{0}:Forbidden channel")]
    ForbiddenChannel(String),
    /// 405: the channel name is malformed, or a pattern where a plain name is needed.
    #[error("405:{0}:Invalid channel")]
    InvalidChannel(String),
    /// Any other code, for extensions: `code:args:message`.
    #[error("{code}:{}:{message}", args.join(","))]
    Custom {
        /// The numeric code, e.g. 403.
        code: u16,
        /// The arguments, joined by commas.
        args: Vec<String>,
        /// The human-readable text.
        message: String,
    },
}

/// `text` within the alphabet faye accepts in an error's message: a `:` becomes ` -`, quotes and
/// backticks go, and any other character outside it becomes a space.
pub fn plain_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            c if c.is_ascii_alphanumeric() || "-_!~()$@ /*.".contains(c) => out.push(c),
            ':' => out.push_str(" -"),
            '`' | '\'' | '"' => {}
            _ => out.push(' '),
        }
    }
    out
}

impl Error {
    /// An error with any code, for extensions (for example `Error::custom(403, ["/private/x"], "Token needed")`).
    pub fn custom<A, S>(code: u16, args: A, message: impl Into<String>) -> Self
    where
        A: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self::Custom { code, args: args.into_iter().map(Into::into).collect(), message: message.into() }
    }

    /// The numeric code.
    pub fn code(&self) -> u16 {
        match self {
            Self::ConnectionTypes(_) => 301,
            Self::BadRequest(_) => 400,
            Self::UnknownClient(_) => 401,
            Self::MissingParameter(_) => 402,
            Self::ForbiddenChannel(_) => 403,
            Self::InvalidChannel(_) => 405,
            Self::Custom { code, .. } => *code,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_match_faye() {
        assert_eq!(Error::UnknownClient("nosuchclient".into()).to_string(), "401:nosuchclient:Unknown client");
        assert_eq!(Error::MissingParameter("data").to_string(), "402:data:Missing required parameter");
        assert_eq!(Error::ForbiddenChannel("/meta/foo".into()).to_string(), "403:/meta/foo:Forbidden channel");
        assert_eq!(Error::InvalidChannel("/api/*".into()).to_string(), "405:/api/*:Invalid channel");
        assert_eq!(Error::ConnectionTypes("flash".into()).to_string(), "301:flash:Connection types not supported");
        assert_eq!(Error::BadRequest("Bad request").to_string(), "400::Bad request");
        assert_eq!(Error::custom(403, ["/a", "/b"], "No").to_string(), "403:/a,/b:No");
        assert_eq!(Error::custom(500, Vec::<String>::new(), "Oops").to_string(), "500::Oops");
        assert_eq!(Error::custom(403, ["/x"], "No").code(), 403);
    }

    #[test]
    fn plain_text_keeps_to_the_alphabet() {
        assert_eq!(plain_text("where: `order` is not allowed, sorry"), "where - order is not allowed  sorry");
        assert_eq!(plain_text("a=eq.1&b"), "a eq.1 b");
    }
}
