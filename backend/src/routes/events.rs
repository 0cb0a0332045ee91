//! `POST /v1/events` (API key) ingests; `GET /v1/events` (bearer token) reads back.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use super::{ApiQuery, json_body, non_empty, text_parameter, time_parameter};
use crate::auth::{ApiKeyAuth, Viewer};
use crate::error::ApiError;
use crate::events::cursor::Cursor;
use crate::events::store::{self, ListFilter};
use crate::events::{StoredEvent, validate};
use crate::state::AppState;

pub const DEFAULT_LIMIT: i64 = 50;
pub const MAX_LIMIT: i64 = 500;

pub fn router() -> Router<AppState> {
    Router::new().route("/v1/events", post(ingest).get(list))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Accepted {
    /// How many events were stored.
    accepted: u64,
}

// The body is checked by `validate::parse_body`; this type describes it for the API document,
// and a test in `openapi` holds its limits to the validator's.
/// One event as a client sends it. Text may not contain U+0000.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewEvent)]
#[allow(dead_code)]
pub struct EventInput {
    #[schema(min_length = 1, max_length = 200, example = "signup")]
    name: String,
    /// RFC 3339; default: the time of receipt.
    #[schema(value_type = Option<String>, format = DateTime)]
    timestamp: Option<String>,
    #[schema(min_length = 1, max_length = 200)]
    user_id: Option<String>,
    /// At most 32 KiB as compact JSON; default `{}`.
    #[schema(value_type = Option<Object>)]
    properties: Option<Value>,
}

/// 1 to 1,000 events, stored all or none.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct EventBatch {
    #[schema(min_items = 1, max_items = 1000)]
    events: Vec<EventInput>,
}

/// One event, or a batch.
#[derive(Deserialize, ToSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub enum IngestBody {
    Event(EventInput),
    Batch(EventBatch),
}

/// Ingest one event or a batch.
///
/// The whole body is validated before anything is written; a batch is one statement, so
/// all its events are stored or none.
#[utoipa::path(
    post,
    path = "/v1/events",
    tag = "events",
    security(("api_key" = [])),
    request_body(content = IngestBody, content_type = "application/json"),
    responses(
        (status = 202, description = "Stored", body = Accepted),
        (status = 400, description = "`malformed_json`: the body is not JSON", body = crate::error::Body),
        (status = 401, description = "`unauthorized`: missing or wrong API key", body = crate::error::Body),
        (status = 413, description = "`payload_too_large`: the body is over 4 MiB", body = crate::error::Body),
        (status = 415, description = "`unsupported_media_type`: the body is not `application/json`", body = crate::error::Body),
        (status = 422, description = "`invalid_field`, `missing_field`, `unknown_field`: the named field is wrong", body = crate::error::Body),
        (status = 429, description = "`rate_limited`: this key sent more than its rate; retry after `Retry-After` seconds", body = crate::error::Body),
        (status = 503, description = "`database_unavailable`, `overloaded` or `request_timeout`: retry after `Retry-After` seconds", body = crate::error::Body),
    )
)]
pub async fn ingest(
    State(state): State<AppState>,
    key: ApiKeyAuth,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    let body = json_body(&headers, body).await?;
    // Everything is validated before the single write.
    let window = validate::TimestampWindow::from_limits(&state.limits);
    let events = validate::parse_body(&body, Utc::now(), &window)?;
    let accepted = store::insert_batch(&state.pool, key.key_id, &events).await?;
    state.metrics.events_ingested.inc_by(accepted);
    // The deploy's bake counts these lines (a log metric filter, `EventsAccepted`) to see that
    // ingestion goes on after a shift: keep the message and the field's name.
    tracing::info!(accepted, "events accepted");
    Ok((StatusCode::ACCEPTED, Json(Accepted { accepted })))
}

/// Unknown parameters are refused; an empty one counts as absent.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only events with exactly this name.
    #[param(max_length = 200)]
    name: Option<String>,
    /// Inclusive, RFC 3339 (encode `+` as `%2B`).
    #[param(value_type = Option<String>, format = DateTime)]
    from: Option<String>,
    /// Exclusive, RFC 3339.
    #[param(value_type = Option<String>, format = DateTime)]
    to: Option<String>,
    /// Events per page, default 50.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 500)]
    limit: Option<String>,
    /// A previous page's `next_cursor`, unchanged.
    cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Page {
    /// Newest first, by `timestamp` then `id`.
    events: Vec<StoredEvent>,
    /// Pass it back as `cursor` for the next page; `null` on the last page.
    next_cursor: Option<String>,
}

/// Read events back, newest first, a page at a time.
#[utoipa::path(
    get,
    path = "/v1/events",
    tag = "events",
    security(("bearer" = [])),
    params(ListQuery),
    responses(
        (status = 200, description = "A page of events", body = Page),
        (status = 400, description = "`invalid_parameter`: the named parameter is wrong or unknown", body = crate::error::Body),
        (status = 401, description = "`unauthorized` or `token_expired`", body = crate::error::Body),
        (status = 503, description = "`database_unavailable`: retry", body = crate::error::Body),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    _viewer: Viewer,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<Page>, ApiError> {
    let filter = list_filter(query)?;
    let (events, next) = store::list(&state.pool, &filter).await?;
    Ok(Json(Page {
        events,
        next_cursor: next.map(|cursor| cursor.encode()),
    }))
}

fn list_filter(query: ListQuery) -> Result<ListFilter, ApiError> {
    let limit = match non_empty(query.limit) {
        None => DEFAULT_LIMIT,
        Some(limit) => limit
            .parse::<i64>()
            .ok()
            .filter(|limit| (1..=MAX_LIMIT).contains(limit))
            .ok_or_else(|| {
                ApiError::invalid_parameter(
                    "limit",
                    format!("must be a whole number from 1 to {MAX_LIMIT}"),
                )
            })?,
    };
    let after = non_empty(query.cursor)
        .map(|cursor| {
            Cursor::decode(&cursor).ok_or_else(|| {
                ApiError::invalid_parameter(
                    "cursor",
                    "is not a cursor this API returned: pass `next_cursor` unchanged",
                )
            })
        })
        .transpose()?;
    let name = text_parameter("name", query.name)?;
    if name
        .as_ref()
        .is_some_and(|name| name.chars().count() > validate::MAX_NAME_CHARS)
    {
        return Err(ApiError::invalid_parameter(
            "name",
            format!("must be at most {} characters", validate::MAX_NAME_CHARS),
        ));
    }
    Ok(ListFilter {
        name,
        from: time_parameter("from", query.from)?,
        to: time_parameter("to", query.to)?,
        after,
        limit,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(pairs: &[(&str, &str)]) -> ListQuery {
        let get = |key: &str| {
            pairs
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| (*v).to_owned())
        };
        ListQuery {
            name: get("name"),
            from: get("from"),
            to: get("to"),
            limit: get("limit"),
            cursor: get("cursor"),
        }
    }

    fn rejected_parameter(pairs: &[(&str, &str)]) -> String {
        list_filter(query(pairs)).unwrap_err().field.unwrap()
    }

    #[test]
    fn defaults_and_empty_parameters() {
        let filter = list_filter(query(&[("name", ""), ("limit", "")])).unwrap();
        assert_eq!(filter.limit, DEFAULT_LIMIT);
        assert_eq!(filter.name, None);
    }

    #[test]
    fn bad_parameters_are_named() {
        assert_eq!(rejected_parameter(&[("limit", "0")]), "limit");
        assert_eq!(rejected_parameter(&[("limit", "501")]), "limit");
        assert_eq!(rejected_parameter(&[("limit", "ten")]), "limit");
        assert_eq!(rejected_parameter(&[("cursor", "nope")]), "cursor");
        assert_eq!(rejected_parameter(&[("name", "a\0b")]), "name");
        assert_eq!(rejected_parameter(&[("from", "2025-01-01")]), "from");
        assert_eq!(
            rejected_parameter(&[("to", "2025-01-01 10:00:00 00:00")]),
            "to"
        );
    }
}
