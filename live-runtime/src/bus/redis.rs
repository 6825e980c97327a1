//! The Redis bus: `PUBLISH topic seq` after a commit, `SUBSCRIBE topic` on every node (feature
//! `redis`).
//!
//! Two connections: a pub/sub one that only listens (Redis allows nothing else on it), and a
//! multiplexed one for `PUBLISH`. Each is re-established with a backoff when it drops; the
//! subscription's stream ending is how a dropped connection shows.

use tokio::task::JoinHandle;

use super::{Bus, BusError, Parts};

#[cfg(feature = "redis")]
mod engine {
    use std::sync::Arc;

    use ::redis::aio::{MultiplexedConnection, PubSub};
    use ::redis::{AsyncConnectionConfig, Client, RedisError};
    use futures_util::StreamExt;
    use tokio::task::JoinHandle;

    use super::super::{Bus, BusError, CONNECT_TIMEOUT, Parts, Publisher, Wake, announce_loop, backoff, timed};

    /// Subscribes (now, so that a failure is a start-up error) and starts the tasks.
    pub(crate) async fn start(bus: &Bus, url: &str, parts: Parts) -> Result<Vec<JoinHandle<()>>, BusError> {
        let client = Client::open(url).map_err(|error| BusError::connect(bus, error))?;
        let subscription = subscribe(&client, &bus.topic).await.map_err(|error| BusError::connect(bus, error))?;
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(CONNECT_TIMEOUT));
        let connection = timed(client.get_multiplexed_async_connection_with_config(&config))
            .await
            .map_err(|error| BusError::connect(bus, error))?;
        let listening =
            tokio::spawn(follow(bus.to_string(), client.clone(), bus.topic.clone(), subscription, parts.wake));
        let publisher = Publish { client, config, topic: bus.topic.clone(), connection: Some(connection) };
        let announcing = tokio::spawn(announce_loop(bus.to_string(), parts.announce, publisher));
        Ok(vec![listening, announcing])
    }

    /// Sends wake-ups with `PUBLISH` on a connection it opens again after a failure.
    struct Publish {
        client: Client,
        config: AsyncConnectionConfig,
        topic: String,
        connection: Option<MultiplexedConnection>,
    }

    impl Publisher for Publish {
        async fn send(&mut self, seq: i64) -> Result<(), String> {
            let mut connection = match self.connection.take() {
                Some(connection) => connection,
                None => timed(self.client.get_multiplexed_async_connection_with_config(&self.config)).await?,
            };
            // The number of subscribers that got it: nothing to act on.
            let sent: Result<i64, String> =
                timed(::redis::cmd("PUBLISH").arg(&self.topic).arg(seq).query_async(&mut connection)).await;
            // A connection that failed is dropped; the next wake-up opens another.
            if sent.is_ok() {
                self.connection = Some(connection);
            }
            sent.map(|_| ())
        }
    }

    /// A pub/sub connection subscribed to `topic`.
    async fn subscribe(client: &Client, topic: &str) -> Result<PubSub, String> {
        timed(async {
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.subscribe(topic).await?;
            Ok::<_, RedisError>(pubsub)
        })
        .await
    }

    /// Rings the feed for every message; subscribes again with a backoff when the connection
    /// drops.
    async fn follow(bus: String, client: Client, topic: String, mut subscription: PubSub, wake: Arc<Wake>) {
        loop {
            {
                let mut messages = subscription.on_message();
                while let Some(message) = messages.next().await {
                    wake.ring_payload(message.get_payload_bytes());
                }
            }
            tracing::warn!(%bus, "the bus connection dropped; reconnecting (the feed polls the log meanwhile)");
            let mut attempt = 0;
            subscription = loop {
                tokio::time::sleep(backoff(attempt)).await;
                match subscribe(&client, &topic).await {
                    Ok(subscription) => break subscription,
                    Err(error) => {
                        tracing::debug!(%bus, %error, attempt, "the bus is still unreachable");
                        attempt = attempt.saturating_add(1);
                    }
                }
            };
            tracing::info!(%bus, "the bus is connected again");
            // Whatever was committed while the subscription was away is in the log.
            wake.ring_whatever();
        }
    }
}

/// Subscribes and starts the tasks of a `redis://` bus.
#[cfg(feature = "redis")]
pub(crate) async fn start(bus: &Bus, url: &str, parts: Parts) -> Result<Vec<JoinHandle<()>>, BusError> {
    engine::start(bus, url, parts).await
}

/// Refuses: this build has no Redis client.
#[cfg(not(feature = "redis"))]
pub(crate) async fn start(_bus: &Bus, _url: &str, _parts: Parts) -> Result<Vec<JoinHandle<()>>, BusError> {
    Err(BusError::NotCompiled { engine: "redis", feature: "redis" })
}
