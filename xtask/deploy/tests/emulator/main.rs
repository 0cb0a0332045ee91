//! The deploy engine against a real AWS API: moto's server with the sandbox's ECS scheduler and
//! load balancer (`xtask/sandbox/moto_ecs`), which `cargo xtask test deploy` starts with
//! PostgreSQL, a registry and a backend built from this commit. Needs `AWS_ENDPOINT_URL`; run it
//! with `cargo xtask test deploy`.
//!
//! - `calls`: every ECS, ECR, DynamoDB and ELBv2 call of [`Platform`] for real, and its errors.
//! - `drill`: the staging drill, the real platform against real containers of real images: a
//!   good deploy served through the load balancer, a build that exits at start (ECS's circuit
//!   breaker), a build whose `/health` reports another sha (the engine's rollback), `rollback`.
//! - `blue_green`: production's drill: staging verifies a build, production promotes it and
//!   shifts the load balancer's weights step by step (read back from the emulator), and
//!   `rollback production` flips them back.
//! - `push`: `cargo xtask images push` with ECR from the emulator and a registry on loopback.
//! - `schema_drill`: `rollback staging` onto a schema moved ahead, refused and then allowed by
//!   a `schema_compatibility` row.

mod images;
mod push;
mod schema_drill;
mod state_table;
mod support;

use xtask_deploy::aws::sdk::Sdk;
use xtask_deploy::aws::{Condition, Created, ErrorKind, Platform, StateItem, Written};
use xtask_deploy::cli::Cli;
use xtask_deploy::console::Console;
use xtask_deploy::deploy::{Context, Finish};
use xtask_deploy::ledger::{Kind, Ledger, Outcome};
use xtask_deploy::taskdef;
use xtask_deploy::{metrics, verify};

use clap::Parser;
use support::{Production, Staging};

const SHA_A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

#[tokio::test]
async fn every_platform_call_works_against_the_emulator() {
    let env = Staging::new("calls", &["v1", SHA_A], "http://127.0.0.1:9").await;
    let sdk = support::role_sdk("staging").await;
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
            .starts_with("ecr:DescribeImages: HTTP 400 RepositoryNotFoundException"),
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
    sdk.update_service(cluster, "backend", &arn, None)
        .await
        .unwrap();
    // ECS's reads are eventually consistent: the first one after the update may still show the
    // previous state, the next ones the new deployment.
    let first = env.live().await;
    assert!(first == arn || first.ends_with(&env.revision(1)), "{first}");
    assert_eq!(env.live().await, arn);

    // ListTasks (STOPPED) and DescribeTasks as the deploy role: what a failed wait reports.
    for task in sdk.stopped_tasks(cluster, "backend", 3).await.unwrap() {
        assert!(!task.stopped_reason.is_empty(), "{task:?}");
    }

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

    // The deploy-state table: conditional writes as DynamoDB enforces them, and a paged Query.
    let table = env.config.state_table();
    let lease = |owner: &str, expires_ms: u64| StateItem {
        pk: "staging".to_owned(),
        sk: "lock".to_owned(),
        body: format!("{{\"owner\":\"{owner}\"}}"),
        owner: Some(owner.to_owned()),
        expires_ms: Some(expires_ms),
        ttl_secs: None,
    };
    let now = xtask_deploy::time::now_ms();
    let fresh = Condition::AbsentOrExpired { now_ms: now };
    assert_eq!(
        sdk.put_item(&table, &lease("one", now + 60_000), &fresh)
            .await
            .unwrap(),
        Written::Yes
    );
    assert_eq!(
        sdk.put_item(&table, &lease("two", now + 60_000), &fresh)
            .await
            .unwrap(),
        Written::ConditionFailed
    );
    let held = sdk
        .get_item(&table, "staging", "lock")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(held.owner.as_deref(), Some("one"));
    assert_eq!(held.expires_ms, Some(now + 60_000));
    assert_eq!(
        sdk.renew_lease(&table, "staging", "lock", "two", now + 90_000)
            .await
            .unwrap(),
        Written::ConditionFailed,
        "only the owner renews"
    );
    assert_eq!(
        sdk.renew_lease(&table, "staging", "lock", "one", now + 90_000)
            .await
            .unwrap(),
        Written::Yes
    );
    let renewed = sdk
        .get_item(&table, "staging", "lock")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(renewed.expires_ms, Some(now + 90_000));
    assert_eq!(
        sdk.delete_item(&table, "staging", "lock", &Condition::OwnedBy("two".into()))
            .await
            .unwrap(),
        Written::ConditionFailed,
        "only the owner releases"
    );
    assert_eq!(
        sdk.delete_item(&table, "staging", "lock", &Condition::OwnedBy("one".into()))
            .await
            .unwrap(),
        Written::Yes
    );
    assert_eq!(sdk.get_item(&table, "staging", "lock").await.unwrap(), None);
    // An expired lease is taken over by the conditional put itself.
    sdk.put_item(&table, &lease("dead", now - 1), &fresh)
        .await
        .unwrap();
    assert_eq!(
        sdk.put_item(&table, &lease("next", now + 60_000), &fresh)
            .await
            .unwrap(),
        Written::Yes
    );

    for i in 0..12 {
        let item = StateItem {
            pk: "staging".to_owned(),
            sk: format!("release#r{i:02}"),
            body: i.to_string(),
            owner: None,
            expires_ms: None,
            ttl_secs: None,
        };
        sdk.put_item(&table, &item, &Condition::Always)
            .await
            .unwrap();
    }
    let newest = sdk
        .query_items(&table, "staging", "release#", 5)
        .await
        .unwrap();
    let bodies: Vec<&str> = newest.iter().map(|i| i.body.as_str()).collect();
    assert_eq!(bodies, ["11", "10", "9", "8", "7"], "newest first, bounded");
    assert_eq!(
        sdk.query_items(&table, "staging", "release#", 100)
            .await
            .unwrap()
            .len(),
        12,
        "the lease is not a release"
    );
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

/// Runs one command line, as `xtask-deploy` would, against the emulator.
async fn xtask(
    config_path: &std::path::Path,
    args: &[&str],
) -> (anyhow::Result<Finish>, Vec<String>) {
    let mut argv = vec!["xtask-deploy"];
    argv.extend(args);
    let config_path = config_path.to_string_lossy().into_owned();
    argv.extend(["--config", &config_path]);
    let cli = Cli::try_parse_from(argv).unwrap();
    let config = xtask_deploy::config::Config::load(
        std::path::Path::new("."),
        cli.command
            .environment()
            .expect("the drill runs environment commands"),
        cli.config.as_deref(),
    )
    .unwrap();
    // The engine acts as the environment's deploy role, whose policy moto enforces.
    let sdk = support::role_sdk(&config.environment).await;
    let metrics = match &cli.command {
        xtask_deploy::cli::Command::Deploy(a) => {
            metrics::choose(a.metrics, a.metrics_url.as_deref(), &sdk.config).unwrap()
        }
        _ => metrics::choose(
            xtask_deploy::cli::MetricsKind::Cloudwatch,
            None,
            &sdk.config,
        )
        .unwrap(),
    };
    let platform = sdk;
    // The real checks: `/health`, and for production the smoke suite through the test URL
    // (`cargo xtask test smoke --base-url …`, run from the project root with the backend's
    // JWT_SECRET, which the stage hands to this test).
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let checks = verify::Live::new(
        root,
        xtask_deploy::deadline::Deadline {
            limit: std::time::Duration::from_secs(config.suite_timeout_secs),
            flag: "--suite-timeout",
        },
    )
    .unwrap();
    let console = Console::new();
    let mut ctx = Context {
        config: &config,
        platform: &platform,
        checks: &checks,
        console: &console,
        prompt: &yes,
        cancel: tokio::sync::watch::channel(false).1,
        actor: "drill".to_owned(),
        notifier: &xtask_deploy::notify::Senders::none(),
    };
    // On the heap: a blue/green run's future outgrows a test thread's 2 MiB stack in a debug
    // build (the binary polls it on the main thread's 8 MiB).
    let finish = Box::pin(xtask_deploy::run(
        &mut ctx,
        cli.command,
        cli.dry_run,
        &metrics,
    ))
    .await;
    (finish, console.lines())
}

/// `GET /health` through the load balancer, as a client with a User-Agent: (status, git_sha).
async fn health_through(url: &str) -> (u16, String) {
    let response = reqwest::Client::builder()
        .user_agent("eventflow-deploy-drill")
        .build()
        .unwrap()
        .get(format!("{url}/health"))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    let body: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    (
        status,
        body["git_sha"].as_str().unwrap_or_default().to_owned(),
    )
}

#[tokio::test]
async fn drill_real_containers_good_deploy_crash_and_bad_health_rolled_back_then_rollback() {
    let (_, sha) = backend();
    let bad_sha = "badbadbadbadbadbadbadbadbadbadbadbadbad0";
    let crash_sha = "dead0000dead0000dead0000dead0000dead0000";
    let images = images::images(&sha);
    // Staging starts on another build of the backend (v0), served through its load balancer.
    let env = Staging::serving("drill", &images.other_build, "v0").await;
    let url = env.public_url.clone();
    // v1 and v2: this commit's image (one image, two tags, as a re-tagged release is);
    // v3: a build whose container exits at start; v4: a build whose /health reports a sha
    // other than its tag's.
    env.publish(&images.backend, &["v1", "v2", &sha]).await;
    env.publish(&images.exits, &["v3", crash_sha]).await;
    env.publish(&images.other_build, &["v4", bad_sha]).await;

    // A dry run first: it reads, prints, and changes nothing.
    let (finish, lines) = xtask(
        &env.config_path,
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

    // 1. A good tag: new containers replace the old, and the public URL reports this commit.
    let before = env.targets().await;
    let (finish, lines) = xtask(
        &env.config_path,
        &["deploy", "staging", "--image-tag", "v1", "--yes"],
    )
    .await;
    assert_eq!(finish.unwrap(), Finish::Verified, "{}", lines.join("\n"));
    assert!(env.live().await.ends_with(&env.revision(2)));
    assert_eq!(health_through(&url).await, (200, sha.clone()));
    let after = env.targets().await;
    assert_eq!(after.len(), 2, "{after:?}");
    assert!(
        after
            .iter()
            .all(|(port, _)| before.iter().all(|(old, _)| old != port)),
        "the targets are the new tasks: before {before:?}, after {after:?}"
    );
    let (finish, _) = xtask(
        &env.config_path,
        &["deploy", "staging", "--image-tag", "v2", "--yes"],
    )
    .await;
    assert_eq!(finish.unwrap(), Finish::Verified);
    assert!(env.live().await.ends_with(&env.revision(3)));

    // 2. A build that exits at start: ECS's circuit breaker puts v2 back; non-zero, v2 serves.
    let (finish, lines) = xtask(
        &env.config_path,
        &["deploy", "staging", "--image-tag", "v3", "--yes"],
    )
    .await;
    match finish.unwrap() {
        Finish::RolledBack(text) => {
            assert!(text.contains("deployment circuit breaker"), "{text}");
        }
        other => panic!("expected a rollback, got {other:?}\n{}", lines.join("\n")),
    }
    assert!(env.live().await.ends_with(&env.revision(3)));
    assert_eq!(health_through(&url).await, (200, sha.clone()));

    // 3. A build that starts but whose /health reports another sha: the engine rolls it back.
    let (finish, lines) = xtask(
        &env.config_path,
        &["deploy", "staging", "--image-tag", "v4", "--yes"],
    )
    .await;
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
    assert_eq!(health_through(&url).await, (200, sha.clone()));

    // 4. `rollback`: to the last verified release before what runs, v1 (not N−1, a failed one).
    let (finish, lines) = xtask(&env.config_path, &["rollback", "staging", "--yes"]).await;
    assert_eq!(finish.unwrap(), Finish::Verified, "{}", lines.join("\n"));
    assert!(
        env.live().await.ends_with(&env.revision(2)),
        "{}",
        lines.join("\n")
    );
    let serving = env.targets().await;
    assert_eq!(serving.len(), 2, "{serving:?}");
    assert!(
        serving.iter().all(|(_, state)| state == "healthy"),
        "{serving:?}"
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
            (Kind::Deploy, "v4", Outcome::RolledBack),
            (Kind::Rollback, "v1", Outcome::RolledBackTo),
        ]
    );
    assert_eq!(
        state_table::lease(&env.config).await,
        None,
        "the lock is free"
    );
    let (finish, lines) = xtask(&env.config_path, &["status", "staging"]).await;
    finish.unwrap();
    let text = lines.join("\n");
    assert!(text.contains("(2 verified, 2 failed)"), "{text}");
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
    let item = StateItem {
        pk: "staging".to_owned(),
        sk: "lock".to_owned(),
        body: holder.to_string(),
        owner: Some("x".to_owned()),
        expires_ms: Some(32_503_680_000_000),
        ttl_secs: None,
    };
    sdk.put_item(&env.config.state_table(), &item, &Condition::Always)
        .await
        .unwrap();
    let (finish, _) = xtask(
        &env.config_path,
        &["deploy", "staging", "--image-tag", "v1", "--yes"],
    )
    .await;
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
            .envs(support::credentials_env(&support::role_credentials(
                "staging",
            )))
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
    assert_eq!(
        state_table::lease(&env.config).await,
        None,
        "no lock left behind"
    );
}

#[tokio::test]
async fn the_load_balancer_and_promotion_calls_work_against_the_emulator() {
    use xtask_deploy::aws::ForwardAt;
    let staging = Staging::new("elbcalls", &["v0"], "http://127.0.0.1:9").await;
    let prod = Production::new("elbcalls", &staging, "v0").await;
    let sdk = support::role_sdk("production").await;
    let lb_name = prod.config.load_balancer.clone().unwrap();

    let lb = sdk.load_balancer_arn(&lb_name).await.unwrap();
    assert!(lb.contains(":loadbalancer/app/"), "{lb}");
    let err = sdk
        .load_balancer_arn("eventflow-nowhere")
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::NotFound, "{err}");

    let app = &prod.config.apps["backend"];
    let groups = app.target_groups.clone().unwrap();
    let arns = sdk
        .target_group_arns(&[groups.blue.clone(), groups.green.clone()])
        .await
        .unwrap();
    assert_eq!(arns.len(), 2);
    let blue = arns
        .iter()
        .find(|(n, _)| n == &groups.blue)
        .unwrap()
        .1
        .clone();
    let green = arns
        .iter()
        .find(|(n, _)| n == &groups.green)
        .unwrap()
        .1
        .clone();

    // Each target with a state the engine understands (the sandbox probes them for real).
    for target in sdk.target_health(&blue).await.unwrap() {
        assert!(
            ["initial", "healthy", "unhealthy", "draining", "unused"]
                .contains(&target.state.as_str()),
            "{target:?}"
        );
    }

    let listeners = sdk.listeners(&lb).await.unwrap();
    let ports: Vec<u16> = listeners.iter().map(|l| l.port).collect();
    assert!(ports.contains(&443) && ports.contains(&8443), "{ports:?}");
    let production = listeners.iter().find(|l| l.port == 443).unwrap();
    assert_eq!(
        production.forwards.len(),
        1,
        "the backend rule: {production:?}"
    );
    let rule = production.forwards[0].at.clone();
    assert!(matches!(rule, ForwardAt::Rule(_)), "{rule:?}");
    assert_eq!(
        production.forwards[0].weights,
        [(blue.clone(), 100), (green.clone(), 0)]
    );

    // ModifyRule, read back.
    sdk.set_forward(&rule, &[(blue.clone(), 30), (green.clone(), 70)])
        .await
        .unwrap();
    assert_eq!(prod.weights(0).await, (30, 70));
    // ModifyListener: the default action becomes a weighted forward.
    let at = ForwardAt::Listener(production.arn.clone());
    sdk.set_forward(&at, &[(blue.clone(), 100), (green.clone(), 0)])
        .await
        .unwrap();
    let again = sdk.listeners(&lb).await.unwrap();
    let production = again.iter().find(|l| l.port == 443).unwrap();
    let default = production.forwards.iter().find(|f| f.at == at).unwrap();
    assert_eq!(default.weights, [(blue, 100), (green, 0)]);

    // ECS desired count.
    sdk.scale_service(&prod.config.cluster, "backend-green", 3)
        .await
        .unwrap();
    assert_eq!(prod.desired("backend-green").await, 3);

    // ECR: a new tag on an existing digest, without pushing anything.
    let image = sdk
        .find_image(&staging.repository, "v0")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        sdk.tag_image(&staging.repository, &image.digest, "v7")
            .await
            .unwrap(),
        Created::Yes
    );
    assert_eq!(
        sdk.tag_image(&staging.repository, &image.digest, "v7")
            .await
            .unwrap(),
        Created::AlreadyExists
    );
    assert_eq!(prod.tags("v7").await, ["v0", "v7"]);
    let err = sdk
        .tag_image(
            &staging.repository,
            "sha256:0000000000000000000000000000000000000000000000000000000000000000",
            "v8",
        )
        .await
        .unwrap_err();
    assert!(err.to_string().starts_with("ecr:BatchGetImage"), "{err}");
}

/// Polls the production listener's weights until `stop`, keeping each change.
fn observe(
    prod: &Production,
    stop: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<Vec<(i32, i32)>> {
    let elb = prod.elb.clone();
    let listener = prod.listeners[0].clone();
    tokio::spawn(async move {
        let mut seen: Vec<(i32, i32)> = Vec::new();
        loop {
            if let Ok(rules) = elb.describe_rules().listener_arn(&listener).send().await
                && let Some(rule) = rules.rules().iter().find(|r| r.is_default() != Some(true))
                && let Some(config) = rule.actions()[0].forward_config()
            {
                let tuples = config.target_groups();
                let of = |colour: &str| {
                    tuples
                        .iter()
                        .find(|t| {
                            t.target_group_arn()
                                .unwrap_or_default()
                                .contains(&format!("-{colour}/"))
                        })
                        .and_then(|t| t.weight())
                        .unwrap_or(0)
                };
                let now = (of("blue"), of("green"));
                if seen.last() != Some(&now) {
                    seen.push(now);
                }
            }
            if *stop.borrow() {
                return seen;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    })
}

#[tokio::test]
async fn blue_green_drill_promote_canary_bake_then_rollback_production() {
    let (url, sha) = backend();
    let images = images::images(&sha);
    // Both environments start on another build (v0); the candidate is this commit's image,
    // tagged with its sha as CI pushes it.
    let staging = Staging::serving("bgstaging", &images.other_build, "v0").await;
    staging.publish(&images.backend, &[&sha]).await;
    let prod = Production::new("bg", &staging, "v0").await;
    support::settled(&prod.ecs, &prod.config.cluster, "backend-blue").await;
    let prod_path = prod.config_path.clone();
    // The load balancer's WAF: no User-Agent, no entry (AWSManagedRulesCommonRuleSet).
    let bare = reqwest::Client::new()
        .get(format!("{}/health", prod.config.base_url))
        .send()
        .await
        .unwrap();
    assert_eq!(bare.status().as_u16(), 403);
    // Blue serves production's traffic.
    let blue = prod.ports("blue").await;
    assert_eq!(blue.len(), 2, "{blue:?}");
    assert!(prod.landed(10).await.iter().all(|p| blue.contains(p)));

    // Production refuses what staging never verified.
    let (finish, _) = xtask(
        &prod_path,
        &["deploy", "production", "--image-tag", &sha, "--yes"],
    )
    .await;
    let err = finish.unwrap_err().to_string();
    assert!(
        err.starts_with(&format!("image {sha} never passed staging verification")),
        "{err}"
    );
    assert_eq!(prod.weights(0).await, (100, 0), "nothing changed");

    // Staging verifies it.
    let (finish, lines) = xtask(
        &staging.config_path,
        &["deploy", "staging", "--image-tag", &sha, "--yes"],
    )
    .await;
    assert_eq!(finish.unwrap(), Finish::Verified, "{}", lines.join("\n"));

    // The dry run reads and changes nothing.
    let (finish, lines) = xtask(
        &prod_path,
        &["deploy", "production", "--image-tag", &sha, "--dry-run"],
    )
    .await;
    assert_eq!(finish.unwrap(), Finish::DryRun, "{}", lines.join("\n"));
    assert_eq!(prod.weights(0).await, (100, 0));

    // The deploy: green, 10% then 100%, a short bake on the backend's own /metrics, blue kept
    // for a second then scaled down. The weights are read back from the emulator throughout.
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let watcher = observe(&prod, stopped);
    let traffic = {
        // Requests during the bake, so the watch has something to count.
        let url = url.clone();
        tokio::spawn(async move {
            let client = reqwest::Client::new();
            for _ in 0..120 {
                let _ = client.get(format!("{url}/health")).send().await;
                tokio::time::sleep(std::time::Duration::from_millis(25)).await;
            }
        })
    };
    let metrics_url = format!("{url}/metrics");
    let (finish, lines) = xtask(
        &prod_path,
        &[
            "deploy",
            "production",
            "--image-tag",
            &sha,
            "--yes",
            "--canary",
            "10",
            "--bake",
            "2",
            "--keep-old",
            "1",
            "--metrics",
            "prometheus",
            "--metrics-url",
            &metrics_url,
        ],
    )
    .await;
    stop.send(true).unwrap();
    let seen = watcher.await.unwrap();
    traffic.await.unwrap();
    let text = lines.join("\n");
    assert_eq!(finish.unwrap(), Finish::Verified, "{text}");
    assert_eq!(
        seen,
        [(100, 0), (90, 10), (0, 100)],
        "the production weights, step by step\n{text}"
    );
    assert_eq!(prod.weights(0).await, (0, 100));
    assert_eq!(
        prod.weights(1).await,
        (100, 0),
        "the test listener serves the old colour"
    );
    assert_eq!(prod.desired("backend-green").await, 2);
    assert_eq!(
        prod.desired("backend-blue").await,
        0,
        "scaled down after --keep-old"
    );
    // The shift is real: production's requests land on green's containers.
    let green = prod.ports("green").await;
    assert_eq!(green.len(), 2, "{green:?}");
    assert!(prod.landed(10).await.iter().all(|p| green.contains(p)));
    let mut promoted = vec![sha.clone(), "latest".to_owned(), "v1".to_owned()];
    promoted.sort();
    assert_eq!(
        prod.tags("v1").await,
        promoted,
        "promoted by digest: v1 and latest"
    );
    assert!(text.contains("http_requests_total from"), "{text}");
    assert!(
        text.contains("requests failed"),
        "the watch counted: {text}"
    );

    // `rollback production`: blue is scaled down, so it is scaled up first, then the weights flip.
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let watcher = observe(&prod, stopped);
    let (finish, lines) = xtask(&prod_path, &["rollback", "production", "--yes"]).await;
    stop.send(true).unwrap();
    let seen = watcher.await.unwrap();
    let text = lines.join("\n");
    assert_eq!(finish.unwrap(), Finish::Verified, "{text}");
    assert_eq!(seen, [(0, 100), (100, 0)], "{text}");
    assert_eq!(
        prod.weights(1).await,
        (0, 100),
        "the test listener serves green again"
    );
    assert_eq!(prod.desired("backend-blue").await, 2);
    assert!(text.contains("scale up to 2 first"), "{text}");
    // The scale-up is COMPLETED at once; the shift waited for the load balancer's verdict.
    assert!(text.contains("2 target(s) healthy"), "{text}");
    let blue = prod.ports("blue").await;
    assert!(
        prod.landed(10).await.iter().all(|p| blue.contains(p)),
        "back on blue"
    );

    // The ledger tells the story, every step recorded; the lock is free.
    let sdk = Sdk::from_env(support::REGION).await;
    let releases = Ledger::new(&sdk, &prod.config).releases().await.unwrap();
    let story: Vec<_> = releases
        .iter()
        .map(|r| (r.kind, r.image_tag.as_str(), r.result))
        .collect();
    assert_eq!(
        story,
        [
            (Kind::Deploy, "v1", Outcome::Verified),
            (Kind::Rollback, "v0", Outcome::RolledBackTo)
        ]
    );
    let steps: Vec<&str> = releases[0].steps.iter().map(|s| s.what.as_str()).collect();
    assert!(
        steps.contains(&"shifted 10% of the traffic to green"),
        "{steps:?}"
    );
    assert!(steps.contains(&"scaled blue to 0"), "{steps:?}");
    let steps: Vec<&str> = releases[1].steps.iter().map(|s| s.what.as_str()).collect();
    assert_eq!(
        steps,
        [
            "scaled blue up",
            "blue runs every task",
            "blue's targets are healthy",
            "shifted the traffic back to blue"
        ]
    );
    assert_eq!(state_table::lease(&prod.config).await, None);

    // `status production`: both listeners and both colours.
    let (finish, lines) = xtask(&prod_path, &["status", "production"]).await;
    finish.unwrap();
    let text = lines.join("\n");
    assert!(
        text.contains(
            "  backend: production listener blue 100 / green 0, test listener blue 0 / green 100"
        ),
        "{text}"
    );
    assert!(text.contains("2/2 running, live"), "{text}");
    assert!(text.contains("1 manual rollback(s)"), "{text}");
}

/// Two deploys that start at the same moment, 20 times: each time exactly one takes the lease
/// (one conditional PutItem wins in DynamoDB), and the other fails naming who holds it. Then two
/// whole deploys at once: one verifies, the other changes nothing.
#[tokio::test]
async fn two_deploys_started_at_once_exactly_one_proceeds() {
    let (_, sha) = backend();
    let images = images::images(&sha);
    // Real containers, as in the drill: staging serves another build (v0) through its load
    // balancer, and v1 is this commit's image.
    let env = Staging::serving("race", &images.other_build, "v0").await;
    let (one, two) = (
        Sdk::from_env(support::REGION).await,
        Sdk::from_env(support::REGION).await,
    );
    for round in 0..20 {
        let (a, b) = tokio::join!(
            xtask_deploy::lock::acquire(&one, &env.config, "alice", "deploy v1"),
            xtask_deploy::lock::acquire(&two, &env.config, "bob", "deploy v2"),
        );
        let (winner, loser, holder) = match (a, b) {
            (Ok(lock), Err(e)) => (lock, e, "deploy v1 by alice"),
            (Err(e), Ok(lock)) => (lock, e, "deploy v2 by bob"),
            (Ok(_), Ok(_)) => panic!("round {round}: both runs took the lease"),
            (Err(a), Err(b)) => panic!("round {round}: neither took it: {a:#} / {b:#}"),
        };
        assert!(
            loser
                .to_string()
                .starts_with(&format!("staging is locked: {holder}")),
            "round {round}: {loser:#}"
        );
        winner.release(&one).await.unwrap();
        assert_eq!(state_table::lease(&env.config).await, None);
    }

    env.publish(&images.backend, &["v1", &sha]).await;
    let deploy = ["deploy", "staging", "--image-tag", "v1", "--yes"];
    let ((a, _), (b, _)) = tokio::join!(
        xtask(&env.config_path, &deploy),
        xtask(&env.config_path, &deploy)
    );
    let (done, refused) = match (a, b) {
        (Ok(done), Err(e)) | (Err(e), Ok(done)) => (done, e),
        (a, b) => panic!("not exactly one deploy: {a:?} / {b:?}"),
    };
    assert_eq!(done, Finish::Verified);
    assert!(
        refused
            .to_string()
            .starts_with("staging is locked: deploy v1 by drill pid"),
        "{refused:#}"
    );
    assert!(env.live().await.ends_with(&env.revision(2)));
    let sdk = Sdk::from_env(support::REGION).await;
    let releases = Ledger::new(&sdk, &env.config).releases().await.unwrap();
    assert_eq!(releases.len(), 1, "the refused deploy wrote nothing");
    assert_eq!(state_table::lease(&env.config).await, None);
}

/// The emulator enforces the deploy role's actions, and can fail: staging's rendered policy
/// without `ecs:UpdateService`, on a role made like the stage's, and the real binary's deploy
/// ends non-zero with an error that names the denied action, the service unchanged.
#[tokio::test]
async fn a_deploy_role_without_an_action_the_engine_needs_fails_naming_it() {
    let env = Staging::new("denied", &["v0"], "http://127.0.0.1:9").await;
    env.push_image("next", &["v1", SHA_A]).await;
    let policy = support::without_action(support::deploy_policy("staging"), "ecs:UpdateService");
    assert!(!policy.to_string().contains("ecs:UpdateService"));
    let role = support::make_role(&format!("staging-denied-{}", std::process::id()), &policy);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_xtask-deploy"))
        .envs(support::credentials_env(&role))
        .args(["deploy", "staging", "--image-tag", "v1", "--yes"])
        .args(["--config", &env.config_path.to_string_lossy()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let error = stderr
        .lines()
        .find(|l| l.starts_with("error: "))
        .unwrap_or_else(|| panic!("no error line: {stderr}"));
    assert!(
        error.contains("ecs:UpdateService") && error.contains("not authorized"),
        "{error}"
    );
    assert!(
        env.live().await.ends_with(&env.revision(1)),
        "the service is unchanged"
    );

    // The same deploy with the full policy goes through UpdateService.
    let sdk = support::role_sdk("staging").await;
    sdk.update_service(&env.config.cluster, "backend", &env.revision(1), None)
        .await
        .unwrap();
}
