//! Helpers of the engine's unit tests: a batch in, the replies out, and a session's queue.

use std::sync::Arc;

use serde_json::{Value, json};

use super::event::Event;
use super::message::Message;
use super::server::Outcome;
use super::{Context, Server, Transport};

/// The context of a long-polling request without headers.
pub(crate) fn context() -> Context {
    Context::new(Arc::default(), Transport::LongPolling)
}

/// The outcome of one message.
pub(crate) async fn send(server: &Server, message: Value) -> Outcome {
    server.process(vec![message], &context()).await
}

/// A new session's id.
pub(crate) async fn handshake(server: &Server) -> String {
    let outcome = send(
        server,
        json!({"channel":"/meta/handshake","version":"1.0","supportedConnectionTypes":["long-polling"],"id":"1"}),
    )
    .await;
    outcome.replies[0].client_id.clone().expect("handshake succeeds")
}

/// The reply to a plain subscribe.
pub(crate) async fn subscribe(server: &Server, id: &str, subscription: Value) -> Message {
    let message = json!({"channel":"/meta/subscribe","clientId":id,"subscription":subscription,"id":"s"});
    send(server, message).await.replies.remove(0)
}

/// The events queued for a session, taken.
pub(crate) fn queued(server: &Server, id: &str) -> Vec<Event> {
    let session = server.engine().registry.get(id).expect("session exists");
    match session.attach().take() {
        crate::bayeux::session::Take::Events(events) => events,
        _ => Vec::new(),
    }
}
