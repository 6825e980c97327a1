//! Builds the `LiveResource` impl from the model: a static descriptor and the two column
//! accessors, naming only absolute paths so that nothing in the user's scope can capture them.

use proc_macro2::TokenStream;
use quote::{ToTokens, quote, quote_spanned};
use syn::DeriveInput;
use syn::spanned::Spanned;

use crate::ast::{Field, Resource};
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
    let descriptor_columns = columns.iter().map(|field| column(field));
    let writes = columns.iter().map(|field| {
        let member = field.ident;
        let ty = field.ty;
        quote!(__out.write::<#ty>(&self.#member);)
    });
    let reads = resource.fields.iter().map(|field| {
        let member = field.ident;
        let ty = field.ty;
        if field.attrs.skip.is_some() {
            // At the type, so that a type without `Default` is reported there.
            let default = quote_spanned!(ty.span()=> <#ty as ::core::default::Default>::default());
            quote!(#member: #default)
        } else {
            quote!(#member: __input.read::<#ty>()?)
        }
    });
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

    // Each stored type's `ColumnType` bound sits on the impl, at the field type's span: a type
    // without it is then reported once there (with the trait's `on_unimplemented` message)
    // instead of once per use in the descriptor, `write_columns` and `read_columns`.
    let bounds = columns.iter().map(|field| {
        let ty = field.ty;
        // Spanned at the type's last token so that the predicate, and the error, covers the
        // whole type (`ty.span()` is only its first token on stable).
        let end = ty.to_token_stream().into_iter().last().map_or_else(|| ty.span(), |token| token.span());
        quote_spanned!(end=> #ty: ::live_runtime::ColumnType)
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
        }
    }
}

/// One `Column` of the descriptor, its SQL type and nullability read through `ColumnType`.
fn column(field: &Field<'_>) -> TokenStream {
    let name = field.column();
    let json = field.json_name();
    let ty = field.ty;
    let sql_type = quote!(<#ty as ::live_runtime::ColumnType>::SQL_TYPE);
    let nullable = quote!(<#ty as ::live_runtime::ColumnType>::NULLABLE);
    let read_only = field.attrs.read_only.map(|_| quote!(.read_only()));
    quote!(::live_runtime::Column::new(#name, #json, #sql_type, #nullable) #read_only)
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
