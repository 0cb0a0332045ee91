//! What a scanner found: findings with a severity, and the scan result a scanner stage hands to
//! the summary (kept as a file so that a cached scanner can replay it).

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result, bail};
use serde_json::Value;

use super::REPORT_DIR;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub(super) const ALL: [Severity; 5] = [
        Severity::Critical,
        Severity::High,
        Severity::Medium,
        Severity::Low,
        Severity::Info,
    ];

    pub(super) fn parse(text: &str) -> Option<Severity> {
        match text.to_ascii_lowercase().as_str() {
            "critical" => Some(Severity::Critical),
            "high" | "error" => Some(Severity::High),
            "medium" | "moderate" | "warning" => Some(Severity::Medium),
            "low" => Some(Severity::Low),
            "info" | "informational" | "note" | "style" | "none" | "unknown" => {
                Some(Severity::Info)
            }
            _ => None,
        }
    }

    pub(super) fn label(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::High => "high",
            Severity::Medium => "medium",
            Severity::Low => "low",
            Severity::Info => "info",
        }
    }

    pub(super) fn blocks(self) -> bool {
        self >= Severity::High
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// What an exception names: an advisory (RUSTSEC-…, GHSA-…, CVE-…), a rule (DL3008,
    /// CKV_AWS_111) or, for secrets, `secret:<hash>`.
    pub id: String,
    pub severity: Severity,
    pub title: String,
    /// Where: a crate or package, a file and line, a resource.
    pub location: String,
}

/// What a scanner stage hands to the summary.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scan {
    Ran {
        findings: Vec<Finding>,
        note: Option<String>,
    },
    /// This machine can't run it (an unreachable service, a scanner that only CI has).
    NotRun(String),
    /// Its tool is missing: not run locally, a failure under `CI=true`.
    MissingTool(String),
}

impl Scan {
    pub(super) fn clean(note: impl Into<String>) -> Scan {
        Scan::Ran {
            findings: Vec::new(),
            note: Some(note.into()),
        }
    }

    pub(super) fn findings(findings: Vec<Finding>) -> Scan {
        Scan::Ran {
            findings,
            note: None,
        }
    }

    pub(super) fn one_line(&self) -> String {
        match self {
            Scan::Ran { findings, note } => {
                let mut line = format!("ran: {} finding(s)", findings.len());
                if let Some(note) = note {
                    let _ = write!(line, " ({note})");
                }
                line
            }
            Scan::NotRun(reason) | Scan::MissingTool(reason) => format!("NOT RUN: {reason}"),
        }
    }
}

/// Where a scanner leaves its findings, so that a cached scanner can hand them to the summary.
pub(super) fn scan_file(label: &str) -> String {
    format!("{REPORT_DIR}/{label}.scan.json")
}

pub(super) fn write_scan(path: &Path, scan: &Scan) -> Result<()> {
    let Scan::Ran { findings, note } = scan else {
        bail!("only a scan that ran is kept");
    };
    let findings: Vec<Value> = findings
        .iter()
        .map(|f| {
            serde_json::json!({
                "id": f.id,
                "severity": f.severity.label(),
                "title": f.title,
                "location": f.location,
            })
        })
        .collect();
    let json = serde_json::json!({ "findings": findings, "note": note });
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(path, json.to_string()).with_context(|| format!("writing {}", path.display()))
}

pub(super) fn read_scan(path: &Path) -> Result<Scan> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let json: Value =
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    let findings = json["findings"]
        .as_array()
        .with_context(|| format!("{} has no findings list", path.display()))?
        .iter()
        .map(|f| {
            let field = |name: &str| {
                f[name]
                    .as_str()
                    .map(str::to_owned)
                    .with_context(|| format!("a finding in {} has no {name}", path.display()))
            };
            Ok(Finding {
                id: field("id")?,
                severity: Severity::parse(&field("severity")?).with_context(|| {
                    format!("a finding in {} has a bad severity", path.display())
                })?,
                title: field("title")?,
                location: field("location")?,
            })
        })
        .collect::<Result<_>>()?;
    let note = json["note"].as_str().map(str::to_owned);
    Ok(Scan::Ran { findings, note })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kept_scan_reads_back_as_it_was_and_a_damaged_one_is_refused() {
        let dir = std::env::temp_dir().join(format!("xtask-scan-{}", std::process::id()));
        let path = dir.join("terraform.scan.json");
        let scan = Scan::Ran {
            findings: vec![Finding {
                id: "CKV_AWS_91".into(),
                severity: Severity::High,
                title: "access logging".into(),
                location: "infrastructure/modules/alb/main.tf:12".into(),
            }],
            note: Some("406 passed".into()),
        };
        write_scan(&path, &scan).unwrap();
        assert_eq!(read_scan(&path).unwrap(), scan);
        std::fs::write(&path, r#"{"findings":[{"id":"x"}]}"#).unwrap();
        assert!(read_scan(&path).is_err());
        assert!(write_scan(&path, &Scan::NotRun("no endpoint".into())).is_err());
    }
}
