//! `xtask-notify`: tell Slack and email how a run ended (`cargo xtask notify` runs this).
//! The channels, exit codes and `--dry-run` are described in the library's documentation.

use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use xtask_notify::{Channels, Delivery, Notice, Outcome};

/// Send a notice of a run's result to every channel configured in the environment
/// (SLACK_WEBHOOK_URL; SMTP_URL with NOTIFY_EMAIL and NOTIFY_FROM)
#[derive(Debug, Parser)]
#[command(name = "xtask-notify", bin_name = "cargo xtask notify")]
struct Args {
    /// How the run ended
    #[arg(long, value_enum)]
    status: Status,
    /// The headline [default: "<workflow> succeeded|failed|rolled back", the workflow from GITHUB_WORKFLOW or "run"]
    #[arg(long)]
    title: Option<String>,
    /// A link to the run [default: the GitHub Actions run, when run there]
    #[arg(long, value_name = "URL")]
    url: Option<String>,
    /// The environment the run was about (staging, production)
    #[arg(long)]
    environment: Option<String>,
    /// The version the run was about (vX.Y.Z)
    #[arg(long)]
    version: Option<String>,
    /// How long the run took, in seconds
    #[arg(long, value_name = "SECS")]
    duration: Option<u64>,
    /// Print the channels and the message; send nothing
    #[arg(long)]
    dry_run: bool,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Status {
    Success,
    Failure,
    RolledBack,
}

impl From<Status> for Outcome {
    fn from(status: Status) -> Outcome {
        match status {
            Status::Success => Outcome::Success,
            Status::Failure => Outcome::Failure,
            Status::RolledBack => Outcome::RolledBack,
        }
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let notice = notice(&args, env, git_head);
    let channels = Channels::from_env();
    if args.dry_run {
        print!("{}", dry_run(&channels, &notice));
        return ExitCode::SUCCESS;
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: starting the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let deliveries = runtime.block_on(channels.send(&notice));
    let on_github = env("GITHUB_ACTIONS").as_deref() == Some("true");
    for delivery in &deliveries {
        println!("{delivery}");
        if on_github && delivery.is_failed() {
            println!("::error title=notification not sent::{delivery}");
        }
    }
    if succeeded(&deliveries) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Exit 0 when no configured channel failed, nothing configured included; 1 otherwise.
fn succeeded(deliveries: &[Delivery]) -> bool {
    !deliveries.iter().any(Delivery::is_failed)
}

/// The notice the flags and the run's environment (`GITHUB_*`) describe.
fn notice(
    args: &Args,
    env: impl Fn(&str) -> Option<String>,
    git_head: impl FnOnce() -> Option<String>,
) -> Notice {
    let result = Outcome::from(args.status);
    let title = args.title.clone().unwrap_or_else(|| {
        let what = env("GITHUB_WORKFLOW").unwrap_or_else(|| "run".to_owned());
        let verb = match result {
            Outcome::Success => "succeeded",
            Outcome::Failure => "failed",
            Outcome::RolledBack => "rolled back",
        };
        format!("{what} {verb}")
    });
    let run_url = args.url.clone().or_else(|| {
        Some(format!(
            "{}/{}/actions/runs/{}",
            env("GITHUB_SERVER_URL")?,
            env("GITHUB_REPOSITORY")?,
            env("GITHUB_RUN_ID")?
        ))
    });
    Notice {
        environment: args.environment.clone(),
        version: args.version.clone(),
        git_sha: env("GITHUB_SHA").or_else(git_head),
        result,
        title,
        duration: args.duration.map(Duration::from_secs),
        run_url,
    }
}

/// The commit checked out here, if this is a git repository.
fn git_head() -> Option<String> {
    let output = std::process::Command::new("git")
        .args(["rev-parse", "HEAD"])
        .output()
        .ok()?;
    let sha = String::from_utf8(output.stdout).ok()?.trim().to_owned();
    (output.status.success() && !sha.is_empty()).then_some(sha)
}

/// What `--dry-run` prints: where the notice would go, then the email and the Slack message.
fn dry_run(channels: &Channels, notice: &Notice) -> String {
    let mut out = String::from("notify (dry run: nothing is sent)\n");
    let lines = channels.describe();
    if lines.is_empty() {
        out.push_str(&format!("  {}\n", Delivery::NotConfigured));
    }
    for line in lines {
        out.push_str(&format!("  would send: {line}\n"));
    }
    out.push_str(&format!(
        "\nsubject: {}\n\n{}\n",
        notice.subject(),
        notice.text()
    ));
    let slack =
        serde_json::to_string_pretty(&xtask_notify::slack_message(notice)).unwrap_or_default();
    out.push_str(&format!("slack message:\n{slack}\n"));
    out
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    fn parse(args: &[&str]) -> Args {
        Args::try_parse_from(std::iter::once("xtask-notify").chain(args.iter().copied())).unwrap()
    }

    #[test]
    fn the_command_line_is_consistent() {
        Args::command().debug_assert();
        let err = Args::try_parse_from(["xtask-notify", "--status", "fail"]).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("error: invalid value 'fail' for '--status <STATUS>'"),
            "{err}"
        );
    }

    #[test]
    fn github_runs_fill_in_the_title_link_and_sha() {
        let github = |name: &str| {
            match name {
                "GITHUB_WORKFLOW" => Some("cd-production"),
                "GITHUB_SERVER_URL" => Some("https://github.com"),
                "GITHUB_REPOSITORY" => Some("eventflow/eventflow"),
                "GITHUB_RUN_ID" => Some("42"),
                "GITHUB_SHA" => Some("0123456789abcdef0123456789abcdef01234567"),
                _ => None,
            }
            .map(str::to_owned)
        };
        let notice = notice(
            &parse(&[
                "--status",
                "rolled-back",
                "--environment",
                "production",
                "--duration",
                "90",
            ]),
            github,
            || panic!("GITHUB_SHA is set: git is not asked"),
        );
        assert_eq!(
            notice,
            Notice {
                environment: Some("production".into()),
                version: None,
                git_sha: Some("0123456789abcdef0123456789abcdef01234567".into()),
                result: Outcome::RolledBack,
                title: "cd-production rolled back".into(),
                duration: Some(Duration::from_secs(90)),
                run_url: Some("https://github.com/eventflow/eventflow/actions/runs/42".into()),
            }
        );
    }

    #[test]
    fn a_laptop_run_uses_the_flags_and_git() {
        let notice = notice(
            &parse(&[
                "--status",
                "failure",
                "--title",
                "ci failed",
                "--url",
                "http://ci.local/7",
            ]),
            |_| None,
            || Some("abc".into()),
        );
        assert_eq!(notice.title, "ci failed");
        assert_eq!(notice.run_url.as_deref(), Some("http://ci.local/7"));
        assert_eq!(notice.git_sha.as_deref(), Some("abc"));
        let notice = notice_without_flags();
        assert_eq!(notice.title, "run succeeded");
        assert_eq!(notice.run_url, None);
    }

    fn notice_without_flags() -> Notice {
        notice(&parse(&["--status", "success"]), |_| None, || None)
    }

    #[test]
    fn only_a_failed_channel_fails_the_step() {
        use xtask_notify::Channel;
        let sent = Delivery::Sent {
            channel: Channel::Slack,
            to: "webhook ***".into(),
        };
        let failed = Delivery::Failed {
            channel: Channel::Email,
            error: "sending through smtps://ops:***@smtp.example.com:465: 535".into(),
        };
        assert!(succeeded(&[Delivery::NotConfigured]));
        assert!(succeeded(std::slice::from_ref(&sent)));
        assert!(!succeeded(&[sent, failed]));
    }

    #[test]
    fn a_dry_run_shows_the_message_and_masks_the_channels() {
        let channels = Channels::from_lookup(|name| {
            (name == "SLACK_WEBHOOK_URL")
                .then(|| "https://hooks.slack.com/services/T0/B0/sekrit-token".to_owned())
        });
        let out = dry_run(&channels, &Notice::new(Outcome::Failure, "ci failed"));
        assert!(!out.contains("sekrit"), "{out}");
        assert!(
            out.starts_with(
                "notify (dry run: nothing is sent)\n  would send: slack: webhook ***\n\nsubject: EventFlow: ci failed (failure)\n\nci failed\n\nResult:      failure\n\nslack message:\n{"
            ),
            "{out}"
        );
        let out = dry_run(&Channels::from_lookup(|_| None), &notice_without_flags());
        assert!(
            out.starts_with(
                "notify (dry run: nothing is sent)\n  notifications: no SLACK_WEBHOOK_URL or SMTP_URL set, nothing sent\n"
            ),
            "{out}"
        );
    }
}
