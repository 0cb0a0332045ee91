//! The dashboard's npm project: dependencies installed when missing or stale, and its build.

use std::path::Path;

use crate::cmd::Cmd;
use crate::pipeline::{Stage, Tool};
use crate::project::Project;

pub const DEPS: &str = "frontend-deps";

pub fn npm() -> Tool {
    Tool::new(
        "npm",
        "install Node.js 20 or newer (it includes npm): https://nodejs.org",
    )
}

pub fn npm_run(script: &str) -> Cmd {
    Cmd::new("npm").args(["run", script]).dir("frontend")
}

/// `npm ci` when `node_modules` is missing or older than `package-lock.json`. One stage does it
/// for all the frontend stages, which would otherwise race to install into the same directory.
pub fn deps(project: &Project) -> Stage {
    let stage = Stage::new(DEPS, &[]).tool(npm());
    let dir = project.root().join("frontend");
    if node_modules_current(&dir) {
        stage.call("node_modules is current with package-lock.json", |_| Ok(()))
    } else {
        stage.run(
            Cmd::new("npm")
                .args(["ci", "--no-audit", "--no-fund"])
                .dir("frontend"),
        )
    }
}

/// npm rewrites `node_modules/.package-lock.json` on every install, so it is newer than the
/// lockfile exactly when the install matches it.
fn node_modules_current(dir: &Path) -> bool {
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    match (
        modified(&dir.join("node_modules/.package-lock.json")),
        modified(&dir.join("package-lock.json")),
    ) {
        (Some(installed), Some(lock)) => installed >= lock,
        _ => false,
    }
}

pub fn build() -> Stage {
    Stage::new("build-frontend", &["build", "frontend"])
        .needs(DEPS)
        .cache(super::frontend_files().outputs(&["frontend/dist/index.html"]))
        .tool(npm())
        .run(npm_run("build"))
}
