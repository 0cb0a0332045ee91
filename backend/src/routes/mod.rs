//! The `/v1` API, one module per area, and the request parsing they share so that every bad
//! input gets the same error shape.

pub mod admin;
pub mod events;
pub mod stats;

use std::time::Duration;

use axum::Router;
use axum::body::{Body, HttpBody};
use axum::extract::{FromRequestParts, Query};
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use chrono::{DateTime, Utc};
use http_body_util::BodyExt;
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

/// A JSON request body: checks the content type, the size (413) and the syntax (400), each
/// answered in the API's error shape rather than axum's plain text.
pub async fn json_body(headers: &HeaderMap, body: Body) -> Result<Value, ApiError> {
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
        drain(body, 0).await;
        return Err(ApiError::unsupported_media_type());
    }
    let bytes = read_limited(body).await?;
    serde_json::from_slice(&bytes).map_err(ApiError::malformed_json)
}

/// Past the limit, the rest of a body is still read, up to this much in all, and discarded.
/// A server that answers 413 before the client has finished sending closes a connection with
/// unread data, which resets it: the client, or a proxy in between (which then answers 502),
/// loses the 413. Beyond this, or [`DRAIN_TIMEOUT`], the connection is closed after all.
const DRAIN_LIMIT_BYTES: usize = 4 * BODY_LIMIT_BYTES;
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// The body, if it is at most [`BODY_LIMIT_BYTES`].
async fn read_limited(mut body: Body) -> Result<Vec<u8>, ApiError> {
    let too_large = || ApiError::payload_too_large(BODY_LIMIT_BYTES);
    let declared = usize::try_from(body.size_hint().lower()).unwrap_or(usize::MAX);
    if declared > BODY_LIMIT_BYTES {
        drain(body, 0).await;
        return Err(too_large());
    }
    let mut bytes = Vec::with_capacity(declared);
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|error| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "unreadable_body",
                format!("the request body could not be read: {error}"),
            )
        })?;
        if let Ok(data) = frame.into_data() {
            if bytes.len() + data.len() > BODY_LIMIT_BYTES {
                drain(body, bytes.len() + data.len()).await;
                return Err(too_large());
            }
            bytes.extend_from_slice(&data);
        }
    }
    Ok(bytes)
}

/// Reads and discards the rest of a body that won't be used, within the drain bounds.
async fn drain(mut body: Body, already_read: usize) {
    let declared = usize::try_from(body.size_hint().lower()).unwrap_or(usize::MAX);
    if already_read.saturating_add(declared) > DRAIN_LIMIT_BYTES {
        return;
    }
    let discard = async {
        let mut read = already_read;
        while let Some(Ok(frame)) = body.frame().await {
            read += frame.data_ref().map_or(0, |data| data.len());
            if read > DRAIN_LIMIT_BYTES {
                return;
            }
        }
    };
    let _ = tokio::time::timeout(DRAIN_TIMEOUT, discard).await;
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

/// An optional text parameter compared with stored text. PostgreSQL's text cannot hold U+0000,
/// so such a value could match nothing and would fail the query instead.
pub fn text_parameter(parameter: &str, value: Option<String>) -> Result<Option<String>, ApiError> {
    match non_empty(value) {
        Some(value) if value.contains('\0') => Err(ApiError::invalid_parameter(
            parameter,
            "must not contain the character U+0000",
        )),
        value => Ok(value),
    }
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
