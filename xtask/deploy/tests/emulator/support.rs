//! An environment in the emulator: VPC, subnet and security group (through EC2's query API, so
//! the heavy EC2 SDK crate isn't needed), an ECR repository with images, an ECS cluster and a
//! Fargate service with the circuit breaker on, and the deploy configuration pointing at them.
//! Every environment has its own names, so tests run side by side in one emulator.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

use aws_config::BehaviorVersion;
use aws_sdk_ecs::config::Credentials;
use aws_sdk_ecs::types::{
    AwsVpcConfiguration, Compatibility, ContainerDefinition, DeploymentCircuitBreaker,
    DeploymentConfiguration, LaunchType, NetworkConfiguration, NetworkMode,
};
use xtask_deploy::aws::sdk::Sdk;
use xtask_deploy::config::Config;

pub const REGION: &str = "eu-central-1";

/// The emulator's URL; without it, the one-line fix.
pub fn endpoint() -> String {
    std::env::var("AWS_ENDPOINT_URL").unwrap_or_else(|_| {
        panic!(
            "AWS_ENDPOINT_URL is not set: these tests run against the AWS emulator that `cargo xtask test deploy` starts; run `cargo xtask test deploy`"
        )
    })
}

/// The admin's configuration: seeding, and reading back what the engine did.
pub async fn sdk_config() -> aws_config::SdkConfig {
    endpoint();
    aws_config::defaults(BehaviorVersion::latest())
        .region(aws_config::Region::new(REGION))
        .load()
        .await
}

/// An EC2 query-API call as the admin, signed (moto checks signatures once IAM is enforced).
pub async fn ec2(action: &str, params: &[(&str, &str)]) -> String {
    let mut body = format!("Action={action}&Version=2016-11-15");
    for (k, v) in params {
        body.push_str(&format!("&{k}={}", encode(v)));
    }
    let content_type = "application/x-www-form-urlencoded; charset=utf-8";
    signed_post(
        "ec2",
        &[("content-type", content_type)],
        body,
        &format!("ec2:{action}"),
    )
    .await
}

/// A Secrets Manager call (its JSON protocol) as the admin, signed, without the SDK crate.
pub async fn secretsmanager(action: &str, input: &serde_json::Value) -> serde_json::Value {
    let target = format!("secretsmanager.{action}");
    let headers = [
        ("content-type", "application/x-amz-json-1.1"),
        ("x-amz-target", target.as_str()),
    ];
    let what = format!("secretsmanager:{action}");
    let text = signed_post("secretsmanager", &headers, input.to_string(), &what).await;
    serde_json::from_str(&text).unwrap_or_else(|_| panic!("{what} answered {text}"))
}

/// A POST to the emulator signed as the admin for `service`; panics naming `what` on an error.
async fn signed_post(service: &str, headers: &[(&str, &str)], body: String, what: &str) -> String {
    use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
    let url = endpoint();
    let host = url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    let identity = admin_credentials().into();
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region(REGION)
        .name(service)
        .time(std::time::SystemTime::now())
        .settings(SigningSettings::default())
        .build()
        .unwrap()
        .into();
    let mut all = vec![("host", host.as_str())];
    all.extend_from_slice(headers);
    let signable = SignableRequest::new(
        "POST",
        &url,
        all.iter().copied(),
        SignableBody::Bytes(body.as_bytes()),
    )
    .unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    let mut request = reqwest::Client::new().post(&url);
    for (name, value) in headers.iter().copied().chain(instructions.headers()) {
        request = request.header(name, value);
    }
    let response = request
        .body(body)
        .send()
        .await
        .expect("the emulator answers signed calls");
    let status = response.status();
    let text = response.text().await.unwrap();
    assert!(status.is_success(), "{what}: {status} {text}");
    text
}

/// The admin's keys: the standard variables, which the stage sets to the emulator's admin.
fn admin_credentials() -> Credentials {
    let var = |name: &str| {
        std::env::var(name)
            .unwrap_or_else(|_| panic!("{name} is not set: run `cargo xtask test deploy`"))
    };
    Credentials::new(
        var("AWS_ACCESS_KEY_ID"),
        var("AWS_SECRET_ACCESS_KEY"),
        None,
        None,
        "emulator-admin",
    )
}

/// The deploy role of `environment` (`staging`, `production`), as the stage made it in the
/// emulator: the rendered deploy policy's actions (resources widened to `*`), assumed through
/// the emulator's STS.
pub fn role_credentials(environment: &str) -> Credentials {
    let roles = std::env::var("EVENTFLOW_DEPLOY_ROLES").unwrap_or_else(|_| {
        panic!("EVENTFLOW_DEPLOY_ROLES is not set: the deploy roles are made by the emulator that `cargo xtask test deploy` starts; run `cargo xtask test deploy`")
    });
    let roles: serde_json::Value = serde_json::from_str(&roles).unwrap();
    credentials_of(&roles[environment])
}

/// Credentials from `{"AWS_ACCESS_KEY_ID": …, "AWS_SECRET_ACCESS_KEY": …, "AWS_SESSION_TOKEN": …}`.
pub fn credentials_of(v: &serde_json::Value) -> Credentials {
    let field = |k: &str| v[k].as_str().map(str::to_owned);
    Credentials::new(
        field("AWS_ACCESS_KEY_ID").expect("a role's AWS_ACCESS_KEY_ID"),
        field("AWS_SECRET_ACCESS_KEY").expect("a role's AWS_SECRET_ACCESS_KEY"),
        field("AWS_SESSION_TOKEN"),
        None,
        "emulator-deploy-role",
    )
}

/// The engine's clients acting as `environment`'s deploy role.
pub async fn role_sdk(environment: &str) -> Sdk {
    Sdk::with_credentials(REGION, role_credentials(environment)).await
}

/// `credentials` as the standard variables, for running the engine's binary.
pub fn credentials_env(credentials: &Credentials) -> Vec<(&'static str, String)> {
    let mut env = vec![
        ("AWS_ACCESS_KEY_ID", credentials.access_key_id().to_owned()),
        (
            "AWS_SECRET_ACCESS_KEY",
            credentials.secret_access_key().to_owned(),
        ),
    ];
    if let Some(token) = credentials.session_token() {
        env.push(("AWS_SESSION_TOKEN", token.to_owned()));
    }
    env
}

/// Form encoding as moto re-encodes the body to check the signature (a space as `+`).
fn encode(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b' ' => "+".to_owned(),
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

pub fn element<'a>(xml: &'a str, name: &str) -> &'a str {
    let open = format!("<{name}>");
    let start = xml
        .find(&open)
        .unwrap_or_else(|| panic!("no <{name}> in {xml}"))
        + open.len();
    let end = xml[start..].find('<').unwrap() + start;
    &xml[start..end]
}

/// A deterministic fake image manifest; each `seed` gives its own digest (moto derives the
/// digest from the layers' digests, so the one layer carries the seed).
fn manifest(seed: &str) -> String {
    let hex: String = seed
        .bytes()
        .map(|b| format!("{b:02x}"))
        .chain(std::iter::repeat_n("0".to_owned(), 64))
        .collect::<String>()[..64]
        .to_owned();
    format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{{"mediaType":"application/vnd.docker.container.image.v1+json","size":1,"digest":"sha256:{hex}"}},"layers":[{{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","size":1,"digest":"sha256:{hex}"}}]}}"#
    )
}

pub struct Staging {
    pub config: Config,
    pub config_path: PathBuf,
    pub ecs: aws_sdk_ecs::Client,
    pub ecr: aws_sdk_ecr::Client,
    pub repository: String,
    pub registry: String,
    pub family: String,
    /// Where clients reach it: the load balancer's listener, or the given base URL.
    pub public_url: String,
}

static NEXT: AtomicU32 = AtomicU32::new(0);

impl Staging {
    /// A fresh environment named after `test`, running an image tagged `initial_tags`, with
    /// the health check and end-to-end suite as given.
    pub async fn new(test: &str, initial_tags: &[&str], base_url: &str) -> Staging {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let name = format!("{test}-{}-{n}", std::process::id());
        let sdk = sdk_config().await;
        let ecs = aws_sdk_ecs::Client::new(&sdk);
        let ecr = aws_sdk_ecr::Client::new(&sdk);

        let vpc = ec2("CreateVpc", &[("CidrBlock", "10.0.0.0/16")]).await;
        let vpc = element(&vpc, "vpcId").to_owned();
        let subnet = ec2(
            "CreateSubnet",
            &[("VpcId", &vpc), ("CidrBlock", "10.0.1.0/24")],
        )
        .await;
        let subnet = element(&subnet, "subnetId").to_owned();
        let group = ec2(
            "CreateSecurityGroup",
            &[
                ("GroupName", &name),
                ("GroupDescription", "eventflow tasks"),
                ("VpcId", &vpc),
            ],
        )
        .await;
        let group = element(&group, "groupId").to_owned();

        let repository = format!("eventflow-backend-{name}");
        let created = ecr
            .create_repository()
            .repository_name(&repository)
            .send()
            .await
            .unwrap();
        let registry = created
            .repository()
            .unwrap()
            .registry_id()
            .unwrap()
            .to_owned();
        let staging = Staging {
            config: placeholder_config(),
            config_path: PathBuf::new(),
            ecs,
            ecr,
            repository: repository.clone(),
            registry,
            family: format!("eventflow-backend-{name}"),
            public_url: base_url.to_owned(),
        };
        staging.push_image(initial_tags[0], initial_tags).await;

        let cluster = format!("eventflow-staging-{name}");
        staging
            .ecs
            .create_cluster()
            .cluster_name(&cluster)
            .send()
            .await
            .unwrap();
        let td = staging
            .ecs
            .register_task_definition()
            .family(&staging.family)
            .network_mode(NetworkMode::Awsvpc)
            .requires_compatibilities(Compatibility::Fargate)
            .cpu("256")
            .memory("512")
            .container_definitions(
                ContainerDefinition::builder()
                    .name("backend")
                    .image(staging.image_uri(initial_tags[0]))
                    .essential(true)
                    .build(),
            )
            .send()
            .await
            .unwrap();
        let td_arn = td
            .task_definition()
            .unwrap()
            .task_definition_arn()
            .unwrap()
            .to_owned();
        staging
            .ecs
            .create_service()
            .cluster(&cluster)
            .service_name("backend")
            .task_definition(&td_arn)
            .desired_count(2)
            .launch_type(LaunchType::Fargate)
            .network_configuration(
                NetworkConfiguration::builder()
                    .awsvpc_configuration(
                        AwsVpcConfiguration::builder()
                            .subnets(&subnet)
                            .security_groups(&group)
                            .build()
                            .unwrap(),
                    )
                    .build(),
            )
            .deployment_configuration(
                DeploymentConfiguration::builder()
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

        let json = serde_json::json!({
            "environment": "staging",
            "region": REGION,
            "cluster": cluster,
            "base_url": base_url,
            "strategy": "rolling",
            "ledger_prefix": format!("/eventflow/{name}"),
            "apps": {
                "backend": {
                    "services": ["backend"], "task_family": staging.family,
                    "container": "backend", "ecr_repository": repository
                }
            },
            "rollout_timeout_secs": 30,
            "poll_secs": 1,
            "verify_timeout_secs": 3,
            // The drill verifies through /health against the backend on loopback; the end-to-end
            // suite is a stage of its own (`cargo xtask test e2e`), not run again inside this one.
            "e2e": false
        });
        let config_path = std::env::temp_dir().join(format!("eventflow-deploy-{name}.json"));
        std::fs::write(&config_path, json.to_string()).unwrap();
        let config = Config::parse(&json.to_string()).unwrap();
        crate::state_table::create(&config).await;
        Staging {
            config,
            config_path,
            ..staging
        }
    }

    pub fn image_uri(&self, tag: &str) -> String {
        format!(
            "{}.dkr.ecr.{REGION}.amazonaws.com/{}:{tag}",
            self.registry, self.repository
        )
    }

    /// Pushes one image (its manifest made from `seed`) under every tag in `tags`.
    pub async fn push_image(&self, seed: &str, tags: &[&str]) {
        let manifest = manifest(seed);
        for tag in tags {
            self.ecr
                .put_image()
                .repository_name(&self.repository)
                .image_manifest(&manifest)
                .image_tag(*tag)
                .send()
                .await
                .unwrap();
        }
    }

    /// The task definition the service is set to.
    pub async fn live(&self) -> String {
        let out = self
            .ecs
            .describe_services()
            .cluster(&self.config.cluster)
            .services("backend")
            .send()
            .await
            .unwrap();
        out.services()[0].task_definition().unwrap().to_owned()
    }

    pub fn revision(&self, n: i32) -> String {
        format!("{}:{n}", self.family)
    }
}

/// The registry the stage started (`images push`'s destination); without it, the one-line fix.
pub fn registry() -> String {
    std::env::var("EVENTFLOW_TEST_REGISTRY").unwrap_or_else(|_| {
        panic!(
            "EVENTFLOW_TEST_REGISTRY is not set: the drills pull their images from the registry that `cargo xtask test deploy` starts; run `cargo xtask test deploy`"
        )
    })
}

/// A variable the stage hands the drills; without it, the one-line fix.
pub fn stage_var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: the drills run with what `cargo xtask test deploy` starts; run `cargo xtask test deploy`")
    })
}

/// A random hex string from the kernel, for a secret the backend needs.
pub fn random_hex() -> String {
    let mut bytes = [0u8; 32];
    std::io::Read::read_exact(
        &mut std::fs::File::open("/dev/urandom").unwrap(),
        &mut bytes,
    )
    .unwrap();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The backend's secrets as SSM SecureStrings under `/eventflow/<name>/`, with the values the
/// stage's backend uses (its JWT and admin secrets) and `database_url`; returns (name, ARN)
/// pairs for the task definition's `secrets`.
async fn backend_secrets(name: &str, account: &str, database_url: &str) -> Vec<(String, String)> {
    let ssm = aws_sdk_ssm::Client::new(&sdk_config().await);
    let mut values = vec![
        ("DATABASE_URL", database_url.to_owned()),
        ("JWT_SECRET", stage_var("JWT_SECRET")),
        ("API_KEYS_SECRET", random_hex()),
    ];
    if let Ok(token) = std::env::var("ADMIN_API_TOKEN") {
        values.push(("ADMIN_API_TOKEN", token));
    }
    let mut secrets = Vec::new();
    for (key, value) in values {
        let parameter = format!("/eventflow/{name}/{}", key.to_lowercase());
        ssm.put_parameter()
            .name(&parameter)
            .value(value)
            .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
            .send()
            .await
            .unwrap();
        secrets.push((
            key.to_owned(),
            format!("arn:aws:ssm:{REGION}:{account}:parameter{parameter}"),
        ));
    }
    secrets
}

/// The backend's container as infrastructure/modules/ecs defines it: port 8080, the liveness
/// health check through bash's /dev/tcp, RUST_LOG, and its secrets. The check runs every 5 s
/// (ECS's minimum) rather than Terraform's 10, to keep the drills short.
fn backend_container(image: &str, secrets: &[(String, String)]) -> ContainerDefinition {
    use aws_sdk_ecs::types::{HealthCheck, KeyValuePair, PortMapping, Secret};
    let mut container = ContainerDefinition::builder()
        .name("backend")
        .image(image)
        .essential(true)
        .port_mappings(PortMapping::builder().container_port(8080).build())
        .environment(KeyValuePair::builder().name("RUST_LOG").value("info").build())
        .health_check(
            HealthCheck::builder()
                .command("CMD")
                .command("bash")
                .command("-c")
                .command("exec 3<>/dev/tcp/127.0.0.1/8080 && printf 'GET /health/live HTTP/1.0\\r\\n\\r\\n' >&3 && read -r _ status _ <&3 && [ \"$status\" = 200 ]")
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

/// The listener's public URL: the emulator serves each listener on loopback and names the port
/// in the listener's `eventflow:sandbox-url` tag.
pub async fn listener_url(elb: &aws_sdk_elasticloadbalancingv2::Client, listener: &str) -> String {
    let tags = elb
        .describe_tags()
        .resource_arns(listener)
        .send()
        .await
        .unwrap();
    tags.tag_descriptions()[0]
        .tags()
        .iter()
        .find(|t| t.key() == Some("eventflow:sandbox-url"))
        .and_then(|t| t.value())
        .expect("the emulator serves every listener on loopback (xtask/sandbox/moto_ecs)")
        .to_owned()
}

/// Waits until the service's primary deployment has completed (its tasks run and are healthy).
pub async fn settled(ecs: &aws_sdk_ecs::Client, cluster: &str, service: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        let out = ecs
            .describe_services()
            .cluster(cluster)
            .services(service)
            .send()
            .await
            .unwrap();
        let svc = &out.services()[0];
        let primary = svc
            .deployments()
            .iter()
            .find(|d| d.status() == Some("PRIMARY"));
        if primary.is_some_and(|d| {
            d.rollout_state().map(|r| r.as_str()) == Some("COMPLETED")
                && d.running_count() == d.desired_count()
        }) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{service} did not settle: {:?}",
            svc.deployments()
        );
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
}

impl Staging {
    /// Staging as Terraform builds it, running real containers: the backend's task definition
    /// (port, health check, secrets), a Fargate service with the circuit breaker on, registered
    /// in a target group behind a load balancer whose listener the emulator serves on loopback.
    /// The service starts on `local_image` pushed as `initial_tag`, and settles before this returns.
    pub async fn serving(test: &str, local_image: &str, initial_tag: &str) -> Staging {
        Staging::serving_on(test, local_image, initial_tag, &stage_var("DATABASE_URL")).await
    }

    /// [`Staging::serving`] on a database of its own (`database_url`), for a drill that moves
    /// the schema where the other drills' containers must not follow.
    pub async fn serving_on(
        test: &str,
        local_image: &str,
        initial_tag: &str,
        database_url: &str,
    ) -> Staging {
        use aws_sdk_ecs::types::LoadBalancer;
        use aws_sdk_elasticloadbalancingv2::types::{
            Action, ActionTypeEnum, ProtocolEnum, TargetTypeEnum,
        };
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let name = format!("{test}-{}-{n}", std::process::id());
        let sdk = sdk_config().await;
        let ecs = aws_sdk_ecs::Client::new(&sdk);
        let ecr = aws_sdk_ecr::Client::new(&sdk);
        let elb = aws_sdk_elasticloadbalancingv2::Client::new(&sdk);
        let (vpc, subnet_a, subnet_b, group) = network(&name).await;

        let repository = format!("eventflow-backend-{name}");
        let created = ecr
            .create_repository()
            .repository_name(&repository)
            .send()
            .await
            .unwrap();
        let registry = created
            .repository()
            .unwrap()
            .registry_id()
            .unwrap()
            .to_owned();

        let lb_name = format!("efs-{n}-{}", std::process::id() % 100_000);
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
        let tg = elb
            .create_target_group()
            .name(format!("{lb_name}-backend"))
            .protocol(ProtocolEnum::Http)
            .port(8080)
            .vpc_id(&vpc)
            .target_type(TargetTypeEnum::Ip)
            .health_check_path("/health")
            .send()
            .await
            .unwrap();
        let tg_arn = tg.target_groups()[0].target_group_arn().unwrap().to_owned();
        let listener = elb
            .create_listener()
            .load_balancer_arn(&lb_arn)
            .protocol(ProtocolEnum::Http)
            .port(80)
            .default_actions(
                Action::builder()
                    .r#type(ActionTypeEnum::Forward)
                    .target_group_arn(&tg_arn)
                    .build(),
            )
            .send()
            .await
            .unwrap();
        let listener_arn = listener.listeners()[0].listener_arn().unwrap().to_owned();
        let public_url = listener_url(&elb, &listener_arn).await;

        let mut staging = Staging {
            config: placeholder_config(),
            config_path: PathBuf::new(),
            ecs,
            ecr,
            repository: repository.clone(),
            registry: registry.clone(),
            family: format!("eventflow-backend-{name}"),
            public_url: public_url.clone(),
        };
        staging.publish(local_image, &[initial_tag]).await;
        let secrets = backend_secrets(&name, &registry, database_url).await;

        let cluster = format!("eventflow-staging-{name}");
        staging
            .ecs
            .create_cluster()
            .cluster_name(&cluster)
            .send()
            .await
            .unwrap();
        let td = staging
            .ecs
            .register_task_definition()
            .family(&staging.family)
            .network_mode(NetworkMode::Awsvpc)
            .requires_compatibilities(Compatibility::Fargate)
            .cpu("256")
            .memory("512")
            .container_definitions(backend_container(&staging.image_uri(initial_tag), &secrets))
            .send()
            .await
            .unwrap();
        let td_arn = td
            .task_definition()
            .unwrap()
            .task_definition_arn()
            .unwrap()
            .to_owned();
        staging
            .ecs
            .create_service()
            .cluster(&cluster)
            .service_name("backend")
            .task_definition(&td_arn)
            .desired_count(2)
            .launch_type(LaunchType::Fargate)
            .load_balancers(
                LoadBalancer::builder()
                    .target_group_arn(&tg_arn)
                    .container_name("backend")
                    .container_port(8080)
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
        settled(&staging.ecs, &cluster, "backend").await;

        let json = serde_json::json!({
            "environment": "staging",
            "region": REGION,
            "cluster": cluster,
            "base_url": public_url,
            "strategy": "rolling",
            "ledger_prefix": format!("/eventflow/{name}"),
            "apps": {
                "backend": {
                    "services": ["backend"], "task_family": staging.family,
                    "container": "backend", "ecr_repository": repository
                }
            },
            // Real containers: a rollout takes a health check or two, a crash-looping one the
            // circuit breaker's three failed tasks with ECS's back-off between launches.
            "rollout_timeout_secs": 180,
            "poll_secs": 1,
            "verify_timeout_secs": 30,
            "e2e": false
        });
        let config_path = std::env::temp_dir().join(format!("eventflow-deploy-{name}.json"));
        std::fs::write(&config_path, json.to_string()).unwrap();
        staging.config = Config::parse(&json.to_string()).unwrap();
        crate::state_table::create(&staging.config).await;
        staging.config_path = config_path;
        staging
    }

    /// `local_image` under each of `tags`, as `images push` and ECR record it: pushed to the
    /// stage's registry, and its manifest (so its digest) put in the emulator's ECR.
    pub async fn publish(&self, local_image: &str, tags: &[&str]) {
        let registry = registry();
        for tag in tags {
            let remote = format!("{registry}/{}:{tag}", self.repository);
            crate::images::docker(&["tag", local_image, &remote]);
            crate::images::docker(&["push", "--quiet", &remote]);
            crate::images::docker(&["rmi", &remote]);
            let media = "application/vnd.docker.distribution.manifest.v2+json";
            let manifest = reqwest::Client::new()
                .get(format!(
                    "http://{registry}/v2/{}/manifests/{tag}",
                    self.repository
                ))
                .header("Accept", media)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            self.ecr
                .put_image()
                .repository_name(&self.repository)
                .image_manifest(&manifest)
                .image_manifest_media_type(media)
                .image_tag(*tag)
                .send()
                .await
                .unwrap();
        }
    }

    /// The registered targets of the service's target group and their health, as
    /// `(port, state)`.
    pub async fn targets(&self) -> Vec<(i32, String)> {
        let sdk = sdk_config().await;
        let elb = aws_sdk_elasticloadbalancingv2::Client::new(&sdk);
        let out = self
            .ecs
            .describe_services()
            .cluster(&self.config.cluster)
            .services("backend")
            .send()
            .await
            .unwrap();
        let tg = out.services()[0].load_balancers()[0]
            .target_group_arn()
            .unwrap()
            .to_owned();
        let health = elb
            .describe_target_health()
            .target_group_arn(tg)
            .send()
            .await
            .unwrap();
        let mut targets: Vec<(i32, String)> = health
            .target_health_descriptions()
            .iter()
            .map(|d| {
                (
                    d.target().and_then(|t| t.port()).unwrap_or_default(),
                    d.target_health()
                        .and_then(|h| h.state())
                        .map(|s| s.as_str().to_owned())
                        .unwrap_or_default(),
                )
            })
            .collect();
        targets.sort();
        targets
    }
}

fn placeholder_config() -> Config {
    Config::parse(
        r#"{"environment":"staging","cluster":"c","base_url":"http://127.0.0.1","ledger_prefix":"/p",
            "apps":{"backend":{"services":["backend"],"task_family":"f","container":"backend","ecr_repository":"r"}}}"#,
    )
    .unwrap()
}

/// A VPC with two subnets in two zones (a load balancer needs two) and a security group.
pub async fn network(name: &str) -> (String, String, String, String) {
    let vpc = ec2("CreateVpc", &[("CidrBlock", "10.1.0.0/16")]).await;
    let vpc = element(&vpc, "vpcId").to_owned();
    let mut subnets = Vec::new();
    for (cidr, zone) in [
        ("10.1.1.0/24", "eu-central-1a"),
        ("10.1.2.0/24", "eu-central-1b"),
    ] {
        let subnet = ec2(
            "CreateSubnet",
            &[
                ("VpcId", &vpc),
                ("CidrBlock", cidr),
                ("AvailabilityZone", zone),
            ],
        )
        .await;
        subnets.push(element(&subnet, "subnetId").to_owned());
    }
    let group = ec2(
        "CreateSecurityGroup",
        &[
            ("GroupName", name),
            ("GroupDescription", "eventflow production"),
            ("VpcId", &vpc),
        ],
    )
    .await;
    let group = element(&group, "groupId").to_owned();
    (vpc, subnets[0].clone(), subnets[1].clone(), group)
}

/// Production in the emulator, as Terraform builds it: `backend-blue` (running the repository's
/// `initial_tag`, 2 tasks) and `backend-green` (0 tasks), a load balancer with a target group
/// per colour, a production listener (443) whose backend rule forwards blue 100 / green 0, and
/// a test listener (8443) whose rule forwards to green. It promotes from `staging`, sharing its
/// image repository as the real environments do.
pub struct Production {
    pub config: Config,
    pub config_path: PathBuf,
    pub ecs: aws_sdk_ecs::Client,
    pub elb: aws_sdk_elasticloadbalancingv2::Client,
    pub ecr: aws_sdk_ecr::Client,
    pub repository: String,
    pub listeners: [String; 2],
}

impl Production {
    pub async fn new(test: &str, staging: &Staging, initial_tag: &str) -> Production {
        use aws_sdk_elasticloadbalancingv2::types::{
            Action, ActionTypeEnum, FixedResponseActionConfig, ForwardActionConfig,
            PathPatternConditionConfig, ProtocolEnum, RuleCondition, TargetGroupTuple,
            TargetTypeEnum,
        };
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let name = format!("{test}-{}-{n}", std::process::id());
        let sdk = sdk_config().await;
        let ecs = aws_sdk_ecs::Client::new(&sdk);
        let elb = aws_sdk_elasticloadbalancingv2::Client::new(&sdk);
        let (vpc, subnet_a, subnet_b, group) = network(&name).await;

        let cluster = format!("eventflow-production-{name}");
        ecs.create_cluster()
            .cluster_name(&cluster)
            .send()
            .await
            .unwrap();
        let family = format!("eventflow-backend-prod-{name}");
        let td = ecs
            .register_task_definition()
            .family(&family)
            .network_mode(NetworkMode::Awsvpc)
            .requires_compatibilities(Compatibility::Fargate)
            .cpu("256")
            .memory("512")
            .container_definitions(backend_container(
                &staging.image_uri(initial_tag),
                &backend_secrets(&name, &staging.registry, &stage_var("DATABASE_URL")).await,
            ))
            .send()
            .await
            .unwrap();
        let td_arn = td
            .task_definition()
            .unwrap()
            .task_definition_arn()
            .unwrap()
            .to_owned();
        // Load-balancer names are at most 32 characters.
        let lb_name = format!("ef-{n}-{}", std::process::id() % 100_000);
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
        let mut tgs = Vec::new();
        for colour in ["blue", "green"] {
            let tg_name = format!("{lb_name}-{colour}");
            let tg = elb
                .create_target_group()
                .name(&tg_name)
                .protocol(ProtocolEnum::Http)
                .port(8080)
                .vpc_id(&vpc)
                .target_type(TargetTypeEnum::Ip)
                .health_check_path("/health")
                .send()
                .await
                .unwrap();
            tgs.push((
                tg_name,
                tg.target_groups()[0].target_group_arn().unwrap().to_owned(),
            ));
        }
        for (service, count) in [("backend-blue", 2), ("backend-green", 0)] {
            ecs.create_service()
                .cluster(&cluster)
                .service_name(service)
                .task_definition(&td_arn)
                .desired_count(count)
                .launch_type(LaunchType::Fargate)
                .load_balancers(
                    aws_sdk_ecs::types::LoadBalancer::builder()
                        .target_group_arn(&tgs[usize::from(service == "backend-green")].1)
                        .container_name("backend")
                        .container_port(8080)
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
                .send()
                .await
                .unwrap();
        }

        let forward = |blue: i32, green: i32| {
            Action::builder()
                .r#type(ActionTypeEnum::Forward)
                .forward_config(
                    ForwardActionConfig::builder()
                        .target_groups(
                            TargetGroupTuple::builder()
                                .target_group_arn(&tgs[0].1)
                                .weight(blue)
                                .build(),
                        )
                        .target_groups(
                            TargetGroupTuple::builder()
                                .target_group_arn(&tgs[1].1)
                                .weight(green)
                                .build(),
                        )
                        .build(),
                )
                .build()
        };
        let mut listeners = Vec::new();
        for (port, blue, green) in [(443, 100, 0), (8443, 0, 100)] {
            // The default action is the dashboard's in Terraform; the drill has the backend only.
            let listener = elb
                .create_listener()
                .load_balancer_arn(&lb_arn)
                .protocol(ProtocolEnum::Http)
                .port(port)
                .default_actions(
                    Action::builder()
                        .r#type(ActionTypeEnum::FixedResponse)
                        .fixed_response_config(
                            FixedResponseActionConfig::builder()
                                .status_code("404")
                                .build(),
                        )
                        .build(),
                )
                .send()
                .await
                .unwrap();
            let listener_arn = listener.listeners()[0].listener_arn().unwrap().to_owned();
            elb.create_rule()
                .listener_arn(&listener_arn)
                .priority(10)
                .conditions(
                    RuleCondition::builder()
                        .field("path-pattern")
                        .path_pattern_config(
                            PathPatternConditionConfig::builder()
                                .values("/v1/*")
                                .values("/health")
                                .build(),
                        )
                        .build(),
                )
                .actions(forward(blue, green))
                .send()
                .await
                .unwrap();
            listeners.push(listener_arn);
        }
        let base_url = listener_url(&elb, &listeners[0]).await;
        let test_url = listener_url(&elb, &listeners[1]).await;

        let json = serde_json::json!({
            "environment": "production",
            "region": REGION,
            "cluster": cluster,
            "strategy": "blue_green",
            "base_url": base_url,
            "test_url": test_url,
            "ledger_prefix": format!("/eventflow/{name}"),
            "load_balancer": lb_name,
            "listeners": { "production": 443, "test": 8443 },
            "apps": {
                "backend": {
                    "services": ["backend-blue", "backend-green"],
                    "task_family": family,
                    "container": "backend",
                    "ecr_repository": staging.repository,
                    "target_groups": { "blue": tgs[0].0, "green": tgs[1].0 }
                }
            },
            "rollout_timeout_secs": 180,
            "poll_secs": 1,
            "verify_timeout_secs": 30,
            "e2e": false,
            "promote_from": {
                "environment": "staging",
                "base_url": staging.config.base_url,
                "ledger_prefix": staging.config.ledger_prefix
            }
        });
        let config_path = std::env::temp_dir().join(format!("eventflow-deploy-{name}.json"));
        std::fs::write(&config_path, json.to_string()).unwrap();
        let config = Config::parse(&json.to_string()).unwrap();
        crate::state_table::create(&config).await;
        Production {
            config,
            config_path,
            ecs,
            elb,
            ecr: staging.ecr.clone(),
            repository: staging.repository.clone(),
            listeners: [listeners[0].clone(), listeners[1].clone()],
        }
    }

    /// The backend rule's (blue, green) weights on the production (0) or test (1) listener,
    /// read from the emulator.
    pub async fn weights(&self, listener: usize) -> (i32, i32) {
        let rules = self
            .elb
            .describe_rules()
            .listener_arn(&self.listeners[listener])
            .send()
            .await
            .unwrap();
        let rule = rules
            .rules()
            .iter()
            .find(|r| r.is_default() != Some(true))
            .expect("the backend rule");
        let tuples = rule.actions()[0].forward_config().unwrap().target_groups();
        let of = |colour: &str| {
            tuples
                .iter()
                .find(|t| {
                    t.target_group_arn()
                        .unwrap()
                        .contains(&format!("-{colour}/"))
                })
                .and_then(|t| t.weight())
                .unwrap_or(0)
        };
        (of("blue"), of("green"))
    }

    /// The ports of the tasks registered in a colour's target group.
    pub async fn ports(&self, colour: &str) -> Vec<i32> {
        let groups = self.config.apps["backend"].target_groups.clone().unwrap();
        let name = if colour == "blue" {
            groups.blue
        } else {
            groups.green
        };
        let tg = self
            .elb
            .describe_target_groups()
            .names(name)
            .send()
            .await
            .unwrap();
        let arn = tg.target_groups()[0].target_group_arn().unwrap().to_owned();
        let health = self
            .elb
            .describe_target_health()
            .target_group_arn(arn)
            .send()
            .await
            .unwrap();
        health
            .target_health_descriptions()
            .iter()
            .filter_map(|d| d.target().and_then(|t| t.port()))
            .collect()
    }

    /// Sends `n` requests to `/health` through the production listener and returns the port of
    /// the task that answered each (the sandbox's load balancer names it in `X-Sandbox-Target`).
    pub async fn landed(&self, n: usize) -> Vec<i32> {
        let client = reqwest::Client::builder()
            .user_agent("eventflow-deploy-drill")
            .build()
            .unwrap();
        let mut ports = Vec::new();
        for _ in 0..n {
            let response = client
                .get(format!("{}/health", self.config.base_url))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status().as_u16(), 200);
            let target = response.headers()["x-sandbox-target"].to_str().unwrap();
            ports.push(target.rsplit(':').next().unwrap().parse().unwrap());
        }
        ports
    }

    pub async fn desired(&self, service: &str) -> i32 {
        let out = self
            .ecs
            .describe_services()
            .cluster(&self.config.cluster)
            .services(service)
            .send()
            .await
            .unwrap();
        out.services()[0].desired_count()
    }

    /// Every tag on the image `tag` names.
    pub async fn tags(&self, tag: &str) -> Vec<String> {
        let out = self
            .ecr
            .describe_images()
            .repository_name(&self.repository)
            .image_ids(
                aws_sdk_ecr::types::ImageIdentifier::builder()
                    .image_tag(tag)
                    .build(),
            )
            .send()
            .await
            .unwrap();
        let mut tags = out.image_details()[0].image_tags().to_vec();
        tags.sort();
        tags
    }
}

/// `environment`'s deploy policy as the stage gave it to the emulator's role: rendered from the
/// Terraform, resources widened to `*`.
pub fn deploy_policy(environment: &str) -> serde_json::Value {
    let path = std::env::var("EVENTFLOW_DEPLOY_POLICIES").unwrap_or_else(|_| {
        panic!("EVENTFLOW_DEPLOY_POLICIES is not set: run `cargo xtask test deploy`")
    });
    let policies: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    policies[environment].clone()
}

/// A new role in the emulator holding `policy`, made by the admin the way the stage makes the
/// deploy roles (`xtask/src/services/moto_principals.py`), and its assumed-role credentials.
pub fn make_role(name: &str, policy: &serde_json::Value) -> Credentials {
    use std::io::Write;
    let python = std::env::var("EVENTFLOW_MOTO_PYTHON").unwrap_or_else(|_| {
        panic!("EVENTFLOW_MOTO_PYTHON is not set: run `cargo xtask test deploy`")
    });
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../src/services/moto_principals.py");
    let admin = admin_credentials();
    let request = serde_json::json!({
        "endpoint": endpoint(), "region": REGION,
        "admin": {
            "AWS_ACCESS_KEY_ID": admin.access_key_id(),
            "AWS_SECRET_ACCESS_KEY": admin.secret_access_key(),
        },
        "roles": { name: policy },
        "enforce": false,
    });
    let mut child = std::process::Command::new(python)
        .arg(script)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("running moto_principals.py");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(request.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "moto_principals.py failed");
    let answer: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    credentials_of(&answer["roles"][name])
}

/// `policy` without `action` in any statement.
pub fn without_action(mut policy: serde_json::Value, action: &str) -> serde_json::Value {
    for statement in policy["Statement"].as_array_mut().unwrap() {
        let actions = match &statement["Action"] {
            serde_json::Value::String(a) => vec![a.clone()],
            serde_json::Value::Array(items) => items
                .iter()
                .filter_map(|i| i.as_str().map(str::to_owned))
                .collect(),
            _ => Vec::new(),
        };
        statement["Action"] = actions.into_iter().filter(|a| a != action).collect();
    }
    policy
}
