//! The handlers of `P` and `P/{id}`: method dispatch, then one function per verb.
//!
//! The hot paths (get by id, list) serialize `R` straight into the response body, and a write
//! answers with the bytes its change carries (the row serialized once at commit, the same the
//! subscribers receive); only `select` and a write's input go through `serde_json::Value`, where
//! field-by-field work is the point.

use std::sync::Arc;

use axum::body::{Body, HttpBody};
use std::borrow::Cow;

use axum::extract::rejection::RawPathParamsRejection;
use axum::extract::{OriginalUri, RawPathParams, Request, State};
use axum::response::{IntoResponse, Response};
use http::request::Parts;
use http::{HeaderName, HeaderValue, Method, StatusCode, header};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Map, Value as Json};

use super::Context;
use super::body::{self, Payload};
use super::error::ApiError;
use super::headers::{self, Condition};
use super::query::{self, ListRequest};
use crate::partition;
use crate::resource::{LiveResource, ValidationErrors, Value, to_row};
use crate::store::{Committed, Method as ChangeMethod, Records, StoreError, Stored, Write};

const JSON: HeaderValue = HeaderValue::from_static("application/json");
const PREFERENCE_APPLIED: HeaderName = HeaderName::from_static("preference-applied");

/// The parameters of a route: a nested path's keys (in path order), then for `P/{id}` the id.
type Params = Result<RawPathParams, RawPathParamsRejection>;

/// `P`: list, create, and the methods around them.
pub(super) async fn collection<R: LiveResource>(
    State(context): State<Arc<Context<R>>>,
    params: Params,
    request: Request,
) -> Response {
    let (parts, body) = request.into_parts();
    let result = match (&parts.method, partition(&context, params)) {
        (_, Err(error)) => Err(error),
        (&(Method::GET | Method::HEAD), Ok((records, _))) => list(&context, &records, &parts).await,
        (&Method::OPTIONS, _) => Ok(options(&context.allow_collection)),
        (&Method::POST, Ok((records, _))) => create(&context, &records, &parts, body).await,
        (method, _) => Err(not_allowed(method, &context.allow_collection)),
    };
    finish(&parts.method, result)
}

/// `P/{id}`: get, replace, merge, delete, and the methods around them.
pub(super) async fn member<R: LiveResource>(
    State(context): State<Arc<Context<R>>>,
    params: Params,
    request: Request,
) -> Response {
    let (parts, body) = request.into_parts();
    let result = match (&parts.method, partition(&context, params)) {
        (_, Err(error)) => Err(error),
        (&(Method::GET | Method::HEAD), Ok((records, id))) => match parse_id::<R>(id.as_deref()) {
            Ok(id) => get(&records, &parts, id).await,
            Err(error) => Err(error),
        },
        (&Method::OPTIONS, _) => Ok(options(&context.allow_member)),
        (&(Method::POST | Method::PUT | Method::PATCH | Method::DELETE), Ok((records, id))) => {
            write(&context, &records, &parts, body, id.as_deref()).await
        }
        (method, _) => Err(not_allowed(method, &context.allow_member)),
    };
    finish(&parts.method, result)
}

/// The records a route's parameters address (the partition of a nested path, or all of a flat
/// one), and the parameter after the keys (the id of `P/{id}`). A malformed key is a `400`.
fn partition<R: LiveResource>(
    context: &Context<R>,
    params: Params,
) -> Result<(Cow<'_, Records<R>>, Option<String>), ApiError> {
    let params = params.map_err(|rejection| ApiError::bad_request("invalid_path", rejection.body_text()))?;
    let descriptor = R::DESCRIPTOR;
    let mut values = params.iter().map(|(_, value)| value);
    if !descriptor.is_nested() {
        return Ok((Cow::Borrowed(&context.records), values.next().map(str::to_owned)));
    }
    let mut keys = Vec::with_capacity(descriptor.keys.len());
    for &column in descriptor.keys {
        let column = &descriptor.columns[column];
        let raw = values.next().unwrap_or_default();
        let key = partition::parse_key(column.ty, raw).map_err(|why| {
            ApiError::bad_request("invalid_key", format!("`{raw}` is not a valid `{}`: {why}", column.field))
        })?;
        keys.push(key);
    }
    let records = context.records.partition(keys)?;
    Ok((Cow::Owned(records), values.next().map(str::to_owned)))
}

/// The response of a result; a `HEAD` keeps the headers (with the length) and drops the body.
fn finish(method: &Method, result: Result<Response, ApiError>) -> Response {
    let mut response = result.unwrap_or_else(IntoResponse::into_response);
    if *method == Method::HEAD {
        if let Some(length) = response.body().size_hint().exact() {
            response.headers_mut().insert(header::CONTENT_LENGTH, HeaderValue::from(length));
        }
        *response.body_mut() = Body::empty();
    }
    response
}

fn parse_id<R: LiveResource>(id: Option<&str>) -> Result<Value, ApiError> {
    query::parse_id(R::DESCRIPTOR, id.unwrap_or_default())
}

fn options(allow: &HeaderValue) -> Response {
    let mut response = StatusCode::NO_CONTENT.into_response();
    response.headers_mut().insert(header::ALLOW, allow.clone());
    response
}

fn not_allowed(method: &Method, allow: &HeaderValue) -> ApiError {
    ApiError::MethodNotAllowed { method: method.as_str().to_owned(), allow: allow.clone() }
}

fn json_response(status: StatusCode, body: Vec<u8>) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, JSON);
    response
}

/// One stored value as a response, with its version as the entity tag.
fn stored_response<R: LiveResource>(status: StatusCode, stored: &Stored<R>) -> Result<Response, ApiError> {
    let body = serde_json::to_vec(&stored.value).map_err(serialize_failed::<R>)?;
    let mut response = json_response(status, body);
    response.headers_mut().insert(header::ETAG, headers::etag(stored.version));
    Ok(response)
}

/// A write's outcome as a response: the body its change logged, with its version as the entity tag.
fn committed_response<R>(status: StatusCode, committed: &Committed<R>) -> Response {
    let mut response = json_response(status, committed.change.body.get().as_bytes().to_vec());
    response.headers_mut().insert(header::ETAG, headers::etag(committed.version));
    response
}

fn serialize_failed<R: LiveResource>(error: serde_json::Error) -> ApiError {
    tracing::error!(resource = R::DESCRIPTOR.type_name, %error, "could not serialize a stored value");
    ApiError::Internal
}

/// The path the client used for the collection, before any `nest`.
fn collection_path(parts: &Parts) -> &str {
    let uri = parts.extensions.get::<OriginalUri>().map_or(&parts.uri, |original| &original.0);
    uri.path().trim_end_matches('/')
}

async fn list<R: LiveResource>(
    context: &Context<R>,
    records: &Records<R>,
    parts: &Parts,
) -> Result<Response, ApiError> {
    body::no_override(&parts.headers)?;
    let raw = parts.uri.query();
    let request = query::parse_list(R::DESCRIPTOR, raw, context.options.max_limit)?;
    let rows = records.list(&request.query).await?;
    // An empty page may be a partition whose parent does not exist, which is not a collection.
    if rows.is_empty() && !records.partition_exists().await? {
        return Err(ApiError::NotFound);
    }
    let exact = headers::prefers_exact_count(&parts.headers);
    let total = if exact {
        Some(records.count(&request.query.filters).await?)
    } else if rows.is_empty() && request.query.offset == 0 {
        Some(0)
    } else {
        None
    };
    let body = list_body(&rows, request.select.as_deref()).map_err(serialize_failed::<R>)?;
    let mut response = json_response(StatusCode::OK, body);
    let headers = response.headers_mut();
    let range = query::content_range(request.query.offset, rows.len(), total);
    // Digits, `-`, `/` and `*` only.
    if let Ok(value) = HeaderValue::try_from(range) {
        headers.insert(header::CONTENT_RANGE, value);
    }
    if exact {
        headers.insert(PREFERENCE_APPLIED, HeaderValue::from_static("count=exact"));
    }
    if let Some(links) = page_links(parts, raw, &request, rows.len()) {
        headers.insert(header::LINK, links);
    }
    Ok(response)
}

fn page_links(parts: &Parts, raw: Option<&str>, request: &ListRequest, returned: usize) -> Option<HeaderValue> {
    let links = query::page_links(collection_path(parts), raw, request, returned)?;
    HeaderValue::try_from(links).ok()
}

/// A JSON array of the values, each whole or reduced to the `select`ed columns in their order.
fn list_body<R: LiveResource>(rows: &[Stored<R>], select: Option<&[usize]>) -> Result<Vec<u8>, serde_json::Error> {
    let mut out = Vec::with_capacity(2 + rows.len() * 96);
    out.push(b'[');
    for (index, row) in rows.iter().enumerate() {
        if index > 0 {
            out.push(b',');
        }
        match select {
            None => serde_json::to_writer(&mut out, &row.value)?,
            Some(columns) => {
                let whole = serde_json::to_value(&row.value)?;
                out.push(b'{');
                for (position, &column) in columns.iter().enumerate() {
                    if position > 0 {
                        out.push(b',');
                    }
                    let field = R::DESCRIPTOR.columns[column].field;
                    serde_json::to_writer(&mut out, field)?;
                    out.push(b':');
                    serde_json::to_writer(&mut out, whole.get(field).unwrap_or(&Json::Null))?;
                }
                out.push(b'}');
            }
        }
    }
    out.push(b']');
    Ok(out)
}

async fn get<R: LiveResource>(records: &Records<R>, parts: &Parts, id: Value) -> Result<Response, ApiError> {
    body::no_override(&parts.headers)?;
    body::no_query(parts.uri.query(), false)?;
    let unless = headers::if_none_match(&parts.headers)?;
    let stored = records.get(id).await?;
    if unless.is_some_and(|condition| condition.matches(stored.version)) {
        let mut response = StatusCode::NOT_MODIFIED.into_response();
        response.headers_mut().insert(header::ETAG, headers::etag(stored.version));
        return Ok(response);
    }
    stored_response(StatusCode::OK, &stored)
}

/// The write options of a request: its `Live-Request-Id` as the change's origin.
fn write_of(parts: &Parts) -> Result<Write, ApiError> {
    Ok(Write { origin: headers::request_id(&parts.headers)?, if_version: None })
}

fn is_form(parts: &Parts) -> bool {
    parts.headers.get(header::CONTENT_TYPE).and_then(|value| value.to_str().ok()).is_some_and(|value| {
        value
            .split(';')
            .next()
            .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/x-www-form-urlencoded"))
    })
}

/// Settles the method a write stands for and reads its body. `serves` says which methods the
/// route has enabled; a refused method is answered before the body is read, unless only a form
/// body can tell which method it is.
async fn resolve_write(
    parts: &Parts,
    body: Body,
    limit: usize,
    allow: &HeaderValue,
    serves: impl Fn(&Method) -> bool,
) -> Result<(Method, Payload), ApiError> {
    let query = parts.uri.query();
    let named = body::override_method(&parts.method, &parts.headers, query, None)?;
    let form_may_name = named == Method::POST && parts.method == Method::POST && is_form(parts);
    if !form_may_name && !serves(&named) {
        return Err(not_allowed(&named, allow));
    }
    body::no_query(query, true)?;
    if named == Method::DELETE {
        // A delete's body means nothing; not reading it spares the limit and the parse.
        return Ok((named, Payload::Empty));
    }
    let (payload, form_method) = body::read(&parts.headers, body, limit).await?;
    let method = match form_method {
        Some(form) => body::override_method(&parts.method, &parts.headers, query, Some(&form))?,
        None => named,
    };
    if !serves(&method) {
        return Err(not_allowed(&method, allow));
    }
    Ok((method, payload))
}

async fn create<R: LiveResource>(
    context: &Context<R>,
    records: &Records<R>,
    parts: &Parts,
    body: Body,
) -> Result<Response, ApiError> {
    let allow_post = context.options.allow_post;
    let (_, payload) = resolve_write(parts, body, context.options.body_limit, &context.allow_collection, |method| {
        *method == Method::POST && allow_post
    })
    .await?;
    let write = write_of(parts)?;
    match body::parse_json(payload)? {
        Json::Array(items) => create_many(records, items, &write).await,
        item => {
            let mut fields = body::check_fields(R::DESCRIPTOR, item, "")?.writable;
            keys_from_path(records, &mut fields, "")?;
            let value = body::new_value::<R>(fields, "")?;
            let created = records.create(value, &write).await?;
            let mut response = committed_response(StatusCode::CREATED, &created);
            let location = format!("{}/{}", collection_path(parts), id_segment(&created.value));
            if let Ok(location) = HeaderValue::try_from(location) {
                response.headers_mut().insert(header::LOCATION, location);
            }
            Ok(response)
        }
    }
}

/// Creates every item of an array in one transaction; refusals name fields as `index.field`.
async fn create_many<R: LiveResource>(
    records: &Records<R>,
    items: Vec<Json>,
    write: &Write,
) -> Result<Response, ApiError> {
    let mut errors = ValidationErrors::new();
    let mut checked = Vec::with_capacity(items.len());
    for (index, item) in items.into_iter().enumerate() {
        let prefix = format!("{index}.");
        let fields = body::check_fields(R::DESCRIPTOR, item, &prefix).and_then(|fields| {
            let mut fields = fields.writable;
            keys_from_path(records, &mut fields, &prefix).map(|()| fields)
        });
        match fields {
            Ok(fields) => checked.push(fields),
            Err(ApiError::Validation(refused)) => {
                for (field, message) in refused.iter() {
                    errors.add(field, message);
                }
            }
            Err(other) => return Err(other),
        }
    }
    errors.into_result().map_err(ApiError::Validation)?;
    let values = checked
        .into_iter()
        .enumerate()
        .map(|(index, fields)| body::new_value::<R>(fields, &format!("{index}.")))
        .collect::<Result<Vec<R>, _>>()?;
    if values.is_empty() && !records.partition_exists().await? {
        return Err(ApiError::NotFound);
    }
    let created = if values.is_empty() { Vec::new() } else { records.create_many(values, write).await? };
    let mut body = Vec::with_capacity(2 + created.iter().map(|c| c.change.body.get().len() + 1).sum::<usize>());
    body.push(b'[');
    for (index, committed) in created.iter().enumerate() {
        if index > 0 {
            body.push(b',');
        }
        body.extend_from_slice(committed.change.body.get().as_bytes());
    }
    body.push(b']');
    Ok(json_response(StatusCode::CREATED, body))
}

/// Sets a create's partition keys from the path it was posted to; a body that names another
/// partition is refused on that field (as `prefix` + field).
fn keys_from_path<R: LiveResource>(
    records: &Records<R>,
    fields: &mut Map<String, Json>,
    prefix: &str,
) -> Result<(), ApiError> {
    let Some(keys) = records.partition_keys() else { return Ok(()) };
    let descriptor = R::DESCRIPTOR;
    let mut errors = ValidationErrors::new();
    for (&column, key) in descriptor.keys.iter().zip(keys) {
        let field = descriptor.columns[column].field;
        if fields.get(field).is_some_and(|given| !body::same_id(given, key)) {
            errors.add(format!("{prefix}{field}"), "does not match the path");
        }
        fields.insert(field.to_owned(), key_json(key));
    }
    errors.into_result().map_err(ApiError::Validation)
}

/// A partition key as its JSON value.
fn key_json(key: &Value) -> Json {
    match key {
        Value::Int(int) => Json::from(*int),
        Value::Uuid(uuid) => Json::from(uuid.to_string()),
        Value::Text(text) => Json::from(text.as_str()),
        _ => Json::Null,
    }
}

/// The id of a value as a URL path segment.
fn id_segment<R: LiveResource>(value: &R) -> String {
    match to_row(value).swap_remove(R::DESCRIPTOR.id) {
        Value::Int(id) => id.to_string(),
        Value::Uuid(id) => id.to_string(),
        Value::Text(id) => utf8_percent_encode(&id, NON_ALPHANUMERIC).to_string(),
        other => {
            tracing::warn!(resource = R::DESCRIPTOR.type_name, ?other, "an id of an unexpected type");
            String::new()
        }
    }
}

async fn write<R: LiveResource>(
    context: &Context<R>,
    records: &Records<R>,
    parts: &Parts,
    body: Body,
    id: Option<&str>,
) -> Result<Response, ApiError> {
    let options = &context.options;
    let (method, payload) =
        resolve_write(parts, body, options.body_limit, &context.allow_member, |method| match *method {
            Method::PUT => options.allow_put,
            Method::PATCH => options.allow_patch,
            Method::DELETE => options.allow_delete,
            _ => false,
        })
        .await?;
    let id = parse_id::<R>(id)?;
    let mut write = write_of(parts)?;
    let condition = headers::if_match(&parts.headers)?;
    if method == Method::DELETE {
        write.if_version = expected_version(records, &id, condition).await?;
        let deleted = records.delete(id, &write).await?;
        return Ok(committed_response(StatusCode::OK, &deleted));
    }
    let fields = body::check_fields(R::DESCRIPTOR, body::parse_json(payload)?, "")?;
    if fields.id.as_ref().is_some_and(|body_id| !body::same_id(body_id, &id)) {
        let mut errors = ValidationErrors::new();
        errors.add(R::DESCRIPTOR.id_column().field, "does not match the id in the URL");
        return Err(ApiError::Validation(errors));
    }
    write.if_version = expected_version(records, &id, condition).await?;
    let (change, merge) =
        if method == Method::PATCH { (ChangeMethod::Patch, true) } else { (ChangeMethod::Put, false) };
    let body_version = fields.version;
    let mut stale_body = false;
    let mut failure = None;
    let result = records
        .modify(id, change, &write, |current| {
            if body_version.is_some_and(|version| version != current.version) {
                stale_body = true;
                return Err(StoreError::VersionMismatch { current: current.version });
            }
            let value = changed::<R>(&current.value, fields.writable, merge);
            value.map_err(|error| {
                failure = Some(error);
                // Only a signal to roll back: `failure` says what to answer.
                StoreError::Invalid(ValidationErrors::new())
            })
        })
        .await;
    match (result, failure) {
        (_, Some(failure)) => Err(failure),
        (Ok(changed), None) => Ok(committed_response(StatusCode::OK, &changed)),
        (Err(error), None) => Err(ApiError::from_store(error, stale_body)),
    }
}

/// The value after a `PUT` (the body's writable fields over the current non-writable ones;
/// writable fields it leaves out take their defaults) or a `PATCH` (the body's fields over the
/// whole current value).
fn changed<R: LiveResource>(current: &R, body: Map<String, Json>, merge: bool) -> Result<R, ApiError> {
    let descriptor = R::DESCRIPTOR;
    let Json::Object(mut fields) = serde_json::to_value(current).map_err(serialize_failed::<R>)? else {
        tracing::error!(resource = descriptor.type_name, "a resource does not serialize as a JSON object");
        return Err(ApiError::Internal);
    };
    if !merge {
        for (index, column) in descriptor.columns.iter().enumerate() {
            // A partition key stays: it cannot change, so a `PUT` need not repeat it.
            if descriptor.is_client_writable(index) && !descriptor.keys.contains(&index) {
                fields.remove(column.field);
            }
        }
    }
    fields.extend(body);
    body::deserialize(fields, "")
}

/// The version a write must find, from its `If-Match`: one tag is checked by the store in the
/// write's transaction; several are checked against the current row, whose version the store
/// then checks again, so a change in between still fails.
async fn expected_version<R: LiveResource>(
    records: &Records<R>,
    id: &Value,
    condition: Option<Condition>,
) -> Result<Option<i64>, ApiError> {
    match condition {
        None | Some(Condition::Any) => Ok(None),
        Some(Condition::Versions(versions)) if versions.len() == 1 => Ok(versions.first().copied()),
        Some(condition) => {
            let current = records.get(id.clone()).await?.version;
            if condition.matches(current) {
                Ok(Some(current))
            } else {
                Err(ApiError::PreconditionFailed { current: Some(current) })
            }
        }
    }
}
