//! `#[derive(LiveResource)]`: see the `live-runtime` crate.

use proc_macro::TokenStream;

/// Derives `live_runtime::LiveResource`.
#[proc_macro_derive(LiveResource, attributes(live))]
pub fn derive_live_resource(input: TokenStream) -> TokenStream {
    let _ = input;
    TokenStream::new()
}
