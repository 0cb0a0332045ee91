//! The deploy configuration of one environment: `infrastructure/environments/<env>/deploy.json`,
//! checked in beside the environment's Terraform, whose outputs carry the same names.
//!
//! ```json
//! {
//!   "environment": "staging",
//!   "region": "eu-central-1",
//!   "cluster": "eventflow-staging",
//!   "base_url": "https://staging.eventflow.example.com",
//!   "ledger_prefix": "/eventflow/staging/deploy",
//!   "services": [
//!     { "service": "backend", "family": "eventflow-backend",
//!       "container": "backend", "repository": "eventflow-backend", "health": true },
//!     { "service": "frontend", "family": "eventflow-frontend",
//!       "container": "frontend", "repository": "eventflow-frontend" }
//!   ],
//!   "rollout_timeout_secs": 900,
//!   "poll_secs": 10,
//!   "verify_timeout_secs": 60,
//!   "e2e": true,
//!   "lock_ttl_secs": 3600
//! }
//! ```
//!
//! Everything after `services` is optional (the values above are the defaults). Keys this
//! version doesn't know are ignored, so the production blue/green settings can be added to the
//! same file without breaking it.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use serde::Deserialize;

/// The environments there are. Anything else is refused by the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Environment {
    Staging,
    Production,
}

impl Environment {
    pub fn name(self) -> &'static str {
        match self {
            Environment::Staging => "staging",
            Environment::Production => "production",
        }
    }

    /// Where the environment's checked-in configuration lives, relative to the project root.
    pub fn config_path(self) -> PathBuf {
        Path::new("infrastructure/environments")
            .join(self.name())
            .join("deploy.json")
    }
}

impl fmt::Display for Environment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct Config {
    pub environment: String,
    #[serde(default = "default_region")]
    pub region: String,
    pub cluster: String,
    /// The environment's public URL: `/health` and the end-to-end suite go through it.
    pub base_url: String,
    /// SSM parameter path under which the release ledger and the deploy lock live.
    pub ledger_prefix: String,
    pub services: Vec<App>,
    #[serde(default = "default_rollout_timeout")]
    pub rollout_timeout_secs: u64,
    #[serde(default = "default_poll")]
    pub poll_secs: u64,
    #[serde(default = "default_verify_timeout")]
    pub verify_timeout_secs: u64,
    /// Whether verification runs the end-to-end suite after `/health`.
    #[serde(default = "yes")]
    pub e2e: bool,
    #[serde(default = "default_lock_ttl")]
    pub lock_ttl_secs: u64,
}

/// One ECS service the deploy updates, and where its image comes from.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct App {
    pub service: String,
    pub family: String,
    /// The container whose image changes; the task definition's other containers stay as they are.
    pub container: String,
    pub repository: String,
    /// Whether this service answers `GET /health` with its git sha (the backend does).
    #[serde(default)]
    pub health: bool,
}

fn default_region() -> String {
    "eu-central-1".to_owned()
}
fn default_rollout_timeout() -> u64 {
    900
}
fn default_poll() -> u64 {
    10
}
fn default_verify_timeout() -> u64 {
    60
}
fn default_lock_ttl() -> u64 {
    3600
}
fn yes() -> bool {
    true
}

impl Config {
    /// Reads the environment's configuration from `path`, or from its checked-in place.
    pub fn load(root: &Path, env: Environment, path: Option<&Path>) -> Result<Config> {
        let path = match path {
            Some(p) => p.to_path_buf(),
            None => root.join(env.config_path()),
        };
        let text = std::fs::read_to_string(&path).with_context(|| {
            format!(
                "reading {}: every environment needs its deploy configuration checked in (see docs/runbook.md)",
                path.display()
            )
        })?;
        let config = Config::parse(&text).with_context(|| format!("in {}", path.display()))?;
        ensure!(
            config.environment == env.name(),
            "{} describes environment `{}`, not `{env}`",
            path.display(),
            config.environment
        );
        Ok(config)
    }

    pub fn parse(text: &str) -> Result<Config> {
        let config: Config =
            serde_json::from_str(text).context("parsing the deploy configuration")?;
        config.check()?;
        Ok(config)
    }

    fn check(&self) -> Result<()> {
        ensure!(
            !self.services.is_empty(),
            "`services` lists no service to deploy"
        );
        ensure!(
            self.base_url.starts_with("http://") || self.base_url.starts_with("https://"),
            "`base_url` must be an http:// or https:// URL"
        );
        ensure!(
            self.ledger_prefix.starts_with('/') && !self.ledger_prefix.ends_with('/'),
            "`ledger_prefix` must be an SSM path like /eventflow/staging/deploy"
        );
        ensure!(self.poll_secs > 0, "`poll_secs` must be at least 1");
        Ok(())
    }

    pub fn poll(&self) -> Duration {
        Duration::from_secs(self.poll_secs)
    }

    pub fn verify_timeout(&self) -> Duration {
        Duration::from_secs(self.verify_timeout_secs)
    }

    pub fn lock_name(&self) -> String {
        format!("{}/deploy-lock", self.ledger_prefix)
    }

    pub fn releases_path(&self) -> String {
        format!("{}/releases", self.ledger_prefix)
    }

    /// `GET` this to check which build answers.
    pub fn health_url(base_url: &str) -> String {
        format!("{}/health", base_url.trim_end_matches('/'))
    }
}

#[cfg(test)]
pub(crate) fn example() -> Config {
    Config::parse(
        r#"{
          "environment": "staging",
          "cluster": "eventflow-staging",
          "base_url": "https://staging.eventflow.example.com",
          "ledger_prefix": "/eventflow/staging/deploy",
          "services": [
            { "service": "backend", "family": "eventflow-backend", "container": "backend",
              "repository": "eventflow-backend", "health": true }
          ],
          "poll_secs": 5,
          "verify_timeout_secs": 20
        }"#,
    )
    .unwrap()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_example_parses_with_its_defaults() {
        let doc = include_str!("config.rs");
        let json: String = doc
            .lines()
            .skip_while(|l| !l.starts_with("//! ```json"))
            .skip(1)
            .take_while(|l| !l.starts_with("//! ```"))
            .map(|l| l.trim_start_matches("//!"))
            .collect::<Vec<_>>()
            .join("\n");
        let config = Config::parse(&json).unwrap();
        assert_eq!(config.region, "eu-central-1");
        assert_eq!(config.cluster, "eventflow-staging");
        assert_eq!(config.services.len(), 2);
        assert!(config.services[0].health && !config.services[1].health);
        assert_eq!(
            (
                config.rollout_timeout_secs,
                config.poll_secs,
                config.verify_timeout_secs
            ),
            (900, 10, 60)
        );
        assert!(config.e2e);
        assert_eq!(config.lock_name(), "/eventflow/staging/deploy/deploy-lock");
        assert_eq!(config.releases_path(), "/eventflow/staging/deploy/releases");
    }

    #[test]
    fn defaults_fill_what_is_left_out_and_unknown_keys_are_kept_for_later() {
        let config = Config::parse(
            r#"{"environment":"production","cluster":"c","base_url":"https://x","ledger_prefix":"/p",
                "services":[{"service":"s","family":"f","container":"c","repository":"r"}],
                "blue_green":{"listener":"arn"}}"#,
        )
        .unwrap();
        assert_eq!(config.region, "eu-central-1");
        assert_eq!(config.lock_ttl_secs, 3600);
    }

    #[test]
    fn bad_configurations_say_what_is_wrong() {
        let err = Config::parse(
            r#"{"environment":"staging","cluster":"c","base_url":"x","ledger_prefix":"/p","services":[{"service":"s","family":"f","container":"c","repository":"r"}]}"#,
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "`base_url` must be an http:// or https:// URL"
        );
        let err = Config::parse(
            r#"{"environment":"staging","cluster":"c","base_url":"http://x","ledger_prefix":"/p","services":[]}"#,
        )
        .unwrap_err();
        assert_eq!(err.to_string(), "`services` lists no service to deploy");
    }

    #[test]
    fn a_missing_file_names_the_path() {
        let err = Config::load(Path::new("/nonexistent"), Environment::Staging, None).unwrap_err();
        assert!(
            err.to_string().starts_with(
                "reading /nonexistent/infrastructure/environments/staging/deploy.json"
            ),
            "{err}"
        );
    }

    #[test]
    fn health_url_joins_cleanly() {
        assert_eq!(Config::health_url("https://x/"), "https://x/health");
        assert_eq!(
            Config::health_url("http://127.0.0.1:8080"),
            "http://127.0.0.1:8080/health"
        );
    }
}
