//! A scanner as a stage: it runs its tool, turns the output into a [`Scan`] and posts it to the
//! board the summary reads; helpers shared by the scanners.

use std::sync::{Arc, Mutex};

use anyhow::Result;
use serde_json::Value;

use super::COMMAND;
use super::scan::{Scan, read_scan, scan_file, write_scan};
use crate::cmd::Cmd;
use crate::pipeline::{Stage, StageContext};

/// The scanners' reports, shared by the stages of one run.
#[derive(Default)]
pub(super) struct Board {
    pub(super) reports: Mutex<Vec<(&'static str, Scan)>>,
    pub(super) rendered: Mutex<Option<String>>,
}

impl Board {
    pub(super) fn record(&self, scanner: &'static str, scan: Scan) {
        lock(&self.reports).push((scanner, scan));
    }
}

pub(super) fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// A scanner stage: `scan` runs the tool and turns its output into findings, which go to the
/// board for the summary. Findings never fail the scanner's own stage; the summary decides.
pub(super) fn scanner(
    name: &'static str,
    label: &'static str,
    board: &Arc<Board>,
    description: String,
    scan: impl FnOnce(&mut StageContext) -> Result<Scan> + Send + 'static,
) -> Stage {
    let replayed = board.clone();
    let board = board.clone();
    Stage::new(name, COMMAND)
        .replay(move |root| {
            let scan = read_scan(&root.join(scan_file(label)))?;
            replayed.record(label, scan);
            Ok(())
        })
        .call(description, move |ctx| {
            let result = scan(ctx)?;
            if matches!(result, Scan::Ran { .. }) {
                write_scan(&ctx.root.join(scan_file(label)), &result)?;
            }
            ctx.log(format!("{label}: {}", result.one_line()));
            if let Scan::NotRun(reason) | Scan::MissingTool(reason) = &result
                && std::env::var("GITHUB_ACTIONS").is_ok_and(|v| v == "true")
            {
                ctx.log(format!("::warning title={label} not run::{reason}"));
            }
            let not_run = match &result {
                Scan::NotRun(reason) | Scan::MissingTool(reason) => Some(reason.clone()),
                _ => None,
            };
            board.record(label, result);
            // The engine shows the stage as NOT RUN too; the summary after it still runs.
            match not_run {
                Some(reason) => Err(crate::pipeline::process::NotRun(reason).into()),
                None => Ok(()),
            }
        })
}

/// `None` when `program` is on PATH; else the scan result that says what to install.
pub(super) fn missing(program: &str, fix: &str) -> Option<Scan> {
    which::which(program)
        .is_err()
        .then(|| Scan::MissingTool(format!("`{program}` not found: {fix}")))
}

/// Runs `cmd` and returns its exit code and what it printed (stdout and stderr, in order).
pub(super) fn run_capture(ctx: &mut StageContext, cmd: &Cmd) -> Result<(Option<i32>, String)> {
    let before = ctx.log_contents().len();
    let status = ctx.run_status(cmd)?;
    let log = ctx.log_contents();
    // The first line is the command itself, as the log echoes it.
    let output = log[before..]
        .split_once('\n')
        .map_or("", |(_, rest)| rest)
        .to_owned();
    Ok((status.code(), output))
}

/// The first JSON document in `output`, which may have warnings around it.
pub(super) fn first_json(output: &str) -> Option<Value> {
    let start = output.find(['{', '['])?;
    serde_json::Deserializer::from_str(&output[start..])
        .into_iter::<Value>()
        .next()?
        .ok()
}
