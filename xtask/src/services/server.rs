//! The backend and the built dashboard, started on free loopback ports for the end-to-end suites.

use std::net::{SocketAddr, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::cmd::{Cmd, EnvValue};
use crate::pipeline::process::Background;
use crate::pipeline::{Running, Service, StageContext};
use crate::secret::Secret;

/// The backend built by the stage's earlier `cargo build`, on the stage's `DATABASE_URL`, with
/// fresh secrets. It applies its migrations before it listens, so an open port means ready.
/// The admin API is on, with a fresh `ADMIN_API_TOKEN` that the suites get the same way as
/// `JWT_SECRET`: through their environment, never on a command line.
pub struct Backend;

impl Service for Backend {
    fn describe(&self) -> String {
        "the backend (target/debug/eventflow-backend) on a free loopback port, with fresh JWT_SECRET, API_KEYS_SECRET and ADMIN_API_TOKEN".to_owned()
    }

    fn provides(&self) -> Vec<&'static str> {
        vec!["JWT_SECRET", "ADMIN_API_TOKEN", "EVENTFLOW_API_URL"]
    }

    fn start(self: Box<Self>, ctx: &mut StageContext) -> Result<Box<dyn Running>> {
        let port = super::free_port()?;
        let jwt_secret = Secret::new(super::random_secret()?);
        let admin_token = Secret::new(super::random_secret()?);
        let binary = super::target_dir(&ctx.root).join("debug/eventflow-backend");
        let cmd = Cmd::new(binary.to_string_lossy())
            .env("HOST", "127.0.0.1")
            .env("PORT", port.to_string())
            .env("LOG_FORMAT", "text")
            .secret_env("JWT_SECRET", jwt_secret.clone())
            .secret_env("API_KEYS_SECRET", Secret::new(super::random_secret()?))
            .secret_env("ADMIN_API_TOKEN", admin_token.clone());
        let process = start_listening(ctx, "backend", &cmd, port, Duration::from_secs(60))?;
        let env = vec![
            ("JWT_SECRET".to_owned(), EnvValue::Secret(jwt_secret)),
            ("ADMIN_API_TOKEN".to_owned(), EnvValue::Secret(admin_token)),
            (
                "EVENTFLOW_API_URL".to_owned(),
                EnvValue::Plain(format!("http://127.0.0.1:{port}")),
            ),
        ];
        Ok(Box::new(Server {
            env,
            _process: process,
        }))
    }
}

/// The built dashboard (`frontend/dist`) served by `vite preview`, which forwards `/v1` and
/// `/health` to the backend: one origin, as the load balancer gives in production.
pub struct Dashboard;

impl Service for Dashboard {
    fn describe(&self) -> String {
        "the built dashboard (npm run preview) on a free loopback port, proxying /v1 and /health to the backend".to_owned()
    }

    fn provides(&self) -> Vec<&'static str> {
        vec!["EVENTFLOW_BASE_URL"]
    }

    fn start(self: Box<Self>, ctx: &mut StageContext) -> Result<Box<dyn Running>> {
        let api = ctx
            .env_var("EVENTFLOW_API_URL")
            .context("the dashboard needs the backend started first")?;
        let port = super::free_port()?;
        // The preview script listens on 127.0.0.1, strictly on $PORT.
        let cmd = Cmd::new("npm")
            .args(["run", "preview"])
            .dir("frontend")
            .env("PORT", port.to_string())
            .env("EVENTFLOW_API_PROXY", api);
        let process = start_listening(ctx, "dashboard", &cmd, port, Duration::from_secs(30))?;
        let env = vec![(
            "EVENTFLOW_BASE_URL".to_owned(),
            EnvValue::Plain(format!("http://127.0.0.1:{port}")),
        )];
        Ok(Box::new(Server {
            env,
            _process: process,
        }))
    }
}

struct Server {
    env: Vec<(String, EnvValue)>,
    _process: Background,
}

impl Running for Server {
    fn env(&self) -> Vec<(String, EnvValue)> {
        self.env.clone()
    }
}

/// Starts `cmd` and waits until it accepts connections on `port`, or fails with why not.
fn start_listening(
    ctx: &mut StageContext,
    label: &str,
    cmd: &Cmd,
    port: u16,
    timeout: Duration,
) -> Result<Background> {
    let mut process = ctx.spawn_background(label, cmd)?;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + timeout;
    loop {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            ctx.log(format!("{label} listening on {addr}"));
            return Ok(process);
        }
        process.check_alive()?;
        ctx.check_cancelled()?;
        if Instant::now() > deadline {
            bail!("{label} did not listen on {addr} within {timeout:?}");
        }
        thread::sleep(Duration::from_millis(100));
    }
}
