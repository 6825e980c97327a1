//! `/meta/connect`: the client's poll for events, held by the transport until events arrive or the hold
//! runs out (docs/protocol.md §5.2).

use std::sync::Arc;
use std::time::Duration;

use super::{failure, handshake_advice, millis};
use crate::bayeux::advice::Advice;
use crate::bayeux::engine::Engine;
use crate::bayeux::error::Error;
use crate::bayeux::message::{Connect, Message};
use crate::bayeux::session::Session;

/// A validated connect, for the transport to hold.
#[derive(Debug)]
pub(crate) struct PendingConnect {
    /// The successful reply, sent when the hold ends (outgoing extensions not yet applied).
    pub(crate) reply: Message,
    pub(crate) session: Arc<Session>,
    /// How long to hold: zero for the first connect of a session and for a client's `advice.timeout: 0`.
    pub(crate) hold: Duration,
}

/// Checks a connect and says how long to hold it; a refused one gets its failed reply, always with
/// handshake advice, as faye gives on every connect failure (docs/protocol.md §5.2).
pub(crate) fn connect(engine: &Arc<Engine>, request: Connect, reply: Message) -> Result<PendingConnect, Box<Message>> {
    let fail = |reply: Message, error: Error| {
        let mut reply = failure(&engine.options, reply, &error);
        reply.advice = Some(handshake_advice(&engine.options));
        Box::new(reply)
    };
    let session = match engine.registry.session(&request.client_id) {
        Ok(session) => session,
        Err(error) => return Err(fail(reply, error)),
    };
    match request.connection_type.as_deref() {
        None => return Err(fail(reply, Error::MissingParameter("connectionType"))),
        Some(kind) if !engine.supported.iter().any(|s| s == kind) => {
            return Err(fail(reply, Error::ConnectionTypes(kind.to_owned())));
        }
        Some(_) => {}
    }
    let timeout = engine.options.timeout;
    let before = session.connected();
    // The first connect is answered at once (CometD waits for it before anything else), and so is one whose
    // client asks for `advice.timeout: 0`; a client may shorten the hold, never lengthen it.
    let hold = match request.timeout {
        _ if before == 0 => Duration::ZERO,
        Some(ms) => timeout.min(Duration::from_millis(ms)),
        None => timeout,
    };
    let mut reply = reply;
    reply.advice = Some(Advice::retry(millis(timeout)));
    if request.is_eventsource() {
        // faye's heartbeat advice: the next connect after `timeout`, answered at once (docs/protocol.md §10.6).
        reply.advice = Some(Advice { interval: Some(millis(timeout)), timeout: Some(0), ..Advice::retry(0) });
    }
    Ok(PendingConnect { reply: reply.succeed(), session, hold })
}
