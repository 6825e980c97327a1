//! Rules over the whole model: one small function per rule, each saying why the rule exists.
//! Every rule reports at the offending token and none stops the others, so one build shows every
//! mistake.

use syn::{DeriveInput, Fields, Type};

use crate::ast::{Enum, Field, Resource};
use crate::ctxt::Ctxt;

/// Characters a Bayeux channel segment may hold besides ASCII letters and digits (docs/protocol.md §4.1).
const CHANNEL_MARKS: &str = "-_!~()$@";

/// Types whose values make a channel segment, as written in the `type_is_one_of` sense.
const PATH_PARAM_TYPES: &[&str] = &["i16", "i32", "i64", "String", "Uuid"];

/// Column name the store uses for the row version when no field is `#[live(version)]`.
const VERSION_COLUMN: &str = "_version";

/// Runs every rule on a model built without fatal errors.
pub(crate) fn check(cx: &Ctxt, resource: &Resource<'_>) {
    no_generics(cx, resource);
    path_is_a_channel(cx, resource);
    cascade_needs_a_parent(cx, resource);
    path_params_are_distinct(cx, resource);
    path_params_name_fields(cx, resource);
    table_is_an_identifier(cx, resource);
    exactly_one_id(cx, resource);
    at_most_one_version(cx, resource);
    for field in &resource.fields {
        skip_stands_alone(cx, field);
        id_is_not_the_version(cx, field);
        json_is_not_the_id_or_version(cx, field);
        serde_skip_is_not_stored(cx, field);
        read_only_is_not_redundant(cx, field);
        id_type_can_be_assigned(cx, field);
        version_type_is_an_integer(cx, field);
        column_is_an_identifier(cx, field);
        path_param_is_not_the_id(cx, resource, field);
        path_param_type_is_a_segment(cx, resource, field);
        path_param_is_stored(cx, resource, field);
        path_param_is_a_plain_column(cx, resource, field);
    }
    columns_are_unique(cx, resource);
    json_names_are_unique(cx, resource);
    version_column_is_free(cx, resource);
}

/// The descriptor is one `static` per type, and the runtime needs `'static` owned values, so a
/// struct with lifetime or type parameters has no single descriptor to give.
fn no_generics(cx: &Ctxt, resource: &Resource<'_>) {
    without_generics(cx, resource.original, "struct", "LiveResource");
}

/// Reports the generics of `input`, a `kind` that derives `derive`.
fn without_generics(cx: &Ctxt, input: &DeriveInput, kind: &str, derive: &str) {
    if !input.generics.params.is_empty() {
        cx.error_spanned_by(
            &input.generics,
            format!(
                "generic {kind}s are not supported by `#[derive({derive})]`, \
                 expected {article} {kind} without lifetime or type parameters",
                article = if kind.starts_with('e') { "an" } else { "a" },
            ),
        );
    }
}

/// The path is also the channel events are published on, so it must be a channel name the
/// Bayeux clients accept and one they may subscribe to.
fn path_is_a_channel(cx: &Ctxt, resource: &Resource<'_>) {
    if let Err(message) = channel_path(&resource.path.value()) {
        cx.error_spanned_by(&resource.path, message);
    }
}

/// Each `{name}` segment stands for one partition key; a key named twice would have to hold two
/// values at once, or say nothing the first one did not.
fn path_params_are_distinct(cx: &Ctxt, resource: &Resource<'_>) {
    let params = resource.path_params();
    for (index, name) in params.iter().enumerate() {
        // Reported at the first repeat only.
        let before = params[..index].iter().filter(|other| *other == name).count();
        if before == 1 {
            cx.error_spanned_by(
                &resource.path,
                format!(
                    "path parameter `{{{name}}}` appears more than once in path `{}`, \
                     expected each partition key once",
                    resource.path.value()
                ),
            );
        }
    }
}

/// A parameter's value is read from, and written to, the field it names: the REST routes take
/// it from the concrete path and events go to the channel of the row's own value.
fn path_params_name_fields(cx: &Ctxt, resource: &Resource<'_>) {
    let params = resource.path_params();
    for (index, name) in params.iter().enumerate() {
        if params[..index].contains(name) || resource.field_named(name).is_some() {
            continue;
        }
        let candidates: Vec<String> = resource
            .columns()
            .filter(|field| could_be_a_key(field) && !params.contains(&field.name()))
            .map(|field| format!("`{}`", field.name()))
            .collect();
        let candidates =
            if candidates.is_empty() { String::new() } else { format!(" (candidates: {})", candidates.join(", ")) };
        cx.error_spanned_by(
            &resource.path,
            format!(
                "path parameter `{{{name}}}` names no field of `{}`, \
                 expected the name of a field that holds the partition key{candidates}",
                resource.type_name()
            ),
        );
    }
}

/// Whether `field` could be named by a path parameter: a plain stored column of a channel
/// segment's type, other than the id and the version. Only for suggestions.
fn could_be_a_key(field: &Field<'_>) -> bool {
    field.attrs.id.is_none()
        && field.attrs.version.is_none()
        && field.attrs.json.is_none()
        && field.attrs.skip.is_none()
        && type_is_one_of(field.ty, PATH_PARAM_TYPES)
}

/// The id already has its own segment, `P/{id}`, after the collection; as a partition key it
/// would put every row in a partition of its own.
fn path_param_is_not_the_id(cx: &Ctxt, resource: &Resource<'_>, field: &Field<'_>) {
    if field.attrs.id.is_some() && resource.is_path_param(field) {
        cx.error_spanned_by(
            &resource.path,
            format!(
                "path parameter `{{{}}}` is the record id, which the path's `/{{id}}` after the collection \
                 already names; expected a partition key field",
                field.name()
            ),
        );
    }
}

/// A parameter's value becomes a segment of the partition's path and channel: it must print as
/// one, with nothing outside the Bayeux alphabet and no `null`.
fn path_param_type_is_a_segment(cx: &Ctxt, resource: &Resource<'_>, field: &Field<'_>) {
    if resource.is_path_param(field) && !type_is_one_of(field.ty, PATH_PARAM_TYPES) {
        cx.error_spanned_by(
            field.ty,
            "expected a path parameter field to be an integer (`i16`, `i32`, `i64`), `String` or `uuid::Uuid`: \
             its value is a channel segment",
        );
    }
}

/// The store finds a partition's rows by the key's column; a skipped field has none.
fn path_param_is_stored(cx: &Ctxt, resource: &Resource<'_>, field: &Field<'_>) {
    if let Some(skip) = field.attrs.skip
        && resource.is_path_param(field)
    {
        cx.error_at(skip, "a path parameter's field cannot be `skip`: its value is stored and names the partition");
    }
}

/// A row stays in the partition its path names, while the store bumps the version on every write;
/// a JSON document is no channel segment.
fn path_param_is_a_plain_column(cx: &Ctxt, resource: &Resource<'_>, field: &Field<'_>) {
    if !resource.is_path_param(field) {
        return;
    }
    if let Some(version) = field.attrs.version {
        cx.error_at(
            version,
            "a path parameter's field cannot be `version`: the store bumps the version on every write, \
             while a row's partition key stays the one in its path",
        );
    }
    if let Some(json) = field.attrs.json {
        cx.error_at(json, "a path parameter's field cannot be `json`: its value is a channel segment, not a document");
    }
}

/// Only a nested resource can have a parent whose delete would cascade to it.
fn cascade_needs_a_parent(cx: &Ctxt, resource: &Resource<'_>) {
    let Some(span) = resource.attrs.cascade else { return };
    if !resource.path.value().contains('{') {
        cx.error_at(
            span,
            "`cascade` needs a nested path such as `/api/rooms/{room_id}/messages`: \
             only a resource under a parent's record path has a parent to be deleted with",
        );
    }
}

/// Table names go into SQL text on every database, so only plain identifiers are accepted: no
/// quoting rules differ between drivers for them.
fn table_is_an_identifier(cx: &Ctxt, resource: &Resource<'_>) {
    match &resource.attrs.table {
        Some(table) => {
            if !is_sql_identifier(&table.value()) {
                cx.error_spanned_by(table, identifier_message("table", &table.value()));
            }
        }
        None => {
            let path = resource.path.value();
            // An invalid path is reported on its own; a table derived from it would only add noise.
            let table = default_table(&path);
            if channel_path(&path).is_ok() && !is_sql_identifier(&table) {
                cx.error_spanned_by(
                    &resource.path,
                    format!(
                        "the path's last segment does not make a table name (`{table}`), \
                         expected `#[live(table = \"...\")]` with a plain SQL identifier"
                    ),
                );
            }
        }
    }
}

/// The store addresses rows by one primary key, and REST routes by `P/{id}`.
fn exactly_one_id(cx: &Ctxt, resource: &Resource<'_>) {
    let ids: Vec<_> = resource.fields.iter().filter_map(|field| field.attrs.id).collect();
    let message = format!("expected exactly one field marked `#[live(id)]`, found {}", ids.len());
    match ids.as_slice() {
        [] => cx.error_spanned_by(&resource.original.ident, message),
        [_] => {}
        [_, extra @ ..] => extra.iter().for_each(|span| cx.error_at(*span, &message)),
    }
}

/// The store keeps one version per row; two fields cannot both mirror it.
fn at_most_one_version(cx: &Ctxt, resource: &Resource<'_>) {
    let versions: Vec<_> = resource.fields.iter().filter_map(|field| field.attrs.version).collect();
    if let [_, extra @ ..] = versions.as_slice() {
        let message = format!("expected at most one field marked `#[live(version)]`, found {}", versions.len());
        extra.iter().for_each(|span| cx.error_at(*span, &message));
    }
}

/// A skipped field has no column, so it cannot be the id, the version, read-only or renamed.
fn skip_stands_alone(cx: &Ctxt, field: &Field<'_>) {
    let Some(skip) = field.attrs.skip else { return };
    let others = [
        ("id", field.attrs.id.is_some()),
        ("version", field.attrs.version.is_some()),
        ("read_only", field.attrs.read_only.is_some()),
        ("rename", field.attrs.rename.is_some()),
        ("json", field.attrs.json.is_some()),
    ];
    for (name, _) in others.iter().filter(|(_, present)| *present) {
        cx.error_at(skip, format!("`skip` cannot be combined with `{name}`: a skipped field has no column"));
    }
}

/// The id is assigned on create and never changes, while the version grows on every write.
fn id_is_not_the_version(cx: &Ctxt, field: &Field<'_>) {
    if let (Some(_), Some(version)) = (field.attrs.id, field.attrs.version) {
        cx.error_at(version, "`version` cannot be combined with `id`, expected them on two different fields");
    }
}

/// The id and the version are assigned by the store as an integer or a UUID, never a document.
fn json_is_not_the_id_or_version(cx: &Ctxt, field: &Field<'_>) {
    let Some(json) = field.attrs.json else { return };
    for (name, present) in [("id", field.attrs.id.is_some()), ("version", field.attrs.version.is_some())] {
        if present {
            cx.error_at(json, format!("`json` cannot be combined with `{name}`, expected it only on other fields"));
        }
    }
}

/// A field serde leaves out of the JSON one way would still be stored: written from a body that
/// never carries it, or stored but never shown. Skipping it in both is one attribute more.
fn serde_skip_is_not_stored(cx: &Ctxt, field: &Field<'_>) {
    let Some((key, span)) = field.attrs.serde_skip else { return };
    if field.attrs.skip.is_some() {
        return;
    }
    let effect = match key {
        "skip_serializing" => "stored but missing from answers and events",
        "skip_deserializing" => "stored but never taken from a request body",
        _ => "stored but missing from the JSON",
    };
    cx.error_at(
        span,
        format!("`#[serde({key})]` on a stored field leaves it {effect}, expected `#[live(skip)]` on the field too"),
    );
}

/// Clients never set the id or the version anyway; accepting the extra key would suggest that
/// leaving it out makes them writable.
fn read_only_is_not_redundant(cx: &Ctxt, field: &Field<'_>) {
    let Some(read_only) = field.attrs.read_only else { return };
    if field.attrs.skip.is_some() {
        return;
    }
    for (name, present) in [("id", field.attrs.id.is_some()), ("version", field.attrs.version.is_some())] {
        if present {
            cx.error_at(read_only, format!("`read_only` is implied by `{name}`, expected it only on other fields"));
        }
    }
}

/// The store assigns ids on create: an auto-increment integer or a random UUID.
fn id_type_can_be_assigned(cx: &Ctxt, field: &Field<'_>) {
    if field.attrs.id.is_some() && !type_is_one_of(field.ty, &["i32", "i64", "Uuid"]) {
        cx.error_spanned_by(field.ty, "expected the `#[live(id)]` field to be `i32`, `i64` or `uuid::Uuid`");
    }
}

/// The version counts writes; an `i16` would overflow after a few thousand writes to a row.
fn version_type_is_an_integer(cx: &Ctxt, field: &Field<'_>) {
    if field.attrs.version.is_some() && !type_is_one_of(field.ty, &["i32", "i64"]) {
        cx.error_spanned_by(field.ty, "expected the `#[live(version)]` field to be `i32` or `i64`");
    }
}

/// Column names go into SQL text, like table names.
fn column_is_an_identifier(cx: &Ctxt, field: &Field<'_>) {
    if field.attrs.skip.is_some() {
        return;
    }
    let column = field.column();
    if is_sql_identifier(&column) {
        return;
    }
    match &field.attrs.rename {
        Some(rename) => cx.error_spanned_by(rename, identifier_message("column", &column)),
        None => cx.error_spanned_by(
            field.ident,
            format!("field name `{column}` is not a plain SQL identifier, expected `#[live(rename = \"...\")]`"),
        ),
    }
}

/// Two fields in one column would overwrite each other. SQLite compares column names without
/// regard to ASCII case, so the comparison does too.
fn columns_are_unique(cx: &Ctxt, resource: &Resource<'_>) {
    let mut seen: Vec<String> = Vec::new();
    for field in resource.columns() {
        let column = field.column().to_ascii_lowercase();
        if seen.contains(&column) {
            let message = format!("duplicate column name `{}`, expected one column per field", field.column());
            match &field.attrs.rename {
                Some(rename) => cx.error_spanned_by(rename, message),
                None => cx.error_spanned_by(field.ident, message),
            }
        } else {
            seen.push(column);
        }
    }
}

/// REST filters and partial updates find a column by its JSON name, so each must be unique.
fn json_names_are_unique(cx: &Ctxt, resource: &Resource<'_>) {
    let mut seen: Vec<String> = Vec::new();
    for field in resource.columns() {
        let name = field.json_name();
        if seen.contains(&name) {
            // The whole field, since the name may come from its `#[serde(rename)]`.
            cx.error_spanned_by(field.original, format!("duplicate JSON field name `{name}`, expected one per field"));
        } else {
            seen.push(name);
        }
    }
}

/// Without a `#[live(version)]` field the store keeps the row version in its own column, which a
/// field must not take.
fn version_column_is_free(cx: &Ctxt, resource: &Resource<'_>) {
    if resource.fields.iter().any(|field| field.attrs.version.is_some()) {
        return;
    }
    for field in resource.columns() {
        if field.column().eq_ignore_ascii_case(VERSION_COLUMN) {
            cx.error_spanned_by(
                field.ident,
                format!(
                    "column `{VERSION_COLUMN}` holds the row version, expected another \
                     `#[live(rename = \"...\")]` or `#[live(version)]` on this field"
                ),
            );
        }
    }
}

/// Runs every rule on an enum model.
pub(crate) fn check_enum(cx: &Ctxt, input: &Enum<'_>) {
    enum_has_no_generics(cx, input);
    enum_has_variants(cx, input);
    variants_have_no_fields(cx, input);
    variant_names_are_unique(cx, input);
}

/// `LiveEnum` names are a `'static` list per type; a generic enum would need one per
/// instantiation.
fn enum_has_no_generics(cx: &Ctxt, input: &Enum<'_>) {
    without_generics(cx, input.original, "enum", "LiveEnum");
}

/// A column of an enum without variants could hold nothing, not even a value to create a row
/// with.
fn enum_has_variants(cx: &Ctxt, input: &Enum<'_>) {
    if input.variants.is_empty() {
        cx.error_spanned_by(&input.original.ident, "expected an enum with at least one variant, found none");
    }
}

/// The column holds the variant's name only: the data of a variant with fields would be lost.
fn variants_have_no_fields(cx: &Ctxt, input: &Enum<'_>) {
    for variant in &input.variants {
        if !matches!(variant.original.fields, Fields::Unit) {
            cx.error_spanned_by(
                &variant.original.fields,
                format!(
                    "variant `{}` has fields, expected a fieldless enum: the column holds the variant's name only",
                    variant.original.ident
                ),
            );
        }
    }
}

/// Two variants with one name could not be told apart when read back.
fn variant_names_are_unique(cx: &Ctxt, input: &Enum<'_>) {
    let mut seen: Vec<String> = Vec::new();
    for variant in &input.variants {
        let name = variant.name();
        if seen.contains(&name) {
            cx.error_spanned_by(
                variant.original,
                format!("duplicate variant name \"{name}\", expected one per variant"),
            );
        } else {
            seen.push(name);
        }
    }
}

/// Whether `ty` is a plain path whose last segment is one of `names` and has no arguments. A
/// syntactic check: the compiler checks the real type through `ColumnType` anyway.
fn type_is_one_of(ty: &Type, names: &[&str]) -> bool {
    let path = match ty {
        // A type passed to a `macro_rules!` as `$t:ty` arrives wrapped in an invisible group.
        Type::Group(group) => return type_is_one_of(&group.elem, names),
        Type::Path(path) => path,
        _ => return false,
    };
    if path.qself.is_some() {
        return false;
    }
    path.path
        .segments
        .last()
        .is_some_and(|last| last.arguments.is_none() && names.iter().any(|name| last.ident == name))
}

fn identifier_message(what: &str, name: &str) -> String {
    format!("invalid {what} name `{name}`, expected a plain SQL identifier: `[A-Za-z_][A-Za-z0-9_]*`")
}

/// Checks `path` against the Bayeux channel grammar (`/segment(/segment)*`, docs/protocol.md §4.1) and
/// the reserved roots; the error names the wrong segment or character. A whole segment written
/// `{name}` is a path parameter, except first (the root must be checked) and last (the collection).
pub(crate) fn channel_path(path: &str) -> Result<(), String> {
    let Some(rest) = path.strip_prefix('/') else {
        return Err(format!("invalid path `{path}`, expected a channel name starting with `/`, like `/api/todos`"));
    };
    let segments: Vec<&str> = rest.split('/').collect();
    for segment in &segments {
        if segment.is_empty() {
            return Err(format!(
                "empty segment in path `{path}`, expected `/segment(/segment)*` with no empty segment or trailing `/`"
            ));
        }
        if *segment == "*" || *segment == "**" {
            return Err(format!(
                "wildcard segment `{segment}` in path `{path}`, expected a plain channel name: \
                 wildcards are for subscriptions, a resource publishes on one channel"
            ));
        }
        if param_name(segment).is_some() {
            continue;
        }
        if let Some(bad) = segment.chars().find(|c| !(c.is_ascii_alphanumeric() || CHANNEL_MARKS.contains(*c))) {
            let param = if matches!(bad, '{' | '}') { ", or a whole segment `{field}` naming a field" } else { "" };
            return Err(format!(
                "character `{bad}` in segment `{segment}` of path `{path}` is not allowed in a Bayeux channel name, \
                 expected only letters, digits and `{CHANNEL_MARKS}`{param}"
            ));
        }
    }
    if let Some(last) = segments.last().filter(|last| param_name(last).is_some()) {
        return Err(format!(
            "the path's last segment `{last}` is a parameter, expected a literal collection name \
             such as `/api/rooms/{{room_id}}/messages`"
        ));
    }
    match segments.first() {
        Some(first) if param_name(first).is_some() => Err(format!(
            "the path's first segment `{first}` is a parameter, expected a literal root \
             such as `/api/rooms/{{room_id}}/messages`"
        )),
        Some(&root @ ("meta" | "service")) => Err(format!(
            "path `{path}` is under `/{root}/`, which Bayeux reserves, expected a path outside `/meta/` and `/service/`"
        )),
        _ => Ok(()),
    }
}

/// The names of `path`'s parameters, in path order, repeats included: every whole segment
/// written `{name}`.
pub(crate) fn path_params(path: &str) -> Vec<&str> {
    path.split('/').filter_map(param_name).collect()
}

/// `name` when `segment` is written `{name}` with `name` a Rust identifier (ASCII, as a channel
/// holds only ASCII; without `r#`).
fn param_name(segment: &str) -> Option<&str> {
    let name = segment.strip_prefix('{')?.strip_suffix('}')?;
    (name != "_" && is_sql_identifier(name)).then_some(name)
}

/// The table a path gives by default: its last segment with `-` turned into `_` (SQL identifiers
/// have no `-`). Not necessarily an identifier: see [`is_sql_identifier`].
pub(crate) fn default_table(path: &str) -> String {
    path.rsplit('/').next().unwrap_or_default().replace('-', "_")
}

/// Whether `name` is a plain SQL identifier: `[A-Za-z_][A-Za-z0-9_]*`.
pub(crate) fn is_sql_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|first| first.is_ascii_alphabetic() || first == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rest_paths_are_valid_channels() {
        for path in ["/api/todos", "/todos", "/a-b_c/!~()$@/X9"] {
            assert_eq!(channel_path(path), Ok(()), "{path}");
        }
    }

    #[test]
    fn path_must_start_with_a_slash() {
        let error = channel_path("api/todos").err().unwrap_or_default();
        assert!(error.contains("starting with `/`"), "{error}");
        assert!(channel_path("").is_err());
    }

    #[test]
    fn empty_segments_are_rejected() {
        for path in ["/", "//todos", "/api/todos/", "/api//todos"] {
            let error = channel_path(path).err().unwrap_or_default();
            assert!(error.contains("empty segment"), "{path}: {error}");
        }
    }

    #[test]
    fn characters_outside_the_bayeux_alphabet_are_named() {
        let error = channel_path("/api/v1.0/todos").err().unwrap_or_default();
        assert!(error.contains("character `.` in segment `v1.0`"), "{error}");
        for path in ["/api/to dos", "/api/a%20", "/api/a:b", "/api/a+b", "/api/é"] {
            assert!(channel_path(path).is_err(), "{path}");
        }
    }

    #[test]
    fn wildcards_are_rejected() {
        for (path, segment) in [("/api/*", "`*`"), ("/api/**", "`**`"), ("/*/todos", "`*`")] {
            let error = channel_path(path).err().unwrap_or_default();
            assert!(error.contains(&format!("wildcard segment {segment}")), "{path}: {error}");
        }
        // A star inside a segment is not a wildcard but still outside the alphabet.
        assert!(channel_path("/api/to*dos").is_err());
    }

    #[test]
    fn reserved_roots_are_rejected() {
        for path in ["/meta/todos", "/meta", "/service/todos"] {
            let error = channel_path(path).err().unwrap_or_default();
            assert!(error.contains("reserves"), "{path}: {error}");
        }
        assert_eq!(channel_path("/api/meta"), Ok(()));
        assert_eq!(channel_path("/metadata"), Ok(()));
    }

    #[test]
    fn whole_ident_segments_are_path_params() {
        for path in [
            "/api/rooms/{room_id}/messages",
            "/api/orgs/{org_id}/projects/{project_id}/tasks",
            "/api/{a}/{B_2}/x",
            "/api/{type}/x",
            "/api/{_x}/x",
        ] {
            assert_eq!(channel_path(path), Ok(()), "{path}");
        }
        assert_eq!(path_params("/api/orgs/{org_id}/projects/{project_id}/tasks"), ["org_id", "project_id"]);
        assert_eq!(path_params("/api/{a}/b/{a}/c"), ["a", "a"]);
        assert_eq!(path_params("/api/todos"), Vec::<&str>::new());
        assert_eq!(path_params("/api/{1x}/{a}b/todos"), Vec::<&str>::new());
    }

    #[test]
    fn braces_outside_a_whole_ident_segment_are_named() {
        for (path, segment) in [
            ("/api/{}/todos", "{}"),
            ("/api/{1x}/todos", "{1x}"),
            ("/api/{a}b/todos", "{a}b"),
            ("/api/a{b}/todos", "a{b}"),
            ("/api/{_}/todos", "{_}"),
            ("/api/{a-b}/todos", "{a-b}"),
            ("/api/{*}/todos", "{*}"),
        ] {
            let error = channel_path(path).err().unwrap_or_default();
            assert!(error.contains(&format!("character `{{` in segment `{segment}`")), "{path}: {error}");
            assert!(error.contains("a whole segment `{field}`"), "{path}: {error}");
        }
        let error = channel_path("/api/a}/todos").err().unwrap_or_default();
        assert!(error.contains("character `}` in segment `a}`"), "{error}");
    }

    #[test]
    fn the_last_segment_is_a_literal_collection() {
        for (path, segment) in [("/api/rooms/{room_id}", "{room_id}"), ("/{x}", "{x}")] {
            let error = channel_path(path).err().unwrap_or_default();
            assert!(error.contains(&format!("last segment `{segment}` is a parameter")), "{path}: {error}");
        }
    }

    #[test]
    fn the_first_segment_is_a_literal_root() {
        let error = channel_path("/{tenant}/todos").err().unwrap_or_default();
        assert!(error.contains("first segment `{tenant}` is a parameter"), "{error}");
        // The root stays checked behind a parameter.
        let error = channel_path("/meta/{x}/todos").err().unwrap_or_default();
        assert!(error.contains("reserves"), "{error}");
    }

    #[test]
    fn default_table_is_the_last_segment() {
        assert_eq!(default_table("/api/todos"), "todos");
        assert_eq!(default_table("/api/todo-items"), "todo_items");
        assert_eq!(default_table("/todos"), "todos");
        assert_eq!(default_table("/api/rooms/{room_id}/chat-messages"), "chat_messages");
    }

    #[test]
    fn sql_identifiers() {
        for name in ["todos", "_x", "Todo_2"] {
            assert!(is_sql_identifier(name), "{name}");
        }
        for name in ["", "2024", "to dos", "todo(s)", "$x", "é", "a-b"] {
            assert!(!is_sql_identifier(name), "{name}");
        }
    }
}
