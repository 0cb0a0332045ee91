//! The PostgreSQL connection pool.

use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use crate::config::DatabaseConfig;
use crate::database_tls;

/// How long a request waits for a free connection before it gets a 503.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// Opens the pool with one connection, so that a wrong URL or an unreachable database fails
/// at start-up rather than on the first request. Every connection has `statement_timeout`
/// set when it opens (in the startup packet: no extra round trip), so no query of the
/// service can hold a connection, or a lock, longer than that.
pub async fn connect(
    config: &DatabaseConfig,
    statement_timeout: Duration,
) -> anyhow::Result<PgPool> {
    let options = &config.connect_options;
    PgPoolOptions::new()
        .max_connections(config.max_connections)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .idle_timeout(Duration::from_secs(600))
        .connect_with(with_statement_timeout(options.clone(), statement_timeout))
        .await
        .map_err(|error| database_tls::connect_error(error, options))
}

/// `options` with `statement_timeout` (whole milliseconds) for every session they open.
pub fn with_statement_timeout(options: PgConnectOptions, timeout: Duration) -> PgConnectOptions {
    options.options([("statement_timeout", format!("{}ms", timeout.as_millis()))])
}
