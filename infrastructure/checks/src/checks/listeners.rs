//! Blue/green listeners: the forwards the deploy engine moves (weights, the test listener's
//! colour) are ignored by Terraform after creation, and production's listener starts with all
//! traffic on one colour (weights 100/0). The test listener (any listener but 443 and 80) is
//! open to the internet, so it is closed without the test key: its default action answers 403,
//! and every rule on it requires the [`TEST_KEY_HEADER`] with a value from Secrets Manager.

use super::{Analysis, ignores, known_str, number_at};
use crate::eval::{Instance, field};
use crate::model::{Finding, attr, blocks};
use crate::walk;
use hcl::Value;

/// The header the deploy engine and the smoke suite send to the test listener.
pub const TEST_KEY_HEADER: &str = "X-EventFlow-Test-Key";

pub fn check(a: &Analysis<'_>) -> Vec<Finding> {
    let mut findings = weights_are_ignored(a);
    findings.extend(production_starts_on_one_colour(a));
    findings.extend(test_listener_is_closed(a));
    findings
}

/// Ports of the listeners that answer 403 by default in module instance `inst`: the only
/// listeners besides 443 and 80 that may be open to the internet (modules/alb's test listener).
pub fn closed_listener_ports(inst: &Instance) -> Vec<f64> {
    inst.resources_of("aws_lb_listener")
        .flat_map(|r| r.instances.iter())
        .filter(|(_, v)| answers_403(v))
        .filter_map(|(_, v)| number_at(v, &["port"]))
        .collect()
}

fn answers_403(listener: &Value) -> bool {
    known_str(listener, &["default_action", "0", "type"]) == Some("fixed-response")
        && known_str(
            listener,
            &["default_action", "0", "fixed_response", "0", "status_code"],
        ) == Some("403")
        && field(listener, &["default_action", "1"]).is_none()
}

/// Every listener on a port other than 443 and 80 answers 403 by default; each rule on it (found
/// by its `listener_arn` reference) forwards only with the test key header, whose value is read
/// from Secrets Manager (a `data.aws_secretsmanager_secret_version`), never written in HCL.
pub fn test_listener_is_closed(a: &Analysis<'_>) -> Vec<Finding> {
    let mut findings = Vec::new();
    for inst in a.instances() {
        let Some(module) = a.tree.module(&inst.dir) else {
            continue;
        };
        for r in inst.resources_of("aws_lb_listener") {
            for (key, v) in &r.instances {
                let port = number_at(v, &["port"]);
                if matches!(port, Some(p) if p == 443.0 || p == 80.0) {
                    continue;
                }
                let here = format!("{} ({})", r.address(key), inst.describe());
                if !answers_403(v) {
                    findings.push(Finding::new(
                        &r.file,
                        format!("{here}: the test listener (port {}) is open to the internet but its default action is not a 403: set `default_action {{ type = \"fixed-response\" fixed_response {{ status_code = \"403\" … }} }}` and forward only in rules requiring the {TEST_KEY_HEADER} header", port.map_or("?".into(), |p| p.to_string())),
                    ));
                }
                let rules: Vec<_> = module
                    .resources("aws_lb_listener_rule")
                    .filter(|item| {
                        item.attr("listener_arn").is_some_and(|e| {
                            walk::expr_references(e).iter().any(|path| {
                                path.first().map(String::as_str) == Some("aws_lb_listener")
                                    && path.get(1) == Some(&r.name)
                            })
                        })
                    })
                    .collect();
                if rules.is_empty() {
                    findings.push(Finding::new(
                        &r.file,
                        format!("{here}: no rule forwards on the test listener: add rules that forward the idle colour only with the {TEST_KEY_HEADER} header"),
                    ));
                }
                for rule in rules {
                    let keyed = blocks(rule.block.body(), "condition").any(|c| {
                        blocks(c.body(), "http_header").any(|h| {
                            let named = match attr(h.body(), "http_header_name") {
                                Some(hcl::Expression::String(s)) => s == TEST_KEY_HEADER,
                                // A variable: its default.
                                Some(e) => walk::expr_references(e).iter().any(|p| {
                                    p.first().map(String::as_str) == Some("var")
                                        && variable_default(module, p.get(1)).as_deref()
                                            == Some(TEST_KEY_HEADER)
                                }),
                                None => false,
                            };
                            let from_secret = attr(h.body(), "values").is_some_and(|e| {
                                walk::expr_references(e).iter().any(|p| {
                                    p.len() > 1
                                        && p[0] == "data"
                                        && p[1] == "aws_secretsmanager_secret_version"
                                })
                            });
                            named && from_secret
                        })
                    });
                    if !keyed {
                        findings.push(Finding::new(
                            rule.file,
                            format!("aws_lb_listener_rule.{} ({}): a rule on the test listener forwards without the test key: add `condition {{ http_header {{ http_header_name = \"{TEST_KEY_HEADER}\" values = [data.aws_secretsmanager_secret_version.….secret_string] }} }}`", rule.label(1), inst.describe()),
                        ));
                    }
                }
            }
        }
    }
    findings
}

/// A variable's literal string default in `module`.
fn variable_default(module: &crate::model::Module, name: Option<&String>) -> Option<String> {
    let name = name?;
    module
        .blocks("variable")
        .find(|v| v.label(0) == name)
        .and_then(|v| match v.attr("default") {
            Some(hcl::Expression::String(s)) => Some(s.clone()),
            _ => None,
        })
}

/// A listener or rule that forwards to several target groups by weight ignores those actions.
pub fn weights_are_ignored(a: &Analysis<'_>) -> Vec<Finding> {
    let mut findings = Vec::new();
    for module in a.tree.modules.values() {
        for (ty, action) in [
            ("aws_lb_listener", "default_action"),
            ("aws_lb_listener_rule", "action"),
        ] {
            for item in module.resources(ty) {
                let weighted = blocks(item.block.body(), action).any(|act| {
                    blocks(act.body(), "forward")
                        .any(|fwd| blocks(fwd.body(), "target_group").count() > 1)
                });
                if weighted && !ignores(item.block, action) {
                    findings.push(Finding::new(
                        item.file,
                        format!(
                            "{ty}.{}: it forwards by weight, which the deploy engine shifts, but lifecycle.ignore_changes lacks {action}: add `lifecycle {{ ignore_changes = [{action}] }}` or every apply would move the traffic back",
                            item.label(1)
                        ),
                    ));
                }
            }
        }
    }
    findings
}

/// In a blue/green environment, the HTTPS listener on 443 forwards by weight to two target
/// groups, one at 100 and one at 0.
pub fn production_starts_on_one_colour(a: &Analysis<'_>) -> Vec<Finding> {
    let mut findings = Vec::new();
    for env in a.tree.environments() {
        let blue_green = env
            .deploy_json
            .as_ref()
            .is_some_and(|(_, json)| json["strategy"] == "blue_green");
        if !blue_green {
            continue;
        }
        let mut found = false;
        for (inst, r, key, v) in a.resources("aws_lb_listener") {
            if inst.root != env.dir || number_at(v, &["port"]) != Some(443.0) {
                continue;
            }
            found = true;
            let mut weights: Vec<f64> =
                field(v, &["default_action", "0", "forward", "0", "target_group"])
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|tg| number_at(tg, &["weight"]))
                    .collect();
            weights.sort_by(f64::total_cmp);
            if weights != [0.0, 100.0] {
                findings.push(Finding::new(
                    &r.file,
                    format!(
                        "{} ({}): the production listener's forward weights are {weights:?}: a blue/green listener starts with one colour at 100 and the other at 0",
                        r.address(key),
                        inst.describe()
                    ),
                ));
            }
        }
        if !found {
            findings.push(Finding::new(
                format!("{}/main.tf", env.dir),
                "deploy.json says blue_green but no listener on 443 was found: call modules/alb with blue_green = true",
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
    fn the_weights_belong_to_the_deploy_engine() {
        assert_clean(check(repository()));
    }

    const WEIGHTED: &str = r#"
        resource "aws_lb_listener" "production" {
          port = 443
          default_action {
            type = "forward"
            forward {
              target_group {
                arn    = "blue"
                weight = 100
              }
              target_group {
                arn    = "green"
                weight = 50
              }
            }
          }
        }
        resource "aws_lb_listener_rule" "api" {
          action {
            type = "forward"
            forward {
              target_group { arn = "blue" }
              target_group { arn = "green" }
            }
          }
          lifecycle { ignore_changes = [tags] }
        }
        resource "aws_lb_listener" "http" {
          port = 80
          default_action { type = "redirect" }
        }
    "#;

    #[test]
    fn weights_terraform_would_reset_are_caught() {
        let a = snippet(&[
            ("environments/production/main.tf", WEIGHTED),
            (
                "environments/production/deploy.json",
                r#"{"strategy": "blue_green"}"#,
            ),
        ]);
        let findings = check(&a);
        let file = "environments/production/main.tf";
        assert_finds(
            &findings,
            file,
            &["aws_lb_listener.production", "lacks default_action"],
        );
        assert_finds(
            &findings,
            file,
            &["aws_lb_listener_rule.api", "lacks action"],
        );
        assert_finds(&findings, file, &["weights are [50.0, 100.0]"]);
        assert!(
            !findings
                .iter()
                .any(|f| f.message.contains("aws_lb_listener.http"))
        );
    }

    #[test]
    fn the_repositorys_test_listener_is_closed_without_the_key() {
        assert_clean(test_listener_is_closed(repository()));
        let production = repository()
            .instances()
            .filter(|i| i.root == "environments/production")
            .flat_map(closed_listener_ports)
            .collect::<Vec<_>>();
        assert_eq!(production, [8443.0]);
    }

    fn planted(listener_default: &str, rule_condition: &str) -> Vec<Finding> {
        let main = format!(
            r#"
            variable "header" {{ default = "X-EventFlow-Test-Key" }}
            data "aws_secretsmanager_secret_version" "key" {{
              secret_id = "k"
            }}
            resource "aws_lb_listener" "test" {{
              port = 8443
              {listener_default}
            }}
            resource "aws_lb_listener_rule" "test_backend" {{
              listener_arn = aws_lb_listener.test.arn
              action {{
                type = "forward"
              }}
              condition {{
                path_pattern {{
                  values = ["/v1/*"]
                }}
              }}
              {rule_condition}
            }}
            "#
        );
        let a = snippet(&[
            ("modules/alb/main.tf", main.as_str()),
            (
                "environments/production/main.tf",
                r#"module "alb" { source = "../../modules/alb" }"#,
            ),
        ]);
        test_listener_is_closed(&a)
    }

    const DENY: &str = r#"default_action {
        type = "fixed-response"
        fixed_response {
          content_type = "text/plain"
          status_code  = "403"
        }
      }"#;
    const KEYED: &str = r#"condition {
        http_header {
          http_header_name = var.header
          values           = [data.aws_secretsmanager_secret_version.key.secret_string]
        }
      }"#;

    #[test]
    fn a_test_listener_without_the_header_rule_or_the_403_is_caught() {
        assert_clean(planted(DENY, KEYED));
        let findings = planted(DENY, "");
        assert_finds(
            &findings,
            "modules/alb/main.tf",
            &[
                "aws_lb_listener_rule.test_backend",
                "forwards without the test key",
            ],
        );
        // A header whose value is written in the configuration is no secret.
        let literal = KEYED.replace(
            "[data.aws_secretsmanager_secret_version.key.secret_string]",
            "[\"letmein\"]",
        );
        assert_finds(
            &planted(DENY, &literal),
            "modules/alb/main.tf",
            &["forwards without the test key"],
        );
        let forward = "default_action {\n type = \"forward\"\n }";
        assert_finds(
            &planted(forward, KEYED),
            "modules/alb/main.tf",
            &["aws_lb_listener.test", "default action is not a 403"],
        );
    }
}
