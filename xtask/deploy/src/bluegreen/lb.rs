//! The load balancer as a blue/green deploy sees it: each app's target groups and where its
//! forwards live on the production and test listeners; shifting the weights and reading them back.

use std::collections::BTreeMap;

use anyhow::{Context as _, Result, bail};

use crate::aws::{ForwardAt, Platform};
use crate::config::{BlueGreenApp, Config};
use crate::deploy::Context;
use crate::ledger::Colour;

use super::colour_of;

/// One app's part of the load balancer.
#[derive(Clone, Debug)]
pub struct AppLb {
    pub app: BlueGreenApp,
    /// Target-group ARNs.
    pub blue_tg: String,
    pub green_tg: String,
    /// Where the app's forward lives on the production and on the test listener.
    pub production: ForwardAt,
    pub test: ForwardAt,
    /// (blue, green) weights now.
    pub production_weights: (i32, i32),
    pub test_weights: (i32, i32),
}

impl AppLb {
    pub fn service(&self, colour: Colour) -> &str {
        match colour {
            Colour::Blue => &self.app.services.blue,
            Colour::Green => &self.app.services.green,
        }
    }

    pub fn target_group(&self, colour: Colour) -> &str {
        match colour {
            Colour::Blue => &self.blue_tg,
            Colour::Green => &self.green_tg,
        }
    }

    /// The forward that gives `colour` `share` percent and the other colour the rest.
    pub fn weights(&self, colour: Colour, share: i32) -> Vec<(String, i32)> {
        let (blue, green) = match colour {
            Colour::Blue => (share, 100 - share),
            Colour::Green => (100 - share, share),
        };
        vec![(self.blue_tg.clone(), blue), (self.green_tg.clone(), green)]
    }
}

/// The load balancer as the deploy sees it.
#[derive(Clone, Debug)]
pub struct Topology {
    pub load_balancer: String,
    pub apps: Vec<AppLb>,
}

impl Topology {
    /// The colour every app's production forward sends the traffic to; `None` when it is
    /// split. Errors when the apps disagree or a forward sends nothing.
    pub fn live(&self) -> Result<Option<Colour>> {
        let mut live = None;
        for a in &self.apps {
            let (b, g) = a.production_weights;
            match colour_of(b, g) {
                Ok(c) => {
                    if live.is_some_and(|l: Option<Colour>| l != Some(c)) {
                        bail!(
                            "the apps' production forwards disagree on the live colour ({} is on {c}): run `cargo xtask rollback production`, or set the weights in the console",
                            a.app.name
                        );
                    }
                    live = Some(Some(c));
                }
                Err(why) if b > 0 && g > 0 => {
                    if live.is_some_and(|l: Option<Colour>| l.is_some()) {
                        bail!(
                            "{}'s production forward {why} while another app's does not: run `cargo xtask rollback production`",
                            a.app.name
                        );
                    }
                    live = Some(None);
                }
                Err(why) => bail!(
                    "{}'s production forward {why}: set it to 100 on one colour (see docs/runbook.md)",
                    a.app.name
                ),
            }
        }
        Ok(live.flatten())
    }
}

/// Reads the load balancer, its listeners and the apps' target groups.
pub async fn topology<P: Platform>(platform: &P, config: &Config) -> Result<Topology> {
    let apps = config.blue_green_apps()?;
    let (Some(lb_name), Some(ports)) = (&config.load_balancer, config.listeners) else {
        bail!(
            "{} has no `load_balancer` and `listeners` in its deploy.json",
            config.environment
        );
    };
    let lb = platform.load_balancer_arn(lb_name).await?;
    let listeners = platform.listeners(&lb).await?;
    let listener = |port: u16, what: &str| {
        listeners.iter().find(|l| l.port == port).with_context(|| {
            format!(
                "load balancer {lb_name} has no {what} listener on port {port}: check `listeners` in the environment's deploy.json, or apply its Terraform"
            )
        })
    };
    let production = listener(ports.production, "production")?;
    let test = listener(ports.test, "test")?;
    let names: Vec<String> = apps
        .iter()
        .flat_map(|a| [a.target_groups.blue.clone(), a.target_groups.green.clone()])
        .collect();
    let arns: BTreeMap<String, String> = platform
        .target_group_arns(&names)
        .await?
        .into_iter()
        .collect();
    let arn = |name: &str| {
        arns.get(name).cloned().with_context(|| {
            format!(
                "no target group {name}: check `apps.<app>.target_groups` in the environment's deploy.json, or apply its Terraform"
            )
        })
    };
    let mut out = Vec::new();
    for app in apps {
        let blue_tg = arn(&app.target_groups.blue)?;
        let green_tg = arn(&app.target_groups.green)?;
        let find = |l: &crate::aws::Listener, what: &str| {
            l.forwards
                .iter()
                .find(|f| f.weights.iter().any(|(tg, _)| tg == &blue_tg || tg == &green_tg))
                .map(|f| {
                    let w = |tg: &str| {
                        f.weights
                            .iter()
                            .filter(|(t, _)| t == tg)
                            .map(|(_, w)| *w)
                            .sum::<i32>()
                    };
                    (f.at.clone(), (w(&blue_tg), w(&green_tg)))
                })
                .with_context(|| {
                    format!(
                        "the {what} listener (port {}) forwards nothing to {} or {}: apply the environment's Terraform",
                        l.port, app.target_groups.blue, app.target_groups.green
                    )
                })
        };
        let (p_at, p_w) = find(production, "production")?;
        let (t_at, t_w) = find(test, "test")?;
        out.push(AppLb {
            app,
            blue_tg,
            green_tg,
            production: p_at,
            test: t_at,
            production_weights: p_w,
            test_weights: t_w,
        });
    }
    Ok(Topology {
        load_balancer: lb,
        apps: out,
    })
}

/// Sets every app's production forward to `share` percent on `colour`, then reads the weights
/// back; the error names what the listener says now.
pub(super) async fn shift<P: Platform, C>(
    ctx: &Context<'_, P, C>,
    topo: &Topology,
    colour: Colour,
    share: i32,
) -> Result<()> {
    for a in &topo.apps {
        let weights = a.weights(colour, share);
        ctx.console.call(
            false,
            format!(
                "{} {} forward {}",
                modify(&a.production),
                a.app.name,
                show(&weights)
            ),
        );
        ctx.platform.set_forward(&a.production, &weights).await?;
    }
    let back = topology(ctx.platform, ctx.config).await?;
    for a in &back.apps {
        let want = a.weights(colour, share);
        let got = a.production_weights;
        if (want[0].1, want[1].1) != got {
            bail!(
                "{}: the production listener reads back blue {} / green {}, not blue {} / green {}",
                a.app.name,
                got.0,
                got.1,
                want[0].1,
                want[1].1
            );
        }
    }
    ctx.console.say(format!(
        "  production listener (read back): {}",
        back.apps
            .iter()
            .map(|a| format!(
                "{} blue {} / green {}",
                a.app.name, a.production_weights.0, a.production_weights.1
            ))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    Ok(())
}

/// Points every app's test forward at `colour`.
pub(super) async fn point_test<P: Platform, C>(
    ctx: &Context<'_, P, C>,
    topo: &Topology,
    colour: Colour,
) -> Result<()> {
    for a in &topo.apps {
        let weights = a.weights(colour, 100);
        if (weights[0].1, weights[1].1) == a.test_weights {
            continue;
        }
        ctx.console.call(
            false,
            format!(
                "{} {} test forward {}",
                modify(&a.test),
                a.app.name,
                show(&weights)
            ),
        );
        ctx.platform.set_forward(&a.test, &weights).await?;
    }
    Ok(())
}

pub(super) fn modify(at: &ForwardAt) -> String {
    match at {
        ForwardAt::Listener(_) => format!("elasticloadbalancing:ModifyListener {at}"),
        ForwardAt::Rule(_) => format!("elasticloadbalancing:ModifyRule {at}"),
    }
}

pub(super) fn show(weights: &[(String, i32)]) -> String {
    weights
        .iter()
        .map(|(tg, w)| format!("{}={w}", tg.split('/').nth(1).unwrap_or(tg)))
        .collect::<Vec<_>>()
        .join(" ")
}
