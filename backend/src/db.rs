//! The PostgreSQL connection pool.

use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;

use crate::config::DatabaseConfig;
use crate::database_tls;

/// How long a request waits for a free connection before it gets a 503.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// Opens the pool with one connection, so that a wrong URL or an unreachable database fails
/// at start-up rather than on the first request.
pub async fn connect(config: &DatabaseConfig) -> anyhow::Result<PgPool> {
    let options = &config.connect_options;
    PgPoolOptions::new()
        .max_connections(config.max_connections)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .idle_timeout(Duration::from_secs(600))
        .connect_with(options.clone())
        .await
        .map_err(|error| database_tls::connect_error(error, options))
}
