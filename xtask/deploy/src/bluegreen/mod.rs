//! Production's blue/green deploy and rollback.
//!
//! Each app runs as two ECS services, `<app>-blue` and `<app>-green`, each behind its own target
//! group. The production listener forwards by weight (100/0); the test listener forwards to the
//! idle colour. A deploy:
//!
//! 1. finds the live colour from the production listener's weights;
//! 2. checks that staging verified the image and runs it, and takes the lock;
//! 3. prints the plan (what runs now, what will run, the task-definition diff) and waits for a
//!    typed confirmation (unless `--yes`);
//! 4. promotes the image: its digest gets the release tag `v<N>` (no rebuild, no pull);
//! 5. registers the new revision and deploys it to the idle colour's service at the live
//!    service's task count, and waits for it;
//! 6. waits for the idle colour's targets to pass the load balancer's health checks, then checks
//!    `/health` and runs the smoke tests through the test listener;
//! 7. shifts the traffic (in steps with `--canary`; before each step the colour's target groups
//!    must report its desired count of healthy targets), watching the error rate for the bake
//!    time after each step; a spike shifts it straight back;
//! 8. points the test listener at the old colour, moves `latest`, and keeps the old colour
//!    running for `--keep-old` seconds (an instant rollback), then scales it to zero.
//!
//! A failure before the shift leaves the traffic where it was and puts the idle service back as
//! it was. `rollback production` shifts the weights back to the colour the last deploy
//! replaced, scaling it up first (and waiting) when it no longer runs, and only once that colour's
//! targets are healthy ([`targets`]). Every step is in the release ledger. See docs/blue-green.md for why this design.

mod deploy;
mod lb;
mod rollback;
mod status;
mod targets;

pub use deploy::deploy;
pub use lb::{AppLb, Topology, topology};
pub use rollback::rollback;
pub use status::status;

use anyhow::{Result, bail};

use crate::ledger::{Colour, Kind, Release};

/// The old colour's rollback window after the bake, unless `--keep-old` says otherwise.
pub const DEFAULT_KEEP_OLD_SECS: u64 = 600;

/// The flags of a blue/green `deploy`.
#[derive(Clone, Debug, Default)]
pub struct Options {
    pub image_tag: Option<String>,
    pub timeout: Option<u64>,
    pub yes: bool,
    pub dry_run: bool,
    pub canary: Option<u8>,
    pub bake: Option<u64>,
    pub keep_old: Option<u64>,
    pub force_unverified: bool,
}

// ---- Pure decisions ----------------------------------------------------------------------------

/// The colour a forward sends the traffic to, from its (blue, green) weights.
pub fn colour_of(blue: i32, green: i32) -> Result<Colour, String> {
    match (blue, green) {
        (b, 0) if b > 0 => Ok(Colour::Blue),
        (0, g) if g > 0 => Ok(Colour::Green),
        (0, 0) => Err("sends no traffic to either colour".to_owned()),
        (b, g) => Err(format!(
            "splits the traffic (blue {}%, green {}%)",
            percent(b, b + g),
            percent(g, b + g)
        )),
    }
}

fn percent(part: i32, whole: i32) -> i32 {
    if whole == 0 { 0 } else { part * 100 / whole }
}

/// The shares of the traffic the new colour gets, step by step: `[10, 100]` with a canary of
/// 10, `[100]` without.
pub fn shift_steps(canary: Option<u8>) -> Vec<i32> {
    match canary {
        Some(p) if (1..100).contains(&p) => vec![i32::from(p), 100],
        _ => vec![100],
    }
}

/// The colour `rollback production` goes back to: the one the newest blue/green deploy
/// replaced, as long as that deploy's colour takes traffic. `live` is the colour with the
/// traffic, `None` when it is split (a deploy stopped mid-shift).
pub fn rollback_colour(releases: &[Release], live: Option<Colour>) -> Result<(Colour, &Release)> {
    let Some(last) = releases.iter().rev().find(|r| r.blue_green.is_some()) else {
        bail!(
            "the ledger has no blue/green release of production: there is nothing to roll back to (deploy a known-good tag instead: `cargo xtask deploy production --image-tag TAG`)"
        );
    };
    let colours = last.blue_green.as_ref().map(|b| (b.from, b.to));
    let Some((from, to)) = colours else {
        unreachable!("found by blue_green.is_some()")
    };
    match (last.kind, live) {
        // Mid-shift: back to where the traffic came from.
        (Kind::Deploy, None) => Ok((from, last)),
        (Kind::Deploy, Some(live)) if live == to && from != to => Ok((from, last)),
        (Kind::Deploy, Some(live)) => bail!(
            "production runs {live}, and the last deploy ({}, {}) never took its traffic: there is nothing to roll back (deploy a known-good tag instead: `cargo xtask deploy production --image-tag TAG`)",
            last.image_tag,
            last.result.as_str()
        ),
        (Kind::Rollback, None) => Ok((to, last)),
        (Kind::Rollback, Some(live)) => bail!(
            "production runs {live}, where the last rollback ({}) put it: rolling back again would bring back the release it replaced; deploy a known-good tag instead: `cargo xtask deploy production --image-tag TAG`",
            last.id
        ),
    }
}

#[cfg(test)]
mod tests;
