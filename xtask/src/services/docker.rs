//! Docker from a stage: the commands whose output the stage reads, and the containers and
//! networks it starts, which are removed when the stage ends however it ends.

use std::process::Stdio;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::cmd::Cmd;
use crate::pipeline::StageContext;
use crate::pipeline::process::CommandRecord;
use crate::secret::Secret;

/// Every container and network a stage starts carries this label, so leftovers of a run that was
/// killed outright can be found: `docker ps -a --filter label=eventflow.xtask`.
pub const LABEL: &str = "eventflow.xtask";

pub fn docker() -> Cmd {
    Cmd::new("docker")
}

/// Runs `cmd` to completion and returns its standard output. Logged and recorded like every
/// command of the stage; a non-zero exit is an error carrying what the command printed.
pub fn capture(ctx: &mut StageContext, cmd: &Cmd) -> Result<String> {
    ctx.log(cmd.to_string());
    capture_quietly(ctx, cmd)
}

/// [`capture`] without the log line, for polls that run many times a second.
pub fn capture_quietly(ctx: &mut StageContext, cmd: &Cmd) -> Result<String> {
    ctx.check_cancelled()?;
    let started = Instant::now();
    let output = cmd
        .to_command(&ctx.root)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("could not start `{}`", shown(cmd)))?;
    ctx.commands.push(CommandRecord {
        command: cmd.to_string(),
        exit_code: output.status.code(),
        duration: started.elapsed(),
    });
    if !output.status.success() {
        bail!(
            "`{}` failed: {}",
            shown(cmd),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

fn shown(cmd: &Cmd) -> String {
    let text = cmd.to_string();
    match text.split_once("$ ") {
        Some((_, rest)) => rest.to_owned(),
        None => text,
    }
}

/// A name no other run uses: `prefix-<pid>-<n>`.
pub fn unique_name(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// The containers and networks a stage started; dropping it removes them all (containers with
/// their anonymous volumes first, then the networks).
#[derive(Default)]
pub struct Sandbox {
    containers: Vec<String>,
    networks: Vec<String>,
}

impl Sandbox {
    /// Creates a bridge network for containers that talk to each other by name. Nothing on it is
    /// reachable from outside unless a container publishes a port.
    pub fn network(&mut self, ctx: &mut StageContext, prefix: &str) -> Result<String> {
        let name = unique_name(prefix);
        capture(
            ctx,
            &docker().args(["network", "create", "--label", LABEL, &name]),
        )?;
        self.networks.push(name.clone());
        Ok(name)
    }

    /// `docker run --detach --name NAME --label … ARGS`, where `args` holds the options and the
    /// image. Each secret reaches the container as `--env NAME` with the value in the docker
    /// client's environment, never on its command line.
    pub fn start(
        &mut self,
        ctx: &mut StageContext,
        prefix: &str,
        args: &[&str],
        secrets: &[(&str, &Secret)],
    ) -> Result<String> {
        self.start_with(ctx, prefix, args, secrets, &[])
    }

    /// [`Sandbox::start`] with files copied in before the container starts (`docker create`,
    /// `docker cp` of each (host path, container path), `docker start`): files arrive owned by
    /// root with their host mode, whatever the engine's host (bind mounts would carry the host's
    /// owner, which differs between a CI machine and a laptop).
    pub fn start_with(
        &mut self,
        ctx: &mut StageContext,
        prefix: &str,
        args: &[&str],
        secrets: &[(&str, &Secret)],
        files: &[(&str, &str)],
    ) -> Result<String> {
        let name = unique_name(prefix);
        // Tracked before it exists, so a half-started container is removed too.
        self.containers.push(name.clone());
        if !files.is_empty() {
            let mut cmd = docker().args(["create", "--name", &name, "--label", LABEL]);
            for (key, value) in secrets {
                cmd = cmd.args(["--env", key]).secret_env(*key, (*value).clone());
            }
            capture(ctx, &cmd.args(args.iter().copied()))?;
            for (from, to) in files {
                capture(ctx, &docker().args(["cp", from, &format!("{name}:{to}")]))?;
            }
            capture(ctx, &docker().args(["start", &name]))?;
            return Ok(name);
        }
        let mut cmd = docker().args(["run", "--detach", "--name", &name, "--label", LABEL]);
        for (key, value) in secrets {
            cmd = cmd.args(["--env", key]).secret_env(*key, (*value).clone());
        }
        capture(ctx, &cmd.args(args.iter().copied()))?;
        Ok(name)
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let quiet = |args: &[&str]| {
            let _ = std::process::Command::new("docker")
                .args(args)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        };
        for name in self.containers.drain(..).rev() {
            quiet(&["rm", "--force", "--volumes", &name]);
        }
        for name in self.networks.drain(..).rev() {
            quiet(&["network", "rm", &name]);
        }
    }
}

/// `docker inspect` of a container's state: `{"Status": …, "Running": …, "ExitCode": …,
/// "Health": {"Status": …}}`.
pub fn state(ctx: &mut StageContext, container: &str) -> Result<Value> {
    let text = capture_quietly(
        ctx,
        &docker().args(["inspect", "--format", "{{json .State}}", container]),
    )?;
    serde_json::from_str(text.trim()).context("reading `docker inspect` output")
}

/// Waits until Docker's HEALTHCHECK reports the container healthy. Fails, with the end of the
/// container's log, when it exits, turns unhealthy or takes longer than `timeout`.
pub fn wait_healthy(ctx: &mut StageContext, container: &str, timeout: Duration) -> Result<()> {
    ctx.log(format!(
        "waiting for {container}'s HEALTHCHECK to report healthy"
    ));
    let started = Instant::now();
    loop {
        let state = state(ctx, container)?;
        let health = state["Health"]["Status"].as_str().unwrap_or("none");
        match (state["Running"].as_bool(), health) {
            (_, "healthy") => {
                ctx.log(format!(
                    "{container} healthy after {:.1} s",
                    started.elapsed().as_secs_f64()
                ));
                return Ok(());
            }
            (Some(false), _) => {
                let log = logs(ctx, container);
                bail!(
                    "{container} exited with code {} before it was healthy; its log ends:\n{log}",
                    state["ExitCode"]
                );
            }
            (_, "unhealthy") => {
                let log = logs(ctx, container);
                bail!("{container}'s HEALTHCHECK reports unhealthy; its log ends:\n{log}");
            }
            (_, "none") => bail!("{container}'s image declares no HEALTHCHECK"),
            _ => {}
        }
        if started.elapsed() > timeout {
            let log = logs(ctx, container);
            bail!("{container} was not healthy within {timeout:?}; its log ends:\n{log}");
        }
        thread::sleep(Duration::from_millis(250));
    }
}

/// The last lines a container printed (both streams), for failure messages.
pub fn logs(ctx: &mut StageContext, container: &str) -> String {
    let output = docker()
        .args(["logs", "--tail", "30", container])
        .to_command(&ctx.root)
        .stdin(Stdio::null())
        .output();
    match output {
        Ok(o) => format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
        .trim_end()
        .to_owned(),
        Err(e) => format!("(no log: {e})"),
    }
}

/// The loopback address Docker published `port/tcp` on, e.g. `127.0.0.1:49153`.
pub fn published(ctx: &mut StageContext, container: &str, port: u16) -> Result<String> {
    let text = capture(
        ctx,
        &docker().args(["port", container, &format!("{port}/tcp")]),
    )?;
    text.lines()
        .map(str::trim)
        .find(|l| l.starts_with("127.0.0.1:"))
        .map(str::to_owned)
        .with_context(|| format!("{container} has no port {port} published on 127.0.0.1: {text}"))
}

/// `docker stop --time GRACE` and the container's exit code and how long it took to stop.
pub fn stop(ctx: &mut StageContext, container: &str, grace: Duration) -> Result<(i64, Duration)> {
    let started = Instant::now();
    capture(
        ctx,
        &docker().args(["stop", "--time", &grace.as_secs().to_string(), container]),
    )?;
    let took = started.elapsed();
    let state = state(ctx, container)?;
    let code = state["ExitCode"]
        .as_i64()
        .context("`docker inspect` gave no exit code")?;
    Ok((code, took))
}
