//! The invariants, one module per concern. Each `check` takes an [`Analysis`] and returns the
//! findings, each naming the file to change and the fix; the tests assert the repository has
//! none, and feed each checker a small violating configuration to show it bites.

pub mod alarms;
pub mod database_url;
pub mod deploy_config;
pub mod ecr;
pub mod ecs;
pub mod exec;
pub mod github;
pub mod iam;
pub mod isolation;
pub mod listeners;
pub mod network;
pub mod rds;
pub mod secrets;
pub mod variables;
pub mod waf;

use std::collections::BTreeMap;

use hcl::{Block, Expression, Value};

use crate::eval::{self, Instance, Resource, field, is_unknown};
use crate::model::{Finding, Tree, attr, blocks};
use crate::walk;

/// The configuration, parsed and evaluated: every root with all its module instances.
pub struct Analysis<'t> {
    pub tree: &'t Tree,
    /// Root directory → its instances (the root first).
    pub roots: BTreeMap<String, Vec<Instance>>,
}

impl<'t> Analysis<'t> {
    pub fn new(tree: &'t Tree) -> Analysis<'t> {
        let roots = tree
            .roots()
            .map(|m| (m.dir.clone(), eval::evaluate_root(tree, &m.dir)))
            .collect();
        Analysis { tree, roots }
    }

    /// Every module instance of every root.
    pub fn instances(&self) -> impl Iterator<Item = &Instance> {
        self.roots.values().flatten()
    }

    /// Every instance of every resource of type `ty`, with its module instance.
    pub fn resources<'a>(
        &'a self,
        ty: &'a str,
    ) -> impl Iterator<Item = (&'a Instance, &'a Resource, &'a Option<String>, &'a Value)> + 'a
    {
        self.instances().flat_map(move |inst| {
            inst.resources_of(ty).flat_map(move |r| {
                r.instances
                    .iter()
                    .map(move |(key, value)| (inst, r, key, value))
            })
        })
    }
}

/// Every check, over one analysis.
pub fn all(a: &Analysis<'_>) -> Vec<Finding> {
    let mut findings = Vec::new();
    findings.extend(ecr::check(a));
    findings.extend(ecs::check(a));
    findings.extend(rds::check(a));
    findings.extend(database_url::check(a));
    findings.extend(secrets::check(a));
    findings.extend(network::check(a));
    findings.extend(variables::check(a));
    findings.extend(deploy_config::check(a));
    findings.extend(listeners::check(a));
    findings.extend(iam::check(a));
    findings.extend(isolation::check(a));
    findings.extend(github::check(a));
    findings.extend(waf::check(a));
    findings.extend(alarms::check(a));
    findings.extend(exec::check(a));
    findings
}

/// `aws_ecs_service.this["backend"] (environments/staging › module.ecs)`
pub(crate) fn at(inst: &Instance, r: &Resource, key: &Option<String>) -> String {
    format!("{} ({})", r.address(key), inst.describe())
}

/// A string argument, `None` when missing or unknown.
pub(crate) fn known_str<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    field(v, path)
        .and_then(Value::as_str)
        .filter(|s| !s.contains(eval::UNKNOWN))
}

pub(crate) fn bool_at(v: &Value, path: &[&str]) -> Option<bool> {
    field(v, path).and_then(Value::as_bool)
}

pub(crate) fn number_at(v: &Value, path: &[&str]) -> Option<f64> {
    field(v, path).and_then(Value::as_f64)
}

/// A JSON document Terraform builds with `jsonencode(…)`, parsed; `None` if not readable.
pub(crate) fn json_at(v: &Value, path: &[&str]) -> Option<serde_json::Value> {
    let text = field(v, path).and_then(Value::as_str)?;
    if text == eval::UNKNOWN {
        return None;
    }
    serde_json::from_str(text).ok()
}

/// Shown in messages for a value that is unknown.
pub(crate) fn show(v: Option<&Value>) -> String {
    match v {
        None => "not set".to_owned(),
        Some(v) if is_unknown(v) => "not resolvable without AWS".to_owned(),
        Some(v) => eval::to_json(v).to_string(),
    }
}

/// The paths in a resource block's `lifecycle { ignore_changes = [...] }`: `task_definition`,
/// `default_action`, `tags.Name`; `all` for `ignore_changes = all`.
pub(crate) fn ignored_changes(block: &Block) -> Vec<String> {
    let mut out = Vec::new();
    for lifecycle in blocks(block.body(), "lifecycle") {
        match attr(lifecycle.body(), "ignore_changes") {
            Some(Expression::Array(items)) => {
                for item in items {
                    match item {
                        Expression::String(s) => out.push(s.clone()),
                        other => {
                            if let Some(path) = walk::reference(other) {
                                out.push(path.join("."));
                            }
                        }
                    }
                }
            }
            Some(Expression::Variable(v)) if v.as_str() == "all" => out.push("all".to_owned()),
            _ => {}
        }
    }
    out
}

/// Whether `ignore_changes` covers the argument `name` (itself, a path under it, or `all`).
pub(crate) fn ignores(block: &Block, name: &str) -> bool {
    ignored_changes(block)
        .iter()
        .any(|p| p == "all" || p == name)
}

#[cfg(test)]
pub(crate) mod testing {
    use std::sync::OnceLock;

    use super::Analysis;
    use crate::model::{Finding, Tree};

    /// The repository's configuration, analysed once per test process.
    pub fn repository() -> &'static Analysis<'static> {
        static ANALYSIS: OnceLock<Analysis<'static>> = OnceLock::new();
        ANALYSIS.get_or_init(|| Analysis::new(crate::repository_tree()))
    }

    /// A configuration made of snippets (path relative to `infrastructure/`, text).
    pub fn snippet(sources: &[(&str, &str)]) -> Analysis<'static> {
        let tree = Tree::from_sources(sources).unwrap_or_else(|e| panic!("{e}"));
        Analysis::new(Box::leak(Box::new(tree)))
    }

    #[track_caller]
    pub fn assert_clean(findings: Vec<Finding>) {
        if !findings.is_empty() {
            let list: Vec<String> = findings.iter().map(|f| format!("  - {f}")).collect();
            panic!("{} finding(s):\n{}", findings.len(), list.join("\n"));
        }
    }

    /// Asserts a finding in `file` whose message contains each of `needles`.
    #[track_caller]
    pub fn assert_finds(findings: &[Finding], file: &str, needles: &[&str]) {
        let hit = findings
            .iter()
            .any(|f| f.file == file && needles.iter().all(|n| f.message.contains(n)));
        assert!(
            hit,
            "no finding in {file} containing {needles:?}; found:\n{}",
            findings
                .iter()
                .map(|f| format!("  - {f}"))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}

#[cfg(test)]
mod tests {
    use super::testing::*;
    use super::*;

    #[test]
    fn the_repository_breaks_no_invariant() {
        assert_clean(all(repository()));
    }

    #[test]
    fn every_environment_is_evaluated() {
        let a = repository();
        for root in ["environments/staging", "environments/production", "global"] {
            assert!(
                a.roots.get(root).is_some_and(|i| i.len() > 1),
                "{root} was not evaluated with its modules"
            );
        }
    }

    #[test]
    fn ignore_changes_paths_are_read_from_the_lifecycle_block() {
        let body = hcl::parse(
            r#"resource "aws_ecs_service" "s" {
                 lifecycle { ignore_changes = [task_definition, tags["Name"], "desired_count"] }
               }"#,
        )
        .unwrap();
        let block = body.blocks().next().unwrap();
        assert_eq!(
            ignored_changes(block),
            ["task_definition", "tags.Name", "desired_count"]
        );
        assert!(ignores(block, "desired_count"));
        assert!(!ignores(block, "load_balancer"));
    }
}
