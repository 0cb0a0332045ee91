//! The test server enforces what RDS with `rds.force_ssl=1` enforces, and the backend checks
//! it the way production does: TLS only, the server's certificate verified against the CA in
//! `sslrootcert`, the host name included.

use std::process::Command;

use sqlx::postgres::PgSslMode;
use sqlx::{Connection, PgConnection};

use crate::support::{TestDb, admin_options, binary, database_url, with_root_cert};

#[tokio::test]
async fn the_suites_connect_with_verify_full_over_tls() {
    let url = database_url();
    assert!(
        url.contains("sslmode=verify-full") && url.contains("sslrootcert="),
        "DATABASE_URL must ask for sslmode=verify-full with the run's CA: run `cargo xtask test integration`, which provisions a TLS-only PostgreSQL"
    );
    let mut conn = PgConnection::connect_with(&admin_options()).await.unwrap();
    let ssl: bool = sqlx::query_scalar("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert!(ssl, "the connection is not encrypted");
}

#[tokio::test]
async fn a_connection_without_tls_is_refused() {
    let plain = admin_options().ssl_mode(PgSslMode::Disable);
    let error = PgConnection::connect_with(&plain).await.unwrap_err();
    assert!(
        error.to_string().contains("no encryption"),
        "the server accepted or refused a plain connection for another reason: {error}"
    );
}

/// A CA made just now, which signed nothing the server has.
fn unrelated_ca(dir: &std::path::Path) -> String {
    let ca = dir.join("other-ca.crt");
    let status = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
        ])
        .args(["-nodes", "-days", "1", "-subj", "/CN=Unrelated test CA"])
        .args(["-addext", "basicConstraints=critical,CA:TRUE"])
        .arg("-keyout")
        .arg(dir.join("other-ca.key"))
        .arg("-out")
        .arg(&ca)
        .output()
        .expect("run openssl (install it: it makes the test certificates)");
    assert!(status.status.success(), "{status:?}");
    ca.to_string_lossy().into_owned()
}

#[tokio::test]
async fn the_binary_with_a_wrong_ca_refuses_to_start_naming_sslrootcert() {
    let db = TestDb::create().await;
    let dir = std::env::temp_dir().join(format!("eventflow-wrong-ca-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let wrong = with_root_cert(&db.url(), &unrelated_ca(&dir));
    for args in [&[][..], &["migrate"][..]] {
        let output = binary(&db)
            .args(args)
            .env("DATABASE_URL", &wrong)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(
            stderr.starts_with("error: ")
                && stderr.contains("the server's certificate is not trusted with DATABASE_URL's sslrootcert: set sslrootcert in DATABASE_URL to the CA bundle that signed"),
            "{args:?}: {stderr}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn the_binary_refuses_a_plain_url_unless_told_it_is_local() {
    let db = TestDb::create().await;
    let plain = db.url().split_once('?').unwrap().0.to_owned();
    let output = binary(&db).env("DATABASE_URL", &plain).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.starts_with("error: DATABASE_URL does not ask for sslmode=verify-full: ")
            && stderr.contains("DATABASE_ALLOW_PLAINTEXT=1"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");

    // With the opt-out it gets past the configuration and tries the plain connection, which
    // this server refuses like RDS does.
    let output = binary(&db)
        .args(["migrate"])
        .env("DATABASE_URL", format!("{plain}?sslmode=disable"))
        .env("DATABASE_ALLOW_PLAINTEXT", "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("no encryption"), "{stderr}");
}
