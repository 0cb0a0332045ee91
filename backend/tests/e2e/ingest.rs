//! A client app's path: ingest with an API key, read back and chart through the JWT API.

use chrono::{TimeDelta, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::Run;

#[tokio::test]
async fn single_events_and_a_batch_are_read_back() {
    let run = Run::start().await;
    let single = run.event_name("signup");
    for plan in ["free", "pro"] {
        let event = json!({"name": single, "user_id": run.user_id, "properties": {"plan": plan}});
        assert_eq!(
            run.ingest(&event).await,
            (StatusCode::ACCEPTED, json!({"accepted": 1}))
        );
    }
    let batched = run.event_name("page_view");
    let batch: Vec<Value> = (0..25)
        .map(|i| {
            json!({
                "name": batched,
                "user_id": run.user_id,
                "timestamp": (Utc::now() - TimeDelta::seconds(i)).to_rfc3339(),
                "properties": {"i": i},
            })
        })
        .collect();
    assert_eq!(
        run.ingest(&json!({ "events": batch })).await,
        (StatusCode::ACCEPTED, json!({"accepted": 25}))
    );

    let singles = run.events_named(&single, 50).await;
    assert_eq!(singles.len(), 2);
    let mut plans: Vec<&str> = singles
        .iter()
        .map(|e| e["properties"]["plan"].as_str().unwrap())
        .collect();
    plans.sort();
    assert_eq!(plans, ["free", "pro"]);
    assert!(
        singles
            .iter()
            .all(|e| e["user_id"] == run.user_id.as_str() && e["id"].is_string())
    );

    // Read back in pages of 10: all 25, newest first (highest `i` is oldest).
    let pages = run.events_named(&batched, 10).await;
    let order: Vec<i64> = pages
        .iter()
        .map(|e| e["properties"]["i"].as_i64().unwrap())
        .collect();
    assert_eq!(order, (0..25).collect::<Vec<_>>());
}

#[tokio::test]
async fn stats_count_the_runs_events() {
    let run = Run::start().await;
    let name = run.event_name("chart");
    let events: Vec<Value> = (0..7)
        .map(|_| json!({"name": name, "user_id": run.user_id}))
        .collect();
    assert_eq!(
        run.ingest(&json!({ "events": events })).await.0,
        StatusCode::ACCEPTED
    );

    // Generous bounds: the server's clock stamps these events, not ours.
    let from = (Utc::now() - TimeDelta::minutes(15)).format("%Y-%m-%dT%H:%M:%SZ");
    let to = (Utc::now() + TimeDelta::minutes(15)).format("%Y-%m-%dT%H:%M:%SZ");
    for bucket in ["minute", "hour"] {
        let (status, stats) = run
            .read(&format!("/v1/stats?bucket={bucket}&from={from}&to={to}"))
            .await;
        assert_eq!(status, StatusCode::OK, "{stats}");
        assert_eq!(stats["bucket"], bucket);
        let counted: i64 = stats["buckets"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|b| b["name"] == name.as_str())
            .map(|b| b["count"].as_i64().unwrap())
            .sum();
        assert_eq!(counted, 7, "{bucket}");
    }
}
