//! Events: what a client sends ([`NewEvent`], checked by [`validate`]), what is stored and read
//! back ([`StoredEvent`]), and the SQL for both ([`store`]).

pub mod cursor;
pub mod store;
pub mod validate;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Serialize, Serializer};
use utoipa::ToSchema;

/// A validated event, ready to insert.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub name: String,
    pub timestamp: DateTime<Utc>,
    pub user_id: Option<String>,
    /// The `properties` object, serialized: it was measured in this form, and PostgreSQL
    /// parses it into `jsonb` directly.
    pub properties: String,
}

/// An event as the API returns it.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, ToSchema)]
#[schema(as = Event)]
pub struct StoredEvent {
    /// A string in the API, so that JavaScript clients never round it.
    #[serde(serialize_with = "id_as_string")]
    #[schema(value_type = String, example = "42")]
    pub id: i64,
    pub name: String,
    /// When it happened (the client's `timestamp`, else the time of receipt), UTC.
    #[serde(serialize_with = "rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub timestamp: DateTime<Utc>,
    pub user_id: Option<String>,
    #[schema(value_type = Object)]
    pub properties: sqlx::types::Json<serde_json::Value>,
    #[serde(serialize_with = "rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub received_at: DateTime<Utc>,
}

fn id_as_string<S: Serializer>(id: &i64, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(id)
}

/// RFC 3339 in UTC with microseconds, PostgreSQL's precision: `2025-01-31T12:00:00.000000Z`.
pub fn format_timestamp(timestamp: &DateTime<Utc>) -> String {
    timestamp.to_rfc3339_opts(SecondsFormat::Micros, true)
}

pub(crate) fn rfc3339<S: Serializer>(
    timestamp: &DateTime<Utc>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&format_timestamp(timestamp))
}
