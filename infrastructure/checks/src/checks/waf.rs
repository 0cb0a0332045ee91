//! The WAF: every web ACL limits the request rate per client IP address (a `rate_based_statement`
//! keyed by `IP` whose rule blocks), so one client's flood stops at the edge. The backend's own
//! per-API-key limit can't see clients without a valid key, nor spare the tasks their lookups.

use super::{Analysis, at, known_str, number_at};
use crate::eval::field;
use crate::model::Finding;

pub fn check(a: &Analysis<'_>) -> Vec<Finding> {
    let mut findings = Vec::new();
    for (inst, r, key, v) in a.resources("aws_wafv2_web_acl") {
        let rules = field(v, &["rule"])
            .and_then(|rules| rules.as_array())
            .cloned()
            .unwrap_or_default();
        let limits_per_ip = rules.iter().any(|rule| {
            let blocks = field(rule, &["action", "0", "block"]).is_some();
            let statement = field(rule, &["statement", "0", "rate_based_statement", "0"]);
            blocks
                && statement.is_some_and(|s| {
                    known_str(s, &["aggregate_key_type"]) == Some("IP")
                        && number_at(s, &["limit"]).is_none_or(|limit| limit > 0.0)
                })
        });
        if !limits_per_ip {
            findings.push(Finding::new(
                &r.file,
                format!(
                    "{}: no rule limits the request rate per client IP: add a rule with action {{ block {{}} }} and statement {{ rate_based_statement {{ aggregate_key_type = \"IP\", limit = var.waf_rate_limit_per_ip }} }}",
                    at(inst, r, key)
                ),
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
    fn every_web_acl_limits_the_rate_per_ip() {
        let a = repository();
        assert_clean(check(a));
        assert!(
            a.resources("aws_wafv2_web_acl").count() >= 2,
            "the environments' web ACLs were not evaluated"
        );
    }

    #[test]
    fn a_web_acl_without_a_per_ip_rate_rule_is_caught() {
        let a = snippet(&[(
            "environments/t/main.tf",
            r#"
            resource "aws_wafv2_web_acl" "this" {
              name = "t"
              rule {
                name = "counts-only"
                action {
                  count {}
                }
                statement {
                  rate_based_statement {
                    limit              = 1000
                    aggregate_key_type = "IP"
                  }
                }
              }
              rule {
                name = "by-header"
                action {
                  block {}
                }
                statement {
                  rate_based_statement {
                    limit              = 1000
                    aggregate_key_type = "CUSTOM_KEYS"
                  }
                }
              }
            }
            "#,
        )]);
        assert_finds(
            &check(&a),
            "environments/t/main.tf",
            &[
                "no rule limits the request rate per client IP",
                "aggregate_key_type = \"IP\"",
            ],
        );
    }
}
