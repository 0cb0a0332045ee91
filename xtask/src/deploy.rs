//! `cargo xtask deploy|rollback|status`: forwarded, with the same arguments, to the
//! `xtask-deploy` crate (`xtask/deploy`), which holds the AWS SDK. Only these commands compile
//! it; every other command stays light.

use anyhow::Result;

use crate::cli::{DeployArgs, Environment, RollbackArgs, StatusArgs};
use crate::cmd::Cmd;
use crate::forward;
use crate::pipeline::{self, Options};
use crate::prebuilt;
use crate::project::Project;
use crate::stages::{self, images};

/// `xtask-deploy`'s command line for `deploy`.
pub fn deploy_args(args: &DeployArgs, dry_run: bool) -> Vec<String> {
    let mut out = vec!["deploy".to_owned(), args.env.name().to_owned()];
    push(&mut out, "--image-tag", args.image_tag.as_deref());
    push(&mut out, "--base-url", args.base_url.as_deref());
    push(
        &mut out,
        "--timeout",
        args.timeout.map(|t| t.to_string()).as_deref(),
    );
    flag(&mut out, "--yes", args.yes);
    push(
        &mut out,
        "--canary",
        args.canary.map(|c| c.to_string()).as_deref(),
    );
    push(
        &mut out,
        "--bake",
        args.bake.map(|b| b.to_string()).as_deref(),
    );
    push(
        &mut out,
        "--keep-old",
        args.keep_old.map(|k| k.to_string()).as_deref(),
    );
    flag(&mut out, "--force-unverified", args.force_unverified);
    push(&mut out, "--metrics", args.metrics.as_deref());
    push(&mut out, "--metrics-url", args.metrics_url.as_deref());
    flag(&mut out, "--dry-run", dry_run);
    out
}

pub fn rollback_args(args: &RollbackArgs, dry_run: bool) -> Vec<String> {
    let mut out = vec!["rollback".to_owned(), args.env.name().to_owned()];
    push(&mut out, "--to", args.to.as_deref());
    push(&mut out, "--base-url", args.base_url.as_deref());
    flag(&mut out, "--yes", args.yes);
    flag(&mut out, "--dry-run", dry_run);
    out
}

pub fn status_args(args: &StatusArgs) -> Vec<String> {
    vec!["status".to_owned(), args.env.name().to_owned()]
}

fn push(out: &mut Vec<String>, name: &str, value: Option<&str>) {
    if let Some(value) = value {
        out.extend([name.to_owned(), value.to_owned()]);
    }
}

fn flag(out: &mut Vec<String>, name: &str, on: bool) {
    if on {
        out.push(name.to_owned());
    }
}

/// `cargo xtask deploy`. Staging without `--image-tag` deploys HEAD: its images are built and
/// verified (`images build`), pushed (`images push`), then deployed by their sha tag. Production
/// never builds: it promotes what staging verified.
pub fn deploy(project: &Project, args: &DeployArgs, options: &Options) -> Result<bool> {
    if args.image_tag.is_some() || args.env != Environment::Staging {
        return run(project, deploy_args(args, options.dry_run));
    }
    let request = images::Request::default();
    // A dirty work tree is refused here, before anything is built.
    let tags = images::tags(&images::Revision::read(project), &request)?;
    images::pushable(&tags)?;
    println!(
        "deploy staging without --image-tag: building, verifying and pushing HEAD ({}) first",
        tags.id
    );
    if !pipeline::run(
        &project.env,
        "images",
        stages::images(project, &request)?,
        options,
    )? {
        return Ok(false);
    }
    if !images::push(project, &request, options.dry_run)? {
        return Ok(false);
    }
    let args = DeployArgs {
        image_tag: Some(tags.id.clone()),
        ..args.clone()
    };
    if options.dry_run {
        // Nothing was pushed, so the engine's dry run would not find the tag in ECR yet.
        println!("would then run: {}", command(deploy_args(&args, true)));
        return Ok(true);
    }
    run(project, deploy_args(&args, false))
}

/// The command that runs the engine.
pub fn command(args: Vec<String>) -> Cmd {
    forward::command("xtask-deploy", args)
}

/// Runs the engine: the prebuilt binary `EVENTFLOW_DEPLOY_BIN` names, or else built by cargo.
pub fn run(project: &Project, args: Vec<String>) -> Result<bool> {
    let cmd = match prebuilt::from_env() {
        Some(binary) => prebuilt::command(&binary, args)?,
        None => command(args),
    };
    forward::run(project, &cmd)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::Environment;

    #[test]
    fn every_flag_is_forwarded_as_given() {
        let args = DeployArgs {
            env: Environment::Staging,
            image_tag: Some("abc123".into()),
            base_url: Some("http://127.0.0.1:8080".into()),
            timeout: Some(600),
            yes: true,
            canary: None,
            bake: None,
            keep_old: None,
            force_unverified: false,
            metrics: None,
            metrics_url: None,
        };
        assert_eq!(
            command(deploy_args(&args, true)).to_string(),
            "$ cargo run --quiet -p xtask-deploy -- deploy staging --image-tag abc123 --base-url http://127.0.0.1:8080 --timeout 600 --yes --dry-run"
        );
        let args = DeployArgs {
            env: Environment::Production,
            image_tag: Some("abc123".into()),
            base_url: None,
            timeout: None,
            yes: true,
            canary: Some(10),
            bake: Some(30),
            keep_old: Some(0),
            force_unverified: true,
            metrics: Some("prometheus".into()),
            metrics_url: Some("http://127.0.0.1:8080/metrics".into()),
        };
        assert_eq!(
            deploy_args(&args, false),
            [
                "deploy",
                "production",
                "--image-tag",
                "abc123",
                "--yes",
                "--canary",
                "10",
                "--bake",
                "30",
                "--keep-old",
                "0",
                "--force-unverified",
                "--metrics",
                "prometheus",
                "--metrics-url",
                "http://127.0.0.1:8080/metrics"
            ]
        );
        let args = RollbackArgs {
            env: Environment::Production,
            to: Some("v41".into()),
            base_url: None,
            yes: false,
        };
        assert_eq!(
            rollback_args(&args, false),
            ["rollback", "production", "--to", "v41"]
        );
        let args = StatusArgs {
            env: Environment::Staging,
        };
        assert_eq!(status_args(&args), ["status", "staging"]);
    }
}
