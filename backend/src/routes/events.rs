//! `POST /v1/events` (API key) ingests; `GET /v1/events` (bearer token) reads back.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use chrono::Utc;
use serde::{Deserialize, Serialize};

use super::{ApiQuery, json_body, non_empty, time_parameter};
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

#[derive(Debug, Serialize)]
struct Accepted {
    accepted: u64,
}

async fn ingest(
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
    Ok((StatusCode::ACCEPTED, Json(Accepted { accepted })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    name: Option<String>,
    from: Option<String>,
    to: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
}

#[derive(Debug, Serialize)]
struct Page {
    events: Vec<StoredEvent>,
    next_cursor: Option<String>,
}

async fn list(
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
    let name = non_empty(query.name);
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
        assert_eq!(rejected_parameter(&[("from", "2025-01-01")]), "from");
        assert_eq!(
            rejected_parameter(&[("to", "2025-01-01 10:00:00 00:00")]),
            "to"
        );
    }
}
