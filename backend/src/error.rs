//! The API's one error shape: `{"error": {"code": "…", "message": "…"}}`, plus `field` when a
//! single input is to blame. Codes are stable for clients; messages are for people.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub field: Option<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            field: None,
        }
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

    /// PostgreSQL didn't answer in time: the client may retry.
    pub fn database_unavailable() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "database_unavailable",
            "the database is unavailable: retry later",
        )
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
        match error {
            sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) => {
                tracing::warn!(error = %ErrorChain(&error), "database unavailable");
                Self::database_unavailable()
            }
            other => Self::internal(&other),
        }
    }
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
        (self.status, Json(body)).into_response()
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
