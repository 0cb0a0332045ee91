//! `cargo xtask deploy|rollback|status` and `images push`: forwarded, with the same arguments, to the
//! `xtask-deploy` crate (`xtask/deploy`), which holds the AWS SDK. Only these commands compile
//! it; every other command stays light.

use anyhow::Result;

use crate::cli::{DeployArgs, RollbackArgs, StatusArgs};
use crate::cmd::Cmd;
use crate::forward;
use crate::prebuilt;
use crate::project::Project;

/// `xtask-deploy`'s command line for `deploy`.
pub fn deploy_args(args: &DeployArgs, dry_run: bool) -> Vec<String> {
    engine_args("deploy", args.to_args(), dry_run)
}

pub fn rollback_args(args: &RollbackArgs, dry_run: bool) -> Vec<String> {
    engine_args("rollback", args.to_args(), dry_run)
}

pub fn status_args(args: &StatusArgs) -> Vec<String> {
    engine_args("status", args.to_args(), false)
}

fn engine_args(command: &str, args: Vec<String>, dry_run: bool) -> Vec<String> {
    let mut out = vec![command.to_owned()];
    out.extend(args);
    if dry_run {
        out.push("--dry-run".to_owned());
    }
    out
}

/// The command that runs the engine.
pub fn command(args: Vec<String>) -> Cmd {
    forward::command("xtask-deploy", args)
}

/// Runs the engine: the prebuilt binary `EVENTFLOW_DEPLOY_BIN` names, or else built by cargo.
pub fn run(project: &Project, args: Vec<String>) -> Result<bool> {
    let cmd = match prebuilt::from_env() {
        Some(binary) => prebuilt::command(&binary, args)?,
        None => command(args),
    };
    forward::run(project, &cmd)
}

#[cfg(test)]
mod tests {
    use xtask_args::MetricsKind;

    use super::*;
    use crate::cli::Environment;

    #[test]
    fn every_flag_is_forwarded_as_given() {
        let args = DeployArgs {
            env: Environment::Staging,
            image_tag: Some("abc123".into()),
            base_url: Some("http://127.0.0.1:8080".into()),
            timeout: Some(600),
            suite_timeout: None,
            yes: true,
            canary: None,
            bake: None,
            keep_old: None,
            force_unverified: false,
            metrics: MetricsKind::Cloudwatch,
            metrics_url: None,
        };
        assert_eq!(
            command(deploy_args(&args, true)).to_string(),
            "$ cargo run --quiet -p xtask-deploy -- deploy staging --image-tag abc123 --base-url http://127.0.0.1:8080 --timeout 600 --yes --dry-run"
        );
        let args = DeployArgs {
            env: Environment::Production,
            image_tag: Some("abc123".into()),
            base_url: None,
            timeout: None,
            suite_timeout: None,
            yes: true,
            canary: Some(10),
            bake: Some(30),
            keep_old: Some(0),
            force_unverified: true,
            metrics: MetricsKind::Prometheus,
            metrics_url: Some("http://127.0.0.1:8080/metrics".into()),
        };
        assert_eq!(
            deploy_args(&args, false),
            [
                "deploy",
                "production",
                "--image-tag",
                "abc123",
                "--yes",
                "--canary",
                "10",
                "--bake",
                "30",
                "--keep-old",
                "0",
                "--force-unverified",
                "--metrics",
                "prometheus",
                "--metrics-url",
                "http://127.0.0.1:8080/metrics"
            ]
        );
        let args = RollbackArgs {
            env: Environment::Production,
            to: Some("v41".into()),
            base_url: None,
            yes: false,
            if_unfinished: false,
        };
        assert_eq!(
            rollback_args(&args, false),
            ["rollback", "production", "--to", "v41"]
        );
        let args = StatusArgs {
            env: Environment::Staging,
        };
        assert_eq!(status_args(&args), ["status", "staging"]);
    }
}
