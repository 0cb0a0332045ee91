//! The pipeline engine: stages as a dependency graph, run in parallel where they can be, with
//! live progress, fail-fast cancellation, a summary, a JSON report and GitHub Actions output.
//!
//! Data flows one way: a command module builds its [`Stage`]s (commands as data) →
//! [`select`] applies `--only`/`--skip` → [`run`] either prints the plan (`--dry-run`) or hands
//! the stages to the runner → the runner reports to the display, the report and GitHub.

pub mod cache;
mod display;
mod github;
mod graph;
pub(crate) mod plan;
pub mod process;
mod report;
mod runner;
pub mod signal;
mod stage;

use std::path::PathBuf;

use anyhow::{Result, bail};

pub use process::StageContext;
pub use stage::{Running, Service, Stage, Tool};

/// The flags shared by every command that runs stages.
#[derive(Clone, Debug, Default)]
pub struct Options {
    pub dry_run: bool,
    pub keep_going: bool,
    pub only: Vec<String>,
    pub skip: Vec<String>,
    pub report: Option<PathBuf>,
    /// Run every stage, even those whose inputs are unchanged since they last passed.
    pub no_cache: bool,
    /// How many stages may run at once; `None` is one per core.
    pub jobs: Option<usize>,
}

impl Options {
    /// More stages than cores only makes each slower: a busy machine turns deadlines in test
    /// suites into flakes and gains nothing in total.
    pub fn jobs(&self) -> usize {
        self.jobs
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()))
            .max(1)
    }
}

/// Where the pipeline runs: the project root, and whether it is CI (where a missing tool fails
/// instead of skipping) and GitHub Actions (which gets annotations and a step summary).
#[derive(Clone, Debug)]
pub struct Env {
    pub root: PathBuf,
    pub ci: bool,
    pub github_actions: bool,
}

impl Env {
    pub fn from_process(root: PathBuf) -> Env {
        let flag = |name: &str| std::env::var(name).is_ok_and(|v| v == "true" || v == "1");
        Env {
            root,
            ci: flag("CI"),
            github_actions: flag("GITHUB_ACTIONS"),
        }
    }
}

/// Runs (or with `--dry-run` prints) `stages` as the pipeline called `name`. Returns whether
/// every stage that ran passed.
pub fn run(env: &Env, name: &str, stages: Vec<Stage>, options: &Options) -> Result<bool> {
    let stages = select(stages, &options.only, &options.skip)?;
    if options.dry_run {
        let cache = if options.no_cache {
            None
        } else {
            cache::Cache::open(&env.root).ok()
        };
        print!("{}", plan::render(name, &stages, cache.as_ref()));
        return Ok(true);
    }
    runner::run(env, name, stages, options)
}

/// Keeps the stages `--only` names (all when empty), minus those `--skip` names. A need on a
/// stage that is not selected counts as met: `--only` means exactly those stages.
pub fn select(stages: Vec<Stage>, only: &[String], skip: &[String]) -> Result<Vec<Stage>> {
    let names: Vec<&str> = stages.iter().map(|s| s.name).collect();
    for name in only.iter().chain(skip) {
        if !names.contains(&name.as_str()) {
            bail!(
                "unknown stage `{name}`: this command's stages are {}",
                names.join(", ")
            );
        }
    }
    Ok(stages
        .into_iter()
        .filter(|s| only.is_empty() || only.iter().any(|o| o == s.name))
        .filter(|s| !skip.iter().any(|k| k == s.name))
        .collect())
}

#[cfg(test)]
mod tests;
