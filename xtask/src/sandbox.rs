//! `cargo xtask sandbox up [--json] | status | down`: staging and production on this machine, for
//! a person to deploy to by hand, left running between commands.
//!
//! `up` starts a keeper process (`cargo xtask sandbox serve`, in its own process group, output to
//! `target/xtask/sandbox/sandbox.log`) that starts the stand-ins exactly as the test stages do
//! (the AWS emulator with IAM enforced, TLS-only PostgreSQL, the loopback registry), seeds both
//! environments with the drills' own seeding (`xtask-deploy`'s `sandbox_seed` example), writes
//! the state and waits for SIGTERM; the services' own cleanup then stops every process and
//! removes every container it started. `status` and `down` work from any shell through
//! `target/xtask/sandbox/state.json`.

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use serde_json::{Value, json};

use crate::cmd::{Cmd, EnvValue};
use crate::pipeline::process::StageLog;
use crate::pipeline::{Running, Service, StageContext};
use crate::project::Project;
use crate::secret::Secret;
use crate::services::{self, moto, postgres, registry};

#[derive(Debug, Subcommand)]
pub enum SandboxCommand {
    /// Start the AWS emulator (IAM enforced), TLS-only PostgreSQL and a registry on loopback, seed
    /// staging and production, print the variables to export (secrets included)
    Up {
        /// One JSON object: {"env", "roles", "role_arns", "urls", "registry"}
        #[arg(long)]
        json: bool,
    },
    /// Whether each part of the running sandbox is alive
    Status {
        #[arg(long)]
        json: bool,
    },
    /// Stop everything `up` started and remove its containers
    Down,
    /// The keeper `up` starts; not for direct use
    #[command(hide = true)]
    Serve,
}

const START_TIMEOUT: Duration = Duration::from_secs(900);
const STOP_TIMEOUT: Duration = Duration::from_secs(60);
/// The local backend image the seeded services first run; by default HEAD's build.
const IMAGE_VAR: &str = "EVENTFLOW_SANDBOX_IMAGE";
/// Where the engine reads the sandbox's deploy configurations (`<dir>/<env>.json`) instead of
/// the checked-in ones: the names are the same, the URLs are the sandbox's listeners.
const CONFIG_DIR_VAR: &str = "EVENTFLOW_DEPLOY_CONFIG_DIR";
/// The key the production test listener requires (the engine's `verify::TEST_KEY_VAR`).
const TEST_KEY_VAR: &str = "EVENTFLOW_TEST_LISTENER_KEY";
/// The URLs `up` reports: each listener the emulator serves on loopback.
const URL_KEYS: [&str; 3] = ["staging", "production", "production_test"];

pub fn run(project: &Project, command: SandboxCommand, dry_run: bool) -> Result<bool> {
    let dir = services::target_dir(project.root()).join("xtask/sandbox");
    match command {
        SandboxCommand::Up { json } => up(project.root(), &dir, json, dry_run),
        SandboxCommand::Status { json } => status(&dir, json),
        SandboxCommand::Down => down(&dir, dry_run),
        SandboxCommand::Serve => serve(project.root(), &dir, &initial_image(project)),
    }
}

/// The image the seeded backend services first run: `$EVENTFLOW_SANDBOX_IMAGE`, or HEAD's build.
fn initial_image(project: &Project) -> String {
    std::env::var(IMAGE_VAR).unwrap_or_else(|_| format!("eventflow-backend:{}", project.git_sha()))
}

fn state_file(dir: &Path) -> PathBuf {
    dir.join("state.json")
}

/// What `up` prints; holds secrets, so it is readable by its owner only and removed by `down`.
fn credentials_file(dir: &Path) -> PathBuf {
    dir.join("credentials.json")
}

fn seed_command(dir: &Path, image: &str) -> Cmd {
    Cmd::new("cargo")
        .args([
            "run",
            "--quiet",
            "-p",
            "xtask-deploy",
            "--example",
            "sandbox_seed",
            "--",
        ])
        .arg(deploy_dir(dir).to_string_lossy())
        .arg(image)
}

/// The sandbox's deploy configurations and the test listener's key (`secrets.json`).
fn deploy_dir(dir: &Path) -> PathBuf {
    dir.join("deploy")
}

fn keeper_command() -> Result<Cmd> {
    let exe = std::env::current_exe().context("finding the xtask's own executable")?;
    Ok(Cmd::new(exe.to_string_lossy()).args(["sandbox", "serve"]))
}

fn up(root: &Path, dir: &Path, json: bool, dry_run: bool) -> Result<bool> {
    if dry_run {
        println!("sandbox up would run, in a keeper process (`cargo xtask sandbox serve &`):");
        println!(
            "  docker image inspect --format {{{{.Id}}}} ${IMAGE_VAR} (default eventflow-backend:<HEAD>; the seeded services' first release)"
        );
        println!("  {}", registry::Registry.describe());
        println!("  {}", postgres::Postgres.describe());
        println!("  {}", moto::Moto.describe());
        println!(
            "  AWS_ENDPOINT_URL=<emulator> AWS_ACCESS_KEY_ID=<admin> {}",
            seed_command(
                dir,
                &format!("${IMAGE_VAR} (default eventflow-backend:<HEAD>)")
            )
        );
        println!("and write {}", state_file(dir).display());
        return Ok(true);
    }
    if let Some(state) = read_state(dir)? {
        let pid = state["keeper_pid"].as_i64().unwrap_or(0);
        bail!(
            "a sandbox is already {} (keeper pid {pid}, {}): run `cargo xtask sandbox down` first",
            if alive(pid) { "running" } else { "recorded" },
            state_file(dir).display()
        );
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let log = dir.join("sandbox.log");
    let out = std::fs::File::create(&log).with_context(|| format!("creating {}", log.display()))?;
    let cmd = keeper_command()?;
    eprintln!("{cmd} & (output in {})", log.display());
    use std::os::unix::process::CommandExt;
    let mut keeper = cmd
        .to_command(root)
        .stdin(std::process::Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out)
        // Its own process group: a Ctrl-C in this terminal later does not stop the sandbox.
        .process_group(0)
        .spawn()
        .with_context(|| format!("starting `{cmd}`"))?;
    let deadline = Instant::now() + START_TIMEOUT;
    while read_state(dir)?.is_none() {
        if let Some(status) = keeper.try_wait()? {
            bail!(
                "the sandbox did not start ({status}); its log:\n{}",
                tail(&log)
            );
        }
        if Instant::now() > deadline {
            bail!(
                "the sandbox was not ready within {START_TIMEOUT:?}; stop it with `cargo xtask sandbox down`; its log:\n{}",
                tail(&log)
            );
        }
        thread::sleep(Duration::from_millis(200));
    }
    let printed: Value = serde_json::from_str(
        &std::fs::read_to_string(credentials_file(dir))
            .context("reading the sandbox's variables")?,
    )?;
    if json {
        println!("{printed}");
    } else {
        print_human(&printed, dir);
    }
    Ok(true)
}

fn print_human(printed: &Value, dir: &Path) {
    let exports = |v: &Value| {
        for (k, v) in v.as_object().into_iter().flatten() {
            if let Some(v) = v.as_str() {
                println!("export {k}='{v}'");
            }
        }
    };
    println!("# The sandbox runs. As the admin (every action):");
    exports(&printed["env"]);
    for env in moto::ENVIRONMENTS {
        println!("\n# As {env}'s deploy role (its rendered policy, resources widened to *):");
        exports(&printed["roles"][env]);
    }
    println!(
        "\n# The registry `images push` fills: {}",
        printed["registry"]
    );
    println!(
        "# Deploy configurations: {}/<env>.json (the checked-in names, the sandbox's URLs)",
        deploy_dir(dir).display()
    );
    print_urls(&printed["urls"]);
    println!("# Stop it with `cargo xtask sandbox down`.");
}

fn print_urls(urls: &Value) {
    for key in URL_KEYS {
        println!("# {key:16} {}", urls[key].as_str().unwrap_or("-"));
    }
}

/// The listeners' URLs the seeding read from the emulator's `eventflow:sandbox-url` tags:
/// each a plain-HTTP loopback URL, or the seeding is wrong.
fn urls(seeded: &Value) -> Result<Value> {
    let mut urls = serde_json::Map::new();
    for key in URL_KEYS {
        let url = seeded["urls"][key].as_str().unwrap_or_default();
        let port = url
            .strip_prefix("http://127.0.0.1:")
            .and_then(|p| p.trim_end_matches('/').parse::<u16>().ok());
        if port.is_none_or(|p| p == 0) {
            bail!(
                "the seeding reported no loopback URL for {key} ({url:?}): the emulator names each listener's URL in its `eventflow:sandbox-url` tag; see {}/sandbox.log",
                "target/xtask/sandbox"
            );
        }
        urls.insert(key.to_owned(), json!(url));
    }
    Ok(Value::Object(urls))
}

fn url_port(url: &str) -> u16 {
    url.rsplit(':')
        .next()
        .and_then(|p| p.trim_end_matches('/').parse().ok())
        .unwrap_or(0)
}

fn status(dir: &Path, json: bool) -> Result<bool> {
    let Some(state) = read_state(dir)? else {
        if json {
            println!("{}", json!({"running": false}));
        } else {
            println!("no sandbox (start one with `cargo xtask sandbox up`)");
        }
        return Ok(false);
    };
    let pid = state["keeper_pid"].as_i64().unwrap_or(0);
    let mut parts = vec![("keeper", alive(pid))];
    for (name, key) in [
        ("emulator", "emulator_port"),
        ("postgres", "postgres_port"),
        ("registry", "registry_port"),
    ] {
        let port = state[key].as_u64().unwrap_or(0) as u16;
        parts.push((name, listening(port)));
    }
    for key in URL_KEYS {
        let port = url_port(state["urls"][key].as_str().unwrap_or_default());
        parts.push((key, listening(port)));
    }
    let healthy = parts.iter().all(|(_, up)| *up);
    if json {
        let map: serde_json::Map<String, Value> = parts
            .iter()
            .map(|(n, up)| ((*n).to_owned(), Value::Bool(*up)))
            .collect();
        println!(
            "{}",
            json!({"running": healthy, "parts": map, "state": state})
        );
    } else {
        for (name, up) in &parts {
            println!("{name:16} {}", if *up { "alive" } else { "DOWN" });
        }
        print_urls(&state["urls"]);
        if !healthy {
            println!("part of the sandbox is down: `cargo xtask sandbox down`, then `up`");
        }
    }
    Ok(healthy)
}

fn down(dir: &Path, dry_run: bool) -> Result<bool> {
    let Some(state) = read_state(dir)? else {
        println!("no sandbox is running");
        return Ok(true);
    };
    let pid = state["keeper_pid"].as_i64().unwrap_or(0);
    if dry_run {
        println!(
            "kill -TERM {pid} (the keeper stops every service it started), then remove {}",
            state_file(dir).display()
        );
        return Ok(true);
    }
    if alive(pid) {
        signal(pid, libc::SIGTERM);
        let deadline = Instant::now() + STOP_TIMEOUT;
        while alive(pid) && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(100));
        }
        if alive(pid) {
            // The keeper leads its group; SIGKILL reaches what it has not yet stopped.
            signal(-pid, libc::SIGKILL);
        }
    }
    // A keeper that died without cleaning up leaves its container behind.
    for id in state["containers"].as_array().into_iter().flatten() {
        if let Some(id) = id.as_str() {
            let _ = std::process::Command::new("docker")
                .args(["rm", "--force", "--volumes", id])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status();
        }
    }
    for file in [state_file(dir), credentials_file(dir)] {
        let _ = std::fs::remove_file(file);
    }
    let _ = std::fs::remove_dir_all(deploy_dir(dir));
    println!("sandbox stopped");
    Ok(true)
}

/// The keeper: starts and seeds everything, records it, then holds it until SIGTERM or SIGINT.
fn serve(root: &Path, dir: &Path, image: &str) -> Result<bool> {
    // A handler, not a blocked mask: the mask would be inherited by the services' processes,
    // which must still stop on SIGTERM.
    crate::pipeline::signal::install();
    let log = Arc::new(StageLog::new(None));
    let mut ctx = StageContext::new(
        root.to_path_buf(),
        log.clone(),
        Arc::new(AtomicBool::new(false)),
    );
    let result = start_all(&mut ctx, dir, image);
    print!("{}", log.contents());
    let running = match result {
        Ok(running) => running,
        Err(e) => {
            eprintln!("error: {}", crate::secret::redact(&format!("{e:#}")));
            return Ok(false);
        }
    };
    while !crate::pipeline::signal::interrupted() {
        thread::sleep(Duration::from_millis(200));
    }
    println!("stopping the sandbox");
    // Reverse order of starting: each service's own cleanup stops it.
    for service in running.into_iter().rev() {
        drop(service);
    }
    Ok(true)
}

fn start_all(ctx: &mut StageContext, dir: &Path, image: &str) -> Result<Vec<Box<dyn Running>>> {
    ensure_image(ctx, image)?;
    let mut running = Vec::new();
    let mut env: Vec<(String, EnvValue)> = Vec::new();
    // The registry first: the emulator's ECS pulls the tasks' images from it.
    let services: Vec<Box<dyn Service>> = vec![
        Box::new(registry::Registry),
        Box::new(postgres::Postgres),
        Box::new(moto::Moto),
    ];
    for service in services {
        let started = service.start(ctx)?;
        env.extend(started.env());
        ctx.add_env(started.env());
        running.push(started);
    }
    let get = |k: &str| {
        env.iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.expose().to_owned())
            .unwrap_or_default()
    };
    let jwt_secret = services::random_secret()?;
    crate::secret::register(&jwt_secret);
    // As the admin: the emulator's variables (the secret ones stay out of the log). The backend's
    // secrets in Secrets Manager hold the sandbox's database URL and this JWT key.
    let mut seed = seed_command(dir, image);
    for (k, v) in &env {
        seed = seed.env_value(k.clone(), v.clone());
    }
    seed = seed.env_value(
        "JWT_SECRET",
        EnvValue::Secret(Secret::new(jwt_secret.clone())),
    );
    let seeded = crate::services::docker::capture(ctx, &seed)?;
    ctx.log(format!("seeded staging and production: {}", seeded.trim()));
    let seeded: Value = serde_json::from_str(seeded.trim())
        .context("the seeding printed no JSON object; see the log above")?;
    let urls = urls(&seeded)?;
    let keys: Value = serde_json::from_str(
        &std::fs::read_to_string(deploy_dir(dir).join("secrets.json"))
            .context("reading the test listener's key the seeding wrote")?,
    )?;
    let test_key = keys["production_test_listener_key"]
        .as_str()
        .context("the seeding wrote no production test listener key")?
        .to_owned();
    crate::secret::register(&test_key);

    let port_of = |url: &str| {
        url.rsplit(':')
            .next()
            .and_then(|p| p.split(['/', '?']).next())
            .and_then(|p| p.parse::<u16>().ok())
            .unwrap_or(0)
    };
    let database_url = get("DATABASE_URL");
    // The host part of the URL ends in `:port/db`.
    let postgres_port = database_url.split('@').nth(1).map(port_of).unwrap_or(0);
    let registry_addr = get(registry::ADDRESS_VAR);
    let containers = docker_ids(ctx, postgres_port);
    let config_dir = deploy_dir(dir).to_string_lossy().into_owned();
    let roles: Value = serde_json::from_str(&get("EVENTFLOW_DEPLOY_ROLES"))?;
    let endpoint = get("AWS_ENDPOINT_URL");
    let mut role_env = serde_json::Map::new();
    // Apart from the variables (which a shell exports): the rehearsal maps a workflow's
    // `role-to-assume` to the sandbox role of the same name.
    let mut role_arns = serde_json::Map::new();
    for name in moto::ENVIRONMENTS {
        let mut vars = roles[name].clone();
        role_arns.insert(name.to_owned(), vars["role_arn"].clone());
        vars["AWS_ENDPOINT_URL"] = json!(endpoint);
        vars["AWS_REGION"] = json!(moto::REGION);
        vars[CONFIG_DIR_VAR] = json!(config_dir);
        // The suites the deploy runs sign their tokens with the environment's key, which the
        // sandbox's Secrets Manager holds for both environments.
        vars["JWT_SECRET"] = json!(jwt_secret);
        if name == "production" {
            // What the workflow reads from Secrets Manager for the smoke tests.
            vars[TEST_KEY_VAR] = json!(test_key);
        }
        if let Some(o) = vars.as_object_mut() {
            o.remove("role_arn");
        }
        role_env.insert(name.to_owned(), vars);
    }
    let printed = json!({
        "env": {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_REGION": moto::REGION,
            "AWS_ACCESS_KEY_ID": get("AWS_ACCESS_KEY_ID"),
            "AWS_SECRET_ACCESS_KEY": get("AWS_SECRET_ACCESS_KEY"),
            "DATABASE_URL": database_url,
            "JWT_SECRET": jwt_secret,
            CONFIG_DIR_VAR: config_dir,
        },
        "roles": role_env,
        "role_arns": role_arns,
        "urls": urls,
        "registry": registry_addr,
    });
    write_private(&credentials_file(dir), &printed.to_string())?;
    let state = json!({
        "keeper_pid": std::process::id(),
        "emulator_port": port_of(&endpoint),
        "postgres_port": postgres_port,
        "registry_port": port_of(&registry_addr),
        "containers": containers,
        "deploy_configs": seeded["configs"],
        "urls": urls,
    });
    // Written last: its presence is what `up` waits for.
    std::fs::write(state_file(dir), state.to_string())
        .with_context(|| format!("writing {}", state_file(dir).display()))?;
    Ok(running)
}

/// The seeded services' first image must be a local build: the seeding pushes it to the registry.
fn ensure_image(ctx: &mut StageContext, image: &str) -> Result<()> {
    let inspect = Cmd::new("docker").args(["image", "inspect", "--format", "{{.Id}}", image]);
    crate::services::docker::capture(ctx, &inspect).map(drop).with_context(|| {
        format!("no local image {image}: build HEAD's images with `cargo xtask images build`, or name another backend image in {IMAGE_VAR}")
    })
}

/// The containers publishing `port` (the PostgreSQL container), for `down` to remove should the
/// keeper die without cleaning up.
fn docker_ids(ctx: &mut StageContext, port: u16) -> Vec<String> {
    if port == 0 {
        return Vec::new();
    }
    let cmd = Cmd::new("docker").args(["ps", "--quiet", "--filter", &format!("publish={port}")]);
    crate::services::docker::capture(ctx, &cmd)
        .map(|out| out.lines().map(str::to_owned).collect())
        .unwrap_or_default()
}

fn write_private(path: &Path, text: &str) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    file.write_all(text.as_bytes())
        .with_context(|| format!("writing {}", path.display()))
}

fn read_state(dir: &Path) -> Result<Option<Value>> {
    match std::fs::read_to_string(state_file(dir)) {
        Ok(text) => Ok(Some(serde_json::from_str(&text).with_context(|| {
            format!(
                "{} is not JSON: run `cargo xtask sandbox down`",
                state_file(dir).display()
            )
        })?)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).context("reading the sandbox state"),
    }
}

fn tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

fn signal(pid: i64, signal: i32) {
    // SAFETY: kill(2) has no memory-safety preconditions.
    unsafe {
        libc::kill(pid as libc::pid_t, signal);
    }
}

fn alive(pid: i64) -> bool {
    // SAFETY: kill(2) with signal 0 only checks that the process exists.
    pid > 0 && unsafe { libc::kill(pid as libc::pid_t, 0) } == 0
}

fn listening(port: u16) -> bool {
    port != 0
        && TcpStream::connect_timeout(
            &SocketAddr::from(([127, 0, 0, 1], port)),
            Duration::from_millis(500),
        )
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seeded(production_test: Value) -> Value {
        json!({"configs": {}, "urls": {
            "staging": "http://127.0.0.1:41000",
            "production": "http://127.0.0.1:41001",
            "production_test": production_test,
        }})
    }

    #[test]
    fn the_urls_are_the_listeners_loopback_urls() {
        let urls = urls(&seeded(json!("http://127.0.0.1:41002"))).unwrap();
        assert_eq!(
            urls,
            json!({"staging": "http://127.0.0.1:41000", "production": "http://127.0.0.1:41001",
                   "production_test": "http://127.0.0.1:41002"})
        );
        assert_eq!(url_port(urls["production_test"].as_str().unwrap()), 41002);
    }

    #[test]
    fn a_missing_or_non_loopback_url_is_refused_naming_the_listener() {
        for bad in [
            Value::Null,
            json!("http://10.0.0.1:80"),
            json!("http://127.0.0.1:0"),
            json!("https://127.0.0.1:8443"),
        ] {
            let err = urls(&seeded(bad.clone())).unwrap_err().to_string();
            assert!(
                err.contains("production_test") && err.contains("eventflow:sandbox-url"),
                "{bad}: {err}"
            );
        }
    }
}
