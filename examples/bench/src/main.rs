//! `live-bench`: the server of the REST benchmark (`docs/benchmarks.md`).
//!
//! It serves the todo resource of `examples/todo` at `/api/todos` in one of two ways, chosen by
//! `--mode`: `generated`, the routes of `#[derive(LiveResource)]` wired exactly as the example
//! wires them, or `hand`, axum + sqlx handlers written for this one struct that issue the same SQL
//! statements in the same transactions with the same pool settings and answer the same JSON. The
//! ratio between the two is the cost of the generic code. Both modes start from the same seeded
//! table, so the runner (`run.py`) can alternate them.
//!
//! ```text
//! live-bench --mode generated|hand --database sqlite://results/bench.db [--fresh] [--seed 10000]
//!            [--port 8080] [--workers N] [--max-connections N] [--feed] [--detach] [--seed-only] [--log FILTER]
//! ```

mod hand;
mod seed;
mod todo;

use std::error::Error;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use clap::{Parser, ValueEnum};
use live_runtime::{Live, Store, StoreOptions};

use crate::todo::Todo;

/// Which implementation of the routes to serve.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Mode {
    /// The routes of `#[derive(LiveResource)]` through `live_runtime`.
    Generated,
    /// Hand-written axum + sqlx handlers issuing the same SQL.
    Hand,
}

/// The database family, from the URL scheme.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Backend {
    /// `sqlite:...`
    Sqlite,
    /// `postgres://...` or `postgresql://...`
    Postgres,
}

impl Backend {
    fn of(url: &str) -> Result<Backend, String> {
        if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Backend::Postgres)
        } else {
            Err(format!("unsupported database URL `{url}`: expected sqlite:... or postgres://..."))
        }
    }

    fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// Command line of the benchmark server.
#[derive(Debug, Parser)]
#[command(name = "live-bench", about = "Serves the todo resource for the REST benchmark")]
struct Args {
    /// Which routes to serve.
    #[arg(long, value_enum)]
    mode: Mode,
    /// Database URL: `sqlite://file.db` (WAL, synchronous=NORMAL, as the store sets) or `postgres://...`.
    #[arg(long, default_value = "sqlite://bench.db")]
    database: String,
    /// Port on 127.0.0.1.
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// Insert this many rows when the table is empty.
    #[arg(long, default_value_t = 0)]
    seed: u32,
    /// Start from an empty database: delete the SQLite file, or drop the PostgreSQL tables.
    #[arg(long)]
    fresh: bool,
    /// Exit after creating and seeding the tables (to prepare a database file once).
    #[arg(long)]
    seed_only: bool,
    /// Log to stderr with this tracing filter, for checks rather than measurements (without it
    /// no subscriber is installed at all). `sqlx::query=debug` prints every SQL statement, to
    /// check that both modes issue the same ones; `live_runtime=debug` shows the runtime's errors.
    #[arg(long, value_name = "FILTER")]
    log: Option<String>,
    /// Pool size, for experiments; without it both modes use the store's default (8).
    #[arg(long)]
    max_connections: Option<u32>,
    /// Generated mode: keep publishing every commit over Bayeux, as the example does (the feed
    /// tails the event log). Off by default, because the hand-written routes publish nothing.
    #[arg(long)]
    feed: bool,
    /// Run every request in a task of its own, so that a client that goes away no longer cancels
    /// its handler half-way (an experiment for the cancelled-write problem of
    /// `docs/benchmarks.md`; off for the measurements).
    #[arg(long)]
    detach: bool,
    /// Tokio worker threads (default: one per CPU the process may run on, as `#[tokio::main]` does).
    #[arg(long)]
    workers: Option<usize>,
}

fn main() -> Result<(), Box<dyn Error>> {
    let args = Args::parse();
    if let Some(filter) = &args.log {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_writer(std::io::stderr)
            .without_time()
            .with_ansi(false)
            .init();
    }
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    runtime.enable_all();
    if let Some(workers) = args.workers {
        runtime.worker_threads(workers);
    }
    runtime.build()?.block_on(run(args))
}

async fn run(args: Args) -> Result<(), Box<dyn Error>> {
    let backend = Backend::of(&args.database)?;
    if args.fresh {
        seed::wipe(backend, &args.database).await?;
    }

    // The tables exist once the routes are set up: the store creates them in generated mode, the
    // hand-written setup in hand mode, with the same DDL.
    // `live` is kept for the server's lifetime, as the example keeps it; its feed (which publishes
    // every commit over Bayeux) is stopped unless `--feed`, so that both modes do the same work.
    let mut live = None;
    let router = match (args.mode, args.max_connections) {
        (Mode::Generated, connections) => {
            let builder = Live::builder().resource::<Todo>();
            let started = match connections {
                // Exactly as the example wires it.
                None => builder.connect(&args.database).await?,
                Some(connections) => {
                    let mut options = StoreOptions::default();
                    options.max_connections = connections;
                    builder.store(Store::connect_with(&args.database, options).await?).await?
                }
            };
            if !args.feed {
                started.shutdown();
            }
            let router = started.router();
            live = Some(started);
            router
        }
        (Mode::Hand, connections) => {
            hand::router(backend, &args.database, connections.unwrap_or(hand::MAX_CONNECTIONS)).await?
        }
    };
    let router = if args.detach { router.layer(axum::middleware::from_fn(detach)) } else { router };
    let rows = seed::seed(backend, &args.database, args.seed).await?;
    if args.seed_only {
        println!("{{\"event\":\"seeded\",\"rows\":{rows}}}");
        return Ok(());
    }

    let listener = tokio::net::TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, args.port))).await?;
    let mode = match args.mode {
        Mode::Generated => "generated",
        Mode::Hand => "hand",
    };
    let workers = args.workers.map_or_else(|| "default".to_owned(), |n| n.to_string());
    let connections = args.max_connections.map_or_else(|| "default".to_owned(), |n| n.to_string());
    // One JSON line the runner reads: what is being served, and the pid it samples.
    println!(
        "{{\"event\":\"listening\",\"mode\":\"{mode}\",\"backend\":\"{}\",\"port\":{},\"pid\":{},\"rows\":{rows},\
         \"workers\":\"{workers}\",\"max_connections\":\"{connections}\",\"feed\":{}}}",
        backend.name(),
        args.port,
        std::process::id(),
        live.is_some() && args.feed,
    );
    // Keep-alive connections of a load generator may stay open after the stop signal: give
    // in-flight requests a moment to finish, then return (and exit) regardless.
    let stop = std::sync::Arc::new(tokio::sync::Notify::new());
    let stopping = stop.clone();
    let server = axum::serve(listener, router).with_graceful_shutdown(async move {
        shutdown_signal().await;
        stopping.notify_one();
    });
    tokio::select! {
        served = server => served?,
        () = async {
            stop.notified().await;
            tokio::time::sleep(Duration::from_secs(3)).await;
        } => {}
    }
    drop(live);
    Ok(())
}

/// Runs the rest of the request in a spawned task and waits for it: dropping this future (the
/// client went away) then leaves the handler running to its end instead of cancelling it.
async fn detach(request: Request, next: Next) -> Response {
    match tokio::spawn(next.run(request)).await {
        Ok(response) => response,
        // The handler panicked; hyper would otherwise have closed the connection.
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// Resolves on SIGTERM or SIGINT. The runner stops the server with SIGTERM, and callgrind only
/// writes its counts when the process exits normally.
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) else {
        // Without signal handlers the server can only be killed; serving is still useful.
        std::future::pending::<()>().await;
        return;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}
