//! The project the pipeline works on: its root, what exists in it, and read-only facts about the
//! repository that plans need (the commit being built).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use xshell::{Shell, cmd};

use crate::pipeline::Env;

/// A directory holding a copy of the RustSec advisory database as the git repository
/// `advisory-db-3157b0e258782691` (the name cargo-deny gives the default database). When set,
/// cargo-deny reads it offline (`deny.toml` points `db-path` here) instead of fetching.
pub const ADVISORY_DB_VAR: &str = "EVENTFLOW_ADVISORY_DB";

pub struct Project {
    pub env: Env,
    pub sh: Shell,
    /// Where cargo builds (CARGO_TARGET_DIR, or `target/`).
    pub target_dir: PathBuf,
    /// The Chromium the browser test drives (CHROMIUM_PATH, or `chromium` on PATH).
    pub chromium: String,
    /// A local copy of the RustSec advisory database for cargo-deny (EVENTFLOW_ADVISORY_DB).
    pub advisory_db: Option<PathBuf>,
}

impl Project {
    pub fn discover() -> Result<Project> {
        // The xtask lives one level below the workspace root.
        let root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .context("the xtask crate has no parent directory")?
            .to_path_buf();
        let mut project = Project::at(root);
        project.target_dir = crate::services::target_dir(project.root());
        if let Ok(chromium) = std::env::var("CHROMIUM_PATH") {
            project.chromium = chromium;
        }
        project.advisory_db = std::env::var_os(ADVISORY_DB_VAR)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from);
        Ok(project)
    }

    /// A project at `root` with the defaults, whatever this process's environment says.
    pub fn at(root: PathBuf) -> Project {
        let sh = Shell::new().expect("the current directory is readable");
        sh.change_dir(&root);
        Project {
            target_dir: root.join("target"),
            env: Env::from_process(root),
            sh,
            chromium: "chromium".to_owned(),
            advisory_db: None,
        }
    }

    pub fn root(&self) -> &Path {
        &self.env.root
    }

    pub fn has_frontend(&self) -> bool {
        self.root().join("frontend/package.json").is_file()
    }

    /// The commit being built, for stamping binaries and checking what a server reports.
    /// Planning reads the repository; it never changes it.
    pub fn git_sha(&self) -> String {
        cmd!(self.sh, "git rev-parse HEAD")
            .quiet()
            .ignore_stderr()
            .read()
            .unwrap_or_else(|_| "unknown".to_owned())
    }
}
