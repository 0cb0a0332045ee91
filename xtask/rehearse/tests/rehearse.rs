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
fn assert_lacks(text: &str, unwanted: &[&str]) {
    for line in unwanted {
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
    let (ok, out) = rehearse(
        "workflow-run",
        &[
            "--event",
            "workflow_run",
            "--ref",
            "develop",
            "--sha",
            &head,
        ],
    );
    assert!(ok, "{out}");
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
