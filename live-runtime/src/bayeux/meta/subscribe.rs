//! `/meta/subscribe` and `/meta/unsubscribe` without catch-up (docs/protocol.md §5.3); a subscribe with
//! `ext.since` or `ext.snapshot` goes to `catchup.rs`.

use std::sync::Arc;

use serde_json::Value;

use super::failure;
use crate::bayeux::engine::Engine;
use crate::bayeux::error::Error;
use crate::bayeux::message::{Message, Subscribe, Unsubscribe, subscribable};

/// Adds the session's subscriptions; every name is checked before any is added.
pub(crate) fn subscribe(engine: &Arc<Engine>, request: Subscribe, reply: Message) -> Message {
    change(engine, &request.client_id, request.channels, reply, true)
}

/// Drops the session's subscriptions; every name is checked before any is dropped.
pub(crate) fn unsubscribe(engine: &Arc<Engine>, request: Unsubscribe, reply: Message) -> Message {
    change(engine, &request.client_id, request.channels, reply, false)
}

fn change(
    engine: &Arc<Engine>,
    client_id: &str,
    channels: Result<Vec<String>, Error>,
    mut reply: Message,
    subscribe: bool,
) -> Message {
    let session = match engine.registry.session(client_id) {
        Ok(session) => session,
        Err(error) => return failure(&engine.options, reply, &error),
    };
    let names = match channels {
        Ok(names) => names,
        Err(error) => {
            if matches!(error, Error::MissingParameter(_)) {
                reply.subscription = Some(Value::Array(Vec::new()));
            }
            return reply.fail(&error);
        }
    };
    if let Some(error) = names.iter().find_map(|name| subscribable(name).err()) {
        return reply.fail(&error);
    }
    if subscribe {
        if let Err(error) = engine.registry.subscribe(&session, &names, engine.options.max_subscriptions) {
            return reply.fail(&error);
        }
    } else {
        engine.registry.unsubscribe(&session, &names);
    }
    reply.succeed()
}
