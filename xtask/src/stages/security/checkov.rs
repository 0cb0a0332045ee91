//! `security-terraform`: `infrastructure/`, with checkov.

use std::sync::Arc;

use anyhow::{Result, bail};
use serde_json::Value;

use super::scan::{Finding, Scan, Severity, scan_file};
use super::scanner::{Board, first_json, missing, run_capture, scanner};
use crate::cmd::Cmd;
use crate::pipeline::Stage;
use crate::pipeline::cache::Inputs;
use crate::project::Project;

pub(super) fn stage(project: &Project, board: &Arc<Board>) -> Stage {
    if !project.root().join("infrastructure").is_dir() {
        return scanner(
            "security-terraform",
            "terraform",
            board,
            "no infrastructure/ directory".to_owned(),
            |_| Ok(Scan::clean("no infrastructure/ directory")),
        );
    }
    let cmd = Cmd::new("checkov").args([
        "-d",
        "infrastructure",
        "--framework",
        "terraform",
        "--skip-download",
        "--quiet",
        "--compact",
        "--output",
        "json",
    ]);
    scanner(
        "security-terraform",
        "terraform",
        board,
        cmd.to_string().trim_start_matches("$ ").to_owned(),
        move |ctx| {
            if let Some(scan) = missing("checkov", "install it with `pip install checkov`") {
                return Ok(scan);
            }
            let (_, output) = run_capture(ctx, &cmd)?;
            parse_checkov(&output)
        },
    )
    .cache(
        Inputs::files(&["infrastructure/**", ".checkov.yaml", ".checkov.yml"])
            .tools(&["checkov"])
            .outputs(&[&scan_file("terraform")]),
    )
}

/// checkov's report: one object per framework (a list of them when there are several). Offline,
/// checkov gives no severity; a failed check then counts as high: the policy is that none fail.
fn parse_checkov(output: &str) -> Result<Scan> {
    let Some(report) = first_json(output) else {
        bail!("checkov printed no JSON report: see the log above");
    };
    let reports = match report {
        Value::Array(reports) => reports,
        one => vec![one],
    };
    let mut findings = Vec::new();
    for report in &reports {
        for check in report["results"]["failed_checks"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let lines = &check["file_line_range"];
            findings.push(Finding {
                id: check["check_id"].as_str().unwrap_or("checkov").to_owned(),
                severity: check["severity"]
                    .as_str()
                    .and_then(Severity::parse)
                    .unwrap_or(Severity::High),
                title: check["check_name"].as_str().unwrap_or_default().to_owned(),
                location: format!(
                    "infrastructure{}:{} {}",
                    check["file_path"].as_str().unwrap_or_default(),
                    lines[0].as_u64().unwrap_or_default(),
                    check["resource"].as_str().unwrap_or_default()
                ),
            });
        }
    }
    Ok(Scan::findings(findings))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkov_reports_become_findings() {
        let checkov = r#"{"check_type":"terraform","results":{"failed_checks":[{"check_id":"CKV_AWS_111","check_name":"Ensure IAM policies does not allow write access without constraints","severity":null,"file_path":"/modules/kms/main.tf","file_line_range":[14,62],"resource":"aws_iam_policy_document.key"}]},"summary":{"failed":1}}"#;
        let Scan::Ran { findings, .. } = parse_checkov(checkov).unwrap() else {
            panic!()
        };
        assert_eq!(findings[0].severity, Severity::High);
        assert_eq!(
            findings[0].location,
            "infrastructure/modules/kms/main.tf:14 aws_iam_policy_document.key"
        );
    }
}
