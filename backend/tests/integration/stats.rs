//! Stats: counts per name and bucket, ordered by bucket start then name.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{TestApp, error_code};

async fn seed(app: &TestApp) {
    let at = |name: &str, timestamp: &str| json!({"name": name, "timestamp": timestamp});
    let events = vec![
        at("view", "2025-05-01T10:00:00Z"),
        at("view", "2025-05-01T10:00:59.999999Z"),
        at("click", "2025-05-01T10:00:30Z"),
        at("view", "2025-05-01T10:01:00Z"),
        at("click", "2025-05-01T10:59:00Z"),
        at("view", "2025-05-01T11:15:00+00:00"),
        // Outside the queried range.
        at("view", "2025-05-01T09:59:59Z"),
        at("view", "2025-05-01T12:00:00Z"),
    ];
    assert_eq!(
        app.ingest(&json!({ "events": events })).await.0,
        StatusCode::ACCEPTED
    );
}

fn bucket(start: &str, name: &str, count: i64) -> Value {
    json!({"start": start, "name": name, "count": count})
}

#[tokio::test]
async fn counts_per_minute() {
    let app = TestApp::start().await;
    seed(&app).await;
    let (status, body) = app
        .get("/v1/stats?from=2025-05-01T10:00:00Z&to=2025-05-01T12:00:00Z&bucket=minute")
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body,
        json!({"bucket": "minute", "buckets": [
            bucket("2025-05-01T10:00:00.000000Z", "click", 1),
            bucket("2025-05-01T10:00:00.000000Z", "view", 2),
            bucket("2025-05-01T10:01:00.000000Z", "view", 1),
            bucket("2025-05-01T10:59:00.000000Z", "click", 1),
            bucket("2025-05-01T11:15:00.000000Z", "view", 1),
        ]})
    );
}

#[tokio::test]
async fn counts_per_hour() {
    let app = TestApp::start().await;
    seed(&app).await;
    let (status, body) = app
        .get("/v1/stats?from=2025-05-01T10:00:00Z&to=2025-05-01T12:00:00Z&bucket=hour")
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body,
        json!({"bucket": "hour", "buckets": [
            bucket("2025-05-01T10:00:00.000000Z", "click", 2),
            bucket("2025-05-01T10:00:00.000000Z", "view", 3),
            bucket("2025-05-01T11:00:00.000000Z", "view", 1),
        ]})
    );
}

#[tokio::test]
async fn recent_events_show_in_the_default_range() {
    let app = TestApp::start().await;
    app.ingest(&json!({"events": [{"name": "now"}, {"name": "now"}]}))
        .await;
    let (status, body) = app.get("/v1/stats").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["bucket"], "hour");
    assert_eq!(body["buckets"].as_array().unwrap().len(), 1);
    assert_eq!(body["buckets"][0]["count"], 2);
}

#[tokio::test]
async fn bad_parameters_are_400() {
    let app = TestApp::start().await;
    for (query, parameter) in [
        ("bucket=day", "bucket"),
        ("from=2025-05-02T00:00:00Z&to=2025-05-01T00:00:00Z", "from"),
        (
            "from=2024-01-01T00:00:00Z&to=2025-01-01T00:00:00Z&bucket=minute",
            "from",
        ),
        ("to=soon", "to"),
    ] {
        let (status, body) = app.get(&format!("/v1/stats?{query}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}");
        assert_eq!(error_code(&body), "invalid_parameter");
        assert_eq!(body["error"]["field"], parameter, "{query}");
    }
}
