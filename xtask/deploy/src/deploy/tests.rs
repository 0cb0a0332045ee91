//! The deploy state machine against scripted AWS responses: every way a deploy can end.

use std::sync::Mutex;

use super::*;
use crate::aws::ErrorKind;
use crate::aws::fake::{ACCOUNT, Fake, Rollout, arn};
use crate::config;
use crate::ledger::Outcome;
use crate::verify::Health;

const GOOD: &str = "1111111111111111111111111111111111111111";
const NEW: &str = "2222222222222222222222222222222222222222";

fn image(tag: &str) -> String {
    format!("{ACCOUNT}.dkr.ecr.eu-central-1.amazonaws.com/eventflow-backend:{tag}")
}

/// Staging runs GOOD as eventflow-backend:1; NEW is in ECR as `v2` (and its sha).
fn staging() -> Fake {
    Fake::default()
        .with_service("backend", "eventflow-backend", "backend", &image(GOOD))
        .with_image("eventflow-backend", "sha256:good", &[GOOD])
        .with_image("eventflow-backend", "sha256:new", &[NEW, "v2"])
}

/// `/health` reports the sha of the image the service runs; shas in `unhealthy` answer 503.
struct FakeChecks<'a> {
    fake: &'a Fake,
    unhealthy: Vec<&'static str>,
    e2e_fails: bool,
    e2e_runs: Mutex<usize>,
}

impl<'a> FakeChecks<'a> {
    fn new(fake: &'a Fake) -> Self {
        FakeChecks {
            fake,
            unhealthy: Vec::new(),
            e2e_fails: false,
            e2e_runs: Mutex::new(0),
        }
    }
}

impl Checks for FakeChecks<'_> {
    async fn health(&self, _url: &str) -> Result<Health> {
        let td = self.fake.service_task_definition("backend");
        let (td, _) = self.fake.describe_task_definition(&td).await?;
        let sha = taskdef::tag_of(taskdef::image_of(&td, "backend").unwrap())
            .unwrap()
            .to_owned();
        let sha = if sha == "v2" { NEW.to_owned() } else { sha };
        let status = if self.unhealthy.contains(&sha.as_str()) {
            503
        } else {
            200
        };
        // Every build here knows migrations up to 3, on a database at floor 3.
        Ok(Health {
            status,
            git_sha: Some(sha),
            known_migration: Some(3),
            schema_floor: Some(3),
        })
    }

    fn e2e_preflight(&self) -> Result<()> {
        Ok(())
    }

    async fn e2e(&self, _base_url: &str) -> Result<()> {
        *self.e2e_runs.lock().unwrap() += 1;
        if self.e2e_fails {
            bail!(
                "the end-to-end suite failed against https://staging.eventflow.example.com (exit status: 101)"
            );
        }
        Ok(())
    }

    async fn smoke(&self, _base_url: &str) -> Result<()> {
        bail!("a staging deploy runs no smoke tests")
    }
}

fn yes(_: &str, _: &str) -> Result<bool> {
    Ok(true)
}

struct Run {
    finish: Result<Finish>,
    lines: Vec<String>,
    notices: Vec<crate::notify::NoticeResult>,
}

async fn run_with(
    fake: &Fake,
    checks: &FakeChecks<'_>,
    opts: Options,
    cancel: Cancel,
    e2e: bool,
) -> Run {
    let mut config = config::example();
    config.e2e = e2e;
    run_config(fake, checks, opts, cancel, &config).await
}

async fn run_config(
    fake: &Fake,
    checks: &FakeChecks<'_>,
    opts: Options,
    cancel: Cancel,
    config: &config::Config,
) -> Run {
    let console = Console::quiet();
    let notifier = crate::notify::Recording::default();
    let mut ctx = Context {
        config,
        platform: fake,
        checks,
        console: &console,
        prompt: &yes,
        cancel,
        actor: "tester".to_owned(),
        notifier: &notifier,
    };
    let finish = deploy(&mut ctx, &opts).await;
    Run {
        finish,
        lines: console.lines(),
        notices: notifier.results(),
    }
}

fn opts(tag: &str) -> Options {
    Options {
        image_tag: Some(tag.to_owned()),
        yes: true,
        timeout: Some(120),
        ..Options::default()
    }
}

fn no_cancel() -> Cancel {
    tokio::sync::watch::channel(false).1
}

async fn run(fake: &Fake, checks: &FakeChecks<'_>, tag: &str) -> Run {
    run_with(fake, checks, opts(tag), no_cancel(), true).await
}

fn ledger_results(fake: &Fake) -> Vec<(String, Outcome)> {
    fake.releases("eventflow-staging-deploy-state")
        .iter()
        .map(|v| {
            let r: Release = serde_json::from_str(v).unwrap();
            (r.image_tag, r.result)
        })
        .collect()
}

fn lock_is_free(fake: &Fake) -> bool {
    fake.lease("eventflow-staging-deploy-state").is_none()
}

fn rolled_back(run: &Run) -> &str {
    match &run.finish {
        Ok(Finish::RolledBack(text)) => text,
        other => panic!(
            "expected a rollback, got {other:?}\n{}",
            run.lines.join("\n")
        ),
    }
}

#[tokio::test(start_paused = true)]
async fn a_good_tag_is_deployed_waited_for_and_verified() {
    let fake = staging().rollouts(&[Rollout::Completes(3)]);
    let checks = FakeChecks::new(&fake);
    let run = run(&fake, &checks, "v2").await;
    assert_eq!(
        run.finish.unwrap(),
        Finish::Verified,
        "{}",
        run.lines.join("\n")
    );
    assert!(
        run.notices.is_empty(),
        "a verified staging deploy sends nothing"
    );
    assert_eq!(
        fake.service_task_definition("backend"),
        arn("eventflow-backend", 2)
    );
    assert_eq!(
        fake.writes(),
        [
            "dynamodb:PutItem eventflow-staging-deploy-state staging/lock",
            &format!(
                "dynamodb:PutItem eventflow-staging-deploy-state staging/release#{}",
                id(&fake)
            ),
            "ecs:RegisterTaskDefinition eventflow-backend",
            &format!(
                "dynamodb:PutItem eventflow-staging-deploy-state staging/release#{}",
                id(&fake)
            ),
            "ecs:UpdateService eventflow-staging/backend eventflow-backend:2",
            &format!(
                "dynamodb:PutItem eventflow-staging-deploy-state staging/release#{}",
                id(&fake)
            ),
            "dynamodb:DeleteItem eventflow-staging-deploy-state staging/lock",
        ]
    );
    assert_eq!(
        ledger_results(&fake),
        [("v2".to_owned(), Outcome::Verified)]
    );
    assert!(lock_is_free(&fake));
    assert_eq!(*checks.e2e_runs.lock().unwrap(), 1);
    let text = run.lines.join("\n");
    assert!(
        text.contains(&format!(
            "+ containerDefinitions[backend].image: {}",
            image("v2")
        )),
        "{text}"
    );
    assert!(
        text.contains("backend: 1/2 task(s) running on eventflow-backend:2, rollout IN_PROGRESS"),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "GET https://staging.eventflow.example.com/health: 200, git_sha {NEW}"
        )),
        "{text}"
    );
    let release: Release =
        serde_json::from_str(&fake.releases("eventflow-staging-deploy-state")[0]).unwrap();
    assert_eq!(release.git_sha, NEW);
    assert_eq!(release.image_digests["backend"], "sha256:new");
    assert_eq!(release.previous["backend"], arn("eventflow-backend", 1));
    assert_eq!(
        release.task_definitions["backend"],
        arn("eventflow-backend", 2)
    );
    assert_eq!(release.actor, "tester");
    assert_eq!(
        release.schema,
        Some(crate::ledger::Schema {
            known_migration: 3,
            floor: Some(3)
        }),
        "the verified release records what its /health reported"
    );
}

fn id(fake: &Fake) -> String {
    let body = &fake.releases("eventflow-staging-deploy-state")[0];
    serde_json::from_str::<Release>(body).unwrap().id
}

#[tokio::test(start_paused = true)]
async fn a_rollout_that_never_completes_times_out_and_rolls_back() {
    let fake = staging().rollouts(&[Rollout::Stuck]);
    let checks = FakeChecks::new(&fake);
    let run = run(&fake, &checks, "v2").await;
    let text = rolled_back(&run);
    assert_eq!(
        run.notices,
        [crate::notify::NoticeResult::RolledBack],
        "staging's automatic rollback is notified"
    );
    assert!(
        text.contains(
            "backend: the rollout did not complete within 120s (last: 1/2 task(s) running"
        ),
        "{text}"
    );
    assert!(
        text.ends_with(&format!(
            "staging now: backend runs eventflow-backend:1 ({})",
            image(GOOD)
        )),
        "{text}"
    );
    assert_eq!(
        fake.service_task_definition("backend"),
        arn("eventflow-backend", 1)
    );
    assert_eq!(
        ledger_results(&fake),
        [("v2".to_owned(), Outcome::RolledBack)]
    );
    assert!(lock_is_free(&fake));
    assert_eq!(*checks.e2e_runs.lock().unwrap(), 0);
}

#[tokio::test(start_paused = true)]
async fn tasks_that_keep_failing_end_the_rollout_early_and_the_deploy_rolls_back_with_their_reasons()
 {
    let fake = staging()
        .rollouts(&[Rollout::Stuck])
        .failing_tasks("backend", 1)
        .with_history(
            "backend",
            &["(service backend) has started 1 tasks: (task 9f0e)."],
            &[("9f0e", "Essential container in task exited")],
        );
    let checks = FakeChecks::new(&fake);
    let started = tokio::time::Instant::now();
    let run = run(&fake, &checks, "v2").await;
    let text = rolled_back(&run);
    // Well before the 120 s timeout, restore included.
    assert!(
        started.elapsed() < std::time::Duration::from_secs(100),
        "{:?}",
        started.elapsed()
    );
    for part in [
        "backend: tasks keep failing to start: failedTasks rose from 0 to 3 while waiting",
        "stopped tasks: 9f0e (Essential container in task exited; exit code 1)",
        "newest events: \"(service backend) has started 1 tasks: (task 9f0e).\"",
    ] {
        assert!(text.contains(part), "{part:?} missing from: {text}");
    }
    assert_eq!(
        fake.service_task_definition("backend"),
        arn("eventflow-backend", 1)
    );
    assert_eq!(
        ledger_results(&fake),
        [("v2".to_owned(), Outcome::RolledBack)]
    );
    assert!(lock_is_free(&fake));
}

#[tokio::test(start_paused = true)]
async fn a_circuit_breaker_rollback_is_a_failed_deploy_not_a_stable_service() {
    let fake = staging().rollouts(&[Rollout::CircuitBreaker(2)]);
    let checks = FakeChecks::new(&fake);
    let run = run(&fake, &checks, "v2").await;
    let text = rolled_back(&run);
    assert!(
        text.contains("backend: ECS rolled the service back to eventflow-backend:1 (deployment circuit breaker): ECS deployment circuit breaker: tasks failed to start."),
        "{text}"
    );
    // ECS already put the old revision back: no second UpdateService.
    let updates = fake
        .writes()
        .into_iter()
        .filter(|c| c.starts_with("ecs:UpdateService"))
        .count();
    assert_eq!(updates, 1);
    assert!(
        run.lines
            .iter()
            .any(|l| l == "  backend: already on eventflow-backend:1")
    );
    assert_eq!(
        ledger_results(&fake),
        [("v2".to_owned(), Outcome::RolledBack)]
    );
}

/// DescribeServices is eventually consistent: right after the UpdateService it may still show
/// the old revision as the settled primary, which without the started deployment's id looks
/// exactly like the circuit breaker's rollback.
#[tokio::test(start_paused = true)]
async fn a_stale_first_read_is_waited_out_not_judged_a_circuit_breaker_rollback() {
    let fake = staging().rollouts(&[Rollout::Completes(1)]).stale_reads(2);
    let checks = FakeChecks::new(&fake);
    let run = run(&fake, &checks, "v2").await;
    assert_eq!(
        run.finish.as_ref().unwrap(),
        &Finish::Verified,
        "{:#?}",
        run.lines
    );
    assert!(
        run.lines
            .iter()
            .any(|l| l.contains("ECS does not list deployment ecs-svc/2 yet (a stale read)")),
        "{:#?}",
        run.lines
    );
    let updates = fake
        .writes()
        .into_iter()
        .filter(|c| c.starts_with("ecs:UpdateService"))
        .count();
    assert_eq!(updates, 1, "no rollback");
    assert_eq!(
        ledger_results(&fake),
        [("v2".to_owned(), Outcome::Verified)]
    );
}

#[tokio::test(start_paused = true)]
async fn a_failed_rollout_rolls_back() {
    let fake = staging().rollouts(&[Rollout::Fails(1)]);
    let checks = FakeChecks::new(&fake);
    let run = run(&fake, &checks, "v2").await;
    assert!(rolled_back(&run).contains("the rollout of eventflow-backend:2 FAILED: tasks failed to start (3 task(s) failed to start)"));
    assert_eq!(
        fake.service_task_definition("backend"),
        arn("eventflow-backend", 1)
    );
}

#[tokio::test(start_paused = true)]
async fn a_failing_health_check_rolls_back_and_verifies_the_old_release() {
    let fake = staging();
    let mut checks = FakeChecks::new(&fake);
    checks.unhealthy = vec![NEW];
    let run = run(&fake, &checks, "v2").await;
    let text = rolled_back(&run);
    assert!(text.contains("health check failed: GET https://staging.eventflow.example.com/health answered 503 (for 20s)"), "{text}");
    assert_eq!(
        fake.service_task_definition("backend"),
        arn("eventflow-backend", 1)
    );
    assert!(
        run.lines
            .iter()
            .any(|l| l.contains(&format!("200, git_sha {GOOD}"))),
        "the rollback is verified"
    );
    let updates: Vec<_> = fake
        .writes()
        .into_iter()
        .filter(|c| c.starts_with("ecs:UpdateService"))
        .collect();
    assert_eq!(
        updates,
        [
            "ecs:UpdateService eventflow-staging/backend eventflow-backend:2",
            "ecs:UpdateService eventflow-staging/backend eventflow-backend:1"
        ]
    );
    assert!(lock_is_free(&fake));
}

#[tokio::test(start_paused = true)]
async fn a_wrong_git_sha_is_a_failed_health_check() {
    // The tag `v3` is on an image whose git sha isn't what the service will report.
    let fake = staging().with_image(
        "eventflow-backend",
        "sha256:v3",
        &["v3", "3333333333333333333333333333333333333333"],
    );
    let checks = FakeChecks::new(&fake);
    let run = run(&fake, &checks, "v3").await;
    let text = rolled_back(&run);
    assert!(
        text.contains(
            "answered 200 with git_sha v3, expected 3333333333333333333333333333333333333333"
        ),
        "{text}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_failing_end_to_end_suite_rolls_back() {
    let fake = staging();
    let mut checks = FakeChecks::new(&fake);
    checks.e2e_fails = true;
    let run = run(&fake, &checks, "v2").await;
    assert!(rolled_back(&run).contains("the end-to-end suite failed against"));
    assert_eq!(
        fake.service_task_definition("backend"),
        arn("eventflow-backend", 1)
    );
    assert_eq!(
        ledger_results(&fake),
        [("v2".to_owned(), Outcome::RolledBack)]
    );
}

#[tokio::test(start_paused = true)]
async fn ctrl_c_while_waiting_rolls_back_and_releases_the_lock() {
    let (sender, cancel) = tokio::sync::watch::channel(false);
    let fake = staging()
        .rollouts(&[Rollout::Stuck])
        .interrupt_after_polls(2, sender);
    let checks = FakeChecks::new(&fake);
    let run = run_with(&fake, &checks, opts("v2"), cancel, true).await;
    // Rolled back first, then marked cancelled; the run ends non-zero.
    let Ok(Finish::Failed(text)) = &run.finish else {
        panic!("{:?}", run.finish)
    };
    assert!(
        text.contains("interrupted (Ctrl-C) while waiting for the rollout; rolled back, verified"),
        "{text}"
    );
    assert_eq!(
        fake.service_task_definition("backend"),
        arn("eventflow-backend", 1)
    );
    assert!(lock_is_free(&fake));
    assert_eq!(
        ledger_results(&fake),
        [("v2".to_owned(), Outcome::Cancelled)]
    );
}

#[tokio::test(start_paused = true)]
async fn a_held_lock_refuses_the_second_deploy_and_changes_nothing() {
    let fake = staging();
    let holder = serde_json::json!({
        "owner": "alice pid 7", "operation": "deploy v1", "token": "t",
        "acquired_ms": 1_900_000_000_000u64, "expires_ms": 4_000_000_000_000u64
    });
    fake.set_lease("eventflow-staging-deploy-state", "staging", &holder);
    let checks = FakeChecks::new(&fake);
    let run = run(&fake, &checks, "v2").await;
    let err = run.finish.unwrap_err().to_string();
    assert_eq!(
        err,
        "staging is locked: deploy v1 by alice pid 7 since 2030-03-17T17:46:40Z, until 2096-10-02T07:06:40Z (renewed while it runs): wait for it to finish; a dead run's lease expires within 60 s"
    );
    assert_eq!(
        fake.writes(),
        ["dynamodb:PutItem eventflow-staging-deploy-state staging/lock"]
    );
    assert!(!lock_is_free(&fake), "someone else's lock stays");
}

#[tokio::test(start_paused = true)]
async fn an_expired_lock_is_taken_over() {
    let fake = staging();
    let holder = serde_json::json!({
        "owner": "bob pid 9", "operation": "deploy v1", "token": "t",
        "acquired_ms": 1_000u64, "expires_ms": 2_000u64
    });
    fake.set_lease("eventflow-staging-deploy-state", "staging", &holder);
    let checks = FakeChecks::new(&fake);
    let run = run(&fake, &checks, "v2").await;
    assert_eq!(run.finish.unwrap(), Finish::Verified);
    assert!(lock_is_free(&fake));
}

#[tokio::test(start_paused = true)]
async fn throttled_polls_are_retried_and_the_deploy_goes_on() {
    let fake = staging()
        .rollouts(&[Rollout::Completes(1)])
        .failing_after_update(
            "ecs:DescribeServices",
            ErrorKind::Throttled,
            "ThrottlingException: Rate exceeded",
            3,
        );
    let checks = FakeChecks::new(&fake);
    let run = run(&fake, &checks, "v2").await;
    assert_eq!(
        run.finish.unwrap(),
        Finish::Verified,
        "{}",
        run.lines.join("\n")
    );
    let text = run.lines.join("\n");
    assert!(
        text.contains("AWS is throttling requests even after retries"),
        "{text}"
    );
    assert!(text.contains("(poll 3 of 5, retrying)"), "{text}");
}

#[tokio::test(start_paused = true)]
async fn a_throttled_update_rolls_back_with_the_fix_in_the_message() {
    let fake = staging().failing(
        "ecs:UpdateService",
        ErrorKind::Throttled,
        "ThrottlingException: Rate exceeded",
        1,
    );
    let checks = FakeChecks::new(&fake);
    let run = run(&fake, &checks, "v2").await;
    let text = rolled_back(&run);
    assert!(text.contains("ecs:UpdateService: AWS is throttling requests even after retries with backoff (ThrottlingException: Rate exceeded): wait a minute and run the command again"), "{text}");
    assert_eq!(
        fake.service_task_definition("backend"),
        arn("eventflow-backend", 1)
    );
    assert!(lock_is_free(&fake));
}

#[tokio::test(start_paused = true)]
async fn expired_credentials_are_one_line_with_the_fix_and_leave_nothing_behind() {
    let fake = staging().failing(
        "ecs:DescribeServices",
        ErrorKind::Credentials,
        "ExpiredTokenException: The security token included in the request is expired",
        1,
    );
    let checks = FakeChecks::new(&fake);
    let run = run(&fake, &checks, "v2").await;
    let err = format!("{:#}", run.finish.unwrap_err());
    assert_eq!(
        err,
        "ecs:DescribeServices: no valid AWS credentials (ExpiredTokenException: The security token included in the request is expired): refresh them (`aws sso login`, or re-run the workflow's credentials step) and run the command again"
    );
    assert!(lock_is_free(&fake));
    assert_eq!(fake.task_definition_count(), 1, "no revision registered");
}

#[tokio::test(start_paused = true)]
async fn a_tag_missing_from_ecr_is_refused_before_anything_changes() {
    let fake = staging();
    let checks = FakeChecks::new(&fake);
    let run = run(&fake, &checks, "v9").await;
    assert!(
        run.finish
            .unwrap_err()
            .to_string()
            .starts_with("image eventflow-backend:v9 is not in ECR: push it first")
    );
    assert!(lock_is_free(&fake));
    assert_eq!(fake.task_definition_count(), 1);
    assert!(ledger_results(&fake).is_empty());
}

#[tokio::test(start_paused = true)]
async fn bad_input_is_refused_with_the_fix() {
    let fake = staging();
    let checks = FakeChecks::new(&fake);
    let run = run(&fake, &checks, "-bad:tag").await;
    assert!(
        run.finish
            .unwrap_err()
            .to_string()
            .starts_with("`-bad:tag` is not a valid image tag")
    );
    let mut o = opts("v2");
    o.image_tag = None;
    let run = run_with(&fake, &checks, o, no_cancel(), true).await;
    assert!(
        run.finish
            .unwrap_err()
            .to_string()
            .starts_with("deploying needs --image-tag TAG, a tag already in ECR")
    );
    let mut o = opts("v2");
    o.base_url = Some("staging.example.com".into());
    let run = run_with(&fake, &checks, o, no_cancel(), true).await;
    assert!(
        run.finish
            .unwrap_err()
            .to_string()
            .starts_with("--base-url must be an http:// or https:// URL")
    );
    assert!(fake.writes().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_missing_service_is_one_line() {
    let fake = Fake::default().with_image("eventflow-backend", "sha256:new", &[NEW, "v2"]);
    let checks = FakeChecks::new(&fake);
    let run = run(&fake, &checks, "v2").await;
    assert_eq!(
        run.finish.unwrap_err().to_string(),
        "ecs:DescribeServices: service backend not found in cluster eventflow-staging"
    );
    assert!(lock_is_free(&fake));
}

#[tokio::test(start_paused = true)]
async fn a_failed_registration_deregisters_and_changes_no_service() {
    let fake = staging().failing(
        "ecs:RegisterTaskDefinition",
        ErrorKind::Other,
        "ClientException: too many revisions",
        1,
    );
    let checks = FakeChecks::new(&fake);
    let run = run(&fake, &checks, "v2").await;
    assert_eq!(
        run.finish.unwrap_err().to_string(),
        "deploy of v2 to staging failed before any service changed: ecs:RegisterTaskDefinition: ClientException: too many revisions"
    );
    assert!(
        !fake
            .writes()
            .iter()
            .any(|c| c.starts_with("ecs:UpdateService"))
    );
    assert_eq!(ledger_results(&fake), [("v2".to_owned(), Outcome::Failed)]);
    assert!(lock_is_free(&fake));
}

#[tokio::test(start_paused = true)]
async fn when_the_rollback_fails_too_the_deploy_says_so_and_what_runs() {
    let fake = staging().rollouts(&[Rollout::Stuck, Rollout::Stuck]);
    let checks = FakeChecks::new(&fake);
    let run = run(&fake, &checks, "v2").await;
    match run.finish.unwrap() {
        Finish::Failed(text) => {
            assert!(
                text.contains(
                    "the rollback failed too: backend: the rollback did not complete within 120s"
                ),
                "{text}"
            );
            assert!(text.contains("see docs/runbook.md"), "{text}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(ledger_results(&fake), [("v2".to_owned(), Outcome::Failed)]);
    assert!(lock_is_free(&fake));
}

#[tokio::test(start_paused = true)]
async fn a_dry_run_prints_every_call_and_the_diff_and_changes_nothing() {
    let fake = staging();
    let checks = FakeChecks::new(&fake);
    let mut o = opts("v2");
    o.dry_run = true;
    let run = run_with(&fake, &checks, o, no_cancel(), true).await;
    assert_eq!(run.finish.unwrap(), Finish::DryRun);
    assert!(fake.writes().is_empty(), "{:?}", fake.writes());
    let text = run.lines.join("\n");
    for expected in [
        "  read ecs:DescribeServices cluster=eventflow-staging services=backend",
        "  read ecr:DescribeImages repositoryName=eventflow-backend imageTag=v2",
        &format!("    + containerDefinitions[backend].image: {}", image("v2")),
        "  would call dynamodb:PutItem eventflow-staging-deploy-state staging/lock if absent or expired (take the deploy lease; renewed while the run works)",
        &format!(
            "  would call ecs:RegisterTaskDefinition family=eventflow-backend image={}",
            image("v2")
        ),
        "  would call ecs:UpdateService cluster=eventflow-staging service=backend taskDefinition=eventflow-backend:(new revision)",
        &format!(
            "  would GET https://staging.eventflow.example.com/health until it answers 200 with git_sha {NEW}"
        ),
        "  would run $ cargo xtask test e2e --base-url https://staging.eventflow.example.com   (JWT_SECRET and ADMIN_API_TOKEN from the environment)",
        "  would call ecs:UpdateService cluster=eventflow-staging service=backend taskDefinition=eventflow-backend:1 (rollback, image",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in\n{text}");
    }
}

#[test]
fn the_git_sha_comes_from_the_tag_or_the_images_other_tags() {
    let image = Image {
        registry_id: ACCOUNT.into(),
        digest: "sha256:x".into(),
        tags: vec!["v7".into(), NEW.into()],
    };
    assert_eq!(git_sha("v7", &image).as_deref(), Some(NEW));
    assert_eq!(
        git_sha(
            GOOD,
            &Image {
                tags: vec![],
                ..image.clone()
            }
        )
        .as_deref(),
        Some(GOOD)
    );
    assert_eq!(
        git_sha(
            "v7",
            &Image {
                tags: vec!["v7".into()],
                ..image
            }
        ),
        None
    );
}

/// Terraform's template for the backend: revision 3, with 1024 MiB and a secret the running
/// revision doesn't have.
fn terraform_template() -> aws_sdk_ecs::types::TaskDefinition {
    use aws_sdk_ecs::types::{ContainerDefinition, Secret, TaskDefinition};
    TaskDefinition::builder()
        .task_definition_arn(arn("eventflow-backend-template", 3))
        .family("eventflow-backend-template")
        .revision(3)
        .cpu("256")
        .memory("1024")
        .container_definitions(
            ContainerDefinition::builder()
                .name("backend")
                .image(image("initial"))
                .secrets(
                    Secret::builder()
                        .name("ADMIN_API_TOKEN")
                        .value_from(
                            "arn:aws:secretsmanager:eu-central-1:123456789012:secret:admin-token",
                        )
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .build()
}

#[tokio::test(start_paused = true)]
async fn a_task_definition_terraform_changed_ships_with_the_next_deploy_and_the_plan_names_it() {
    let fake = staging()
        .with_task_definition(terraform_template())
        .rollouts(&[Rollout::Completes(3)]);
    let checks = FakeChecks::new(&fake);
    let mut config = config::example();
    config.services[0].template = Some("eventflow-backend-template".into());
    let run = run_config(&fake, &checks, opts("v2"), no_cancel(), &config).await;
    let text = run.lines.join("\n");
    assert_eq!(run.finish.unwrap(), Finish::Verified, "{text}");

    let deployed = fake.service_task_definition("backend");
    assert_eq!(
        deployed,
        arn("eventflow-backend", 2),
        "the app's family, not the template's"
    );
    let (deployed, _) = fake.describe_task_definition(&deployed).await.unwrap();
    assert_eq!(deployed.memory(), Some("1024"), "Terraform's size");
    let backend = &deployed.container_definitions()[0];
    assert_eq!(
        backend.image(),
        Some(image("v2").as_str()),
        "the deployed image"
    );
    let secrets: Vec<&str> = backend.secrets().iter().map(|s| s.name()).collect();
    assert_eq!(secrets, ["ADMIN_API_TOKEN"], "Terraform's new secret");

    for line in [
        "backend: new revision from Terraform's template eventflow-backend-template:3",
        "    ! memory: 512 → 1024",
        "    + containerDefinitions[backend].secrets: ADMIN_API_TOKEN",
    ] {
        assert!(
            run.lines.iter().any(|l| l == line),
            "missing `{line}` in:\n{text}"
        );
    }
    assert!(
        !text.contains("secret:admin-token"),
        "a secret's ARN is never printed:\n{text}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_template_that_is_not_registered_stops_the_deploy_before_any_change() {
    let fake = staging().rollouts(&[Rollout::Completes(3)]);
    let checks = FakeChecks::new(&fake);
    let mut config = config::example();
    config.services[0].template = Some("eventflow-backend-template".into());
    let run = run_config(&fake, &checks, opts("v2"), no_cancel(), &config).await;
    let error = format!("{:#}", run.finish.unwrap_err());
    assert!(
        error.contains("reading Terraform's template eventflow-backend-template: Terraform registers it; run the environment's `terraform apply`"),
        "{error}"
    );
    assert_eq!(
        fake.service_task_definition("backend"),
        arn("eventflow-backend", 1)
    );
    assert!(lock_is_free(&fake), "the lease is released");
    assert!(
        ledger_results(&fake).is_empty(),
        "no ledger entry: nothing was deployed"
    );
}
