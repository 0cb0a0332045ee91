//! `--dry-run`: the stages and the exact commands they would run, in order, with nothing run.

use std::fmt::Write;

use crate::pipeline::cache::Cache;
use crate::pipeline::display::seconds;
use crate::pipeline::stage::{Stage, Step};

/// The plan of `stages`. With a cache, stages whose inputs are unchanged since they last passed
/// are marked: they would not run. Working that out reads the repository and tool versions,
/// and runs nothing else.
pub fn render(pipeline: &str, stages: &[Stage], cache: Option<&Cache>) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{pipeline}: {} stages (dry run: nothing is executed)",
        stages.len()
    );
    for stage in stages {
        let mut notes = Vec::new();
        let needs: Vec<_> = stage
            .prerequisites()
            .into_iter()
            .filter(|n| stages.iter().any(|s| s.name == *n))
            .collect();
        if !needs.is_empty() {
            notes.push(format!("after {}", needs.join(", ")));
        }
        if let Some(profile) = stage.cargo {
            notes.push(profile.describe().to_owned());
        }
        if !stage.command.is_empty() {
            notes.push(format!("alone: cargo xtask {}", stage.command.join(" ")));
        }
        let tools: Vec<_> = stage.tools.iter().map(|t| t.program.as_str()).collect();
        if !tools.is_empty() {
            notes.push(format!("requires {}", tools.join(", ")));
        }
        let steps = steps(stage);
        if let Some(cache) = cache
            && let Ok(Some(key)) = cache.key(stage, &steps)
            && let Some(hit) = cache.lookup(stage, &key)
        {
            notes.push(format!(
                "CACHED: inputs unchanged, saves {}",
                seconds(hit.saved)
            ));
        }
        let _ = writeln!(out);
        if notes.is_empty() {
            let _ = writeln!(out, "{}", stage.name);
        } else {
            let _ = writeln!(out, "{}  ({})", stage.name, notes.join("; "));
        }
        out.push_str(&steps);
    }
    out
}

/// One line per step, as the stage would run it.
pub fn steps(stage: &Stage) -> String {
    let mut out = String::new();
    // Variables that a service provides reach every later command of the stage.
    let mut provided: Vec<&str> = Vec::new();
    for step in &stage.steps {
        match step {
            Step::Run(cmd) => {
                let cmd = provided.iter().fold(cmd.clone(), |cmd, name| {
                    cmd.secret_env(*name, crate::secret::Secret::new(String::new()))
                });
                let _ = writeln!(out, "  {cmd}");
            }
            Step::Provision(service) => {
                let _ = writeln!(out, "  # start: {}", service.describe());
                provided.extend(service.provides());
            }
            Step::Call { description, .. } => {
                let _ = writeln!(out, "  # {description}");
            }
        }
    }
    out
}
