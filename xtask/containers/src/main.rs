//! `xtask-containers`: holds a throwaway container for one of the xtask's test stages.
//!
//! `xtask-containers postgres --image IMAGE --tls-dir DIR --url-file FILE` starts PostgreSQL
//! through testcontainers with TLS only: DIR holds the run's `ca.crt`, the `server.crt` and
//! `server.key` it signed, and a `pg_hba.conf` that rejects TCP without TLS (the xtask makes
//! them). It waits until the server accepts TCP connections, writes its connection URL (one
//! line, `sslmode=verify-full` with DIR's `ca.crt`) to FILE, and keeps the container until it
//! gets SIGTERM or SIGINT, or its parent goes away; then testcontainers removes it. Kept apart
//! from the xtask so that only the stages that need a container pay for compiling
//! testcontainers.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use testcontainers::core::{CmdWaitFor, ExecCommand, IntoContainerPort, WaitFor};
use testcontainers::runners::SyncRunner;
use testcontainers::{CopyTargetOptions, GenericImage, ImageExt};

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: i32) {
    STOP.store(true, Ordering::SeqCst);
}

unsafe extern "C" {
    fn signal(signum: i32, handler: extern "C" fn(i32)) -> usize;
    fn getppid() -> i32;
}

const SIGINT: i32 = 2;
const SIGTERM: i32 = 15;
const READY_TIMEOUT: Duration = Duration::from_secs(120);
/// Where the certificates and `pg_hba.conf` go inside the container.
const TLS_DIR_IN_CONTAINER: &str = "/etc/eventflow-tls";

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (image, tls_dir, url_file) = match args.as_slice() {
        [kind, flag_image, image, flag_tls, tls, flag_file, file]
            if kind == "postgres"
                && flag_image == "--image"
                && flag_tls == "--tls-dir"
                && flag_file == "--url-file" =>
        {
            (image.clone(), PathBuf::from(tls), PathBuf::from(file))
        }
        _ => bail!("usage: xtask-containers postgres --image IMAGE --tls-dir DIR --url-file FILE"),
    };
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        signal(SIGINT, on_signal);
        signal(SIGTERM, on_signal);
    }
    // SAFETY: getppid(2) cannot fail.
    let parent = unsafe { getppid() };

    let (name, tag) = image.rsplit_once(':').unwrap_or((&image, "latest"));
    // The official image initialises on first start and wants a password or trust; a locally
    // built image starts `postgres` directly. `pg_isready` over TCP inside the container answers
    // for both only once the final server listens.
    let in_container = |file: &str| format!("{TLS_DIR_IN_CONTAINER}/{file}");
    let mut request = GenericImage::new(name, tag)
        .with_exposed_port(5432.tcp())
        .with_wait_for(WaitFor::Nothing)
        .with_env_var("POSTGRES_HOST_AUTH_METHOD", "trust")
        // The files arrive owned by root (testcontainers' archive carries no owner), so the
        // key is mode 640 and the server runs in group root: PostgreSQL accepts a root-owned key
        // readable through its group, whatever uid `postgres` has in the image.
        .with_user("postgres:0")
        // Arguments to `postgres`, which both the official image's entrypoint and a plain
        // `postgres` image accept.
        .with_cmd([
            "postgres".to_owned(),
            "-c".to_owned(),
            "fsync=off".to_owned(),
            "-c".to_owned(),
            "ssl=on".to_owned(),
            "-c".to_owned(),
            format!("ssl_cert_file={}", in_container("server.crt")),
            "-c".to_owned(),
            format!("ssl_key_file={}", in_container("server.key")),
            "-c".to_owned(),
            format!("hba_file={}", in_container("pg_hba.conf")),
        ]);
    for (file, mode) in [
        ("server.crt", 0o644),
        ("server.key", 0o640),
        ("pg_hba.conf", 0o644),
    ] {
        let bytes = std::fs::read(tls_dir.join(file))
            .with_context(|| format!("reading {}", tls_dir.join(file).display()))?;
        request = request.with_copy_to(
            CopyTargetOptions::new(in_container(file)).with_mode(mode),
            bytes,
        );
    }
    let container = request.start().with_context(|| {
        format!("starting a container from {image} (is the image available locally or pullable?)")
    })?;
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        let probe = container.exec(
            ExecCommand::new(["pg_isready", "-h", "127.0.0.1", "-U", "postgres"])
                .with_cmd_ready_condition(CmdWaitFor::exit()),
        )?;
        if probe.exit_code()?.is_some_and(|code| code == 0) {
            break;
        }
        if Instant::now() > deadline || STOP.load(Ordering::SeqCst) {
            bail!("PostgreSQL in {image} was not ready within {READY_TIMEOUT:?}");
        }
        thread::sleep(Duration::from_millis(200));
    }
    let port = container.get_host_port_ipv4(5432.tcp())?;
    let url = format!(
        "postgres://postgres@127.0.0.1:{port}/postgres?sslmode=verify-full&sslrootcert={}\n",
        tls_dir.join("ca.crt").display()
    );
    std::fs::write(&url_file, url).with_context(|| format!("writing {}", url_file.display()))?;

    // SAFETY: getppid(2) cannot fail.
    while !STOP.load(Ordering::SeqCst) && unsafe { getppid() } == parent {
        thread::sleep(Duration::from_millis(100));
    }
    drop(container);
    Ok(())
}
