//! `uses:` steps, stood in by what they provide. The rehearsal runs no action code: checkout is
//! the tree at the rehearsed commit, credentials are the local emulator's, artifacts are copied
//! between the run's jobs, and tool installers are the tools already on this machine.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::command::Command;
use crate::workflow::action_name;

/// The AWS variables `configure-aws-credentials` hands a job, taken from the rehearsal's own
/// environment (the local emulator's credentials) instead of an OIDC role.
pub const AWS_VARIABLES: &[&str] = &[
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_ENDPOINT_URL",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Checkout,
    AwsCredentials,
    RustCache,
    UploadArtifact,
    DownloadArtifact,
    /// Nothing to do here; why.
    Nothing(&'static str),
}

fn kind(uses: &str) -> Option<Kind> {
    let name = action_name(uses).to_ascii_lowercase();
    Some(match name.as_str() {
        "actions/checkout" => Kind::Checkout,
        "aws-actions/configure-aws-credentials" => Kind::AwsCredentials,
        "swatinem/rust-cache" => Kind::RustCache,
        "actions/upload-artifact" => Kind::UploadArtifact,
        "actions/download-artifact" => Kind::DownloadArtifact,
        "actions/setup-node"
        | "actions/setup-python"
        | "hashicorp/setup-terraform"
        | "dtolnay/rust-toolchain"
        | "aquasecurity/setup-trivy"
        | "taiki-e/install-action" => Kind::Nothing("the tool as installed on this machine"),
        "actions/cache" => Kind::Nothing("no cache service: directories stay as they are"),
        "github/codeql-action/upload-sarif" => {
            Kind::Nothing("nothing: code scanning is GitHub's, the SARIF stays in the workspace")
        }
        _ => return None,
    })
}

/// Refuses an action the rehearsal has no stand-in for, before anything runs.
pub fn check_known(uses: &str) -> Result<()> {
    if kind(uses).is_none() {
        bail!(
            "no stand-in for action `{}`: add one to xtask/rehearse/src/actions.rs",
            action_name(uses)
        );
    }
    Ok(())
}

/// Where a job's stand-ins act.
pub struct Site<'a> {
    pub project: &'a Path,
    pub workspace: &'a Path,
    /// The run's scratch directory: the artifacts live here.
    pub run_dir: &'a Path,
    pub sha: &'a str,
}

/// What a stand-in did: a description for the output and variables for the job's later steps.
#[derive(Debug, Default)]
pub struct StoodIn {
    pub description: String,
    pub env: Vec<(String, String)>,
}

fn with<'a>(inputs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    inputs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.is_empty())
}

/// What the stand-in would do, for `--dry-run`.
pub fn describe(uses: &str, inputs: &[(String, String)], sha: &str) -> String {
    match kind(uses) {
        Some(Kind::Checkout) => match with(inputs, "ref") {
            Some(git_ref) => format!("tree at {git_ref} (its `ref:`)"),
            None => format!("tree at {sha}"),
        },
        Some(Kind::AwsCredentials) => format!(
            "the emulator's credentials from this environment ({}) for role {}",
            AWS_VARIABLES.join(", "),
            with(inputs, "role-to-assume").unwrap_or("(none)")
        ),
        Some(Kind::RustCache) => "target/ linked to the project's own target directory".into(),
        Some(Kind::UploadArtifact) => format!(
            "copy {} into the run's artifact `{}`",
            with(inputs, "path").unwrap_or("?"),
            with(inputs, "name").unwrap_or("artifact")
        ),
        Some(Kind::DownloadArtifact) => format!(
            "copy the run's artifact `{}` into {}",
            with(inputs, "name").unwrap_or("artifact"),
            with(inputs, "path").unwrap_or(".")
        ),
        Some(Kind::Nothing(why)) => why.into(),
        None => "no stand-in".into(),
    }
}

pub fn stand_in(site: &Site, uses: &str, inputs: &[(String, String)]) -> Result<StoodIn> {
    let description = describe(uses, inputs, site.sha);
    let mut env = Vec::new();
    match kind(uses) {
        Some(Kind::Checkout) => checkout(site, with(inputs, "ref"), with(inputs, "path"))?,
        Some(Kind::AwsCredentials) => {
            for name in AWS_VARIABLES {
                if let Ok(value) = std::env::var(name) {
                    env.push(((*name).to_owned(), value));
                }
            }
            if let Some(region) = with(inputs, "aws-region") {
                env.retain(|(k, _)| k != "AWS_REGION" && k != "AWS_DEFAULT_REGION");
                env.push(("AWS_REGION".into(), region.to_owned()));
                env.push(("AWS_DEFAULT_REGION".into(), region.to_owned()));
            }
        }
        Some(Kind::RustCache) => {
            let link = site.workspace.join("target");
            if !link.exists() {
                std::os::unix::fs::symlink(site.project.join("target"), &link)
                    .with_context(|| format!("linking {}", link.display()))?;
            }
        }
        Some(Kind::UploadArtifact) => {
            let name = with(inputs, "name").unwrap_or("artifact");
            let Some(path) = with(inputs, "path") else {
                bail!("upload-artifact `{name}` has no `path:`");
            };
            let source = site.workspace.join(path);
            if !source.exists() {
                if with(inputs, "if-no-files-found") == Some("error") {
                    bail!("upload-artifact `{name}`: no files at {path}");
                }
                return Ok(StoodIn {
                    description: format!("{description} (no files at {path})"),
                    env,
                });
            }
            // Like GitHub's: a directory's contents at the artifact's root, a file by its name.
            let mut target = artifact_dir(site.run_dir, name);
            if source.is_file() {
                target = target.join(source.file_name().unwrap_or_default());
            }
            copy(&source, &target)?;
        }
        Some(Kind::DownloadArtifact) => {
            let name = with(inputs, "name").unwrap_or("artifact");
            let source = artifact_dir(site.run_dir, name);
            if !source.exists() {
                bail!("download-artifact: no job of this run uploaded `{name}`");
            }
            copy(
                &source,
                &site.workspace.join(with(inputs, "path").unwrap_or(".")),
            )?;
        }
        Some(Kind::Nothing(_)) => {}
        None => check_known(uses)?,
    }
    Ok(StoodIn { description, env })
}

fn artifact_dir(run_dir: &Path, name: &str) -> PathBuf {
    run_dir.join("artifacts").join(name)
}

/// A git repository at the run's commit (or the step's `ref:`), HEAD detached, as
/// actions/checkout leaves one: what reads git (`git ls-files`, `git rev-parse HEAD`, the stage
/// cache's keys) sees this commit, not the repository the workspace happens to sit in. Its objects
/// are borrowed from the project's (an alternate), so nothing is copied but the files.
fn checkout(site: &Site, git_ref: Option<&str>, path: Option<&str>) -> Result<()> {
    let project_git = |args: &[&str]| {
        Command::new("git", site.project)
            .args(args.iter().copied())
            .output()
    };
    let sha = match git_ref {
        Some(git_ref) => project_git(&["rev-parse", "--verify", "--quiet", &format!("{git_ref}^{{commit}}")])
            .with_context(|| {
                format!("actions/checkout's ref `{git_ref}` is not a commit here: fetch it, or fix the `ref:`")
            })?,
        None => project_git(&["rev-parse", "--verify", "--quiet", &format!("{}^{{commit}}", site.sha)])
            .context("actions/checkout: pass a --sha this repository has")?,
    };
    let objects = project_git(&["rev-parse", "--path-format=absolute", "--git-common-dir"])?;
    let dir = site.workspace.join(path.unwrap_or("."));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Command::new("git", &dir)
        .args(["-c", "init.defaultBranch=main", "init", "--quiet"])
        .output()?;
    let alternates = dir.join(".git/objects/info/alternates");
    std::fs::write(&alternates, format!("{objects}/objects\n"))
        .with_context(|| format!("writing {}", alternates.display()))?;
    Command::new("git", &dir)
        .args([
            "-c",
            "advice.detachedHead=false",
            "checkout",
            "--quiet",
            "--detach",
            &sha,
        ])
        .output()?;
    Ok(())
}

/// Copies a file or a directory tree (symbolic links followed).
fn copy(source: &Path, target: &Path) -> Result<()> {
    if source.is_dir() {
        std::fs::create_dir_all(target)
            .with_context(|| format!("creating {}", target.display()))?;
        for entry in std::fs::read_dir(source)? {
            let entry = entry?;
            copy(&entry.path(), &target.join(entry.file_name()))?;
        }
    } else {
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::copy(source, target)
            .with_context(|| format!("copying {} to {}", source.display(), target.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_of_the_workflows_has_a_stand_in_and_others_are_refused() {
        for uses in [
            "actions/checkout@abc",
            "Swatinem/rust-cache@v2",
            "dtolnay/rust-toolchain@master",
        ] {
            assert!(check_known(uses).is_ok(), "{uses}");
        }
        assert_eq!(
            check_known("evil/deploy-action@v1")
                .unwrap_err()
                .to_string(),
            "no stand-in for action `evil/deploy-action`: add one to xtask/rehearse/src/actions.rs"
        );
    }
}
