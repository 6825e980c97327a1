//! Request bodies of writes: reading them under a size limit, JSON or Backbone's form encoding,
//! the method override, and turning a JSON object into a resource value field by field.
//!
//! This is our own extractor rather than axum's `Json`, so that every malformed body gets the
//! one error shape of [`ApiError`] and every refused field is named.

use axum::body::Body;
use bytes::Bytes;
use http::{HeaderMap, Method, header};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde_json::{Map, Value as Json};
use uuid::Uuid;

use super::error::ApiError;
use crate::resource::{Descriptor, LiveResource, ValidationErrors};
use crate::value::{SqlType, Value, check_json};

/// The header Backbone's `emulateHTTP` sends with the real method on a `POST`.
const METHOD_OVERRIDE: &str = "x-http-method-override";

/// A write's body as sent, before its JSON is parsed.
#[derive(Debug)]
pub(crate) enum Payload {
    /// No body (or an empty one).
    Empty,
    /// JSON text: the whole body, or the `model` field of a form.
    Json(Bytes),
}

/// Reads the body of a write, at most `limit` bytes, and unwraps a form's `model` field.
/// Returns the payload and the form's `_method`, if any.
pub(crate) async fn read(headers: &HeaderMap, body: Body, limit: usize) -> Result<(Payload, Option<String>), ApiError> {
    if let Some(length) = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok()) {
        // Refuse early on the announced length, before reading anything.
        if length > limit as u64 {
            return Err(ApiError::PayloadTooLarge { limit });
        }
    }
    let bytes = match Limited::new(body, limit).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(error) if error.downcast_ref::<LengthLimitError>().is_some() => {
            return Err(ApiError::PayloadTooLarge { limit });
        }
        Err(error) => {
            return Err(ApiError::bad_request("unreadable_body", format!("could not read the body: {error}")));
        }
    };
    let content_type = headers.get(header::CONTENT_TYPE).map(|value| value.to_str().unwrap_or("?"));
    match content_type.map(MediaType::of) {
        None if bytes.is_empty() => Ok((Payload::Empty, None)),
        Some(MediaType::Json) if bytes.is_empty() => Ok((Payload::Empty, None)),
        Some(MediaType::Json) => Ok((Payload::Json(bytes), None)),
        Some(MediaType::Form) => read_form(&bytes),
        _ => Err(ApiError::UnsupportedMediaType(content_type.unwrap_or("none").to_owned())),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MediaType {
    Json,
    Form,
    Other,
}

impl MediaType {
    /// Classifies a `Content-Type`: `application/json` or any `application/*+json`, with any
    /// parameters, or `application/x-www-form-urlencoded`.
    fn of(value: &str) -> MediaType {
        let essence = value.split(';').next().unwrap_or("").trim();
        let Some((kind, subtype)) = essence.split_once('/') else { return MediaType::Other };
        if !kind.eq_ignore_ascii_case("application") {
            return MediaType::Other;
        }
        let subtype = subtype.to_ascii_lowercase();
        if subtype == "json" || subtype.ends_with("+json") {
            MediaType::Json
        } else if subtype == "x-www-form-urlencoded" {
            MediaType::Form
        } else {
            MediaType::Other
        }
    }
}

/// Backbone's `emulateJSON`: the JSON is the `model` field; `emulateHTTP` adds `_method`.
fn read_form(bytes: &[u8]) -> Result<(Payload, Option<String>), ApiError> {
    let mut model = None;
    let mut method = None;
    for (key, value) in form_urlencoded::parse(bytes) {
        let slot = match &*key {
            "model" => &mut model,
            "_method" => &mut method,
            other => {
                return Err(ApiError::bad_request(
                    "malformed_form",
                    format!("unexpected form field `{other}`: send the JSON in `model`"),
                ));
            }
        };
        if slot.replace(value.into_owned()).is_some() {
            return Err(ApiError::bad_request("malformed_form", format!("form field `{key}` is given more than once")));
        }
    }
    let payload = match model {
        Some(model) => Payload::Json(Bytes::from(model)),
        None => Payload::Empty,
    };
    Ok((payload, method))
}

/// The method a request stands for: a `POST` may name another one in `X-HTTP-Method-Override`,
/// a `_method` query parameter or a `_method` form field (which must then agree). Only `PUT`,
/// `PATCH` and `DELETE` can be named, and only by a `POST`, so a link or an image cannot
/// delete anything.
pub(crate) fn override_method(
    method: &Method,
    headers: &HeaderMap,
    query: Option<&str>,
    form: Option<&str>,
) -> Result<Method, ApiError> {
    let mut named: Option<Method> = None;
    let header = headers.get(METHOD_OVERRIDE).map(|value| value.to_str().unwrap_or("?"));
    let query = query.and_then(query_method);
    for candidate in [header, query.as_deref(), form].into_iter().flatten() {
        let parsed = match candidate.to_ascii_uppercase().as_str() {
            "PUT" => Method::PUT,
            "PATCH" => Method::PATCH,
            "DELETE" => Method::DELETE,
            _ => {
                return Err(ApiError::bad_request(
                    "invalid_method_override",
                    format!("method override {candidate:?} is not PUT, PATCH or DELETE"),
                ));
            }
        };
        if named.as_ref().is_some_and(|earlier| *earlier != parsed) {
            return Err(ApiError::bad_request("invalid_method_override", "method overrides disagree"));
        }
        named = Some(parsed);
    }
    match named {
        None => Ok(method.clone()),
        Some(named) if *method == Method::POST => Ok(named),
        Some(_) => Err(ApiError::bad_request("invalid_method_override", "only a POST may override its method")),
    }
}

/// The `_method` of a query string.
fn query_method(query: &str) -> Option<String> {
    form_urlencoded::parse(query.as_bytes()).find(|(key, _)| key == "_method").map(|(_, value)| value.into_owned())
}

/// Refuses an override on a read: only a `POST` may stand for another method.
pub(crate) fn no_override(headers: &HeaderMap) -> Result<(), ApiError> {
    match headers.contains_key(METHOD_OVERRIDE) {
        true => Err(ApiError::bad_request("invalid_method_override", "only a POST may override its method")),
        false => Ok(()),
    }
}

/// Refuses query parameters on a route that takes none, apart from jQuery's cache buster `_`
/// and, on a write, `_method` (handled as an override).
pub(crate) fn no_query(query: Option<&str>, write: bool) -> Result<(), ApiError> {
    for (key, _) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        if key != "_" && !(write && key == "_method") {
            return Err(ApiError::bad_request("invalid_query", format!("unknown query parameter `{key}`")));
        }
    }
    Ok(())
}

/// Parses a payload's JSON text.
pub(crate) fn parse_json(payload: Payload) -> Result<Json, ApiError> {
    match payload {
        Payload::Empty => Err(ApiError::bad_request("missing_body", "this request needs a JSON body")),
        Payload::Json(bytes) => serde_json::from_slice(&bytes)
            .map_err(|error| ApiError::bad_request("malformed_json", format!("malformed JSON: {error}"))),
    }
}

/// A body object after the checks common to every write.
#[derive(Debug, Default)]
pub(crate) struct Fields {
    /// The fields the client may set, each of its column's JSON type.
    pub(crate) writable: Map<String, Json>,
    /// The id the body carries, if any.
    pub(crate) id: Option<Json>,
    /// The version the body carries, if the resource mirrors it in a field.
    pub(crate) version: Option<i64>,
}

/// Splits a body object into the fields the client may set, checking each against its column;
/// unknown fields and fields of the wrong type are refused together, each by name (prefixed with
/// `prefix`, the item's index in an array). Read-only fields are dropped: Backbone sends the whole
/// model back on save.
pub(crate) fn check_fields(descriptor: &Descriptor, body: Json, prefix: &str) -> Result<Fields, ApiError> {
    let mut errors = ValidationErrors::new();
    let Json::Object(object) = body else {
        if prefix.is_empty() {
            return Err(ApiError::Unprocessable(
                "the body must be a JSON object, or an array of them to create many".into(),
            ));
        }
        errors.add(prefix.trim_end_matches('.'), "expected a JSON object");
        return Err(ApiError::Validation(errors));
    };
    let mut fields = Fields::default();
    for (key, value) in object {
        let Some((index, column)) = descriptor.column_by_field(&key) else {
            errors.add(format!("{prefix}{key}"), "unknown field");
            continue;
        };
        if index == descriptor.id {
            fields.id = Some(value);
        } else if Some(index) == descriptor.version {
            match value {
                Json::Null => {}
                ref number => match number.as_i64() {
                    Some(version) => fields.version = Some(version),
                    None => {
                        errors.add(format!("{prefix}{key}"), "expected an integer version");
                    }
                },
            }
        } else if descriptor.is_client_writable(index) {
            // A field with a JSON form of its own is left to serde, which knows it.
            let checked = if column.custom_json { Ok(()) } else { check_json(column.ty, column.nullable, &value) };
            match checked {
                Ok(()) => {
                    fields.writable.insert(key, value);
                }
                Err(why) => {
                    errors.add(format!("{prefix}{key}"), why);
                }
            }
        }
    }
    errors.into_result().map(|()| fields).map_err(ApiError::Validation)
}

/// A stand-in for the id or version of a value being created, so that `R` deserializes; the
/// store assigns the real ones.
fn placeholder(ty: SqlType) -> Json {
    match ty {
        SqlType::Uuid => Json::String(Uuid::nil().to_string()),
        SqlType::Text => Json::String(String::new()),
        _ => Json::from(0),
    }
}

/// Builds a new value from checked fields: the id and version get placeholders, missing fields
/// take `R`'s serde defaults.
pub(crate) fn new_value<R: LiveResource>(mut fields: Map<String, Json>, prefix: &str) -> Result<R, ApiError> {
    let descriptor = R::DESCRIPTOR;
    let id = descriptor.id_column();
    fields.insert(id.field.to_owned(), placeholder(id.ty));
    if let Some(version) = descriptor.version {
        let column = &descriptor.columns[version];
        fields.insert(column.field.to_owned(), placeholder(column.ty));
    }
    deserialize(fields, prefix)
}

/// Deserializes `R`, naming the field serde complains about when it says which.
pub(crate) fn deserialize<R: LiveResource>(fields: Map<String, Json>, prefix: &str) -> Result<R, ApiError> {
    serde_json::from_value(Json::Object(fields)).map_err(|error| {
        let message = error.to_string();
        match message.strip_prefix("missing field `").and_then(|rest| rest.split_once('`')) {
            Some((field, _)) => {
                let mut errors = ValidationErrors::new();
                errors.add(format!("{prefix}{field}"), "is required");
                ApiError::Validation(errors)
            }
            None => ApiError::Unprocessable(format!("invalid value: {message}")),
        }
    })
}

/// Whether an id from a body names the same row as the URL's.
pub(crate) fn same_id(body: &Json, url: &Value) -> bool {
    match (body, url) {
        (Json::Number(number), Value::Int(id)) => number.as_i64() == Some(*id),
        (Json::String(text), Value::Int(id)) => text.parse::<i64>().ok() == Some(*id),
        (Json::String(text), Value::Uuid(id)) => Uuid::parse_str(text).ok() == Some(*id),
        (Json::String(text), Value::Text(id)) => text == id,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resource::Column;
    use http::HeaderValue;

    const DESCRIPTOR: &Descriptor = &Descriptor {
        type_name: "Todo",
        path: "/api/todos",
        table: "todos",
        columns: &[
            Column::new("id", "id", SqlType::I64, false),
            Column::new("title", "title", SqlType::Text, false),
            Column::new("done", "completed", SqlType::Bool, false),
            Column::new("rank", "rank", SqlType::I16, true),
            Column::new("owner", "owner", SqlType::Uuid, true).read_only(),
            Column::new("version", "version", SqlType::I64, false),
        ],
        id: 0,
        version: Some(5),
        keys: &[],
    };

    #[test]
    fn media_types() {
        assert_eq!(MediaType::of("application/json"), MediaType::Json);
        assert_eq!(MediaType::of("application/json; charset=utf-8"), MediaType::Json);
        assert_eq!(MediaType::of("application/vnd.api+json"), MediaType::Json);
        assert_eq!(MediaType::of("Application/JSON"), MediaType::Json);
        assert_eq!(MediaType::of("application/x-www-form-urlencoded; charset=UTF-8"), MediaType::Form);
        assert_eq!(MediaType::of("text/plain"), MediaType::Other);
        assert_eq!(MediaType::of("application/jsonx"), MediaType::Other);
        assert_eq!(MediaType::of("multipart/form-data; boundary=x"), MediaType::Other);
    }

    #[tokio::test]
    async fn bodies_over_the_limit_are_refused() {
        let headers = HeaderMap::new();
        let error = read(&headers, Body::from(vec![b' '; 11]), 10).await.expect_err("too large");
        assert_eq!(error.status(), http::StatusCode::PAYLOAD_TOO_LARGE);
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from_static("1000"));
        let error = read(&headers, Body::empty(), 10).await.expect_err("announced too large");
        assert_eq!(error.status(), http::StatusCode::PAYLOAD_TOO_LARGE);
    }

    #[tokio::test]
    async fn forms_carry_the_model_and_method() {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/x-www-form-urlencoded"));
        let body = Body::from("model=%7B%22title%22%3A%22a%22%7D&_method=PUT");
        let (payload, method) = read(&headers, body, 1000).await.expect("form");
        assert_eq!(method.as_deref(), Some("PUT"));
        assert_eq!(parse_json(payload).expect("json"), serde_json::json!({"title": "a"}));
        let error = read(&headers, Body::from("title=a"), 1000).await.expect_err("no model");
        assert_eq!(error.code(), "malformed_form");
    }

    #[tokio::test]
    async fn other_media_types_are_refused() {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        let error = read(&headers, Body::from("{}"), 1000).await.expect_err("text");
        assert_eq!(error.status(), http::StatusCode::UNSUPPORTED_MEDIA_TYPE);
        let error = read(&HeaderMap::new(), Body::from("{}"), 1000).await.expect_err("no type");
        assert_eq!(error.status(), http::StatusCode::UNSUPPORTED_MEDIA_TYPE);
    }

    #[test]
    fn overrides_apply_to_post_only() {
        let mut headers = HeaderMap::new();
        assert_eq!(
            override_method(&Method::POST, &headers, Some("_method=delete"), None).expect("query"),
            Method::DELETE
        );
        assert_eq!(override_method(&Method::POST, &headers, None, Some("PATCH")).expect("form"), Method::PATCH);
        headers.insert(METHOD_OVERRIDE, HeaderValue::from_static("PUT"));
        assert_eq!(override_method(&Method::POST, &headers, None, None).expect("header"), Method::PUT);
        assert!(override_method(&Method::POST, &headers, None, Some("DELETE")).is_err());
        assert!(override_method(&Method::GET, &headers, None, None).is_err());
        headers.insert(METHOD_OVERRIDE, HeaderValue::from_static("GET"));
        assert!(override_method(&Method::POST, &headers, None, None).is_err());
    }

    #[test]
    fn fields_are_checked_by_name_and_type() {
        let body = serde_json::json!({
            "id": 7, "title": "a", "completed": "yes", "rank": 70000, "owner": "x", "version": 2, "extra": 1
        });
        let Err(ApiError::Validation(errors)) = check_fields(DESCRIPTOR, body, "") else { panic!("bad fields") };
        assert_eq!(errors.get("completed"), Some("expected a boolean"));
        assert!(errors.get("rank").is_some());
        assert_eq!(errors.get("extra"), Some("unknown field"));
        // Read-only fields are dropped unchecked.
        assert_eq!(errors.get("owner"), None);

        let body = serde_json::json!({"id": 7, "title": "a", "rank": null, "owner": "x", "version": 2});
        let fields = check_fields(DESCRIPTOR, body, "").expect("good fields");
        assert_eq!(fields.id, Some(serde_json::json!(7)));
        assert_eq!(fields.version, Some(2));
        assert_eq!(fields.writable.keys().collect::<Vec<_>>(), ["rank", "title"]);

        let Err(ApiError::Validation(errors)) = check_fields(DESCRIPTOR, serde_json::json!({"title": null}), "3.")
        else {
            panic!("null")
        };
        assert_eq!(errors.get("3.title"), Some("must not be null"));
    }

    #[test]
    fn body_ids_compare_with_url_ids() {
        assert!(same_id(&serde_json::json!(5), &Value::Int(5)));
        assert!(same_id(&serde_json::json!("5"), &Value::Int(5)));
        assert!(!same_id(&serde_json::json!(6), &Value::Int(5)));
        assert!(!same_id(&serde_json::json!(null), &Value::Int(5)));
    }
}
