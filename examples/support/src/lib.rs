//! What `example-todo` and `example-chat` share, so that each example's `main.rs` keeps only what a user
//! would write: its resources, their validation, its flags and the `Live` builder call.
//!
//! - [`web`]: the example's web page at `/`, from a web folder and a fixed allow-list of its `node_modules`.
//! - [`ClusterArgs`]: the flags `--bus`, `--bus-topic` and `--poll-ms`, shared by every example.
//! - [`init_tracing`], [`connect_error`] and [`serve`]: logging, start-up errors, and serving until Ctrl-C or
//!   SIGTERM.
//! - [`testing`]: starting an example's binary in its integration tests.
//!
//! Nothing here logs start-up messages: the examples log them under their own target (`example_todo`,
//! `example_chat`), which is what `RUST_LOG` filters name.

use std::error::Error;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use live_runtime::{Bus, LiveError};
use tracing_subscriber::EnvFilter;

pub mod testing;
pub mod web;

/// The flags `--bus`, `--bus-topic` and `--poll-ms` (env `LIVE_BUS`, `LIVE_BUS_TOPIC`, `LIVE_POLL_MS`):
/// how several processes on one database serve as one service. Flatten them into an example's flags with
/// `#[command(flatten)]`.
#[derive(clap::Args, Debug, Clone)]
pub struct ClusterArgs {
    /// How processes serving one database tell each other about writes: `inprocess` (no bus),
    /// `postgres` (LISTEN/NOTIFY on the database), `redis://HOST:PORT` or `nats://HOST:PORT`.
    #[arg(long, env = "LIVE_BUS", default_value = "inprocess")]
    bus: String,
    /// The channel (subject) the bus carries wake-ups on; the same for every process of one service.
    #[arg(long, env = "LIVE_BUS_TOPIC", default_value = live_runtime::bus::DEFAULT_TOPIC)]
    bus_topic: String,
    /// How often the event log is read when no write or bus message said to, in milliseconds.
    #[arg(long, env = "LIVE_POLL_MS", default_value_t = 1000)]
    poll_ms: u64,
}

impl ClusterArgs {
    /// The bus `--bus` names, on `--bus-topic`, for [`live_runtime::LiveBuilder::bus`]; a bad URL or topic is
    /// an error that names `--bus`.
    pub fn bus(&self) -> Result<Bus, String> {
        Bus::parse(&self.bus).and_then(|bus| bus.topic(&self.bus_topic)).map_err(|error| format!("--bus: {error}"))
    }

    /// `--poll-ms`, for [`live_runtime::LiveBuilder::poll_interval`].
    pub fn poll_interval(&self) -> Duration {
        Duration::from_millis(self.poll_ms)
    }
}

/// Logs to stdout, filtered by `RUST_LOG` (`info` when it is unset or not a valid filter).
pub fn init_tracing() {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .init();
}

/// The start-up error for a [`live_runtime::LiveBuilder::connect`] to `database` that failed: a bus that
/// cannot work names `--bus`, anything else the database.
pub fn connect_error(database: &str, error: LiveError) -> String {
    match error {
        LiveError::Bus(error) => format!("--bus: {error}"),
        error => format!("cannot open the database {database}: {error}"),
    }
}

/// Listens on `bind`, calls `listening` with the address it got (the port is chosen when `bind`'s is 0),
/// then serves `app` until Ctrl-C or SIGTERM, letting in-flight requests finish.
///
/// # Errors
///
/// When `bind` cannot be listened on (the error names it), or serving fails.
pub async fn serve(bind: SocketAddr, app: Router, listening: impl FnOnce(SocketAddr)) -> Result<(), Box<dyn Error>> {
    let listener =
        tokio::net::TcpListener::bind(bind).await.map_err(|error| format!("cannot listen on {bind}: {error}"))?;
    listening(listener.local_addr()?);
    axum::serve(listener, app).with_graceful_shutdown(shutdown_signal()).await?;
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM, so that in-flight requests finish before the process exits.
async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_bus_names_the_flag() {
        use clap::Parser;

        #[derive(Parser)]
        struct Flags {
            #[command(flatten)]
            cluster: ClusterArgs,
        }
        let flags = Flags::try_parse_from(["example", "--bus", "bogus://x", "--poll-ms", "250"]).expect("parses");
        assert!(flags.cluster.bus().is_err_and(|error| error.starts_with("--bus: ")));
        assert_eq!(flags.cluster.poll_interval(), Duration::from_millis(250));
    }
}
