//! `security-rust-deps`: the Rust dependencies against the RustSec advisories and deny.toml's
//! policy, with cargo-deny.

use std::sync::Arc;

use anyhow::{Result, bail};
use serde_json::Value;

use super::ADVISORY_DB_VAR;
use super::cvss::cvss_severity;
use super::scan::{Finding, Scan, Severity, scan_file};
use super::scanner::{Board, missing, run_capture, scanner};
use crate::cmd::Cmd;
use crate::pipeline::Stage;
use crate::pipeline::cache::Inputs;
use crate::project::Project;

fn deny_command(offline: bool) -> Cmd {
    let mut cmd = Cmd::new("cargo").args(["deny", "--format", "json"]);
    if offline {
        cmd = cmd.arg("--offline");
    }
    cmd.args(["check", "--show-stats"])
}

/// The commit of the offline advisory database that ${ADVISORY_DB_VAR} names, if any.
fn offline_advisories(project: &Project) -> Option<String> {
    let repository = project
        .advisory_db
        .as_ref()?
        .join("advisory-db-3157b0e258782691");
    xshell::cmd!(project.sh, "git -C {repository} rev-parse HEAD")
        .quiet()
        .ignore_stderr()
        .read()
        .ok()
}

pub(super) fn stage(project: &Project, board: &Arc<Board>) -> Stage {
    // Against the live database an unchanged lockfile can gain an advisory overnight, so only a
    // run against a pinned offline copy (its commit part of the plan, hence of the key) is cached.
    let advisories = offline_advisories(project);
    let source = match &advisories {
        Some(commit) => {
            format!("offline advisory database at commit {commit}, after `cargo fetch --locked`")
        }
        None => format!(
            "advisories fetched from the RustSec database, never cached; with --offline when ${ADVISORY_DB_VAR} names a local copy"
        ),
    };
    let stage = scanner(
        "security-rust-deps",
        "rust-deps",
        board,
        format!(
            "{} ({source})",
            deny_command(false).to_string().trim_start_matches("$ ")
        ),
        move |ctx| {
            if let Some(scan) = missing(
                "cargo-deny",
                "install it with `cargo install cargo-deny --locked`",
            ) {
                return Ok(scan);
            }
            let offline = std::env::var_os(ADVISORY_DB_VAR).is_some_and(|v| !v.is_empty());
            if offline {
                // Offline, cargo-deny's `cargo metadata` can't download what the lockfile names
                // for other platforms: fetch every package first (the advisories stay offline).
                ctx.run(&Cmd::new("cargo").args(["fetch", "--locked"]))?;
            }
            let (code, output) = run_capture(ctx, &deny_command(offline))?;
            parse_cargo_deny(&output, code)
        },
    );
    match advisories {
        Some(_) => stage.cache(
            Inputs::files(&["Cargo.lock", "**/Cargo.toml", "deny.toml"])
                .tools(&["cargo-deny"])
                .env(&[ADVISORY_DB_VAR])
                .outputs(&[&scan_file("rust-deps")]),
        ),
        None => stage,
    }
}

/// cargo-deny's JSON lines: one `diagnostic` per problem, `log` lines, and a `summary`.
fn parse_cargo_deny(output: &str, code: Option<i32>) -> Result<Scan> {
    let mut findings = Vec::new();
    let mut errors = Vec::new();
    let mut saw_summary = false;
    for line in output.lines().filter(|l| l.starts_with('{')) {
        let Ok(value) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        let fields = &value["fields"];
        match value["type"].as_str() {
            Some("diagnostic") => {
                if let Some(finding) = deny_finding(fields) {
                    findings.push(finding);
                }
            }
            Some("log") if fields["level"].as_str() == Some("ERROR") => {
                errors.push(fields["message"].as_str().unwrap_or_default().to_owned());
            }
            Some("summary") => saw_summary = true,
            _ => {}
        }
    }
    if !saw_summary && findings.is_empty() {
        bail!(
            "cargo-deny exited with {} and reported nothing: {}",
            code.map_or("a signal".to_owned(), |c| format!("code {c}")),
            if errors.is_empty() {
                "see the log above".to_owned()
            } else {
                errors.join("; ")
            }
        );
    }
    Ok(Scan::findings(findings))
}

/// One cargo-deny diagnostic as a finding. Advisories carry their CVSS score; everything else is
/// rated by what cargo-deny makes of it (an error breaks the policy in deny.toml).
fn deny_finding(fields: &Value) -> Option<Finding> {
    let code = fields["code"].as_str().unwrap_or("deny");
    let level = fields["severity"].as_str().unwrap_or("warning");
    let message = fields["message"].as_str().unwrap_or_default().to_owned();
    let advisory = &fields["advisory"];
    let package = fields["graphs"][0]["Krate"]["name"]
        .as_str()
        .map(|name| {
            let version = fields["graphs"][0]["Krate"]["version"]
                .as_str()
                .unwrap_or_default();
            format!("{name} {version}").trim().to_owned()
        })
        .unwrap_or_default();
    if let Some(id) = advisory["id"].as_str() {
        let severity = match code {
            "vulnerability" => advisory["cvss"]
                .as_str()
                .and_then(cvss_severity)
                .unwrap_or(Severity::High),
            "unsound" => Severity::Medium,
            // Unmaintained, yanked and notices: worth knowing, no known hole.
            _ => Severity::Low,
        };
        let title = advisory["title"].as_str().unwrap_or(&message).to_owned();
        return Some(Finding {
            id: id.to_owned(),
            severity,
            title: format!("{code}: {title}"),
            location: package,
        });
    }
    let severity = match level {
        // Two versions of a crate cost build time, not safety.
        _ if code == "duplicate" => Severity::Info,
        "error" => Severity::High,
        "warning" => Severity::Low,
        _ => Severity::Info,
    };
    Some(Finding {
        id: code.to_owned(),
        severity,
        title: message,
        location: package,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cargo_deny_diagnostics_become_findings() {
        let output = [
            r#"{"type":"diagnostic","fields":{"code":"vulnerability","severity":"error","message":"m","graphs":[{"Krate":{"name":"time","version":"0.3.20"}}],"advisory":{"id":"RUSTSEC-2020-0071","title":"Potential segfault in the time crate","cvss":"CVSS:3.1/AV:L/AC:H/PR:N/UI:N/S:U/C:N/I:N/A:H"}}}"#,
            r#"{"type":"diagnostic","fields":{"code":"unmaintained","severity":"error","message":"m","graphs":[{"Krate":{"name":"paste","version":"1.0.15"}}],"advisory":{"id":"RUSTSEC-2024-0436","title":"paste - no longer maintained"}}}"#,
            r#"{"type":"diagnostic","fields":{"code":"duplicate","severity":"warning","message":"found 2 duplicate entries for crate 'base64'","graphs":[{"Krate":{"name":"base64","version":"0.21.7"}}]}}"#,
            r#"{"type":"diagnostic","fields":{"code":"rejected","severity":"error","message":"failed to satisfy license requirements","graphs":[{"Krate":{"name":"gpl-thing","version":"1.0.0"}}]}}"#,
            r#"{"type":"summary","fields":{"advisories":{"errors":2}}}"#,
        ]
        .join("\n");
        let Scan::Ran { findings, .. } = parse_cargo_deny(&output, Some(1)).unwrap() else {
            panic!("cargo-deny ran");
        };
        let got: Vec<(&str, Severity, &str)> = findings
            .iter()
            .map(|f| (f.id.as_str(), f.severity, f.location.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("RUSTSEC-2020-0071", Severity::Medium, "time 0.3.20"),
                ("RUSTSEC-2024-0436", Severity::Low, "paste 1.0.15"),
                ("duplicate", Severity::Info, "base64 0.21.7"),
                ("rejected", Severity::High, "gpl-thing 1.0.0"),
            ]
        );
        // No summary and nothing found: cargo-deny itself failed, which is an error, not clean.
        let broken = r#"{"type":"log","fields":{"level":"ERROR","message":"failed to open advisory database"}}"#;
        assert!(
            parse_cargo_deny(broken, Some(1))
                .unwrap_err()
                .to_string()
                .contains("failed to open advisory database")
        );
    }
}
