//! The roles' effective policies, rendered from the Terraform that creates them: the module's
//! `templatefile()` call over `infrastructure/policies/*.json.tftpl`, evaluated with the
//! environment's variables and a given account, exactly as Terraform would render it. This is
//! what `cargo xtask infra policy <deploy|terraform> <env>` prints and what the deploy tests give
//! the emulator's deploy role.

use std::fmt;

use hcl::Value;

use crate::eval::{self, Known, UNKNOWN, field};
use crate::{Tree, calls};

/// A role whose policy the repository defines.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// The deploy role (modules/github-oidc), one per environment.
    Deploy,
    /// The Terraform role (modules/terraform-role), one per environment, created by `global`.
    Terraform,
    /// The permissions boundary of every role an environment creates (modules/terraform-role).
    Boundary,
    /// The read-only role of the pull requests' plans (modules/plan-role), created by `global`.
    Plan,
}

impl Role {
    pub fn parse(name: &str) -> Result<Role, String> {
        match name {
            "deploy" => Ok(Role::Deploy),
            "terraform" => Ok(Role::Terraform),
            "boundary" => Ok(Role::Boundary),
            "plan" => Ok(Role::Plan),
            other => Err(format!(
                "unknown role `{other}`: use `deploy`, `terraform`, `boundary` or `plan`"
            )),
        }
    }

    /// The module that creates the role, and the policy resource in it (type, name).
    fn module(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Role::Deploy => ("modules/github-oidc", "aws_iam_role_policy", "deploy"),
            Role::Terraform => ("modules/terraform-role", "aws_iam_role_policy", "terraform"),
            Role::Boundary => ("modules/terraform-role", "aws_iam_policy", "boundary"),
            Role::Plan => ("modules/plan-role", "aws_iam_role_policy", "plan"),
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Deploy => "deploy",
            Role::Terraform => "terraform",
            Role::Boundary => "boundary",
            Role::Plan => "plan",
        })
    }
}

/// A rendered policy; `unknown` lists the JSON paths whose values only exist after apply (the
/// Terraform role's state key ARN), empty when the whole policy is known.
#[derive(Clone, Debug)]
pub struct Rendered {
    pub policy: serde_json::Value,
    pub unknown: Vec<String>,
}

/// The account id in `environments/<env>/terraform.tfvars` (`aws_account_id`).
pub fn tfvars_account(tree: &Tree, environment: &str) -> Option<String> {
    let module = tree.module(&format!("environments/{environment}"))?;
    let tfvars = module.tfvars.as_ref()?;
    tfvars
        .body
        .attributes()
        .find(|a| a.key() == "aws_account_id")
        .and_then(|a| match a.expr() {
            hcl::Expression::String(s) => Some(s.clone()),
            _ => None,
        })
}

/// The policy `role` has in `environment` when applied to `account_id`.
pub fn render(
    tree: &Tree,
    role: Role,
    environment: &str,
    account_id: &str,
) -> Result<Rendered, String> {
    if account_id.len() != 12 || !account_id.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "`{account_id}` is not an AWS account id: give the 12 digits, e.g. --account 123456789012"
        ));
    }
    let envs: Vec<String> = tree
        .environments()
        .filter_map(|m| m.dir.strip_prefix("environments/").map(str::to_owned))
        .collect();
    if !envs.iter().any(|e| e == environment) {
        return Err(format!(
            "no environment `{environment}` in infrastructure/environments: use one of {}",
            envs.join(", ")
        ));
    }
    let known = Known {
        account_id: account_id.to_owned(),
    };
    let (module_dir, policy_type, policy_name) = role.module();
    let (root, path) = match role {
        Role::Deploy => (format!("environments/{environment}"), None),
        Role::Terraform | Role::Boundary => (
            "global".to_owned(),
            Some(format!("module.terraform_role[\"{environment}\"]")),
        ),
        Role::Plan => (
            "global".to_owned(),
            Some(format!("module.plan_role[\"{environment}\"]")),
        ),
    };
    let instances = eval::evaluate_root_with(tree, &root, Some(&known));
    let policies: Vec<&Value> = instances
        .iter()
        .filter(|i| i.dir == module_dir && path.as_ref().is_none_or(|p| &i.path == p))
        .flat_map(|i| i.resources_of(policy_type))
        .filter(|r| r.name == policy_name)
        .flat_map(|r| r.instances.iter().map(|(_, v)| v))
        .collect();
    let [doc] = policies.as_slice() else {
        return Err(format!(
            "infrastructure/{root}: expected one {module_dir} {policy_type}.{policy_name} for {environment}, found {}: call the module once",
            policies.len()
        ));
    };
    let text = field(doc, &["policy"])
        .and_then(Value::as_str)
        .filter(|t| !t.starts_with(UNKNOWN))
        .ok_or_else(|| {
            format!(
                "infrastructure/{module_dir}: {policy_type}.{policy_name}'s policy does not render: set it to templatefile(\"${{path.module}}/../../policies/{role}.json.tftpl\", {{…}})"
            )
        })?;
    let policy: serde_json::Value = serde_json::from_str(text).map_err(|e| {
        format!("infrastructure/policies/{role}.json.tftpl: renders to invalid JSON ({e}): fix the template")
    })?;
    let mut unknown = Vec::new();
    unknown_paths(&policy, String::new(), &mut unknown);
    Ok(Rendered { policy, unknown })
}

/// `environment`'s names as Terraform declares them in `account_id` (the ECS module's outputs:
/// cluster, services, task families, the roles its task definitions pass) and as its
/// `deploy.json` gives them to the engine (repositories, ledger, load balancer, strategy): from
/// these follow the exact ARNs of every call the engine makes there.
pub fn target(tree: &Tree, environment: &str, account_id: &str) -> Result<calls::Target, String> {
    let root = format!("environments/{environment}");
    let (_, deploy) = tree
        .module(&root)
        .and_then(|m| m.deploy_json.clone())
        .ok_or_else(|| {
            format!("infrastructure/{root} has no deploy.json: add the engine's configuration")
        })?;
    let known = Known {
        account_id: account_id.to_owned(),
    };
    let instances = eval::evaluate_root_with(tree, &root, Some(&known));
    let ecs = instances
        .iter()
        .find(|i| i.dir == "modules/ecs")
        .ok_or_else(|| format!("infrastructure/{root} calls no modules/ecs"))?;
    let strings = |name: &str| -> Result<Vec<String>, String> {
        let value = ecs
            .outputs
            .get(name)
            .ok_or_else(|| format!("modules/ecs has no output `{name}`"))?;
        let items: Vec<&Value> = match value {
            Value::Array(items) => items.iter().collect(),
            Value::Object(map) => map.values().collect(),
            single => vec![single],
        };
        items
            .into_iter()
            .map(|v| match v {
                Value::String(s) if !s.starts_with(UNKNOWN) => Ok(s.clone()),
                other => Err(format!(
                    "modules/ecs output `{name}` holds {other:?}, known only after apply"
                )),
            })
            .collect()
    };
    let cluster = strings("cluster_name")?;
    let text = |key: &str| deploy[key].as_str().map(str::to_owned);
    let apps = deploy["apps"].as_object().cloned().unwrap_or_default();
    let mut repositories: Vec<String> = apps
        .values()
        .filter_map(|a| a["ecr_repository"].as_str().map(str::to_owned))
        .collect();
    repositories.dedup();
    Ok(calls::Target {
        strategy: if text("strategy").as_deref() == Some("blue_green") {
            calls::Strategy::BlueGreen
        } else {
            calls::Strategy::Rolling
        },
        partition: "aws".to_owned(),
        region: text("region").unwrap_or_else(|| "eu-central-1".to_owned()),
        account_id: account_id.to_owned(),
        cluster: cluster.into_iter().next().unwrap_or_default(),
        services: strings("service_names")?,
        task_families: strings("task_families")?,
        task_roles: strings("pass_role_names")?,
        repositories,
        ledger_prefix: text("ledger_prefix")
            .ok_or_else(|| format!("infrastructure/{root}/deploy.json sets no ledger_prefix"))?,
        load_balancer: text("load_balancer"),
    })
}

/// Every (call, IAM action, ARN) the engine makes in `environment`, as JSON:
/// `[{"call": "UpdateService", "action": "ecs:UpdateService", "resource": "arn:…", "kind": "Service"}, …]`.
/// This is what `infra-policy --calls <env>` prints and what `iam_eval.py` evaluates.
pub fn requests_json(target: &calls::Target) -> serde_json::Value {
    let mut out = Vec::new();
    for call in calls::Call::ALL {
        for permission in call.permissions() {
            for &resource in permission.resources {
                if !call.made_by(target.strategy, resource) {
                    continue;
                }
                for arn in target.arns(resource) {
                    out.push(serde_json::json!({
                        "call": format!("{call:?}"),
                        "action": permission.action,
                        "resource": arn,
                        "kind": format!("{resource:?}"),
                        "context": request_context(permission.action, target),
                    }));
                }
            }
        }
    }
    serde_json::Value::Array(out)
}

/// The condition keys AWS sets on the engine's request for `action`, so that an evaluator that
/// checks conditions (moto's does) sees what AWS would: ECS tags a new revision as part of
/// RegisterTaskDefinition, the roles it names are passed to ECS tasks, and ListTasks names the
/// cluster it lists.
fn request_context(action: &str, target: &calls::Target) -> serde_json::Value {
    match action {
        "ecs:TagResource" => serde_json::json!({"ecs:CreateAction": "RegisterTaskDefinition"}),
        "iam:PassRole" => serde_json::json!({"iam:PassedToService": "ecs-tasks.amazonaws.com"}),
        "ecs:ListTasks" => serde_json::json!({"ecs:cluster": target.cluster_arn()}),
        _ => serde_json::json!({}),
    }
}

fn unknown_paths(v: &serde_json::Value, at: String, out: &mut Vec<String>) {
    match v {
        serde_json::Value::String(s) if s.contains(UNKNOWN) => out.push(at),
        serde_json::Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                unknown_paths(item, format!("{at}[{i}]"), out);
            }
        }
        serde_json::Value::Object(map) => {
            for (k, item) in map {
                let at = if at.is_empty() {
                    k.clone()
                } else {
                    format!("{at}.{k}")
                };
                unknown_paths(item, at, out);
            }
        }
        _ => {}
    }
}

/// A policy's statements as (effect, actions, resources), each possibly a single string in
/// the JSON.
pub fn statements(policy: &serde_json::Value) -> Vec<(String, Vec<String>, Vec<String>)> {
    let list = |v: Option<&serde_json::Value>| -> Vec<String> {
        match v {
            Some(serde_json::Value::String(s)) => vec![s.clone()],
            Some(serde_json::Value::Array(items)) => items
                .iter()
                .filter_map(|i| i.as_str().map(str::to_owned))
                .collect(),
            _ => Vec::new(),
        }
    };
    policy["Statement"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| {
            (
                s["Effect"].as_str().unwrap_or("Allow").to_owned(),
                list(s.get("Action")),
                list(s.get("Resource")),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::repository_tree;

    const ACCOUNT: &str = "123456789012";

    #[test]
    fn the_deploy_policy_renders_completely_for_each_environment() {
        for env in ["staging", "production"] {
            let rendered = render(repository_tree(), Role::Deploy, env, ACCOUNT).unwrap();
            assert!(rendered.unknown.is_empty(), "{env}: {:?}", rendered.unknown);
            let text = rendered.policy.to_string();
            assert!(
                text.contains(&format!(
                    "arn:aws:ecs:eu-central-1:{ACCOUNT}:service/eventflow-{env}/"
                )),
                "{text}"
            );
            assert!(
                text.contains(&format!(
                    "arn:aws:iam::{ACCOUNT}:role/eventflow-{env}-backend-task"
                )),
                "{text}"
            );
        }
        let staging = render(repository_tree(), Role::Deploy, "staging", ACCOUNT).unwrap();
        assert!(!staging.policy.to_string().contains("ModifyListener"));
    }

    #[test]
    fn the_terraform_policy_renders_with_the_state_key_known_only_after_apply() {
        let rendered = render(repository_tree(), Role::Terraform, "production", ACCOUNT).unwrap();
        assert_eq!(rendered.unknown, ["Statement[2].Resource"]);
        let text = rendered.policy.to_string();
        assert!(
            text.contains("arn:aws:s3:::eventflow-terraform-state-eu-central-1/production/*"),
            "{text}"
        );
        assert!(
            text.contains(&format!(
                "arn:aws:iam::{ACCOUNT}:role/eventflow-production-*"
            )),
            "{text}"
        );
    }

    /// IAM's quotas, counted without whitespace: a role's inline policies together 10,240
    /// characters, a managed policy (the boundary) 6,144.
    #[test]
    fn every_policy_fits_iams_size_limits() {
        for env in ["staging", "production"] {
            for (role, limit) in [
                (Role::Deploy, 10_240),
                (Role::Terraform, 10_240),
                (Role::Plan, 10_240),
                (Role::Boundary, 6_144),
            ] {
                let rendered = render(repository_tree(), role, env, ACCOUNT).unwrap();
                let size = serde_json::to_string(&rendered.policy).unwrap().len();
                assert!(
                    size <= limit,
                    "{role} {env}: {size} characters, over IAM's {limit}"
                );
            }
        }
    }

    #[test]
    fn bad_arguments_name_the_fix() {
        let err = render(repository_tree(), Role::Deploy, "qa", ACCOUNT).unwrap_err();
        assert!(err.contains("use one of production, staging"), "{err}");
        let err = render(repository_tree(), Role::Deploy, "staging", "12").unwrap_err();
        assert!(err.contains("--account 123456789012"), "{err}");
        assert!(
            Role::parse("admin")
                .unwrap_err()
                .contains("use `deploy`, `terraform`, `boundary` or `plan`")
        );
    }

    #[test]
    fn the_account_comes_from_the_tfvars_unless_given() {
        assert_eq!(
            tfvars_account(repository_tree(), "staging").as_deref(),
            Some("111111111111")
        );
    }
}
