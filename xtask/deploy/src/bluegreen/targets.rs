//! Healthy targets before a traffic shift. ECS's COMPLETED and `runningCount` say nothing about
//! the load balancer: a colour scaled back up starts no deployment at all, and a task runs well
//! before it passes its target group's health checks. So no forward sends a colour traffic until
//! each app's target group of that colour reports at least the colour's desired count of
//! `healthy` targets (DescribeTargetHealth).

use std::time::Duration;

use tokio::time::Instant;

use crate::aws::{ErrorKind, Platform, TargetHealth, arn_tail};
use crate::console::{Cancel, Console, interrupted};
use crate::ledger::Colour;
use crate::rollout::{self, FailedTasks};

use super::Topology;

/// Where a target group stands against the `desired` count of its colour's service. Pure.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Ready,
    /// Not yet: how far, with the unhealthy targets' reasons.
    Waiting(String),
}

pub fn judge(targets: &[TargetHealth], desired: i32) -> Verdict {
    // A colour that wants no tasks still takes no traffic: one healthy target at least.
    let need = usize::try_from(desired.max(1)).unwrap_or(1);
    let healthy = targets.iter().filter(|t| t.state == "healthy").count();
    if healthy >= need {
        return Verdict::Ready;
    }
    let mut others: Vec<String> = targets
        .iter()
        .filter(|t| t.state != "healthy")
        .map(|t| match &t.reason {
            Some(reason) => format!("{} {} ({reason})", t.target, t.state),
            None => format!("{} {}", t.target, t.state),
        })
        .collect();
    others.truncate(rollout::WHY_MAX);
    Verdict::Waiting(format!(
        "{healthy}/{need} target(s) healthy{}",
        if others.is_empty() {
            String::new()
        } else {
            format!(": {}", others.join(", "))
        }
    ))
}

/// Waits until every app's target group of `colour` reports the colour's desired count of
/// healthy targets, polling every `poll` until `deadline`, or until the service's tasks keep
/// failing to start ([`FailedTasks`]). `Err` is one line naming the target health and why (the
/// stopped tasks' reasons, the service's events); `cancel`, when given, ends the wait on Ctrl-C.
#[allow(clippy::too_many_arguments)] // each is one plain fact about the wait
pub async fn wait_healthy<P: Platform>(
    platform: &P,
    console: &Console,
    cluster: &str,
    topo: &Topology,
    colour: Colour,
    deadline: Instant,
    poll: Duration,
    mut cancel: Option<&mut Cancel>,
) -> Result<(), String> {
    let started = Instant::now();
    for a in &topo.apps {
        let service = a.service(colour);
        let group = arn_tail(a.target_group(colour))
            .split('/')
            .nth(1)
            .unwrap_or(a.target_group(colour))
            .to_owned();
        let mut failed_tasks = FailedTasks::new(None);
        let mut events: Vec<String> = Vec::new();
        let mut last = String::new();
        let mut errors = 0;
        loop {
            let read = async {
                let state = platform.describe_service(cluster, service).await?;
                let targets = platform.target_health(a.target_group(colour)).await?;
                Ok::<_, crate::aws::AwsError>((state, targets))
            };
            match read.await {
                Ok((state, targets)) => {
                    errors = 0;
                    events.clone_from(&state.events);
                    if let Some(failing) = failed_tasks.check(&state) {
                        let why = rollout::why(platform, cluster, service, &events).await;
                        return Err(format!(
                            "{service}: target health of {group}: {failing}; {why}"
                        ));
                    }
                    match judge(&targets, state.desired) {
                        Verdict::Ready => {
                            console.say(format!(
                                "  {service} ({group}): {} target(s) healthy ({}s)",
                                targets.iter().filter(|t| t.state == "healthy").count(),
                                started.elapsed().as_secs()
                            ));
                            break;
                        }
                        Verdict::Waiting(text) => {
                            if text != last {
                                console.say(format!(
                                    "  {service} ({group}): {text} ({}s)",
                                    started.elapsed().as_secs()
                                ));
                                last = text;
                            }
                        }
                    }
                }
                Err(e) if e.kind == ErrorKind::Credentials => return Err(e.to_string()),
                Err(e) => {
                    // As in the rollout's wait: one failed poll is not a failed shift.
                    errors += 1;
                    console.say(format!("  {service}: {e} (poll {errors} of 5, retrying)"));
                    if errors >= 5 {
                        return Err(format!("{service}: target health of {group}: {e}"));
                    }
                }
            }
            if Instant::now() + poll > deadline {
                let why = rollout::why(platform, cluster, service, &events).await;
                return Err(format!(
                    "{service}: target health of {group}: not enough healthy targets within {}s (last: {}); {why}",
                    started.elapsed().as_secs(),
                    if last.is_empty() { "no answer" } else { &last }
                ));
            }
            match cancel.as_deref_mut() {
                Some(cancel) => {
                    tokio::select! {
                        () = tokio::time::sleep(poll) => {}
                        () = interrupted(cancel) => {
                            return Err(format!("interrupted (Ctrl-C) while waiting for {service}'s healthy targets"));
                        }
                    }
                }
                None => tokio::time::sleep(poll).await,
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(n: u8, state: &str) -> TargetHealth {
        TargetHealth {
            target: format!("10.0.1.{n}:8080"),
            state: state.to_owned(),
            reason: (state != "healthy")
                .then(|| "Target.FailedHealthChecks: Health checks failed".to_owned()),
        }
    }

    #[test]
    fn the_desired_count_of_healthy_targets_is_ready() {
        let targets = [target(1, "healthy"), target(2, "healthy")];
        assert_eq!(judge(&targets, 2), Verdict::Ready);
        // Draining targets of older tasks do not count against the new ones.
        let more = [
            target(1, "healthy"),
            target(2, "healthy"),
            target(3, "draining"),
        ];
        assert_eq!(judge(&more, 2), Verdict::Ready);
    }

    #[test]
    fn running_tasks_whose_targets_fail_their_checks_are_not_ready() {
        let targets = [target(1, "healthy"), target(2, "unhealthy")];
        assert_eq!(
            judge(&targets, 2),
            Verdict::Waiting(
                "1/2 target(s) healthy: 10.0.1.2:8080 unhealthy (Target.FailedHealthChecks: Health checks failed)"
                    .into()
            )
        );
        let initial = [TargetHealth {
            target: "10.0.1.1:8080".into(),
            state: "initial".into(),
            reason: None,
        }];
        assert_eq!(
            judge(&initial, 1),
            Verdict::Waiting("0/1 target(s) healthy: 10.0.1.1:8080 initial".into())
        );
    }

    #[test]
    fn no_targets_at_all_is_not_ready_even_for_a_colour_that_wants_none() {
        assert_eq!(
            judge(&[], 0),
            Verdict::Waiting("0/1 target(s) healthy".into())
        );
    }
}
