//! `xtask-rehearse`: run one of `.github/workflows/*.yml` here, the way GitHub would run it.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Parser, ValueEnum};
use xtask_rehearse::cancel::CancelAt;
use xtask_rehearse::command::Command;
use xtask_rehearse::process::Grace;
use xtask_rehearse::run::{self, Head, Request};
use xtask_rehearse::secrets::Store;
use xtask_rehearse::{interrupt, workflow};

/// Rehearse a GitHub workflow on this machine: triggers, `needs`, `if:`, GitHub's variables,
/// secrets, environments' approvals, timeouts and cancellation (docs/ci.md)
#[derive(Debug, Parser)]
#[command(name = "xtask-rehearse", bin_name = "cargo xtask rehearse")]
struct Args {
    /// The workflow: a name in .github/workflows (`ci`, `cd-staging`) or a path to a .yml file
    workflow: String,
    /// The event that triggers the run
    #[arg(long, value_enum, default_value_t = Event::Push)]
    event: Event,
    /// The ref the run is for (`main`, `refs/heads/develop`) [default: the current branch]
    #[arg(long = "ref", value_name = "REF")]
    git_ref: Option<String>,
    /// The commit the run checks out [default: HEAD]
    #[arg(long)]
    sha: Option<String>,
    /// A workflow_dispatch input (repeatable)
    #[arg(long = "input", value_name = "NAME=VALUE", value_parser = key_value)]
    inputs: Vec<(String, String)>,
    /// Secrets (`NAME=value`) and variables (`vars.NAME=value`), one a line [default: random fakes]
    #[arg(long, value_name = "FILE")]
    secrets_file: Option<PathBuf>,
    /// Approve every environment with required reviewers without asking
    #[arg(long)]
    approve: bool,
    /// Cancel the run SECS seconds after this job (or this step of it) starts
    #[arg(long, value_name = "JOB[.STEP][+SECS]", value_parser = checked_cancel_at)]
    cancel_at: Option<String>,
    /// Stand this job in (repeatable): print every command it would run, run none, count it a
    /// success with empty outputs (jobs that can't run here, such as Terraform's)
    #[arg(long = "stand-in", value_name = "JOB")]
    stand_in: Vec<String>,
    /// Print the job graph and every command with its environment; run nothing
    #[arg(long)]
    dry_run: bool,
    /// The triggering run's artifacts, one directory per artifact name (a `--keep-scratch` run's
    /// target/rehearse/<run>/artifacts): what `download-artifact` with `run-id:` copies
    #[arg(long, value_name = "DIR")]
    artifacts_from: Option<PathBuf>,
    /// Keep the run's scratch directory (job workspaces, artifacts, summaries) under target/rehearse
    #[arg(long)]
    keep_scratch: bool,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
#[value(rename_all = "snake_case")]
enum Event {
    Push,
    PullRequest,
    WorkflowDispatch,
    Schedule,
    WorkflowRun,
}

impl Event {
    fn name(self) -> &'static str {
        match self {
            Event::Push => "push",
            Event::PullRequest => "pull_request",
            Event::WorkflowDispatch => "workflow_dispatch",
            Event::Schedule => "schedule",
            Event::WorkflowRun => "workflow_run",
        }
    }
}

/// `--cancel-at` is checked as clap parses it, and parsed again for the run.
fn checked_cancel_at(text: &str) -> Result<String, String> {
    CancelAt::parse(text).map_err(|e| e.to_string())?;
    Ok(text.to_owned())
}

fn key_value(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
        _ => Err(format!("`{text}` is not NAME=VALUE")),
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    match rehearse(args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn rehearse(args: Args) -> Result<bool> {
    let cwd = std::env::current_dir().context("reading the current directory")?;
    let project = PathBuf::from(
        Command::new("git", &cwd)
            .args(["rev-parse", "--show-toplevel"])
            .output()
            .context("the rehearsal runs inside EventFlow's git repository")?,
    );
    let path = workflow_path(&project, &cwd, &args.workflow)?;
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let workflow = workflow::load(&path)?;
    let git = |words: &[&str]| {
        Command::new("git", &project)
            .args(words.iter().copied())
            .output()
    };
    let sha = match &args.sha {
        Some(sha) => git(&[
            "rev-parse",
            "--verify",
            "--quiet",
            &format!("{sha}^{{commit}}"),
        ])
        .with_context(|| {
            format!("`{sha}` is not a commit here: pass --sha with a commit of this repository")
        })?,
        None => git(&["rev-parse", "HEAD"])?,
    };
    let git_ref = match &args.git_ref {
        Some(r) if r.starts_with("refs/") => r.clone(),
        Some(branch) => format!("refs/heads/{branch}"),
        None => git(&["symbolic-ref", "-q", "HEAD"]).context("HEAD is detached: pass --ref")?,
    };
    // A workflow_run run is on the default branch's head, like a scheduled one; --ref and --sha
    // name the run that triggered it (github.event.workflow_run.head_branch, head_sha).
    let mut notes = Vec::new();
    let (git_ref, sha, triggering) = match args.event {
        Event::WorkflowRun => {
            let default = git(&["symbolic-ref", "--short", "refs/remotes/origin/HEAD"])
                .ok()
                .and_then(|r| r.strip_prefix("origin/").map(str::to_owned))
                .unwrap_or_else(|| "main".to_owned());
            let default_ref = format!("refs/heads/{default}");
            let default_sha = git(&["rev-parse", "--verify", "--quiet", &default_ref]);
            let default_sha = match default_sha {
                Ok(sha) => sha,
                Err(_) => {
                    notes.push(format!(
                        "no branch `{default}` here: GITHUB_SHA is the triggering commit"
                    ));
                    sha.clone()
                }
            };
            (default_ref, default_sha, Some(Head { git_ref, sha }))
        }
        _ => (git_ref, sha, None),
    };
    let secrets = match &args.secrets_file {
        Some(file) => Store::from_file(file)?,
        None => Store::fakes(),
    };
    let repository = git(&["remote", "get-url", "origin"])
        .ok()
        .and_then(|url| repository_of(&url))
        .unwrap_or_else(|| {
            format!(
                "local/{}",
                project.file_name().unwrap_or_default().to_string_lossy()
            )
        });
    let scratch = project.join("target/rehearse");
    let run_number = next_run_number(&scratch, args.dry_run)?;
    let run_id = run_id();
    let run_dir = scratch.join(run_id.to_string());
    let cancel_at = args.cancel_at.as_deref().map(CancelAt::parse).transpose()?;
    let artifacts_from = args.artifacts_from.map(|dir| cwd.join(dir));
    if let Some(dir) = &artifacts_from
        && !dir.is_dir()
    {
        bail!(
            "--artifacts-from {} is not a directory: pass the triggering run's artifacts directory",
            dir.display()
        );
    }
    let request = Request {
        project: project.clone(),
        workflow,
        workflow_file: file_name,
        event: args.event.name().to_owned(),
        git_ref,
        sha,
        triggering,
        notes,
        inputs: args.inputs,
        secrets,
        approve: args.approve,
        cancel_at,
        stand_in: args.stand_in,
        dry_run: args.dry_run,
        actor: std::env::var("USER").unwrap_or_else(|_| "rehearsal".into()),
        repository,
        run_id,
        run_number,
        run_dir: run_dir.clone(),
        artifacts_from,
        grace: Grace::from_env(),
    };
    if !args.dry_run {
        interrupt::install();
        std::fs::create_dir_all(&run_dir)
            .with_context(|| format!("creating {}", run_dir.display()))?;
    }
    // An error may quote a value a step produced: masked like the run's output.
    let outcome = run::rehearse(&request)
        .map_err(|e| anyhow::anyhow!(request.secrets.mask(&format!("{e:#}"))));
    if !args.dry_run {
        if args.keep_scratch {
            println!("rehearse: scratch directory kept: {}", run_dir.display());
        } else {
            let _ = std::fs::remove_dir_all(&run_dir);
        }
    }
    let tally = outcome?;
    println!("{}", tally.line());
    Ok(tally.ok())
}

fn workflow_path(project: &Path, cwd: &Path, workflow: &str) -> Result<PathBuf> {
    if workflow.ends_with(".yml") || workflow.ends_with(".yaml") || workflow.contains('/') {
        let path = cwd.join(workflow);
        if path.is_file() {
            return Ok(path);
        }
        bail!(
            "no workflow file {}: pass a name from .github/workflows or a path",
            path.display()
        );
    }
    let dir = project.join(".github/workflows");
    for ext in ["yml", "yaml"] {
        let path = dir.join(format!("{workflow}.{ext}"));
        if path.is_file() {
            return Ok(path);
        }
    }
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.strip_suffix(".yml").map(str::to_owned)
        })
        .collect();
    names.sort();
    bail!(
        "no workflow `{workflow}`: pass one of [{}]",
        names.join(", ")
    )
}

/// `owner/name` from a GitHub remote URL (https or ssh).
fn repository_of(url: &str) -> Option<String> {
    let path = url
        .strip_prefix("https://github.com/")
        .or_else(|| url.strip_prefix("git@github.com:"))?;
    Some(path.trim_end_matches(".git").to_owned())
}

/// GitHub numbers the runs of a repository; the rehearsal numbers its own.
fn next_run_number(scratch: &Path, dry_run: bool) -> Result<u64> {
    let file = scratch.join("run-number");
    let number = std::fs::read_to_string(&file)
        .ok()
        .and_then(|n| n.trim().parse::<u64>().ok())
        .unwrap_or(0)
        + 1;
    if !dry_run {
        std::fs::create_dir_all(scratch)?;
        std::fs::write(&file, number.to_string())?;
    }
    Ok(number)
}

/// A run id unique on this machine: the time and the process.
fn run_id() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or_default();
    (nanos / 1000) * 100 + u64::from(std::process::id() % 100)
}
