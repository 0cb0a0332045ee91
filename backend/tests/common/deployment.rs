//! The run fixture of the suites that go through the public URL only (`e2e`, `smoke`):
//! configuration, an HTTP client, tokens, and an API key that is cleaned up. Each suite's
//! `main.rs` includes it as `mod support` and names itself in `SUITE` (`e2e`, `smoke`), which
//! goes into the run's key name, user id and event names, and into the messages.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use eventflow_backend::auth::jwt::{self, Claims, Role};
use eventflow_backend::config::{DEFAULT_JWT_AUDIENCE, DEFAULT_JWT_ISSUER, TokenPolicy};
use rand::RngCore;
use reqwest::{RequestBuilder, StatusCode};
use serde_json::{Value, json};

use crate::SUITE;

pub struct Config {
    pub base_url: String,
    jwt_secret: String,
    /// The `iss` and `aud` the deployment expects (`JWT_ISSUER`, `JWT_AUDIENCE`).
    tokens: TokenPolicy,
    /// The deployment's `ADMIN_API_TOKEN`: the run creates and deletes its API key with it.
    admin_token: Option<String>,
    /// `EVENTFLOW_SMOKE_API_KEY`: a standing key for a deployment whose admin API is off
    /// (production), used when there is no admin token.
    standing_key: Option<String>,
    pub expected_git_sha: Option<String>,
    pub expect_dashboard: bool,
}

impl Config {
    /// Fails the test, never skips it, when the suite was started without its environment.
    pub fn from_env() -> Self {
        let required = |name: &str| match std::env::var(name) {
            Ok(value) if !value.is_empty() => value,
            _ => panic!(
                "{name} is not set: run `cargo xtask test {SUITE}` (or `cargo xtask test {SUITE} --base-url URL` against a deployment)"
            ),
        };
        let optional = |name: &str| std::env::var(name).ok().filter(|value| !value.is_empty());
        Self {
            base_url: required("EVENTFLOW_BASE_URL")
                .trim_end_matches('/')
                .to_owned(),
            jwt_secret: required("JWT_SECRET"),
            tokens: TokenPolicy {
                issuer: optional("JWT_ISSUER").unwrap_or_else(|| DEFAULT_JWT_ISSUER.to_owned()),
                audience: optional("JWT_AUDIENCE")
                    .unwrap_or_else(|| DEFAULT_JWT_AUDIENCE.to_owned()),
                ..TokenPolicy::default()
            },
            admin_token: optional("ADMIN_API_TOKEN"),
            standing_key: optional("EVENTFLOW_SMOKE_API_KEY"),
            expected_git_sha: optional("EVENTFLOW_EXPECTED_GIT_SHA"),
            expect_dashboard: optional("EVENTFLOW_EXPECT_DASHBOARD").as_deref() == Some("1"),
        }
    }

    /// A dashboard token, valid for 15 minutes.
    pub fn token(&self, role: Role) -> String {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        jwt::sign(
            &Claims::new(format!("{SUITE}-suite"), role, &self.tokens, now, 900),
            self.jwt_secret.as_bytes(),
        )
    }

    /// The admin API's credential, for `bearer_auth`.
    /// Only the tests that write need it, so a read-only check runs without it.
    pub fn admin_token(&self) -> &str {
        self.admin_token.as_deref().unwrap_or_else(|| {
            panic!(
                "ADMIN_API_TOKEN is not set: the {SUITE} run creates its API key through the admin API; run `cargo xtask test {SUITE}`, or with --base-url export the deployment's admin token (or, where the admin API is off, EVENTFLOW_SMOKE_API_KEY)"
            )
        })
    }
}

pub fn client() -> reqwest::Client {
    // Several tests may race to install it; all but the first get an error that means "done".
    let _ = rustls::crypto::ring::default_provider().install_default();
    // Production's test listener answers 403 without the environment's test key
    // (EVENTFLOW_TEST_LISTENER_KEY, from the deploy); sensitive, so it never prints.
    let mut headers = reqwest::header::HeaderMap::new();
    if let Ok(key) = std::env::var("EVENTFLOW_TEST_LISTENER_KEY")
        && !key.is_empty()
    {
        let mut value = reqwest::header::HeaderValue::from_str(&key)
            .expect("EVENTFLOW_TEST_LISTENER_KEY is a valid header value (the hex string of the environment's test_listener_key secret)");
        value.set_sensitive(true);
        headers.insert("X-EventFlow-Test-Key", value);
    }
    reqwest::Client::builder()
        // Production's WAF blocks requests without one (NoUserAgent_HEADER).
        .user_agent("eventflow-tests")
        .default_headers(headers)
        .timeout(Duration::from_secs(30))
        .build()
        .expect("build the HTTP client")
}

/// The status and JSON body of a response (`Value::Null` when the body is empty or not JSON).
pub async fn send(request: RequestBuilder) -> (StatusCode, Value) {
    let response = request.send().await.unwrap_or_else(|error| {
        let mut message = error.to_string();
        let mut source = std::error::Error::source(&error);
        while let Some(cause) = source {
            message.push_str(&format!(": {cause}"));
            source = cause.source();
        }
        panic!("request failed: {message}")
    });
    let status = response.status();
    let bytes = response.bytes().await.unwrap_or_default();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// One test's footprint on the environment: an API key, and events tagged with `user_id`.
pub struct Run {
    pub config: Config,
    pub client: reqwest::Client,
    /// Unique to this run: event names and the user id contain it.
    pub id: String,
    pub user_id: String,
    pub key: String,
    /// The key this run created and deletes; `None` when it uses the standing key of a
    /// deployment without the admin API (its few events then stay, tagged with `user_id`).
    key_id: Option<String>,
}

impl Run {
    pub async fn start() -> Self {
        let config = Config::from_env();
        let client = client();
        let mut random = [0u8; 4];
        rand::thread_rng().fill_bytes(&mut random);
        let id = format!(
            "{}-{}-{}",
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_secs(),
            std::process::id(),
            hex::encode(random)
        );
        let (key, key_id) = match (&config.admin_token, &config.standing_key) {
            (None, Some(standing)) => (standing.clone(), None),
            _ => {
                let request = client
                    .post(format!("{}/v1/admin/api-keys", config.base_url))
                    .bearer_auth(config.admin_token())
                    .json(&json!({"name": format!("{SUITE}-{id}")}));
                let (status, created) = send(request).await;
                assert_eq!(
                    status,
                    StatusCode::CREATED,
                    "creating the run's API key: {created}"
                );
                (
                    created["key"].as_str().unwrap().to_owned(),
                    Some(created["id"].as_str().unwrap().to_owned()),
                )
            }
        };
        Self {
            user_id: format!("{SUITE}-{id}"),
            key,
            key_id,
            id,
            config,
            client,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.config.base_url)
    }

    /// An event name that only this run uses.
    pub fn event_name(&self, what: &str) -> String {
        format!("{SUITE}.{}.{what}", self.id)
    }

    pub async fn ingest(&self, body: &Value) -> (StatusCode, Value) {
        send(
            self.client
                .post(self.url("/v1/events"))
                .header("x-api-key", &self.key)
                .json(body),
        )
        .await
    }

    /// `GET` with a viewer's token, as the dashboard reads.
    pub async fn read(&self, path: &str) -> (StatusCode, Value) {
        send(
            self.client
                .get(self.url(path))
                .bearer_auth(self.config.token(Role::Viewer)),
        )
        .await
    }

    /// Every event of this run with this name, following the cursor across pages.
    pub async fn events_named(&self, name: &str, page_size: usize) -> Vec<Value> {
        let mut events = Vec::new();
        let mut cursor = String::new();
        loop {
            let (status, page) = self
                .read(&format!(
                    "/v1/events?name={name}&limit={page_size}&cursor={cursor}"
                ))
                .await;
            assert_eq!(status, StatusCode::OK, "{page}");
            let batch = page["events"].as_array().unwrap();
            assert!(batch.len() <= page_size);
            events.extend(batch.iter().cloned());
            match page["next_cursor"].as_str() {
                Some(next) => cursor = next.to_owned(),
                None => return events,
            }
        }
    }

    async fn clean_up(client: reqwest::Client, config: &Config, user_id: &str, key_id: &str) {
        let admin = config.admin_token();
        let events = client
            .delete(format!(
                "{}/v1/admin/events?user_id={user_id}",
                config.base_url
            ))
            .bearer_auth(admin)
            .send()
            .await;
        let key = client
            .delete(format!("{}/v1/admin/api-keys/{key_id}", config.base_url))
            .bearer_auth(admin)
            .send()
            .await;
        for (what, outcome) in [("events", events), ("API key", key)] {
            match outcome {
                Ok(response) if response.status().is_success() => {}
                Ok(response) => eprintln!(
                    "{SUITE} clean-up: deleting the run's {what} answered {}",
                    response.status()
                ),
                Err(error) => {
                    eprintln!("{SUITE} clean-up: deleting the run's {what} failed: {error}")
                }
            }
        }
    }
}

impl Drop for Run {
    /// Runs when the test ends, passed or failed: the clean-up goes through the admin API on
    /// a thread of its own, since `Drop` can't await. A run on a standing key (no admin API)
    /// has nothing it may delete.
    fn drop(&mut self) {
        let Some(key_id) = self.key_id.clone() else {
            return;
        };
        let config = Config {
            base_url: self.config.base_url.clone(),
            jwt_secret: self.config.jwt_secret.clone(),
            tokens: self.config.tokens.clone(),
            admin_token: self.config.admin_token.clone(),
            standing_key: None,
            expected_git_sha: None,
            expect_dashboard: false,
        };
        let user_id = self.user_id.clone();
        let cleanup = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(Self::clean_up(client(), &config, &user_id, &key_id));
        });
        let _ = cleanup.join();
    }
}
