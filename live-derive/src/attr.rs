//! Parsing of `#[live(...)]` attributes, and of the `#[serde(...)]` keys that decide a field's
//! JSON name, a variant's name, or whether a field or variant is written as the store expects.
//!
//! One branch per key, each with a comment showing the syntax it accepts. Values are only
//! parsed and remembered here; rules that involve more than one key or field live in `check`.

use proc_macro2::{Span, TokenTree};
use quote::ToTokens;
use syn::ext::IdentExt;
use syn::meta::ParseNestedMeta;
use syn::spanned::Spanned;
use syn::{Attribute, LitStr, Token};

use crate::case::RenameRule;
use crate::ctxt::Ctxt;

const LIVE: &str = "live";
const SERDE: &str = "serde";

const PATH: &str = "path";
const TABLE: &str = "table";
const VALIDATE: &str = "validate";
const CASCADE: &str = "cascade";

const ID: &str = "id";
const RENAME: &str = "rename";
const SKIP: &str = "skip";
const READ_ONLY: &str = "read_only";
const VERSION: &str = "version";
const JSON: &str = "json";

const SERDE_RENAME: &str = "rename";
const SERDE_RENAME_ALL: &str = "rename_all";
const SERDE_FLATTEN: &str = "flatten";
const SERDE_SERIALIZE: &str = "serialize";
const SERDE_DESERIALIZE: &str = "deserialize";
/// The keys that leave a field out of the JSON one way or both.
const SERDE_SKIPS: [&str; 3] = ["skip", "skip_serializing", "skip_deserializing"];
/// The keys that give a field a JSON form of its own.
const SERDE_WITHS: [&str; 3] = ["with", "serialize_with", "deserialize_with"];
/// Enum keys after which serde no longer writes a variant as its name, with what it writes.
const SERDE_ENUM_FORMS: [(&str, &str); 8] = [
    ("tag", "an object holding the name"),
    ("content", "an object holding the name"),
    ("untagged", "`null` for a unit variant"),
    ("from", "what another type writes"),
    ("try_from", "what another type writes"),
    ("into", "what another type writes"),
    ("variant_identifier", "a name, but reads indexes too"),
    ("field_identifier", "a name, but reads indexes too"),
];
/// Variant keys the store cannot follow, with why.
const SERDE_VARIANT_KEYS: [(&str, &str); 9] = [
    ("alias", "a column holds one name per variant"),
    ("other", "a column holds only the variants' own names"),
    ("skip", "every variant must be written and read"),
    ("skip_serializing", "every variant must be written and read"),
    ("skip_deserializing", "every variant must be written and read"),
    ("with", "a variant is stored as its name"),
    ("serialize_with", "a variant is stored as its name"),
    ("deserialize_with", "a variant is stored as its name"),
    ("untagged", "a variant is stored as its name"),
];

/// The `#[live(...)]` attributes of the struct itself.
pub(crate) struct Container {
    /// `path = "/api/todos"`.
    pub path: Option<LitStr>,
    /// `table = "todos"`.
    pub table: Option<LitStr>,
    /// `validate = path::to::function`.
    pub validate: Option<syn::Path>,
    /// `cascade`: deleting the parent deletes this resource's rows under it.
    pub cascade: Option<Span>,
    /// `#[serde(rename_all = "...")]`.
    pub rename_all: Option<RenameRule>,
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
    /// `json`, with the keyword's span.
    pub json: Option<Span>,
    /// `rename = "column"`.
    pub rename: Option<LitStr>,
    /// The JSON name from `#[serde(rename = "...")]`.
    pub serde_rename: Option<String>,
    /// The first of `#[serde(skip)]`, `#[serde(skip_serializing)]` and
    /// `#[serde(skip_deserializing)]`, with the key's span.
    pub serde_skip: Option<(&'static str, Span)>,
    /// Whether `#[serde(with)]`, `#[serde(serialize_with)]` or `#[serde(deserialize_with)]` gives
    /// the field a JSON form of its own.
    pub serde_with: bool,
}

/// The `#[serde(...)]` keys of an enum that derives `LiveEnum`.
pub(crate) struct EnumContainer {
    /// `#[serde(rename_all = "...")]`.
    pub rename_all: Option<RenameRule>,
}

/// The `#[serde(...)]` keys of one variant.
pub(crate) struct Variant {
    /// The name from `#[serde(rename = "...")]`.
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
    let mut cascade = Attr::new(CASCADE, "struct");
    let mut rename_all = None;

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
                } else if meta.path.is_ident(CASCADE) {
                    // #[live(cascade)]
                    flag(cx, &meta, CASCADE)?;
                    cascade.set(cx, &meta.path, meta.path.span());
                } else {
                    cx.error_spanned_by(
                        &meta.path,
                        format!(
                            "unknown key `{}` in `#[live(...)]` on a struct, expected one of `path`, `table`, `validate`, `cascade`",
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
            serde_container(cx, attr, &mut rename_all);
        }
    }

    Container { path: path.value, table: table.value, validate: validate.value, cascade: cascade.value, rename_all }
}

/// Reads one field's `#[live(...)]` attributes and its JSON name from `#[serde(...)]`.
pub(crate) fn field(cx: &Ctxt, field: &syn::Field) -> Field {
    let mut id = Attr::new(ID, "field");
    let mut version = Attr::new(VERSION, "field");
    let mut skip = Attr::new(SKIP, "field");
    let mut read_only = Attr::new(READ_ONLY, "field");
    let mut json = Attr::new(JSON, "field");
    let mut rename = Attr::new(RENAME, "field");
    // A repeated `#[serde(rename)]` is serde's error to report, so the first one simply wins.
    let mut serde = SerdeField::default();

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
                } else if meta.path.is_ident(JSON) {
                    // #[live(json)]
                    flag(cx, &meta, JSON)?;
                    json.set(cx, &meta.path, meta.path.span());
                } else if meta.path.is_ident(RENAME) {
                    // #[live(rename = "column")]
                    let value: LitStr = meta.value()?.parse()?;
                    rename.set(cx, &meta.path, value);
                } else {
                    cx.error_spanned_by(
                        &meta.path,
                        format!(
                            "unknown key `{}` in `#[live(...)]` on a field, \
                             expected one of `id`, `rename`, `skip`, `read_only`, `version`, `json`",
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
            serde_field(cx, attr, field, &mut serde);
        }
    }

    Field {
        id: id.value,
        version: version.value,
        skip: skip.value,
        read_only: read_only.value,
        json: json.value,
        rename: rename.value,
        serde_rename: serde.rename,
        serde_skip: serde.skip,
        serde_with: serde.with,
    }
}

/// Reads an enum's `#[serde(...)]` keys, rejecting those after which serde no longer writes a
/// variant as its name: the column holds that name.
pub(crate) fn enum_container(cx: &Ctxt, attrs: &[Attribute]) -> EnumContainer {
    let mut rename_all = None;
    for attr in attrs.iter().filter(|attr| attr.path().is_ident(SERDE)) {
        let _ = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident(SERDE_RENAME_ALL) {
                // #[serde(rename_all = "...")]
                rename_all_rule(cx, &meta, &mut rename_all)?;
            } else if let Some((key, writes)) = SERDE_ENUM_FORMS.iter().find(|(key, _)| meta.path.is_ident(key)) {
                // #[serde(tag = "type")], #[serde(untagged)], #[serde(into = "String")], ...
                cx.error_spanned_by(
                    &meta.path,
                    format!(
                        "`#[serde({key})]` is not supported by `#[derive(LiveEnum)]`: serde then writes {writes}, \
                         expected an enum that serde writes as the name of its variant"
                    ),
                );
            }
            skip_value(&meta)
        });
    }
    EnumContainer { rename_all }
}

/// Reads one variant's name from `#[serde(rename)]`, rejecting the keys that would make the
/// names serde reads differ from the ones it writes.
pub(crate) fn variant(cx: &Ctxt, variant: &syn::Variant) -> Variant {
    let mut serde = SerdeField::default();
    for attr in variant.attrs.iter().filter(|attr| attr.path().is_ident(SERDE)) {
        let _ = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident(SERDE_RENAME) {
                // #[serde(rename = "name")] or #[serde(rename(serialize = "a", deserialize = "b"))]
                serde_rename(cx, &meta, &variant.ident, ("LiveEnum", "name"), &mut serde.rename)
            } else if let Some((key, why)) = SERDE_VARIANT_KEYS.iter().find(|(key, _)| meta.path.is_ident(key)) {
                // #[serde(alias = "..")], #[serde(other)], #[serde(skip)], #[serde(with = "..")], ...
                cx.error_spanned_by(
                    &meta.path,
                    format!(
                        "`#[serde({key})]` is not supported by `#[derive(LiveEnum)]`: {why}, \
                         expected a variant with one name, its own or `#[serde(rename = \"...\")]`"
                    ),
                );
                skip_value(&meta)
            } else {
                skip_value(&meta)
            }
        });
    }
    Variant { serde_rename: serde.rename }
}

/// The `#[serde(...)]` keys of one field (or variant) that matter to the descriptor.
#[derive(Default)]
struct SerdeField {
    rename: Option<String>,
    skip: Option<(&'static str, Span)>,
    with: bool,
}

/// Takes the struct's `#[serde(rename_all)]`, which gives the fields without a
/// `#[serde(rename)]` their JSON names.
fn serde_container(cx: &Ctxt, attr: &Attribute, rename_all: &mut Option<RenameRule>) {
    // Malformed `#[serde]` attributes are serde's to report; reporting them again would only
    // double the errors, so parse failures are ignored here.
    let _ = attr.parse_nested_meta(|meta| {
        if meta.path.is_ident(SERDE_RENAME_ALL) {
            // #[serde(rename_all = "...")]
            rename_all_rule(cx, &meta, rename_all)?;
        }
        skip_value(&meta)
    });
}

/// Reads `rename_all = "rule"`, or `rename_all(serialize = "rule", deserialize = "rule")` when
/// both name the same rule: a field or variant must have one name, written and read.
fn rename_all_rule(cx: &Ctxt, meta: &ParseNestedMeta<'_>, rule: &mut Option<RenameRule>) -> syn::Result<()> {
    let name = if meta.input.peek(Token![=]) {
        meta.value()?.parse::<LitStr>()?
    } else {
        let (serialize, deserialize) = split_names(meta)?;
        match (serialize, deserialize) {
            (Some(serialize), Some(deserialize)) if serialize.value() == deserialize.value() => serialize,
            _ => {
                cx.error_spanned_by(
                    &meta.path,
                    "`#[serde(rename_all(serialize = .., deserialize = ..))]` with different rules is not supported, \
                     expected one rule for both: `#[serde(rename_all = \"...\")]`",
                );
                return Ok(());
            }
        }
    };
    match RenameRule::from_name(&name.value()) {
        Some(found) => {
            rule.get_or_insert(found);
        }
        None => cx.error_spanned_by(
            &name,
            format!("unknown `rename_all` rule \"{}\", expected one of {}", name.value(), RenameRule::names()),
        ),
    }
    Ok(())
}

/// The `serialize` and `deserialize` names of `key(serialize = "a", deserialize = "b")`.
fn split_names(meta: &ParseNestedMeta<'_>) -> syn::Result<(Option<LitStr>, Option<LitStr>)> {
    let mut serialize = None;
    let mut deserialize = None;
    meta.parse_nested_meta(|inner| {
        if inner.path.is_ident(SERDE_SERIALIZE) {
            serialize = Some(inner.value()?.parse::<LitStr>()?);
        } else if inner.path.is_ident(SERDE_DESERIALIZE) {
            deserialize = Some(inner.value()?.parse::<LitStr>()?);
        } else {
            skip_value(&inner)?;
        }
        Ok(())
    })?;
    Ok((serialize, deserialize))
}

/// Takes a name from `#[serde(rename)]`, rejecting the form where that name is not one string.
fn serde_rename(
    cx: &Ctxt,
    meta: &ParseNestedMeta<'_>,
    ident: &syn::Ident,
    (derive, noun): (&str, &str),
    rename: &mut Option<String>,
) -> syn::Result<()> {
    if meta.input.peek(Token![=]) {
        // #[serde(rename = "name")]
        let value: LitStr = meta.value()?.parse()?;
        rename.get_or_insert(value.value());
        return Ok(());
    }
    // #[serde(rename(serialize = "a", deserialize = "b"))]: one name only when both agree
    let (serialize, deserialize) = split_names(meta)?;
    let own_name = ident.unraw().to_string();
    let serialize = serialize.map_or_else(|| own_name.clone(), |name| name.value());
    let deserialize = deserialize.map_or(own_name, |name| name.value());
    if serialize == deserialize {
        rename.get_or_insert(serialize);
    } else {
        cx.error_spanned_by(
            &meta.path,
            format!(
                "`#[serde(rename(serialize = .., deserialize = ..))]` with different names is not supported \
                 by `#[derive({derive})]`, expected one {noun}: `#[serde(rename = \"...\")]`"
            ),
        );
    }
    Ok(())
}

/// Reads the field's `#[serde]` keys: its JSON name from `#[serde(rename)]`, a skip, a JSON form
/// of its own; rejects `#[serde(flatten)]`, since each JSON field is one column.
fn serde_field(cx: &Ctxt, attr: &Attribute, field: &syn::Field, serde: &mut SerdeField) {
    let _ = attr.parse_nested_meta(|meta| {
        if meta.path.is_ident(SERDE_RENAME) {
            // The field is named: `from_ast` only models named fields.
            match &field.ident {
                Some(ident) => serde_rename(cx, &meta, ident, ("LiveResource", "JSON name"), &mut serde.rename),
                None => skip_value(&meta),
            }
        } else if meta.path.is_ident(SERDE_FLATTEN) {
            // #[serde(flatten)]
            cx.error_spanned_by(
                &meta.path,
                "`#[serde(flatten)]` is not supported by `#[derive(LiveResource)]`, \
                 expected each JSON field to be one column",
            );
            skip_value(&meta)
        } else if let Some(key) = SERDE_SKIPS.iter().find(|key| meta.path.is_ident(key)) {
            // #[serde(skip)], #[serde(skip_serializing)], #[serde(skip_deserializing)]
            serde.skip.get_or_insert((key, meta.path.span()));
            skip_value(&meta)
        } else if SERDE_WITHS.iter().any(|key| meta.path.is_ident(key)) {
            // #[serde(with = "module")], #[serde(serialize_with = "f")], #[serde(deserialize_with = "f")]
            serde.with = true;
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
