//! Checks an ingestion body completely before anything is written, so a batch with one bad
//! event stores nothing, and the error names the field: `name`, or `events[3].name` in a batch.

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use serde_json::{Map, Value};

use super::NewEvent;
use crate::config::Limits;
use crate::error::ApiError;

pub const MAX_BATCH: usize = 1000;
pub const MAX_NAME_CHARS: usize = 200;
pub const MAX_USER_ID_CHARS: usize = 200;
/// The largest `properties` object, serialized as compact JSON.
pub const MAX_PROPERTIES_BYTES: usize = 32 * 1024;

const EVENT_FIELDS: &str = "`name`, `timestamp`, `user_id`, `properties`";

/// The event timestamps accepted: from `earliest` to `max_future` after the server's clock.
/// A clock set to 1970 or to next year on a client device is refused with a clear message
/// instead of landing in the charts (or in a date PostgreSQL can't store).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimestampWindow {
    pub earliest: DateTime<Utc>,
    pub max_future: TimeDelta,
}

impl TimestampWindow {
    pub fn from_limits(limits: &Limits) -> Self {
        Self {
            earliest: limits.event_earliest,
            max_future: TimeDelta::from_std(limits.event_max_future).unwrap_or(TimeDelta::MAX),
        }
    }
}

impl Default for TimestampWindow {
    fn default() -> Self {
        Self::from_limits(&Limits::default())
    }
}

/// Parses a body that is one event object, or `{"events": [...]}` with 1 to 1000 of them.
/// Events without a `timestamp` get `now`.
pub fn parse_body(
    body: &Value,
    now: DateTime<Utc>,
    window: &TimestampWindow,
) -> Result<Vec<NewEvent>, ApiError> {
    let Value::Object(object) = body else {
        return Err(ApiError::invalid_field(
            "body",
            format!(
                "must be an event object or {{\"events\": [...]}}, not {}",
                kind(body)
            ),
        ));
    };
    let Some(events) = object.get("events") else {
        return Ok(vec![parse_event(object, "", now, window)?]);
    };
    if let Some(other) = object.keys().find(|key| *key != "events") {
        return Err(ApiError::unknown_field(
            other.as_str(),
            "`events` alone, or the fields of one event",
        ));
    }
    let Value::Array(events) = events else {
        return Err(ApiError::invalid_field(
            "events",
            format!("must be an array of events, not {}", kind(events)),
        ));
    };
    if events.is_empty() || events.len() > MAX_BATCH {
        return Err(ApiError::invalid_field(
            "events",
            format!(
                "must hold 1 to {MAX_BATCH} events (got {}): split larger batches",
                events.len()
            ),
        ));
    }
    events
        .iter()
        .enumerate()
        .map(|(index, event)| {
            let path = format!("events[{index}]");
            match event {
                Value::Object(object) => parse_event(object, &path, now, window),
                other => Err(ApiError::invalid_field(
                    path,
                    format!("must be an event object, not {}", kind(other)),
                )),
            }
        })
        .collect()
}

fn parse_event(
    object: &Map<String, Value>,
    path: &str,
    now: DateTime<Utc>,
    window: &TimestampWindow,
) -> Result<NewEvent, ApiError> {
    let field = |name: &str| {
        if path.is_empty() {
            name.to_owned()
        } else {
            format!("{path}.{name}")
        }
    };

    if let Some(unknown) = object.keys().find(|key| {
        !matches!(
            key.as_str(),
            "name" | "timestamp" | "user_id" | "properties"
        )
    }) {
        return Err(ApiError::unknown_field(field(unknown), EVENT_FIELDS));
    }

    let name = match object.get("name") {
        None | Some(Value::Null) => return Err(ApiError::missing_field(field("name"))),
        Some(Value::String(name)) => text(name, MAX_NAME_CHARS)
            .map_err(|problem| ApiError::invalid_field(field("name"), problem))?,
        Some(other) => {
            return Err(ApiError::invalid_field(
                field("name"),
                must_be_string(other),
            ));
        }
    };

    let timestamp = match object.get("timestamp") {
        None | Some(Value::Null) => now,
        Some(Value::String(timestamp)) => DateTime::parse_from_rfc3339(timestamp)
            .map_err(|error| {
                ApiError::invalid_field(
                    field("timestamp"),
                    format!("must be an RFC 3339 date-time such as 2025-01-31T12:00:00Z ({error})"),
                )
            })?
            .to_utc(),
        Some(other) => {
            return Err(ApiError::invalid_field(
                field("timestamp"),
                must_be_string(other),
            ));
        }
    };
    if timestamp < window.earliest {
        return Err(ApiError::invalid_field(
            field("timestamp"),
            format!(
                "is before {}, the earliest accepted (EVENT_EARLIEST_TIMESTAMP): check the sending device's clock",
                window.earliest.to_rfc3339_opts(SecondsFormat::Secs, true)
            ),
        ));
    }
    let latest = now
        .checked_add_signed(window.max_future)
        .unwrap_or(DateTime::<Utc>::MAX_UTC);
    if timestamp > latest {
        return Err(ApiError::invalid_field(
            field("timestamp"),
            format!(
                "is more than {} s ahead of the server's clock (EVENT_MAX_FUTURE_SECS): check the sending device's clock",
                window.max_future.num_seconds()
            ),
        ));
    }

    let user_id = match object.get("user_id") {
        None | Some(Value::Null) => None,
        Some(Value::String(user_id)) => Some(
            text(user_id, MAX_USER_ID_CHARS)
                .map_err(|problem| ApiError::invalid_field(field("user_id"), problem))?,
        ),
        Some(other) => {
            return Err(ApiError::invalid_field(
                field("user_id"),
                must_be_string(other),
            ));
        }
    };

    let properties = match object.get("properties") {
        None | Some(Value::Null) => "{}".to_owned(),
        Some(value @ Value::Object(_)) => {
            if contains_nul(value) {
                // PostgreSQL's jsonb can't store U+0000; refuse it here rather than fail there.
                return Err(ApiError::invalid_field(
                    field("properties"),
                    "must not contain the character U+0000",
                ));
            }
            let serialized = serde_json::to_string(value).expect("a JSON value serializes");
            if serialized.len() > MAX_PROPERTIES_BYTES {
                return Err(ApiError::invalid_field(
                    field("properties"),
                    format!(
                        "must be at most {MAX_PROPERTIES_BYTES} bytes as JSON (got {})",
                        serialized.len()
                    ),
                ));
            }
            serialized
        }
        Some(other) => {
            return Err(ApiError::invalid_field(
                field("properties"),
                format!("must be a JSON object, not {}", kind(other)),
            ));
        }
    };

    Ok(NewEvent {
        name,
        timestamp,
        user_id,
        properties,
    })
}

/// A text field: 1 to `max_chars` characters, and no U+0000, which PostgreSQL's text refuses.
fn text(value: &str, max_chars: usize) -> Result<String, String> {
    let chars = value.chars().count();
    if chars == 0 || chars > max_chars {
        return Err(format!("must be 1 to {max_chars} characters (got {chars})"));
    }
    if value.contains('\0') {
        return Err("must not contain the character U+0000".to_owned());
    }
    Ok(value.to_owned())
}

fn contains_nul(value: &Value) -> bool {
    match value {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(contains_nul),
        Value::Object(map) => map
            .iter()
            .any(|(key, value)| key.contains('\0') || contains_nul(value)),
        Value::Null | Value::Bool(_) | Value::Number(_) => false,
    }
}

fn must_be_string(value: &Value) -> String {
    format!("must be a string, not {}", kind(value))
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2025-06-01T12:00:00Z")
            .unwrap()
            .to_utc()
    }

    fn parse(body: Value) -> Result<Vec<NewEvent>, ApiError> {
        parse_body(&body, now(), &TimestampWindow::default())
    }

    /// The failing field and code.
    fn rejection(body: Value) -> (String, &'static str) {
        let error = parse(body).unwrap_err();
        assert_eq!(error.status.as_u16(), 422);
        (error.field.unwrap_or_default(), error.code)
    }

    #[test]
    fn a_single_event_with_defaults() {
        let events = parse(json!({"name": "signup"})).unwrap();
        assert_eq!(
            events,
            vec![NewEvent {
                name: "signup".into(),
                timestamp: now(),
                user_id: None,
                properties: "{}".into()
            }]
        );
    }

    #[test]
    fn a_full_event() {
        let events = parse(json!({
            "name": "checkout",
            "timestamp": "2025-05-31T23:30:00+02:00",
            "user_id": "u-1",
            "properties": {"amount": 12.5, "items": ["a", "b"]},
        }))
        .unwrap();
        assert_eq!(
            events[0].timestamp,
            DateTime::parse_from_rfc3339("2025-05-31T21:30:00Z")
                .unwrap()
                .to_utc()
        );
        assert_eq!(events[0].user_id.as_deref(), Some("u-1"));
        assert_eq!(events[0].properties, r#"{"amount":12.5,"items":["a","b"]}"#);
    }

    #[test]
    fn a_batch() {
        let batch: Vec<Value> = (0..MAX_BATCH)
            .map(|i| json!({"name": format!("e{i}")}))
            .collect();
        let events = parse(json!({ "events": batch })).unwrap();
        assert_eq!(events.len(), MAX_BATCH);
        assert_eq!(events[999].name, "e999");
    }

    #[test]
    fn batch_limits() {
        assert_eq!(
            rejection(json!({"events": []})),
            ("events".into(), "invalid_field")
        );
        let batch: Vec<Value> = (0..=MAX_BATCH).map(|_| json!({"name": "x"})).collect();
        assert_eq!(
            rejection(json!({ "events": batch })),
            ("events".into(), "invalid_field")
        );
        assert_eq!(
            rejection(json!({"events": {"name": "x"}})),
            ("events".into(), "invalid_field")
        );
        assert_eq!(
            rejection(json!({"events": [{"name": "x"}], "extra": 1})),
            ("extra".into(), "unknown_field")
        );
    }

    #[test]
    fn one_bad_event_names_its_index() {
        let body = json!({"events": [{"name": "ok"}, {"name": "ok"}, {"name": ""}]});
        assert_eq!(rejection(body), ("events[2].name".into(), "invalid_field"));
        assert_eq!(
            rejection(json!({"events": [{"name": "ok"}, 7]})),
            ("events[1]".into(), "invalid_field")
        );
    }

    #[test]
    fn names() {
        assert!(parse(json!({"name": "é".repeat(MAX_NAME_CHARS)})).is_ok());
        assert_eq!(
            rejection(json!({"name": "a".repeat(MAX_NAME_CHARS + 1)})),
            ("name".into(), "invalid_field")
        );
        assert_eq!(
            rejection(json!({"name": ""})),
            ("name".into(), "invalid_field")
        );
        assert_eq!(
            rejection(json!({"name": 5})),
            ("name".into(), "invalid_field")
        );
        assert_eq!(
            rejection(json!({"name": "a\u{0}b"})),
            ("name".into(), "invalid_field")
        );
        assert_eq!(rejection(json!({})), ("name".into(), "missing_field"));
        assert_eq!(
            rejection(json!({"name": null})),
            ("name".into(), "missing_field")
        );
    }

    #[test]
    fn unknown_fields() {
        let error = parse(json!({"name": "x", "nmae": "y"})).unwrap_err();
        assert_eq!(error.code, "unknown_field");
        assert_eq!(
            error.message,
            "`nmae` is not a known field (allowed: `name`, `timestamp`, `user_id`, `properties`)"
        );
        assert_eq!(
            rejection(json!({"events": [{"name": "x", "ts": 1}]})),
            ("events[0].ts".into(), "unknown_field")
        );
    }

    #[test]
    fn timestamps() {
        for bad in [
            json!("yesterday"),
            json!("2025-06-01"),
            json!("2025-06-01T12:00:00"),
            json!("2025-13-01T00:00:00Z"),
        ] {
            assert_eq!(
                rejection(json!({"name": "x", "timestamp": bad})),
                ("timestamp".into(), "invalid_field")
            );
        }
        assert_eq!(
            rejection(json!({"name": "x", "timestamp": 1_700_000_000})),
            ("timestamp".into(), "invalid_field")
        );
        let events = parse(json!({"name": "x", "timestamp": null})).unwrap();
        assert_eq!(events[0].timestamp, now());
    }

    #[test]
    fn timestamps_outside_the_window_are_refused() {
        // Default window: 2000-01-01 up to a day ahead of now (2025-06-01T12:00:00Z).
        for ok in [
            "2000-01-01T00:00:00Z",
            "2025-06-02T12:00:00Z",
            "2025-06-02T13:00:00+01:00",
        ] {
            assert!(parse(json!({"name": "x", "timestamp": ok})).is_ok(), "{ok}");
        }
        for (bad, says) in [
            ("1999-12-31T23:59:59Z", "EVENT_EARLIEST_TIMESTAMP"),
            ("0001-01-01T00:00:00Z", "EVENT_EARLIEST_TIMESTAMP"),
            ("2025-06-02T12:00:01Z", "EVENT_MAX_FUTURE_SECS"),
            ("9999-12-31T23:59:59Z", "EVENT_MAX_FUTURE_SECS"),
        ] {
            let error = parse(json!({"events": [{"name": "x"}, {"name": "y", "timestamp": bad}]}))
                .unwrap_err();
            assert_eq!(error.field.as_deref(), Some("events[1].timestamp"), "{bad}");
            assert_eq!(error.status.as_u16(), 422);
            assert!(error.message.contains(says), "{}", error.message);
        }
    }

    #[test]
    fn user_ids() {
        assert_eq!(
            rejection(json!({"name": "x", "user_id": 42})),
            ("user_id".into(), "invalid_field")
        );
        assert_eq!(
            rejection(json!({"name": "x", "user_id": ""})),
            ("user_id".into(), "invalid_field")
        );
        assert_eq!(
            rejection(json!({"name": "x", "user_id": "u".repeat(MAX_USER_ID_CHARS + 1)})),
            ("user_id".into(), "invalid_field")
        );
    }

    #[test]
    fn properties() {
        assert_eq!(
            rejection(json!({"name": "x", "properties": [1]})),
            ("properties".into(), "invalid_field")
        );
        assert_eq!(
            rejection(json!({"name": "x", "properties": "{}"})),
            ("properties".into(), "invalid_field")
        );
        assert_eq!(
            rejection(json!({"name": "x", "properties": {"deep": [{"s": "a\u{0}"}]}})),
            ("properties".into(), "invalid_field")
        );
        // Exactly at the limit: {"k":"…"} is 8 bytes around the value.
        let at_limit =
            json!({"name": "x", "properties": {"k": "v".repeat(MAX_PROPERTIES_BYTES - 8)}});
        assert_eq!(
            parse(at_limit).unwrap()[0].properties.len(),
            MAX_PROPERTIES_BYTES
        );
        let over = json!({"name": "x", "properties": {"k": "v".repeat(MAX_PROPERTIES_BYTES - 7)}});
        assert_eq!(rejection(over), ("properties".into(), "invalid_field"));
    }

    #[test]
    fn the_body_must_be_an_object() {
        assert_eq!(
            rejection(json!([{"name": "x"}])),
            ("body".into(), "invalid_field")
        );
        assert_eq!(rejection(json!("x")), ("body".into(), "invalid_field"));
    }
}
