//! `GET /v1/stats`: event counts per name and time bucket, for the dashboard's chart.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{ApiQuery, non_empty, time_parameter};
use crate::auth::Viewer;
use crate::error::ApiError;
use crate::events::store::{self, Bucket, BucketCount};
use crate::state::AppState;

/// At most this many buckets per query (a week of minutes), which bounds the work a query
/// can ask of PostgreSQL and the size of the answer.
pub const MAX_BUCKETS: i64 = 7 * 24 * 60;

pub fn router() -> Router<AppState> {
    Router::new().route("/v1/stats", get(stats))
}

/// Unknown parameters are refused; an empty one counts as absent.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct StatsQuery {
    /// Inclusive, RFC 3339; default a day before `to`.
    #[param(value_type = Option<String>, format = DateTime)]
    from: Option<String>,
    /// Exclusive, RFC 3339; default now.
    #[param(value_type = Option<String>, format = DateTime)]
    to: Option<String>,
    /// The bucket width, default `hour`; at most 10,080 buckets per query.
    #[param(value_type = Option<Bucket>)]
    bucket: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Stats {
    bucket: Bucket,
    /// Ordered by `start` then `name`; empty buckets are left out.
    buckets: Vec<BucketCount>,
}

/// Event counts per UTC-aligned bucket and name in `[from, to)`.
#[utoipa::path(
    get,
    path = "/v1/stats",
    tag = "events",
    security(("bearer" = [])),
    params(StatsQuery),
    responses(
        (status = 200, description = "Counts per bucket and name", body = Stats),
        (status = 400, description = "`invalid_parameter`: the named parameter is wrong or unknown, `from` is not before `to`, or the range spans too many buckets", body = crate::error::Body),
        (status = 401, description = "`unauthorized` or `token_expired`", body = crate::error::Body),
        (status = 503, description = "`database_unavailable`: retry", body = crate::error::Body),
    )
)]
pub async fn stats(
    State(state): State<AppState>,
    _viewer: Viewer,
    ApiQuery(query): ApiQuery<StatsQuery>,
) -> Result<Json<Stats>, ApiError> {
    let (bucket, from, to) = stats_range(query, Utc::now(), state.limits.stats_max_range_days)?;
    let buckets = store::stats(&state.pool, bucket, from, to).await?;
    Ok(Json(Stats { bucket, buckets }))
}

/// The bucket width (default hour) and the range: `to` defaults to now, `from` to a day
/// before `to`. The range is at most `max_days` (`STATS_MAX_RANGE_DAYS`) wide, so that one
/// dashboard user can't ask PostgreSQL to scan years of events.
fn stats_range(
    query: StatsQuery,
    now: DateTime<Utc>,
    max_days: u32,
) -> Result<(Bucket, DateTime<Utc>, DateTime<Utc>), ApiError> {
    let bucket = match non_empty(query.bucket) {
        None => Bucket::Hour,
        Some(value) => Bucket::parse(&value).ok_or_else(|| {
            ApiError::invalid_parameter("bucket", format!("is `{value}`: use `minute` or `hour`"))
        })?,
    };
    let to = time_parameter("to", query.to)?.unwrap_or(now);
    let from = time_parameter("from", query.from)?.unwrap_or(to - TimeDelta::days(1));
    if from >= to {
        return Err(ApiError::invalid_parameter("from", "must be before `to`"));
    }
    if to - from > TimeDelta::days(i64::from(max_days)) {
        return Err(ApiError::invalid_parameter(
            "from",
            format!(
                "is more than {max_days} days before `to` (the limit, STATS_MAX_RANGE_DAYS): narrow the range"
            ),
        ));
    }
    if (to - from).num_seconds() / bucket.seconds() > MAX_BUCKETS {
        return Err(ApiError::invalid_parameter(
            "from",
            format!(
                "spans more than {MAX_BUCKETS} buckets: narrow the range or use a wider bucket"
            ),
        ));
    }
    Ok((bucket, from, to))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX_DAYS: u32 = 31;

    fn stats_range(
        q: StatsQuery,
        now: DateTime<Utc>,
    ) -> Result<(Bucket, DateTime<Utc>, DateTime<Utc>), ApiError> {
        super::stats_range(q, now, MAX_DAYS)
    }

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    fn query(from: Option<&str>, to: Option<&str>, bucket: Option<&str>) -> StatsQuery {
        StatsQuery {
            from: from.map(Into::into),
            to: to.map(Into::into),
            bucket: bucket.map(Into::into),
        }
    }

    #[test]
    fn defaults_to_the_last_day_by_hour() {
        let now = at("2025-06-01T12:00:00Z");
        let (bucket, from, to) = stats_range(query(None, None, None), now).unwrap();
        assert_eq!(
            (bucket, from, to),
            (Bucket::Hour, at("2025-05-31T12:00:00Z"), now)
        );
    }

    #[test]
    fn rejects_bad_ranges_and_buckets() {
        let now = at("2025-06-01T12:00:00Z");
        let field = |q| stats_range(q, now).unwrap_err().field.unwrap();
        assert_eq!(field(query(None, None, Some("day"))), "bucket");
        assert_eq!(
            field(query(
                Some("2025-06-01T12:00:00Z"),
                Some("2025-06-01T12:00:00Z"),
                None
            )),
            "from"
        );
        assert_eq!(
            field(query(Some("2025-05-01T00:00:00Z"), None, Some("minute"))),
            "from"
        );
        assert_eq!(field(query(Some("yesterday"), None, None)), "from");
        // A week of minutes is allowed; a month of hours too.
        assert!(
            stats_range(
                query(Some("2025-05-25T12:00:00Z"), None, Some("minute")),
                now
            )
            .is_ok()
        );
        assert!(stats_range(query(Some("2025-05-01T12:00:00Z"), None, Some("hour")), now).is_ok());
    }

    #[test]
    fn the_range_is_bounded_in_days() {
        let now = at("2025-06-01T12:00:00Z");
        let error =
            stats_range(query(Some("2025-05-01T11:59:59Z"), None, Some("hour")), now).unwrap_err();
        assert_eq!(error.field.as_deref(), Some("from"));
        assert!(error.message.contains("31 days"), "{}", error.message);
        assert!(error.message.contains("STATS_MAX_RANGE_DAYS"));
        let narrow = super::stats_range(
            query(Some("2025-05-30T12:00:00Z"), None, Some("hour")),
            now,
            1,
        );
        assert_eq!(narrow.unwrap_err().field.as_deref(), Some("from"));
    }
}
