//! The migration drill: `rollback staging` onto a schema that a newer release moved ahead, with
//! real backend containers on the sandbox's TLS-only PostgreSQL. Release A is deployed, then
//! release B (this commit's image under two tags), then the database gets migration N+1 as a
//! newer release would apply it (its schema change and its `_sqlx_migrations` row, through
//! SQL). Without a `schema_compatibility` row the rollback refuses before any change (B serves
//! on, the lease is free, the ledger gains nothing); with the row declaring A compatible, which
//! is the runbook's way out, the same rollback brings A back.
//!
//! The environment has a database of its own: the other drills' containers share the stage's
//! and would refuse to start on a schema moved ahead.

use sqlx::{Connection, PgConnection};
use xtask_deploy::deploy::Finish;
use xtask_deploy::ledger::{Kind, Ledger, Outcome, Schema};

use crate::support::{self, Staging};
use crate::{backend, images, state_table, xtask};

/// A database made for one drill on the stage's PostgreSQL, dropped at the end.
struct Database {
    admin_url: String,
    name: String,
    url: String,
}

impl Database {
    async fn create(name: &str) -> Database {
        let admin_url = support::stage_var("DATABASE_URL");
        let mut conn = PgConnection::connect(&admin_url).await.unwrap();
        sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&mut conn)
            .await
            .unwrap();
        sqlx::raw_sql(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .unwrap();
        let mut url = reqwest::Url::parse(&admin_url).unwrap();
        url.set_path(&format!("/{name}"));
        Database {
            admin_url,
            name: name.to_owned(),
            url: url.into(),
        }
    }

    async fn execute(&self, statement: &str) {
        let mut conn = PgConnection::connect(&self.url).await.unwrap();
        sqlx::raw_sql(statement).execute(&mut conn).await.unwrap();
    }

    async fn drop(self) {
        if let Ok(mut conn) = PgConnection::connect(&self.admin_url).await {
            // The environment's containers still hold connections.
            let _ = sqlx::raw_sql(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .execute(&mut conn)
            .await;
        }
    }
}

/// `GET /health` through the load balancer, as JSON (with a User-Agent: the WAF refuses
/// requests without one).
async fn health(url: &str) -> serde_json::Value {
    let response = reqwest::Client::builder()
        .user_agent("eventflow-deploy-drill")
        .build()
        .unwrap()
        .get(format!("{url}/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    response.json().await.unwrap()
}

#[tokio::test]
async fn drill_rollback_onto_a_schema_moved_ahead_refuses_until_a_compatibility_row_declares_it() {
    let started = std::time::Instant::now();
    let (_, sha) = backend();
    let images = images::images(&sha);
    let db = Database::create(&format!("eventflow_schema_drill_{}", std::process::id())).await;
    let env = Staging::serving_on("schema", &images.backend, "a0", &db.url).await;
    let url = env.public_url.clone();
    env.publish(&images.backend, &["release-a", "release-b", &sha])
        .await;

    // A, then B: each verified deploy records the newest migration its image knows.
    for tag in ["release-a", "release-b"] {
        let (finish, lines) = xtask(
            &env.config_path,
            &["deploy", "staging", "--image-tag", tag, "--yes"],
        )
        .await;
        assert_eq!(finish.unwrap(), Finish::Verified, "{}", lines.join("\n"));
    }
    let known = health(&url).await["known_migration_version"]
        .as_i64()
        .expect("/health reports known_migration_version");
    let sdk = xtask_deploy::aws::sdk::Sdk::from_env(support::REGION).await;
    let ledger = Ledger::new(&sdk, &env.config);
    let releases = ledger.releases().await.unwrap();
    assert_eq!(
        releases.iter().map(|r| r.schema).collect::<Vec<_>>(),
        [Some(Schema {
            known_migration: known,
            floor: Some(known)
        }); 2]
    );
    let b_revision = env.live().await;

    // A newer release's migration, as it would apply it: its change and its row.
    let ahead = known + 1;
    db.execute(&format!(
        "ALTER TABLE events ADD COLUMN drill_note text; \
         INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES ({ahead}, 'drill: from a newer release', true, '\\x00', 0)"
    ))
    .await;
    assert_eq!(health(&url).await["schema_floor"], ahead);

    // No compatibility row: A can't start on it, so the rollback refuses before any change.
    let (finish, lines) = xtask(&env.config_path, &["rollback", "staging", "--yes"]).await;
    let err = finish.unwrap_err().to_string();
    assert!(
        err.starts_with(&format!(
            "refusing to roll back: release {} (release-a) knows migrations up to {known}, but the database's schema floor is {ahead}, reported by {url}/health",
            releases[0].id
        )),
        "{err}\n{}",
        lines.join("\n")
    );
    assert!(
        err.ends_with("see docs/runbook.md#database-incidents"),
        "{err}"
    );
    assert_eq!(env.live().await, b_revision, "B still runs");
    assert_eq!(health(&url).await["status"], "ok", "B still serves");
    assert_eq!(
        state_table::lease(&env.config).await,
        None,
        "the lease is free"
    );
    assert_eq!(
        ledger.releases().await.unwrap().len(),
        2,
        "no ledger entry for the refusal"
    );

    // The runbook's way out for an expand-only migration: declare A compatible. Now it rolls back.
    db.execute(&format!(
        "INSERT INTO schema_compatibility (migration_version, oldest_compatible_version) VALUES ({ahead}, {known})"
    ))
    .await;
    assert_eq!(health(&url).await["schema_floor"], known);
    let (finish, lines) = xtask(&env.config_path, &["rollback", "staging", "--yes"]).await;
    assert_eq!(finish.unwrap(), Finish::Verified, "{}", lines.join("\n"));
    assert!(
        env.live().await.ends_with(&env.revision(2)),
        "A's revision runs: {}",
        lines.join("\n")
    );
    let served = health(&url).await;
    assert_eq!(
        (
            served["status"].as_str(),
            served["migration_version"].as_i64()
        ),
        (Some("ok"), Some(ahead)),
        "A serves the database moved ahead: {served}"
    );
    let story: Vec<_> = ledger
        .releases()
        .await
        .unwrap()
        .iter()
        .map(|r| (r.kind, r.image_tag.clone(), r.result))
        .collect();
    assert_eq!(
        story,
        [
            (Kind::Deploy, "release-a".to_owned(), Outcome::Verified),
            (Kind::Deploy, "release-b".to_owned(), Outcome::Verified),
            (
                Kind::Rollback,
                "release-a".to_owned(),
                Outcome::RolledBackTo
            ),
        ]
    );
    db.drop().await;
    eprintln!(
        "the migration drill took {:.1}s",
        started.elapsed().as_secs_f64()
    );
}
