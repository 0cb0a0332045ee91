//! Seeds staging and production into the AWS emulator for `cargo xtask sandbox up`, under the
//! names the engine reads from each environment's checked-in `deploy.json` (the Terraform's
//! outputs: cluster, services, task families, containers, repositories, target groups, load
//! balancer, listener ports, the deploy-state table) and the Terraform's own secrets module
//! (`eventflow/<env>/<key>` in Secrets Manager). Runs as the emulator's admin (the standard
//! `AWS_*` variables and `AWS_ENDPOINT_URL`), with `EVENTFLOW_TEST_REGISTRY`, `DATABASE_URL` and
//! `JWT_SECRET` as the sandbox started them.
//!
//! `sandbox_seed <dir> <local-image>` pushes `<local-image>` (a backend image) as the services'
//! first release, creates both environments, waits until their first tasks serve, writes each
//! environment's deploy configuration to `<dir>/<env>.json` (the checked-in one, with the
//! listeners' loopback URLs) and the test listener's key to `<dir>/secrets.json` (owner only),
//! and prints `{"configs": {"staging": …, "production": …}, "urls": {"staging": …,
//! "production": …, "production_test": …}}`.
//!
//! Only the backend runs: the frontend's nginx listens on a fixed port, and every sandbox task
//! shares the host's network (xtask/sandbox/moto_ecs/README.md).

#[allow(dead_code)] // The drills' image helpers; the seeding uses `docker` only.
#[path = "../tests/emulator/images.rs"]
mod images;
#[allow(dead_code)] // Only `create`: the sandbox's deploy-state tables.
#[path = "../tests/emulator/state_table.rs"]
mod state_table;
#[allow(dead_code)] // The drills' helpers this command does not call.
#[path = "../tests/emulator/support.rs"]
mod support;

use std::collections::BTreeMap;
use std::path::Path;

use aws_sdk_ecs::types::{
    AwsVpcConfiguration, Compatibility, ContainerDefinition, DeploymentCircuitBreaker,
    DeploymentConfiguration, HealthCheck, KeyValuePair, LaunchType, LoadBalancer,
    NetworkConfiguration, NetworkMode, PortMapping, Secret,
};
use aws_sdk_elasticloadbalancingv2::types::{
    Action, ActionTypeEnum, FixedResponseActionConfig, ForwardActionConfig,
    HttpHeaderConditionConfig, PathPatternConditionConfig, ProtocolEnum, RuleCondition,
    TargetGroupTuple, TargetTypeEnum,
};
use serde_json::{Value, json};
use xtask_deploy::config::{Config, Environment, HEALTH_APP};
use xtask_deploy::verify::TEST_KEY_HEADER;

use support::{REGION, listener_url, network, random_hex, secretsmanager, settled};

/// The tag the seeded services run until the first deploy.
const INITIAL_TAG: &str = "sandbox-initial";
/// Where Terraform keeps the application's secrets (one per key of its `locals.secrets`).
const SECRETS_MODULE: &str = "infrastructure/modules/secrets/main.tf";
/// The paths the load balancer sends to the backend (modules/alb, `local.backend_paths`).
const BACKEND_PATHS: [&str; 2] = ["/v1/*", "/health"];
/// What the ECS module gives every container and service (modules/ecs).
const CONTAINER_PORT: i32 = 8080;
const LIVENESS_PATH: &str = "/health/live";
const MINIMUM_HEALTHY_PERCENT: i32 = 100;
const MAXIMUM_PERCENT: i32 = 200;

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["publish", local_image, tag] => {
            let staging = checked_in(&root, Environment::Staging);
            publish(&staging, local_image, tag, false).await;
        }
        [dir, local_image] => seed(&root, Path::new(dir), local_image).await,
        _ => {
            eprintln!(
                "usage: sandbox_seed <dir> <local-image> | sandbox_seed publish <local-image> <tag>"
            );
            std::process::exit(2);
        }
    }
}

fn checked_in(root: &Path, env: Environment) -> Config {
    Config::load(root, env, Some(&root.join(env.config_path())))
        .expect("the checked-in deploy.json")
}

async fn seed(root: &Path, dir: &Path, local_image: &str) {
    std::fs::create_dir_all(dir).expect("creating the configuration directory");
    let read = |path: &str| {
        std::fs::read_to_string(root.join(path)).unwrap_or_else(|e| panic!("reading {path}: {e}"))
    };
    let secret_keys = secret_keys(&read(SECRETS_MODULE));

    let staging = Seeded::environment(root, Environment::Staging, &read, &secret_keys).await;
    publish(&staging.checked_in, local_image, INITIAL_TAG, true).await;
    let (staging_urls, staging_starting) = staging.create().await;
    let production = Seeded::environment(root, Environment::Production, &read, &secret_keys).await;
    let (production_urls, production_starting) = production.create().await;
    // Both environments' first tasks start side by side.
    staging.settle(&staging_starting).await;
    production.settle(&production_starting).await;

    let mut configs = serde_json::Map::new();
    let mut keys = serde_json::Map::new();
    for (seeded, urls, upstream) in [
        (&staging, &staging_urls, None),
        (
            &production,
            &production_urls,
            Some((&staging.checked_in, &staging_urls.0)),
        ),
    ] {
        let env = &seeded.checked_in.environment;
        let config = sandbox_config(&seeded.raw, urls, upstream);
        Config::parse(&config.to_string()).expect("the sandbox's configuration parses");
        let path = dir.join(format!("{env}.json"));
        std::fs::write(&path, serde_json::to_string_pretty(&config).unwrap())
            .expect("writing a deploy configuration");
        configs.insert(env.clone(), path.to_string_lossy().into_owned().into());
        keys.insert(
            format!("{env}_test_listener_key"),
            seeded.secrets["test_listener_key"].1.clone().into(),
        );
    }
    write_private(&dir.join("secrets.json"), &Value::Object(keys).to_string());
    let printed = json!({
        "configs": configs,
        "urls": {
            "staging": staging_urls.0,
            "production": production_urls.0,
            "production_test": production_urls.1,
        },
    });
    println!("{printed}");
}

/// One environment as its checked-in configuration and its Terraform name it.
struct Seeded {
    /// The checked-in deploy.json, parsed by the engine's own code.
    checked_in: Config,
    raw: Value,
    /// The Terraform's `target_group_prefix` (environments/<env>/main.tf).
    target_group_prefix: String,
    /// The backend's `desired_count` (environments/<env>/main.tf).
    desired: i32,
    /// Secret key -> (ARN, value).
    secrets: BTreeMap<String, (String, String)>,
}

impl Seeded {
    async fn environment(
        root: &Path,
        env: Environment,
        read: &dyn Fn(&str) -> String,
        keys: &[String],
    ) -> Seeded {
        let checked_in = checked_in(root, env);
        let raw: Value = serde_json::from_str(&read(&env.config_path().to_string_lossy())).unwrap();
        let main_tf = read(&format!("infrastructure/environments/{env}/main.tf"));
        let target_group_prefix = terraform_string(&main_tf, "target_group_prefix")
            .unwrap_or_else(|| panic!("no target_group_prefix in environments/{env}/main.tf"));
        let desired = desired_count(&main_tf, HEALTH_APP).unwrap_or_else(|| {
            panic!("no {HEALTH_APP} desired_count in environments/{env}/main.tf")
        });
        let mut secrets = BTreeMap::new();
        for key in keys {
            let value = match key.as_str() {
                "database_url" => {
                    std::env::var("DATABASE_URL").expect("DATABASE_URL is set by the sandbox")
                }
                "jwt_secret" => {
                    std::env::var("JWT_SECRET").expect("JWT_SECRET is set by the sandbox")
                }
                _ => random_hex(),
            };
            let name = format!("eventflow/{env}/{key}");
            let created = secretsmanager(
                "CreateSecret",
                &json!({"Name": name, "SecretString": value}),
            )
            .await;
            let arn = created["ARN"]
                .as_str()
                .expect("CreateSecret answers an ARN")
                .to_owned();
            secrets.insert(key.clone(), (arn, value));
        }
        Seeded {
            checked_in,
            raw,
            target_group_prefix,
            desired,
            secrets,
        }
    }

    /// The backend's secrets as stack/main.tf hands them to its container: each key upper-cased,
    /// the admin API token only where the admin API is on (staging).
    fn backend_secrets(&self) -> Vec<(String, String)> {
        let mut keys = vec!["database_url", "jwt_secret", "api_keys_secret"];
        if self.checked_in.environment == "staging" {
            keys.push("admin_api_token");
        }
        keys.into_iter()
            .map(|k| (k.to_uppercase(), self.secrets[k].0.clone()))
            .collect()
    }

    /// Creates the environment; returns (public URL, test listener URL) and the services whose
    /// first tasks are starting.
    async fn create(&self) -> ((String, Option<String>), Vec<String>) {
        let sdk = support::sdk_config().await;
        let ecs = aws_sdk_ecs::Client::new(&sdk);
        let elb = aws_sdk_elasticloadbalancingv2::Client::new(&sdk);
        let config = &self.checked_in;
        let app = &config.apps[HEALTH_APP];
        let (vpc, subnet_a, subnet_b, group) = network(&config.cluster).await;
        ecs.create_cluster()
            .cluster_name(&config.cluster)
            .send()
            .await
            .unwrap();
        let registry = account(&sdk).await;
        let image = format!(
            "{registry}.dkr.ecr.{REGION}.amazonaws.com/{}:{INITIAL_TAG}",
            app.ecr_repository
        );
        // As Terraform does: the service starts on the template, from which deploys build theirs.
        let td = ecs
            .register_task_definition()
            .family(app.template_family.as_deref().unwrap_or(&app.task_family))
            .network_mode(NetworkMode::Awsvpc)
            .requires_compatibilities(Compatibility::Fargate)
            .cpu("256")
            .memory("512")
            .container_definitions(container(&app.container, &image, &self.backend_secrets()))
            .send()
            .await
            .unwrap();
        let td_arn = td
            .task_definition()
            .unwrap()
            .task_definition_arn()
            .unwrap()
            .to_owned();

        let lb_name = config
            .load_balancer
            .clone()
            .unwrap_or_else(|| config.cluster.clone());
        let lb = elb
            .create_load_balancer()
            .name(&lb_name)
            .subnets(&subnet_a)
            .subnets(&subnet_b)
            .security_groups(&group)
            .send()
            .await
            .unwrap();
        let lb_arn = lb.load_balancers()[0]
            .load_balancer_arn()
            .unwrap()
            .to_owned();
        // (service, target group, desired count), as stack/main.tf pairs them.
        let colours = config.blue_green_apps().unwrap_or_default();
        let mut services = Vec::new();
        if let Some(bg) = colours.iter().find(|a| a.name == HEALTH_APP) {
            let names = target_group_names(&self.target_group_prefix, HEALTH_APP, true);
            assert_eq!(
                [
                    bg.target_groups.blue.clone(),
                    bg.target_groups.green.clone()
                ],
                [names[0].clone(), names[1].clone()],
                "deploy.json's target groups are the Terraform's"
            );
            services.push((bg.services.blue.clone(), names[0].clone(), self.desired));
            services.push((bg.services.green.clone(), names[1].clone(), 0));
        } else {
            let name = target_group_names(&self.target_group_prefix, HEALTH_APP, false).remove(0);
            services.push((app.services[0].clone(), name, self.desired));
        }
        let mut groups = Vec::new();
        for (service, tg_name, desired) in &services {
            let tg = elb
                .create_target_group()
                .name(tg_name)
                .protocol(ProtocolEnum::Http)
                .port(CONTAINER_PORT)
                .vpc_id(&vpc)
                .target_type(TargetTypeEnum::Ip)
                .health_check_path("/health")
                .matcher(
                    aws_sdk_elasticloadbalancingv2::types::Matcher::builder()
                        .http_code("200")
                        .build(),
                )
                .unhealthy_threshold_count(3)
                .send()
                .await
                .unwrap();
            let tg_arn = tg.target_groups()[0].target_group_arn().unwrap().to_owned();
            ecs.create_service()
                .cluster(&config.cluster)
                .service_name(service)
                .task_definition(&td_arn)
                .desired_count(*desired)
                .launch_type(LaunchType::Fargate)
                .load_balancers(
                    LoadBalancer::builder()
                        .target_group_arn(&tg_arn)
                        .container_name(&app.container)
                        .container_port(CONTAINER_PORT)
                        .build(),
                )
                .network_configuration(
                    NetworkConfiguration::builder()
                        .awsvpc_configuration(
                            AwsVpcConfiguration::builder()
                                .subnets(&subnet_a)
                                .security_groups(&group)
                                .build()
                                .unwrap(),
                        )
                        .build(),
                )
                .deployment_configuration(
                    DeploymentConfiguration::builder()
                        .minimum_healthy_percent(MINIMUM_HEALTHY_PERCENT)
                        .maximum_percent(MAXIMUM_PERCENT)
                        .deployment_circuit_breaker(
                            DeploymentCircuitBreaker::builder()
                                .enable(true)
                                .rollback(true)
                                .build(),
                        )
                        .build(),
                )
                .send()
                .await
                .unwrap();
            groups.push(tg_arn);
        }

        let not_found = || {
            // The dashboard's default in Terraform; the sandbox runs no frontend.
            Action::builder()
                .r#type(ActionTypeEnum::FixedResponse)
                .fixed_response_config(
                    FixedResponseActionConfig::builder()
                        .status_code("404")
                        .build(),
                )
                .build()
        };
        let forward = |weights: &[i32]| {
            let mut config = ForwardActionConfig::builder();
            for (arn, weight) in groups.iter().zip(weights) {
                config = config.target_groups(
                    TargetGroupTuple::builder()
                        .target_group_arn(arn)
                        .weight(*weight)
                        .build(),
                );
            }
            Action::builder()
                .r#type(ActionTypeEnum::Forward)
                .forward_config(config.build())
                .build()
        };
        let paths = || {
            let mut values = PathPatternConditionConfig::builder();
            for p in BACKEND_PATHS {
                values = values.values(p);
            }
            RuleCondition::builder()
                .field("path-pattern")
                .path_pattern_config(values.build())
                .build()
        };
        let listener = |port: i32, default: Action| {
            let elb = elb.clone();
            let lb_arn = lb_arn.clone();
            async move {
                let out = elb
                    .create_listener()
                    .load_balancer_arn(lb_arn)
                    .protocol(ProtocolEnum::Http)
                    .port(port)
                    .default_actions(default)
                    .send()
                    .await
                    .unwrap();
                out.listeners()[0].listener_arn().unwrap().to_owned()
            }
        };
        let ports = config.listeners.as_ref();
        // Blue 100 / green 0 at creation (modules/alb, creation_weights); a rolling one forwards.
        let live = listener(ports.map_or(443, |l| i32::from(l.production)), not_found()).await;
        let weights: &[i32] = if groups.len() == 2 { &[100, 0] } else { &[1] };
        elb.create_rule()
            .listener_arn(&live)
            .priority(10)
            .conditions(paths())
            .actions(forward(weights))
            .send()
            .await
            .unwrap();
        let public = listener_url(&elb, &live).await;
        let mut test = None;
        if let Some(ports) = ports {
            let forbidden = Action::builder()
                .r#type(ActionTypeEnum::FixedResponse)
                .fixed_response_config(
                    FixedResponseActionConfig::builder()
                        .status_code("403")
                        .content_type("text/plain")
                        .message_body("Forbidden")
                        .build(),
                )
                .build();
            let arn = listener(i32::from(ports.test), forbidden).await;
            let key = RuleCondition::builder()
                .field("http-header")
                .http_header_config(
                    HttpHeaderConditionConfig::builder()
                        .http_header_name(TEST_KEY_HEADER)
                        .values(&self.secrets["test_listener_key"].1)
                        .build(),
                )
                .build();
            // Green 100 at creation: the idle colour (modules/alb, test_weights).
            elb.create_rule()
                .listener_arn(&arn)
                .priority(10)
                .conditions(paths())
                .conditions(key)
                .actions(forward(&[0, 100]))
                .send()
                .await
                .unwrap();
            test = Some(listener_url(&elb, &arn).await);
        }
        state_table::create(config).await;
        let starting = services
            .into_iter()
            .filter(|(_, _, d)| *d > 0)
            .map(|(s, _, _)| s)
            .collect();
        ((public, test), starting)
    }

    /// Waits until `services` serve their first release.
    async fn settle(&self, services: &[String]) {
        let ecs = aws_sdk_ecs::Client::new(&support::sdk_config().await);
        for service in services {
            settled(&ecs, &self.checked_in.cluster, service).await;
        }
    }
}

/// The emulator's account: the registry id of the ECR repository the Terraform's data source reads.
async fn account(sdk: &aws_config::SdkConfig) -> String {
    let ecr = aws_sdk_ecr::Client::new(sdk);
    let out = ecr.describe_registry().send().await.unwrap();
    out.registry_id().unwrap().to_owned()
}

/// Publishes `local_image` as `tag` of the backend's repository, as `images push` does in AWS:
/// the image to the sandbox's registry, its manifest (so its digest) to the emulator's ECR, which
/// the sandbox's `images push --registry` does not reach. `create` makes the repository first,
/// as infrastructure/global does.
async fn publish(staging: &Config, local_image: &str, tag: &str, create: bool) {
    let repository = &staging.apps[HEALTH_APP].ecr_repository;
    let ecr = aws_sdk_ecr::Client::new(&support::sdk_config().await);
    if create {
        // Both of infrastructure/global's repositories, so that `images push` finds each.
        for name in [repository.as_str(), "eventflow-frontend"] {
            ecr.create_repository()
                .repository_name(name)
                .send()
                .await
                .unwrap();
        }
    }
    let registry = support::registry();
    let remote = format!("{registry}/{repository}:{tag}");
    images::docker(&["tag", local_image, &remote]);
    images::docker(&["push", "--quiet", &remote]);
    images::docker(&["rmi", &remote]);
    let media = "application/vnd.docker.distribution.manifest.v2+json";
    let manifest = reqwest::Client::new()
        .get(format!("http://{registry}/v2/{repository}/manifests/{tag}"))
        .header("Accept", media)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    ecr.put_image()
        .repository_name(repository)
        .image_manifest(&manifest)
        .image_manifest_media_type(media)
        .image_tag(tag)
        .send()
        .await
        .unwrap();
}

/// The backend's container as modules/ecs defines it: its port, RUST_LOG, its secrets, and the
/// liveness health check through bash's /dev/tcp (every 5 s, ECS's minimum, not Terraform's 10,
/// so a sandbox deploy takes seconds).
fn container(name: &str, image: &str, secrets: &[(String, String)]) -> ContainerDefinition {
    let check = format!(
        "exec 3<>/dev/tcp/127.0.0.1/{CONTAINER_PORT} && printf 'GET {LIVENESS_PATH} HTTP/1.0\\r\\n\\r\\n' >&3 && read -r _ status _ <&3 && [ \"$status\" = 200 ]"
    );
    let mut container = ContainerDefinition::builder()
        .name(name)
        .image(image)
        .essential(true)
        .port_mappings(
            PortMapping::builder()
                .container_port(CONTAINER_PORT)
                .build(),
        )
        .environment(
            KeyValuePair::builder()
                .name("RUST_LOG")
                .value("info")
                .build(),
        )
        .health_check(
            HealthCheck::builder()
                .command("CMD")
                .command("bash")
                .command("-c")
                .command(check)
                .interval(5)
                .timeout(3)
                .retries(3)
                .start_period(10)
                .build()
                .unwrap(),
        );
    for (name, arn) in secrets {
        container = container.secrets(
            Secret::builder()
                .name(name)
                .value_from(arn)
                .build()
                .unwrap(),
        );
    }
    container.build()
}

/// The keys of the secrets module's `locals.secrets` map: one secret `<prefix>/<key>` each.
fn secret_keys(module: &str) -> Vec<String> {
    let mut keys = Vec::new();
    let mut inside = false;
    for line in module.lines() {
        let line = line.trim();
        if line.starts_with("secrets = {") {
            inside = true;
        } else if inside && line == "}" {
            break;
        } else if inside
            && !line.starts_with('#')
            && let Some((key, _)) = line.split_once('=')
        {
            keys.push(key.trim().to_owned());
        }
    }
    assert!(
        keys.iter().any(|k| k == "test_listener_key"),
        "{SECRETS_MODULE}'s locals.secrets has no test_listener_key: read its keys again"
    );
    keys
}

/// A top-level string argument of an environment root, `name = "value"`.
fn terraform_string(main_tf: &str, name: &str) -> Option<String> {
    main_tf.lines().find_map(|line| {
        let (key, value) = line.trim().split_once('=')?;
        (key.trim() == name).then(|| value.trim().trim_matches('"').to_owned())
    })
}

/// An app's `desired_count` in an environment root: `backend  = { desired_count = 2, … }`.
fn desired_count(main_tf: &str, app: &str) -> Option<i32> {
    main_tf.lines().find_map(|line| {
        let (key, rest) = line.trim().split_once('=')?;
        if key.trim() != app {
            return None;
        }
        let after = rest.split("desired_count").nth(1)?;
        let number = after.trim_start().trim_start_matches('=').trim_start();
        number
            .split(|c: char| !c.is_ascii_digit())
            .next()?
            .parse()
            .ok()
    })
}

/// The Terraform's target group names for `app` (modules/alb: `<prefix>-<app>[-<colour>]`).
fn target_group_names(prefix: &str, app: &str, blue_green: bool) -> Vec<String> {
    if blue_green {
        vec![
            format!("{prefix}-{app}-blue"),
            format!("{prefix}-{app}-green"),
        ]
    } else {
        vec![format!("{prefix}-{app}")]
    }
}

/// The checked-in configuration as the sandbox serves it: its listeners' loopback URLs, only
/// the app the sandbox runs, the engine's tuning for seconds-long rollouts, and for production
/// the staging it promotes from.
fn sandbox_config(
    checked_in: &Value,
    (public, test): &(String, Option<String>),
    upstream: Option<(&Config, &String)>,
) -> Value {
    let mut config = checked_in.clone();
    config["base_url"] = json!(public);
    if let Some(test) = test {
        config["test_url"] = json!(test);
    }
    if let Some(apps) = config["apps"].as_object_mut() {
        apps.retain(|name, _| name == HEALTH_APP);
    }
    for (key, value) in [
        ("rollout_timeout_secs", json!(180)),
        ("poll_secs", json!(1)),
        ("verify_timeout_secs", json!(30)),
        ("bake_secs", json!(10)),
        // The end-to-end suite is a stage of its own; a sandbox deploy verifies through /health.
        ("e2e", json!(false)),
    ] {
        config[key] = value;
    }
    if let Some((staging, url)) = upstream {
        config["promote_from"] = json!({
            "environment": staging.environment,
            "base_url": url,
            "ledger_prefix": staging.ledger_prefix,
        });
    }
    config
}

fn write_private(path: &Path, text: &str) {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .expect("writing the sandbox's secrets");
    file.write_all(text.as_bytes())
        .expect("writing the sandbox's secrets");
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn root() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
    }

    fn read(path: &str) -> String {
        std::fs::read_to_string(root().join(path)).unwrap()
    }

    #[test]
    fn the_secrets_are_the_secrets_modules_keys() {
        assert_eq!(
            secret_keys(&read(SECRETS_MODULE)),
            [
                "database_url",
                "jwt_secret",
                "api_keys_secret",
                "admin_api_token",
                "test_listener_key"
            ]
        );
    }

    #[test]
    #[should_panic(expected = "has no test_listener_key")]
    fn a_secrets_module_without_the_test_key_is_refused() {
        secret_keys("locals {\n  secrets = {\n    jwt_secret = \"x\"\n  }\n}\n");
    }

    #[test]
    fn the_target_groups_are_the_terraforms_and_deploy_jsons() {
        let main_tf = read("infrastructure/environments/production/main.tf");
        let prefix = terraform_string(&main_tf, "target_group_prefix").unwrap();
        let config = Config::load(
            &root(),
            Environment::Production,
            Some(&root().join(Environment::Production.config_path())),
        )
        .unwrap();
        let backend = config
            .blue_green_apps()
            .unwrap()
            .into_iter()
            .find(|a| a.name == HEALTH_APP)
            .unwrap();
        assert_eq!(
            target_group_names(&prefix, HEALTH_APP, true),
            [backend.target_groups.blue, backend.target_groups.green]
        );
        let staging = read("infrastructure/environments/staging/main.tf");
        assert_eq!(
            target_group_names(
                &terraform_string(&staging, "target_group_prefix").unwrap(),
                HEALTH_APP,
                false
            ),
            ["eventflow-stg-backend"]
        );
    }

    #[test]
    fn the_desired_counts_are_the_environment_roots() {
        let production = read("infrastructure/environments/production/main.tf");
        assert_eq!(desired_count(&production, "backend"), Some(2));
        assert_eq!(desired_count("  backend = { cpu = 256 }", "backend"), None);
    }

    #[test]
    fn the_sandbox_configuration_keeps_the_checked_in_names() {
        let checked_in: Value =
            serde_json::from_str(&read("infrastructure/environments/production/deploy.json"))
                .unwrap();
        let staging = Config::load(
            &root(),
            Environment::Staging,
            Some(&root().join(Environment::Staging.config_path())),
        )
        .unwrap();
        let urls = (
            "http://127.0.0.1:1".to_owned(),
            Some("http://127.0.0.1:2".to_owned()),
        );
        let upstream = "http://127.0.0.1:3".to_owned();
        let config = Config::parse(
            &sandbox_config(&checked_in, &urls, Some((&staging, &upstream))).to_string(),
        )
        .unwrap();
        assert_eq!(config.cluster, "eventflow-production");
        assert_eq!(config.state_table(), "eventflow-production-deploy-state");
        assert_eq!(
            config.apps[HEALTH_APP].task_family,
            "eventflow-production-backend"
        );
        assert_eq!(config.apps.keys().collect::<Vec<_>>(), [HEALTH_APP]);
        assert_eq!(
            (config.base_url.as_str(), config.test_url.as_deref()),
            ("http://127.0.0.1:1", Some("http://127.0.0.1:2"))
        );
    }
}
