//! The API's one error shape: `{"error": {"code": "…", "message": "…"}}`, plus `field` when a
//! single input is to blame. Codes are stable for clients; messages are for people.

use axum::Json;
use axum::http::header::RETRY_AFTER;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub field: Option<String>,
    /// Sent as `Retry-After` (seconds) with 429 and 503: when trying again makes sense.
    pub retry_after_secs: Option<u64>,
}

/// What a client is told to wait before retrying after the database or the server was
/// unavailable: long enough not to hammer it, short enough to recover quickly.
pub const UNAVAILABLE_RETRY_AFTER_SECS: u64 = 1;

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            field: None,
            retry_after_secs: None,
        }
    }

    pub fn with_retry_after(mut self, seconds: u64) -> Self {
        self.retry_after_secs = Some(seconds.max(1));
        self
    }

    fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    /// A missing or wrong credential. Always the same message, so that a caller learns
    /// nothing about which part was wrong.
    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "missing or invalid credentials",
        )
    }

    pub fn token_expired() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "token_expired",
            "the bearer token has expired: sign in again",
        )
    }

    pub fn forbidden() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "this token's role may not use this endpoint",
        )
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn malformed_json(detail: impl std::fmt::Display) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "malformed_json",
            format!("the request body is not valid JSON: {detail}"),
        )
    }

    pub fn unsupported_media_type() -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "the request body must be JSON, sent with `Content-Type: application/json`",
        )
    }

    pub fn payload_too_large(limit_bytes: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!(
                "the request body is larger than {limit_bytes} bytes: send fewer events per request"
            ),
        )
    }

    /// A body field that is present but wrong: bad type, length or format.
    pub fn invalid_field(field: impl Into<String>, problem: impl std::fmt::Display) -> Self {
        let field = field.into();
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            format!("`{field}` {problem}"),
        )
        .with_field(field)
    }

    pub fn missing_field(field: impl Into<String>) -> Self {
        let field = field.into();
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "missing_field",
            format!("`{field}` is required"),
        )
        .with_field(field)
    }

    pub fn unknown_field(field: impl Into<String>, allowed: &str) -> Self {
        let field = field.into();
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown_field",
            format!("`{field}` is not a known field (allowed: {allowed})"),
        )
        .with_field(field)
    }

    /// A query-string parameter that is wrong.
    pub fn invalid_parameter(
        parameter: impl Into<String>,
        problem: impl std::fmt::Display,
    ) -> Self {
        let parameter = parameter.into();
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_parameter",
            format!("`{parameter}` {problem}"),
        )
        .with_field(parameter)
    }

    /// PostgreSQL didn't answer in time, or the connection broke: the client may retry.
    pub fn database_unavailable() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "database_unavailable",
            "the database is unavailable: retry later",
        )
        .with_retry_after(UNAVAILABLE_RETRY_AFTER_SECS)
    }

    /// The request ran longer than `REQUEST_TIMEOUT_SECS`.
    pub fn request_timeout(limit: std::time::Duration) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "request_timeout",
            format!(
                "the request did not finish within {} s: retry later",
                limit.as_secs()
            ),
        )
        .with_retry_after(UNAVAILABLE_RETRY_AFTER_SECS)
    }

    /// More requests in flight than `MAX_IN_FLIGHT_REQUESTS`: shed before they queue.
    pub fn overloaded() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "overloaded",
            "the server is handling too many requests: retry later",
        )
        .with_retry_after(UNAVAILABLE_RETRY_AFTER_SECS)
    }

    /// This API key sent more than its rate allows.
    pub fn rate_limited(retry_after_secs: u64) -> Self {
        Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "this API key is sending too many requests: wait for `Retry-After` seconds, or send bigger batches",
        )
        .with_retry_after(retry_after_secs)
    }

    /// Something on our side failed. The details go to the log, never to the client.
    pub fn internal(error: &(dyn std::error::Error + 'static)) -> Self {
        tracing::error!(error = %ErrorChain(error), "request failed");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error: see the server log for this request id",
        )
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(error: sqlx::Error) -> Self {
        if is_unavailable(&error) {
            tracing::warn!(error = %ErrorChain(&error), "database unavailable");
            Self::database_unavailable()
        } else {
            Self::internal(&error)
        }
    }
}

/// Whether a database error says "PostgreSQL is away, restarting, overloaded or too slow"
/// rather than "this request is wrong": those are worth a retry, so they answer 503.
pub fn is_unavailable(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_) => true,
        sqlx::Error::Database(database) => database
            .code()
            .is_some_and(|code| is_unavailable_sqlstate(&code)),
        _ => false,
    }
}

/// SQLSTATEs of a connection that failed or of a server that can't serve now.
fn is_unavailable_sqlstate(code: &str) -> bool {
    // 08: connection exceptions. 57P01-57P03: admin shutdown, crash shutdown, cannot connect
    // now (starting up). 57014: cancelled by `statement_timeout`. 55P03: lock not available.
    // 53300: too many connections.
    code.starts_with("08")
        || matches!(
            code,
            "57P01" | "57P02" | "57P03" | "57014" | "55P03" | "53300"
        )
}

/// Every error response's body.
#[derive(Serialize, ToSchema)]
#[schema(
    as = Error,
    example = json!({"error": {"code": "invalid_field", "message": "`events[3].name` must be 1 to 200 characters (got 0)", "field": "events[3].name"}})
)]
pub struct Body<'a> {
    error: Detail<'a>,
}

#[derive(Serialize, ToSchema)]
#[schema(as = ErrorDetail)]
pub struct Detail<'a> {
    /// Stable, for programs: `unauthorized`, `invalid_field`, `database_unavailable`, …
    code: &'a str,
    /// For people: what is wrong and how to fix it.
    message: &'a str,
    /// The one input to blame, when there is one: `events[3].name`, `cursor`.
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Body {
            error: Detail {
                code: self.code,
                message: &self.message,
                field: self.field.as_deref(),
            },
        };
        let mut response = (self.status, Json(body)).into_response();
        if let Some(seconds) = self.retry_after_secs {
            response
                .headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

/// Formats an error with its sources, `outer: inner: innermost`, on one line.
pub struct ErrorChain<'a>(pub &'a (dyn std::error::Error + 'static));

impl std::fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(error) = source {
            write!(f, ": {error}")?;
            source = error.source();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_class_errors_are_unavailable() {
        for code in [
            "08006", "08001", "57P01", "57P02", "57P03", "57014", "55P03", "53300",
        ] {
            assert!(is_unavailable_sqlstate(code), "{code}");
        }
        for code in ["23505", "22008", "42P01", "XX000", "57000"] {
            assert!(!is_unavailable_sqlstate(code), "{code}");
        }
        assert!(is_unavailable(&sqlx::Error::PoolTimedOut));
        assert!(is_unavailable(&sqlx::Error::Io(std::io::Error::from(
            std::io::ErrorKind::ConnectionReset
        ))));
        assert!(!is_unavailable(&sqlx::Error::RowNotFound));
    }

    #[test]
    fn unavailable_answers_carry_retry_after() {
        let response = ApiError::from(sqlx::Error::PoolTimedOut).into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[RETRY_AFTER], "1");
        let response = ApiError::rate_limited(3).into_response();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()[RETRY_AFTER], "3");
        let response = ApiError::not_found("x").into_response();
        assert!(response.headers().get(RETRY_AFTER).is_none());
    }

    #[test]
    fn body_shape() {
        let error = ApiError::invalid_field("events[2].name", "must be 1 to 200 characters");
        let body = serde_json::to_value(Body {
            error: Detail {
                code: error.code,
                message: &error.message,
                field: error.field.as_deref(),
            },
        })
        .unwrap();
        assert_eq!(
            body,
            serde_json::json!({"error": {
                "code": "invalid_field",
                "message": "`events[2].name` must be 1 to 200 characters",
                "field": "events[2].name",
            }})
        );
    }
}
