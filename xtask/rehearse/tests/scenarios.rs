//! Scenarios: the repository's real workflow files rehearsed end to end in a scratch clone, each
//! asserting the final state — which steps ran, what the scanners found, which notifications the
//! local Slack webhook and SMTP relay received — and each able to fail on planted bad input.
//!
//! They compile and run the xtask inside the clone (minutes, the security scan's tools), so plain
//! `cargo test` leaves them out; run them with
//! `cargo test -p xtask-rehearse --test scenarios` (docs/ci.md, "Rehearsing the workflows").
//! The scan scenarios need the security tools on PATH (`.ci/requirements.txt`, cargo-deny) and,
//! without network, `EVENTFLOW_ADVISORY_DB`, as `cargo xtask security-scan` does.

mod scenario;

use scenario::{Receivers, Scratch, Secrets, assert_has, assert_lacks};
use xtask_rehearse::workflow::Workflow;

/// An AWS access key id in detect-secrets' credential format (high, so blocking), put together at
/// run time so that this file itself holds no credential.
fn planted_aws_key() -> String {
    format!("AKIA{}", "Q7EVENTFLOWSCAN2")
}

/// The job of `workflow` that notifies on failure, and the text of its notify step's command.
fn notifying_job(workflow: &Workflow) -> (&str, String) {
    workflow
        .jobs
        .iter()
        .find_map(|job| {
            job.steps.iter().find_map(|step| {
                let run = step.run.as_deref()?;
                let on_failure = step.condition.as_deref()?.contains("failure()");
                (on_failure && run.contains("xtask notify"))
                    .then(|| (job.id.as_str(), run.trim().to_owned()))
            })
        })
        .expect("a job with an `if: failure()` `cargo xtask notify` step")
}

/// The title the notify step sends (`--title "…"`).
fn notify_title(command: &str) -> String {
    command
        .split_once("--title \"")
        .and_then(|(_, rest)| rest.split_once('"'))
        .map(|(title, _)| title.to_owned())
        .unwrap_or_else(|| panic!("no --title in `{command}`"))
}

#[test]
fn security_scan_on_schedule_notifies_slack_and_email_of_a_planted_secret() {
    let scratch = Scratch::new("scan-finding");
    let workflow = scratch.workflow("security-scan");
    let (job, notify) = notifying_job(&workflow);
    let title = notify_title(&notify);
    scratch.commit_file(
        "backend/config/legacy.env",
        &format!("AWS_ACCESS_KEY_ID={}\n", planted_aws_key()),
        "a planted credential",
    );
    let receivers = Receivers::start();
    let secrets = Secrets::for_receivers(&scratch, &receivers);

    let (ok, out) = scratch.rehearse(
        &["security-scan", "--event", "schedule", "--ref", "main"],
        &secrets,
    );

    assert!(!ok, "a blocking finding fails the run:\n{out}");
    assert_has(
        &out,
        &[
            &format!("✘ {job}/cargo xtask security-scan failed"),
            &format!("✔ {job}/{notify} passed"),
            "rehearse: 0 jobs passed, 1 failed, 0 skipped",
        ],
    );
    let blocking = scenario::blocking_findings(&out);
    assert!(blocking >= 1, "the planted key blocks:\n{out}");
    // Neither the planted key nor the notification secrets are printed.
    assert_lacks(
        &out,
        &[
            &planted_aws_key(),
            &receivers.slack_url(),
            &receivers.smtp_url(),
        ],
    );
    receivers.assert_notified_once(&title, "failure");
}

#[test]
fn security_scan_on_schedule_without_findings_notifies_nobody() {
    let scratch = Scratch::new("scan-clean");
    let workflow = scratch.workflow("security-scan");
    let (job, notify) = notifying_job(&workflow);
    let receivers = Receivers::start();
    let secrets = Secrets::for_receivers(&scratch, &receivers);

    let (ok, out) = scratch.rehearse(
        &["security-scan", "--event", "schedule", "--ref", "main"],
        &secrets,
    );

    assert!(ok, "{out}");
    assert_has(
        &out,
        &[
            &format!("✔ {job}/cargo xtask security-scan passed"),
            &format!("- {job}/{notify} skipped (if: failure())"),
            "rehearse: 1 jobs passed, 0 failed, 0 skipped",
        ],
    );
    assert_eq!(scenario::blocking_findings(&out), 0, "{out}");
    receivers.assert_silent();
}

/// A `run:` step that breaks, planted before the scan: the run fails at it, the scan never runs,
/// and the failure path notifies.
#[test]
fn a_planted_breaking_step_fails_the_real_workflow_and_notifies() {
    let scratch = Scratch::new("planted-step");
    let workflow = scratch.workflow("security-scan");
    let (job, notify) = notifying_job(&workflow);
    let title = notify_title(&notify);
    scratch.edit_workflow(
        "security-scan",
        "      - run: cargo xtask security-scan\n",
        "      - name: planted breakage\n        run: exit 3\n      - run: cargo xtask security-scan\n",
    );
    let receivers = Receivers::start();
    let secrets = Secrets::for_receivers(&scratch, &receivers);

    let (ok, out) = scratch.rehearse(
        &["security-scan", "--event", "schedule", "--ref", "main"],
        &secrets,
    );

    assert!(!ok, "{out}");
    assert_has(
        &out,
        &[
            &format!("✘ {job}/planted breakage failed"),
            "(exit code 3)",
            &format!("- {job}/cargo xtask security-scan skipped (if: success())"),
            &format!("✔ {job}/{notify} passed"),
            "rehearse: 0 jobs passed, 1 failed, 0 skipped",
        ],
    );
    receivers.assert_notified_once(&title, "failure");
}

/// A job whose need fails is skipped with everything after it: the first job of cd-staging
/// breaks, so nothing is deployed, and that job's failure path notifies.
#[test]
fn a_failed_need_skips_the_dependent_jobs_of_the_real_workflow() {
    let scratch = Scratch::new("failed-need");
    let workflow = scratch.workflow("cd-staging");
    let dependent = workflow
        .jobs
        .iter()
        .find(|job| !job.needs.is_empty())
        .expect("cd-staging has a job with `needs:`");
    let needed = dependent.needs[0].clone();
    let needed_job = workflow.jobs.iter().find(|j| j.id == needed).unwrap();
    // Planted before the needed job's credentials step, which fails by itself without a sandbox;
    // the steps after it, the first `run:` among them, are then skipped.
    let credentials = "aws-actions/configure-aws-credentials";
    assert!(
        needed_job.steps.iter().any(|s| s
            .uses
            .as_deref()
            .is_some_and(|u| u.starts_with(credentials))),
        "job `{needed}` takes AWS credentials: update the scenario"
    );
    let first_run = needed_job
        .steps
        .iter()
        .find_map(|s| s.run.as_deref())
        .expect("the needed job runs a command")
        .trim()
        .to_owned();
    scratch.plant_step_before(
        "cd-staging",
        &needed,
        credentials,
        "      - name: planted breakage\n        run: exit 3",
    );
    let receivers = Receivers::start();
    let mut secrets = Secrets::for_receivers(&scratch, &receivers);
    secrets.fill_for(&scratch, "cd-staging");

    let (ok, out) = scratch.rehearse(
        &["cd-staging", "--event", "workflow_run", "--ref", "develop"],
        &secrets,
    );

    assert!(!ok, "{out}");
    assert_has(
        &out,
        &[
            &format!("✘ {needed}/planted breakage failed"),
            &format!("- {needed}/{credentials} skipped (if: success())"),
            &format!("- {needed}/{first_run} skipped (if: success())"),
            &format!("- {} skipped (if: success())", dependent.id),
        ],
    );
    assert_lacks(&out, &[&format!("▶ {}", dependent.id)]);
    let (_, notify) = notifying_job(&workflow);
    receivers.assert_notified_once(&notify_title(&notify), "failure");
}

/// A need the workflow doesn't have is refused before anything runs.
#[test]
fn a_mistyped_need_in_the_real_workflow_is_refused_before_anything_runs() {
    let scratch = Scratch::new("unmet-need");
    let workflow = scratch.workflow("cd-staging");
    let dependent = workflow
        .jobs
        .iter()
        .find(|job| !job.needs.is_empty())
        .expect("cd-staging has a job with `needs:`");
    let needed = &dependent.needs[0];
    let typo = format!("{needed}x");
    scratch.edit_workflow(
        "cd-staging",
        &format!("needs: [{needed}]"),
        &format!("needs: [{typo}]"),
    );
    let receivers = Receivers::start();
    let mut secrets = Secrets::for_receivers(&scratch, &receivers);
    secrets.fill_for(&scratch, "cd-staging");

    let (ok, out) = scratch.rehearse(
        &["cd-staging", "--event", "workflow_run", "--ref", "develop"],
        &secrets,
    );

    assert!(!ok, "{out}");
    assert_eq!(
        out.trim(),
        format!(
            "error: job `{}` needs `{typo}`, which the workflow doesn't have: fix its `needs:`",
            dependent.id
        )
    );
    receivers.assert_silent();
}

/// A secret name the secrets file lacks (a typo in the workflow) fails the rehearsal, naming it,
/// before any step runs.
#[test]
fn a_mistyped_secret_in_the_real_workflow_fails_before_anything_runs() {
    let scratch = Scratch::new("secret-typo");
    scratch.edit_workflow(
        "security-scan",
        "${{ secrets.SLACK_WEBHOOK_URL }}",
        "${{ secrets.SLACK_WEBHOK_URL }}",
    );
    let receivers = Receivers::start();
    let secrets = Secrets::for_receivers(&scratch, &receivers);

    let (ok, out) = scratch.rehearse(
        &["security-scan", "--event", "schedule", "--ref", "main"],
        &secrets,
    );

    assert!(!ok, "{out}");
    assert_has(
        &out,
        &[
            "secret `SLACK_WEBHOK_URL` is not in",
            "add a `SLACK_WEBHOK_URL=…` line, or fix the name in the workflow",
        ],
    );
    assert_lacks(&out, &["▶ ", &receivers.slack_url()]);
    receivers.assert_silent();
}

/// The helpers that read the output, on planted text: a summary line they can't read fails.
#[test]
fn the_output_readers_find_the_findings_and_the_title() {
    let out = "  │ security-scan: 4 scanner(s) ran, 3 NOT RUN (npm-audit, images); 2 blocking finding(s), 0 accepted\n";
    assert_eq!(scenario::blocking_findings(out), 2);
    assert!(
        std::panic::catch_unwind(|| scenario::blocking_findings("security-scan: 1 passed"))
            .is_err()
    );
    assert_eq!(
        notify_title(r#"cargo xtask notify --status failure --title "security scan failed""#),
        "security scan failed"
    );
}
