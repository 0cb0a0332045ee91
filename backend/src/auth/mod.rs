//! Who may call what: API keys (`X-API-Key`) ingest events; JWT bearer tokens read them, and
//! those with `"role": "admin"` also manage keys and delete events.
//!
//! Each is an axum extractor, so a handler states what it needs in its signature and a
//! request without it never reaches the handler.

pub mod api_key;
pub mod jwt;

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use crate::error::ApiError;
use crate::state::AppState;
use jwt::{Claims, JwtError, Role};

pub const API_KEY_HEADER: &str = "x-api-key";

/// The API key that sent the request.
#[derive(Debug, Clone, Copy)]
pub struct ApiKeyAuth {
    pub key_id: i64,
}

impl FromRequestParts<AppState> for ApiKeyAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let presented = parts
            .headers
            .get(API_KEY_HEADER)
            .and_then(|value| value.to_str().ok())
            .ok_or_else(ApiError::unauthorized)?;
        match api_key::authenticate(&state.pool, &state.api_keys_secret, presented).await? {
            Some(key_id) => Ok(Self { key_id }),
            None => Err(ApiError::unauthorized()),
        }
    }
}

/// Any valid bearer token: the dashboard's read access.
#[derive(Debug, Clone)]
pub struct Viewer(pub Claims);

impl FromRequestParts<AppState> for Viewer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        bearer_claims(parts, state).map(Self)
    }
}

/// A valid bearer token with `"role": "admin"`.
#[derive(Debug, Clone)]
pub struct Admin(pub Claims);

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let claims = bearer_claims(parts, state)?;
        match claims.role() {
            Role::Admin => Ok(Self(claims)),
            Role::Viewer => Err(ApiError::forbidden()),
        }
    }
}

fn bearer_claims(parts: &Parts, state: &AppState) -> Result<Claims, ApiError> {
    let token = parts
        .headers
        .get(AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(bearer_token)
        .ok_or_else(ApiError::unauthorized)?;
    jwt::verify(
        token,
        state.jwt_secret.expose(),
        chrono::Utc::now().timestamp(),
    )
    .map_err(|error| match error {
        JwtError::Expired => ApiError::token_expired(),
        JwtError::Invalid => ApiError::unauthorized(),
    })
}

/// The token in an `Authorization: Bearer <token>` header; the scheme is case-insensitive.
fn bearer_token(header: &str) -> Option<&str> {
    let (scheme, token) = header.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_header_parsing() {
        assert_eq!(bearer_token("Bearer abc.def.ghi"), Some("abc.def.ghi"));
        assert_eq!(bearer_token("bearer  abc "), Some("abc"));
        assert_eq!(bearer_token("Basic abc"), None);
        assert_eq!(bearer_token("Bearer "), None);
        assert_eq!(bearer_token("Bearer"), None);
    }
}
