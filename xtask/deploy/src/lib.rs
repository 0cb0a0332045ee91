//! EventFlow's deploy engine: rolling deploys to ECS with automatic rollback, the release ledger
//! and the deploy lock in SSM, `rollback` to the last verified release, and `status`.
//!
//! The xtask forwards `cargo xtask deploy|rollback|status` here so that only these commands
//! compile the AWS SDK. Every AWS call goes through [`aws::Platform`], which the tests script.

pub mod aws;
pub mod cli;
pub mod config;
pub mod console;
pub mod deploy;
pub mod ledger;
pub mod lock;
pub mod push;
pub mod rollback;
pub mod rollout;
pub mod status;
pub mod taskdef;
pub mod time;
pub mod verify;

use anyhow::Result;

use crate::aws::Platform;
use crate::cli::Command;
use crate::deploy::{Context, Finish};
use crate::verify::Checks;

/// Runs one command. `Ok(Finish::RolledBack | Finish::Failed)` ends the process non-zero.
pub async fn run<P: Platform, C: Checks>(
    ctx: &mut Context<'_, P, C>,
    command: Command,
    dry_run: bool,
) -> Result<Finish> {
    match command {
        Command::Deploy(args) => {
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
            };
            rollback::rollback(ctx, &opts).await
        }
        Command::Status(_) => {
            status::status(ctx).await?;
            Ok(Finish::Verified)
        }
        Command::Push(_) => anyhow::bail!("push needs no environment: main runs it before any"),
    }
}
