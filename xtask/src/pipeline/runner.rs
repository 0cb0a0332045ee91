//! Runs the selected stages: each in a thread of its own as soon as the graph allows, the first
//! failure cancelling the rest unless `--keep-going`, Ctrl-C cancelling everything.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result};

use crate::cmd::Cmd;
use crate::pipeline::cache::Cache;
use crate::pipeline::display::Display;
use crate::pipeline::graph::{Graph, Outcome, State};
use crate::pipeline::process::{Cancelled, CommandRecord, NotRun, StageContext, StageLog};
use crate::pipeline::stage::{Running, Stage, Step, Tool};
use crate::pipeline::{Env, Options, github, plan, report, signal};
use crate::secret;

/// What one stage did, for the summary and the report.
#[derive(Clone, Debug)]
pub struct StageResult {
    pub name: &'static str,
    pub outcome: Outcome,
    pub duration: Duration,
    pub commands: Vec<CommandRecord>,
}

struct Finished {
    index: usize,
    outcome: Outcome,
    commands: Vec<CommandRecord>,
    log: String,
}

pub fn run(env: &Env, pipeline: &str, stages: Vec<Stage>, options: &Options) -> Result<bool> {
    signal::install();
    let started_at = SystemTime::now();
    let started = Instant::now();
    let log_dir = env.root.join("target/xtask/logs");
    std::fs::create_dir_all(&log_dir).with_context(|| format!("creating {}", log_dir.display()))?;

    let nodes: Vec<_> = stages
        .iter()
        .map(|s| (s.name, s.prerequisites(), s.cargo))
        .collect();
    let mut graph = Graph::new(&nodes)?;
    let mut pending: Vec<Option<Stage>> = stages.into_iter().map(Some).collect();
    let mut results: Vec<Option<StageResult>> = vec![None; graph.len()];
    let mut started_at_of: Vec<Option<Instant>> = vec![None; graph.len()];
    let mut cancels: Vec<Arc<AtomicBool>> = (0..graph.len())
        .map(|_| Arc::new(AtomicBool::new(false)))
        .collect();
    let mut display = Display::new(env.github_actions);
    let (tx, rx) = mpsc::channel::<Finished>();
    let mut stopping = false;
    let cache = if options.no_cache {
        None
    } else {
        Cache::open(&env.root)
            .map_err(|e| display.note(&format!("stage cache off: {e:#}")))
            .ok()
    };
    let mut keys: Vec<Option<String>> = vec![None; graph.len()];
    let mut outputs_of: Vec<Vec<String>> = vec![Vec::new(); graph.len()];

    while !graph.is_finished() {
        if !stopping && signal::interrupted() {
            stopping = true;
            graph.skip_pending("interrupted");
            cancel_all(&graph, &mut cancels);
        }
        for index in graph.ready(options.jobs()) {
            let mut stage = pending[index]
                .take()
                .expect("a ready stage has not started");
            let name = stage.name;
            if let Some(cache) = &cache {
                keys[index] = cache.key(&stage, &plan::steps(&stage))?;
                let hit = keys[index]
                    .as_deref()
                    .and_then(|key| cache.lookup(&stage, key));
                for note in cache.take_notes() {
                    display.note(&note);
                }
                // A hit whose replay fails is a miss: the stage runs and hands over fresh results.
                let hit = hit.filter(|_| {
                    let Some(replay) = stage.replay.take() else {
                        return true;
                    };
                    replay(&env.root)
                        .map_err(|e| {
                            display.note(&format!(
                                "{name} runs again: its cached result can't be replayed ({e:#})"
                            ));
                        })
                        .is_ok()
                });
                if let Some(hit) = hit {
                    let outcome = Outcome::Cached(hit.saved);
                    record(
                        &mut results,
                        index,
                        name,
                        outcome.clone(),
                        Duration::ZERO,
                        vec![],
                    );
                    display.finished(name, &outcome, Duration::ZERO, "");
                    graph.start(index);
                    graph.finish(index, outcome);
                    continue;
                }
            }
            if let Some((reason, required)) = preflight(&env.root, &stage.tools) {
                let outcome = if required {
                    Outcome::Failed(reason)
                } else if env.ci {
                    Outcome::Failed(format!("{reason} (a missing tool fails under CI=true)"))
                } else {
                    Outcome::Skipped(reason)
                };
                record(
                    &mut results,
                    index,
                    name,
                    outcome.clone(),
                    Duration::ZERO,
                    vec![],
                );
                display.finished(name, &outcome, Duration::ZERO, "");
                graph.start(index);
                graph.finish(index, outcome.clone());
                if matches!(outcome, Outcome::Failed(_)) && !options.keep_going && !stopping {
                    stopping = true;
                    graph.skip_pending(&fail_fast_reason(name));
                    cancel_all(&graph, &mut cancels);
                }
                continue;
            }
            graph.start(index);
            started_at_of[index] = Some(Instant::now());
            outputs_of[index] = stage
                .inputs
                .as_ref()
                .map(|i| i.outputs.clone())
                .unwrap_or_default();
            display.started(name);
            let ctx = StageContext::new(
                env.root.clone(),
                Arc::new(StageLog::new(Some(&log_dir.join(format!("{name}.log"))))),
                cancels[index].clone(),
            );
            let tx = tx.clone();
            thread::Builder::new()
                .name(name.to_owned())
                .spawn(move || {
                    let (outcome, commands, log) = run_stage(stage, ctx);
                    let _ = tx.send(Finished {
                        index,
                        outcome,
                        commands,
                        log,
                    });
                })
                .context("starting a stage thread")?;
        }
        if graph.is_finished() {
            break;
        }
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(done) => {
                let name = graph.name(done.index);
                let duration = started_at_of[done.index].map_or(Duration::ZERO, |t| t.elapsed());
                display.finished(name, &done.outcome, duration, &done.log);
                let failed = matches!(done.outcome, Outcome::Failed(_));
                if let (Some(cache), Some(key), Outcome::Passed) =
                    (&cache, &keys[done.index], &done.outcome)
                {
                    // A record that can't be written costs a rerun next time, nothing more.
                    if let Err(e) = cache.store(name, key, duration, &outputs_of[done.index]) {
                        display.note(&format!(
                            "could not record {name} in the stage cache: {e:#}"
                        ));
                    }
                }
                record(
                    &mut results,
                    done.index,
                    name,
                    done.outcome.clone(),
                    duration,
                    done.commands,
                );
                graph.finish(done.index, done.outcome);
                if failed && !options.keep_going && !stopping {
                    stopping = true;
                    graph.skip_pending(&fail_fast_reason(name));
                    cancel_all(&graph, &mut cancels);
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let running: Vec<_> = graph
                    .running()
                    .into_iter()
                    .map(|i| {
                        (
                            graph.name(i),
                            started_at_of[i].map_or(Duration::ZERO, |t| t.elapsed()),
                        )
                    })
                    .collect();
                display.tick(&running);
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => unreachable!("the runner holds a sender"),
        }
    }

    let results: Vec<StageResult> = (0..graph.len())
        .map(|i| {
            results[i].clone().unwrap_or_else(|| {
                let outcome = match graph.state(i) {
                    State::Done(outcome) => outcome.clone(),
                    _ => unreachable!("the graph is finished"),
                };
                StageResult {
                    name: graph.name(i),
                    outcome,
                    duration: Duration::ZERO,
                    commands: vec![],
                }
            })
        })
        .collect();
    let success = results
        .iter()
        .all(|r| !matches!(r.outcome, Outcome::Failed(_) | Outcome::Cancelled))
        && !signal::interrupted();

    display.summary(pipeline, &results, started.elapsed());
    let json = report::render(pipeline, &results, started_at, started.elapsed(), success);
    write_report(&env.root.join("target/xtask/report.json"), &json)?;
    if let Some(path) = &options.report {
        write_report(path, &json)?;
    }
    if env.github_actions {
        github::write_step_summary(pipeline, &results)?;
    }
    Ok(success)
}

fn record(
    results: &mut [Option<StageResult>],
    index: usize,
    name: &'static str,
    outcome: Outcome,
    duration: Duration,
    commands: Vec<CommandRecord>,
) {
    results[index] = Some(StageResult {
        name,
        outcome,
        duration,
        commands,
    });
}

fn fail_fast_reason(failed: &str) -> String {
    format!("not started: {failed} failed (--keep-going runs everything)")
}

fn cancel_all(graph: &Graph, cancels: &mut [Arc<AtomicBool>]) {
    for index in graph.running() {
        cancels[index].store(true, Ordering::SeqCst);
    }
}

/// Runs the steps in order. Services started by the stage are held in `services` and stopped
/// (dropped, in reverse order) when the stage ends, whether it passed, failed or was cancelled.
fn run_stage(stage: Stage, mut ctx: StageContext) -> (Outcome, Vec<CommandRecord>, String) {
    let mut services: Vec<Box<dyn Running>> = Vec::new();
    let mut result = Ok(());
    for step in stage.steps {
        result = match step {
            Step::Run(cmd) => ctx.run(&cmd),
            Step::Provision(service) => {
                ctx.log(format!("# start: {}", service.describe()));
                service.start(&mut ctx).map(|running| {
                    ctx.add_env(running.env());
                    services.push(running);
                })
            }
            Step::Call {
                description,
                action,
            } => {
                ctx.log(format!("# {description}"));
                ctx.check_cancelled().and_then(|()| action(&mut ctx))
            }
        };
        if result.is_err() {
            break;
        }
    }
    while let Some(service) = services.pop() {
        drop(service);
    }
    let outcome = match result {
        Ok(()) => Outcome::Passed,
        Err(e) if e.chain().any(|c| c.is::<Cancelled>()) => Outcome::Cancelled,
        Err(e) if e.is::<NotRun>() => {
            let reason = e.downcast::<NotRun>().map(|n| n.0).unwrap_or_default();
            let reason = secret::redact(&reason).into_owned();
            ctx.log(format!("not run: {reason}"));
            Outcome::NotRun(reason)
        }
        Err(e) => {
            let message = secret::redact(&format!("{e:#}")).into_owned();
            ctx.log(format!("error: {message}"));
            Outcome::Failed(message)
        }
    };
    let log = ctx.log_contents();
    (outcome, std::mem::take(&mut ctx.commands), log)
}

/// The first missing tool, as a reason that names the fix, and whether that tool is required;
/// `None` when everything is there.
fn preflight(root: &Path, tools: &[Tool]) -> Option<(String, bool)> {
    for tool in tools {
        if which::which(&tool.program).is_err() {
            let reason = format!("`{}` not found: {}", tool.program, tool.fix);
            return Some((reason, tool.required));
        }
        if let Some(probe) = &tool.probe
            && !probe_succeeds(root, probe)
        {
            let reason = format!(
                "`{}` failed: {}",
                probe.to_string().trim_start_matches("$ "),
                tool.fix
            );
            return Some((reason, tool.required));
        }
    }
    None
}

fn probe_succeeds(root: &Path, probe: &Cmd) -> bool {
    probe
        .to_command(root)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Written whole or not at all: two runs at once must not leave a mix of both.
fn write_report(path: &PathBuf, json: &str) -> Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let temporary = dir.join(format!(
        ".report.{}.{:?}.tmp",
        std::process::id(),
        thread::current().id()
    ));
    std::fs::write(&temporary, json)
        .and_then(|()| std::fs::rename(&temporary, path))
        .with_context(|| format!("writing the report to {}", path.display()))
}
