//! The deploy engine against a real AWS API: moto's server, which `cargo xtask test deploy`
//! starts (with PostgreSQL and a backend built from this commit, for the drill). Needs
//! `AWS_ENDPOINT_URL`; run it with `cargo xtask test deploy`.
//!
//! - `calls`: every ECS, ECR and SSM call of [`Platform`] for real, and its errors.
//! - `drill`: the drill, with a real backend on loopback as "staging".

mod support;

use xtask_deploy::aws::sdk::Sdk;
use xtask_deploy::aws::{Created, ErrorKind, Platform};
use xtask_deploy::cli::Cli;
use xtask_deploy::console::Console;
use xtask_deploy::deploy::{Context, Finish};
use xtask_deploy::ledger::{Kind, Ledger, Outcome};
use xtask_deploy::taskdef;
use xtask_deploy::verify;

use clap::Parser;
use support::{Staging, sdk_config};

const SHA_A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

#[tokio::test]
async fn every_platform_call_works_against_the_emulator() {
    let env = Staging::new("calls", &["v1", SHA_A], "http://127.0.0.1:9").await;
    let sdk = Sdk::from_env(support::REGION).await;
    let cluster = &env.config.cluster;

    let state = sdk.describe_service(cluster, "backend").await.unwrap();
    assert!(
        state.task_definition.ends_with(&env.revision(1)),
        "{state:?}"
    );
    assert_eq!(state.desired, 2);

    let (td, tags) = sdk
        .describe_task_definition(&state.task_definition)
        .await
        .unwrap();
    assert_eq!(
        taskdef::image_of(&td, "backend"),
        Some(env.image_uri("v1").as_str())
    );
    assert!(tags.is_empty());

    let image = sdk
        .find_image(&env.repository, "v1")
        .await
        .unwrap()
        .unwrap();
    assert!(image.tags.contains(&SHA_A.to_owned()), "{image:?}");
    assert!(image.digest.starts_with("sha256:"));
    assert_eq!(image.registry_id, env.registry);
    let same = sdk
        .find_image_by_digest(&env.repository, &image.digest)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(same.digest, image.digest);
    assert_eq!(sdk.find_image(&env.repository, "nope").await.unwrap(), None);
    let err = sdk
        .find_image("eventflow-missing-repo", "v1")
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::NotFound, "{err}");
    assert!(
        err.to_string()
            .starts_with("ecr:DescribeImages: RepositoryNotFoundException"),
        "{err}"
    );

    let input = taskdef::next_revision(&td, &tags, "backend", &env.image_uri("v2")).unwrap();
    let arn = sdk.register_task_definition(input).await.unwrap();
    assert!(arn.ends_with(&env.revision(2)), "{arn}");
    let (registered, _) = sdk.describe_task_definition(&arn).await.unwrap();
    assert_eq!(registered.cpu(), Some("256"));
    assert_eq!(registered.network_mode(), td.network_mode());
    assert_eq!(
        taskdef::image_of(&registered, "backend"),
        Some(env.image_uri("v2").as_str())
    );
    sdk.update_service(cluster, "backend", &arn).await.unwrap();
    assert_eq!(env.live().await, arn);

    let spare = taskdef::next_revision(&td, &tags, "backend", &env.image_uri("v3")).unwrap();
    let spare = sdk.register_task_definition(spare).await.unwrap();
    sdk.deregister_task_definition(&spare).await.unwrap();

    let err = sdk.describe_service(cluster, "nope").await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::NotFound);
    assert!(
        err.to_string().starts_with(&format!(
            "ecs:DescribeServices: service nope not found in cluster {cluster}"
        )),
        "{err}"
    );
    let err = sdk
        .describe_service("eventflow-nowhere", "backend")
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("ClusterNotFoundException"),
        "{err}"
    );

    let lock = format!("{}/deploy-lock", env.config.ledger_prefix);
    assert_eq!(
        sdk.put_parameter(&lock, "one", false).await.unwrap(),
        Created::Yes
    );
    assert_eq!(
        sdk.put_parameter(&lock, "two", false).await.unwrap(),
        Created::AlreadyExists
    );
    assert_eq!(
        sdk.get_parameter(&lock).await.unwrap().as_deref(),
        Some("one")
    );
    sdk.delete_parameter(&lock).await.unwrap();
    assert_eq!(sdk.get_parameter(&lock).await.unwrap(), None);
    sdk.delete_parameter(&lock).await.unwrap();

    let releases = env.config.releases_path();
    for i in 0..12 {
        sdk.put_parameter(&format!("{releases}/r{i:02}"), &i.to_string(), true)
            .await
            .unwrap();
    }
    let listed = sdk.parameters_under(&releases).await.unwrap();
    assert_eq!(listed.len(), 12, "every page is read");
}

/// `/health` of the backend the stage started, and the sha it was built with.
fn backend() -> (String, String) {
    let url = std::env::var("EVENTFLOW_API_URL").expect(
        "EVENTFLOW_API_URL is not set: the drill needs the backend that `cargo xtask test deploy` starts; run `cargo xtask test deploy`",
    );
    let sha = std::env::var("EVENTFLOW_EXPECTED_GIT_SHA")
        .expect("EVENTFLOW_EXPECTED_GIT_SHA is not set: run `cargo xtask test deploy`");
    assert_eq!(
        sha.len(),
        40,
        "the backend must be built from a commit (EVENTFLOW_EXPECTED_GIT_SHA={sha})"
    );
    (url, sha)
}

fn yes(_: &str, _: &str) -> anyhow::Result<bool> {
    Ok(true)
}

/// Runs one command line, as `xtask-deploy` would, with the emulator and the drill's scheduler.
async fn xtask(env: &Staging, args: &[&str]) -> (anyhow::Result<Finish>, Vec<String>) {
    let mut argv = vec!["xtask-deploy"];
    argv.extend(args);
    let config_path = env.config_path.to_string_lossy().into_owned();
    argv.extend(["--config", &config_path]);
    let cli = Cli::try_parse_from(argv).unwrap();
    let config = xtask_deploy::config::Config::load(
        std::path::Path::new("."),
        cli.command.environment(),
        cli.config.as_deref(),
    )
    .unwrap();
    let platform = support::Scheduled(Sdk::from_env(&config.region).await);
    let checks = verify::Live::new(std::env::temp_dir()).unwrap();
    let console = Console::new();
    let mut ctx = Context {
        config: &config,
        platform: &platform,
        checks: &checks,
        console: &console,
        prompt: &yes,
        cancel: tokio::sync::watch::channel(false).1,
        actor: "drill".to_owned(),
        notifier: &xtask_deploy::notify::NotConfigured,
    };
    let finish = xtask_deploy::run(&mut ctx, cli.command, cli.dry_run).await;
    (finish, console.lines())
}

#[tokio::test]
async fn drill_good_deploy_bad_deploy_rolled_back_then_rollback() {
    let (url, sha) = backend();
    let bad_sha = "badbadbadbadbadbadbadbadbadbadbadbadbad0";
    let env = Staging::new("drill", &["v0"], &url).await;
    // v1 and v2: the build the backend runs (one image, two tags, as a re-tagged release is);
    // v3: a build whose /health will not report its sha.
    env.push_image("good", &["v1", "v2", &sha]).await;
    env.push_image("bad", &["v3", bad_sha]).await;

    // A dry run first: it reads, prints, and changes nothing.
    let (finish, lines) = xtask(
        &env,
        &["deploy", "staging", "--image-tag", "v1", "--dry-run"],
    )
    .await;
    assert_eq!(finish.unwrap(), Finish::DryRun);
    assert!(env.live().await.ends_with(&env.revision(1)));
    let text = lines.join("\n");
    assert!(
        text.contains(&format!(
            "would call ecs:RegisterTaskDefinition family={} image={}",
            env.family,
            env.image_uri("v1")
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "+ containerDefinitions[backend].image: {}",
            env.image_uri("v1")
        )),
        "{text}"
    );

    // 1. A good tag: deployed, verified against the backend's /health.
    let (finish, lines) = xtask(&env, &["deploy", "staging", "--image-tag", "v1", "--yes"]).await;
    assert_eq!(finish.unwrap(), Finish::Verified, "{}", lines.join("\n"));
    assert!(env.live().await.ends_with(&env.revision(2)));
    let (finish, _) = xtask(&env, &["deploy", "staging", "--image-tag", "v2", "--yes"]).await;
    assert_eq!(finish.unwrap(), Finish::Verified);
    assert!(env.live().await.ends_with(&env.revision(3)));

    // 2. A tag whose health check fails: rolled back, non-zero, back on the good revision.
    let (finish, lines) = xtask(&env, &["deploy", "staging", "--image-tag", "v3", "--yes"]).await;
    match finish.unwrap() {
        Finish::RolledBack(text) => {
            assert!(
                text.contains(&format!(
                    "answered 200 with git_sha {sha}, expected {bad_sha}"
                )),
                "{text}"
            );
            assert!(
                text.contains(&format!("backend runs {}", env.revision(3))),
                "{text}"
            );
        }
        other => panic!("expected a rollback, got {other:?}\n{}", lines.join("\n")),
    }
    assert!(
        env.live().await.ends_with(&env.revision(3)),
        "back on the good revision"
    );

    // 3. `rollback`: to the last verified release before what runs, v1 (not N−1, the failed v3).
    let (finish, lines) = xtask(&env, &["rollback", "staging", "--yes"]).await;
    assert_eq!(finish.unwrap(), Finish::Verified, "{}", lines.join("\n"));
    assert!(
        env.live().await.ends_with(&env.revision(2)),
        "{}",
        lines.join("\n")
    );

    // The ledger, in SSM, tells the story; `status` sums it up.
    let sdk = Sdk::from_env(support::REGION).await;
    let releases = Ledger::new(&sdk, &env.config).releases().await.unwrap();
    let story: Vec<_> = releases
        .iter()
        .map(|r| (r.kind, r.image_tag.as_str(), r.result))
        .collect();
    assert_eq!(
        story,
        [
            (Kind::Deploy, "v1", Outcome::Verified),
            (Kind::Deploy, "v2", Outcome::Verified),
            (Kind::Deploy, "v3", Outcome::RolledBack),
            (Kind::Rollback, "v1", Outcome::RolledBackTo),
        ]
    );
    assert!(
        releases
            .iter()
            .all(|r| r.actor == "drill" && r.ended_ms.is_some())
    );
    assert_eq!(
        sdk.get_parameter(&env.config.lock_name()).await.unwrap(),
        None,
        "the lock is free"
    );
    let (finish, lines) = xtask(&env, &["status", "staging"]).await;
    finish.unwrap();
    let text = lines.join("\n");
    assert!(
        text.contains("success rate: 66% (2 verified, 1 failed)"),
        "{text}"
    );
    assert!(text.contains("1 manual rollback(s)"), "{text}");
}

#[tokio::test]
async fn a_second_deploy_is_refused_while_the_lock_is_held() {
    let (url, sha) = backend();
    let env = Staging::new("lock", &["v0"], &url).await;
    env.push_image("good", &["v1", &sha]).await;
    let sdk = Sdk::from_env(support::REGION).await;
    let holder = serde_json::json!({
        "owner": "ci pid 1", "operation": "deploy v9", "token": "x",
        "acquired_ms": 1u64, "expires_ms": 32_503_680_000_000u64
    });
    sdk.put_parameter(&env.config.lock_name(), &holder.to_string(), false)
        .await
        .unwrap();
    let (finish, _) = xtask(&env, &["deploy", "staging", "--image-tag", "v1", "--yes"]).await;
    assert!(
        finish
            .unwrap_err()
            .to_string()
            .starts_with("staging is locked: deploy v9 by ci pid 1")
    );
    assert!(
        env.live().await.ends_with(&env.revision(1)),
        "nothing changed"
    );
}

#[tokio::test]
async fn the_binary_reads_the_standard_environment_and_fails_in_one_line() {
    let env = Staging::new("binary", &["v0"], "http://127.0.0.1:9").await;
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_xtask-deploy"))
            .args(args)
            .args(["--config", &env.config_path.to_string_lossy()])
            .output()
            .unwrap()
    };
    let out = run(&["status", "staging"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("backend: {}", env.revision(1))),
        "{stdout}"
    );
    assert!(stdout.contains("none recorded yet"), "{stdout}");

    let out = run(&["deploy", "staging", "--image-tag", "v404", "--yes"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr.trim_end(),
        format!(
            "error: image {}:v404 is not in ECR: push it first, or pick a tag that `aws ecr describe-images --repository-name {}` lists",
            env.repository, env.repository
        )
    );
    let sdk = sdk_config().await;
    let ssm = aws_sdk_ssm::Client::new(&sdk);
    assert!(
        ssm.get_parameter()
            .name(env.config.lock_name())
            .send()
            .await
            .is_err(),
        "no lock left behind"
    );
}
