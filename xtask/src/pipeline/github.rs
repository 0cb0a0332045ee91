//! GitHub Actions output: error annotations and the run's markdown summary.

use std::io::Write;

use anyhow::{Context, Result};

use crate::pipeline::display::{counts_line, seconds};
use crate::pipeline::runner::StageResult;

/// `::error title=…::message`, escaped as the workflow-command format requires.
pub fn error_annotation(stage: &str, message: &str) -> String {
    format!(
        "::error title={}::{}",
        escape_property(&format!("{stage} failed")),
        escape_data(message)
    )
}

fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

pub fn step_summary(pipeline: &str, results: &[StageResult]) -> String {
    let mut md = format!(
        "### `cargo xtask {pipeline}`\n\n| stage | result | time | note |\n|---|---|---|---|\n"
    );
    for r in results {
        let icon = match r.outcome.label() {
            "passed" | "cached" => "✅",
            "failed" => "❌",
            _ => "⏭️",
        };
        let time = if r.duration.is_zero() {
            "-".to_owned()
        } else {
            seconds(r.duration)
        };
        let note = r
            .outcome
            .reason()
            .unwrap_or_default()
            .lines()
            .next()
            .unwrap_or_default();
        md.push_str(&format!(
            "| {} | {icon} {} | {time} | {} |\n",
            r.name,
            r.outcome.label(),
            note.replace('|', "\\|")
        ));
    }
    md.push_str(&format!("\n{}\n", counts_line(pipeline, results)));
    md
}

/// Appends the summary to `$GITHUB_STEP_SUMMARY`, where GitHub shows it on the run's page.
pub fn write_step_summary(pipeline: &str, results: &[StageResult]) -> Result<()> {
    let Ok(path) = std::env::var("GITHUB_STEP_SUMMARY") else {
        return Ok(());
    };
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .with_context(|| format!("opening GITHUB_STEP_SUMMARY at {path}"))?;
    file.write_all(step_summary(pipeline, results).as_bytes())
        .with_context(|| format!("writing GITHUB_STEP_SUMMARY at {path}"))
}
