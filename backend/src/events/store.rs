//! The SQL for events. Every input is a bound parameter; [`list`] builds its statement from
//! fixed fragments only, choosing which filters apply.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgPool, Postgres, QueryBuilder};

use super::cursor::Cursor;
use super::{NewEvent, StoredEvent};

/// Stores a batch with one multi-row `INSERT`: a single statement is atomic, so the batch is
/// stored whole or not at all, and it costs one round trip however many events it holds.
/// The rows travel as one array per column and `UNNEST` turns them back into rows.
pub async fn insert_batch(
    pool: &PgPool,
    api_key_id: i64,
    events: &[NewEvent],
) -> Result<u64, sqlx::Error> {
    let names: Vec<&str> = events.iter().map(|e| e.name.as_str()).collect();
    let timestamps: Vec<DateTime<Utc>> = events.iter().map(|e| e.timestamp).collect();
    let user_ids: Vec<Option<&str>> = events.iter().map(|e| e.user_id.as_deref()).collect();
    let properties: Vec<&str> = events.iter().map(|e| e.properties.as_str()).collect();
    let result = sqlx::query(
        "INSERT INTO events (name, occurred_at, user_id, properties, api_key_id) \
         SELECT name, occurred_at, user_id, properties::jsonb, $5 \
         FROM UNNEST($1::text[], $2::timestamptz[], $3::text[], $4::text[]) \
              AS batch (name, occurred_at, user_id, properties)",
    )
    .bind(&names)
    .bind(&timestamps)
    .bind(&user_ids)
    .bind(&properties)
    .bind(api_key_id)
    .execute(pool)
    .await?;
    Ok(result.rows_affected())
}

/// Filters for [`list`]; `from` is inclusive, `to` exclusive.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    pub name: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub after: Option<Cursor>,
    pub limit: i64,
}

/// One page of events, newest first, and the cursor of the next page if there is one.
pub async fn list(
    pool: &PgPool,
    filter: &ListFilter,
) -> Result<(Vec<StoredEvent>, Option<Cursor>), sqlx::Error> {
    let mut query = QueryBuilder::<Postgres>::new(
        "SELECT id, name, occurred_at AS timestamp, user_id, properties, received_at FROM events WHERE TRUE",
    );
    if let Some(name) = &filter.name {
        query.push(" AND name = ").push_bind(name);
    }
    if let Some(from) = filter.from {
        query.push(" AND occurred_at >= ").push_bind(from);
    }
    if let Some(to) = filter.to {
        query.push(" AND occurred_at < ").push_bind(to);
    }
    if let Some(after) = filter.after {
        // A row comparison, which the (occurred_at DESC, id DESC) indexes serve directly.
        query
            .push(" AND (occurred_at, id) < (")
            .push_bind(after.timestamp)
            .push(", ")
            .push_bind(after.id)
            .push(")");
    }
    // One row more than asked tells whether there is a next page.
    query
        .push(" ORDER BY occurred_at DESC, id DESC LIMIT ")
        .push_bind(filter.limit + 1);

    let mut events: Vec<StoredEvent> = query.build_query_as().fetch_all(pool).await?;
    let next = if events.len() as i64 > filter.limit {
        events.truncate(filter.limit as usize);
        events.last().map(|last| Cursor {
            timestamp: last.timestamp,
            id: last.id,
        })
    } else {
        None
    };
    Ok((events, next))
}

/// The width of a stats bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Bucket {
    Minute,
    Hour,
}

impl Bucket {
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "minute" => Some(Self::Minute),
            "hour" => Some(Self::Hour),
            _ => None,
        }
    }

    /// The field name `date_trunc` takes.
    fn as_sql(self) -> &'static str {
        match self {
            Self::Minute => "minute",
            Self::Hour => "hour",
        }
    }

    pub fn seconds(self) -> i64 {
        match self {
            Self::Minute => 60,
            Self::Hour => 3600,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct BucketCount {
    /// The bucket's first instant, UTC.
    #[serde(serialize_with = "super::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub start: DateTime<Utc>,
    pub name: String,
    pub count: i64,
}

/// Event counts per bucket and name in [from, to), ordered by bucket then name. Buckets are
/// aligned in UTC; empty ones are left out.
pub async fn stats(
    pool: &PgPool,
    bucket: Bucket,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<BucketCount>, sqlx::Error> {
    sqlx::query_as(
        "SELECT date_trunc($1, occurred_at, 'UTC') AS start, name, count(*) AS count \
         FROM events WHERE occurred_at >= $2 AND occurred_at < $3 \
         GROUP BY 1, 2 ORDER BY start, name COLLATE \"C\"",
    )
    .bind(bucket.as_sql())
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await
}

/// Deletes every event of one user; returns how many.
pub async fn delete_by_user(pool: &PgPool, user_id: &str) -> Result<u64, sqlx::Error> {
    let result = sqlx::query("DELETE FROM events WHERE user_id = $1")
        .bind(user_id)
        .execute(pool)
        .await?;
    Ok(result.rows_affected())
}
