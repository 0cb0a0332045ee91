//! `cargo xtask rehearse`: forwarded, with the same arguments, to the `xtask-rehearse` crate
//! (`xtask/rehearse`), which holds the YAML parser. Only this command compiles it; every other
//! command stays light. Secrets reach it in a file (`--secrets-file`), never on its command line.

use anyhow::Result;

use crate::cli::RehearseArgs;
use crate::cmd::Cmd;
use crate::forward;
use crate::project::Project;

/// `xtask-rehearse`'s command line.
pub fn args(args: &RehearseArgs, dry_run: bool) -> Vec<String> {
    let mut out = vec![
        args.workflow.clone(),
        "--event".to_owned(),
        args.event.name().to_owned(),
    ];
    let optional = [
        ("--ref", args.git_ref.clone()),
        ("--sha", args.sha.clone()),
        (
            "--secrets-file",
            args.secrets_file.as_ref().map(|f| f.display().to_string()),
        ),
        ("--cancel-at", args.cancel_at.clone()),
        (
            "--artifacts-from",
            args.artifacts_from
                .as_ref()
                .map(|d| d.display().to_string()),
        ),
    ];
    for (name, value) in optional {
        if let Some(value) = value {
            out.extend([name.to_owned(), value]);
        }
    }
    for input in &args.inputs {
        out.extend(["--input".to_owned(), input.clone()]);
    }
    for job in &args.stand_in {
        out.extend(["--stand-in".to_owned(), job.clone()]);
    }
    let flags = [
        ("--approve", args.approve),
        ("--keep-scratch", args.keep_scratch),
        ("--dry-run", dry_run),
    ];
    out.extend(
        flags
            .into_iter()
            .filter(|(_, on)| *on)
            .map(|(flag, _)| flag.to_owned()),
    );
    out
}

/// The command that runs the rehearsal.
pub fn command(args: Vec<String>) -> Cmd {
    forward::command("xtask-rehearse", args)
}

/// Whether every job of the rehearsed workflow passed or was skipped.
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
        let Command::Rehearse(rehearse) = cli.command else {
            panic!("not rehearse: {:?}", cli.command);
        };
        command(args(&rehearse, cli.run.dry_run)).to_string()
    }

    #[test]
    fn every_flag_is_forwarded_as_given() {
        assert_eq!(
            forwarded(&["rehearse", "ci"]),
            "$ cargo run --quiet -p xtask-rehearse -- ci --event push"
        );
        assert_eq!(
            forwarded(&[
                "rehearse",
                "cd-production",
                "--event",
                "workflow_dispatch",
                "--ref",
                "main",
                "--sha",
                "abc123",
                "--input",
                "rollback=true",
                "--stand-in",
                "infra",
                "--stand-in",
                "infra-apply",
                "--secrets-file",
                "local.secrets",
                "--approve",
                "--cancel-at",
                "deploy.3+5",
                "--artifacts-from",
                "ci-artifacts",
                "--keep-scratch",
                "--dry-run",
            ]),
            "$ cargo run --quiet -p xtask-rehearse -- cd-production --event workflow_dispatch --ref main --sha abc123 --secrets-file local.secrets --cancel-at deploy.3+5 --artifacts-from ci-artifacts --input rollback=true --stand-in infra --stand-in infra-apply --approve --keep-scratch --dry-run"
        );
    }

    #[test]
    fn an_unknown_event_is_a_one_line_error() {
        let err =
            Cli::try_parse_from(["xtask", "rehearse", "ci", "--event", "release"]).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("error: invalid value 'release' for '--event <EVENT>'"),
            "{err}"
        );
    }
}
