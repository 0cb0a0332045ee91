//! The command tree. Every command that runs stages shares [`RunFlags`]. The flags of `deploy`,
//! `rollback` and `status` come from `xtask-args`, which the deploy engine parses them with too.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
pub use xtask_args::{DeployArgs, Environment, RollbackArgs, StatusArgs};

use crate::stages;

/// EventFlow's CI/CD pipeline. Every stage runs the same way on a laptop and in GitHub Actions.
#[derive(Debug, Parser)]
#[command(name = "xtask", bin_name = "cargo xtask", version)]
pub struct Cli {
    #[command(flatten)]
    pub run: RunFlags,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct RunFlags {
    /// Print every stage and the exact commands it would run; run nothing
    #[arg(long, global = true)]
    pub dry_run: bool,
    /// Run every stage that can run after a failure, and report all failures at the end
    #[arg(long, global = true)]
    pub keep_going: bool,
    /// Run only these stages (comma-separated)
    #[arg(long, global = true, value_delimiter = ',', value_name = "STAGE,…")]
    pub only: Vec<String>,
    /// Leave out these stages (comma-separated)
    #[arg(long, global = true, value_delimiter = ',', value_name = "STAGE,…")]
    pub skip: Vec<String>,
    /// Also write the run's JSON report here (it is always written to target/xtask/report.json)
    #[arg(long, global = true, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// Run every stage, even those whose inputs are unchanged since they last passed
    #[arg(long, global = true)]
    pub no_cache: bool,
    /// Run at most this many stages at once [default: one per core]
    #[arg(long, short = 'j', global = true, value_name = "N")]
    pub jobs: Option<usize>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// The CI pipeline: lint, type-check, every test suite and the frontend build
    Ci,
    /// Formatting, clippy, the migration linter and the frontend's linter
    Lint,
    /// `cargo check` of the workspace and the frontend's `tsc --noEmit`
    TypeCheck,
    /// The test suites, each provisioning what it needs
    Test(TestArgs),
    /// Build a deliverable
    Build(BuildArgs),
    /// Line coverage of the Rust workspace and the frontend, as lcov under target/coverage
    Coverage,
    /// The stage cache under target/xtask/cache
    #[command(subcommand)]
    Cache(CacheCommand),
    /// Deploy an image tag to an environment: rolling update, verification, automatic rollback
    Deploy(DeployArgs),
    /// Roll an environment back to its last verified release (or the one --to names)
    Rollback(RollbackArgs),
    /// What runs in an environment, its release history and deployment figures
    Status(StatusArgs),
    /// Tell Slack (SLACK_WEBHOOK_URL) and email (SMTP_URL, NOTIFY_EMAIL) how a run ended
    Notify(NotifyArgs),
    /// Every security scanner side by side, then one table of findings by severity; fails on
    /// high and critical findings not accepted in security/exceptions.json (docs/ci.md)
    SecurityScan,
    /// The container images eventflow-backend and eventflow-frontend (docs/images.md)
    #[command(subcommand)]
    Images(ImagesCommand),
    /// Terraform for an environment: plan writes a plan file, apply applies exactly that file
    /// (infrastructure/README.md)
    #[command(subcommand)]
    Infra(InfraAction),
    /// Staging and production on this machine, left running: up, status, down (docs/runbook.md)
    #[command(subcommand)]
    Sandbox(crate::sandbox::SandboxCommand),
    /// Run a workflow of .github/workflows here with GitHub's semantics: triggers, needs, if:,
    /// secrets, approvals, timeouts and cancellation (docs/ci.md, "Rehearsing the workflows")
    Rehearse(RehearseArgs),
}

#[derive(Clone, Debug, Subcommand)]
pub enum InfraAction {
    /// Check the formatting of every .tf file (all of infrastructure/, or one environment)
    Fmt {
        #[arg(value_enum)]
        env: Option<Environment>,
        /// Rewrite the files instead of checking them
        #[arg(long)]
        write: bool,
    },
    /// `terraform init -backend=false` and `terraform validate`: needs no AWS credentials
    Validate {
        #[arg(value_enum)]
        env: Environment,
    },
    /// `terraform init` and `terraform plan -out=tfplan`
    Plan {
        #[arg(value_enum)]
        env: Environment,
    },
    /// Apply the plan file that `plan` wrote, and nothing else
    Apply {
        #[arg(value_enum)]
        env: Environment,
        /// Don't ask for confirmation (production asks otherwise)
        #[arg(long)]
        yes: bool,
    },
    /// Print a role's effective policy JSON, rendered from the Terraform that creates it
    /// (infrastructure/policies)
    Policy {
        #[arg(value_enum)]
        role: PolicyRole,
        #[arg(value_enum)]
        env: Environment,
        /// The AWS account to render the ARNs for (default: the environment's aws_account_id)
        #[arg(long, value_name = "ID")]
        account: Option<String>,
    },
}

/// The roles whose policies the repository defines.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum PolicyRole {
    /// The role GitHub Actions deploys with (modules/github-oidc)
    Deploy,
    /// The role GitHub Actions runs Terraform with (modules/terraform-role)
    Terraform,
}

#[derive(Debug, Subcommand)]
pub enum ImagesCommand {
    /// Build both images from this commit, verify them for real, and tag them
    Build(ImagesArgs),
    /// Push the images' tags to ECR, skipping those the repository already has
    Push(ImagesArgs),
    /// Write this commit's built images to one archive (CI hands it to the staging deploy)
    Save(ImagesArgs),
    /// Load the archive `images save` wrote, so a deploy reuses those images instead of building
    Load,
}

#[derive(Debug, Args)]
pub struct ImagesArgs {
    /// Also tag the images with this version
    #[arg(long, value_name = "vX.Y.Z")]
    pub version: Option<String>,
    /// A production release: also tag `latest` (needs --version)
    #[arg(long)]
    pub release: bool,
}

#[derive(Debug, Subcommand)]
pub enum CacheCommand {
    /// Forget every cached stage result
    Clean,
}

#[derive(Debug, Args)]
pub struct TestArgs {
    #[arg(value_enum, default_value_t = Suite::All)]
    pub suite: Suite,
    /// Run the end-to-end or smoke suite against this deployed environment instead of a local stack
    #[arg(long, value_name = "URL")]
    pub base_url: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Suite {
    /// Rust unit tests (no services)
    Unit,
    /// Backend tests against a real PostgreSQL 15
    Integration,
    /// The dashboard's Vitest suite
    Frontend,
    /// The API suite and the browser test against the whole stack
    E2e,
    /// The deploy engine against the AWS emulator (moto) and a backend on loopback
    Deploy,
    /// A deployed service's vital signs: health, database, one event in and out, response times
    Smoke,
    /// schemathesis holds the backend on loopback to backend/openapi.json (no 5xx, answers as documented)
    Contract,
    /// The workflow files rehearsed in scratch clones: the security scan's notifications, broken steps, needs and secrets
    Rehearsals,
    All,
}

#[derive(Debug, Args)]
pub struct NotifyArgs {
    /// How the run ended
    #[arg(long, value_enum)]
    pub status: NotifyStatus,
    /// The headline [default: "<workflow> succeeded|failed|rolled back"]
    #[arg(long)]
    pub title: Option<String>,
    /// A link to the run [default: the GitHub Actions run, when run there]
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
    /// The environment the run was about
    #[arg(long, value_enum)]
    pub environment: Option<Environment>,
    /// The version the run was about
    #[arg(long, value_name = "vX.Y.Z")]
    pub version: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum NotifyStatus {
    Success,
    Failure,
    RolledBack,
}

impl NotifyStatus {
    pub fn name(self) -> &'static str {
        match self {
            NotifyStatus::Success => "success",
            NotifyStatus::Failure => "failure",
            NotifyStatus::RolledBack => "rolled-back",
        }
    }
}

#[derive(Debug, Args)]
pub struct RehearseArgs {
    /// The workflow: a name in .github/workflows (`ci`, `cd-staging`) or a path to a .yml file
    pub workflow: String,
    /// The event that triggers the run
    #[arg(long, value_enum, default_value_t = RehearseEvent::Push)]
    pub event: RehearseEvent,
    /// The ref the run is for (`main`, `refs/heads/develop`) [default: the current branch]
    #[arg(long = "ref", value_name = "REF")]
    pub git_ref: Option<String>,
    /// The commit the run checks out [default: HEAD]
    #[arg(long)]
    pub sha: Option<String>,
    /// A workflow_dispatch input (repeatable)
    #[arg(long = "input", value_name = "NAME=VALUE")]
    pub inputs: Vec<String>,
    /// Secrets (`NAME=value`) and variables (`vars.NAME=value`), one a line [default: random fakes]
    #[arg(long, value_name = "FILE")]
    pub secrets_file: Option<PathBuf>,
    /// Approve every environment with required reviewers without asking
    #[arg(long)]
    pub approve: bool,
    /// Cancel the run SECS seconds after this job (or this step of it) starts
    #[arg(long, value_name = "JOB[.STEP][+SECS]")]
    pub cancel_at: Option<String>,
    /// Stand this job in (repeatable): print every command it would run, run none, count it a
    /// success with empty outputs (jobs that can't run here, such as Terraform's)
    #[arg(long = "stand-in", value_name = "JOB")]
    pub stand_in: Vec<String>,
    /// The triggering run's artifacts, one directory per artifact name (a `--keep-scratch` run's
    /// target/rehearse/<run>/artifacts): what `download-artifact` with `run-id:` copies
    #[arg(long, value_name = "DIR")]
    pub artifacts_from: Option<PathBuf>,
    /// Keep the run's scratch directory (job workspaces, artifacts, summaries) under target/rehearse
    #[arg(long)]
    pub keep_scratch: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
#[value(rename_all = "snake_case")]
pub enum RehearseEvent {
    Push,
    PullRequest,
    WorkflowDispatch,
    Schedule,
    WorkflowRun,
}

impl RehearseEvent {
    pub fn name(self) -> &'static str {
        match self {
            RehearseEvent::Push => "push",
            RehearseEvent::PullRequest => "pull_request",
            RehearseEvent::WorkflowDispatch => "workflow_dispatch",
            RehearseEvent::Schedule => "schedule",
            RehearseEvent::WorkflowRun => "workflow_run",
        }
    }
}

#[derive(Debug, Args)]
pub struct BuildArgs {
    #[arg(value_enum)]
    pub target: BuildTarget,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum BuildTarget {
    /// The dashboard's production bundle (frontend/dist)
    Frontend,
}

// What each command asks the stage catalog for: the catalog's own types, so that the stages
// import nothing from the command line.

impl From<ImagesArgs> for stages::images::Request {
    fn from(args: ImagesArgs) -> Self {
        stages::images::Request {
            version: args.version,
            release: args.release,
        }
    }
}

impl From<Suite> for stages::Suite {
    fn from(suite: Suite) -> Self {
        match suite {
            Suite::Unit => stages::Suite::Unit,
            Suite::Integration => stages::Suite::Integration,
            Suite::Frontend => stages::Suite::Frontend,
            Suite::E2e => stages::Suite::E2e,
            Suite::Deploy => stages::Suite::Deploy,
            Suite::Smoke => stages::Suite::Smoke,
            Suite::Contract => stages::Suite::Contract,
            Suite::Rehearsals => stages::Suite::Rehearsals,
            Suite::All => stages::Suite::All,
        }
    }
}

impl From<PolicyRole> for stages::PolicyRole {
    fn from(role: PolicyRole) -> Self {
        match role {
            PolicyRole::Deploy => stages::PolicyRole::Deploy,
            PolicyRole::Terraform => stages::PolicyRole::Terraform,
        }
    }
}

impl From<InfraAction> for stages::InfraAction {
    fn from(action: InfraAction) -> Self {
        match action {
            InfraAction::Fmt { env, write } => stages::InfraAction::Fmt { env, write },
            InfraAction::Validate { env } => stages::InfraAction::Validate { env },
            InfraAction::Plan { env } => stages::InfraAction::Plan { env },
            InfraAction::Apply { env, yes } => stages::InfraAction::Apply { env, yes },
            InfraAction::Policy { role, env, account } => stages::InfraAction::Policy {
                role: role.into(),
                env,
                account,
            },
        }
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
    fn shared_flags_work_after_the_subcommand() {
        let cli = Cli::try_parse_from([
            "xtask",
            "ci",
            "--dry-run",
            "--keep-going",
            "--only",
            "lint-rust,test-unit",
            "--skip",
            "test-e2e",
            "--report",
            "out.json",
        ])
        .unwrap();
        assert!(cli.run.dry_run && cli.run.keep_going);
        assert_eq!(cli.run.only, ["lint-rust", "test-unit"]);
        assert_eq!(cli.run.skip, ["test-e2e"]);
        assert_eq!(cli.run.report, Some(PathBuf::from("out.json")));
    }

    #[test]
    fn images_take_a_version_and_a_release_flag() {
        let cli = Cli::try_parse_from([
            "xtask",
            "images",
            "build",
            "--version",
            "v1.2.3",
            "--release",
        ])
        .unwrap();
        let Command::Images(ImagesCommand::Build(args)) = cli.command else {
            panic!("not images build: {:?}", cli.command);
        };
        assert_eq!(args.version.as_deref(), Some("v1.2.3"));
        assert!(args.release);
    }

    #[test]
    fn an_unknown_environment_is_a_one_line_error() {
        let err = Cli::try_parse_from(["xtask", "deploy", "qa"]).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("error: invalid value 'qa' for '<ENV>'"),
            "{err}"
        );
    }

    #[test]
    fn infra_takes_an_action_and_an_environment() {
        let cli = Cli::try_parse_from(["xtask", "infra", "apply", "production", "--yes"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::Infra(InfraAction::Apply {
                env: Environment::Production,
                yes: true
            })
        ));
        let cli = Cli::try_parse_from(["xtask", "infra", "fmt"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::Infra(InfraAction::Fmt {
                env: None,
                write: false
            })
        ));
        let cli = Cli::try_parse_from([
            "xtask",
            "infra",
            "policy",
            "deploy",
            "staging",
            "--account",
            "123456789012",
        ])
        .unwrap();
        let Command::Infra(InfraAction::Policy { role, env, account }) = cli.command else {
            panic!("not infra policy: {:?}", cli.command);
        };
        assert_eq!(
            (role, env, account.as_deref()),
            (
                PolicyRole::Deploy,
                Environment::Staging,
                Some("123456789012")
            )
        );
        let err = Cli::try_parse_from(["xtask", "infra", "plan"]).unwrap_err();
        assert!(err.to_string().contains("<ENV>"), "{err}");
    }

    #[test]
    fn test_defaults_to_every_suite() {
        let cli = Cli::try_parse_from(["xtask", "test"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::Test(TestArgs {
                suite: Suite::All,
                base_url: None
            })
        ));
    }
}
