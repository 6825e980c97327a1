//! The `advice` field (docs/protocol.md §7): how the server steers the client's reconnect loop, and the
//! `timeout` a client may send on `/meta/connect`.

use serde::{Deserialize, Deserializer, Serialize};

/// What the client should do after this reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Reconnect {
    /// Keep the session; send the next connect after `interval`.
    Retry,
    /// Drop the clientId, handshake again after `interval` and re-subscribe.
    Handshake,
    /// Stop for good (pending promises in the faye client never settle: faye issue #542).
    None,
    /// A value this server does not know; kept so that a client's odd advice does not reject its message.
    #[serde(other, skip_serializing)]
    Unknown,
}

/// Server-to-client advice, and the `timeout` a client sends on `/meta/connect`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Advice {
    /// The reconnect policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reconnect: Option<Reconnect>,
    /// Milliseconds to wait before the next connect (or handshake).
    #[serde(default, deserialize_with = "lenient_ms", skip_serializing_if = "Option::is_none")]
    pub interval: Option<u64>,
    /// Milliseconds a connect is held; from a client, `0` means "answer at once" (docs/protocol.md §5.2).
    #[serde(default, deserialize_with = "lenient_ms", skip_serializing_if = "Option::is_none")]
    pub timeout: Option<u64>,
}

impl Advice {
    /// `{reconnect: "retry", interval: 0, timeout}`: what every successful handshake and connect carries.
    pub fn retry(timeout_ms: u64) -> Self {
        Self { reconnect: Some(Reconnect::Retry), interval: Some(0), timeout: Some(timeout_ms) }
    }

    /// `{reconnect: "handshake", interval}`: sent with every 401. Without it the faye client loops on `/meta/connect`
    /// (docs/protocol.md, pitfall P3); the interval slows a deployment that cannot recognise its own sessions.
    pub fn handshake(interval_ms: u64) -> Self {
        Self { reconnect: Some(Reconnect::Handshake), interval: Some(interval_ms), timeout: None }
    }
}

/// Milliseconds given as any JSON number (CometD and faye send integers, but a float or a negative value
/// must not make the whole message unreadable): negative becomes 0, fractions are dropped, `null` is absent.
fn lenient_ms<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<u64>, D::Error> {
    let number = Option::<serde_json::Number>::deserialize(deserializer)?;
    Ok(number.map(|n| match (n.as_u64(), n.as_f64()) {
        (Some(ms), _) => ms,
        // Saturating float-to-int conversion: NaN and negatives become 0, huge values u64::MAX.
        (None, Some(ms)) => ms as u64,
        (None, None) => 0,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializes_like_faye() -> Result<(), serde_json::Error> {
        assert_eq!(
            serde_json::to_string(&Advice::retry(25_000))?,
            r#"{"reconnect":"retry","interval":0,"timeout":25000}"#
        );
        assert_eq!(serde_json::to_string(&Advice::handshake(500))?, r#"{"reconnect":"handshake","interval":500}"#);
        Ok(())
    }

    #[test]
    fn reads_client_advice_leniently() -> Result<(), serde_json::Error> {
        let advice: Advice = serde_json::from_str(r#"{"timeout":0}"#)?;
        assert_eq!(advice.timeout, Some(0));
        let advice: Advice = serde_json::from_str(r#"{"timeout":1500.7,"interval":-3,"reconnect":"odd"}"#)?;
        assert_eq!(advice.timeout, Some(1500));
        assert_eq!(advice.interval, Some(0));
        assert_eq!(advice.reconnect, Some(Reconnect::Unknown));
        let advice: Advice = serde_json::from_str(r#"{"timeout":null}"#)?;
        assert_eq!(advice.timeout, None);
        Ok(())
    }
}
