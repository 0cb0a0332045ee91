//! What this binary is: the crate version and the git commit the pipeline built it from.

/// The crate version, e.g. `0.1.0`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The git commit the binary was built from. The pipeline sets `EVENTFLOW_GIT_SHA` when it
/// builds; a developer's `cargo build` doesn't, and gets `unknown`.
pub const GIT_SHA: &str = match option_env!("EVENTFLOW_GIT_SHA") {
    Some(sha) if !sha.is_empty() => sha,
    _ => "unknown",
};
