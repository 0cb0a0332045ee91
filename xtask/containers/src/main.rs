//! `xtask-containers`: holds a throwaway container for one of the xtask's test stages.
//!
//! `xtask-containers postgres --image IMAGE --url-file FILE` starts PostgreSQL through
//! testcontainers, waits until it accepts TCP connections, writes its connection URL (one line)
//! to FILE, and keeps the container until it gets SIGTERM or SIGINT, or its parent goes away;
//! then testcontainers removes it. Kept apart from the xtask so that only the stages that need a
//! container pay for compiling testcontainers.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use testcontainers::core::{CmdWaitFor, ExecCommand, IntoContainerPort, WaitFor};
use testcontainers::runners::SyncRunner;
use testcontainers::{GenericImage, ImageExt};

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

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (image, url_file) = match args.as_slice() {
        [kind, flag_image, image, flag_file, file]
            if kind == "postgres" && flag_image == "--image" && flag_file == "--url-file" =>
        {
            (image.clone(), PathBuf::from(file))
        }
        _ => bail!("usage: xtask-containers postgres --image IMAGE --url-file FILE"),
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
    let container = GenericImage::new(name, tag)
        .with_exposed_port(5432.tcp())
        .with_wait_for(WaitFor::Nothing)
        .with_env_var("POSTGRES_HOST_AUTH_METHOD", "trust")
        .start()
        .with_context(|| {
            format!(
                "starting a container from {image} (is the image available locally or pullable?)"
            )
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
    let url = format!("postgres://postgres@127.0.0.1:{port}/postgres\n");
    std::fs::write(&url_file, url).with_context(|| format!("writing {}", url_file.display()))?;

    // SAFETY: getppid(2) cannot fail.
    while !STOP.load(Ordering::SeqCst) && unsafe { getppid() } == parent {
        thread::sleep(Duration::from_millis(100));
    }
    drop(container);
    Ok(())
}
