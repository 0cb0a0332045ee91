//! [`Platform`] on the AWS SDK for Rust, configured from the standard environment (credentials,
//! profiles, `AWS_ENDPOINT_URL` for an emulator) in the environment's region. Throttling is
//! retried by the SDK's standard retry mode with exponential backoff (`AWS_MAX_ATTEMPTS`,
//! default 8); every call has an operation timeout (and each attempt its own), so a stalled
//! connection fails the call instead of holding the deploy and its lease; what still fails comes
//! back as one [`AwsError`] line (service, operation, HTTP status, AWS's error code and message)
//! naming the fix.

use std::collections::HashMap;
use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_ecs::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_ecs::operation::register_task_definition::RegisterTaskDefinitionInput;
use aws_sdk_ecs::types::{Tag, TaskDefinition, TaskDefinitionField};

use aws_sdk_elasticloadbalancingv2::types::{
    Action, ActionTypeEnum, ForwardActionConfig, TargetGroupTuple,
};

use super::{
    AwsError, AwsResult, Condition, Created, Deployment, ErrorKind, Forward, ForwardAt, Image,
    Listener, Platform, ServiceState, Started, StateItem, StoppedTask, TargetHealth, Written,
};

pub struct Sdk {
    ecs: aws_sdk_ecs::Client,
    ecr: aws_sdk_ecr::Client,
    dynamodb: aws_sdk_dynamodb::Client,
    elb: aws_sdk_elasticloadbalancingv2::Client,
    /// The same configuration, for the CloudWatch metric source.
    pub config: aws_config::SdkConfig,
}

const DEFAULT_MAX_ATTEMPTS: u32 = 8;
/// One attempt of a call: the API's answers take well under a second.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(20);
/// A call with all its retries and backoff.
const OPERATION_TIMEOUT: Duration = Duration::from_secs(120);

impl Sdk {
    /// Clients for `region`, from the standard AWS environment.
    pub async fn from_env(region: &str) -> Sdk {
        Sdk::load(region, None).await
    }

    /// Clients for `region` acting with `credentials` rather than the environment's (the
    /// emulator tests act as each environment's deploy role).
    pub async fn with_credentials(
        region: &str,
        credentials: aws_sdk_ecs::config::Credentials,
    ) -> Sdk {
        Sdk::load(region, Some(credentials)).await
    }

    async fn load(region: &str, credentials: Option<aws_sdk_ecs::config::Credentials>) -> Sdk {
        let attempts = std::env::var("AWS_MAX_ATTEMPTS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(DEFAULT_MAX_ATTEMPTS);
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .region(aws_config::Region::new(region.to_owned()))
            .retry_config(
                RetryConfig::standard()
                    .with_max_attempts(attempts)
                    .with_initial_backoff(Duration::from_millis(500)),
            )
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(5))
                    .operation_attempt_timeout(ATTEMPT_TIMEOUT)
                    .operation_timeout(OPERATION_TIMEOUT)
                    .build(),
            );
        if let Some(credentials) = credentials {
            loader = loader.credentials_provider(credentials);
        }
        let config = loader.load().await;
        Sdk {
            ecs: aws_sdk_ecs::Client::new(&config),
            ecr: aws_sdk_ecr::Client::new(&config),
            dynamodb: aws_sdk_dynamodb::Client::new(&config),
            elb: aws_sdk_elasticloadbalancingv2::Client::new(&config),
            config,
        }
    }

    /// For `push`, which talks to the registry directly rather than through [`Platform`].
    pub fn ecr(&self) -> &aws_sdk_ecr::Client {
        &self.ecr
    }
}

/// Sorts an SDK error into what the engine (and the person) can act on, in one line: `call` is
/// `service:Operation`; then the HTTP status, AWS's error code and message, never the SDK's debug
/// structures.
fn classify<E, R>(call: &str, err: &SdkError<E, R>) -> AwsError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: HttpStatus + std::fmt::Debug,
{
    let code = err.code().unwrap_or_default().to_owned();
    let text = one_line(err);
    let kind = match code.as_str() {
        "ThrottlingException"
        | "Throttling"
        | "ThrottledException"
        | "TooManyRequestsException"
        | "RequestLimitExceeded"
        | "RequestThrottled" => ErrorKind::Throttled,
        "ExpiredTokenException"
        | "ExpiredToken"
        | "UnrecognizedClientException"
        | "InvalidClientTokenId"
        | "InvalidSignatureException"
        | "MissingAuthenticationToken" => ErrorKind::Credentials,
        "ClusterNotFoundException"
        | "ServiceNotFoundException"
        | "RepositoryNotFoundException"
        | "LoadBalancerNotFound"
        | "TargetGroupNotFound"
        | "ListenerNotFound"
        | "ImageNotFoundException" => ErrorKind::NotFound,
        "" if text.to_lowercase().contains("credential") => ErrorKind::Credentials,
        _ => ErrorKind::Other,
    };
    let message = match code.as_str() {
        "ClusterNotFoundException" => format!(
            "{text}: check `cluster` in the environment's deploy.json, or apply its Terraform"
        ),
        "RepositoryNotFoundException" => format!(
            "{text}: check `repository` in the environment's deploy.json, or apply its Terraform"
        ),
        "LoadBalancerNotFound" | "TargetGroupNotFound" => format!(
            "{text}: check `load_balancer` and `apps.<app>.target_groups` in the environment's deploy.json, or apply its Terraform"
        ),
        "ResourceNotFoundException" if call.starts_with("dynamodb:") => format!(
            "{text}: the environment's deploy-state table is missing: apply its Terraform (infrastructure/modules/deploy-state)"
        ),
        "ImageTagAlreadyExistsException" => format!(
            "{text}: the repository's tags are immutable; only `latest` is excluded (apply infrastructure/modules/ecr)"
        ),
        "AccessDeniedException" | "AccessDenied" => format!(
            "{text}: the deploy role lacks this permission (see infrastructure/ for its policy)"
        ),
        _ => text,
    };
    AwsError::new(kind, call, message)
}

/// The HTTP status of a raw response (the SDK's, or none for errors raised before one arrived).
pub trait HttpStatus {
    fn http_status(&self) -> u16;
    /// The response body as text, when it is in memory (error bodies are).
    fn body_text(&self) -> Option<String>;
}

impl HttpStatus for aws_sdk_ecs::config::http::HttpResponse {
    fn http_status(&self) -> u16 {
        self.status().as_u16()
    }

    fn body_text(&self) -> Option<String> {
        self.body()
            .bytes()
            .map(|b| String::from_utf8_lossy(b).into_owned())
    }
}

/// The longest part of an unparsed error body an error line quotes.
const BODY_QUOTE: usize = 300;

/// `HTTP 400 ThrottlingException: Rate exceeded`, or what stopped the call before AWS answered.
fn one_line<E, R>(err: &SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: HttpStatus + std::fmt::Debug,
{
    let flat = |e: &dyn std::error::Error| {
        let mut text = e.to_string();
        let mut source = e.source();
        while let Some(s) = source {
            text.push_str(": ");
            text.push_str(&s.to_string());
            source = s.source();
        }
        text.replace('\n', " ")
    };
    match err {
        SdkError::TimeoutError(_) => format!(
            "no answer within the call's timeout ({}s per attempt, {}s in all): AWS or the network is stalled; run the command again",
            ATTEMPT_TIMEOUT.as_secs(),
            OPERATION_TIMEOUT.as_secs()
        ),
        SdkError::DispatchFailure(e) => match e.as_connector_error() {
            Some(c) => format!("could not reach AWS: {}", flat(c)),
            None => "could not reach AWS".to_owned(),
        },
        SdkError::ConstructionFailure(_) => {
            // Credentials and configuration problems surface here, before any request.
            format!(
                "the request could not be built: {}",
                std::error::Error::source(err).map_or_else(|| "unknown cause".to_owned(), flat)
            )
        }
        _ => {
            let status = err
                .raw_response()
                .map(|r| format!("HTTP {} ", r.http_status()))
                .unwrap_or_default();
            let code = err.code().unwrap_or("UnknownError");
            // An answer the SDK could not parse (a proxy's, or an XML error from a JSON
            // service) still says what went wrong in its body: quote it, on one line.
            let unparsed = || {
                err.raw_response()
                    .and_then(HttpStatus::body_text)
                    .map(|b| b.split_whitespace().collect::<Vec<_>>().join(" "))
                    .filter(|b| !b.is_empty())
                    .map(|b| b.chars().take(BODY_QUOTE).collect::<String>())
            };
            let message = err
                .message()
                .map(|m| m.replace('\n', " "))
                .or_else(unparsed)
                .unwrap_or_else(|| "(no message)".to_owned());
            format!("{status}{code}: {message}")
        }
    }
}

impl Platform for Sdk {
    async fn describe_service(&self, cluster: &str, service: &str) -> AwsResult<ServiceState> {
        const CALL: &str = "ecs:DescribeServices";
        let out = self
            .ecs
            .describe_services()
            .cluster(cluster)
            .services(service)
            .send()
            .await
            .map_err(|e| classify(CALL, &e))?;
        let found = out
            .services()
            .iter()
            .find(|s| s.status() != Some("INACTIVE"));
        let Some(svc) = found else {
            let reason = out
                .failures()
                .first()
                .and_then(|f| f.reason())
                .unwrap_or("INACTIVE");
            return Err(AwsError::new(
                ErrorKind::NotFound,
                CALL,
                format!(
                    "service {service} not found in cluster {cluster} ({reason}): check `services` in the environment's deploy.json, or apply its Terraform"
                ),
            ));
        };
        Ok(ServiceState {
            task_definition: svc.task_definition().unwrap_or_default().to_owned(),
            desired: svc.desired_count(),
            running: svc.running_count(),
            deployments: svc
                .deployments()
                .iter()
                .map(|d| Deployment {
                    id: d.id().map(str::to_owned),
                    status: d.status().unwrap_or_default().to_owned(),
                    task_definition: d.task_definition().unwrap_or_default().to_owned(),
                    rollout_state: d.rollout_state().map(|r| r.as_str().to_owned()),
                    rollout_reason: d.rollout_state_reason().map(str::to_owned),
                    desired: d.desired_count(),
                    running: d.running_count(),
                    failed_tasks: d.failed_tasks(),
                    created_at: d.created_at().map(|t| t.secs()),
                })
                .collect(),
            events: svc
                .events()
                .iter()
                .filter_map(|e| e.message().map(str::to_owned))
                .collect(),
        })
    }

    async fn describe_task_definition(&self, arn: &str) -> AwsResult<(TaskDefinition, Vec<Tag>)> {
        const CALL: &str = "ecs:DescribeTaskDefinition";
        let out = self
            .ecs
            .describe_task_definition()
            .task_definition(arn)
            .include(TaskDefinitionField::Tags)
            .send()
            .await
            .map_err(|e| classify(CALL, &e))?;
        let td = out.task_definition().cloned().ok_or_else(|| {
            AwsError::new(
                ErrorKind::NotFound,
                CALL,
                format!("no task definition {arn}"),
            )
        })?;
        Ok((td, out.tags().to_vec()))
    }

    async fn register_task_definition(
        &self,
        input: RegisterTaskDefinitionInput,
    ) -> AwsResult<String> {
        const CALL: &str = "ecs:RegisterTaskDefinition";
        let out = register_request(&self.ecs, input)
            .send()
            .await
            .map_err(|e| classify(CALL, &e))?;
        out.task_definition()
            .and_then(|t| t.task_definition_arn())
            .map(str::to_owned)
            .ok_or_else(|| AwsError::new(ErrorKind::Other, CALL, "no ARN in the answer"))
    }

    async fn deregister_task_definition(&self, arn: &str) -> AwsResult<()> {
        self.ecs
            .deregister_task_definition()
            .task_definition(arn)
            .send()
            .await
            .map_err(|e| classify("ecs:DeregisterTaskDefinition", &e))?;
        Ok(())
    }

    async fn update_service(
        &self,
        cluster: &str,
        service: &str,
        task_definition: &str,
        desired: Option<i32>,
    ) -> AwsResult<Option<Started>> {
        let out = self
            .ecs
            .update_service()
            .cluster(cluster)
            .service(service)
            .task_definition(task_definition)
            .set_desired_count(desired)
            .send()
            .await
            .map_err(|e| classify("ecs:UpdateService", &e))?;
        // The PRIMARY deployment of the answer is the one this update started, when it runs
        // the revision asked for (an update to what already runs starts none).
        Ok(out
            .service()
            .into_iter()
            .flat_map(|s| s.deployments())
            .find(|d| d.status() == Some("PRIMARY") && d.task_definition() == Some(task_definition))
            .and_then(|d| {
                Some(Started {
                    id: d.id()?.to_owned(),
                    created_at: d.created_at().map(|t| t.secs()),
                })
            }))
    }

    async fn find_image(&self, repository: &str, tag: &str) -> AwsResult<Option<Image>> {
        let id = aws_sdk_ecr::types::ImageIdentifier::builder()
            .image_tag(tag)
            .build();
        self.describe_image(repository, id).await
    }

    async fn find_image_by_digest(
        &self,
        repository: &str,
        digest: &str,
    ) -> AwsResult<Option<Image>> {
        let id = aws_sdk_ecr::types::ImageIdentifier::builder()
            .image_digest(digest)
            .build();
        self.describe_image(repository, id).await
    }

    async fn tag_image(&self, repository: &str, digest: &str, tag: &str) -> AwsResult<Created> {
        let id = aws_sdk_ecr::types::ImageIdentifier::builder()
            .image_digest(digest)
            .build();
        let out = self
            .ecr
            .batch_get_image()
            .repository_name(repository)
            .image_ids(id)
            .accepted_media_types("application/vnd.docker.distribution.manifest.v2+json")
            .accepted_media_types("application/vnd.docker.distribution.manifest.list.v2+json")
            .accepted_media_types("application/vnd.oci.image.manifest.v1+json")
            .accepted_media_types("application/vnd.oci.image.index.v1+json")
            .send()
            .await
            .map_err(|e| classify("ecr:BatchGetImage", &e))?;
        let Some(image) = out.images().first() else {
            return Err(AwsError::new(
                ErrorKind::NotFound,
                "ecr:BatchGetImage",
                format!("no image {repository}@{digest}"),
            ));
        };
        let manifest = image.image_manifest().unwrap_or_default();
        let sent = self
            .ecr
            .put_image()
            .repository_name(repository)
            .image_manifest(manifest)
            .set_image_manifest_media_type(image.image_manifest_media_type().map(str::to_owned))
            .image_tag(tag)
            .image_digest(digest)
            .send()
            .await;
        match sent {
            Ok(_) => Ok(Created::Yes),
            Err(e) if e.code() == Some("ImageAlreadyExistsException") => Ok(Created::AlreadyExists),
            Err(e) => Err(classify("ecr:PutImage", &e)),
        }
    }

    async fn scale_service(&self, cluster: &str, service: &str, desired: i32) -> AwsResult<()> {
        self.ecs
            .update_service()
            .cluster(cluster)
            .service(service)
            .desired_count(desired)
            .send()
            .await
            .map_err(|e| classify("ecs:UpdateService", &e))?;
        Ok(())
    }

    async fn load_balancer_arn(&self, name: &str) -> AwsResult<String> {
        const CALL: &str = "elasticloadbalancing:DescribeLoadBalancers";
        let out = self
            .elb
            .describe_load_balancers()
            .names(name)
            .send()
            .await
            .map_err(|e| classify(CALL, &e))?;
        out.load_balancers()
            .first()
            .and_then(|lb| lb.load_balancer_arn())
            .map(str::to_owned)
            .ok_or_else(|| {
                AwsError::new(
                    ErrorKind::NotFound,
                    CALL,
                    format!("no load balancer {name}: check `load_balancer` in the environment's deploy.json, or apply its Terraform"),
                )
            })
    }

    async fn listeners(&self, load_balancer_arn: &str) -> AwsResult<Vec<Listener>> {
        let out = self
            .elb
            .describe_listeners()
            .load_balancer_arn(load_balancer_arn)
            .send()
            .await
            .map_err(|e| classify("elasticloadbalancing:DescribeListeners", &e))?;
        let mut listeners = Vec::new();
        for l in out.listeners() {
            let arn = l.listener_arn().unwrap_or_default().to_owned();
            let mut forwards: Vec<Forward> = l
                .default_actions()
                .iter()
                .filter_map(|a| forward(ForwardAt::Listener(arn.clone()), a))
                .collect();
            let rules = self
                .elb
                .describe_rules()
                .listener_arn(&arn)
                .send()
                .await
                .map_err(|e| classify("elasticloadbalancing:DescribeRules", &e))?;
            for rule in rules.rules() {
                if rule.is_default() == Some(true) {
                    continue; // the listener's default action, already read
                }
                let at = ForwardAt::Rule(rule.rule_arn().unwrap_or_default().to_owned());
                forwards.extend(rule.actions().iter().filter_map(|a| forward(at.clone(), a)));
            }
            listeners.push(Listener {
                arn,
                port: l.port().and_then(|p| u16::try_from(p).ok()).unwrap_or(0),
                forwards,
            });
        }
        Ok(listeners)
    }

    async fn target_group_arns(&self, names: &[String]) -> AwsResult<Vec<(String, String)>> {
        let out = self
            .elb
            .describe_target_groups()
            .set_names(Some(names.to_vec()))
            .send()
            .await
            .map_err(|e| classify("elasticloadbalancing:DescribeTargetGroups", &e))?;
        Ok(out
            .target_groups()
            .iter()
            .filter_map(|tg| {
                Some((
                    tg.target_group_name()?.to_owned(),
                    tg.target_group_arn()?.to_owned(),
                ))
            })
            .collect())
    }

    async fn target_health(&self, target_group_arn: &str) -> AwsResult<Vec<TargetHealth>> {
        let out = self
            .elb
            .describe_target_health()
            .target_group_arn(target_group_arn)
            .send()
            .await
            .map_err(|e| classify("elasticloadbalancing:DescribeTargetHealth", &e))?;
        Ok(out
            .target_health_descriptions()
            .iter()
            .map(|d| {
                let target = d.target().map_or_else(String::new, |t| {
                    let id = t.id().unwrap_or("?");
                    match t.port() {
                        Some(port) => format!("{id}:{port}"),
                        None => id.to_owned(),
                    }
                });
                let health = d.target_health();
                let reason = health.and_then(|h| h.reason()).map(|r| {
                    match health.and_then(|h| h.description()) {
                        Some(text) => format!("{}: {text}", r.as_str()),
                        None => r.as_str().to_owned(),
                    }
                });
                TargetHealth {
                    target,
                    state: health
                        .and_then(|h| h.state())
                        .map_or("unknown", |s| s.as_str())
                        .to_owned(),
                    reason,
                }
            })
            .collect())
    }

    async fn stopped_tasks(
        &self,
        cluster: &str,
        service: &str,
        limit: usize,
    ) -> AwsResult<Vec<StoppedTask>> {
        // One page of ARNs (ListTasks returns them in no stated order), sorted by stop time.
        let listed = self
            .ecs
            .list_tasks()
            .cluster(cluster)
            .service_name(service)
            .desired_status(aws_sdk_ecs::types::DesiredStatus::Stopped)
            .max_results(100)
            .send()
            .await
            .map_err(|e| classify("ecs:ListTasks", &e))?;
        if listed.task_arns().is_empty() {
            return Ok(Vec::new());
        }
        let out = self
            .ecs
            .describe_tasks()
            .cluster(cluster)
            .set_tasks(Some(listed.task_arns().to_vec()))
            .send()
            .await
            .map_err(|e| classify("ecs:DescribeTasks", &e))?;
        let mut tasks: Vec<StoppedTask> =
            out.tasks()
                .iter()
                .map(|t| StoppedTask {
                    id: t
                        .task_arn()
                        .and_then(|a| a.rsplit('/').next())
                        .unwrap_or("?")
                        .to_owned(),
                    stopped_reason: t.stopped_reason().unwrap_or("no reason given").to_owned(),
                    container: t.containers().first().and_then(|c| {
                        match (c.reason(), c.exit_code()) {
                            (Some(reason), _) => Some(reason.to_owned()),
                            (None, Some(code)) => Some(format!("exit code {code}")),
                            (None, None) => None,
                        }
                    }),
                    stopped_at: t.stopped_at().map(|at| at.secs()),
                })
                .collect();
        tasks.sort_by_key(|t| std::cmp::Reverse(t.stopped_at));
        tasks.truncate(limit);
        Ok(tasks)
    }

    async fn set_forward(&self, at: &ForwardAt, weights: &[(String, i32)]) -> AwsResult<()> {
        let action = Action::builder()
            .r#type(ActionTypeEnum::Forward)
            .forward_config(
                ForwardActionConfig::builder()
                    .set_target_groups(Some(
                        weights
                            .iter()
                            .map(|(arn, weight)| {
                                TargetGroupTuple::builder()
                                    .target_group_arn(arn)
                                    .weight(*weight)
                                    .build()
                            })
                            .collect(),
                    ))
                    .build(),
            )
            .build();
        match at {
            ForwardAt::Listener(arn) => {
                self.elb
                    .modify_listener()
                    .listener_arn(arn)
                    .default_actions(action)
                    .send()
                    .await
                    .map_err(|e| classify("elasticloadbalancing:ModifyListener", &e))?;
            }
            ForwardAt::Rule(arn) => {
                self.elb
                    .modify_rule()
                    .rule_arn(arn)
                    .actions(action)
                    .send()
                    .await
                    .map_err(|e| classify("elasticloadbalancing:ModifyRule", &e))?;
            }
        }
        Ok(())
    }

    async fn put_item(
        &self,
        table: &str,
        item: &StateItem,
        condition: &Condition,
    ) -> AwsResult<Written> {
        let put = self
            .dynamodb
            .put_item()
            .table_name(table)
            .set_item(Some(to_attributes(item)));
        let put = match condition {
            Condition::Always => put,
            Condition::AbsentOrExpired { now_ms } => put
                .condition_expression("attribute_not_exists(pk) OR expires_at < :now")
                .expression_attribute_values(":now", number(*now_ms)),
            Condition::OwnedBy(owner) => put
                .condition_expression("#owner = :owner")
                .expression_attribute_names("#owner", "owner")
                .expression_attribute_values(":owner", AttributeValue::S(owner.clone())),
        };
        match put.send().await {
            Ok(_) => Ok(Written::Yes),
            Err(e) if e.code() == Some(CONDITION_FAILED) => Ok(Written::ConditionFailed),
            Err(e) => Err(classify("dynamodb:PutItem", &e)),
        }
    }

    async fn get_item(&self, table: &str, pk: &str, sk: &str) -> AwsResult<Option<StateItem>> {
        let out = self
            .dynamodb
            .get_item()
            .table_name(table)
            .key("pk", AttributeValue::S(pk.to_owned()))
            .key("sk", AttributeValue::S(sk.to_owned()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| classify("dynamodb:GetItem", &e))?;
        Ok(out.item().and_then(from_attributes))
    }

    async fn renew_lease(
        &self,
        table: &str,
        pk: &str,
        sk: &str,
        owner: &str,
        expires_ms: u64,
    ) -> AwsResult<Written> {
        let sent = self
            .dynamodb
            .update_item()
            .table_name(table)
            .key("pk", AttributeValue::S(pk.to_owned()))
            .key("sk", AttributeValue::S(sk.to_owned()))
            .update_expression("SET expires_at = :expires, #ttl = :ttl")
            .condition_expression("#owner = :owner")
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_values(":owner", AttributeValue::S(owner.to_owned()))
            .expression_attribute_values(":expires", number(expires_ms))
            .expression_attribute_values(":ttl", number(expires_ms / 1000 + 1))
            .send()
            .await;
        match sent {
            Ok(_) => Ok(Written::Yes),
            Err(e) if e.code() == Some(CONDITION_FAILED) => Ok(Written::ConditionFailed),
            Err(e) => Err(classify("dynamodb:UpdateItem", &e)),
        }
    }

    async fn delete_item(
        &self,
        table: &str,
        pk: &str,
        sk: &str,
        condition: &Condition,
    ) -> AwsResult<Written> {
        let delete = self
            .dynamodb
            .delete_item()
            .table_name(table)
            .key("pk", AttributeValue::S(pk.to_owned()))
            .key("sk", AttributeValue::S(sk.to_owned()));
        let delete = match condition {
            Condition::Always => delete,
            Condition::AbsentOrExpired { now_ms } => delete
                .condition_expression("attribute_not_exists(pk) OR expires_at < :now")
                .expression_attribute_values(":now", number(*now_ms)),
            Condition::OwnedBy(owner) => delete
                .condition_expression("#owner = :owner")
                .expression_attribute_names("#owner", "owner")
                .expression_attribute_values(":owner", AttributeValue::S(owner.clone())),
        };
        match delete.send().await {
            Ok(_) => Ok(Written::Yes),
            Err(e) if e.code() == Some(CONDITION_FAILED) => Ok(Written::ConditionFailed),
            Err(e) => Err(classify("dynamodb:DeleteItem", &e)),
        }
    }

    async fn query_items(
        &self,
        table: &str,
        pk: &str,
        sk_prefix: &str,
        limit: usize,
    ) -> AwsResult<Vec<StateItem>> {
        let mut found = Vec::new();
        let mut start = None;
        // DynamoDB stops a page at 1 MB; follow LastEvaluatedKey until `limit` items.
        while found.len() < limit {
            let out = self
                .dynamodb
                .query()
                .table_name(table)
                .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
                .expression_attribute_values(":pk", AttributeValue::S(pk.to_owned()))
                .expression_attribute_values(":prefix", AttributeValue::S(sk_prefix.to_owned()))
                .scan_index_forward(false)
                .limit(i32::try_from(limit - found.len()).unwrap_or(i32::MAX))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| classify("dynamodb:Query", &e))?;
            found.extend(out.items().iter().filter_map(from_attributes));
            match out.last_evaluated_key() {
                Some(key) if !key.is_empty() => start = Some(key.clone()),
                _ => break,
            }
        }
        Ok(found)
    }
}

const CONDITION_FAILED: &str = "ConditionalCheckFailedException";

fn number(n: u64) -> AttributeValue {
    AttributeValue::N(n.to_string())
}

fn to_attributes(item: &StateItem) -> HashMap<String, AttributeValue> {
    let mut out = HashMap::from([
        ("pk".to_owned(), AttributeValue::S(item.pk.clone())),
        ("sk".to_owned(), AttributeValue::S(item.sk.clone())),
        ("body".to_owned(), AttributeValue::S(item.body.clone())),
    ]);
    if let Some(owner) = &item.owner {
        out.insert("owner".to_owned(), AttributeValue::S(owner.clone()));
    }
    if let Some(expires) = item.expires_ms {
        out.insert("expires_at".to_owned(), number(expires));
    }
    if let Some(ttl) = item.ttl_secs {
        out.insert("ttl".to_owned(), number(ttl));
    }
    out
}

fn from_attributes(item: &HashMap<String, AttributeValue>) -> Option<StateItem> {
    let s = |k: &str| item.get(k).and_then(|v| v.as_s().ok()).cloned();
    let n = |k: &str| {
        item.get(k)
            .and_then(|v| v.as_n().ok())
            .and_then(|v| v.parse().ok())
    };
    Some(StateItem {
        pk: s("pk")?,
        sk: s("sk")?,
        body: s("body").unwrap_or_default(),
        owner: s("owner"),
        expires_ms: n("expires_at"),
        ttl_secs: n("ttl"),
    })
}

impl Sdk {
    async fn describe_image(
        &self,
        repository: &str,
        id: aws_sdk_ecr::types::ImageIdentifier,
    ) -> AwsResult<Option<Image>> {
        let sent = self
            .ecr
            .describe_images()
            .repository_name(repository)
            .image_ids(id)
            .send()
            .await;
        let out = match sent {
            Ok(out) => out,
            Err(e) if e.code() == Some("ImageNotFoundException") => return Ok(None),
            Err(e) => return Err(classify("ecr:DescribeImages", &e)),
        };
        Ok(out.image_details().first().map(|d| Image {
            registry_id: d.registry_id().unwrap_or_default().to_owned(),
            digest: d.image_digest().unwrap_or_default().to_owned(),
            tags: d.image_tags().to_vec(),
        }))
    }
}

/// A forward action's target groups and weights; a plain forward is one target group at 1.
fn forward(at: ForwardAt, action: &Action) -> Option<Forward> {
    if action.r#type() != Some(&ActionTypeEnum::Forward) {
        return None;
    }
    let weights: Vec<(String, i32)> = match action.forward_config() {
        Some(config) if !config.target_groups().is_empty() => config
            .target_groups()
            .iter()
            .map(|t| {
                (
                    t.target_group_arn().unwrap_or_default().to_owned(),
                    t.weight().unwrap_or(1),
                )
            })
            .collect(),
        _ => vec![(action.target_group_arn()?.to_owned(), 1)],
    };
    Some(Forward { at, weights })
}

/// The RegisterTaskDefinition request for `input`, field by field.
fn register_request(
    ecs: &aws_sdk_ecs::Client,
    input: RegisterTaskDefinitionInput,
) -> aws_sdk_ecs::operation::register_task_definition::builders::RegisterTaskDefinitionFluentBuilder
{
    ecs.register_task_definition()
        .set_family(input.family)
        .set_task_role_arn(input.task_role_arn)
        .set_execution_role_arn(input.execution_role_arn)
        .set_network_mode(input.network_mode)
        .set_container_definitions(input.container_definitions)
        .set_volumes(input.volumes)
        .set_placement_constraints(input.placement_constraints)
        .set_requires_compatibilities(input.requires_compatibilities)
        .set_cpu(input.cpu)
        .set_memory(input.memory)
        .set_tags(input.tags)
        .set_pid_mode(input.pid_mode)
        .set_ipc_mode(input.ipc_mode)
        .set_proxy_configuration(input.proxy_configuration)
        .set_inference_accelerators(input.inference_accelerators)
        .set_ephemeral_storage(input.ephemeral_storage)
        .set_runtime_platform(input.runtime_platform)
        .set_enable_fault_injection(input.enable_fault_injection)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The request carries every field of the computed input: no second place to drop one.
    #[test]
    fn the_register_request_is_exactly_the_input() {
        let config = aws_sdk_ecs::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(aws_sdk_ecs::config::Region::new("eu-central-1"))
            .build();
        let client = aws_sdk_ecs::Client::from_conf(config);
        let tags = [Tag::builder().key("team").value("platform").build()];
        let input = crate::taskdef::next_revision(
            &crate::taskdef::tests::full(),
            &tags,
            "backend",
            "img:2",
        )
        .unwrap();
        let request = register_request(&client, input.clone());
        assert_eq!(request.as_input().clone().build().unwrap(), input);
    }

    fn service_error(status: u16, code: &str, message: &str) -> AwsError {
        let error = aws_sdk_ecs::operation::update_service::UpdateServiceError::generic(
            aws_sdk_ecs::error::ErrorMetadata::builder()
                .code(code)
                .message(message)
                .build(),
        );
        let raw = aws_sdk_ecs::config::http::HttpResponse::new(
            status.try_into().unwrap(),
            aws_smithy_types::body::SdkBody::from("{\"__type\":\"ignored\"}"),
        );
        classify("ecs:UpdateService", &SdkError::service_error(error, raw))
    }

    #[test]
    fn an_error_the_sdk_could_not_parse_quotes_its_body_on_one_line() {
        let error = aws_sdk_ecs::operation::update_service::UpdateServiceError::generic(
            aws_sdk_ecs::error::ErrorMetadata::builder().build(),
        );
        let raw = aws_sdk_ecs::config::http::HttpResponse::new(
            403.try_into().unwrap(),
            aws_smithy_types::body::SdkBody::from(
                "<ErrorResponse>\n  <Message>User: deployer is not authorized to perform: ecs:UpdateService</Message>\n</ErrorResponse>",
            ),
        );
        let e = classify("ecs:UpdateService", &SdkError::service_error(error, raw));
        assert_eq!(
            e.to_string(),
            "ecs:UpdateService: HTTP 403 UnknownError: <ErrorResponse> <Message>User: deployer is not authorized to perform: ecs:UpdateService</Message> </ErrorResponse>"
        );
    }

    #[test]
    fn an_aws_error_is_one_line_with_service_operation_status_code_and_message() {
        let e = service_error(
            400,
            "InvalidParameterException",
            "TaskDefinition is inactive\nsecond line",
        );
        assert_eq!(e.kind, ErrorKind::Other);
        assert_eq!(
            e.to_string(),
            "ecs:UpdateService: HTTP 400 InvalidParameterException: TaskDefinition is inactive second line"
        );
        let e = service_error(400, "ThrottlingException", "Rate exceeded");
        assert_eq!(e.kind, ErrorKind::Throttled);
        assert!(
            e.to_string()
                .starts_with("ecs:UpdateService: AWS is throttling requests even after retries with backoff (HTTP 400 ThrottlingException: Rate exceeded)")
        );
        let e = service_error(403, "AccessDeniedException", "not authorized");
        assert_eq!(
            e.to_string(),
            "ecs:UpdateService: HTTP 403 AccessDeniedException: not authorized: the deploy role lacks this permission (see infrastructure/ for its policy)"
        );
    }

    #[test]
    fn a_timed_out_call_names_its_timeouts_not_a_debug_structure() {
        let err: SdkError<
            aws_sdk_ecs::operation::update_service::UpdateServiceError,
            aws_sdk_ecs::config::http::HttpResponse,
        > = SdkError::timeout_error(
            "operation timeout (all attempts including retries) occurred after 120s",
        );
        let text = classify("ecs:DescribeServices", &err).to_string();
        assert_eq!(
            text,
            "ecs:DescribeServices: no answer within the call's timeout (20s per attempt, 120s in all): AWS or the network is stalled; run the command again"
        );
        assert!(!text.contains('{') && !text.contains('\n'));
    }
}
