//! `example-chat`: chat rooms at `/api/rooms` and each room's messages at `/api/rooms/{room_id}/messages`,
//! on SQLite by default, whose changes are pushed over Bayeux at `/live`: the rooms on the channel
//! `/api/rooms`, the messages of room 7 on `/api/rooms/7/messages` (one channel per room).
//!
//! ```text
//! example-chat [--bind 127.0.0.1:3001] [--database sqlite://chat.db] [--hold-ms 25000] [--no-websocket]
//!              [--web-root DIR] [--bus inprocess|postgres|redis://HOST:PORT|nats://HOST:PORT]
//!              [--bus-topic NAME] [--poll-ms 1000]
//! ```
//!
//! `/` serves the chat web page from `--web-root` (`LIVE_WEB_ROOT`; default: this crate's `web` folder,
//! after `npm ci` there); see [`WEB`].
//!
//! Each flag falls back to an environment variable (`LIVE_BIND`, `DATABASE_URL`, `LIVE_HOLD_MS`,
//! `LIVE_NO_WEBSOCKET`, `LIVE_WEB_ROOT`, `LIVE_BUS`, `LIVE_BUS_TOPIC`, `LIVE_POLL_MS`), then to its default:
//! the server starts with no other set-up, creating the SQLite file and its tables.
//!
//! A message's `sent_at` is the server's: clients may send it (Backbone sends the whole model back) but it
//! is never written from a request, so a create takes the server's clock and an update keeps the stored
//! time. Several processes on one database serve as one service with the same `--bus`, as for
//! `example-todo`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use chrono::{DateTime, Utc};
use clap::Parser;
use example_support::ClusterArgs;
use example_support::web::WebApp;
use live_runtime::bayeux;
use live_runtime::{Live, LiveResource, ValidationErrors};
use serde::{Deserialize, Serialize};

/// Longest room name, in characters.
pub const ROOM_NAME_MAX: usize = 80;
/// Longest author name, in characters.
pub const AUTHOR_MAX: usize = 40;
/// Longest message text, in characters.
pub const TEXT_MAX: usize = 2000;

/// A chat room.
#[derive(LiveResource, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[live(path = "/api/rooms", validate = validate_room)]
pub struct Room {
    /// Assigned by the store on create.
    #[live(id)]
    pub id: i64,
    /// The room's name: not blank, at most [`ROOM_NAME_MAX`] characters.
    pub name: String,
}

/// A message posted in a room; listed, created and published under its room's path, and deleted with its
/// room (`cascade`: each removal is published on the room's channel).
#[derive(LiveResource, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[live(path = "/api/rooms/{room_id}/messages", validate = validate_message, cascade)]
pub struct Message {
    /// Assigned by the store on create.
    #[live(id)]
    pub id: i64,
    /// The room: taken from the path on create, never changed.
    pub room_id: i64,
    /// Who wrote it (a plain name): not blank, at most [`AUTHOR_MAX`] characters.
    pub author: String,
    /// What it says: not blank, at most [`TEXT_MAX`] characters.
    pub text: String,
    /// When the server received it: set on create from the server's clock, never from a request.
    #[live(read_only)]
    #[serde(default = "now")]
    pub sent_at: DateTime<Utc>,
}

/// The server's clock, for a message created without `sent_at` (every create from a request: the field is
/// read-only, so a request's value is dropped before the body is read).
fn now() -> DateTime<Utc> {
    Utc::now()
}

/// Adds an error on `field` when `value` is blank or longer than `max` characters.
fn check_text(errors: &mut ValidationErrors, field: &str, value: &str, max: usize) {
    if value.trim().is_empty() {
        errors.add(field, "must not be empty");
    } else if value.chars().count() > max {
        errors.add(field, format!("must be at most {max} characters"));
    }
}

/// A room needs a name of at most [`ROOM_NAME_MAX`] characters.
fn validate_room(room: &Room) -> Result<(), ValidationErrors> {
    let mut errors = ValidationErrors::new();
    check_text(&mut errors, "name", &room.name, ROOM_NAME_MAX);
    errors.into_result()
}

/// A message needs an author and a text, each within its limit.
fn validate_message(message: &Message) -> Result<(), ValidationErrors> {
    let mut errors = ValidationErrors::new();
    check_text(&mut errors, "author", &message.author, AUTHOR_MAX);
    check_text(&mut errors, "text", &message.text, TEXT_MAX);
    errors.into_result()
}

/// Command-line flags, each with an environment fallback.
#[derive(Parser, Debug)]
#[command(
    version,
    about = "Live chat rooms: REST at /api/rooms and /api/rooms/{room_id}/messages over SQLite or PostgreSQL"
)]
struct Args {
    /// Address to listen on.
    #[arg(long, env = "LIVE_BIND", default_value = "127.0.0.1:3001")]
    bind: SocketAddr,
    /// Database URL: `sqlite://FILE` (created when missing) or `postgres://...`.
    #[arg(long, env = "DATABASE_URL", default_value = "sqlite://chat.db")]
    database: String,
    /// How long a Bayeux `/meta/connect` is held when nothing happens, in milliseconds.
    #[arg(long, env = "LIVE_HOLD_MS", default_value_t = 25_000)]
    hold_ms: u64,
    /// Refuse WebSocket upgrades (400), so clients fall back to long-polling.
    #[arg(long, env = "LIVE_NO_WEBSOCKET")]
    no_websocket: bool,
    /// The folder of the web page served at `/` (its `node_modules` installed by `npm ci`).
    #[arg(long, env = "LIVE_WEB_ROOT", default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/web"))]
    web_root: PathBuf,
    // `--bus`, `--bus-topic` and `--poll-ms`: several processes on one database as one service.
    #[command(flatten)]
    cluster: ClusterArgs,
}

/// The chat web page at `/` (`web/index.html`, `app.js`, `app.css`) with the vendor files every example
/// serves; the page talks to `/api/rooms`, `/api/rooms/{room_id}/messages` and `/live` like any other client.
const WEB: WebApp = WebApp { name: "chat", noun: "page", api: "/api/rooms", vendor: &[] };

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
    let options = bayeux::Options::default().timeout(Duration::from_millis(args.hold_ms)).websocket(!args.no_websocket);
    let mount = options.mount_path().to_owned();
    let live = Live::builder()
        .resource::<Room>()
        .resource::<Message>()
        .bayeux(options)
        .bus(args.cluster.bus()?)
        .poll_interval(args.cluster.poll_interval())
        .connect(&args.database)
        .await
        .map_err(|error| example_support::connect_error(&args.database, error))?;
    let missing = WEB.missing(&args.web_root);
    if !missing.is_empty() {
        tracing::warn!(web_root = %args.web_root.display(), ?missing, "the web page is not installed: run npm ci there");
    }
    let app = live.router().merge(WEB.router(args.web_root.clone()));
    example_support::serve(args.bind, app, |local| {
        tracing::info!(database = %args.database, "listening on http://{local}");
        tracing::info!("Bayeux (live changes of /api/rooms and /api/rooms/{{id}}/messages) at http://{local}{mount}");
    })
    .await?;
    tracing::info!("stopped");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(author: &str, text: &str) -> Message {
        Message { id: 0, room_id: 1, author: author.to_owned(), text: text.to_owned(), sent_at: now() }
    }

    #[test]
    fn a_room_needs_a_name_of_at_most_80_characters() {
        let room = |name: &str| Room { id: 0, name: name.to_owned() };
        assert!(validate_room(&room("lobby")).is_ok());
        assert!(validate_room(&room(&"é".repeat(ROOM_NAME_MAX))).is_ok(), "characters, not bytes");
        assert!(validate_room(&room("")).is_err());
        assert!(validate_room(&room("  \t")).is_err());
        assert!(validate_room(&room(&"x".repeat(ROOM_NAME_MAX + 1))).is_err());
    }

    #[test]
    fn a_message_needs_an_author_and_a_text_within_their_limits() {
        assert!(validate_message(&message("ada", "hello")).is_ok());
        assert!(validate_message(&message(&"a".repeat(AUTHOR_MAX), &"t".repeat(TEXT_MAX))).is_ok());
        assert!(validate_message(&message("", "hello")).is_err());
        assert!(validate_message(&message(" ", "hello")).is_err());
        assert!(validate_message(&message("ada", "  ")).is_err());
        assert!(validate_message(&message(&"a".repeat(AUTHOR_MAX + 1), "hello")).is_err());
        assert!(validate_message(&message("ada", &"t".repeat(TEXT_MAX + 1))).is_err());
    }
}
