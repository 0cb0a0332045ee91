//! The flags of `cargo xtask deploy|rollback|status` and of the engine's `push`, declared once.
//!
//! The xtask parses them, then forwards them to `xtask-deploy` (which holds the AWS SDK) as a
//! command line that `to_args` renders from the same declarations; the engine parses that command
//! line with these same types. A flag added here is therefore parsed, shown in `--help` and
//! forwarded in one place.

use clap::{Args, ValueEnum};

/// The environments `deploy`, `rollback` and `status` know (infrastructure/environments/<env>).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
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
}

#[derive(Clone, Debug, PartialEq, Eq, Args)]
pub struct DeployArgs {
    #[arg(value_enum)]
    pub env: Environment,
    /// Deploy this tag, already in ECR (default: staging builds and pushes HEAD's images, production
    /// promotes the release staging verified)
    #[arg(long, value_name = "TAG")]
    pub image_tag: Option<String>,
    /// Verify through this URL instead of the environment's public one
    #[arg(long, value_name = "URL")]
    pub base_url: Option<String>,
    /// Give the rollout this long to complete
    #[arg(long, value_name = "SECS")]
    pub timeout: Option<u64>,
    /// Kill the end-to-end suite or the smoke tests (with their child processes) when a run
    /// takes longer (default: the environment's suite_timeout_secs, 1200)
    #[arg(long, value_name = "SECS")]
    pub suite_timeout: Option<u64>,
    /// Don't ask for confirmation
    #[arg(long)]
    pub yes: bool,
    /// Production: shift this share of the traffic first, then the rest
    #[arg(long, value_name = "PERCENT", value_parser = clap::value_parser!(u8).range(1..=99))]
    pub canary: Option<u8>,
    /// Production: watch the error rate this long after each traffic shift (default 300)
    #[arg(long, value_name = "SECS")]
    pub bake: Option<u64>,
    /// Production: keep the old colour running this long after the bake, then scale it to 0
    /// (default 600)
    #[arg(long, value_name = "SECS")]
    pub keep_old: Option<u64>,
    /// Production: deploy a tag that staging never verified (recorded in the ledger)
    #[arg(long)]
    pub force_unverified: bool,
    /// Production: where the bake's error rate comes from
    #[arg(long, value_enum, default_value_t = MetricsKind::Cloudwatch, hide_default_value = true)]
    pub metrics: MetricsKind,
    /// With `--metrics prometheus`: the backend's /metrics URL
    #[arg(long, value_name = "URL")]
    pub metrics_url: Option<String>,
}

/// Where a blue/green bake's error rate comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum MetricsKind {
    // The load balancer's CloudWatch metrics (5xx and requests of the new colour).
    Cloudwatch,
    // The backend's own Prometheus `/metrics` (`--metrics-url`).
    Prometheus,
}

impl MetricsKind {
    pub fn name(self) -> &'static str {
        match self {
            MetricsKind::Cloudwatch => "cloudwatch",
            MetricsKind::Prometheus => "prometheus",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Args)]
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
    /// Roll back only a deploy this run left unfinished (killed, cancelled or failed before the
    /// traffic came back); otherwise say so and change nothing. For a cancelled CI job's cleanup
    #[arg(long, conflicts_with = "to")]
    pub if_unfinished: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Args)]
pub struct StatusArgs {
    #[arg(value_enum)]
    pub env: Environment,
}

#[derive(Clone, Debug, PartialEq, Eq, Args)]
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

/// One tag for `push`: an identity tag (`--tag`) or a moving one (`--moving-tag`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PushTag<'a> {
    Identity(&'a str),
    Moving(&'a str),
}

impl DeployArgs {
    /// The arguments after `deploy`, as the engine parses them.
    pub fn to_args(&self) -> Vec<String> {
        let mut out = vec![self.env.name().to_owned()];
        value(&mut out, "--image-tag", self.image_tag.as_deref());
        value(&mut out, "--base-url", self.base_url.as_deref());
        value(
            &mut out,
            "--timeout",
            self.timeout.map(|t| t.to_string()).as_deref(),
        );
        value(
            &mut out,
            "--suite-timeout",
            self.suite_timeout.map(|t| t.to_string()).as_deref(),
        );
        flag(&mut out, "--yes", self.yes);
        value(
            &mut out,
            "--canary",
            self.canary.map(|c| c.to_string()).as_deref(),
        );
        value(
            &mut out,
            "--bake",
            self.bake.map(|b| b.to_string()).as_deref(),
        );
        value(
            &mut out,
            "--keep-old",
            self.keep_old.map(|k| k.to_string()).as_deref(),
        );
        flag(&mut out, "--force-unverified", self.force_unverified);
        // The default goes unsaid, as it was given.
        if self.metrics != MetricsKind::Cloudwatch {
            value(&mut out, "--metrics", Some(self.metrics.name()));
        }
        value(&mut out, "--metrics-url", self.metrics_url.as_deref());
        out
    }
}

impl RollbackArgs {
    /// The arguments after `rollback`, as the engine parses them.
    pub fn to_args(&self) -> Vec<String> {
        let mut out = vec![self.env.name().to_owned()];
        value(&mut out, "--to", self.to.as_deref());
        value(&mut out, "--base-url", self.base_url.as_deref());
        flag(&mut out, "--yes", self.yes);
        flag(&mut out, "--if-unfinished", self.if_unfinished);
        out
    }
}

impl StatusArgs {
    /// The arguments after `status`, as the engine parses them.
    pub fn to_args(&self) -> Vec<String> {
        vec![self.env.name().to_owned()]
    }
}

impl PushArgs {
    /// The arguments after `push`, with the tags in the order given (identity and moving tags
    /// interleaved as the caller lists them).
    pub fn render(repositories: &[&str], source_tag: &str, tags: &[PushTag<'_>]) -> Vec<String> {
        let mut out = Vec::new();
        for repository in repositories {
            value(&mut out, "--repository", Some(repository));
        }
        value(&mut out, "--source-tag", Some(source_tag));
        for tag in tags {
            match tag {
                PushTag::Identity(tag) => value(&mut out, "--tag", Some(tag)),
                PushTag::Moving(tag) => value(&mut out, "--moving-tag", Some(tag)),
            }
        }
        out
    }
}

fn value(out: &mut Vec<String>, name: &str, value: Option<&str>) {
    if let Some(value) = value {
        out.extend([name.to_owned(), value.to_owned()]);
    }
}

fn flag(out: &mut Vec<String>, name: &str, on: bool) {
    if on {
        out.push(name.to_owned());
    }
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser, Subcommand};

    use super::*;

    /// The engine's shape of the command line, to read back what `to_args` renders.
    #[derive(Debug, Parser)]
    struct Cli {
        #[command(subcommand)]
        command: Command,
    }

    #[derive(Debug, Subcommand)]
    enum Command {
        Deploy(DeployArgs),
        Rollback(RollbackArgs),
        Status(StatusArgs),
        Push(PushArgs),
    }

    fn parse(name: &str, args: Vec<String>) -> Command {
        let argv = ["xtask-deploy".to_owned(), name.to_owned()]
            .into_iter()
            .chain(args);
        Cli::try_parse_from(argv).unwrap().command
    }

    #[test]
    fn the_flags_are_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn what_is_forwarded_parses_back_to_what_was_given() {
        let every_flag = DeployArgs {
            env: Environment::Production,
            image_tag: Some("abc123".into()),
            base_url: Some("http://127.0.0.1:8080".into()),
            timeout: Some(600),
            suite_timeout: Some(900),
            yes: true,
            canary: Some(10),
            bake: Some(30),
            keep_old: Some(0),
            force_unverified: true,
            metrics: MetricsKind::Prometheus,
            metrics_url: Some("http://127.0.0.1:8080/metrics".into()),
        };
        let none = DeployArgs {
            env: Environment::Staging,
            image_tag: None,
            base_url: None,
            timeout: None,
            suite_timeout: None,
            yes: false,
            canary: None,
            bake: None,
            keep_old: None,
            force_unverified: false,
            metrics: MetricsKind::Cloudwatch,
            metrics_url: None,
        };
        for args in [every_flag, none] {
            let Command::Deploy(back) = parse("deploy", args.to_args()) else {
                panic!("not deploy");
            };
            assert_eq!(back, args);
        }
        let rollback = RollbackArgs {
            env: Environment::Production,
            to: Some("v41".into()),
            base_url: Some("http://127.0.0.1:8080".into()),
            yes: true,
            if_unfinished: false,
        };
        let Command::Rollback(back) = parse("rollback", rollback.to_args()) else {
            panic!("not rollback");
        };
        assert_eq!(back, rollback);
        let status = StatusArgs {
            env: Environment::Staging,
        };
        let Command::Status(back) = parse("status", status.to_args()) else {
            panic!("not status");
        };
        assert_eq!(back, status);
    }

    #[test]
    fn push_keeps_identity_and_moving_tags_apart() {
        let rendered = PushArgs::render(
            &["eventflow-backend", "eventflow-frontend"],
            "abc123",
            &[
                PushTag::Identity("abc123"),
                PushTag::Moving("main"),
                PushTag::Identity("v1.4.0"),
                PushTag::Moving("latest"),
            ],
        );
        let Command::Push(back) = parse("push", rendered) else {
            panic!("not push");
        };
        assert_eq!(
            back,
            PushArgs {
                repositories: vec!["eventflow-backend".into(), "eventflow-frontend".into()],
                source_tag: "abc123".into(),
                identity_tags: vec!["abc123".into(), "v1.4.0".into()],
                moving_tags: vec!["main".into(), "latest".into()],
                registry: None,
            }
        );
    }

    #[test]
    fn a_canary_share_is_bounded() {
        let err = Cli::try_parse_from(["xtask-deploy", "deploy", "production", "--canary", "100"])
            .unwrap_err();
        assert!(err.to_string().contains("100 is not in 1..=99"), "{err}");
    }
}
