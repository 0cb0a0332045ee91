//! The HTTP server: the router with its middleware, and a lifecycle that ECS can rely on:
//! migrate before listening, and on SIGTERM stop accepting, let in-flight requests finish
//! within a deadline, close the pool, exit 0.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::routing::get;
use axum::serve::ListenerExt;
use tokio::net::TcpListener;
use tokio::signal::unix::{Signal, SignalKind, signal};

use crate::config::ServeConfig;
use crate::error::ApiError;
use crate::routes::BODY_LIMIT_BYTES;
use crate::state::AppState;
use crate::{build_info, db, health, metrics, migrations, openapi, request_context, routes};

/// How long in-flight requests get after SIGTERM. ECS waits 30 s (its default stopTimeout)
/// before SIGKILL, so this leaves time to close the pool and exit cleanly.
pub const SHUTDOWN_DEADLINE: Duration = Duration::from_secs(20);

pub fn app(state: AppState) -> Router {
    Router::new()
        .merge(routes::router())
        .route("/health", get(health::handler))
        .route("/metrics", get(metrics::handler))
        .route("/openapi.json", get(openapi::handler))
        .fallback(|| async { ApiError::not_found("no such endpoint") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this endpoint does not accept that method",
            )
        })
        // Bodies are read by `routes::json_body`; this bounds any extractor added later.
        .layer(DefaultBodyLimit::max(BODY_LIMIT_BYTES))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            request_context::track,
        ))
        .with_state(state)
}

/// Serves `app` until `shutdown` completes, then gives in-flight requests `deadline` to
/// finish. New connections are refused from the moment `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    deadline: Duration,
) -> std::io::Result<()> {
    let (stopping_tx, stopping_rx) = tokio::sync::oneshot::channel::<()>();
    let graceful = async move {
        shutdown.await;
        let _ = stopping_tx.send(());
    };
    // Responses are written whole, so Nagle's algorithm would only add latency.
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    let server = axum::serve(listener, app)
        .with_graceful_shutdown(graceful)
        .into_future();
    let deadline_passed = async move {
        match stopping_rx.await {
            Ok(()) => tokio::time::sleep(deadline).await,
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        result = server => result,
        () = deadline_passed => {
            tracing::warn!(deadline_secs = deadline.as_secs(), "requests still in flight at the shutdown deadline: dropping them");
            Ok(())
        }
    }
}

/// SIGTERM (ECS stopping a task) or SIGINT (Ctrl-C). Installed before the server listens,
/// so a signal that arrives early is not lost to the default handler, which would kill the
/// process at once.
pub struct ShutdownSignal {
    terminate: Signal,
    interrupt: Signal,
}

impl ShutdownSignal {
    pub fn install() -> std::io::Result<Self> {
        Ok(Self {
            terminate: signal(SignalKind::terminate())?,
            interrupt: signal(SignalKind::interrupt())?,
        })
    }

    pub async fn received(mut self) {
        let name = tokio::select! {
            _ = self.terminate.recv() => "SIGTERM",
            _ = self.interrupt.recv() => "SIGINT",
        };
        tracing::info!(
            signal = name,
            "shutdown signal received: refusing new connections, finishing in-flight requests"
        );
    }
}

/// `eventflow-backend` with no subcommand: migrate, verify, listen, and shut down gracefully.
pub async fn run(config: ServeConfig) -> anyhow::Result<()> {
    let signal = ShutdownSignal::install().context("cannot install the SIGTERM handler")?;
    tracing::info!(
        version = build_info::VERSION,
        git_sha = build_info::GIT_SHA,
        "starting"
    );

    let outcome = migrations::run(&config.database.connect_options).await?;
    tracing::info!(applied = ?outcome.applied, migration_version = outcome.version, "migrations verified");
    if !outcome.ahead_compatible.is_empty() {
        tracing::warn!(
            migrations = ?outcome.ahead_compatible,
            "the database is ahead of this binary; those migrations declare it compatible"
        );
    }

    let pool = db::connect(&config.database).await?;
    let state = AppState::new(pool.clone(), config.jwt_secret, config.api_keys_secret);
    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let addr: SocketAddr = listener
        .local_addr()
        .context("cannot read the listening address")?;
    tracing::info!(%addr, "listening");

    serve(listener, app(state), signal.received(), SHUTDOWN_DEADLINE)
        .await
        .context("the HTTP server failed")?;

    if tokio::time::timeout(Duration::from_secs(5), pool.close())
        .await
        .is_err()
    {
        tracing::warn!("the database pool did not close within 5 s");
    }
    tracing::info!("shutdown complete");
    Ok(())
}
