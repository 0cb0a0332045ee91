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
use xtask_deploy::aws::{AwsResult, Platform, ServiceState};
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
async fn ec2(action: &str, params: &[(&str, &str)]) -> String {
    use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
    let mut body = format!("Action={action}&Version=2016-11-15");
    for (k, v) in params {
        body.push_str(&format!("&{k}={}", encode(v)));
    }
    let url = endpoint();
    let host = url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    let content_type = "application/x-www-form-urlencoded; charset=utf-8";
    let identity = admin_credentials().into();
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region(REGION)
        .name("ec2")
        .time(std::time::SystemTime::now())
        .settings(SigningSettings::default())
        .build()
        .unwrap()
        .into();
    let headers = [("host", host.as_str()), ("content-type", content_type)];
    let signable = SignableRequest::new(
        "POST",
        &url,
        headers.iter().copied(),
        SignableBody::Bytes(body.as_bytes()),
    )
    .unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    let mut request = reqwest::Client::new()
        .post(&url)
        .header("Content-Type", content_type);
    for (name, value) in instructions.headers() {
        request = request.header(name, value);
    }
    let response = request
        .body(body)
        .send()
        .await
        .expect("the emulator answers EC2 calls");
    let status = response.status();
    let text = response.text().await.unwrap();
    assert!(status.is_success(), "ec2:{action}: {status} {text}");
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

fn element<'a>(xml: &'a str, name: &str) -> &'a str {
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

fn placeholder_config() -> Config {
    Config::parse(
        r#"{"environment":"staging","cluster":"c","base_url":"http://127.0.0.1","ledger_prefix":"/p",
            "apps":{"backend":{"services":["backend"],"task_family":"f","container":"backend","ecr_repository":"r"}}}"#,
    )
    .unwrap()
}

/// The SDK platform with ECS's deployment scheduler played in the test: moto stores UpdateService
/// but never moves `deployments` on (its one PRIMARY entry keeps naming the first revision), so
/// this reports the revision the service is set to as a completed rollout with every desired
/// task running, which is what ECS reports once a healthy rolling deploy is done. All other
/// calls, and UpdateService itself, go to the emulator unchanged. The rollout's own failure modes
/// (FAILED, the circuit breaker, timeouts) are covered by the scripted tests.
pub struct Scheduled(pub Sdk);

impl Platform for Scheduled {
    async fn describe_service(&self, cluster: &str, service: &str) -> AwsResult<ServiceState> {
        let mut state = self.0.describe_service(cluster, service).await?;
        // moto reports MOTO_ECS_SERVICE_RUNNING tasks whatever the desired count; a settled
        // service runs what it is asked to.
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
    async fn describe_task_definition(
        &self,
        arn: &str,
    ) -> AwsResult<(
        aws_sdk_ecs::types::TaskDefinition,
        Vec<aws_sdk_ecs::types::Tag>,
    )> {
        self.0.describe_task_definition(arn).await
    }
    async fn register_task_definition(
        &self,
        input: aws_sdk_ecs::operation::register_task_definition::RegisterTaskDefinitionInput,
    ) -> AwsResult<String> {
        self.0.register_task_definition(input).await
    }
    async fn deregister_task_definition(&self, arn: &str) -> AwsResult<()> {
        self.0.deregister_task_definition(arn).await
    }
    async fn update_service(
        &self,
        cluster: &str,
        service: &str,
        td: &str,
        desired: Option<i32>,
    ) -> AwsResult<Option<xtask_deploy::aws::Started>> {
        self.0.update_service(cluster, service, td, desired).await
    }
    async fn find_image(
        &self,
        repository: &str,
        tag: &str,
    ) -> AwsResult<Option<xtask_deploy::aws::Image>> {
        self.0.find_image(repository, tag).await
    }
    async fn find_image_by_digest(
        &self,
        repository: &str,
        digest: &str,
    ) -> AwsResult<Option<xtask_deploy::aws::Image>> {
        self.0.find_image_by_digest(repository, digest).await
    }
    async fn tag_image(
        &self,
        repository: &str,
        digest: &str,
        tag: &str,
    ) -> AwsResult<xtask_deploy::aws::Created> {
        self.0.tag_image(repository, digest, tag).await
    }
    async fn scale_service(&self, cluster: &str, service: &str, desired: i32) -> AwsResult<()> {
        self.0.scale_service(cluster, service, desired).await
    }
    async fn load_balancer_arn(&self, name: &str) -> AwsResult<String> {
        self.0.load_balancer_arn(name).await
    }
    async fn listeners(&self, lb: &str) -> AwsResult<Vec<xtask_deploy::aws::Listener>> {
        self.0.listeners(lb).await
    }
    async fn target_group_arns(&self, names: &[String]) -> AwsResult<Vec<(String, String)>> {
        self.0.target_group_arns(names).await
    }
    async fn set_forward(
        &self,
        at: &xtask_deploy::aws::ForwardAt,
        weights: &[(String, i32)],
    ) -> AwsResult<()> {
        self.0.set_forward(at, weights).await
    }
    async fn put_item(
        &self,
        table: &str,
        item: &xtask_deploy::aws::StateItem,
        condition: &xtask_deploy::aws::Condition,
    ) -> AwsResult<xtask_deploy::aws::Written> {
        self.0.put_item(table, item, condition).await
    }
    async fn get_item(
        &self,
        table: &str,
        pk: &str,
        sk: &str,
    ) -> AwsResult<Option<xtask_deploy::aws::StateItem>> {
        self.0.get_item(table, pk, sk).await
    }
    async fn renew_lease(
        &self,
        table: &str,
        pk: &str,
        sk: &str,
        owner: &str,
        expires_ms: u64,
    ) -> AwsResult<xtask_deploy::aws::Written> {
        self.0.renew_lease(table, pk, sk, owner, expires_ms).await
    }
    async fn delete_item(
        &self,
        table: &str,
        pk: &str,
        sk: &str,
        condition: &xtask_deploy::aws::Condition,
    ) -> AwsResult<xtask_deploy::aws::Written> {
        self.0.delete_item(table, pk, sk, condition).await
    }
    async fn query_items(
        &self,
        table: &str,
        pk: &str,
        sk_prefix: &str,
        limit: usize,
    ) -> AwsResult<Vec<xtask_deploy::aws::StateItem>> {
        self.0.query_items(table, pk, sk_prefix, limit).await
    }
}

/// A VPC with two subnets in two zones (a load balancer needs two) and a security group.
async fn network(name: &str) -> (String, String, String, String) {
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
    pub async fn new(
        test: &str,
        staging: &Staging,
        initial_tag: &str,
        base_url: &str,
    ) -> Production {
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
            .container_definitions(
                ContainerDefinition::builder()
                    .name("backend")
                    .image(staging.image_uri(initial_tag))
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
        for (service, count) in [("backend-blue", 2), ("backend-green", 0)] {
            ecs.create_service()
                .cluster(&cluster)
                .service_name(service)
                .task_definition(&td_arn)
                .desired_count(count)
                .launch_type(LaunchType::Fargate)
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
                .send()
                .await
                .unwrap();
            tgs.push((
                tg_name,
                tg.target_groups()[0].target_group_arn().unwrap().to_owned(),
            ));
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

        let json = serde_json::json!({
            "environment": "production",
            "region": REGION,
            "cluster": cluster,
            "strategy": "blue_green",
            "base_url": base_url,
            "test_url": base_url,
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
            "rollout_timeout_secs": 30,
            "poll_secs": 1,
            "verify_timeout_secs": 3,
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
