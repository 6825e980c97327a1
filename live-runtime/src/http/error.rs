//! The one error shape of the REST layer.
//!
//! Every failure a handler can meet, whether bad input, a store error or a method the route does
//! not serve, becomes an [`ApiError`], answered as
//! `{"error": {"code": "...", "message": "...", "fields": {...}}}`. Server-side failures are
//! logged with `tracing` and reach the client only as a generic message, so that SQL text or
//! connection details never leak.

use std::borrow::Cow;

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use serde::Serialize;

use crate::resource::ValidationErrors;
use crate::store::StoreError;

/// Seconds a client is asked to wait before retrying when the database is unavailable.
const RETRY_AFTER_SECONDS: &str = "1";

/// A REST request that failed, as the client sees it.
///
/// Built from bad input by the handlers and from [`StoreError`] with [`ApiError::from_store`]
/// (or `From`, which reads a version mismatch as a stale `If-Match`).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// 400: a malformed body, query, id or header.
    #[error("{message}")]
    BadRequest {
        /// A machine-readable code, for example `malformed_json` or `invalid_query`.
        code: &'static str,
        /// What is wrong, for a human.
        message: Cow<'static, str>,
    },
    /// 404: no row has that id.
    #[error("not found")]
    NotFound,
    /// 405: the route does not serve this method; `allow` lists the ones it does.
    #[error("method {method} is not allowed here")]
    MethodNotAllowed {
        /// The refused method.
        method: String,
        /// The `Allow` header value.
        allow: HeaderValue,
    },
    /// 409: the body carries a version that is not the row's.
    #[error("the row is at version {current}")]
    VersionConflict {
        /// The row's current version.
        current: i64,
    },
    /// 409: a unique constraint refused the write.
    #[error("conflict: {0}")]
    Conflict(String),
    /// 412: the `If-Match` header names no current version of the row.
    #[error("If-Match names no current version of the row")]
    PreconditionFailed {
        /// The row's current version, when known.
        current: Option<i64>,
    },
    /// 413: the body is over the configured limit.
    #[error("the body is larger than {limit} bytes")]
    PayloadTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// 415: a write with a body that is neither JSON nor a form.
    #[error("unsupported content type {0:?}: send application/json or application/x-www-form-urlencoded")]
    UnsupportedMediaType(String),
    /// 422: the value was refused, per field.
    #[error("invalid value: {0}")]
    Validation(ValidationErrors),
    /// 422: the value was refused as a whole (no single field to blame).
    #[error("{0}")]
    Unprocessable(String),
    /// 503: the database cannot be reached now; the client may retry.
    #[error("service unavailable")]
    Unavailable,
    /// 500: a server-side failure, already logged.
    #[error("internal server error")]
    Internal,
}

impl ApiError {
    /// A 400 with a code and message.
    pub fn bad_request(code: &'static str, message: impl Into<Cow<'static, str>>) -> Self {
        ApiError::BadRequest { code, message: message.into() }
    }

    /// Maps a store error. `body_version` says whether a [`StoreError::VersionMismatch`] comes
    /// from a version the client put in the body (409) rather than from `If-Match` (412).
    pub fn from_store(error: StoreError, body_version: bool) -> Self {
        match error {
            StoreError::NotFound => ApiError::NotFound,
            StoreError::VersionMismatch { current } if body_version => ApiError::VersionConflict { current },
            StoreError::VersionMismatch { current } => ApiError::PreconditionFailed { current: Some(current) },
            StoreError::Invalid(errors) => ApiError::Validation(errors),
            StoreError::Conflict(detail) => ApiError::Conflict(detail),
            StoreError::Unavailable(source) => {
                tracing::warn!(error = %source, "database unavailable");
                ApiError::Unavailable
            }
            other => {
                tracing::error!(error = %other, "store failure while serving a request");
                ApiError::Internal
            }
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::VersionConflict { .. } | ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::PreconditionFailed { .. } => StatusCode::PRECONDITION_FAILED,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Validation(_) | ApiError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The machine-readable `code` of the JSON body.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest { code, .. } => code,
            ApiError::NotFound => "not_found",
            ApiError::MethodNotAllowed { .. } => "method_not_allowed",
            ApiError::VersionConflict { .. } => "version_conflict",
            ApiError::Conflict(_) => "conflict",
            ApiError::PreconditionFailed { .. } => "precondition_failed",
            ApiError::PayloadTooLarge { .. } => "payload_too_large",
            ApiError::UnsupportedMediaType(_) => "unsupported_media_type",
            ApiError::Validation(_) | ApiError::Unprocessable(_) => "validation",
            ApiError::Unavailable => "unavailable",
            ApiError::Internal => "internal",
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        ApiError::from_store(error, false)
    }
}

#[derive(Serialize)]
struct Envelope<'a> {
    error: Detail<'a>,
}

#[derive(Serialize)]
struct Detail<'a> {
    code: &'static str,
    message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    fields: Option<&'a ValidationErrors>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let fields = match &self {
            ApiError::Validation(errors) => Some(errors),
            _ => None,
        };
        let envelope = Envelope { error: Detail { code: self.code(), message: self.to_string(), fields } };
        // Serializing strings and a string map cannot fail; the fallback keeps the shape anyway.
        let body = serde_json::to_vec(&envelope)
            .unwrap_or_else(|_| br#"{"error":{"code":"internal","message":"internal server error"}}"#.to_vec());
        let mut response = Response::new(Body::from(body));
        *response.status_mut() = self.status();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        match &self {
            ApiError::MethodNotAllowed { allow, .. } => {
                headers.insert(header::ALLOW, allow.clone());
            }
            ApiError::Unavailable => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static(RETRY_AFTER_SECONDS));
            }
            ApiError::PreconditionFailed { current: Some(current) } | ApiError::VersionConflict { current } => {
                if let Ok(value) = HeaderValue::try_from(format!("\"{current}\"")) {
                    headers.insert(header::ETAG, value);
                }
            }
            _ => {}
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    async fn json_of(error: ApiError) -> (StatusCode, http::HeaderMap, serde_json::Value) {
        let response = error.into_response();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.expect("body").to_bytes();
        (status, headers, serde_json::from_slice(&bytes).expect("json"))
    }

    #[tokio::test]
    async fn validation_errors_carry_fields() {
        let mut errors = ValidationErrors::new();
        errors.add("title", "expected a string");
        let (status, _, body) = json_of(ApiError::Validation(errors)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(body["error"]["code"], "validation");
        assert_eq!(body["error"]["fields"]["title"], "expected a string");
    }

    #[tokio::test]
    async fn other_errors_have_no_fields() {
        let (status, _, body) = json_of(ApiError::bad_request("invalid_query", "limit must be a number")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["error"]["code"], "invalid_query");
        assert_eq!(body["error"]["message"], "limit must be a number");
        assert!(body["error"].get("fields").is_none());
    }

    #[tokio::test]
    async fn server_errors_hide_details() {
        let error = StoreError::Schema { table: "todos".into(), detail: "secret column layout".into() };
        let (status, _, body) = json_of(ApiError::from(error)).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!body.to_string().contains("secret"));
    }

    #[tokio::test]
    async fn version_mismatch_is_412_or_409() {
        let (status, headers, _) =
            json_of(ApiError::from_store(StoreError::VersionMismatch { current: 3 }, false)).await;
        assert_eq!(status, StatusCode::PRECONDITION_FAILED);
        assert_eq!(headers[header::ETAG], "\"3\"");
        let (status, _, body) = json_of(ApiError::from_store(StoreError::VersionMismatch { current: 3 }, true)).await;
        assert_eq!(status, StatusCode::CONFLICT);
        assert_eq!(body["error"]["code"], "version_conflict");
    }

    #[tokio::test]
    async fn method_not_allowed_lists_allowed_methods() {
        let error =
            ApiError::MethodNotAllowed { method: "PUT".into(), allow: HeaderValue::from_static("GET, HEAD, OPTIONS") };
        let (status, headers, _) = json_of(error).await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(headers[header::ALLOW], "GET, HEAD, OPTIONS");
    }

    #[tokio::test]
    async fn unavailable_asks_to_retry() {
        let (status, headers, _) = json_of(ApiError::Unavailable).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(headers.contains_key(header::RETRY_AFTER));
    }
}
