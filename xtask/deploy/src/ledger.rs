//! The release ledger: every deploy and rollback of an environment, one item each in the
//! environment's deploy-state table (DynamoDB; pk = environment, sk = `release#<start time>`),
//! as JSON, the newest [`KEEP`] of them. It lives in AWS because CI runners are thrown away; read
//! newest-first with one Query. See docs/runbook.md.

use std::collections::BTreeMap;

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

use crate::aws::{Condition, Platform, StateItem};
use crate::config::Config;
use crate::taskdef;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Deploy,
    Rollback,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Still running, or the runner died before it could write the end.
    InProgress,
    /// Deployed, and `/health` (and the end-to-end suite) confirmed it.
    Verified,
    /// Failed, and the automatic rollback did not bring the previous release back either.
    Failed,
    /// Failed, and the automatic rollback restored (and verified) the previous release.
    RolledBack,
    /// A `rollback` command that restored (and verified) `target`.
    RolledBackTo,
    /// Stopped by SIGINT or SIGTERM (a cancelled CI job); a deploy rolled back first, and the
    /// entry's detail says whether that rollback was verified.
    Cancelled,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::InProgress => "in_progress",
            Outcome::Verified => "verified",
            Outcome::Failed => "failed",
            Outcome::RolledBack => "rolled_back",
            Outcome::RolledBackTo => "rolled_back_to",
            Outcome::Cancelled => "cancelled",
        }
    }
}

/// One deploy or rollback.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Release {
    /// The start time (`20261128T023400.123Z`), which is also the parameter's last segment.
    pub id: String,
    pub kind: Kind,
    pub environment: String,
    pub image_tag: String,
    /// Service → the digest of the image it runs.
    pub image_digests: BTreeMap<String, String>,
    pub git_sha: String,
    /// Service → the task-definition ARN this release runs.
    pub task_definitions: BTreeMap<String, String>,
    /// Service → what ran before, the automatic rollback point.
    pub previous: BTreeMap<String, String>,
    /// `GITHUB_ACTOR` in CI, `USER` on a laptop.
    pub actor: String,
    /// Epoch milliseconds.
    pub started_ms: u64,
    pub ended_ms: Option<u64>,
    pub result: Outcome,
    /// For a rollback: the id of the release it restored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// What failed, in one line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// A blue/green release: the colours, and how the image got there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blue_green: Option<BlueGreen>,
    /// Every step of a blue/green release, as it happened.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<Step>,
    /// The schema as the release's `/health` reported it when it was verified; absent on
    /// entries from before the backend reported it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<Schema>,
}

/// Where a release stands against the database's migrations, from its `/health`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schema {
    /// The newest migration the release's image knows: it starts on a database whose schema
    /// floor is at most this.
    pub known_migration: i64,
    /// The database's schema floor when the release was verified.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub floor: Option<i64>,
}

impl Schema {
    /// What a verified release's `/health` answer records; `None` from a build that doesn't
    /// report its migrations.
    pub fn reported(health: &crate::verify::Health) -> Option<Schema> {
        Some(Schema {
            known_migration: health.known_migration?,
            floor: health.schema_floor,
        })
    }
}

/// What a blue/green release records beyond a rolling one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlueGreen {
    /// The colour that took the traffic before.
    pub from: Colour,
    /// The colour the release runs on (for a rollback: the colour it went back to).
    pub to: Colour,
    /// The tag the image was promoted from (what staging verified), for a deploy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promoted_from: Option<String>,
    /// `--force-unverified`: deployed although staging never verified this image.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub force_unverified: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Colour {
    Blue,
    Green,
}

impl Colour {
    pub fn other(self) -> Colour {
        match self {
            Colour::Blue => Colour::Green,
            Colour::Green => Colour::Blue,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Colour::Blue => "blue",
            Colour::Green => "green",
        }
    }
}

impl std::fmt::Display for Colour {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One step of a release: `shifted traffic: green 10%`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    pub at_ms: u64,
    pub what: String,
}

impl Release {
    pub fn duration_secs(&self) -> Option<u64> {
        self.ended_ms
            .map(|end| end.saturating_sub(self.started_ms) / 1000)
    }

    /// Whether this release's task definitions are exactly what runs now.
    pub fn is_live(&self, live: &BTreeMap<String, String>) -> bool {
        !self.task_definitions.is_empty() && &self.task_definitions == live
    }

    /// `eventflow-backend:42` (and the others), for people.
    pub fn revisions(&self) -> String {
        let names: Vec<&str> = self
            .task_definitions
            .values()
            .map(|a| taskdef::short_name(a))
            .collect();
        names.join(", ")
    }
}

/// Who started this run.
pub fn actor() -> String {
    let run = std::env::var("GITHUB_RUN_ID").ok();
    match (std::env::var("GITHUB_ACTOR").ok(), run) {
        (Some(actor), Some(run)) => format!("{actor} (GitHub Actions run {run})"),
        (Some(actor), None) => actor,
        _ => std::env::var("USER").unwrap_or_else(|_| "unknown".to_owned()),
    }
}

/// How many releases the ledger keeps per environment: the newest. Older ones are deleted after
/// each release ends, so reading it is one bounded Query however long the environment lives.
pub const KEEP: usize = 100;

/// The sort-key prefix of releases in the deploy-state table.
pub const RELEASE_PREFIX: &str = "release#";

pub struct Ledger<'a, P> {
    platform: &'a P,
    table: String,
    environment: String,
}

impl<'a, P: Platform> Ledger<'a, P> {
    pub fn new(platform: &'a P, config: &Config) -> Self {
        Ledger {
            platform,
            table: config.state_table(),
            environment: config.environment.clone(),
        }
    }

    /// Where `release` is kept: `<table> <environment>/release#<id>`, for people.
    pub fn parameter(&self, release: &Release) -> String {
        format!(
            "{} {}/{RELEASE_PREFIX}{}",
            self.table, self.environment, release.id
        )
    }

    /// Writes (or rewrites) `release`; once it has ended, deletes what lies beyond the newest
    /// [`KEEP`].
    pub async fn record(&self, release: &Release) -> Result<()> {
        let item = StateItem {
            pk: self.environment.clone(),
            sk: format!("{RELEASE_PREFIX}{}", release.id),
            body: serde_json::to_string(release)?,
            owner: None,
            expires_ms: None,
            ttl_secs: None,
        };
        self.platform
            .put_item(&self.table, &item, &Condition::Always)
            .await
            .context("writing the release ledger")?;
        if release.ended_ms.is_some() {
            self.prune().await.context("trimming the release ledger")?;
        }
        Ok(())
    }

    /// Deletes every release older than the newest [`KEEP`].
    pub async fn prune(&self) -> Result<usize> {
        // A few beyond the cap: after one write per release there is at most one too many.
        let items = self
            .platform
            .query_items(&self.table, &self.environment, RELEASE_PREFIX, KEEP + 20)
            .await?;
        let mut deleted = 0;
        for old in items.iter().skip(KEEP) {
            self.platform
                .delete_item(&self.table, &old.pk, &old.sk, &Condition::Always)
                .await?;
            deleted += 1;
        }
        Ok(deleted)
    }

    /// The newest [`KEEP`] releases, oldest first. Entries that don't parse are skipped, not
    /// fatal: the ledger must never stand in the way of a rollback.
    pub async fn releases(&self) -> Result<Vec<Release>> {
        let mut releases: Vec<Release> = self
            .platform
            .query_items(&self.table, &self.environment, RELEASE_PREFIX, KEEP)
            .await
            .context("reading the release ledger")?
            .into_iter()
            .filter_map(|item| serde_json::from_str(&item.body).ok())
            .collect();
        releases.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(releases)
    }
}

/// The release `rollback` goes to: `to` (a release id, an image tag, or a task-definition
/// revision like `eventflow-backend:41` or `41`) or else the newest verified deploy older than
/// the one that runs now. Never blindly the previous revision: after two failed deploys that is
/// a failed one.
pub fn rollback_target<'r>(
    releases: &'r [Release],
    live: &BTreeMap<String, String>,
    to: Option<&str>,
) -> Result<&'r Release> {
    let current = releases
        .iter()
        .rev()
        .find(|r| r.is_live(live) && r.kind == Kind::Deploy)
        .or_else(|| {
            // What runs now may have been brought back by an earlier rollback.
            releases.iter().rev().find(|r| r.is_live(live))
        });
    let mut candidates = releases
        .iter()
        .filter(|r| r.kind == Kind::Deploy && r.result == Outcome::Verified);
    if let Some(to) = to {
        let matches = |r: &&Release| {
            r.id == to
                || r.image_tag == to
                || r.task_definitions.values().any(|arn| {
                    let short = taskdef::short_name(arn);
                    arn == to
                        || short == to
                        || short.rsplit_once(':').is_some_and(|(_, rev)| rev == to)
                })
        };
        let Some(release) = releases.iter().rev().find(matches) else {
            bail!(
                "no release `{to}` in the ledger: pass a release id, an image tag or a task-definition revision that `cargo xtask status` lists"
            );
        };
        if release.kind != Kind::Deploy || release.result != Outcome::Verified {
            bail!(
                "release {} ({}) was never verified (result: {}): pick a verified release from `cargo xtask status`",
                release.id,
                release.image_tag,
                release.result.as_str()
            );
        }
        if release.is_live(live) {
            bail!(
                "release {} ({}) is what runs now: there is nothing to roll back",
                release.id,
                release.image_tag
            );
        }
        return Ok(release);
    }
    // The id of the deploy whose revision runs now: its own id, or the id of the release a
    // rollback brought back.
    let live_id = current.map(|r| match (&r.kind, &r.target) {
        (Kind::Rollback, Some(target)) => target.clone(),
        _ => r.id.clone(),
    });
    candidates
        .rfind(|r| !r.is_live(live) && live_id.as_ref().is_none_or(|id| &r.id < id))
        .with_context(|| {
            "no earlier verified release to roll back to: the ledger has none before what runs now (deploy a known-good tag instead: `cargo xtask deploy <env> --image-tag TAG`)".to_owned()
        })
}

#[cfg(test)]
pub(crate) fn release(id: &str, kind: Kind, tag: &str, rev: u32, result: Outcome) -> Release {
    Release {
        id: id.to_owned(),
        kind,
        environment: "staging".to_owned(),
        image_tag: tag.to_owned(),
        image_digests: [("backend".to_owned(), format!("sha256:{tag}"))].into(),
        git_sha: tag.to_owned(),
        task_definitions: [(
            "backend".to_owned(),
            format!("arn:aws:ecs:eu-central-1:1:task-definition/eventflow-backend:{rev}"),
        )]
        .into(),
        previous: BTreeMap::new(),
        actor: "ci".to_owned(),
        started_ms: 0,
        ended_ms: Some(1000),
        result,
        target: None,
        detail: None,
        blue_green: None,
        steps: Vec::new(),
        schema: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Kind::*;
    use Outcome::*;

    fn live(rev: u32) -> BTreeMap<String, String> {
        [(
            "backend".to_owned(),
            format!("arn:aws:ecs:eu-central-1:1:task-definition/eventflow-backend:{rev}"),
        )]
        .into()
    }

    #[test]
    fn goes_to_the_last_verified_release_not_the_previous_revision() {
        // v1 verified (rev 1), v2 verified (rev 2), v3 and v4 failed and were rolled back.
        let ledger = [
            release("01", Deploy, "v1", 1, Verified),
            release("02", Deploy, "v2", 2, Verified),
            release("03", Deploy, "v3", 3, RolledBack),
            release("04", Deploy, "v4", 4, RolledBack),
        ];
        // v2 runs; N−1 would be rev 1 by number but the last verified *before* v2 is v1.
        assert_eq!(
            rollback_target(&ledger, &live(2), None).unwrap().image_tag,
            "v1"
        );
    }

    #[test]
    fn after_a_rollback_the_next_one_goes_further_back() {
        let mut back = release("04", Rollback, "v2", 2, RolledBackTo);
        back.target = Some("02".to_owned());
        let ledger = [
            release("01", Deploy, "v1", 1, Verified),
            release("02", Deploy, "v2", 2, Verified),
            release("03", Deploy, "v3", 3, Verified),
            back,
        ];
        // v3 was rolled back to v2; rolling back again goes to v1, never forward to v3.
        assert_eq!(
            rollback_target(&ledger, &live(2), None).unwrap().image_tag,
            "v1"
        );
    }

    #[test]
    fn when_what_runs_is_unknown_the_newest_verified_other_release_is_the_target() {
        let ledger = [
            release("01", Deploy, "v1", 1, Verified),
            release("02", Deploy, "v2", 2, Verified),
        ];
        assert_eq!(
            rollback_target(&ledger, &live(9), None).unwrap().image_tag,
            "v2"
        );
    }

    #[test]
    fn with_no_earlier_good_release_it_refuses() {
        let ledger = [
            release("01", Deploy, "v1", 1, Failed),
            release("02", Deploy, "v2", 2, Verified),
        ];
        let err = rollback_target(&ledger, &live(2), None).unwrap_err();
        assert!(
            err.to_string().starts_with("no earlier verified release"),
            "{err}"
        );
        assert!(rollback_target(&[], &live(2), None).is_err());
    }

    #[test]
    fn to_picks_by_tag_id_or_revision_and_only_verified_ones() {
        let ledger = [
            release("01", Deploy, "v1", 1, Verified),
            release("02", Deploy, "v2", 2, Failed),
            release("03", Deploy, "v3", 3, Verified),
            release("04", Deploy, "v4", 4, Verified),
        ];
        let to = |s| rollback_target(&ledger, &live(4), Some(s)).map(|r| r.image_tag.clone());
        assert_eq!(to("v1").unwrap(), "v1");
        assert_eq!(to("03").unwrap(), "v3");
        assert_eq!(to("eventflow-backend:1").unwrap(), "v1");
        assert_eq!(to("3").unwrap(), "v3");
        assert!(
            to("v2")
                .unwrap_err()
                .to_string()
                .contains("was never verified (result: failed)")
        );
        assert!(
            to("v4")
                .unwrap_err()
                .to_string()
                .contains("is what runs now")
        );
        assert!(
            to("v9")
                .unwrap_err()
                .to_string()
                .starts_with("no release `v9` in the ledger")
        );
    }

    #[tokio::test]
    async fn the_ledger_keeps_the_newest_releases_and_reads_them_in_one_query() {
        let fake = crate::aws::fake::Fake::default();
        let config = Config::parse(
            r#"{"environment":"staging","cluster":"c","base_url":"http://x","ledger_prefix":"/eventflow/staging",
                "apps":{"backend":{"services":["backend"],"task_family":"f","container":"backend","ecr_repository":"r"}}}"#,
        )
        .unwrap();
        let ledger = Ledger::new(&fake, &config);
        for n in 0..KEEP + 3 {
            let mut r = release(&format!("2026{n:08}"), Deploy, "v", 1, Verified);
            r.ended_ms = None;
            ledger.record(&r).await.unwrap();
            r.ended_ms = Some(1);
            ledger.record(&r).await.unwrap();
        }
        let kept = fake.items("eventflow-staging-deploy-state", RELEASE_PREFIX);
        assert_eq!(kept.len(), KEEP);
        assert_eq!(kept[0].sk, "release#202600000003", "the oldest three went");
        fake.lock().calls.clear();
        let releases = ledger.releases().await.unwrap();
        assert_eq!(releases.len(), KEEP);
        assert_eq!(releases.last().unwrap().id, format!("2026{:08}", KEEP + 2));
        assert_eq!(fake.calls().len(), 1, "{:?}", fake.calls());
    }

    #[test]
    fn releases_round_trip_as_json() {
        let mut r = release("20261128T023400.123Z", Deploy, "abc", 7, RolledBack);
        let json = serde_json::to_string(&r).unwrap();
        assert!(json.contains(r#""result":"rolled_back""#), "{json}");
        assert!(!json.contains("schema"), "{json}");
        assert_eq!(serde_json::from_str::<Release>(&json).unwrap(), r);
        r.schema = Some(Schema {
            known_migration: 3,
            floor: Some(2),
        });
        let json = serde_json::to_string(&r).unwrap();
        assert!(
            json.contains(r#""schema":{"known_migration":3,"floor":2}"#),
            "{json}"
        );
        assert_eq!(serde_json::from_str::<Release>(&json).unwrap(), r);
    }
}
