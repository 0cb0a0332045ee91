//! The AWS API emulator for the deploy tests: moto's server, at a pinned version, in a virtual
//! environment under `target/xtask/moto-venv` (made once, remade when the pins change), on a
//! free loopback port. The SDK finds it through `AWS_ENDPOINT_URL`.
//!
//! It runs with the sandbox's ECS scheduler (`xtask/sandbox/moto_ecs`): deployments that move
//! on, each task a real container of its image, pulled from the registry in
//! `EVENTFLOW_TEST_REGISTRY` (start the registry first). Stopping the emulator removes them.

use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::cmd::{Cmd, EnvValue};
use crate::pipeline::process::Background;
use crate::pipeline::{Running, Service, StageContext};
use crate::services::registry::ADDRESS_VAR;

/// What goes into the venv. moto's server needs Flask; 2.2.0 and 2.2.1 break it.
pub const PACKAGES: &[&str] = &["moto[server]==5.2.5", "flask!=2.2.0,!=2.2.1", "flask-cors"];
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// moto's server with the ECS scheduler wrapped around its backends.
const LAUNCHER: &str = "xtask/sandbox/moto_ecs/serve.py";

pub struct Moto;

impl Service for Moto {
    fn describe(&self) -> String {
        format!(
            "the AWS API emulator ({}) from a venv in target/xtask/moto-venv, on a free loopback port, with the ECS scheduler of {LAUNCHER} running each task as a container (images from ${ADDRESS_VAR})",
            PACKAGES[0]
        )
    }

    fn provides(&self) -> Vec<&'static str> {
        vec![
            "AWS_ENDPOINT_URL",
            "AWS_REGION",
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
        ]
    }

    fn start(self: Box<Self>, ctx: &mut StageContext) -> Result<Box<dyn Running>> {
        let venv = super::target_dir(&ctx.root).join("xtask/moto-venv");
        ensure_venv(ctx, &venv)?;
        let port = super::free_port()?;
        let python = venv.join("bin/python");
        let launcher = ctx.root.join(LAUNCHER);
        let mut server = Cmd::new(python.to_string_lossy())
            .arg(launcher.to_string_lossy())
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            // Labels the task containers, so that this emulator removes exactly its own.
            .env("EVENTFLOW_SANDBOX_ID", format!("moto-{port}"))
            // No __pycache__ in the source tree.
            .env("PYTHONDONTWRITEBYTECODE", "1");
        if let Some(registry) = ctx.env_var(ADDRESS_VAR) {
            server = server.env("EVENTFLOW_SANDBOX_REGISTRY", registry);
        }
        let mut process = ctx.spawn_background("moto", &server)?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = Instant::now() + START_TIMEOUT;
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            process.check_alive().context("moto_server did not start")?;
            ctx.check_cancelled()?;
            if Instant::now() > deadline {
                bail!("moto_server did not listen on {addr} within {START_TIMEOUT:?}");
            }
            thread::sleep(Duration::from_millis(100));
        }
        ctx.log(format!("moto listening on {addr}"));
        let plain = |k: &str, v: &str| (k.to_owned(), EnvValue::Plain(v.to_owned()));
        Ok(Box::new(Emulator {
            env: vec![
                plain("AWS_ENDPOINT_URL", &format!("http://{addr}")),
                plain("AWS_REGION", "eu-central-1"),
                plain("AWS_ACCESS_KEY_ID", "testing"),
                plain("AWS_SECRET_ACCESS_KEY", "testing"),
            ],
            _process: process,
        }))
    }
}

/// Creates the venv unless it already holds exactly [`PACKAGES`].
fn ensure_venv(ctx: &mut StageContext, venv: &Path) -> Result<()> {
    let stamp = venv.join("eventflow-packages.txt");
    let wanted = PACKAGES.join("\n");
    if std::fs::read_to_string(&stamp).is_ok_and(|s| s == wanted) {
        ctx.log(format!("moto venv up to date ({})", venv.display()));
        return Ok(());
    }
    if venv.exists() {
        std::fs::remove_dir_all(venv).with_context(|| format!("removing {}", venv.display()))?;
    }
    ctx.run(
        &Cmd::new("python3")
            .args(["-m", "venv"])
            .arg(venv.to_string_lossy()),
    )
    .context("creating the moto venv needs Python 3 with venv (Debian/Ubuntu: apt-get install python3-venv)")?;
    ctx.run(
        &Cmd::new(venv.join("bin/pip").to_string_lossy())
            .args(["install", "--quiet", "--disable-pip-version-check"])
            .args(PACKAGES.iter().copied()),
    )?;
    std::fs::write(&stamp, wanted).with_context(|| format!("writing {}", stamp.display()))
}

struct Emulator {
    env: Vec<(String, EnvValue)>,
    _process: Background,
}

impl Running for Emulator {
    fn env(&self) -> Vec<(String, EnvValue)> {
        self.env.clone()
    }
}
