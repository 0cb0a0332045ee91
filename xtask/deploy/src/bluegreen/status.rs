//! `status production`: both listeners' weights and what each colour runs.

use std::collections::BTreeMap;

use anyhow::Result;

use crate::aws::Platform;
use crate::deploy::Context;
use crate::ledger::Colour;
use crate::taskdef::{self, short_name};

use super::topology;

/// `status production`: the weights, and what each colour runs. Returns the live colour's
/// services → task definitions, to find the release in the ledger.
pub async fn status<P: Platform, C>(ctx: &Context<'_, P, C>) -> Result<BTreeMap<String, String>> {
    let c = ctx.console;
    let topo = topology(ctx.platform, ctx.config).await?;
    let live = topo.live()?;
    let mut running = BTreeMap::new();
    for a in &topo.apps {
        c.say(format!(
            "  {}: production listener blue {} / green {}, test listener blue {} / green {}",
            a.app.name,
            a.production_weights.0,
            a.production_weights.1,
            a.test_weights.0,
            a.test_weights.1
        ));
        for colour in [Colour::Blue, Colour::Green] {
            let service = a.service(colour);
            let state = ctx
                .platform
                .describe_service(&ctx.config.cluster, service)
                .await?;
            let (td, _) = ctx
                .platform
                .describe_task_definition(&state.task_definition)
                .await?;
            let role = match live {
                Some(l) if l == colour => "live",
                Some(_) if state.desired > 0 => {
                    "idle, still running: the rollback window (the deploy scales it to 0 after --keep-old)"
                }
                Some(_) => "idle",
                None => "split",
            };
            c.say(format!(
                "    {service}: {} ({}), {}/{} running, {role}",
                short_name(&state.task_definition),
                taskdef::image_of(&td, &a.app.container).unwrap_or("?"),
                state.running,
                state.desired
            ));
            if live == Some(colour) {
                running.insert(service.to_owned(), state.task_definition.clone());
            }
        }
    }
    if live.is_none() {
        c.say("  the traffic is split between the colours: a deploy stopped mid-shift; `cargo xtask rollback production` puts it back");
    }
    Ok(running)
}
