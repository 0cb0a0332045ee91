//! Configuration comes from the environment only, and is checked once at start-up: a missing
//! or malformed variable stops the binary with one line that names it and says how to fix it.
//! Secret values never appear in those lines (nor in `Debug` output).

use std::ffi::OsString;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::postgres::PgConnectOptions;

/// Reads one environment variable; tests pass a map instead of the process environment.
pub type Lookup<'a> = &'a dyn Fn(&str) -> Option<OsString>;

/// The process environment.
pub fn process_env(name: &str) -> Option<OsString> {
    std::env::var_os(name)
}

/// The minimum length of `JWT_SECRET` and `API_KEYS_SECRET`, in bytes: HMAC-SHA256 keys
/// shorter than the hash add no strength, and short ones are guessable offline.
pub const MIN_SECRET_BYTES: usize = 32;

const DEFAULT_PORT: u16 = 8080;
const DEFAULT_HOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const DEFAULT_MAX_CONNECTIONS: u32 = 10;

/// A variable that is missing or malformed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub variable: &'static str,
    problem: String,
    fix: &'static str,
}

impl ConfigError {
    fn missing(variable: &'static str, fix: &'static str) -> Self {
        Self {
            variable,
            problem: "is not set".to_owned(),
            fix,
        }
    }

    pub(crate) fn malformed(
        variable: &'static str,
        problem: impl Into<String>,
        fix: &'static str,
    ) -> Self {
        Self {
            variable,
            problem: problem.into(),
            fix,
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.variable, self.problem, self.fix)
    }
}

impl std::error::Error for ConfigError {}

/// A variable's value, or `None` when it is unset or empty.
fn get(
    env: Lookup<'_>,
    variable: &'static str,
    fix: &'static str,
) -> Result<Option<String>, ConfigError> {
    match env(variable) {
        None => Ok(None),
        Some(value) => match value.into_string() {
            Ok(value) if value.is_empty() => Ok(None),
            Ok(value) => Ok(Some(value)),
            Err(_) => Err(ConfigError::malformed(variable, "is not valid UTF-8", fix)),
        },
    }
}

fn require(
    env: Lookup<'_>,
    variable: &'static str,
    fix: &'static str,
) -> Result<String, ConfigError> {
    get(env, variable, fix)?.ok_or_else(|| ConfigError::missing(variable, fix))
}

/// Key material for HMACs. `Debug` never shows it.
#[derive(Clone)]
pub struct Secret(Arc<[u8]>);

impl Secret {
    pub fn new(bytes: impl AsRef<[u8]>) -> Self {
        Self(Arc::from(bytes.as_ref()))
    }

    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    fn from_env(env: Lookup<'_>, variable: &'static str) -> Result<Self, ConfigError> {
        const FIX: &str = "set it to a random value of at least 32 bytes, e.g. the output of `openssl rand -hex 32`";
        let value = require(env, variable, FIX)?;
        if value.len() < MIN_SECRET_BYTES {
            // The length is safe to print; the value is not.
            let problem = format!(
                "is too short ({} bytes, at least {MIN_SECRET_BYTES} needed)",
                value.len()
            );
            return Err(ConfigError::malformed(variable, problem, FIX));
        }
        Ok(Self::new(value))
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

/// How log lines are written: JSON for CloudWatch (the default), text for a terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Text,
}

impl LogFormat {
    pub fn from_env(env: Lookup<'_>) -> Result<Self, ConfigError> {
        const FIX: &str = "set it to `json` or `text`, or unset it for `json`";
        match get(env, "LOG_FORMAT", FIX)?.as_deref() {
            None | Some("json") => Ok(Self::Json),
            Some("text") => Ok(Self::Text),
            Some(other) => Err(ConfigError::malformed(
                "LOG_FORMAT",
                format!("is `{other}`"),
                FIX,
            )),
        }
    }
}

/// Where PostgreSQL is, how to trust it (see [`crate::database_tls`]) and how many connections
/// to keep.
#[derive(Clone)]
pub struct DatabaseConfig {
    pub connect_options: PgConnectOptions,
    pub max_connections: u32,
}

impl DatabaseConfig {
    pub fn from_env(env: Lookup<'_>) -> Result<Self, ConfigError> {
        const FIX: &str = "set it to a PostgreSQL URL such as postgres://USER:PASSWORD@HOST:5432/DATABASE?sslmode=verify-full&sslrootcert=CA_FILE";
        let url = require(env, "DATABASE_URL", FIX)?;
        // The URL holds the password: errors describe it without quoting it.
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err(ConfigError::malformed(
                "DATABASE_URL",
                "does not start with postgres:// or postgresql://",
                FIX,
            ));
        }
        let connect_options = PgConnectOptions::from_str(&url)
            .map_err(|_| {
                ConfigError::malformed("DATABASE_URL", "is not a valid PostgreSQL URL", FIX)
            })?
            .application_name("eventflow-backend");
        crate::database_tls::check(&url, env)?;

        const POOL_FIX: &str = "set it to a whole number from 1 to 1000, or unset it for 10";
        let max_connections = match get(env, "DATABASE_MAX_CONNECTIONS", POOL_FIX)? {
            None => DEFAULT_MAX_CONNECTIONS,
            Some(value) => value
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=1000).contains(n))
                .ok_or_else(|| {
                    ConfigError::malformed(
                        "DATABASE_MAX_CONNECTIONS",
                        format!("is `{value}`"),
                        POOL_FIX,
                    )
                })?,
        };
        Ok(Self {
            connect_options,
            max_connections,
        })
    }
}

impl fmt::Debug for DatabaseConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // PgConnectOptions' own Debug prints the password.
        f.debug_struct("DatabaseConfig")
            .field("host", &self.connect_options.get_host())
            .field("port", &self.connect_options.get_port())
            .field("database", &self.connect_options.get_database())
            .field("max_connections", &self.max_connections)
            .finish_non_exhaustive()
    }
}

fn listen_addr(env: Lookup<'_>) -> Result<SocketAddr, ConfigError> {
    const HOST_FIX: &str =
        "set it to an IP address such as 127.0.0.1 or 0.0.0.0, or unset it for 127.0.0.1";
    const PORT_FIX: &str = "set it to a port number from 0 to 65535, or unset it for 8080";
    let host = match get(env, "HOST", HOST_FIX)? {
        None => DEFAULT_HOST,
        Some(value) => value.parse().map_err(|_| {
            ConfigError::malformed("HOST", format!("is `{value}`, not an IP address"), HOST_FIX)
        })?,
    };
    let port = match get(env, "PORT", PORT_FIX)? {
        None => DEFAULT_PORT,
        Some(value) => value.parse().map_err(|_| {
            ConfigError::malformed("PORT", format!("is `{value}`, not a port number"), PORT_FIX)
        })?,
    };
    Ok(SocketAddr::new(host, port))
}

/// A whole number from `min` to `max` in `variable`, or `default` when it is unset.
fn bounded_number(
    env: Lookup<'_>,
    variable: &'static str,
    (min, max, default): (u64, u64, u64),
    fix: &'static str,
) -> Result<u64, ConfigError> {
    match get(env, variable, fix)? {
        None => Ok(default),
        Some(value) => value
            .parse::<u64>()
            .ok()
            .filter(|n| (min..=max).contains(n))
            .ok_or_else(|| ConfigError::malformed(variable, format!("is `{value}`"), fix)),
    }
}

/// What one request, connection or client may cost the service. Every bound has a safe
/// default and its own variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// A request still running after this is answered 503 (`REQUEST_TIMEOUT_SECS`).
    pub request_timeout: Duration,
    /// PostgreSQL cancels any statement of the pool running longer (`DATABASE_STATEMENT_TIMEOUT_MS`).
    pub statement_timeout: Duration,
    /// A client must send a request's headers within this (`HEADER_READ_TIMEOUT_SECS`). hyper
    /// also counts a keep-alive connection's idle time against it, so the default is above the
    /// load balancer's 60 s idle timeout: the load balancer closes idle connections first, and
    /// never sends a request on one the task has just closed (a 502).
    pub header_read_timeout: Duration,
    /// Requests handled at once; more are answered 503 at once (`MAX_IN_FLIGHT_REQUESTS`).
    pub max_in_flight: usize,
    /// The widest `from`..`to` of `GET /v1/stats`, in days (`STATS_MAX_RANGE_DAYS`).
    pub stats_max_range_days: u32,
    /// Requests per second per API key (`API_KEY_RATE_LIMIT`)…
    pub api_key_rate_per_second: u32,
    /// …with bursts of up to this many (`API_KEY_RATE_BURST`).
    pub api_key_rate_burst: u32,
    /// Event timestamps further ahead of the server's clock are refused (`EVENT_MAX_FUTURE_SECS`).
    pub event_max_future: Duration,
    /// Event timestamps before this are refused (`EVENT_EARLIEST_TIMESTAMP`).
    pub event_earliest: DateTime<Utc>,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            request_timeout: Duration::from_secs(10),
            statement_timeout: Duration::from_millis(5000),
            header_read_timeout: Duration::from_secs(65),
            max_in_flight: 64,
            stats_max_range_days: 31,
            api_key_rate_per_second: 200,
            api_key_rate_burst: 400,
            event_max_future: Duration::from_secs(24 * 3600),
            event_earliest: DateTime::from_timestamp(946_684_800, 0).expect("2000-01-01 is valid"),
        }
    }
}

impl Limits {
    pub fn from_env(env: Lookup<'_>) -> Result<Self, ConfigError> {
        let default = Self::default();
        let secs = |variable, max, default: Duration, fix| {
            bounded_number(env, variable, (1, max, default.as_secs()), fix).map(Duration::from_secs)
        };
        const EARLIEST_FIX: &str = "set it to an RFC 3339 date-time such as 2000-01-01T00:00:00Z, or unset it for 2000-01-01T00:00:00Z";
        let event_earliest = match get(env, "EVENT_EARLIEST_TIMESTAMP", EARLIEST_FIX)? {
            None => default.event_earliest,
            Some(value) => DateTime::parse_from_rfc3339(&value)
                .map(|t| t.to_utc())
                .map_err(|_| {
                    ConfigError::malformed(
                        "EVENT_EARLIEST_TIMESTAMP",
                        format!("is `{value}`"),
                        EARLIEST_FIX,
                    )
                })?,
        };
        Ok(Self {
            request_timeout: secs(
                "REQUEST_TIMEOUT_SECS",
                600,
                default.request_timeout,
                "set it to a whole number of seconds from 1 to 600, or unset it for 10",
            )?,
            statement_timeout: Duration::from_millis(bounded_number(
                env,
                "DATABASE_STATEMENT_TIMEOUT_MS",
                (100, 3_600_000, 5000),
                "set it to a whole number of milliseconds from 100 to 3600000, or unset it for 5000",
            )?),
            header_read_timeout: secs(
                "HEADER_READ_TIMEOUT_SECS",
                300,
                default.header_read_timeout,
                "set it to a whole number of seconds from 1 to 300, or unset it for 65",
            )?,
            max_in_flight: bounded_number(
                env,
                "MAX_IN_FLIGHT_REQUESTS",
                (1, 100_000, 64),
                "set it to a whole number from 1 to 100000, or unset it for 64",
            )? as usize,
            stats_max_range_days: bounded_number(
                env,
                "STATS_MAX_RANGE_DAYS",
                (1, 3660, 31),
                "set it to a whole number of days from 1 to 3660, or unset it for 31",
            )? as u32,
            api_key_rate_per_second: bounded_number(
                env,
                "API_KEY_RATE_LIMIT",
                (1, 1_000_000, 200),
                "set it to a whole number of requests per second from 1 to 1000000, or unset it for 200",
            )? as u32,
            api_key_rate_burst: bounded_number(
                env,
                "API_KEY_RATE_BURST",
                (1, 1_000_000, 400),
                "set it to a whole number of requests from 1 to 1000000, or unset it for 400",
            )? as u32,
            event_max_future: secs(
                "EVENT_MAX_FUTURE_SECS",
                366 * 24 * 3600,
                default.event_max_future,
                "set it to a whole number of seconds from 1 to 31622400, or unset it for 86400 (a day)",
            )?,
            event_earliest,
        })
    }
}

/// What a bearer token must say besides its signature: who issued it, for whom, and that it
/// is short-lived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenPolicy {
    /// `iss` must equal this (`JWT_ISSUER`).
    pub issuer: String,
    /// `aud` must be or contain this (`JWT_AUDIENCE`).
    pub audience: String,
    /// `exp` may be at most this far after `iat`, and after now (`JWT_MAX_LIFETIME_SECS`).
    pub max_lifetime: Duration,
}

pub const DEFAULT_JWT_ISSUER: &str = "eventflow";
pub const DEFAULT_JWT_AUDIENCE: &str = "eventflow-api";

impl Default for TokenPolicy {
    fn default() -> Self {
        Self {
            issuer: DEFAULT_JWT_ISSUER.to_owned(),
            audience: DEFAULT_JWT_AUDIENCE.to_owned(),
            max_lifetime: Duration::from_secs(12 * 3600),
        }
    }
}

impl TokenPolicy {
    pub fn from_env(env: Lookup<'_>) -> Result<Self, ConfigError> {
        Ok(Self {
            issuer: get(
                env,
                "JWT_ISSUER",
                "set it to the `iss` the sign-in service writes, or unset it for `eventflow`",
            )?
            .unwrap_or_else(|| DEFAULT_JWT_ISSUER.to_owned()),
            audience: get(
                env,
                "JWT_AUDIENCE",
                "set it to the `aud` the sign-in service writes, or unset it for `eventflow-api`",
            )?
            .unwrap_or_else(|| DEFAULT_JWT_AUDIENCE.to_owned()),
            max_lifetime: Duration::from_secs(bounded_number(
                env,
                "JWT_MAX_LIFETIME_SECS",
                (60, 7 * 24 * 3600, 12 * 3600),
                "set it to a whole number of seconds from 60 to 604800, or unset it for 43200 (12 h)",
            )?),
        })
    }
}

/// `ADMIN_API_TOKEN`: the admin API is off (404) unless this is set, and then it takes this
/// credential only, never a dashboard token.
fn admin_token(env: Lookup<'_>) -> Result<Option<Secret>, ConfigError> {
    const FIX: &str = "set it to a random value of at least 32 bytes to turn the admin API on, or unset it to keep it off";
    match get(env, "ADMIN_API_TOKEN", FIX)? {
        None => Ok(None),
        Some(_) => Secret::from_env(env, "ADMIN_API_TOKEN").map(Some),
    }
}

/// Everything `eventflow-backend` (serve) needs.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub database: DatabaseConfig,
    pub listen: SocketAddr,
    pub jwt_secret: Secret,
    pub api_keys_secret: Secret,
    pub log_format: LogFormat,
    pub limits: Limits,
    pub tokens: TokenPolicy,
    pub admin_token: Option<Secret>,
}

impl ServeConfig {
    pub fn from_env(env: Lookup<'_>) -> Result<Self, ConfigError> {
        Ok(Self {
            database: DatabaseConfig::from_env(env)?,
            listen: listen_addr(env)?,
            jwt_secret: Secret::from_env(env, "JWT_SECRET")?,
            api_keys_secret: Secret::from_env(env, "API_KEYS_SECRET")?,
            log_format: LogFormat::from_env(env)?,
            limits: Limits::from_env(env)?,
            tokens: TokenPolicy::from_env(env)?,
            admin_token: admin_token(env)?,
        })
    }
}

/// Everything `eventflow-backend migrate` needs.
#[derive(Debug, Clone)]
pub struct MigrateConfig {
    pub database: DatabaseConfig,
    pub log_format: LogFormat,
}

impl MigrateConfig {
    pub fn from_env(env: Lookup<'_>) -> Result<Self, ConfigError> {
        Ok(Self {
            database: DatabaseConfig::from_env(env)?,
            log_format: LogFormat::from_env(env)?,
        })
    }
}

/// Everything `eventflow-backend create-api-key` needs.
#[derive(Debug, Clone)]
pub struct CreateApiKeyConfig {
    pub database: DatabaseConfig,
    pub api_keys_secret: Secret,
}

impl CreateApiKeyConfig {
    pub fn from_env(env: Lookup<'_>) -> Result<Self, ConfigError> {
        Ok(Self {
            database: DatabaseConfig::from_env(env)?,
            api_keys_secret: Secret::from_env(env, "API_KEYS_SECRET")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    const URL: &str = "postgres://eventflow:hunter2-db-password@db.internal:5432/eventflow";
    const JWT: &str = "jwt-secret-jwt-secret-jwt-secret-0123";
    const KEYS: &str = "api-keys-secret-api-keys-secret-0123";

    fn serve_config(vars: &[(&str, &str)]) -> Result<ServeConfig, ConfigError> {
        let mut map: HashMap<String, OsString> = [
            ("DATABASE_URL", URL),
            ("JWT_SECRET", JWT),
            ("API_KEYS_SECRET", KEYS),
            // These tests are about the other variables; `database_tls` tests the TLS rules.
            ("DATABASE_ALLOW_PLAINTEXT", "1"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.into()))
        .collect();
        for (k, v) in vars {
            map.insert((*k).to_owned(), (*v).into());
        }
        ServeConfig::from_env(&|name| map.get(name).cloned())
    }

    fn error(vars: &[(&str, &str)]) -> String {
        serve_config(vars).unwrap_err().to_string()
    }

    #[test]
    fn defaults() {
        let config = serve_config(&[]).unwrap();
        assert_eq!(config.listen, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(config.log_format, LogFormat::Json);
        assert_eq!(config.database.max_connections, 10);
        assert_eq!(config.jwt_secret.expose(), JWT.as_bytes());
    }

    #[test]
    fn overrides() {
        let config = serve_config(&[
            ("HOST", "0.0.0.0"),
            ("PORT", "9000"),
            ("LOG_FORMAT", "text"),
            ("DATABASE_MAX_CONNECTIONS", "3"),
        ])
        .unwrap();
        assert_eq!(config.listen, "0.0.0.0:9000".parse().unwrap());
        assert_eq!(config.log_format, LogFormat::Text);
        assert_eq!(config.database.max_connections, 3);
    }

    #[test]
    fn missing_variables_are_named_with_the_fix() {
        for variable in ["DATABASE_URL", "JWT_SECRET", "API_KEYS_SECRET"] {
            let message = error(&[(variable, "")]);
            assert!(
                message.starts_with(&format!("{variable} is not set: set it to")),
                "{message}"
            );
            assert!(!message.contains('\n'));
        }
    }

    #[test]
    fn malformed_variables_are_named() {
        assert_eq!(
            error(&[("PORT", "80a")]),
            "PORT is `80a`, not a port number: set it to a port number from 0 to 65535, or unset it for 8080"
        );
        assert!(error(&[("PORT", "70000")]).starts_with("PORT is `70000`"));
        assert!(
            error(&[("HOST", "localhost")]).starts_with("HOST is `localhost`, not an IP address")
        );
        assert!(
            error(&[("LOG_FORMAT", "xml")])
                .starts_with("LOG_FORMAT is `xml`: set it to `json` or `text`")
        );
        assert!(
            error(&[("DATABASE_MAX_CONNECTIONS", "0")])
                .starts_with("DATABASE_MAX_CONNECTIONS is `0`")
        );
        assert!(
            error(&[("DATABASE_URL", "mysql://x@y/z")])
                .starts_with("DATABASE_URL does not start with postgres://")
        );
    }

    #[test]
    fn production_urls_without_verify_full_are_refused() {
        // Without the local-development opt-out, as in production.
        let message = error(&[("DATABASE_ALLOW_PLAINTEXT", "")]);
        assert!(
            message.starts_with("DATABASE_URL does not ask for sslmode=verify-full: end DATABASE_URL with ?sslmode=verify-full&sslrootcert=PATH"),
            "{message}"
        );
        assert!(!message.contains("hunter2") && !message.contains('\n'));
        let message = error(&[
            ("DATABASE_ALLOW_PLAINTEXT", ""),
            ("DATABASE_URL", &format!("{URL}?sslmode=require")),
        ]);
        assert!(
            message.starts_with("DATABASE_URL asks for sslmode=require, not sslmode=verify-full"),
            "{message}"
        );
    }

    #[test]
    fn errors_never_show_secret_values() {
        let message = error(&[("JWT_SECRET", "short-secret")]);
        assert_eq!(
            message,
            "JWT_SECRET is too short (12 bytes, at least 32 needed): set it to a random value of at least 32 bytes, \
             e.g. the output of `openssl rand -hex 32`"
        );
        let message = error(&[("DATABASE_URL", "postgres://u:hunter2@host:notaport/db")]);
        assert!(
            message.starts_with("DATABASE_URL is not a valid PostgreSQL URL"),
            "{message}"
        );
        assert!(!message.contains("hunter2"));
    }

    #[test]
    fn debug_output_hides_secrets_and_the_database_password() {
        let debug = format!("{:?}", serve_config(&[]).unwrap());
        assert!(
            !debug.contains(JWT) && !debug.contains(KEYS) && !debug.contains("hunter2"),
            "{debug}"
        );
        assert!(debug.contains("db.internal"));
    }

    #[test]
    fn limits_tokens_and_admin_have_safe_defaults() {
        let config = serve_config(&[]).unwrap();
        assert_eq!(config.limits, Limits::default());
        assert_eq!(config.limits.request_timeout, Duration::from_secs(10));
        assert_eq!(config.limits.api_key_rate_per_second, 200);
        assert_eq!(config.limits.api_key_rate_burst, 400);
        assert_eq!(config.tokens, TokenPolicy::default());
        assert_eq!(config.tokens.max_lifetime, Duration::from_secs(12 * 3600));
        assert!(
            config.admin_token.is_none(),
            "the admin API is off by default"
        );
    }

    #[test]
    fn limits_tokens_and_admin_overrides() {
        let config = serve_config(&[
            ("REQUEST_TIMEOUT_SECS", "3"),
            ("DATABASE_STATEMENT_TIMEOUT_MS", "250"),
            ("HEADER_READ_TIMEOUT_SECS", "2"),
            ("MAX_IN_FLIGHT_REQUESTS", "8"),
            ("STATS_MAX_RANGE_DAYS", "7"),
            ("API_KEY_RATE_LIMIT", "5"),
            ("API_KEY_RATE_BURST", "10"),
            ("EVENT_MAX_FUTURE_SECS", "60"),
            ("EVENT_EARLIEST_TIMESTAMP", "2020-01-01T00:00:00Z"),
            ("JWT_ISSUER", "sign-in"),
            ("JWT_AUDIENCE", "dashboard-api"),
            ("JWT_MAX_LIFETIME_SECS", "3600"),
            ("ADMIN_API_TOKEN", KEYS),
        ])
        .unwrap();
        let limits = &config.limits;
        assert_eq!(limits.request_timeout, Duration::from_secs(3));
        assert_eq!(limits.statement_timeout, Duration::from_millis(250));
        assert_eq!(limits.header_read_timeout, Duration::from_secs(2));
        assert_eq!(limits.max_in_flight, 8);
        assert_eq!(limits.stats_max_range_days, 7);
        assert_eq!(
            (limits.api_key_rate_per_second, limits.api_key_rate_burst),
            (5, 10)
        );
        assert_eq!(limits.event_max_future, Duration::from_secs(60));
        assert_eq!(
            limits.event_earliest.to_rfc3339(),
            "2020-01-01T00:00:00+00:00"
        );
        assert_eq!(config.tokens.issuer, "sign-in");
        assert_eq!(config.tokens.audience, "dashboard-api");
        assert_eq!(config.tokens.max_lifetime, Duration::from_secs(3600));
        assert_eq!(config.admin_token.unwrap().expose(), KEYS.as_bytes());
    }

    #[test]
    fn malformed_limits_are_named_with_the_fix() {
        for (variable, value) in [
            ("REQUEST_TIMEOUT_SECS", "0"),
            ("DATABASE_STATEMENT_TIMEOUT_MS", "5s"),
            ("HEADER_READ_TIMEOUT_SECS", "-1"),
            ("MAX_IN_FLIGHT_REQUESTS", "0"),
            ("STATS_MAX_RANGE_DAYS", "many"),
            ("API_KEY_RATE_LIMIT", "0"),
            ("API_KEY_RATE_BURST", "1.5"),
            ("EVENT_MAX_FUTURE_SECS", "0"),
            ("EVENT_EARLIEST_TIMESTAMP", "2000"),
            ("JWT_MAX_LIFETIME_SECS", "10"),
        ] {
            let message = error(&[(variable, value)]);
            assert!(
                message.starts_with(&format!("{variable} is `{value}`: set it to")),
                "{message}"
            );
            assert!(!message.contains('\n'));
        }
        let message = error(&[("ADMIN_API_TOKEN", "short")]);
        assert!(
            message.starts_with("ADMIN_API_TOKEN is too short (5 bytes"),
            "{message}"
        );
        assert!(!message.contains("short:"), "{message}");
    }

    #[test]
    fn commands_ask_only_for_what_they_use() {
        let map: HashMap<&str, OsString> = HashMap::from([
            ("DATABASE_URL", URL.into()),
            ("DATABASE_ALLOW_PLAINTEXT", "1".into()),
        ]);
        let env = |name: &str| map.get(name).cloned();
        assert!(MigrateConfig::from_env(&env).is_ok());
        assert_eq!(
            CreateApiKeyConfig::from_env(&env).unwrap_err().variable,
            "API_KEYS_SECRET"
        );
    }
}
