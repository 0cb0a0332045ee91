//! `security-npm-audit`: the dashboard's production dependencies, with `npm audit`.

use std::sync::Arc;

use anyhow::{Result, bail};
use serde_json::Value;

use super::scan::{Finding, Scan, Severity};
use super::scanner::{Board, first_json, missing, run_capture, scanner};
use crate::cmd::Cmd;
use crate::pipeline::Stage;

pub(super) fn stage(board: &Arc<Board>) -> Stage {
    let cmd = Cmd::new("npm")
        .args(["audit", "--audit-level=high", "--omit=dev", "--json"])
        .dir("frontend");
    scanner(
        "security-npm-audit",
        "npm-audit",
        board,
        format!("{cmd} (reads package-lock.json; an unreachable audit endpoint is NOT RUN)"),
        move |ctx| {
            if let Some(scan) = missing(
                "npm",
                "install Node.js 20 or newer (it includes npm): https://nodejs.org",
            ) {
                return Ok(scan);
            }
            let (_, output) = run_capture(ctx, &cmd)?;
            parse_npm_audit(&output)
        },
    )
}

/// npm's audit report, or the reason it has none: a registry without the audit endpoint (405),
/// no network, an error from the registry.
fn parse_npm_audit(output: &str) -> Result<Scan> {
    let Some(report) = first_json(output) else {
        bail!("npm audit printed no JSON report: see the log above");
    };
    if let Some(vulnerabilities) = report["vulnerabilities"].as_object() {
        let findings = vulnerabilities
            .iter()
            .map(|(package, v)| {
                let severity = v["severity"]
                    .as_str()
                    .and_then(Severity::parse)
                    .unwrap_or(Severity::High);
                // `via` lists advisories (objects) or the packages that bring one in (strings).
                let advisory = v["via"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|via| via.is_object());
                let id = advisory
                    .and_then(|a| a["url"].as_str())
                    .and_then(|url| url.rsplit('/').next())
                    .map_or_else(|| format!("npm:{package}"), str::to_owned);
                let title = advisory.and_then(|a| a["title"].as_str()).map_or_else(
                    || format!("vulnerable through {}", describe_via(&v["via"])),
                    str::to_owned,
                );
                Finding {
                    id,
                    severity,
                    title,
                    location: format!("{package} {}", v["range"].as_str().unwrap_or_default())
                        .trim()
                        .to_owned(),
                }
            })
            .collect();
        return Ok(Scan::findings(findings));
    }
    let status = report["statusCode"].as_u64();
    let message = report["message"]
        .as_str()
        .or_else(|| report["error"]["summary"].as_str())
        .or_else(|| report["error"]["code"].as_str())
        .unwrap_or("no report");
    let reason = match status {
        Some(405) => format!(
            "the registry has no audit endpoint (HTTP 405: {message}); it runs against the public npm registry, as in GitHub Actions"
        ),
        Some(code) => format!("the audit endpoint answered HTTP {code}: {message}"),
        None => format!("the audit endpoint could not be reached: {message}"),
    };
    Ok(Scan::NotRun(reason))
}

fn describe_via(via: &Value) -> String {
    let names: Vec<&str> = via
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    if names.is_empty() {
        "its dependencies".to_owned()
    } else {
        names.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn npm_audit_without_its_endpoint_is_not_run() {
        // What the registry on a machine without the audit service answers.
        let output = "{\n  \"message\": \"405 Method Not Allowed - POST https://registry.example/-/npm/v1/security/advisories/bulk\",\n  \"method\": \"POST\",\n  \"statusCode\": 405,\n  \"body\": \"\"\n}\nnpm error audit endpoint returned an error\n";
        let Scan::NotRun(reason) = parse_npm_audit(output).unwrap() else {
            panic!("not run");
        };
        assert!(
            reason.starts_with("the registry has no audit endpoint (HTTP 405"),
            "{reason}"
        );

        let offline = r#"{"error": {"code": "ENOTFOUND", "summary": "request to https://registry.example failed"}}"#;
        assert!(
            matches!(parse_npm_audit(offline).unwrap(), Scan::NotRun(r) if r.contains("could not be reached"))
        );

        let report = r#"{"auditReportVersion": 2, "vulnerabilities": {"cookie": {"name": "cookie", "severity": "high", "range": "<0.7.0", "via": [{"source": 1099846, "title": "cookie accepts out of bounds characters", "url": "https://github.com/advisories/GHSA-pxg6-pf52-xh8x", "severity": "high"}]}, "express": {"severity": "moderate", "range": "4.0.0 - 4.21.0", "via": ["cookie"]}}, "metadata": {}}"#;
        let Scan::Ran { findings, .. } = parse_npm_audit(report).unwrap() else {
            panic!("ran");
        };
        assert_eq!(findings[0].id, "GHSA-pxg6-pf52-xh8x");
        assert_eq!(findings[0].severity, Severity::High);
        assert_eq!(findings[1].id, "npm:express");
        assert_eq!(findings[1].severity, Severity::Medium);
        assert_eq!(findings[1].title, "vulnerable through cookie");
    }
}
