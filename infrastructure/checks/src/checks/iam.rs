//! The GitHub Actions roles: assumed only through GitHub's OIDC tokens, only from this
//! repository's named GitHub environments; and the deploy role may do exactly what the deploy
//! engine calls, as its own list says (`xtask/deploy/src/aws/calls.rs`): every action the
//! engine needs granted, every action named, none a wildcard, none it doesn't call.

use std::collections::BTreeSet;

use hcl::Value;

use super::{Analysis, at, known_str};
use crate::calls::{self, Call, Strategy};
use crate::eval::{Instance, field};
use crate::model::Finding;
use crate::policy;

/// The deploy role's module.
pub const DEPLOY_ROLE_MODULE: &str = "modules/github-oidc";
pub const TOKEN_ISSUER: &str = "token.actions.githubusercontent.com";

/// Where the deploy role's permissions are written.
pub const DEPLOY_POLICY_TEMPLATE: &str = "policies/deploy.json.tftpl";

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

/// How the environment at `root` deploys, from its `deploy.json` (rolling without one).
fn strategy(a: &Analysis<'_>, root: &str) -> Strategy {
    let blue_green = a
        .tree
        .module(root)
        .and_then(|m| m.deploy_json.as_ref())
        .is_some_and(|(_, json)| json["strategy"] == "blue_green");
    if blue_green {
        Strategy::BlueGreen
    } else {
        Strategy::Rolling
    }
}

/// The actions the engine needs in an environment of `strategy`, each with the first call that
/// needs it.
pub fn required_actions(strategy: Strategy) -> Vec<(&'static str, Call)> {
    let mut out: Vec<(&'static str, Call)> = Vec::new();
    for call in Call::ALL {
        for permission in call.permissions() {
            let made = permission
                .resources
                .iter()
                .any(|r| call.made_by(strategy, *r));
            if made && !out.iter().any(|(a, _)| *a == permission.action) {
                out.push((permission.action, call));
            }
        }
    }
    out
}

/// The deploy role's permissions, as its policy renders from [`DEPLOY_POLICY_TEMPLATE`]: every
/// action the engine calls in the environment granted; only actions the engine calls, named,
/// never a wildcard or `NotAction`; iam:PassRole never on every role; no policy written in HCL
/// instead of the template, no managed policy.
pub fn deploy_permissions(a: &Analysis<'_>) -> Vec<Finding> {
    let mut findings = Vec::new();
    let engine_actions = calls::all_actions();
    let deploy_modules: Vec<&Instance> = a
        .instances()
        .filter(|i| i.dir == DEPLOY_ROLE_MODULE)
        .collect();
    for inst in deploy_modules {
        for r in inst.data_of("aws_iam_policy_document") {
            for (key, doc) in &r.instances {
                if !is_github_trust(doc) {
                    findings.push(Finding::new(
                        &r.file,
                        format!("{}: the deploy permissions are written in HCL: move them to {DEPLOY_POLICY_TEMPLATE}, which `cargo xtask infra policy` and the checks render too", at(inst, r, key)),
                    ));
                }
            }
        }
        let env = inst.root.rsplit('/').next().unwrap_or("");
        let mut rendered = 0;
        for r in inst.resources_of("aws_iam_role_policy") {
            for (key, value) in &r.instances {
                let here = at(inst, r, key);
                let Some(policy) = field(value, &["policy"])
                    .and_then(Value::as_str)
                    .and_then(|t| serde_json::from_str::<serde_json::Value>(t).ok())
                else {
                    findings.push(Finding::new(
                        &r.file,
                        format!("{here}: the policy does not render from {DEPLOY_POLICY_TEMPLATE}: set it to templatefile(\"${{path.module}}/../../{DEPLOY_POLICY_TEMPLATE}\", {{…}})"),
                    ));
                    continue;
                };
                rendered += 1;
                let statements = policy["Statement"].as_array().cloned().unwrap_or_default();
                let mut granted: BTreeSet<String> = BTreeSet::new();
                for (s, (effect, actions, resources)) in
                    statements.iter().zip(policy::statements(&policy))
                {
                    let sid = s["Sid"].as_str().unwrap_or("(no Sid)");
                    if s.get("NotAction").is_some() && effect == "Allow" {
                        findings.push(Finding::new(DEPLOY_POLICY_TEMPLATE, format!("{here} statement {sid}: NotAction grants everything else: list the actions instead")));
                    }
                    if effect != "Allow" {
                        continue;
                    }
                    for action in &actions {
                        if action.contains('*') {
                            findings.push(Finding::new(
                                DEPLOY_POLICY_TEMPLATE,
                                format!("{here} statement {sid}: action `{action}` is a wildcard: name each action the deploy calls"),
                            ));
                        } else if !engine_actions.contains(&action.as_str()) {
                            findings.push(Finding::new(
                                DEPLOY_POLICY_TEMPLATE,
                                format!("{here} statement {sid}: `{action}` is not something the deploy engine calls: remove it, or add the call that needs it to xtask/deploy/src/aws/calls.rs"),
                            ));
                        }
                        granted.insert(action.clone());
                    }
                    if actions.iter().any(|a| a == "iam:PassRole")
                        && resources.iter().any(|r| r == "*")
                    {
                        findings.push(Finding::new(DEPLOY_POLICY_TEMPLATE, format!("{here} statement {sid}: iam:PassRole on every role: name the task and execution roles")));
                    }
                }
                for (action, call) in required_actions(strategy(a, &inst.root)) {
                    if !granted.contains(action) {
                        findings.push(Finding::new(
                            DEPLOY_POLICY_TEMPLATE,
                            format!("{here}: the deploy engine calls `{action}` ({call:?}: {}), which {env}'s deploy role lacks: grant it in {DEPLOY_POLICY_TEMPLATE}", call.used_by()),
                        ));
                    }
                }
            }
        }
        if rendered == 0 && inst.resources_of("aws_iam_role_policy").next().is_none() {
            findings.push(Finding::new(
                format!("{DEPLOY_ROLE_MODULE}/main.tf"),
                format!("{}: the deploy role has no inline policy: add aws_iam_role_policy with the policy rendered from {DEPLOY_POLICY_TEMPLATE}", inst.describe()),
            ));
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

    /// The actions of the deploy policy of `env`, rendered as Terraform would.
    fn granted(env: &str) -> BTreeSet<String> {
        let rendered = policy::render(
            crate::repository_tree(),
            policy::Role::Deploy,
            env,
            "123456789012",
        )
        .unwrap();
        policy::statements(&rendered.policy)
            .into_iter()
            .flat_map(|(_, actions, _)| actions)
            .collect()
    }

    #[test]
    fn production_may_shift_traffic_and_staging_may_not() {
        assert!(granted("production").contains("elasticloadbalancing:ModifyListener"));
        assert!(!granted("staging").contains("elasticloadbalancing:ModifyListener"));
        assert!(granted("staging").contains("ecs:UpdateService"));
    }

    #[test]
    fn the_push_calls_the_review_found_missing_are_granted() {
        for env in ["staging", "production"] {
            for action in ["ecr:DescribeRepositories", "ecr:ListImages"] {
                assert!(granted(env).contains(action), "{env}: {action}");
            }
        }
    }

    #[test]
    fn an_action_the_engine_calls_missing_from_the_template_is_named() {
        let mut sources = crate::model::read_sources(&crate::infrastructure_dir()).unwrap();
        let template = sources
            .iter_mut()
            .find(|(p, _)| p == DEPLOY_POLICY_TEMPLATE)
            .expect("the deploy policy template");
        assert!(template.1.contains("\"ecr:ListImages\","));
        template.1 = template.1.replace("\"ecr:ListImages\",", "");
        let borrowed: Vec<(&str, &str)> = sources
            .iter()
            .map(|(p, t)| (p.as_str(), t.as_str()))
            .collect();
        let findings = deploy_permissions(&snippet(&borrowed));
        for env in ["staging", "production"] {
            assert_finds(
                &findings,
                DEPLOY_POLICY_TEMPLATE,
                &[
                    "the deploy engine calls `ecr:ListImages` (RepositoryTags: images push)",
                    &format!("which {env}'s deploy role lacks"),
                ],
            );
        }
        assert_eq!(findings.len(), 2, "{findings:?}");
    }

    /// The findings of the deploy permissions with `action` taken out of the template.
    fn without(action: &str) -> Vec<Finding> {
        let mut sources = crate::model::read_sources(&crate::infrastructure_dir()).unwrap();
        let template = sources
            .iter_mut()
            .find(|(p, _)| p == DEPLOY_POLICY_TEMPLATE)
            .expect("the deploy policy template");
        let quoted = format!("\"{action}\"");
        assert!(template.1.contains(&quoted), "{action}");
        template.1 = template
            .1
            .replace(&format!("{quoted},"), "")
            .replace(&quoted, "\"\"");
        let borrowed: Vec<(&str, &str)> = sources
            .iter()
            .map(|(p, t)| (p.as_str(), t.as_str()))
            .collect();
        deploy_permissions(&snippet(&borrowed))
    }

    #[test]
    fn the_wait_diagnosis_and_target_health_calls_are_required_where_they_are_made() {
        // Every wait reads the stopped tasks: both environments.
        let findings = without("ecs:DescribeTasks");
        for env in ["staging", "production"] {
            assert_finds(
                &findings,
                DEPLOY_POLICY_TEMPLATE,
                &[
                    "the deploy engine calls `ecs:DescribeTasks` (StoppedTasks",
                    &format!("which {env}'s deploy role lacks"),
                ],
            );
        }
        // Only blue/green shifts traffic behind target groups.
        let findings = without("elasticloadbalancing:DescribeTargetHealth");
        assert_finds(
            &findings,
            DEPLOY_POLICY_TEMPLATE,
            &[
                "the deploy engine calls `elasticloadbalancing:DescribeTargetHealth`",
                "which production's deploy role lacks",
            ],
        );
        assert!(
            !findings.iter().any(|f| f.message.contains("staging's")),
            "{findings:?}"
        );
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
                resource "aws_iam_role_policy" "deploy" {
                  policy = templatefile("${path.module}/../../policies/deploy.json.tftpl", {})
                }
                "#,
            ),
            (
                "policies/deploy.json.tftpl",
                r#"${jsonencode({
                  Statement = [
                    { Effect = "Allow", Action = ["ecs:*", "ecs:UpdateService"], Resource = "*" },
                    { Effect = "Allow", Action = ["iam:PassRole", "s3:GetObject"], Resource = "*" },
                  ]
                })}"#,
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
        let template = DEPLOY_POLICY_TEMPLATE;
        assert_finds(&findings, template, &["action `ecs:*` is a wildcard"]);
        assert_finds(
            &findings,
            template,
            &["`s3:GetObject` is not something the deploy engine calls"],
        );
        assert_finds(&findings, template, &["iam:PassRole on every role"]);
        assert_finds(
            &findings,
            template,
            &["the deploy engine calls `ecr:ListImages`"],
        );
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
