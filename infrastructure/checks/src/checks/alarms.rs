//! Alarms reach someone and say what to do: every CloudWatch alarm notifies a target when it
//! fires and when it clears, its description links the runbook section to open
//! (`docs/runbook.md#<anchor>`), that anchor is a heading of docs/runbook.md, and production's
//! alarm topic has at least one on-call email subscription.

use std::collections::BTreeSet;

use hcl::Value;

use super::{Analysis, at, known_str};
use crate::eval::field;
use crate::model::Finding;

/// The runbook the alarms link, relative to the repository root.
pub const RUNBOOK: &str = "docs/runbook.md";
/// The environment whose alarms must reach a person.
pub const PRODUCTION: &str = "environments/production";

/// Checks against the repository's runbook.
pub fn check(a: &Analysis<'_>) -> Vec<Finding> {
    let path = crate::infrastructure_dir().join("..").join(RUNBOOK);
    match std::fs::read_to_string(&path) {
        Ok(runbook) => check_with(a, &runbook),
        Err(e) => vec![Finding::new(
            "modules/monitoring/main.tf",
            format!("the alarms link {RUNBOOK}, which can't be read ({e}): restore it"),
        )],
    }
}

/// Checks against `runbook`, the Markdown text the alarm descriptions link.
pub fn check_with(a: &Analysis<'_>, runbook: &str) -> Vec<Finding> {
    let anchors = anchors(runbook);
    let mut findings = Vec::new();
    for (inst, r, key, v) in a.resources("aws_cloudwatch_metric_alarm") {
        let here = at(inst, r, key);
        for actions in ["alarm_actions", "ok_actions"] {
            let targets = field(v, &[actions]).and_then(Value::as_array);
            if targets.is_none_or(|t| t.is_empty()) {
                findings.push(Finding::new(
                    &r.file,
                    format!("{here}: no {actions}: nobody hears of it; set {actions} = [the alarm topic's arn]"),
                ));
            }
        }
        let description = known_str(v, &["alarm_description"]).unwrap_or_default();
        match runbook_anchor(description) {
            None => findings.push(Finding::new(
                &r.file,
                format!("{here}: its description links no runbook section: end it with `Runbook: {RUNBOOK}#<anchor>`"),
            )),
            Some(anchor) if !anchors.contains(anchor) => findings.push(Finding::new(
                &r.file,
                format!("{here}: links {RUNBOOK}#{anchor}, which is no heading of the runbook: add the section, or link an existing one"),
            )),
            Some(_) => {}
        }
    }
    findings.extend(production_emails(a));
    findings
}

/// Production's alarm topic has an email subscription: `alarm_emails` is not empty.
fn production_emails(a: &Analysis<'_>) -> Vec<Finding> {
    let Some(instances) = a.roots.get(PRODUCTION) else {
        return Vec::new();
    };
    let topics = instances
        .iter()
        .flat_map(|i| i.resources_of("aws_sns_topic"))
        .count();
    let emails = instances
        .iter()
        .flat_map(|i| i.resources_of("aws_sns_topic_subscription"))
        .flat_map(|r| &r.instances)
        .filter(|(_, v)| known_str(v, &["protocol"]) == Some("email"))
        .count();
    if topics > 0 && emails == 0 {
        vec![Finding::new(
            format!("{PRODUCTION}/terraform.tfvars"),
            "production's alarms are sent to nobody: set alarm_emails to the on-call list",
        )]
    } else {
        Vec::new()
    }
}

/// The anchor of the first `docs/runbook.md#…` link in `text`.
fn runbook_anchor(text: &str) -> Option<&str> {
    let start = text.find(&format!("{RUNBOOK}#"))? + RUNBOOK.len() + 1;
    let rest = &text[start..];
    let end = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
        .unwrap_or(rest.len());
    Some(&rest[..end])
}

/// The anchors GitHub gives the headings of a Markdown document: lowercase, punctuation dropped,
/// spaces as `-`, a repeated one suffixed `-1`, `-2`, …; headings inside code fences are none.
pub fn anchors(markdown: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut in_fence = false;
    for line in markdown.lines() {
        if line.trim_start().starts_with("```") {
            in_fence = !in_fence;
            continue;
        }
        if in_fence {
            continue;
        }
        let Some(title) = line
            .strip_prefix('#')
            .map(|t| t.trim_start_matches('#'))
            .filter(|t| t.starts_with(' '))
        else {
            continue;
        };
        let slug: String = title
            .trim()
            .to_lowercase()
            .chars()
            .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
            .map(|c| if c == ' ' { '-' } else { c })
            .collect();
        let mut anchor = slug.clone();
        let mut n = 0;
        while out.contains(&anchor) {
            n += 1;
            anchor = format!("{slug}-{n}");
        }
        out.insert(anchor);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::testing::*;

    #[test]
    fn every_alarm_notifies_and_links_a_runbook_section_that_exists() {
        assert_clean(check(repository()));
        let alarms = repository()
            .resources("aws_cloudwatch_metric_alarm")
            .count();
        assert!(alarms >= 8, "only {alarms} alarms were evaluated");
    }

    #[test]
    fn anchors_follow_githubs_rules() {
        let doc = "# Runbook: deploy\n## Alarm: 5xx rate\n```\n# not a heading\n```\n### Alarm: 5xx rate\n#hashtag\n";
        let anchors: Vec<String> = anchors(doc).into_iter().collect();
        assert_eq!(
            anchors,
            ["alarm-5xx-rate", "alarm-5xx-rate-1", "runbook-deploy"]
        );
        assert_eq!(
            runbook_anchor("Too many 5xx. Runbook: docs/runbook.md#alarm-5xx-rate"),
            Some("alarm-5xx-rate")
        );
        assert_eq!(runbook_anchor("Too many 5xx."), None);
    }

    const MODULE: &str = "modules/monitoring/main.tf";

    fn alarms(body: &str) -> Analysis<'static> {
        snippet(&[
            (MODULE, body),
            (
                "environments/staging/main.tf",
                r#"module "monitoring" { source = "../../modules/monitoring" }"#,
            ),
        ])
    }

    #[test]
    fn an_alarm_without_actions_is_caught() {
        let a = alarms(
            r#"resource "aws_cloudwatch_metric_alarm" "cpu" {
                 alarm_name        = "cpu"
                 alarm_description = "CPU. Runbook: docs/runbook.md#alarm-database-cpu"
               }"#,
        );
        let findings = check_with(&a, "## Alarm: database CPU\n");
        assert_eq!(findings.len(), 2, "{findings:?}");
        assert_finds(&findings, MODULE, &["no alarm_actions", "alarm topic"]);
        assert_finds(&findings, MODULE, &["no ok_actions"]);
    }

    #[test]
    fn a_link_to_a_missing_anchor_or_no_link_is_caught() {
        let a = alarms(
            r#"resource "aws_sns_topic" "alarms" { name = "alarms" }
               resource "aws_cloudwatch_metric_alarm" "cpu" {
                 alarm_description = "CPU. Runbook: docs/runbook.md#alarm-database-cpu"
                 alarm_actions     = [aws_sns_topic.alarms.arn]
                 ok_actions        = [aws_sns_topic.alarms.arn]
               }
               resource "aws_cloudwatch_metric_alarm" "disk" {
                 alarm_description = "Disk is full."
                 alarm_actions     = [aws_sns_topic.alarms.arn]
                 ok_actions        = [aws_sns_topic.alarms.arn]
               }"#,
        );
        let findings = check_with(&a, "## Alarm: 5xx rate\n");
        assert_eq!(findings.len(), 2, "{findings:?}");
        assert_finds(
            &findings,
            MODULE,
            &[
                "aws_cloudwatch_metric_alarm.cpu",
                "#alarm-database-cpu, which is no heading",
            ],
        );
        assert_finds(
            &findings,
            MODULE,
            &[
                "aws_cloudwatch_metric_alarm.disk",
                "links no runbook section",
            ],
        );
        assert_clean(
            check_with(&a, "## Alarm: database CPU\n")
                .into_iter()
                .filter(|f| f.message.contains(".cpu"))
                .collect(),
        );
    }

    #[test]
    fn production_without_an_on_call_email_is_caught() {
        let monitoring = r#"
            variable "alarm_emails" { type = list(string) }
            resource "aws_sns_topic" "alarms" { name = "alarms" }
            resource "aws_sns_topic_subscription" "email" {
              for_each  = toset(var.alarm_emails)
              topic_arn = aws_sns_topic.alarms.arn
              protocol  = "email"
              endpoint  = each.value
            }"#;
        let root = r#"
            variable "alarm_emails" { type = list(string) }
            module "monitoring" {
              source       = "../../modules/monitoring"
              alarm_emails = var.alarm_emails
            }"#;
        let with = |emails: &str| {
            snippet(&[
                (MODULE, monitoring),
                ("environments/production/main.tf", root),
                ("environments/production/terraform.tfvars", emails),
            ])
        };
        let findings = check_with(&with("alarm_emails = []"), "");
        assert_eq!(findings.len(), 1, "{findings:?}");
        assert_finds(
            &findings,
            "environments/production/terraform.tfvars",
            &["sent to nobody", "alarm_emails"],
        );
        assert_clean(check_with(
            &with(r#"alarm_emails = ["oncall@example.com"]"#),
            "",
        ));
    }
}
