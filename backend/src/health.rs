//! `GET /health`, read by the load balancer, the deploy verification and the smoke tests:
//! which build this is, and whether PostgreSQL answers, at which migration. It is the
//! readiness check: a task whose database is away stops getting traffic.
//!
//! `GET /health/live` is the liveness check of the container (Docker's HEALTHCHECK, ECS's
//! container health check): the process answers HTTP. It touches no database, so a slow or
//! restarting PostgreSQL never gets healthy tasks killed and replaced.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::build_info;
use crate::migrations;
use crate::state::AppState;

/// Well under the load balancer's health-check timeout, so a stuck database shows as 503
/// rather than as a timed-out check.
pub const DATABASE_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug, Serialize)]
struct Health {
    status: &'static str,
    version: &'static str,
    git_sha: &'static str,
    database: &'static str,
    migration_version: Option<i64>,
}

pub async fn handler(State(state): State<AppState>) -> Response {
    let probe =
        tokio::time::timeout(DATABASE_TIMEOUT, migrations::applied_version(&state.pool)).await;
    let (status, health) = match probe {
        Ok(Ok(version)) => (
            StatusCode::OK,
            Health {
                status: "ok",
                version: build_info::VERSION,
                git_sha: build_info::GIT_SHA,
                database: "ok",
                migration_version: version,
            },
        ),
        outcome => {
            if let Ok(Err(error)) = outcome {
                tracing::warn!(error = %error, "health check: database query failed");
            } else {
                tracing::warn!("health check: database did not answer within {DATABASE_TIMEOUT:?}");
            }
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Health {
                    status: "unavailable",
                    version: build_info::VERSION,
                    git_sha: build_info::GIT_SHA,
                    database: "unreachable",
                    migration_version: None,
                },
            )
        }
    };
    (status, Json(health)).into_response()
}

#[derive(Debug, Serialize)]
struct Live {
    status: &'static str,
    version: &'static str,
    git_sha: &'static str,
}

pub async fn live() -> Json<impl Serialize> {
    Json(Live {
        status: "ok",
        version: build_info::VERSION,
        git_sha: build_info::GIT_SHA,
    })
}
