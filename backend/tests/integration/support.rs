//! What the tests share: a fresh database per test, and the server started in-process on it.

use std::process::Command;
use std::str::FromStr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use eventflow_backend::auth::api_key;
use eventflow_backend::auth::jwt::{self, Claims, Role};
use eventflow_backend::config::{Secret, TokenPolicy};
use eventflow_backend::migrations;
use eventflow_backend::server;
use eventflow_backend::state::AppState;
use reqwest::StatusCode;
use serde_json::Value;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, Executor, PgConnection, PgPool};
use tokio::sync::oneshot;

pub const JWT_SECRET: &str = "integration-jwt-secret-0123456789abcdef";
pub const API_KEYS_SECRET: &str = "integration-api-keys-secret-0123456789ab";
/// The admin API's credential: on in the in-process server, as when ADMIN_API_TOKEN is set.
pub const ADMIN_API_TOKEN: &str = "integration-admin-api-token-0123456789ab";

/// The server the xtask provisioned. Without it every test fails: passing silently would
/// hide that nothing was tested.
pub fn database_url() -> String {
    match std::env::var("DATABASE_URL") {
        Ok(url) if !url.is_empty() => url,
        _ => panic!(
            "DATABASE_URL is not set: run `cargo xtask test integration`, which provisions PostgreSQL"
        ),
    }
}

pub fn admin_options() -> PgConnectOptions {
    PgConnectOptions::from_str(&database_url()).expect("DATABASE_URL is a valid PostgreSQL URL")
}

/// A database of its own for one test, dropped when the test ends (also when it fails).
pub struct TestDb {
    pub name: String,
    pub options: PgConnectOptions,
}

impl TestDb {
    pub async fn create() -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let name = format!(
            "eventflow_it_{}_{}_{nanos}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let mut admin = PgConnection::connect_with(&admin_options())
            .await
            .expect("connect to DATABASE_URL");
        // The name is generated above from digits and underscores; identifiers can't be bound.
        admin
            .execute(format!(r#"CREATE DATABASE "{name}""#).as_str())
            .await
            .expect("create a test database");
        admin.close().await.ok();
        let options = admin_options().database(&name);
        Self { name, options }
    }

    /// The URL of this database, for the binary's `DATABASE_URL`.
    pub fn url(&self) -> String {
        with_database(&database_url(), &self.name)
    }

    pub async fn pool(&self) -> PgPool {
        PgPoolOptions::new()
            .max_connections(5)
            .connect_with(self.options.clone())
            .await
            .expect("connect to the test database")
    }

    /// A test database with the migrations applied.
    pub async fn migrated() -> Self {
        let db = Self::create().await;
        migrations::run(&db.options)
            .await
            .expect("migrate the test database");
        db
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop can't await: run the clean-up on a thread with a runtime of its own.
        let cleanup = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(async move {
                    if let Ok(mut admin) = PgConnection::connect_with(&admin_options()).await {
                        let _ = admin
                            .execute(
                                format!(r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#)
                                    .as_str(),
                            )
                            .await;
                    }
                })
        });
        let _ = cleanup.join();
    }
}

/// `url` with its `sslrootcert` replaced by `ca_file`, the other query parameters kept.
pub fn with_root_cert(url: &str, ca_file: &str) -> String {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let mut params: Vec<String> = query
        .split('&')
        .filter(|p| !p.is_empty() && !p.starts_with("sslrootcert="))
        .map(str::to_owned)
        .collect();
    params.push(format!("sslrootcert={ca_file}"));
    format!("{base}?{}", params.join("&"))
}

/// `DATABASE_URL` with its database replaced by `name`, query parameters kept.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (url, String::new()),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let authority_end = base[authority_start..]
        .find('/')
        .map_or(base.len(), |slash| authority_start + slash);
    format!("{}/{name}{query}", &base[..authority_end])
}

/// The server running in-process on a fresh, migrated database, with an API key and
/// tokens to call it.
pub struct TestApp {
    pub base_url: String,
    pub client: reqwest::Client,
    pub pool: PgPool,
    pub api_key: String,
    pub api_key_id: i64,
    stop: Option<oneshot::Sender<()>>,
    // Last: the database goes after the server has stopped using it.
    _db: TestDb,
}

impl TestApp {
    pub async fn start() -> Self {
        Self::start_with(|state| state).await
    }

    /// Like [`TestApp::start`], with the state changed first (other limits, admin API off).
    pub async fn start_with(configure: impl FnOnce(AppState) -> AppState) -> Self {
        let db = TestDb::migrated().await;
        let pool = db.pool().await;
        let state = AppState::new(
            pool.clone(),
            Secret::new(JWT_SECRET),
            Secret::new(API_KEYS_SECRET),
        )
        .with_admin_token(Some(Secret::new(ADMIN_API_TOKEN)));
        Self::serve(db, pool, configure(state)).await
    }

    pub async fn serve(db: TestDb, pool: PgPool, state: AppState) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base_url = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        let app = server::app(state.clone());
        let state_limits = state.limits.clone();
        tokio::spawn(async move {
            let shutdown = async move {
                let _ = stopped.await;
            };
            let limits = server::ConnectionLimits {
                header_read_timeout: state_limits.header_read_timeout,
                shutdown_deadline: std::time::Duration::from_secs(1),
            };
            server::serve(listener, app, shutdown, limits)
                .await
                .unwrap();
        });
        let (api_key_id, api_key) =
            match api_key::create(&pool, &state.api_keys_secret, "integration").await {
                Ok((record, key)) => (record.id, key),
                // A server on an unmigrated or unreachable database has no keys table.
                Err(_) => (0, String::new()),
            };
        let client = http_client();
        Self {
            base_url,
            client,
            pool,
            api_key,
            api_key_id,
            stop: Some(stop),
            _db: db,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// `POST /v1/events` with this app's API key.
    pub async fn ingest(&self, body: &Value) -> (StatusCode, Value) {
        let response = self
            .client
            .post(self.url("/v1/events"))
            .header("x-api-key", &self.api_key)
            .json(body)
            .send()
            .await
            .unwrap();
        read(response).await
    }

    /// `GET path` with a viewer's bearer token.
    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        let response = self
            .client
            .get(self.url(path))
            .bearer_auth(token(Role::Viewer))
            .send()
            .await
            .unwrap();
        read(response).await
    }

    pub async fn event_count(&self) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM events")
            .fetch_one(&self.pool)
            .await
            .unwrap()
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// A client for the in-process server. reqwest is built with rustls but no crypto provider
/// chosen (the end-to-end suite needs HTTPS), so one must be installed first; racing tests
/// may each try, and all but the first are told it is done already.
pub fn http_client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .user_agent("eventflow-tests")
        .no_proxy()
        .build()
        .unwrap()
}

/// The status and JSON body of a response (`Value::Null` for an empty body).
pub async fn read(response: reqwest::Response) -> (StatusCode, Value) {
    let status = response.status();
    let bytes = response.bytes().await.unwrap();
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&bytes)))
    };
    (status, body)
}

pub fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A bearer token valid for ten minutes, with the default issuer and audience.
pub fn token(role: Role) -> String {
    jwt::sign(
        &Claims::new(
            "integration",
            role,
            &TokenPolicy::default(),
            now_secs(),
            600,
        ),
        JWT_SECRET.as_bytes(),
    )
}

/// Asserts the API's error shape and returns its code.
pub fn error_code(body: &Value) -> &str {
    let error = &body["error"];
    assert!(
        error["message"].as_str().is_some_and(|m| !m.is_empty()),
        "no error message in {body}"
    );
    error["code"]
        .as_str()
        .unwrap_or_else(|| panic!("no error code in {body}"))
}

/// The built `eventflow-backend` binary with a clean environment: only what is set here.
pub fn binary(db: &TestDb) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_eventflow-backend"));
    command
        .env_clear()
        .env("DATABASE_URL", db.url())
        .env("JWT_SECRET", JWT_SECRET)
        .env("API_KEYS_SECRET", API_KEYS_SECRET)
        .env("HOST", "127.0.0.1")
        .env("PORT", "0")
        .env("LOG_FORMAT", "json");
    // Under `cargo xtask coverage` the binary is instrumented too: its profile goes where the
    // coverage run collects profiles, not into the working directory.
    if let Some(profile) = std::env::var_os("LLVM_PROFILE_FILE") {
        command.env("LLVM_PROFILE_FILE", profile);
    }
    command
}

#[test]
fn test_database_urls() {
    assert_eq!(
        with_database("postgres://u:p@h:5432/db?sslmode=disable", "t1"),
        "postgres://u:p@h:5432/t1?sslmode=disable"
    );
    assert_eq!(
        with_database("postgres://u@h:5432", "t1"),
        "postgres://u@h:5432/t1"
    );
    assert_eq!(
        with_root_cert(
            "postgres://u@h:5432/db?sslmode=verify-full&sslrootcert=/a/ca.crt",
            "/b/other.crt"
        ),
        "postgres://u@h:5432/db?sslmode=verify-full&sslrootcert=/b/other.crt"
    );
}
