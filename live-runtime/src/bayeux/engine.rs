//! The engine: what every handler shares. The options, the connection types the handshake lists, the
//! [`Registry`] of sessions and subscriptions, and the sweeper that expires silent sessions. The handlers
//! (`meta/`, `catchup.rs`) act on it; [`Server`](super::Server) is its public handle.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::time::Instant;

use super::Options;
use super::event::Event;
use super::registry::Registry;

/// What the handlers share.
pub(crate) struct Engine {
    pub(crate) options: Options,
    /// The connection types the handshake lists: exactly those enabled.
    pub(crate) supported: Vec<String>,
    pub(crate) registry: Registry,
    sweeper_started: AtomicBool,
}

impl Engine {
    pub(crate) fn new(options: Options, supported: Vec<String>) -> Self {
        Self { options, supported, registry: Registry::default(), sweeper_started: AtomicBool::new(false) }
    }

    /// Queues `event` for every session subscribed to the plain channel `name`; see [`Registry::route`].
    pub(crate) fn route(&self, name: &str, event: &Event, seq: Option<i64>) -> usize {
        self.registry.route(name, event, seq, self.options.queue_limit)
    }

    /// Queues `event` for every session subscribed to exactly `name`; see [`Registry::route_exact`].
    pub(crate) fn route_exact(&self, name: &str, event: &Event, seq: Option<i64>) -> usize {
        self.registry.route_exact(name, event, seq, self.options.queue_limit)
    }

    /// Starts the expiry sweeper once, from inside the runtime (the first handshake). The task holds only a
    /// weak reference, so it ends at its next tick after the last clone of the server is dropped.
    pub(crate) fn ensure_sweeper(self: &Arc<Self>) {
        if self.sweeper_started.swap(true, Ordering::AcqRel) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            self.sweeper_started.store(false, Ordering::Release);
            return;
        };
        let expiry = self.options.expiry();
        let period = (expiry / 4).clamp(Duration::from_millis(50), Duration::from_secs(5));
        let weak: Weak<Engine> = Arc::downgrade(self);
        runtime.spawn(async move {
            let mut tick = tokio::time::interval(period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(engine) = weak.upgrade() else { break };
                engine.sweep(expiry);
            }
        });
    }

    /// Destroys sessions with no consumer that have been silent for `expiry` (faye: 2 × timeout,
    /// docs/protocol.md §12).
    fn sweep(&self, expiry: Duration) {
        for session in self.registry.expired(Instant::now(), expiry) {
            tracing::debug!(client_id = %session.id, "bayeux session expired");
            self.registry.remove(&session, false);
        }
    }
}
