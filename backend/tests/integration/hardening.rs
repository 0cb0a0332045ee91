//! Behaviour under load and faults: liveness without the database, timeouts, load shedding,
//! per-key rate limits, bounded metric labels, and 503 (not 500) when PostgreSQL goes away.

use std::io::{Read, Write};
use std::str::FromStr;
use std::time::{Duration, Instant};

use eventflow_backend::auth::api_key;
use eventflow_backend::config::{Limits, Secret};
use eventflow_backend::db;
use eventflow_backend::state::AppState;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, Executor, PgConnection};

use crate::support::{API_KEYS_SECRET, JWT_SECRET, TestApp, TestDb, error_code, read};

fn limits(change: impl FnOnce(&mut Limits)) -> Limits {
    let mut limits = Limits::default();
    change(&mut limits);
    limits
}

/// Holds `LOCK TABLE events IN ACCESS EXCLUSIVE MODE` until dropped (the transaction ends
/// with the connection).
async fn lock_events(app: &TestApp) -> PgConnection {
    let mut connection = app.pool.acquire().await.unwrap().detach();
    connection.execute("BEGIN").await.unwrap();
    connection
        .execute("LOCK TABLE events IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();
    connection
}

#[tokio::test]
async fn liveness_answers_without_the_database() {
    // Nothing listens on port 1: readiness fails, liveness doesn't care.
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
    let (status, body) = read(
        app.client
            .get(app.url("/health/live"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "ok");
    assert!(started.elapsed() < Duration::from_secs(1));
    let (status, _) = read(app.client.get(app.url("/health")).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn a_locked_table_fails_fast_with_503_and_liveness_stays_up() {
    let app = TestApp::start_with(|state| {
        state.with_limits(limits(|l| l.request_timeout = Duration::from_secs(1)))
    })
    .await;
    let lock = lock_events(&app).await;
    let started = Instant::now();
    let response = app
        .client
        .post(app.url("/v1/events"))
        .header("x-api-key", &app.api_key)
        .json(&json!({"name": "blocked"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["retry-after"], "1");
    let (status, body) = read(response).await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::SERVICE_UNAVAILABLE, "request_timeout")
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    let (status, _) = read(
        app.client
            .get(app.url("/health/live"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    drop(lock);
    // Recovered by itself once the lock is gone.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, _) = app.ingest(&json!({"name": "after"})).await;
        if status == StatusCode::ACCEPTED {
            break;
        }
        assert!(Instant::now() < deadline, "still {status} after the lock");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn requests_beyond_the_in_flight_limit_are_shed() {
    let app = TestApp::start_with(|state| {
        state.with_limits(limits(|l| {
            l.max_in_flight = 1;
            l.request_timeout = Duration::from_secs(3);
        }))
    })
    .await;
    let lock = lock_events(&app).await;
    let blocked = {
        let request = app
            .client
            .post(app.url("/v1/events"))
            .header("x-api-key", &app.api_key)
            .json(&json!({"name": "held"}));
        tokio::spawn(async move { request.send().await.unwrap().status() })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    let started = Instant::now();
    let response = app.client.get(app.url("/v1/stats")).send().await.unwrap();
    assert_eq!(response.headers()["retry-after"], "1");
    let (status, body) = read(response).await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::SERVICE_UNAVAILABLE, "overloaded")
    );
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "shed at once"
    );
    // Health and metrics are outside the limit.
    let (status, _) = read(
        app.client
            .get(app.url("/health/live"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    drop(lock);
    assert_eq!(blocked.await.unwrap(), StatusCode::ACCEPTED);
}

#[tokio::test]
async fn one_key_over_its_rate_gets_429_and_another_key_does_not() {
    let app = TestApp::start_with(|state| {
        state.with_limits(limits(|l| {
            l.api_key_rate_per_second = 1;
            l.api_key_rate_burst = 3;
        }))
    })
    .await;
    for _ in 0..3 {
        assert_eq!(
            app.ingest(&json!({"name": "x"})).await.0,
            StatusCode::ACCEPTED
        );
    }
    let response = app
        .client
        .post(app.url("/v1/events"))
        .header("x-api-key", &app.api_key)
        .json(&json!({"name": "x"}))
        .send()
        .await
        .unwrap();
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry_after), "{retry_after}");
    let (status, body) = read(response).await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::TOO_MANY_REQUESTS, "rate_limited")
    );

    let (_, other) = api_key::create(&app.pool, &Secret::new(API_KEYS_SECRET), "other")
        .await
        .unwrap();
    let response = app
        .client
        .post(app.url("/v1/events"))
        .header("x-api-key", &other)
        .json(&json!({"name": "y"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    assert_eq!(app.event_count().await, 4);
}

#[tokio::test]
async fn the_pool_sets_statement_timeout_and_a_cancelled_statement_is_503() {
    let db = TestDb::migrated().await;
    let config = eventflow_backend::config::DatabaseConfig {
        connect_options: db.options.clone(),
        max_connections: 2,
    };
    let pool = db::connect(&config, Duration::from_millis(300))
        .await
        .unwrap();
    let setting: String = sqlx::query_scalar("SHOW statement_timeout")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(setting, "300ms");
    let error = sqlx::query("SELECT pg_sleep(2)")
        .execute(&pool)
        .await
        .unwrap_err();
    let api = eventflow_backend::error::ApiError::from(error);
    assert_eq!(
        (api.status.as_u16(), api.code, api.retry_after_secs),
        (503, "database_unavailable", Some(1))
    );
}

#[tokio::test]
async fn a_terminated_database_connection_is_503_not_500() {
    let app = TestApp::start_with(|state| {
        state.with_limits(limits(|l| l.request_timeout = Duration::from_secs(20)))
    })
    .await;
    let lock = lock_events(&app).await;
    let request = app
        .client
        .post(app.url("/v1/events"))
        .header("x-api-key", &app.api_key)
        .json(&json!({"name": "cut"}));
    let pending = tokio::spawn(async move { request.send().await.unwrap() });
    // Wait for the insert to block on the lock, then end its session as a restart would.
    let mut admin = PgConnection::connect_with(&app.pool.connect_options())
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let terminated: i64 = sqlx::query_scalar(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
             WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE 'INSERT%'",
        )
        .fetch_one(&mut admin)
        .await
        .unwrap();
        if terminated > 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the insert never waited on the lock"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let response = pending.await.unwrap();
    assert_eq!(response.headers()["retry-after"], "1");
    let (status, body) = read(response).await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::SERVICE_UNAVAILABLE, "database_unavailable")
    );
    drop(lock);
}

#[tokio::test]
async fn random_methods_are_labelled_other_and_unknown_paths_unmatched() {
    let app = TestApp::start().await;
    for (method, path) in [
        ("BREW", "/v1/events"),
        ("X-ANYTHING", "/nope/123"),
        ("GET", "/random/abc"),
    ] {
        app.client
            .request(
                reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
                app.url(path),
            )
            .send()
            .await
            .unwrap();
    }
    let metrics = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics
            .contains(r#"http_requests_total{method="other",route="/v1/events",status="405"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"http_requests_total{method="other",route="unmatched",status="404"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"http_requests_total{method="GET",route="unmatched",status="404"} 1"#)
    );
    for invented in ["BREW", "X-ANYTHING", "/nope/123", "/random/abc"] {
        assert!(!metrics.contains(invented), "{invented} became a label");
    }
}

#[tokio::test]
async fn tampered_cursors_and_out_of_range_times_are_4xx() {
    use base64::Engine;
    let app = TestApp::start().await;
    let b64 = |text: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text);
    for cursor in [
        b64("-8210298412800000000:1"),
        b64(&format!("{}:1", i64::MAX)),
        b64("1700000000000000:-99999999999999999999"),
        "%00%FF".to_owned(),
    ] {
        let (status, body) = app.get(&format!("/v1/events?cursor={cursor}")).await;
        assert_eq!(
            (status, error_code(&body)),
            (StatusCode::BAD_REQUEST, "invalid_parameter"),
            "{cursor}"
        );
    }
    let (status, body) = app.get("/v1/events?from=0000-01-01T00:00:00Z").await;
    assert_ne!(status, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
    for timestamp in [
        "1970-01-01T00:00:00Z",
        "2999-01-01T00:00:00Z",
        "9999-12-31T23:59:59Z",
    ] {
        let (status, body) = app
            .ingest(&json!({"name": "x", "timestamp": timestamp}))
            .await;
        assert_eq!(
            (status, body["error"]["field"].clone()),
            (StatusCode::UNPROCESSABLE_ENTITY, Value::from("timestamp")),
            "{timestamp}: {body}"
        );
    }
    assert_eq!(app.event_count().await, 0);
}

#[tokio::test]
async fn stats_ranges_are_bounded_in_days() {
    let app =
        TestApp::start_with(|state| state.with_limits(limits(|l| l.stats_max_range_days = 2)))
            .await;
    let (status, body) = app
        .get("/v1/stats?from=2025-01-01T00:00:00Z&to=2025-01-04T00:00:00Z")
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["field"], "from");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("2 days"),
        "{body}"
    );
    let (status, _) = app
        .get("/v1/stats?from=2025-01-01T00:00:00Z&to=2025-01-03T00:00:00Z")
        .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn a_client_that_never_finishes_its_headers_is_cut_off() {
    let app = TestApp::start_with(|state| {
        state.with_limits(limits(|l| l.header_read_timeout = Duration::from_secs(1)))
    })
    .await;
    let addr = app.base_url.trim_start_matches("http://").to_owned();
    let outcome = tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        stream
            .write_all(b"GET /health/live HTTP/1.1\r\nHost: x\r\n")
            .unwrap();
        let started = Instant::now();
        let mut buffer = Vec::new();
        // The server closes the connection (EOF) rather than wait for the rest.
        let read = stream.read_to_end(&mut buffer);
        (read.is_ok(), started.elapsed())
    })
    .await
    .unwrap();
    assert!(outcome.0, "the connection was not closed by the server");
    assert!(
        outcome.1 < Duration::from_secs(5),
        "closed after {:?}",
        outcome.1
    );
}
