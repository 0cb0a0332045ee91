//! What the server does when asked for more than it can do: at most `MAX_IN_FLIGHT_REQUESTS`
//! requests at once (more are shed with 503 at once, rather than queueing for a database
//! connection until the pool's acquire timeout), and none runs longer than
//! `REQUEST_TIMEOUT_SECS` (503 `request_timeout`). Both answers carry `Retry-After`.
//!
//! 503 rather than 504 for the timeout: the client talks to this server, not through it, and
//! 503 with `Retry-After` is what every other "not now" of this API answers, so clients and
//! the load balancer's metrics treat them alike.
//!
//! Health checks and `/metrics` stay outside these limits, so an overloaded task still says
//! it is alive and can be watched.

use std::time::Duration;

use axum::Router;
use axum::error_handling::HandleErrorLayer;
use tower::limit::GlobalConcurrencyLimitLayer;
use tower::load_shed::LoadShedLayer;
use tower::load_shed::error::Overloaded;
use tower::timeout::TimeoutLayer;
use tower::timeout::error::Elapsed;
use tower::{BoxError, ServiceBuilder};

use crate::config::Limits;
use crate::error::ApiError;
use crate::state::AppState;

/// `router` with the in-flight limit and the request timeout. One semaphore is shared by
/// every route (axum layers each route separately: a per-route limit would multiply it).
pub fn limit(router: Router<AppState>, limits: &Limits) -> Router<AppState> {
    let request_timeout = limits.request_timeout;
    router.layer(
        ServiceBuilder::new()
            .layer(HandleErrorLayer::new(move |error: BoxError| async move {
                answer(&error, request_timeout)
            }))
            .layer(LoadShedLayer::new())
            .layer(GlobalConcurrencyLimitLayer::new(limits.max_in_flight))
            .layer(TimeoutLayer::new(request_timeout)),
    )
}

fn answer(error: &BoxError, request_timeout: Duration) -> ApiError {
    if error.is::<Elapsed>() {
        tracing::warn!(
            timeout_secs = request_timeout.as_secs(),
            "request timed out"
        );
        ApiError::request_timeout(request_timeout)
    } else if error.is::<Overloaded>() {
        tracing::warn!("request shed: too many in flight");
        ApiError::overloaded()
    } else {
        ApiError::internal(error.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use axum::http::StatusCode;

    use super::*;

    #[test]
    fn errors_become_503_with_their_codes() {
        let timeout = Duration::from_secs(7);
        let elapsed: BoxError = Box::new(Elapsed::new());
        let error = answer(&elapsed, timeout);
        assert_eq!(
            (error.status, error.code, error.retry_after_secs),
            (StatusCode::SERVICE_UNAVAILABLE, "request_timeout", Some(1))
        );
        assert!(error.message.contains("7 s"), "{}", error.message);
        let overloaded: BoxError = Box::new(Overloaded::new());
        let error = answer(&overloaded, timeout);
        assert_eq!(
            (error.status, error.code),
            (StatusCode::SERVICE_UNAVAILABLE, "overloaded")
        );
    }
}
