//! `security-images`: the built images (or, without them, the repository's files), with Trivy.

use std::sync::Arc;

use anyhow::{Context, Result};
use serde_json::Value;

use super::scan::{Finding, Scan, Severity};
use super::scanner::{Board, scanner};
use super::{IMAGES_VAR, REPORT_DIR};
use crate::cmd::Cmd;
use crate::pipeline::Stage;

/// One Trivy scan: what it looks at, the command, its JSON report and the SARIF made from it.
struct TrivyScan {
    target: String,
    scan: Cmd,
    json: String,
    sarif: String,
}

impl TrivyScan {
    fn new(kind: &[&str], name: &str, target: &str) -> TrivyScan {
        let json = format!("{REPORT_DIR}/trivy-{name}.json");
        let sarif = format!("{REPORT_DIR}/sarif/trivy-{name}.sarif");
        let scan = Cmd::new("trivy")
            .args(kind.iter().copied())
            .args(["--format", "json", "--output", &json, target]);
        TrivyScan {
            target: target.to_owned(),
            scan,
            json,
            sarif,
        }
    }

    fn convert(&self) -> Cmd {
        Cmd::new("trivy").args([
            "convert",
            "--format",
            "sarif",
            "--output",
            &self.sarif,
            &self.json,
        ])
    }
}

/// The images named in `$EVENTFLOW_SCAN_IMAGES`, or else the repository's files.
fn trivy_scans() -> Vec<TrivyScan> {
    let images: Vec<String> = std::env::var(IMAGES_VAR)
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    if images.is_empty() {
        return vec![TrivyScan::new(
            &[
                "fs",
                "--scanners",
                "vuln,secret,misconfig",
                "--skip-dirs",
                "target,frontend/node_modules",
            ],
            "repository",
            ".",
        )];
    }
    images
        .iter()
        .enumerate()
        .map(|(i, image)| TrivyScan::new(&["image"], &format!("image-{}", i + 1), image))
        .collect()
}

pub(super) fn stage(board: &Arc<Board>) -> Stage {
    let example = TrivyScan::new(&["image"], "image-N", "IMAGE");
    scanner(
        "security-images",
        "images",
        board,
        format!(
            "{} for each image in ${IMAGES_VAR}, else `trivy fs` of the repository; only where trivy is on PATH; SARIF to {REPORT_DIR}/sarif",
            example.scan.to_string().trim_start_matches("$ ")
        ),
        move |ctx| {
            if which::which("trivy").is_err() {
                return Ok(Scan::NotRun(
                    "trivy is not on PATH: it runs in GitHub Actions (aquasecurity/setup-trivy)"
                        .to_owned(),
                ));
            }
            let dir = ctx.root.join(REPORT_DIR).join("sarif");
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            let mut findings = Vec::new();
            for scan in trivy_scans() {
                let status = ctx.run_status(&scan.scan)?;
                let text =
                    std::fs::read_to_string(ctx.root.join(&scan.json)).with_context(|| {
                        format!(
                            "trivy exited with {status} and wrote no report on {} to {}",
                            scan.target, scan.json
                        )
                    })?;
                findings.extend(parse_trivy(&text)?);
                ctx.run(&scan.convert())?;
            }
            Ok(Scan::findings(findings))
        },
    )
}

fn parse_trivy(text: &str) -> Result<Vec<Finding>> {
    let report: Value = serde_json::from_str(text).context("reading trivy's JSON report")?;
    let mut findings = Vec::new();
    for result in report["Results"].as_array().into_iter().flatten() {
        let target = result["Target"].as_str().unwrap_or_default();
        let severity = |v: &Value| {
            v["Severity"]
                .as_str()
                .and_then(Severity::parse)
                .unwrap_or(Severity::High)
        };
        for v in result["Vulnerabilities"].as_array().into_iter().flatten() {
            findings.push(Finding {
                id: v["VulnerabilityID"].as_str().unwrap_or("trivy").to_owned(),
                severity: severity(v),
                title: v["Title"].as_str().unwrap_or_default().to_owned(),
                location: format!(
                    "{target}: {} {}",
                    v["PkgName"].as_str().unwrap_or_default(),
                    v["InstalledVersion"].as_str().unwrap_or_default()
                ),
            });
        }
        for m in result["Misconfigurations"].as_array().into_iter().flatten() {
            findings.push(Finding {
                id: m["ID"].as_str().unwrap_or("trivy").to_owned(),
                severity: severity(m),
                title: m["Title"].as_str().unwrap_or_default().to_owned(),
                location: target.to_owned(),
            });
        }
        for s in result["Secrets"].as_array().into_iter().flatten() {
            findings.push(Finding {
                id: s["RuleID"].as_str().unwrap_or("trivy").to_owned(),
                severity: severity(s),
                title: s["Title"].as_str().unwrap_or_default().to_owned(),
                location: format!("{target}:{}", s["StartLine"].as_u64().unwrap_or_default()),
            });
        }
    }
    Ok(findings)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trivy_reports_become_findings() {
        let trivy = r#"{"Results":[{"Target":"Cargo.lock","Vulnerabilities":[{"VulnerabilityID":"CVE-2026-1234","PkgName":"openssl","InstalledVersion":"0.10.1","Severity":"CRITICAL","Title":"t"}]},{"Target":"backend/Dockerfile","Misconfigurations":[{"ID":"DS002","Title":"Image user should not be root","Severity":"HIGH"}]}]}"#;
        let findings = parse_trivy(trivy).unwrap();
        assert_eq!(findings[0].severity, Severity::Critical);
        assert_eq!(findings[0].location, "Cargo.lock: openssl 0.10.1");
        assert_eq!(findings[1].id, "DS002");
    }
}
