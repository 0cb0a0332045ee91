//! Integration tests against a real PostgreSQL 15, which `cargo xtask test integration`
//! provisions and hands over in `DATABASE_URL` (TLS only, `sslmode=verify-full` with the run's
//! CA). Each test works in a database of its own, so they run in parallel on one server.

mod admin;
mod auth;
mod bad_input;
mod binary;
mod hardening;
mod health;
mod ingest;
mod migrations;
mod read;
mod stats;
mod support;
mod tls;
