//! The contract test: schemathesis against the backend built from this commit, on loopback,
//! holding it to the checked-in `backend/openapi.json` (which a unit test keeps equal to what
//! the code generates and serves at `/openapi.json`). Every documented operation gets generated valid and
//! invalid inputs; no answer may be a 5xx, and every answer must be what the document says
//! (status, content type, schema).

use std::path::PathBuf;

use anyhow::Context;

use crate::cmd::{Cmd, EnvValue};
use crate::pipeline::{Stage, Tool};
use crate::project::Project;
use crate::secret::Secret;
use crate::services::postgres::{IMAGE_VAR as POSTGRES_IMAGE_VAR, Postgres};
use crate::services::server::Backend;

pub const STAGE: &str = "test-contract";

/// Bounds that keep the run to a few minutes on two cores; the seed makes a failure
/// reproducible (schemathesis prints it).
const MAX_EXAMPLES: &str = "50";
const MAX_SECONDS: &str = "180";
const SEED: &str = "1";

pub fn contract(project: &Project) -> Stage {
    let sha = project.git_sha();
    // Relative to the project root when the target directory is the usual one, so the plan reads
    // the same on every machine.
    let target = match project.target_dir.strip_prefix(project.root()) {
        Ok(relative) => relative.to_path_buf(),
        Err(_) => project.target_dir.clone(),
    };
    let credentials = target.join("xtask/contract/credentials.env");
    let report = target.join("xtask/contract/report");
    let credentials_file = project.root().join(&credentials);
    // One of the dev-build stages that take turns, although its build is the suites' own: three
    // minutes of fuzzing beside the browser test made that test's focus checks miss their moment.
    Stage::new(STAGE, &["test", "contract"])
        .uses_cargo()
        .after("test-integration")
        .tool(Tool::new(
            "st",
            "install schemathesis: pip install -r .ci/requirements.txt (it provides `st`)",
        ))
        .cache(
            super::rust_build()
                .env(&["DATABASE_URL", POSTGRES_IMAGE_VAR])
                .tools(&["docker", "st"]),
        )
        .run(super::test_build::backend(&sha))
        .provision(Postgres)
        .provision(Backend)
        // An admin token and an API key, into a file only the owner reads; never on a command line.
        .run(
            Cmd::new(
                target
                    .join("debug/examples/contract_credentials")
                    .to_string_lossy(),
            )
            .arg(credentials.to_string_lossy()),
        )
        .call(
            "hand the token and the API key to schemathesis through its environment, redacted",
            move |ctx| {
                let env = read_credentials(&credentials_file)?;
                ctx.add_env(env);
                Ok(())
            },
        )
        .call(
            "point schemathesis at the backend: SCHEMATHESIS_BASE_URL=$EVENTFLOW_API_URL",
            |ctx| {
                let api = ctx
                    .env_var("EVENTFLOW_API_URL")
                    .context("the contract test needs the backend started first")?;
                ctx.add_env(vec![(
                    "SCHEMATHESIS_BASE_URL".to_owned(),
                    EnvValue::Plain(api),
                )]);
                Ok(())
            },
        )
        .run(schemathesis(&report))
}

/// `st run` on the checked-in document, against `SCHEMATHESIS_BASE_URL`. `positive_data_acceptance` is left out: it takes
/// any 4xx for schema-valid input as a failure, and the API has rules a schema cannot state (an
/// opaque cursor, `from` before `to`, at most 10,080 buckets, no U+0000 in stored text), whose
/// 400s and 422s are the documented answer.
fn schemathesis(report: &std::path::Path) -> Cmd {
    Cmd::new("st")
        .args([
            "--config-file",
            "backend/contract/schemathesis.toml",
            "run",
            "--phases",
            "examples,coverage,fuzzing,stateful",
            "--mode",
            "all",
            "--checks",
            "all",
            "--exclude-checks",
            "positive_data_acceptance",
            "--max-examples",
            MAX_EXAMPLES,
            "--max-time",
            MAX_SECONDS,
            "--seed",
            SEED,
            "--request-timeout",
            "10",
            // No example database in the work tree: each run starts from the seed alone.
            "--generation-database",
            "none",
            "--no-color",
            "--report",
            "junit",
            "--report-dir",
        ])
        .arg(report.to_string_lossy())
        .arg("backend/openapi.json")
}

/// The `NAME=value` lines the credentials example wrote; the file is removed once read.
fn read_credentials(path: &PathBuf) -> anyhow::Result<Vec<(String, EnvValue)>> {
    let text = std::fs::read_to_string(path).with_context(|| {
        format!(
            "cannot read the contract test's credentials ({})",
            path.display()
        )
    })?;
    let _ = std::fs::remove_file(path);
    let env: Vec<(String, EnvValue)> = text
        .lines()
        .filter_map(|line| line.split_once('='))
        .map(|(name, value)| (name.to_owned(), EnvValue::Secret(Secret::new(value))))
        .collect();
    anyhow::ensure!(
        env.len() == 2,
        "the credentials file holds {} entries, not a token and an API key",
        env.len()
    );
    Ok(env)
}
