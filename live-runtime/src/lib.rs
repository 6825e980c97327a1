//! The runtime of **live**: generic REST handlers, the SQL store and the event log behind
//! `#[derive(LiveResource)]`.
//!
//! A struct that derives [`LiveResource`] gets a Backbone-compatible REST API over SQLite
//! (embedded, the default) or PostgreSQL; every write is logged in the same transaction so that
//! it can be published on the channel named after the resource path.

pub mod app;
pub mod bayeux;
pub mod bus;
mod feed;
pub mod http;
pub mod resource;
pub mod store;
pub mod value;

pub use app::{Live, LiveBuilder, LiveError};
pub use bus::Bus;
pub use live_derive::{LiveEnum, LiveResource};
pub use resource::{Column, ColumnReader, ColumnWriter, Descriptor, LiveResource, ValidationErrors};
pub use store::{Method, Records, Store, StoreError, StoreOptions, Stored, Write};
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
