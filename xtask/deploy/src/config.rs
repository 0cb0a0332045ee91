//! The deploy configuration of one environment: `infrastructure/environments/<env>/deploy.json`,
//! checked in beside the environment's Terraform, whose outputs carry the same keys and values
//! (the infrastructure checks compare them, so only Terraform outputs belong in the file).
//!
//! ```json
//! {
//!   "environment": "production",
//!   "region": "eu-central-1",
//!   "cluster": "eventflow-production",
//!   "strategy": "blue_green",
//!   "base_url": "https://eventflow.example.com",
//!   "test_url": "https://eventflow.example.com:8443",
//!   "ledger_prefix": "/eventflow/production",
//!   "load_balancer": "eventflow-production",
//!   "listeners": { "production": 443, "test": 8443 },
//!   "apps": {
//!     "backend": {
//!       "services": ["backend-blue", "backend-green"],
//!       "task_family": "eventflow-production-backend",
//!       "container": "backend",
//!       "ecr_repository": "eventflow-backend",
//!       "target_groups": { "blue": "eventflow-prod-backend-blue", "green": "eventflow-prod-backend-green" }
//!     }
//!   }
//! }
//! ```
//!
//! A `rolling` environment (staging) has one service per app and no load-balancer keys. The
//! `backend` app is the one that answers `GET /health` with its git sha.
//!
//! The engine's tuning keys are optional and not in the checked-in files (they are no Terraform
//! outputs); their defaults: `rollout_timeout_secs` 900, `poll_secs` 10, `verify_timeout_secs`
//! 60, `e2e` true, `suite_timeout_secs` 1200 (the deadline of the end-to-end suite and of the
//! smoke tests, each a child process; `--suite-timeout` overrides), `lock_ttl_secs` 60 (the deploy lease, renewed every third of it while the run works), `bake_secs` 300. A test's own configuration may set
//! them, and `promote_from` (the staging environment production promotes from; by default read
//! from staging's checked-in deploy.json).

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use serde::Deserialize;

/// The deploy-state table of the environment whose ledger prefix is `ledger_prefix`.
pub fn state_table(ledger_prefix: &str) -> String {
    format!(
        "{}-deploy-state",
        ledger_prefix.trim_matches('/').replace('/', "-")
    )
}

/// Names a directory of deploy configurations, `<env>.json` each, read instead of the checked-in
/// ones: `cargo xtask sandbox up` prints it, for the sandbox's copies (the same names, its URLs).
pub const CONFIG_DIR_VAR: &str = "EVENTFLOW_DEPLOY_CONFIG_DIR";

/// The app that answers `GET /health` with the git sha of its build.
pub const HEALTH_APP: &str = "backend";

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

/// How an environment is deployed.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// One service per app, updated in place (staging).
    #[default]
    Rolling,
    /// Two services per app behind weighted forwards (production).
    BlueGreen,
}

#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct Config {
    pub environment: String,
    #[serde(default = "default_region")]
    pub region: String,
    pub cluster: String,
    #[serde(default)]
    pub strategy: Strategy,
    /// The environment's public URL: `/health` and the end-to-end suite go through it.
    pub base_url: String,
    /// Blue/green: the test listener's URL, which serves the idle colour.
    #[serde(default)]
    pub test_url: Option<String>,
    /// Names the environment's deploy-state table (see [`Config::state_table`]), where the
    /// release ledger and the deploy lease live; IAM grants exactly that table.
    pub ledger_prefix: String,
    /// Blue/green: the load balancer's name.
    #[serde(default)]
    pub load_balancer: Option<String>,
    /// Blue/green: the ports of the production and test listeners.
    #[serde(default)]
    pub listeners: Option<Listeners>,
    pub apps: BTreeMap<String, AppConfig>,
    #[serde(default = "default_rollout_timeout")]
    pub rollout_timeout_secs: u64,
    #[serde(default = "default_poll")]
    pub poll_secs: u64,
    #[serde(default = "default_verify_timeout")]
    pub verify_timeout_secs: u64,
    /// Whether verification runs the end-to-end suite after `/health`.
    #[serde(default = "yes")]
    pub e2e: bool,
    /// The deadline of each end-to-end or smoke run (a child process).
    #[serde(default = "default_suite_timeout")]
    pub suite_timeout_secs: u64,
    #[serde(default = "default_lock_ttl")]
    pub lock_ttl_secs: u64,
    /// Blue/green: how long the metric watch runs after the traffic shift (`--bake` overrides).
    #[serde(default = "default_bake")]
    pub bake_secs: u64,
    /// Blue/green: the environment whose verified releases this one promotes.
    #[serde(default)]
    pub promote_from: Option<Upstream>,
    /// The services a rolling deploy updates, one per app (derived from `apps`).
    #[serde(skip)]
    pub services: Vec<App>,
}

/// `listeners`: ports of the load balancer's listeners.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
pub struct Listeners {
    pub production: u16,
    pub test: u16,
}

/// One app of `apps`, as the file (and Terraform's output) has it.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct AppConfig {
    /// Rolling: `[<app>]`; blue/green: `[<app>-blue, <app>-green]`.
    pub services: Vec<String>,
    pub task_family: String,
    /// Terraform's template family: its newest revision is the base of every new revision, so
    /// what Terraform changes in the task definition ships with the next deploy. Without it, a
    /// deploy copies the revision that runs.
    #[serde(default)]
    pub template_family: Option<String>,
    /// The container whose image changes; the task definition's other containers stay as they are.
    pub container: String,
    pub ecr_repository: String,
    /// Blue/green: the target group of each colour.
    #[serde(default)]
    pub target_groups: Option<Colours>,
}

/// A blue and a green name.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct Colours {
    pub blue: String,
    pub green: String,
}

/// What production needs to know of staging: where its ledger and its `/health` are.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct Upstream {
    pub environment: String,
    pub base_url: String,
    pub ledger_prefix: String,
}

/// One ECS service the rolling deploy updates, and where its image comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct App {
    /// The app's key in `apps` (`backend`).
    pub name: String,
    pub service: String,
    pub family: String,
    /// Terraform's template family (`template_family`).
    pub template: Option<String>,
    pub container: String,
    pub repository: String,
    /// Whether this service answers `GET /health` with its git sha (the backend does).
    pub health: bool,
}

/// One app of a blue/green environment: its service and target group of each colour.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlueGreenApp {
    pub name: String,
    pub services: Colours,
    pub target_groups: Colours,
    pub family: String,
    /// Terraform's template family (`template_family`).
    pub template: Option<String>,
    pub container: String,
    pub repository: String,
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
fn default_suite_timeout() -> u64 {
    1200
}
fn default_lock_ttl() -> u64 {
    60
}
fn default_bake() -> u64 {
    300
}
fn yes() -> bool {
    true
}

/// The file [`Config::load`] reads: `path`, else `<dir>/<env>.json`, else the checked-in one.
fn config_file(root: &Path, env: Environment, path: Option<&Path>, dir: Option<&Path>) -> PathBuf {
    match (path, dir) {
        (Some(p), _) => p.to_path_buf(),
        (None, Some(dir)) if !dir.as_os_str().is_empty() => {
            dir.join(format!("{}.json", env.name()))
        }
        (None, _) => root.join(env.config_path()),
    }
}

impl Config {
    /// Reads the environment's configuration from `path`, or else from `<dir>/<env>.json` when
    /// [`CONFIG_DIR_VAR`] names a directory (the sandbox's, whose listeners are on loopback), or
    /// else from its checked-in place.
    pub fn load(root: &Path, env: Environment, path: Option<&Path>) -> Result<Config> {
        let dir = std::env::var_os(CONFIG_DIR_VAR).map(PathBuf::from);
        let path = config_file(root, env, path, dir.as_deref());
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
        let mut config: Config =
            serde_json::from_str(text).context("parsing the deploy configuration")?;
        config.check()?;
        config.services = config.rolling_services();
        Ok(config)
    }

    /// Production's `promote_from`, from staging's configuration when the file doesn't set it.
    pub fn upstream_from(&mut self, staging: &Config) {
        if self.promote_from.is_none() {
            self.promote_from = Some(Upstream {
                environment: staging.environment.clone(),
                base_url: staging.base_url.clone(),
                ledger_prefix: staging.ledger_prefix.clone(),
            });
        }
    }

    fn check(&self) -> Result<()> {
        ensure!(!self.apps.is_empty(), "`apps` lists no app to deploy");
        ensure!(
            is_url(&self.base_url),
            "`base_url` must be an http:// or https:// URL"
        );
        ensure!(
            self.ledger_prefix.starts_with('/') && !self.ledger_prefix.ends_with('/'),
            "`ledger_prefix` must be a path like /eventflow/staging (it names the deploy-state table)"
        );
        ensure!(self.poll_secs > 0, "`poll_secs` must be at least 1");
        match self.strategy {
            Strategy::Rolling => {
                for (name, app) in &self.apps {
                    ensure!(
                        app.services.len() == 1,
                        "apps.{name}.services must name exactly one service for a rolling environment (it has {})",
                        app.services.len()
                    );
                }
            }
            Strategy::BlueGreen => {
                ensure!(
                    self.load_balancer.is_some() && self.listeners.is_some(),
                    "a blue_green environment needs `load_balancer` and `listeners` (Terraform's outputs of the same names)"
                );
                ensure!(
                    self.test_url.as_deref().is_some_and(is_url),
                    "a blue_green environment needs `test_url`, an http:// or https:// URL of the test listener"
                );
                for (name, app) in &self.apps {
                    colour_service(name, app, "blue")?;
                    colour_service(name, app, "green")?;
                    ensure!(
                        app.target_groups.is_some(),
                        "apps.{name}.target_groups must name the blue and the green target group"
                    );
                }
            }
        }
        Ok(())
    }

    fn rolling_services(&self) -> Vec<App> {
        if self.strategy != Strategy::Rolling {
            return Vec::new();
        }
        self.apps
            .iter()
            .map(|(name, app)| App {
                name: name.clone(),
                service: app.services[0].clone(),
                family: app.task_family.clone(),
                template: app.template_family.clone(),
                container: app.container.clone(),
                repository: app.ecr_repository.clone(),
                health: name == HEALTH_APP,
            })
            .collect()
    }

    /// The apps of a blue/green environment, with their colours.
    pub fn blue_green_apps(&self) -> Result<Vec<BlueGreenApp>> {
        if self.strategy != Strategy::BlueGreen {
            bail!(
                "{} is a rolling environment: blue/green needs `strategy: blue_green` in its deploy.json",
                self.environment
            );
        }
        self.apps
            .iter()
            .map(|(name, app)| {
                Ok(BlueGreenApp {
                    name: name.clone(),
                    services: Colours {
                        blue: colour_service(name, app, "blue")?,
                        green: colour_service(name, app, "green")?,
                    },
                    target_groups: app.target_groups.clone().with_context(|| {
                        format!("apps.{name}.target_groups must name the blue and the green target group")
                    })?,
                    family: app.task_family.clone(),
                    template: app.template_family.clone(),
                    container: app.container.clone(),
                    repository: app.ecr_repository.clone(),
                    health: name == HEALTH_APP,
                })
            })
            .collect()
    }

    pub fn poll(&self) -> Duration {
        Duration::from_secs(self.poll_secs)
    }

    pub fn suite_timeout(&self) -> Duration {
        Duration::from_secs(self.suite_timeout_secs)
    }

    pub fn verify_timeout(&self) -> Duration {
        Duration::from_secs(self.verify_timeout_secs)
    }

    /// The DynamoDB table that holds the environment's deploy lease and release ledger, named
    /// after `ledger_prefix`: `/eventflow/staging` → `eventflow-staging-deploy-state`
    /// (infrastructure/modules/deploy-state, and the deploy policy, name it the same way).
    pub fn state_table(&self) -> String {
        state_table(&self.ledger_prefix)
    }

    /// The deploy lease's item, for people: `eventflow-staging-deploy-state staging/lock`.
    pub fn lock_item(&self) -> String {
        format!("{} {}/lock", self.state_table(), self.environment)
    }

    /// The ledger's items, for people: `eventflow-staging-deploy-state staging/release#`.
    pub fn release_items(&self) -> String {
        format!("{} {}/release#", self.state_table(), self.environment)
    }

    /// `GET` this to check which build answers.
    pub fn health_url(base_url: &str) -> String {
        format!("{}/health", base_url.trim_end_matches('/'))
    }
}

fn is_url(url: &str) -> bool {
    url.starts_with("http://") || url.starts_with("https://")
}

/// The service of `colour` among the app's services: the one named `…-<colour>`.
fn colour_service(name: &str, app: &AppConfig, colour: &str) -> Result<String> {
    let suffix = format!("-{colour}");
    app.services
        .iter()
        .find(|s| s.ends_with(&suffix))
        .cloned()
        .with_context(|| {
            format!(
                "apps.{name}.services must name a `{name}{suffix}` service for a blue_green environment"
            )
        })
}

#[cfg(test)]
pub(crate) fn example() -> Config {
    Config::parse(
        r#"{
          "environment": "staging",
          "cluster": "eventflow-staging",
          "strategy": "rolling",
          "base_url": "https://staging.eventflow.example.com",
          "ledger_prefix": "/eventflow/staging",
          "apps": {
            "backend": { "services": ["backend"], "task_family": "eventflow-backend",
                         "container": "backend", "ecr_repository": "eventflow-backend" }
          },
          "poll_secs": 5,
          "verify_timeout_secs": 20
        }"#,
    )
    .unwrap()
}

/// Production as checked in, with the backend only, fast polls, and staging to promote from.
#[cfg(test)]
pub(crate) fn example_production() -> Config {
    let mut config = Config::parse(
        r#"{
          "environment": "production",
          "cluster": "eventflow-production",
          "strategy": "blue_green",
          "base_url": "https://eventflow.example.com",
          "test_url": "https://eventflow.example.com:8443",
          "ledger_prefix": "/eventflow/production",
          "load_balancer": "eventflow-production",
          "listeners": { "production": 443, "test": 8443 },
          "apps": {
            "backend": {
              "services": ["backend-blue", "backend-green"],
              "task_family": "eventflow-backend",
              "container": "backend",
              "ecr_repository": "eventflow-backend",
              "target_groups": { "blue": "eventflow-prod-backend-blue", "green": "eventflow-prod-backend-green" }
            }
          },
          "poll_secs": 5,
          "verify_timeout_secs": 20,
          "e2e": false,
          "bake_secs": 60
        }"#,
    )
    .unwrap();
    config.upstream_from(&example());
    config
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .ancestors()
            .nth(2)
            .unwrap()
            .to_path_buf()
    }

    #[test]
    fn the_sandbox_directory_replaces_the_checked_in_file_but_not_an_explicit_one() {
        let root = Path::new("/repo");
        let dir = Path::new("/sandbox/deploy");
        let file = |path: Option<&Path>, dir: Option<&Path>| {
            config_file(root, Environment::Production, path, dir)
        };
        assert_eq!(
            file(None, None),
            Path::new("/repo/infrastructure/environments/production/deploy.json")
        );
        assert_eq!(
            file(None, Some(dir)),
            Path::new("/sandbox/deploy/production.json")
        );
        assert_eq!(file(None, Some(Path::new(""))), file(None, None));
        assert_eq!(
            file(Some(Path::new("/x.json")), Some(dir)),
            Path::new("/x.json")
        );
    }

    #[test]
    fn the_checked_in_staging_configuration_loads() {
        let config = Config::load(&root(), Environment::Staging, None).unwrap();
        assert_eq!(config.strategy, Strategy::Rolling);
        assert_eq!(config.cluster, "eventflow-staging");
        assert_eq!(config.state_table(), "eventflow-staging-deploy-state");
        let services: Vec<_> = config
            .services
            .iter()
            .map(|a| {
                (
                    a.service.as_str(),
                    a.family.as_str(),
                    a.repository.as_str(),
                    a.health,
                )
            })
            .collect();
        assert_eq!(
            services,
            [
                (
                    "backend",
                    "eventflow-staging-backend",
                    "eventflow-backend",
                    true
                ),
                (
                    "frontend",
                    "eventflow-staging-frontend",
                    "eventflow-frontend",
                    false
                ),
            ]
        );
        assert!(config.blue_green_apps().is_err());
        assert_eq!(
            (
                config.rollout_timeout_secs,
                config.poll_secs,
                config.verify_timeout_secs,
                config.e2e
            ),
            (900, 10, 60, true)
        );
    }

    #[test]
    fn the_checked_in_production_configuration_loads() {
        let mut config = Config::load(&root(), Environment::Production, None).unwrap();
        let staging = Config::load(&root(), Environment::Staging, None).unwrap();
        config.upstream_from(&staging);
        assert_eq!(config.strategy, Strategy::BlueGreen);
        assert_eq!(
            config.load_balancer.as_deref(),
            Some("eventflow-production")
        );
        assert_eq!(
            config.listeners,
            Some(Listeners {
                production: 443,
                test: 8443
            })
        );
        assert_eq!(
            config.test_url.as_deref(),
            Some("https://eventflow.example.com:8443")
        );
        assert_eq!(
            config.lock_item(),
            "eventflow-production-deploy-state production/lock"
        );
        assert!(config.services.is_empty(), "no rolling services");
        assert_eq!(config.bake_secs, 300);
        let apps = config.blue_green_apps().unwrap();
        assert_eq!(apps.len(), 2);
        assert_eq!(apps[0].name, "backend");
        assert!(apps[0].health && !apps[1].health);
        assert_eq!(apps[0].services.blue, "backend-blue");
        assert_eq!(apps[0].services.green, "backend-green");
        assert_eq!(apps[1].target_groups.green, "eventflow-prod-frontend-green");
        let upstream = config.promote_from.unwrap();
        assert_eq!(upstream.ledger_prefix, "/eventflow/staging");
        assert_eq!(upstream.base_url, "https://staging.eventflow.example.com");
    }

    #[test]
    fn the_documented_example_parses() {
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
        assert_eq!(
            config.blue_green_apps().unwrap()[0].target_groups.blue,
            "eventflow-prod-backend-blue"
        );
    }

    #[test]
    fn bad_configurations_say_what_is_wrong() {
        let app = r#""apps":{"backend":{"services":["backend"],"task_family":"f","container":"c","ecr_repository":"r"}}"#;
        let err = Config::parse(&format!(
            r#"{{"environment":"staging","cluster":"c","base_url":"x","ledger_prefix":"/p",{app}}}"#
        ))
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "`base_url` must be an http:// or https:// URL"
        );
        let err = Config::parse(
            r#"{"environment":"staging","cluster":"c","base_url":"http://x","ledger_prefix":"/p","apps":{}}"#,
        )
        .unwrap_err();
        assert_eq!(err.to_string(), "`apps` lists no app to deploy");
        let err = Config::parse(&format!(
            r#"{{"environment":"production","strategy":"blue_green","cluster":"c","base_url":"http://x","test_url":"http://x:8443","ledger_prefix":"/p","load_balancer":"lb","listeners":{{"production":443,"test":8443}},{app}}}"#
        ))
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "apps.backend.services must name a `backend-blue` service for a blue_green environment"
        );
        let err = Config::parse(&format!(
            r#"{{"environment":"production","strategy":"blue_green","cluster":"c","base_url":"http://x","ledger_prefix":"/p",{app}}}"#
        ))
        .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("a blue_green environment needs `load_balancer`"),
            "{err}"
        );
        let err = Config::parse(
            r#"{"environment":"staging","cluster":"c","base_url":"http://x","ledger_prefix":"/p","apps":{"a":{"services":["a-blue","a-green"],"task_family":"f","container":"c","ecr_repository":"r"}}}"#,
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "apps.a.services must name exactly one service for a rolling environment (it has 2)"
        );
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
