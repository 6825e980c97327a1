//! A client's publish (docs/protocol.md §6.1): acknowledged, and delivered to the subscribers of its channel
//! when the publish rule allows it.

use std::sync::Arc;

use super::failure;
use crate::bayeux::Context;
use crate::bayeux::engine::Engine;
use crate::bayeux::error::Error;
use crate::bayeux::event::Event;
use crate::bayeux::message::{Message, Publish};

/// Delivers a client's publish. Clients may publish only where [`Options::allow_publish`] (or the publish
/// policy) says; resource channels are server-only (docs/protocol.md §6.1).
///
/// [`Options::allow_publish`]: crate::bayeux::Options::allow_publish
pub(crate) fn publish(engine: &Arc<Engine>, request: Publish, reply: Message, context: &Context) -> Message {
    let known = match &request.client_id {
        Some(id) => engine.registry.session(id).map(|_| ()),
        // Anonymous publishes are off by default: faye's acceptance of them is docs/protocol.md, pitfall P14.
        None if engine.options.unconnected_publish => Ok(()),
        None => Err(Error::UnknownClient(String::new())),
    };
    if let Err(error) = known {
        return failure(&engine.options, reply, &error);
    }
    let Some(data) = &request.data else {
        return reply.fail(&Error::MissingParameter("data"));
    };
    if request.service {
        // Acked, delivered to no remote client (docs/protocol.md §4.5).
        return reply.succeed();
    }
    if !engine.options.may_publish(&request.channel, context) {
        return reply.fail(&Error::ForbiddenChannel(request.channel));
    }
    match Event::new(&request.channel, data) {
        Ok(event) => {
            engine.route(&request.channel, &event, None);
            reply.succeed()
        }
        Err(_) => reply.fail(&Error::custom(500, Vec::<String>::new(), "Internal server error")),
    }
}
