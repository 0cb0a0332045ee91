//! The rehearsal as a user runs it: the binary on the workflows under `tests/fixtures` (real
//! `bash` steps, real signals), and `--dry-run` on every workflow in `.github/workflows`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Stops escalate after 0.3 s and 0.3 s here instead of GitHub's 7.5 s and 2.5 s.
const SHORT_GRACE: &str = "300,300";

fn crate_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn rehearse_command(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_xtask-rehearse"));
    command
        .args(args)
        .current_dir(crate_dir())
        .env("REHEARSE_STOP_GRACE_MS", SHORT_GRACE)
        .stdin(Stdio::null());
    command
}

/// Runs a fixture on `main`; its exit status and stdout, with stderr after it.
fn rehearse(fixture: &str, extra: &[&str]) -> (bool, String) {
    let path = format!("tests/fixtures/{fixture}.yml");
    let mut args = vec![path.as_str()];
    if !extra.contains(&"--ref") {
        args.extend(["--ref", "main"]);
    }
    args.extend_from_slice(extra);
    let Output {
        status,
        stdout,
        stderr,
    } = rehearse_command(&args).output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&stdout),
        String::from_utf8_lossy(&stderr)
    );
    (status.success(), text)
}

#[track_caller]
fn assert_has(text: &str, wanted: &[&str]) {
    for line in wanted {
        assert!(text.contains(line), "no `{line}` in:\n{text}");
    }
}

#[track_caller]
fn assert_lacks<S: AsRef<str>>(text: &str, unwanted: &[S]) {
    for line in unwanted.iter().map(AsRef::as_ref) {
        assert!(!text.contains(line), "`{line}` in:\n{text}");
    }
}

/// The position of `line` in `text`, for order checks.
#[track_caller]
fn at(text: &str, line: &str) -> usize {
    text.find(line)
        .unwrap_or_else(|| panic!("no `{line}` in:\n{text}"))
}

#[test]
fn a_passing_run_orders_jobs_and_carries_outputs_env_summaries_and_artifacts() {
    let (ok, out) = rehearse("pipeline", &[]);
    assert!(ok, "{out}");
    assert_has(
        &out,
        &[
            "jobs in order: build → test → deploy → notify → report",
            "│ env file: carried",
            "│ step output: v1.2.3",
            "│ github: push main build true",
            "│ env: hello step-level",
            "│ tool on PATH",
            "✔ build/version passed in",
            "⊘ build: stood in: actions/upload-artifact → copy dist into the run's artifact `bundle`",
            "  build summary:",
            "│ ### built v1.2.3",
            "│ testing v1.2.3 (success)",
            "✘ test/flaky failed in",
            "│ flaky: failure, concluded success",
            "│ deploying the bundle",
            "│ success notes: line one\n  │ line two",
            "- test/clean up skipped (if: failure())",
            "- notify skipped (if: failure())",
            "│ deploy was success",
            "rehearse: 4 jobs passed, 0 failed, 1 skipped",
        ],
    );
    assert!(at(&out, "▶ build") < at(&out, "▶ test") && at(&out, "▶ test") < at(&out, "▶ deploy"));
}

#[test]
fn a_planted_failing_step_fails_the_run_skips_dependents_and_runs_failure_paths() {
    let (ok, out) = rehearse(
        "pipeline",
        &["--event", "workflow_dispatch", "--input", "fail=true"],
    );
    assert!(!ok, "{out}");
    assert_has(
        &out,
        &[
            "✘ test/planted failure failed in",
            "(exit code 1)",
            "│ test failed, cleaning up",
            "✘ test failed in",
            "- deploy skipped (if: success())",
            "│ notify: test failure",
            "│ deploy was skipped",
            "rehearse: 3 jobs passed, 1 failed, 1 skipped",
        ],
    );
    assert_lacks(&out, &["deploying"]);
}

#[test]
fn secrets_are_masked_and_a_mistyped_secret_name_fails_before_anything_runs() {
    let dir = scratch("secrets");
    let good = dir.join("good.secrets");
    std::fs::write(&good, "API_TOKEN=sekrit-value-123\nvars.REGION=eu-west-1\n").unwrap();
    let (ok, out) = rehearse("secrets", &["--secrets-file", good.to_str().unwrap()]);
    assert!(ok, "{out}");
    assert_has(
        &out,
        &["│ token is ***", "│ inline ***", "│ region eu-west-1"],
    );
    assert_lacks(&out, &["sekrit-value-123"]);

    let (ok, out) = rehearse(
        "secrets",
        &["--secrets-file", good.to_str().unwrap(), "--dry-run"],
    );
    assert!(ok, "{out}");
    assert_has(&out, &["TOKEN=*** bash -e", "│ echo \"inline ***\""]);
    assert_lacks(&out, &["sekrit-value-123"]);

    // Without a file every secret is a random fake, masked the same way.
    let (ok, out) = rehearse("secrets", &[]);
    assert!(ok, "{out}");
    assert_has(&out, &["│ token is ***"]);
    assert_lacks(&out, &["fake-api_token"]);

    let typo = dir.join("typo.secrets");
    std::fs::write(&typo, "API_TOKNE=sekrit-value-123\nvars.REGION=eu-west-1\n").unwrap();
    let (ok, out) = rehearse("secrets", &["--secrets-file", typo.to_str().unwrap()]);
    assert!(!ok, "{out}");
    assert_has(
        &out,
        &[
            "error: secret `API_TOKEN` is not in",
            "add a `API_TOKEN=…` line, or fix the name in the workflow",
        ],
    );
    assert_lacks(&out, &["token is", "sekrit-value-123"]);
}

#[test]
fn an_unmet_need_is_an_error_that_names_it() {
    let (ok, out) = rehearse("unmet-needs", &[]);
    assert!(!ok);
    assert_eq!(
        out.trim(),
        "error: job `deploy` needs `biuld`, which the workflow doesn't have: fix its `needs:`"
    );
}

#[test]
fn a_trigger_that_does_not_match_is_refused_with_the_fix() {
    let (ok, out) = rehearse("pipeline", &["--ref", "develop"]);
    assert!(!ok);
    assert_eq!(
        out.trim(),
        "error: pipeline runs on push only for branches [main]: pass a matching --ref"
    );
    let (ok, out) = rehearse("pipeline", &["--event", "schedule"]);
    assert!(!ok);
    assert_eq!(
        out.trim(),
        "error: pipeline is not triggered by schedule: pass --event push|workflow_dispatch"
    );
    let (ok, out) = rehearse(
        "pipeline",
        &["--event", "workflow_dispatch", "--input", "fail=maybe"],
    );
    assert!(!ok);
    assert_eq!(
        out.trim(),
        "error: input `fail` is a boolean: pass --input fail=true or =false"
    );
}

#[test]
fn cancel_at_interrupts_the_step_and_runs_only_the_cancellation_paths() {
    let started = Instant::now();
    let (ok, out) = rehearse("cancel", &["--cancel-at", "deploy.canary+0.5"]);
    assert!(!ok, "a cancelled run is not a success:\n{out}");
    assert!(started.elapsed() < Duration::from_secs(6), "{out}");
    assert_has(
        &out,
        &[
            "│ canary started",
            "│ canary got SIGINT",
            "✘ deploy/canary cancelled in",
            "(ended by SIGINT)",
            "- deploy/promote skipped (if: success())",
            "│ rolling back",
            "│ always runs",
            "✘ deploy cancelled in",
            "- verify skipped (if: success())",
            "│ paging on-call after the cancel",
            "rehearse: 1 jobs passed, 0 failed, 1 skipped, 1 cancelled",
        ],
    );
    assert_lacks(&out, &["promoted", "verified"]);
}

#[test]
fn ctrl_c_cancels_the_run_like_cancel_at() {
    let mut child = rehearse_command(&["tests/fixtures/cancel.yml", "--ref", "main"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut out = String::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        out.push_str(&line);
        out.push('\n');
        if line.contains("canary started") {
            break;
        }
    }
    // The terminal's Ctrl-C reaches the rehearsal's process group, not the step's.
    unsafe_free_kill(child.id(), "INT");
    for line in lines {
        out.push_str(&line.unwrap());
        out.push('\n');
    }
    assert!(!child.wait().unwrap().success());
    assert_has(
        &out,
        &[
            "│ canary got SIGINT",
            "│ rolling back",
            "│ paging on-call after the cancel",
        ],
    );
    assert_lacks(&out, &["promoted"]);
}

#[test]
fn a_step_that_ignores_sigint_and_sigterm_is_killed_with_its_process_group() {
    let started = Instant::now();
    let (ok, out) = rehearse("stubborn", &["--cancel-at", "hold+0.3"]);
    assert!(!ok, "{out}");
    // The test's pauses, not GitHub's 7.5 s + 2.5 s.
    assert!(started.elapsed() < Duration::from_secs(6), "{out}");
    assert_has(
        &out,
        &[
            "(ended by SIGKILL)",
            "│ rolled back",
            "rehearse: 0 jobs passed, 0 failed, 0 skipped, 1 cancelled",
        ],
    );
    assert_lacks(&out, &["wait ended"]);
    let pid = out
        .lines()
        .find_map(|l| l.split("sleep pid ").nth(1))
        .expect("the step printed its sleep's pid")
        .trim()
        .to_owned();
    // Killed with the group: gone, or a zombie until its new parent reaps it.
    std::thread::sleep(Duration::from_millis(200));
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    assert!(
        stat.is_empty() || stat.contains(") Z"),
        "the step's background sleep survived: {stat}"
    );
}

#[test]
fn timeouts_fail_a_step_and_cancel_a_job() {
    let (ok, out) = rehearse("timeout", &[]);
    assert!(!ok, "{out}");
    assert_has(
        &out,
        &[
            "✘ slow-step/sleeps failed in",
            "(timeout-minutes reached; ended by SIGINT)",
            "│ the step timed out",
            "⊘ slow-job: timeout-minutes reached, the job is cancelled",
            "│ the job was cancelled",
            "rehearse: 0 jobs passed, 1 failed, 0 skipped, 1 cancelled",
        ],
    );
}

#[test]
fn an_environment_with_reviewers_needs_approval() {
    let (ok, out) = rehearse("approval", &[]);
    assert!(!ok, "{out}");
    assert_has(
        &out,
        &[
            "✘ release failed: job `release` waits for the reviewers of environment `production` and there is no terminal to ask: pass --approve",
        ],
    );
    assert_lacks(&out, &["│ released"]);
    let (ok, out) = rehearse("approval", &["--approve"]);
    assert!(ok, "{out}");
    assert_has(
        &out,
        &["│ released", "rehearse: 1 jobs passed, 0 failed, 0 skipped"],
    );
}

#[test]
fn checkout_is_the_tree_at_the_commit_and_rust_cache_the_project_target() {
    let head = Command::new("git")
        .args(["rev-parse", "HEAD"])
        .current_dir(crate_dir())
        .output()
        .unwrap();
    let head = String::from_utf8(head.stdout).unwrap().trim().to_owned();
    let (ok, out) = rehearse("checkout", &[]);
    assert!(ok, "{out}");
    assert_has(
        &out,
        &[
            &format!(
                "⊘ tree: stood in: actions/checkout → tree at {}",
                &head[..12]
            ),
            &format!("│ checked out {head} with"),
        ],
    );
    let (ok, out) = rehearse("checkout", &["--sha", "no-such-commit"]);
    assert!(!ok);
    assert_has(
        &out,
        &[
            "error: `no-such-commit` is not a commit here: pass --sha with a commit of this repository",
        ],
    );
}

#[test]
fn a_workflow_run_run_is_on_the_default_branch_and_checks_out_the_triggering_commit() {
    let git = |args: &[&str]| {
        let out = Command::new("git")
            .args(args)
            .current_dir(crate_dir())
            .output()
            .unwrap();
        out.status
            .success()
            .then(|| String::from_utf8(out.stdout).unwrap().trim().to_owned())
    };
    let head = git(&["rev-parse", "HEAD"]).unwrap();
    // The triggering CI run's artifacts, one directory per artifact.
    let ci_artifacts = scratch("ci-artifacts");
    std::fs::create_dir_all(ci_artifacts.join("images")).unwrap();
    std::fs::write(ci_artifacts.join("images/images.tar"), "CI's images").unwrap();
    let args = [
        "--event",
        "workflow_run",
        "--ref",
        "develop",
        "--sha",
        &head,
    ];
    let (ok, out) = rehearse("workflow-run", &args);
    assert!(!ok, "CI's artifact is not this run's: {out}");
    assert_has(
        &out,
        &[
            "failed: download-artifact `images` is run ",
            "'s, not this run's: pass --artifacts-from DIR holding `images/`",
        ],
    );
    let with_artifacts = [
        &args[..],
        &["--artifacts-from", ci_artifacts.to_str().unwrap()],
    ]
    .concat();
    let (ok, out) = rehearse("workflow-run", &with_artifacts);
    assert!(ok, "{out}");
    assert_has(&out, &["│ images: CI's images"]);
    // A clone of one commit has no default branch: the run is then on the triggering commit.
    let main = git(&["rev-parse", "--verify", "--quiet", "refs/heads/main"]).unwrap_or_else(|| {
        assert_has(
            &out,
            &["note: no branch `main` here: GITHUB_SHA is the triggering commit"],
        );
        head.clone()
    });
    assert_has(
        &out,
        &[
            &format!("│ run on refs/heads/main at {main}"),
            &format!("│ after ci on develop at {head}"),
            &format!("tree at {head} (its `ref:`)"),
        ],
    );
    // The filters see the triggering run's branch.
    let (ok, out) = rehearse(
        "workflow-run",
        &["--event", "workflow_run", "--ref", "main"],
    );
    assert!(!ok);
    assert_has(
        &out,
        &["after-ci runs on workflow_run only for branches [develop]"],
    );
}

/// A sandbox as `cargo xtask sandbox up` records it, under a target directory of its own: its
/// keeper is this test process, its emulator a listener held for the test.
struct FakeSandbox {
    target: PathBuf,
    _emulator: std::net::TcpListener,
}

/// Each role's access key id; the tests find it lowercased in a step's output (the value itself
/// is masked).
const STAGING_KEY: &str = "SANDBOXSTAGINGKEY";
const PRODUCTION_KEY: &str = "SANDBOXPRODUCTIONKEY";

impl FakeSandbox {
    fn start(name: &str, endpoint: Option<&str>) -> FakeSandbox {
        let emulator = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = emulator.local_addr().unwrap().port();
        let target = scratch(name).join("target");
        let dir = target.join("xtask/sandbox");
        std::fs::create_dir_all(&dir).unwrap();
        let state = format!(
            r#"{{"keeper_pid": {}, "emulator_port": {port}}}"#,
            std::process::id()
        );
        std::fs::write(dir.join("state.json"), state).unwrap();
        let endpoint = endpoint.map_or_else(|| format!("http://127.0.0.1:{port}"), str::to_owned);
        let role = |key: &str| {
            format!(
                r#"{{"AWS_ACCESS_KEY_ID": "{key}", "AWS_SECRET_ACCESS_KEY": "{key}-SECRET", "AWS_SESSION_TOKEN": "{key}-TOKEN", "AWS_ENDPOINT_URL": "{endpoint}", "AWS_REGION": "eu-central-1"}}"#
            )
        };
        let credentials = format!(
            r#"{{"roles": {{"staging": {}, "production": {}}}, "role_arns": {{"staging": "arn:aws:iam::123456789012:role/eventflow-staging-github-deploy", "production": "arn:aws:iam::123456789012:role/eventflow-production-github-deploy"}}}}"#,
            role(STAGING_KEY),
            role(PRODUCTION_KEY)
        );
        std::fs::write(dir.join("credentials.json"), credentials).unwrap();
        FakeSandbox {
            target,
            _emulator: emulator,
        }
    }
}

/// The credentials fixture as a developer with real AWS credentials in their shell and in
/// `~/.aws` would run it, against the sandbox under `target`.
fn rehearse_credentials(name: &str, target: &Path) -> (bool, String) {
    let home = scratch(&format!("{name}-home"));
    std::fs::create_dir_all(home.join(".aws")).unwrap();
    std::fs::write(
        home.join(".aws/credentials"),
        format!(
            "[default]\naws_access_key_id = {}\naws_secret_access_key = home-file-secret\n",
            home_file_key()
        ),
    )
    .unwrap();
    std::fs::write(
        home.join(".aws/config"),
        "[profile dev]\nregion = us-west-2\n",
    )
    .unwrap();
    let secrets = home.join("roles.secrets");
    std::fs::write(
        &secrets,
        "vars.STAGING_ROLE_ARN=arn:aws:iam::999999999999:role/eventflow-staging-github-deploy\nvars.PRODUCTION_ROLE_ARN=eventflow-production-github-deploy\n",
    )
    .unwrap();
    let output = rehearse_command(&[
        "tests/fixtures/credentials.yml",
        "--ref",
        "main",
        "--secrets-file",
        secrets.to_str().unwrap(),
    ])
    .env("CARGO_TARGET_DIR", target)
    .env("HOME", &home)
    .env("AWS_ACCESS_KEY_ID", caller_shell_key())
    .env("AWS_SECRET_ACCESS_KEY", "caller-shell-secret")
    .env("AWS_PROFILE", "dev")
    .output()
    .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

// The fake access keys are put together at run time, so the repository's secrets scan (which
// rightly flags any literal access key) has nothing to find in this file.
fn caller_shell_key() -> String {
    format!("AKIA{}", "CALLERSHELLKEY01")
}

fn home_file_key() -> String {
    format!("AKIA{}", "HOMEFILEKEY00001")
}

/// What of the caller's AWS a step must never see.
fn callers_aws() -> [String; 6] {
    [
        caller_shell_key(),
        "caller-shell-secret".into(),
        home_file_key(),
        "home-file-secret".into(),
        "AWS_PROFILE".into(),
        "us-west-2".into(),
    ]
}

#[test]
fn only_the_sandbox_credentials_of_the_named_role_reach_a_job() {
    let sandbox = FakeSandbox::start("sandbox-roles", None);
    let (ok, out) = rehearse_credentials("sandbox-roles", &sandbox.target);
    assert!(ok, "{out}");
    assert_has(
        &out,
        &[
            "⊘ staging: stood in: aws-actions/configure-aws-credentials → the sandbox's staging role (arn:aws:iam::123456789012:role/eventflow-staging-github-deploy)",
            "(region eu-central-1, the sandbox's, not us-east-1)",
            "│ key id: sandboxstagingkey",
            "│ AWS_ACCESS_KEY_ID=***",
            "│ AWS_SECRET_ACCESS_KEY=***",
            "│ AWS_SESSION_TOKEN=***",
            "│ AWS_EC2_METADATA_DISABLED=true",
            "│ credentials file: []",
            "│ config file: []",
            "│ key id: sandboxproductionkey region eu-central-1",
            "│ metadata disabled: true",
            "rehearse: 3 jobs passed, 0 failed, 0 skipped",
        ],
    );
    assert_lacks(&out, &callers_aws());
    assert_lacks(&out, &[STAGING_KEY, &format!("{PRODUCTION_KEY}-SECRET")]);
    // The job without a credentials step has none at all.
    let plain = &out[at(&out, "▶ plain")..];
    assert_lacks(plain, &["AWS_ACCESS_KEY_ID", "AWS_SESSION_TOKEN"]);
}

#[test]
fn without_a_running_sandbox_the_credentials_step_fails_in_one_line() {
    let nothing = scratch("no-sandbox").join("target");
    let (ok, out) = rehearse_credentials("no-sandbox", &nothing);
    assert!(!ok, "{out}");
    assert_has(
        &out,
        &[
            "✘ staging/aws-actions/configure-aws-credentials failed: no sandbox is running: start it with `cargo xtask sandbox up`\n",
            "- staging/environment skipped (if: success())",
            "- production skipped (if: success())",
        ],
    );
    assert_lacks(&out, &callers_aws());

    // Recorded, but its keeper is gone.
    let sandbox = FakeSandbox::start("dead-sandbox", None);
    let state = sandbox.target.join("xtask/sandbox/state.json");
    let text = std::fs::read_to_string(&state).unwrap();
    let dead = text.replace(&std::process::id().to_string(), &i32::MAX.to_string());
    std::fs::write(&state, dead).unwrap();
    let (ok, out) = rehearse_credentials("dead-sandbox", &sandbox.target);
    assert!(!ok, "{out}");
    assert_has(
        &out,
        &[
            "failed: the recorded sandbox is not running: run `cargo xtask sandbox down`, then start it with `cargo xtask sandbox up`\n",
        ],
    );
}

#[test]
fn an_aws_endpoint_that_is_not_loopback_is_refused() {
    let sandbox = FakeSandbox::start(
        "remote-sandbox",
        Some("https://sts.eu-central-1.amazonaws.com"),
    );
    let (ok, out) = rehearse_credentials("remote-sandbox", &sandbox.target);
    assert!(!ok, "{out}");
    assert_has(
        &out,
        &[
            "✘ staging/aws-actions/configure-aws-credentials failed: the sandbox's ",
            " role: AWS_ENDPOINT_URL=https://sts.eu-central-1.amazonaws.com is not loopback",
            "- staging/environment skipped (if: success())",
        ],
    );

    let (ok, out) = rehearse("remote-endpoint", &[]);
    assert!(!ok, "{out}");
    assert_has(
        &out,
        &[
            "✘ remote/calls AWS failed: AWS_ENDPOINT_URL=https://sts.eu-central-1.amazonaws.com is not loopback: the rehearsal sends AWS calls only to the sandbox (`cargo xtask sandbox up`)",
        ],
    );
    assert_lacks(&out, &["│ called AWS"]);
}

#[test]
fn a_stood_in_job_prints_its_commands_runs_none_and_succeeds_with_empty_outputs() {
    // Run, the job fails (at its credentials, the sandbox has no Terraform role): the fixture can
    // tell a stand-in from a run.
    let (ok, out) = rehearse("stand-in", &[]);
    assert!(!ok, "{out}");
    assert_has(&out, &["✘ infra failed", "- deploy skipped"]);

    let (ok, out) = rehearse("stand-in", &["--stand-in", "infra"]);
    assert!(ok, "{out}");
    assert_has(
        &out,
        &[
            "stood in (--stand-in infra): nothing runs; the commands it would run:",
            "⊘ infra: stood in: aws-actions/configure-aws-credentials → the sandbox's credentials for role `arn:aws:iam::999999999999:role/eventflow-staging-github-terraform`",
            "  infra/plan: $ bash -e",
            "    │ echo \"terraform plan ran\"",
            "  infra/terraform apply: $ bash -e",
            "    │ echo \"terraform apply ran\"",
            "- infra/echo \"infra failed\" skipped (if: failure())",
            "⊘ infra stood in: success, outputs empty, nothing ran",
            "│ infra success, plan ''",
            "rehearse: 1 jobs passed, 0 failed, 0 skipped, 1 stood in (infra)",
        ],
    );
    assert_lacks(&out, &["  │ terraform plan ran", "  │ terraform apply ran"]);

    let (ok, out) = rehearse("stand-in", &["--stand-in", "infar"]);
    assert!(!ok);
    assert_eq!(
        out.trim(),
        "error: --stand-in names job `infar`, which is not one of [infra, deploy]"
    );
}

/// Every workflow of the repository, for every event it declares, rehearses dry: a YAML edit
/// the rehearsal can't follow fails here.
#[test]
fn every_real_workflow_rehearses_dry_for_each_of_its_events() {
    let dir = crate_dir().join("../../.github/workflows");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml"))
        .collect();
    files.sort();
    assert!(files.len() >= 5, "{files:?}");
    for file in files {
        let workflow = xtask_rehearse::workflow::load(&file).unwrap();
        for trigger in &workflow.triggers {
            let branch = trigger
                .branches
                .iter()
                .find(|b| !b.starts_with('!') && !b.contains('*'))
                .map_or("main", String::as_str);
            let path = file.to_str().unwrap();
            let (ok, out) = {
                let output = rehearse_command(&[
                    path,
                    "--event",
                    &trigger.event,
                    "--ref",
                    branch,
                    "--dry-run",
                ])
                .output()
                .unwrap();
                (
                    output.status.success(),
                    format!(
                        "{}{}",
                        String::from_utf8_lossy(&output.stdout),
                        String::from_utf8_lossy(&output.stderr)
                    ),
                )
            };
            let context = format!("{} on {}", file.display(), trigger.event);
            assert!(ok, "{context}:\n{out}");
            let order = out
                .lines()
                .find_map(|l| l.strip_prefix("  jobs in order: "))
                .unwrap_or_else(|| panic!("{context}: no job order in\n{out}"));
            for job in &workflow.jobs {
                assert!(
                    order.split(" → ").any(|j| j == job.id),
                    "{context}: {} missing from {order}",
                    job.id
                );
                assert!(
                    out.contains(&format!("▶ {}", job.id))
                        || out.contains(&format!("- {} skipped", job.id)),
                    "{context}: no line for job {}:\n{out}",
                    job.id
                );
            }
            assert!(
                out.lines()
                    .last()
                    .unwrap_or_default()
                    .starts_with("rehearse: dry run, "),
                "{context}:\n{out}"
            );
        }
    }
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rehearse-test-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `kill -<signal> <pid>`: a signal for the rehearsal, without unsafe code in the test.
fn unsafe_free_kill(pid: u32, signal: &str) {
    let status = Command::new("kill")
        .args([format!("-{signal}"), pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}
