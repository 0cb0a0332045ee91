//! A real PostgreSQL 15 for the tests, from the first source that is available:
//! 1. `DATABASE_URL`, when the caller already has a database;
//! 2. a throwaway container through testcontainers, when a Docker engine answers;
//! 3. a throwaway cluster made with the local `initdb`/`pg_ctl` in a temporary directory.
//!
//! The xtask owns the database's lifetime: whatever it started is gone when the stage ends.
//!
//! What it starts accepts TLS only, as RDS with `rds.force_ssl=1` does: a CA and a server
//! certificate made fresh for the run ([`TestCa`]), `ssl=on`, and a `pg_hba.conf` that rejects
//! TCP without TLS. The `DATABASE_URL` it hands on says `sslmode=verify-full` with that CA in
//! `sslrootcert`, so every suite verifies the server the way production does, and a client
//! that falls back to a plain connection fails. A caller's own `DATABASE_URL` is used as is.

use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::cmd::{Cmd, EnvValue};
use crate::pipeline::{Running, Service, StageContext};
use crate::secret::Secret;
use crate::services::test_ca::{self, LOOPBACK_NAMES, TestCa};

/// The image for the container; CI points it at a locally built one.
pub const IMAGE_VAR: &str = "EVENTFLOW_POSTGRES_IMAGE";
const DEFAULT_IMAGE: &str = "postgres:15";
const CONTAINER_START_TIMEOUT: Duration = Duration::from_secs(180);

pub struct Postgres;

impl Service for Postgres {
    fn describe(&self) -> String {
        format!(
            "PostgreSQL 15 from $DATABASE_URL if set, else a testcontainers container (${IMAGE_VAR}, default {DEFAULT_IMAGE}) if a Docker engine answers, else initdb/pg_ctl in a temporary directory; what it starts accepts TLS only, with a CA made fresh by openssl, and is handed on as sslmode=verify-full with that CA"
        )
    }

    fn provides(&self) -> Vec<&'static str> {
        vec!["DATABASE_URL"]
    }

    fn start(self: Box<Self>, ctx: &mut StageContext) -> Result<Box<dyn Running>> {
        if let Ok(url) = std::env::var("DATABASE_URL") {
            ctx.log("using the database in DATABASE_URL");
            return Ok(Box::new(Database {
                url: Secret::new(url),
                _owner: None,
            }));
        }
        let docker_answers = which::which("docker").is_ok()
            && ctx
                .run_status(&Cmd::new("docker").args([
                    "version",
                    "--format",
                    "{{.Server.Version}}",
                ]))?
                .success();
        if docker_answers {
            return start_container(ctx);
        }
        if which::which("initdb").is_ok() && which::which("pg_ctl").is_ok() {
            return start_local_cluster(ctx);
        }
        bail!(
            "no PostgreSQL 15 for the tests: set DATABASE_URL to a database you own, or start a Docker engine (the tests then use a throwaway container), or install PostgreSQL 15's server binaries so that initdb and pg_ctl are on PATH"
        )
    }
}

struct Database {
    url: Secret,
    /// What was started for the database (nothing for the caller's own); dropping it stops it.
    _owner: Option<Box<dyn Send>>,
}

impl Running for Database {
    fn env(&self) -> Vec<(String, EnvValue)> {
        vec![(
            "DATABASE_URL".to_owned(),
            EnvValue::Secret(self.url.clone()),
        )]
    }
}

/// The container is held by the `xtask-containers` helper (testcontainers is too heavy to build
/// into the xtask itself); it removes the container when it gets SIGTERM, which dropping the
/// background process sends.
fn start_container(ctx: &mut StageContext) -> Result<Box<dyn Running>> {
    let image = std::env::var(IMAGE_VAR).unwrap_or_else(|_| DEFAULT_IMAGE.to_owned());
    ctx.run(&crate::stages::test_build::containers())?;
    let dir = TempDir::create()?;
    let url_file = dir.path.join("url");
    let tls = dir.path.join("tls");
    std::fs::create_dir(&tls).with_context(|| format!("creating {}", tls.display()))?;
    let ca = TestCa::create(ctx, &tls, LOOPBACK_NAMES)?;
    // The container gets the key as root's, mode 640, and runs the server in group root: the
    // one ownership PostgreSQL accepts that does not depend on the image's uid for `postgres`.
    ca.set_key_mode(0o640)?;
    // Docker's port forwarding reaches the server from the bridge, not from 127.0.0.1.
    write(
        &tls.join(test_ca::HBA_FILE),
        &test_ca::tls_only_hba(&["0.0.0.0/0", "::/0"]),
    )?;
    let helper = super::target_dir(&ctx.root).join("debug/xtask-containers");
    let mut container = ctx.spawn_background(
        "postgres",
        &Cmd::new(helper.to_string_lossy())
            .args(["postgres", "--image", &image, "--tls-dir"])
            .arg(tls.to_string_lossy())
            .arg("--url-file")
            .arg(url_file.to_string_lossy()),
    )?;
    let deadline = Instant::now() + CONTAINER_START_TIMEOUT;
    let url = loop {
        if let Ok(url) = std::fs::read_to_string(&url_file)
            && url.ends_with('\n')
        {
            break url.trim().to_owned();
        }
        container
            .check_alive()
            .context("the PostgreSQL container did not start")?;
        ctx.check_cancelled()?;
        if Instant::now() > deadline {
            bail!("the PostgreSQL container was not ready within {CONTAINER_START_TIMEOUT:?}");
        }
        thread::sleep(Duration::from_millis(100));
    };
    ctx.log(format!("PostgreSQL container ready ({image}), TLS only"));
    Ok(Box::new(Database {
        url: Secret::new(url),
        // The container goes first, then the directory with its CA.
        _owner: Some(Box::new((container, dir))),
    }))
}

/// A cluster in a temporary directory, listening on a free loopback port, stopped and deleted
/// on drop. PostgreSQL refuses to run as root, so as root it runs as the `postgres` user.
struct LocalCluster {
    dir: PathBuf,
    as_postgres: bool,
}

fn start_local_cluster(ctx: &mut StageContext) -> Result<Box<dyn Running>> {
    let dir =
        std::env::temp_dir().join(format!("eventflow-pg-{}-{}", std::process::id(), unique()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    // SAFETY: geteuid(2) cannot fail and has no preconditions.
    let as_postgres = unsafe { libc::geteuid() } == 0;
    let cluster = LocalCluster {
        dir: dir.clone(),
        as_postgres,
    };
    if as_postgres {
        ctx.run(&Cmd::new("chown").args(["postgres:", &dir.to_string_lossy()]))?;
    }
    let data = dir.join("data");
    ctx.run(
        &cluster
            .cmd("initdb")
            .args(["--username=postgres", "--auth=trust", "--no-sync", "-D"])
            .arg(data.to_string_lossy()),
    )?;
    let port = super::free_port()?;
    let tls = dir.join("tls");
    std::fs::create_dir(&tls).with_context(|| format!("creating {}", tls.display()))?;
    let ca = TestCa::create(ctx, &tls, LOOPBACK_NAMES)?;
    if as_postgres {
        // PostgreSQL wants its key owned by the server's user, mode 600.
        ctx.run(&Cmd::new("chown").args(["postgres:", &ca.key_file().to_string_lossy()]))?;
    }
    write(
        &data.join("pg_hba.conf"),
        &test_ca::tls_only_hba(&["127.0.0.1/32"]),
    )?;
    // Settings go into the configuration file rather than through `pg_ctl -o`, which pg_ctl
    // hands to a shell.
    let settings = format!(
        "\nport = {port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{}'\nfsync = off\nsynchronous_commit = off\nfull_page_writes = off\nssl = on\nssl_cert_file = '{}'\nssl_key_file = '{}'\n",
        dir.display(),
        ca.cert_file().display(),
        ca.key_file().display(),
    );
    append(&data.join("postgresql.conf"), &settings)?;
    ctx.run(&cluster.cmd("pg_ctl").args([
        "-D",
        &data.to_string_lossy(),
        "-l",
        &dir.join("server.log").to_string_lossy(),
        "-w",
        "start",
    ]))?;
    ctx.log(format!(
        "PostgreSQL cluster ready in {} on port {port}, TLS only",
        dir.display()
    ));
    let url = format!(
        "postgres://postgres@127.0.0.1:{port}/postgres?{}",
        ca.url_query()
    );
    Ok(Box::new(Database {
        url: Secret::new(url),
        _owner: Some(Box::new(cluster)),
    }))
}

impl LocalCluster {
    fn cmd(&self, program: &str) -> Cmd {
        if self.as_postgres {
            Cmd::new("runuser").args(["-u", "postgres", "--", program])
        } else {
            Cmd::new(program)
        }
    }
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        let stop = self.cmd("pg_ctl").args([
            "-D",
            &self.dir.join("data").to_string_lossy(),
            "-m",
            "immediate",
            "-w",
            "stop",
        ]);
        let _ = stop
            .to_command(&self.dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn write(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

/// A directory of the xtask's own in the system's temporary directory, deleted on drop.
struct TempDir {
    path: PathBuf,
}

impl TempDir {
    fn create() -> Result<Self> {
        let path =
            std::env::temp_dir().join(format!("eventflow-pg-{}-{}", std::process::id(), unique()));
        std::fs::create_dir_all(&path).with_context(|| format!("creating {}", path.display()))?;
        Ok(Self { path })
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

fn append(path: &Path, text: &str) -> Result<()> {
    use std::io::Write;
    std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .with_context(|| format!("writing {}", path.display()))
}

fn unique() -> u32 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}
