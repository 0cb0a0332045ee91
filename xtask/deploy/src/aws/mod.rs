//! The AWS calls the engine makes, behind [`Platform`]: the SDK implementation in [`sdk`], a
//! scripted fake for the tests, and in [`calls`] the IAM actions every call needs.

pub mod calls;
#[cfg(test)]
pub mod fake;
pub mod sdk;

use std::fmt;

use aws_sdk_ecs::operation::register_task_definition::RegisterTaskDefinitionInput;
use aws_sdk_ecs::types::{Tag, TaskDefinition};

/// What a service is doing, as DescribeServices tells it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceState {
    /// The task definition the service is set to.
    pub task_definition: String,
    pub desired: i32,
    pub running: i32,
    pub deployments: Vec<Deployment>,
    /// The service's event messages, newest first (ECS keeps the last 100).
    pub events: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Deployment {
    /// ECS's deployment id (`ecs-svc/…`).
    pub id: Option<String>,
    /// `PRIMARY` (the one ECS is moving to), `ACTIVE` (being replaced) or `INACTIVE`.
    pub status: String,
    pub task_definition: String,
    /// `IN_PROGRESS`, `COMPLETED` or `FAILED`; absent for services without rollout tracking.
    pub rollout_state: Option<String>,
    pub rollout_reason: Option<String>,
    pub desired: i32,
    pub running: i32,
    pub failed_tasks: i32,
    /// When ECS created the deployment, epoch seconds.
    pub created_at: Option<i64>,
}

/// The deployment an UpdateService started, from its own response: DescribeServices is
/// eventually consistent, so a read right after the update may not list it yet, and only this
/// tells such a stale read apart from ECS's circuit breaker having replaced it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Started {
    pub id: String,
    /// Epoch seconds.
    pub created_at: Option<i64>,
}

/// A task of a service that stopped, as DescribeTasks tells it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoppedTask {
    /// The task's id (the last part of its ARN).
    pub id: String,
    /// ECS's `stoppedReason` (`Essential container in task exited`, `Task failed ELB health checks
    /// in (target-group …)`, `CannotPullContainerError: …`).
    pub stopped_reason: String,
    /// The first container's own `reason` or exit code, when ECS gives one.
    pub container: Option<String>,
    /// Epoch seconds.
    pub stopped_at: Option<i64>,
}

/// One registered target of a target group, as DescribeTargetHealth tells it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TargetHealth {
    /// `10.0.1.23:8080` (the target's id and port).
    pub target: String,
    /// `initial`, `healthy`, `unhealthy`, `draining`, `unused` or `unavailable`.
    pub state: String,
    /// ELB's reason code and description when it is not healthy
    /// (`Target.FailedHealthChecks: Health checks failed`).
    pub reason: Option<String>,
}

/// An image in ECR.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Image {
    /// The AWS account of the registry: the image is `<registry>.dkr.ecr.<region>.amazonaws.com/<repository>:<tag>`.
    pub registry_id: String,
    pub digest: String,
    /// Every tag on the same digest (a promoted image has its git sha tag and `v<N>`).
    pub tags: Vec<String>,
}

/// Where a weighted forward lives: a listener's default action, or one of its rules (the
/// backend's paths are a rule on each listener).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ForwardAt {
    Listener(String),
    Rule(String),
}

impl fmt::Display for ForwardAt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ForwardAt::Listener(arn) => write!(f, "listener {}", arn_tail(arn)),
            ForwardAt::Rule(arn) => write!(f, "rule {}", arn_tail(arn)),
        }
    }
}

/// One forward action: target-group ARNs and their weights.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Forward {
    pub at: ForwardAt,
    pub weights: Vec<(String, i32)>,
}

/// A listener of the load balancer, with every forward of its default action and rules.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listener {
    pub arn: String,
    pub port: u16,
    pub forwards: Vec<Forward>,
}

/// `app/eventflow-production/50dc6c495c0c9188` of a load-balancer ARN,
/// `targetgroup/eventflow-prod-backend-blue/73e2d6bc24d8a067` of a target-group ARN: the part
/// after the resource type, which is also CloudWatch's dimension value.
pub fn arn_tail(arn: &str) -> &str {
    match arn.split_once(":loadbalancer/") {
        Some((_, rest)) => rest,
        None => arn.rsplit_once(':').map_or(arn, |(_, rest)| rest),
    }
}

/// The DNS suffix of `region`'s partition: ECR's registry hosts are
/// `<account>.dkr.ecr.<region>.<suffix>`, and only the commercial partition's suffix is
/// `amazonaws.com`.
pub fn dns_suffix(region: &str) -> &'static str {
    // The prefixes of the partitions' regions, as the SDK's partition table lists them.
    const PARTITIONS: [(&str, &str); 5] = [
        ("cn-", "amazonaws.com.cn"),
        ("us-isob-", "sc2s.sgov.gov"),
        ("us-isof-", "csp.hci.ic.gov"),
        ("us-iso-", "c2s.ic.gov"),
        ("eu-isoe-", "cloud.adc-e.uk"),
    ];
    PARTITIONS
        .iter()
        .find(|(prefix, _)| region.starts_with(prefix))
        .map_or("amazonaws.com", |(_, suffix)| suffix)
}

/// `123456789012.dkr.ecr.eu-central-1.amazonaws.com/eventflow-backend`
pub fn repository_uri(registry_id: &str, region: &str, repository: &str) -> String {
    format!(
        "{registry_id}.dkr.ecr.{region}.{}/{repository}",
        dns_suffix(region)
    )
}

#[cfg(test)]
mod partition_tests {
    use super::*;

    #[test]
    fn image_uris_use_the_partitions_dns_suffix() {
        assert_eq!(
            repository_uri("123456789012", "eu-central-1", "eventflow-backend"),
            "123456789012.dkr.ecr.eu-central-1.amazonaws.com/eventflow-backend"
        );
        assert_eq!(
            repository_uri("123456789012", "us-gov-west-1", "r"),
            "123456789012.dkr.ecr.us-gov-west-1.amazonaws.com/r"
        );
        assert_eq!(
            repository_uri("123456789012", "cn-north-1", "r"),
            "123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn/r"
        );
        assert_eq!(dns_suffix("us-iso-east-1"), "c2s.ic.gov");
        assert_eq!(dns_suffix("us-isob-east-1"), "sc2s.sgov.gov");
    }
}

/// Whether a create-if-absent write created the value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Created {
    Yes,
    AlreadyExists,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// AWS kept throttling after the SDK's retries with backoff.
    Throttled,
    /// Missing, expired or invalid credentials.
    Credentials,
    /// The cluster, service, task definition, repository or image doesn't exist.
    NotFound,
    Other,
}

/// A failed AWS call: which one, what kind of failure, and AWS's own words.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AwsError {
    pub kind: ErrorKind,
    /// `ecs:UpdateService`
    pub call: String,
    pub message: String,
}

impl AwsError {
    pub fn new(kind: ErrorKind, call: impl Into<String>, message: impl Into<String>) -> AwsError {
        AwsError {
            kind,
            call: call.into(),
            message: message.into(),
        }
    }
}

/// One line that says what failed and what to do about it.
impl fmt::Display for AwsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let AwsError { call, message, .. } = self;
        match self.kind {
            ErrorKind::Throttled => write!(
                f,
                "{call}: AWS is throttling requests even after retries with backoff ({message}): wait a minute and run the command again, or raise AWS_MAX_ATTEMPTS"
            ),
            ErrorKind::Credentials => write!(
                f,
                "{call}: no valid AWS credentials ({message}): refresh them (`aws sso login`, or re-run the workflow's credentials step) and run the command again"
            ),
            ErrorKind::NotFound | ErrorKind::Other => write!(f, "{call}: {message}"),
        }
    }
}

impl std::error::Error for AwsError {}

pub type AwsResult<T> = Result<T, AwsError>;

/// One item of an environment's deploy-state table (DynamoDB): the deploy lease, or one
/// release of the ledger.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StateItem {
    /// The environment.
    pub pk: String,
    /// `lock`, or `release#<id>` (ids sort by start time).
    pub sk: String,
    /// The JSON document (the lease's holder, or the release).
    pub body: String,
    /// The lease's owner token; only its owner renews or releases it.
    pub owner: Option<String>,
    /// The lease's expiry, epoch milliseconds.
    pub expires_ms: Option<u64>,
    /// DynamoDB's TTL attribute (`ttl`, epoch seconds): expired leases and old releases are
    /// removed by DynamoDB itself even if no run ever cleans them up.
    pub ttl_secs: Option<u64>,
}

/// When a conditional write may happen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Condition {
    Always,
    /// `attribute_not_exists(pk) OR expires_at < :now`: no lease, or an expired one.
    AbsentOrExpired {
        now_ms: u64,
    },
    /// `owner = :owner`: only the lease's own holder.
    OwnedBy(String),
}

/// Whether a conditional write happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Written {
    Yes,
    /// ConditionalCheckFailedException: someone else holds it, or it is gone.
    ConditionFailed,
}

/// The ECS, ECR, DynamoDB and ELBv2 calls the deploy engine needs, and nothing more.
#[allow(async_fn_in_trait)] // used through generics only, never spawned
pub trait Platform {
    async fn describe_service(&self, cluster: &str, service: &str) -> AwsResult<ServiceState>;
    /// The task definition and its tags.
    async fn describe_task_definition(&self, arn: &str) -> AwsResult<(TaskDefinition, Vec<Tag>)>;
    /// The new revision's ARN.
    async fn register_task_definition(
        &self,
        input: RegisterTaskDefinitionInput,
    ) -> AwsResult<String>;
    async fn deregister_task_definition(&self, arn: &str) -> AwsResult<()>;
    /// One UpdateService: the task definition, with the desired count when `desired` is given
    /// (one call, so ECS never runs the new revision at the old count or the reverse). The
    /// deployment it started, when the response names one on `task_definition`.
    async fn update_service(
        &self,
        cluster: &str,
        service: &str,
        task_definition: &str,
        desired: Option<i32>,
    ) -> AwsResult<Option<Started>>;
    /// The image with `tag` in `repository`, or `None` when there is no such tag.
    async fn find_image(&self, repository: &str, tag: &str) -> AwsResult<Option<Image>>;
    /// The image with `digest` in `repository`, or `None`.
    async fn find_image_by_digest(
        &self,
        repository: &str,
        digest: &str,
    ) -> AwsResult<Option<Image>>;
    /// Puts `tag` on the image with `digest` (ecr:BatchGetImage for its manifest, then
    /// ecr:PutImage): no pull, no push of layers. `AlreadyExists` when the tag is already there.
    async fn tag_image(&self, repository: &str, digest: &str, tag: &str) -> AwsResult<Created>;
    /// Sets the service's desired task count.
    async fn scale_service(&self, cluster: &str, service: &str, desired: i32) -> AwsResult<()>;
    /// The load balancer's ARN.
    async fn load_balancer_arn(&self, name: &str) -> AwsResult<String>;
    /// Every listener of the load balancer with its forwards (default action and rules).
    async fn listeners(&self, load_balancer_arn: &str) -> AwsResult<Vec<Listener>>;
    /// Target-group name → ARN.
    async fn target_group_arns(&self, names: &[String]) -> AwsResult<Vec<(String, String)>>;
    /// Every target registered in the target group, with its health (DescribeTargetHealth).
    async fn target_health(&self, target_group_arn: &str) -> AwsResult<Vec<TargetHealth>>;
    /// The service's newest stopped tasks, newest first, at most `limit` (ListTasks with
    /// desiredStatus=STOPPED, then DescribeTasks; ECS keeps stopped tasks for about an hour).
    async fn stopped_tasks(
        &self,
        cluster: &str,
        service: &str,
        limit: usize,
    ) -> AwsResult<Vec<StoppedTask>>;
    /// Replaces the forward at `at` with `weights` (ModifyListener or ModifyRule).
    async fn set_forward(&self, at: &ForwardAt, weights: &[(String, i32)]) -> AwsResult<()>;
    /// PutItem, when `condition` holds (DynamoDB checks it atomically with the write).
    async fn put_item(
        &self,
        table: &str,
        item: &StateItem,
        condition: &Condition,
    ) -> AwsResult<Written>;
    /// GetItem, strongly consistent.
    async fn get_item(&self, table: &str, pk: &str, sk: &str) -> AwsResult<Option<StateItem>>;
    /// UpdateItem: moves the lease's expiry (and its TTL) to `expires_ms`, only while `owner`
    /// holds it.
    async fn renew_lease(
        &self,
        table: &str,
        pk: &str,
        sk: &str,
        owner: &str,
        expires_ms: u64,
    ) -> AwsResult<Written>;
    /// DeleteItem, when `condition` holds.
    async fn delete_item(
        &self,
        table: &str,
        pk: &str,
        sk: &str,
        condition: &Condition,
    ) -> AwsResult<Written>;
    /// Query: the items of `pk` whose sort key begins with `sk_prefix`, greatest sort key first,
    /// at most `limit`.
    async fn query_items(
        &self,
        table: &str,
        pk: &str,
        sk_prefix: &str,
        limit: usize,
    ) -> AwsResult<Vec<StateItem>>;
}
