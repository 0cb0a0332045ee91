//! The test suites. Each provisions what it needs: integration tests get a real PostgreSQL 15,
//! the smoke suite PostgreSQL and the backend binary, the end-to-end suites the whole stack
//! (PostgreSQL, the backend binary, the built dashboard) on loopback; the smoke and end-to-end
//! suites run against a deployed environment instead with `--base-url`.

use std::path::Path;

use anyhow::Context;

use crate::cmd::{Cmd, EnvValue};
use crate::pipeline::cache::Inputs;
use crate::pipeline::{Stage, Tool};
use crate::project::Project;
use crate::secret::Secret;
use crate::services::moto::Moto;
use crate::services::postgres::{IMAGE_VAR as POSTGRES_IMAGE_VAR, Postgres};
use crate::services::registry::{IMAGE_VAR as REGISTRY_IMAGE_VAR, Registry};
use crate::services::server::{Backend, Dashboard};
use crate::stages::{frontend, test_build};

pub fn unit() -> Stage {
    Stage::new("test-unit", &["test", "unit"])
        .uses_cargo()
        .after("type-check-rust")
        // Unit tests may read any file of the Rust side (Terraform, workflows, fixtures).
        .cache(Inputs::files(&["**", "!frontend/**"]).tools(&["rustc", "cargo"]))
        .run(test_build::unit())
}

pub fn integration() -> Stage {
    Stage::new("test-integration", &["test", "integration"])
        .uses_cargo()
        .after("test-unit")
        .cache(
            super::rust_build()
                .env(&["DATABASE_URL", POSTGRES_IMAGE_VAR])
                .tools(&["docker"]),
        )
        .provision(Postgres)
        .run(test_build::suites(&["integration"]))
}

/// Beyond the Rust build, what the deploy drill runs: the emulator's ECS scheduler, and the
/// backend image it builds (its Dockerfile and the CA bundle the image carries).
const DEPLOY_DRILL_FILES: &[&str] = &["xtask/sandbox/**", "backend/Dockerfile", "backend/certs/**"];

/// The deploy engine against the AWS emulator, whose ECS runs each task as a container of images
/// built from this commit (`xtask/deploy/tests/emulator`, `xtask/sandbox/moto_ecs`).
pub fn deploy(project: &Project) -> Stage {
    let sha = project.git_sha();
    Stage::new("test-deploy", &["test", "deploy"])
        .uses_cargo()
        .after("test-integration")
        .tool(Tool::new(
            "python3",
            "install Python 3 with venv for the AWS emulator (Debian/Ubuntu: apt-get install python3-venv)",
        ))
        .tool(Tool::new(
            "docker",
            "install Docker and start its engine: the emulator's ECS runs every task as a container (Debian/Ubuntu: apt-get install docker.io)",
        ))
        .cache({
            let mut inputs = super::rust_build()
                .env(&["DATABASE_URL", POSTGRES_IMAGE_VAR, REGISTRY_IMAGE_VAR])
                .tools(&["docker", "python3", "docker-registry"]);
            // The emulator's ECS scheduler, and the image the drill builds and deploys.
            inputs.files.extend(DEPLOY_DRILL_FILES);
            // The deploy roles are rendered from the Terraform and made by a Python script.
            inputs.files.extend(["infrastructure/**", "**/*.py"]);
            inputs
        })
        .run(test_build::backend(&sha))
        .provision(Postgres)
        .provision(Backend)
        // The registry first: the emulator's ECS pulls the tasks' images from it.
        .provision(Registry)
        .provision(Moto)
        .run(test_build::suites(&["emulator"]).env("EVENTFLOW_EXPECTED_GIT_SHA", sha))
        // The deploy roles' exact resources, with the emulator's IAM evaluator.
        .run(test_build::suites(&["iam_eval"]))
        // The stand-in's own rules, tick by tick: rolling percentages, header-matched listeners.
        .call(
            "the sandbox's scheduler and router tests, in the emulator's venv",
            |ctx| {
                let python = ctx
                    .env_var("EVENTFLOW_MOTO_PYTHON")
                    .context("the scheduler's tests need the emulator's venv, made when it starts")?;
                ctx.run(
                    &Cmd::new(python)
                        .args(["-m", "unittest", "discover", "-s", "xtask/sandbox/moto_ecs"])
                        .env("PYTHONDONTWRITEBYTECODE", "1"),
                )
            },
        )
}

pub const REHEARSALS: &str = "test-rehearsals";

/// What the rehearsed workflows run beyond cargo: the security scan's scanners, and git for the
/// scratch clones.
const REHEARSAL_TOOLS: &[(&str, &str)] = &[
    ("git", "install git"),
    (
        "cargo-deny",
        "install cargo-deny: cargo install cargo-deny --locked",
    ),
    (
        "hadolint",
        "install the Python tools: pip install -r .ci/requirements.txt",
    ),
    (
        "checkov",
        "install the Python tools: pip install -r .ci/requirements.txt",
    ),
    (
        "detect-secrets",
        "install the Python tools: pip install -r .ci/requirements.txt",
    ),
    ("npm", "install Node.js 20 with npm"),
];

/// The workflow files rehearsed end to end in scratch clones (`xtask/rehearse/tests/scenarios.rs`,
/// docs/ci.md): the scheduled security scan notifying Slack and email of a planted secret and
/// nobody of a clean tree, a broken step, a failed need, a mistyped need or secret. After the
/// security scan, whose tools, reports and stage cache the rehearsed scan shares.
pub fn rehearsals() -> Stage {
    let mut inputs = super::rust_build().env(&["EVENTFLOW_ADVISORY_DB"]).tools(&[
        "git",
        "hadolint",
        "checkov",
        "detect-secrets",
        "npm",
    ]);
    // What the rehearsed scan reads.
    inputs.files.extend([
        ".github/workflows/**",
        ".ci/requirements.txt",
        "deny.toml",
        "security/**",
        "infrastructure/**",
        "**/Dockerfile",
        "frontend/package*.json",
    ]);
    REHEARSAL_TOOLS
        .iter()
        .fold(
            Stage::new(REHEARSALS, &["test", "rehearsals"])
                .uses_cargo()
                .after("security-summary")
                .cache(inputs),
            |stage, &(program, fix)| stage.tool(Tool::new(program, fix)),
        )
        .run(test_build::suites(&["scenarios"]))
}

pub fn frontend() -> Stage {
    Stage::new("test-frontend", &["test", "frontend"])
        .needs(frontend::DEPS)
        .cache(super::frontend_files())
        .tool(frontend::npm())
        .run(frontend::npm_run("test"))
}

/// The backend's end-to-end suite, through the public URL only.
pub fn e2e(project: &Project, base_url: Option<&str>) -> Stage {
    let stage = Stage::new("test-e2e", &["test", "e2e"]).uses_cargo();
    match base_url {
        Some(url) => against_environment(stage, test_build::remote_suite("e2e"), url),
        None => {
            let sha = project.git_sha();
            local_stack(
                stage.needs("build-frontend").after("test-integration"),
                &sha,
            )
            .run(
                test_build::suites(&["e2e"])
                    .env("EVENTFLOW_EXPECTED_GIT_SHA", sha)
                    .env("EVENTFLOW_EXPECT_DASHBOARD", "1"),
            )
        }
    }
}

/// A deployed service's vital signs (`backend/tests/smoke`): `/health` with the expected build and
/// its database, one event ingested and read back, and the p95 of 20 API calls within budget. With
/// `--base-url` against that environment; otherwise against PostgreSQL and the backend built from
/// this commit, on loopback.
pub fn smoke(project: &Project, base_url: Option<&str>) -> Stage {
    let stage = Stage::new("test-smoke", &["test", "smoke"]).uses_cargo();
    match base_url {
        Some(url) => against_environment(stage, test_build::remote_suite("smoke"), url),
        None => {
            let sha = project.git_sha();
            stage
                .after("test-integration")
                .cache(
                    super::rust_build()
                        .env(&["DATABASE_URL", POSTGRES_IMAGE_VAR, SMOKE_BUDGET_VAR])
                        .tools(&["docker"]),
                )
                .run(test_build::backend(&sha))
                .provision(Postgres)
                .provision(Backend)
                .call(
                    "point the suite at the backend: EVENTFLOW_BASE_URL=$EVENTFLOW_API_URL",
                    |ctx| {
                        let api = ctx
                            .env_var("EVENTFLOW_API_URL")
                            .context("the smoke suite needs the backend started first")?;
                        ctx.add_env(vec![(
                            "EVENTFLOW_BASE_URL".to_owned(),
                            EnvValue::Plain(api),
                        )]);
                        Ok(())
                    },
                )
                .run(test_build::suites(&["smoke"]).env("EVENTFLOW_EXPECTED_GIT_SHA", sha))
        }
    }
}

/// The smoke suite's p95 budget in milliseconds, read by the suite itself (default 500).
const SMOKE_BUDGET_VAR: &str = "EVENTFLOW_SMOKE_P95_MS";

/// The dashboard in a real Chromium, driven by Playwright: sign in, ingest, see the events.
pub fn browser(project: &Project, base_url: Option<&str>) -> Stage {
    let chromium = project.chromium.clone();
    // Relative to frontend/, where the script runs, when the target directory is the usual one.
    let target = &project.target_dir;
    let screenshots = match target.strip_prefix(project.root()) {
        Ok(relative) => Path::new("..").join(relative).join("e2e"),
        Err(_) => target.join("e2e"),
    };
    let script = Cmd::new("node")
        .arg("e2e/dashboard.e2e.mjs")
        .dir("frontend")
        .env("CHROMIUM_PATH", chromium.clone())
        .env("EVENTFLOW_SCREENSHOT_DIR", screenshots.to_string_lossy());
    let stage = Stage::new("test-browser", &["test", "e2e"])
        .needs(frontend::DEPS)
        .tool(frontend::npm())
        .tool(Tool::new(
            chromium,
            "install Chromium (Debian/Ubuntu: apt-get install chromium) or set CHROMIUM_PATH to a Chrome or Chromium binary",
        ));
    match base_url {
        Some(url) => against_environment(stage, script, url),
        None => local_stack(
            stage.uses_cargo().needs("build-frontend").after("test-e2e"),
            &project.git_sha(),
        )
        .run(script),
    }
}

/// PostgreSQL, then the backend built from this commit, then the built dashboard in front of it.
/// Cached like any test whose inputs are all in the repository; a run against a deployed
/// environment never is.
fn local_stack(stage: Stage, git_sha: &str) -> Stage {
    stage
        .cache(
            Inputs::files(&["**"])
                .tools(&["rustc", "cargo", "node", "npm", "docker"])
                .env(&["DATABASE_URL", POSTGRES_IMAGE_VAR, "CHROMIUM_PATH"]),
        )
        .run(test_build::backend(git_sha))
        .provision(Postgres)
        .provision(Backend)
        .provision(Dashboard)
}

/// A suite pointed at a deployed environment. The suites sign their own tokens with the
/// environment's secret, which comes from the caller's environment and goes on only through the
/// child's environment; so do the admin API's token, when the environment has the admin API
/// on (the tests that write need it), the smoke suite's standing API key where it is off, and a
/// non-default JWT issuer or audience.
fn against_environment(stage: Stage, suite: Cmd, url: &str) -> Stage {
    let mut suite = suite.env("EVENTFLOW_BASE_URL", url);
    // Production has no admin API: its smoke run writes with a standing key instead. Its test
    // listener forwards only requests with the test key (EVENTFLOW_TEST_LISTENER_KEY).
    for secret in [
        "ADMIN_API_TOKEN",
        "EVENTFLOW_SMOKE_API_KEY",
        "EVENTFLOW_TEST_LISTENER_KEY",
    ] {
        if let Ok(value) = std::env::var(secret) {
            suite = suite.secret_env(secret, Secret::new(value));
        }
    }
    for claim in ["JWT_ISSUER", "JWT_AUDIENCE"] {
        if let Ok(value) = std::env::var(claim) {
            suite = suite.env(claim, value);
        }
    }
    match std::env::var("JWT_SECRET") {
        Ok(secret) => stage.run(suite.secret_env("JWT_SECRET", Secret::new(secret))),
        Err(_) => stage
            .call("check that JWT_SECRET is set", |_| {
                anyhow::bail!(
                    "JWT_SECRET is not set: export the environment's token-signing secret to run the end-to-end or smoke suite against a URL"
                )
            })
            .run(suite),
    }
}
