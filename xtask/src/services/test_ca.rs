//! A certificate authority made fresh for one test run, and the server certificate it signs, so
//! that every PostgreSQL the tests start accepts TLS only and every client checks it with
//! `sslmode=verify-full`, as production does with RDS.
//!
//! The `openssl` CLI makes them, each call a `Cmd`: it is on every machine that has PostgreSQL,
//! and a certificate crate (rcgen and its crypto) would cost the light xtask a minute of
//! compiling for four commands. The CA's key is deleted as soon as the server certificate is
//! signed, so nothing else can ever be signed by a CA the tests trust.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::cmd::Cmd;
use crate::pipeline::StageContext;

/// The CA's certificate: what clients name in `sslrootcert`.
pub const CA_FILE: &str = "ca.crt";
pub const CERT_FILE: &str = "server.crt";
pub const KEY_FILE: &str = "server.key";
/// `pg_hba.conf` for a server in a container, where the files are handed over together.
pub const HBA_FILE: &str = "pg_hba.conf";
/// Long enough for any run, short enough that a copy left behind is soon worthless.
const DAYS: &str = "2";

/// The names a server certificate is valid for on loopback.
pub const LOOPBACK_NAMES: &[&str] = &["DNS:localhost", "IP:127.0.0.1"];

/// The files of one run's CA in `dir`.
#[derive(Clone, Debug)]
pub struct TestCa {
    pub dir: PathBuf,
}

impl TestCa {
    /// The commands that make the CA and the server certificate for `names` in `dir`, in order;
    /// [`TestCa::create`] writes the extension file they read first.
    pub fn commands(dir: &Path) -> Vec<Cmd> {
        let path = |name: &str| dir.join(name).to_string_lossy().into_owned();
        let ec_key = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        vec![
            Cmd::new("openssl")
                .args(["req", "-x509"])
                .args(ec_key)
                .args(["-days", DAYS, "-subj", "/CN=EventFlow test CA"])
                .args(["-addext", "basicConstraints=critical,CA:TRUE"])
                .args(["-addext", "keyUsage=critical,keyCertSign,cRLSign"])
                .args(["-keyout", &path("ca.key"), "-out", &path(CA_FILE)]),
            Cmd::new("openssl")
                .arg("req")
                .args(ec_key)
                .args(["-subj", "/CN=localhost"])
                .args(["-keyout", &path(KEY_FILE), "-out", &path("server.csr")]),
            Cmd::new("openssl")
                .args(["x509", "-req", "-in", &path("server.csr")])
                .args(["-CA", &path(CA_FILE), "-CAkey", &path("ca.key")])
                .args(["-CAcreateserial", "-CAserial", &path("ca.srl")])
                .args(["-days", DAYS, "-extfile", &path("server.ext")])
                .args(["-out", &path(CERT_FILE)]),
        ]
    }

    /// Makes a CA and a server certificate valid for `names` (`DNS:…`, `IP:…`) in `dir`, which
    /// must exist. The server key is left mode 600, owned by whoever runs this.
    pub fn create(ctx: &mut StageContext, dir: &Path, names: &[&str]) -> Result<TestCa> {
        if which::which("openssl").is_err() {
            bail!(
                "openssl is not on PATH: install it (Debian: apt-get install openssl), it makes the test PostgreSQL's certificates"
            );
        }
        std::fs::write(dir.join("server.ext"), server_extensions(names))
            .with_context(|| format!("writing {}", dir.join("server.ext").display()))?;
        for cmd in Self::commands(dir) {
            ctx.run(&cmd)?;
        }
        for leftover in ["ca.key", "server.csr", "server.ext", "ca.srl"] {
            let _ = std::fs::remove_file(dir.join(leftover));
        }
        let ca = TestCa {
            dir: dir.to_owned(),
        };
        ca.set_key_mode(0o600)?;
        ctx.log(format!(
            "made a fresh test CA and a server certificate for {} in {}",
            names.join(", "),
            dir.display()
        ));
        Ok(ca)
    }

    pub fn ca_file(&self) -> PathBuf {
        self.dir.join(CA_FILE)
    }

    pub fn cert_file(&self) -> PathBuf {
        self.dir.join(CERT_FILE)
    }

    pub fn key_file(&self) -> PathBuf {
        self.dir.join(KEY_FILE)
    }

    pub fn set_key_mode(&self, mode: u32) -> Result<()> {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(self.key_file(), std::fs::Permissions::from_mode(mode))
            .with_context(|| format!("setting the mode of {}", self.key_file().display()))
    }

    /// The query that makes a PostgreSQL URL verify the server against this CA.
    pub fn url_query(&self) -> String {
        verify_full_query(&self.ca_file())
    }
}

/// `sslmode=verify-full&sslrootcert=<ca>`: TLS, a certificate signed by that CA, and the host
/// name the client dialled in it.
pub fn verify_full_query(ca_file: &Path) -> String {
    format!("sslmode=verify-full&sslrootcert={}", ca_file.display())
}

/// A server certificate, not a CA, for these names only.
fn server_extensions(names: &[&str]) -> String {
    format!(
        "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName={}\n",
        names.join(",")
    )
}

/// `pg_hba.conf` that trusts TLS connections from `networks` and rejects every TCP connection
/// without TLS; the server's own socket stays open for its tools (initdb, the official image's
/// first-start scripts).
pub fn tls_only_hba(networks: &[&str]) -> String {
    let mut hba = String::from(
        "# TLS only: a client without TLS is refused, so a regression to plain connections fails.\nlocal all all trust\n",
    );
    for network in networks {
        hba.push_str(&format!("hostssl all all {network} trust\n"));
    }
    hba.push_str("hostnossl all all 0.0.0.0/0 reject\nhostnossl all all ::/0 reject\n");
    hba
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ca_and_the_server_certificate_are_made_by_openssl() {
        let shown: Vec<String> = TestCa::commands(Path::new("/run/ca"))
            .iter()
            .map(ToString::to_string)
            .collect();
        expect_test::expect![[r#"
            [
                "$ openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj '/CN=EventFlow test CA' -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign -keyout /run/ca/ca.key -out /run/ca/ca.crt",
                "$ openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=localhost -keyout /run/ca/server.key -out /run/ca/server.csr",
                "$ openssl x509 -req -in /run/ca/server.csr -CA /run/ca/ca.crt -CAkey /run/ca/ca.key -CAcreateserial -CAserial /run/ca/ca.srl -days 2 -extfile /run/ca/server.ext -out /run/ca/server.crt",
            ]
        "#]]
        .assert_debug_eq(&shown);
    }

    #[test]
    fn the_server_certificate_names_only_what_the_clients_dial() {
        let ext = server_extensions(&["DNS:localhost", "IP:127.0.0.1", "DNS:postgres"]);
        assert!(ext.contains("subjectAltName=DNS:localhost,IP:127.0.0.1,DNS:postgres\n"));
        assert!(ext.contains("CA:FALSE"));
    }

    #[test]
    fn the_hba_file_rejects_tcp_without_tls() {
        let hba = tls_only_hba(&["127.0.0.1/32"]);
        let rules: Vec<&str> = hba.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(
            rules,
            [
                "local all all trust",
                "hostssl all all 127.0.0.1/32 trust",
                "hostnossl all all 0.0.0.0/0 reject",
                "hostnossl all all ::/0 reject",
            ]
        );
        assert!(!hba.contains("\nhost "), "no rule may accept both: {hba}");
    }

    #[test]
    fn clients_verify_the_host_name_against_the_run_ca() {
        assert_eq!(
            verify_full_query(Path::new("/run/ca/ca.crt")),
            "sslmode=verify-full&sslrootcert=/run/ca/ca.crt"
        );
    }
}
