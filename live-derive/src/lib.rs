//! `#[derive(LiveResource)]` and `#[derive(LiveEnum)]`: the derive macros of **live**.
//!
//! `LiveResource` emits one short `impl live_runtime::LiveResource` (a static descriptor and two
//! accessors); `LiveEnum` the names of an enum's variants and its `ColumnType`. All behaviour
//! lives in `live-runtime`, which re-exports these derives. See the `live-runtime` crate for the
//! attributes and what a resource gets.
//!
//! This file is the only one that sees `proc_macro` types; everything else works on
//! `proc_macro2`/`syn` values so that it can be unit-tested.

mod ast;
mod attr;
mod case;
mod check;
mod ctxt;
mod expand;
mod fallback;

use proc_macro::TokenStream;
use syn::{DeriveInput, parse_macro_input};

/// Derives `live_runtime::LiveResource` for a struct with named fields.
///
/// Container attributes: `#[live(path = "/api/todos")]` (required: the REST base path and channel
/// name), `#[live(table = "todos")]`, `#[live(validate = path::to::fn)]`. Field attributes:
/// `#[live(id)]` (exactly one), `#[live(rename = "column")]`, `#[live(skip)]`,
/// `#[live(read_only)]`, `#[live(version)]`, and `#[live(json)]`, which stores a field of any
/// serde type as a JSON document (nullable, `None` as NULL, when its type is written
/// `Option<T>`: an alias of `Option` is not recognised).
///
/// A path segment written `{name}`, such as `room_id` in `/api/rooms/{room_id}/messages`, is a
/// path parameter: it names a field (an integer, a UUID or a `String`; not the id) that is a
/// partition key. REST lists and creates under the concrete path, `/api/rooms/7/messages`, and
/// that partition's channel is the same concrete path. The first and last segments are literal,
/// and the table is still the last one. When the path starts with another resource's record path
/// (`/api/rooms/{id}`), that resource is the parent; `#[live(cascade)]` deletes this resource's
/// rows with their parent (each removal published), where otherwise a parent with rows cannot be
/// deleted.
///
/// A field's JSON name is serde's: its `#[serde(rename = "...")]`, else its name under the
/// struct's `#[serde(rename_all = "...")]`; its column is its name, or `#[live(rename)]`. A
/// field serde skips must be `#[live(skip)]` too. A field whose `#[serde(with)]` gives it a JSON
/// form of its own is left to that form in request bodies.
///
/// ```
/// use live_runtime::{LiveResource, SqlType};
/// use serde::{Deserialize, Serialize};
///
/// #[derive(LiveResource, Serialize, Deserialize)]
/// #[live(path = "/api/todo-items")]
/// #[serde(rename_all = "camelCase")]
/// struct TodoItem {
///     #[live(id)]
///     id: i64,
///     due_at: Option<chrono::DateTime<chrono::Utc>>,
///     #[live(json)]
///     tags: Vec<String>,
/// }
///
/// let descriptor = TodoItem::DESCRIPTOR;
/// assert_eq!(descriptor.table, "todo_items");
/// assert_eq!(descriptor.columns[1].name, "due_at");
/// assert_eq!(descriptor.columns[1].field, "dueAt");
/// assert_eq!(descriptor.columns[1].ty, SqlType::Timestamp);
/// assert!(descriptor.columns[1].nullable);
/// assert_eq!(descriptor.columns[2].ty, SqlType::Json);
///
/// #[derive(LiveResource, Serialize, Deserialize)]
/// #[live(path = "/api/rooms/{room_id}/messages")]
/// struct Message {
///     #[live(id)]
///     id: i64,
///     room_id: i64,
///     text: String,
/// }
///
/// assert_eq!(Message::DESCRIPTOR.table, "messages");
/// assert_eq!(Message::DESCRIPTOR.keys, [1]);
/// ```
#[proc_macro_derive(LiveResource, attributes(live))]
pub fn derive_live_resource(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    match expand::derive(&input) {
        Ok(tokens) => tokens.into(),
        Err(error) => {
            let mut tokens = error.into_compile_error();
            tokens.extend(fallback::dummy(&input));
            tokens.into()
        }
    }
}

/// Derives `live_runtime::LiveEnum` and `live_runtime::ColumnType` for a fieldless enum, so that a
/// field of the enum is stored as the serde name of its variant.
///
/// The names follow serde: the variant's `#[serde(rename = "...")]`, else its name under the
/// enum's `#[serde(rename_all = "...")]`. Forms in which serde does not write a variant as its
/// name (`tag`, `untagged`, `into`, ...), and `alias`, `other` or `skip` on a variant, are
/// compile errors.
///
/// ```
/// use live_runtime::LiveEnum;
/// use serde::{Deserialize, Serialize};
///
/// #[derive(LiveEnum, Serialize, Deserialize)]
/// #[serde(rename_all = "kebab-case")]
/// enum Status {
///     ToDo,
///     InProgress,
///     Done,
/// }
///
/// assert_eq!(Status::VARIANTS, ["to-do", "in-progress", "done"]);
/// ```
#[proc_macro_derive(LiveEnum)]
pub fn derive_live_enum(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    match expand::derive_enum(&input) {
        Ok(tokens) => tokens.into(),
        Err(error) => {
            let mut tokens = error.into_compile_error();
            tokens.extend(fallback::dummy_enum(&input));
            tokens.into()
        }
    }
}
