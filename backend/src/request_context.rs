//! The middleware every request passes through: it gets a request id (the caller's
//! `x-request-id` if sane, else a new one, echoed in the response), a tracing span carrying
//! that id so every log line of the request shows it, one access-log line, and metrics.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use rand::RngCore;
use tracing::Instrument;

use crate::state::AppState;

pub static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

const MAX_REQUEST_ID_BYTES: usize = 128;

pub async fn track(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let started = Instant::now();
    let request_id = request
        .headers()
        .get(&REQUEST_ID)
        .filter(|value| is_acceptable_request_id(value.as_bytes()))
        .cloned()
        .unwrap_or_else(new_request_id);
    request
        .headers_mut()
        .insert(REQUEST_ID.clone(), request_id.clone());

    let method = request.method().clone();
    // The route pattern, not the path, keeps metric labels few: `/v1/admin/api-keys/{id}`.
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str)
        .to_owned();
    let span = tracing::info_span!(
        "request",
        request_id = %String::from_utf8_lossy(request_id.as_bytes()),
        method = %method,
        route = %route,
    );

    let mut response = next.run(request).instrument(span.clone()).await;

    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    state
        .metrics
        .observe_request(method.as_str(), &route, status, elapsed.as_secs_f64());
    span.in_scope(|| {
        let duration_ms = elapsed.as_secs_f64() * 1000.0;
        // Health checks and scrapes arrive every few seconds: keep them out of the default log.
        if matches!(route.as_str(), "/health" | "/metrics") && status < 500 {
            tracing::debug!(status, duration_ms, "request completed");
        } else {
            tracing::info!(status, duration_ms, "request completed");
        }
    });
    response
        .headers_mut()
        .insert(REQUEST_ID.clone(), request_id);
    response
}

/// Visible ASCII only, and not too long: the id goes into every log line of the request.
fn is_acceptable_request_id(value: &[u8]) -> bool {
    !value.is_empty()
        && value.len() <= MAX_REQUEST_ID_BYTES
        && value.iter().all(|b| (0x21..=0x7e).contains(b))
}

fn new_request_id() -> HeaderValue {
    let mut bytes = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut bytes);
    HeaderValue::from_str(&hex::encode(bytes)).expect("hex is a valid header value")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids() {
        assert!(is_acceptable_request_id(b"abc-123_XYZ"));
        assert!(!is_acceptable_request_id(b""));
        assert!(!is_acceptable_request_id(b"has space"));
        assert!(!is_acceptable_request_id(&[b'a'; MAX_REQUEST_ID_BYTES + 1]));
        let generated = new_request_id();
        assert_eq!(generated.len(), 32);
        assert!(is_acceptable_request_id(generated.as_bytes()));
        assert_ne!(generated, new_request_id());
    }
}
