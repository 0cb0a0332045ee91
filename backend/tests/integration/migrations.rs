//! Migrations: from empty, re-run as a no-op, concurrent starts, and the database-ahead check.

use eventflow_backend::migrations::{self, latest_known_version};
use sqlx::PgPool;

use crate::support::TestDb;

async fn tables(pool: &PgPool) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT tablename::text FROM pg_tables WHERE schemaname = 'public' ORDER BY 1",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}

/// Records a migration as applied that this binary doesn't know, as a newer release would.
async fn apply_future_migration(pool: &PgPool, version: i64) {
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES ($1, 'from a newer release', true, '\\x00', 0)",
    )
    .bind(version)
    .execute(pool)
    .await
    .unwrap();
}

#[tokio::test]
async fn from_empty_then_again_as_a_no_op() {
    let db = TestDb::create().await;
    let first = migrations::run(&db.options).await.unwrap();
    let all: Vec<i64> = (1..=latest_known_version()).collect();
    assert_eq!(first.applied, all);
    assert_eq!(first.version, latest_known_version());
    let pool = db.pool().await;
    assert_eq!(
        tables(&pool).await,
        [
            "_sqlx_migrations",
            "api_keys",
            "events",
            "schema_compatibility"
        ]
    );
    let history = |pool: PgPool| async move {
        sqlx::query_as::<_, (i64, Vec<u8>, chrono::DateTime<chrono::Utc>)>(
            "SELECT version, checksum, installed_on FROM _sqlx_migrations ORDER BY version",
        )
        .fetch_all(&pool)
        .await
        .unwrap()
    };
    let before = history(pool.clone()).await;

    let second = migrations::run(&db.options).await.unwrap();
    assert_eq!(second.applied, Vec::<i64>::new());
    assert_eq!(second.version, latest_known_version());
    assert_eq!(history(pool.clone()).await, before, "nothing re-applied");
}

#[tokio::test]
async fn tasks_starting_together_migrate_once() {
    let db = TestDb::create().await;
    let (a, b, c) = tokio::join!(
        migrations::run(&db.options),
        migrations::run(&db.options),
        migrations::run(&db.options)
    );
    let outcomes = [a.unwrap(), b.unwrap(), c.unwrap()];
    let applied: usize = outcomes.iter().map(|o| o.applied.len()).sum();
    assert_eq!(
        applied as i64,
        latest_known_version(),
        "each migration applied exactly once"
    );
    assert!(outcomes.iter().all(|o| o.version == latest_known_version()));
}

#[tokio::test]
async fn a_database_ahead_of_the_binary_is_refused() {
    let db = TestDb::migrated().await;
    let pool = db.pool().await;
    let future = latest_known_version() + 1;
    apply_future_migration(&pool, future).await;

    let error = migrations::run(&db.options).await.unwrap_err().to_string();
    assert!(
        error.starts_with("the database is ahead of this binary"),
        "{error}"
    );
    assert!(
        error.contains(&format!("migration(s) {future} ")),
        "{error}"
    );
}

#[tokio::test]
async fn a_database_ahead_is_served_when_its_migrations_declare_this_release_compatible() {
    let db = TestDb::migrated().await;
    let pool = db.pool().await;
    let (expand, contract) = (latest_known_version() + 1, latest_known_version() + 2);
    apply_future_migration(&pool, expand).await;
    sqlx::query("INSERT INTO schema_compatibility VALUES ($1, $2)")
        .bind(expand)
        .bind(latest_known_version())
        .execute(&pool)
        .await
        .unwrap();
    let outcome = migrations::run(&db.options).await.unwrap();
    assert_eq!(outcome.ahead_compatible, vec![expand]);
    assert_eq!(outcome.version, expand);

    // A later contract step that needs the expand release refuses this one again.
    apply_future_migration(&pool, contract).await;
    sqlx::query("INSERT INTO schema_compatibility VALUES ($1, $2)")
        .bind(contract)
        .bind(expand)
        .execute(&pool)
        .await
        .unwrap();
    let error = migrations::run(&db.options).await.unwrap_err().to_string();
    assert!(
        error.contains(&format!("migration(s) {contract} ")),
        "{error}"
    );
}

#[tokio::test]
async fn a_changed_or_failed_migration_stops_the_start() {
    let db = TestDb::migrated().await;
    let pool = db.pool().await;
    sqlx::query("UPDATE _sqlx_migrations SET checksum = '\\x00' WHERE version = 1")
        .execute(&pool)
        .await
        .unwrap();
    let error = migrations::run(&db.options).await.unwrap_err().to_string();
    assert!(
        error.starts_with("migration 1 was changed after it was applied"),
        "{error}"
    );

    sqlx::query("UPDATE _sqlx_migrations SET success = false WHERE version = 2")
        .execute(&pool)
        .await
        .unwrap();
    let error = migrations::run(&db.options).await.unwrap_err().to_string();
    assert!(error.starts_with("migration 2 failed part-way"), "{error}");
}
