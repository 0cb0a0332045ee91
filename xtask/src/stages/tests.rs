//! The catalog: what each command runs, as the exact command lines `--dry-run` prints.

use std::path::PathBuf;

use super::*;
use crate::pipeline;

/// A project with a frontend (never installed) and one migration, outside any git repository.
fn fixture() -> (Project, PathBuf) {
    // One directory per call: tests run in parallel, and one test's set-up must not remove the
    // directory another is planning in.
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let root = std::env::temp_dir().join(format!("xtask-catalog-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(root.join("frontend")).unwrap();
    std::fs::create_dir_all(root.join("backend/migrations")).unwrap();
    std::fs::write(root.join("frontend/package.json"), "{}").unwrap();
    std::fs::write(root.join("frontend/package-lock.json"), "{}").unwrap();
    std::fs::write(
        root.join("backend/migrations/20260101000000_events.sql"),
        "",
    )
    .unwrap();
    (Project::at(root.clone()), root)
}

fn names(stages: &[Stage]) -> Vec<&'static str> {
    stages.iter().map(|s| s.name).collect()
}

#[test]
fn the_ci_plan_is_exactly_these_commands() {
    let (project, _) = fixture();
    expect_test::expect![[r#"
        ci: 26 stages (dry run: nothing is executed)

        lint-rust  (one dev-build stage at a time; alone: cargo xtask lint)
          $ cargo fmt --all --check
          $ cargo clippy --workspace --all-targets -- -D warnings

        lint-migrations  (alone: cargo xtask lint; requires squawk)
          $ squawk --reporter gcc --assume-in-transaction backend/migrations/20260101000000_events.sql

        lint-workflows  (alone: cargo xtask lint; requires actionlint)
          # no workflows in .github/workflows

        type-check-rust  (one dev-build stage at a time; alone: cargo xtask type-check)
          $ cargo check --workspace --all-targets

        test-unit  (after type-check-rust; one dev-build stage at a time; alone: cargo xtask test unit)
          $ cargo test --workspace --lib --bins --test rehearse --test containers_cli

        test-integration  (after test-unit; one dev-build stage at a time; alone: cargo xtask test integration)
          # start: PostgreSQL 15 from $DATABASE_URL if set, else a testcontainers container ($EVENTFLOW_POSTGRES_IMAGE, default postgres:15) if a Docker engine answers, else initdb/pg_ctl in a temporary directory; what it starts accepts TLS only, with a CA made fresh by openssl, and is handed on as sslmode=verify-full with that CA
          $ DATABASE_URL=*** cargo test --workspace --test integration

        test-deploy  (after test-integration; one dev-build stage at a time; alone: cargo xtask test deploy; requires python3, docker)
          $ EVENTFLOW_GIT_SHA=unknown cargo build --workspace --bin eventflow-backend --example contract_credentials
          # start: PostgreSQL 15 from $DATABASE_URL if set, else a testcontainers container ($EVENTFLOW_POSTGRES_IMAGE, default postgres:15) if a Docker engine answers, else initdb/pg_ctl in a temporary directory; what it starts accepts TLS only, with a CA made fresh by openssl, and is handed on as sslmode=verify-full with that CA
          # start: the backend (target/debug/eventflow-backend) on a free loopback port, with fresh JWT_SECRET, API_KEYS_SECRET and ADMIN_API_TOKEN
          # start: a container registry on a free loopback port: `docker-registry serve` if on PATH, else a registry:2 container ($EVENTFLOW_REGISTRY_IMAGE)
          # start: the AWS API emulator (moto[server]==5.2.5) from a venv in target/xtask/moto-venv, on a free loopback port, with the ECS scheduler of xtask/sandbox/moto_ecs/serve.py running each task as a container (images from $EVENTFLOW_TEST_REGISTRY), enforcing IAM: an admin and each environment's deploy role (`cargo run -p eventflow-infra-checks -- deploy <env> --account 123456789012`, Allow statements widened to *) made by xtask/src/services/moto_principals.py
          $ EVENTFLOW_EXPECTED_GIT_SHA=unknown DATABASE_URL=*** JWT_SECRET=*** ADMIN_API_TOKEN=*** EVENTFLOW_API_URL=*** EVENTFLOW_TEST_REGISTRY=*** AWS_ENDPOINT_URL=*** AWS_REGION=*** AWS_ACCESS_KEY_ID=*** AWS_SECRET_ACCESS_KEY=*** EVENTFLOW_DEPLOY_ROLES=*** EVENTFLOW_DEPLOY_POLICIES=*** EVENTFLOW_MOTO_PYTHON=*** cargo test --workspace --test emulator
          $ DATABASE_URL=*** JWT_SECRET=*** ADMIN_API_TOKEN=*** EVENTFLOW_API_URL=*** EVENTFLOW_TEST_REGISTRY=*** AWS_ENDPOINT_URL=*** AWS_REGION=*** AWS_ACCESS_KEY_ID=*** AWS_SECRET_ACCESS_KEY=*** EVENTFLOW_DEPLOY_ROLES=*** EVENTFLOW_DEPLOY_POLICIES=*** EVENTFLOW_MOTO_PYTHON=*** cargo test --workspace --test iam_eval
          # the sandbox's scheduler and router tests, in the emulator's venv

        test-smoke  (after test-integration; one dev-build stage at a time; alone: cargo xtask test smoke)
          $ EVENTFLOW_GIT_SHA=unknown cargo build --workspace --bin eventflow-backend --example contract_credentials
          # start: PostgreSQL 15 from $DATABASE_URL if set, else a testcontainers container ($EVENTFLOW_POSTGRES_IMAGE, default postgres:15) if a Docker engine answers, else initdb/pg_ctl in a temporary directory; what it starts accepts TLS only, with a CA made fresh by openssl, and is handed on as sslmode=verify-full with that CA
          # start: the backend (target/debug/eventflow-backend) on a free loopback port, with fresh JWT_SECRET, API_KEYS_SECRET and ADMIN_API_TOKEN
          # point the suite at the backend: EVENTFLOW_BASE_URL=$EVENTFLOW_API_URL
          $ EVENTFLOW_EXPECTED_GIT_SHA=unknown DATABASE_URL=*** JWT_SECRET=*** ADMIN_API_TOKEN=*** EVENTFLOW_API_URL=*** cargo test --workspace --test smoke

        test-contract  (after test-integration; one dev-build stage at a time; alone: cargo xtask test contract; requires st)
          $ EVENTFLOW_GIT_SHA=unknown cargo build --workspace --bin eventflow-backend --example contract_credentials
          # start: PostgreSQL 15 from $DATABASE_URL if set, else a testcontainers container ($EVENTFLOW_POSTGRES_IMAGE, default postgres:15) if a Docker engine answers, else initdb/pg_ctl in a temporary directory; what it starts accepts TLS only, with a CA made fresh by openssl, and is handed on as sslmode=verify-full with that CA
          # start: the backend (target/debug/eventflow-backend) on a free loopback port, with fresh JWT_SECRET, API_KEYS_SECRET and ADMIN_API_TOKEN
          $ DATABASE_URL=*** JWT_SECRET=*** ADMIN_API_TOKEN=*** EVENTFLOW_API_URL=*** target/debug/examples/contract_credentials target/xtask/contract/credentials.env
          # hand the token and the API key to schemathesis through its environment, redacted
          # point schemathesis at the backend: SCHEMATHESIS_BASE_URL=$EVENTFLOW_API_URL
          $ DATABASE_URL=*** JWT_SECRET=*** ADMIN_API_TOKEN=*** EVENTFLOW_API_URL=*** st --config-file backend/contract/schemathesis.toml run --phases examples,coverage,fuzzing,stateful --mode all --checks all --exclude-checks positive_data_acceptance --max-examples 50 --max-time 180 --seed 1 --request-timeout 10 --generation-database none --no-color --report junit --report-dir target/xtask/contract/report backend/openapi.json

        frontend-deps  (requires npm)
          frontend$ npm ci --no-audit --no-fund

        lint-frontend  (after frontend-deps; alone: cargo xtask lint; requires npm)
          frontend$ npm run lint

        type-check-frontend  (after frontend-deps; alone: cargo xtask type-check; requires npm)
          frontend$ npm run type-check

        test-frontend  (after frontend-deps; alone: cargo xtask test frontend; requires npm)
          frontend$ npm run test

        build-frontend  (after frontend-deps; alone: cargo xtask build frontend; requires npm)
          frontend$ npm run build

        test-e2e  (after build-frontend, test-integration; one dev-build stage at a time; alone: cargo xtask test e2e)
          $ EVENTFLOW_GIT_SHA=unknown cargo build --workspace --bin eventflow-backend --example contract_credentials
          # start: PostgreSQL 15 from $DATABASE_URL if set, else a testcontainers container ($EVENTFLOW_POSTGRES_IMAGE, default postgres:15) if a Docker engine answers, else initdb/pg_ctl in a temporary directory; what it starts accepts TLS only, with a CA made fresh by openssl, and is handed on as sslmode=verify-full with that CA
          # start: the backend (target/debug/eventflow-backend) on a free loopback port, with fresh JWT_SECRET, API_KEYS_SECRET and ADMIN_API_TOKEN
          # start: the built dashboard (npm run preview) on a free loopback port, proxying /v1 and /health to the backend
          $ EVENTFLOW_EXPECTED_GIT_SHA=unknown EVENTFLOW_EXPECT_DASHBOARD=1 DATABASE_URL=*** JWT_SECRET=*** ADMIN_API_TOKEN=*** EVENTFLOW_API_URL=*** EVENTFLOW_BASE_URL=*** cargo test --workspace --test e2e

        test-browser  (after frontend-deps, build-frontend, test-e2e; one dev-build stage at a time; alone: cargo xtask test e2e; requires npm, chromium)
          $ EVENTFLOW_GIT_SHA=unknown cargo build --workspace --bin eventflow-backend --example contract_credentials
          # start: PostgreSQL 15 from $DATABASE_URL if set, else a testcontainers container ($EVENTFLOW_POSTGRES_IMAGE, default postgres:15) if a Docker engine answers, else initdb/pg_ctl in a temporary directory; what it starts accepts TLS only, with a CA made fresh by openssl, and is handed on as sslmode=verify-full with that CA
          # start: the backend (target/debug/eventflow-backend) on a free loopback port, with fresh JWT_SECRET, API_KEYS_SECRET and ADMIN_API_TOKEN
          # start: the built dashboard (npm run preview) on a free loopback port, proxying /v1 and /health to the backend
          frontend$ CHROMIUM_PATH=chromium EVENTFLOW_SCREENSHOT_DIR=../target/e2e DATABASE_URL=*** JWT_SECRET=*** ADMIN_API_TOKEN=*** EVENTFLOW_API_URL=*** EVENTFLOW_BASE_URL=*** node e2e/dashboard.e2e.mjs

        images  (after build-frontend, test-unit; one release-build stage at a time; alone: cargo xtask images build; requires docker, curl)
          # refuse: `unknown` is not a commit sha: the images are tagged with the commit, so build them inside the git repository with at least one commit

        security-rust-deps  (alone: cargo xtask security-scan)
          # cargo deny --format json check --show-stats (advisories fetched from the RustSec database, never cached; with --offline when $EVENTFLOW_ADVISORY_DB names a local copy)

        security-npm-audit  (alone: cargo xtask security-scan)
          # frontend$ npm audit --audit-level=high --omit=dev --json (reads package-lock.json; an unreachable audit endpoint is NOT RUN)

        security-dockerfiles  (alone: cargo xtask security-scan)
          # no Dockerfiles yet (backend/Dockerfile, frontend/Dockerfile)

        security-terraform  (alone: cargo xtask security-scan)
          # no infrastructure/ directory

        security-images  (alone: cargo xtask security-scan)
          # trivy image --format json --output target/xtask/security/trivy-image-N.json IMAGE for each image in $EVENTFLOW_SCAN_IMAGES, else `trivy fs` of the repository; only where trivy is on PATH; SARIF to target/xtask/security/sarif

        security-secrets  (alone: cargo xtask security-scan)
          # detect-secrets scan --disable-plugin KeywordDetector --exclude-files '^security/secrets-baseline\.json$' (known false positives in security/secrets-baseline.json)

        security-rds-ca  (alone: cargo xtask security-scan)
          # curl --silent --show-error --fail --location --proto =https --max-time 30 --output target/xtask/security/rds-ca-published.pem https://truststore.pki.rds.amazonaws.com/eu-central-1/eu-central-1-bundle.pem and compare its roots with backend/certs/rds-ca/eu-central-1-bundle.pem; NOT RUN where that address is unreachable

        security-summary  (after security-rust-deps, security-npm-audit, security-dockerfiles, security-terraform, security-images, security-secrets, security-rds-ca; alone: cargo xtask security-scan)
          # findings by severity; fail on high and critical ones not accepted in security/exceptions.json

        test-rehearsals  (after security-summary; one dev-build stage at a time; alone: cargo xtask test rehearsals; requires git, cargo-deny, hadolint, checkov, detect-secrets, npm)
          $ cargo test --workspace --test scenarios
    "#]]
    .assert_eq(&pipeline::plan::render("ci", &ci(&project).unwrap(), None));
}

#[test]
fn a_command_brings_the_stages_it_needs_but_not_the_ones_it_merely_follows() {
    let (project, _) = fixture();
    assert_eq!(
        names(&test(&project, Suite::Integration, None).unwrap()),
        ["test-integration"]
    );
    assert_eq!(
        names(&test(&project, Suite::Frontend, None).unwrap()),
        ["frontend-deps", "test-frontend"]
    );
    assert_eq!(
        names(&test(&project, Suite::E2e, None).unwrap()),
        [
            "frontend-deps",
            "build-frontend",
            "test-e2e",
            "test-browser"
        ]
    );
    assert_eq!(
        names(&lint(&project).unwrap()),
        [
            "lint-rust",
            "lint-migrations",
            "lint-workflows",
            "frontend-deps",
            "lint-frontend"
        ]
    );
}

#[test]
fn e2e_against_a_url_starts_nothing_locally() {
    let (project, _) = fixture();
    let stages = test(
        &project,
        Suite::E2e,
        Some("https://staging.eventflow.example.com"),
    )
    .unwrap();
    assert_eq!(
        names(&stages),
        ["frontend-deps", "test-e2e", "test-browser"]
    );
    let plan = pipeline::plan::render("test", &stages, None);
    assert!(!plan.contains("# start:"), "{plan}");
    assert!(
        plan.contains("EVENTFLOW_BASE_URL=https://staging.eventflow.example.com"),
        "{plan}"
    );
}

#[test]
fn smoke_runs_on_the_backend_alone_or_against_a_url() {
    let (project, _) = fixture();
    let local = test(&project, Suite::Smoke, None).unwrap();
    assert_eq!(names(&local), ["test-smoke"]);
    let plan = pipeline::plan::render("test", &local, None);
    assert!(plan.contains("# start: the backend"), "{plan}");
    assert!(!plan.contains("dashboard"), "{plan}");

    let remote = test(
        &project,
        Suite::Smoke,
        Some("https://staging.eventflow.example.com"),
    )
    .unwrap();
    assert_eq!(names(&remote), ["test-smoke"]);
    assert!(
        remote[0].inputs.is_none(),
        "a deployed environment is never cached"
    );
    let plan = pipeline::plan::render("test", &remote, None);
    assert!(!plan.contains("# start:"), "{plan}");
    assert!(
        plan.contains("EVENTFLOW_BASE_URL=https://staging.eventflow.example.com cargo test -p eventflow-backend --test smoke"),
        "{plan}"
    );
}

#[test]
fn bad_base_urls_are_refused_with_the_fix() {
    let (project, _) = fixture();
    let err = test(&project, Suite::Unit, Some("https://x"))
        .err()
        .unwrap();
    assert_eq!(
        err.to_string(),
        "--base-url applies to the end-to-end and smoke suites: run `cargo xtask test e2e --base-url URL` or `cargo xtask test smoke --base-url URL`"
    );
    let err = test(&project, Suite::E2e, Some("staging")).err().unwrap();
    assert!(
        err.to_string()
            .starts_with("--base-url must be an http:// or https:// URL")
    );
}

#[test]
fn the_coverage_plan_is_exactly_these_commands() {
    let (project, _) = fixture();
    expect_test::expect![[r#"
        coverage: 3 stages (dry run: nothing is executed)

        coverage-rust  (one dev-build stage at a time; alone: cargo xtask coverage; requires cargo-tarpaulin)
          # remove target/coverage/rust from an earlier run
          # start: PostgreSQL 15 from $DATABASE_URL if set, else a testcontainers container ($EVENTFLOW_POSTGRES_IMAGE, default postgres:15) if a Docker engine answers, else initdb/pg_ctl in a temporary directory; what it starts accepts TLS only, with a CA made fresh by openssl, and is handed on as sslmode=verify-full with that CA
          $ DATABASE_URL=*** cargo tarpaulin --engine llvm --workspace --lib --bins --test integration --target-dir target/tarpaulin --skip-clean --timeout 600 --color never --out Lcov --output-dir target/coverage/rust
          # read target/coverage/rust/lcov.info for the summary

        frontend-deps  (requires npm)
          frontend$ npm ci --no-audit --no-fund

        coverage-frontend  (after frontend-deps; alone: cargo xtask coverage; requires npm)
          # remove target/coverage/frontend from an earlier run
          frontend$ npm run coverage -- --coverage.reportsDirectory ../target/coverage/frontend
          # read target/coverage/frontend/lcov.info for the summary
    "#]].assert_eq(&pipeline::plan::render(
        "coverage",
        &coverage::stages(&project, &Default::default()),
        None,
    ));
}
