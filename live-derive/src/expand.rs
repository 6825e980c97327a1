//! Builds the impls from the model: for a struct, `LiveResource` (a static descriptor and the two
//! column accessors); for an enum, `LiveEnum` and `ColumnType`. Only absolute paths are named,
//! so that nothing in the user's scope can capture them.

use proc_macro2::TokenStream;
use quote::{ToTokens, quote, quote_spanned};
use syn::DeriveInput;
use syn::spanned::Spanned;

use crate::ast::{Enum, Field, Resource};
use crate::check;
use crate::ctxt::Ctxt;

/// The impl for `input`, or every mistake found in it.
pub(crate) fn derive(input: &DeriveInput) -> syn::Result<TokenStream> {
    let cx = Ctxt::new();
    let resource = Resource::from_ast(&cx, input);
    if let Some(resource) = &resource {
        check::check(&cx, resource);
    }
    cx.check()?;
    // `from_ast` returns `None` only after reporting an error, so `check` has returned above.
    Ok(resource.map(|resource| impl_resource(&resource)).unwrap_or_default())
}

fn impl_resource(resource: &Resource<'_>) -> TokenStream {
    let ident = &resource.original.ident;
    let type_name = resource.type_name();
    let path = resource.path.value();
    let table = resource.table();
    let columns: Vec<&Field<'_>> = resource.columns().collect();
    // `check` has made sure that exactly one stored field is the id.
    let id = columns.iter().position(|field| field.attrs.id.is_some()).unwrap_or_default();
    let version = match columns.iter().position(|field| field.attrs.version.is_some()) {
        Some(index) => quote!(::core::option::Option::Some(#index)),
        None => quote!(::core::option::Option::None),
    };
    // `check` has made sure that each parameter of the path names one stored field.
    let keys = resource.keys();
    let descriptor_columns = columns.iter().map(|field| column(field));
    let writes = columns.iter().map(|field| {
        let member = field.ident;
        let ty = field.ty;
        match (field.attrs.json, field.json_option()) {
            (Some(_), Some(_)) => quote!(__out.write_nullable_json(&self.#member);),
            (Some(_), None) => quote!(__out.write_json::<#ty>(&self.#member);),
            (None, _) => quote!(__out.write::<#ty>(&self.#member);),
        }
    });
    let reads = resource.fields.iter().map(|field| {
        let member = field.ident;
        let ty = field.ty;
        if field.attrs.skip.is_some() {
            // At the type, so that a type without `Default` is reported there.
            let default = quote_spanned!(ty.span()=> <#ty as ::core::default::Default>::default());
            return quote!(#member: #default);
        }
        match (field.attrs.json, field.json_option()) {
            (Some(_), Some(inner)) => quote!(#member: __input.read_nullable_json::<#inner>()?),
            (Some(_), None) => quote!(#member: __input.read_json::<#ty>()?),
            (None, _) => quote!(#member: __input.read::<#ty>()?),
        }
    });
    let cascade = resource.attrs.cascade.map(|span| quote_spanned!(span=> const CASCADE: bool = true;));
    let validate = resource.attrs.validate.as_ref().map(|function| {
        // Coerced to the expected signature first, so that a function of another type is
        // reported at the path in the attribute, naming both signatures.
        quote! {
            fn validate(&self) -> ::core::result::Result<(), ::live_runtime::ValidationErrors> {
                let __validate: fn(&Self) -> ::core::result::Result<(), ::live_runtime::ValidationErrors> = #function;
                __validate(self)
            }
        }
    });

    // Each stored type's bound (`ColumnType`, or serde's for a JSON column) sits on the impl, at
    // the field type's span: a type without it is then reported once there (with the trait's
    // `on_unimplemented` message) instead of once per use in the descriptor, `write_columns` and
    // `read_columns`.
    let bounds = columns.iter().map(|field| {
        let ty = field.json_option().unwrap_or(field.ty);
        // Spanned at the type's last token so that the predicate, and the error, covers the
        // whole type (`ty.span()` is only its first token on stable).
        let end = ty.to_token_stream().into_iter().last().map_or_else(|| ty.span(), |token| token.span());
        match field.attrs.json {
            Some(_) => quote_spanned!(end=>
                #ty: ::live_runtime::__private::Serialize + ::live_runtime::__private::DeserializeOwned
            ),
            None => quote_spanned!(end=> #ty: ::live_runtime::ColumnType),
        }
    });

    quote! {
        #[automatically_derived]
        impl ::live_runtime::LiveResource for #ident
        where
            #(#bounds,)*
        {
            const DESCRIPTOR: &'static ::live_runtime::Descriptor = &::live_runtime::Descriptor {
                type_name: #type_name,
                path: #path,
                table: #table,
                columns: &[#(#descriptor_columns),*],
                id: #id,
                version: #version,
                keys: &[#(#keys),*],
            };

            fn write_columns(&self, __out: &mut ::live_runtime::ColumnWriter) {
                #(#writes)*
            }

            fn read_columns(
                __input: &mut ::live_runtime::ColumnReader,
            ) -> ::core::result::Result<Self, ::live_runtime::DecodeError> {
                ::core::result::Result::Ok(Self { #(#reads),* })
            }

            #validate
            #cascade
        }
    }
}

/// One `Column` of the descriptor: its SQL type and nullability read through `ColumnType`, or a
/// JSON column (nullable when the type reads `Option<T>`) for `#[live(json)]`.
fn column(field: &Field<'_>) -> TokenStream {
    let name = field.column();
    let json = field.json_name();
    let ty = field.ty;
    let column = match field.attrs.json {
        Some(_) => {
            let nullable = field.json_option().is_some();
            quote!(::live_runtime::Column::new(#name, #json, ::live_runtime::SqlType::Json, #nullable))
        }
        None => quote!(::live_runtime::Column::of::<#ty>(#name, #json)),
    };
    let read_only = field.attrs.read_only.map(|_| quote!(.read_only()));
    // The field's serde form is not its type's: bodies leave it to serde.
    let custom_json = (field.attrs.serde_with && field.attrs.json.is_none()).then(|| quote!(.custom_json()));
    quote!(#column #read_only #custom_json)
}

/// The `LiveEnum` and `ColumnType` impls for `input`, or every mistake found in it.
pub(crate) fn derive_enum(input: &DeriveInput) -> syn::Result<TokenStream> {
    let cx = Ctxt::new();
    let model = Enum::from_ast(&cx, input);
    if let Some(model) = &model {
        check::check_enum(&cx, model);
    }
    cx.check()?;
    // `from_ast` returns `None` only after reporting an error, so `check` has returned above.
    Ok(model.map(|model| impl_enum(&model)).unwrap_or_default())
}

fn impl_enum(input: &Enum<'_>) -> TokenStream {
    let ident = &input.original.ident;
    let names: Vec<String> = input.variants.iter().map(|variant| variant.name()).collect();
    let variants: Vec<_> = input.variants.iter().map(|variant| &variant.original.ident).collect();
    quote! {
        #[automatically_derived]
        impl ::live_runtime::LiveEnum for #ident {
            const VARIANTS: &'static [&'static ::core::primitive::str] = &[#(#names),*];

            fn name(&self) -> &'static ::core::primitive::str {
                match self {
                    #(Self::#variants => #names,)*
                }
            }

            fn from_name(__name: &::core::primitive::str) -> ::core::option::Option<Self> {
                match __name {
                    #(#names => ::core::option::Option::Some(Self::#variants),)*
                    _ => ::core::option::Option::None,
                }
            }
        }

        #[automatically_derived]
        impl ::live_runtime::ColumnType for #ident {
            const SQL_TYPE: ::live_runtime::SqlType =
                ::live_runtime::SqlType::Enum(<Self as ::live_runtime::LiveEnum>::VARIANTS);

            fn to_value(&self) -> ::live_runtime::Value {
                ::live_runtime::__private::enum_to_value(self)
            }

            fn from_value(
                __value: ::live_runtime::Value,
            ) -> ::core::result::Result<Self, ::live_runtime::DecodeError> {
                ::live_runtime::__private::enum_from_value(__value)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use syn::parse_quote;

    use super::*;

    fn errors(input: DeriveInput) -> Vec<String> {
        match derive(&input) {
            Ok(_) => Vec::new(),
            Err(error) => error.into_iter().map(|error| error.to_string()).collect(),
        }
    }

    #[test]
    fn a_valid_struct_expands() {
        let input: DeriveInput = parse_quote! {
            #[live(path = "/api/todos")]
            struct Todo { #[live(id)] id: i64, title: String }
        };
        assert_eq!(errors(input), Vec::<String>::new());
    }

    #[test]
    fn path_grammar_is_checked_on_the_attribute() {
        let cases: [(DeriveInput, &str); 4] = [
            (
                parse_quote!(
                    #[live(path = "/api/v1.0/todos")]
                    struct T {
                        #[live(id)]
                        id: i64,
                    }
                ),
                "character `.`",
            ),
            (
                parse_quote!(
                    #[live(path = "/api/**")]
                    struct T {
                        #[live(id)]
                        id: i64,
                    }
                ),
                "wildcard segment `**`",
            ),
            (
                parse_quote!(
                    #[live(path = "/service/todos")]
                    struct T {
                        #[live(id)]
                        id: i64,
                    }
                ),
                "under `/service/`",
            ),
            (
                parse_quote!(
                    #[live(path = "api")]
                    struct T {
                        #[live(id)]
                        id: i64,
                    }
                ),
                "starting with `/`",
            ),
        ];
        for (input, expected) in cases {
            let errors = errors(input);
            assert_eq!(errors.len(), 1, "{errors:?}");
            assert!(errors[0].contains(expected), "{errors:?} lacks {expected}");
        }
    }

    #[test]
    fn table_default_must_be_an_identifier() {
        let input: DeriveInput = parse_quote! {
            #[live(path = "/api/$todos")]
            struct Todo { #[live(id)] id: i64 }
        };
        let errors = errors(input);
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].contains("expected `#[live(table = \"...\")]`"), "{errors:?}");

        let input: DeriveInput = parse_quote! {
            #[live(path = "/api/$todos", table = "todos")]
            struct Todo { #[live(id)] id: i64 }
        };
        assert_eq!(self::errors(input), Vec::<String>::new());
    }

    #[test]
    fn serde_skips_on_stored_fields_ask_for_live_skip() {
        for key in ["skip", "skip_serializing", "skip_deserializing"] {
            let key = syn::Ident::new(key, proc_macro2::Span::call_site());
            let stored: DeriveInput = parse_quote! {
                #[live(path = "/api/todos")]
                struct Todo { #[live(id)] id: i64, #[serde(default, #key)] cache: String }
            };
            let errors = errors(stored);
            assert_eq!(errors.len(), 1, "{key}: {errors:?}");
            assert!(errors[0].contains(&format!("`#[serde({key})]`")) && errors[0].contains("`#[live(skip)]`"));
            let skipped: DeriveInput = parse_quote! {
                #[live(path = "/api/todos")]
                struct Todo { #[live(id)] id: i64, #[serde(default, #key)] #[live(skip)] cache: String }
            };
            assert_eq!(self::errors(skipped), Vec::<String>::new(), "{key}");
        }
    }

    #[test]
    fn json_goes_on_plain_fields_only() {
        let input: DeriveInput = parse_quote! {
            #[live(path = "/api/todos")]
            struct Todo {
                #[live(id)] id: i64,
                #[live(json, read_only)] tags: Vec<String>,
                #[live(json)] place: Option<Place>,
                #[live(version, json)] version: i64,
            }
        };
        assert_eq!(errors(input), ["`json` cannot be combined with `version`, expected it only on other fields"]);
    }

    #[test]
    fn enums_take_serde_names_and_refuse_other_forms() {
        let input: DeriveInput = parse_quote! {
            #[serde(rename_all = "SCREAMING-KEBAB-CASE")]
            enum Level { Low, #[serde(rename = "mid")] Medium, VeryHigh }
        };
        let names = Enum::from_ast(&Ctxt::new(), &input).map(|model| model.variants.iter().map(|v| v.name()).collect());
        assert_eq!(names, Some(vec!["LOW".to_owned(), "mid".to_owned(), "VERY-HIGH".to_owned()]));
        assert!(derive_enum(&input).is_ok());

        let input: DeriveInput = parse_quote! {
            #[serde(tag = "kind", rename_all = "Sentence case")]
            enum Level<T> { Low(T), #[serde(alias = "hi")] High, #[serde(rename = "Low")] Lower }
        };
        let errors: Vec<String> = match derive_enum(&input) {
            Ok(_) => Vec::new(),
            Err(error) => error.into_iter().map(|error| error.to_string()).collect(),
        };
        assert_eq!(errors.len(), 6, "{errors:?}");
    }

    #[test]
    fn path_params_are_partition_keys_among_stored_columns() {
        let input: DeriveInput = parse_quote! {
            #[live(path = "/api/orgs/{org_id}/kinds/{type}/tasks")]
            struct Task {
                #[live(skip)] cache: String,
                #[live(id)] id: i64,
                r#type: String,
                #[live(rename = "org")] org_id: uuid::Uuid,
            }
        };
        let tokens = derive(&input).map(|tokens| tokens.to_string()).unwrap_or_default();
        assert!(tokens.contains("keys : & [2usize , 1usize]"), "{tokens}");

        let flat: DeriveInput = parse_quote! {
            #[live(path = "/api/todos")]
            struct Todo { #[live(id)] id: i64 }
        };
        let tokens = derive(&flat).map(|tokens| tokens.to_string()).unwrap_or_default();
        assert!(tokens.contains("keys : & []"), "{tokens}");
    }

    #[test]
    fn every_path_param_mistake_is_reported() {
        let input: DeriveInput = parse_quote! {
            #[live(path = "/api/{id}/{room}/{score}/{cache}/{rev}/{doc}/{score}/messages")]
            struct Message {
                #[live(id)] id: i64,
                room_id: i64,
                score: f64,
                #[live(skip)] cache: i64,
                #[live(version)] rev: i64,
                #[live(json)] doc: String,
            }
        };
        assert_eq!(
            errors(input),
            [
                "path parameter `{score}` appears more than once in path \
                 `/api/{id}/{room}/{score}/{cache}/{rev}/{doc}/{score}/messages`, expected each partition key once",
                "path parameter `{room}` names no field of `Message`, expected the name of a field that holds the \
                 partition key (candidates: `room_id`)",
                "path parameter `{id}` is the record id, which the path's `/{id}` after the collection already names; \
                 expected a partition key field",
                "expected a path parameter field to be an integer (`i16`, `i32`, `i64`), `String` or `uuid::Uuid`: \
                 its value is a channel segment",
                "a path parameter's field cannot be `skip`: its value is stored and names the partition",
                "a path parameter's field cannot be `version`: the store bumps the version on every write, \
                 while a row's partition key stays the one in its path",
                "a path parameter's field cannot be `json`: its value is a channel segment, not a document",
            ]
        );
    }

    #[test]
    fn every_mistake_is_reported_in_one_pass() {
        let input: DeriveInput = parse_quote! {
            #[live(path = "/api/todo list", tabel = "todos")]
            struct Todo {
                #[live(id)] id: String,
                #[live(id, skip)] other: i64,
                #[live(wat)] x: i64,
            }
        };
        assert_eq!(errors(input).len(), 6);
    }
}
