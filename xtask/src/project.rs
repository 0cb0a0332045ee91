//! The project the pipeline works on: its root, what exists in it, and read-only facts about the
//! repository that plans need (the commit being built).

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, ensure};
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
    /// The project this run works on: found at run time, and refused when it is not the tree the
    /// binary was built from.
    pub fn discover() -> Result<Project> {
        let cwd = std::env::current_dir().context("reading the current directory")?;
        let root = run_time_root(std::env::var_os("CARGO_MANIFEST_DIR"), &cwd)?;
        same_tree(&root, &compiled_root())?;
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

/// The workspace this binary was compiled from (the xtask lives one level below its root).
fn compiled_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

/// The workspace the command was run in. `cargo xtask` is `cargo run -p xtask`, and cargo sets
/// CARGO_MANIFEST_DIR for the program it runs: that tree's `xtask/`. Run some other way, it is the
/// nearest directory at or above `cwd` with a Cargo.toml and `xtask/`.
fn run_time_root(manifest_dir: Option<OsString>, cwd: &Path) -> Result<PathBuf> {
    if let Some(manifest) = manifest_dir.filter(|d| !d.is_empty()) {
        let manifest = PathBuf::from(manifest);
        return manifest.parent().map(Path::to_path_buf).with_context(|| {
            format!(
                "CARGO_MANIFEST_DIR is {}, which has no parent: run the pipeline as `cargo xtask` from the repository",
                manifest.display()
            )
        });
    }
    cwd.ancestors()
        .find(|dir| dir.join("Cargo.toml").is_file() && dir.join("xtask/Cargo.toml").is_file())
        .map(Path::to_path_buf)
        .with_context(|| {
            format!(
                "{} is not inside the EventFlow repository (no Cargo.toml with xtask/ here or above): run `cargo xtask` from the repository",
                cwd.display()
            )
        })
}

/// Refuses a binary built from another tree: with a CARGO_TARGET_DIR shared between clones or
/// worktrees, cargo can hand one tree the xtask binary built from the other, which would then
/// plan, cache and report that other tree.
fn same_tree(run_time: &Path, compiled: &Path) -> Result<()> {
    let canonical = |p: &Path| p.canonicalize().unwrap_or_else(|_| p.to_path_buf());
    ensure!(
        canonical(run_time) == canonical(compiled),
        "this xtask binary was built from {} but runs in {} (a CARGO_TARGET_DIR shared by both trees): rebuild it here with `touch xtask/src/main.rs && cargo xtask …`, or give each tree its own CARGO_TARGET_DIR",
        compiled.display(),
        run_time.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("xtask-root-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("xtask")).unwrap();
        std::fs::create_dir_all(dir.join("backend/src")).unwrap();
        std::fs::write(dir.join("Cargo.toml"), "[workspace]\n").unwrap();
        std::fs::write(dir.join("xtask/Cargo.toml"), "[package]\n").unwrap();
        dir
    }

    #[test]
    fn the_root_is_the_parent_of_the_manifest_cargo_ran() {
        let root = run_time_root(Some("/trees/b/xtask".into()), Path::new("/elsewhere")).unwrap();
        assert_eq!(root, Path::new("/trees/b"));
    }

    #[test]
    fn without_cargo_the_root_is_found_above_the_current_directory() {
        let tree = scratch("upward");
        let root = run_time_root(None, &tree.join("backend/src")).unwrap();
        assert_eq!(root, tree);
        // An empty CARGO_MANIFEST_DIR counts as unset.
        assert_eq!(run_time_root(Some("".into()), &tree).unwrap(), tree);
        let outside = std::env::temp_dir().join(format!("xtask-root-none-{}", std::process::id()));
        std::fs::create_dir_all(&outside).unwrap();
        let err = run_time_root(None, &outside).unwrap_err().to_string();
        assert!(
            err.contains("is not inside the EventFlow repository"),
            "{err}"
        );
        std::fs::remove_dir_all(&tree).unwrap();
    }

    #[test]
    fn a_binary_built_from_another_tree_is_refused_in_one_line() {
        let a = scratch("tree-a");
        let b = scratch("tree-b");
        same_tree(&a, &a).unwrap();
        // The same tree reached through another spelling of its path is the same tree.
        same_tree(&a.join("xtask/.."), &a).unwrap();
        let err = same_tree(&b, &a).unwrap_err().to_string();
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.starts_with(&format!(
                "this xtask binary was built from {} but runs in {}",
                a.display(),
                b.display()
            )),
            "{err}"
        );
        std::fs::remove_dir_all(&a).unwrap();
        std::fs::remove_dir_all(&b).unwrap();
    }

    #[test]
    fn this_binary_runs_in_the_tree_it_was_built_from() {
        // Under `cargo test` cargo sets CARGO_MANIFEST_DIR to this tree's xtask/.
        let root = run_time_root(
            std::env::var_os("CARGO_MANIFEST_DIR"),
            &std::env::current_dir().unwrap(),
        )
        .unwrap();
        same_tree(&root, &compiled_root()).unwrap();
    }
}
