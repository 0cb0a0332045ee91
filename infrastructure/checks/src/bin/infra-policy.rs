//! `infra-policy <deploy|terraform|boundary|plan> <environment> [--account ID]`: prints the role's effective
//! policy, rendered from the Terraform that creates it, as JSON. `cargo xtask infra policy`
//! runs it (infrastructure/README.md).
//!
//! `infra-policy --calls <environment> [--account ID]`: prints every (call, IAM action, ARN)
//! the deploy engine makes in that environment (its own list, `xtask/deploy/src/aws/calls.rs`,
//! with the environment's names), which `iam_eval.py` evaluates against the policies.

use std::process::ExitCode;

use eventflow_infra_checks::policy::{self, Role};
use eventflow_infra_checks::repository_tree;

const USAGE: &str = "usage: cargo xtask infra policy <deploy|terraform> <staging|production> [--account ID], or infra-policy --calls <staging|production> [--account ID]";

fn main() -> ExitCode {
    match run(std::env::args().skip(1).collect()) {
        Ok(json) => {
            println!("{json}");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Vec<String>) -> Result<String, String> {
    let (role, environment, account) = match args.as_slice() {
        [role, env] => (role, env, None),
        [role, env, flag, account] if flag == "--account" => (role, env, Some(account.clone())),
        _ => return Err(format!("expected a role and an environment: {USAGE}")),
    };
    let tree = repository_tree();
    let account = match account {
        Some(account) => account,
        None => policy::tfvars_account(tree, environment).ok_or_else(|| {
            format!("infrastructure/environments/{environment}/terraform.tfvars sets no aws_account_id: pass --account ID")
        })?,
    };
    if role == "--calls" {
        let target = policy::target(tree, environment, &account)?;
        return serde_json::to_string_pretty(&policy::requests_json(&target))
            .map_err(|e| format!("printing the calls: {e}"));
    }
    let role = Role::parse(role)?;
    let rendered = policy::render(tree, role, environment, &account)?;
    for path in &rendered.unknown {
        eprintln!(
            "note: {path} is known only after `terraform apply` (shown as \"{}\")",
            eventflow_infra_checks::eval::UNKNOWN
        );
    }
    serde_json::to_string_pretty(&rendered.policy).map_err(|e| format!("printing the policy: {e}"))
}
