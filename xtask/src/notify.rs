//! `cargo xtask notify`: forwarded, with the same arguments, to the `xtask-notify` crate
//! (`xtask/notify`), which holds the HTTP and SMTP clients. Only this command (and the deploy
//! engine) compiles it; every other command stays light. The channels come from the environment
//! (SLACK_WEBHOOK_URL; SMTP_URL, NOTIFY_EMAIL, NOTIFY_FROM) and reach it unchanged, never on
//! its command line.

use anyhow::Result;

use crate::cli::NotifyArgs;
use crate::cmd::Cmd;
use crate::forward;
use crate::project::Project;

/// `xtask-notify`'s command line.
pub fn args(args: &NotifyArgs, dry_run: bool) -> Vec<String> {
    let mut out = vec!["--status".to_owned(), args.status.name().to_owned()];
    let optional = [
        ("--title", args.title.as_deref()),
        ("--url", args.url.as_deref()),
        ("--environment", args.environment.map(|e| e.name())),
        ("--version", args.version.as_deref()),
    ];
    for (name, value) in optional {
        if let Some(value) = value {
            out.extend([name.to_owned(), value.to_owned()]);
        }
    }
    if dry_run {
        out.push("--dry-run".to_owned());
    }
    out
}

/// The command that sends the notice.
pub fn command(args: Vec<String>) -> Cmd {
    forward::command("xtask-notify", args)
}

/// Whether every configured channel took the notice (nothing configured counts as success: it
/// says so).
pub fn run(project: &Project, args: Vec<String>) -> Result<bool> {
    forward::run(project, &command(args))
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::{Cli, Command};

    fn forwarded(line: &[&str]) -> String {
        let cli =
            Cli::try_parse_from(std::iter::once("xtask").chain(line.iter().copied())).unwrap();
        let Command::Notify(notify) = cli.command else {
            panic!("not notify: {:?}", cli.command);
        };
        command(args(&notify, cli.run.dry_run)).to_string()
    }

    #[test]
    fn every_flag_is_forwarded_as_given() {
        assert_eq!(
            forwarded(&["notify", "--status", "failure", "--title", "ci failed"]),
            "$ cargo run --quiet -p xtask-notify -- --status failure --title 'ci failed'"
        );
        assert_eq!(
            forwarded(&[
                "notify",
                "--status",
                "rolled-back",
                "--title",
                "production deploy rolled back",
                "--url",
                "https://github.com/eventflow/eventflow/actions/runs/42",
                "--environment",
                "production",
                "--version",
                "v1.4.0",
                "--dry-run",
            ]),
            "$ cargo run --quiet -p xtask-notify -- --status rolled-back --title 'production deploy rolled back' --url https://github.com/eventflow/eventflow/actions/runs/42 --environment production --version v1.4.0 --dry-run"
        );
    }

    #[test]
    fn a_status_is_required_and_checked() {
        let err = Cli::try_parse_from(["xtask", "notify", "--title", "x"]).unwrap_err();
        assert!(err.to_string().contains("--status <STATUS>"), "{err}");
        let err = Cli::try_parse_from(["xtask", "notify", "--status", "failed"]).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("error: invalid value 'failed' for '--status <STATUS>'"),
            "{err}"
        );
    }
}
