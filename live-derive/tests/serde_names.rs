//! The derives name JSON fields and enum variants exactly as serde does: for every
//! `rename_all` rule, the descriptor's JSON names are the keys `serde_json` writes, and an enum's
//! names are the strings it writes. A difference would make filters and bodies name keys the JSON
//! does not have.

use live_runtime::resource::to_row;
use live_runtime::{LiveEnum, LiveResource, Value};
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

/// A struct and an enum under one rule, with names that exercise each rule's word splitting.
macro_rules! under_rule {
    ($module:ident, $rule:literal) => {
        mod $module {
            use super::*;

            #[derive(LiveResource, Serialize, Deserialize)]
            #[live(path = "/api/names")]
            #[serde(rename_all = $rule)]
            #[allow(non_snake_case)]
            pub struct Names {
                #[live(id)]
                pub id: i64,
                pub due_at: i64,
                pub a_b_c: i64,
                pub http_url2: i64,
                pub _leading: i64,
                pub trailing_: i64,
                pub r#type: i64,
                pub x: i64,
                pub mixedCase: i64,
                #[serde(rename = "kept_As-is")]
                pub renamed: i64,
                #[live(rename = "column_name")]
                pub with_column: i64,
            }

            impl Names {
                /// A value whose every stored field holds a different number.
                pub fn numbered() -> Names {
                    Names {
                        id: 1,
                        due_at: 2,
                        a_b_c: 3,
                        http_url2: 4,
                        _leading: 5,
                        trailing_: 6,
                        r#type: 7,
                        x: 8,
                        mixedCase: 9,
                        renamed: 10,
                        with_column: 11,
                    }
                }
            }

            #[derive(LiveEnum, Serialize, Deserialize, Debug, Clone, Copy, PartialEq)]
            #[serde(rename_all = $rule)]
            pub enum Level {
                A,
                Low,
                VeryHigh,
                HTTPServer,
                Two2Three,
                #[serde(rename = "kept_As-is")]
                Renamed,
            }

            pub const LEVELS: [Level; 6] =
                [Level::A, Level::Low, Level::VeryHigh, Level::HTTPServer, Level::Two2Three, Level::Renamed];

            #[test]
            fn struct_fields_are_named_as_serde_writes_them() {
                let value = Names::numbered();
                let json = serde_json::to_value(&value).expect("serialize");
                let object = json.as_object().expect("an object");
                let descriptor = Names::DESCRIPTOR;
                assert_eq!(object.len(), descriptor.columns.len(), "{json}");
                for (column, stored) in descriptor.columns.iter().zip(to_row(&value)) {
                    let Value::Int(number) = stored else { panic!("{} is not an integer", column.name) };
                    assert_eq!(object.get(column.field), Some(&Json::from(number)), "{}: {json}", column.field);
                }
            }

            #[test]
            fn enum_variants_are_named_as_serde_writes_them() {
                let written: Vec<Json> =
                    LEVELS.iter().map(|level| serde_json::to_value(level).expect("serialize")).collect();
                let names: Vec<Json> = Level::VARIANTS.iter().map(|name| Json::from(*name)).collect();
                assert_eq!(written, names);
                for level in LEVELS {
                    assert_eq!(Level::from_name(level.name()), Some(level));
                    let read: Level = serde_json::from_value(Json::from(level.name())).expect("deserialize");
                    assert_eq!(read, level);
                }
            }
        }
    };
}

under_rule!(lowercase, "lowercase");
under_rule!(uppercase, "UPPERCASE");
under_rule!(pascal_case, "PascalCase");
under_rule!(camel_case, "camelCase");
under_rule!(snake_case, "snake_case");
under_rule!(screaming_snake_case, "SCREAMING_SNAKE_CASE");
under_rule!(kebab_case, "kebab-case");
under_rule!(screaming_kebab_case, "SCREAMING-KEBAB-CASE");

/// Without a rule, names are the fields and variants as written, and a field's own rename
/// still wins over a rule.
mod no_rule {
    use super::*;

    #[derive(LiveResource, Serialize, Deserialize)]
    #[live(path = "/api/plain")]
    struct Plain {
        #[live(id)]
        id: i64,
        due_at: i64,
    }

    #[derive(LiveResource, Serialize, Deserialize)]
    #[live(path = "/api/camel")]
    #[serde(rename_all = "camelCase")]
    struct Camel {
        #[live(id)]
        id: i64,
        #[serde(rename = "due")]
        due_at: i64,
        created_at: i64,
    }

    #[derive(LiveEnum, Serialize, Deserialize)]
    enum Level {
        Low,
        VeryHigh,
    }

    #[test]
    fn names_default_to_the_rust_names() {
        let fields: Vec<_> = Plain::DESCRIPTOR.columns.iter().map(|column| column.field).collect();
        assert_eq!(fields, ["id", "due_at"]);
        assert_eq!(Level::VARIANTS, ["Low", "VeryHigh"]);
    }

    #[test]
    fn a_fields_rename_wins_over_the_rule_and_columns_keep_the_field_names() {
        let columns: Vec<_> = Camel::DESCRIPTOR.columns.iter().map(|column| (column.name, column.field)).collect();
        assert_eq!(columns, [("id", "id"), ("due_at", "due"), ("created_at", "createdAt")]);
        let json = serde_json::to_value(Camel { id: 1, due_at: 2, created_at: 3 }).expect("serialize");
        assert_eq!(json, serde_json::json!({"id": 1, "due": 2, "createdAt": 3}));
    }
}
