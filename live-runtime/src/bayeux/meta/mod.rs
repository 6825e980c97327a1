//! The handlers of the five `/meta` channels and of client publishes, one file each. Each takes its typed
//! [`Request`](super::message::Request) and the reply skeleton, acts on the engine, and returns the reply;
//! none reads the wire message again.

mod connect;
mod disconnect;
mod handshake;
mod publish;
mod subscribe;

use std::time::Duration;

pub(crate) use connect::{PendingConnect, close_batch, connect};
pub(crate) use disconnect::disconnect;
pub(crate) use handshake::handshake;
pub(crate) use publish::publish;
pub(crate) use subscribe::{filtered_key, subscribe, unsubscribe};

use super::Options;
use super::advice::Advice;
use super::error::Error;
use super::message::Message;

/// Milliseconds, as `advice` carries them.
pub(crate) fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// The advice of every 401: handshake again, after the configured interval, which slows a client that keeps
/// being refused (docs/protocol.md, pitfall P3, pitfall P7).
pub(crate) fn handshake_advice(options: &Options) -> Advice {
    Advice::handshake(millis(options.unknown_client_interval))
}

/// A failed reply; every 401 carries handshake advice (docs/protocol.md, pitfall P3) and no clientId (as faye on
/// connect).
pub(crate) fn failure(options: &Options, mut reply: Message, error: &Error) -> Message {
    if error.code() == 401 {
        reply.advice = Some(handshake_advice(options));
        reply.client_id = None;
    }
    reply.fail(error)
}
