//! The admin API (`ADMIN_API_TOKEN`; off without it): manage API keys and delete a user's
//! events. The end-to-end suite uses it to set up and clean up through the public URL only.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{delete, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use super::{ApiQuery, json_body, text_parameter};
use crate::auth::{Admin, api_key};
use crate::error::ApiError;
use crate::events::store;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/admin/api-keys", post(create_api_key))
        .route("/v1/admin/api-keys/{id}", delete(delete_api_key))
        .route("/v1/admin/events", delete(delete_events))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedKey {
    id: String,
    name: String,
    /// Shown once: only its hash is stored.
    #[schema(example = "efk_…")]
    key: String,
    #[serde(serialize_with = "crate::events::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    created_at: DateTime<Utc>,
}

// Checked by `key_name`; this type describes the body for the API document.
/// A new API key.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct NewApiKey {
    /// What the key is for, e.g. the app that sends events with it; no control characters.
    #[schema(min_length = 1, max_length = 200, example = "ios-app")]
    name: String,
}

/// Create an API key; the key is in this answer only.
#[utoipa::path(
    post,
    path = "/v1/admin/api-keys",
    tag = "admin",
    security(("admin_token" = [])),
    request_body(content = NewApiKey, content_type = "application/json"),
    responses(
        (status = 201, description = "Created", body = CreatedKey),
        (status = 400, description = "`malformed_json`: the body is not JSON", body = crate::error::Body),
        (status = 401, description = "`unauthorized` or `token_expired`", body = crate::error::Body),
        (status = 403, description = "`forbidden`: the token's role is not `admin`", body = crate::error::Body),
        (status = 413, description = "`payload_too_large`: the body is over 4 MiB", body = crate::error::Body),
        (status = 415, description = "`unsupported_media_type`: the body is not `application/json`", body = crate::error::Body),
        (status = 422, description = "`invalid_field`, `missing_field`, `unknown_field`: the named field is wrong", body = crate::error::Body),
        (status = 503, description = "`database_unavailable`: retry", body = crate::error::Body),
    )
)]
pub async fn create_api_key(
    State(state): State<AppState>,
    _admin: Admin,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<CreatedKey>), ApiError> {
    let name = key_name(&json_body(&headers, body).await?)?;
    let (record, key) = api_key::create(&state.pool, &state.api_keys_secret, &name).await?;
    tracing::info!(api_key_id = record.id, name = %record.name, "API key created");
    let created = CreatedKey {
        id: record.id.to_string(),
        name: record.name,
        key,
        created_at: record.created_at,
    };
    Ok((StatusCode::CREATED, Json(created)))
}

fn key_name(body: &Value) -> Result<String, ApiError> {
    let Value::Object(object) = body else {
        return Err(ApiError::invalid_field(
            "body",
            "must be an object such as {\"name\": \"ios-app\"}",
        ));
    };
    if let Some(unknown) = object.keys().find(|key| *key != "name") {
        return Err(ApiError::unknown_field(unknown.as_str(), "`name`"));
    }
    match object.get("name") {
        None | Some(Value::Null) => Err(ApiError::missing_field("name")),
        Some(Value::String(name)) => {
            api_key::validate_name(name)
                .map_err(|problem| ApiError::invalid_field("name", problem))?;
            Ok(name.clone())
        }
        Some(_) => Err(ApiError::invalid_field("name", "must be a string")),
    }
}

/// Delete an API key: requests with it are refused from now on.
#[utoipa::path(
    delete,
    path = "/v1/admin/api-keys/{id}",
    tag = "admin",
    security(("admin_token" = [])),
    params(("id" = String, Path, description = "The key's `id`, as `POST /v1/admin/api-keys` answered it")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "`unauthorized` or `token_expired`", body = crate::error::Body),
        (status = 403, description = "`forbidden`: the token's role is not `admin`", body = crate::error::Body),
        (status = 404, description = "`not_found`: there is no such key", body = crate::error::Body),
        (status = 503, description = "`database_unavailable`: retry", body = crate::error::Body),
    )
)]
pub async fn delete_api_key(
    State(state): State<AppState>,
    _admin: Admin,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let not_found = || ApiError::not_found(format!("there is no API key with id `{id}`"));
    let key_id: i64 = id.parse().map_err(|_| not_found())?;
    if !api_key::delete(&state.pool, key_id).await? {
        return Err(not_found());
    }
    tracing::info!(api_key_id = key_id, "API key deleted");
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DeleteEventsQuery {
    /// Whose events to delete. Required, so that a forgotten parameter can never mean
    /// "delete everything".
    #[param(required = true, value_type = String, min_length = 1)]
    user_id: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Deleted {
    /// How many events were deleted.
    deleted: u64,
}

/// Delete every event of one user.
#[utoipa::path(
    delete,
    path = "/v1/admin/events",
    tag = "admin",
    security(("admin_token" = [])),
    params(DeleteEventsQuery),
    responses(
        (status = 200, description = "Deleted", body = Deleted),
        (status = 400, description = "`invalid_parameter`: `user_id` is missing, or a parameter is unknown", body = crate::error::Body),
        (status = 401, description = "`unauthorized` or `token_expired`", body = crate::error::Body),
        (status = 403, description = "`forbidden`: the token's role is not `admin`", body = crate::error::Body),
        (status = 503, description = "`database_unavailable`: retry", body = crate::error::Body),
    )
)]
pub async fn delete_events(
    State(state): State<AppState>,
    _admin: Admin,
    ApiQuery(query): ApiQuery<DeleteEventsQuery>,
) -> Result<Json<Deleted>, ApiError> {
    // Required, so that a forgotten parameter can never mean "delete everything".
    let user_id = text_parameter("user_id", query.user_id)?.ok_or_else(|| {
        ApiError::invalid_parameter("user_id", "is required: whose events to delete")
    })?;
    let deleted = store::delete_by_user(&state.pool, &user_id).await?;
    tracing::info!(deleted, "events deleted by user id");
    Ok(Json(Deleted { deleted }))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn key_names() {
        assert_eq!(key_name(&json!({"name": "ios"})).unwrap(), "ios");
        assert_eq!(key_name(&json!({})).unwrap_err().code, "missing_field");
        assert_eq!(
            key_name(&json!({"name": ""})).unwrap_err().code,
            "invalid_field"
        );
        assert_eq!(
            key_name(&json!({"name": 1})).unwrap_err().code,
            "invalid_field"
        );
        assert_eq!(
            key_name(&json!({"name": "a", "scope": "all"}))
                .unwrap_err()
                .code,
            "unknown_field"
        );
        assert_eq!(key_name(&json!(["a"])).unwrap_err().code, "invalid_field");
    }
}
