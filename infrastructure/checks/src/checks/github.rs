//! GitHub's side (`infrastructure/github`): every environment under `environments/` has a
//! GitHub environment; production waits for a required reviewer, and both admit only `main`'s
//! workflows, each through a custom branch policy (not "any protected branch"). CD runs on
//! `workflow_run` of ci, whose ref is always the default branch: cd-staging picks develop's
//! pushes itself.

use std::collections::BTreeMap;

use hcl::Value;

use super::{Analysis, at, bool_at, known_str};
use crate::eval::field;
use crate::model::Finding;

/// The GitHub root.
pub const ROOT: &str = "github";
/// The one branch whose workflows may use each environment (a `workflow_run`'s ref is main).
pub const BRANCHES: [(&str, &str); 2] = [("staging", "main"), ("production", "main")];

fn numbers(v: &Value, path: &[&str]) -> usize {
    field(v, path).and_then(Value::as_array).map_or(0, Vec::len)
}

pub fn check(a: &Analysis<'_>) -> Vec<Finding> {
    let mut findings = Vec::new();
    if a.tree.module(ROOT).is_none() {
        return vec![Finding::new(
            format!("{ROOT}/main.tf"),
            "GitHub's side is not declared: add the github root with the environments, their reviewers and branch policies",
        )];
    }
    let resources = |ty: &'static str| {
        a.resources(ty)
            .filter(|(inst, ..)| inst.root == ROOT)
            .collect::<Vec<_>>()
    };
    let mut environments = BTreeMap::new();
    for (inst, r, key, v) in resources("github_repository_environment") {
        let Some(name) = known_str(v, &["environment"]) else {
            continue;
        };
        environments.insert(name.to_owned(), ());
        let here = at(inst, r, key);
        let policy = ["deployment_branch_policy", "0"];
        let custom = bool_at(v, &[policy[0], policy[1], "custom_branch_policies"]) == Some(true)
            && bool_at(v, &[policy[0], policy[1], "protected_branches"]) == Some(false);
        // Only the deploying environments are pinned to a branch (`plan` runs on any).
        if !custom && BRANCHES.iter().any(|(env, _)| *env == name) {
            findings.push(Finding::new(&r.file, format!("{here}: `{name}` has no custom branch policy: set deployment_branch_policy {{ protected_branches = false, custom_branch_policies = true }} and one github_repository_environment_deployment_policy for its branch")));
        }
        if name == "production" {
            let reviewers =
                numbers(v, &["reviewers", "0", "teams"]) + numbers(v, &["reviewers", "0", "users"]);
            if reviewers == 0 {
                findings.push(Finding::new(&r.file, format!("{here}: production has no required reviewer: the approval is production's gate; set production_reviewer_team_ids or production_reviewer_user_ids in {ROOT}/terraform.tfvars")));
            }
            if bool_at(v, &["can_admins_bypass"]) != Some(false) {
                findings.push(Finding::new(&r.file, format!("{here}: administrators may bypass production's reviewers: set can_admins_bypass = false")));
            }
        }
    }
    let mut patterns: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (inst, r, key, v) in resources("github_repository_environment_deployment_policy") {
        let env = known_str(v, &["environment"]).unwrap_or("?").to_owned();
        match known_str(v, &["branch_pattern"]) {
            Some(p) => patterns.entry(env).or_default().push(p.to_owned()),
            None => findings.push(Finding::new(&r.file, format!("{}: a deployment policy without a literal branch_pattern (a tag pattern, or one not resolvable): deploy from one named branch", at(inst, r, key)))),
        }
    }
    for env in a.tree.environments() {
        let name = env.dir.rsplit('/').next().unwrap_or("");
        if !environments.contains_key(name) {
            findings.push(Finding::new(format!("{ROOT}/main.tf"), format!("no GitHub environment `{name}`: the AWS roles trust only jobs in it; add a github_repository_environment")));
        }
    }
    for (env, branch) in BRANCHES {
        let got = patterns.get(env).cloned().unwrap_or_default();
        if got != [branch] {
            findings.push(Finding::new(format!("{ROOT}/main.tf"), format!("`{env}` deploys from {got:?}: it deploys from `{branch}` only; keep exactly one deployment policy with branch_pattern = \"{branch}\"")));
        }
    }
    findings
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::testing::*;

    #[test]
    fn production_waits_for_a_reviewer_and_deploys_main_only() {
        assert_clean(check(repository()));
    }

    fn planted(edit: impl Fn(&str) -> String, file: &str) -> Vec<Finding> {
        let mut sources = crate::model::read_sources(&crate::infrastructure_dir()).unwrap();
        let f = sources.iter_mut().find(|(p, _)| p == file).expect(file);
        let edited = edit(&f.1);
        assert_ne!(edited, f.1, "the plant changed nothing");
        f.1 = edited;
        let borrowed: Vec<(&str, &str)> = sources
            .iter()
            .map(|(p, t)| (p.as_str(), t.as_str()))
            .collect();
        check(&snippet(&borrowed))
    }

    #[test]
    fn production_without_reviewers_is_caught() {
        let findings = planted(
            |t| {
                t.replace(
                    "production_reviewer_team_ids = [1000001]",
                    "production_reviewer_team_ids = []",
                )
            },
            "github/terraform.tfvars",
        );
        assert_finds(
            &findings,
            "github/main.tf",
            &["production has no required reviewer"],
        );
    }

    #[test]
    fn production_deploying_from_any_branch_is_caught() {
        let findings = planted(
            |t| t.replace("      branch = \"main\"", "      branch = \"*\""),
            "github/main.tf",
        );
        assert_finds(
            &findings,
            "github/main.tf",
            &["`production` deploys from [\"*\"]", "`main` only"],
        );
        let findings = planted(
            |t| {
                t.replacen(
                    "    custom_branch_policies = true",
                    "    custom_branch_policies = false",
                    2,
                )
            },
            "github/main.tf",
        );
        assert_finds(
            &findings,
            "github/main.tf",
            &["`production` has no custom branch policy"],
        );
    }
}
