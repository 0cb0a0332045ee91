//! Every AWS call the deploy engine makes, as IAM sees it: for each [`Platform`] method and each
//! call outside it (the image push, the metric watch), the SDK operations it sends, the IAM
//! actions they need and the resources AWS authorises them against. The deploy role's policy is
//! checked against this list (`infrastructure/checks`, which compiles this very file), the
//! emulator tests give the deploy role exactly that policy, and a test here fails when the
//! engine sends an SDK operation the list doesn't name.
//!
//! This file uses nothing but `std`, so the infrastructure checks can include it with `#[path]`
//! without compiling the AWS SDK.
//!
//! [`Platform`]: super::Platform

/// What AWS authorises an action against, in one environment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Resource {
    /// Actions AWS authorises against no resource ARN (`*`): the ECS task-definition calls,
    /// ECR's login, ELBv2's Describe calls, CloudWatch's GetMetricData.
    Any,
    /// Each of the environment's ECS services.
    Service,
    /// Every ARN (`*`), scoped to the environment's cluster by the `ecs:cluster` condition key:
    /// ListTasks over a whole service is authorised against no ARN, as AWS says.
    AnyInCluster,
    /// A task of the environment's cluster.
    Task,
    /// A new revision of one of the environment's task-definition families.
    TaskDefinition,
    /// The task and execution roles its task definitions name.
    TaskRole,
    /// Each ECR repository the apps' images live in.
    Repository,
    /// The environment's deploy-state table (DynamoDB): the deploy lease and the release ledger.
    StateTable,
    /// Staging's deploy-state table, whose ledger a blue/green (production) deploy reads.
    StagingStateTable,
    /// The load balancer's listeners (blue/green).
    Listener,
    /// The load balancer's listener rules (blue/green).
    ListenerRule,
}

/// One IAM action a call needs, and on what.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Permission {
    pub action: &'static str,
    pub resources: &'static [Resource],
}

/// `on!("ecs:UpdateService", [Service])`: a literal, so the tables below are constants.
macro_rules! on {
    ($action:literal, [$($resource:expr),+]) => {
        Permission { action: $action, resources: &[$($resource),+] }
    };
}

/// How an environment deploys, which decides what it calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strategy {
    Rolling,
    BlueGreen,
}

/// A call of the engine: a [`Platform`](super::Platform) method by its name, or a call outside
/// the trait.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Call {
    DescribeService,
    DescribeTaskDefinition,
    RegisterTaskDefinition,
    DeregisterTaskDefinition,
    UpdateService,
    FindImage,
    FindImageByDigest,
    TagImage,
    ScaleService,
    LoadBalancerArn,
    Listeners,
    TargetGroupArns,
    TargetHealth,
    StoppedTasks,
    SetForward,
    PutItem,
    GetItem,
    RenewLease,
    DeleteItem,
    QueryItems,
    /// `images push`: ECR's login token (push.rs).
    RegistryLogin,
    /// `images push`: the repository's tag settings and the tags it has (push.rs).
    RepositoryTags,
    /// `images push`: what `docker push` asks ECR's registry, with the login token.
    DockerPush,
    /// The blue/green bake's metric watch (metrics/cloudwatch.rs).
    MetricData,
}

use Resource::*;

impl Call {
    pub const ALL: [Call; 24] = [
        Call::DescribeService,
        Call::DescribeTaskDefinition,
        Call::RegisterTaskDefinition,
        Call::DeregisterTaskDefinition,
        Call::UpdateService,
        Call::FindImage,
        Call::FindImageByDigest,
        Call::TagImage,
        Call::ScaleService,
        Call::LoadBalancerArn,
        Call::Listeners,
        Call::TargetGroupArns,
        Call::TargetHealth,
        Call::StoppedTasks,
        Call::SetForward,
        Call::PutItem,
        Call::GetItem,
        Call::RenewLease,
        Call::DeleteItem,
        Call::QueryItems,
        Call::RegistryLogin,
        Call::RepositoryTags,
        Call::DockerPush,
        Call::MetricData,
    ];

    /// The `Platform` method this call is, or `None` for calls outside the trait.
    pub fn platform_method(self) -> Option<&'static str> {
        Some(match self {
            Call::DescribeService => "describe_service",
            Call::DescribeTaskDefinition => "describe_task_definition",
            Call::RegisterTaskDefinition => "register_task_definition",
            Call::DeregisterTaskDefinition => "deregister_task_definition",
            Call::UpdateService => "update_service",
            Call::FindImage => "find_image",
            Call::FindImageByDigest => "find_image_by_digest",
            Call::TagImage => "tag_image",
            Call::ScaleService => "scale_service",
            Call::LoadBalancerArn => "load_balancer_arn",
            Call::Listeners => "listeners",
            Call::TargetGroupArns => "target_group_arns",
            Call::TargetHealth => "target_health",
            Call::StoppedTasks => "stopped_tasks",
            Call::SetForward => "set_forward",
            Call::PutItem => "put_item",
            Call::GetItem => "get_item",
            Call::RenewLease => "renew_lease",
            Call::DeleteItem => "delete_item",
            Call::QueryItems => "query_items",
            Call::RegistryLogin | Call::RepositoryTags | Call::DockerPush | Call::MetricData => {
                return None;
            }
        })
    }

    /// The SDK operations the call sends (snake case, as the SDK names its methods).
    pub fn sdk_operations(self) -> &'static [&'static str] {
        match self {
            Call::DescribeService => &["describe_services"],
            Call::DescribeTaskDefinition => &["describe_task_definition"],
            Call::RegisterTaskDefinition => &["register_task_definition"],
            Call::DeregisterTaskDefinition => &["deregister_task_definition"],
            Call::UpdateService | Call::ScaleService => &["update_service"],
            Call::FindImage | Call::FindImageByDigest => &["describe_images"],
            Call::TagImage => &["batch_get_image", "put_image"],
            Call::LoadBalancerArn => &["describe_load_balancers"],
            Call::Listeners => &["describe_listeners", "describe_rules"],
            Call::TargetGroupArns => &["describe_target_groups"],
            Call::TargetHealth => &["describe_target_health"],
            Call::StoppedTasks => &["list_tasks", "describe_tasks"],
            Call::SetForward => &["modify_listener", "modify_rule"],
            Call::PutItem => &["put_item"],
            Call::GetItem => &["get_item"],
            Call::RenewLease => &["update_item"],
            Call::DeleteItem => &["delete_item"],
            Call::QueryItems => &["query"],
            Call::RegistryLogin => &["get_authorization_token"],
            Call::RepositoryTags => &["describe_repositories", "list_images"],
            // Not the SDK: the Docker client speaks the registry protocol.
            Call::DockerPush => &[],
            Call::MetricData => &["get_metric_data"],
        }
    }

    /// The IAM actions the call needs and what each is authorised against (AWS's Service
    /// Authorization Reference).
    pub fn permissions(self) -> &'static [Permission] {
        match self {
            Call::DescribeService => &[on!("ecs:DescribeServices", [Service])],
            Call::DescribeTaskDefinition => &[on!("ecs:DescribeTaskDefinition", [Any])],
            // With tags, the new revision is tagged too (ecs:CreateAction condition), and the
            // roles it names are passed to ECS.
            Call::RegisterTaskDefinition => &[
                on!("ecs:RegisterTaskDefinition", [Any]),
                on!("ecs:TagResource", [TaskDefinition]),
                on!("iam:PassRole", [TaskRole]),
            ],
            Call::DeregisterTaskDefinition => &[on!("ecs:DeregisterTaskDefinition", [Any])],
            Call::UpdateService | Call::ScaleService => &[on!("ecs:UpdateService", [Service])],
            Call::FindImage | Call::FindImageByDigest => &[on!("ecr:DescribeImages", [Repository])],
            Call::TagImage => &[
                on!("ecr:BatchGetImage", [Repository]),
                on!("ecr:PutImage", [Repository]),
            ],
            Call::LoadBalancerArn => &[on!("elasticloadbalancing:DescribeLoadBalancers", [Any])],
            Call::Listeners => &[
                on!("elasticloadbalancing:DescribeListeners", [Any]),
                on!("elasticloadbalancing:DescribeRules", [Any]),
            ],
            Call::TargetGroupArns => &[on!("elasticloadbalancing:DescribeTargetGroups", [Any])],
            Call::TargetHealth => &[on!("elasticloadbalancing:DescribeTargetHealth", [Any])],
            Call::StoppedTasks => &[
                on!("ecs:ListTasks", [AnyInCluster]),
                on!("ecs:DescribeTasks", [Task]),
            ],
            Call::SetForward => &[
                on!("elasticloadbalancing:ModifyListener", [Listener]),
                on!("elasticloadbalancing:ModifyRule", [ListenerRule]),
            ],
            Call::PutItem => &[on!("dynamodb:PutItem", [StateTable])],
            Call::GetItem => &[on!("dynamodb:GetItem", [StateTable])],
            Call::RenewLease => &[on!("dynamodb:UpdateItem", [StateTable])],
            Call::DeleteItem => &[on!("dynamodb:DeleteItem", [StateTable])],
            Call::QueryItems => &[on!("dynamodb:Query", [StateTable, StagingStateTable])],
            Call::RegistryLogin => &[on!("ecr:GetAuthorizationToken", [Any])],
            Call::RepositoryTags => &[
                on!("ecr:DescribeRepositories", [Repository]),
                on!("ecr:ListImages", [Repository]),
            ],
            Call::DockerPush => &[
                on!("ecr:BatchCheckLayerAvailability", [Repository]),
                on!("ecr:InitiateLayerUpload", [Repository]),
                on!("ecr:UploadLayerPart", [Repository]),
                on!("ecr:CompleteLayerUpload", [Repository]),
                on!("ecr:PutImage", [Repository]),
                // Layers the repository already has under another tag are fetched, not sent.
                on!("ecr:GetDownloadUrlForLayer", [Repository]),
            ],
            Call::MetricData => &[on!("cloudwatch:GetMetricData", [Any])],
        }
    }

    /// Which commands make the call, for people reading the list.
    pub fn used_by(self) -> &'static str {
        match self {
            Call::DescribeService => "deploy, rollback, status (both strategies)",
            Call::DescribeTaskDefinition => "deploy, rollback, status, promotion",
            Call::RegisterTaskDefinition | Call::DeregisterTaskDefinition => "deploy, rollback",
            Call::UpdateService => "deploy, rollback",
            Call::FindImage | Call::FindImageByDigest => "deploy, promotion, status",
            Call::TagImage => "promotion (production), latest after a verified release",
            Call::ScaleService => "blue/green: scale the idle colour up and down",
            Call::LoadBalancerArn | Call::Listeners | Call::TargetGroupArns => {
                "blue/green deploy, rollback, status"
            }
            Call::TargetHealth => "blue/green: healthy targets before every traffic shift",
            Call::StoppedTasks => "deploy, rollback: why a wait failed (stopped tasks' reasons)",
            Call::SetForward => "blue/green: canary, shift, rollback",
            Call::GetItem | Call::RenewLease => "the deploy lease",
            Call::PutItem | Call::DeleteItem => "the deploy lease, the release ledger",
            Call::QueryItems => "the release ledger; production reads staging's",
            Call::RegistryLogin | Call::RepositoryTags | Call::DockerPush => "images push",
            Call::MetricData => "blue/green bake: the metric watch",
        }
    }

    /// Whether an environment of `strategy` makes this call (`resource` narrows it: only
    /// blue/green reads staging's ledger).
    pub fn made_by(self, strategy: Strategy, resource: Resource) -> bool {
        let blue_green_only = matches!(
            self,
            Call::ScaleService
                | Call::LoadBalancerArn
                | Call::Listeners
                | Call::TargetGroupArns
                | Call::TargetHealth
                | Call::SetForward
                | Call::MetricData
        ) || resource == StagingStateTable;
        strategy == Strategy::BlueGreen || !blue_green_only
    }
}

/// An environment's names, from which the exact ARNs of its calls follow.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub strategy: Strategy,
    pub partition: String,
    pub region: String,
    pub account_id: String,
    pub cluster: String,
    pub services: Vec<String>,
    pub task_families: Vec<String>,
    pub task_roles: Vec<String>,
    pub repositories: Vec<String>,
    /// `/eventflow/staging`, which names the deploy-state table `eventflow-staging-deploy-state`.
    pub ledger_prefix: String,
    /// Blue/green only.
    pub load_balancer: Option<String>,
}

impl Target {
    /// The ARNs a call on `resource` names in this environment (example ids where AWS makes
    /// them up: a revision number, a release id, a listener's ids).
    pub fn arns(&self, resource: Resource) -> Vec<String> {
        let Target {
            partition: p,
            region: r,
            account_id: a,
            ..
        } = self;
        let table = |prefix: &str| {
            let name = format!(
                "{}-deploy-state",
                prefix.trim_matches('/').replace('/', "-")
            );
            format!("arn:{p}:dynamodb:{r}:{a}:table/{name}")
        };
        let elb = |kind: &str, ids: &str| match &self.load_balancer {
            Some(lb) => vec![format!(
                "arn:{p}:elasticloadbalancing:{r}:{a}:{kind}/app/{lb}/50dc6c495c0c9188/{ids}"
            )],
            None => Vec::new(),
        };
        match resource {
            Any | AnyInCluster => vec!["*".to_owned()],
            Service => self
                .services
                .iter()
                .map(|s| format!("arn:{p}:ecs:{r}:{a}:service/{}/{s}", self.cluster))
                .collect(),
            Task => vec![format!(
                "arn:{p}:ecs:{r}:{a}:task/{}/0123456789abcdef0123456789abcdef",
                self.cluster
            )],
            TaskDefinition => self
                .task_families
                .iter()
                .map(|f| format!("arn:{p}:ecs:{r}:{a}:task-definition/{f}:7"))
                .collect(),
            TaskRole => self
                .task_roles
                .iter()
                .map(|role| format!("arn:{p}:iam::{a}:role/{role}"))
                .collect(),
            Repository => self
                .repositories
                .iter()
                .map(|repo| format!("arn:{p}:ecr:{r}:{a}:repository/{repo}"))
                .collect(),
            StateTable => vec![table(&self.ledger_prefix)],
            StagingStateTable => vec![table("/eventflow/staging")],
            Listener => elb("listener", "f2f7dc8efc522ab2"),
            ListenerRule => elb("listener-rule", "f2f7dc8efc522ab2/9683b2d02a6cabee"),
        }
    }

    /// The environment's ECS cluster, as the `ecs:cluster` condition key names it.
    pub fn cluster_arn(&self) -> String {
        let Target {
            partition: p,
            region: r,
            account_id: a,
            ..
        } = self;
        format!("arn:{p}:ecs:{r}:{a}:cluster/{}", self.cluster)
    }

    /// Every (call, IAM action, ARN) the engine makes in this environment.
    pub fn requests(&self) -> Vec<(Call, &'static str, String)> {
        let mut out = Vec::new();
        for call in Call::ALL {
            for permission in call.permissions() {
                for &resource in permission.resources {
                    if !call.made_by(self.strategy, resource) {
                        continue;
                    }
                    for arn in self.arns(resource) {
                        out.push((call, permission.action, arn));
                    }
                }
            }
        }
        out
    }
}

/// Every IAM action the engine may need, in any environment, sorted and without repeats.
pub fn all_actions() -> Vec<&'static str> {
    let mut actions: Vec<&'static str> = Call::ALL
        .iter()
        .flat_map(|c| c.permissions().iter().map(|p| p.action))
        .collect();
    actions.sort_unstable();
    actions.dedup();
    actions
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The names of the `Platform` trait's methods, read from `aws/mod.rs`.
    fn platform_methods() -> Vec<String> {
        let source = include_str!("mod.rs");
        let start = source
            .find("pub trait Platform {")
            .expect("aws/mod.rs declares the Platform trait");
        let body = &source[start..];
        let body = &body[..body.find("\n}").expect("the trait ends")];
        body.split("async fn ")
            .skip(1)
            .map(|rest| rest.split('(').next().unwrap_or("").trim().to_owned())
            .collect()
    }

    #[test]
    fn every_platform_method_is_in_the_list() {
        let methods = platform_methods();
        assert!(methods.len() >= 17, "{methods:?}");
        let listed: Vec<&str> = Call::ALL
            .iter()
            .filter_map(|c| c.platform_method())
            .collect();
        for method in &methods {
            assert!(
                listed.contains(&method.as_str()),
                "Platform::{method} is not in aws/calls.rs: add a Call for it with the IAM actions it needs"
            );
        }
        for method in listed {
            assert!(
                methods.iter().any(|m| m == method),
                "aws/calls.rs lists Platform::{method}, which the trait no longer has: remove it"
            );
        }
    }

    /// Every SDK operation the engine's code sends: `.describe_services()` and the like, in
    /// every source file that talks to AWS (the fake and this list excluded).
    fn sent_operations() -> Vec<(&'static str, String)> {
        const SOURCES: [(&str, &str); 4] = [
            ("aws/sdk.rs", include_str!("sdk.rs")),
            ("push.rs", include_str!("../push.rs")),
            (
                "metrics/cloudwatch.rs",
                include_str!("../metrics/cloudwatch.rs"),
            ),
            ("main.rs", include_str!("../main.rs")),
        ];
        const VERBS: [&str; 17] = [
            "batch_",
            "complete_",
            "create_",
            "delete_",
            "deregister_",
            "describe_",
            "get_",
            "initiate_",
            "list_",
            "modify_",
            "put_",
            "query",
            "register_",
            "tag_",
            "untag_",
            "update_",
            "upload_",
        ];
        let mut out = Vec::new();
        for (file, text) in SOURCES {
            // An SDK operation is a method called without arguments, then built and sent:
            // `.describe_services()`; the Platform's own methods always take arguments.
            for piece in text.split('.').skip(1) {
                let Some(name) = piece.strip_suffix("()").or_else(|| {
                    piece
                        .split_once("()")
                        .filter(|(_, rest)| rest.starts_with(char::is_whitespace))
                        .map(|(name, _)| name)
                }) else {
                    continue;
                };
                if VERBS.iter().any(|v| name.starts_with(v))
                    && name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
                {
                    out.push((file, name.to_owned()));
                }
            }
        }
        out
    }

    #[test]
    fn every_sdk_operation_the_engine_sends_is_in_the_list() {
        let sent = sent_operations();
        for op in [
            "describe_services",
            "describe_repositories",
            "list_images",
            "get_metric_data",
        ] {
            assert!(
                sent.iter().any(|(_, s)| s == op),
                "the scan misses {op}: {sent:?}"
            );
        }
        let listed: Vec<&str> = Call::ALL
            .iter()
            .flat_map(|c| c.sdk_operations())
            .copied()
            .collect();
        for (file, op) in &sent {
            assert!(
                listed.contains(&op.as_str()),
                "{file} sends `{op}`, which aws/calls.rs doesn't list: add it to the Call that makes it, with its IAM action"
            );
        }
    }

    #[test]
    fn each_sdk_operation_has_its_iam_action() {
        for call in Call::ALL {
            for op in call.sdk_operations() {
                let pascal: String = op
                    .split('_')
                    .map(|w| {
                        let mut c = w.chars();
                        c.next().map_or_else(String::new, |f| {
                            f.to_ascii_uppercase().to_string() + c.as_str()
                        })
                    })
                    .collect();
                assert!(
                    call.permissions()
                        .iter()
                        .any(|p| p.action.ends_with(&format!(":{pascal}"))),
                    "{call:?} sends {op} but needs no :{pascal} action"
                );
            }
        }
    }

    #[test]
    fn a_rolling_environment_makes_no_load_balancer_calls() {
        let target = Target {
            strategy: Strategy::Rolling,
            partition: "aws".into(),
            region: "eu-central-1".into(),
            account_id: "123456789012".into(),
            cluster: "eventflow-staging".into(),
            services: vec!["backend".into()],
            task_families: vec!["eventflow-backend".into()],
            task_roles: vec!["eventflow-staging-backend-task".into()],
            repositories: vec!["eventflow-backend".into()],
            ledger_prefix: "/eventflow/staging".into(),
            load_balancer: None,
        };
        let requests = target.requests();
        assert!(requests.iter().any(|(_, a, arn)| *a == "ecs:UpdateService"
            && arn == "arn:aws:ecs:eu-central-1:123456789012:service/eventflow-staging/backend"));
        assert!(
            !requests
                .iter()
                .any(|(_, a, _)| a.starts_with("elasticloadbalancing:"))
        );
        assert!(!requests.iter().any(|(c, _, _)| *c == Call::MetricData));
    }
}
