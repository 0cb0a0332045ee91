//! Commands that live in crates of their own, so that only they compile their heavy dependencies
//! (the AWS SDK in `xtask-deploy`, the HTTP and SMTP clients in `xtask-notify`): the xtask runs
//! them as `cargo run -p <crate> -- <args>`, attached to the terminal.

use anyhow::{Context, Result};

use crate::cmd::Cmd;
use crate::pipeline::signal;
use crate::project::Project;

/// `cargo run --quiet -p <package> -- <args>`.
pub fn command(package: &str, args: Vec<String>) -> Cmd {
    Cmd::new("cargo")
        .args(["run", "--quiet", "-p", package, "--"])
        .args(args)
}

/// Runs `cmd` with the terminal's stdin, stdout and stderr; whether it succeeded. Ctrl-C reaches
/// the child directly (same process group); the xtask only keeps waiting, so that a deploy's
/// rollback finishes and its output is seen.
pub fn run(project: &Project, cmd: &Cmd) -> Result<bool> {
    signal::install();
    let status = cmd
        .to_command(project.root())
        .status()
        .with_context(|| format!("running `{cmd}`"))?;
    Ok(status.success())
}
