//! Verifying a release through the environment's public URL: `GET /health` must answer 200 with
//! the release's git sha, then the end-to-end suite (`cargo xtask test e2e --base-url URL`) must
//! pass. The suite signs its tokens with the environment's `JWT_SECRET`, which reaches it through
//! the environment only, never as an argument.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use tokio::time::Instant;

use crate::config::Config;
use crate::console::{Cancel, Console, interrupted};
use crate::deadline::{self, Deadline};

/// What `/health` answered.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Health {
    pub status: u16,
    pub git_sha: Option<String>,
    /// `known_migration_version`: the newest migration the serving build knows. Builds from
    /// before the backend reported it answer without it.
    pub known_migration: Option<i64>,
    /// `schema_floor`: the oldest release (by its newest migration) that can serve the
    /// database, or `None` when not reported.
    pub schema_floor: Option<i64>,
}

/// The checks, behind an interface so the deploy tests can script them.
#[allow(async_fn_in_trait)] // used through generics only
pub trait Checks {
    /// One `GET` of `url`; an error is a connection that failed.
    async fn health(&self, url: &str) -> Result<Health>;
    /// What must hold before a deploy may start, so that verification can't fail for a reason
    /// known in advance (a missing secret).
    fn e2e_preflight(&self) -> Result<()>;
    async fn e2e(&self, base_url: &str) -> Result<()>;
    /// The smoke tests (`cargo xtask test smoke --base-url URL`): a production release through
    /// the test listener, before it takes any traffic.
    async fn smoke(&self, base_url: &str) -> Result<()>;
}

/// Polls `/health` until it answers 200 with `expected` (any sha when `None`), or `timeout`,
/// and returns that answer. The error says what it answered last.
pub async fn health_until<C: Checks>(
    checks: &C,
    console: &Console,
    base_url: &str,
    expected: Option<&str>,
    timeout: Duration,
    poll: Duration,
    cancel: &mut Cancel,
) -> Result<Health, String> {
    let url = Config::health_url(base_url);
    let deadline = Instant::now() + timeout;
    let mut last;
    loop {
        last = match checks.health(&url).await {
            Ok(h)
                if h.status == 200
                    && expected.is_none_or(|e| same_sha(h.git_sha.as_deref(), e)) =>
            {
                console.say(format!(
                    "  GET {url}: 200, git_sha {}",
                    h.git_sha.as_deref().unwrap_or("(none)")
                ));
                return Ok(h);
            }
            Ok(h) if h.status == 200 => format!(
                "GET {url} answered 200 with git_sha {}, expected {}",
                h.git_sha.as_deref().unwrap_or("(none)"),
                expected.unwrap_or_default()
            ),
            Ok(h) => format!("GET {url} answered {}", h.status),
            Err(e) => format!("GET {url} failed: {e:#}"),
        };
        if Instant::now() + poll > deadline {
            return Err(format!(
                "health check failed: {last} (for {}s)",
                timeout.as_secs()
            ));
        }
        tokio::select! {
            () = tokio::time::sleep(poll) => {}
            () = interrupted(cancel) => return Err("interrupted (Ctrl-C) during the health check".to_owned()),
        }
    }
}

/// Full shas compare equal; a short one matches the full one it abbreviates.
fn same_sha(reported: Option<&str>, expected: &str) -> bool {
    reported.is_some_and(|r| {
        r.len() >= 7 && expected.len() >= 7 && (r.starts_with(expected) || expected.starts_with(r))
    })
}

/// The real checks: HTTP through rustls, and the suites as child `cargo xtask` processes, each
/// killed with its children at `suite`'s deadline.
pub struct Live {
    client: reqwest::Client,
    root: PathBuf,
    suite: Deadline,
}

/// The blue/green test listener answers 403 unless a request carries this header with the
/// environment's test key (Secrets Manager `eventflow/<env>/test_listener_key`, handed over in
/// [`TEST_KEY_VAR`], never on a command line). The smoke suite, a child process, inherits the
/// variable and sends the same header.
pub const TEST_KEY_HEADER: &str = "X-EventFlow-Test-Key";
pub const TEST_KEY_VAR: &str = "EVENTFLOW_TEST_LISTENER_KEY";

/// The test key header, when [`TEST_KEY_VAR`] is set: marked sensitive, so it is never shown.
fn test_key_headers(key: Option<String>) -> Result<reqwest::header::HeaderMap> {
    let mut headers = reqwest::header::HeaderMap::new();
    if let Some(key) = key.filter(|k| !k.is_empty()) {
        let mut value = reqwest::header::HeaderValue::from_str(&key).map_err(|_| {
            anyhow::anyhow!("{TEST_KEY_VAR} is not a valid header value: set it to the hex string stored in the environment's test_listener_key secret")
        })?;
        value.set_sensitive(true);
        headers.insert(TEST_KEY_HEADER, value);
    }
    Ok(headers)
}

impl Live {
    pub fn new(root: PathBuf, suite: Deadline) -> Result<Live> {
        let client = reqwest::Client::builder()
            .user_agent(crate::user_agent::USER_AGENT)
            .default_headers(test_key_headers(std::env::var(TEST_KEY_VAR).ok())?)
            .timeout(Duration::from_secs(10))
            .build()
            .context("setting up the HTTP client")?;
        Ok(Live {
            client,
            root,
            suite,
        })
    }
}

impl Checks for Live {
    async fn health(&self, url: &str) -> Result<Health> {
        let response = self.client.get(url).send().await?;
        let status = response.status().as_u16();
        let body = response.text().await.unwrap_or_default();
        Ok(parse_health(status, &body))
    }

    fn e2e_preflight(&self) -> Result<()> {
        if std::env::var_os("JWT_SECRET").is_none() {
            bail!(
                "JWT_SECRET is not set: the end-to-end suite signs its tokens with the environment's secret; export it (CI takes it from the environment's secrets)"
            );
        }
        if std::env::var_os("ADMIN_API_TOKEN").is_none() {
            bail!(
                "ADMIN_API_TOKEN is not set: the end-to-end suite creates its API key through the environment's admin API; export its admin token (CI takes it from the environment's secrets)"
            );
        }
        Ok(())
    }

    async fn e2e(&self, base_url: &str) -> Result<()> {
        let mut command = tokio::process::Command::new("cargo");
        command
            .args(["xtask", "test", "e2e", "--base-url", base_url])
            .current_dir(&self.root);
        let status = deadline::run(command, "`cargo xtask test e2e`", self.suite).await?;
        if !status.success() {
            bail!("the end-to-end suite failed against {base_url} ({status})");
        }
        Ok(())
    }

    async fn smoke(&self, base_url: &str) -> Result<()> {
        let mut command = tokio::process::Command::new("cargo");
        command
            .args(["xtask", "test", "smoke", "--base-url", base_url])
            .current_dir(&self.root);
        let status = deadline::run(command, "`cargo xtask test smoke`", self.suite).await?;
        if !status.success() {
            bail!("the smoke tests failed against {base_url} ({status})");
        }
        Ok(())
    }
}

/// The fields of a `/health` body the engine reads; anything missing or malformed is `None`.
fn parse_health(status: u16, body: &str) -> Health {
    let json = serde_json::from_str::<serde_json::Value>(body).unwrap_or_default();
    Health {
        status,
        git_sha: json["git_sha"].as_str().map(str::to_owned),
        known_migration: json["known_migration_version"].as_i64(),
        schema_floor: json["schema_floor"].as_i64(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_health_body_gives_the_sha_and_the_schema_position_when_reported() {
        let health = parse_health(
            200,
            r#"{"status":"ok","git_sha":"abc","migration_version":4,"known_migration_version":3,"schema_floor":3}"#,
        );
        assert_eq!(
            health,
            Health {
                status: 200,
                git_sha: Some("abc".into()),
                known_migration: Some(3),
                schema_floor: Some(3),
            }
        );
        // A build from before the schema position was reported, a 503, and garbage.
        let old = parse_health(200, r#"{"git_sha":"abc","migration_version":3}"#);
        assert_eq!((old.known_migration, old.schema_floor), (None, None));
        let down = parse_health(503, r#"{"known_migration_version":3,"schema_floor":null}"#);
        assert_eq!((down.known_migration, down.schema_floor), (Some(3), None));
        assert_eq!(
            parse_health(502, "<html>"),
            Health {
                status: 502,
                ..Health::default()
            }
        );
    }

    #[tokio::test]
    async fn the_health_checks_send_a_user_agent() {
        let live = Live::new(
            PathBuf::new(),
            Deadline {
                limit: Duration::from_secs(1),
                flag: "--suite-timeout",
            },
        )
        .unwrap();
        assert_eq!(
            crate::user_agent::sent_by(&live.client).await.as_deref(),
            Some(crate::user_agent::USER_AGENT)
        );
    }

    #[test]
    fn the_test_key_is_sent_as_a_sensitive_header_only_when_set() {
        assert!(test_key_headers(None).unwrap().is_empty());
        assert!(test_key_headers(Some(String::new())).unwrap().is_empty());
        let headers = test_key_headers(Some("0a1b2c".into())).unwrap();
        let value = &headers[TEST_KEY_HEADER];
        assert_eq!(value, "0a1b2c");
        assert!(value.is_sensitive());
        assert!(!format!("{headers:?}").contains("0a1b2c"));
        let err = test_key_headers(Some("bad\nvalue".into())).unwrap_err();
        assert!(err.to_string().contains(TEST_KEY_VAR));
        assert!(!err.to_string().contains("bad"));
    }

    #[test]
    fn shas_match_in_full_or_abbreviated() {
        let full = "0123456789abcdef0123456789abcdef01234567";
        assert!(same_sha(Some(full), full));
        assert!(same_sha(Some("0123456"), full));
        assert!(!same_sha(Some("012345"), full));
        assert!(!same_sha(Some("unknown"), full));
        assert!(!same_sha(None, full));
    }
}
