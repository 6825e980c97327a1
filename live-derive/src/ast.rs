//! The model of one derive input: a [`Resource`] and its [`Field`]s, or an [`Enum`] and its
//! [`Variant`]s, each keeping the `syn` node it came from so that later errors can point at the
//! user's tokens.

use syn::ext::IdentExt;
use syn::{Data, DeriveInput, Fields, GenericArgument, Ident, LitStr, PathArguments, Type};

use crate::attr;
use crate::case::RenameRule;
use crate::check;
use crate::ctxt::Ctxt;

/// A struct that derives `LiveResource`.
pub(crate) struct Resource<'a> {
    /// The whole derive input.
    pub original: &'a DeriveInput,
    /// `#[live(path = "...")]`, which is required.
    pub path: LitStr,
    /// The other container attributes.
    pub attrs: attr::Container,
    /// Every field, stored or skipped, in declaration order.
    pub fields: Vec<Field<'a>>,
}

/// One named field of the struct.
pub(crate) struct Field<'a> {
    /// The field as written.
    pub original: &'a syn::Field,
    /// The field's name, raw (`r#type`) when written so.
    pub ident: &'a Ident,
    /// The field's type.
    pub ty: &'a Type,
    /// Its `#[live(...)]` attributes and JSON name.
    pub attrs: attr::Field,
    /// The struct's `#[serde(rename_all)]`, which names the field unless it has its own
    /// `#[serde(rename)]`.
    pub rename_all: Option<RenameRule>,
}

/// An enum that derives `LiveEnum`.
pub(crate) struct Enum<'a> {
    /// The whole derive input.
    pub original: &'a DeriveInput,
    /// Every variant, in declaration order, each with the enum's `#[serde(rename_all)]`.
    pub variants: Vec<Variant<'a>>,
}

/// One variant of the enum.
pub(crate) struct Variant<'a> {
    /// The variant as written.
    pub original: &'a syn::Variant,
    /// Its `#[serde(...)]` keys.
    pub attrs: attr::Variant,
    /// The enum's `#[serde(rename_all)]`.
    pub rename_all: Option<RenameRule>,
}

impl<'a> Resource<'a> {
    /// Builds the model, reporting into `cx` every attribute mistake found on the way. `None`
    /// only after at least one error was reported: the input is not a struct with named fields
    /// or has no path.
    pub(crate) fn from_ast(cx: &Ctxt, input: &'a DeriveInput) -> Option<Self> {
        let attrs = attr::container(cx, &input.attrs);
        let fields = match &input.data {
            Data::Struct(data) => match &data.fields {
                Fields::Named(named) => {
                    Some(named.named.iter().filter_map(|field| Field::from_ast(cx, field, attrs.rename_all)).collect())
                }
                Fields::Unnamed(_) => {
                    cx.error_spanned_by(&input.ident, "expected a struct with named fields, found a tuple struct");
                    None
                }
                Fields::Unit => {
                    cx.error_spanned_by(&input.ident, "expected a struct with named fields, found a unit struct");
                    None
                }
            },
            Data::Enum(data) => {
                cx.error_spanned_by(data.enum_token, "expected a struct with named fields, found an enum");
                None
            }
            Data::Union(data) => {
                cx.error_spanned_by(data.union_token, "expected a struct with named fields, found a union");
                None
            }
        };
        let path = attrs.path.clone();
        if path.is_none() {
            cx.error_spanned_by(
                &input.ident,
                "expected `#[live(path = \"/...\")]` on the struct: the REST base path and channel name",
            );
        }
        Some(Resource { original: input, path: path?, attrs, fields: fields? })
    }

    /// The Rust type's name, without `r#`.
    pub(crate) fn type_name(&self) -> String {
        self.original.ident.unraw().to_string()
    }

    /// The SQL table: `#[live(table)]`, else the path's last segment with `-` turned into `_`.
    pub(crate) fn table(&self) -> String {
        match &self.attrs.table {
            Some(table) => table.value(),
            None => check::default_table(&self.path.value()),
        }
    }

    /// The stored fields, in column order.
    pub(crate) fn columns(&self) -> impl Iterator<Item = &Field<'a>> {
        self.fields.iter().filter(|field| field.attrs.skip.is_none())
    }

    /// The names in the path's `{name}` segments, in path order, repeats included.
    pub(crate) fn path_params(&self) -> Vec<String> {
        check::path_params(&self.path.value()).into_iter().map(str::to_owned).collect()
    }

    /// The field whose name, without `r#`, is `name`.
    pub(crate) fn field_named(&self, name: &str) -> Option<&Field<'a>> {
        self.fields.iter().find(|field| field.name() == name)
    }

    /// Whether a `{name}` segment of the path names `field`.
    pub(crate) fn is_path_param(&self, field: &Field<'_>) -> bool {
        self.path_params().contains(&field.name())
    }

    /// The partition keys: for each `{name}` segment of the path, in path order, the index among
    /// the stored columns of the field it names. A name that is no stored field has no index;
    /// `check` reports it.
    pub(crate) fn keys(&self) -> Vec<usize> {
        let columns: Vec<&Field<'a>> = self.columns().collect();
        self.path_params().iter().filter_map(|name| columns.iter().position(|field| field.name() == *name)).collect()
    }
}

impl<'a> Field<'a> {
    fn from_ast(cx: &Ctxt, field: &'a syn::Field, rename_all: Option<RenameRule>) -> Option<Self> {
        let attrs = attr::field(cx, field);
        // Fields::Named guarantees a name; `None` is unreachable but costs nothing to handle.
        let ident = field.ident.as_ref()?;
        Some(Field { original: field, ident, ty: &field.ty, attrs, rename_all })
    }

    /// The field's name without `r#`, as a path parameter names it.
    pub(crate) fn name(&self) -> String {
        self.ident.unraw().to_string()
    }

    /// The SQL column: `#[live(rename)]`, else the field's name without `r#`.
    pub(crate) fn column(&self) -> String {
        match &self.attrs.rename {
            Some(rename) => rename.value(),
            None => self.name(),
        }
    }

    /// The JSON field name, as serde gives it: `#[serde(rename)]`, else the field's name
    /// without `r#` under the struct's `#[serde(rename_all)]`.
    pub(crate) fn json_name(&self) -> String {
        match (&self.attrs.serde_rename, self.rename_all) {
            (Some(rename), _) => rename.clone(),
            (None, Some(rule)) => rule.apply_to_field(&self.ident.unraw().to_string()),
            (None, None) => self.ident.unraw().to_string(),
        }
    }

    /// `T` when the field is `#[live(json)]` and its type reads `Option<T>`: its column is then
    /// nullable, `None` stored as NULL. The check is on the type as written (the derive sees no
    /// more), so an alias of `Option` is stored as a JSON `null` in a column that is not nullable.
    pub(crate) fn json_option(&self) -> Option<&'a Type> {
        self.attrs.json?;
        option_argument(self.ty)
    }
}

/// `T` of a type written `Option<T>` (with any path before `Option`).
fn option_argument(ty: &Type) -> Option<&Type> {
    let path = match ty {
        // A type passed to a `macro_rules!` as `$t:ty` arrives wrapped in an invisible group.
        Type::Group(group) => return option_argument(&group.elem),
        Type::Path(path) if path.qself.is_none() => &path.path,
        _ => return None,
    };
    let last = path.segments.last().filter(|last| last.ident == "Option")?;
    let PathArguments::AngleBracketed(arguments) = &last.arguments else { return None };
    match arguments.args.iter().collect::<Vec<_>>().as_slice() {
        [GenericArgument::Type(inner)] => Some(inner),
        _ => None,
    }
}

impl<'a> Enum<'a> {
    /// Builds the model, reporting into `cx` every attribute mistake found on the way. `None`
    /// only after an error was reported: the input is not an enum.
    pub(crate) fn from_ast(cx: &Ctxt, input: &'a DeriveInput) -> Option<Self> {
        let rename_all = attr::enum_container(cx, &input.attrs).rename_all;
        let variants = match &input.data {
            Data::Enum(data) => data.variants.iter().map(|variant| Variant::from_ast(cx, variant, rename_all)),
            Data::Struct(data) => {
                cx.error_spanned_by(data.struct_token, "expected a fieldless enum, found a struct");
                return None;
            }
            Data::Union(data) => {
                cx.error_spanned_by(data.union_token, "expected a fieldless enum, found a union");
                return None;
            }
        };
        Some(Enum { original: input, variants: variants.collect() })
    }
}

impl<'a> Variant<'a> {
    fn from_ast(cx: &Ctxt, variant: &'a syn::Variant, rename_all: Option<RenameRule>) -> Self {
        Variant { original: variant, attrs: attr::variant(cx, variant), rename_all }
    }

    /// The variant's name, as serde gives it: `#[serde(rename)]`, else the variant's name without
    /// `r#` under the enum's `#[serde(rename_all)]`.
    pub(crate) fn name(&self) -> String {
        let own = self.original.ident.unraw().to_string();
        match (&self.attrs.serde_rename, self.rename_all) {
            (Some(rename), _) => rename.clone(),
            (None, Some(rule)) => rule.apply_to_variant(&own),
            (None, None) => own,
        }
    }
}

#[cfg(test)]
mod tests {
    use syn::parse_quote;

    use super::*;

    fn table_of(input: DeriveInput) -> Option<String> {
        let cx = Ctxt::new();
        let table = Resource::from_ast(&cx, &input).map(|resource| resource.table());
        cx.check().ok().and(table)
    }

    #[test]
    fn table_defaults_to_last_segment_with_dashes_as_underscores() {
        let input: DeriveInput = parse_quote! {
            #[live(path = "/api/v1/todo-items")]
            struct TodoItem { #[live(id)] id: i64 }
        };
        assert_eq!(table_of(input).as_deref(), Some("todo_items"));
    }

    #[test]
    fn explicit_table_wins_over_the_path() {
        let input: DeriveInput = parse_quote! {
            #[live(path = "/api/todos", table = "todo_rows")]
            struct Todo { #[live(id)] id: i64 }
        };
        assert_eq!(table_of(input).as_deref(), Some("todo_rows"));
    }

    #[test]
    fn raw_identifiers_lose_their_prefix_in_names() {
        let input: DeriveInput = parse_quote! {
            #[live(path = "/api/things")]
            struct Thing { #[live(id)] id: i64, r#type: String, #[serde(rename = "kind2")] r#kind: String }
        };
        let cx = Ctxt::new();
        let resource = Resource::from_ast(&cx, &input);
        let names: Vec<(String, String)> = resource
            .iter()
            .flat_map(|resource| resource.columns())
            .map(|field| (field.column(), field.json_name()))
            .collect();
        assert!(cx.check().is_ok());
        assert_eq!(
            names,
            [
                ("id".to_owned(), "id".to_owned()),
                ("type".to_owned(), "type".to_owned()),
                ("kind".to_owned(), "kind2".to_owned())
            ]
        );
    }

    #[test]
    fn missing_path_is_reported() {
        let input: DeriveInput = parse_quote! {
            struct Todo { #[live(id)] id: i64 }
        };
        let cx = Ctxt::new();
        assert!(Resource::from_ast(&cx, &input).is_none());
        let message = cx.check().err().map(|error| error.to_string());
        assert_eq!(
            message.as_deref(),
            Some("expected `#[live(path = \"/...\")]` on the struct: the REST base path and channel name")
        );
    }
}
