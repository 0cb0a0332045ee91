//! Prometheus metrics, served as text at `GET /metrics`.
//!
//! The registry belongs to the [`Metrics`] value rather than being global, so that several
//! servers in one process (the integration tests) keep separate counts.

use axum::extract::State;
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
    TextEncoder,
};
use sqlx::PgPool;

use crate::build_info;
use crate::state::AppState;

pub struct Metrics {
    registry: Registry,
    http_requests: IntCounterVec,
    http_request_duration: HistogramVec,
    pub events_ingested: IntCounter,
    db_pool_connections: IntGauge,
    db_pool_idle_connections: IntGauge,
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new();
        let http_requests = IntCounterVec::new(
            Opts::new(
                "http_requests_total",
                "HTTP requests answered, by route and status.",
            ),
            &["method", "route", "status"],
        )
        .expect("valid metric");
        let http_request_duration = HistogramVec::new(
            HistogramOpts::new(
                "http_request_duration_seconds",
                "Time to answer an HTTP request, by route.",
            ),
            &["method", "route"],
        )
        .expect("valid metric");
        let events_ingested = IntCounter::new(
            "eventflow_events_ingested_total",
            "Events stored by POST /v1/events.",
        )
        .expect("valid metric");
        let db_pool_connections = IntGauge::new(
            "eventflow_db_pool_connections",
            "Open PostgreSQL connections in the pool.",
        )
        .expect("valid metric");
        let db_pool_idle_connections = IntGauge::new(
            "eventflow_db_pool_idle_connections",
            "Idle PostgreSQL connections in the pool.",
        )
        .expect("valid metric");
        let build_info = IntGauge::with_opts(
            Opts::new("eventflow_build_info", "The running build; always 1.")
                .const_label("version", build_info::VERSION)
                .const_label("git_sha", build_info::GIT_SHA),
        )
        .expect("valid metric");
        build_info.set(1);

        for collector in [
            Box::new(http_requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(http_request_duration.clone()),
            Box::new(events_ingested.clone()),
            Box::new(db_pool_connections.clone()),
            Box::new(db_pool_idle_connections.clone()),
            Box::new(build_info),
        ] {
            registry
                .register(collector)
                .expect("metric names are unique");
        }
        Self {
            registry,
            http_requests,
            http_request_duration,
            events_ingested,
            db_pool_connections,
            db_pool_idle_connections,
        }
    }

    /// `route` must be a route pattern or `unmatched`, never a raw path: with the method
    /// reduced by [`method_label`], the label sets stay a small constant.
    pub fn observe_request(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let method = method_label(method);
        self.http_requests
            .with_label_values(&[method, route, &status.to_string()])
            .inc();
        self.http_request_duration
            .with_label_values(&[method, route])
            .observe(seconds);
    }

    /// The exposition text; pool gauges are read now rather than kept up to date.
    pub fn render(&self, pool: &PgPool) -> String {
        self.db_pool_connections.set(i64::from(pool.size()));
        self.db_pool_idle_connections.set(pool.num_idle() as i64);
        let mut buffer = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut buffer)
            .expect("encoding to memory cannot fail");
        String::from_utf8(buffer).expect("the text format is UTF-8")
    }
}

/// The standard methods keep their name; anything else a client invents is `other`, so a
/// flood of made-up methods can't grow the label sets (and the registry's memory).
pub fn method_label(method: &str) -> &'static str {
    const KNOWN: [&str; 9] = [
        "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE",
    ];
    KNOWN
        .into_iter()
        .find(|known| *known == method)
        .unwrap_or("other")
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// Prometheus metrics in the text exposition format.
#[utoipa::path(
    get,
    operation_id = "metrics",
    path = "/metrics",
    tag = "operations",
    responses(
        (status = 200, description = "Prometheus text", body = String, content_type = "text/plain"),
    )
)]
pub async fn handler(State(state): State<AppState>) -> Response {
    let body = state.metrics.render(&state.pool);
    (
        StatusCode::OK,
        [(CONTENT_TYPE, prometheus::TEXT_FORMAT)],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_methods_are_labelled_other() {
        assert_eq!(method_label("GET"), "GET");
        assert_eq!(method_label("DELETE"), "DELETE");
        assert_eq!(method_label("get"), "other");
        assert_eq!(method_label("BREW"), "other");
        assert_eq!(method_label("X-RANDOM-1234"), "other");
    }
}
