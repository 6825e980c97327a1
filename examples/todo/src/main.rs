//! `example-todo`: a live todo list at `/api/todos`, on SQLite by default, whose changes are pushed over
//! Bayeux at `/live` (channel `/api/todos`; clients may chat on `/chat/**`).
//!
//! ```text
//! example-todo [--bind 127.0.0.1:3000] [--database sqlite://todo.db] [--hold-ms 25000]
//!              [--ack-interval-ms 10000] [--allow-publish /chat/**]... [--no-websocket] [--token TOKEN]
//!              [--handshake-token TOKEN] [--web-root DIR]
//!              [--bus inprocess|postgres|redis://HOST:PORT|nats://HOST:PORT] [--bus-topic NAME] [--poll-ms 1000]
//! ```
//!
//! `/` serves the todo web app from `--web-root` (`LIVE_WEB_ROOT`; default: this crate's `web` folder,
//! after `npm ci` there); see [`WEB`].
//!
//! Each flag falls back to an environment variable (`LIVE_BIND`, `DATABASE_URL`, `LIVE_HOLD_MS`,
//! `LIVE_ACK_INTERVAL_MS`, `LIVE_ALLOW_PUBLISH` (comma-separated), `LIVE_NO_WEBSOCKET`, `LIVE_TOKEN`, `LIVE_HANDSHAKE_TOKEN`,
//! `LIVE_BUS`, `LIVE_BUS_TOPIC`, `LIVE_POLL_MS`), then to its default: the
//! server starts with no other set-up, creating the SQLite file and its table.
//!
//! Several processes on one database serve as one service when started with the same `--bus`: each
//! publishes every write to its own Bayeux clients, whichever process made it. `postgres` uses
//! `LISTEN`/`NOTIFY` on the `--database` itself (refused at start-up on SQLite); `redis://` and
//! `nats://` use that broker. The default, `inprocess`, has no bus: writes of other processes still
//! arrive, within `--poll-ms`. A bad `--bus` or an unreachable broker stops the start-up with an error;
//! a broker lost later is reconnected, and events meanwhile arrive within `--poll-ms`.
//!
//! With `--token`, subscribing to a channel under `/private/` needs `ext: {"token": TOKEN}` on the
//! `/meta/subscribe` (403 otherwise); the token is removed from every incoming message, so it is never
//! forwarded. With `--handshake-token`, every handshake needs `ext: {"token": TOKEN}`: a client without
//! it is refused with `401` and advice that slows its retries, so a misconfigured client cannot loop.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use example_support::ClusterArgs;
use example_support::web::{Vendor, WebApp};
use live_runtime::bayeux::{self, BoxFuture, Context, Extension, Message};
use live_runtime::{Live, LiveResource, ValidationErrors};
use serde::{Deserialize, Serialize};

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
    /// How long a Bayeux `/meta/connect` is held when nothing happens, in milliseconds.
    #[arg(long, env = "LIVE_HOLD_MS", default_value_t = 25_000)]
    hold_ms: u64,
    /// For Bayeux clients that acknowledge (CometD's ack extension): how long after the first event of a
    /// batch the held connect is answered over WebSocket, in milliseconds.
    #[arg(long, env = "LIVE_ACK_INTERVAL_MS", default_value_t = 10_000)]
    ack_interval_ms: u64,
    /// A channel or pattern clients may publish on (repeatable); resource channels stay server-only.
    #[arg(long = "allow-publish", env = "LIVE_ALLOW_PUBLISH", value_delimiter = ',', default_value = "/chat/**")]
    allow_publish: Vec<String>,
    /// Refuse WebSocket upgrades (400), so clients fall back to long-polling.
    #[arg(long, env = "LIVE_NO_WEBSOCKET")]
    no_websocket: bool,
    /// Require `ext.token` equal to this on subscribes to `/private/**`.
    #[arg(long, env = "LIVE_TOKEN")]
    token: Option<String>,
    /// Require `ext.token` equal to this on every `/meta/handshake`.
    #[arg(long, env = "LIVE_HANDSHAKE_TOKEN")]
    handshake_token: Option<String>,
    /// The folder of the web app served at `/` (its `node_modules` installed by `npm ci`).
    #[arg(long, env = "LIVE_WEB_ROOT", default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/web"))]
    web_root: PathBuf,
    // `--bus`, `--bus-topic` and `--poll-ms`: several processes on one database as one service.
    #[command(flatten)]
    cluster: ClusterArgs,
}

/// The todo web app at `/` (`web/index.html`, `app.js`, `app.css`), with TodoMVC's style sheet besides the
/// vendor files every example serves; the page talks to `/api/todos` and `/live` like any other client.
const WEB: WebApp = WebApp {
    name: "todo",
    noun: "app",
    api: "/api/todos",
    vendor: &[Vendor::style("todomvc-app.css", "node_modules/todomvc-app-css/index.css")],
};

/// Refuses handshakes that do not carry the shared token in `ext.token`, and strips it.
struct HandshakeGuard {
    token: String,
}

impl Extension for HandshakeGuard {
    fn incoming<'a>(
        &'a self,
        message: &'a mut Message,
        _context: &'a Context,
    ) -> BoxFuture<'a, Result<(), bayeux::Error>> {
        let handshake = message.channel.as_deref() == Some("/meta/handshake");
        let allowed = take_token(message, &self.token) || !handshake;
        Box::pin(std::future::ready(if allowed {
            Ok(())
        } else {
            Err(bayeux::Error::custom(401, ["/meta/handshake"], "Authentication required"))
        }))
    }
}

/// Removes `ext.token` from `message` (so it is never forwarded) and says whether it was `token`.
fn take_token(message: &mut Message, token: &str) -> bool {
    let given = message.ext.as_mut().and_then(|ext| ext.as_object_mut()).and_then(|ext| ext.remove("token"));
    given.as_ref().and_then(|given| given.as_str()) == Some(token)
}

/// Guards `/private/**` subscriptions with a shared token, and strips `ext.token` from every incoming
/// message so that it is never forwarded or logged further.
struct TokenGuard {
    token: String,
}

impl Extension for TokenGuard {
    fn incoming<'a>(
        &'a self,
        message: &'a mut Message,
        _context: &'a Context,
    ) -> BoxFuture<'a, Result<(), bayeux::Error>> {
        let given = take_token(message, &self.token);
        let private = message.channel.as_deref() == Some("/meta/subscribe") && subscribes_private(message);
        let allowed = given || !private;
        Box::pin(std::future::ready(if allowed {
            Ok(())
        } else {
            Err(bayeux::Error::custom(403, ["/private/**"], "Forbidden channel"))
        }))
    }
}

/// Whether a subscribe names a channel or pattern under `/private`, or a root pattern that covers it.
fn subscribes_private(message: &Message) -> bool {
    let private = |name: &str| matches!(name, "/private" | "/*" | "/**") || name.starts_with("/private/");
    let Some(subscription) = &message.subscription else { return false };
    match subscription.as_array() {
        Some(names) => names.iter().filter_map(|name| name.as_str()).any(private),
        None => subscription.as_str().is_some_and(private),
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    example_support::init_tracing();
    let args = Args::parse();
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let mut options = bayeux::Options::default()
        .timeout(Duration::from_millis(args.hold_ms))
        .ack_interval(Duration::from_millis(args.ack_interval_ms))
        .websocket(!args.no_websocket);
    for pattern in &args.allow_publish {
        options = options.allow_publish(pattern).map_err(|error| format!("--allow-publish {pattern}: {error}"))?;
    }
    if let Some(token) = args.token.clone() {
        options = options.extension(TokenGuard { token });
    }
    if let Some(token) = args.handshake_token.clone() {
        options = options.extension(HandshakeGuard { token });
    }
    let mount = options.mount_path().to_owned();
    let live = Live::builder()
        .resource::<Todo>()
        .bayeux(options)
        .bus(args.cluster.bus()?)
        .poll_interval(args.cluster.poll_interval())
        .connect(&args.database)
        .await
        .map_err(|error| example_support::connect_error(&args.database, error))?;
    let missing = WEB.missing(&args.web_root);
    if !missing.is_empty() {
        tracing::warn!(web_root = %args.web_root.display(), ?missing, "the web app is not installed: run npm ci there");
    }
    let app = live.router().merge(WEB.router(args.web_root.clone()));
    example_support::serve(args.bind, app, |local| {
        tracing::info!(database = %args.database, "listening on http://{local}");
        tracing::info!("Bayeux (live changes of /api/todos) at http://{local}{mount}");
    })
    .await?;
    tracing::info!("stopped");
    Ok(())
}
