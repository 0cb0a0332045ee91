//! Forward-only schema migrations (`backend/migrations/`, embedded in the binary), applied at
//! start-up and by `eventflow-backend migrate`, then verified.
//!
//! Blue/green runs two releases on one database, and a rollback starts the previous release
//! on a database the new one migrated. So before migrating, this checks whether the database
//! is *ahead*: it has applied migrations this binary doesn't know. That is refused unless
//! each such migration declared, in `schema_compatibility`, that this release can still
//! serve the schema (see `0003_create_schema_compatibility.sql`).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use anyhow::{Context, bail};
use sqlx::migrate::{Migrate, MigrateError, Migrator};
use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, PgConnection, PgPool};

/// The migrations compiled into this binary.
pub fn migrator() -> Migrator {
    sqlx::migrate!("./migrations")
}

/// The newest migration this binary knows.
pub fn latest_known_version() -> i64 {
    migrator()
        .iter()
        .map(|migration| migration.version)
        .max()
        .unwrap_or(0)
}

/// What [`run`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Migrations applied by this run, oldest first.
    pub applied: Vec<i64>,
    /// The newest migration now applied.
    pub version: i64,
    /// Applied migrations this binary doesn't know, which declared it compatible.
    pub ahead_compatible: Vec<i64>,
}

/// The database has applied migrations this binary doesn't know and can't serve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabaseAhead {
    pub binary_version: i64,
    /// The unknown migrations that don't declare this binary compatible.
    pub incompatible: Vec<i64>,
}

impl fmt::Display for DatabaseAhead {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let versions: Vec<String> = self.incompatible.iter().map(i64::to_string).collect();
        write!(
            f,
            "the database is ahead of this binary: it has applied migration(s) {} that eventflow-backend {} \
             (newest migration {}) does not know and that do not declare it compatible; \
             deploy a release that includes them instead",
            versions.join(", "),
            crate::build_info::VERSION,
            self.binary_version,
        )
    }
}

impl std::error::Error for DatabaseAhead {}

/// Decides whether a binary whose newest migration is `binary_version` may serve a database
/// that has applied `unknown` migrations, given each migration's declared oldest compatible
/// version (`declarations`).
pub fn check_ahead(
    binary_version: i64,
    unknown: &BTreeSet<i64>,
    declarations: &BTreeMap<i64, i64>,
) -> Result<(), DatabaseAhead> {
    let incompatible: Vec<i64> = unknown
        .iter()
        .copied()
        .filter(|version| {
            declarations
                .get(version)
                .is_none_or(|oldest| *oldest > binary_version)
        })
        .collect();
    if incompatible.is_empty() {
        Ok(())
    } else {
        Err(DatabaseAhead {
            binary_version,
            incompatible,
        })
    }
}

/// The schema floor: the oldest release, named by its newest migration, that can serve a
/// database that applied `applied`. Each applied migration needs its declared oldest
/// compatible version (`declarations`), or, having declared none, itself; the floor is the
/// highest of those. A binary whose newest migration is at least the floor passes
/// [`check_ahead`] on that database. `None` before the first migration.
pub fn schema_floor(applied: &BTreeSet<i64>, declarations: &BTreeMap<i64, i64>) -> Option<i64> {
    applied
        .iter()
        .map(|version| declarations.get(version).copied().unwrap_or(*version))
        .max()
}

/// Where the database's schema stands, as `/health` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SchemaPosition {
    /// The newest successfully applied migration.
    pub applied: Option<i64>,
    /// See [`schema_floor`].
    pub floor: Option<i64>,
}

/// Reads the applied migrations and their compatibility declarations in one query. Runs on a
/// served database, which start-up migrated, so `schema_compatibility` exists.
pub async fn position(pool: &PgPool) -> Result<SchemaPosition, sqlx::Error> {
    let rows: Vec<(i64, Option<i64>)> = sqlx::query_as(
        "SELECT m.version, c.oldest_compatible_version FROM _sqlx_migrations m \
         LEFT JOIN schema_compatibility c ON c.migration_version = m.version WHERE m.success",
    )
    .fetch_all(pool)
    .await?;
    let applied: BTreeSet<i64> = rows.iter().map(|(version, _)| *version).collect();
    let declarations: BTreeMap<i64, i64> = rows
        .iter()
        .filter_map(|(version, oldest)| Some((*version, (*oldest)?)))
        .collect();
    Ok(SchemaPosition {
        applied: applied.last().copied(),
        floor: schema_floor(&applied, &declarations),
    })
}

/// Applies pending migrations and verifies the result. Runs on a connection of its own, which
/// holds sqlx's advisory lock throughout, so tasks starting together migrate one at a time.
pub async fn run(options: &PgConnectOptions) -> anyhow::Result<Outcome> {
    let mut conn = PgConnection::connect_with(options)
        .await
        .map_err(|error| crate::database_tls::connect_error(error, options))
        .context("cannot migrate")?;
    conn.lock()
        .await
        .context("cannot take the migration lock")?;
    let outcome = run_locked(&mut conn).await;
    // Closing the session releases the lock even if unlocking fails.
    let _ = conn.unlock().await;
    let _ = conn.close().await;
    outcome
}

async fn run_locked(conn: &mut PgConnection) -> anyhow::Result<Outcome> {
    conn.ensure_migrations_table()
        .await
        .context("cannot create the _sqlx_migrations table")?;
    let migrator = migrator();
    let known: BTreeSet<i64> = migrator.iter().map(|migration| migration.version).collect();
    let binary_version = latest_known_version();

    let before = applied(conn).await?;
    if let Some((version, _)) = before.iter().find(|(_, success)| !**success) {
        bail!(
            "migration {version} failed part-way in an earlier run: repair the database by hand, \
             then delete its row from _sqlx_migrations"
        );
    }
    let unknown: BTreeSet<i64> = before
        .keys()
        .copied()
        .filter(|version| !known.contains(version))
        .collect();
    if !unknown.is_empty() {
        check_ahead(
            binary_version,
            &unknown,
            &declarations(conn, &unknown).await?,
        )?;
    }

    let mut migrator = migrator;
    migrator.set_locking(false); // `run` holds the lock already.
    migrator.set_ignore_missing(!unknown.is_empty());
    migrator.run(&mut *conn).await.map_err(explain)?;

    // Verify: every known migration is applied and succeeded.
    let after = applied(conn).await?;
    let missing: Vec<i64> = known
        .iter()
        .copied()
        .filter(|version| after.get(version) != Some(&true))
        .collect();
    if !missing.is_empty() {
        bail!("migrations {missing:?} are not applied after migrating: check the database log");
    }
    let version = after.keys().copied().max().unwrap_or(0);
    if unknown.is_empty() && version != binary_version {
        bail!("the database is at migration {version} after migrating, expected {binary_version}");
    }
    Ok(Outcome {
        applied: after
            .keys()
            .copied()
            .filter(|version| !before.contains_key(version))
            .collect(),
        version,
        ahead_compatible: unknown.into_iter().collect(),
    })
}

/// Applied migrations: version → whether it succeeded.
async fn applied(conn: &mut PgConnection) -> anyhow::Result<BTreeMap<i64, bool>> {
    let rows: Vec<(i64, bool)> = sqlx::query_as("SELECT version, success FROM _sqlx_migrations")
        .fetch_all(&mut *conn)
        .await
        .context("cannot read _sqlx_migrations")?;
    Ok(rows.into_iter().collect())
}

/// The compatibility declarations of the given migrations, if the table exists yet.
async fn declarations(
    conn: &mut PgConnection,
    versions: &BTreeSet<i64>,
) -> anyhow::Result<BTreeMap<i64, i64>> {
    let exists: bool = sqlx::query_scalar("SELECT to_regclass('schema_compatibility') IS NOT NULL")
        .fetch_one(&mut *conn)
        .await
        .context("cannot look for the schema_compatibility table")?;
    if !exists {
        return Ok(BTreeMap::new());
    }
    let versions: Vec<i64> = versions.iter().copied().collect();
    let rows: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT migration_version, oldest_compatible_version FROM schema_compatibility \
         WHERE migration_version = ANY($1)",
    )
    .bind(&versions)
    .fetch_all(&mut *conn)
    .await
    .context("cannot read schema_compatibility")?;
    Ok(rows.into_iter().collect())
}

fn explain(error: MigrateError) -> anyhow::Error {
    match error {
        MigrateError::VersionMismatch(version) => anyhow::anyhow!(
            "migration {version} was changed after it was applied: migrations are forward-only, so restore \
             its original content and put the change in a new migration"
        ),
        MigrateError::Dirty(version) => anyhow::anyhow!(
            "migration {version} failed part-way in an earlier run: repair the database by hand, \
             then delete its row from _sqlx_migrations"
        ),
        other => anyhow::Error::new(other).context("applying migrations failed"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_migrations_are_numbered_from_one_without_gaps() {
        let versions: Vec<i64> = migrator()
            .iter()
            .map(|migration| migration.version)
            .collect();
        let expected: Vec<i64> = (1..=versions.len() as i64).collect();
        assert_eq!(versions, expected);
        assert_eq!(latest_known_version(), versions.len() as i64);
    }

    #[test]
    fn every_migration_bounds_its_lock_wait() {
        for migration in migrator().iter() {
            assert!(
                migration.sql.contains("SET LOCAL lock_timeout"),
                "migration {} must start with `SET LOCAL lock_timeout = …` so it can't queue behind a long lock \
                 and block every query behind it",
                migration.version
            );
        }
    }

    #[test]
    fn an_ahead_database_is_refused_unless_every_unknown_migration_declares_compatibility() {
        let unknown = BTreeSet::from([4, 5]);
        let error = check_ahead(3, &unknown, &BTreeMap::new()).unwrap_err();
        assert_eq!(error.incompatible, vec![4, 5]);
        assert!(
            error.to_string().starts_with(
                "the database is ahead of this binary: it has applied migration(s) 4, 5"
            )
        );

        assert!(check_ahead(3, &unknown, &BTreeMap::from([(4, 3), (5, 2)])).is_ok());
        // 5 is a contract step that needs release 4 or newer.
        assert_eq!(
            check_ahead(3, &unknown, &BTreeMap::from([(4, 3), (5, 4)]))
                .unwrap_err()
                .incompatible,
            vec![5]
        );
        assert_eq!(
            check_ahead(3, &unknown, &BTreeMap::from([(4, 3)]))
                .unwrap_err()
                .incompatible,
            vec![5]
        );
    }

    #[test]
    fn the_schema_floor_is_the_highest_declared_or_own_version() {
        let applied = |n: i64| (1..=n).collect::<BTreeSet<i64>>();
        assert_eq!(schema_floor(&BTreeSet::new(), &BTreeMap::new()), None);
        assert_eq!(schema_floor(&applied(3), &BTreeMap::new()), Some(3));
        // 4 expands and declares release 3 compatible; 5 declares 2, but 3 still needs 3.
        assert_eq!(
            schema_floor(&applied(4), &BTreeMap::from([(4, 3)])),
            Some(3)
        );
        assert_eq!(
            schema_floor(&applied(5), &BTreeMap::from([(4, 3), (5, 2)])),
            Some(3)
        );
        // 5 declares nothing: only a release that knows 5 can serve it.
        assert_eq!(
            schema_floor(&applied(5), &BTreeMap::from([(4, 3)])),
            Some(5)
        );
        // A declaration of a migration that isn't applied counts for nothing.
        assert_eq!(
            schema_floor(&applied(3), &BTreeMap::from([(4, 1)])),
            Some(3)
        );
    }

    #[test]
    fn a_binary_at_or_above_the_floor_is_exactly_one_that_check_ahead_lets_start() {
        let declaration_sets = [
            BTreeMap::new(),
            BTreeMap::from([(4, 3)]),
            BTreeMap::from([(4, 3), (5, 4)]),
            BTreeMap::from([(4, 2), (5, 2)]),
            BTreeMap::from([(5, 1)]),
        ];
        for declarations in &declaration_sets {
            for newest_applied in 3..=5 {
                let applied: BTreeSet<i64> = (1..=newest_applied).collect();
                let floor = schema_floor(&applied, declarations).unwrap();
                for binary in 1..=5 {
                    let unknown: BTreeSet<i64> =
                        applied.iter().copied().filter(|v| *v > binary).collect();
                    assert_eq!(
                        check_ahead(binary, &unknown, declarations).is_ok(),
                        binary >= floor,
                        "binary {binary}, applied ..={newest_applied}, {declarations:?}, floor {floor}"
                    );
                }
            }
        }
    }
}
