//! What a person watches: a live line per running stage (a spinner on a terminal, a plain line
//! every half minute otherwise), the full output of a stage that failed, and the closing table.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use crate::pipeline::github;
use crate::pipeline::graph::Outcome;
use crate::pipeline::runner::StageResult;

const SPINNER: [char; 10] = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
const HEARTBEAT: Duration = Duration::from_secs(30);

pub struct Display {
    tty: bool,
    github: bool,
    /// Lines of the live block currently on screen, erased before anything else is printed.
    live_lines: usize,
    frame: usize,
    last_heartbeat: Instant,
}

impl Display {
    pub fn new(github: bool) -> Display {
        let tty = std::io::stdout().is_terminal() && !github;
        Display {
            tty,
            github,
            live_lines: 0,
            frame: 0,
            last_heartbeat: Instant::now(),
        }
    }

    pub fn started(&mut self, name: &str) {
        if !self.tty {
            self.print(&format!("▶ {name} started"));
        }
    }

    pub fn finished(&mut self, name: &str, outcome: &Outcome, duration: Duration, log: &str) {
        let mark = match outcome {
            Outcome::Passed | Outcome::Cached(_) => "✔",
            Outcome::Failed(_) => "✘",
            Outcome::Skipped(_) | Outcome::Cancelled | Outcome::NotRun(_) => "○",
        };
        let mut line = match outcome {
            Outcome::Cached(saved) => {
                format!(
                    "{mark} {name} cached: inputs unchanged since it passed, saved {}",
                    seconds(*saved)
                )
            }
            _ => format!("{mark} {name} {} in {}", outcome.label(), seconds(duration)),
        };
        if let Some(reason) = outcome.reason() {
            line.push_str(&format!(": {reason}"));
        }
        if self.github {
            // Every stage's output in a collapsible group; failures also as annotations.
            let mut block = format!("::group::{line}\n{log}::endgroup::\n");
            if let Outcome::Failed(reason) = outcome {
                block.push_str(&github::error_annotation(name, reason));
                block.push('\n');
            }
            self.print(block.trim_end());
        } else if matches!(outcome, Outcome::Failed(_)) && !log.is_empty() {
            let rule = format!("──── {name} output ────");
            self.print(&format!(
                "{line}\n{rule}\n{log}{}",
                "─".repeat(rule.chars().count())
            ));
        } else {
            self.print(&line);
        }
    }

    /// Called about ten times a second with the running stages and how long each has run.
    pub fn tick(&mut self, running: &[(&str, Duration)]) {
        if self.tty {
            self.frame = (self.frame + 1) % SPINNER.len();
            self.erase_live();
            for (name, elapsed) in running {
                println!("{} {name} {}", SPINNER[self.frame], seconds(*elapsed));
            }
            let _ = std::io::stdout().flush();
            self.live_lines = running.len();
        } else if self.last_heartbeat.elapsed() >= HEARTBEAT && !running.is_empty() {
            self.last_heartbeat = Instant::now();
            let list: Vec<_> = running
                .iter()
                .map(|(n, e)| format!("{n} {}", seconds(*e)))
                .collect();
            self.print(&format!("… running: {}", list.join(", ")));
        }
    }

    pub fn note(&mut self, note: &str) {
        self.print(&format!("note: {note}"));
    }

    pub fn summary(&mut self, pipeline: &str, results: &[StageResult], total: Duration) {
        self.erase_live();
        self.print(&summary_table(pipeline, results, total));
    }

    fn print(&mut self, text: &str) {
        self.erase_live();
        println!("{text}");
        let _ = std::io::stdout().flush();
    }

    fn erase_live(&mut self) {
        if self.live_lines > 0 {
            // Up to the first live line, then clear to the end of the screen.
            print!("\x1b[{}A\x1b[J", self.live_lines);
            self.live_lines = 0;
        }
    }
}

/// The closing table; its last line is exactly `NAME: N passed, N failed[, N skipped]`.
pub fn summary_table(pipeline: &str, results: &[StageResult], total: Duration) -> String {
    let width = results
        .iter()
        .map(|r| r.name.len())
        .max()
        .unwrap_or(5)
        .max(5);
    let mut out = format!("\n{:<width$}  {:<9}  {:>8}\n", "stage", "result", "time");
    for r in results {
        let time = if r.duration.is_zero() {
            "-".to_owned()
        } else {
            seconds(r.duration)
        };
        out.push_str(&format!(
            "{:<width$}  {:<9}  {:>8}",
            r.name,
            r.outcome.label(),
            time
        ));
        if let Some(reason) = r.outcome.reason() {
            out.push_str(&format!("  {}", reason.lines().next().unwrap_or_default()));
        }
        if let Outcome::Cached(saved) = r.outcome {
            out.push_str(&format!("  saved {}", seconds(saved)));
        }
        out.push('\n');
    }
    out.push_str(&format!(
        "{:<width$}  {:<9}  {:>8}\n",
        "total",
        "",
        seconds(total)
    ));
    out.push_str(&counts_line(pipeline, results));
    out
}

pub fn counts_line(pipeline: &str, results: &[StageResult]) -> String {
    let count = |f: fn(&Outcome) -> bool| results.iter().filter(|r| f(&r.outcome)).count();
    let passed = count(Outcome::is_success);
    let failed = count(|o| matches!(o, Outcome::Failed(_)));
    let skipped = count(|o| {
        matches!(
            o,
            Outcome::Skipped(_) | Outcome::Cancelled | Outcome::NotRun(_)
        )
    });
    let mut line = format!("{pipeline}: {passed} passed, {failed} failed");
    if skipped > 0 {
        line.push_str(&format!(", {skipped} skipped"));
    }
    line
}

pub fn seconds(d: Duration) -> String {
    let secs = d.as_secs_f64();
    if secs < 60.0 {
        format!("{secs:.1}s")
    } else {
        format!("{}m{:02}s", d.as_secs() / 60, d.as_secs() % 60)
    }
}
