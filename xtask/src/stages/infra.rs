//! `cargo xtask infra fmt|validate|plan|apply`: Terraform for one environment, run the same way on
//! a laptop and in GitHub Actions; and `infra policy`, which prints a role's effective policy.
//!
//! `plan` writes a plan file and `apply` applies exactly that file, never a fresh plan: what a
//! reviewer saw is what changes. The applied plan file is removed, so a second `apply` refuses
//! instead of failing on a stale plan half-way.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail, ensure};

use super::request::{Environment, InfraAction, PolicyRole};
use crate::cmd::Cmd;
use crate::forward;
use crate::pipeline::{Stage, Tool};
use crate::project::Project;

/// The plan file `plan` writes and `apply` reads, in the environment's directory.
pub const PLAN_FILE: &str = "tfplan";

/// `terraform show` of the plan file, next to it: what a reviewer reads before the apply (CI
/// uploads both as one artifact, and the apply job applies that very plan file).
pub const PLAN_TEXT_FILE: &str = "tfplan.txt";

/// Every Terraform root the xtask runs, relative to the project root.
fn root_dir(env: Environment) -> PathBuf {
    Path::new("infrastructure/environments").join(env.name())
}

fn terraform() -> Tool {
    Tool::new(
        "terraform",
        "install Terraform 1.11 or newer (https://developer.hashicorp.com/terraform/install, or `brew install hashicorp/tap/terraform`)",
    )
    // A Terraform command asked for by name can't be skipped: it either runs or fails.
    .required()
}

/// `terraform -chdir=<root> <args…>`: one working directory for every command of a root.
fn tf(dir: &Path, args: &[&str]) -> Cmd {
    Cmd::new("terraform")
        .arg(format!("-chdir={}", dir.display()))
        .args(args.iter().copied())
}

/// The stages of one `cargo xtask infra` command. `apply` refuses before anything runs when there
/// is no plan to apply.
pub fn stages(project: &Project, action: &InfraAction) -> Result<Vec<Stage>> {
    let stage = match action {
        InfraAction::Fmt { env, write } => fmt(env.map(root_dir), *write),
        InfraAction::Validate { env } => validate(&root_dir(*env)),
        InfraAction::Plan { env } => plan(&root_dir(*env)),
        InfraAction::Policy { .. } => {
            bail!("`infra policy` prints a policy and runs no stage: call infra::policy")
        }
        InfraAction::Apply { env, .. } => {
            let dir = root_dir(*env);
            ensure!(
                project.root().join(&dir).join(PLAN_FILE).is_file(),
                "there is no saved plan in {}: run `cargo xtask infra plan {env}` first, review it, then apply",
                dir.display(),
                env = env.name()
            );
            apply(&dir)
        }
    };
    Ok(vec![stage])
}

/// `infra policy`: the policy is rendered by the infrastructure checks' crate, which holds the
/// Terraform evaluator (`infra-policy`, run as `cargo run -p eventflow-infra-checks`), so the
/// xtask compiles no HCL parser.
pub fn policy_command(role: PolicyRole, env: Environment, account: Option<&str>) -> Cmd {
    let role = match role {
        PolicyRole::Deploy => "deploy",
        PolicyRole::Terraform => "terraform",
    };
    let mut args = vec![role.to_owned(), env.name().to_owned()];
    if let Some(account) = account {
        args.extend(["--account".to_owned(), account.to_owned()]);
    }
    forward::command("eventflow-infra-checks", args)
}

/// Prints the policy (or, with `dry_run`, the command that would).
pub fn policy(
    project: &Project,
    role: PolicyRole,
    env: Environment,
    account: Option<&str>,
    dry_run: bool,
) -> Result<bool> {
    let cmd = policy_command(role, env, account);
    if dry_run {
        println!("would run: {cmd}");
        return Ok(true);
    }
    forward::run(project, &cmd)
}

/// Checks the formatting of every `.tf` file (or rewrites it with `write`).
fn fmt(dir: Option<PathBuf>, write: bool) -> Stage {
    let dir = dir.unwrap_or_else(|| PathBuf::from("infrastructure"));
    let args: &[&str] = if write {
        &["fmt", "-recursive"]
    } else {
        &["fmt", "-check", "-diff", "-recursive"]
    };
    Stage::new("infra-fmt", &["infra", "fmt"])
        .tool(terraform())
        .run(tf(&dir, args))
}

/// Validation needs the providers but not the state: `-backend=false` keeps credentials out of it,
/// so it runs on every pull request.
fn validate(dir: &Path) -> Stage {
    Stage::new("infra-validate", &["infra", "validate"])
        .tool(terraform())
        .run(tf(dir, &["init", "-input=false", "-backend=false"]))
        .run(tf(dir, &["validate"]))
}

fn plan(dir: &Path) -> Stage {
    let show = tf(dir, &["show", "-no-color", PLAN_FILE]);
    let text_path = dir.join(PLAN_TEXT_FILE);
    let env = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    Stage::new("infra-plan", &["infra", "plan"])
        .tool(terraform())
        .run(tf(dir, &["init", "-input=false"]))
        // Another plan or apply holding the state lock is waited for, not failed on at once.
        .run(tf(
            dir,
            &[
                "plan",
                "-input=false",
                "-lock-timeout=5m",
                &format!("-out={PLAN_FILE}"),
            ],
        ))
        // Reviewers read the plan with the change: in a text file beside the plan, and on the
        // run's page in GitHub Actions.
        .call(
            format!(
                "write the shown plan to {}, and in GitHub Actions its summary to $GITHUB_STEP_SUMMARY ({show})",
                dir.join(PLAN_TEXT_FILE).display()
            ),
            move |ctx| {
                let output = show
                    .to_command(&ctx.root)
                    .output()
                    .with_context(|| format!("running `{show}`"))?;
                ensure!(
                    output.status.success(),
                    "`{show}` failed: {}",
                    output.status
                );
                let text =
                    crate::secret::redact(&String::from_utf8_lossy(&output.stdout)).into_owned();
                let text_file = ctx.root.join(&text_path);
                std::fs::write(&text_file, &text)
                    .with_context(|| format!("writing {}", text_file.display()))?;
                let Some(summary) = ctx.env_var("GITHUB_STEP_SUMMARY") else {
                    return Ok(());
                };
                let mut file = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&summary)
                    .with_context(|| format!("opening GITHUB_STEP_SUMMARY at {summary}"))?;
                file.write_all(plan_summary(&env, &text).as_bytes())
                    .with_context(|| format!("writing GITHUB_STEP_SUMMARY at {summary}"))
            },
        )
}

/// The longest plan text the step summary shows (GitHub caps a summary at 1 MiB).
const PLAN_TEXT_LIMIT: usize = 60_000;

/// Markdown for the run's page: the plan's totals, each resource it changes, and the plan itself
/// (Terraform prints sensitive values as `(sensitive value)`) folded away.
pub fn plan_summary(env: &str, plan_text: &str) -> String {
    let totals = plan_text
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("Plan:") || l.starts_with("No changes."))
        .unwrap_or("the plan printed no totals");
    let mut md = format!("### Terraform plan: {env}\n\n**{totals}**\n\n");
    for change in plan_text
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("# "))
        .filter(|l| l.contains(" will be ") || l.contains(" must be "))
    {
        md.push_str(&format!("- `{}`\n", change.replace('`', "'")));
    }
    let mut shown: String = plan_text.chars().take(PLAN_TEXT_LIMIT).collect();
    if shown.len() < plan_text.len() {
        shown.push_str("\n… (cut: run `cargo xtask infra plan` for the whole plan)");
    }
    // A fence inside the plan would end the code block early.
    md.push_str(&format!(
        "\n<details><summary>The plan</summary>\n\n~~~~\n{}\n~~~~\n\n</details>\n\n",
        shown.replace("~~~~", "~ ~ ~ ~")
    ));
    md
}

fn apply(dir: &Path) -> Stage {
    let plan_file = dir.join(PLAN_FILE);
    Stage::new("infra-apply", &["infra", "apply"])
        .tool(terraform())
        .run(tf(dir, &["init", "-input=false"]))
        .run(tf(
            dir,
            &["apply", "-input=false", "-lock-timeout=5m", PLAN_FILE],
        ))
        .call(
            format!("remove {}: an applied plan is spent", plan_file.display()),
            move |ctx| remove_spent_plan(&ctx.root.join(&plan_file)),
        )
}

fn remove_spent_plan(path: &Path) -> Result<()> {
    std::fs::remove_file(path)
        .with_context(|| format!("removing the applied plan {}", path.display()))
}

/// Production changes only with a person's yes: the saved plan is shown, then the environment's
/// name must be typed. `--yes` is for CI, where the GitHub environment's reviewers approve.
pub fn confirm(
    project: &Project,
    action: &InfraAction,
    dry_run: bool,
    stdin_is_terminal: bool,
) -> Result<()> {
    let InfraAction::Apply { env, yes } = action else {
        return Ok(());
    };
    if *env != Environment::Production || *yes || dry_run {
        return Ok(());
    }
    ensure!(
        stdin_is_terminal,
        "applying production needs a typed confirmation: run it in a terminal, or pass --yes where the approval happened elsewhere (the GitHub environment's reviewers)"
    );
    let show = tf(&root_dir(*env), &["show", PLAN_FILE]);
    println!("{show}");
    let status = show
        .to_command(project.root())
        .status()
        .with_context(|| format!("running `{show}`"))?;
    ensure!(
        status.success(),
        "`{show}` failed: the plan can't be shown, so it won't be applied"
    );
    print!("Apply this plan to production? Type `production` to go on: ");
    std::io::stdout().flush().ok();
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .context("reading the confirmation")?;
    if answer.trim() != env.name() {
        bail!("not confirmed: nothing was applied (the plan is kept)");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::plan;

    fn project_with_plan(env: &str) -> (Project, PathBuf) {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let root = std::env::temp_dir().join(format!("xtask-infra-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let dir = root.join("infrastructure/environments").join(env);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(PLAN_FILE), "plan").unwrap();
        (Project::at(root.clone()), root)
    }

    fn render(project: &Project, action: InfraAction) -> String {
        plan::render("infra", &stages(project, &action).unwrap(), None)
    }

    #[test]
    fn plan_writes_a_plan_file_and_apply_applies_exactly_it() {
        let (project, _) = project_with_plan("staging");
        let env = Environment::Staging;
        expect_test::expect![[r#"
            infra: 1 stages (dry run: nothing is executed)

            infra-plan  (alone: cargo xtask infra plan; requires terraform)
              $ terraform -chdir=infrastructure/environments/staging init -input=false
              $ terraform -chdir=infrastructure/environments/staging plan -input=false -lock-timeout=5m -out=tfplan
              # write the shown plan to infrastructure/environments/staging/tfplan.txt, and in GitHub Actions its summary to $GITHUB_STEP_SUMMARY ($ terraform -chdir=infrastructure/environments/staging show -no-color tfplan)
        "#]]
        .assert_eq(&render(&project, InfraAction::Plan { env }));
        expect_test::expect![[r#"
            infra: 1 stages (dry run: nothing is executed)

            infra-apply  (alone: cargo xtask infra apply; requires terraform)
              $ terraform -chdir=infrastructure/environments/staging init -input=false
              $ terraform -chdir=infrastructure/environments/staging apply -input=false -lock-timeout=5m tfplan
              # remove infrastructure/environments/staging/tfplan: an applied plan is spent
        "#]]
        .assert_eq(&render(&project, InfraAction::Apply { env, yes: false }));
    }

    #[test]
    fn the_plan_summary_shows_totals_and_every_change() {
        let text = "Terraform will perform the following actions:\n\n  # module.stack.module.alb.aws_lb_listener.test[0] will be updated in-place\n  ~ resource \"aws_lb_listener\" \"test\" {\n      ~ port = 8443\n    }\n\n  # module.stack.aws_x.y must be replaced\n\nPlan: 0 to add, 1 to change, 0 to destroy.\n";
        let md = plan_summary("staging", text);
        assert!(
            md.starts_with(
                "### Terraform plan: staging\n\n**Plan: 0 to add, 1 to change, 0 to destroy.**\n\n"
            ),
            "{md}"
        );
        assert!(
            md.contains(
                "- `module.stack.module.alb.aws_lb_listener.test[0] will be updated in-place`\n"
            ),
            "{md}"
        );
        assert!(
            md.contains("- `module.stack.aws_x.y must be replaced`\n"),
            "{md}"
        );
        assert!(md.contains("<details><summary>The plan</summary>"), "{md}");
        let long = "x".repeat(PLAN_TEXT_LIMIT + 10);
        assert!(plan_summary("production", &long).contains("… (cut: run `cargo xtask infra plan`"));
        assert!(
            plan_summary(
                "production",
                "No changes. Your infrastructure matches the configuration."
            )
            .contains("**No changes. Your infrastructure matches the configuration.**")
        );
    }

    #[test]
    fn policy_renders_through_the_checks_crate() {
        assert_eq!(
            policy_command(
                PolicyRole::Deploy,
                Environment::Staging,
                Some("123456789012")
            )
            .to_string(),
            "$ cargo run --quiet -p eventflow-infra-checks -- deploy staging --account 123456789012"
        );
        assert_eq!(
            policy_command(PolicyRole::Terraform, Environment::Production, None).to_string(),
            "$ cargo run --quiet -p eventflow-infra-checks -- terraform production"
        );
    }

    #[test]
    fn validate_needs_no_state_and_fmt_checks_every_file() {
        let (project, _) = project_with_plan("production");
        expect_test::expect![[r#"
            infra: 1 stages (dry run: nothing is executed)

            infra-validate  (alone: cargo xtask infra validate; requires terraform)
              $ terraform -chdir=infrastructure/environments/production init -input=false -backend=false
              $ terraform -chdir=infrastructure/environments/production validate
        "#]]
        .assert_eq(&render(
            &project,
            InfraAction::Validate {
                env: Environment::Production,
            },
        ));
        expect_test::expect![[r#"
            infra: 1 stages (dry run: nothing is executed)

            infra-fmt  (alone: cargo xtask infra fmt; requires terraform)
              $ terraform -chdir=infrastructure fmt -check -diff -recursive
        "#]]
        .assert_eq(&render(
            &project,
            InfraAction::Fmt {
                env: None,
                write: false,
            },
        ));
        let write = render(
            &project,
            InfraAction::Fmt {
                env: Some(Environment::Staging),
                write: true,
            },
        );
        assert!(
            write.contains(
                "$ terraform -chdir=infrastructure/environments/staging fmt -recursive\n"
            ),
            "{write}"
        );
    }

    #[test]
    fn apply_without_a_saved_plan_refuses_before_anything_runs() {
        let (project, _) = project_with_plan("production");
        let action = InfraAction::Apply {
            env: Environment::Staging,
            yes: true,
        };
        let error = stages(&project, &action).unwrap_err().to_string();
        assert_eq!(
            error,
            "there is no saved plan in infrastructure/environments/staging: run `cargo xtask infra plan staging` first, review it, then apply"
        );
    }

    #[test]
    fn an_applied_plan_is_removed() {
        let (_, root) = project_with_plan("staging");
        let path = root.join(root_dir(Environment::Staging)).join(PLAN_FILE);
        remove_spent_plan(&path).unwrap();
        assert!(!path.exists());
        let error = remove_spent_plan(&path).unwrap_err().to_string();
        assert!(error.starts_with("removing the applied plan"), "{error}");
    }

    #[test]
    fn production_apply_without_yes_refuses_when_nobody_can_answer() {
        let (project, _) = project_with_plan("production");
        let action = InfraAction::Apply {
            env: Environment::Production,
            yes: false,
        };
        let error = confirm(&project, &action, false, false)
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("applying production needs a typed confirmation"),
            "{error}"
        );
        // --yes, a dry run and staging never ask.
        for (env, yes, dry_run) in [
            (Environment::Production, true, false),
            (Environment::Production, false, true),
            (Environment::Staging, false, false),
        ] {
            confirm(&project, &InfraAction::Apply { env, yes }, dry_run, false).unwrap();
        }
    }
}
