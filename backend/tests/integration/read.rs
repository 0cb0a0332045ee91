//! Reading events back: newest first, keyset pagination, filters.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{TestApp, error_code};

/// 12 events: 9 a minute apart, then 3 sharing one timestamp (ties are ordered by id).
async fn seed(app: &TestApp) {
    let mut events: Vec<Value> = (0..9)
        .map(|i| {
            json!({
                "name": if i % 2 == 0 { "even" } else { "odd" },
                "timestamp": format!("2025-04-01T10:{i:02}:00Z"),
            })
        })
        .collect();
    events.extend((0..3).map(|_| json!({"name": "tie", "timestamp": "2025-04-01T10:04:00Z"})));
    assert_eq!(
        app.ingest(&json!({ "events": events })).await.0,
        StatusCode::ACCEPTED
    );
}

/// Follows `next_cursor` to the end; returns (timestamp, id) of every event in page order.
async fn walk(app: &TestApp, query: &str) -> Vec<(String, i64)> {
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..50 {
        let path = match &cursor {
            Some(cursor) => format!("/v1/events?{query}&cursor={cursor}"),
            None => format!("/v1/events?{query}"),
        };
        let (status, body) = app.get(&path).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        for event in body["events"].as_array().unwrap() {
            seen.push((
                event["timestamp"].as_str().unwrap().to_owned(),
                event["id"].as_str().unwrap().parse().unwrap(),
            ));
        }
        match body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return seen,
        }
    }
    panic!("pagination did not end");
}

#[tokio::test]
async fn pages_cover_every_event_once_newest_first() {
    let app = TestApp::start().await;
    seed(&app).await;
    let seen = walk(&app, "limit=5").await;
    assert_eq!(seen.len(), 12);
    let mut sorted = seen.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(seen, sorted, "newest first, then highest id first");
    sorted.dedup();
    assert_eq!(sorted.len(), 12, "no event twice");
}

#[tokio::test]
async fn events_arriving_between_pages_do_not_shift_later_pages() {
    let app = TestApp::start().await;
    seed(&app).await;
    let (_, first) = app.get("/v1/events?limit=4").await;
    let cursor = first["next_cursor"].as_str().unwrap().to_owned();
    // Newer than everything: it belongs before page one, not in the pages that follow.
    app.ingest(&json!({"name": "late", "timestamp": "2025-04-01T11:00:00Z"}))
        .await;
    let (_, second) = app
        .get(&format!("/v1/events?limit=4&cursor={cursor}"))
        .await;
    let last_of_first = first["events"][3]["id"].as_str().unwrap();
    let names: Vec<&str> = second["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert!(!names.contains(&"late"));
    assert!(
        second["events"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["id"] != last_of_first)
    );
}

#[tokio::test]
async fn the_default_limit_is_50_and_the_last_page_has_no_cursor() {
    let app = TestApp::start().await;
    let events: Vec<Value> = (0..60).map(|_| json!({"name": "many"})).collect();
    app.ingest(&json!({ "events": events })).await;
    let (_, body) = app.get("/v1/events").await;
    assert_eq!(body["events"].as_array().unwrap().len(), 50);
    let (_, body) = app
        .get(&format!(
            "/v1/events?cursor={}",
            body["next_cursor"].as_str().unwrap()
        ))
        .await;
    assert_eq!(body["events"].as_array().unwrap().len(), 10);
    assert_eq!(body["next_cursor"], Value::Null);
    let (_, body) = app.get("/v1/events?limit=60").await;
    assert_eq!(
        body["next_cursor"],
        Value::Null,
        "exactly one full page has no next page"
    );
}

#[tokio::test]
async fn filters_by_name_and_time_range() {
    let app = TestApp::start().await;
    seed(&app).await;
    assert_eq!(walk(&app, "name=odd&limit=2").await.len(), 4);
    assert_eq!(walk(&app, "name=nothing").await.len(), 0);
    // [10:02, 10:05): 10:02, 10:03, 10:04 and the three ties at 10:04.
    let window = walk(
        &app,
        "from=2025-04-01T10:02:00Z&to=2025-04-01T10:05:00Z&limit=2",
    )
    .await;
    assert_eq!(window.len(), 6);
    assert!(window.iter().all(|(t, _)| t.as_str() >= "2025-04-01T10:02:00" && t.as_str() < "2025-04-01T10:05:00"));
    // Offsets must be percent-encoded in a query string: %2B is `+`.
    let offset = walk(&app, "from=2025-04-01T12:08:00%2B02:00").await;
    assert_eq!(offset.len(), 1);
    assert_eq!(
        walk(
            &app,
            "name=tie&from=2025-04-01T10:04:00Z&to=2025-04-01T10:04:00.000001Z"
        )
        .await
        .len(),
        3
    );
}

#[tokio::test]
async fn bad_parameters_are_400_naming_the_parameter() {
    let app = TestApp::start().await;
    for (query, parameter) in [
        ("limit=0", "limit"),
        ("limit=501", "limit"),
        ("limit=x", "limit"),
        ("cursor=garbage", "cursor"),
        ("from=yesterday", "from"),
        ("to=2025-04-01", "to"),
    ] {
        let (status, body) = app.get(&format!("/v1/events?{query}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
        assert_eq!(error_code(&body), "invalid_parameter");
        assert_eq!(body["error"]["field"], parameter, "{query}");
    }
    let (status, body) = app.get("/v1/events?limt=5").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["error"]["message"].as_str().unwrap().contains("limt"),
        "{body}"
    );
}
