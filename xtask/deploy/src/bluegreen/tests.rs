//! Blue/green against scripted responses: every branch of a production deploy and rollback.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use anyhow::{Result, bail};

use super::*;
use crate::aws::Platform;
use crate::aws::fake::{Fake, Rollout, arn};
use crate::config;
use crate::console::{Console, Prompt};
use crate::deploy::{Context, Finish, git_sha};
use crate::ledger::{BlueGreen, Colour, Kind, Outcome, Release};
use crate::metrics::{Counts, MetricSource, Rate, Reading, Watched};
use crate::notify::{NoticeResult, Recording};
use crate::taskdef;
use crate::verify::{Checks, Health};

const GOOD: &str = "1111111111111111111111111111111111111111";
const NEW: &str = "2222222222222222222222222222222222222222";
const REPO: &str = "eventflow-backend";

fn image(tag: &str) -> String {
    format!(
        "{}.dkr.ecr.eu-central-1.amazonaws.com/{REPO}:{tag}",
        crate::aws::fake::ACCOUNT
    )
}

/// Production: blue runs GOOD at 2 tasks and takes the traffic, green is scaled to 0; NEW
/// is in ECR and staging verified it.
fn production() -> Fake {
    let fake = Fake::default()
        .with_service("backend-blue", REPO, "backend", &image(GOOD))
        .with_service("backend-green", REPO, "backend", &image(GOOD))
        .with_image(REPO, "sha256:good", &[GOOD])
        .with_image(REPO, "sha256:new", &[NEW])
        .with_load_balancer(
            "eventflow-production",
            "eventflow-prod",
            &["backend"],
            "blue",
        );
    fake.set_desired("backend-green", 0);
    staging_verified(&fake, "sha256:new");
    fake
}

fn staging_verified(fake: &Fake, digest: &str) {
    let mut r = crate::ledger::release(
        "20260101T000000.000Z",
        Kind::Deploy,
        NEW,
        9,
        Outcome::Verified,
    );
    r.image_digests = [("backend".to_owned(), digest.to_owned())].into();
    fake.set_release("eventflow-staging-deploy-state", "staging", &r);
}

/// `/health` answers with the sha of what the listener behind the URL sends traffic to.
struct FakeChecks<'a> {
    fake: &'a Fake,
    smoke_fails: bool,
    staging_sha: &'static str,
    smoke_runs: Mutex<Vec<String>>,
    /// The schema floor every `/health` reports (`None`: not reported).
    floor: Option<i64>,
}

impl<'a> FakeChecks<'a> {
    fn new(fake: &'a Fake) -> Self {
        FakeChecks {
            fake,
            smoke_fails: false,
            staging_sha: NEW,
            smoke_runs: Mutex::new(Vec::new()),
            floor: None,
        }
    }

    async fn sha_behind(&self, port: u16) -> String {
        let (blue, green) = self.fake.weights(port, "backend");
        let service = if blue >= green {
            "backend-blue"
        } else {
            "backend-green"
        };
        let td = self.fake.service_task_definition(service);
        let (td, _) = self.fake.describe_task_definition(&td).await.unwrap();
        let tag = taskdef::tag_of(taskdef::image_of(&td, "backend").unwrap())
            .unwrap()
            .to_owned();
        let found = self.fake.find_image(REPO, &tag).await.unwrap().unwrap();
        git_sha(&tag, &found).unwrap()
    }
}

impl Checks for FakeChecks<'_> {
    async fn health(&self, url: &str) -> Result<Health> {
        let sha = if url.contains("staging") {
            self.staging_sha.to_owned()
        } else if url.contains(":8443") {
            self.sha_behind(8443).await
        } else {
            self.sha_behind(443).await
        };
        Ok(Health {
            status: 200,
            git_sha: Some(sha),
            schema_floor: self.floor,
            ..Health::default()
        })
    }
    fn e2e_preflight(&self) -> Result<()> {
        Ok(())
    }
    async fn e2e(&self, _: &str) -> Result<()> {
        bail!("production runs the smoke tests, not the end-to-end suite")
    }
    async fn smoke(&self, base_url: &str) -> Result<()> {
        self.smoke_runs.lock().unwrap().push(base_url.to_owned());
        if self.smoke_fails {
            bail!("the smoke tests failed against {base_url} (exit status: 101)");
        }
        Ok(())
    }
}

/// The counts and accepted events of one read, or the error it fails with.
type ScriptedRead = Result<(Counts, Option<u64>), &'static str>;

/// Counts in the order the watch reads them (the last one repeats), each read up to the moment
/// it is read; or a read that fails; and the accepted-events rate before the shift, if any.
#[derive(Default)]
struct Scripted {
    reads: Mutex<VecDeque<ScriptedRead>>,
    before: Option<Rate>,
}

impl Scripted {
    fn of(counts: &[(u64, u64)]) -> Scripted {
        Scripted {
            reads: Mutex::new(
                counts
                    .iter()
                    .map(|&(requests, errors)| Ok((Counts { requests, errors }, None)))
                    .collect(),
            ),
            before: None,
        }
    }

    /// Reads that fail with `error`, `failures` times, then `counts` for good.
    fn failing(failures: usize, error: &'static str, counts: (u64, u64)) -> Scripted {
        let mut reads: VecDeque<_> = std::iter::repeat_n(Err(error), failures).collect();
        reads.push_back(Ok((
            Counts {
                requests: counts.0,
                errors: counts.1,
            },
            None,
        )));
        Scripted {
            reads: Mutex::new(reads),
            before: None,
        }
    }

    /// `before` accepted events before the shift; each read sees `requests` healthy requests
    /// and `accepted` events since it.
    fn ingesting(before: Rate, requests: u64, accepted: u64) -> Scripted {
        Scripted {
            reads: Mutex::new(VecDeque::from([Ok((
                Counts {
                    requests,
                    errors: 0,
                },
                Some(accepted),
            ))])),
            before: Some(before),
        }
    }
}

impl MetricSource for Scripted {
    async fn mark(&self, _: &Watched, _: u64) -> Result<()> {
        Ok(())
    }
    async fn read(&self, _: &Watched, _: u64, now_ms: u64) -> Result<Reading> {
        let mut q = self.reads.lock().unwrap();
        let next = if q.len() > 1 {
            q.pop_front()
        } else {
            q.front().cloned()
        };
        let (counts, accepted) = match next {
            None => (Counts::default(), None),
            Some(Ok(read)) => read,
            Some(Err(error)) => bail!("{error}"),
        };
        Ok(Reading {
            counts,
            accepted,
            covers_to_ms: now_ms,
        })
    }
    async fn accepted_before(&self, _: &Watched, _: u64) -> Result<Option<Rate>> {
        Ok(self.before)
    }
    fn describe(&self) -> String {
        "scripted counts".to_owned()
    }
}

/// CloudWatch's lag: per-minute counts since the shift, each published `lag_ms` after its
/// minute ends.
struct Lagging {
    minutes: Vec<Counts>,
    lag_ms: u64,
}

impl MetricSource for Lagging {
    async fn mark(&self, _: &Watched, _: u64) -> Result<()> {
        Ok(())
    }
    async fn read(&self, _: &Watched, since_ms: u64, now_ms: u64) -> Result<Reading> {
        let published = self
            .minutes
            .iter()
            .enumerate()
            .take_while(|(i, _)| since_ms + (*i as u64 + 1) * 60_000 + self.lag_ms <= now_ms)
            .count();
        let counts = self.minutes[..published]
            .iter()
            .fold(Counts::default(), |a, m| Counts {
                requests: a.requests + m.requests,
                errors: a.errors + m.errors,
            });
        Ok(Reading {
            counts,
            accepted: None,
            covers_to_ms: since_ms + published as u64 * 60_000,
        })
    }
    async fn accepted_before(&self, _: &Watched, _: u64) -> Result<Option<Rate>> {
        Ok(None)
    }
    fn describe(&self) -> String {
        "lagging minutes".to_owned()
    }
}

fn yes(_: &str, _: &str) -> Result<bool> {
    Ok(true)
}
fn no(_: &str, _: &str) -> Result<bool> {
    Ok(false)
}

struct Run {
    finish: Result<Finish>,
    lines: Vec<String>,
    notices: Vec<NoticeResult>,
}

impl Run {
    fn text(&self) -> String {
        self.lines.join("\n")
    }
}

fn opts(tag: &str) -> Options {
    Options {
        image_tag: Some(tag.to_owned()),
        yes: true,
        timeout: Some(120),
        keep_old: Some(30),
        ..Options::default()
    }
}

async fn deploy_with(
    fake: &Fake,
    checks: &FakeChecks<'_>,
    opts: Options,
    metrics: &Scripted,
    prompt: &Prompt,
    notifier: &Recording,
) -> Run {
    let config = config::example_production();
    let console = Console::quiet();
    let mut ctx = Context {
        config: &config,
        platform: fake,
        checks,
        console: &console,
        prompt,
        cancel: tokio::sync::watch::channel(false).1,
        actor: "tester".to_owned(),
        notifier,
    };
    let finish = deploy(&mut ctx, &opts, metrics).await;
    Run {
        finish,
        lines: console.lines(),
        notices: notifier.results(),
    }
}

async fn deploy_ok(fake: &Fake, opts: Options) -> Run {
    let checks = FakeChecks::new(fake);
    let run = deploy_with(
        fake,
        &checks,
        opts,
        &Scripted::of(&[(1000, 3)]),
        &yes,
        &Recording::default(),
    )
    .await;
    assert_eq!(
        run.finish.as_ref().ok(),
        Some(&Finish::Verified),
        "{}",
        run.text()
    );
    run
}

async fn rollback_with(fake: &Fake, prompt: &Prompt, notifier: &Recording) -> Run {
    rollback_on_floor(fake, prompt, notifier, None).await
}

async fn rollback_on_floor(
    fake: &Fake,
    prompt: &Prompt,
    notifier: &Recording,
    floor: Option<i64>,
) -> Run {
    let config = config::example_production();
    let console = Console::quiet();
    let checks = FakeChecks {
        floor,
        ..FakeChecks::new(fake)
    };
    let mut ctx = Context {
        config: &config,
        platform: fake,
        checks: &checks,
        console: &console,
        prompt,
        cancel: tokio::sync::watch::channel(false).1,
        actor: "tester".to_owned(),
        notifier,
    };
    let opts = crate::rollback::Options {
        yes: true,
        ..crate::rollback::Options::default()
    };
    let finish = rollback(&mut ctx, &opts).await;
    Run {
        finish,
        lines: console.lines(),
        notices: notifier.results(),
    }
}

fn releases(fake: &Fake) -> Vec<Release> {
    let mut out: Vec<Release> = fake
        .releases("eventflow-production-deploy-state")
        .iter()
        .map(|v| serde_json::from_str(v).unwrap())
        .collect();
    out.sort_by(|a, b| a.id.cmp(&b.id));
    out
}

fn lock_is_free(fake: &Fake) -> bool {
    fake.lease("eventflow-production-deploy-state").is_none()
}

/// The writes to the load balancer and ECS, in order.
fn moves(fake: &Fake) -> Vec<String> {
    fake.writes()
        .into_iter()
        .filter(|w| {
            w.starts_with("elasticloadbalancing:") || w.starts_with("ecs:") || w.starts_with("ecr:")
        })
        .collect()
}

#[test]
fn colours_come_from_the_weights() {
    assert_eq!(colour_of(100, 0), Ok(Colour::Blue));
    assert_eq!(colour_of(0, 1), Ok(Colour::Green));
    assert_eq!(
        colour_of(0, 0),
        Err("sends no traffic to either colour".to_owned())
    );
    assert_eq!(
        colour_of(90, 10),
        Err("splits the traffic (blue 90%, green 10%)".to_owned())
    );
    assert_eq!(shift_steps(None), [100]);
    assert_eq!(shift_steps(Some(10)), [10, 100]);
}

#[test]
fn rollback_goes_to_the_colour_the_last_deploy_replaced() {
    let bg = |kind, from, to, result| {
        let mut r = crate::ledger::release("01", kind, "v3", 3, result);
        r.blue_green = Some(BlueGreen {
            from,
            to,
            promoted_from: None,
            force_unverified: false,
        });
        r
    };
    use Colour::*;
    let deployed = [bg(Kind::Deploy, Blue, Green, Outcome::Verified)];
    assert_eq!(rollback_colour(&deployed, Some(Green)).unwrap().0, Blue);
    // Mid-shift (a run died during the canary): back to where the traffic came from.
    assert_eq!(rollback_colour(&deployed, None).unwrap().0, Blue);
    // The deploy never took the traffic (it failed before the shift, or was shifted back).
    let err = rollback_colour(&deployed, Some(Blue))
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with(
            "production runs blue, and the last deploy (v3, verified) never took its traffic"
        ),
        "{err}"
    );
    // After a rollback, rolling back again would bring the bad release back: refused.
    let rolled = [bg(Kind::Rollback, Green, Blue, Outcome::RolledBackTo)];
    assert!(
        rollback_colour(&rolled, Some(Blue))
            .unwrap_err()
            .to_string()
            .contains("rolling back again would bring back")
    );
    assert!(
        rollback_colour(&[], Some(Blue))
            .unwrap_err()
            .to_string()
            .starts_with("the ledger has no blue/green release")
    );
}

#[tokio::test(start_paused = true)]
async fn a_good_deploy_promotes_deploys_green_shifts_bakes_and_scales_blue_down() {
    let fake = production().rollouts(&[Rollout::Completes(2)]);
    let run = deploy_ok(&fake, opts(NEW)).await;
    assert_eq!(
        fake.weights(443, "backend"),
        (0, 100),
        "green takes the traffic"
    );
    assert_eq!(
        fake.weights(8443, "backend"),
        (100, 0),
        "the test listener serves the old colour"
    );
    assert_eq!(fake.service_task_definition("backend-green"), arn(REPO, 2));
    assert_eq!(fake.desired("backend-green"), 2, "at the live task count");
    assert_eq!(
        fake.desired("backend-blue"),
        0,
        "scaled down after the rollback window"
    );
    let mut tags = fake.tags_of(REPO, "sha256:new");
    tags.sort();
    assert_eq!(tags, [NEW, "latest", "v1"], "promoted as v1, and latest");
    assert_eq!(
        moves(&fake),
        [
            "ecr:PutImage eventflow-backend@sha256:new tag=v1",
            "ecs:RegisterTaskDefinition eventflow-backend",
            "ecs:UpdateService eventflow-production/backend-green eventflow-backend:2 desiredCount=2",
            "elasticloadbalancing:ModifyRule listener/app/eventflow-production/50dc6c495c0c9188/443/rule-backend eventflow-prod-backend-blue=0 eventflow-prod-backend-green=100",
            "elasticloadbalancing:ModifyRule listener/app/eventflow-production/50dc6c495c0c9188/8443/rule-backend eventflow-prod-backend-blue=100 eventflow-prod-backend-green=0",
            "ecr:PutImage eventflow-backend@sha256:new tag=latest",
            "ecs:UpdateService eventflow-production/backend-blue desiredCount=0",
        ],
        "{}",
        run.text()
    );
    let r = &releases(&fake)[0];
    assert_eq!(
        (r.kind, r.result, r.image_tag.as_str()),
        (Kind::Deploy, Outcome::Verified, "v1")
    );
    assert_eq!(r.git_sha, NEW);
    assert_eq!(
        r.blue_green.as_ref().map(|b| (b.from, b.to)),
        Some((Colour::Blue, Colour::Green))
    );
    let steps: Vec<&str> = r.steps.iter().map(|s| s.what.as_str()).collect();
    assert_eq!(
        steps,
        [
            "promoted 2222222222222222222222222222222222222222 as v1",
            "registered eventflow-backend:2",
            "deployed to green at the live task count",
            "green passed /health and the smoke tests",
            "shifted 100% of the traffic to green",
            "scaled blue to 0",
        ]
    );
    assert_eq!(run.notices, [NoticeResult::Success]);
    assert!(lock_is_free(&fake));
    assert!(
        run.text()
            .contains("  production listener (read back): backend blue 0 / green 100"),
        "{}",
        run.text()
    );
    assert!(
        run.text()
            .contains("+ containerDefinitions[backend].image: "),
        "the plan shows the diff:\n{}",
        run.text()
    );
}

#[tokio::test(start_paused = true)]
async fn a_canary_shifts_ten_percent_first_then_the_rest() {
    let fake = production();
    let run = deploy_ok(
        &fake,
        Options {
            canary: Some(10),
            ..opts(NEW)
        },
    )
    .await;
    let shifts: Vec<String> = moves(&fake)
        .into_iter()
        .filter(|w| w.contains("/443/"))
        .map(|w| w.rsplit_once("rule-backend ").unwrap().1.to_owned())
        .collect();
    assert_eq!(
        shifts,
        [
            "eventflow-prod-backend-blue=90 eventflow-prod-backend-green=10",
            "eventflow-prod-backend-blue=0 eventflow-prod-backend-green=100",
        ]
    );
    let steps: Vec<String> = releases(&fake)[0]
        .steps
        .iter()
        .map(|s| s.what.clone())
        .collect();
    assert!(
        steps.contains(&"shifted 10% of the traffic to green".to_owned()),
        "{steps:?}"
    );
    assert!(
        run.text().contains("baking 10% on green for 60s"),
        "{}",
        run.text()
    );
}

#[tokio::test(start_paused = true)]
async fn a_smoke_failure_on_green_never_shifts_the_traffic() {
    let fake = production();
    let mut checks = FakeChecks::new(&fake);
    checks.smoke_fails = true;
    let notifier = Recording::default();
    let run = deploy_with(
        &fake,
        &checks,
        opts(NEW),
        &Scripted::default(),
        &yes,
        &notifier,
    )
    .await;
    let Ok(Finish::RolledBack(text)) = &run.finish else {
        panic!("{:?}\n{}", run.finish, run.text())
    };
    assert!(
        text.contains("the smoke tests failed against https://eventflow.example.com:8443"),
        "{text}"
    );
    assert!(
        text.ends_with("the traffic never moved: blue still serves production"),
        "{text}"
    );
    assert_eq!(
        *checks.smoke_runs.lock().unwrap(),
        ["https://eventflow.example.com:8443"]
    );
    assert_eq!(fake.weights(443, "backend"), (100, 0));
    assert!(
        !moves(&fake).iter().any(|w| w.contains("/443/")),
        "no production weight was touched: {:?}",
        moves(&fake)
    );
    assert_eq!(
        fake.desired("backend-green"),
        0,
        "green is put back as it was"
    );
    assert_eq!(fake.service_task_definition("backend-green"), arn(REPO, 1));
    assert_eq!(releases(&fake)[0].result, Outcome::RolledBack);
    assert_eq!(run.notices, [NoticeResult::RolledBack]);
    assert!(lock_is_free(&fake));
}

#[tokio::test(start_paused = true)]
async fn an_error_spike_during_the_bake_shifts_the_traffic_back() {
    let fake = production();
    let checks = FakeChecks::new(&fake);
    let notifier = Recording::default();
    let metrics = Scripted::of(&[(10, 0), (400, 4), (1000, 90)]);
    let run = deploy_with(&fake, &checks, opts(NEW), &metrics, &yes, &notifier).await;
    let Ok(Finish::RolledBack(text)) = &run.finish else {
        panic!("{:?}\n{}", run.finish, run.text())
    };
    assert!(
        text.contains("the error rate on green is over 5%: 90 of 1000 requests failed (9.0%)"),
        "{text}"
    );
    assert!(
        text.contains("the traffic is back on blue, which still runs eventflow-backend:1"),
        "{text}"
    );
    assert_eq!(fake.weights(443, "backend"), (100, 0));
    assert_eq!(fake.desired("backend-blue"), 2, "blue never stopped");
    let r = &releases(&fake)[0];
    assert_eq!(r.result, Outcome::RolledBack);
    assert_eq!(
        r.steps.last().unwrap().what,
        "shifted the traffic back to blue"
    );
    assert_eq!(run.notices, [NoticeResult::RolledBack]);
    let mut tags = fake.tags_of(REPO, "sha256:new");
    tags.sort();
    assert_eq!(tags, [NEW, "v1"], "latest stays on what production runs");
    assert!(lock_is_free(&fake));
}

#[tokio::test(start_paused = true)]
async fn three_failed_requests_cannot_trip_the_watch() {
    let fake = production();
    let checks = FakeChecks::new(&fake);
    let run = deploy_with(
        &fake,
        &checks,
        opts(NEW),
        &Scripted::of(&[(3, 3)]),
        &yes,
        &Recording::default(),
    )
    .await;
    assert_eq!(run.finish.as_ref().unwrap(), &Finish::Verified);
    assert!(
        run.text()
            .contains("3 of 3 requests failed (100.0%) (too few to judge yet)"),
        "{}",
        run.text()
    );
}

async fn deploy_watched_by<M: MetricSource>(fake: &Fake, opts: Options, metrics: &M) -> Run {
    let checks = FakeChecks::new(fake);
    let config = config::example_production();
    let console = Console::quiet();
    let notifier = Recording::default();
    let mut ctx = Context {
        config: &config,
        platform: fake,
        checks: &checks,
        console: &console,
        prompt: &yes,
        cancel: tokio::sync::watch::channel(false).1,
        actor: "tester".to_owned(),
        notifier: &notifier,
    };
    let finish = deploy(&mut ctx, &opts, metrics).await;
    Run {
        finish,
        lines: console.lines(),
        notices: notifier.results(),
    }
}

/// The deploy rolled back, the traffic is on blue, the ledger says so; the reason it gave.
fn rolled_back(fake: &Fake, run: &Run) -> String {
    let Ok(Finish::RolledBack(text)) = &run.finish else {
        panic!("{:?}\n{}", run.finish, run.text())
    };
    assert_eq!(fake.weights(443, "backend"), (100, 0));
    assert_eq!(releases(fake)[0].result, Outcome::RolledBack);
    assert!(lock_is_free(fake));
    text.clone()
}

#[tokio::test(start_paused = true)]
async fn metrics_that_cannot_be_read_fail_the_bake() {
    // Seen in a drill: every GetMetricData refused, and the deploy ended `verified`.
    let fake = production();
    let denied = "cloudwatch:GetMetricData: AccessDenied: not authorized to perform cloudwatch:GetMetricData";
    let run = deploy_watched_by(&fake, opts(NEW), &Scripted::failing(100, denied, (1000, 0))).await;
    let text = rolled_back(&fake, &run);
    assert!(
        text.contains("the metric watch on green is blind: 2 reads in a row failed (last: cloudwatch:GetMetricData: AccessDenied"),
        "{text}"
    );
    assert!(
        run.text()
            .contains("reading the metrics failed (1 in a row)"),
        "{}",
        run.text()
    );
}

#[tokio::test(start_paused = true)]
async fn one_failed_read_is_retried_not_blind() {
    let fake = production();
    let run = deploy_watched_by(
        &fake,
        opts(NEW),
        &Scripted::failing(
            1,
            "cloudwatch:GetMetricData: Throttling: Rate exceeded",
            (1000, 2),
        ),
    )
    .await;
    assert_eq!(
        run.finish.as_ref().unwrap(),
        &Finish::Verified,
        "{}",
        run.text()
    );
    assert!(
        run.text().contains(
            "reading the metrics failed (1 in a row): cloudwatch:GetMetricData: Throttling"
        ),
        "{}",
        run.text()
    );
}

fn per_minute(minutes: &[(u64, u64)]) -> Vec<Counts> {
    minutes
        .iter()
        .map(|&(requests, errors)| Counts { requests, errors })
        .collect()
}

#[tokio::test(start_paused = true)]
async fn errors_in_the_bakes_last_minute_are_judged_after_the_metrics_lag() {
    // A five-minute bake; green breaks in its last minute; CloudWatch publishes each minute
    // 150s after it ends. At the bake's end only its first two minutes are in.
    let fake = production();
    let metrics = Lagging {
        minutes: per_minute(&[(600, 0), (600, 0), (600, 0), (600, 0), (600, 500)]),
        lag_ms: 150_000,
    };
    let run = deploy_watched_by(
        &fake,
        Options {
            bake: Some(300),
            canary: None,
            ..opts(NEW)
        },
        &metrics,
    )
    .await;
    let text = rolled_back(&fake, &run);
    assert!(
        text.contains("the error rate on green is over 5%: 500 of 3000 requests failed (16.6%)"),
        "{text}"
    );
    assert!(
        run.text()
            .contains("the bake's 300s are over; watching on until the data covers its end"),
        "{}",
        run.text()
    );
}

#[tokio::test(start_paused = true)]
async fn a_healthy_bake_passes_once_its_data_covers_the_end() {
    let fake = production();
    let metrics = Lagging {
        minutes: per_minute(&[(600, 0); 5]),
        lag_ms: 150_000,
    };
    let run = deploy_watched_by(
        &fake,
        Options {
            bake: Some(300),
            ..opts(NEW)
        },
        &metrics,
    )
    .await;
    assert_eq!(
        run.finish.as_ref().unwrap(),
        &Finish::Verified,
        "{}",
        run.text()
    );
    assert!(
        run.text().contains("the data covers the bake's end"),
        "{}",
        run.text()
    );
}

#[tokio::test(start_paused = true)]
async fn metrics_that_never_cover_the_bakes_end_fail_it_as_blind() {
    // Published 10 minutes late: past the 5 minutes the watch waits.
    let fake = production();
    let metrics = Lagging {
        minutes: per_minute(&[(600, 0); 5]),
        lag_ms: 600_000,
    };
    let run = deploy_watched_by(
        &fake,
        Options {
            bake: Some(300),
            ..opts(NEW)
        },
        &metrics,
    )
    .await;
    let text = rolled_back(&fake, &run);
    assert!(
        text.contains("the metric watch on green is blind: no data covered the bake's end"),
        "{text}"
    );
    assert!(
        text.contains("within 300s after it (newest data to"),
        "{text}"
    );
}

#[tokio::test(start_paused = true)]
async fn collapsed_ingestion_while_requests_arrive_rolls_back() {
    // 600 events a minute before the shift; green answers 202 to every request and stores nothing.
    let fake = production();
    let before = Rate {
        events: 3000,
        secs: 300,
    };
    let run = deploy_watched_by(&fake, opts(NEW), &Scripted::ingesting(before, 1000, 0)).await;
    let text = rolled_back(&fake, &run);
    assert!(
        text.contains("event ingestion collapsed after the shift to green: 0 accepted events in"),
        "{text}"
    );
    assert!(
        text.contains(
            "against 3000 accepted events in 300s before it (under 10%) while 1000 requests arrived"
        ),
        "{text}"
    );
}

#[tokio::test(start_paused = true)]
async fn ingestion_that_goes_on_or_was_quiet_before_passes() {
    let fake = production();
    let before = Rate {
        events: 3000,
        secs: 300,
    };
    // 60 s of bake at the accepted count's last read: 450 events is 450 a minute.
    let run = deploy_watched_by(&fake, opts(NEW), &Scripted::ingesting(before, 1000, 450)).await;
    assert_eq!(
        run.finish.as_ref().unwrap(),
        &Finish::Verified,
        "{}",
        run.text()
    );
    assert!(
        run.text()
            .contains("accepted events: 450 accepted events in"),
        "{}",
        run.text()
    );

    let fake = production();
    let quiet = Rate {
        events: 20,
        secs: 300,
    };
    let run = deploy_watched_by(&fake, opts(NEW), &Scripted::ingesting(quiet, 1000, 0)).await;
    assert_eq!(
        run.finish.as_ref().unwrap(),
        &Finish::Verified,
        "{}",
        run.text()
    );
    assert!(
        run.text().contains(
            "not judged: 20 accepted events in 300s before the shift is under 10 a minute"
        ),
        "{}",
        run.text()
    );
}

#[tokio::test(start_paused = true)]
async fn a_failing_notification_never_blocks_the_shift_back() {
    let fake = production();
    let checks = FakeChecks::new(&fake);
    let notifier = Recording {
        failing: true,
        ..Recording::default()
    };
    let run = deploy_with(
        &fake,
        &checks,
        opts(NEW),
        &Scripted::of(&[(1000, 900)]),
        &yes,
        &notifier,
    )
    .await;
    assert!(
        matches!(run.finish, Ok(Finish::RolledBack(_))),
        "{:?}",
        run.finish
    );
    assert_eq!(fake.weights(443, "backend"), (100, 0));
    assert!(
        run.text().contains(
            "warning: the rolled back notification was not sent: slack: 503 Service Unavailable"
        ),
        "{}",
        run.text()
    );
}

#[tokio::test(start_paused = true)]
async fn a_refused_approval_changes_nothing() {
    let fake = production();
    let checks = FakeChecks::new(&fake);
    let run = deploy_with(
        &fake,
        &checks,
        Options {
            yes: false,
            ..opts(NEW)
        },
        &Scripted::default(),
        &no,
        &Recording::default(),
    )
    .await;
    assert_eq!(
        run.finish.as_ref().unwrap_err().to_string(),
        "not confirmed: nothing was changed"
    );
    assert!(moves(&fake).is_empty(), "{:?}", moves(&fake));
    assert!(releases(&fake).is_empty());
    assert!(lock_is_free(&fake));
    let text = run.text();
    assert!(
        text.contains("backend: runs now on blue (backend-blue): eventflow-backend:1"),
        "{text}"
    );
    assert!(
        text.contains(
            "backend: will run on green (backend-green): a new revision of eventflow-backend with"
        ),
        "{text}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_held_lock_refuses_the_deploy() {
    let fake = production();
    let holder = serde_json::json!({
        "owner": "alice pid 7", "operation": "rollback", "token": "t",
        "acquired_ms": 1_900_000_000_000u64, "expires_ms": 4_000_000_000_000u64
    });
    fake.set_lease("eventflow-production-deploy-state", "production", &holder);
    let checks = FakeChecks::new(&fake);
    let run = deploy_with(
        &fake,
        &checks,
        opts(NEW),
        &Scripted::default(),
        &yes,
        &Recording::default(),
    )
    .await;
    let err = run.finish.unwrap_err().to_string();
    assert!(
        err.starts_with("production is locked: rollback by alice pid 7"),
        "{err}"
    );
    assert!(moves(&fake).is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_tag_staging_never_verified_is_refused_unless_forced() {
    let fake = production().with_image(
        REPO,
        "sha256:other",
        &["3333333333333333333333333333333333333333"],
    );
    let mut checks = FakeChecks::new(&fake);
    checks.staging_sha = "3333333333333333333333333333333333333333";
    let tag = "3333333333333333333333333333333333333333";
    let run = deploy_with(
        &fake,
        &checks,
        opts(tag),
        &Scripted::default(),
        &yes,
        &Recording::default(),
    )
    .await;
    let err = run.finish.unwrap_err().to_string();
    assert_eq!(
        err,
        format!(
            "image {tag} never passed staging verification (no verified release in its ledger runs these digests): deploy it to staging first (`cargo xtask deploy staging --image-tag {tag}`), or pass --force-unverified"
        )
    );
    assert!(moves(&fake).is_empty());
    assert!(lock_is_free(&fake));

    let run = deploy_with(
        &fake,
        &checks,
        Options {
            force_unverified: true,
            ..opts(tag)
        },
        &Scripted::of(&[(1000, 0)]),
        &yes,
        &Recording::default(),
    )
    .await;
    assert_eq!(
        run.finish.as_ref().ok(),
        Some(&Finish::Verified),
        "{}",
        run.text()
    );
    let r = &releases(&fake)[0];
    assert!(
        r.blue_green.as_ref().unwrap().force_unverified,
        "recorded in the ledger"
    );
    assert!(
        r.detail
            .as_deref()
            .unwrap()
            .starts_with("--force-unverified: image"),
        "{:?}",
        r.detail
    );
}

#[tokio::test(start_paused = true)]
async fn staging_running_another_build_is_refused() {
    let fake = production();
    let mut checks = FakeChecks::new(&fake);
    checks.staging_sha = GOOD;
    let run = deploy_with(
        &fake,
        &checks,
        opts(NEW),
        &Scripted::default(),
        &yes,
        &Recording::default(),
    )
    .await;
    let err = run.finish.unwrap_err().to_string();
    assert!(
        err.starts_with(&format!("staging does not run {NEW} now: GET https://staging.eventflow.example.com/health answered 200 with git_sha {GOOD}")),
        "{err}"
    );
    assert!(moves(&fake).is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_dry_run_changes_nothing() {
    let fake = production();
    let checks = FakeChecks::new(&fake);
    let run = deploy_with(
        &fake,
        &checks,
        Options {
            dry_run: true,
            canary: Some(25),
            ..opts(NEW)
        },
        &Scripted::default(),
        &no,
        &Recording::default(),
    )
    .await;
    assert_eq!(run.finish.as_ref().unwrap(), &Finish::DryRun);
    assert!(fake.writes().is_empty(), "{:?}", fake.writes());
    assert!(run.text().contains("would call elasticloadbalancing:ModifyRule rule listener/app/eventflow-production/50dc6c495c0c9188/443/rule-backend backend forward eventflow-prod-backend-blue=75 eventflow-prod-backend-green=25"), "{}", run.text());
}

#[tokio::test(start_paused = true)]
async fn rollback_while_blue_still_runs_shifts_back_at_once() {
    let fake = production();
    deploy_ok(
        &fake,
        Options {
            keep_old: Some(30),
            ..opts(NEW)
        },
    )
    .await;
    // Within the rollback window: blue still runs.
    fake.set_desired("backend-blue", 2);
    fake.lock().calls.clear();
    let notifier = Recording::default();
    let run = rollback_with(&fake, &yes, &notifier).await;
    assert_eq!(
        run.finish.as_ref().ok(),
        Some(&Finish::Verified),
        "{}",
        run.text()
    );
    assert_eq!(fake.weights(443, "backend"), (100, 0));
    assert_eq!(
        fake.weights(8443, "backend"),
        (0, 100),
        "the test listener serves the idle colour"
    );
    assert!(
        !moves(&fake).iter().any(|w| w.contains("desiredCount")),
        "no scaling: {:?}",
        moves(&fake)
    );
    let r = releases(&fake).pop().unwrap();
    assert_eq!((r.kind, r.result), (Kind::Rollback, Outcome::RolledBackTo));
    assert_eq!(r.blue_green.as_ref().map(|b| b.to), Some(Colour::Blue));
    assert_eq!(r.git_sha, GOOD);
    assert_eq!(notifier.results(), [NoticeResult::RolledBack]);
    let mut tags = fake.tags_of(REPO, "sha256:good");
    tags.sort();
    assert_eq!(tags, [GOOD, "latest"], "latest follows production back");
    assert!(lock_is_free(&fake));

    // And a second rollback would bring the bad release back: refused.
    let run = rollback_with(&fake, &yes, &Recording::default()).await;
    assert!(
        run.finish
            .unwrap_err()
            .to_string()
            .contains("rolling back again would bring back")
    );
}

#[tokio::test(start_paused = true)]
async fn rollback_after_blue_was_scaled_down_scales_it_up_first() {
    let fake = production();
    deploy_ok(
        &fake,
        Options {
            keep_old: Some(0),
            ..opts(NEW)
        },
    )
    .await;
    assert_eq!(fake.desired("backend-blue"), 0);
    fake.lock().calls.clear();
    let run = rollback_with(&fake, &yes, &Recording::default()).await;
    assert_eq!(
        run.finish.as_ref().ok(),
        Some(&Finish::Verified),
        "{}",
        run.text()
    );
    let moves = moves(&fake);
    assert_eq!(
        moves[..2],
        [
            "ecs:UpdateService eventflow-production/backend-blue desiredCount=2".to_owned(),
            "elasticloadbalancing:ModifyRule listener/app/eventflow-production/50dc6c495c0c9188/443/rule-backend eventflow-prod-backend-blue=100 eventflow-prod-backend-green=0".to_owned(),
        ],
        "scale up (and wait), then shift: {moves:?}"
    );
    assert_eq!(fake.weights(443, "backend"), (100, 0));
    let steps: Vec<String> = releases(&fake)
        .pop()
        .unwrap()
        .steps
        .iter()
        .map(|s| s.what.clone())
        .collect();
    assert_eq!(
        steps,
        [
            "scaled blue up",
            "blue runs every task",
            "blue's targets are healthy",
            "shifted the traffic back to blue"
        ]
    );
    assert!(
        run.text().contains("scaled down, will scale up to 2 first"),
        "{}",
        run.text()
    );
}

#[tokio::test(start_paused = true)]
async fn rollback_to_a_scaled_down_colour_whose_image_expired_from_ecr_is_refused_before_any_change()
 {
    let fake = production();
    deploy_ok(
        &fake,
        Options {
            keep_old: Some(0),
            ..opts(NEW)
        },
    )
    .await;
    assert_eq!(fake.desired("backend-blue"), 0);
    // The lifecycle rule expired the image blue ran.
    fake.lock().images.retain(|(_, tag, _)| tag != GOOD);
    fake.lock().calls.clear();
    let run = rollback_with(&fake, &yes, &Recording::default()).await;
    let err = run.finish.as_ref().unwrap_err().to_string();
    assert!(
        err.starts_with(&format!(
            "blue can't come back: it must be scaled up, and ECR no longer has its image {REPO}:{GOOD}"
        )),
        "{err}"
    );
    assert!(moves(&fake).is_empty(), "{:?}", moves(&fake));
    assert_eq!(fake.desired("backend-blue"), 0);
    assert_eq!(fake.weights(443, "backend"), (0, 100));
    assert!(fake.lease("eventflow-production-deploy-state").is_none());
}

#[tokio::test(start_paused = true)]
async fn rollback_to_a_colour_below_the_schema_floor_is_refused_before_any_change() {
    let fake = production();
    // Blue's release, verified when it knew migrations up to 3.
    let mut blue = crate::ledger::release(
        "20250101T000000.000Z",
        Kind::Deploy,
        GOOD,
        1,
        Outcome::Verified,
    );
    blue.environment = "production".to_owned();
    blue.task_definitions = [(
        "backend-blue".to_owned(),
        fake.service_task_definition("backend-blue"),
    )]
    .into();
    blue.schema = Some(crate::ledger::Schema {
        known_migration: 3,
        floor: Some(3),
    });
    fake.set_release("eventflow-production-deploy-state", "production", &blue);
    deploy_ok(
        &fake,
        Options {
            keep_old: Some(30),
            ..opts(NEW)
        },
    )
    .await;
    fake.set_desired("backend-blue", 2);
    fake.lock().calls.clear();
    let entries = releases(&fake).len();

    // Green's migration 4 declared nothing: blue's code can't serve it, even with its tasks up.
    let run = rollback_on_floor(&fake, &yes, &Recording::default(), Some(4)).await;
    let err = run.finish.as_ref().unwrap_err().to_string();
    assert!(
        err.starts_with(&format!("refusing to roll back: release 20250101T000000.000Z ({GOOD}) knows migrations up to 3, but the database's schema floor is 4, reported by ")),
        "{err}"
    );
    assert!(moves(&fake).is_empty(), "{:?}", moves(&fake));
    assert_eq!(fake.weights(443, "backend"), (0, 100));
    assert!(lock_is_free(&fake));
    assert_eq!(releases(&fake).len(), entries, "no ledger entry");

    // With a compatibility row the floor is 3: the traffic goes back to blue.
    let run = rollback_on_floor(&fake, &yes, &Recording::default(), Some(3)).await;
    assert_eq!(
        run.finish.as_ref().ok(),
        Some(&Finish::Verified),
        "{}",
        run.text()
    );
    assert_eq!(fake.weights(443, "backend"), (100, 0));
}

/// SIGKILL mid-canary: nothing of the deploy runs after the kill (its future is dropped, no
/// rollback, no release of the lease), so the lease is held and the entry stays `in_progress`.
/// `rollback production` takes over the dead deploy's lease at once and puts blue back.
#[tokio::test(start_paused = true)]
async fn sigkill_mid_canary_then_rollback_takes_over_the_lease_and_restores_blue() {
    let fake = production();
    let checks = FakeChecks::new(&fake);
    let notifier = Recording::default();
    let metrics = Scripted::of(&[(1000, 0)]);
    let killed = {
        let deploying = deploy_with(
            &fake,
            &checks,
            Options {
                canary: Some(10),
                bake: Some(300),
                ..opts(NEW)
            },
            &metrics,
            &yes,
            &notifier,
        );
        let canary_live = async {
            while fake.weights(443, "backend") != (90, 10) {
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        };
        tokio::select! {
            run = deploying => panic!("the deploy ended before the kill: {}", run.text()),
            () = canary_live => true,
        }
    };
    assert!(killed);
    assert_eq!(fake.weights(443, "backend"), (90, 10));
    assert!(!lock_is_free(&fake), "a killed run can't release its lease");
    assert_eq!(releases(&fake).pop().unwrap().result, Outcome::InProgress);

    let run = rollback_with(&fake, &yes, &Recording::default()).await;
    assert_eq!(
        run.finish.as_ref().ok(),
        Some(&Finish::Verified),
        "{}",
        run.text()
    );
    assert_eq!(fake.weights(443, "backend"), (100, 0));
    assert!(lock_is_free(&fake));
    let last = releases(&fake).pop().unwrap();
    assert_eq!(
        (last.kind, last.result),
        (Kind::Rollback, Outcome::RolledBackTo)
    );
}

#[tokio::test(start_paused = true)]
async fn a_refused_rollback_changes_nothing() {
    let fake = production();
    deploy_ok(&fake, opts(NEW)).await;
    fake.lock().calls.clear();
    let config = config::example_production();
    let console = Console::quiet();
    let checks = FakeChecks::new(&fake);
    let notifier = Recording::default();
    let mut ctx = Context {
        config: &config,
        platform: &fake,
        checks: &checks,
        console: &console,
        prompt: &no,
        cancel: tokio::sync::watch::channel(false).1,
        actor: "tester".to_owned(),
        notifier: &notifier,
    };
    let err = rollback(&mut ctx, &crate::rollback::Options::default())
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "not confirmed: nothing was changed");
    assert!(moves(&fake).is_empty(), "{:?}", moves(&fake));
    assert_eq!(fake.weights(443, "backend"), (0, 100));
    assert!(lock_is_free(&fake));
    assert!(notifier.results().is_empty());
}

#[tokio::test(start_paused = true)]
async fn status_shows_the_weights_and_a_colour_still_running() {
    let fake = production();
    deploy_ok(&fake, opts(NEW)).await;
    fake.set_desired("backend-blue", 2);
    let config = config::example_production();
    let console = Console::quiet();
    let checks = FakeChecks::new(&fake);
    let ctx = Context {
        config: &config,
        platform: &fake,
        checks: &checks,
        console: &console,
        prompt: &no,
        cancel: tokio::sync::watch::channel(false).1,
        actor: "tester".to_owned(),
        notifier: &crate::notify::Senders::none(),
    };
    crate::status::status(&ctx).await.unwrap();
    let text = console.lines().join("\n");
    assert!(
        text.contains(
            "  backend: production listener blue 0 / green 100, test listener blue 100 / green 0"
        ),
        "{text}"
    );
    assert!(
        text.contains("    backend-green: eventflow-backend:2 ("),
        "{text}"
    );
    assert!(text.contains("2/2 running, live"), "{text}");
    assert!(
        text.contains("idle, still running: the rollback window"),
        "{text}"
    );
    assert!(
        text.contains("  release "),
        "the live release is found in the ledger: {text}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_release_tag_another_image_holds_is_skipped() {
    // v1 is on an image the ledger doesn't know (tags are immutable: it can't be moved).
    let fake = production().with_image(REPO, "sha256:stray", &["v1"]);
    deploy_ok(&fake, opts(NEW)).await;
    assert_eq!(releases(&fake)[0].image_tag, "v2");
    assert!(fake.tags_of(REPO, "sha256:new").contains(&"v2".to_owned()));
}

#[tokio::test(start_paused = true)]
async fn a_rollback_dry_run_changes_nothing() {
    let fake = production();
    deploy_ok(
        &fake,
        Options {
            keep_old: Some(0),
            ..opts(NEW)
        },
    )
    .await;
    fake.lock().calls.clear();
    let config = config::example_production();
    let console = Console::quiet();
    let checks = FakeChecks::new(&fake);
    let mut ctx = Context {
        config: &config,
        platform: &fake,
        checks: &checks,
        console: &console,
        prompt: &no,
        cancel: tokio::sync::watch::channel(false).1,
        actor: "tester".to_owned(),
        notifier: &crate::notify::Senders::none(),
    };
    let opts = crate::rollback::Options {
        dry_run: true,
        ..crate::rollback::Options::default()
    };
    assert_eq!(rollback(&mut ctx, &opts).await.unwrap(), Finish::DryRun);
    assert!(fake.writes().is_empty(), "{:?}", fake.writes());
    let text = console.lines().join("\n");
    assert!(text.contains("then, without --dry-run: scale blue up and wait, wait for blue's healthy targets, shift every production forward to blue 100"), "{text}");
}

/// Counts that look fine, and Ctrl-C on the second read.
struct InterruptsDuringBake {
    reads: Mutex<usize>,
    cancel: Mutex<Option<tokio::sync::watch::Sender<bool>>>,
}

impl MetricSource for InterruptsDuringBake {
    async fn mark(&self, _: &Watched, _: u64) -> Result<()> {
        Ok(())
    }
    async fn accepted_before(&self, _: &Watched, _: u64) -> Result<Option<Rate>> {
        Ok(None)
    }
    async fn read(&self, _: &Watched, _: u64, now_ms: u64) -> Result<Reading> {
        let mut reads = self.reads.lock().unwrap();
        *reads += 1;
        if *reads == 2
            && let Some(sender) = self.cancel.lock().unwrap().take()
        {
            let _ = sender.send(true);
        }
        Ok(Reading {
            counts: Counts {
                requests: 1000,
                errors: 0,
            },
            accepted: None,
            covers_to_ms: now_ms,
        })
    }
    fn describe(&self) -> String {
        "scripted counts".to_owned()
    }
}

#[tokio::test(start_paused = true)]
async fn ctrl_c_during_the_bake_shifts_the_traffic_back() {
    let fake = production();
    let checks = FakeChecks::new(&fake);
    let (sender, receiver) = tokio::sync::watch::channel(false);
    let metrics = InterruptsDuringBake {
        reads: Mutex::new(0),
        cancel: Mutex::new(Some(sender)),
    };
    let config = config::example_production();
    let console = Console::quiet();
    let notifier = Recording::default();
    let mut ctx = Context {
        config: &config,
        platform: &fake,
        checks: &checks,
        console: &console,
        prompt: &yes,
        cancel: receiver,
        actor: "tester".to_owned(),
        notifier: &notifier,
    };
    let finish = deploy(&mut ctx, &opts(NEW), &metrics).await;
    // The traffic went back first; then the entry is marked cancelled and the run ends non-zero.
    let Ok(Finish::Failed(text)) = &finish else {
        panic!("{finish:?}\n{}", console.lines().join("\n"))
    };
    assert!(
        text.contains("interrupted (Ctrl-C) during the bake"),
        "{text}"
    );
    assert_eq!(fake.weights(443, "backend"), (100, 0));
    assert_eq!(notifier.results(), [NoticeResult::RolledBack]);
    assert!(lock_is_free(&fake));
    let last = releases(&fake).pop().unwrap();
    assert_eq!(last.result, Outcome::Cancelled);
    assert!(
        last.detail
            .as_deref()
            .unwrap_or_default()
            .starts_with("cancelled (SIGINT/SIGTERM): "),
        "{:?}",
        last.detail
    );
}

#[tokio::test(start_paused = true)]
async fn weights_left_between_the_colours_refuse_a_deploy_until_rolled_back() {
    let fake = production();
    // A run died during a canary: blue 90 / green 10.
    let rule = fake.lock().listeners[0].forwards[0].at.clone();
    let weights = fake.lock().listeners[0].forwards[0].weights.clone();
    fake.set_forward(
        &rule,
        &[(weights[0].0.clone(), 90), (weights[1].0.clone(), 10)],
    )
    .await
    .unwrap();
    fake.lock().calls.clear();
    let checks = FakeChecks::new(&fake);
    let run = deploy_with(
        &fake,
        &checks,
        opts(NEW),
        &Scripted::default(),
        &yes,
        &Recording::default(),
    )
    .await;
    let err = run.finish.unwrap_err().to_string();
    assert!(
        err.starts_with("the production listener splits the traffic between the colours"),
        "{err}"
    );
    assert!(moves(&fake).is_empty());
}

/// The checked-in production configuration, both apps: the backend's forward is a rule, the
/// frontend's the listeners' default action (as Terraform builds them).
#[tokio::test(start_paused = true)]
async fn the_checked_in_production_configuration_deploys_both_apps() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .unwrap();
    let mut config = config::Config::load(root, config::Environment::Production, None).unwrap();
    config.upstream_from(&config::example());
    config.poll_secs = 5;
    config.bake_secs = 30;
    const FRONTEND: &str = "eventflow-frontend";
    let fake = Fake::default()
        .with_service("backend-blue", REPO, "backend", &image(GOOD))
        .with_service("backend-green", REPO, "backend", &image(GOOD))
        .with_service(
            "frontend-blue",
            FRONTEND,
            "frontend",
            "r/eventflow-frontend:old",
        )
        .with_service(
            "frontend-green",
            FRONTEND,
            "frontend",
            "r/eventflow-frontend:old",
        )
        .with_image(REPO, "sha256:good", &[GOOD])
        .with_image(REPO, "sha256:new", &[NEW])
        .with_image(FRONTEND, "sha256:new-frontend", &[NEW])
        .with_template(
            "eventflow-production-backend-template",
            "backend",
            &image("initial"),
        )
        .with_template(
            "eventflow-production-frontend-template",
            "frontend",
            "r/eventflow-frontend:initial",
        )
        .with_load_balancer(
            "eventflow-production",
            "eventflow-prod",
            &["backend", "frontend"],
            "blue",
        );
    fake.set_desired("backend-green", 0);
    fake.set_desired("frontend-green", 0);
    let mut r = crate::ledger::release(
        "20260101T000000.000Z",
        Kind::Deploy,
        NEW,
        9,
        Outcome::Verified,
    );
    r.image_digests = [
        ("backend".to_owned(), "sha256:new".to_owned()),
        ("frontend".to_owned(), "sha256:new-frontend".to_owned()),
    ]
    .into();
    fake.set_release("eventflow-staging-deploy-state", "staging", &r);
    let checks = FakeChecks::new(&fake);
    let console = Console::quiet();
    let notifier = Recording::default();
    let mut ctx = Context {
        config: &config,
        platform: &fake,
        checks: &checks,
        console: &console,
        prompt: &yes,
        cancel: tokio::sync::watch::channel(false).1,
        actor: "tester".to_owned(),
        notifier: &notifier,
    };
    let finish = deploy(
        &mut ctx,
        &Options {
            keep_old: Some(0),
            ..opts(NEW)
        },
        &Scripted::of(&[(1000, 1)]),
    )
    .await;
    assert_eq!(
        finish.as_ref().ok(),
        Some(&Finish::Verified),
        "{}",
        console.lines().join("\n")
    );
    assert_eq!(fake.weights(443, "backend"), (0, 100));
    assert_eq!(fake.weights(443, "frontend"), (0, 100));
    assert!(
        fake.writes().iter().any(|w| w.starts_with("elasticloadbalancing:ModifyListener listener/app/eventflow-production/50dc6c495c0c9188/443 eventflow-prod-frontend-blue=0 eventflow-prod-frontend-green=100")),
        "{:?}",
        fake.writes()
    );
    assert_eq!(fake.desired("frontend-blue"), 0);
    assert_eq!(fake.desired("frontend-green"), 2);
    let r = &releases(&fake)[0];
    assert_eq!(
        r.task_definitions.keys().collect::<Vec<_>>(),
        ["backend-green", "frontend-green"]
    );
    // Built from Terraform's templates, registered in each app's own family.
    assert_eq!(
        fake.service_task_definition("backend-green"),
        arn("eventflow-production-backend", 1)
    );
    assert_eq!(
        fake.service_task_definition("frontend-green"),
        arn("eventflow-production-frontend", 1)
    );
    let lines = console.lines();
    assert!(
        lines.iter().any(|l| l == "backend: new revision from Terraform's template eventflow-production-backend-template:1"),
        "{}",
        lines.join("\n")
    );
}

// ---- Target health before every shift, and tasks that keep failing ------------------------------

/// The index in the recorded calls of the first one starting with `prefix`.
fn first_call(fake: &Fake, prefix: &str) -> Option<usize> {
    fake.calls().iter().position(|c| c.starts_with(prefix))
}

/// The DescribeTargetHealth calls on `group` made before the call at `before`.
fn health_reads_before(fake: &Fake, group: &str, before: usize) -> usize {
    fake.calls()[..before]
        .iter()
        .filter(|c| c.starts_with("elasticloadbalancing:DescribeTargetHealth") && c.contains(group))
        .count()
}

/// Production after a verified deploy of NEW on green whose rollback window is over: blue, the
/// rollback target, is scaled to 0.
async fn after_scale_down() -> Fake {
    let fake = production();
    deploy_ok(
        &fake,
        Options {
            keep_old: Some(0),
            ..opts(NEW)
        },
    )
    .await;
    assert_eq!(fake.desired("backend-blue"), 0);
    assert_eq!(fake.weights(443, "backend"), (0, 100));
    fake.lock().calls.clear();
    fake
}

#[tokio::test(start_paused = true)]
async fn rollback_to_a_scaled_down_colour_waits_for_healthy_targets_before_the_shift() {
    // The scale-up is COMPLETED with every task running at once (it starts no deployment), but
    // the load balancer passes blue's targets only on the third read.
    let fake = after_scale_down()
        .await
        .unhealthy_targets("backend-blue", Some(2));
    let run = rollback_with(&fake, &yes, &Recording::default()).await;
    assert_eq!(
        run.finish.as_ref().ok(),
        Some(&Finish::Verified),
        "{}",
        run.text()
    );
    let shift = first_call(&fake, "elasticloadbalancing:ModifyRule").expect("the shift");
    assert_eq!(
        health_reads_before(&fake, "eventflow-prod-backend-blue", shift),
        3,
        "{:?}",
        fake.calls()
    );
    assert!(
        run.text().contains("backend-blue (eventflow-prod-backend-blue): 0/2 target(s) healthy: 10.0.1.10:8080 unhealthy (Target.FailedHealthChecks: Health checks failed), 10.0.1.11:8080 unhealthy"),
        "{}",
        run.text()
    );
    assert_eq!(fake.weights(443, "backend"), (100, 0));
}

#[tokio::test(start_paused = true)]
async fn rollback_never_shifts_to_targets_that_stay_unhealthy_and_the_timeout_says_why() {
    let fake = after_scale_down()
        .await
        .unhealthy_targets("backend-blue", None)
        .with_history(
            "backend-blue",
            &[
                "(service backend-blue) has started 2 tasks: (task 7f3c) (task 9a1e).",
                "(service backend-blue) has stopped 1 running tasks: (task 5d2b).",
                "(service backend-blue) is unhealthy in target-group eventflow-prod-backend-blue due to (reason Health checks failed).",
                "(service backend-blue) has reached a steady state.",
            ],
            &[(
                "5d2b",
                "Task failed ELB health checks in (target-group eventflow-prod-backend-blue)",
            )],
        );
    let started = tokio::time::Instant::now();
    let run = rollback_with(&fake, &yes, &Recording::default()).await;
    let Ok(Finish::Failed(text)) = &run.finish else {
        panic!(
            "expected a failed rollback: {:?}\n{}",
            run.finish,
            run.text()
        );
    };
    // The rollout wait's deadline (900 s), not a new one.
    assert!(
        started.elapsed() <= Duration::from_secs(905),
        "{:?}",
        started.elapsed()
    );
    for part in [
        "backend-blue: target health of eventflow-prod-backend-blue: not enough healthy targets within",
        "0/2 target(s) healthy",
        "Task failed ELB health checks in (target-group eventflow-prod-backend-blue)",
        "newest events: \"(service backend-blue) has started 2 tasks",
        "is unhealthy in target-group",
        "the production listener is unchanged",
    ] {
        assert!(text.contains(part), "{part:?} missing from: {text}");
    }
    // Only the newest three events.
    assert!(!text.contains("steady state"), "{text}");
    assert_eq!(
        fake.weights(443, "backend"),
        (0, 100),
        "the listener unchanged"
    );
    assert!(
        !moves(&fake)
            .iter()
            .any(|m| m.starts_with("elasticloadbalancing:Modify")),
        "{:?}",
        moves(&fake)
    );
    let rollback = releases(&fake).pop().unwrap();
    assert_eq!(
        (rollback.kind, rollback.result),
        (Kind::Rollback, Outcome::Failed)
    );
    assert!(lock_is_free(&fake));
}

#[tokio::test(start_paused = true)]
async fn rollback_stops_early_when_the_scaled_up_tasks_keep_failing() {
    let fake = after_scale_down()
        .await
        .unhealthy_targets("backend-blue", None)
        .failing_tasks("backend-blue", 1)
        .with_history(
            "backend-blue",
            &["(service backend-blue) was unable to place a task."],
            &[
                (
                    "c0ffee",
                    "CannotPullContainerError: pull image manifest has been retried 5 time(s)",
                ),
                ("beef", "Essential container in task exited"),
            ],
        );
    let started = tokio::time::Instant::now();
    let run = rollback_with(&fake, &yes, &Recording::default()).await;
    let Ok(Finish::Failed(text)) = &run.finish else {
        panic!(
            "expected a failed rollback: {:?}\n{}",
            run.finish,
            run.text()
        );
    };
    // Three more failed tasks (the limit for 2 desired) at one per poll of 5 s: well before the
    // 900 s deadline.
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "{:?}",
        started.elapsed()
    );
    for part in [
        "tasks keep failing to start: failedTasks rose from",
        "stopped tasks: c0ffee (CannotPullContainerError: pull image manifest has been retried 5 time(s); exit code 1), beef (Essential container in task exited; exit code 1)",
        "newest events: \"(service backend-blue) was unable to place a task.\"",
    ] {
        assert!(text.contains(part), "{part:?} missing from: {text}");
    }
    assert_eq!(fake.weights(443, "backend"), (0, 100));
}

#[tokio::test(start_paused = true)]
async fn a_deploy_waits_for_the_new_colours_healthy_targets_before_any_listener_moves() {
    let fake = production().unhealthy_targets("backend-green", Some(2));
    let run = deploy_ok(&fake, opts(NEW)).await;
    let shift = first_call(&fake, "elasticloadbalancing:ModifyRule").expect("the shift");
    assert!(
        health_reads_before(&fake, "eventflow-prod-backend-green", shift) >= 3,
        "{:?}",
        fake.calls()
    );
    assert!(
        run.text()
            .contains("backend-green (eventflow-prod-backend-green): 2 target(s) healthy"),
        "{}",
        run.text()
    );
}

#[tokio::test(start_paused = true)]
async fn a_deploy_never_shifts_to_targets_that_stay_unhealthy() {
    let fake = production().unhealthy_targets("backend-green", None);
    let checks = FakeChecks::new(&fake);
    let run = deploy_with(
        &fake,
        &checks,
        opts(NEW),
        &Scripted::of(&[(1000, 3)]),
        &yes,
        &Recording::default(),
    )
    .await;
    let Ok(Finish::RolledBack(text)) = &run.finish else {
        panic!(
            "expected a rolled-back deploy: {:?}\n{}",
            run.finish,
            run.text()
        );
    };
    for part in [
        "failed on green: backend-green: target health of eventflow-prod-backend-green: not enough healthy targets within",
        "Target.FailedHealthChecks",
        "the traffic never moved: blue still serves production",
    ] {
        assert!(text.contains(part), "{part:?} missing from: {text}");
    }
    assert_eq!(fake.weights(443, "backend"), (100, 0));
    assert!(
        !moves(&fake)
            .iter()
            .any(|m| m.starts_with("elasticloadbalancing:Modify")),
        "neither listener moved: {:?}",
        moves(&fake)
    );
    assert!(checks.smoke_runs.lock().unwrap().is_empty());
    assert_eq!(fake.desired("backend-green"), 0, "green put back");
    let deploy = releases(&fake).pop().unwrap();
    assert_eq!(deploy.result, Outcome::RolledBack);
    assert!(lock_is_free(&fake));
}
