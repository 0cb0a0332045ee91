//! `GET /health`, read by the load balancer, the deploy verification and the smoke tests:
//! which build this is, and whether PostgreSQL answers, at which migration. It is the
//! readiness check: a task whose database is away stops getting traffic. It also reports the
//! schema's position, which the deploy engine reads before a rollback: the newest migration
//! this build knows, and the schema floor, the oldest release (by its newest migration) that
//! could start on this database (see `migrations::schema_floor`).
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
use utoipa::ToSchema;

use crate::build_info;
use crate::migrations;
use crate::state::AppState;

/// Well under the load balancer's health-check timeout, so a stuck database shows as 503
/// rather than as a timed-out check.
pub const DATABASE_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok`, or `unavailable` when PostgreSQL doesn't answer.
    #[schema(example = "ok")]
    status: &'static str,
    #[schema(example = "0.1.0")]
    version: &'static str,
    git_sha: &'static str,
    /// `ok` or `unreachable`.
    #[schema(example = "ok")]
    database: &'static str,
    /// The newest applied migration; `null` when unknown.
    migration_version: Option<i64>,
    /// The newest migration this build knows (and applies at start-up).
    #[schema(example = 3)]
    known_migration_version: i64,
    /// The oldest release, named by its newest migration, that can serve this database: a
    /// build whose `known_migration_version` is lower refuses to start on it. `null` when
    /// unknown.
    schema_floor: Option<i64>,
}

/// Which build this is, and whether PostgreSQL answers, at which migration.
#[utoipa::path(
    get,
    operation_id = "health",
    path = "/health",
    tag = "operations",
    responses(
        (status = 200, description = "Serving, with its database", body = Health),
        (status = 503, description = "PostgreSQL didn't answer within 2 s: `status` is `unavailable`, `database` `unreachable`", body = Health),
    )
)]
pub async fn handler(State(state): State<AppState>) -> Response {
    let probe = tokio::time::timeout(DATABASE_TIMEOUT, migrations::position(&state.pool)).await;
    let (status, health) = match probe {
        Ok(Ok(position)) => (
            StatusCode::OK,
            Health {
                status: "ok",
                version: build_info::VERSION,
                git_sha: build_info::GIT_SHA,
                database: "ok",
                migration_version: position.applied,
                known_migration_version: migrations::latest_known_version(),
                schema_floor: position.floor,
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
                    known_migration_version: migrations::latest_known_version(),
                    schema_floor: None,
                },
            )
        }
    };
    (status, Json(health)).into_response()
}

/// What `/health/live` answers: the process is up; the database is not asked.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Live {
    status: &'static str,
    version: &'static str,
    git_sha: &'static str,
}

#[utoipa::path(
    get,
    operation_id = "health_live",
    path = "/health/live",
    tag = "operations",
    responses(
        (status = 200, description = "The process is up (the database is not asked): the container health check", body = Live),
    )
)]
pub async fn live() -> Json<Live> {
    Json(Live {
        status: "ok",
        version: build_info::VERSION,
        git_sha: build_info::GIT_SHA,
    })
}
