//! Configuration comes from the environment only, and is checked once at start-up: a missing
//! or malformed variable stops the binary with one line that names it and says how to fix it.
//! Secret values never appear in those lines (nor in `Debug` output).

use std::ffi::OsString;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;

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

/// Everything `eventflow-backend` (serve) needs.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub database: DatabaseConfig,
    pub listen: SocketAddr,
    pub jwt_secret: Secret,
    pub api_keys_secret: Secret,
    pub log_format: LogFormat,
}

impl ServeConfig {
    pub fn from_env(env: Lookup<'_>) -> Result<Self, ConfigError> {
        Ok(Self {
            database: DatabaseConfig::from_env(env)?,
            listen: listen_addr(env)?,
            jwt_secret: Secret::from_env(env, "JWT_SECRET")?,
            api_keys_secret: Secret::from_env(env, "API_KEYS_SECRET")?,
            log_format: LogFormat::from_env(env)?,
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
