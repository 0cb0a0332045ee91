//! ECS: every service rolls back a failing rolling deploy by itself (deployment circuit breaker
//! with rollback), leaves the task definition and the task count to the deploy engine
//! (`ignore_changes`), and every container logs to CloudWatch and has a health check on
//! `/health` (the dashboard's nginx: `/healthz`).

use super::{Analysis, at, bool_at, ignores, json_at, known_str};
use crate::model::Finding;

pub fn check(a: &Analysis<'_>) -> Vec<Finding> {
    let mut findings = Vec::new();
    findings.extend(circuit_breakers(a));
    findings.extend(services_leave_deploys_alone(a));
    findings.extend(containers(a));
    findings
}

/// Every service deployed by ECS's rolling controller has the circuit breaker with rollback;
/// every rolling environment has services to check.
pub fn circuit_breakers(a: &Analysis<'_>) -> Vec<Finding> {
    let mut findings = Vec::new();
    for (inst, r, key, v) in a.resources("aws_ecs_service") {
        let controller = known_str(v, &["deployment_controller", "0", "type"]).unwrap_or("ECS");
        if controller != "ECS" {
            continue;
        }
        let enable = bool_at(v, &["deployment_circuit_breaker", "0", "enable"]);
        let rollback = bool_at(v, &["deployment_circuit_breaker", "0", "rollback"]);
        if enable != Some(true) || rollback != Some(true) {
            findings.push(Finding::new(
                &r.file,
                format!(
                    "{}: the deployment circuit breaker is not on with rollback (enable = {}, rollback = {}): add `deployment_circuit_breaker {{ enable = true, rollback = true }}` so that ECS stops and reverts a deploy whose tasks keep failing",
                    at(inst, r, key),
                    enable.map_or("unset".into(), |b| b.to_string()),
                    rollback.map_or("unset".into(), |b| b.to_string()),
                ),
            ));
        }
    }
    for env in a.tree.environments() {
        let rolling = env
            .deploy_json
            .as_ref()
            .is_some_and(|(_, json)| json["strategy"] == "rolling");
        let services = a
            .resources("aws_ecs_service")
            .filter(|(inst, ..)| inst.root == env.dir)
            .count();
        if rolling && services == 0 {
            findings.push(Finding::new(
                format!("{}/main.tf", env.dir),
                "deploy.json says rolling deploys, but the environment creates no aws_ecs_service: call modules/ecs with the services",
            ));
        }
    }
    findings
}

/// Services ignore `task_definition` and `desired_count`, which the deploy engine changes.
pub fn services_leave_deploys_alone(a: &Analysis<'_>) -> Vec<Finding> {
    let mut findings = Vec::new();
    for module in a.tree.modules.values() {
        for item in module.resources("aws_ecs_service") {
            for argument in ["task_definition", "desired_count"] {
                if !ignores(item.block, argument) {
                    findings.push(Finding::new(
                        item.file,
                        format!(
                            "aws_ecs_service.{}: lifecycle.ignore_changes lacks {argument}: the deploy engine sets it, and Terraform would undo every deploy; add `lifecycle {{ ignore_changes = [task_definition, desired_count] }}`",
                            item.label(1)
                        ),
                    ));
                }
            }
        }
    }
    findings
}

/// Each container of each task definition: awslogs, and, when it serves a port, a health check on a liveness path — not
/// the backend's readiness check `/health`, which fails while the database is slow or away: ECS
/// would then kill healthy tasks and replace them, making an outage of a database blip.
pub fn containers(a: &Analysis<'_>) -> Vec<Finding> {
    let mut findings = Vec::new();
    for (inst, r, key, v) in a.resources("aws_ecs_task_definition") {
        let here = at(inst, r, key);
        let Some(containers) = json_at(v, &["container_definitions"]) else {
            findings.push(Finding::new(&r.file, format!("{here}: container_definitions can't be read: build it with jsonencode() from the module's variables")));
            continue;
        };
        for c in containers.as_array().into_iter().flatten() {
            let name = c["name"].as_str().unwrap_or("?");
            if c["logConfiguration"]["logDriver"] != "awslogs" {
                findings.push(Finding::new(
                    &r.file,
                    format!("{here}: container {name} doesn't log to CloudWatch: set logConfiguration.logDriver = \"awslogs\""),
                ));
            }
            // Only containers that serve (port mappings) are health-checked: the database
            // shell (modules/ecs/database_shell.tf) serves nothing and is no service's task.
            let serves = c["portMappings"].as_array().is_some_and(|p| !p.is_empty());
            if !serves {
                continue;
            }
            let command: Vec<&str> = c["healthCheck"]["command"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|p| p.as_str())
                .collect();
            if !command.iter().any(|part| part.contains("/health")) {
                findings.push(Finding::new(
                    &r.file,
                    format!("{here}: container {name} has no health check on /health: add healthCheck.command requesting it"),
                ));
            } else if command.iter().any(|part| part.contains("GET /health ")) {
                findings.push(Finding::new(
                    &r.file,
                    format!("{here}: container {name}'s health check requests /health, the readiness check that needs the database: request /health/live (liveness_path) so a slow database never gets tasks killed"),
                ));
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
    fn services_roll_back_and_leave_deploys_to_the_engine() {
        assert_clean(check(repository()));
    }

    #[test]
    fn every_service_of_the_repository_was_checked() {
        let a = repository();
        let count = |root: &str| {
            a.resources("aws_ecs_service")
                .filter(|(i, ..)| i.root == root)
                .count()
        };
        assert_eq!(count("environments/staging"), 2);
        assert_eq!(count("environments/production"), 4);
    }

    #[test]
    fn a_circuit_breaker_without_rollback_is_caught() {
        let a = snippet(&[
            (
                "modules/svc/main.tf",
                r#"
                variable "rollback" { type = bool }
                resource "aws_ecs_service" "this" {
                  for_each = toset(["backend", "frontend"])
                  name     = each.value
                  deployment_circuit_breaker {
                    enable   = true
                    rollback = var.rollback
                  }
                  lifecycle { ignore_changes = [desired_count] }
                }
                "#,
            ),
            (
                "environments/staging/main.tf",
                r#"module "svc" {
                     source   = "../../modules/svc"
                     rollback = false
                   }"#,
            ),
        ]);
        let findings = check(&a);
        let file = "modules/svc/main.tf";
        assert_finds(
            &findings,
            file,
            &[
                "aws_ecs_service.this[\"backend\"] (environments/staging › module.svc)",
                "rollback = false",
            ],
        );
        assert_finds(
            &findings,
            file,
            &[
                "lacks task_definition",
                "ignore_changes = [task_definition, desired_count]",
            ],
        );
        assert!(
            !findings
                .iter()
                .any(|f| f.message.contains("lacks desired_count"))
        );
    }

    #[test]
    fn a_rolling_environment_without_services_is_caught() {
        let a = snippet(&[
            ("environments/staging/main.tf", "locals { x = 1 }"),
            (
                "environments/staging/deploy.json",
                r#"{"strategy": "rolling"}"#,
            ),
        ]);
        assert_finds(
            &circuit_breakers(&a),
            "environments/staging/main.tf",
            &["creates no aws_ecs_service"],
        );
    }

    #[test]
    fn containers_without_logs_or_health_check_are_caught() {
        let a = snippet(&[(
            "environments/t/main.tf",
            r#"
            resource "aws_ecs_task_definition" "app" {
              family                = "eventflow-backend"
              container_definitions = jsonencode([{ name = "backend", image = "x", portMappings = [{ containerPort = 8080 }], healthCheck = { command = ["CMD", "true"] } }])
            }
            "#,
        )]);
        let findings = containers(&a);
        assert_finds(
            &findings,
            "environments/t/main.tf",
            &["container backend doesn't log to CloudWatch"],
        );
        assert_finds(
            &findings,
            "environments/t/main.tf",
            &["container backend has no health check on /health"],
        );
    }

    #[test]
    fn a_container_health_check_on_the_readiness_path_is_caught() {
        let a = snippet(&[(
            "environments/t/main.tf",
            r#"
            resource "aws_ecs_task_definition" "app" {
              family                = "eventflow-backend"
              container_definitions = jsonencode([{
                name             = "backend"
                image            = "x"
                portMappings     = [{ containerPort = 8080 }]
                logConfiguration = { logDriver = "awslogs" }
                healthCheck      = { command = ["CMD", "bash", "-c", "printf 'GET /health HTTP/1.0' >&3"] }
              }])
            }
            "#,
        )]);
        let findings = containers(&a);
        assert_eq!(findings.len(), 1, "{findings:?}");
        assert_finds(
            &findings,
            "environments/t/main.tf",
            &["requests /health, the readiness check", "/health/live"],
        );
    }
}
