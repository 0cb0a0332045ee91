//! EventFlow's deploy engine: rolling deploys to ECS with automatic rollback (staging),
//! blue/green deploys with promotion, smoke tests and a metric watch (production), the release
//! ledger and the deploy lease in DynamoDB, `rollback`, and `status`.
//!
//! The xtask forwards `cargo xtask deploy|rollback|status` here so that only these commands
//! compile the AWS SDK. Every AWS call goes through [`aws::Platform`], which the tests script.

pub mod aws;
pub mod bluegreen;
pub mod cli;
pub mod config;
pub mod console;
pub mod deadline;
pub mod deploy;
pub mod ledger;
pub mod lineage;
pub mod lock;
pub mod metrics;
pub mod notify;
pub mod promote;
pub mod push;
pub mod rollback;
pub mod rollout;
pub mod schema;
pub mod status;
pub mod taskdef;
pub mod template;
pub mod time;
pub mod user_agent;
pub mod verify;

use anyhow::Result;

use crate::aws::Platform;
use crate::cli::Command;
use crate::config::Strategy;
use crate::deploy::{Context, Finish};
use crate::metrics::MetricSource;
use crate::verify::Checks;

/// Runs one command. `Ok(Finish::RolledBack | Finish::Failed)` ends the process non-zero.
/// `metrics` is the error-rate source of a blue/green bake.
pub async fn run<P: Platform, C: Checks, M: MetricSource>(
    ctx: &mut Context<'_, P, C>,
    command: Command,
    dry_run: bool,
    metrics: &M,
) -> Result<Finish> {
    let blue_green = ctx.config.strategy == Strategy::BlueGreen;
    match command {
        Command::Deploy(args) if blue_green => {
            if args.base_url.is_some() {
                anyhow::bail!(
                    "--base-url is for rolling environments: production verifies through its test listener (`test_url`) and its production URL"
                );
            }
            let opts = bluegreen::Options {
                image_tag: args.image_tag,
                timeout: args.timeout,
                yes: args.yes,
                dry_run,
                canary: args.canary,
                bake: args.bake,
                keep_old: args.keep_old,
                force_unverified: args.force_unverified,
            };
            bluegreen::deploy(ctx, &opts, metrics).await
        }
        Command::Deploy(args) => {
            if args.canary.is_some()
                || args.bake.is_some()
                || args.keep_old.is_some()
                || args.force_unverified
            {
                anyhow::bail!(
                    "--canary, --bake, --keep-old and --force-unverified are for blue/green environments (production); {} deploys rolling",
                    ctx.config.environment
                );
            }
            let opts = deploy::Options {
                image_tag: args.image_tag,
                base_url: args.base_url,
                timeout: args.timeout,
                yes: args.yes,
                dry_run,
            };
            deploy::deploy(ctx, &opts).await
        }
        Command::Rollback(args) => {
            let opts = rollback::Options {
                to: args.to,
                base_url: args.base_url,
                yes: args.yes,
                dry_run,
                if_unfinished: args.if_unfinished,
            };
            if opts.if_unfinished {
                let live = if blue_green {
                    Some(
                        bluegreen::topology(ctx.platform, ctx.config)
                            .await?
                            .live()?,
                    )
                } else {
                    None
                };
                let releases = ledger::Ledger::new(ctx.platform, ctx.config)
                    .releases()
                    .await?;
                if let Err(why) = rollback::unfinished(&releases, live, &ctx.actor) {
                    ctx.console.say(format!(
                        "rollback {} --if-unfinished: nothing to do: {why}",
                        ctx.config.environment
                    ));
                    return Ok(Finish::Verified);
                }
            }
            if blue_green {
                bluegreen::rollback(ctx, &opts).await
            } else {
                rollback::rollback(ctx, &opts).await
            }
        }
        Command::Status(_) => {
            status::status(ctx).await?;
            Ok(Finish::Verified)
        }
        Command::Push(_) => anyhow::bail!("push needs no environment: main runs it before any"),
    }
}
