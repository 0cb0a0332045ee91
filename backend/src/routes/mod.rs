//! The `/v1` API, one module per area, and the request parsing they share so that every bad
//! input gets the same error shape.

pub mod admin;
pub mod events;
pub mod stats;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequestParts, Query};
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::ApiError;
use crate::state::AppState;

/// The largest request body, in bytes. A full batch of small events is about 200 KiB; this
/// leaves room for big `properties` while bounding what one request can make the server hold.
pub const BODY_LIMIT_BYTES: usize = 4 * 1024 * 1024;

pub fn router() -> Router<AppState> {
    Router::new()
        .merge(events::router())
        .merge(stats::router())
        .merge(admin::router())
}

/// A JSON request body: checks the content type, maps the body limit to 413 and a syntax
/// error to 400, each with the API's error shape rather than axum's plain text.
pub fn json_body(
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Value, ApiError> {
    let is_json = headers
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .map(|essence| {
            let essence = essence.trim().to_ascii_lowercase();
            essence == "application/json"
                || (essence.starts_with("application/") && essence.ends_with("+json"))
        })
        .unwrap_or(false);
    if !is_json {
        return Err(ApiError::unsupported_media_type());
    }
    let body = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::payload_too_large(BODY_LIMIT_BYTES)
        } else {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "unreadable_body",
                format!("the request body could not be read: {rejection}"),
            )
        }
    })?;
    serde_json::from_slice(&body).map_err(ApiError::malformed_json)
}

/// Query-string parameters, with unknown ones refused (they are usually typos).
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned + Send> FromRequestParts<AppState> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(value)) => Ok(Self(value)),
            Err(rejection) => Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_parameter",
                rejection.body_text(),
            )),
        }
    }
}

/// An empty parameter (`?name=`) counts as absent: forms send those.
pub fn non_empty(value: Option<String>) -> Option<String> {
    value.filter(|value| !value.is_empty())
}

/// An optional RFC 3339 time parameter.
pub fn time_parameter(
    parameter: &str,
    value: Option<String>,
) -> Result<Option<DateTime<Utc>>, ApiError> {
    non_empty(value)
        .map(|value| {
            DateTime::parse_from_rfc3339(&value).map(|t| t.to_utc()).map_err(|error| {
                ApiError::invalid_parameter(
                    parameter,
                    format!(
                        "must be an RFC 3339 date-time such as 2025-01-31T12:00:00Z, with `+` encoded as %2B ({error})"
                    ),
                )
            })
        })
        .transpose()
}
