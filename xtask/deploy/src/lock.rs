//! One deploy or rollback per environment at a time: the SSM parameter
//! `<ledger_prefix>/deploy-lock`, created with `Overwrite=false`, which SSM does atomically (the
//! second writer gets `ParameterAlreadyExists`). Its value says who holds it and until when; a
//! lock past its expiry was left by a runner that died and can be taken over.

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

use crate::aws::{Created, Platform};
use crate::config::Config;
use crate::time;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    /// Who, and which process: `alice (GitHub Actions run 42) pid 123 token 9f…`
    pub owner: String,
    /// `deploy v1.2.3` or `rollback`
    pub operation: String,
    /// Unique to this acquisition, so only its owner releases it.
    pub token: String,
    pub acquired_ms: u64,
    pub expires_ms: u64,
}

/// A held lock. Release it with [`Lock::release`] on every way out (success, failure, Ctrl-C);
/// if the process dies, the expiry frees it.
pub struct Lock {
    pub name: String,
    pub holder: Holder,
}

pub async fn acquire<P: Platform>(
    platform: &P,
    config: &Config,
    owner: &str,
    operation: &str,
) -> Result<Lock> {
    let name = config.lock_name();
    let now = time::now_ms();
    let holder = Holder {
        owner: format!("{owner} pid {}", std::process::id()),
        operation: operation.to_owned(),
        token: format!("{}-{}", std::process::id(), now),
        acquired_ms: now,
        expires_ms: now + config.lock_ttl_secs * 1000,
    };
    let value = serde_json::to_string(&holder)?;
    for _ in 0..2 {
        match platform
            .put_parameter(&name, &value, false)
            .await
            .context("taking the deploy lock")?
        {
            Created::Yes => return Ok(Lock { name, holder }),
            Created::AlreadyExists => {}
        }
        let Some(current) = platform.get_parameter(&name).await? else {
            continue; // released between our two calls: try again
        };
        match serde_json::from_str::<Holder>(&current) {
            Ok(other) if other.expires_ms > time::now_ms() => bail!(
                "{} is locked: {} by {} since {}, until {}: wait for it to finish (or, if that run is dead, delete the SSM parameter {name})",
                config.environment,
                other.operation,
                other.owner,
                time::iso8601(other.acquired_ms),
                time::iso8601(other.expires_ms),
            ),
            // Expired, or not ours to read: a dead run's lock. Take it over. Two runs reclaiming the
            // same dead lock at the same moment could both pass the delete, but only one create
            // succeeds.
            _ => {
                eprintln!("taking over the expired deploy lock {name} ({current})");
                platform.delete_parameter(&name).await?;
            }
        }
    }
    bail!("could not take the deploy lock {name}: another run keeps taking it; try again")
}

impl Lock {
    /// Deletes the lock if it is still ours.
    pub async fn release<P: Platform>(&self, platform: &P) -> Result<()> {
        let current = platform.get_parameter(&self.name).await?;
        let ours = current
            .as_deref()
            .and_then(|v| serde_json::from_str::<Holder>(v).ok())
            .is_some_and(|h| h.token == self.holder.token);
        if ours {
            platform
                .delete_parameter(&self.name)
                .await
                .with_context(|| format!("releasing the deploy lock {}", self.name))?;
        }
        Ok(())
    }
}
