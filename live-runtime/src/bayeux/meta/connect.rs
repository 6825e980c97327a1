//! `/meta/connect`: the client's poll for events, held by the transport until events arrive or the hold
//! runs out (docs/protocol.md §5.2).

use std::sync::Arc;
use std::time::Duration;

use super::{failure, handshake_advice, millis};
use crate::bayeux::Context;
use crate::bayeux::advice::Advice;
use crate::bayeux::engine::Engine;
use crate::bayeux::error::Error;
use crate::bayeux::message::{Connect, Message};
use crate::bayeux::session::{Arrival, Connected, Session};

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
///
/// The connect also confirms what the client received, and may find that events written to a connection it
/// left are lost: a client that acknowledges gets them again, one that does not is told to handshake again
/// so that it resumes (docs/protocol.md §6.5).
pub(crate) fn connect(
    engine: &Arc<Engine>,
    request: Connect,
    reply: Message,
    context: &Context,
) -> Result<PendingConnect, Box<Message>> {
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
    // An EventSource heartbeat delivers nothing: the stream, on its own connection, does.
    let arrival = (!request.is_eventsource()).then(|| Arrival {
        connection: context.connection(),
        id: reply.id.as_ref(),
        ack: request.ack,
    });
    let before = match session.connected(arrival) {
        Connected::Ok { before } => before,
        Connected::Lost => {
            tracing::debug!(
                client_id = %session.id,
                "bayeux client came back on a new connection with events unconfirmed: ending the session so it resumes"
            );
            engine.registry.remove(&session, false);
            return Err(fail(reply, Error::UnknownClient(session.id.to_string())));
        }
    };
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

/// Closes `session`'s open batch for the successful connect `reply`, just before the transport writes it:
/// for a client that acknowledges, the reply carries the batch in `ext.ack` (docs/protocol.md §6.5).
pub(crate) fn close_batch(session: &Session, reply: &mut Message) {
    if let Some(batch) = session.close_batch(reply.id.as_ref()) {
        reply.put_ext("ack", batch.into());
    }
}
