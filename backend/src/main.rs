//! `eventflow-backend`: serves the API (no subcommand), applies migrations (`migrate`),
//! creates an API key (`create-api-key`), or prints the OpenAPI document (`openapi`). Configuration comes from the environment only;
//! see the README.

use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use eventflow_backend::config::{self, CreateApiKeyConfig, MigrateConfig, ServeConfig};
use eventflow_backend::{auth, db, migrations, openapi, server, telemetry};

#[derive(Debug, Parser)]
#[command(
    name = "eventflow-backend",
    version,
    about = "EventFlow's event ingestion API"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Apply pending migrations and verify them, then listen (the default).
    Serve,
    /// Apply pending migrations, verify them, and exit.
    Migrate,
    /// Create an API key and print it, once, on stdout.
    CreateApiKey {
        /// What the key is for, e.g. the app that will send events with it.
        #[arg(long)]
        name: String,
    },
    /// Print the API's OpenAPI 3.1 document (what `backend/openapi.json` holds).
    Openapi,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            return fail(anyhow::Error::new(error).context("cannot start the async runtime"));
        }
    };
    match runtime.block_on(run(cli.command.unwrap_or(Command::Serve))) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => fail(error),
    }
}

/// One line on stderr, the error with its causes: that is what ECS shows for a stopped task.
fn fail(error: anyhow::Error) -> ExitCode {
    tracing::error!(error = format!("{error:#}"), "exiting");
    eprintln!("error: {error:#}");
    ExitCode::FAILURE
}

async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Serve => {
            let config = ServeConfig::from_env(&config::process_env)?;
            telemetry::init(config.log_format);
            server::run(config).await
        }
        Command::Migrate => {
            let config = MigrateConfig::from_env(&config::process_env)?;
            telemetry::init(config.log_format);
            let outcome = migrations::run(&config.database.connect_options).await?;
            tracing::info!(applied = ?outcome.applied, migration_version = outcome.version, "migrations verified");
            Ok(())
        }
        Command::CreateApiKey { name } => {
            // No logging: stdout carries the key alone, for scripts.
            let config = CreateApiKeyConfig::from_env(&config::process_env)?;
            auth::api_key::validate_name(&name)
                .map_err(|problem| anyhow::anyhow!("--name {problem}"))?;
            let pool = db::connect(
                &config.database,
                eventflow_backend::config::Limits::default().statement_timeout,
            )
            .await?;
            let (record, key) = auth::api_key::create(&pool, &config.api_keys_secret, &name)
                .await
                .context("cannot store the API key: has `eventflow-backend migrate` run on this database?")?;
            pool.close().await;
            println!("{key}");
            eprintln!(
                "created API key {} ({}): it is shown only this once, so store it now",
                record.id, record.name
            );
            Ok(())
        }
        Command::Openapi => {
            // Needs no configuration: the document depends on the code alone.
            print!("{}", openapi::to_pretty_json());
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn cli_definition_is_valid() {
        Cli::command().debug_assert();
    }

    #[test]
    fn parses_the_subcommands() {
        assert!(
            Cli::try_parse_from(["eventflow-backend"])
                .unwrap()
                .command
                .is_none()
        );
        assert!(matches!(
            Cli::try_parse_from(["eventflow-backend", "migrate"])
                .unwrap()
                .command,
            Some(Command::Migrate)
        ));
        let cli =
            Cli::try_parse_from(["eventflow-backend", "create-api-key", "--name", "ios"]).unwrap();
        assert!(matches!(cli.command, Some(Command::CreateApiKey { name }) if name == "ios"));
        assert!(Cli::try_parse_from(["eventflow-backend", "create-api-key"]).is_err());
    }
}
