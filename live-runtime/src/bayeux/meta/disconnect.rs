//! `/meta/disconnect`: the client ends its session (docs/protocol.md §5.4).

use std::sync::Arc;

use super::failure;
use crate::bayeux::engine::Engine;
use crate::bayeux::message::{Disconnect, Message};

/// Ends the session: a held connect is answered at once and a bound WebSocket is closed, as faye does.
pub(crate) fn disconnect(engine: &Arc<Engine>, request: Disconnect, reply: Message) -> Message {
    match engine.registry.session(&request.client_id) {
        Ok(session) => {
            engine.registry.remove(&session, true);
            reply.succeed()
        }
        Err(error) => failure(&engine.options, reply, &error),
    }
}
