//! The stage catalog: every stage the pipeline knows, in an order where each stage comes after
//! the stages it needs, and the commands that pick from it.
//!
//! A command names the stages it is about; the stages those need (installed dependencies, a
//! build) come along, the stages they merely come `after` in a pipeline do not. What a command
//! asks for is this module's own types (`request`); the stages import nothing from the command line
//! or from the commands forwarded to other crates.

mod contract;
pub mod coverage;
mod frontend;
pub mod images;
pub mod infra;
mod lint;
mod rds_ca;
mod request;
pub mod security;
mod test;
pub mod test_build;
mod type_check;
pub mod workflows;

use anyhow::Result;

pub use self::request::{InfraAction, PolicyRole, Suite};
use crate::pipeline::Stage;
use crate::pipeline::cache::Inputs;
use crate::project::Project;

/// What a Rust build reads: sources, manifests, and the migrations that `sqlx::migrate!` embeds.
const RUST_BUILD: &[&str] = &[
    "**/*.rs",
    "**/Cargo.toml",
    "Cargo.lock",
    ".cargo/config.toml",
    "rust-toolchain.toml",
    "rustfmt.toml",
    "clippy.toml",
    "backend/migrations/**",
];

fn rust_build() -> Inputs {
    Inputs::files(RUST_BUILD)
        .tools(&["rustc", "cargo"])
        .env(&["RUSTFLAGS", "CARGO_TARGET_DIR"])
}

fn frontend_files() -> Inputs {
    Inputs::files(&["frontend/**"]).tools(&["node", "npm"])
}

/// Everything `cargo xtask ci` runs, in catalog order.
fn catalog(project: &Project, base_url: Option<&str>) -> Vec<Stage> {
    let mut stages = vec![
        lint::rust(),
        lint::migrations(project),
        workflows::lint(project),
        type_check::rust(),
        test::unit(),
        test::integration(),
        test::deploy(project),
        test::smoke(project, base_url),
        contract::contract(project),
    ];
    if project.has_frontend() {
        stages.extend([
            frontend::deps(project),
            lint::frontend(),
            type_check::frontend(),
            test::frontend(),
            frontend::build(),
            test::e2e(project, base_url),
            test::browser(project, base_url),
            images::build(project, &images::Request::default()),
        ]);
    }
    stages.extend(security::stages(project));
    stages.push(test::rehearsals());
    stages
}

pub fn ci(project: &Project) -> Result<Vec<Stage>> {
    Ok(catalog(project, None))
}

pub fn lint(project: &Project) -> Result<Vec<Stage>> {
    Ok(pick(
        catalog(project, None),
        &[
            "lint-rust",
            "lint-migrations",
            "lint-workflows",
            "lint-frontend",
        ],
    ))
}

pub fn type_check(project: &Project) -> Result<Vec<Stage>> {
    Ok(pick(
        catalog(project, None),
        &["type-check-rust", "type-check-frontend"],
    ))
}

pub fn test(project: &Project, suite: Suite, base_url: Option<&str>) -> Result<Vec<Stage>> {
    if let Some(url) = base_url {
        anyhow::ensure!(
            matches!(suite, Suite::E2e | Suite::Smoke),
            "--base-url applies to the end-to-end and smoke suites: run `cargo xtask test e2e --base-url URL` or `cargo xtask test smoke --base-url URL`"
        );
        anyhow::ensure!(
            url.starts_with("http://") || url.starts_with("https://"),
            "--base-url must be an http:// or https:// URL, e.g. https://staging.eventflow.example.com"
        );
    }
    let targets: &[&str] = match suite {
        Suite::Unit => &["test-unit"],
        Suite::Integration => &["test-integration"],
        Suite::Frontend => &["test-frontend"],
        Suite::E2e => &["test-e2e", "test-browser"],
        Suite::Smoke => &["test-smoke"],
        Suite::Deploy => &["test-deploy"],
        Suite::Contract => &[contract::STAGE],
        Suite::Rehearsals => &[test::REHEARSALS],
        Suite::All => &[
            "test-unit",
            "test-integration",
            "test-deploy",
            "test-smoke",
            contract::STAGE,
            "test-frontend",
            "test-e2e",
            "test-browser",
            test::REHEARSALS,
        ],
    };
    Ok(pick(catalog(project, base_url), targets))
}

pub fn build_frontend(project: &Project) -> Result<Vec<Stage>> {
    anyhow::ensure!(
        project.has_frontend(),
        "there is no frontend/package.json to build"
    );
    Ok(pick(catalog(project, None), &["build-frontend"]))
}

/// `images build`: the images stage with the tags `request` asks for, and what it needs.
pub fn images(project: &Project, request: &images::Request) -> Result<Vec<Stage>> {
    anyhow::ensure!(
        project.has_frontend(),
        "there is no frontend/package.json: the images need the built dashboard"
    );
    // Bad flags are refused before any stage runs.
    images::tags(&images::Revision::read(project), request)?;
    let mut stages = pick(catalog(project, None), &[images::STAGE]);
    if let Some(stage) = stages.iter_mut().find(|s| s.name == images::STAGE) {
        *stage = images::build(project, request);
    }
    Ok(stages)
}

/// `targets` and, transitively, the stages they need, in catalog order.
fn pick(catalog: Vec<Stage>, targets: &[&str]) -> Vec<Stage> {
    let mut wanted: Vec<&'static str> = catalog
        .iter()
        .filter(|s| targets.contains(&s.name))
        .map(|s| s.name)
        .collect();
    // Walk back through the catalog: a stage's needs are always declared before it.
    for stage in catalog.iter().rev() {
        if wanted.contains(&stage.name) {
            wanted.extend(stage.needs.iter().copied());
        }
    }
    catalog
        .into_iter()
        .filter(|s| wanted.contains(&s.name))
        .collect()
}

#[cfg(test)]
mod tests;
