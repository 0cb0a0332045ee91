//! Before a rollback changes anything: can the release it goes back to start on the database?
//!
//! Migrations are forward-only, and a backend refuses to start on a database that applied a
//! migration it doesn't know unless that migration declared it compatible
//! (`schema_compatibility`). The backend's `/health` sums that up as the *schema floor*: the
//! oldest release, named by its newest migration, that can serve the database. The ledger
//! records the newest migration each release knows when its deploy is verified. A target that
//! knows fewer migrations than the floor would only crash-loop, so the rollback is refused
//! before the first change, naming both numbers and the way out (docs/runbook.md, "Database
//! incidents").

use std::collections::BTreeMap;

use anyhow::{Result, bail};

use crate::aws::Platform;
use crate::config::Config;
use crate::deploy::Context;
use crate::ledger::{Ledger, Release};
use crate::verify::Checks;

/// The runbook section a refusal points to.
pub const RUNBOOK: &str = "docs/runbook.md#database-incidents";

/// The database's schema floor, and where it was read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Floor {
    /// From the serving release's `/health` (the URL).
    Reported { floor: i64, url: String },
    /// From the ledger: what `/health` said when the release that runs now was verified.
    Recorded { floor: i64, release: String },
    /// Neither is known; why.
    Unknown(String),
}

impl Floor {
    fn describe(&self) -> String {
        match self {
            Floor::Reported { floor, url } => format!("{floor}, reported by {url}"),
            Floor::Recorded { floor, release } => format!(
                "{floor}, recorded when release {release} was verified (the serving release's /health did not say)"
            ),
            Floor::Unknown(why) => format!("unknown ({why})"),
        }
    }
}

/// What the ledger says of the target: its id and tag, and the newest migration it knows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub id: String,
    pub image_tag: String,
    pub known_migration: Option<i64>,
}

/// Go on (with the line to print, a warning when it is one), or refuse.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Proceed(String),
    Refuse(String),
}

/// The decision, from what is known.
pub fn judge(target: Option<&Target>, floor: &Floor) -> Verdict {
    let name = target.map_or_else(
        || "the target".to_owned(),
        |t| format!("release {} ({})", t.id, t.image_tag),
    );
    let known = target.and_then(|t| t.known_migration);
    let value = match floor {
        Floor::Reported { floor, .. } | Floor::Recorded { floor, .. } => Some(*floor),
        Floor::Unknown(_) => None,
    };
    match (known, value) {
        (Some(known), Some(value)) if known < value => Verdict::Refuse(format!(
            "refusing to roll back: {name} knows migrations up to {known}, but the database's schema floor is {}: its tasks would refuse to start on this schema, so nothing was changed; fix forward (deploy a release that knows migration {value}), or, if the migrations after {known} only expanded the schema, add their schema_compatibility rows (oldest_compatible_version {known}) and roll back again: see {RUNBOOK}",
            floor.describe()
        )),
        (Some(known), Some(_)) => Verdict::Proceed(format!(
            "schema: {name} knows migrations up to {known}; the database's schema floor is {}",
            floor.describe()
        )),
        (None, _) => Verdict::Proceed(format!(
            "warning: the ledger doesn't record which migrations {name} knows (it was verified before the engine recorded them): rolling back without checking it against the schema floor ({}); if its tasks exit at start, see {RUNBOOK}",
            floor.describe()
        )),
        (Some(known), None) => Verdict::Proceed(format!(
            "warning: the database's schema floor is {}: rolling back to {name} (migrations up to {known}) without knowing whether it can start on the schema; if its tasks exit at start, see {RUNBOOK}",
            floor.describe()
        )),
    }
}

/// The floor: the serving release's `/health` (one GET), else the one recorded when the
/// release that runs now (`live`, service → task definition) was verified.
pub async fn floor<C: Checks>(
    checks: &C,
    serving_url: &str,
    releases: &[Release],
    live: &BTreeMap<String, String>,
) -> Floor {
    let url = Config::health_url(serving_url);
    let why = match checks.health(&url).await {
        Ok(h) if h.status == 200 => match h.schema_floor {
            Some(floor) => return Floor::Reported { floor, url },
            None => format!("GET {url} does not report schema_floor"),
        },
        Ok(h) => format!("GET {url} answered {}", h.status),
        Err(e) => format!("GET {url} failed: {e:#}"),
    };
    let recorded = releases.iter().rev().find_map(|r| {
        let floor = r.schema?.floor?;
        r.is_live(live).then(|| Floor::Recorded {
            floor,
            release: r.id.clone(),
        })
    });
    recorded.unwrap_or_else(|| {
        Floor::Unknown(format!(
            "{why}, and the ledger has no floor recorded for what runs now"
        ))
    })
}

/// The ledger's newest entry for the release that runs `target` (service → task definition),
/// preferring one that recorded its migrations.
pub fn target_of(releases: &[Release], target: &BTreeMap<String, String>) -> Option<Target> {
    let runs_it = |r: &&Release| !r.task_definitions.is_empty() && &r.task_definitions == target;
    let entry = releases
        .iter()
        .rev()
        .filter(runs_it)
        .find(|r| r.schema.is_some())
        .or_else(|| releases.iter().rev().find(runs_it))?;
    Some(Target {
        id: entry.id.clone(),
        image_tag: entry.image_tag.clone(),
        known_migration: entry.schema.map(|s| s.known_migration),
    })
}

/// The check itself, run by every rollback before its first change (and by its dry run): reads
/// the floor and the ledger, prints what it found, and refuses when the target can't start.
pub async fn check_before_rollback<P: Platform, C: Checks>(
    ctx: &Context<'_, P, C>,
    serving_url: &str,
    target: &BTreeMap<String, String>,
    live: &BTreeMap<String, String>,
) -> Result<()> {
    // An unreadable ledger was refused earlier (the target comes from it); here it only
    // means no fallback.
    let releases = Ledger::new(ctx.platform, ctx.config)
        .releases()
        .await
        .unwrap_or_default();
    let floor = floor(ctx.checks, serving_url, &releases, live).await;
    match judge(target_of(&releases, target).as_ref(), &floor) {
        Verdict::Proceed(line) => {
            ctx.console.say(line);
            Ok(())
        }
        Verdict::Refuse(line) => bail!(line),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::{Kind, Outcome, Schema, release};
    use crate::verify::Health;

    fn target(known: Option<i64>) -> Target {
        Target {
            id: "01".into(),
            image_tag: "v1".into(),
            known_migration: known,
        }
    }

    fn reported(floor: i64) -> Floor {
        Floor::Reported {
            floor,
            url: "https://x/health".into(),
        }
    }

    #[test]
    fn a_target_below_the_floor_is_refused_naming_both_numbers_and_the_fix() {
        let Verdict::Refuse(line) = judge(Some(&target(Some(3))), &reported(4)) else {
            panic!("expected a refusal");
        };
        assert!(
            line.starts_with("refusing to roll back: release 01 (v1) knows migrations up to 3, but the database's schema floor is 4, reported by https://x/health"),
            "{line}"
        );
        assert!(line.contains("fix forward"), "{line}");
        assert!(line.contains("schema_compatibility"), "{line}");
        assert!(
            line.ends_with("see docs/runbook.md#database-incidents"),
            "{line}"
        );
        assert!(!line.contains('\n'));
        // The recorded floor refuses the same way.
        let recorded = Floor::Recorded {
            floor: 5,
            release: "02".into(),
        };
        assert!(matches!(
            judge(Some(&target(Some(4))), &recorded),
            Verdict::Refuse(line) if line.contains("floor is 5, recorded when release 02 was verified")
        ));
    }

    #[test]
    fn at_or_above_the_floor_proceeds_and_unknowns_warn() {
        for floor in [2, 3] {
            assert!(matches!(
                judge(Some(&target(Some(3))), &reported(floor)),
                Verdict::Proceed(line) if line.starts_with("schema: release 01 (v1) knows migrations up to 3")
            ));
        }
        let unknown = Floor::Unknown("GET x failed".into());
        assert!(matches!(
            judge(Some(&target(Some(3))), &unknown),
            Verdict::Proceed(line) if line.starts_with("warning: the database's schema floor is unknown (GET x failed)")
        ));
        for (t, floor) in [(Some(target(None)), reported(9)), (None, unknown)] {
            assert!(matches!(
                judge(t.as_ref(), &floor),
                Verdict::Proceed(line) if line.starts_with("warning: the ledger doesn't record which migrations")
            ));
        }
    }

    struct Answers(Result<Health, String>);
    impl Checks for Answers {
        async fn health(&self, _: &str) -> Result<Health> {
            self.0.clone().map_err(anyhow::Error::msg)
        }
        fn e2e_preflight(&self) -> Result<()> {
            Ok(())
        }
        async fn e2e(&self, _: &str) -> Result<()> {
            Ok(())
        }
        async fn smoke(&self, _: &str) -> Result<()> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn the_floor_comes_from_health_else_from_the_ledger_entry_of_what_runs() {
        let mut live = release("02", Kind::Deploy, "v2", 2, Outcome::Verified);
        live.schema = Some(Schema {
            known_migration: 4,
            floor: Some(4),
        });
        let mut older = release("01", Kind::Deploy, "v1", 1, Outcome::Verified);
        older.schema = Some(Schema {
            known_migration: 3,
            floor: Some(3),
        });
        let releases = [older, live.clone()];
        let answer = |h: Health| Answers(Ok(h));
        let ok = |floor| Health {
            status: 200,
            schema_floor: floor,
            ..Health::default()
        };
        let read = |checks: Answers| {
            let releases = releases.clone();
            let live = live.task_definitions.clone();
            async move { floor(&checks, "https://x", &releases, &live).await }
        };
        assert_eq!(
            read(answer(ok(Some(5)))).await,
            Floor::Reported {
                floor: 5,
                url: "https://x/health".into()
            }
        );
        let recorded = Floor::Recorded {
            floor: 4,
            release: "02".into(),
        };
        assert_eq!(read(answer(ok(None))).await, recorded);
        assert_eq!(
            read(answer(Health {
                status: 503,
                ..ok(Some(9))
            }))
            .await,
            recorded
        );
        assert_eq!(read(Answers(Err("refused".into()))).await, recorded);
        // Nothing recorded for what runs: unknown, saying why.
        let unknown = floor(
            &Answers(Err("connection refused".into())),
            "https://x",
            &releases,
            &BTreeMap::new(),
        )
        .await;
        assert!(
            matches!(&unknown, Floor::Unknown(why) if why.starts_with("GET https://x/health failed: connection refused")),
            "{unknown:?}"
        );
    }

    #[test]
    fn the_target_is_the_entry_that_runs_its_task_definitions_with_its_migrations() {
        let mut deploy = release("01", Kind::Deploy, "v1", 1, Outcome::Verified);
        deploy.schema = Some(Schema {
            known_migration: 3,
            floor: Some(3),
        });
        let mut back = release("03", Kind::Rollback, "v1", 1, Outcome::RolledBackTo);
        back.schema = None;
        let other = release("02", Kind::Deploy, "v2", 2, Outcome::Verified);
        let releases = [deploy.clone(), other, back];
        let t = target_of(&releases, &deploy.task_definitions).unwrap();
        assert_eq!((t.id.as_str(), t.known_migration), ("01", Some(3)));
        assert_eq!(target_of(&releases, &BTreeMap::new()), None);
    }
}
