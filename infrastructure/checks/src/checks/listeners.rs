//! Blue/green listeners: the forwards the deploy engine moves (weights, the test listener's
//! colour) are ignored by Terraform after creation, and production's listener starts with all
//! traffic on one colour (weights 100/0).

use super::{Analysis, ignores, number_at};
use crate::eval::field;
use crate::model::{Finding, blocks};
use hcl::Value;

pub fn check(a: &Analysis<'_>) -> Vec<Finding> {
    let mut findings = weights_are_ignored(a);
    findings.extend(production_starts_on_one_colour(a));
    findings
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
}
