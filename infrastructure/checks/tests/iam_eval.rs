//! The deploy roles' resources, exactly: each environment's rendered deploy policy evaluated
//! against the exact (action, ARN) pairs the engine's calls make in each environment
//! (`infra-policy --calls <env>`), with moto's own IAM evaluator (`iam_eval.py`). The emulator's
//! server authorises against Resource `*` only, so this is where the resources are enforced.
//!
//! Needs the AWS emulator's venv (made by `cargo xtask test deploy`, which runs this test with
//! `EVENTFLOW_MOTO_PYTHON`); without it the test fails under `CI=true` and reports NOT RUN
//! locally.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use eventflow_infra_checks::policy::{self, Role};
use eventflow_infra_checks::repository_tree;
use serde_json::{Value, json};

/// moto's account; any account gives the same verdicts.
const ACCOUNT: &str = "123456789012";
const ENVIRONMENTS: [&str; 2] = ["staging", "production"];

/// Resources both environments reach by design, so another environment's role may reach them
/// too: what AWS authorises against no ARN, the image repositories (production promotes
/// staging's images) and staging's ledger (production checks that staging verified a release).
const SHARED: [&str; 3] = ["Any", "Repository", "StagingStateTable"];

/// The venv's python, found as the emulator's service finds the venv.
fn python() -> Option<PathBuf> {
    if let Some(python) = std::env::var_os("EVENTFLOW_MOTO_PYTHON") {
        return Some(PathBuf::from(python));
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), |d| root.join(d));
    let python = target.join("xtask/moto-venv/bin/python");
    python.is_file().then_some(python)
}

fn evaluate(python: &PathBuf, input: &Value) -> Vec<Value> {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("iam_eval.py");
    let mut child = Command::new(python)
        .arg(&script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("running iam_eval.py");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "iam_eval.py failed");
    serde_json::from_slice(&out.stdout).expect("iam_eval.py prints JSON")
}

/// `policy` without its Deny statements that carry a condition (the other environment's tags and
/// key aliases): moto's evaluator ignores those conditions, so each would deny every request.
/// No refusal here rests on them; the infrastructure checks' own evaluator, which judges
/// conditions, proves them (`checks/isolation.rs`).
fn without_conditional_denies(mut policy: Value) -> Value {
    if let Some(statements) = policy["Statement"].as_array_mut() {
        statements.retain(|s| !(s["Effect"] == "Deny" && s.get("Condition").is_some()));
    }
    policy
}

#[test]
fn each_deploy_role_reaches_exactly_its_own_environment() {
    let Some(python) = python() else {
        let reason = "the AWS emulator's venv (target/xtask/moto-venv) is missing: run `cargo xtask test deploy`, which makes it and runs this test";
        assert!(std::env::var("CI").as_deref() != Ok("true"), "{reason}");
        eprintln!("NOT RUN: {reason}");
        return;
    };
    let tree = repository_tree();
    let mut policies = serde_json::Map::new();
    let mut requests = Vec::new();
    for env in ENVIRONMENTS {
        let rendered = policy::render(tree, Role::Deploy, env, ACCOUNT).unwrap();
        policies.insert(env.to_owned(), without_conditional_denies(rendered.policy));
        let target = policy::target(tree, env, ACCOUNT).unwrap();
        for mut request in policy::requests_json(&target).as_array().unwrap().clone() {
            request["environment"] = json!(env);
            requests.push(request);
        }
    }
    for env in ENVIRONMENTS {
        let kinds: Vec<&str> = requests
            .iter()
            .filter(|r| r["environment"] == env)
            .filter_map(|r| r["kind"].as_str())
            .collect();
        for kind in ["Service", "TaskDefinition", "TaskRole", "StateTable"] {
            assert!(kinds.contains(&kind), "{env} makes no call on a {kind}");
        }
    }
    let verdicts = evaluate(
        &python,
        &json!({"policies": policies, "requests": requests}),
    );
    assert_eq!(verdicts.len(), requests.len());

    let mut wrong = Vec::new();
    for (request, verdict) in requests.iter().zip(&verdicts) {
        let env = request["environment"].as_str().unwrap();
        let what = format!(
            "{} {} ({})",
            request["action"].as_str().unwrap(),
            request["resource"].as_str().unwrap(),
            request["call"].as_str().unwrap()
        );
        if verdict[env] != "ALLOW" {
            wrong.push(format!(
                "{env}'s deploy role is refused its own call {what}: {}",
                verdict[env]
            ));
        }
        for other in ENVIRONMENTS.iter().filter(|o| **o != env) {
            // The other environment reads this very ledger itself (production reads staging's).
            let read_by_other = requests.iter().any(|r| {
                r["environment"] == *other
                    && r["kind"] == "StagingStateTable"
                    && r["action"] == request["action"]
                    && r["resource"] == request["resource"]
            });
            let shared = SHARED.contains(&request["kind"].as_str().unwrap()) || read_by_other;
            if !shared && verdict[*other] == "ALLOW" {
                wrong.push(format!(
                    "{other}'s deploy role may make {env}'s call {what}: scope its statement to {other}'s names"
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "the deploy policies (infrastructure/policies/deploy.json.tftpl) against the engine's calls:\n{}",
        wrong.join("\n")
    );
}

/// The evaluator itself can refuse: a resource outside every statement, and a Deny.
#[test]
fn the_evaluator_refuses_what_no_statement_allows() {
    let Some(python) = python() else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "the AWS emulator's venv is missing: run `cargo xtask test deploy`"
        );
        eprintln!("NOT RUN: the AWS emulator's venv is missing: run `cargo xtask test deploy`");
        return;
    };
    let allow = json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "ssm:GetParameter", "Resource": "arn:aws:ssm:eu-central-1:1:parameter/a/*"}
    ]});
    let deny = json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "ssm:*", "Resource": "*"},
        {"Effect": "Deny", "Action": "ssm:GetParameter", "Resource": "arn:aws:ssm:eu-central-1:1:parameter/a/x"}
    ]});
    let requests = json!([
        {"action": "ssm:GetParameter", "resource": "arn:aws:ssm:eu-central-1:1:parameter/a/x"},
        {"action": "ssm:GetParameter", "resource": "arn:aws:ssm:eu-central-1:1:parameter/b/x"},
    ]);
    let verdicts = evaluate(
        &python,
        &json!({"policies": {"allow": allow, "deny": deny}, "requests": requests}),
    );
    assert_eq!(
        verdicts,
        [
            json!({"allow": "ALLOW", "deny": "DENY"}),
            json!({"allow": "NEUTRAL", "deny": "ALLOW"})
        ]
    );
}
