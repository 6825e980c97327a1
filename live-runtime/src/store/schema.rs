//! Checks an existing table against a descriptor, so that a mismatch is reported at start-up,
//! naming the table and the column, rather than as a failed query later.

use super::StoreError;
use super::sql::Dialect;
use crate::resource::{Descriptor, SqlType};

/// One column of an existing table, as the database describes it.
#[derive(Debug, Clone)]
pub(crate) struct TableColumn {
    pub(crate) name: String,
    /// The declared type (SQLite) or `information_schema` data type (PostgreSQL).
    pub(crate) declared: String,
    pub(crate) not_null: bool,
    pub(crate) has_default: bool,
    pub(crate) primary_key: bool,
}

/// One expected column: name, type, nullability, whether it is the key.
struct Expected<'a> {
    name: &'a str,
    ty: SqlType,
    nullable: bool,
    key: bool,
}

/// Why `existing` (the columns of `descriptor.table`, non-empty) does not fit `descriptor`.
pub(crate) fn check(dialect: Dialect, descriptor: &Descriptor, existing: &[TableColumn]) -> Result<(), StoreError> {
    let fail = |detail: String| StoreError::Schema { table: descriptor.table.to_owned(), detail };
    let mut expected: Vec<Expected<'_>> = descriptor
        .columns
        .iter()
        .enumerate()
        .map(|(index, column)| Expected {
            name: column.name,
            ty: column.ty,
            nullable: column.nullable,
            key: index == descriptor.id,
        })
        .collect();
    if descriptor.version.is_none() {
        expected.push(Expected { name: descriptor.version_column(), ty: SqlType::I64, nullable: false, key: false });
    }
    for want in &expected {
        let Some(found) = existing.iter().find(|found| found.name == want.name) else {
            return Err(fail(format!(
                "column `{}` is missing: expected {} ({}{})",
                want.name,
                dialect.ddl_type(want.ty),
                want.ty,
                if want.nullable { ", nullable" } else { ", NOT NULL" },
            )));
        };
        if !fits(dialect, want.ty, &found.declared) {
            return Err(fail(format!(
                "column `{}` has type {}: expected {} (for {})",
                want.name,
                found.declared,
                dialect.ddl_type(want.ty),
                want.ty
            )));
        }
        if want.key {
            if !found.primary_key {
                return Err(fail(format!("column `{}` must be the primary key", want.name)));
            }
            // SQLite reports an INTEGER PRIMARY KEY as nullable although it never holds NULL.
            continue;
        }
        if want.nullable && found.not_null {
            return Err(fail(format!(
                "column `{}` is NOT NULL: expected nullable (the field is an Option)",
                want.name
            )));
        }
        if !want.nullable && !found.not_null {
            return Err(fail(format!(
                "column `{}` is nullable: expected NOT NULL (the field is not an Option)",
                want.name
            )));
        }
    }
    for extra in existing {
        let known = expected.iter().any(|want| want.name == extra.name);
        if !known && extra.not_null && !extra.has_default && !extra.primary_key {
            return Err(fail(format!(
                "column `{}` is NOT NULL without a default but is not a field of {}: inserts would fail",
                extra.name, descriptor.type_name
            )));
        }
    }
    Ok(())
}

/// Whether a column declared as `declared` holds `ty` values without conversion.
fn fits(dialect: Dialect, ty: SqlType, declared: &str) -> bool {
    let declared = declared.to_ascii_lowercase();
    match dialect {
        Dialect::Postgres => match ty {
            SqlType::Bool => declared == "boolean",
            SqlType::I16 => declared == "smallint",
            SqlType::I32 => declared == "integer",
            SqlType::I64 => declared == "bigint",
            SqlType::F32 => declared == "real",
            SqlType::F64 => declared == "double precision",
            SqlType::Text => matches!(declared.as_str(), "text" | "character varying" | "character"),
            SqlType::Bytes => declared == "bytea",
            SqlType::Uuid => declared == "uuid",
            SqlType::Timestamp => declared == "timestamp with time zone",
            SqlType::Json => matches!(declared.as_str(), "jsonb" | "json"),
            #[allow(unreachable_patterns)]
            _ => false,
        },
        // SQLite keeps any value in any column but converts by the column's affinity, which
        // follows from the declared type by these rules (sqlite.org/datatype3.html §3.1).
        Dialect::Sqlite => {
            let affinity = if declared.contains("int") {
                Affinity::Integer
            } else if declared.contains("char") || declared.contains("clob") || declared.contains("text") {
                Affinity::Text
            } else if declared.contains("blob") || declared.is_empty() {
                Affinity::Blob
            } else if declared.contains("real") || declared.contains("floa") || declared.contains("doub") {
                Affinity::Real
            } else {
                Affinity::Numeric
            };
            match ty {
                SqlType::Bool => matches!(affinity, Affinity::Integer | Affinity::Numeric),
                SqlType::I16 | SqlType::I32 | SqlType::I64 => affinity == Affinity::Integer,
                SqlType::F32 | SqlType::F64 => affinity == Affinity::Real,
                // Numeric affinity would turn text that looks like a number into one.
                SqlType::Text | SqlType::Uuid | SqlType::Timestamp | SqlType::Json => affinity == Affinity::Text,
                SqlType::Bytes => affinity == Affinity::Blob,
                #[allow(unreachable_patterns)]
                _ => false,
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Affinity {
    Integer,
    Text,
    Blob,
    Real,
    Numeric,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_affinity_rules_decide_fit() {
        assert!(fits(Dialect::Sqlite, SqlType::I32, "BIGINT"));
        assert!(fits(Dialect::Sqlite, SqlType::Text, "VARCHAR(20)"));
        assert!(!fits(Dialect::Sqlite, SqlType::Json, "JSON"));
        assert!(!fits(Dialect::Sqlite, SqlType::F64, "INTEGER"));
        assert!(fits(Dialect::Postgres, SqlType::Json, "json"));
        assert!(!fits(Dialect::Postgres, SqlType::I32, "bigint"));
    }
}
