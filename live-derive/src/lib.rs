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
/// `#[live(read_only)]`, `#[live(version)]`.
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
