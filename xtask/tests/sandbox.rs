//! `cargo xtask sandbox up --json`, the engine's `status staging` with the printed staging deploy
//! role's variables, then `sandbox down`, after which nothing it started is left: no container,
//! no keeper process, no listening port. Needs a Docker engine and the moto venv, so plain
//! `cargo test` leaves it out: `EVENTFLOW_POSTGRES_IMAGE=… cargo test -p xtask --test sandbox`.

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use serde_json::Value;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn xtask(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("running the xtask")
}

/// Takes the sandbox down even when an assertion fails first.
struct Down;

impl Drop for Down {
    fn drop(&mut self) {
        let _ = xtask(&["sandbox", "down"]);
    }
}

fn listening(port: u64) -> bool {
    TcpStream::connect_timeout(
        &SocketAddr::from(([127, 0, 0, 1], port as u16)),
        Duration::from_millis(500),
    )
    .is_ok()
}

#[test]
fn up_serves_the_deploy_role_and_down_leaves_nothing() {
    let up = xtask(&["sandbox", "up", "--json"]);
    let guard = Down;
    assert!(
        up.status.success(),
        "sandbox up failed: {}",
        String::from_utf8_lossy(&up.stderr)
    );
    let printed: Value = serde_json::from_slice(&up.stdout).expect("up --json prints one object");
    for key in [
        "AWS_ENDPOINT_URL",
        "AWS_ACCESS_KEY_ID",
        "JWT_SECRET",
        "DATABASE_URL",
    ] {
        assert!(printed["env"][key].is_string(), "env.{key} missing");
    }
    assert!(
        printed["registry"]
            .as_str()
            .is_some_and(|r| r.starts_with("127.0.0.1:"))
    );
    // No router serves the load balancers yet.
    assert!(printed["urls"]["staging"].is_null());

    let dir = root().join("target/xtask/sandbox");
    let state: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("state.json")).unwrap()).unwrap();
    let again = xtask(&["sandbox", "up"]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("cargo xtask sandbox down"));
    assert!(xtask(&["sandbox", "status"]).status.success());

    // The engine, as staging's deploy role (IAM enforced), reads what the sandbox seeded.
    let config = state["deploy_configs"]["staging"].as_str().unwrap();
    let mut status = Command::new("cargo");
    status
        .args([
            "run",
            "--quiet",
            "-p",
            "xtask-deploy",
            "--",
            "--config",
            config,
        ])
        .args(["status", "staging"])
        .current_dir(root());
    for key in [
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
    ] {
        status.env_remove(key);
    }
    for (key, value) in printed["roles"]["staging"].as_object().unwrap() {
        status.env(key, value.as_str().unwrap());
    }
    let status = status.output().unwrap();
    let out = String::from_utf8_lossy(&status.stdout);
    assert!(
        status.status.success(),
        "status staging as the deploy role failed: {out}{}",
        String::from_utf8_lossy(&status.stderr)
    );
    assert!(out.contains("2/2 running"), "{out}");

    let down = xtask(&["sandbox", "down"]);
    drop(guard);
    assert!(down.status.success());
    let pid = state["keeper_pid"].as_u64().unwrap();
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists(),
        "the keeper still runs"
    );
    for id in state["containers"].as_array().unwrap() {
        let ps = Command::new("docker")
            .args(["ps", "--all", "--quiet", "--filter"])
            .arg(format!("id={}", id.as_str().unwrap()))
            .output()
            .unwrap();
        assert!(ps.stdout.is_empty(), "container {id} is left");
    }
    for key in ["emulator_port", "postgres_port", "registry_port"] {
        let port = state[key].as_u64().unwrap();
        assert!(!listening(port), "{key} {port} still listens");
    }
    assert!(!dir.join("state.json").exists());
    assert!(!dir.join("credentials.json").exists());
}
