//! A prebuilt deploy engine: when `EVENTFLOW_DEPLOY_BIN` names an `xtask-deploy` binary,
//! `cargo xtask deploy|rollback|status` run it instead of `cargo run -p xtask-deploy`, so a
//! rollback starts without compiling the AWS SDK first (about 3 minutes cold on two cores). Where
//! the binary comes from and why: docs/runbook.md, "Roll back now".

use std::path::{Path, PathBuf};

use anyhow::{Result, ensure};

use crate::cmd::Cmd;

/// The variable naming the binary.
pub const VARIABLE: &str = "EVENTFLOW_DEPLOY_BIN";

/// The binary `EVENTFLOW_DEPLOY_BIN` names, if it is set (and not empty).
pub fn from_env() -> Option<PathBuf> {
    std::env::var_os(VARIABLE)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// `<binary> <args>`, once the binary is known to be a file.
pub fn command(binary: &Path, args: Vec<String>) -> Result<Cmd> {
    ensure!(
        binary.is_file(),
        "{VARIABLE} names {}, which is not a file: download the deploy engine there (docs/runbook.md, \"Roll back now\"), or unset {VARIABLE} to build it",
        binary.display()
    );
    Ok(Cmd::new(binary.to_string_lossy().into_owned()).args(args))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_binary_runs_with_the_same_arguments() {
        let binary = std::env::current_exe().unwrap();
        let cmd = command(
            &binary,
            vec!["rollback".into(), "staging".into(), "--dry-run".into()],
        )
        .unwrap();
        assert_eq!(
            cmd.to_string(),
            format!("$ {} rollback staging --dry-run", binary.display())
        );
    }

    #[test]
    fn a_missing_binary_names_the_fix() {
        let err = command(Path::new("/nonexistent/xtask-deploy"), Vec::new())
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "EVENTFLOW_DEPLOY_BIN names /nonexistent/xtask-deploy, which is not a file: download the deploy engine there (docs/runbook.md, \"Roll back now\"), or unset EVENTFLOW_DEPLOY_BIN to build it"
        );
    }
}
