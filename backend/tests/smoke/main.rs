//! The smoke suite: is a deployed EventFlow alive and answering in time? It runs right after a
//! deploy, so it is small and bounded: about 25 requests, each with the client's 30 s timeout.
//! `cargo xtask test smoke` runs it against PostgreSQL and the backend started on loopback,
//! `cargo xtask test smoke --base-url URL` against a deployed environment.
//!
//! Environment: `EVENTFLOW_BASE_URL` and `JWT_SECRET` (required), `ADMIN_API_TOKEN` (for the
//! test that writes), `JWT_ISSUER`/`JWT_AUDIENCE` (when not the defaults), `EVENTFLOW_EXPECTED_GIT_SHA`
//! (checked against `/health` when set), `EVENTFLOW_SMOKE_P95_MS` (the response-time budget,
//! default 500).
//!
//! Like the end-to-end suite (whose run fixture it shares), the test that writes creates its own
//! API key and tags its event with its run's user id, and deletes both on the way out.

use std::time::{Duration, Instant};

use eventflow_backend::auth::jwt::Role;
use reqwest::StatusCode;
use serde_json::json;

// Shared with the end-to-end suite, which uses all of it.
#[allow(dead_code)]
#[path = "../common/deployment.rs"]
mod support;

use support::{Config, Run, client, send};

/// Names this suite's API keys, user ids and events (`smoke-…`), so a leftover is traceable.
const SUITE: &str = "smoke";

/// How many API calls the response-time check makes.
const SAMPLES: usize = 20;

#[tokio::test]
async fn health_reports_the_build_and_its_database() {
    let config = Config::from_env();
    let (status, health) = send(client().get(format!("{}/health", config.base_url))).await;
    assert_eq!(status, StatusCode::OK, "/health: {health}");
    assert_eq!(health["status"], "ok", "{health}");
    assert_eq!(
        health["database"], "ok",
        "the service does not reach its database: {health}"
    );
    assert!(
        health["migration_version"].as_i64().is_some_and(|v| v > 0),
        "no migration applied: {health}"
    );
    if let Some(expected) = &config.expected_git_sha {
        assert_eq!(
            health["git_sha"],
            expected.as_str(),
            "the deployment runs another build"
        );
    }
}

#[tokio::test]
async fn an_event_goes_in_and_comes_back() {
    let run = Run::start().await;
    let name = run.event_name("ping");
    let event = json!({"name": name, "user_id": run.user_id, "properties": {"check": "smoke"}});
    assert_eq!(
        run.ingest(&event).await,
        (StatusCode::ACCEPTED, json!({"accepted": 1}))
    );
    let events = run.events_named(&name, 10).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["user_id"], run.user_id.as_str());
    assert_eq!(events[0]["properties"]["check"], "smoke");
}

#[tokio::test]
async fn api_calls_answer_within_the_budget() {
    let config = Config::from_env();
    let budget = budget();
    let client = client();
    let token = config.token(Role::Viewer);
    let mut times = Vec::with_capacity(SAMPLES);
    for _ in 0..SAMPLES {
        let started = Instant::now();
        let response = client
            .get(format!("{}/v1/events?limit=1", config.base_url))
            .bearer_auth(&token)
            .send()
            .await
            .expect("GET /v1/events");
        let status = response.status();
        let _ = response.bytes().await;
        times.push(started.elapsed());
        assert_eq!(status, StatusCode::OK, "GET /v1/events?limit=1");
    }
    let p95 = percentile(&mut times, 95);
    eprintln!(
        "{SAMPLES} calls of GET /v1/events: p50 {:?}, p95 {p95:?}, max {:?} (budget {budget:?})",
        percentile(&mut times, 50),
        times.iter().max().unwrap()
    );
    assert!(
        p95 <= budget,
        "p95 of {SAMPLES} API calls is {p95:?}, over the {budget:?} budget (EVENTFLOW_SMOKE_P95_MS)"
    );
}

/// `EVENTFLOW_SMOKE_P95_MS`, default 500 ms.
fn budget() -> Duration {
    match std::env::var("EVENTFLOW_SMOKE_P95_MS") {
        Err(_) => Duration::from_millis(500),
        Ok(value) => Duration::from_millis(value.trim().parse().unwrap_or_else(|_| {
            panic!("EVENTFLOW_SMOKE_P95_MS is `{value}`: set it to a whole number of milliseconds")
        })),
    }
}

/// The nearest-rank percentile: the smallest sample that at least `p`% of them don't exceed.
fn percentile(samples: &mut [Duration], p: usize) -> Duration {
    samples.sort();
    let rank = (samples.len() * p).div_ceil(100).max(1);
    samples[rank - 1]
}

#[test]
fn the_percentile_is_the_nearest_rank() {
    let mut samples: Vec<Duration> = (1..=20).rev().map(Duration::from_millis).collect();
    assert_eq!(percentile(&mut samples, 95), Duration::from_millis(19));
    assert_eq!(percentile(&mut samples, 50), Duration::from_millis(10));
    assert_eq!(
        percentile(&mut [Duration::from_millis(7)], 95),
        Duration::from_millis(7)
    );
}
