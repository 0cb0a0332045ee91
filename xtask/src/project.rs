//! The project the pipeline works on: its root, what exists in it, and read-only facts about the
//! repository that plans need (the commit being built).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use xshell::{Shell, cmd};

use crate::pipeline::Env;

pub struct Project {
    pub env: Env,
    pub sh: Shell,
}

impl Project {
    pub fn discover() -> Result<Project> {
        // The xtask lives one level below the workspace root.
        let root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .context("the xtask crate has no parent directory")?
            .to_path_buf();
        Ok(Project::at(root))
    }

    pub fn at(root: PathBuf) -> Project {
        let sh = Shell::new().expect("the current directory is readable");
        sh.change_dir(&root);
        Project {
            env: Env::from_process(root),
            sh,
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

    pub fn target_dir(&self) -> PathBuf {
        crate::services::target_dir(self.root())
    }
}
