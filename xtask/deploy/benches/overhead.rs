//! The deploy engine's own overhead against the AWS emulator, excluding cargo's build and any
//! polling interval:
//! - from command start (configuration read, AWS clients made) to `UpdateService` sent;
//! - from a failure detected (the health check giving up) to the rollback's `UpdateService` sent.
//!
//! Needs the emulator: start moto as in docs/runbook.md, then
//! `AWS_ENDPOINT_URL=http://127.0.0.1:PORT AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing cargo bench -p xtask-deploy --bench overhead`

#[path = "../tests/emulator/images.rs"]
#[allow(dead_code)] // the fixtures' images, which the bench doesn't build
mod images;
#[path = "../tests/emulator/state_table.rs"]
#[allow(dead_code)] // the bench uses part of the test fixtures
mod state_table;
#[path = "../tests/emulator/support.rs"]
#[allow(dead_code)] // the bench uses part of the test fixtures
mod support;

use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::Result;
use aws_sdk_ecs::operation::register_task_definition::RegisterTaskDefinitionInput;
use aws_sdk_ecs::types::{Tag, TaskDefinition};
use xtask_deploy::aws::sdk::Sdk;
use xtask_deploy::aws::{
    AwsResult, Condition, Created, Image, Platform, ServiceState, Started, StateItem, Written,
};
use xtask_deploy::config::Config;
use xtask_deploy::console::Console;
use xtask_deploy::deploy::{self, Context, Finish};
use xtask_deploy::verify::{Checks, Health};

const RUNS: usize = 10;
const GOOD: &str = "1111111111111111111111111111111111111111";
const BAD: &str = "2222222222222222222222222222222222222222";

/// Records when each UpdateService is sent. The bench measures the engine, not ECS: it runs
/// against moto's plain server (no task starts), and reports the revision the service is set to
/// as a completed rollout with every desired task running, as ECS does once a healthy rollout is
/// done. The drills (`tests/emulator`) run against the sandbox's real scheduler instead.
struct Timed {
    inner: Sdk,
    updates: Mutex<Vec<Instant>>,
}

impl Platform for Timed {
    async fn describe_service(&self, c: &str, s: &str) -> AwsResult<ServiceState> {
        let mut state = self.inner.describe_service(c, s).await?;
        state.running = state.desired;
        let primary = xtask_deploy::aws::Deployment {
            id: state.deployments.first().and_then(|d| d.id.clone()),
            status: "PRIMARY".to_owned(),
            task_definition: state.task_definition.clone(),
            rollout_state: Some("COMPLETED".to_owned()),
            rollout_reason: None,
            desired: state.desired,
            running: state.running,
            failed_tasks: 0,
            created_at: state.deployments.first().and_then(|d| d.created_at),
        };
        state.deployments = vec![primary];
        Ok(state)
    }
    async fn describe_task_definition(&self, arn: &str) -> AwsResult<(TaskDefinition, Vec<Tag>)> {
        self.inner.describe_task_definition(arn).await
    }
    async fn register_task_definition(&self, i: RegisterTaskDefinitionInput) -> AwsResult<String> {
        self.inner.register_task_definition(i).await
    }
    async fn deregister_task_definition(&self, arn: &str) -> AwsResult<()> {
        self.inner.deregister_task_definition(arn).await
    }
    async fn update_service(
        &self,
        c: &str,
        s: &str,
        td: &str,
        n: Option<i32>,
    ) -> AwsResult<Option<Started>> {
        self.updates.lock().unwrap().push(Instant::now());
        self.inner.update_service(c, s, td, n).await
    }
    async fn find_image(&self, r: &str, t: &str) -> AwsResult<Option<Image>> {
        self.inner.find_image(r, t).await
    }
    async fn find_image_by_digest(&self, r: &str, d: &str) -> AwsResult<Option<Image>> {
        self.inner.find_image_by_digest(r, d).await
    }
    async fn tag_image(&self, r: &str, d: &str, t: &str) -> AwsResult<Created> {
        self.inner.tag_image(r, d, t).await
    }
    async fn scale_service(&self, c: &str, s: &str, n: i32) -> AwsResult<()> {
        self.inner.scale_service(c, s, n).await
    }
    async fn load_balancer_arn(&self, n: &str) -> AwsResult<String> {
        self.inner.load_balancer_arn(n).await
    }
    async fn listeners(&self, lb: &str) -> AwsResult<Vec<xtask_deploy::aws::Listener>> {
        self.inner.listeners(lb).await
    }
    async fn target_group_arns(&self, n: &[String]) -> AwsResult<Vec<(String, String)>> {
        self.inner.target_group_arns(n).await
    }
    async fn target_health(&self, tg: &str) -> AwsResult<Vec<xtask_deploy::aws::TargetHealth>> {
        self.inner.target_health(tg).await
    }
    async fn stopped_tasks(
        &self,
        c: &str,
        s: &str,
        n: usize,
    ) -> AwsResult<Vec<xtask_deploy::aws::StoppedTask>> {
        self.inner.stopped_tasks(c, s, n).await
    }
    async fn set_forward(
        &self,
        at: &xtask_deploy::aws::ForwardAt,
        w: &[(String, i32)],
    ) -> AwsResult<()> {
        self.inner.set_forward(at, w).await
    }
    async fn put_item(&self, t: &str, i: &StateItem, c: &Condition) -> AwsResult<Written> {
        self.inner.put_item(t, i, c).await
    }
    async fn get_item(&self, t: &str, pk: &str, sk: &str) -> AwsResult<Option<StateItem>> {
        self.inner.get_item(t, pk, sk).await
    }
    async fn renew_lease(
        &self,
        t: &str,
        pk: &str,
        sk: &str,
        o: &str,
        e: u64,
    ) -> AwsResult<Written> {
        self.inner.renew_lease(t, pk, sk, o, e).await
    }
    async fn delete_item(&self, t: &str, pk: &str, sk: &str, c: &Condition) -> AwsResult<Written> {
        self.inner.delete_item(t, pk, sk, c).await
    }
    async fn query_items(&self, t: &str, pk: &str, p: &str, n: usize) -> AwsResult<Vec<StateItem>> {
        self.inner.query_items(t, pk, p, n).await
    }
}

/// `/health` always reports GOOD: the new release (BAD) fails its first check, and with
/// `verify_timeout_secs: 0` that first answer is when the failure is detected; the rollback's
/// check then passes. Records when each check answered.
struct Checked(Mutex<Vec<Instant>>);

impl Checks for Checked {
    async fn health(&self, _: &str) -> Result<Health> {
        self.0.lock().unwrap().push(Instant::now());
        Ok(Health {
            status: 200,
            git_sha: Some(GOOD.to_owned()),
            ..Health::default()
        })
    }
    fn e2e_preflight(&self) -> Result<()> {
        Ok(())
    }
    async fn e2e(&self, _: &str) -> Result<()> {
        Ok(())
    }
    async fn smoke(&self, _: &str) -> Result<()> {
        Ok(())
    }
}

fn yes(_: &str, _: &str) -> Result<bool> {
    Ok(true)
}

async fn one_run(i: usize) -> (Duration, Duration) {
    let env =
        support::Staging::new(&format!("bench{i}"), &["v0", GOOD], "http://127.0.0.1:9").await;
    env.push_image("bad", &["v1", BAD]).await;
    let mut json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&env.config_path).unwrap()).unwrap();
    json["verify_timeout_secs"] = 0.into();
    std::fs::write(&env.config_path, json.to_string()).unwrap();

    // Command start: everything the process does after cargo has built it.
    let start = Instant::now();
    let config = Config::load(
        std::path::Path::new("."),
        xtask_deploy::config::Environment::Staging,
        Some(&env.config_path),
    )
    .unwrap();
    let platform = Timed {
        inner: Sdk::from_env(&config.region).await,
        updates: Mutex::new(Vec::new()),
    };
    let checks = Checked(Mutex::new(Vec::new()));
    let console = Console::quiet();
    let mut ctx = Context {
        config: &config,
        platform: &platform,
        checks: &checks,
        console: &console,
        prompt: &yes,
        cancel: tokio::sync::watch::channel(false).1,
        actor: "bench".to_owned(),
        notifier: &xtask_deploy::notify::Senders::none(),
    };
    let opts = deploy::Options {
        image_tag: Some("v1".to_owned()),
        yes: true,
        ..deploy::Options::default()
    };
    let finish = deploy::deploy(&mut ctx, &opts).await.unwrap();
    assert!(
        matches!(finish, Finish::RolledBack(_)),
        "{finish:?}\n{}",
        console.lines().join("\n")
    );
    let updates = platform.updates.lock().unwrap().clone();
    assert_eq!(
        updates.len(),
        2,
        "the deploy's UpdateService and the rollback's"
    );
    let detected = checks.0.lock().unwrap()[0];
    assert!(detected < updates[1]);
    (updates[0] - start, updates[1] - detected)
}

fn stats(mut values: Vec<Duration>) -> String {
    values.sort();
    format!(
        "median {:.0} ms, max {:.0} ms",
        values[values.len() / 2].as_secs_f64() * 1000.0,
        values[values.len() - 1].as_secs_f64() * 1000.0
    )
}

fn main() {
    if std::env::var_os("AWS_ENDPOINT_URL").is_none() {
        eprintln!(
            "AWS_ENDPOINT_URL is not set: start the emulator first (docs/runbook.md, \"The benchmark\")"
        );
        std::process::exit(1);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut to_update = Vec::new();
    let mut to_rollback = Vec::new();
    for i in 0..RUNS {
        let (a, b) = runtime.block_on(one_run(i));
        to_update.push(a);
        to_rollback.push(b);
    }
    let worst = to_update
        .iter()
        .chain(&to_rollback)
        .max()
        .copied()
        .unwrap_or_default();
    println!("deploy engine overhead against the emulator, {RUNS} runs:");
    println!(
        "  command start → UpdateService sent:            {}",
        stats(to_update)
    );
    println!(
        "  failure detected → rollback UpdateService sent: {}",
        stats(to_rollback)
    );
    println!(
        "  target: each under 1 s: {}",
        if worst < Duration::from_secs(1) {
            "met"
        } else {
            "MISSED"
        }
    );
}
