//! Which GitHub environments have required reviewers, read from the Terraform that creates them
//! (`infrastructure/github/*.tf`: a `github_repository_environment` with a `reviewers` block).
//! Without that directory, `production` and `production-rollback` are taken to need approval.

use std::collections::BTreeSet;
use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;

use anyhow::{Result, bail};

const FALLBACK: &[&str] = &["production", "production-rollback"];

pub fn reviewed_environments(project: &Path) -> BTreeSet<String> {
    let dir = project.join("infrastructure/github");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return FALLBACK.iter().map(|e| (*e).to_owned()).collect();
    };
    let mut reviewed = BTreeSet::new();
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "tf")
            && let Ok(text) = std::fs::read_to_string(&path)
        {
            reviewed.extend(from_terraform(&text));
        }
    }
    reviewed
}

/// The `environment = "…"` of each environment resource whose body has a `reviewers` block.
fn from_terraform(text: &str) -> Vec<String> {
    text.split("resource \"")
        .skip(1)
        .filter(|block| block.starts_with("github_repository_environment\""))
        .filter(|block| {
            block
                .lines()
                .any(|l| l.trim_start().starts_with("reviewers {"))
        })
        .filter_map(|block| {
            block.lines().find_map(|line| {
                let (key, value) = line.split_once('=')?;
                (key.trim() == "environment")
                    .then(|| value.trim().trim_matches('"').to_owned())
                    .filter(|v| !v.contains('.'))
            })
        })
        .collect()
}

/// Asks on the terminal whether the job may use `environment`; `--approve` answers yes.
pub fn approve(job: &str, environment: &str, approved: bool) -> Result<()> {
    if approved {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        bail!(
            "job `{job}` waits for the reviewers of environment `{environment}` and there is no terminal to ask: pass --approve"
        );
    }
    print!("job `{job}` deploys to `{environment}`, which has required reviewers. Approve? [y/N] ");
    std::io::stdout().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    if !matches!(answer.trim(), "y" | "Y" | "yes") {
        bail!("job `{job}` was not approved for environment `{environment}`");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environments_with_reviewers_are_read_from_terraform() {
        let text = r#"
resource "github_repository_environment" "staging" {
  repository  = var.repository
  environment = "staging"
}
resource "github_repository_environment" "production" {
  environment         = "production"
  prevent_self_review = true
  reviewers {
    teams = [var.team]
  }
}
resource "github_actions_environment_secret" "x" {
  environment = github_repository_environment.production.environment
}
"#;
        assert_eq!(from_terraform(text), ["production"]);
    }

    #[test]
    fn the_repository_requires_reviewers_for_production_only() {
        let project = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let reviewed: Vec<_> = reviewed_environments(&project).into_iter().collect();
        assert_eq!(reviewed, ["production", "production-rollback"]);
    }
}
