//! EventFlow's backend: client apps send product events through an API key, the dashboard
//! reads them back through a JWT.
//!
//! `main.rs` is the command line; everything it runs lives here so that the integration
//! tests and the benchmark can start the same server in-process.
//!
//! Where things live:
//! - [`config`]: the environment variables, parsed and checked once at start-up.
//! - [`db`] and [`migrations`]: the connection pool, and the forward-only schema migrations
//!   with the "database is ahead of this binary" check; [`database_tls`]: only verified TLS
//!   to PostgreSQL.
//! - [`server`]: the router, the middleware that gives every request an id, a log line and
//!   metrics, and graceful shutdown.
//! - [`routes`]: one module per API area; [`events`] holds what they share about events
//!   (validation, cursors, SQL).
//! - [`auth`]: JWTs for the dashboard, API keys for ingestion, the admin token.
//! - [`overload`] and [`rate_limit`]: what protects the service from more than it can do.
//! - [`openapi`]: the API's OpenAPI document, derived from the handlers and their types.

pub mod auth;
pub mod build_info;
pub mod config;
pub mod database_tls;
pub mod db;
pub mod error;
pub mod events;
pub mod health;
pub mod metrics;
pub mod migrations;
pub mod openapi;
pub mod overload;
pub mod rate_limit;
pub mod request_context;
pub mod routes;
pub mod server;
pub mod state;
pub mod telemetry;
