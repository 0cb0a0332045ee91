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

use super::{ApiQuery, json_body, non_empty};
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

#[derive(Debug, Serialize)]
struct CreatedKey {
    id: String,
    name: String,
    /// Shown once: only its hash is stored.
    key: String,
    #[serde(serialize_with = "crate::events::rfc3339")]
    created_at: DateTime<Utc>,
}

async fn create_api_key(
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

async fn delete_api_key(
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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DeleteEventsQuery {
    user_id: Option<String>,
}

#[derive(Debug, Serialize)]
struct Deleted {
    deleted: u64,
}

async fn delete_events(
    State(state): State<AppState>,
    _admin: Admin,
    ApiQuery(query): ApiQuery<DeleteEventsQuery>,
) -> Result<Json<Deleted>, ApiError> {
    // Required, so that a forgotten parameter can never mean "delete everything".
    let user_id = non_empty(query.user_id).ok_or_else(|| {
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
