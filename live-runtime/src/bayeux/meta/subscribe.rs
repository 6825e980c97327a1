//! `/meta/subscribe` and `/meta/unsubscribe` without catch-up (docs/protocol.md §5.3); a subscribe with
//! `ext.since` or `ext.snapshot` goes to `catchup.rs`.

use std::sync::Arc;

use serde_json::Value;

use super::failure;
use crate::bayeux::channel::Kind;
use crate::bayeux::engine::Engine;
use crate::bayeux::error::Error;
use crate::bayeux::message::{Message, Subscribe, Unsubscribe, subscribable};

/// Adds the session's subscriptions; every name is checked before any is added.
pub(crate) fn subscribe(engine: &Arc<Engine>, request: Subscribe, reply: Message) -> Message {
    if let Some(filter) = &request.filter {
        return subscribe_filtered(engine, &request.client_id, &request.channels, filter, reply);
    }
    change(engine, &request.client_id, request.channels, reply, true)
}

/// The channel a filtered subscribe names and the key it is indexed under (the channel, `?`, then the
/// filter's canonical text), or why it is refused: one plain channel name, on a server that accepts
/// filters, with a filter the application accepts for that channel.
pub(crate) fn filtered_key(
    engine: &Engine,
    channels: &Result<Vec<String>, Error>,
    filter: &str,
) -> Result<(Arc<str>, Arc<str>), Error> {
    let channels = channels.as_ref().map_err(Clone::clone)?;
    let [channel] = channels.as_slice() else {
        return Err(Error::custom(400, channels, "where takes one channel"));
    };
    match subscribable(channel)? {
        Kind::Name => {}
        Kind::One | Kind::Many => {
            return Err(Error::custom(400, [channel], "where needs a channel name and not a pattern"));
        }
    }
    let Some(check) = &engine.options.filters else {
        return Err(Error::custom(405, [channel], "Filters are not supported on this server"));
    };
    let canonical = check(channel, filter)?;
    let key: Arc<str> = format!("{channel}?{canonical}").into();
    Ok((channel.as_str().into(), key))
}

/// Subscribes the session to a channel through a filter, in place of any other subscription of it.
fn subscribe_filtered(
    engine: &Arc<Engine>,
    client_id: &str,
    channels: &Result<Vec<String>, Error>,
    filter: &str,
    reply: Message,
) -> Message {
    let session = match engine.registry.session(client_id) {
        Ok(session) => session,
        Err(error) => return failure(&engine.options, reply, &error),
    };
    let (channel, key) = match filtered_key(engine, channels, filter) {
        Ok(found) => found,
        Err(error) => return reply.fail(&error),
    };
    engine.registry.replace_others(&session, &channel, &key);
    if let Err(error) = engine.registry.subscribe(&session, &[key.to_string()], engine.options.max_subscriptions) {
        return reply.fail(&error);
    }
    reply.succeed()
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
        // A plain subscription replaces a filtered one of the same channel.
        for name in names.iter().filter(|name| subscribable(name) == Ok(Kind::Name)) {
            engine.registry.replace_others(&session, name, name);
        }
        if let Err(error) = engine.registry.subscribe(&session, &names, engine.options.max_subscriptions) {
            return reply.fail(&error);
        }
    } else {
        engine.registry.unsubscribe(&session, &names);
    }
    reply.succeed()
}
