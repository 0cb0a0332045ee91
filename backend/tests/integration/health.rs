//! `/health`, `/metrics` and request ids.

use std::str::FromStr;
use std::time::{Duration, Instant};

use eventflow_backend::build_info;
use eventflow_backend::config::Secret;
use eventflow_backend::migrations::latest_known_version;
use eventflow_backend::state::AppState;
use reqwest::StatusCode;
use serde_json::json;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use crate::support::{API_KEYS_SECRET, JWT_SECRET, TestApp, TestDb, read};

#[tokio::test]
async fn health_reports_the_build_and_the_migration() {
    let app = TestApp::start().await;
    let (status, body) = read(app.client.get(app.url("/health")).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        json!({
            "status": "ok",
            "version": env!("CARGO_PKG_VERSION"),
            "git_sha": build_info::GIT_SHA,
            "database": "ok",
            "migration_version": latest_known_version(),
            "known_migration_version": latest_known_version(),
            "schema_floor": latest_known_version(),
        })
    );
}

/// The schema floor follows the database, not the build: a migration from a newer release
/// raises it to that migration, until a `schema_compatibility` row declares an older release
/// compatible.
#[tokio::test]
async fn health_reports_the_schema_floor_of_a_database_moved_ahead() {
    let app = TestApp::start().await;
    let known = latest_known_version();
    let ahead = known + 1;
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES ($1, 'from a newer release', true, '\\x00', 0)",
    )
    .bind(ahead)
    .execute(&app.pool)
    .await
    .unwrap();
    let health = |app: &TestApp| {
        let request = app.client.get(app.url("/health")).send();
        async move { read(request.await.unwrap()).await.1 }
    };
    let body = health(&app).await;
    assert_eq!(body["migration_version"], ahead);
    assert_eq!(body["known_migration_version"], known);
    assert_eq!(body["schema_floor"], ahead, "{body}");

    sqlx::query("INSERT INTO schema_compatibility VALUES ($1, $2)")
        .bind(ahead)
        .bind(known)
        .execute(&app.pool)
        .await
        .unwrap();
    assert_eq!(health(&app).await["schema_floor"], known);
}

#[tokio::test]
async fn health_is_503_when_the_database_does_not_answer() {
    // Nothing listens on port 1; the pool only tries when asked.
    let unreachable = PgConnectOptions::from_str("postgres://nobody@127.0.0.1:1/none").unwrap();
    let pool = PgPoolOptions::new()
        .acquire_timeout(Duration::from_secs(5))
        .connect_lazy_with(unreachable);
    let state = AppState::new(
        pool.clone(),
        Secret::new(JWT_SECRET),
        Secret::new(API_KEYS_SECRET),
    );
    let app = TestApp::serve(TestDb::create().await, pool, state).await;

    let started = Instant::now();
    let (status, body) = read(app.client.get(app.url("/health")).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["status"], "unavailable");
    assert_eq!(body["database"], "unreachable");
    assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(body["known_migration_version"], latest_known_version());
    assert_eq!(body["schema_floor"], serde_json::Value::Null);
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "health answers within its own timeout"
    );
}

#[tokio::test]
async fn metrics_count_requests_events_and_connections() {
    let app = TestApp::start().await;
    app.ingest(&json!({"events": [{"name": "a"}, {"name": "b"}, {"name": "c"}]}))
        .await;
    app.ingest(&json!({"name": ""})).await;
    let response = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = response.text().await.unwrap();
    for line in [
        r#"http_requests_total{method="POST",route="/v1/events",status="202"} 1"#,
        r#"http_requests_total{method="POST",route="/v1/events",status="422"} 1"#,
        r#"http_request_duration_seconds_count{method="POST",route="/v1/events"} 2"#,
        "eventflow_events_ingested_total 3",
        "eventflow_db_pool_connections ",
        "eventflow_db_pool_idle_connections ",
        "eventflow_build_info{",
    ] {
        assert!(text.contains(line), "missing `{line}` in:\n{text}");
    }
}

#[tokio::test]
async fn request_ids_are_echoed_or_generated() {
    let app = TestApp::start().await;
    let response = app
        .client
        .get(app.url("/health"))
        .header("x-request-id", "trace-abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "trace-abc-123");

    let response = app.client.get(app.url("/health")).send().await.unwrap();
    let generated = response.headers()["x-request-id"].to_str().unwrap();
    assert_eq!(generated.len(), 32);
    assert!(generated.bytes().all(|b| b.is_ascii_hexdigit()));

    // Unreasonable ids are replaced rather than written into every log line.
    let long = "x".repeat(500);
    let response = app
        .client
        .get(app.url("/nowhere"))
        .header("x-request-id", &long)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(response.headers()["x-request-id"].len(), 32);
}
