//! `/meta/handshake`: a new session (docs/protocol.md §5.1).

use std::sync::Arc;

use super::{handshake_advice, millis};
use crate::bayeux::advice::Advice;
use crate::bayeux::engine::Engine;
use crate::bayeux::error::Error;
use crate::bayeux::message::{Handshake, Message};

/// Opens a session when the client offers a connection type this server serves. The reply always lists the
/// server's types: faye 1.4.3 throws without them (docs/protocol.md §5.1, pitfall P1).
pub(crate) fn handshake(engine: &Arc<Engine>, request: Handshake, mut reply: Message) -> Message {
    reply.version = Some("1.0".to_owned());
    reply.supported_connection_types = Some(engine.supported.clone());
    let offered = request.connection_types.and_then(|types| {
        if types.iter().any(|kind| engine.supported.contains(kind)) {
            Ok(())
        } else {
            Err(Error::ConnectionTypes(types.join(",")))
        }
    });
    if let Err(error) = offered {
        // faye's bare `handshake` advice makes a rejected client retry ~80 times a second (docs/protocol.md §5.1,
        // pitfall P7).
        reply.advice = Some(handshake_advice(&engine.options));
        return reply.fail(&error);
    }
    let session = engine.registry.create();
    reply.client_id = Some(session.id.as_str().to_owned());
    if request.ack {
        // CometD's ack extension (docs/protocol.md §6.5): the reply says the server acknowledges.
        session.enable_acks();
        reply.put_ext("ack", serde_json::Value::Bool(true));
    }
    engine.ensure_sweeper();
    reply.advice = Some(Advice::retry(millis(engine.options.timeout)));
    reply.succeed()
}
