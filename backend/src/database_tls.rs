//! TLS to PostgreSQL: the backend speaks to its database only over a verified connection.
//!
//! Production (RDS with `rds.force_ssl=1`) is reached with `sslmode=verify-full` against the
//! Amazon RDS root CAs the image ships at [`IMAGE_RDS_CA_BUNDLE`]. `verify-full`, not
//! `verify-ca`: every RDS instance in the region has a certificate from the same roots, so
//! checking the chain without the host name would accept any other RDS instance, anyone's.
//! Anything weaker is refused at start-up unless `DATABASE_ALLOW_PLAINTEXT=1` says this is a
//! local database on purpose; production never sets it.

use std::path::Path;

use crate::config::{ConfigError, Lookup};

/// Where the backend image keeps Amazon's RDS root CAs for eu-central-1 (`backend/certs/rds-ca/`).
pub const IMAGE_RDS_CA_BUNDLE: &str = "/etc/eventflow/rds-ca/eu-central-1-bundle.pem";

/// The opt-out for a local database without TLS.
pub const ALLOW_PLAINTEXT_VAR: &str = "DATABASE_ALLOW_PLAINTEXT";

const MODE_FIX: &str = "end DATABASE_URL with ?sslmode=verify-full&sslrootcert=PATH, where PATH is the CA bundle that signed the server's certificate (the image ships RDS's at /etc/eventflow/rds-ca/eu-central-1-bundle.pem); for a local database without TLS set DATABASE_ALLOW_PLAINTEXT=1 instead";
const ROOT_CERT_FIX: &str = "set sslrootcert in DATABASE_URL to the CA bundle that signed the server's certificate (the image ships RDS's at /etc/eventflow/rds-ca/eu-central-1-bundle.pem)";
const ALLOW_FIX: &str = "set it to 1 for a local database without TLS, or unset it (production)";

/// Checks that `url` asks for a verified TLS connection with a readable CA file, unless the
/// environment opts out. The URL holds the password: errors quote only its query parameters.
pub fn check(url: &str, env: Lookup<'_>) -> Result<(), ConfigError> {
    if allows_plaintext(env)? {
        return Ok(());
    }
    let parsed = url::Url::parse(url).map_err(|_| {
        ConfigError::malformed("DATABASE_URL", "is not a valid PostgreSQL URL", MODE_FIX)
    })?;
    let param = |name: &str| {
        parsed
            .query_pairs()
            .filter(|(key, _)| key == name)
            .last()
            .map(|(_, value)| value.into_owned())
    };
    match param("sslmode").as_deref() {
        Some("verify-full") => {}
        Some(other) => {
            return Err(ConfigError::malformed(
                "DATABASE_URL",
                format!("asks for sslmode={other}, not sslmode=verify-full"),
                MODE_FIX,
            ));
        }
        None => {
            return Err(ConfigError::malformed(
                "DATABASE_URL",
                "does not ask for sslmode=verify-full",
                MODE_FIX,
            ));
        }
    }
    let Some(root_cert) = param("sslrootcert") else {
        return Err(ConfigError::malformed(
            "DATABASE_URL",
            "has sslmode=verify-full but no sslrootcert",
            ROOT_CERT_FIX,
        ));
    };
    match std::fs::metadata(Path::new(&root_cert)) {
        Ok(meta) if meta.is_file() && meta.len() > 0 => Ok(()),
        Ok(_) => Err(ConfigError::malformed(
            "DATABASE_URL",
            format!("has sslrootcert={root_cert}, which is not a file with certificates"),
            ROOT_CERT_FIX,
        )),
        Err(error) => Err(ConfigError::malformed(
            "DATABASE_URL",
            format!("has sslrootcert={root_cert}, which cannot be read ({error})"),
            ROOT_CERT_FIX,
        )),
    }
}

fn allows_plaintext(env: Lookup<'_>) -> Result<bool, ConfigError> {
    match env(ALLOW_PLAINTEXT_VAR) {
        None => Ok(false),
        Some(value) if value.is_empty() => Ok(false),
        Some(value) if value == "1" => Ok(true),
        Some(value) => Err(ConfigError::malformed(
            ALLOW_PLAINTEXT_VAR,
            format!("is `{}`", value.to_string_lossy()),
            ALLOW_FIX,
        )),
    }
}

/// Turns a failed connection into one line that says what to fix: a certificate that the
/// CA file does not vouch for names `sslrootcert`, one for another host names the host;
/// anything else names DATABASE_URL and the database being up.
pub fn connect_error(
    error: sqlx::Error,
    options: &sqlx::postgres::PgConnectOptions,
) -> anyhow::Error {
    let host = options.get_host();
    let at = format!(
        "{host}:{} (database `{}`)",
        options.get_port(),
        options.get_database().unwrap_or("postgres"),
    );
    let message = match certificate_problem(&error) {
        Some(Certificate::NotTrusted) => format!(
            "cannot connect to PostgreSQL at {at} over TLS, the server's certificate is not trusted with DATABASE_URL's sslrootcert: {ROOT_CERT_FIX}"
        ),
        Some(Certificate::OtherHost) => format!(
            "cannot connect to PostgreSQL at {at} over TLS, the server's certificate is not valid for `{host}`: use in DATABASE_URL the host name the certificate names (for RDS, the instance's endpoint)"
        ),
        None => format!(
            "cannot connect to PostgreSQL at {at}: check DATABASE_URL and that the database is up"
        ),
    };
    anyhow::Error::new(error).context(message)
}

enum Certificate {
    NotTrusted,
    OtherHost,
}

/// sqlx reports an unreadable CA file as a TLS error, and a certificate that fails the
/// handshake as an I/O error carrying rustls' error.
fn certificate_problem(error: &sqlx::Error) -> Option<Certificate> {
    match error {
        sqlx::Error::Tls(_) => Some(Certificate::NotTrusted),
        sqlx::Error::Io(io) => match io.get_ref()?.downcast_ref::<rustls::Error>()? {
            rustls::Error::InvalidCertificate(
                rustls::CertificateError::NotValidForName
                | rustls::CertificateError::NotValidForNameContext { .. },
            ) => Some(Certificate::OtherHost),
            rustls::Error::InvalidCertificate(_) => Some(Certificate::NotTrusted),
            _ => None,
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::ffi::OsString;

    use super::*;

    fn check_with(url: &str, vars: &[(&str, &str)]) -> Result<(), String> {
        let map: HashMap<String, OsString> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).into()))
            .collect();
        check(url, &|name| map.get(name).cloned()).map_err(|e| e.to_string())
    }

    fn ca_file() -> (std::path::PathBuf, String) {
        let path = std::env::temp_dir().join(format!("eventflow-ca-{}.pem", std::process::id()));
        std::fs::write(&path, "-----BEGIN CERTIFICATE-----\n").unwrap();
        let shown = path.display().to_string();
        (path, shown)
    }

    #[test]
    fn production_urls_must_ask_for_verify_full() {
        let (_path, ca) = ca_file();
        for query in [
            "",
            "?sslmode=disable",
            "?sslmode=prefer",
            "?sslmode=require",
            &format!("?sslmode=verify-ca&sslrootcert={ca}"),
        ] {
            let url = format!("postgres://app:hunter2@db.internal:5432/eventflow{query}");
            let error = check_with(&url, &[]).unwrap_err();
            assert!(error.starts_with("DATABASE_URL "), "{error}");
            assert!(
                error.contains("sslmode=verify-full&sslrootcert=PATH"),
                "{error}"
            );
            assert!(
                !error.contains("hunter2") && !error.contains('\n'),
                "{error}"
            );
        }
        assert_eq!(
            check_with("postgres://a:b@h/d?sslmode=require", &[]).unwrap_err(),
            format!("DATABASE_URL asks for sslmode=require, not sslmode=verify-full: {MODE_FIX}")
        );
    }

    #[test]
    fn verify_full_needs_a_readable_ca_file() {
        let (_path, ca) = ca_file();
        let url = format!("postgres://a:b@db.internal/d?sslmode=verify-full&sslrootcert={ca}");
        assert_eq!(check_with(&url, &[]), Ok(()));

        let error = check_with("postgres://a:b@h/d?sslmode=verify-full", &[]).unwrap_err();
        assert!(error.contains("no sslrootcert: set sslrootcert"), "{error}");
        let error = check_with(
            "postgres://a:b@h/d?sslmode=verify-full&sslrootcert=/nonexistent/ca.pem",
            &[],
        )
        .unwrap_err();
        assert!(
            error.starts_with(
                "DATABASE_URL has sslrootcert=/nonexistent/ca.pem, which cannot be read"
            ),
            "{error}"
        );
    }

    #[test]
    fn the_opt_out_is_explicit() {
        let plain = "postgres://postgres@127.0.0.1:5432/postgres";
        assert_eq!(check_with(plain, &[(ALLOW_PLAINTEXT_VAR, "1")]), Ok(()));
        assert!(check_with(plain, &[(ALLOW_PLAINTEXT_VAR, "")]).is_err());
        assert_eq!(
            check_with(plain, &[(ALLOW_PLAINTEXT_VAR, "yes")]).unwrap_err(),
            format!("DATABASE_ALLOW_PLAINTEXT is `yes`: {ALLOW_FIX}")
        );
    }

    #[test]
    fn certificate_errors_are_told_apart() {
        let handshake = |e: rustls::Error| {
            sqlx::Error::Io(std::io::Error::new(std::io::ErrorKind::InvalidData, e))
        };
        let unknown_ca = handshake(rustls::Error::InvalidCertificate(
            rustls::CertificateError::UnknownIssuer,
        ));
        assert!(matches!(
            certificate_problem(&unknown_ca),
            Some(Certificate::NotTrusted)
        ));
        let other_host = handshake(rustls::Error::InvalidCertificate(
            rustls::CertificateError::NotValidForName,
        ));
        assert!(matches!(
            certificate_problem(&other_host),
            Some(Certificate::OtherHost)
        ));
        let refused = sqlx::Error::Io(std::io::ErrorKind::ConnectionRefused.into());
        assert!(certificate_problem(&refused).is_none());
    }

    #[test]
    fn the_image_path_is_the_one_the_fixes_name() {
        assert!(MODE_FIX.contains(IMAGE_RDS_CA_BUNDLE));
        assert!(ROOT_CERT_FIX.contains(IMAGE_RDS_CA_BUNDLE));
    }
}
