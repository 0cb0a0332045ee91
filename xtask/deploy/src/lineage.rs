//! Production's candidate when no `--image-tag` is given: the newest release staging verified
//! whose commit production's commit descends from, with the same deployable tree.
//!
//! A merge of `develop` into `main` makes a new commit that no image carries, but its images
//! would be byte-for-byte what staging verified when nothing the images are built from changed
//! since. So the candidate is a verified staging release whose commit is an ancestor of
//! production's (`git merge-base --is-ancestor`) and whose [`DEPLOYABLE_PATHS`] are identical
//! (`git diff --quiet`). A change there that staging never ran is refused.

use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};

use crate::console::Console;
use crate::ledger::{Kind, Outcome, Release};

/// What the images are built from (xtask/src/stages/images): the workspace manifests and the
/// toolchain pin (the backend's release binary), `.cargo/` (its build settings), and `backend/`
/// and `frontend/`, which hold both Dockerfiles, their `.dockerignore`s, the migrations the
/// backend embeds (backend/migrations), the RDS CA bundle and the dashboard's sources. A
/// change anywhere else (docs, infrastructure, the xtask) leaves the images as they were.
pub const DEPLOYABLE_PATHS: &[&str] = &[
    "backend",
    "frontend",
    "Cargo.toml",
    "Cargo.lock",
    ".cargo",
    "rust-toolchain.toml",
];

/// A git command, as data: it runs without a shell, and a dry run prints it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GitCommand {
    pub args: Vec<String>,
}

impl GitCommand {
    fn new<I: IntoIterator<Item = S>, S: Into<String>>(args: I) -> GitCommand {
        GitCommand {
            args: args.into_iter().map(Into::into).collect(),
        }
    }

    /// The commit `HEAD` names.
    pub fn head() -> GitCommand {
        GitCommand::new(["rev-parse", "--verify", "HEAD^{commit}"])
    }

    /// Exits 0 when `sha` is a commit this clone has.
    pub fn has_commit(sha: &str) -> GitCommand {
        GitCommand::new([
            "rev-parse",
            "--verify",
            "--quiet",
            &format!("{sha}^{{commit}}"),
        ])
    }

    /// Exits 0 when `ancestor` is `descendant` or one of its ancestors, 1 when not.
    pub fn is_ancestor(ancestor: &str, descendant: &str) -> GitCommand {
        GitCommand::new(["merge-base", "--is-ancestor", ancestor, descendant])
    }

    /// Exits 0 when the deployable paths are identical in both commits, 1 when not.
    pub fn same_deployable_tree(a: &str, b: &str) -> GitCommand {
        let mut args = vec!["diff".to_owned(), "--quiet".into(), a.into(), b.into()];
        args.push("--".into());
        args.extend(DEPLOYABLE_PATHS.iter().map(|p| (*p).to_owned()));
        GitCommand { args }
    }
}

impl fmt::Display for GitCommand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "git {}", self.args.join(" "))
    }
}

/// The clone the git commands run in.
pub struct Git {
    dir: PathBuf,
}

impl Git {
    pub fn new(dir: impl Into<PathBuf>) -> Git {
        Git { dir: dir.into() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    async fn run(&self, command: &GitCommand) -> Result<std::process::Output> {
        tokio::process::Command::new("git")
            .arg("-C")
            .arg(&self.dir)
            .args(&command.args)
            .stdin(std::process::Stdio::null())
            .output()
            .await
            .with_context(|| format!("running `{command}`: is git installed?"))
    }

    /// A question git answers with exit 0 (yes) or 1 (no); anything else is an error.
    pub async fn holds(&self, command: &GitCommand) -> Result<bool> {
        let out = self.run(command).await?;
        match out.status.code() {
            Some(0) => Ok(true),
            Some(1) => Ok(false),
            _ => bail!(
                "`{command}` failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        }
    }

    /// The first line `command` prints.
    pub async fn read(&self, command: &GitCommand) -> Result<String> {
        let out = self.run(command).await?;
        if !out.status.success() {
            bail!(
                "`{command}` failed in {}: {}",
                self.dir.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }
}

/// Why a staging release can't stand for production's commit.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Mismatch {
    NotInClone,
    NotAncestor,
    TreeDiffers,
}

/// The newest verified staging release production's commit `head` can promote. Refuses, in one
/// line naming the fix, when there is none.
pub async fn promotable<'r>(
    git: &Git,
    console: &Console,
    staging: &'r [Release],
    head: &str,
) -> Result<&'r Release> {
    let verified = staging.iter().rev().filter(|r| {
        r.kind == Kind::Deploy && r.result == Outcome::Verified && !r.git_sha.is_empty()
    });
    let mut seen = Vec::new();
    for release in verified {
        let sha = release.git_sha.as_str();
        // Each question as it is asked, with git's answer: the reads run in a dry run too.
        let ask = |command: GitCommand| async move {
            let yes = git.holds(&command).await?;
            console.say(format!("  $ {command}: {}", if yes { "yes" } else { "no" }));
            anyhow::Ok(yes)
        };
        let mismatch = if !git.holds(&GitCommand::has_commit(sha)).await? {
            Some(Mismatch::NotInClone)
        } else if !ask(GitCommand::is_ancestor(sha, head)).await? {
            Some(Mismatch::NotAncestor)
        } else if !ask(GitCommand::same_deployable_tree(sha, head)).await? {
            Some(Mismatch::TreeDiffers)
        } else {
            None
        };
        let Some(mismatch) = mismatch else {
            console.say(format!(
                "  candidate: staging's release {} ({}, commit {}) is an ancestor of {head} with the same {}",
                release.id,
                release.image_tag,
                short(sha),
                DEPLOYABLE_PATHS.join(", ")
            ));
            return Ok(release);
        };
        // A commit the clone lacks, past one it has, means a shallow clone: history is needed.
        if mismatch == Mismatch::NotInClone
            && seen.is_empty()
            && staging_all_missing(git, staging).await?
        {
            bail!(
                "this clone has none of staging's verified commits (a shallow clone?): fetch the full history (actions/checkout with fetch-depth: 0), or pass --image-tag <tag>"
            );
        }
        seen.push((release, mismatch));
    }
    let newest = seen.first().map_or_else(
        || "staging's ledger has no verified release".to_owned(),
        |(r, m)| {
            let why = match m {
                Mismatch::NotInClone => "is not in this clone",
                Mismatch::NotAncestor => "is not an ancestor of it",
                Mismatch::TreeDiffers => "differs from it in the deployable paths",
            };
            format!(
                "staging's newest verified release {} (commit {}) {why}",
                r.image_tag,
                short(&r.git_sha)
            )
        },
    );
    bail!(
        "no release staging verified has production's commit {}'s images ({newest}): deploy this commit to staging first (`cargo xtask deploy staging` on it), or name the image with `--image-tag <tag>`",
        short(head)
    )
}

async fn staging_all_missing(git: &Git, staging: &[Release]) -> Result<bool> {
    for r in staging.iter().filter(|r| !r.git_sha.is_empty()) {
        if git.holds(&GitCommand::has_commit(&r.git_sha)).await? {
            return Ok(false);
        }
    }
    Ok(true)
}

fn short(sha: &str) -> &str {
    sha.get(..12).unwrap_or(sha)
}

#[cfg(test)]
mod tests {
    use std::process::Command;

    use super::*;
    use crate::ledger::release;

    /// A scratch repository with `develop` and `main`, committed to through plain git.
    struct Scratch {
        dir: PathBuf,
    }

    impl Scratch {
        fn new(name: &str) -> Scratch {
            let dir = std::env::temp_dir()
                .join(format!("eventflow-lineage-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            let s = Scratch { dir };
            s.git(&["init", "--quiet", "--initial-branch", "main"]);
            s.write("backend/src/main.rs", "fn main() {}\n");
            s.write("docs/runbook.md", "# runbook\n");
            s.commit("first");
            s.git(&["checkout", "--quiet", "-b", "develop"]);
            s
        }

        fn git(&self, args: &[&str]) -> String {
            let out = Command::new("git")
                .arg("-C")
                .arg(&self.dir)
                .args([
                    "-c",
                    "user.name=EventFlow",
                    "-c",
                    "user.email=ci@eventflow.test",
                ])
                .args(["-c", "commit.gpgsign=false"])
                .args(args)
                .output()
                .unwrap();
            assert!(out.status.success(), "git {args:?}: {out:?}");
            String::from_utf8(out.stdout).unwrap().trim().to_owned()
        }

        fn write(&self, path: &str, text: &str) {
            let path = self.dir.join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }

        fn commit(&self, message: &str) -> String {
            self.git(&["add", "--all"]);
            self.git(&["commit", "--quiet", "-m", message]);
            self.git(&["rev-parse", "HEAD"])
        }

        /// Merges `develop` into `main` with a merge commit (a new sha), and returns it.
        fn merge_into_main(&self) -> String {
            self.git(&["checkout", "--quiet", "main"]);
            self.git(&["merge", "--quiet", "--no-ff", "-m", "release", "develop"]);
            self.git(&["rev-parse", "HEAD"])
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    fn verified(id: &str, sha: &str) -> Release {
        let mut r = release(id, Kind::Deploy, &sha[..12], 1, Outcome::Verified);
        r.git_sha = sha.to_owned();
        r
    }

    async fn pick(s: &Scratch, staging: &[Release], head: &str) -> Result<String> {
        promotable(&Git::new(&s.dir), &Console::quiet(), staging, head)
            .await
            .map(|r| r.id.clone())
    }

    #[tokio::test]
    async fn a_merge_commit_with_the_same_tree_promotes_the_develop_release() {
        let s = Scratch::new("merge");
        s.write("backend/src/main.rs", "fn main() { v1() }\n");
        let one = s.commit("v1");
        s.write("backend/src/main.rs", "fn main() { v2() }\n");
        let two = s.commit("v2");
        let head = s.merge_into_main();
        assert_ne!(head, two, "the merge made a new commit");
        let staging = [verified("01", &one), verified("02", &two)];
        assert_eq!(pick(&s, &staging, &head).await.unwrap(), "02");
        let console = Console::quiet();
        promotable(&Git::new(&s.dir), &console, &staging, &head)
            .await
            .unwrap();
        let asked = console.lines();
        assert!(
            asked.contains(&format!(
                "  $ git merge-base --is-ancestor {two} {head}: yes"
            )),
            "{asked:?}"
        );
        // The newest verified one wins; a failed one is never a candidate.
        let mut failed = verified("03", &two);
        failed.result = Outcome::RolledBack;
        let staging = [verified("01", &one), verified("02", &two), failed];
        assert_eq!(pick(&s, &staging, &head).await.unwrap(), "02");
    }

    #[tokio::test]
    async fn a_main_only_change_to_the_backend_is_refused() {
        let s = Scratch::new("hotfix");
        s.write("backend/src/main.rs", "fn main() { v1() }\n");
        let one = s.commit("v1");
        let _ = s.merge_into_main();
        s.write("backend/src/main.rs", "fn main() { hotfix() }\n");
        let head = s.commit("hotfix on main");
        let err = pick(&s, &[verified("01", &one)], &head)
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("differs from it in the deployable paths"),
            "{err}"
        );
        assert!(err.contains("--image-tag <tag>"), "{err}");
        assert!(err.contains("deploy this commit to staging first"), "{err}");
        assert!(!err.contains('\n'), "one line: {err}");
    }

    #[tokio::test]
    async fn a_change_only_to_docs_still_promotes() {
        let s = Scratch::new("docs");
        s.write("backend/src/main.rs", "fn main() { v1() }\n");
        let one = s.commit("v1");
        let _ = s.merge_into_main();
        s.write("docs/runbook.md", "# runbook, edited on main\n");
        let head = s.commit("docs on main");
        assert_eq!(
            pick(&s, &[verified("01", &one)], &head).await.unwrap(),
            "01"
        );
    }

    #[tokio::test]
    async fn a_release_that_is_not_an_ancestor_is_refused() {
        let s = Scratch::new("unmerged");
        s.write("backend/src/main.rs", "fn main() { v1() }\n");
        let on_develop = s.commit("v1, not merged");
        s.git(&["checkout", "--quiet", "main"]);
        let head = s.git(&["rev-parse", "HEAD"]);
        let err = pick(&s, &[verified("01", &on_develop)], &head)
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("is not an ancestor of it"), "{err}");
        let err = pick(&s, &[], &head).await.unwrap_err().to_string();
        assert!(
            err.contains("staging's ledger has no verified release"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn a_clone_without_the_history_says_to_fetch_it() {
        let s = Scratch::new("shallow");
        let head = s.git(&["rev-parse", "HEAD"]);
        let missing = "0123456789abcdef0123456789abcdef01234567";
        let err = pick(&s, &[verified("01", missing)], &head)
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("fetch-depth: 0"), "{err}");
    }

    #[test]
    fn the_commands_are_data() {
        assert_eq!(
            GitCommand::same_deployable_tree("a", "b").to_string(),
            "git diff --quiet a b -- backend frontend Cargo.toml Cargo.lock .cargo rust-toolchain.toml"
        );
        assert_eq!(
            GitCommand::is_ancestor("a", "b").to_string(),
            "git merge-base --is-ancestor a b"
        );
    }
}
