//! Lint: formatting, clippy, the migration linter (blue/green needs expand/contract migrations)
//! and the frontend's ESLint.

use crate::cmd::Cmd;
use crate::pipeline::cache::Inputs;
use crate::pipeline::{Stage, Tool};
use crate::project::Project;
use crate::stages::frontend;

pub fn rust() -> Stage {
    Stage::new("lint-rust", &["lint"])
        .uses_cargo()
        .cache(super::rust_build())
        .run(Cmd::new("cargo").args(["fmt", "--all", "--check"]))
        .run(Cmd::new("cargo").args([
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ]))
}

/// squawk checks each migration for locks and changes that would break the release still running
/// beside the new one during a blue/green deploy.
pub fn migrations(project: &Project) -> Stage {
    let mut files: Vec<String> = std::fs::read_dir(project.root().join("backend/migrations"))
        .into_iter()
        .flatten()
        .filter_map(|entry| entry.ok())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".sql"))
        .map(|name| format!("backend/migrations/{name}"))
        .collect();
    files.sort();
    let stage = Stage::new("lint-migrations", &["lint"])
        .cache(Inputs::files(&["backend/migrations/**"]).tools(&["squawk"]))
        .tool(Tool::new(
            "squawk",
            "install the PostgreSQL migration linter: pip install squawk-cli",
        ));
    if files.is_empty() {
        return stage.call("no migrations in backend/migrations", |_| Ok(()));
    }
    // sqlx runs each migration in a transaction; squawk judges locks with that in mind.
    stage.run(
        Cmd::new("squawk")
            .args(["--reporter", "gcc", "--assume-in-transaction"])
            .args(files),
    )
}

pub fn frontend() -> Stage {
    Stage::new("lint-frontend", &["lint"])
        .needs(frontend::DEPS)
        .cache(super::frontend_files())
        .tool(frontend::npm())
        .run(frontend::npm_run("lint"))
}
