//! The PostgreSQL bus: `NOTIFY topic, 'seq'` after a commit, `LISTEN topic` on every node, on the
//! database that holds the log, so it needs no other server.
//!
//! The bus has a pool of its own, with the store's connection settings and two connections: one
//! held by the listener for as long as it lives, one for `pg_notify`. So wake-ups never wait
//! behind the store's writers for a connection, nor take one from them.
//!
//! `NOTIFY` is sent after the commit, on its own connection, rather than inside the write's
//! transaction (where PostgreSQL would deliver it exactly at commit): the store then knows nothing
//! of the bus, and a lost or late wake-up costs only delay, which the feed's timer bounds.

use std::sync::Arc;

use sqlx::PgPool;
use sqlx::postgres::{PgListener, PgPoolOptions};
use tokio::task::JoinHandle;

use super::{Bus, BusError, CONNECT_TIMEOUT, Parts, Publisher, Wake, announce_loop, backoff, timed};

/// Connections of the bus's own pool: the listener's, and one for `NOTIFY`.
const CONNECTIONS: u32 = 2;

/// Starts listening (now, so that a failure is a start-up error) and announcing.
pub(crate) async fn start(bus: &Bus, store_pool: &PgPool, parts: Parts) -> Result<Vec<JoinHandle<()>>, BusError> {
    let options = store_pool.connect_options().as_ref().clone();
    let pool = PgPoolOptions::new()
        .max_connections(CONNECTIONS)
        .acquire_timeout(CONNECT_TIMEOUT)
        // A connection of the bus may sit idle for hours between wake-ups; dead ones are
        // noticed when used and replaced.
        .idle_timeout(None)
        .max_lifetime(None)
        .connect_lazy_with(options);
    let topic = bus.topic.clone();
    let listener = listen(&pool, &topic).await.map_err(|error| BusError::connect(bus, error))?;
    let listening = tokio::spawn(follow(bus.to_string(), pool.clone(), topic.clone(), listener, parts.wake));
    let announcing = tokio::spawn(announce_loop(bus.to_string(), parts.announce, Notifier { pool, topic }));
    Ok(vec![listening, announcing])
}

/// Sends wake-ups with `pg_notify` (which, unlike `NOTIFY`, takes the channel as a parameter).
struct Notifier {
    pool: PgPool,
    topic: String,
}

impl Publisher for Notifier {
    async fn send(&mut self, seq: i64) -> Result<(), String> {
        let notify =
            sqlx::query("SELECT pg_notify($1, $2)").bind(&self.topic).bind(seq.to_string()).execute(&self.pool);
        timed(notify).await.map(|_| ())
    }
}

/// A listener on `topic`, from `pool`.
async fn listen(pool: &PgPool, topic: &str) -> Result<PgListener, String> {
    timed(async {
        let mut listener = PgListener::connect_with(pool).await?;
        // The feed reads the log after a reconnection anyway; waiting for a reconnection inside
        // `try_recv` would only hide it from the loop below.
        listener.eager_reconnect(false);
        listener.listen(topic).await?;
        Ok::<_, sqlx::Error>(listener)
    })
    .await
}

/// Rings the feed for every notification; re-listens with a backoff when the connection drops.
async fn follow(bus: String, pool: PgPool, topic: String, mut listener: PgListener, wake: Arc<Wake>) {
    loop {
        let lost = match listener.try_recv().await {
            Ok(Some(notification)) => {
                wake.ring_payload(notification.payload().as_bytes());
                continue;
            }
            // The connection dropped: notifications sent meanwhile are gone.
            Ok(None) => "the connection was lost".to_owned(),
            Err(error) => error.to_string(),
        };
        tracing::warn!(%bus, error = %lost, "the bus connection dropped; reconnecting (the feed polls the log meanwhile)");
        drop(listener);
        listener = reconnect(&bus, &pool, &topic).await;
        tracing::info!(%bus, "the bus is connected again");
        // Whatever was committed while the listener was away is in the log.
        wake.ring_whatever();
    }
}

/// A new listener, after as many attempts as it takes.
async fn reconnect(bus: &str, pool: &PgPool, topic: &str) -> PgListener {
    let mut attempt = 0;
    loop {
        tokio::time::sleep(backoff(attempt)).await;
        match listen(pool, topic).await {
            Ok(listener) => return listener,
            Err(error) => {
                tracing::debug!(%bus, %error, attempt, "the bus is still unreachable");
                attempt = attempt.saturating_add(1);
            }
        }
    }
}
