//! The cargo commands of the test suites. Every one selects the whole workspace with its
//! dev-dependencies, so cargo resolves one set of features for all of them and compiles each
//! dependency once for every stage. `cargo test -p eventflow-backend` would resolve the
//! backend's features alone and rebuild tokio and everything above it: on a fresh clone that
//! cost 1 min 43 s in test-integration and 3 min 56 s in test-deploy.

use crate::cmd::Cmd;

/// The binary the suites start, the deploy drill packs into an image, and the contract run fuzzes.
const BACKEND: &str = "eventflow-backend";

/// The unit tests of every crate, the workflow rehearsal's own tests (fixture workflows run by
/// real shells: seconds, no services) and the container helper's command line.
pub fn unit() -> Cmd {
    Cmd::new("cargo").args([
        "test",
        "--workspace",
        "--lib",
        "--bins",
        "--test",
        "rehearse",
        "--test",
        CONTAINERS_TEST,
    ])
}

/// The `xtask-containers` helper, built as the suites build: its own test target is the
/// selection that makes `cargo test --no-run` build the binary with dev-dependencies resolved.
/// `cargo build -p xtask-containers` resolved its features alone and compiled tokio, hyper and
/// the rest of its tree a second time.
pub fn containers() -> Cmd {
    Cmd::new("cargo").args([
        "test",
        "--quiet",
        "--workspace",
        "--no-run",
        "--test",
        CONTAINERS_TEST,
    ])
}

const CONTAINERS_TEST: &str = "containers_cli";

/// `cargo test --workspace --test <suite>…`: integration-test targets of whichever packages have them.
pub fn suites(names: &[&str]) -> Cmd {
    names.iter().fold(
        Cmd::new("cargo").args(["test", "--workspace"]),
        |cmd, name| cmd.args(["--test", name]),
    )
}

/// `cargo test -p eventflow-backend --test <suite>`, against a deployed environment. A deploy job
/// builds none of the other suites, so resolving the backend's features alone compiles least
/// there (the deploy drill pays for that world once, in test-deploy).
pub fn remote_suite(name: &str) -> Cmd {
    Cmd::new("cargo").args(["test", "-p", BACKEND, "--test", name])
}

/// `cargo build` of the backend binary and its credentials example (which the contract run
/// uses), as the suites build them, stamped with `git_sha` for `/health`. Selecting an example is
/// also what makes a plain build resolve dev-dependencies (cargo does for any selected test, bench
/// or example target); without one, tokio would lose the tests' `test-util` and everything above
/// it would compile again.
pub fn backend(git_sha: &str) -> Cmd {
    Cmd::new("cargo")
        .args(["build", "--workspace", "--bin", BACKEND])
        .args(["--example", "contract_credentials"])
        .env("EVENTFLOW_GIT_SHA", git_sha)
}
