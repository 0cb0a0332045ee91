//! Secrets: `DATABASE_URL`, `JWT_SECRET` and `API_KEYS_SECRET` (and `ADMIN_API_TOKEN`, where an
//! environment has one) reach the containers only through the task definitions' `secrets` (from
//! Secrets Manager), never through `environment`, and no output carries a secret or its value.
//! Production never gets `ADMIN_API_TOKEN`: its admin API stays off.

use std::collections::BTreeSet;

use hcl::Expression;
use hcl::expr::ObjectKey;

use super::{Analysis, at, json_at};
use crate::eval::UNKNOWN;
use crate::model::{Finding, Module};
use crate::walk;

pub const SECRET_NAMES: [&str; 3] = ["DATABASE_URL", "JWT_SECRET", "API_KEYS_SECRET"];
/// Turns the backend's admin API on; a secret like the others, but only staging has it.
pub const ADMIN_TOKEN_NAME: &str = "ADMIN_API_TOKEN";
const PRODUCTION: &str = "environments/production";

fn is_secret_name(name: &str) -> bool {
    SECRET_NAMES.contains(&name) || name == ADMIN_TOKEN_NAME
}

/// Attributes holding a secret's value: an output may never reference them.
const VALUE_ATTRIBUTES: [&str; 6] = [
    "secret_string",
    "secret_binary",
    "secret_string_wo",
    "password",
    "master_password",
    "plaintext",
];
/// Resources and data sources whose whole point is a secret's value.
const VALUE_TYPES: [&str; 3] = [
    "aws_secretsmanager_secret_version",
    "random_password",
    "aws_ssm_parameter",
];

pub fn check(a: &Analysis<'_>) -> Vec<Finding> {
    let mut findings = Vec::new();
    findings.extend(task_definitions(a));
    for module in a.tree.modules.values() {
        findings.extend(no_secret_in_environment(module));
        findings.extend(secrets_come_from_secrets_manager(module));
        findings.extend(outputs(module));
    }
    findings
}

/// The task definitions as ECS gets them: secrets only in `secrets`, with Secrets Manager ARNs,
/// and the backend gets all three.
pub fn task_definitions(a: &Analysis<'_>) -> Vec<Finding> {
    let mut findings = Vec::new();
    let mut injected: std::collections::BTreeMap<String, (String, BTreeSet<String>)> =
        Default::default();
    for (inst, r, key, v) in a.resources("aws_ecs_task_definition") {
        let here = at(inst, r, key);
        let Some(containers) = json_at(v, &["container_definitions"]) else {
            findings.push(Finding::new(
                &r.file,
                format!("{here}: container_definitions can't be read: build it with jsonencode()"),
            ));
            continue;
        };
        let entry = injected
            .entry(inst.root.clone())
            .or_insert_with(|| (r.file.clone(), BTreeSet::new()));
        for c in containers.as_array().into_iter().flatten() {
            let container = c["name"].as_str().unwrap_or("?");
            for env in c["environment"].as_array().into_iter().flatten() {
                let name = env["name"].as_str().unwrap_or("");
                if is_secret_name(name) {
                    findings.push(Finding::new(
                        &r.file,
                        format!("{here}: container {container} gets {name} in plain `environment`: move it to `secrets`, with the ARN of its Secrets Manager secret as valueFrom"),
                    ));
                }
            }
            for secret in c["secrets"].as_array().into_iter().flatten() {
                let name = secret["name"].as_str().unwrap_or("");
                let from = secret["valueFrom"].as_str().unwrap_or("");
                if from != UNKNOWN && !from.starts_with("arn:aws:secretsmanager:") {
                    findings.push(Finding::new(
                        &r.file,
                        format!("{here}: container {container}'s secret {name} comes from `{from}`, not a Secrets Manager ARN: point valueFrom at the secret (modules/secrets)"),
                    ));
                }
                if name == ADMIN_TOKEN_NAME && inst.root == PRODUCTION {
                    findings.push(Finding::new(
                        &r.file,
                        format!("{here}: container {container} gets {ADMIN_TOKEN_NAME} in production, which turns the admin API on: remove it from the backend's secrets in {PRODUCTION}/main.tf"),
                    ));
                }
                entry.1.insert(name.to_owned());
            }
        }
    }
    for (root, (file, names)) in injected {
        for wanted in SECRET_NAMES {
            if !names.contains(wanted) {
                findings.push(Finding::new(
                    &file,
                    format!("{root}: no container gets {wanted} from `secrets`: the backend needs it; add it to the backend's secrets in {root}/main.tf"),
                ));
            }
        }
    }
    findings
}

/// Written into an `environment` (an argument, or an object key) anywhere: caught in the
/// source, before any evaluation.
pub fn no_secret_in_environment(module: &Module) -> Vec<Finding> {
    let mut findings = Vec::new();
    for file in &module.files {
        let mut check = |context: &str, value: &Expression| {
            for literal in walk::literals(value) {
                if is_secret_name(literal.as_str()) {
                    findings.push(Finding::new(
                        &file.path,
                        format!("{literal} is set in {context}: it is a secret; pass it in `secrets` (a Secrets Manager ARN), never as a plain environment variable"),
                    ));
                }
            }
        };
        walk_attributes(&file.body, &mut |key, value| {
            if key.starts_with("environment") {
                check(&format!("`{key}`"), value);
            }
            walk::expr(value, &mut |e| {
                if let Expression::Object(object) = e {
                    for (k, v) in object {
                        if let ObjectKey::Identifier(id) = k
                            && id.as_str().starts_with("environment")
                        {
                            check(&format!("`{id}`"), v);
                        }
                    }
                }
            });
        });
    }
    findings
}

/// Every `secrets = { NAME = … }` entry names a Secrets Manager secret: in an environment, a
/// reference to the secrets module or a Secrets Manager resource; in a module, a reference
/// (never a literal value).
pub fn secrets_come_from_secrets_manager(module: &Module) -> Vec<Finding> {
    let mut findings = Vec::new();
    let secret_modules: BTreeSet<String> = module
        .blocks("module")
        .filter(|call| module.source_of(call).as_deref() == Some("modules/secrets"))
        .map(|call| call.label(0).to_owned())
        .collect();
    for file in &module.files {
        walk_attributes(&file.body, &mut |_, value| {
            walk::expr(value, &mut |e| {
                let Expression::Object(object) = e else {
                    return;
                };
                for (k, v) in object {
                    let ObjectKey::Identifier(id) = k else {
                        continue;
                    };
                    if id.as_str() != "secrets" {
                        continue;
                    }
                    let Expression::Object(entries) = v else {
                        continue;
                    };
                    for (name, source) in entries {
                        let name = match name {
                            ObjectKey::Identifier(id) => id.to_string(),
                            ObjectKey::Expression(Expression::String(s)) => s.clone(),
                            _ => "?".to_owned(),
                        };
                        let path = walk::reference(source);
                        let ok = match (&path, module.is_root()) {
                            (Some(p), true) => {
                                (p[0] == "module" && p.len() > 1 && secret_modules.contains(&p[1]))
                                    || p[0].starts_with("aws_secretsmanager_secret")
                                    || (p[0] == "data"
                                        && p.get(1).is_some_and(|t| {
                                            t.starts_with("aws_secretsmanager_secret")
                                        }))
                            }
                            (Some(_), false) => true,
                            (None, _) => false,
                        };
                        if !ok {
                            findings.push(Finding::new(
                                &file.path,
                                format!("secret {name} is not taken from Secrets Manager: set it to the secret's ARN from module \"secrets\" (modules/secrets), e.g. module.secrets.arns[\"…\"]"),
                            ));
                        }
                    }
                }
            });
        });
    }
    findings
}

/// No output references a secret's value, or names one of the secrets.
pub fn outputs(module: &Module) -> Vec<Finding> {
    let mut findings = Vec::new();
    for item in module.blocks("output") {
        let name = item.label(0);
        let Some(value) = item.attr("value") else {
            continue;
        };
        for path in walk::expr_references(value) {
            let by_type = VALUE_TYPES.contains(&path[0].as_str())
                || (path[0] == "data"
                    && path
                        .get(1)
                        .is_some_and(|t| VALUE_TYPES.contains(&t.as_str())));
            let by_attribute = path.iter().any(|p| VALUE_ATTRIBUTES.contains(&p.as_str()));
            if by_type || by_attribute {
                findings.push(Finding::new(
                    item.file,
                    format!("output \"{name}\" exposes a secret value ({}): outputs end up in the state and in logs; output the secret's ARN at most", path.join(".")),
                ));
            }
        }
        for literal in walk::literals(value) {
            if SECRET_NAMES.iter().any(|s| literal.contains(s)) {
                findings.push(Finding::new(
                    item.file,
                    format!("output \"{name}\" mentions {literal}: secrets stay out of outputs; the deploy reads them from Secrets Manager"),
                ));
            }
        }
        if SECRET_NAMES.iter().any(|s| name.eq_ignore_ascii_case(s)) {
            findings.push(Finding::new(
                item.file,
                format!("output \"{name}\" is named after a secret: remove it"),
            ));
        }
    }
    findings
}

/// Every attribute of `body` and of its nested blocks: (key, value).
fn walk_attributes(body: &hcl::Body, f: &mut dyn FnMut(&str, &Expression)) {
    for a in body.attributes() {
        f(a.key(), a.expr());
    }
    for b in body.blocks() {
        walk_attributes(b.body(), f);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::testing::*;

    #[test]
    fn secrets_come_from_secrets_manager_only() {
        assert_clean(check(repository()));
    }

    #[test]
    fn the_backend_gets_all_three_secrets_in_every_environment() {
        let findings = task_definitions(repository());
        assert_clean(findings);
        let roots: BTreeSet<&str> = repository()
            .resources("aws_ecs_task_definition")
            .map(|(i, ..)| i.root.as_str())
            .collect();
        assert_eq!(
            roots,
            BTreeSet::from(["environments/production", "environments/staging"])
        );
    }

    #[test]
    fn a_secret_in_plain_environment_is_caught() {
        let a = snippet(&[
            (
                "modules/app/main.tf",
                r#"
                variable "environment" { type = map(string) }
                resource "aws_ecs_task_definition" "this" {
                  family = "eventflow-backend"
                  container_definitions = jsonencode([{
                    name        = "backend"
                    environment = [for k, v in var.environment : { name = k, value = v }]
                    secrets     = [{ name = "JWT_SECRET", valueFrom = "hunter2" }]
                  }])
                }
                "#,
            ),
            (
                "environments/staging/main.tf",
                r#"module "app" {
                     source      = "../../modules/app"
                     environment = { DATABASE_URL = "postgres://eventflow:pw@db/eventflow" }
                   }"#,
            ),
        ]);
        let findings = check(&a);
        assert_finds(
            &findings,
            "environments/staging/main.tf",
            &["DATABASE_URL is set in `environment`"],
        );
        assert_finds(
            &findings,
            "modules/app/main.tf",
            &[
                "container backend gets DATABASE_URL in plain `environment`",
                "move it to `secrets`",
            ],
        );
        assert_finds(
            &findings,
            "modules/app/main.tf",
            &["secret JWT_SECRET comes from `hunter2`, not a Secrets Manager ARN"],
        );
        assert_finds(
            &findings,
            "modules/app/main.tf",
            &["no container gets API_KEYS_SECRET"],
        );
    }

    #[test]
    fn a_secret_from_anywhere_but_secrets_manager_is_caught() {
        let a = snippet(&[(
            "environments/staging/main.tf",
            r#"
            variable "jwt" { type = string }
            module "ecs" {
              source = "../../modules/ecs"
              apps = { backend = { secrets = { JWT_SECRET = var.jwt, API_KEYS_SECRET = "literal" } } }
            }
            "#,
        )]);
        let findings = check(&a);
        assert_finds(
            &findings,
            "environments/staging/main.tf",
            &["secret JWT_SECRET is not taken from Secrets Manager"],
        );
        assert_finds(
            &findings,
            "environments/staging/main.tf",
            &["secret API_KEYS_SECRET is not taken from Secrets Manager"],
        );
    }

    #[test]
    fn an_output_with_a_secret_is_caught() {
        let a = snippet(&[(
            "environments/staging/outputs.tf",
            r#"
            output "jwt" { value = aws_secretsmanager_secret_version.jwt.secret_string }
            output "settings" { value = { DATABASE_URL = module.secrets.arns["database_url"] } }
            output "db_password" {
              value     = aws_db_instance.this.password
              sensitive = true
            }
            "#,
        )]);
        let findings = check(&a);
        let file = "environments/staging/outputs.tf";
        assert_finds(
            &findings,
            file,
            &[
                "output \"jwt\" exposes a secret value (aws_secretsmanager_secret_version.jwt.secret_string)",
            ],
        );
        assert_finds(
            &findings,
            file,
            &["output \"settings\" mentions DATABASE_URL"],
        );
        assert_finds(
            &findings,
            file,
            &["output \"db_password\" exposes a secret value"],
        );
    }

    #[test]
    fn production_with_the_admin_token_is_caught() {
        let a = snippet(&[(
            "environments/production/main.tf",
            r#"
            resource "aws_ecs_task_definition" "app" {
              family                = "eventflow-backend"
              container_definitions = jsonencode([{
                name    = "backend"
                secrets = [{ name = "ADMIN_API_TOKEN", valueFrom = "arn:aws:secretsmanager:eu-central-1:1:secret:x" }]
              }])
            }
            "#,
        )]);
        assert_finds(
            &task_definitions(&a),
            "environments/production/main.tf",
            &["gets ADMIN_API_TOKEN in production", "admin API on"],
        );
        let staging = repository()
            .resources("aws_ecs_task_definition")
            .filter(|(i, ..)| i.root == "environments/staging")
            .any(|(.., v)| {
                super::json_at(v, &["container_definitions"])
                    .is_some_and(|c| c.to_string().contains(ADMIN_TOKEN_NAME))
            });
        assert!(staging, "staging's backend gets the admin token");
    }
}
