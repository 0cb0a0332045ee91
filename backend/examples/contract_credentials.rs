//! The credentials the contract test (`cargo xtask test contract`) gives schemathesis: a dashboard
//! bearer token signed with the backend's `JWT_SECRET`, and an API key created through the admin
//! API with `ADMIN_API_TOKEN`, as the end-to-end and smoke suites get theirs.
//!
//! Reads `EVENTFLOW_API_URL`, `JWT_SECRET` and `ADMIN_API_TOKEN`, and writes `EVENTFLOW_CONTRACT_TOKEN=…` and
//! `EVENTFLOW_CONTRACT_API_KEY=…` lines to the file named by its one argument, readable by its
//! owner only: secrets never go through a command line or the output.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use eventflow_backend::auth::jwt::{self, Claims, Role};
use eventflow_backend::config::TokenPolicy;
use serde_json::{Value, json};

/// Longer than the contract stage's time budget.
const TOKEN_LIFETIME_SECS: i64 = 3600;

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let out = std::env::args()
        .nth(1)
        .context("usage: contract_credentials OUTPUT_FILE")?;
    let env = |name: &str| {
        std::env::var(name)
            .ok()
            .filter(|value| !value.is_empty())
            .with_context(|| format!("{name} is not set: run `cargo xtask test contract`"))
    };
    let api = env("EVENTFLOW_API_URL")?;
    let secret = env("JWT_SECRET")?;
    let admin_token = env("ADMIN_API_TOKEN")?;

    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs() as i64;
    let token = jwt::sign(
        &Claims::new(
            "contract-test",
            Role::Viewer,
            &TokenPolicy::default(),
            now,
            TOKEN_LIFETIME_SECS,
        ),
        secret.as_bytes(),
    );

    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder()
        // Production's WAF refuses requests without one; every client of the project sends it.
        .user_agent("eventflow-tests")
        .timeout(Duration::from_secs(30))
        .build()?;
    let response = client
        .post(format!("{}/v1/admin/api-keys", api.trim_end_matches('/')))
        .bearer_auth(&admin_token)
        .json(&json!({"name": "contract-test"}))
        .send()
        .await
        .context("cannot reach the backend to create the API key")?;
    let status = response.status();
    let created: Value = response.json().await.unwrap_or(Value::Null);
    let Some(key) = created["key"].as_str().filter(|_| status.as_u16() == 201) else {
        bail!(
            "creating the API key answered {status}: {}",
            created["error"]
        );
    };

    if let Some(dir) = std::path::Path::new(&out).parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&out)
        .with_context(|| format!("cannot write {out}"))?;
    writeln!(
        file,
        "EVENTFLOW_CONTRACT_TOKEN={token}\nEVENTFLOW_CONTRACT_API_KEY={key}"
    )?;
    eprintln!("credentials written to {out}");
    Ok(())
}
