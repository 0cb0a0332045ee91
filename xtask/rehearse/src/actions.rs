//! `uses:` steps, stood in by what they provide. The rehearsal runs no action code: checkout is
//! the tree at the rehearsed commit, credentials are the running sandbox's for the role the step
//! names (never the calling shell's), artifacts are copied between the run's jobs, and tool
//! installers are the tools already on this machine.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::command::Command;
use crate::sandbox::{self, Sandbox};
use crate::workflow::action_name;

/// The sandbox role's variables that are not secret: every other value is masked like a secret,
/// as configure-aws-credentials masks the keys it sets.
const PLAIN_ROLE_VARIABLES: &[&str] = &[
    "AWS_ENDPOINT_URL",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "EVENTFLOW_DEPLOY_CONFIG_DIR",
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
    /// The job's id, for the errors that name `--stand-in`.
    pub job: &'a str,
    pub workspace: &'a Path,
    /// The run's scratch directory: the artifacts live here.
    pub run_dir: &'a Path,
    /// The artifacts of the run that triggered this one (`--artifacts-from`), one directory each.
    pub artifacts_from: Option<&'a Path>,
    pub sha: &'a str,
}

/// What a stand-in did: a description for the output, variables for the job's later steps and
/// the values among them to mask.
#[derive(Debug, Default)]
pub struct StoodIn {
    pub description: String,
    pub env: Vec<(String, String)>,
    pub masked: Vec<String>,
}

fn with<'a>(inputs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    inputs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.is_empty())
}

/// What the stand-in does, or would do under `--dry-run`.
pub fn describe(site: &Site, uses: &str, inputs: &[(String, String)]) -> String {
    match kind(uses) {
        Some(Kind::Checkout) => match with(inputs, "ref") {
            Some(git_ref) => format!("tree at {git_ref} (its `ref:`)"),
            None => format!("tree at {}", site.sha.get(..12).unwrap_or(site.sha)),
        },
        Some(Kind::AwsCredentials) => {
            let asked = with(inputs, "role-to-assume").unwrap_or_default();
            match Sandbox::running(&sandbox::dir(site.project))
                .and_then(|s| Ok(describe_role(s.role_for(asked, site.job)?)))
            {
                Ok(role) => role,
                Err(why) => format!(
                    "the sandbox's credentials for role `{asked}`, never this shell's (now: {why})"
                ),
            }
        }
        Some(Kind::RustCache) => "target/ linked to the project's own target directory".into(),
        Some(Kind::UploadArtifact) => format!(
            "copy {} into the run's artifact `{}`",
            with(inputs, "path").unwrap_or("?"),
            with(inputs, "name").unwrap_or("artifact")
        ),
        Some(Kind::DownloadArtifact) => format!(
            "copy {} artifact `{}` into {}",
            match with(inputs, "run-id") {
                Some(run) => format!("run {run}'s (--artifacts-from)"),
                None => "the run's".to_owned(),
            },
            with(inputs, "name").unwrap_or("artifact"),
            with(inputs, "path").unwrap_or(".")
        ),
        Some(Kind::Nothing(why)) => why.into(),
        None => "no stand-in".into(),
    }
}

/// The sandbox role a credentials step hands over, as printed.
fn describe_role(role: &sandbox::Role) -> String {
    let names: Vec<&str> = role.env.iter().map(|(k, _)| k.as_str()).collect();
    format!(
        "the sandbox's {} role ({}): {}, never this shell's",
        role.environment,
        role.arn,
        names.join(", ")
    )
}

pub fn stand_in(site: &Site, uses: &str, inputs: &[(String, String)]) -> Result<StoodIn> {
    let mut description = describe(site, uses, inputs);
    let mut env = Vec::new();
    let mut masked = Vec::new();
    match kind(uses) {
        Some(Kind::Checkout) => checkout(site, with(inputs, "ref"), with(inputs, "path"))?,
        Some(Kind::AwsCredentials) => {
            let sandbox = Sandbox::running(&sandbox::dir(site.project))?;
            let asked = with(inputs, "role-to-assume").unwrap_or_default();
            let role = sandbox.role_for(asked, site.job)?;
            description = describe_role(role);
            for (name, value) in &role.env {
                if !PLAIN_ROLE_VARIABLES.contains(&name.as_str()) {
                    masked.push(value.clone());
                }
                env.push((name.clone(), value.clone()));
            }
            // The sandbox's resources are in its region, whatever region the step asks for.
            if let Some((_, region)) = role.env.iter().find(|(k, _)| k == "AWS_REGION") {
                env.push(("AWS_DEFAULT_REGION".into(), region.clone()));
                if let Some(asked) = with(inputs, "aws-region").filter(|r| r != region) {
                    description
                        .push_str(&format!(" (region {region}, the sandbox's, not {asked})"));
                }
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
                    masked,
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
            // `run-id:` names another run (CI's, for CD): its artifacts come from outside.
            let source = match (with(inputs, "run-id"), site.artifacts_from) {
                (None, _) => artifact_dir(site.run_dir, name),
                (Some(_), Some(dir)) => dir.join(name),
                (Some(run), None) => bail!(
                    "download-artifact `{name}` is run {run}'s, not this run's: pass --artifacts-from DIR holding `{name}/` (that run's artifacts, such as target/rehearse/<run>/artifacts kept by --keep-scratch)"
                ),
            };
            if !source.exists() {
                bail!(
                    "download-artifact: no `{name}` in {}",
                    match with(inputs, "run-id") {
                        Some(_) => format!("the --artifacts-from directory ({})", source.display()),
                        None => "this run: no job of it uploaded one".to_owned(),
                    }
                );
            }
            copy(
                &source,
                &site.workspace.join(with(inputs, "path").unwrap_or(".")),
            )?;
        }
        Some(Kind::Nothing(_)) => {}
        None => check_known(uses)?,
    }
    Ok(StoodIn {
        description,
        env,
        masked,
    })
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
