//! The runtime of **live**: a live, shared collection of records on the web, from one Rust struct.
//!
//! `#[derive(LiveResource)]` gives a struct a Backbone-compatible REST API (axum) over SQL (SQLite,
//! embedded, by default; PostgreSQL for production). Every create, update and delete, through REST or
//! through the typed Rust API, is logged in the same transaction as the row, then published, after
//! commit and in order, on the channel named after the resource path (`/api/todos`) by a Bayeux server
//! that the unmodified faye and CometD JavaScript clients use. A client that was away resumes from the
//! last seq it saw, or takes a snapshot, with nothing lost or doubled.
//!
//! ```
//! use live_runtime::{Live, LiveResource, Write};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(LiveResource, Serialize, Deserialize, Clone, Debug)]
//! #[live(path = "/api/todos")] // the REST base path and the channel; table "todos"
//! struct Todo {
//!     #[live(id)] // assigned by the store
//!     id: i64,
//!     title: String,
//!     #[serde(default)]
//!     completed: bool,
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let live = Live::builder().resource::<Todo>().connect("sqlite::memory:").await?;
//! // Serve `live.router()` with axum: REST at /api/todos, Bayeux at /live.
//! let router: axum::Router = live.router();
//! // A server-side write is published like a REST one.
//! let todo = Todo { id: 0, title: "write the docs".to_owned(), completed: false };
//! let created = live.records::<Todo>().create(todo, &Write::new()).await?;
//! assert_eq!((created.value.id, created.version, created.change.seq), (1, 1, 1));
//! # drop(router);
//! # Ok(())
//! # }
//! ```
//!
//! The modules, each owning one concern:
//!
//! | module | owns |
//! | --- | --- |
//! | [`resource`] | the contract the derive implements: [`LiveResource`], [`Descriptor`], column values |
//! | `filter` | filtered subscriptions: `ext.where` compiled, and changes judged on the rows before and after |
//! | `partition` | nested paths: a partition's keys as path segments and back ([`Descriptor::channel`]) |
//! | [`store`] | SQL: the rows and the event log, on SQLite or PostgreSQL; reports each commit |
//! | [`change`] | the record of one committed change, built once and delivered as it is |
//! | [`feed`] | delivery: follows the store's commits and the log, publishes each change in order |
//! | [`bayeux`] | the Bayeux server: sessions, subscriptions, transports; knows nothing of SQL |
//! | [`bus`] | how several processes on one database tell each other about commits |
//! | [`http`] | the generic REST handlers |
//! | [`app`] | [`Live`], which wires them together |
//!
//! Start with the user guide, `docs/guide.md` in the repository.

pub mod app;
pub mod bayeux;
pub mod bus;
pub mod change;
pub mod feed;
mod filter;
pub mod http;
mod partition;
pub mod resource;
pub mod store;
pub mod value;

pub use app::{Live, LiveBuilder, LiveError};
pub use bus::Bus;
pub use change::{Change, Method};
pub use live_derive::{LiveEnum, LiveResource};
pub use resource::{Column, ColumnReader, ColumnWriter, Descriptor, LiveResource, ValidationErrors};
pub use store::{Committed, Records, Store, StoreError, StoreOptions, Stored, Write};
pub use value::{ColumnType, DecodeError, LiveEnum, SqlType, Value};

#[doc(hidden)]
pub mod __private {
    //! Items the derive's generated code names; not a public API.
    pub use core::default::Default;
    pub use core::option::Option::{self, None, Some};
    pub use core::result::Result::{self, Err, Ok};
    pub use serde::Serialize;
    pub use serde::de::DeserializeOwned;

    pub use crate::value::{enum_from_value, enum_to_value};
}

/// The user guide's examples, compiled and run as doctests so that the guide stays true.
#[cfg(doctest)]
#[doc = include_str!("../../docs/guide.md")]
mod guide {}
