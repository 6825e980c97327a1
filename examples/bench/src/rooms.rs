//! `live-bench-rooms`: the server of the partitions, filters and record-channel benchmarks
//! (`docs/benchmarks.md`, "Partitions, record channels and filters"; runner `fanout/bench.py --scenario`).
//!
//! One `Live` with three resources of the same row shape (`id`, `room_id`, `author`, `text`):
//!
//! - `Room` at `/api/rooms`, the parent;
//! - `Message` at `/api/rooms/{room_id}/messages`, nested: one REST collection and one channel per room;
//! - `Note` at `/api/notes`, flat: one collection and one channel, `room_id` a plain column, so that a note
//!   and a message are the same row and the same JSON, and only the partitioning differs;
//! - `Memo` at `/api/memos`, Note's twin, which no benchmark subscribes to: the control writes of a flat run.
//!
//! ```text
//! live-bench-rooms --database sqlite://rooms.db [--port 8080] [--fresh] [--rooms 100]
//!                  [--messages 10000] [--notes 100] [--seed-only] [--no-feed] [--workers N]
//! ```
//!
//! `--rooms R` creates rooms 1..R, `--messages M` spreads M messages over them round-robin (message i in room
//! `i % R + 1`, so each room's rows are interleaved with the others' in the table, as in a busy chat),
//! `--notes N` inserts N notes; all with plain SQL in one transaction and no event-log entries, like the REST
//! benchmark's seed (`src/seed.rs`). The nested table has the store's index on `(room_id, id)`.

use std::error::Error;
use std::net::{Ipv4Addr, SocketAddr};
use std::str::FromStr;
use std::time::Duration;

use clap::Parser;
use live_runtime::{Live, LiveResource};
use serde::{Deserialize, Serialize};
use sqlx::Connection;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};

/// A room: the parent of its messages.
#[derive(LiveResource, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[live(path = "/api/rooms")]
pub struct Room {
    /// Assigned by the store on create.
    #[live(id)]
    pub id: i64,
    /// Any name.
    pub name: String,
}

/// A message of one room: listed, created and published under `/api/rooms/{room_id}/messages`.
#[derive(LiveResource, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[live(path = "/api/rooms/{room_id}/messages")]
pub struct Message {
    /// Assigned by the store on create.
    #[live(id)]
    pub id: i64,
    /// The room, from the path.
    pub room_id: i64,
    /// Who wrote it (the filtered fan-out filters on it).
    pub author: String,
    /// What it says (the load client's stamp travels here).
    pub text: String,
}

/// The flat twin of [`Message`]: the same columns at one path, `room_id` an ordinary field.
#[derive(LiveResource, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[live(path = "/api/notes")]
pub struct Note {
    /// Assigned by the store on create.
    #[live(id)]
    pub id: i64,
    /// Plain column, 0 when a create leaves it out.
    #[serde(default)]
    pub room_id: i64,
    /// Who wrote it.
    pub author: String,
    /// What it says.
    pub text: String,
}

/// A second flat twin that no benchmark subscribes to: the control writes of a flat run (the same write as a
/// note's, delivered to nobody).
#[derive(LiveResource, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[live(path = "/api/memos")]
pub struct Memo {
    /// Assigned by the store on create.
    #[live(id)]
    pub id: i64,
    /// Plain column, 0 when a create leaves it out.
    #[serde(default)]
    pub room_id: i64,
    /// Who wrote it.
    pub author: String,
    /// What it says.
    pub text: String,
}

/// Command line.
#[derive(Debug, Parser)]
#[command(
    name = "live-bench-rooms",
    about = "Rooms, their messages (nested) and flat notes, for the fan-out benchmarks"
)]
struct Args {
    /// SQLite database URL.
    #[arg(long, default_value = "sqlite://rooms.db")]
    database: String,
    /// Port on 127.0.0.1.
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// Delete the SQLite file (and its WAL) first.
    #[arg(long)]
    fresh: bool,
    /// Rooms 1..=N to create when the rooms table is empty.
    #[arg(long, default_value_t = 0)]
    rooms: u32,
    /// Messages to spread over the rooms, round-robin, when the messages table is empty.
    #[arg(long, default_value_t = 0)]
    messages: u32,
    /// Notes to insert when the notes table is empty.
    #[arg(long, default_value_t = 0)]
    notes: u32,
    /// Exit after creating and seeding the tables.
    #[arg(long)]
    seed_only: bool,
    /// Stop the feed (no Bayeux publishing), for REST-only measurements such as callgrind's.
    #[arg(long)]
    no_feed: bool,
    /// Tokio worker threads (default: one per CPU the process may run on).
    #[arg(long)]
    workers: Option<usize>,
}

fn main() -> Result<(), Box<dyn Error>> {
    let args = Args::parse();
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    runtime.enable_all();
    if let Some(workers) = args.workers {
        runtime.worker_threads(workers);
    }
    runtime.build()?.block_on(run(args))
}

async fn run(args: Args) -> Result<(), Box<dyn Error>> {
    if !args.database.starts_with("sqlite:") {
        return Err("live-bench-rooms runs on SQLite only".into());
    }
    let file = SqliteConnectOptions::from_str(&args.database)?.get_filename().to_string_lossy().into_owned();
    if args.fresh {
        for suffix in ["", "-wal", "-shm"] {
            match std::fs::remove_file(format!("{file}{suffix}")) {
                Err(error) if error.kind() != std::io::ErrorKind::NotFound => return Err(error.into()),
                _ => {}
            }
        }
    }
    // The store creates the tables (and the nested table's index on (room_id, id)).
    let live = Live::builder()
        .resource::<Room>()
        .resource::<Message>()
        .resource::<Note>()
        .resource::<Memo>()
        .connect(&args.database)
        .await?;
    if args.no_feed {
        live.shutdown();
    }
    let counts = seed(&args).await?;
    if args.seed_only {
        println!("{{\"event\":\"seeded\",\"rooms\":{},\"messages\":{},\"notes\":{}}}", counts.0, counts.1, counts.2);
        return Ok(());
    }
    let listener = tokio::net::TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, args.port))).await?;
    println!(
        "{{\"event\":\"listening\",\"port\":{},\"pid\":{},\"rooms\":{},\"messages\":{},\"notes\":{},\"feed\":{}}}",
        args.port,
        std::process::id(),
        counts.0,
        counts.1,
        counts.2,
        !args.no_feed
    );
    let stop = std::sync::Arc::new(tokio::sync::Notify::new());
    let stopping = stop.clone();
    let server = axum::serve(listener, live.router::<()>()).with_graceful_shutdown(async move {
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

/// Seeds the empty tables; answers the row counts of rooms, messages and notes.
async fn seed(args: &Args) -> Result<(i64, i64, i64), Box<dyn Error>> {
    let mut connection = SqliteConnection::connect_with(&SqliteConnectOptions::from_str(&args.database)?).await?;
    let count = |table: &str| format!(r#"SELECT COUNT(*) FROM "{table}""#);
    let mut tx = connection.begin().await?;
    let rooms: i64 = sqlx::query_scalar(&count(Room::DESCRIPTOR.table)).fetch_one(&mut *tx).await?;
    if rooms == 0 {
        let insert = format!(
            r#"INSERT INTO "{}" ("id", "name", "{}") VALUES (?, ?, 1)"#,
            Room::DESCRIPTOR.table,
            Room::DESCRIPTOR.version_column()
        );
        for room in 1..=args.rooms {
            sqlx::query(&insert).bind(i64::from(room)).bind(format!("room {room}")).execute(&mut *tx).await?;
        }
    }
    let messages: i64 = sqlx::query_scalar(&count(Message::DESCRIPTOR.table)).fetch_one(&mut *tx).await?;
    if messages == 0 && args.messages > 0 {
        if args.rooms == 0 {
            return Err("--messages needs --rooms".into());
        }
        let insert = format!(
            r#"INSERT INTO "{}" ("room_id", "author", "text", "{}") VALUES (?, ?, ?, 1)"#,
            Message::DESCRIPTOR.table,
            Message::DESCRIPTOR.version_column()
        );
        for i in 0..args.messages {
            let room = i64::from(i % args.rooms + 1);
            sqlx::query(&insert)
                .bind(room)
                .bind(format!("a{}", i % 10))
                .bind(format!("seed message number {i}"))
                .execute(&mut *tx)
                .await?;
        }
    }
    let notes: i64 = sqlx::query_scalar(&count(Note::DESCRIPTOR.table)).fetch_one(&mut *tx).await?;
    if notes == 0 && args.notes > 0 {
        let insert = format!(
            r#"INSERT INTO "{}" ("room_id", "author", "text", "{}") VALUES (?, ?, ?, 1)"#,
            Note::DESCRIPTOR.table,
            Note::DESCRIPTOR.version_column()
        );
        for i in 0..args.notes {
            sqlx::query(&insert)
                .bind(1_i64)
                .bind(format!("a{}", i % 10))
                .bind(format!("seed message number {i}"))
                .execute(&mut *tx)
                .await?;
        }
    }
    tx.commit().await?;
    let mut totals = [0_i64; 3];
    for (total, table) in
        totals.iter_mut().zip([Room::DESCRIPTOR.table, Message::DESCRIPTOR.table, Note::DESCRIPTOR.table])
    {
        *total = sqlx::query_scalar(&count(table)).fetch_one(&mut connection).await?;
    }
    connection.close().await?;
    Ok((totals[0], totals[1], totals[2]))
}

/// Resolves on SIGTERM or SIGINT (callgrind writes its counts only on a normal exit).
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) else {
        std::future::pending::<()>().await;
        return;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}
