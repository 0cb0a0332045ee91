//! The running sandbox (`cargo xtask sandbox up`): the only AWS the rehearsal hands its jobs.
//! Its state and each environment's deploy-role variables are read from the files `up` writes
//! (`<target>/xtask/sandbox/state.json`, `credentials.json`); a step's `role-to-assume` is mapped
//! to the sandbox role of the same name.

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::aws_isolation;

/// What every "there is no sandbox" error ends with.
const START_IT: &str = "start it with `cargo xtask sandbox up`";

/// One environment's deploy role in the sandbox, and the variables that act as it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Role {
    pub environment: String,
    pub arn: String,
    pub env: Vec<(String, String)>,
}

#[derive(Debug)]
pub struct Sandbox {
    pub roles: Vec<Role>,
}

/// Where `cargo xtask sandbox` keeps its state: the xtask's own rule (`CARGO_TARGET_DIR`, relative
/// to the project, or `target/`).
pub fn dir(project: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| project.join("target"), |d| project.join(d))
        .join("xtask/sandbox")
}

impl Sandbox {
    /// The sandbox whose files are in `dir` ([`dir`]), if it runs: its keeper alive and its
    /// emulator listening.
    pub fn running(dir: &Path) -> Result<Sandbox> {
        let Ok(state) = std::fs::read_to_string(dir.join("state.json")) else {
            bail!("no sandbox is running: {START_IT}");
        };
        let state: Value = serde_json::from_str(&state).context(
            "the sandbox's state.json is not JSON: run `cargo xtask sandbox down`, then `up`",
        )?;
        let keeper = state["keeper_pid"].as_i64().unwrap_or(0);
        let emulator = state["emulator_port"].as_u64().unwrap_or(0) as u16;
        if !alive(keeper) || !listening(emulator) {
            bail!(
                "the recorded sandbox is not running: run `cargo xtask sandbox down`, then {START_IT}"
            );
        }
        let credentials = std::fs::read_to_string(dir.join("credentials.json")).context(
            "reading the sandbox's credentials.json: run `cargo xtask sandbox down`, then `up`",
        )?;
        Sandbox::parse(&credentials)
    }

    /// The roles of `credentials.json`: `roles.<env>` (the variables) and `role_arns.<env>`.
    pub fn parse(credentials: &str) -> Result<Sandbox> {
        let printed: Value = serde_json::from_str(credentials)
            .context("the sandbox's credentials.json is not JSON")?;
        let mut roles = Vec::new();
        for (environment, vars) in printed["roles"].as_object().into_iter().flatten() {
            let Some(arn) = printed["role_arns"][environment].as_str() else {
                bail!(
                    "the running sandbox names no role ARN for {environment}: it predates the rehearsal's role mapping; run `cargo xtask sandbox down`, then `up`"
                );
            };
            let env: Vec<(String, String)> = vars
                .as_object()
                .into_iter()
                .flatten()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                .collect();
            aws_isolation::check_endpoints(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
                .with_context(|| format!("the sandbox's {environment} role"))?;
            roles.push(Role {
                environment: environment.clone(),
                arn: arn.to_owned(),
                env,
            });
        }
        if roles.is_empty() {
            bail!(
                "the sandbox's credentials.json holds no roles: run `cargo xtask sandbox down`, then `up`"
            );
        }
        Ok(Sandbox { roles })
    }

    /// The sandbox role a `role-to-assume` names, by role name (an ARN's last path segment): the
    /// real ARN of another account, the sandbox's ARN and a bare role name all match.
    pub fn role_for(&self, role_to_assume: &str, job: &str) -> Result<&Role> {
        if role_to_assume.is_empty() {
            bail!(
                "configure-aws-credentials names no role-to-assume: name the role, or --stand-in {job}"
            );
        }
        let wanted = role_name(role_to_assume);
        if let Some(role) = self.roles.iter().find(|r| role_name(&r.arn) == wanted) {
            return Ok(role);
        }
        let names: Vec<&str> = self.roles.iter().map(|r| role_name(&r.arn)).collect();
        bail!(
            "role `{role_to_assume}` is none of the sandbox's roles ({}): set the workflow's role variable to one of them in --secrets-file, or --stand-in {job}",
            names.join(", ")
        )
    }
}

/// `arn:aws:iam::123456789012:role/path/name` → `name`; a bare name is itself.
fn role_name(arn_or_name: &str) -> &str {
    arn_or_name.rsplit('/').next().unwrap_or(arn_or_name)
}

fn alive(pid: i64) -> bool {
    // SAFETY: kill(2) with signal 0 only checks that the process exists.
    pid > 0 && pid <= i64::from(i32::MAX) && unsafe { libc::kill(pid as libc::pid_t, 0) } == 0
}

fn listening(port: u16) -> bool {
    port != 0
        && TcpStream::connect_timeout(
            &SocketAddr::from(([127, 0, 0, 1], port)),
            Duration::from_millis(500),
        )
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const CREDENTIALS: &str = r#"{
        "roles": {
            "staging": {"AWS_ACCESS_KEY_ID": "STAGINGKEY", "AWS_ENDPOINT_URL": "http://127.0.0.1:4566"},
            "production": {"AWS_ACCESS_KEY_ID": "PRODKEY", "AWS_ENDPOINT_URL": "http://127.0.0.1:4566"}
        },
        "role_arns": {
            "staging": "arn:aws:iam::123456789012:role/eventflow-staging-github-deploy",
            "production": "arn:aws:iam::123456789012:role/eventflow-production-github-deploy"
        }
    }"#;

    #[test]
    fn a_role_is_mapped_by_its_name_whatever_the_account() {
        let sandbox = Sandbox::parse(CREDENTIALS).unwrap();
        for (asked, environment) in [
            (
                "arn:aws:iam::999999999999:role/eventflow-staging-github-deploy",
                "staging",
            ),
            (
                "arn:aws:iam::123456789012:role/eventflow-production-github-deploy",
                "production",
            ),
            ("eventflow-production-github-deploy", "production"),
        ] {
            let role = sandbox.role_for(asked, "deploy").unwrap();
            assert_eq!(role.environment, environment, "{asked}");
        }
        let staging = sandbox
            .role_for("eventflow-staging-github-deploy", "deploy")
            .unwrap();
        assert!(
            staging
                .env
                .contains(&("AWS_ACCESS_KEY_ID".into(), "STAGINGKEY".into()))
        );
    }

    #[test]
    fn a_role_the_sandbox_lacks_is_refused_naming_the_fix() {
        let sandbox = Sandbox::parse(CREDENTIALS).unwrap();
        let err = sandbox
            .role_for(
                "arn:aws:iam::999999999999:role/eventflow-staging-github-terraform",
                "infra",
            )
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "role `arn:aws:iam::999999999999:role/eventflow-staging-github-terraform` is none of the sandbox's roles (eventflow-production-github-deploy, eventflow-staging-github-deploy): set the workflow's role variable to one of them in --secrets-file, or --stand-in infra"
        );
        assert!(sandbox.role_for("", "infra").is_err());
    }

    #[test]
    fn a_sandbox_without_role_arns_or_with_a_remote_endpoint_is_refused() {
        let old = r#"{"roles": {"staging": {"AWS_ACCESS_KEY_ID": "K"}}}"#;
        assert!(
            Sandbox::parse(old)
                .unwrap_err()
                .to_string()
                .contains("`cargo xtask sandbox down`, then `up`")
        );
        let remote = CREDENTIALS.replace("http://127.0.0.1:4566", "https://sts.amazonaws.com");
        let err = format!("{:#}", Sandbox::parse(&remote).unwrap_err());
        assert!(err.contains("is not loopback"), "{err}");
    }

    #[test]
    fn no_state_file_is_the_one_line_error_naming_sandbox_up() {
        let dir = std::env::temp_dir().join(format!("rehearse-no-sandbox-{}", std::process::id()));
        let err = Sandbox::running(&dir).unwrap_err().to_string();
        assert_eq!(
            err,
            "no sandbox is running: start it with `cargo xtask sandbox up`"
        );
    }
}
