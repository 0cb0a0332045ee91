//! One deploy or rollback per environment at a time: a lease, the item `lock` of the
//! environment's deploy-state table (DynamoDB). Every step is one conditional write, which
//! DynamoDB checks atomically with the write itself:
//!
//! - take: PutItem if `attribute_not_exists(pk) OR expires_at < :now` (no lease, or a dead
//!   run's expired one): of two runs that start at once, exactly one gets it;
//! - renew: UpdateItem of the expiry if `owner = :me`, every third of the lease, alongside the
//!   run's work ([`Lock::hold_while`]), so no `--bake` or `--timeout` can outlive it;
//! - release: DeleteItem if `owner = :me`: never someone else's lease.
//!
//! A run that loses its lease (a renewal finds another owner, or can't reach DynamoDB until the
//! lease ran out) stops before its next change ([`Lock::ensure_held`]). A killed run's lease
//! expires `lock_ttl_secs` (60 s) after its last renewal. A `rollback` may take over a lease a
//! *deploy* holds (the way back must never wait for a stuck deploy); it says so in one line.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Result, bail};
use serde::{Deserialize, Serialize};

use crate::aws::{AwsResult, Condition, Platform, StateItem, Written};
use crate::config::Config;
use crate::time;

/// The lease's sort key in the deploy-state table.
pub const LOCK_KEY: &str = "lock";

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    /// Who, and which process: `alice (GitHub Actions run 42) pid 123`
    pub owner: String,
    /// `deploy v1.2.3` or `rollback`
    pub operation: String,
    /// Unique to this acquisition, so only its owner renews and releases it.
    pub token: String,
    /// The commit the run deploys from (`GITHUB_SHA`), when known.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub sha: String,
    pub acquired_ms: u64,
    pub expires_ms: u64,
}

impl Holder {
    fn item(&self, environment: &str) -> Result<StateItem> {
        Ok(StateItem {
            pk: environment.to_owned(),
            sk: LOCK_KEY.to_owned(),
            body: serde_json::to_string(self)?,
            owner: Some(self.token.clone()),
            expires_ms: Some(self.expires_ms),
            ttl_secs: Some(self.expires_ms / 1000 + 1),
        })
    }
}

/// A held lease. Release it with [`Lock::release`] on every way out (success, failure, Ctrl-C);
/// if the process dies, the lease expires on its own.
pub struct Lock {
    pub table: String,
    pub environment: String,
    pub holder: Holder,
    lost: AtomicBool,
}

fn taken_message(config: &Config, other: &Holder) -> String {
    format!(
        "{} is locked: {} by {} since {}, until {} (renewed while it runs): wait for it to finish; a dead run's lease expires within {} s",
        config.environment,
        other.operation,
        other.owner,
        time::iso8601(other.acquired_ms),
        time::iso8601(other.expires_ms),
        config.lock_ttl_secs,
    )
}

/// Takes the environment's lease for `operation`, or fails naming who holds it. A `rollback`
/// takes over a lease held by a deploy.
pub async fn acquire<P: Platform>(
    platform: &P,
    config: &Config,
    owner: &str,
    operation: &str,
) -> Result<Lock> {
    let table = config.state_table();
    let environment = config.environment.clone();
    let now = time::now_ms();
    let holder = Holder {
        owner: format!("{owner} pid {}", std::process::id()),
        operation: operation.to_owned(),
        token: format!("{}-{}-{}", std::process::id(), now, unique()),
        sha: std::env::var("GITHUB_SHA").unwrap_or_default(),
        acquired_ms: now,
        expires_ms: now + config.lock_ttl_secs * 1000,
    };
    let item = holder.item(&environment)?;
    let mut written = platform
        .put_item(&table, &item, &Condition::AbsentOrExpired { now_ms: now })
        .await?;
    if written == Written::ConditionFailed {
        let current = platform.get_item(&table, &environment, LOCK_KEY).await?;
        let other = current
            .as_ref()
            .and_then(|i| serde_json::from_str::<Holder>(&i.body).ok());
        match (&other, current) {
            // A rollback breaks a deploy's lease: the way back must not wait for a stuck or
            // killed deploy. Conditional on that very owner, so a second rollback can't race it.
            (Some(other), Some(current))
                if operation == "rollback" && other.operation.starts_with("deploy") =>
            {
                eprintln!(
                    "taking over {}'s deploy lease from {} by {} (a rollback goes first; that deploy stops before its next change)",
                    config.environment, other.operation, other.owner
                );
                let owned = Condition::OwnedBy(current.owner.unwrap_or_default());
                written = platform.put_item(&table, &item, &owned).await?;
            }
            (Some(other), _) => bail!("{}", taken_message(config, other)),
            // Released between the two calls: try once more.
            (None, None) => {
                written = platform
                    .put_item(
                        &table,
                        &item,
                        &Condition::AbsentOrExpired {
                            now_ms: time::now_ms(),
                        },
                    )
                    .await?;
            }
            (None, Some(_)) => bail!(
                "{} is locked by a lease this version can't read: wait {} s for it to expire",
                config.environment,
                config.lock_ttl_secs
            ),
        }
    }
    if written == Written::ConditionFailed {
        bail!(
            "could not take {}'s deploy lease: another run took it at the same moment; see `cargo xtask status {}`",
            config.environment,
            config.environment
        );
    }
    Ok(Lock {
        table,
        environment,
        holder,
        lost: AtomicBool::new(false),
    })
}

/// Distinguishes two acquisitions in the same millisecond by the same process.
fn unique() -> u64 {
    use std::sync::atomic::AtomicU64;
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// One renewal: the new expiry, or why the lease is gone.
pub async fn renew_once<P: Platform>(
    platform: &P,
    table: &str,
    environment: &str,
    token: &str,
    ttl: Duration,
) -> AwsResult<Written> {
    let expires = time::now_ms() + u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
    platform
        .renew_lease(table, environment, LOCK_KEY, token, expires)
        .await
}

impl Lock {
    /// Runs `work` while renewing the lease every third of `ttl` (in the same task, so the
    /// engine's platform needs no `Send`). A renewal that finds another owner marks the lease
    /// lost; one that fails keeps trying until the lease would have run out, then marks it lost
    /// too, and `work` is stopped where it waits next, before it sends another call: the error
    /// says so. (`work` may also check [`Lock::ensure_held`] itself.)
    pub async fn hold_while<P: Platform, F: Future>(
        &self,
        platform: &P,
        ttl: Duration,
        work: F,
    ) -> Result<F::Output> {
        let renewals = async {
            let every = ttl / 3;
            let mut held_until = tokio::time::Instant::now() + ttl;
            loop {
                tokio::time::sleep(every).await;
                let token = &self.holder.token;
                match renew_once(platform, &self.table, &self.environment, token, ttl).await {
                    Ok(Written::Yes) => held_until = tokio::time::Instant::now() + ttl,
                    Ok(Written::ConditionFailed) => {
                        eprintln!(
                            "the deploy lease of {} was taken over: stopping before the next change",
                            self.environment
                        );
                        break;
                    }
                    Err(e) if tokio::time::Instant::now() + every >= held_until => {
                        eprintln!(
                            "could not renew the deploy lease of {} before it ran out ({e}): stopping before the next change",
                            self.environment
                        );
                        break;
                    }
                    Err(e) => eprintln!("warning: renewing the deploy lease: {e}; retrying"),
                }
            }
            self.lost.store(true, Ordering::SeqCst);
        };
        tokio::pin!(work);
        tokio::select! {
            out = &mut work => Ok(out),
            () = renewals => self.ensure_held().map(|()| unreachable!("the lease is lost")),
        }
    }

    /// Marks the lease lost, as a failed renewal does (for the tests).
    pub fn mark_lost(&self) {
        self.lost.store(true, Ordering::SeqCst);
    }

    /// Fails when the lease is no longer this run's: call it before every change.
    pub fn ensure_held(&self) -> Result<()> {
        if self.lost.load(Ordering::SeqCst) {
            bail!(
                "lost {}'s deploy lease (another run took it over, or it could not be renewed): stopped before the next change; see `cargo xtask status {}` for what runs",
                self.environment,
                self.environment
            );
        }
        Ok(())
    }

    /// Stops the renewal and deletes the lease if it is still ours (one conditional delete).
    pub async fn release<P: Platform>(&self, platform: &P) -> Result<()> {
        platform
            .delete_item(
                &self.table,
                &self.environment,
                LOCK_KEY,
                &Condition::OwnedBy(self.holder.token.clone()),
            )
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::fake::Fake;

    fn config() -> Config {
        Config::parse(
            r#"{"environment":"staging","cluster":"c","base_url":"http://x","ledger_prefix":"/eventflow/staging",
                "apps":{"backend":{"services":["backend"],"task_family":"f","container":"backend","ecr_repository":"r"}}}"#,
        )
        .unwrap()
    }

    const TABLE: &str = "eventflow-staging-deploy-state";

    fn lease(fake: &Fake) -> Holder {
        let items = fake.items(TABLE, LOCK_KEY);
        serde_json::from_str(&items[0].body).unwrap()
    }

    #[tokio::test]
    async fn one_run_holds_the_lease_and_the_second_is_told_who() {
        let fake = Fake::default();
        let config = config();
        let first = acquire(&fake, &config, "alice", "deploy v1").await.unwrap();
        let err = acquire(&fake, &config, "bob", "deploy v2")
            .await
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.starts_with("staging is locked: deploy v1 by alice pid"),
            "{err}"
        );
        assert_eq!(lease(&fake).token, first.holder.token);
    }

    #[tokio::test]
    async fn an_expired_lease_is_taken_over_in_one_conditional_write() {
        let fake = Fake::default();
        let config = config();
        let dead = acquire(&fake, &config, "dead", "deploy v1").await.unwrap();
        let mut item = fake.items(TABLE, LOCK_KEY).remove(0);
        item.expires_ms = Some(1);
        fake.set_item(TABLE, item);
        let next = acquire(&fake, &config, "bob", "deploy v2").await.unwrap();
        assert_eq!(lease(&fake).token, next.holder.token);
        assert_ne!(next.holder.token, dead.holder.token);
        // No delete: the takeover is the conditional put itself.
        assert!(
            !fake
                .calls()
                .iter()
                .any(|c| c.starts_with("dynamodb:Delete"))
        );
    }

    #[tokio::test]
    async fn release_deletes_only_its_own_lease() {
        let fake = Fake::default();
        let config = config();
        let first = acquire(&fake, &config, "alice", "deploy v1").await.unwrap();
        // alice's lease ran out and bob took it: alice's release must leave bob's alone.
        let mut item = fake.items(TABLE, LOCK_KEY).remove(0);
        item.expires_ms = Some(1);
        fake.set_item(TABLE, item);
        let second = acquire(&fake, &config, "bob", "deploy v2").await.unwrap();
        first.release(&fake).await.unwrap();
        assert_eq!(lease(&fake).token, second.holder.token);
        second.release(&fake).await.unwrap();
        assert!(fake.items(TABLE, LOCK_KEY).is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn the_lease_is_renewed_while_the_run_works() {
        let fake = Fake::default();
        let config = config();
        let lock = acquire(&fake, &config, "alice", "deploy v1").await.unwrap();
        let first_expiry = lease(&fake).expires_ms;
        // Work longer than three leases: the renewals keep it.
        let ttl = Duration::from_secs(60);
        lock.hold_while(&fake, ttl, tokio::time::sleep(Duration::from_secs(190)))
            .await
            .unwrap();
        let renewals = fake
            .calls()
            .iter()
            .filter(|c| c.starts_with("dynamodb:UpdateItem"))
            .count();
        assert_eq!(renewals, 9, "one every 20 s");
        assert!(lease(&fake).expires_ms >= first_expiry);
        lock.ensure_held().unwrap();
        lock.release(&fake).await.unwrap();
        assert!(fake.items(TABLE, LOCK_KEY).is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn a_lease_taken_over_is_lost_and_the_run_stops_before_its_next_change() {
        let fake = Fake::default();
        let config = config();
        let lock = acquire(&fake, &config, "alice", "deploy v1").await.unwrap();
        // A rollback takes the deploy's lease over while the deploy bakes.
        let rollback = acquire(&fake, &config, "bob", "rollback").await.unwrap();
        let changed = std::cell::Cell::new(false);
        let work = async {
            tokio::time::sleep(Duration::from_secs(25)).await;
            changed.set(true); // the deploy's next change: never reached
        };
        let err = lock
            .hold_while(&fake, Duration::from_secs(60), work)
            .await
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("lost staging's deploy lease"), "{err}");
        assert!(!changed.get());
        lock.release(&fake).await.unwrap();
        assert_eq!(lease(&fake).token, rollback.holder.token, "not released");
    }

    #[tokio::test(start_paused = true)]
    async fn renewal_that_keeps_failing_loses_the_lease_before_it_runs_out() {
        let fake = Fake::default().failing(
            "dynamodb:UpdateItem",
            crate::aws::ErrorKind::Throttled,
            "Rate exceeded",
            10,
        );
        let config = config();
        let lock = acquire(&fake, &config, "alice", "deploy v1").await.unwrap();
        let steps = std::cell::Cell::new(0);
        let work = async {
            for _ in 0..4 {
                tokio::time::sleep(Duration::from_secs(15)).await;
                steps.set(steps.get() + 1);
            }
        };
        let err = lock
            .hold_while(&fake, Duration::from_secs(60), work)
            .await
            .unwrap_err();
        // Renewals at 20 s (failed, retried) and 40 s (failed, the lease would run out at 60 s):
        // the work stops at 40 s, after its steps at 15 and 30 s.
        assert!(err.to_string().starts_with("lost staging's deploy lease"));
        assert_eq!(steps.get(), 2);
    }

    #[tokio::test]
    async fn a_deploy_never_takes_over_a_rollback_or_another_rollback() {
        let fake = Fake::default();
        let config = config();
        let _rollback = acquire(&fake, &config, "alice", "rollback").await.unwrap();
        for operation in ["deploy v2", "rollback"] {
            let err = acquire(&fake, &config, "bob", operation)
                .await
                .err()
                .unwrap()
                .to_string();
            assert!(
                err.starts_with("staging is locked: rollback by alice"),
                "{err}"
            );
        }
    }
}
