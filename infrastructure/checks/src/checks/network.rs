//! Ingress: nothing is open to the whole internet (`0.0.0.0/0`, `::/0`) but the load balancer's
//! HTTPS (443) and redirect-to-HTTPS (80) ports, and the blue/green test listener's port, which
//! is open to anyone only because it answers 403 without the test key (`listeners.rs` proves
//! that). Every ingress source must be resolvable, so that this can be proved.

use super::{Analysis, at, number_at};
use crate::eval::{Instance, Resource, UNKNOWN, field};
use crate::model::Finding;
use hcl::Value;

/// The module whose security group may take traffic from anywhere, and on which ports.
pub const PUBLIC_MODULE: &str = "modules/alb";
pub const PUBLIC_PORTS: [f64; 2] = [80.0, 443.0];

fn is_open(cidr: &str) -> bool {
    matches!(cidr, "0.0.0.0/0" | "::/0")
}

pub fn check(a: &Analysis<'_>) -> Vec<Finding> {
    let mut findings = Vec::new();
    // (resource type, how to tell ingress from egress, the CIDR arguments)
    for (inst, r, key, v) in a.resources("aws_vpc_security_group_ingress_rule") {
        judge(&mut findings, inst, r, key, v, &["cidr_ipv4", "cidr_ipv6"]);
    }
    for (inst, r, key, v) in a.resources("aws_security_group_rule") {
        if field(v, &["type"]).and_then(Value::as_str) == Some("ingress") {
            judge(
                &mut findings,
                inst,
                r,
                key,
                v,
                &["cidr_blocks", "ipv6_cidr_blocks"],
            );
        }
    }
    for (inst, r, key, v) in a.resources("aws_security_group") {
        for rule in field(v, &["ingress"])
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            judge(
                &mut findings,
                inst,
                r,
                key,
                rule,
                &["cidr_blocks", "ipv6_cidr_blocks"],
            );
        }
    }
    findings
}

fn judge(
    findings: &mut Vec<Finding>,
    inst: &Instance,
    r: &Resource,
    key: &Option<String>,
    rule: &Value,
    cidr_arguments: &[&str],
) {
    let here = at(inst, r, key);
    let mut cidrs = Vec::new();
    for argument in cidr_arguments {
        match field(rule, &[argument]) {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) => cidrs.push(s.clone()),
            Some(Value::Array(items)) => {
                for item in items {
                    cidrs.push(item.as_str().unwrap_or(UNKNOWN).to_owned());
                }
            }
            Some(_) => cidrs.push(UNKNOWN.to_owned()),
        }
    }
    let from = number_at(rule, &["from_port"]);
    let to = number_at(rule, &["to_port"]);
    for cidr in cidrs {
        if cidr.contains(UNKNOWN) {
            findings.push(Finding::new(
                &r.file,
                format!("{here}: an ingress source can't be resolved without AWS, so it can't be shown not to be the internet: take it from a variable set in terraform.tfvars, or use referenced_security_group_id"),
            ));
        } else if is_open(&cidr) {
            let closed = super::listeners::closed_listener_ports(inst);
            let public_port = from == to
                && from.is_some_and(|p| PUBLIC_PORTS.contains(&p) || closed.contains(&p));
            if inst.dir != PUBLIC_MODULE || !public_port {
                findings.push(Finding::new(
                    &r.file,
                    format!(
                        "{here}: ingress from {cidr} on ports {}-{}: only the load balancer ({PUBLIC_MODULE}) takes traffic from the internet, on 443 (and 80 to redirect); restrict the source to the networks that need it",
                        from.map_or("?".into(), |p| p.to_string()),
                        to.map_or("?".into(), |p| p.to_string()),
                    ),
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::testing::*;

    #[test]
    fn only_the_load_balancers_https_is_open_to_the_internet() {
        assert_clean(check(repository()));
    }

    #[test]
    fn the_test_listener_is_reachable_from_anywhere_only_because_it_is_closed() {
        let rules: Vec<&Value> = repository()
            .resources("aws_vpc_security_group_ingress_rule")
            .filter(|(i, r, ..)| i.root == "environments/production" && r.name == "test_listener")
            .map(|(.., v)| v)
            .collect();
        assert_eq!(rules.len(), 1, "production has one test listener ingress");
        assert_eq!(number_at(rules[0], &["from_port"]), Some(8443.0));
        let cidr = field(rules[0], &["cidr_ipv4"])
            .and_then(Value::as_str)
            .unwrap();
        assert!(is_open(cidr), "{cidr}");
        // The same ingress next to a listener that forwards without the key is refused.
        let a = snippet(&[
            (
                "modules/alb/main.tf",
                r#"
                resource "aws_lb_listener" "test" {
                  port = 8443
                  default_action {
                    type = "forward"
                  }
                }
                resource "aws_vpc_security_group_ingress_rule" "test_listener" {
                  cidr_ipv4 = "0.0.0.0/0"
                  from_port = 8443
                  to_port   = 8443
                }
                "#,
            ),
            (
                "environments/production/main.tf",
                r#"module "alb" { source = "../../modules/alb" }"#,
            ),
        ]);
        assert_finds(
            &check(&a),
            "modules/alb/main.tf",
            &["ingress from 0.0.0.0/0 on ports 8443-8443"],
        );
    }

    #[test]
    fn open_ingress_outside_the_load_balancer_is_caught() {
        let a = snippet(&[
            (
                "modules/db/main.tf",
                r#"
                variable "admin_cidrs" { type = list(string) }
                resource "aws_vpc_security_group_ingress_rule" "postgres" {
                  for_each  = toset(var.admin_cidrs)
                  cidr_ipv4 = each.value
                  from_port = 5432
                  to_port   = 5432
                }
                resource "aws_security_group" "legacy" {
                  ingress {
                    from_port        = 22
                    to_port          = 22
                    ipv6_cidr_blocks = ["::/0"]
                  }
                }
                resource "aws_security_group_rule" "from_peer" {
                  type        = "ingress"
                  from_port   = 443
                  to_port     = 443
                  cidr_blocks = [aws_vpc.peer.cidr_block]
                }
                "#,
            ),
            (
                "environments/staging/main.tf",
                r#"
                variable "admin_cidrs" { type = list(string) }
                module "db" {
                  source      = "../../modules/db"
                  admin_cidrs = var.admin_cidrs
                }
                "#,
            ),
            (
                "environments/staging/terraform.tfvars",
                r#"admin_cidrs = ["0.0.0.0/0"]"#,
            ),
        ]);
        let findings = check(&a);
        let file = "modules/db/main.tf";
        assert_finds(
            &findings,
            file,
            &[
                "aws_vpc_security_group_ingress_rule.postgres[\"0.0.0.0/0\"]",
                "ingress from 0.0.0.0/0 on ports 5432-5432",
            ],
        );
        assert_finds(
            &findings,
            file,
            &[
                "aws_security_group.legacy",
                "ingress from ::/0 on ports 22-22",
            ],
        );
        assert_finds(
            &findings,
            file,
            &["aws_security_group_rule.from_peer", "can't be resolved"],
        );
    }

    #[test]
    fn the_load_balancer_may_not_open_other_ports() {
        let a = snippet(&[
            (
                "modules/alb/main.tf",
                r#"
                resource "aws_vpc_security_group_ingress_rule" "https" {
                  cidr_ipv4 = "0.0.0.0/0"
                  from_port = 443
                  to_port   = 443
                }
                resource "aws_vpc_security_group_ingress_rule" "test" {
                  cidr_ipv4 = "0.0.0.0/0"
                  from_port = 8443
                  to_port   = 8443
                }
                "#,
            ),
            (
                "environments/production/main.tf",
                r#"module "alb" { source = "../../modules/alb" }"#,
            ),
        ]);
        let findings = check(&a);
        assert_eq!(findings.len(), 1, "{findings:?}");
        assert_finds(
            &findings,
            "modules/alb/main.tf",
            &["aws_vpc_security_group_ingress_rule.test", "8443-8443"],
        );
    }
}
