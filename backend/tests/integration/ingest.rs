//! Ingestion: what goes in comes back out, and a batch is stored whole or not at all.

use chrono::{DateTime, Utc};
use eventflow_backend::events::NewEvent;
use eventflow_backend::events::store;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{TestApp, error_code};

#[tokio::test]
async fn a_single_event_is_stored_and_read_back() {
    let app = TestApp::start().await;
    let event = json!({
        "name": "signup",
        "timestamp": "2025-03-01T10:00:00.123456+01:00",
        "user_id": "user-1",
        "properties": {"plan": "pro", "seats": 3, "tags": ["a", "b"], "nested": {"ok": true}},
    });
    assert_eq!(
        app.ingest(&event).await,
        (StatusCode::ACCEPTED, json!({"accepted": 1}))
    );

    let (status, body) = app.get("/v1/events").await;
    assert_eq!(status, StatusCode::OK);
    let events = body["events"].as_array().unwrap();
    assert_eq!(events.len(), 1);
    let stored = &events[0];
    assert!(
        stored["id"].as_str().unwrap().parse::<i64>().is_ok(),
        "id is a string: {stored}"
    );
    assert_eq!(stored["name"], "signup");
    assert_eq!(stored["timestamp"], "2025-03-01T09:00:00.123456Z");
    assert_eq!(stored["user_id"], "user-1");
    assert_eq!(stored["properties"], event["properties"]);
    let received: DateTime<Utc> = stored["received_at"].as_str().unwrap().parse().unwrap();
    assert!((Utc::now() - received).num_seconds().abs() < 60);
    assert_eq!(body["next_cursor"], Value::Null);
}

#[tokio::test]
async fn defaults_apply_to_a_minimal_event() {
    let app = TestApp::start().await;
    let before = Utc::now();
    assert_eq!(
        app.ingest(&json!({"name": "ping"})).await.0,
        StatusCode::ACCEPTED
    );
    let (_, body) = app.get("/v1/events").await;
    let stored = &body["events"][0];
    let timestamp: DateTime<Utc> = stored["timestamp"].as_str().unwrap().parse().unwrap();
    assert!(timestamp >= before - chrono::TimeDelta::milliseconds(1) && timestamp <= Utc::now());
    assert_eq!(stored["user_id"], Value::Null);
    assert_eq!(stored["properties"], json!({}));
}

#[tokio::test]
async fn a_batch_is_stored_whole() {
    let app = TestApp::start().await;
    let events: Vec<Value> = (0..1000)
        .map(|i| json!({"name": format!("batch-{}", i % 7), "user_id": format!("u{i}"), "properties": {"i": i}}))
        .collect();
    assert_eq!(
        app.ingest(&json!({ "events": events })).await,
        (StatusCode::ACCEPTED, json!({"accepted": 1000}))
    );
    assert_eq!(app.event_count().await, 1000);
    let key_ids: Vec<Option<i64>> = sqlx::query_scalar("SELECT DISTINCT api_key_id FROM events")
        .fetch_all(&app.pool)
        .await
        .unwrap();
    assert_eq!(
        key_ids,
        vec![Some(app.api_key_id)],
        "events record the key that sent them"
    );
}

#[tokio::test]
async fn a_batch_with_one_bad_event_stores_nothing() {
    let app = TestApp::start().await;
    let mut events: Vec<Value> = (0..10)
        .map(|i| json!({"name": format!("ok-{i}")}))
        .collect();
    events[7] = json!({"name": "late", "timestamp": "not a time"});
    let (status, body) = app.ingest(&json!({ "events": events })).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_code(&body), "invalid_field");
    assert_eq!(body["error"]["field"], "events[7].timestamp");
    assert_eq!(app.event_count().await, 0);
}

#[tokio::test]
async fn a_batch_that_the_database_rejects_part_way_stores_nothing() {
    // Validation catches bad input before any write; this checks the write itself is atomic,
    // with a row PostgreSQL refuses in the middle of the batch.
    let app = TestApp::start().await;
    let event = |properties: &str| NewEvent {
        name: "atomic".into(),
        timestamp: Utc::now(),
        user_id: None,
        properties: properties.into(),
    };
    let batch = vec![event("{}"), event("{}"), event("{not json"), event("{}")];
    assert!(
        store::insert_batch(&app.pool, app.api_key_id, &batch)
            .await
            .is_err()
    );
    assert_eq!(app.event_count().await, 0);
}
