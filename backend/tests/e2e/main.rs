//! The end-to-end suite: EventFlow as a client app and the dashboard see it, through the
//! public URL only. `cargo xtask test e2e` runs it against a stack it starts locally, and
//! `cargo xtask test e2e --base-url URL` against a deployed environment such as staging.
//!
//! Environment: `EVENTFLOW_BASE_URL`, `JWT_SECRET` and `ADMIN_API_TOKEN` (required),
//! `JWT_ISSUER`/`JWT_AUDIENCE` (when the deployment doesn't use the defaults),
//! `EVENTFLOW_EXPECTED_GIT_SHA` (checked against `/health` when set),
//! `EVENTFLOW_EXPECT_DASHBOARD=1` (`GET /` must serve the dashboard).
//!
//! Each test uses the admin token to create an API key of its own named after a unique run id,
//! and tags every event it sends with that run's user id; on the way out, pass or fail, it
//! deletes those events and the key, so it can run against staging again and again.

mod ingest;
mod platform;
mod rejections;
#[path = "../common/deployment.rs"]
mod support;

/// Names this suite's API keys, user ids and events (`e2e-…`), so a leftover is traceable.
const SUITE: &str = "e2e";
