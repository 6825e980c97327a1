//! The impls emitted beside the errors of a rejected input, so that code using the type does not
//! add "trait not implemented" errors to the real one.

use proc_macro2::TokenStream;
use quote::quote;
use syn::DeriveInput;

/// An impl of `LiveResource` for `input` that compiles whatever the input looks like, and is
/// never run: the build already fails with the derive's own errors.
pub(crate) fn dummy(input: &DeriveInput) -> TokenStream {
    let ident = &input.ident;
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    let predicates = where_clause.map(|clause| &clause.predicates);
    quote! {
        #[automatically_derived]
        impl #impl_generics ::live_runtime::LiveResource for #ident #ty_generics
        where
            #predicates
            // The higher-ranked lifetime keeps these bounds from being "trivially false" errors of
            // their own when the type lacks serde impls or is not `'static`.
            for<'__dummy> Self: ::live_runtime::__private::Serialize
                + ::live_runtime::__private::DeserializeOwned
                + ::core::marker::Send
                + ::core::marker::Sync
                + 'static,
        {
            const DESCRIPTOR: &'static ::live_runtime::Descriptor = &::live_runtime::Descriptor {
                type_name: "",
                path: "",
                table: "",
                columns: &[],
                id: 0,
                version: ::core::option::Option::None,
                keys: &[],
            };

            fn write_columns(&self, _: &mut ::live_runtime::ColumnWriter) {}

            fn read_columns(
                _: &mut ::live_runtime::ColumnReader,
            ) -> ::core::result::Result<Self, ::live_runtime::DecodeError> {
                ::core::panic!("the derive of `LiveResource` failed")
            }
        }
    }
}

/// Impls of `LiveEnum` and `ColumnType` for `input` that compile whatever the input looks like,
/// and are never run: the build already fails with the derive's own errors.
pub(crate) fn dummy_enum(input: &DeriveInput) -> TokenStream {
    let ident = &input.ident;
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    quote! {
        #[automatically_derived]
        impl #impl_generics ::live_runtime::LiveEnum for #ident #ty_generics #where_clause {
            const VARIANTS: &'static [&'static ::core::primitive::str] = &[];

            fn name(&self) -> &'static ::core::primitive::str {
                ::core::panic!("the derive of `LiveEnum` failed")
            }

            fn from_name(_: &::core::primitive::str) -> ::core::option::Option<Self> {
                ::core::option::Option::None
            }
        }

        #[automatically_derived]
        impl #impl_generics ::live_runtime::ColumnType for #ident #ty_generics #where_clause {
            const SQL_TYPE: ::live_runtime::SqlType = ::live_runtime::SqlType::Enum(&[]);

            fn to_value(&self) -> ::live_runtime::Value {
                ::core::panic!("the derive of `LiveEnum` failed")
            }

            fn from_value(
                _: ::live_runtime::Value,
            ) -> ::core::result::Result<Self, ::live_runtime::DecodeError> {
                ::core::panic!("the derive of `LiveEnum` failed")
            }
        }
    }
}
