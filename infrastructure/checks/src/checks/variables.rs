//! The configurations hang together, as `terraform validate` would say if it could run here:
//! every variable a module declares is used in it; every `var.`, `local.` and `module.…` reference
//! names something declared; every module call passes only the callee's variables and all of its
//! required ones; `terraform.tfvars` sets only declared variables; and every module is used.

use std::collections::BTreeSet;

use super::Analysis;
use crate::model::{Finding, Module};
use crate::walk;

pub fn check(a: &Analysis<'_>) -> Vec<Finding> {
    let mut findings = Vec::new();
    for module in a.tree.modules.values() {
        findings.extend(variables_used(module));
        findings.extend(references_resolve(a, module));
        findings.extend(module_calls(a, module));
        findings.extend(tfvars(module));
    }
    findings.extend(modules_used(a));
    findings
}

/// Every `variable` is referenced (outside its own declaration) in its module.
pub fn variables_used(module: &Module) -> Vec<Finding> {
    let used = referenced(module, "var");
    module
        .blocks("variable")
        .filter(|v| !used.contains(v.label(0)))
        .map(|v| {
            Finding::new(
                v.file,
                format!(
                    "variable \"{}\" is declared but never used in {}: use it (as var.{}) or remove it, and its value where callers set it",
                    v.label(0),
                    module.dir,
                    v.label(0)
                ),
            )
        })
        .collect()
}

/// Names referenced as `<root>.<name>` anywhere in the module but its `variable` blocks.
fn referenced(module: &Module, root: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for file in &module.files {
        for block in file.body.blocks().filter(|b| b.identifier() != "variable") {
            for path in walk::references(block.body()) {
                if path[0] == root && path.len() > 1 {
                    names.insert(path[1].clone());
                }
            }
        }
    }
    names
}

/// `var.x`, `local.x` and `module.m.out` name a declared variable, local, and module output.
pub fn references_resolve(a: &Analysis<'_>, module: &Module) -> Vec<Finding> {
    let mut findings = Vec::new();
    let variables: BTreeSet<&str> = module.blocks("variable").map(|v| v.label(0)).collect();
    let locals: BTreeSet<&str> = module.locals().iter().map(|(_, name, _)| *name).collect();
    for file in &module.files {
        for block in file.body.blocks() {
            for path in walk::references(block.body()) {
                let problem = match (path[0].as_str(), path.get(1)) {
                    ("var", Some(name)) if !variables.contains(name.as_str()) => Some(format!(
                        "var.{name} is not declared: add `variable \"{name}\"` to {}/variables.tf",
                        module.dir
                    )),
                    ("local", Some(name)) if !locals.contains(name.as_str()) => Some(format!(
                        "local.{name} is not defined in {}: add it to a locals block",
                        module.dir
                    )),
                    ("module", Some(name)) => module_output_problem(a, module, name, path.get(2)),
                    _ => None,
                };
                if let Some(problem) = problem {
                    findings.push(Finding::new(&file.path, problem));
                }
            }
        }
    }
    findings.sort_by(|x, y| (&x.file, &x.message).cmp(&(&y.file, &y.message)));
    findings.dedup();
    findings
}

fn module_output_problem(
    a: &Analysis<'_>,
    module: &Module,
    name: &str,
    output: Option<&String>,
) -> Option<String> {
    let Some(call) = module.blocks("module").find(|c| c.label(0) == name) else {
        return Some(format!(
            "module.{name} is not a module of {}: add the module block or fix the name",
            module.dir
        ));
    };
    let callee = module
        .source_of(&call)
        .and_then(|dir| a.tree.module(&dir))?;
    let output = output?;
    if output == "[]" || callee.blocks("output").any(|o| o.label(0) == output) {
        return None;
    }
    if call.attr("for_each").is_some() || call.attr("count").is_some() {
        // module.x["key"].output: the key comes first.
        return None;
    }
    Some(format!(
        "module.{name}.{output} is not an output of {}: add `output \"{output}\"` to {}/outputs.tf or fix the name",
        callee.dir, callee.dir
    ))
}

const MODULE_META: [&str; 6] = [
    "source",
    "version",
    "count",
    "for_each",
    "depends_on",
    "providers",
];

/// Module calls pass declared variables only, and every variable without a default.
pub fn module_calls(a: &Analysis<'_>, module: &Module) -> Vec<Finding> {
    let mut findings = Vec::new();
    for call in module.blocks("module") {
        let name = call.label(0);
        let Some(dir) = module.source_of(&call) else {
            findings.push(Finding::new(call.file, format!("module \"{name}\": source must be a local path to a module under infrastructure/")));
            continue;
        };
        let Some(callee) = a.tree.module(&dir) else {
            findings.push(Finding::new(
                call.file,
                format!("module \"{name}\": source {dir} holds no Terraform: fix the path"),
            ));
            continue;
        };
        let declared: BTreeSet<&str> = callee.blocks("variable").map(|v| v.label(0)).collect();
        let passed: BTreeSet<&str> = call
            .block
            .body()
            .attributes()
            .map(|a| a.key())
            .filter(|k| !MODULE_META.contains(k))
            .collect();
        for arg in passed.difference(&declared) {
            findings.push(Finding::new(call.file, format!("module \"{name}\" passes {arg}, which {dir} doesn't declare: remove it or add the variable to {dir}/variables.tf")));
        }
        for v in callee.blocks("variable") {
            if v.attr("default").is_none() && !passed.contains(v.label(0)) {
                findings.push(Finding::new(
                    call.file,
                    format!("module \"{name}\" doesn't set {}, which {dir} requires (it has no default): pass it", v.label(0)),
                ));
            }
        }
    }
    findings
}

/// `terraform.tfvars` sets declared variables only, and every required one of a root.
pub fn tfvars(module: &Module) -> Vec<Finding> {
    let mut findings = Vec::new();
    let Some(tfvars) = &module.tfvars else {
        return findings;
    };
    let declared: BTreeSet<&str> = module.blocks("variable").map(|v| v.label(0)).collect();
    let set: BTreeSet<&str> = tfvars.body.attributes().map(|a| a.key()).collect();
    for key in set.difference(&declared) {
        findings.push(Finding::new(
            &tfvars.path,
            format!(
                "{key} is set but {} declares no such variable: remove it or declare it",
                module.dir
            ),
        ));
    }
    for v in module.blocks("variable") {
        if v.attr("default").is_none() && !set.contains(v.label(0)) {
            findings.push(Finding::new(
                &tfvars.path,
                format!(
                    "{} is required (no default) but not set here: add `{} = …`",
                    v.label(0),
                    v.label(0)
                ),
            ));
        }
    }
    findings
}

/// Every directory under modules/ is called by some configuration.
pub fn modules_used(a: &Analysis<'_>) -> Vec<Finding> {
    let called: BTreeSet<String> = a
        .tree
        .modules
        .values()
        .flat_map(|m| m.blocks("module").filter_map(move |c| m.source_of(&c)))
        .collect();
    a.tree
        .modules
        .values()
        .filter(|m| !m.is_root() && !m.files.is_empty() && !called.contains(&m.dir))
        .map(|m| {
            Finding::new(
                &m.files[0].path,
                format!(
                    "{} is not used by any environment: call it, or remove it",
                    m.dir
                ),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::testing::*;

    #[test]
    fn every_variable_is_used_and_every_reference_resolves() {
        assert_clean(check(repository()));
    }

    #[test]
    fn every_module_declares_variables_and_has_them_checked() {
        let a = repository();
        for dir in [
            "vpc",
            "kms",
            "rds",
            "ecs",
            "alb",
            "ecr",
            "secrets",
            "monitoring",
            "github-oidc",
        ] {
            let module = a
                .tree
                .module(&format!("modules/{dir}"))
                .unwrap_or_else(|| panic!("modules/{dir} is missing"));
            assert!(
                module.blocks("variable").count() > 0,
                "modules/{dir} declares no variable"
            );
        }
    }

    #[test]
    fn an_unused_variable_is_caught() {
        let a = snippet(&[(
            "modules/x/variables.tf",
            r#"
            variable "used" { type = string }
            variable "forgotten" {
              type = string
              validation {
                condition     = length(var.forgotten) > 0
                error_message = "A validation is not a use."
              }
            }
            resource "aws_thing" "t" { name = var.used }
            "#,
        )]);
        let findings = variables_used(a.tree.module("modules/x").unwrap());
        assert_eq!(findings.len(), 1, "{findings:?}");
        assert_finds(
            &findings,
            "modules/x/variables.tf",
            &["variable \"forgotten\" is declared but never used in modules/x"],
        );
    }

    #[test]
    fn broken_references_and_calls_are_caught() {
        let a = snippet(&[
            (
                "modules/m/main.tf",
                r#"
                variable "name" { type = string }
                variable "size" {
                  type    = number
                  default = 1
                }
                resource "aws_thing" "t" {
                  name = var.name
                  size = var.size
                }
                output "id" { value = aws_thing.t.id }
                "#,
            ),
            ("modules/orphan/main.tf", r#"resource "aws_thing" "o" {}"#),
            (
                "environments/staging/main.tf",
                r#"
                variable "region" { type = string }
                module "m" {
                  source = "../../modules/m"
                  colour = "blue"
                }
                output "a" { value = module.m.arn }
                output "b" { value = local.missing }
                output "c" { value = var.zone }
                "#,
            ),
            (
                "environments/staging/terraform.tfvars",
                r#"regoin = "eu-central-1""#,
            ),
        ]);
        let findings = check(&a);
        let main = "environments/staging/main.tf";
        assert_finds(
            &findings,
            main,
            &["module \"m\" passes colour, which modules/m doesn't declare"],
        );
        assert_finds(&findings, main, &["module \"m\" doesn't set name"]);
        assert_finds(
            &findings,
            main,
            &["module.m.arn is not an output of modules/m"],
        );
        assert_finds(&findings, main, &["local.missing is not defined"]);
        assert_finds(&findings, main, &["var.zone is not declared"]);
        assert_finds(
            &findings,
            main,
            &["variable \"region\" is declared but never used"],
        );
        let tfvars = "environments/staging/terraform.tfvars";
        assert_finds(
            &findings,
            tfvars,
            &["regoin is set but environments/staging declares no such variable"],
        );
        assert_finds(
            &findings,
            tfvars,
            &["region is required (no default) but not set here"],
        );
        assert_finds(
            &findings,
            "modules/orphan/main.tf",
            &["modules/orphan is not used by any environment"],
        );
    }
}
