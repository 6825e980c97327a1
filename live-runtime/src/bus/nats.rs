//! The NATS bus: publish `seq` on the topic subject after a commit, subscribe to it on every node
//! (feature `nats`, core NATS: no JetStream, nothing stored).
//!
//! The client reconnects by itself (with the bus's backoff) and subscribes again; its connection
//! events are how the bus learns of an outage: a warning when it drops, and a read of the log once
//! it is back. Wake-ups published while it is down wait in the client's buffer and go out on
//! reconnection.

use tokio::task::JoinHandle;

use super::{Bus, BusError, Parts};

#[cfg(feature = "nats")]
mod engine {
    use std::sync::Arc;

    use async_nats::{Client, ConnectOptions, Event, Subscriber};
    use futures_util::StreamExt;
    use tokio::task::JoinHandle;

    use super::super::{Bus, BusError, CONNECT_TIMEOUT, Parts, Publisher, Wake, announce_loop, backoff, timed};

    /// Connects and subscribes (now, so that a failure is a start-up error) and starts the tasks.
    pub(crate) async fn start(bus: &Bus, url: &str, parts: Parts) -> Result<Vec<JoinHandle<()>>, BusError> {
        let name = bus.to_string();
        let wake = parts.wake.clone();
        let options = ConnectOptions::new()
            .connection_timeout(CONNECT_TIMEOUT)
            // `attempts` counts from 1.
            .reconnect_delay_callback(|attempts| backoff(u32::try_from(attempts.saturating_sub(1)).unwrap_or(u32::MAX)))
            .event_callback(move |event| {
                let wake = wake.clone();
                let bus = name.clone();
                async move { on_event(&bus, &wake, event) }
            });
        let client = timed(options.connect(url)).await.map_err(|error| BusError::connect(bus, error))?;
        let subscriber =
            timed(client.subscribe(bus.topic.clone())).await.map_err(|error| BusError::connect(bus, error))?;
        let listening =
            tokio::spawn(follow(bus.to_string(), client.clone(), bus.topic.clone(), subscriber, parts.wake));
        let publisher = Publish { client, topic: bus.topic.clone() };
        let announcing = tokio::spawn(announce_loop(bus.to_string(), parts.announce, publisher));
        Ok(vec![listening, announcing])
    }

    /// Logs the client's connection events; a reconnection (or a slow consumer, which dropped
    /// messages) rings the feed to read the log.
    fn on_event(bus: &str, wake: &Wake, event: Event) {
        match event {
            Event::Disconnected => {
                tracing::warn!(%bus, "the bus connection dropped; reconnecting (the feed polls the log meanwhile)");
            }
            Event::Connected => {
                tracing::info!(%bus, "the bus is connected");
                wake.ring_whatever();
            }
            Event::SlowConsumer(_) => {
                tracing::warn!(%bus, "the bus dropped wake-ups for a slow consumer; reading the log");
                wake.ring_whatever();
            }
            other => tracing::debug!(%bus, event = %other, "bus event"),
        }
    }

    /// Sends wake-ups on the topic subject.
    struct Publish {
        client: Client,
        topic: String,
    }

    impl Publisher for Publish {
        async fn send(&mut self, seq: i64) -> Result<(), String> {
            timed(self.client.publish(self.topic.clone(), seq.to_string().into())).await
        }
    }

    /// Rings the feed for every message. The subscription outlives reconnections; it ends only if
    /// the client gives up, and is then taken again with a backoff.
    async fn follow(bus: String, client: Client, topic: String, mut subscriber: Subscriber, wake: Arc<Wake>) {
        loop {
            while let Some(message) = subscriber.next().await {
                wake.ring_payload(&message.payload);
            }
            tracing::warn!(%bus, "the bus subscription ended; subscribing again");
            let mut attempt = 0;
            subscriber = loop {
                tokio::time::sleep(backoff(attempt)).await;
                match timed(client.subscribe(topic.clone())).await {
                    Ok(subscriber) => break subscriber,
                    Err(error) => {
                        tracing::debug!(%bus, %error, attempt, "the bus still refuses the subscription");
                        attempt = attempt.saturating_add(1);
                    }
                }
            };
            wake.ring_whatever();
        }
    }
}

/// Connects, subscribes and starts the tasks of a `nats://` bus.
#[cfg(feature = "nats")]
pub(crate) async fn start(bus: &Bus, url: &str, parts: Parts) -> Result<Vec<JoinHandle<()>>, BusError> {
    engine::start(bus, url, parts).await
}

/// Refuses: this build has no NATS client.
#[cfg(not(feature = "nats"))]
pub(crate) async fn start(_bus: &Bus, _url: &str, _parts: Parts) -> Result<Vec<JoinHandle<()>>, BusError> {
    Err(BusError::NotCompiled { engine: "nats", feature: "nats" })
}
