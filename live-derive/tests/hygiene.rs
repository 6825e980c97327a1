//! The generated code names everything by absolute path, so a user's module that shadows the
//! prelude still compiles, without warnings.

mod shadowed {
    #![deny(warnings)]
    #![allow(dead_code, non_camel_case_types)]

    use ::live_runtime::{LiveEnum, LiveResource};
    use serde::{Deserialize, Serialize};

    pub struct Result;
    pub struct Option;
    pub struct Ok;
    pub struct Err;
    pub struct Some;
    pub struct None;
    pub struct String;
    pub struct Default;
    pub struct Vec;
    pub struct core;
    pub struct live_runtime;

    pub fn validate_nothing(_: &Shadowed) -> ::core::result::Result<(), ::live_runtime::ValidationErrors> {
        ::core::result::Result::Ok(())
    }

    #[derive(LiveResource, Serialize, Deserialize, Debug, PartialEq)]
    #[live(path = "/api/shadowed", validate = validate_nothing)]
    pub struct Shadowed {
        #[live(id)]
        pub id: i64,
        pub title: ::std::string::String,
        pub note: ::core::option::Option<::std::string::String>,
        #[live(skip)]
        #[serde(skip)]
        pub cache: ::std::vec::Vec<u8>,
        #[live(version)]
        pub version: i32,
    }

    #[derive(LiveEnum, Serialize, Deserialize, Debug, Clone, Copy, PartialEq)]
    #[serde(rename_all = "snake_case")]
    pub enum Level {
        Low,
        VeryHigh,
    }

    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    pub struct Place {
        pub name: ::std::string::String,
    }

    #[derive(LiveResource, Serialize, Deserialize, Debug, PartialEq)]
    #[live(path = "/api/shadowed-kinds")]
    #[serde(rename_all = "camelCase")]
    pub struct ShadowedKinds {
        #[live(id)]
        pub id: i64,
        pub level: Level,
        pub other_level: ::core::option::Option<Level>,
        #[live(json)]
        pub place: Place,
        #[live(json)]
        pub other_place: ::core::option::Option<Place>,
        #[live(json)]
        pub tags: ::std::vec::Vec<::std::string::String>,
    }
}

#[test]
fn derive_compiles_where_the_prelude_is_shadowed() {
    use ::live_runtime::LiveResource;
    use live_runtime::resource::{from_row, to_row};

    let value = shadowed::Shadowed { id: 1, title: "t".to_owned(), note: None, cache: vec![1], version: 2 };
    assert_eq!(value.validate(), Ok(()));
    let back = from_row::<shadowed::Shadowed>(to_row(&value));
    assert_eq!(back.map(|value| (value.id, value.cache)), Ok((1, Vec::new())));
    assert_eq!(shadowed::Shadowed::DESCRIPTOR.version, Some(3));
}

#[test]
fn enums_and_json_columns_compile_where_the_prelude_is_shadowed() {
    use ::live_runtime::LiveResource;
    use live_runtime::LiveEnum;
    use live_runtime::resource::{from_row, to_row};
    use shadowed::{Level, Place, ShadowedKinds};

    let value = ShadowedKinds {
        id: 1,
        level: Level::VeryHigh,
        other_level: None,
        place: Place { name: "hall".to_owned() },
        other_place: None,
        tags: vec!["a".to_owned()],
    };
    assert_eq!(from_row::<ShadowedKinds>(to_row(&value)).as_ref(), Ok(&value));
    assert_eq!(Level::VARIANTS, ["low", "very_high"]);
    assert_eq!(ShadowedKinds::DESCRIPTOR.columns[2].field, "otherLevel");
}

/// The derive written inside a `macro_rules!` body, with some field types from the body and some
/// from the caller: the two carry different hygiene, and the generated locals must resolve with
/// either.
macro_rules! resource_in_a_macro {
    ($name:ident, $id:ty, $title:ty) => {
        #[derive(::live_runtime::LiveResource, ::serde::Serialize, ::serde::Deserialize)]
        #[live(path = "/api/from-macro", validate = check_from_macro)]
        struct $name {
            #[live(id)]
            id: $id,
            title: $title,
            done: bool,
            #[live(skip)]
            cache: ::std::vec::Vec<u8>,
        }

        fn check_from_macro(_: &$name) -> ::core::result::Result<(), ::live_runtime::ValidationErrors> {
            ::core::result::Result::Ok(())
        }
    };
}

resource_in_a_macro!(FromMacro, i64, String);

#[test]
fn derive_works_inside_macro_rules() {
    use live_runtime::LiveResource;
    use live_runtime::resource::{from_row, to_row};

    let value = FromMacro { id: 5, title: "m".to_owned(), done: true, cache: vec![1] };
    assert_eq!(value.validate(), Ok(()));
    let back = from_row::<FromMacro>(to_row(&value)).map(|value| (value.id, value.title, value.done, value.cache));
    assert_eq!(back, Ok((5, "m".to_owned(), true, Vec::new())));
    assert_eq!(FromMacro::DESCRIPTOR.table, "from_macro");
}
