//! One rehearsal: the jobs in `needs` order, each job's steps with GitHub's environment, status
//! functions, environment files and cancellation, and one line per job and step.

use std::cell::Cell;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::hash::{DefaultHasher, Hasher};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};

use crate::actions::{self, Site};
use crate::approval;
use crate::aws_isolation;
use crate::cancel::CancelAt;
use crate::command::quote;
use crate::expr::{self, Context, Status, Value};
use crate::github;
use crate::graph;
use crate::interrupt;
use crate::process::{self, Ending, Grace, Stop};
use crate::secrets::Store;
use crate::shell;
use crate::step_files::StepFiles;
use crate::trigger;
use crate::workflow::{Job, Step, Workflow};

/// A job's `timeout-minutes` when it sets none: GitHub's default.
const DEFAULT_JOB_MINUTES: f64 = 360.0;

/// Inherited variables a step doesn't see: GitHub's own are set afresh, and no AWS variable of the
/// calling shell (keys, `AWS_PROFILE`, endpoints) is passed on: AWS credentials reach only the
/// jobs whose `configure-aws-credentials` step hands over the sandbox's.
const NOT_INHERITED: &[&str] = &["GITHUB_", "RUNNER_", "AWS_"];

/// What to rehearse and how.
pub struct Request {
    pub project: PathBuf,
    pub workflow: Workflow,
    pub workflow_file: String,
    pub event: String,
    /// GITHUB_REF and GITHUB_SHA.
    pub git_ref: String,
    pub sha: String,
    /// For `workflow_run`: the run that triggered this one, whose branch the filters see.
    pub triggering: Option<Head>,
    /// What the rehearsal had to assume, printed before the jobs.
    pub notes: Vec<String>,
    pub inputs: Vec<(String, String)>,
    pub secrets: Store,
    pub approve: bool,
    pub cancel_at: Option<CancelAt>,
    /// Jobs stood in (`--stand-in`): printed with every command they would run, never run.
    pub stand_in: Vec<String>,
    pub dry_run: bool,
    pub actor: String,
    pub repository: String,
    pub run_id: u64,
    pub run_number: u64,
    /// This run's scratch directory: job workspaces, the exported tree, artifacts, summaries.
    pub run_dir: PathBuf,
    /// The triggering run's artifacts, for a `download-artifact` with `run-id:`.
    pub artifacts_from: Option<PathBuf>,
    pub grace: Grace,
}

/// A commit on a ref.
#[derive(Clone, Debug)]
pub struct Head {
    pub git_ref: String,
    pub sha: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Success,
    Failure,
    Cancelled,
    Skipped,
}

impl Outcome {
    fn name(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
            Outcome::Cancelled => "cancelled",
            Outcome::Skipped => "skipped",
        }
    }
}

/// How each job ended.
#[derive(Debug, Default)]
pub struct Tally {
    pub dry_run: bool,
    pub passed: usize,
    pub failed: usize,
    pub cancelled: usize,
    pub skipped: usize,
    /// The jobs stood in, in run order.
    pub stood_in: Vec<String>,
}

impl Tally {
    pub fn ok(&self) -> bool {
        self.failed == 0 && self.cancelled == 0
    }

    pub fn line(&self) -> String {
        let mut line = if self.dry_run {
            format!(
                "rehearse: dry run, {} jobs would run, {} skipped",
                self.passed, self.skipped
            )
        } else {
            format!(
                "rehearse: {} jobs passed, {} failed, {} skipped",
                self.passed, self.failed, self.skipped
            )
        };
        if self.cancelled > 0 {
            let _ = write!(line, ", {} cancelled", self.cancelled);
        }
        if !self.stood_in.is_empty() {
            let _ = write!(
                line,
                ", {} stood in ({})",
                self.stood_in.len(),
                self.stood_in.join(", ")
            );
        }
        line
    }
}

struct JobResult {
    outcome: Outcome,
    outputs: BTreeMap<String, String>,
    /// Stood in by `--stand-in`: a success in which nothing ran.
    stood_in: bool,
}

struct Run<'a> {
    req: &'a Request,
    github: Value,
    inputs: Value,
    reviewed: BTreeSet<String>,
    results: BTreeMap<String, JobResult>,
    cancelled: Cell<bool>,
}

/// Checks the trigger and everything that can be checked before a step runs, then rehearses.
pub fn rehearse(req: &Request) -> Result<Tally> {
    let filtered_ref = req.triggering.as_ref().map_or(&req.git_ref, |t| &t.git_ref);
    let accepted = trigger::check(&req.workflow, &req.event, filtered_ref, &req.inputs)?;
    let order = graph::order(&req.workflow.jobs)?;
    preflight(req)?;
    if !req.dry_run {
        aws_isolation::prepare(&req.run_dir)?;
    }
    let run = Run {
        req,
        github: github::context(req, &accepted.inputs),
        inputs: Value::Object(accepted.inputs),
        reviewed: approval::reviewed_environments(&req.project),
        results: BTreeMap::new(),
        cancelled: Cell::new(false),
    };
    let workflow = &req.workflow;
    println!(
        "rehearse: {} ({} on {} at {}){}",
        req.workflow_file,
        req.event,
        req.git_ref,
        short(&req.sha),
        if req.dry_run { ", dry run" } else { "" }
    );
    for note in req.notes.iter().chain(&accepted.notes) {
        println!("  note: {note}");
    }
    let isolation: Vec<String> = aws_isolation::variables(&req.run_dir)
        .iter()
        .map(|(k, v)| format!("{k}={}", quote(v)))
        .collect();
    println!(
        "  AWS: only the sandbox's credentials, from configure-aws-credentials; every step: {} (empty)",
        isolation.join(" ")
    );
    let order_names: Vec<_> = order
        .iter()
        .map(|&i| workflow.jobs[i].id.as_str())
        .collect();
    println!("  jobs in order: {}", order_names.join(" → "));
    run.rehearse_jobs(&order)
}

/// Every action has a stand-in, `--cancel-at` names a job, and, with a secrets file, every
/// secret and variable the workflow reads is in it: refused now rather than half-way through.
fn preflight(req: &Request) -> Result<()> {
    let workflow = &req.workflow;
    if let Some(at) = &req.cancel_at
        && !workflow.jobs.iter().any(|j| j.id == at.job)
    {
        let ids: Vec<_> = workflow.jobs.iter().map(|j| j.id.as_str()).collect();
        bail!(
            "--cancel-at names job `{}`, which is not one of [{}]",
            at.job,
            ids.join(", ")
        );
    }
    if let Some(unknown) = req
        .stand_in
        .iter()
        .find(|id| !workflow.jobs.iter().any(|j| &j.id == *id))
    {
        let ids: Vec<_> = workflow.jobs.iter().map(|j| j.id.as_str()).collect();
        bail!(
            "--stand-in names job `{unknown}`, which is not one of [{}]",
            ids.join(", ")
        );
    }
    let mut texts: Vec<(&str, bool)> = workflow
        .env
        .iter()
        .map(|(_, v)| (v.as_str(), false))
        .collect();
    for job in &workflow.jobs {
        texts.extend(job.condition.iter().map(|c| (c.as_str(), true)));
        texts.extend(
            job.env
                .iter()
                .chain(&job.outputs)
                .map(|(_, v)| (v.as_str(), false)),
        );
        for step in &job.steps {
            if let Some(uses) = &step.uses {
                actions::check_known(uses).with_context(|| format!("in job `{}`", job.id))?;
            }
            texts.extend(step.condition.iter().map(|c| (c.as_str(), true)));
            texts.extend(step.run.iter().map(|r| (r.as_str(), false)));
            texts.extend(
                step.env
                    .iter()
                    .chain(&step.with)
                    .map(|(_, v)| (v.as_str(), false)),
            );
        }
    }
    for (text, whole) in texts {
        for name in expr::references(text, "secrets", whole)? {
            req.secrets.secret(&name)?;
        }
        for name in expr::references(text, "vars", whole)? {
            req.secrets.var(&name)?;
        }
    }
    Ok(())
}

/// What expressions read at one point of the run.
struct Scope<'a> {
    run: &'a Run<'a>,
    job: Option<&'a Job>,
    env: &'a BTreeMap<String, String>,
    steps: &'a Value,
    status: Status,
    workspace: &'a Path,
}

impl Context for Scope<'_> {
    fn context(&self, name: &str) -> Result<Value> {
        Ok(match name {
            "github" => {
                let mut github = self.run.github.clone();
                if let (Value::Object(map), Some(job)) = (&mut github, self.job) {
                    map.insert("job".into(), Value::str(&job.id));
                    map.insert(
                        "workspace".into(),
                        Value::str(self.workspace.display().to_string()),
                    );
                }
                github
            }
            "inputs" => self.run.inputs.clone(),
            "needs" => Value::Object(
                self.job
                    .map(|job| {
                        job.needs
                            .iter()
                            .filter_map(|need| {
                                let result = self.run.results.get(need)?;
                                let outputs = result
                                    .outputs
                                    .iter()
                                    .map(|(k, v)| (k.clone(), Value::str(v)));
                                Some((
                                    need.clone(),
                                    Value::object([
                                        ("result", Value::str(result.outcome.name())),
                                        ("outputs", Value::object(outputs)),
                                    ]),
                                ))
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
            ),
            "env" => Value::object(self.env.iter().map(|(k, v)| (k.clone(), Value::str(v)))),
            "steps" => self.steps.clone(),
            "job" => Value::object([("status", Value::str(job_status(self.status)))]),
            "runner" => Value::object([
                ("os", Value::str("Linux")),
                ("arch", Value::str("X64")),
                ("name", Value::str("rehearsal")),
            ]),
            "matrix" | "strategy" => Value::Object(BTreeMap::new()),
            "secrets" | "vars" => {
                bail!("the rehearsal reads `{name}` one name at a time (`{name}.NAME`)")
            }
            _ => bail!("unknown context `{name}`"),
        })
    }

    fn member(&self, name: &str, key: &str) -> Result<Value> {
        match name {
            "secrets" => Ok(Value::String(self.run.req.secrets.secret(key)?)),
            "vars" => Ok(Value::String(self.run.req.secrets.var(key)?)),
            _ => Ok(self.context(name)?.get(key)),
        }
    }

    fn status(&self) -> Status {
        self.status
    }

    fn hash_files(&self, patterns: &[String]) -> Result<String> {
        let mut files = Vec::new();
        for pattern in patterns {
            let segments: Vec<&str> = pattern.split('/').filter(|s| !s.is_empty()).collect();
            expand(self.workspace, &segments, &mut files);
        }
        files.sort();
        files.dedup();
        if files.is_empty() {
            return Ok(String::new());
        }
        let mut hasher = DefaultHasher::new();
        for file in files {
            hasher.write(
                &std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?,
            );
        }
        Ok(format!("{:016x}", hasher.finish()))
    }
}

fn job_status(status: Status) -> &'static str {
    if status.cancelled {
        "cancelled"
    } else if status.failed {
        "failure"
    } else {
        "success"
    }
}

/// The files under `dir` that a `hashFiles` pattern's segments match, walking only the
/// directories the pattern leads into (a literal segment follows a symbolic link, `**` doesn't).
fn expand(dir: &Path, segments: &[&str], out: &mut Vec<PathBuf>) {
    let Some((first, rest)) = segments.split_first() else {
        if dir.is_file() {
            out.push(dir.to_owned());
        }
        return;
    };
    if *first == "**" {
        expand(dir, rest, out);
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) && entry.file_name() != ".git" {
                expand(&entry.path(), segments, out);
            }
        }
    } else if first.contains(['*', '?']) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            if trigger::glob(first, &entry.file_name().to_string_lossy()) {
                expand(&entry.path(), rest, out);
            }
        }
    } else {
        expand(&dir.join(first), rest, out);
    }
}

impl Run<'_> {
    fn say(&self, line: &str) {
        println!("{}", self.req.secrets.mask(line));
    }

    fn rehearse_jobs(mut self, order: &[usize]) -> Result<Tally> {
        let req = self.req;
        if let Some(group) = &req.workflow.concurrency {
            let group = self.substitute_outside_jobs(group)?;
            self.say(&format!(
                "  concurrency group: {group} (queueing across runs is GitHub's)"
            ));
        }
        let mut tally = Tally {
            dry_run: req.dry_run,
            ..Tally::default()
        };
        for &index in order {
            let job = &req.workflow.jobs[index];
            if interrupt::interrupted() {
                self.cancelled.set(true);
            }
            let result = self.rehearse_job(job)?;
            match result.outcome {
                Outcome::Success if result.stood_in => tally.stood_in.push(job.id.clone()),
                Outcome::Success => tally.passed += 1,
                Outcome::Failure => tally.failed += 1,
                Outcome::Cancelled => tally.cancelled += 1,
                Outcome::Skipped => tally.skipped += 1,
            }
            self.results.insert(job.id.clone(), result);
        }
        Ok(tally)
    }

    fn substitute_outside_jobs(&self, text: &str) -> Result<String> {
        let env = BTreeMap::new();
        let scope = Scope {
            run: self,
            job: None,
            env: &env,
            steps: &Value::Object(BTreeMap::new()),
            status: Status::default(),
            workspace: &self.req.project,
        };
        expr::substitute(text, &scope)
    }

    /// The status functions' answers for a job about to start: its needs' results (and their
    /// ancestors' failures) and whether the run is cancelled.
    fn needs_status(&self, job: &Job) -> Status {
        let mut status = Status {
            cancelled: self.cancelled.get(),
            ..Status::default()
        };
        let mut pending: Vec<&String> = job.needs.iter().collect();
        let mut seen = BTreeSet::new();
        let direct: BTreeSet<&String> = job.needs.iter().collect();
        while let Some(need) = pending.pop() {
            if !seen.insert(need) {
                continue;
            }
            match self.results.get(need).map(|r| r.outcome) {
                Some(Outcome::Failure) => status.failed = true,
                Some(Outcome::Skipped | Outcome::Cancelled) if direct.contains(need) => {
                    status.blocked = true;
                }
                _ => {}
            }
            if let Some(needed) = self.req.workflow.jobs.iter().find(|j| &j.id == need) {
                pending.extend(needed.needs.iter());
            }
        }
        status
    }

    fn rehearse_job(&self, job: &Job) -> Result<JobResult> {
        let req = self.req;
        let started = Instant::now();
        let skipped = || JobResult {
            outcome: Outcome::Skipped,
            outputs: BTreeMap::new(),
            stood_in: false,
        };
        // A stood-in job is walked as a dry run: every command it would run printed, none run.
        let stood_in = req.stand_in.contains(&job.id);
        let dry = req.dry_run || stood_in;
        let job_dir = req.run_dir.join("jobs").join(&job.id);
        // One path for every job, emptied as each starts, like a hosted runner's workspace: the
        // cargo builds of successive jobs then share their fingerprints.
        let workspace = req.run_dir.join("workspace");
        let temp = job_dir.join("temp");
        let no_steps = Value::Object(BTreeMap::new());
        let empty_env = BTreeMap::new();
        let status = self.needs_status(job);
        let scope = Scope {
            run: self,
            job: Some(job),
            env: &empty_env,
            steps: &no_steps,
            status,
            workspace: &workspace,
        };
        let condition = job.condition.as_deref().unwrap_or("success()");
        let holds = expr::condition(condition)
            .and_then(|c| c.eval(&scope))
            .with_context(|| format!("job `{}`: if: {condition}", job.id))?
            .truthy();
        if !holds {
            self.say(&format!("- {} skipped (if: {condition})", job.id));
            return Ok(skipped());
        }
        let needs = if job.needs.is_empty() {
            String::new()
        } else {
            format!(" (needs {})", job.needs.join(", "))
        };
        self.say(&format!("▶ {}{needs}", job.id));
        if stood_in {
            self.say(&format!(
                "  stood in (--stand-in {}): nothing runs; the commands it would run:",
                job.id
            ));
        }
        if let Some(group) = &job.concurrency {
            let group = expr::substitute(group, &scope)?;
            self.say(&format!(
                "  concurrency group: {group} (queueing across runs is GitHub's)"
            ));
        }
        if let Some(environment) = &job.environment {
            let environment = expr::substitute(environment, &scope)?;
            if self.reviewed.contains(&environment) {
                if dry {
                    self.say(&format!(
                        "  environment {environment} has required reviewers: approval asked (or --approve)"
                    ));
                } else if let Err(error) = approval::approve(&job.id, &environment, req.approve) {
                    self.say(&format!("✘ {} failed: {error}", job.id));
                    return Ok(JobResult {
                        outcome: Outcome::Failure,
                        outputs: BTreeMap::new(),
                        stood_in: false,
                    });
                }
            }
        }
        if !dry {
            if workspace.exists() {
                // Removes the `target` link of a rust-cache stand-in, never what it points to.
                std::fs::remove_dir_all(&workspace)
                    .with_context(|| format!("emptying {}", workspace.display()))?;
            }
            for dir in [&workspace, &temp] {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("creating {}", dir.display()))?;
            }
        }
        // Workflow, then job variables, each evaluated where GitHub evaluates it.
        let mut env = BTreeMap::new();
        for (key, value) in req.workflow.env.iter().chain(&job.env) {
            let scope = Scope {
                env: &env,
                ..scope_like(&scope)
            };
            let value = expr::substitute(value, &scope)?;
            env.insert(key.clone(), value);
        }
        let github_env = github::variables(req, job, &workspace, &temp);
        if dry {
            let shown: Vec<String> = github_env
                .iter()
                .map(|(k, v)| format!("{k}={}", quote(v)))
                .collect();
            self.say(&format!("  GitHub variables: {}", shown.join(" ")));
        }
        if let Some(at) = &req.cancel_at {
            at.job_started(&job.id);
        }
        let mut state = JobState {
            env,
            added_env: BTreeMap::new(),
            path: Vec::new(),
            steps: BTreeMap::new(),
            failed: false,
            cancelled: false,
            started_after_cancel: self.cancelled.get(),
            summary: String::new(),
            groups: Vec::new(),
        };
        let deadline = started
            + Duration::from_secs_f64(job.timeout_minutes.unwrap_or(DEFAULT_JOB_MINUTES) * 60.0);
        let site = Site {
            project: &req.project,
            job: &job.id,
            workspace: &workspace,
            run_dir: &req.run_dir,
            artifacts_from: req.artifacts_from.as_deref(),
            sha: &req.sha,
        };
        let job_ctx = JobContext {
            job,
            workspace: &workspace,
            temp: &temp,
            github_env: &github_env,
            deadline,
            site: &site,
            dry,
        };
        for (index, step) in job.steps.iter().enumerate() {
            self.check_cancel(&mut state, deadline, &job.id);
            self.rehearse_step(&job_ctx, &mut state, index, step)?;
        }
        // Orphans of the job's steps end with it, as on GitHub's runner.
        for group in &state.groups {
            process::signal_group(*group, libc::SIGKILL);
        }
        let steps_value = steps_value(&state.steps);
        let mut outputs = BTreeMap::new();
        // A stood-in job's outputs are empty: nothing ran to produce them.
        for (key, value) in job.outputs.iter().filter(|_| !stood_in) {
            let scope = Scope {
                run: self,
                job: Some(job),
                env: &state.env,
                steps: &steps_value,
                status: state.status(),
                workspace: &workspace,
            };
            outputs.insert(key.clone(), expr::substitute(value, &scope)?);
        }
        if !state.summary.is_empty() {
            self.say(&format!("  {} summary:", job.id));
            for line in state.summary.lines() {
                self.say(&format!("  │ {line}"));
            }
            if !dry {
                let file = req.run_dir.join("summary.md");
                let mut all = std::fs::read_to_string(&file).unwrap_or_default();
                let _ = write!(all, "## {}\n\n{}\n", job.id, state.summary);
                std::fs::write(&file, req.secrets.mask(&all))?;
            }
        }
        let outcome = if state.cancelled {
            Outcome::Cancelled
        } else if state.failed {
            Outcome::Failure
        } else {
            Outcome::Success
        };
        let verb = match outcome {
            Outcome::Success if stood_in => "stood in: success, outputs empty, nothing ran",
            Outcome::Success if req.dry_run => "would run",
            Outcome::Success => "passed",
            Outcome::Failure => "failed",
            Outcome::Cancelled => "cancelled",
            Outcome::Skipped => "skipped",
        };
        let mark = if stood_in {
            '⊘'
        } else if outcome == Outcome::Success {
            '✔'
        } else {
            '✘'
        };
        if dry {
            self.say(&format!("{mark} {} {verb}", job.id));
        } else {
            self.say(&format!(
                "{mark} {} {verb} in {:.1}s",
                job.id,
                started.elapsed().as_secs_f64()
            ));
        }
        Ok(JobResult {
            outcome,
            outputs,
            stood_in,
        })
    }

    /// Marks the run (Ctrl-C, `--cancel-at`) or the job (its timeout) cancelled when it is time.
    /// A job that started after the run was cancelled (an `always()` or `cancelled()` job) is
    /// not cancelled by it again.
    fn check_cancel(&self, state: &mut JobState, deadline: Instant, job: &str) {
        if state.cancelled {
            return;
        }
        if !state.started_after_cancel
            && (interrupt::interrupted() || self.req.cancel_at.as_ref().is_some_and(|at| at.due()))
        {
            self.cancelled.set(true);
            self.say(&format!("⊘ {job}: the run is cancelled"));
            state.cancelled = true;
        } else if Instant::now() >= deadline {
            self.say(&format!(
                "⊘ {job}: timeout-minutes reached, the job is cancelled"
            ));
            state.cancelled = true;
        }
    }

    fn rehearse_step(
        &self,
        ctx: &JobContext,
        state: &mut JobState,
        index: usize,
        step: &Step,
    ) -> Result<()> {
        let req = self.req;
        let job = ctx.job;
        let label = format!(
            "{}/{}",
            job.id,
            step.id.clone().unwrap_or_else(|| step.label(index))
        );
        let steps_value = steps_value(&state.steps);
        let mut before_step = state.env.clone();
        before_step.extend(state.added_env.clone());
        let mut env = before_step.clone();
        let condition = step.condition.as_deref().unwrap_or("success()");
        let scope = Scope {
            run: self,
            job: Some(job),
            env: &before_step,
            steps: &steps_value,
            status: state.status(),
            workspace: ctx.workspace,
        };
        let holds = expr::condition(condition)
            .and_then(|c| c.eval(&scope))
            .with_context(|| format!("step `{label}`: if: {condition}"))?
            .truthy();
        if !holds {
            self.say(&format!("- {label} skipped (if: {condition})"));
            state.record(step, Outcome::Skipped, BTreeMap::new());
            return Ok(());
        }
        for (key, value) in &step.env {
            let value = expr::substitute(
                value,
                &Scope {
                    env: &env,
                    ..scope_like(&scope)
                },
            )?;
            env.insert(key.clone(), value);
        }
        let scope = Scope {
            env: &env,
            ..scope_like(&scope)
        };
        let started = Instant::now();
        if let Some(uses) = &step.uses {
            let mut inputs = Vec::new();
            for (key, value) in &step.with {
                inputs.push((key.clone(), expr::substitute(value, &scope)?));
            }
            let action = crate::workflow::action_name(uses);
            if ctx.dry {
                let what = actions::describe(ctx.site, uses, &inputs);
                self.say(&format!("⊘ {}: stood in: {action} → {what}", job.id));
                state.record(step, Outcome::Success, BTreeMap::new());
                return Ok(());
            }
            match actions::stand_in(ctx.site, uses, &inputs) {
                Ok(stood_in) => {
                    self.say(&format!(
                        "⊘ {}: stood in: {action} → {}",
                        job.id, stood_in.description
                    ));
                    req.secrets.also_mask(stood_in.masked);
                    state.added_env.extend(stood_in.env);
                    state.record(step, Outcome::Success, BTreeMap::new());
                }
                Err(error) => {
                    self.say(&format!("✘ {label} failed: {error:#}"));
                    state.fail(step);
                }
            }
            return Ok(());
        }
        let script = expr::substitute(step.run.as_deref().unwrap_or_default(), &scope)?;
        let files = StepFiles::new(ctx.temp, index);
        let mut command = shell::command(
            step,
            job,
            &req.workflow.defaults,
            &files.script,
            ctx.workspace,
        )?;
        command.env = ctx.github_env.to_vec();
        command.env.extend(files.variables());
        command
            .env
            .extend(env.iter().map(|(k, v)| (k.clone(), v.clone())));
        command.env.extend(aws_isolation::variables(&req.run_dir));
        if !state.path.is_empty() {
            let mut path = state.path.clone();
            path.extend(std::env::var("PATH").ok());
            command.env.push(("PATH".into(), path.join(":")));
        }
        command.unset = NOT_INHERITED.iter().map(|s| (*s).to_owned()).collect();
        if let Err(error) = aws_isolation::check_step(&env) {
            self.say(&format!("✘ {label} failed: {error}"));
            state.fail(step);
            return Ok(());
        }
        if ctx.dry {
            let assigned: String = env
                .iter()
                .map(|(k, v)| format!("{k}={} ", quote(v)))
                .collect();
            let dir = command
                .dir
                .strip_prefix(ctx.workspace)
                .unwrap_or(&command.dir);
            let dir = if dir.as_os_str().is_empty() {
                String::new()
            } else {
                format!("{}", dir.display())
            };
            self.say(&format!("  {label}: {dir}$ {assigned}{command}"));
            for line in script.lines() {
                self.say(&format!("    │ {line}"));
            }
            state.record(step, Outcome::Success, BTreeMap::new());
            return Ok(());
        }
        files.create(&script)?;
        if let Some(at) = &req.cancel_at {
            let mut keys = vec![(index + 1).to_string(), step.label(index)];
            keys.extend(step.id.clone());
            keys.extend(step.name.clone());
            at.step_started(&job.id, &keys);
        }
        let step_deadline = step
            .timeout_minutes
            .map(|m| started + Duration::from_secs_f64(m * 60.0));
        // A step that runs after a cancel is not cancelled again, and the run's cancel applies
        // only to the jobs that were running when it came.
        let already_cancelled = state.cancelled;
        let run_cancel_applies = !state.started_after_cancel;
        let by_run = Cell::new(false);
        let stop = || {
            if already_cancelled {
                return false;
            }
            if run_cancel_applies
                && (interrupt::interrupted() || req.cancel_at.as_ref().is_some_and(|at| at.due()))
            {
                by_run.set(true);
                return true;
            }
            Instant::now() >= ctx.deadline
        };
        let show = |line: &str| println!("  │ {}", req.secrets.mask(line));
        let (ending, group) = process::run(&command, &show, step_deadline, &stop, req.grace)?;
        state.groups.push(group);
        let took = started.elapsed().as_secs_f64();
        let outputs = files.read_outputs();
        let outcome = match ending {
            Ending::Exited(status) if status.success() => {
                self.say(&format!("✔ {label} passed in {took:.1}s"));
                Outcome::Success
            }
            Ending::Exited(status) => {
                let code = status.code().map_or_else(
                    || "killed by a signal".to_owned(),
                    |c| format!("exit code {c}"),
                );
                self.say(&format!("✘ {label} failed in {took:.1}s ({code})"));
                Outcome::Failure
            }
            Ending::Stopped(Stop::StepTimeout, signal) => {
                self.say(&format!(
                    "✘ {label} failed in {took:.1}s (timeout-minutes reached; ended by {signal})"
                ));
                Outcome::Failure
            }
            Ending::Stopped(Stop::Cancel, signal) => {
                if by_run.get() {
                    self.cancelled.set(true);
                    self.say(&format!("⊘ {}: the run is cancelled", job.id));
                } else {
                    self.say(&format!(
                        "⊘ {}: timeout-minutes reached, the job is cancelled",
                        job.id
                    ));
                }
                state.cancelled = true;
                self.say(&format!(
                    "✘ {label} cancelled in {took:.1}s (ended by {signal})"
                ));
                Outcome::Cancelled
            }
        };
        match outputs {
            Ok(files_read) => {
                state.added_env.extend(files_read.env);
                state.path.extend(files_read.path);
                state.summary.push_str(&files_read.summary);
                if outcome == Outcome::Failure && !step.continue_on_error {
                    state.fail(step);
                } else {
                    state.record(step, outcome, files_read.outputs);
                }
            }
            Err(error) => {
                self.say(&format!("✘ {label} failed: {error:#}"));
                state.fail(step);
            }
        }
        Ok(())
    }
}

/// A copy of a scope's references, for `Scope { env: …, ..scope_like(&scope) }`.
fn scope_like<'a>(scope: &Scope<'a>) -> Scope<'a> {
    Scope {
        run: scope.run,
        job: scope.job,
        env: scope.env,
        steps: scope.steps,
        status: scope.status,
        workspace: scope.workspace,
    }
}

struct JobContext<'a> {
    job: &'a Job,
    workspace: &'a Path,
    temp: &'a Path,
    github_env: &'a [(String, String)],
    deadline: Instant,
    site: &'a Site<'a>,
    /// Print what would run instead of running it (`--dry-run`, or a stood-in job).
    dry: bool,
}

struct StepRecord {
    outcome: Outcome,
    /// The outcome, except that a failure with `continue-on-error` concludes as a success.
    conclusion: Outcome,
    outputs: BTreeMap<String, String>,
}

struct JobState {
    /// Workflow and job `env:`.
    env: BTreeMap<String, String>,
    /// What steps wrote to GITHUB_ENV and what stand-ins provide, for the later steps.
    added_env: BTreeMap<String, String>,
    /// What steps wrote to GITHUB_PATH.
    path: Vec<String>,
    steps: BTreeMap<String, StepRecord>,
    failed: bool,
    /// This job was cancelled (by the run's cancel while it ran, or by its timeout).
    cancelled: bool,
    /// The run was cancelled before this job started: only its own timeout cancels it.
    started_after_cancel: bool,
    summary: String,
    groups: Vec<i32>,
}

impl JobState {
    fn status(&self) -> Status {
        Status {
            failed: self.failed,
            cancelled: self.cancelled,
            blocked: false,
        }
    }

    fn record(&mut self, step: &Step, outcome: Outcome, outputs: BTreeMap<String, String>) {
        let conclusion = if outcome == Outcome::Failure && step.continue_on_error {
            Outcome::Success
        } else {
            outcome
        };
        if let Some(id) = &step.id {
            self.steps.insert(
                id.clone(),
                StepRecord {
                    outcome,
                    conclusion,
                    outputs,
                },
            );
        }
    }

    fn fail(&mut self, step: &Step) {
        self.failed = true;
        self.record(step, Outcome::Failure, BTreeMap::new());
    }
}

fn steps_value(steps: &BTreeMap<String, StepRecord>) -> Value {
    Value::object(steps.iter().map(|(id, record)| {
        let outputs = record
            .outputs
            .iter()
            .map(|(k, v)| (k.clone(), Value::str(v)));
        (
            id.clone(),
            Value::object([
                ("outputs", Value::object(outputs)),
                ("outcome", Value::str(record.outcome.name())),
                ("conclusion", Value::str(record.conclusion.name())),
            ]),
        )
    }))
}

fn short(sha: &str) -> &str {
    sha.get(..12).unwrap_or(sha)
}
