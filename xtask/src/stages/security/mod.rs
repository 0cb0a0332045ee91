//! `cargo xtask security-scan`: one stage per scanner, side by side, each recording what it found
//! or why it could not run; then `security-summary` puts every finding in one table by severity
//! and fails on high and critical findings that are not accepted in `security/exceptions.json`.
//!
//! | stage                 | scans                          | with                                  | module |
//! |-----------------------|--------------------------------|---------------------------------------|--------|
//! | security-rust-deps    | Rust dependencies              | cargo-deny (`deny.toml`)              | `cargo_deny` |
//! | security-npm-audit    | the dashboard's dependencies   | `npm audit --omit=dev`                | `npm_audit` |
//! | security-dockerfiles  | `backend/` and `frontend/` Dockerfiles | hadolint                      | `hadolint` |
//! | security-terraform    | `infrastructure/`              | checkov                               | `checkov` |
//! | security-images       | images (or the repository)     | Trivy, where it is on PATH            | `trivy` |
//! | security-secrets      | committed keys and tokens      | detect-secrets                        | `detect_secrets` |
//! | security-rds-ca       | the shipped RDS CA bundle      | curl of Amazon's published bundle     | `stages/rds_ca.rs` |
//!
//! Migrations are checked by squawk in `cargo xtask lint` (`lint-migrations`); the summary points
//! there rather than running it twice.
//!
//! A scanner that can't run is reported as NOT RUN with the reason, never as clean. Where that is
//! the machine's doing (no audit endpoint at the npm registry, no Trivy outside GitHub Actions) it
//! is counted as not run; where a scanner's tool is missing it fails the summary under `CI=true`,
//! like a missing tool fails any stage there.
//!
//! One module per scanner (its stage, the parser of its findings, their tests); `scan` is what
//! a scanner found, `scanner` the stage every scanner is built as, `exceptions` the accepted
//! findings, `summary` the table and the verdict.

mod cargo_deny;
mod checkov;
mod cvss;
mod detect_secrets;
mod exceptions;
mod hadolint;
mod npm_audit;
mod scan;
mod scanner;
mod summary;
mod trivy;

use std::sync::Arc;

use anyhow::Result;

pub use self::scan::{Finding, Scan, Severity};
use self::scanner::{Board, lock, scanner};
use crate::pipeline::{self, Options, Stage};
use crate::project::Project;

const COMMAND: &[&str] = &["security-scan"];
pub const SUMMARY: &str = "security-summary";
pub const EXCEPTIONS: &str = "security/exceptions.json";
pub const SECRETS_BASELINE: &str = "security/secrets-baseline.json";
pub use crate::project::ADVISORY_DB_VAR;
/// Image references for Trivy, comma-separated; without them Trivy scans the repository's files.
pub const IMAGES_VAR: &str = "EVENTFLOW_SCAN_IMAGES";
/// Scanner reports and Trivy's SARIF (which the security-scan workflow uploads).
pub const REPORT_DIR: &str = "target/xtask/security";

const DOCKERFILES: &[&str] = &["backend/Dockerfile", "frontend/Dockerfile"];

/// The scanners, in the order the summary lists them.
const SCANNERS: &[&str] = &[
    "rust-deps",
    "npm-audit",
    "dockerfiles",
    "terraform",
    "images",
    "secrets",
    "rds-ca",
];

/// Every stage of `cargo xtask security-scan`.
pub fn stages(project: &Project) -> Vec<Stage> {
    stages_with(project, &Arc::new(Board::default()))
}

fn stages_with(project: &Project, board: &Arc<Board>) -> Vec<Stage> {
    let ci = project.env.ci;
    let mut stages = vec![cargo_deny::stage(project, board)];
    if project.has_frontend() {
        stages.push(npm_audit::stage(board));
    } else {
        stages.push(scanner(
            "security-npm-audit",
            "npm-audit",
            board,
            "no frontend/package.json: nothing to audit".to_owned(),
            |_| Ok(Scan::clean("no frontend/package.json")),
        ));
    }
    stages.extend([
        hadolint::stage(project, board),
        checkov::stage(project, board),
        trivy::stage(board),
        detect_secrets::stage(board),
        scanner(
            "security-rds-ca",
            "rds-ca",
            board,
            format!(
                "{} and compare its roots with {}; NOT RUN where that address is unreachable",
                super::rds_ca::download()
                    .to_string()
                    .trim_start_matches("$ "),
                super::rds_ca::SHIPPED
            ),
            super::rds_ca::scan,
        ),
    ]);
    let scanners: Vec<&'static str> = stages.iter().map(|s| s.name).collect();
    let mut summary = Stage::new(SUMMARY, COMMAND);
    for name in scanners {
        summary = summary.after(name);
    }
    let board = board.clone();
    stages.push(summary.call(
        format!(
            "findings by severity; fail on high and critical ones not accepted in {EXCEPTIONS}"
        ),
        move |ctx| summary::summarise(ctx, &board, ci),
    ));
    stages
}

/// `cargo xtask security-scan`: runs the stages, then prints the summary table again below the
/// run's own (when the summary failed, the engine has shown it with the failure already).
pub fn run(project: &Project, options: &Options) -> Result<bool> {
    let board = Arc::new(Board::default());
    let passed = pipeline::run(
        &project.env,
        "security-scan",
        stages_with(project, &board),
        options,
    )?;
    if passed && let Some(table) = lock(&board.rendered).take() {
        println!("\n{table}");
    }
    Ok(passed)
}
