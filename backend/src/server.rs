//! The HTTP server: the router with its middleware, and a lifecycle that ECS can rely on:
//! migrate before listening, and on SIGTERM stop accepting, let in-flight requests finish
//! within a deadline, close the pool, exit 0.
//!
//! Connections are served by hyper directly (not `axum::serve`) so that a client must send
//! its request headers within `HEADER_READ_TIMEOUT_SECS`: a slow client can't hold a
//! connection and its task open forever.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::routing::get;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::signal::unix::{Signal, SignalKind, signal};

use crate::config::ServeConfig;
use crate::error::ApiError;
use crate::routes::BODY_LIMIT_BYTES;
use crate::state::AppState;
use crate::{
    build_info, db, health, metrics, migrations, openapi, overload, request_context, routes,
};

/// How long in-flight requests get after SIGTERM. ECS waits 30 s (its default stopTimeout)
/// before SIGKILL, so this leaves time to close the pool and exit cleanly.
pub const SHUTDOWN_DEADLINE: Duration = Duration::from_secs(20);

pub fn app(state: AppState) -> Router {
    // The API, behind the in-flight limit and the request timeout.
    let api = Router::new()
        .merge(routes::router())
        .fallback(|| async { ApiError::not_found("no such endpoint") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this endpoint does not accept that method",
            )
        })
        // Bodies are read by `routes::json_body`; this bounds any extractor added later.
        .layer(DefaultBodyLimit::max(BODY_LIMIT_BYTES));
    let api = overload::limit(api, &state.limits);
    Router::new()
        .route("/health", get(health::handler))
        .route("/health/live", get(health::live))
        .route("/metrics", get(metrics::handler))
        .route("/openapi.json", get(openapi::handler))
        .merge(api)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            request_context::track,
        ))
        .with_state(state)
}

/// How long a connection may take, besides what `app` bounds per request.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// A client must send its request headers within this.
    pub header_read_timeout: Duration,
    /// After shutdown begins, in-flight requests get this long to finish.
    pub shutdown_deadline: Duration,
}

/// Serves `app` until `shutdown` completes, then gives in-flight requests
/// `limits.shutdown_deadline` to finish. New connections are refused from the moment
/// `shutdown` completes; idle keep-alive connections are closed then.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    limits: ConnectionLimits,
) -> std::io::Result<()> {
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => stream,
                Err(error) => {
                    // Out of file descriptors and the like: back off rather than spin, as
                    // axum::serve does; the listener itself stays open.
                    tracing::warn!(error = %error, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Responses are written whole, so Nagle's algorithm would only add latency.
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(app.clone());
        let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                // Header-read timeouts, resets: the client's business, not an error of ours.
                tracing::debug!(error = %error, "connection ended with an error");
            }
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => Ok(()),
        () = tokio::time::sleep(limits.shutdown_deadline) => {
            tracing::warn!(deadline_secs = limits.shutdown_deadline.as_secs(), "requests still in flight at the shutdown deadline: dropping them");
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

    let pool = db::connect(&config.database, config.limits.statement_timeout).await?;
    let state = AppState::from_config(pool.clone(), &config);
    if state.admin_token.is_some() {
        tracing::info!("the admin API is on (ADMIN_API_TOKEN is set)");
    }
    let connection_limits = ConnectionLimits {
        header_read_timeout: config.limits.header_read_timeout,
        shutdown_deadline: SHUTDOWN_DEADLINE,
    };
    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let addr: SocketAddr = listener
        .local_addr()
        .context("cannot read the listening address")?;
    tracing::info!(%addr, "listening");

    serve(listener, app(state), signal.received(), connection_limits)
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
