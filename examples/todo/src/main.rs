//! `example-todo`: a live todo list at `/api/todos`, on SQLite by default.
//!
//! ```text
//! example-todo [--bind 127.0.0.1:3000] [--database sqlite://todo.db]
//! ```
//!
//! Each flag falls back to an environment variable (`LIVE_BIND`, `DATABASE_URL`), then to its
//! default: the server starts with no other set-up, creating the SQLite file and its table.

use std::net::SocketAddr;

use clap::Parser;
use live_runtime::{Live, LiveResource, ValidationErrors};
use serde::{Deserialize, Serialize};
use tracing_subscriber::EnvFilter;

/// One todo item, as Backbone's TodoMVC models it.
#[derive(LiveResource, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[live(path = "/api/todos", validate = validate_todo)]
pub struct Todo {
    /// Assigned by the store on create.
    #[live(id)]
    pub id: i64,
    /// What to do; required and not blank.
    pub title: String,
    /// Done or not; `false` when a create leaves it out.
    #[serde(default)]
    pub completed: bool,
    /// Position in the list; `0` when a create leaves it out.
    #[serde(default)]
    pub order: i64,
}

/// A todo needs something to do.
fn validate_todo(todo: &Todo) -> Result<(), ValidationErrors> {
    let mut errors = ValidationErrors::new();
    if todo.title.trim().is_empty() {
        errors.add("title", "must not be empty");
    }
    errors.into_result()
}

/// Command-line flags, each with an environment fallback.
#[derive(Parser, Debug)]
#[command(version, about = "A live todo list: REST at /api/todos over SQLite or PostgreSQL")]
struct Args {
    /// Address to listen on.
    #[arg(long, env = "LIVE_BIND", default_value = "127.0.0.1:3000")]
    bind: SocketAddr,
    /// Database URL: `sqlite://FILE` (created when missing) or `postgres://...`.
    #[arg(long, env = "DATABASE_URL", default_value = "sqlite://todo.db")]
    database: String,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .init();
    let args = Args::parse();
    match run(args).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let live = Live::builder()
        .resource::<Todo>()
        .connect(&args.database)
        .await
        .map_err(|error| format!("cannot open the database {}: {error}", args.database))?;
    let app = live.router();
    let listener = tokio::net::TcpListener::bind(args.bind)
        .await
        .map_err(|error| format!("cannot listen on {}: {error}", args.bind))?;
    let local = listener.local_addr()?;
    tracing::info!(database = %args.database, "listening on http://{local}");
    axum::serve(listener, app).with_graceful_shutdown(shutdown_signal()).await?;
    tracing::info!("stopped");
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
