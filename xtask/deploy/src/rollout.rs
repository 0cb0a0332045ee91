//! Waiting for ECS to finish moving a service to a task definition.
//!
//! Done means: the PRIMARY deployment runs the task definition we asked for, its rollout is
//! COMPLETED, and every desired task runs. A service that became "stable" because ECS's circuit
//! breaker rolled it back to the old revision is a failure, never a success. Tasks that keep
//! failing to start end the wait early ([`FailedTasks`]), and every failure and timeout says why
//! ([`why`]: the stopped tasks' reasons and the service's newest events).

use std::time::Duration;

use anyhow::Result;
use tokio::time::Instant;

use crate::aws::{ErrorKind, Platform, ServiceState, Started};
use crate::console::{Cancel, Console, interrupted};
use crate::taskdef::short_name;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Still moving; the text says how far.
    Waiting(String),
    Done,
    Failed(String),
}

/// Where `state` stands on the way to `target` (a task-definition ARN), `started` being the
/// deployment the UpdateService started (when its answer named one). Pure.
pub fn judge(state: &ServiceState, target: &str, started: Option<&Started>) -> Verdict {
    if let Some(started) = started
        && is_stale(state, started)
    {
        return Verdict::Waiting(format!(
            "ECS does not list deployment {} yet (a stale read)",
            started.id
        ));
    }
    let Some(primary) = state.deployments.iter().find(|d| d.status == "PRIMARY") else {
        return Verdict::Waiting("no primary deployment yet".to_owned());
    };
    let reason = |d: &crate::aws::Deployment| {
        d.rollout_reason
            .as_deref()
            .map_or_else(String::new, |r| format!(": {r}"))
    };
    if primary.task_definition != target {
        // ECS's circuit breaker starts a new primary deployment with the last good revision.
        let failed = state
            .deployments
            .iter()
            .find(|d| d.task_definition == target)
            .map_or_else(String::new, reason);
        return Verdict::Failed(format!(
            "ECS rolled the service back to {} (deployment circuit breaker){failed}",
            short_name(&primary.task_definition)
        ));
    }
    match primary.rollout_state.as_deref() {
        Some("FAILED") => Verdict::Failed(format!(
            "the rollout of {} FAILED{} ({} task(s) failed to start)",
            short_name(target),
            reason(primary),
            primary.failed_tasks
        )),
        state_name => {
            let completed = match state_name {
                Some(s) => s == "COMPLETED",
                // Services without rollout tracking: the old deployments are gone.
                None => state.deployments.len() == 1,
            };
            let all_running = primary.running == primary.desired && state.running == state.desired;
            if completed && all_running {
                Verdict::Done
            } else {
                Verdict::Waiting(format!(
                    "{}/{} task(s) running on {}, rollout {}{}",
                    primary.running,
                    primary.desired,
                    short_name(target),
                    state_name.unwrap_or("in progress"),
                    if primary.failed_tasks > 0 {
                        format!(", {} failed so far", primary.failed_tasks)
                    } else {
                        String::new()
                    }
                ))
            }
        }
    }
}

/// A read from before the update (DescribeServices is eventually consistent): the deployment
/// the update started is not listed and the primary one is older than it. A primary newer than
/// it is a real replacement, the circuit breaker's rollback.
fn is_stale(state: &ServiceState, started: &Started) -> bool {
    if state
        .deployments
        .iter()
        .any(|d| d.id.as_deref() == Some(started.id.as_str()))
    {
        return false;
    }
    let primary_created = state
        .deployments
        .iter()
        .find(|d| d.status == "PRIMARY")
        .and_then(|d| d.created_at);
    match (primary_created, started.created_at) {
        (Some(primary), Some(ours)) => primary < ours,
        // Without both times, a missing id alone can't be told from a replacement.
        _ => false,
    }
}

/// Without the started deployment (an UpdateService answer that named none): whether `state`
/// is a read from before the update. ECS's reads are eventually consistent: the
/// first DescribeServices after UpdateService may show no deployment of `target` yet, only the
/// primary that ran before, created before the update (`since`, seconds since the epoch). A
/// primary created since then without `target` is the circuit breaker's rollback, not a stale read.
pub fn stale(state: &ServiceState, target: &str, since: i64) -> bool {
    !state
        .deployments
        .iter()
        .any(|d| d.task_definition == target)
        && state
            .deployments
            .iter()
            .find(|d| d.status == "PRIMARY")
            .and_then(|d| d.created_at)
            .is_some_and(|created| created < since)
}

/// How many more tasks may fail to start during one wait before it stops: as many as the service
/// wants, and at least 3 (one task crashing once is not a trend). ECS's circuit breaker judges
/// deployments only, and a colour scaled back up starts none: without this rule a wait on tasks
/// that crash at start would sit out its whole timeout.
pub fn failed_limit(desired: i32) -> i32 {
    desired.max(3)
}

/// The primary deployment's failedTasks since a wait began.
#[derive(Debug, Default)]
pub struct FailedTasks {
    /// The deployment's id and its failedTasks when the wait first saw it.
    baseline: Option<(Option<String>, i32)>,
    tracked: Option<String>,
}

impl FailedTasks {
    /// `tracked`: the deployment the wait's own UpdateService started, all of whose failures
    /// happened since.
    pub fn new(tracked: Option<&Started>) -> FailedTasks {
        FailedTasks {
            baseline: None,
            tracked: tracked.map(|t| t.id.clone()),
        }
    }

    /// `Some(why)` once the primary deployment's failedTasks rose by [`failed_limit`] since the
    /// wait began.
    pub fn check(&mut self, state: &ServiceState) -> Option<String> {
        let primary = state.deployments.iter().find(|d| d.status == "PRIMARY")?;
        let base = match &self.baseline {
            Some((id, base)) if *id == primary.id => *base,
            // First seen, or a new primary: count from here (from 0 for our own deployment).
            _ => {
                let ours = primary.id.is_some() && primary.id == self.tracked;
                let base = if ours { 0 } else { primary.failed_tasks };
                self.baseline = Some((primary.id.clone(), base));
                base
            }
        };
        let limit = failed_limit(primary.desired.max(state.desired));
        (primary.failed_tasks - base >= limit).then(|| {
            format!(
                "tasks keep failing to start: failedTasks rose from {base} to {} while waiting ({limit} or more stops the wait)",
                primary.failed_tasks
            )
        })
    }
}

/// How many stopped tasks and events [`why`] names.
pub const WHY_MAX: usize = 3;

/// Why a wait on `service` failed or timed out, on one line: its newest stopped tasks'
/// `stoppedReason` and its newest `events` (from the last DescribeServices), at most
/// [`WHY_MAX`] of each.
pub async fn why<P: Platform>(
    platform: &P,
    cluster: &str,
    service: &str,
    events: &[String],
) -> String {
    let tasks = match platform.stopped_tasks(cluster, service, WHY_MAX).await {
        Ok(tasks) if tasks.is_empty() => "no stopped tasks".to_owned(),
        Ok(tasks) => format!(
            "stopped tasks: {}",
            tasks
                .iter()
                .map(|t| match &t.container {
                    Some(c) => format!("{} ({}; {c})", t.id, t.stopped_reason),
                    None => format!("{} ({})", t.id, t.stopped_reason),
                })
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Err(e) => format!("the stopped tasks could not be read ({e})"),
    };
    let events = if events.is_empty() {
        "no service events".to_owned()
    } else {
        format!(
            "newest events: {}",
            events
                .iter()
                .take(WHY_MAX)
                .map(|e| format!("\"{}\"", one_line(e)))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    format!("{tasks}; {events}")
}

/// An event's message on one line, cut at 200 characters.
fn one_line(text: &str) -> String {
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match flat.char_indices().nth(200) {
        Some((end, _)) => format!("{}…", &flat[..end]),
        None => flat,
    }
}

fn epoch_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

#[derive(Debug, PartialEq, Eq)]
pub enum Waited {
    Done,
    Failed(String),
    TimedOut(String),
    Interrupted,
}

/// Polls `service` every `poll` until `judge` says done or failed, `deadline` passes, or `cancel`
/// fires (when it is given: a rollback's own wait isn't interrupted).
#[allow(clippy::too_many_arguments)] // each is one plain fact about the wait
pub async fn wait<P: Platform>(
    platform: &P,
    console: &Console,
    cluster: &str,
    service: &str,
    target: &str,
    tracked: Option<&Started>,
    deadline: Instant,
    poll: Duration,
    mut cancel: Option<&mut Cancel>,
) -> Result<Waited> {
    let started = Instant::now();
    // The update was sent before the wait began.
    let since = epoch_secs();
    let mut last = String::new();
    let mut errors = 0;
    let mut failed_tasks = FailedTasks::new(tracked);
    let mut events: Vec<String> = Vec::new();
    loop {
        match platform.describe_service(cluster, service).await {
            Ok(state) => {
                errors = 0;
                events.clone_from(&state.events);
                let verdict = match judge(&state, target, tracked) {
                    Verdict::Failed(_) if tracked.is_none() && stale(&state, target, since) => {
                        Verdict::Waiting(format!(
                            "ECS does not show the deployment of {} yet",
                            short_name(target)
                        ))
                    }
                    Verdict::Waiting(text) => match failed_tasks.check(&state) {
                        Some(why) => Verdict::Failed(why),
                        None => Verdict::Waiting(text),
                    },
                    verdict => verdict,
                };
                match verdict {
                    Verdict::Done => {
                        console.say(format!(
                            "  {service}: {} running, rollout completed ({}s)",
                            short_name(target),
                            started.elapsed().as_secs()
                        ));
                        return Ok(Waited::Done);
                    }
                    Verdict::Failed(failed) => {
                        let why = why(platform, cluster, service, &events).await;
                        return Ok(Waited::Failed(format!("{failed}; {why}")));
                    }
                    Verdict::Waiting(text) => {
                        if text != last {
                            console.say(format!(
                                "  {service}: {text} ({}s)",
                                started.elapsed().as_secs()
                            ));
                            last = text;
                        }
                    }
                }
            }
            Err(e) if e.kind == ErrorKind::Credentials => return Err(e.into()),
            Err(e) => {
                // The SDK already retried with backoff; a throttled or failed poll is not a failed
                // deploy. Several in a row are.
                errors += 1;
                console.say(format!("  {service}: {e} (poll {errors} of 5, retrying)"));
                if errors >= 5 {
                    return Err(e.into());
                }
            }
        }
        if Instant::now() + poll > deadline {
            let why = why(platform, cluster, service, &events).await;
            return Ok(Waited::TimedOut(format!(
                "{}; {why}",
                if last.is_empty() {
                    "no progress"
                } else {
                    &last
                }
            )));
        }
        match cancel.as_deref_mut() {
            Some(cancel) => {
                tokio::select! {
                    () = tokio::time::sleep(poll) => {}
                    () = interrupted(cancel) => return Ok(Waited::Interrupted),
                }
            }
            None => tokio::time::sleep(poll).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::Deployment;

    const OLD: &str = "arn:aws:ecs:eu-central-1:1:task-definition/eventflow-backend:41";
    const NEW: &str = "arn:aws:ecs:eu-central-1:1:task-definition/eventflow-backend:42";

    fn dep(status: &str, td: &str, rollout: Option<&str>, running: i32) -> Deployment {
        Deployment {
            id: None,
            status: status.to_owned(),
            task_definition: td.to_owned(),
            rollout_state: rollout.map(str::to_owned),
            rollout_reason: None,
            desired: 2,
            running,
            failed_tasks: 0,
            created_at: None,
        }
    }

    fn state(td: &str, running: i32, deployments: Vec<Deployment>) -> ServiceState {
        ServiceState {
            task_definition: td.to_owned(),
            desired: 2,
            running,
            deployments,
            events: Vec::new(),
        }
    }

    #[test]
    fn completed_on_the_new_revision_with_every_task_running_is_done() {
        let s = state(NEW, 2, vec![dep("PRIMARY", NEW, Some("COMPLETED"), 2)]);
        assert_eq!(judge(&s, NEW, None), Verdict::Done);
    }

    #[test]
    fn in_progress_is_waiting_with_the_counts() {
        let s = state(
            NEW,
            3,
            vec![
                dep("PRIMARY", NEW, Some("IN_PROGRESS"), 1),
                dep("ACTIVE", OLD, Some("COMPLETED"), 2),
            ],
        );
        assert_eq!(
            judge(&s, NEW, None),
            Verdict::Waiting(
                "1/2 task(s) running on eventflow-backend:42, rollout IN_PROGRESS".into()
            )
        );
    }

    #[test]
    fn a_stable_service_that_the_circuit_breaker_rolled_back_is_a_failure() {
        let mut failed = dep("ACTIVE", NEW, Some("FAILED"), 0);
        failed.rollout_reason = Some("tasks failed to start".into());
        let s = state(
            OLD,
            2,
            vec![dep("PRIMARY", OLD, Some("COMPLETED"), 2), failed],
        );
        assert_eq!(
            judge(&s, NEW, None),
            Verdict::Failed(
                "ECS rolled the service back to eventflow-backend:41 (deployment circuit breaker): tasks failed to start"
                    .into()
            )
        );
        // And once the failed deployment is gone, the service looks perfectly stable: still failed.
        let s = state(OLD, 2, vec![dep("PRIMARY", OLD, Some("COMPLETED"), 2)]);
        assert!(matches!(judge(&s, NEW, None), Verdict::Failed(_)));
    }

    #[test]
    fn a_read_from_before_the_update_is_stale_but_the_breakers_rollback_is_not() {
        let since = 1_700_000_100;
        let mut before = dep("PRIMARY", OLD, Some("COMPLETED"), 2);
        before.created_at = Some(since - 600);
        let s = state(OLD, 2, vec![before.clone()]);
        assert!(stale(&s, NEW, since));
        // The same service once the new deployment shows: not stale (and judged as usual).
        let s = state(
            NEW,
            2,
            vec![dep("PRIMARY", NEW, Some("IN_PROGRESS"), 0), before],
        );
        assert!(!stale(&s, NEW, since));
        // The circuit breaker's rollback is a new primary, created after the update.
        let mut rollback = dep("PRIMARY", OLD, Some("COMPLETED"), 2);
        rollback.created_at = Some(since + 30);
        let s = state(OLD, 2, vec![rollback]);
        assert!(!stale(&s, NEW, since));
        assert!(matches!(judge(&s, NEW, None), Verdict::Failed(_)));
    }

    #[test]
    fn a_failed_rollout_is_a_failure() {
        let s = state(NEW, 0, vec![dep("PRIMARY", NEW, Some("FAILED"), 0)]);
        assert!(
            matches!(judge(&s, NEW, None), Verdict::Failed(t) if t.starts_with("the rollout of eventflow-backend:42 FAILED"))
        );
    }

    #[test]
    fn completed_but_short_of_tasks_is_still_waiting() {
        let s = state(NEW, 1, vec![dep("PRIMARY", NEW, Some("COMPLETED"), 1)]);
        assert!(matches!(judge(&s, NEW, None), Verdict::Waiting(_)));
    }

    #[test]
    fn without_rollout_tracking_one_deployment_left_is_done() {
        let s = state(NEW, 2, vec![dep("PRIMARY", NEW, None, 2)]);
        assert_eq!(judge(&s, NEW, None), Verdict::Done);
        let s = state(
            NEW,
            2,
            vec![dep("PRIMARY", NEW, None, 2), dep("ACTIVE", OLD, None, 1)],
        );
        assert!(matches!(judge(&s, NEW, None), Verdict::Waiting(_)));
    }

    #[test]
    fn failed_tasks_stop_the_wait_once_they_rose_by_the_desired_count_and_at_least_three() {
        assert_eq!(failed_limit(2), 3);
        assert_eq!(failed_limit(6), 6);
        let with_failed = |failed: i32| {
            let mut d = dep("PRIMARY", NEW, Some("IN_PROGRESS"), 1);
            d.id = Some("ecs-svc/1".into());
            d.failed_tasks = failed;
            state(NEW, 1, vec![d])
        };
        // Failures from before the wait began don't count (a deployment it didn't start).
        let mut seen = FailedTasks::new(None);
        assert_eq!(seen.check(&with_failed(5)), None);
        assert_eq!(seen.check(&with_failed(7)), None);
        assert_eq!(
            seen.check(&with_failed(8)),
            Some("tasks keep failing to start: failedTasks rose from 5 to 8 while waiting (3 or more stops the wait)".into())
        );
        // The wait's own deployment: every failure counts.
        let ours = Started {
            id: "ecs-svc/1".into(),
            created_at: None,
        };
        let mut seen = FailedTasks::new(Some(&ours));
        assert!(seen.check(&with_failed(3)).is_some());
    }

    /// The fake service `backend` moved to revision 2 (its rollout as scripted), and a wait on it.
    async fn wait_on(fake: &crate::aws::fake::Fake, deadline: Duration) -> Waited {
        let target = crate::aws::fake::arn("eventflow-backend", 2);
        let started = fake
            .update_service("eventflow-staging", "backend", &target, None)
            .await
            .unwrap();
        wait(
            fake,
            &Console::quiet(),
            "eventflow-staging",
            "backend",
            &target,
            started.as_ref(),
            Instant::now() + deadline,
            Duration::from_secs(10),
            None,
        )
        .await
        .unwrap()
    }

    /// A service whose rollout never completes.
    fn backend() -> crate::aws::fake::Fake {
        use crate::aws::fake::{Fake, Rollout};
        Fake::default()
            .with_service("backend", "eventflow-backend", "backend", "backend:1")
            .rollouts(&[Rollout::Stuck])
    }

    #[tokio::test(start_paused = true)]
    async fn rising_failed_tasks_end_the_wait_early_with_the_stopped_reasons() {
        let fake = backend().failing_tasks("backend", 1).with_history(
            "backend",
            &["(service backend) has started 1 tasks: (task 77aa)."],
            &[("77aa", "Essential container in task exited")],
        );
        let started = Instant::now();
        let Waited::Failed(text) = wait_on(&fake, Duration::from_secs(900)).await else {
            panic!("expected a failure");
        };
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(
            text,
            "tasks keep failing to start: failedTasks rose from 0 to 3 while waiting (3 or more stops the wait); stopped tasks: 77aa (Essential container in task exited; exit code 1); newest events: \"(service backend) has started 1 tasks: (task 77aa).\""
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_timeout_says_why_with_the_services_newest_events() {
        let fake = backend().with_history(
            "backend",
            &[
                "(service backend) was unable to place a task because no container instance met all of its requirements.",
                "(service backend) has started 1 tasks: (task 1).",
                "(service backend) has started 1 tasks: (task 2).",
                "(service backend) has reached a steady state.",
            ],
            &[],
        );
        let Waited::TimedOut(text) = wait_on(&fake, Duration::from_secs(60)).await else {
            panic!("expected a timeout");
        };
        assert!(
            text.starts_with("1/2 task(s) running on eventflow-backend:2, rollout IN_PROGRESS; no stopped tasks; newest events: \"(service backend) was unable to place a task"),
            "{text}"
        );
        assert!(text.contains("(task 2)"), "{text}");
        assert!(
            !text.contains("steady state"),
            "at most three events: {text}"
        );
    }

    fn with_id(mut d: Deployment, id: &str, created_at: i64) -> Deployment {
        d.id = Some(id.to_owned());
        d.created_at = Some(created_at);
        d
    }

    #[test]
    fn a_stale_read_without_the_started_deployment_is_waiting_not_a_circuit_breaker() {
        let started = Started {
            id: "ecs-svc/2".into(),
            created_at: Some(200),
        };
        // Before the update shows: the old deployment, older than ours, still primary.
        let stale = state(
            OLD,
            2,
            vec![with_id(
                dep("PRIMARY", OLD, Some("COMPLETED"), 2),
                "ecs-svc/1",
                100,
            )],
        );
        assert_eq!(
            judge(&stale, NEW, Some(&started)),
            Verdict::Waiting("ECS does not list deployment ecs-svc/2 yet (a stale read)".into())
        );
        // Without the started deployment the same read is judged a rollback, as before.
        assert!(matches!(judge(&stale, NEW, None), Verdict::Failed(_)));
        // A primary newer than ours is the circuit breaker's rollback: failed.
        let rolled_back = state(
            OLD,
            2,
            vec![with_id(
                dep("PRIMARY", OLD, Some("COMPLETED"), 2),
                "ecs-svc/3",
                300,
            )],
        );
        assert!(matches!(
            judge(&rolled_back, NEW, Some(&started)),
            Verdict::Failed(t) if t.contains("circuit breaker")
        ));
        // Ours listed and completed: done.
        let done = state(
            NEW,
            2,
            vec![with_id(
                dep("PRIMARY", NEW, Some("COMPLETED"), 2),
                "ecs-svc/2",
                200,
            )],
        );
        assert_eq!(judge(&done, NEW, Some(&started)), Verdict::Done);
    }
}
