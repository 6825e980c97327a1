//! A subscribe that catches up (docs/protocol.md §14.1, §14.2): `ext: {"since": N}` replays the channel's retained
//! events after seq `N`, `ext: {"snapshot": true}` answers with the channel's current state; either way live events
//! follow with no gap and no duplicate. The [`History`](super::History) hook answers; this module fences the
//! subscription around it (see [`history`](super::history) for the protocol of the fence).

use std::sync::Arc;

use serde::Serialize;
use serde_json::json;
use serde_json::value::RawValue;

use super::Context;
use super::channel::Kind;
use super::engine::Engine;
use super::error::Error;
use super::event::Event;
use super::history::{Catchup, Caught};
use super::message::{Message, Subscribe, subscribable};
use super::meta::{self, failure};
use super::session::{Push, Session};

/// The `ext.snapshot` of a reply: the rows are the JSON the history serialized, copied once.
#[derive(Serialize)]
struct Snapshot<'a> {
    seq: i64,
    rows: &'a RawValue,
}

/// Subscribes with a catch-up: registers the subscription fenced, asks the history, then queues the replay
/// and lifts the fence.
pub(crate) async fn subscribe(
    engine: &Arc<Engine>,
    request: Subscribe,
    catchup: Catchup,
    mut reply: Message,
    context: &Context,
) -> Message {
    let session = match engine.registry.session(&request.client_id) {
        Ok(session) => session,
        Err(error) => return failure(&engine.options, reply, &error),
    };
    let channel: Arc<str> = match &request.channels {
        Ok(names) => match names.as_slice() {
            [name] => name.as_str().into(),
            _ => return reply.fail(&Error::custom(400, names, "since and snapshot take one channel")),
        },
        Err(error) => return reply.fail(error),
    };
    match subscribable(&channel) {
        Ok(Kind::Name) => {}
        // A pattern spans channels whose events interleave; one `since` cannot resume them all.
        Ok(Kind::One | Kind::Many) => {
            return reply.fail(&Error::custom(405, [&*channel], "since and snapshot need a channel name"));
        }
        Err(error) => return reply.fail(&error),
    }
    // A filtered subscription is indexed, fenced and caught up under its key; its events still name the
    // channel.
    let name: Arc<str> = match &request.filter {
        None => Arc::clone(&channel),
        Some(filter) => match meta::filtered_key(engine, &request.channels, filter) {
            Ok((_, key)) => key,
            Err(error) => return reply.fail(&error),
        },
    };
    let Some(history) = engine.options.history.clone() else {
        return reply.fail(&Error::custom(405, [&*channel], "No history on this server"));
    };
    engine.registry.replace_others(&session, &channel, &name);
    let added = match engine.registry.subscribe_fenced(&session, &name, engine.options.max_subscriptions) {
        Ok(added) => added,
        Err(error) => return reply.fail(&error),
    };
    let limit = engine.options.queue_limit;
    let caught = history.catch_up(&name, catchup, limit, context).await;
    let (replay, floor) = match caught {
        Ok(Caught::Replay { events, through }) => {
            let count = events.len();
            let replay: Result<Vec<Event>, _> =
                events.iter().map(|event| Event::from_json(&channel, &event.data)).collect();
            match replay {
                Ok(replay) => {
                    reply.ext = Some(json!({"seq": through, "replayed": count}));
                    (replay, Some(through))
                }
                Err(_) => {
                    abandon(engine, &session, &name, added);
                    return reply.fail(&Error::custom(500, [&*name], "Internal server error"));
                }
            }
        }
        Ok(Caught::Reset) => {
            reply.ext = Some(json!({"reset": true}));
            (Vec::new(), None)
        }
        Ok(Caught::Snapshot { seq, rows }) => match serde_json::value::to_raw_value(&Snapshot { seq, rows: &rows }) {
            Ok(snapshot) => {
                reply.ext_raw.push("snapshot", snapshot);
                (Vec::new(), Some(seq))
            }
            Err(_) => {
                abandon(engine, &session, &name, added);
                return reply.fail(&Error::custom(500, [&*name], "Internal server error"));
            }
        },
        Err(error) => {
            abandon(engine, &session, &name, added);
            return reply.fail(&error);
        }
    };
    if session.end_fence(&name, replay, floor, limit) == Push::Overflow {
        tracing::debug!(client_id = %session.id, "bayeux queue full after a catch-up, dropping session");
        engine.registry.remove(&session, false);
        return failure(&engine.options, reply, &Error::UnknownClient(session.id.to_string()));
    }
    reply.succeed()
}

/// Undoes a fenced subscribe whose catch-up failed. A subscription that existed before is kept, and the live
/// events buffered meanwhile are delivered: they belong to it.
fn abandon(engine: &Arc<Engine>, session: &Arc<Session>, name: &str, added: bool) {
    if added {
        engine.registry.unsubscribe(session, &[name]);
    } else if session.end_fence(name, Vec::new(), None, engine.options.queue_limit) == Push::Overflow {
        engine.registry.remove(session, false);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::{Value, json};

    use super::super::testing::{handshake, queued, send, subscribe};
    use super::*;
    use crate::bayeux::{BoxFuture, History, Options, Replayed, Server};

    /// A history that answers every channel with a fixed reply, publishing `live` on it first, as a
    /// publisher racing the hook would.
    struct Fixed {
        server: std::sync::OnceLock<Server>,
        live: Vec<i64>,
        answer: Result<Caught, Error>,
    }

    impl History for Fixed {
        fn catch_up<'a>(
            &'a self,
            channel: &'a str,
            _catchup: Catchup,
            _max: usize,
            _context: &'a Context,
        ) -> BoxFuture<'a, Result<Caught, Error>> {
            if let Some(server) = self.server.get() {
                for seq in &self.live {
                    server.publish_at(channel, *seq, json!({"seq": seq})).expect("publishes");
                }
            }
            Box::pin(std::future::ready(self.answer.clone()))
        }
    }

    async fn with_history(live: Vec<i64>, answer: Result<Caught, Error>) -> (Server, String) {
        let history = Arc::new(Fixed { server: std::sync::OnceLock::new(), live, answer });
        let server = Server::new(Options::default().history(Shared(Arc::clone(&history))));
        let _ = history.server.set(server.clone());
        let id = handshake(&server).await;
        (server, id)
    }

    struct Shared(Arc<Fixed>);

    impl History for Shared {
        fn catch_up<'a>(
            &'a self,
            channel: &'a str,
            catchup: Catchup,
            max: usize,
            context: &'a Context,
        ) -> BoxFuture<'a, Result<Caught, Error>> {
            self.0.catch_up(channel, catchup, max, context)
        }
    }

    async fn subscribe_ext(server: &Server, id: &str, subscription: Value, ext: Value) -> Message {
        let message = json!({"channel":"/meta/subscribe","clientId":id,"subscription":subscription,"id":"s","ext":ext});
        send(server, message).await.replies.remove(0)
    }

    fn data(events: &[Event]) -> Vec<Value> {
        events.iter().map(|e| serde_json::from_slice::<Value>(e.frame()).expect("JSON")[0]["data"].clone()).collect()
    }

    #[tokio::test]
    async fn a_replay_and_racing_live_events_meet_without_gap_or_duplicate() {
        // The publisher is behind the hook's read of the log: it publishes 2 while the hook runs, the
        // replay reaches 3, and then the publisher goes on with 3 (already replayed) and 4.
        let replay = (1..=3).map(|seq| Replayed { seq, data: json!({"seq": seq}).to_string() }).collect();
        let (server, id) = with_history(vec![2], Ok(Caught::Replay { events: replay, through: 3 })).await;
        let reply = subscribe_ext(&server, &id, json!("/api/x"), json!({"since": 0})).await;
        assert_eq!(reply.successful, Some(true), "{reply:?}");
        assert_eq!(reply.ext, Some(json!({"seq": 3, "replayed": 3})));
        server.publish_at("/api/x", 3, json!({"seq": 3})).expect("publishes");
        server.publish_at("/api/x", 4, json!({"seq": 4})).expect("publishes");
        let seqs: Vec<Value> = data(&queued(&server, &id)).into_iter().map(|d| d["seq"].clone()).collect();
        assert_eq!(seqs, vec![json!(1), json!(2), json!(3), json!(4)]);
    }

    #[tokio::test]
    async fn a_failed_catch_up_keeps_an_existing_subscription_and_its_events() {
        let (server, id) = with_history(vec![7], Err(Error::custom(503, ["/api/x"], "History unavailable"))).await;
        subscribe(&server, &id, json!("/api/x")).await;
        let reply = subscribe_ext(&server, &id, json!("/api/x"), json!({"snapshot": true})).await;
        assert_eq!(reply.error.as_deref(), Some("503:/api/x:History unavailable"));
        assert_eq!(data(&queued(&server, &id)), vec![json!({"seq": 7})]);
        assert_eq!(server.publish("/api/x", json!(8)).expect("publishes"), 1, "still subscribed");
        // A new subscription whose catch-up fails is not left behind.
        let reply = subscribe_ext(&server, &id, json!("/api/y"), json!({"since": 1})).await;
        assert_eq!(reply.successful, Some(false));
        assert_eq!(server.publish("/api/y", json!(1)).expect("publishes"), 0);
    }

    #[tokio::test]
    async fn catch_up_requests_are_checked() {
        let (server, id) = with_history(Vec::new(), Ok(Caught::Reset)).await;
        let reply = subscribe_ext(&server, &id, json!("/api/*"), json!({"since": 1})).await;
        assert_eq!(reply.error.as_deref(), Some("405:/api/*:since and snapshot need a channel name"));
        let reply = subscribe_ext(&server, &id, json!("/api/x"), json!({"since": 1, "snapshot": true})).await;
        assert!(reply.error.as_deref().is_some_and(|e| e.starts_with("400:")), "{reply:?}");
        let reply = subscribe_ext(&server, &id, json!("/api/x"), json!({"since": -1})).await;
        assert!(reply.error.as_deref().is_some_and(|e| e.starts_with("400:")), "{reply:?}");
        let reply = subscribe_ext(&server, &id, json!(["/api/x", "/api/y"]), json!({"since": 1})).await;
        assert!(reply.error.as_deref().is_some_and(|e| e.starts_with("400:")), "{reply:?}");
        let reply = subscribe_ext(&server, &id, json!("/api/x"), json!({"since": 1})).await;
        assert_eq!(reply.ext, Some(json!({"reset": true})));
        // Without a history, resuming is refused rather than silently ignored.
        let plain = Server::new(Options::default());
        let id = handshake(&plain).await;
        let reply = subscribe_ext(&plain, &id, json!("/api/x"), json!({"snapshot": true})).await;
        assert_eq!(reply.error.as_deref(), Some("405:/api/x:No history on this server"));
    }
}
