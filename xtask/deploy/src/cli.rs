//! The command line of `xtask-deploy`, which `cargo xtask deploy|rollback|status` forwards to
//! with the same arguments. The subcommands' flags are `xtask-args`' types, which the xtask
//! parses and forwards with.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
pub use xtask_args::{DeployArgs, MetricsKind, PushArgs, RollbackArgs, StatusArgs};

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
            Command::Deploy(a) => Some(environment(a.env)),
            Command::Rollback(a) => Some(environment(a.env)),
            Command::Status(a) => Some(environment(a.env)),
            Command::Push(_) => None,
        }
    }
}

/// The command line's environment as the engine's configuration names it.
fn environment(env: xtask_args::Environment) -> Environment {
    match env {
        xtask_args::Environment::Staging => Environment::Staging,
        xtask_args::Environment::Production => Environment::Production,
    }
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
            (
                xtask_args::Environment::Staging,
                Some("abc"),
                Some(60),
                true
            )
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
