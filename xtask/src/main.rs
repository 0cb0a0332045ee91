//! `cargo xtask`: EventFlow's whole CI/CD pipeline as one Rust program.
//!
//! Each command picks its stages from the catalog in `stages/` and hands them to the engine in
//! `pipeline/`, which runs them as a graph (or prints them with `--dry-run`). See ARCHITECTURE.md.

mod cli;
mod cmd;
mod deploy;
mod forward;
mod notify;
mod pipeline;
mod prebuilt;
mod project;
mod rehearse;
mod release;
#[cfg(test)]
mod runbook_commands;
mod sandbox;
mod secret;
mod services;
mod stages;
#[cfg(test)]
mod workflow_parity;

use std::io::IsTerminal;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Parser;

use crate::cli::{BuildTarget, CacheCommand, Cli, Command, ImagesCommand, InfraAction};
use crate::pipeline::Options;
use crate::project::Project;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("error: {}", secret::redact(&format!("{error:#}")));
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<bool> {
    let project = Project::discover()?;
    let options = Options {
        dry_run: cli.run.dry_run,
        keep_going: cli.run.keep_going,
        only: cli.run.only,
        skip: cli.run.skip,
        report: cli.run.report,
        no_cache: cli.run.no_cache,
        jobs: cli.run.jobs,
    };
    let (name, stages) = match cli.command {
        Command::Ci => ("ci", stages::ci(&project)?),
        Command::Lint => ("lint", stages::lint(&project)?),
        Command::TypeCheck => ("type-check", stages::type_check(&project)?),
        Command::Test(args) => (
            "test",
            stages::test(&project, args.suite.into(), args.base_url.as_deref())?,
        ),
        Command::Build(args) => match args.target {
            BuildTarget::Frontend => ("build", stages::build_frontend(&project)?),
        },
        Command::Images(ImagesCommand::Build(args)) => {
            ("images", stages::images(&project, &args.into())?)
        }
        Command::Images(ImagesCommand::Push(args)) => {
            return release::push_images(&project, &args.into(), options.dry_run);
        }
        Command::Images(ImagesCommand::Save(args)) => {
            return release::save_images(&project, &args.into(), options.dry_run);
        }
        Command::Images(ImagesCommand::Load) => {
            return release::load_images(&project, options.dry_run);
        }
        Command::Infra(InfraAction::Policy { role, env, account }) => {
            return stages::infra::policy(
                &project,
                role.into(),
                env,
                account.as_deref(),
                options.dry_run,
            );
        }
        Command::Infra(action) => {
            // A missing plan is refused before anyone is asked to confirm it.
            let action = action.into();
            let stages = stages::infra::stages(&project, &action)?;
            let interactive = std::io::stdin().is_terminal();
            stages::infra::confirm(&project, &action, options.dry_run, interactive)?;
            ("infra", stages)
        }
        Command::SecurityScan => return stages::security::run(&project, &options),
        Command::Cache(CacheCommand::Clean) => {
            let dir = pipeline::cache::Cache::dir(project.root());
            if dir.exists() {
                std::fs::remove_dir_all(&dir)
                    .with_context(|| format!("removing {}", dir.display()))?;
            }
            println!("stage cache emptied ({})", dir.display());
            return Ok(true);
        }
        Command::Deploy(args) => return release::deploy(&project, &args, &options),
        Command::Rollback(args) => {
            return deploy::run(&project, deploy::rollback_args(&args, options.dry_run));
        }
        Command::Status(args) => return deploy::run(&project, deploy::status_args(&args)),
        Command::Notify(args) => {
            return notify::run(&project, notify::args(&args, options.dry_run));
        }
        Command::Coverage => return stages::coverage::run(&project, &options),
        Command::Sandbox(c) => return sandbox::run(&project, c, options.dry_run),
        Command::Rehearse(args) => {
            return rehearse::run(&project, rehearse::args(&args, options.dry_run));
        }
    };
    pipeline::run(&project.env, name, stages, &options)
}
