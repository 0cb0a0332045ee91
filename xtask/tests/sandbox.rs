//! The sandbox end to end: `cargo xtask sandbox up --json`; HEAD's images pushed with `cargo
//! xtask images push` as staging's deploy role, into the sandbox's registry and listed by its
//! ECR; `cargo xtask deploy staging` as staging's deploy role with nothing but the
//! variables `up` printed; the staging URL then served by the new tasks; the production test
//! listener refusing a request without the test key; `sandbox down`, after which nothing it
//! started is left: no container, no keeper process, no listening port.
//!
//! Needs a Docker engine, the moto venv and HEAD's images from `cargo xtask images build` (a
//! clean tree, so that they carry the commit's sha), so plain
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

/// A command with only the variables of one of `up`'s printed groups as its AWS identity.
fn as_printed(mut cmd: Command, vars: &Value) -> Output {
    for key in [
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
    ] {
        cmd.env_remove(key);
    }
    for (key, value) in vars.as_object().unwrap() {
        cmd.env(key, value.as_str().unwrap());
    }
    cmd.current_dir(root()).output().unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
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

fn port_of(url: &str) -> u64 {
    url.rsplit(':').next().unwrap().parse().unwrap()
}

/// `curl`'s status, body and the `X-Sandbox-Target` (which task answered) of a GET.
fn get(url: &str, headers: &[&str]) -> (u16, String, String) {
    let mut cmd = Command::new("curl");
    cmd.args([
        "--silent",
        "--max-time",
        "10",
        "--user-agent",
        "eventflow-sandbox-test",
    ])
    .args(["--dump-header", "-"]);
    for h in headers {
        cmd.args(["--header", h]);
    }
    let out = cmd.arg(url).output().expect("running curl");
    let response = String::from_utf8_lossy(&out.stdout).into_owned();
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let target = head
        .lines()
        .find_map(|l| {
            l.strip_prefix("x-sandbox-target: ")
                .or_else(|| l.strip_prefix("X-Sandbox-Target: "))
        })
        .unwrap_or_default()
        .to_owned();
    (status, body.to_owned(), target)
}

/// The sandbox's task containers: those whose image comes from the sandbox's registry.
fn task_containers(registry: &str) -> Vec<String> {
    let out = Command::new("docker")
        .args(["ps", "--all", "--format", "{{.ID}} {{.Image}}"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| {
            l.split(' ')
                .nth(1)
                .is_some_and(|i| i.starts_with(&format!("{registry}/")))
        })
        .map(|l| l.split(' ').next().unwrap().to_owned())
        .collect()
}

/// The commit `images push` pushes: HEAD's sha.
fn head_sha() -> String {
    let sha = Command::new("git")
        .args(["rev-parse", "HEAD"])
        .current_dir(root())
        .output()
        .unwrap();
    String::from_utf8_lossy(&sha.stdout).trim().to_owned()
}

#[test]
fn up_deploys_staging_as_the_deploy_role_and_down_leaves_nothing() {
    let up = xtask(&["sandbox", "up", "--json"]);
    let guard = Down;
    assert!(up.status.success(), "sandbox up failed: {}", text(&up));
    let printed: Value = serde_json::from_slice(&up.stdout).expect("up --json prints one object");
    for key in [
        "AWS_ENDPOINT_URL",
        "AWS_ACCESS_KEY_ID",
        "JWT_SECRET",
        "DATABASE_URL",
        "EVENTFLOW_DEPLOY_CONFIG_DIR",
    ] {
        assert!(printed["env"][key].is_string(), "env.{key} missing");
    }
    assert!(printed["roles"]["production"]["EVENTFLOW_TEST_LISTENER_KEY"].is_string());
    let registry = printed["registry"].as_str().unwrap().to_owned();
    assert!(registry.starts_with("127.0.0.1:"));
    let url = |key: &str| {
        printed["urls"][key]
            .as_str()
            .unwrap_or_else(|| panic!("urls.{key} is null"))
            .to_owned()
    };
    let (staging, production_test) = (url("staging"), url("production_test"));

    let dir = root().join("target/xtask/sandbox");
    let state: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("state.json")).unwrap()).unwrap();
    assert_eq!(state["urls"], printed["urls"], "the state records the URLs");
    let again = xtask(&["sandbox", "up"]);
    assert!(!again.status.success());
    assert!(text(&again).contains("cargo xtask sandbox down"));
    let status = xtask(&["sandbox", "status"]);
    assert!(status.status.success(), "{}", text(&status));
    assert!(
        text(&status).contains(&staging),
        "status names the URLs: {}",
        text(&status)
    );

    // The first release serves through the load balancer; the test listener wants its key.
    let (code, _, before) = get(&format!("{staging}/health"), &[]);
    assert_eq!(code, 200, "staging serves its first release");
    let (code, body, _) = get(&format!("{production_test}/health"), &[]);
    assert_eq!(
        (code, body.as_str()),
        (403, "Forbidden"),
        "the test listener without its key"
    );

    // Push HEAD's images as staging's deploy role, as CD does: ECR's token names the sandbox's
    // registry, so the images land there and nothing leaves the machine; ECR then lists the tag
    // (a second push skips it), and the deploy resolves it to the pushed digest.
    let sha = head_sha();
    let mut push = Command::new(env!("CARGO_BIN_EXE_xtask"));
    push.args(["images", "push"]);
    let pushed = as_printed(push, &printed["roles"]["staging"]);
    assert!(pushed.status.success(), "images push: {}", text(&pushed));
    assert!(
        text(&pushed).contains(&format!("docker push {registry}/eventflow-backend:{sha}")),
        "pushed to the sandbox's registry: {}",
        text(&pushed)
    );
    let tags = Command::new("curl")
        .args(["--silent", "--fail"])
        .arg(format!("http://{registry}/v2/eventflow-backend/tags/list"))
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&tags.stdout).contains(&sha),
        "the registry holds the tag: {}",
        String::from_utf8_lossy(&tags.stdout)
    );
    let mut again = Command::new(env!("CARGO_BIN_EXE_xtask"));
    again.args(["images", "push"]);
    let again = as_printed(again, &printed["roles"]["staging"]);
    assert!(again.status.success(), "{}", text(&again));
    assert!(
        text(&again).contains(&format!("skip {sha}: already there")),
        "ECR lists the pushed tag: {}",
        text(&again)
    );
    let mut deploy = Command::new(env!("CARGO_BIN_EXE_xtask"));
    deploy.args(["deploy", "staging", "--image-tag", &sha, "--yes"]);
    let deployed = as_printed(deploy, &printed["roles"]["staging"]);
    assert!(
        deployed.status.success(),
        "deploy staging as its role: {}",
        text(&deployed)
    );

    let mut engine_status = Command::new(env!("CARGO_BIN_EXE_xtask"));
    engine_status.args(["status", "staging"]);
    let shown = as_printed(engine_status, &printed["roles"]["staging"]);
    assert!(shown.status.success(), "{}", text(&shown));
    assert!(
        text(&shown).contains(&sha),
        "status shows the new image: {}",
        text(&shown)
    );
    let (code, body, after) = get(&format!("{staging}/health"), &[]);
    assert_eq!(code, 200);
    assert!(body.contains(&sha), "{body}");
    assert_ne!(
        before, after,
        "a new task answers ({before} before the deploy)"
    );
    let tasks = task_containers(&registry);
    assert!(!tasks.is_empty());

    let down = xtask(&["sandbox", "down"]);
    drop(guard);
    assert!(down.status.success());
    let pid = state["keeper_pid"].as_u64().unwrap();
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists(),
        "the keeper still runs"
    );
    let left = task_containers(&registry);
    assert!(left.is_empty(), "task containers left: {left:?}");
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
    for key in ["staging", "production", "production_test"] {
        let port = port_of(state["urls"][key].as_str().unwrap());
        assert!(!listening(port), "the {key} listener {port} still listens");
    }
    assert!(!dir.join("state.json").exists());
    assert!(!dir.join("credentials.json").exists());
}
