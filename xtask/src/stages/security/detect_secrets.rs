//! `security-secrets`: keys and tokens committed anywhere in the tree, with detect-secrets, held
//! to the audited baseline.

use std::sync::Arc;

use anyhow::{Context, bail};
use serde_json::Value;

use super::SECRETS_BASELINE;
use super::scan::{Finding, Scan, Severity, scan_file};
use super::scanner::{Board, first_json, missing, run_capture, scanner};
use crate::cmd::Cmd;
use crate::pipeline::Stage;
use crate::pipeline::cache::Inputs;

pub(super) fn stage(board: &Arc<Board>) -> Stage {
    // Git's tracked files; the baseline is excluded because it holds the known values' hashes.
    // The keyword detector flags every `SECRET = "…"`-like line, which in a service configured
    // through JWT_SECRET and friends is mostly variable names and test fixtures; the detectors
    // for real credential formats (cloud keys, tokens, private keys, URLs with passwords) and
    // high-entropy strings stay on.
    let cmd = Cmd::new("detect-secrets").args([
        "scan",
        "--disable-plugin",
        "KeywordDetector",
        "--exclude-files",
        "^security/secrets-baseline\\.json$",
    ]);
    scanner(
        "security-secrets",
        "secrets",
        board,
        format!(
            "{} (known false positives in {SECRETS_BASELINE})",
            cmd.to_string().trim_start_matches("$ ")
        ),
        move |ctx| {
            if let Some(scan) = missing(
                "detect-secrets",
                "install it with `pip install bc-detect-secrets` (a dependency of checkov)",
            ) {
                return Ok(scan);
            }
            let baseline = std::fs::read_to_string(ctx.root.join(SECRETS_BASELINE))
                .with_context(|| format!("reading {SECRETS_BASELINE}"))?;
            let (_, output) = run_capture(ctx, &cmd)?;
            let Some(scan) = first_json(&output) else {
                bail!("detect-secrets printed no JSON report: see the log above");
            };
            let baseline: Value = serde_json::from_str(&baseline)
                .with_context(|| format!("{SECRETS_BASELINE} is not valid JSON"))?;
            Ok(Scan::findings(new_secrets(&scan, &baseline)))
        },
    )
    // Every file in the tree is an input: a secret can be committed anywhere.
    .cache(
        Inputs::files(&["**"])
            .tools(&["detect-secrets"])
            .outputs(&[&scan_file("secrets")]),
    )
}

/// Potential secrets that the baseline doesn't list as audited false positives. A value is
/// known by its hash, wherever it appears: a fake password in one test is fake in the next.
fn new_secrets(scan: &Value, baseline: &Value) -> Vec<Finding> {
    let known: Vec<&str> = baseline["results"]
        .as_object()
        .into_iter()
        .flat_map(|files| files.values())
        .flat_map(|list| list.as_array().into_iter().flatten())
        .filter(|s| s["is_secret"].as_bool() != Some(true))
        .filter_map(|s| s["hashed_secret"].as_str())
        .collect();
    let mut findings = Vec::new();
    for (file, list) in scan["results"].as_object().into_iter().flatten() {
        for secret in list.as_array().into_iter().flatten() {
            let hash = secret["hashed_secret"].as_str().unwrap_or_default();
            if known.contains(&hash) {
                continue;
            }
            let kind = secret["type"].as_str().unwrap_or("secret");
            // Entropy alone flags hashes and ids as often as keys; a named kind of credential is
            // a likelier leak.
            let severity = if kind.contains("High Entropy") {
                Severity::Medium
            } else {
                Severity::High
            };
            findings.push(Finding {
                id: format!("secret:{}", &hash[..hash.len().min(12)]),
                severity,
                title: format!("potential secret: {kind}"),
                location: format!(
                    "{file}:{}",
                    secret["line_number"].as_u64().unwrap_or_default()
                ),
            });
        }
    }
    findings
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_in_the_baseline_are_known_false_positives_wherever_they_appear() {
        let baseline: Value = serde_json::from_str(
            r#"{"results": {"a.rs": [{"type": "Basic Auth Credentials", "hashed_secret": "aaaa1111", "is_secret": false}]}}"#,
        )
        .unwrap();
        let scan: Value = serde_json::from_str(
            r#"{"results": {
                "b.rs": [{"type": "Basic Auth Credentials", "hashed_secret": "aaaa1111", "line_number": 3}],
                "c.rs": [{"type": "AWS Access Key", "hashed_secret": "bbbb2222bbbb2222", "line_number": 7},
                         {"type": "Hex High Entropy String", "hashed_secret": "cccc3333", "line_number": 9}]
            }}"#,
        )
        .unwrap();
        let findings = new_secrets(&scan, &baseline);
        assert_eq!(
            findings,
            [
                Finding {
                    id: "secret:bbbb2222bbbb".to_owned(),
                    severity: Severity::High,
                    title: "potential secret: AWS Access Key".to_owned(),
                    location: "c.rs:7".to_owned(),
                },
                Finding {
                    id: "secret:cccc3333".to_owned(),
                    severity: Severity::Medium,
                    title: "potential secret: Hex High Entropy String".to_owned(),
                    location: "c.rs:9".to_owned(),
                },
            ]
        );
    }
}
