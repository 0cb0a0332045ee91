//! The command line of `xtask-deploy`, which `cargo xtask deploy|rollback|status` forwards to
//! with the same arguments.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::config::Environment;

#[derive(Debug, Parser)]
#[command(name = "xtask-deploy", bin_name = "cargo xtask")]
pub struct Cli {
    /// Print every AWS call and command it would make, with the task-definition diff; change
    /// nothing (describe calls still run)
    #[arg(long, global = true)]
    pub dry_run: bool,
    /// Read the deploy configuration from this file instead of
    /// infrastructure/environments/<env>/deploy.json
    #[arg(long, global = true, value_name = "FILE", hide = true)]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Deploy an image tag: new task-definition revisions, rolling update, verification, and
    /// automatic rollback on any failure
    Deploy(DeployArgs),
    /// Go back to the last verified release (or the one --to names)
    Rollback(RollbackArgs),
    /// What runs now, the release history and the deployment figures
    Status(StatusArgs),
    /// Push local images' tags to ECR, skipping those the repositories already have
    Push(PushArgs),
}

impl Command {
    /// The environment the command works on; `push` feeds the registry every environment shares.
    pub fn environment(&self) -> Option<Environment> {
        match self {
            Command::Deploy(a) => Some(a.env),
            Command::Rollback(a) => Some(a.env),
            Command::Status(a) => Some(a.env),
            Command::Push(_) => None,
        }
    }
}

#[derive(Debug, Args)]
pub struct PushArgs {
    /// An ECR repository; the local image of the same name is pushed to it
    #[arg(long = "repository", value_name = "NAME", required = true)]
    pub repositories: Vec<String>,
    /// The local tag the images were built under
    #[arg(long, value_name = "TAG")]
    pub source_tag: String,
    /// A tag that names one build forever (the sha, vX.Y.Z): skipped when the repository has it
    #[arg(long = "tag", value_name = "TAG", required = true)]
    pub identity_tags: Vec<String>,
    /// A tag that moves (the branch, latest): pushed where the repository lets it move
    #[arg(long = "moving-tag", value_name = "TAG")]
    pub moving_tags: Vec<String>,
    /// Push to this registry host instead of the one ECR names (a mirror)
    #[arg(long, value_name = "HOST")]
    pub registry: Option<String>,
}

#[derive(Debug, Args)]
pub struct DeployArgs {
    #[arg(value_enum)]
    pub env: Environment,
    /// Deploy this tag, already in ECR
    #[arg(long, value_name = "TAG")]
    pub image_tag: Option<String>,
    /// Verify through this URL instead of the environment's public one
    #[arg(long, value_name = "URL")]
    pub base_url: Option<String>,
    /// Give the rollout this long to complete (default: the environment's rollout_timeout_secs)
    #[arg(long, value_name = "SECS")]
    pub timeout: Option<u64>,
    /// Kill the end-to-end suite or the smoke tests (with their child processes) when a run
    /// takes longer (default: the environment's suite_timeout_secs, 1200)
    #[arg(long, value_name = "SECS")]
    pub suite_timeout: Option<u64>,
    /// Don't ask for confirmation
    #[arg(long)]
    pub yes: bool,
    /// Blue/green: shift this share of the traffic first, watch it for the bake time, then the rest
    #[arg(long, value_name = "PERCENT", value_parser = clap::value_parser!(u8).range(1..=99))]
    pub canary: Option<u8>,
    /// Blue/green: watch the error rate for this long after each traffic shift (default: 300)
    #[arg(long, value_name = "SECS")]
    pub bake: Option<u64>,
    /// Blue/green: keep the old colour running this long after the bake, for an instant
    /// rollback, then scale it to zero (default: 600)
    #[arg(long, value_name = "SECS")]
    pub keep_old: Option<u64>,
    /// Blue/green: deploy a tag that staging never verified (recorded in the ledger)
    #[arg(long)]
    pub force_unverified: bool,
    /// Blue/green: where the bake's error rate comes from
    #[arg(long, value_enum, default_value_t = MetricsKind::Cloudwatch)]
    pub metrics: MetricsKind,
    /// With `--metrics prometheus`: the backend's /metrics URL
    #[arg(long, value_name = "URL")]
    pub metrics_url: Option<String>,
}

/// Where the bake's error rate comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum MetricsKind {
    /// The load balancer's CloudWatch metrics (5xx and requests of the new colour)
    Cloudwatch,
    /// The backend's own Prometheus `/metrics` (`--metrics-url`)
    Prometheus,
}

#[derive(Debug, Args)]
pub struct RollbackArgs {
    #[arg(value_enum)]
    pub env: Environment,
    /// The release to go back to: an image tag, a release id or a task-definition revision
    #[arg(long, value_name = "TAG|REVISION")]
    pub to: Option<String>,
    /// Verify through this URL instead of the environment's public one
    #[arg(long, value_name = "URL")]
    pub base_url: Option<String>,
    /// Don't ask for confirmation
    #[arg(long)]
    pub yes: bool,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[arg(value_enum)]
    pub env: Environment,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_command_tree_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn flags_parse_in_any_order() {
        let cli = Cli::try_parse_from([
            "xtask-deploy",
            "deploy",
            "staging",
            "--image-tag",
            "abc",
            "--timeout",
            "60",
            "--yes",
            "--dry-run",
        ])
        .unwrap();
        assert!(cli.dry_run);
        let Command::Deploy(args) = cli.command else {
            panic!()
        };
        assert_eq!(
            (args.env, args.image_tag.as_deref(), args.timeout, args.yes),
            (Environment::Staging, Some("abc"), Some(60), true)
        );
    }

    #[test]
    fn the_blue_green_flags_parse_and_a_canary_share_is_bounded() {
        let cli = Cli::try_parse_from([
            "xtask-deploy",
            "deploy",
            "production",
            "--image-tag",
            "abc",
            "--canary",
            "10",
            "--bake",
            "5",
            "--keep-old",
            "0",
            "--force-unverified",
            "--metrics",
            "prometheus",
            "--metrics-url",
            "http://127.0.0.1:8080/metrics",
        ])
        .unwrap();
        let Command::Deploy(args) = cli.command else {
            panic!()
        };
        assert_eq!(
            (args.canary, args.bake, args.keep_old, args.force_unverified),
            (Some(10), Some(5), Some(0), true)
        );
        assert_eq!(args.metrics, MetricsKind::Prometheus);
        assert_eq!(
            args.metrics_url.as_deref(),
            Some("http://127.0.0.1:8080/metrics")
        );
        let err = Cli::try_parse_from(["xtask-deploy", "deploy", "production", "--canary", "100"])
            .unwrap_err();
        assert!(err.to_string().contains("100 is not in 1..=99"), "{err}");
    }

    #[test]
    fn an_unknown_environment_is_refused_by_the_parser() {
        let err = Cli::try_parse_from(["xtask-deploy", "status", "qa"]).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("error: invalid value 'qa' for '<ENV>'"),
            "{err}"
        );
    }
}
