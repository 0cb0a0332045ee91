//! The developer's own AWS kept away from the jobs. The calling shell's `AWS_*` variables are
//! never passed on (run.rs), and every step also gets empty shared credentials and config files
//! and no instance metadata, so an SDK's default chain finds nothing of `~/.aws` or of the
//! machine's role. AWS calls may go to loopback only: the sandbox's emulator.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

/// The SDKs' endpoint variable; `AWS_ENDPOINT_URL_<SERVICE>` share its prefix.
const ENDPOINT_PREFIX: &str = "AWS_ENDPOINT_URL";
/// Variables that make an SDK sign requests with whatever they hold.
const CREDENTIALS: &[&str] = &[
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
];

fn files_dir(run_dir: &Path) -> PathBuf {
    run_dir.join("aws")
}

/// What every step gets, last, so that no workflow or step `env:` points elsewhere.
pub fn variables(run_dir: &Path) -> Vec<(String, String)> {
    let dir = files_dir(run_dir);
    vec![
        (
            "AWS_SHARED_CREDENTIALS_FILE".into(),
            dir.join("credentials").display().to_string(),
        ),
        (
            "AWS_CONFIG_FILE".into(),
            dir.join("config").display().to_string(),
        ),
        ("AWS_EC2_METADATA_DISABLED".into(), "true".into()),
    ]
}

/// The empty files [`variables`] points at.
pub fn prepare(run_dir: &Path) -> Result<()> {
    let dir = files_dir(run_dir);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    for file in ["credentials", "config"] {
        let path = dir.join(file);
        std::fs::write(&path, "").with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

/// Every `AWS_ENDPOINT_URL*` must be a loopback URL.
pub fn check_endpoints<'a>(env: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<()> {
    for (name, url) in env {
        if name.starts_with(ENDPOINT_PREFIX) && !loopback(url) {
            bail!(
                "{name}={url} is not loopback: the rehearsal sends AWS calls only to the sandbox (`cargo xtask sandbox up`)"
            );
        }
    }
    Ok(())
}

/// A step's environment: its endpoints loopback, and AWS credentials only beside a loopback
/// endpoint (credentials without one would sign requests for real AWS).
pub fn check_step(env: &BTreeMap<String, String>) -> Result<()> {
    check_endpoints(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))?;
    let endpoint = env.get(ENDPOINT_PREFIX).is_some_and(|url| loopback(url));
    if let Some(name) = CREDENTIALS.iter().find(|n| env.contains_key(**n))
        && !endpoint
    {
        bail!(
            "{name} is set without a loopback AWS_ENDPOINT_URL, so it would reach real AWS: let configure-aws-credentials hand over the sandbox's (`cargo xtask sandbox up`)"
        );
    }
    Ok(())
}

/// `http(s)://127.x.x.x`, `localhost` or `[::1]`, with any port and path.
fn loopback(url: &str) -> bool {
    let Some(rest) = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
    else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') {
        return false;
    }
    let host = if let Some(v6) = authority.strip_prefix('[') {
        v6.split(']').next().unwrap_or_default()
    } else {
        authority.split(':').next().unwrap_or_default()
    };
    match host.parse::<std::net::IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => host.eq_ignore_ascii_case("localhost"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_urls_are_loopback() {
        for url in [
            "http://127.0.0.1:4566",
            "http://127.0.0.1:4566/",
            "https://localhost",
            "http://[::1]:9000/x",
            "http://127.1.2.3",
        ] {
            assert!(loopback(url), "{url}");
        }
        for url in [
            "https://sts.eu-central-1.amazonaws.com",
            "http://127.0.0.1.nip.io:4566",
            "http://user@127.0.0.1:4566@evil.example",
            "http://10.0.0.1:4566",
            "127.0.0.1:4566",
            "",
        ] {
            assert!(!loopback(url), "{url}");
        }
    }

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn a_step_with_a_remote_endpoint_or_credentials_for_real_aws_is_refused() {
        assert!(check_step(&env(&[("AWS_REGION", "eu-central-1")])).is_ok());
        assert!(
            check_step(&env(&[
                ("AWS_ACCESS_KEY_ID", "K"),
                ("AWS_ENDPOINT_URL", "http://127.0.0.1:4566"),
            ]))
            .is_ok()
        );
        assert_eq!(
            check_step(&env(&[("AWS_ENDPOINT_URL_S3", "https://s3.amazonaws.com")]))
                .unwrap_err()
                .to_string(),
            "AWS_ENDPOINT_URL_S3=https://s3.amazonaws.com is not loopback: the rehearsal sends AWS calls only to the sandbox (`cargo xtask sandbox up`)"
        );
        let err = check_step(&env(&[("AWS_SECRET_ACCESS_KEY", "S")]))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("AWS_SECRET_ACCESS_KEY is set without a loopback AWS_ENDPOINT_URL"),
            "{err}"
        );
    }
}
