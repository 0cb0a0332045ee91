//! The way into the database stays narrow: production has no ECS Exec target unless someone
//! turned it on for an incident (`database_shell_enabled`), every cluster logs its exec
//! sessions to an encrypted log group, only the break-glass role may call `ecs:ExecuteCommand`,
//! and that role is assumed with MFA only.

use hcl::Value;

use super::{Analysis, at, bool_at, known_str};
use crate::access::{self, Context};
use crate::eval::field;
use crate::model::Finding;
use crate::policy::{self, Role};

pub const PRODUCTION: &str = "environments/production";
/// The only module whose policies may allow `ecs:ExecuteCommand`.
pub const BREAK_GLASS_MODULE: &str = "modules/break-glass";
/// How the database shell's task family ends (modules/ecs, database_shell.tf).
pub const SHELL_FAMILY_SUFFIX: &str = "-database-shell";

pub fn check(a: &Analysis<'_>) -> Vec<Finding> {
    let mut findings = production_off(a);
    findings.extend(sessions_logged(a));
    findings.extend(execute_command_grants(a));
    findings.extend(break_glass_needs_mfa(a));
    findings
}

/// Production's exec targets: the database shell task, a service with exec enabled.
fn production_off(a: &Analysis<'_>) -> Vec<Finding> {
    let inputs = format!("{PRODUCTION}/terraform.tfvars");
    let mut findings = Vec::new();
    for (inst, r, key, v) in a.resources("aws_ecs_task_definition") {
        let is_shell = known_str(v, &["family"]).is_some_and(|f| f.ends_with(SHELL_FAMILY_SUFFIX))
            || r.name == "database_shell";
        if inst.root == PRODUCTION && is_shell {
            findings.push(Finding::new(
                &inputs,
                format!("{}: production's database shell is on: set database_shell_enabled = false once the incident is over", at(inst, r, key)),
            ));
        }
    }
    for (inst, r, key, v) in a.resources("aws_ecs_service") {
        if inst.root == PRODUCTION && bool_at(v, &["enable_execute_command"]) == Some(true) {
            findings.push(Finding::new(
                &r.file,
                format!("{}: production's service allows ECS Exec: leave enable_execute_command off and use the database shell (docs/runbook.md#a-way-into-the-database)", at(inst, r, key)),
            ));
        }
    }
    findings
}

/// Every cluster logs its exec sessions (`logging = "OVERRIDE"`) to a named log group, encrypted,
/// and encrypts the sessions with a key.
fn sessions_logged(a: &Analysis<'_>) -> Vec<Finding> {
    let mut findings = Vec::new();
    for (inst, r, key, v) in a.resources("aws_ecs_cluster") {
        let here = at(inst, r, key);
        let exec = field(
            v,
            &["configuration", "0", "execute_command_configuration", "0"],
        );
        let Some(exec) = exec else {
            findings.push(Finding::new(&r.file, format!("{here}: no execute_command_configuration: add one with logging = \"OVERRIDE\" to an encrypted log group, so every exec session is recorded")));
            continue;
        };
        if known_str(exec, &["logging"]) != Some("OVERRIDE") {
            findings.push(Finding::new(&r.file, format!("{here}: exec sessions are not logged to the environment's log group: set logging = \"OVERRIDE\" with a log_configuration")));
        }
        let log = field(exec, &["log_configuration", "0"]);
        if log
            .and_then(|l| field(l, &["cloud_watch_log_group_name"]))
            .is_none()
        {
            findings.push(Finding::new(&r.file, format!("{here}: exec sessions have no log group: set log_configuration.cloud_watch_log_group_name")));
        }
        if log.and_then(|l| bool_at(l, &["cloud_watch_encryption_enabled"])) != Some(true) {
            findings.push(Finding::new(&r.file, format!("{here}: the exec session log is not encrypted: set cloud_watch_encryption_enabled = true")));
        }
        if field(exec, &["kms_key_id"]).is_none() {
            findings.push(Finding::new(&r.file, format!("{here}: exec sessions are not encrypted with the environment's key: set kms_key_id")));
        }
    }
    findings
}

fn statements(doc: &Value) -> impl Iterator<Item = &Value> {
    field(doc, &["statement"])
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

fn actions(statement: &Value) -> Vec<&str> {
    match field(statement, &["actions"]) {
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
        Some(Value::String(s)) => vec![s.as_str()],
        _ => Vec::new(),
    }
}

/// Whether an IAM action pattern covers `ecs:ExecuteCommand`.
fn allows_execute_command(action: &str) -> bool {
    matches!(
        action,
        "*" | "ecs:*" | "ecs:ExecuteCommand" | "ecs:Execute*"
    )
}

/// `ecs:ExecuteCommand` only in the break-glass role's policies, and in no policy template.
fn execute_command_grants(a: &Analysis<'_>) -> Vec<Finding> {
    let mut findings = Vec::new();
    for inst in a.instances().filter(|i| i.dir != BREAK_GLASS_MODULE) {
        for r in inst.data_of("aws_iam_policy_document") {
            for (key, doc) in &r.instances {
                let grants = statements(doc)
                    .filter(|s| known_str(s, &["effect"]) != Some("Deny"))
                    .flat_map(actions)
                    .any(allows_execute_command);
                if grants {
                    findings.push(Finding::new(&r.file, format!("{}: allows ecs:ExecuteCommand: only the break-glass role ({BREAK_GLASS_MODULE}) may open a shell in a task", at(inst, r, key))));
                }
            }
        }
    }
    for (path, text) in &a.tree.templates {
        // A permissions boundary only caps what a role's own policies allow; it grants nothing.
        if path.ends_with("boundary.json.tftpl") {
            continue;
        }
        let rendered = template_grants_execute_command(a, path);
        let grants = rendered.unwrap_or_else(|| {
            text.contains("\"ecs:ExecuteCommand\"") || text.contains("\"ecs:*\"")
        });
        if grants {
            findings.push(Finding::new(path, "allows ecs:ExecuteCommand: only the break-glass role (modules/break-glass) may open a shell in a task"));
        }
    }
    findings
}

/// Whether the role a policy template renders allows `ecs:ExecuteCommand` on a task of its own
/// environment, Deny statements included; `None` when the template renders for no environment.
fn template_grants_execute_command(a: &Analysis<'_>, path: &str) -> Option<bool> {
    let role = match path.rsplit('/').next()? {
        "deploy.json.tftpl" => Role::Deploy,
        "terraform.json.tftpl" => Role::Terraform,
        "plan.json.tftpl" => Role::Plan,
        _ => return None,
    };
    let mut rendered_any = false;
    for env in a
        .tree
        .environments()
        .map(|m| m.dir.rsplit('/').next().unwrap_or("").to_owned())
    {
        let account = policy::tfvars_account(a.tree, &env).unwrap_or_else(|| "111111111111".into());
        let Ok(rendered) = policy::render(a.tree, role, &env, &account) else {
            continue;
        };
        rendered_any = true;
        let task =
            format!("arn:aws:ecs:eu-central-1:{account}:task/eventflow-{env}/0123456789abcdef");
        if access::decide(
            &rendered.policy,
            "ecs:ExecuteCommand",
            &task,
            &Context::new(),
        )
        .is_allowed()
        {
            return Some(true);
        }
    }
    rendered_any.then_some(false)
}

/// The break-glass role's trust policy requires MFA in every statement.
fn break_glass_needs_mfa(a: &Analysis<'_>) -> Vec<Finding> {
    let mut findings = Vec::new();
    for inst in a.instances().filter(|i| i.dir == BREAK_GLASS_MODULE) {
        for r in inst
            .data_of("aws_iam_policy_document")
            .filter(|r| r.name == "trust")
        {
            for (key, doc) in &r.instances {
                let all_need_mfa = statements(doc).all(|s| {
                    field(s, &["condition"])
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .any(|c| {
                            known_str(c, &["variable"]) == Some("aws:MultiFactorAuthPresent")
                                && field(c, &["values"])
                                    .and_then(Value::as_array)
                                    .is_some_and(|v| v.iter().all(|x| x.as_str() == Some("true")))
                        })
                });
                if !all_need_mfa {
                    findings.push(Finding::new(&r.file, format!("{}: the break-glass role can be assumed without MFA: add condition Bool aws:MultiFactorAuthPresent = true", at(inst, r, key))));
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
    fn the_repository_keeps_exec_narrow_and_logged() {
        assert_clean(check(repository()));
        let shells: Vec<&str> = repository()
            .resources("aws_ecs_task_definition")
            .filter(|(_, r, ..)| r.name == "database_shell")
            .map(|(i, ..)| i.root.as_str())
            .collect();
        assert_eq!(
            shells,
            ["environments/staging"],
            "staging has the database shell, production not"
        );
        assert_eq!(
            repository().resources("aws_ecs_cluster").count(),
            2,
            "both clusters were evaluated"
        );
    }

    #[test]
    fn production_with_the_shell_on_is_caught() {
        let a = snippet(&[
            (
                "modules/ecs/main.tf",
                r#"
                variable "shell" { type = bool }
                resource "aws_ecs_task_definition" "database_shell" {
                  count  = var.shell ? 1 : 0
                  family = "eventflow-production-database-shell"
                }
                resource "aws_ecs_service" "backend" { enable_execute_command = true }
                "#,
            ),
            (
                "environments/production/main.tf",
                r#"
                variable "database_shell_enabled" { type = bool }
                module "ecs" {
                  source = "../../modules/ecs"
                  shell  = var.database_shell_enabled
                }
                "#,
            ),
            (
                "environments/production/terraform.tfvars",
                "database_shell_enabled = true",
            ),
        ]);
        let findings = check(&a);
        assert_finds(
            &findings,
            "environments/production/terraform.tfvars",
            &["database shell is on", "database_shell_enabled = false"],
        );
        assert_finds(
            &findings,
            "modules/ecs/main.tf",
            &["aws_ecs_service.backend", "allows ECS Exec"],
        );
    }

    #[test]
    fn a_cluster_without_exec_logging_is_caught() {
        let a = snippet(&[(
            "environments/staging/main.tf",
            r#"
            resource "aws_ecs_cluster" "bare" { name = "bare" }
            resource "aws_ecs_cluster" "unencrypted" {
              configuration {
                execute_command_configuration {
                  logging = "DEFAULT"
                  log_configuration { cloud_watch_encryption_enabled = false }
                }
              }
            }
            "#,
        )]);
        let findings = check(&a);
        let file = "environments/staging/main.tf";
        assert_finds(
            &findings,
            file,
            &["aws_ecs_cluster.bare", "no execute_command_configuration"],
        );
        for needle in [
            "logging = \"OVERRIDE\"",
            "no log group",
            "not encrypted: set cloud_watch_encryption_enabled",
            "set kms_key_id",
        ] {
            assert_finds(&findings, file, &["aws_ecs_cluster.unencrypted", needle]);
        }
    }

    #[test]
    fn execute_command_outside_break_glass_and_a_trust_without_mfa_are_caught() {
        let a = snippet(&[
            (
                "modules/github-oidc/main.tf",
                r#"data "aws_iam_policy_document" "deploy" {
                     statement { actions = ["ecs:UpdateService", "ecs:*"] }
                   }"#,
            ),
            (
                "modules/break-glass/main.tf",
                r#"data "aws_iam_policy_document" "trust" {
                     statement { actions = ["sts:AssumeRole"] }
                   }
                   data "aws_iam_policy_document" "shell" {
                     statement { actions = ["ecs:ExecuteCommand"] }
                   }"#,
            ),
            (
                "environments/staging/main.tf",
                r#"module "deploy" { source = "../../modules/github-oidc" }
                   module "break_glass" { source = "../../modules/break-glass" }"#,
            ),
            (
                "policies/deploy.json.tftpl",
                r#"{"Statement": [{"Action": ["ecs:ExecuteCommand"]}]}"#,
            ),
        ]);
        let findings = check(&a);
        assert_eq!(findings.len(), 3, "{findings:?}");
        assert_finds(
            &findings,
            "modules/github-oidc/main.tf",
            &[
                "data.aws_iam_policy_document.deploy",
                "allows ecs:ExecuteCommand",
            ],
        );
        assert_finds(
            &findings,
            "policies/deploy.json.tftpl",
            &["allows ecs:ExecuteCommand"],
        );
        assert_finds(
            &findings,
            "modules/break-glass/main.tf",
            &["without MFA", "aws:MultiFactorAuthPresent"],
        );
    }
}
