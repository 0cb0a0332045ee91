//! `status`: what runs now, the release history, and the deployment figures of the design
//! (deployment duration, success/failure rate, rollback frequency, time to recovery), all read
//! from ECS and the release ledger. Read-only.

use std::collections::BTreeMap;

use anyhow::Result;

use crate::aws::Platform;
use crate::deploy::Context;
use crate::ledger::{Kind, Ledger, Outcome, Release};
use crate::taskdef::{self, short_name};
use crate::time;

/// How many releases the history shows.
const HISTORY: usize = 15;

pub async fn status<P: Platform, C>(ctx: &Context<'_, P, C>) -> Result<()> {
    let c = ctx.console;
    let config = ctx.config;
    let releases = Ledger::new(ctx.platform, config).releases().await?;
    let mut live = BTreeMap::new();
    c.say(format!(
        "{} ({} in {})",
        config.environment, config.cluster, config.region
    ));
    if config.strategy == crate::config::Strategy::BlueGreen {
        live = crate::bluegreen::status(ctx).await?;
    }
    for app in &config.services {
        let state = ctx
            .platform
            .describe_service(&config.cluster, &app.service)
            .await?;
        let (td, _) = ctx
            .platform
            .describe_task_definition(&state.task_definition)
            .await?;
        let since = state
            .deployments
            .iter()
            .find(|d| d.status == "PRIMARY")
            .and_then(|d| d.created_at)
            .map_or_else(
                || "?".to_owned(),
                |s| time::iso8601(u64::try_from(s).unwrap_or(0) * 1000),
            );
        c.say(format!(
            "  {}: {} ({}), {}/{} running, since {since}",
            app.service,
            short_name(&state.task_definition),
            taskdef::image_of(&td, &app.container).unwrap_or("?"),
            state.running,
            state.desired
        ));
        live.insert(app.service.clone(), state.task_definition);
    }
    match releases.iter().rev().find(|r| r.is_live(&live)) {
        Some(r) => c.say(format!(
            "  release {}: image {}, git sha {}",
            r.id,
            r.image_tag,
            if r.git_sha.is_empty() {
                "unknown"
            } else {
                &r.git_sha
            }
        )),
        None => c.say("  (what runs is not in the release ledger: deployed by other means)"),
    }
    c.say("");
    c.say(format!("releases (newest first, last {HISTORY}):"));
    if releases.is_empty() {
        c.say("  none recorded yet");
    }
    for r in releases.iter().rev().take(HISTORY) {
        c.say(format!(
            "  {}  {:<8} {:<16} {:<12} {:<14} {:>8}  {}  {}",
            r.id,
            match r.kind {
                Kind::Deploy => "deploy",
                Kind::Rollback => "rollback",
            },
            r.image_tag,
            &r.git_sha[..r.git_sha.len().min(12)],
            r.result.as_str(),
            r.duration_secs()
                .map_or_else(|| "-".to_owned(), time::human),
            r.revisions(),
            r.actor
        ));
    }
    c.say("");
    for line in figures(&releases).lines() {
        c.say(line);
    }
    Ok(())
}

/// The deployment figures of the design, over every finished release the ledger keeps (its
/// newest [`crate::ledger::KEEP`]).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Figures {
    pub deploys: usize,
    pub verified: usize,
    /// Rolled back automatically, or failed outright.
    pub failed: usize,
    pub mean_deploy_secs: Option<u64>,
    pub automatic_rollbacks: usize,
    pub manual_rollbacks: usize,
    /// Mean time from a failure starting to a verified release running again.
    pub mean_recovery_secs: Option<u64>,
    /// Failures with no verified release after them yet.
    pub unrecovered: usize,
}

/// How each figure is counted:
/// - deployment duration: start to end of every finished deploy, whatever its result;
/// - success rate: verified deploys over finished deploys;
/// - rollback frequency: automatic rollbacks (failed deploys that were rolled back) and manual
///   `rollback` commands, per finished deploy;
/// - time to recovery: for a deploy rolled back automatically, its start to its end (the old
///   release verified again); for a deploy whose rollback failed, its start to the end of the next
///   release that was verified; for a manual rollback, from when the release it replaced went
///   live to when the rollback was verified.
pub fn figures(releases: &[Release]) -> Figures {
    let mut f = Figures::default();
    let finished: Vec<&Release> = releases
        .iter()
        .filter(|r| r.result != Outcome::InProgress && r.ended_ms.is_some())
        .collect();
    let deploys: Vec<&&Release> = finished.iter().filter(|r| r.kind == Kind::Deploy).collect();
    f.deploys = deploys.len();
    f.verified = deploys
        .iter()
        .filter(|r| r.result == Outcome::Verified)
        .count();
    f.failed = f.deploys - f.verified;
    f.automatic_rollbacks = deploys
        .iter()
        .filter(|r| r.result == Outcome::RolledBack)
        .count();
    f.manual_rollbacks = finished.iter().filter(|r| r.kind == Kind::Rollback).count();
    f.mean_deploy_secs = mean(deploys.iter().filter_map(|r| r.duration_secs()));
    let mut recoveries = Vec::new();
    for (i, r) in finished.iter().enumerate() {
        let ended = r.ended_ms.unwrap_or(r.started_ms);
        match (r.kind, r.result) {
            (Kind::Deploy, Outcome::RolledBack) => recoveries.push(ended - r.started_ms),
            (_, Outcome::Failed) => {
                let recovered = finished[i + 1..]
                    .iter()
                    .find(|n| matches!(n.result, Outcome::Verified | Outcome::RolledBackTo));
                match recovered {
                    Some(n) => {
                        recoveries.push(n.ended_ms.unwrap_or(0).saturating_sub(r.started_ms))
                    }
                    None => f.unrecovered += 1,
                }
            }
            (Kind::Rollback, Outcome::RolledBackTo) => {
                let bad_since = finished[..i]
                    .iter()
                    .rev()
                    .find(|p| p.task_definitions == r.previous)
                    .and_then(|p| p.ended_ms)
                    .unwrap_or(r.started_ms);
                recoveries.push(ended.saturating_sub(bad_since));
            }
            _ => {}
        }
    }
    f.mean_recovery_secs = mean(recoveries.into_iter().map(|ms| ms / 1000));
    f
}

fn mean(values: impl Iterator<Item = u64>) -> Option<u64> {
    let values: Vec<u64> = values.collect();
    (!values.is_empty()).then(|| values.iter().sum::<u64>() / values.len() as u64)
}

impl Figures {
    pub fn lines(&self) -> Vec<String> {
        let pct = |n: usize| {
            (n * 100)
                .checked_div(self.deploys)
                .map_or_else(|| "-".to_owned(), |p| format!("{p}%"))
        };
        let secs = |s: Option<u64>| s.map_or_else(|| "-".to_owned(), time::human);
        vec![
            format!(
                "deployment figures over the ledger's newest {} releases ({} finished deploys):",
                crate::ledger::KEEP,
                self.deploys
            ),
            format!(
                "  deployment duration (mean): {}",
                secs(self.mean_deploy_secs)
            ),
            format!(
                "  success rate: {} ({} verified, {} failed)",
                pct(self.verified),
                self.verified,
                self.failed
            ),
            format!(
                "  rollback frequency: {} of deploys rolled back automatically ({}), {} manual rollback(s)",
                pct(self.automatic_rollbacks),
                self.automatic_rollbacks,
                self.manual_rollbacks
            ),
            format!(
                "  time to recovery (mean): {}{}",
                secs(self.mean_recovery_secs),
                if self.unrecovered > 0 {
                    format!(", {} failure(s) not recovered yet", self.unrecovered)
                } else {
                    String::new()
                }
            ),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::release;

    fn timed(mut r: Release, start_s: u64, end_s: u64) -> Release {
        r.started_ms = start_s * 1000;
        r.ended_ms = Some(end_s * 1000);
        r
    }

    #[test]
    fn the_figures_follow_their_definitions() {
        let mut manual = release("05", Kind::Rollback, "v1", 1, Outcome::RolledBackTo);
        manual.previous = release("x", Kind::Deploy, "v4", 4, Outcome::Verified).task_definitions;
        let ledger = [
            timed(
                release("01", Kind::Deploy, "v1", 1, Outcome::Verified),
                0,
                100,
            ),
            timed(
                release("02", Kind::Deploy, "v2", 2, Outcome::RolledBack),
                1000,
                1300,
            ),
            timed(
                release("03", Kind::Deploy, "v3", 3, Outcome::Failed),
                2000,
                2200,
            ),
            timed(
                release("04", Kind::Deploy, "v4", 4, Outcome::Verified),
                2500,
                2600,
            ),
            timed(manual, 3000, 3100),
            {
                let mut r = release("06", Kind::Deploy, "v6", 6, Outcome::InProgress);
                r.ended_ms = None;
                r
            },
        ];
        let f = figures(&ledger);
        assert_eq!(
            f,
            Figures {
                deploys: 4,
                verified: 2,
                failed: 2,
                mean_deploy_secs: Some((100 + 300 + 200 + 100) / 4),
                automatic_rollbacks: 1,
                manual_rollbacks: 1,
                // 300 (auto rollback), 600 (failed at 2000, v4 verified at 2600), 500 (v4 live
                // from 2600 until the rollback ended at 3100)
                mean_recovery_secs: Some((300 + 600 + 500) / 3),
                unrecovered: 0,
            }
        );
        assert_eq!(
            f.lines(),
            [
                "deployment figures over the ledger's newest 100 releases (4 finished deploys):",
                "  deployment duration (mean): 2m 55s",
                "  success rate: 50% (2 verified, 2 failed)",
                "  rollback frequency: 25% of deploys rolled back automatically (1), 1 manual rollback(s)",
                "  time to recovery (mean): 7m 46s",
            ]
        );
    }

    #[test]
    fn an_empty_ledger_has_no_figures() {
        let f = figures(&[]);
        assert_eq!(f.lines()[1], "  deployment duration (mean): -");
        assert_eq!(f.lines()[2], "  success rate: - (0 verified, 0 failed)");
    }

    #[test]
    fn a_failure_with_nothing_good_after_it_is_unrecovered() {
        let f = figures(&[timed(
            release("01", Kind::Deploy, "v1", 1, Outcome::Failed),
            0,
            10,
        )]);
        assert_eq!((f.unrecovered, f.mean_recovery_secs), (1, None));
    }
}
