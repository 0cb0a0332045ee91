//! The GitHub Actions roles: assumed only through GitHub's OIDC tokens, only from this
//! repository's named GitHub environments; and the deploy role may do exactly what the deploy,
//! rollback, promotion and image push call: every action named, none a wildcard.

use std::collections::BTreeSet;

use hcl::Value;

use super::{Analysis, at, known_str};
use crate::eval::{Instance, field};
use crate::model::Finding;

/// The deploy role's module.
pub const DEPLOY_ROLE_MODULE: &str = "modules/github-oidc";
pub const TOKEN_ISSUER: &str = "token.actions.githubusercontent.com";

/// Everything the deploy role may do, and why.
pub const DEPLOY_ACTIONS: [&str; 30] = [
    // deploy and rollback: read the service, copy its task definition, register, update
    "ecs:DescribeClusters",
    "ecs:DescribeServices",
    "ecs:DescribeTaskDefinition",
    "ecs:ListTaskDefinitions",
    "ecs:RegisterTaskDefinition",
    "ecs:DeregisterTaskDefinition",
    "ecs:TagResource",
    "ecs:UpdateService",
    "iam:PassRole",
    // image push, promotion (BatchGetImage + PutImage) and lookups
    "ecr:GetAuthorizationToken",
    "ecr:BatchCheckLayerAvailability",
    "ecr:BatchGetImage",
    "ecr:CompleteLayerUpload",
    "ecr:DescribeImages",
    "ecr:GetDownloadUrlForLayer",
    "ecr:InitiateLayerUpload",
    "ecr:PutImage",
    "ecr:UploadLayerPart",
    // the release ledger and the deploy lock
    "ssm:DeleteParameter",
    "ssm:GetParameter",
    "ssm:GetParametersByPath",
    "ssm:PutParameter",
    // the blue/green metric watch and traffic shift
    "cloudwatch:GetMetricData",
    "elasticloadbalancing:DescribeListeners",
    "elasticloadbalancing:DescribeLoadBalancers",
    "elasticloadbalancing:DescribeRules",
    "elasticloadbalancing:DescribeTargetGroups",
    "elasticloadbalancing:DescribeTargetHealth",
    "elasticloadbalancing:ModifyListener",
    "elasticloadbalancing:ModifyRule",
];

pub fn check(a: &Analysis<'_>) -> Vec<Finding> {
    let mut findings = trust(a);
    findings.extend(deploy_permissions(a));
    findings
}

fn statements(doc: &Value) -> Vec<&Value> {
    field(doc, &["statement"])
        .and_then(Value::as_array)
        .map(|s| s.iter().collect())
        .unwrap_or_default()
}

fn strings<'a>(v: &'a Value, key: &str) -> Vec<&'a str> {
    match field(v, &[key]) {
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
        Some(Value::String(s)) => vec![s.as_str()],
        _ => Vec::new(),
    }
}

fn is_github_trust(doc: &Value) -> bool {
    statements(doc).iter().any(|s| {
        field(s, &["condition"])
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .any(|c| known_str(c, &["variable"]).is_some_and(|v| v.starts_with(TOKEN_ISSUER)))
    })
}

/// Every policy that trusts GitHub's tokens pins the audience and the exact subjects: this
/// repository, named environments, no wildcards. Each environment has a deploy role trusting
/// its own GitHub environment.
pub fn trust(a: &Analysis<'_>) -> Vec<Finding> {
    let mut findings = Vec::new();
    let mut trusted_envs: BTreeSet<(String, String)> = BTreeSet::new();
    for (inst, r, key, doc) in a.instances().flat_map(|inst| {
        inst.data_of("aws_iam_policy_document")
            .flat_map(move |r| r.instances.iter().map(move |(k, v)| (inst, r, k, v)))
    }) {
        if !is_github_trust(doc) {
            continue;
        }
        let here = at(inst, r, key);
        for s in statements(doc) {
            let actions = strings(s, "actions");
            if actions != ["sts:AssumeRoleWithWebIdentity"] {
                findings.push(Finding::new(&r.file, format!("{here}: the GitHub trust statement allows {actions:?}: allow sts:AssumeRoleWithWebIdentity only")));
            }
            let conditions: Vec<&Value> = field(s, &["condition"])
                .and_then(Value::as_array)
                .map(|c| c.iter().collect())
                .unwrap_or_default();
            let find = |name: &str| {
                conditions
                    .iter()
                    .find(|c| known_str(c, &["variable"]) == Some(name))
                    .copied()
            };
            match find(&format!("{TOKEN_ISSUER}:aud")) {
                Some(c) if known_str(c, &["test"]) == Some("StringEquals") && strings(c, "values") == ["sts.amazonaws.com"] => {}
                _ => findings.push(Finding::new(
                    &r.file,
                    format!("{here}: no `StringEquals {TOKEN_ISSUER}:aud = sts.amazonaws.com` condition: add it, so tokens minted for other audiences are refused"),
                )),
            }
            let Some(sub) = find(&format!("{TOKEN_ISSUER}:sub")) else {
                findings.push(Finding::new(
                    &r.file,
                    format!("{here}: no condition on {TOKEN_ISSUER}:sub: without it any GitHub repository could assume the role; add StringEquals with repo:OWNER/NAME:environment:ENV"),
                ));
                continue;
            };
            if known_str(sub, &["test"]) != Some("StringEquals") {
                findings.push(Finding::new(
                    &r.file,
                    format!("{here}: the sub condition's test is {}: use StringEquals, so no pattern can match more than the named environments", known_str(sub, &["test"]).unwrap_or("unknown")),
                ));
            }
            let values = strings(sub, "values");
            if values.is_empty() {
                findings.push(Finding::new(&r.file, format!("{here}: the sub condition names no subject: list repo:OWNER/NAME:environment:ENV")));
            }
            for value in values {
                let parts: Vec<&str> = value.split(':').collect();
                let well_formed = parts.len() == 4
                    && parts[0] == "repo"
                    && parts[1].split('/').count() == 2
                    && parts[2] == "environment"
                    && !parts[3].is_empty();
                if !well_formed || value.contains(['*', '?']) {
                    findings.push(Finding::new(
                        &r.file,
                        format!("{here}: subject `{value}` is not one repository's one environment: use repo:OWNER/NAME:environment:ENV, without wildcards"),
                    ));
                } else if inst.dir == DEPLOY_ROLE_MODULE {
                    trusted_envs.insert((inst.root.clone(), parts[3].to_owned()));
                }
            }
        }
    }
    for env in a.tree.environments() {
        let name = env.dir.rsplit('/').next().unwrap_or("");
        if !trusted_envs.contains(&(env.dir.clone(), name.to_owned())) {
            findings.push(Finding::new(
                format!("{}/main.tf", env.dir),
                format!("no deploy role ({DEPLOY_ROLE_MODULE}) trusts the GitHub environment `{name}`: call the module with github_environments = [\"{name}\"]"),
            ));
        }
    }
    findings
}

/// The deploy role's permissions: named actions from [`DEPLOY_ACTIONS`] only, no wildcard, no
/// `not_actions`, no managed policy; iam:PassRole never on every role.
pub fn deploy_permissions(a: &Analysis<'_>) -> Vec<Finding> {
    let mut findings = Vec::new();
    let deploy_modules: Vec<&Instance> = a
        .instances()
        .filter(|i| i.dir == DEPLOY_ROLE_MODULE)
        .collect();
    for inst in deploy_modules {
        for r in inst.data_of("aws_iam_policy_document") {
            for (key, doc) in &r.instances {
                if is_github_trust(doc) {
                    continue;
                }
                let here = at(inst, r, key);
                for s in statements(doc) {
                    let sid = known_str(s, &["sid"]).unwrap_or("(no sid)");
                    if field(s, &["not_actions"]).is_some() {
                        findings.push(Finding::new(&r.file, format!("{here} statement {sid}: not_actions grants everything else: list the actions instead")));
                    }
                    if known_str(s, &["effect"]).is_some_and(|e| e != "Allow") {
                        continue;
                    }
                    let actions = strings(s, "actions");
                    for action in &actions {
                        if action.contains('*') {
                            findings.push(Finding::new(
                                &r.file,
                                format!("{here} statement {sid}: action `{action}` is a wildcard: name each action the deploy calls"),
                            ));
                        } else if !DEPLOY_ACTIONS.contains(action) {
                            findings.push(Finding::new(
                                &r.file,
                                format!("{here} statement {sid}: `{action}` is not something the deploy calls: remove it, or add it to DEPLOY_ACTIONS in infrastructure/checks/src/checks/iam.rs with the reason"),
                            ));
                        }
                    }
                    if actions.contains(&"iam:PassRole") && strings(s, "resources").contains(&"*") {
                        findings.push(Finding::new(&r.file, format!("{here} statement {sid}: iam:PassRole on every role: name the task and execution roles")));
                    }
                }
            }
        }
        for r in inst.resources_of("aws_iam_role_policy_attachment") {
            findings.push(Finding::new(
                &r.file,
                format!("{} ({}): a managed policy on the deploy role grants what the deploy doesn't call: use the inline policy", r.address(&None), inst.describe()),
            ));
        }
    }
    findings
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::testing::*;

    #[test]
    fn the_github_roles_are_pinned_and_the_deploy_role_is_least_privilege() {
        assert_clean(check(repository()));
    }

    #[test]
    fn production_may_shift_traffic_and_staging_may_not() {
        let actions = |root: &str| -> BTreeSet<String> {
            repository()
                .instances()
                .filter(|i| i.root == root && i.dir == DEPLOY_ROLE_MODULE)
                .flat_map(|i| i.data_of("aws_iam_policy_document"))
                .flat_map(|r| r.instances.iter().map(|(_, v)| v))
                .flat_map(statements)
                .flat_map(|s| strings(s, "actions"))
                .map(str::to_owned)
                .collect()
        };
        assert!(actions("environments/production").contains("elasticloadbalancing:ModifyListener"));
        assert!(!actions("environments/staging").contains("elasticloadbalancing:ModifyListener"));
        assert!(actions("environments/staging").contains("ecs:UpdateService"));
    }

    #[test]
    fn wildcards_and_loose_trust_are_caught() {
        let a = snippet(&[
            (
                "modules/github-oidc/main.tf",
                r#"
                variable "repository" { type = string }
                data "aws_iam_policy_document" "trust" {
                  statement {
                    actions = ["sts:AssumeRoleWithWebIdentity"]
                    principals {
                      type        = "Federated"
                      identifiers = [aws_iam_openid_connect_provider.github.arn]
                    }
                    condition {
                      test     = "StringLike"
                      variable = "token.actions.githubusercontent.com:sub"
                      values   = ["repo:${var.repository}:*"]
                    }
                  }
                }
                data "aws_iam_policy_document" "deploy" {
                  statement {
                    actions   = ["ecs:*", "ecs:UpdateService"]
                    resources = ["*"]
                  }
                  dynamic "statement" {
                    for_each = ["x"]
                    content {
                      actions   = ["iam:PassRole", "s3:GetObject"]
                      resources = ["*"]
                    }
                  }
                }
                "#,
            ),
            (
                "environments/staging/main.tf",
                r#"module "github_deploy_role" {
                     source     = "../../modules/github-oidc"
                     repository = "example-org/eventflow"
                   }"#,
            ),
        ]);
        let findings = check(&a);
        let file = "modules/github-oidc/main.tf";
        assert_finds(&findings, file, &["action `ecs:*` is a wildcard"]);
        assert_finds(
            &findings,
            file,
            &["`s3:GetObject` is not something the deploy calls"],
        );
        assert_finds(&findings, file, &["iam:PassRole on every role"]);
        assert_finds(
            &findings,
            file,
            &["no `StringEquals token.actions.githubusercontent.com:aud"],
        );
        assert_finds(&findings, file, &["test is StringLike"]);
        assert_finds(
            &findings,
            file,
            &["subject `repo:example-org/eventflow:*` is not one repository's one environment"],
        );
        assert_finds(
            &findings,
            "environments/staging/main.tf",
            &["no deploy role", "github_environments = [\"staging\"]"],
        );
        assert!(
            !findings
                .iter()
                .any(|f| f.message.contains("`ecs:UpdateService`")),
            "{findings:?}"
        );
    }
}
