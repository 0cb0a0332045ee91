//! `security-rds-ca`: the RDS root certificates the backend image ships
//! (`backend/certs/rds-ca/eu-central-1-bundle.pem`) are still the ones Amazon publishes for
//! eu-central-1. A root Amazon adds (a rotation) or withdraws is a high finding: the backend
//! would refuse a database whose certificate comes from it, or trust one Amazon gave up.
//!
//! Where Amazon's trust store cannot be reached (a machine without internet), the check
//! reports NOT RUN with the reason; it runs in GitHub Actions.

use std::collections::BTreeMap;

use anyhow::{Context, Result, bail};
use sha2::{Digest, Sha256};

use super::security::{Finding, Scan, Severity};
use crate::cmd::Cmd;
use crate::pipeline::StageContext;

pub const SHIPPED: &str = "backend/certs/rds-ca/eu-central-1-bundle.pem";
pub const PUBLISHED_URL: &str =
    "https://truststore.pki.rds.amazonaws.com/eu-central-1/eu-central-1-bundle.pem";
/// Where the download goes, next to the scanners' reports.
const DOWNLOADED: &str = "target/xtask/security/rds-ca-published.pem";
/// curl's exit codes for "this machine can't reach it": no DNS, no route, timed out, no TLS.
const UNREACHABLE: [i32; 5] = [5, 6, 7, 28, 35];

pub fn download() -> Cmd {
    Cmd::new("curl").args([
        "--silent",
        "--show-error",
        "--fail",
        "--location",
        "--proto",
        "=https",
        "--max-time",
        "30",
        "--output",
        DOWNLOADED,
        PUBLISHED_URL,
    ])
}

/// Downloads Amazon's bundle and compares it with the shipped one.
pub fn scan(ctx: &mut StageContext) -> Result<Scan> {
    if which::which("curl").is_err() {
        return Ok(Scan::MissingTool(
            "curl is not on PATH: install it (Debian: apt-get install curl)".to_owned(),
        ));
    }
    let shipped = std::fs::read_to_string(ctx.root.join(SHIPPED))
        .with_context(|| format!("reading {SHIPPED}"))?;
    if let Some(dir) = ctx.root.join(DOWNLOADED).parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let status = ctx.run_status(&download())?;
    match status.code() {
        Some(0) => {}
        Some(code) if UNREACHABLE.contains(&code) => {
            return Ok(Scan::NotRun(format!(
                "{PUBLISHED_URL} cannot be reached from this machine (curl exit code {code}): the check runs in GitHub Actions"
            )));
        }
        _ => bail!(
            "downloading {PUBLISHED_URL} failed ({status}): if Amazon moved the bundle, find it in the RDS user guide (\"Using SSL/TLS to encrypt a connection to a DB instance\") and update PUBLISHED_URL in xtask/src/stages/rds_ca.rs"
        ),
    }
    let published = std::fs::read_to_string(ctx.root.join(DOWNLOADED))
        .with_context(|| format!("reading {DOWNLOADED}"))?;
    let findings = compare(&shipped, &published)?;
    Ok(Scan::Ran {
        note: findings
            .is_empty()
            .then(|| format!("{SHIPPED} matches Amazon's published bundle")),
        findings,
    })
}

/// The certificates in a PEM bundle, by the SHA-256 of their base64 body (whitespace aside).
fn certificates(pem: &str) -> BTreeMap<String, ()> {
    let mut found = BTreeMap::new();
    let mut body: Option<String> = None;
    for line in pem.lines().map(str::trim) {
        match (line, body.as_mut()) {
            ("-----BEGIN CERTIFICATE-----", _) => body = Some(String::new()),
            ("-----END CERTIFICATE-----", Some(b)) => {
                let digest = Sha256::digest(b.as_bytes());
                found.insert(digest.iter().map(|x| format!("{x:02x}")).collect(), ());
                body = None;
            }
            (text, Some(b)) => b.push_str(text),
            _ => {}
        }
    }
    found
}

/// A finding for each root only one of the two bundles holds.
pub fn compare(shipped: &str, published: &str) -> Result<Vec<Finding>> {
    let shipped = certificates(shipped);
    let published = certificates(published);
    if published.is_empty() {
        bail!("{PUBLISHED_URL} answered without any certificate: check the address");
    }
    let finding = |digest: &String, title: &str| Finding {
        id: format!("rds-ca:{}", &digest[..16]),
        severity: Severity::High,
        title: title.to_owned(),
        location: SHIPPED.to_owned(),
    };
    let mut findings = Vec::new();
    for digest in published.keys().filter(|d| !shipped.contains_key(*d)) {
        findings.push(finding(
            digest,
            "Amazon publishes an RDS root the shipped bundle lacks: replace the file with the published bundle and update its README's fingerprints",
        ));
    }
    for digest in shipped.keys().filter(|d| !published.contains_key(*d)) {
        findings.push(finding(
            digest,
            "the shipped bundle holds an RDS root Amazon no longer publishes: replace the file with the published bundle and update its README's fingerprints",
        ));
    }
    Ok(findings)
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "-----BEGIN CERTIFICATE-----\nAAAA\nBBBB\n-----END CERTIFICATE-----\n";
    const B: &str = "-----BEGIN CERTIFICATE-----\nCCCC\n-----END CERTIFICATE-----\n";

    #[test]
    fn the_same_roots_in_another_layout_match() {
        let relaid = "-----BEGIN CERTIFICATE-----\r\nAAAABBBB\r\n-----END CERTIFICATE-----\r\n";
        assert_eq!(
            compare(&format!("{A}{B}"), &format!("{B}{relaid}")).unwrap(),
            []
        );
    }

    #[test]
    fn a_rotated_or_withdrawn_root_is_a_high_finding() {
        let findings = compare(A, B).unwrap();
        assert_eq!(findings.len(), 2);
        assert!(findings.iter().all(|f| f.severity == Severity::High));
        assert!(
            findings[0]
                .title
                .starts_with("Amazon publishes an RDS root")
        );
        assert!(findings[1].title.contains("no longer publishes"));
        assert!(compare(A, "<html>not found</html>").is_err());
    }

    #[test]
    fn the_shipped_bundle_holds_the_three_eu_central_1_roots() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let shipped = std::fs::read_to_string(root.join(SHIPPED)).unwrap();
        assert_eq!(certificates(&shipped).len(), 3);
        assert_eq!(compare(&shipped, &shipped).unwrap(), []);
    }

    #[test]
    fn the_download_is_https_only_into_the_report_dir() {
        assert_eq!(
            download().to_string(),
            "$ curl --silent --show-error --fail --location --proto =https --max-time 30 --output target/xtask/security/rds-ca-published.pem https://truststore.pki.rds.amazonaws.com/eu-central-1/eu-central-1-bundle.pem"
        );
    }
}
