//! The deploy configuration (`environments/<env>/deploy.json`, read by `cargo xtask deploy`)
//! and Terraform agree: every key of the file is an output of the environment with the same
//! value, as Terraform would compute it from the environment's variables, locals and resources.

use hcl::Value;

use super::Analysis;
use crate::eval::{UNKNOWN, is_unknown, to_json};
use crate::model::Finding;

/// Keys every environment's deploy.json has.
pub const REQUIRED: [&str; 7] = [
    "environment",
    "region",
    "cluster",
    "strategy",
    "base_url",
    "ledger_prefix",
    "apps",
];
/// Keys a blue/green environment has besides.
pub const BLUE_GREEN: [&str; 3] = ["load_balancer", "listeners", "test_url"];
/// Keys of each app.
pub const APP_KEYS: [&str; 5] = [
    "services",
    "task_family",
    "template_family",
    "container",
    "ecr_repository",
];

pub fn check(a: &Analysis<'_>) -> Vec<Finding> {
    let mut findings = Vec::new();
    for env in a.tree.environments() {
        let Some((file, json)) = &env.deploy_json else {
            findings.push(Finding::new(
                format!("{}/deploy.json", env.dir),
                "missing: every environment checks in the deploy configuration the xtask reads (see infrastructure/README.md)",
            ));
            continue;
        };
        findings.extend(shape(file, &env.dir, json));
        let outputs = a
            .roots
            .get(&env.dir)
            .and_then(|instances| instances.first())
            .map(|root| &root.outputs);
        let Some(object) = json.as_object() else {
            continue;
        };
        for (key, wanted) in object {
            let outputs_file = format!("{}/outputs.tf", env.dir);
            match outputs.and_then(|o| o.get(key)) {
                None => findings.push(Finding::new(
                    &outputs_file,
                    format!("deploy.json has `{key}` but Terraform has no output \"{key}\": add it, built from the same resources and variables"),
                )),
                Some(value) => compare(&mut findings, file, &outputs_file, key, wanted, value),
            }
        }
    }
    findings
}

/// What the deploy engine relies on, whatever Terraform says.
fn shape(file: &str, dir: &str, json: &serde_json::Value) -> Vec<Finding> {
    let mut findings = Vec::new();
    let mut need = |ok: bool, message: String| {
        if !ok {
            findings.push(Finding::new(file, message));
        }
    };
    let env_name = dir.rsplit('/').next().unwrap_or(dir);
    for key in REQUIRED {
        need(
            json.get(key).is_some(),
            format!("`{key}` is missing: the deploy engine needs it"),
        );
    }
    need(
        json["environment"] == env_name,
        format!(
            "`environment` is {}, not the directory's name \"{env_name}\"",
            json["environment"]
        ),
    );
    let strategy = json["strategy"].as_str().unwrap_or("");
    need(
        matches!(strategy, "rolling" | "blue_green"),
        format!("`strategy` is \"{strategy}\": use \"rolling\" or \"blue_green\""),
    );
    let services_per_app = if strategy == "blue_green" { 2 } else { 1 };
    if strategy == "blue_green" {
        for key in BLUE_GREEN {
            need(
                json.get(key).is_some(),
                format!("`{key}` is missing: a blue/green environment needs it"),
            );
        }
    }
    for (app, cfg) in json["apps"].as_object().into_iter().flatten() {
        for key in APP_KEYS {
            need(
                cfg.get(key).is_some(),
                format!("apps.{app}.{key} is missing"),
            );
        }
        need(
            cfg.get("template_family").is_none() || cfg["template_family"] != cfg["task_family"],
            format!(
                "apps.{app}.template_family is task_family: Terraform's template needs a family of its own, which deploys never write"
            ),
        );
        let services = cfg["services"].as_array().map_or(0, Vec::len);
        need(
            services == services_per_app,
            format!(
                "apps.{app}.services lists {services} service(s): a {strategy} environment has {services_per_app} per app"
            ),
        );
        need(
            (strategy == "blue_green") == cfg.get("target_groups").is_some(),
            format!("apps.{app}.target_groups: present exactly when the strategy is blue_green"),
        );
    }
    findings
}

fn compare(
    findings: &mut Vec<Finding>,
    file: &str,
    outputs_file: &str,
    path: &str,
    wanted: &serde_json::Value,
    got: &Value,
) {
    match (wanted, got) {
        (serde_json::Value::Object(w), Value::Object(g)) => {
            for (key, w) in w {
                let sub = format!("{path}.{key}");
                match g.get(key) {
                    Some(g) => compare(findings, file, outputs_file, &sub, w, g),
                    None => findings.push(Finding::new(
                        outputs_file,
                        format!("deploy.json has `{sub}` but Terraform's output has no `{key}` there: add it"),
                    )),
                }
            }
        }
        (serde_json::Value::Array(w), Value::Array(g)) if w.len() == g.len() => {
            for (i, (w, g)) in w.iter().zip(g).enumerate() {
                compare(findings, file, outputs_file, &format!("{path}[{i}]"), w, g);
            }
        }
        _ if is_unknown(got) && !matches!(got, Value::Object(_) | Value::Array(_))
            || got.as_str() == Some(UNKNOWN) =>
        {
            findings.push(Finding::new(
                outputs_file,
                format!("output `{path}` can't be computed without AWS, so it can't be compared with deploy.json ({wanted}): build it from names (variables, locals, resource arguments), not from IDs or ARNs"),
            ));
        }
        _ => {
            let got = to_json(got);
            if !same(wanted, &got) {
                findings.push(Finding::new(
                    file,
                    format!("`{path}` is {wanted} here but Terraform's output is {got}: make them equal (the deploy would address resources that don't exist)"),
                ));
            }
        }
    }
}

/// Equal as JSON, numbers compared by value (443 and 443.0 are one port).
fn same(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    match (a, b) {
        (serde_json::Value::Number(x), serde_json::Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::testing::*;

    #[test]
    fn deploy_json_matches_the_terraform_outputs() {
        assert_clean(check(repository()));
    }

    #[test]
    fn every_environment_has_a_deploy_configuration() {
        let a = repository();
        let envs: Vec<&str> = a.tree.environments().map(|m| m.dir.as_str()).collect();
        assert_eq!(envs, ["environments/production", "environments/staging"]);
        for env in a.tree.environments() {
            assert!(env.deploy_json.is_some(), "{}: no deploy.json", env.dir);
        }
    }

    fn environment(deploy_json: &str) -> Analysis<'static> {
        snippet(&[
            (
                "environments/staging/main.tf",
                r#"
                variable "region" { type = string }
                locals { name = "eventflow-staging" }
                resource "aws_ecs_cluster" "this" { name = local.name }
                resource "aws_ecs_service" "this" {
                  for_each = toset(["backend"])
                  name     = each.value
                }
                "#,
            ),
            (
                "environments/staging/outputs.tf",
                r#"
                output "environment" { value = "staging" }
                output "region" { value = var.region }
                output "cluster" { value = aws_ecs_cluster.this.name }
                output "strategy" { value = "rolling" }
                output "base_url" { value = "https://${aws_lb.this.dns_name}" }
                output "apps" {
                  value = {
                    backend = {
                      services       = [for s in aws_ecs_service.this : s.name]
                      task_family     = "eventflow-backend"
                      template_family = "eventflow-backend-template"
                      container       = "backend"
                      ecr_repository = "eventflow-backend"
                    }
                  }
                }
                "#,
            ),
            (
                "environments/staging/terraform.tfvars",
                r#"region = "eu-central-1""#,
            ),
            ("environments/staging/deploy.json", deploy_json),
        ])
    }

    #[test]
    fn a_mismatch_a_missing_output_and_an_unresolvable_one_are_caught() {
        let a = environment(
            r#"{"environment":"staging","region":"eu-west-1","cluster":"eventflow-staging","strategy":"rolling",
                "base_url":"https://staging.eventflow.example.com","ledger_prefix":"/eventflow/staging",
                "apps":{"backend":{"services":["backend"],"task_family":"eventflow-backend","template_family":"eventflow-backend-template","container":"backend","ecr_repository":"eventflow-backend"}}}"#,
        );
        let findings = check(&a);
        assert_finds(
            &findings,
            "environments/staging/deploy.json",
            &["`region` is \"eu-west-1\" here but Terraform's output is \"eu-central-1\""],
        );
        assert_finds(
            &findings,
            "environments/staging/outputs.tf",
            &["no output \"ledger_prefix\""],
        );
        assert_finds(
            &findings,
            "environments/staging/outputs.tf",
            &["output `base_url` can't be computed without AWS"],
        );
        assert!(
            !findings
                .iter()
                .any(|f| f.message.contains("`cluster`") || f.message.contains("apps")),
            "{findings:?}"
        );
    }

    #[test]
    fn a_deploy_json_missing_what_the_engine_needs_is_caught() {
        let a = environment(
            r#"{"environment":"production","strategy":"blue_green","apps":{"backend":{"services":["backend"]}}}"#,
        );
        let findings = check(&a);
        let file = "environments/staging/deploy.json";
        assert_finds(
            &findings,
            file,
            &["`environment` is \"production\", not the directory's name \"staging\""],
        );
        assert_finds(&findings, file, &["`load_balancer` is missing"]);
        assert_finds(
            &findings,
            file,
            &["apps.backend.services lists 1 service(s): a blue_green environment has 2 per app"],
        );
        assert_finds(&findings, file, &["apps.backend.task_family is missing"]);
        assert_finds(
            &findings,
            file,
            &["apps.backend.template_family is missing"],
        );
    }

    #[test]
    fn a_template_sharing_the_deploys_family_is_caught() {
        let a = environment(
            r#"{"environment":"staging","apps":{"backend":{"services":["backend"],"task_family":"f","template_family":"f"}}}"#,
        );
        assert_finds(
            &check(&a),
            "environments/staging/deploy.json",
            &[
                "apps.backend.template_family is task_family: Terraform's template needs a family of its own",
            ],
        );
    }
}
