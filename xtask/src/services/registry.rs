//! A throwaway container registry on loopback, for the push test: ECR's login and repository
//! calls go to the AWS emulator, the `docker push` itself to this registry (moto serves no
//! registry). The Docker engine treats 127.0.0.0/8 as a plain-HTTP registry without setup.
//!
//! From, in this order: the `docker-registry` binary (Debian/Ubuntu package `docker-registry`,
//! the same CNCF distribution) when it is on PATH; else a `registry:2` container
//! (`EVENTFLOW_REGISTRY_IMAGE` to use another).

use std::net::{SocketAddr, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::cmd::{Cmd, EnvValue};
use crate::pipeline::process::Background;
use crate::pipeline::{Running, Service, StageContext};
use crate::services::docker::Sandbox;

/// The registry's `host:port`, for the tests.
pub const ADDRESS_VAR: &str = "EVENTFLOW_TEST_REGISTRY";
pub const IMAGE_VAR: &str = "EVENTFLOW_REGISTRY_IMAGE";
const DEFAULT_IMAGE: &str = "registry:2";
const START_TIMEOUT: Duration = Duration::from_secs(30);

pub struct Registry;

impl Service for Registry {
    fn describe(&self) -> String {
        format!(
            "a container registry on a free loopback port: `docker-registry serve` if on PATH, else a {DEFAULT_IMAGE} container (${IMAGE_VAR})"
        )
    }

    fn provides(&self) -> Vec<&'static str> {
        vec![ADDRESS_VAR]
    }

    fn start(self: Box<Self>, ctx: &mut StageContext) -> Result<Box<dyn Running>> {
        let port = super::free_port()?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let mut started = if which::which("docker-registry").is_ok() {
            binary(ctx, addr)?
        } else {
            container(ctx, port)?
        };
        let deadline = Instant::now() + START_TIMEOUT;
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            if let Started::Binary { process, .. } = &mut started {
                process
                    .check_alive()
                    .context("docker-registry did not start")?;
            }
            ctx.check_cancelled()?;
            if Instant::now() > deadline {
                bail!("the registry did not listen on {addr} within {START_TIMEOUT:?}");
            }
            thread::sleep(Duration::from_millis(100));
        }
        ctx.log(format!("registry listening on {addr}"));
        Ok(Box::new(Owned {
            address: addr.to_string(),
            _started: started,
        }))
    }
}

/// What serves the registry; dropping it stops the server, then removes its storage.
enum Started {
    Binary {
        process: Background,
        _storage: TempDir,
    },
    Container {
        _sandbox: Sandbox,
    },
}

/// `docker-registry serve` with storage in a directory of its own, removed when it stops.
fn binary(ctx: &mut StageContext, addr: SocketAddr) -> Result<Started> {
    let storage = TempDir::new()?;
    let config = storage.0.join("config.yml");
    std::fs::write(
        &config,
        format!(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {addr}\n",
            storage.0.join("data").display()
        ),
    )
    .with_context(|| format!("writing {}", config.display()))?;
    let process = ctx.spawn_background(
        "docker-registry",
        &Cmd::new("docker-registry")
            .arg("serve")
            .arg(config.to_string_lossy()),
    )?;
    Ok(Started::Binary {
        process,
        _storage: storage,
    })
}

fn container(ctx: &mut StageContext, port: u16) -> Result<Started> {
    let image = std::env::var(IMAGE_VAR)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| DEFAULT_IMAGE.to_owned());
    let mut sandbox = Sandbox::default();
    sandbox
        .start(
            ctx,
            "eventflow-registry",
            &["--publish", &format!("127.0.0.1:{port}:5000"), &image],
            &[],
        )
        .with_context(|| {
            format!("starting a {image} container for the push test: start Docker, or install the `docker-registry` package")
        })?;
    Ok(Started::Container { _sandbox: sandbox })
}

/// A directory removed when dropped.
struct TempDir(std::path::PathBuf);

impl TempDir {
    fn new() -> Result<TempDir> {
        let dir =
            std::env::temp_dir().join(crate::services::docker::unique_name("eventflow-registry"));
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(TempDir(dir))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

struct Owned {
    address: String,
    _started: Started,
}

impl Running for Owned {
    fn env(&self) -> Vec<(String, EnvValue)> {
        vec![(
            ADDRESS_VAR.to_owned(),
            EnvValue::Plain(self.address.clone()),
        )]
    }
}
