//! Parsing of `#[live(...)]` attributes, and of the few `#[serde(...)]` keys that decide a
//! field's JSON name.
//!
//! One branch per key, each with a comment showing the syntax it accepts. Values are only
//! parsed and remembered here; rules that involve more than one key or field live in `check`.

use proc_macro2::{Span, TokenTree};
use quote::ToTokens;
use syn::ext::IdentExt;
use syn::meta::ParseNestedMeta;
use syn::spanned::Spanned;
use syn::{Attribute, LitStr, Token};

use crate::ctxt::Ctxt;

const LIVE: &str = "live";
const SERDE: &str = "serde";

const PATH: &str = "path";
const TABLE: &str = "table";
const VALIDATE: &str = "validate";

const ID: &str = "id";
const RENAME: &str = "rename";
const SKIP: &str = "skip";
const READ_ONLY: &str = "read_only";
const VERSION: &str = "version";

const SERDE_RENAME: &str = "rename";
const SERDE_RENAME_ALL: &str = "rename_all";
const SERDE_FLATTEN: &str = "flatten";
const SERDE_SERIALIZE: &str = "serialize";
const SERDE_DESERIALIZE: &str = "deserialize";

/// The `#[live(...)]` attributes of the struct itself.
pub(crate) struct Container {
    /// `path = "/api/todos"`.
    pub path: Option<LitStr>,
    /// `table = "todos"`.
    pub table: Option<LitStr>,
    /// `validate = path::to::function`.
    pub validate: Option<syn::Path>,
}

/// The `#[live(...)]` attributes of one field, and its `#[serde(rename)]`.
pub(crate) struct Field {
    /// `id`, with the keyword's span.
    pub id: Option<Span>,
    /// `version`, with the keyword's span.
    pub version: Option<Span>,
    /// `skip`, with the keyword's span.
    pub skip: Option<Span>,
    /// `read_only`, with the keyword's span.
    pub read_only: Option<Span>,
    /// `rename = "column"`.
    pub rename: Option<LitStr>,
    /// The JSON name from `#[serde(rename = "...")]`.
    pub serde_rename: Option<String>,
}

/// One key's value, remembering that it was set so that a second use is reported there.
struct Attr<T> {
    name: &'static str,
    scope: &'static str,
    value: Option<T>,
}

impl<T> Attr<T> {
    fn new(name: &'static str, scope: &'static str) -> Self {
        Attr { name, scope, value: None }
    }

    fn set<A: ToTokens>(&mut self, cx: &Ctxt, at: A, value: T) {
        if self.value.is_some() {
            cx.error_spanned_by(
                at,
                format!("duplicate key `{}`, expected it at most once per {}", self.name, self.scope),
            );
        } else {
            self.value = Some(value);
        }
    }
}

/// Reads the struct's `#[live(...)]` attributes and rejects the container-level `#[serde]` keys
/// that would make a JSON name differ from what the descriptor says.
pub(crate) fn container(cx: &Ctxt, attrs: &[Attribute]) -> Container {
    let mut path = Attr::new(PATH, "struct");
    let mut table = Attr::new(TABLE, "struct");
    let mut validate = Attr::new(VALIDATE, "struct");

    for attr in attrs {
        if attr.path().is_ident(LIVE) {
            let parsed = attr.parse_nested_meta(|meta| {
                if meta.path.is_ident(PATH) {
                    // #[live(path = "/api/todos")]
                    let value: LitStr = meta.value()?.parse()?;
                    path.set(cx, &meta.path, value);
                } else if meta.path.is_ident(TABLE) {
                    // #[live(table = "todos")]
                    let value: LitStr = meta.value()?.parse()?;
                    table.set(cx, &meta.path, value);
                } else if meta.path.is_ident(VALIDATE) {
                    // #[live(validate = path::to::function)]
                    let value: syn::Path = meta.value()?.parse()?;
                    validate.set(cx, &meta.path, value);
                } else {
                    cx.error_spanned_by(
                        &meta.path,
                        format!(
                            "unknown key `{}` in `#[live(...)]` on a struct, expected one of `path`, `table`, `validate`",
                            key_name(&meta)
                        ),
                    );
                    skip_value(&meta)?;
                }
                Ok(())
            });
            if let Err(error) = parsed {
                cx.syn_error(error);
            }
        } else if attr.path().is_ident(SERDE) {
            serde_container(cx, attr);
        }
    }

    Container { path: path.value, table: table.value, validate: validate.value }
}

/// Reads one field's `#[live(...)]` attributes and its JSON name from `#[serde(...)]`.
pub(crate) fn field(cx: &Ctxt, field: &syn::Field) -> Field {
    let mut id = Attr::new(ID, "field");
    let mut version = Attr::new(VERSION, "field");
    let mut skip = Attr::new(SKIP, "field");
    let mut read_only = Attr::new(READ_ONLY, "field");
    let mut rename = Attr::new(RENAME, "field");
    // A repeated `#[serde(rename)]` is serde's error to report, so the first one simply wins.
    let mut serde_rename = None;

    for attr in &field.attrs {
        if attr.path().is_ident(LIVE) {
            let parsed = attr.parse_nested_meta(|meta| {
                if meta.path.is_ident(ID) {
                    // #[live(id)]
                    flag(cx, &meta, ID)?;
                    id.set(cx, &meta.path, meta.path.span());
                } else if meta.path.is_ident(VERSION) {
                    // #[live(version)]
                    flag(cx, &meta, VERSION)?;
                    version.set(cx, &meta.path, meta.path.span());
                } else if meta.path.is_ident(SKIP) {
                    // #[live(skip)]
                    flag(cx, &meta, SKIP)?;
                    skip.set(cx, &meta.path, meta.path.span());
                } else if meta.path.is_ident(READ_ONLY) {
                    // #[live(read_only)]
                    flag(cx, &meta, READ_ONLY)?;
                    read_only.set(cx, &meta.path, meta.path.span());
                } else if meta.path.is_ident(RENAME) {
                    // #[live(rename = "column")]
                    let value: LitStr = meta.value()?.parse()?;
                    rename.set(cx, &meta.path, value);
                } else {
                    cx.error_spanned_by(
                        &meta.path,
                        format!(
                            "unknown key `{}` in `#[live(...)]` on a field, \
                             expected one of `id`, `rename`, `skip`, `read_only`, `version`",
                            key_name(&meta)
                        ),
                    );
                    skip_value(&meta)?;
                }
                Ok(())
            });
            if let Err(error) = parsed {
                cx.syn_error(error);
            }
        } else if attr.path().is_ident(SERDE) {
            serde_field(cx, attr, field, &mut serde_rename);
        }
    }

    Field {
        id: id.value,
        version: version.value,
        skip: skip.value,
        read_only: read_only.value,
        rename: rename.value,
        serde_rename,
    }
}

/// Rejects `#[serde(rename_all = ...)]`: reproducing serde's case conversions here would make the
/// descriptor's JSON names a second implementation that could drift from serde's.
fn serde_container(cx: &Ctxt, attr: &Attribute) {
    // Malformed `#[serde]` attributes are serde's to report; reporting them again would only
    // double the errors, so parse failures are ignored here.
    let _ = attr.parse_nested_meta(|meta| {
        if meta.path.is_ident(SERDE_RENAME_ALL) {
            // #[serde(rename_all = "...")] or #[serde(rename_all(serialize = "...", ...))]
            cx.error_spanned_by(
                &meta.path,
                "`#[serde(rename_all)]` is not supported by `#[derive(LiveResource)]`, \
                 expected `#[serde(rename = \"...\")]` on each field that needs another JSON name",
            );
        }
        skip_value(&meta)
    });
}

/// Takes the field's JSON name from `#[serde(rename)]`, rejecting the forms where that name is not
/// one string: the descriptor maps every JSON field to exactly one column.
fn serde_field(cx: &Ctxt, attr: &Attribute, field: &syn::Field, serde_rename: &mut Option<String>) {
    let _ = attr.parse_nested_meta(|meta| {
        if meta.path.is_ident(SERDE_RENAME) {
            if meta.input.peek(Token![=]) {
                // #[serde(rename = "name")]
                let value: LitStr = meta.value()?.parse()?;
                serde_rename.get_or_insert(value.value());
            } else {
                // #[serde(rename(serialize = "a", deserialize = "b"))]: one name only when both agree
                let mut serialize = None;
                let mut deserialize = None;
                meta.parse_nested_meta(|inner| {
                    if inner.path.is_ident(SERDE_SERIALIZE) {
                        serialize = Some(inner.value()?.parse::<LitStr>()?.value());
                    } else if inner.path.is_ident(SERDE_DESERIALIZE) {
                        deserialize = Some(inner.value()?.parse::<LitStr>()?.value());
                    } else {
                        skip_value(&inner)?;
                    }
                    Ok(())
                })?;
                let own_name = field.ident.as_ref().map(|ident| ident.unraw().to_string()).unwrap_or_default();
                let serialize = serialize.unwrap_or_else(|| own_name.clone());
                let deserialize = deserialize.unwrap_or(own_name);
                if serialize == deserialize {
                    serde_rename.get_or_insert(serialize);
                } else {
                    cx.error_spanned_by(
                        &meta.path,
                        "`#[serde(rename(serialize = .., deserialize = ..))]` with different names is not supported \
                         by `#[derive(LiveResource)]`, expected one JSON name: `#[serde(rename = \"...\")]`",
                    );
                }
            }
            Ok(())
        } else if meta.path.is_ident(SERDE_FLATTEN) {
            // #[serde(flatten)]
            cx.error_spanned_by(
                &meta.path,
                "`#[serde(flatten)]` is not supported by `#[derive(LiveResource)]`, \
                 expected each JSON field to be one column",
            );
            skip_value(&meta)
        } else {
            skip_value(&meta)
        }
    });
}

/// Reports a value after a key that takes none, such as `id = true`, and steps over it: the key
/// still counts, so the mistake does not also show up as a missing key.
fn flag(cx: &Ctxt, meta: &ParseNestedMeta<'_>, name: &str) -> syn::Result<()> {
    if !(meta.input.is_empty() || meta.input.peek(Token![,])) {
        cx.error_spanned_by(&meta.path, format!("`{name}` takes no value, expected `#[live({name})]`"));
        skip_value(meta)?;
    }
    Ok(())
}

/// The key as written, for messages.
fn key_name(meta: &ParseNestedMeta<'_>) -> String {
    meta.path.to_token_stream().to_string().replace(' ', "")
}

/// Steps over the rest of one `key = value` or `key(...)` entry, up to the next top-level comma,
/// so that parsing goes on after an unknown key and later mistakes are reported in the same build.
fn skip_value(meta: &ParseNestedMeta<'_>) -> syn::Result<()> {
    meta.input.step(|cursor| {
        let mut rest = *cursor;
        while let Some((tree, next)) = rest.token_tree() {
            if let TokenTree::Punct(punct) = &tree
                && punct.as_char() == ','
            {
                break;
            }
            rest = next;
        }
        Ok(((), rest))
    })
}
