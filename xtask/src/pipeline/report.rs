//! The run as JSON (`target/xtask/report.json`, and `--report FILE`): every stage, its commands,
//! their exit codes and durations, and the result.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::json;

use crate::pipeline::runner::StageResult;

pub fn render(
    pipeline: &str,
    results: &[StageResult],
    started_at: SystemTime,
    duration: Duration,
    success: bool,
) -> String {
    let stages: Vec<_> = results
        .iter()
        .map(|r| {
            json!({
                "name": r.name,
                "result": r.outcome.label(),
                "reason": r.outcome.reason(),
                "duration_s": round(r.duration),
                "saved_s": match r.outcome {
                    crate::pipeline::graph::Outcome::Cached(saved) => Some(round(saved)),
                    _ => None,
                },
                "commands": r.commands.iter().map(|c| json!({
                    "command": c.command,
                    "exit_code": c.exit_code,
                    "duration_s": round(c.duration),
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    let report = json!({
        "pipeline": pipeline,
        "result": if success { "passed" } else { "failed" },
        "started_at_unix": started_at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()),
        "duration_s": round(duration),
        "stages": stages,
    });
    let text = serde_json::to_string_pretty(&report).expect("a JSON value serializes");
    crate::secret::redact(&text).into_owned() + "\n"
}

fn round(d: Duration) -> f64 {
    (d.as_secs_f64() * 1000.0).round() / 1000.0
}
