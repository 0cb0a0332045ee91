//! The AWS API emulator for the deploy tests: moto's server, at a pinned version, in a virtual
//! environment under `target/xtask/moto-venv` (made once, remade when the pins change), on a
//! free loopback port. The SDK finds it through `AWS_ENDPOINT_URL`.
//!
//! It runs with the sandbox's ECS scheduler (`xtask/sandbox/moto_ecs`): deployments that move
//! on, each task a real container of its image, pulled from the registry in
//! `EVENTFLOW_TEST_REGISTRY` (start the registry first). Stopping the emulator removes them.
//!
//! IAM is enforced, as AWS does: once the server listens, an admin (every action) and each
//! environment's deploy role are made (`moto_principals.py`), then moto authenticates and
//! authorises every later request. The admin's keys are the standard `AWS_*` variables, for
//! seeding; each deploy role's credentials are in `EVENTFLOW_DEPLOY_ROLES`, for the engine, and
//! the policies they hold in the file `EVENTFLOW_DEPLOY_POLICIES` names.

use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use crate::cmd::{Cmd, EnvValue};
use crate::pipeline::process::Background;
use crate::pipeline::{Running, Service, StageContext};
use crate::secret::Secret;
use crate::services::registry::ADDRESS_VAR;

/// What goes into the venv. moto's server needs Flask; 2.2.0 and 2.2.1 break it.
pub const PACKAGES: &[&str] = &["moto[server]==5.2.5", "flask!=2.2.0,!=2.2.1", "flask-cors"];
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// moto's server with the ECS scheduler wrapped around its backends.
const LAUNCHER: &str = "xtask/sandbox/moto_ecs/serve.py";
/// The account moto plays; the deploy policies are rendered for it.
pub const ACCOUNT: &str = "123456789012";
pub const REGION: &str = "eu-central-1";
/// The environments whose deploy roles the emulator holds.
pub const ENVIRONMENTS: [&str; 2] = ["staging", "production"];
/// Makes the admin and the deploy roles, then switches enforcement on (run with the venv's python).
pub const PRINCIPALS_SCRIPT: &str = "xtask/src/services/moto_principals.py";

pub struct Moto;

impl Service for Moto {
    fn describe(&self) -> String {
        format!(
            "the AWS API emulator ({}) from a venv in target/xtask/moto-venv, on a free loopback port, with the ECS scheduler of {LAUNCHER} running each task as a container (images from ${ADDRESS_VAR}), enforcing IAM: an admin and each environment's deploy role (`cargo run -p eventflow-infra-checks -- deploy <env> --account {ACCOUNT}`, Allow statements widened to *) made by {PRINCIPALS_SCRIPT}",
            PACKAGES[0]
        )
    }

    fn provides(&self) -> Vec<&'static str> {
        vec![
            "AWS_ENDPOINT_URL",
            "AWS_REGION",
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "EVENTFLOW_DEPLOY_ROLES",
            "EVENTFLOW_DEPLOY_POLICIES",
            "EVENTFLOW_MOTO_PYTHON",
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
        let endpoint = format!("http://{addr}");
        let python = venv.join("bin/python");
        let policies = deploy_policies(&ctx.root, |cmd| ctx.log(cmd.to_string()))?;
        let principals = make_principals(
            &ctx.root,
            &python,
            &endpoint,
            None,
            &policies,
            true,
            |cmd| ctx.log(cmd.to_string()),
        )?;
        ctx.log("moto enforces IAM: the admin seeds, each environment's deploy role deploys");
        let policies_file =
            super::target_dir(&ctx.root).join(format!("xtask/moto/deploy-policies-{port}.json"));
        write_file(&policies_file, &Value::from(policies).to_string())?;
        let plain = |k: &str, v: &str| (k.to_owned(), EnvValue::Plain(v.to_owned()));
        let secret = |k: &str, v: &str| (k.to_owned(), EnvValue::Secret(Secret::new(v)));
        Ok(Box::new(Emulator {
            env: vec![
                plain("AWS_ENDPOINT_URL", &endpoint),
                plain("AWS_REGION", REGION),
                plain("AWS_ACCESS_KEY_ID", &principals.admin.access_key_id),
                secret(
                    "AWS_SECRET_ACCESS_KEY",
                    principals.admin.secret_access_key.expose(),
                ),
                secret("EVENTFLOW_DEPLOY_ROLES", &principals.roles_json.to_string()),
                plain(
                    "EVENTFLOW_DEPLOY_POLICIES",
                    &policies_file.to_string_lossy(),
                ),
                plain("EVENTFLOW_MOTO_PYTHON", &python.to_string_lossy()),
            ],
            _process: process,
        }))
    }
}

/// Each environment's deploy policy, rendered from the Terraform by the same code as
/// `cargo xtask infra policy deploy <env> --account 123456789012`, with every statement's
/// resources widened to `*`: moto authorises each request against Resource `*` only, so a
/// statement scoped to ARNs would never match there. The actions are enforced at run time this
/// way; the exact resources, and the Deny statements on the other environment's, are checked by
/// the infrastructure checks' evaluator (`infrastructure/checks/iam_eval.py`).
pub fn deploy_policies(root: &Path, log: impl Fn(&Cmd)) -> Result<serde_json::Map<String, Value>> {
    let mut policies = serde_json::Map::new();
    for env in ENVIRONMENTS {
        let cmd = crate::forward::command(
            "eventflow-infra-checks",
            ["deploy", env, "--account", ACCOUNT]
                .map(str::to_owned)
                .to_vec(),
        );
        log(&cmd);
        let out = cmd
            .to_command(root)
            .output()
            .with_context(|| format!("running `{cmd}`"))?;
        if !out.status.success() {
            bail!(
                "`{cmd}` failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        let policy: Value = serde_json::from_slice(&out.stdout)
            .with_context(|| format!("`{cmd}` printed no policy JSON"))?;
        policies.insert(env.to_owned(), widen_resources(policy));
    }
    Ok(policies)
}

/// `policy`'s Allow statements with every `Resource` set to `*` (see [`deploy_policies`] for
/// why). Its Deny statements (the other environment's resources) are dropped: widened to `*` they
/// would deny everything; they are proven by the resource evaluation instead.
pub fn widen_resources(mut policy: Value) -> Value {
    if let Some(statements) = policy["Statement"].as_array_mut() {
        statements.retain(|statement| statement["Effect"] != "Deny");
        for statement in statements {
            statement["Resource"] = json!("*");
        }
    }
    policy
}

/// An IAM user's access key pair.
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: Secret,
}

impl Credentials {
    fn from_json(v: &Value) -> Result<Credentials> {
        let field = |k: &str| v[k].as_str().map(str::to_owned);
        Ok(Credentials {
            access_key_id: field("AWS_ACCESS_KEY_ID").context("no AWS_ACCESS_KEY_ID")?,
            secret_access_key: Secret::new(
                field("AWS_SECRET_ACCESS_KEY").context("no AWS_SECRET_ACCESS_KEY")?,
            ),
        })
    }
}

/// The admin and the deploy roles [`make_principals`] made.
pub struct Principals {
    pub admin: Credentials,
    /// `{"staging": {"AWS_ACCESS_KEY_ID": …, …}, …}`: every role's credentials, for the tests.
    pub roles_json: Value,
}

/// Runs [`PRINCIPALS_SCRIPT`]: with `admin` `None` (before enforcement) it makes the admin too;
/// each policy becomes a role the admin assumes; `enforce` switches IAM enforcement on last.
/// Credentials travel on stdin and stdout only.
pub fn make_principals(
    root: &Path,
    python: &Path,
    endpoint: &str,
    admin: Option<&Credentials>,
    policies: &serde_json::Map<String, Value>,
    enforce: bool,
    log: impl Fn(&Cmd),
) -> Result<Principals> {
    let admin_json = admin.map(|a| {
        json!({"AWS_ACCESS_KEY_ID": a.access_key_id, "AWS_SECRET_ACCESS_KEY": a.secret_access_key.expose()})
    });
    let request = json!({
        "endpoint": endpoint, "region": REGION, "admin": admin_json,
        "roles": policies, "enforce": enforce,
    });
    let cmd = Cmd::new(python.to_string_lossy())
        .arg(PRINCIPALS_SCRIPT)
        .stdin_secret(Secret::new(request.to_string()));
    log(&cmd);
    let out = run_with_stdin(root, &cmd)?;
    let answer: Value =
        serde_json::from_slice(&out).context("moto_principals.py printed no JSON")?;
    let admin = Credentials::from_json(&answer["admin"])?;
    // Each role's secret key and session token, registered so no log can show them.
    for role in answer["roles"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(_, v)| v)
    {
        for key in ["AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"] {
            if let Some(value) = role[key].as_str() {
                Secret::new(value);
            }
        }
    }
    Ok(Principals {
        admin,
        roles_json: answer["roles"].clone(),
    })
}

fn write_file(path: &Path, text: &str) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

fn run_with_stdin(root: &Path, cmd: &Cmd) -> Result<Vec<u8>> {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = cmd
        .to_command(root)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("running `{cmd}`"))?;
    if let (Some(mut stdin), Some(input)) = (child.stdin.take(), cmd.get_stdin()) {
        stdin
            .write_all(input.expose().as_bytes())
            .with_context(|| format!("writing to `{cmd}`"))?;
    }
    let out = child
        .wait_with_output()
        .with_context(|| format!("running `{cmd}`"))?;
    if !out.status.success() {
        bail!(
            "`{cmd}` failed: {}",
            crate::secret::redact(String::from_utf8_lossy(&out.stderr).trim())
        );
    }
    Ok(out.stdout)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_run_time_policy_keeps_the_allowed_actions_on_any_resource_and_no_deny() {
        let policy = json!({"Version": "2012-10-17", "Statement": [
            {"Sid": "Services", "Effect": "Allow", "Action": ["ecs:UpdateService"],
             "Resource": ["arn:aws:ecs:eu-central-1:123456789012:service/eventflow-staging/backend"]},
            {"Effect": "Deny", "Action": "*",
             "Resource": ["arn:aws:ecs:*:*:cluster/eventflow-production"]},
        ]});
        assert_eq!(
            widen_resources(policy),
            json!({"Version": "2012-10-17", "Statement": [
                {"Sid": "Services", "Effect": "Allow", "Action": ["ecs:UpdateService"], "Resource": "*"},
            ]})
        );
    }
}
