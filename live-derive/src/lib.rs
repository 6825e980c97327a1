//! `#[derive(LiveResource)]`: the derive macro of **live**.
//!
//! The macro emits one short `impl live_runtime::LiveResource` (a static descriptor and two
//! accessors); all behaviour lives in `live-runtime`, which re-exports this derive. See the
//! `live-runtime` crate for the attributes and what a resource gets.
//!
//! This file is the only one that sees `proc_macro` types; everything else works on
//! `proc_macro2`/`syn` values so that it can be unit-tested.

mod ast;
mod attr;
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
/// `#[live(read_only)]`, `#[live(version)]`. A field's JSON name is its name or its
/// `#[serde(rename = "...")]`.
///
/// ```
/// use live_runtime::{LiveResource, SqlType};
/// use serde::{Deserialize, Serialize};
///
/// #[derive(LiveResource, Serialize, Deserialize)]
/// #[live(path = "/api/todo-items")]
/// struct TodoItem {
///     #[live(id)]
///     id: i64,
///     #[serde(rename = "dueAt")]
///     due_at: Option<chrono::DateTime<chrono::Utc>>,
/// }
///
/// let descriptor = TodoItem::DESCRIPTOR;
/// assert_eq!(descriptor.table, "todo_items");
/// assert_eq!(descriptor.columns[1].name, "due_at");
/// assert_eq!(descriptor.columns[1].field, "dueAt");
/// assert_eq!(descriptor.columns[1].ty, SqlType::Timestamp);
/// assert!(descriptor.columns[1].nullable);
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
