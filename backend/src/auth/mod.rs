//! Who may call what: API keys (`X-API-Key`) ingest events; JWT bearer tokens read them; the
//! admin API (manage keys, delete events) is off unless `ADMIN_API_TOKEN` is set, and then
//! takes that token only — a dashboard token, whatever its role, never reaches it.
//!
//! Each is an axum extractor, so a handler states what it needs in its signature and a
//! request without it never reaches the handler.

pub mod api_key;
pub mod jwt;

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::config::Secret;
use crate::error::ApiError;
use crate::rate_limit::retry_after_secs;
use crate::state::AppState;
use jwt::{Claims, JwtError};

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
        let Some(key_id) =
            api_key::authenticate(&state.pool, &state.api_keys_secret, presented).await?
        else {
            return Err(ApiError::unauthorized());
        };
        state
            .rate_limiter
            .check(key_id)
            .map_err(|wait| ApiError::rate_limited(retry_after_secs(wait)))?;
        Ok(Self { key_id })
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

/// `Authorization: Bearer <ADMIN_API_TOKEN>`. With no `ADMIN_API_TOKEN` configured the admin
/// API does not exist: 404, as for any unknown path.
#[derive(Debug, Clone, Copy)]
pub struct Admin;

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Some(expected) = &state.admin_token else {
            return Err(ApiError::not_found("no such endpoint"));
        };
        let presented = presented_bearer(parts).ok_or_else(ApiError::unauthorized)?;
        if is_admin_token(expected, presented) {
            Ok(Self)
        } else {
            Err(ApiError::unauthorized())
        }
    }
}

/// Compares digests, in constant time: neither the token's length nor its prefix leaks
/// through timing.
fn is_admin_token(expected: &Secret, presented: &str) -> bool {
    let expected = Sha256::digest(expected.expose());
    let presented = Sha256::digest(presented.as_bytes());
    expected.ct_eq(&presented).into()
}

fn presented_bearer(parts: &Parts) -> Option<&str> {
    parts
        .headers
        .get(AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(bearer_token)
}

fn bearer_claims(parts: &Parts, state: &AppState) -> Result<Claims, ApiError> {
    let token = presented_bearer(parts).ok_or_else(ApiError::unauthorized)?;
    jwt::verify(
        token,
        state.jwt_secret.expose(),
        &state.tokens,
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

    #[test]
    fn admin_token_comparison() {
        let expected = Secret::new("admin-token-admin-token-admin-token-01");
        assert!(is_admin_token(
            &expected,
            "admin-token-admin-token-admin-token-01"
        ));
        assert!(!is_admin_token(
            &expected,
            "admin-token-admin-token-admin-token-02"
        ));
        assert!(!is_admin_token(&expected, "admin-token"));
        assert!(!is_admin_token(&expected, ""));
    }
}
