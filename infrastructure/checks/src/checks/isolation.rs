//! No environment's roles can touch another environment, proved from the rendered policies:
//! every action the deploy, Terraform and plan roles of one environment are allowed (and a list of
//! sensitive ones besides) is evaluated ([`crate::access`]) against every resource the other
//! environment's Terraform creates (built from the evaluated configuration: secrets, cluster,
//! services, task families, load balancer, listeners, rules, target groups, database, log
//! groups, roles, keys, network, the state key, the release ledger and the deploy-state table),
//! with the deploy role inside its permissions boundary. Nothing may be allowed, except reading
//! a ledger the environment promotes from (production reads staging's).
//!
//! And neither role can create or change IAM without the environment's permissions boundary,
//! and every role an environment creates carries it.
//!
//! Both proofs run with the environments in one account and in accounts of their own. The calls
//! AWS authorises against no resource ARN (ecs:RegisterTaskDefinition, ecs:DescribeTaskDefinition,
//! ecs:DeregisterTaskDefinition, cloudwatch:GetMetricData) are guarded otherwise: a registration
//! carries tags, and ecs:TagResource is allowed on the environment's own families only; the
//! other environment's families are denied by ARN; an account per environment separates them.

use std::collections::BTreeSet;

use super::{Analysis, known_str};
use crate::access::{self, Context, Decision, Fact};
use crate::model::Finding;
use crate::policy::{self, Role};

/// Sensitive actions probed besides those the policies name (their wildcards expand to these).
pub const SENSITIVE_ACTIONS: &[&str] = &[
    "dynamodb:DeleteItem",
    "dynamodb:DeleteTable",
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:Query",
    "ec2:AuthorizeSecurityGroupIngress",
    "ec2:CreateTags",
    "ec2:DeleteTags",
    "ec2:DeleteVpc",
    "ecs:DeleteCluster",
    "ecs:DeleteService",
    "ecs:DeregisterTaskDefinition",
    "ecs:TagResource",
    "ecs:UpdateService",
    "elasticloadbalancing:DeleteListener",
    "elasticloadbalancing:DeleteLoadBalancer",
    "elasticloadbalancing:ModifyListener",
    "elasticloadbalancing:ModifyRule",
    "elasticloadbalancing:ModifyTargetGroup",
    "elasticloadbalancing:RegisterTargets",
    "iam:AttachRolePolicy",
    "iam:PassRole",
    "iam:PutRolePolicy",
    "iam:UpdateAssumeRolePolicy",
    "kms:Decrypt",
    "kms:ScheduleKeyDeletion",
    "logs:DeleteLogGroup",
    "logs:GetLogEvents",
    "rds:DeleteDBInstance",
    "rds:ModifyDBInstance",
    "s3:DeleteObject",
    "s3:GetObject",
    "s3:PutObject",
    "secretsmanager:GetSecretValue",
    "secretsmanager:PutSecretValue",
    "ssm:DeleteParameter",
    "ssm:GetParameter",
    "ssm:PutParameter",
];

/// What a role may do on a ledger its environment promotes from.
pub const LEDGER_READS: &[&str] = &[
    "dynamodb:GetItem",
    "dynamodb:Query",
    "ssm:GetParameter",
    "ssm:GetParametersByPath",
];

/// IAM writes that grant permissions: never without the boundary.
pub const IAM_WRITES: &[&str] = &[
    "iam:AddUserToGroup",
    "iam:AttachGroupPolicy",
    "iam:AttachRolePolicy",
    "iam:AttachUserPolicy",
    "iam:CreateAccessKey",
    "iam:CreatePolicy",
    "iam:CreatePolicyVersion",
    "iam:CreateRole",
    "iam:CreateUser",
    "iam:DeleteRolePermissionsBoundary",
    "iam:PutGroupPolicy",
    "iam:PutRolePermissionsBoundary",
    "iam:PutRolePolicy",
    "iam:PutUserPolicy",
    "iam:SetDefaultPolicyVersion",
];

const REGION: &str = "eu-central-1";
/// A second account, for the one-account-per-environment layout.
pub const OTHER_ACCOUNT: &str = "222222222222";

/// One resource of an environment, as a request would name it.
#[derive(Clone, Debug)]
pub struct Target {
    pub what: String,
    pub arn: String,
    pub context: Context,
    /// Part of the release ledger (read by the environments promoting from it).
    pub ledger: bool,
}

fn target(what: impl Into<String>, arn: String) -> Target {
    Target {
        what: what.into(),
        arn,
        context: Context::new(),
        ledger: false,
    }
}

/// The environments: (directory, name).
fn environments(a: &Analysis<'_>) -> Vec<(String, String)> {
    a.tree
        .environments()
        .map(|m| {
            (
                m.dir.clone(),
                m.dir.rsplit('/').next().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

/// Every resource of the environment at `dir` a request could name, in `account`.
pub fn targets(a: &Analysis<'_>, dir: &str, env: &str, account: &str) -> Vec<Target> {
    let arn = |service: &str, rest: String| format!("arn:aws:{service}:{REGION}:{account}:{rest}");
    let mut out = Vec::new();
    let names = |ty: &str, attr: &str| -> Vec<String> {
        a.resources(ty)
            .filter(|(inst, ..)| inst.root == dir)
            .filter_map(|(.., v)| known_str(v, &[attr]).map(str::to_owned))
            .collect()
    };
    for name in names("aws_secretsmanager_secret", "name") {
        out.push(target(
            format!("secret {name}"),
            arn("secretsmanager", format!("secret:{name}-AbCdEf")),
        ));
    }
    let clusters = names("aws_ecs_cluster", "name");
    for cluster in &clusters {
        out.push(target(
            format!("cluster {cluster}"),
            arn("ecs", format!("cluster/{cluster}")),
        ));
        for service in names("aws_ecs_service", "name") {
            out.push(target(
                format!("service {service}"),
                arn("ecs", format!("service/{cluster}/{service}")),
            ));
        }
        out.push(target(
            "a task",
            arn("ecs", format!("task/{cluster}/0123456789abcdef")),
        ));
    }
    // Terraform registers only the templates; the deploy engine registers its revisions in the
    // families deploy.json names, which are the environment's as much.
    let deploy_families: Vec<String> = a
        .tree
        .environments()
        .filter(|m| m.dir == dir)
        .filter_map(|m| m.deploy_json.as_ref())
        .flat_map(|(_, json)| {
            json["apps"]
                .as_object()
                .into_iter()
                .flatten()
                .filter_map(|(_, app)| app["task_family"].as_str().map(str::to_owned))
                .collect::<Vec<_>>()
        })
        .collect();
    for family in names("aws_ecs_task_definition", "family")
        .into_iter()
        .chain(deploy_families)
    {
        out.push(target(
            format!("task family {family}"),
            arn("ecs", format!("task-definition/{family}:7")),
        ));
    }
    for lb in names("aws_lb", "name") {
        let id = "0123456789abcdef";
        out.push(target(
            format!("load balancer {lb}"),
            arn(
                "elasticloadbalancing",
                format!("loadbalancer/app/{lb}/{id}"),
            ),
        ));
        out.push(target(
            format!("a listener of {lb}"),
            arn(
                "elasticloadbalancing",
                format!("listener/app/{lb}/{id}/fedcba9876543210"),
            ),
        ));
        out.push(target(
            format!("a listener rule of {lb}"),
            arn(
                "elasticloadbalancing",
                format!("listener-rule/app/{lb}/{id}/fedcba9876543210/0011223344556677"),
            ),
        ));
    }
    for tg in names("aws_lb_target_group", "name") {
        out.push(target(
            format!("target group {tg}"),
            arn(
                "elasticloadbalancing",
                format!("targetgroup/{tg}/0123456789abcdef"),
            ),
        ));
    }
    for db in names("aws_db_instance", "identifier") {
        out.push(target(
            format!("database {db}"),
            arn("rds", format!("db:{db}")),
        ));
    }
    for group in names("aws_cloudwatch_log_group", "name") {
        out.push(target(
            format!("log group {group}"),
            arn("logs", format!("log-group:{group}:*")),
        ));
    }
    for role in names("aws_iam_role", "name") {
        out.push(target(
            format!("role {role}"),
            format!("arn:aws:iam::{account}:role/{role}"),
        ));
    }
    for alias in names("aws_kms_alias", "name") {
        let mut t = target(
            format!("the key of {alias}"),
            arn("kms", "key/00000000-0000-0000-0000-000000000000".to_owned()),
        );
        t.context.insert(
            "kms:ResourceAliases".to_owned(),
            Fact::Values(vec![alias.clone()]),
        );
        out.push(t);
    }
    // Resources without a name in their ARN carry the provider's default tag.
    for (what, rest) in [
        ("the VPC", "vpc/vpc-0123456789abcdef0"),
        ("a security group", "security-group/sg-0123456789abcdef0"),
        ("a subnet", "subnet/subnet-0123456789abcdef0"),
    ] {
        let mut t = target(what, arn("ec2", rest.to_owned()));
        t.context.insert(
            "aws:ResourceTag/Environment".to_owned(),
            Fact::Values(vec![env.to_owned()]),
        );
        out.push(t);
    }
    for bucket in a
        .resources("aws_s3_bucket")
        .filter(|(inst, r, ..)| inst.root == "global" && r.name == "state")
        .filter_map(|(.., v)| known_str(v, &["bucket"]).map(str::to_owned))
    {
        out.push(target(
            "the state",
            format!("arn:aws:s3:::{bucket}/{env}/terraform.tfstate"),
        ));
    }
    let ledger_prefix = a
        .tree
        .module(dir)
        .and_then(|m| m.deploy_json.as_ref())
        .and_then(|(_, json)| json["ledger_prefix"].as_str().map(str::to_owned));
    if let Some(prefix) = ledger_prefix {
        for (what, rest) in [
            ("a ledger entry", format!("parameter{prefix}/releases/v12")),
            ("the deploy lock", format!("parameter{prefix}/deploy-lock")),
        ] {
            let mut t = target(what, arn("ssm", rest));
            t.ledger = true;
            out.push(t);
        }
    }
    let mut table = target(
        "the deploy-state table",
        arn("dynamodb", format!("table/eventflow-{env}-deploy-state")),
    );
    table.ledger = true;
    out.push(table);
    out
}

/// The concrete actions to probe for a policy: those it allows by name, and the sensitive list.
fn probes(policies: &[&serde_json::Value]) -> BTreeSet<String> {
    let mut out: BTreeSet<String> = SENSITIVE_ACTIONS.iter().map(|s| (*s).to_owned()).collect();
    for policy in policies {
        out.extend(
            access::allowed_actions(policy)
                .into_iter()
                .filter(|a| !a.contains('*')),
        );
    }
    out
}

pub fn check(a: &Analysis<'_>) -> Vec<Finding> {
    let mut findings = bounded_roles(a);
    for (dir, env) in environments(a) {
        let Some(account) = policy::tfvars_account(a.tree, &env) else {
            findings.push(Finding::new(
                format!("{dir}/terraform.tfvars"),
                "no aws_account_id: set it, the policies are proved for it",
            ));
            continue;
        };
        let render = |role| policy::render(a.tree, role, &env, &account);
        let (deploy, terraform, boundary, plan) = match (
            render(Role::Deploy),
            render(Role::Terraform),
            render(Role::Boundary),
            render(Role::Plan),
        ) {
            (Ok(d), Ok(t), Ok(b), Ok(p)) => (d.policy, t.policy, b.policy, p.policy),
            (d, t, b, p) => {
                for e in [d.err(), t.err(), b.err(), p.err()].into_iter().flatten() {
                    findings.push(Finding::new(format!("{dir}/main.tf"), e));
                }
                continue;
            }
        };
        findings.extend(cannot_escape_the_boundary(
            &env, &account, &deploy, &terraform, &plan, &boundary,
        ));
        for (other_dir, other) in environments(a) {
            if other == env {
                continue;
            }
            for other_account in [account.as_str(), OTHER_ACCOUNT] {
                let targets = targets(a, &other_dir, &other, other_account);
                findings.extend(cannot_touch(
                    &env,
                    &other,
                    &targets,
                    "deploy",
                    &deploy,
                    Some(&boundary),
                ));
                findings.extend(cannot_touch(
                    &env,
                    &other,
                    &targets,
                    "Terraform",
                    &terraform,
                    None,
                ));
                findings.extend(cannot_touch(&env, &other, &targets, "plan", &plan, None));
            }
        }
    }
    findings
}

/// `env`'s role (`policy`, within `boundary`) is allowed nothing on `targets` of `other`, but
/// reads of a ledger its deploy role is allowed to read.
pub fn cannot_touch(
    env: &str,
    other: &str,
    targets: &[Target],
    role: &str,
    policy: &serde_json::Value,
    boundary: Option<&serde_json::Value>,
) -> Vec<Finding> {
    let mut findings = Vec::new();
    let mut probed = vec![policy];
    probed.extend(boundary);
    let actions = probes(&probed);
    for t in targets {
        // An action applies to its own service's resources only.
        let service = t.arn.split(':').nth(2).unwrap_or("");
        for action in actions
            .iter()
            .filter(|a| a.split(':').next() == Some(service))
        {
            let decision = access::decide_bounded(policy, boundary, action, &t.arn, &t.context);
            let Decision::Allowed(sid) = decision else {
                continue;
            };
            // Promotion reads the ledger of the environment it promotes from; nothing else.
            if t.ledger && role == "deploy" && LEDGER_READS.contains(&action.as_str()) {
                continue;
            }
            let template = match role {
                "deploy" => crate::checks::iam::DEPLOY_POLICY_TEMPLATE,
                "plan" => "policies/plan.json.tftpl",
                _ => "policies/terraform.json.tftpl",
            };
            findings.push(Finding::new(
                template,
                format!("{env}'s {role} role may `{action}` on {other}'s {} ({}), through statement {sid}: deny it in modules/isolation (every environment's roles carry its Deny statements)", t.what, t.arn),
            ));
        }
    }
    findings
}

/// Neither role grants itself or anyone more through IAM: every permission-granting IAM write is
/// refused without the boundary or with another one; and the Terraform role can create the
/// environment's roles with it (so the proof is not vacuous).
pub fn cannot_escape_the_boundary(
    env: &str,
    account: &str,
    deploy: &serde_json::Value,
    terraform: &serde_json::Value,
    plan: &serde_json::Value,
    boundary: &serde_json::Value,
) -> Vec<Finding> {
    let mut findings = Vec::new();
    let boundary_arn = format!("arn:aws:iam::{account}:policy/eventflow-{env}-boundary");
    let resources = [
        format!("arn:aws:iam::{account}:role/eventflow-{env}-escape"),
        format!("arn:aws:iam::{account}:role/eventflow-{env}-github-deploy"),
        format!("arn:aws:iam::{account}:user/eventflow-{env}-escape"),
        format!("arn:aws:iam::{account}:policy/eventflow-{env}-boundary"),
        format!("arn:aws:iam::{account}:group/eventflow-{env}-escape"),
    ];
    let without = [
        Fact::Absent,
        Fact::Values(vec![format!(
            "arn:aws:iam::{account}:policy/AdministratorAccess"
        )]),
    ];
    for (role, policy, bounded) in [
        ("deploy", deploy, Some(boundary)),
        ("Terraform", terraform, None),
        ("plan", plan, None),
    ] {
        for action in IAM_WRITES {
            for resource in &resources {
                for fact in &without {
                    let context: Context =
                        [("iam:PermissionsBoundary".to_owned(), fact.clone())].into();
                    if let Decision::Allowed(sid) =
                        access::decide_bounded(policy, bounded, action, resource, &context)
                    {
                        findings.push(Finding::new(
                            match role {
                                "deploy" => crate::checks::iam::DEPLOY_POLICY_TEMPLATE,
                                "plan" => "policies/plan.json.tftpl",
                                _ => "policies/terraform.json.tftpl",
                            },
                            format!("{env}'s {role} role may `{action}` on {resource} without the permissions boundary ({fact:?}), through statement {sid}: condition it on iam:PermissionsBoundary = {boundary_arn}, or deny it"),
                        ));
                    }
                }
            }
        }
    }
    let with: Context = [(
        "iam:PermissionsBoundary".to_owned(),
        Fact::Values(vec![boundary_arn.clone()]),
    )]
    .into();
    let own_role = format!("arn:aws:iam::{account}:role/eventflow-{env}-backend-task");
    if !access::decide(terraform, "iam:CreateRole", &own_role, &with).is_allowed() {
        findings.push(Finding::new(
            "policies/terraform.json.tftpl",
            format!("{env}'s Terraform role can't create its environment's roles even with the boundary {boundary_arn}: allow iam:CreateRole on role/eventflow-{env}-* under that condition"),
        ));
    }
    findings
}

/// Every role an environment creates carries the environment's permissions boundary.
pub fn bounded_roles(a: &Analysis<'_>) -> Vec<Finding> {
    let mut findings = Vec::new();
    for (dir, env) in environments(a) {
        // The boundary's ARN is built from the account: evaluate with it known.
        let account = policy::tfvars_account(a.tree, &env).unwrap_or_else(|| "123456789012".into());
        let known = crate::eval::Known {
            account_id: account.clone(),
        };
        let instances = crate::eval::evaluate_root_with(a.tree, &dir, Some(&known));
        let wanted = format!("arn:aws:iam::{account}:policy/eventflow-{env}-boundary");
        for inst in &instances {
            for r in inst.resources_of("aws_iam_role") {
                for (key, v) in &r.instances {
                    let boundary = crate::eval::field(v, &["permissions_boundary"])
                        .and_then(hcl::Value::as_str)
                        .unwrap_or("");
                    if boundary != wanted {
                        findings.push(Finding::new(
                    &r.file,
                    format!("{}: the role has no permissions boundary (or another one): set permissions_boundary = var.permissions_boundary_arn, the environment's eventflow-{env}-boundary", super::at(inst, r, key)),
                ));
                    }
                }
            }
        }
    }
    findings
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::testing::*;

    #[test]
    fn no_environment_can_touch_another_and_no_role_escapes_its_boundary() {
        assert_clean(check(repository()));
    }

    #[test]
    fn the_proof_covers_every_kind_of_production_resource() {
        let targets = targets(repository(), "environments/production", "production", "1");
        for what in [
            "secret eventflow/production/database_url",
            "secret eventflow/production/test_listener_key",
            "cluster eventflow-production",
            "service backend-blue",
            "task family eventflow-production-backend",
            "task family eventflow-production-backend-template",
            "load balancer eventflow-production",
            "a listener of eventflow-production",
            "target group eventflow-prod-backend-green",
            "database eventflow-production",
            "role eventflow-production-github-deploy",
            "the key of alias/eventflow-production",
            "the VPC",
            "the state",
            "a ledger entry",
            "the deploy-state table",
        ] {
            assert!(
                targets.iter().any(|t| t.what == what),
                "{what} missing from {:?}",
                targets.iter().map(|t| &t.what).collect::<Vec<_>>()
            );
        }
    }

    #[test]
    fn production_may_read_stagings_ledger_and_nothing_else_of_staging() {
        let tree = crate::repository_tree();
        let deploy = policy::render(tree, Role::Deploy, "production", "111111111111").unwrap();
        let boundary = policy::render(tree, Role::Boundary, "production", "111111111111").unwrap();
        let ledger =
            "arn:aws:dynamodb:eu-central-1:111111111111:table/eventflow-staging-deploy-state";
        let none = Context::new();
        let decide = |action| {
            access::decide_bounded(
                &deploy.policy,
                Some(&boundary.policy),
                action,
                ledger,
                &none,
            )
        };
        assert!(decide("dynamodb:Query").is_allowed());
        assert!(!decide("dynamodb:PutItem").is_allowed());
        assert!(!decide("dynamodb:DeleteItem").is_allowed());
        // Staging may not even read production's.
        let staging = policy::render(tree, Role::Deploy, "staging", "111111111111").unwrap();
        let production_ledger = ledger.replace("-staging-", "-production-");
        assert!(matches!(
            access::decide(&staging.policy, "dynamodb:Query", &production_ledger, &none),
            Decision::Denied(_)
        ));
    }

    /// The repository's sources with `edit` applied to the file at `path`.
    fn planted(path: &str, edit: impl Fn(&str) -> String) -> Analysis<'static> {
        planted_all(&[(path, &edit)])
    }

    /// A change to one file's text.
    type Edit<'e> = (&'e str, &'e dyn Fn(&str) -> String);

    /// The repository's sources with each edit applied to its file.
    fn planted_all(edits: &[Edit<'_>]) -> Analysis<'static> {
        let mut sources = crate::model::read_sources(&crate::infrastructure_dir()).unwrap();
        for (path, edit) in edits {
            let file = sources.iter_mut().find(|(p, _)| p == path).expect(path);
            let edited = edit(&file.1);
            assert_ne!(edited, file.1, "the plant changed nothing in {path}");
            file.1 = edited;
        }
        let borrowed: Vec<(&str, &str)> = sources
            .iter()
            .map(|(p, t)| (p.as_str(), t.as_str()))
            .collect();
        snippet(&borrowed)
    }

    #[test]
    fn a_policy_letting_staging_read_productions_secrets_is_caught() {
        // Drop the secrets from the Deny list: the Terraform role's secretsmanager:* reaches them.
        let a = planted("modules/isolation/main.tf", |text| {
            text.replace(
                "    \"arn:${local.p}:secretsmanager:*:*:secret:eventflow/${other.name}/*\",\n",
                "",
            )
        });
        assert_finds(
            &check(&a),
            "policies/terraform.json.tftpl",
            &[
                "staging's Terraform role may `secretsmanager:GetSecretValue` on production's secret eventflow/production/database_url",
            ],
        );
    }

    #[test]
    fn a_deploy_policy_writing_any_ledger_is_caught() {
        // Every ledger in the deploy policy, and neither the policy nor the boundary denying it.
        let deploy = |text: &str| {
            text.replace(
                "Resource = \"arn:${partition}:dynamodb:${region}:${account_id}:table/${replace(trimprefix(ledger_prefix, \"/\"), \"/\", \"-\")}-deploy-state\"",
                "Resource = \"arn:${partition}:dynamodb:*:*:table/eventflow-*-deploy-state\"",
            )
            .replace("    isolation_statements,\n", "    [],\n")
        };
        let boundary = |text: &str| text.replace("  isolation_statements)", "  [])");
        let a = planted_all(&[
            ("policies/deploy.json.tftpl", &deploy),
            ("policies/boundary.json.tftpl", &boundary),
        ]);
        let findings = check(&a);
        assert_finds(
            &findings,
            crate::checks::iam::DEPLOY_POLICY_TEMPLATE,
            &[
                "staging's deploy role may `dynamodb:PutItem` on production's the deploy-state table",
            ],
        );
    }

    #[test]
    fn iam_writes_without_the_boundary_are_caught() {
        let a = planted("policies/terraform.json.tftpl", |text| {
            text.replace(
                "      Condition = { StringEquals = { \"iam:PermissionsBoundary\" = boundary_policy_arn } }\n",
                "",
            )
        });
        let findings = check(&a);
        assert_finds(
            &findings,
            "policies/terraform.json.tftpl",
            &[
                "staging's Terraform role may `iam:CreateRole`",
                "without the permissions boundary",
            ],
        );
    }

    #[test]
    fn a_role_without_the_boundary_is_caught() {
        let a = planted("modules/vpc/main.tf", |text| {
            text.replace(
                "  permissions_boundary = var.permissions_boundary_arn\n",
                "",
            )
        });
        assert_finds(
            &bounded_roles(&a),
            "modules/vpc/main.tf",
            &["aws_iam_role.flow_logs", "no permissions boundary"],
        );
    }
}
