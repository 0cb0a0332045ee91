//! `xtask-deploy`: run by `cargo xtask deploy|rollback|status`, with the same arguments.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, Result};
use clap::Parser;
use tokio::sync::watch;

use xtask_deploy::aws::sdk::Sdk;
use xtask_deploy::cli::{Cli, Command, MetricsKind};
use xtask_deploy::config::{Config, Environment, Strategy};
use xtask_deploy::console::{Console, ask_on_terminal};
use xtask_deploy::deadline::Deadline;
use xtask_deploy::deploy::{Context, Finish};
use xtask_deploy::notify::Senders;
use xtask_deploy::{ledger, metrics, push, verify};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: starting the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(Finish::DryRun | Finish::Verified) => ExitCode::SUCCESS,
        Ok(Finish::RolledBack(text) | Finish::Failed(text)) => {
            eprintln!("error: {text}");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<Finish> {
    let root = project_root()?;
    let env = match &cli.command {
        Command::Push(args) => {
            let request = push::Request {
                repositories: args.repositories.clone(),
                source_tag: args.source_tag.clone(),
                identity_tags: args.identity_tags.clone(),
                moving_tags: args.moving_tags.clone(),
                registry: args.registry.clone(),
                dry_run: cli.dry_run,
            };
            // The registry every environment shares lives in the region they are in.
            let region = std::env::var("AWS_REGION").unwrap_or_else(|_| "eu-central-1".to_owned());
            let platform = Sdk::from_env(&region).await;
            push::push(platform.ecr(), &Console::new(), &request).await?;
            return Ok(if cli.dry_run {
                Finish::DryRun
            } else {
                Finish::Verified
            });
        }
        command => command
            .environment()
            .context("every command but push works on an environment")?,
    };
    let mut config = Config::load(&root, env, cli.config.as_deref())?;
    if config.strategy == Strategy::BlueGreen && config.promote_from.is_none() {
        // Production promotes what staging verified: its ledger and `/health` come from
        // staging's checked-in configuration.
        let staging = Config::load(&root, Environment::Staging, None)?;
        config.upstream_from(&staging);
    }
    let platform = Sdk::from_env(&config.region).await;
    let metrics = match &cli.command {
        Command::Deploy(args) => {
            metrics::choose(args.metrics, args.metrics_url.as_deref(), &platform.config)?
        }
        _ => metrics::choose(MetricsKind::Cloudwatch, None, &platform.config)?,
    };
    let suite_timeout = match &cli.command {
        Command::Deploy(args) => args.suite_timeout,
        _ => None,
    }
    .map_or_else(|| config.suite_timeout(), std::time::Duration::from_secs);
    let checks = verify::Live::new(
        root,
        Deadline {
            limit: suite_timeout,
            flag: "--suite-timeout",
        },
    )?;
    let console = Console::new();
    let notifier = Senders::from_env();
    let mut ctx = Context {
        config: &config,
        platform: &platform,
        checks: &checks,
        console: &console,
        prompt: &ask_on_terminal,
        cancel: interrupts(),
        actor: ledger::actor(),
        notifier: &notifier,
    };
    xtask_deploy::run(&mut ctx, cli.command, cli.dry_run, &metrics).await
}

/// Fires on Ctrl-C or SIGTERM (a cancelled CI job); the deploy then rolls back and releases the
/// lock before it exits.
fn interrupts() -> watch::Receiver<bool> {
    let (sender, receiver) = watch::channel(false);
    tokio::spawn(async move {
        let Ok(mut term) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        else {
            return;
        };
        loop {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            eprintln!("interrupted: stopping safely (a deploy rolls back first)");
            let _ = sender.send(true);
        }
    });
    receiver
}

/// The workspace root: this crate lives in xtask/deploy.
/// The clone the command runs in (the current directory or one above it holding
/// `infrastructure/environments`), so that a prebuilt binary reads this clone's deploy.json;
/// else the workspace this binary was built in.
fn project_root() -> Result<PathBuf> {
    if let Ok(cwd) = std::env::current_dir()
        && let Some(root) = cwd
            .ancestors()
            .find(|dir| dir.join("infrastructure/environments").is_dir())
    {
        return Ok(root.to_path_buf());
    }
    let manifest = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest
        .ancestors()
        .nth(2)
        .map(std::path::Path::to_path_buf)
        .context("run it inside an EventFlow clone: no infrastructure/environments here or above")
}
