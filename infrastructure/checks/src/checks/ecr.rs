//! ECR: the two repositories exist, tags are immutable (all but `latest`, which follows
//! production's release), images are scanned on push, encrypted at rest, and a lifecycle policy
//! keeps the last 10 images (the design's retention) without ever expiring a release tag `v<N>`
//! (production rolls back to, and promotes, releases).

use std::collections::BTreeSet;

use super::{Analysis, at, bool_at, json_at, known_str, show};
use crate::eval::field;
use crate::model::Finding;

/// The design's retention.
pub const IMAGES_KEPT: u64 = 10;
/// The repositories the deploy configuration names.
pub const REPOSITORIES: [&str; 2] = ["eventflow-backend", "eventflow-frontend"];

pub fn check(a: &Analysis<'_>) -> Vec<Finding> {
    let mut findings = Vec::new();
    let mut repositories = BTreeSet::new();
    let mut repository_file = BTreeSet::new();

    for (inst, r, key, v) in a.resources("aws_ecr_repository") {
        let here = at(inst, r, key);
        let Some(name) = known_str(v, &["name"]) else {
            findings.push(Finding::new(&r.file, format!("{here}: the repository's name can't be resolved: give it a literal name or one from a variable")));
            continue;
        };
        repositories.insert((inst.root.clone(), name.to_owned()));
        repository_file.insert(r.file.clone());
        if !immutable_but_latest(v) {
            findings.push(Finding::new(
                &r.file,
                format!(
                    "{here}: image_tag_mutability is {}: set it to \"IMMUTABLE\" (or \"IMMUTABLE_WITH_EXCLUSION\" with one exclusion filter, `latest`, WILDCARD), so that a tag always names the image that was verified",
                    show(field(v, &["image_tag_mutability"]))
                ),
            ));
        }
        if bool_at(v, &["image_scanning_configuration", "0", "scan_on_push"]) != Some(true) {
            findings.push(Finding::new(
                &r.file,
                format!("{here}: images are not scanned on push: add `image_scanning_configuration {{ scan_on_push = true }}`"),
            ));
        }
        match known_str(v, &["encryption_configuration", "0", "encryption_type"]) {
            Some("KMS" | "AES256") => {}
            other => findings.push(Finding::new(
                &r.file,
                format!(
                    "{here}: encryption_type is {}: add `encryption_configuration {{ encryption_type = \"KMS\" }}` (or \"AES256\")",
                    other.map_or("not set".to_owned(), |s| format!("\"{s}\""))
                ),
            )),
        }
    }

    // Which repositories a policy keeps exactly the last 10 images of.
    let mut kept = BTreeSet::new();
    for (inst, r, key, v) in a.resources("aws_ecr_lifecycle_policy") {
        let here = at(inst, r, key);
        let Some(repository) = known_str(v, &["repository"]) else {
            findings.push(Finding::new(&r.file, format!("{here}: the policy's repository can't be resolved: reference the repository's name")));
            continue;
        };
        let Some(policy) = json_at(v, &["policy"]) else {
            findings.push(Finding::new(&r.file, format!("{here}: the policy can't be read: write it with jsonencode() from literal values")));
            continue;
        };
        let rules = policy["rules"].as_array().cloned().unwrap_or_default();
        let keeps_ten = rules.iter().any(|rule| {
            rule["selection"]["tagStatus"] == "any"
                && rule["selection"]["countType"] == "imageCountMoreThan"
                && rule["selection"]["countNumber"] == IMAGES_KEPT
                && rule["action"]["type"] == "expire"
        });
        if let Err(why) = releases_never_expire(&rules) {
            findings.push(Finding::new(
                &r.file,
                format!("{here}: {why}: add a rule of higher priority (lower rulePriority) selecting tagStatus = \"tagged\", tagPatternList = [\"v*\"] with countType = \"imageCountMoreThan\" and countNumber >= {RELEASES_KEPT_AT_LEAST}"),
            ));
        }
        if keeps_ten {
            kept.insert((inst.root.clone(), repository.to_owned()));
        } else {
            findings.push(Finding::new(
                &r.file,
                format!(
                    "{here}: no rule keeps the last {IMAGES_KEPT} images: add a rule with selection {{ tagStatus = \"any\", countType = \"imageCountMoreThan\", countNumber = {IMAGES_KEPT} }} and action {{ type = \"expire\" }}"
                ),
            ));
        }
    }
    for (root, name) in &repositories {
        if !kept.contains(&(root.clone(), name.clone())) {
            let file = repository_file.iter().next().cloned().unwrap_or_default();
            findings.push(Finding::new(
                file,
                format!("repository {name} ({root}) has no lifecycle policy keeping the last {IMAGES_KEPT} images: add an aws_ecr_lifecycle_policy for it"),
            ));
        }
    }

    for wanted in REPOSITORIES {
        if !repositories.iter().any(|(_, name)| name == wanted) {
            findings.push(Finding::new(
                "global/main.tf",
                format!("no aws_ecr_repository named {wanted}: the deploy configuration pushes to it; add it to ecr_repositories in global/terraform.tfvars"),
            ));
        }
    }
    findings
}

/// A `v*`-protecting rule keeps at least this many releases: none will ever expire.
pub const RELEASES_KEPT_AT_LEAST: u64 = 10_000;

/// Release tags of every shape a rule must cover (`v1` … `v1234`).
const RELEASE_TAGS: [&str; 4] = ["v1", "v9", "v42", "v1234"];

/// `*` and `?` wildcards, as ECR's tagPatternList reads them.
fn wildcard(pattern: &str, text: &str) -> bool {
    fn go(p: &[u8], t: &[u8]) -> bool {
        match (p.first(), t.first()) {
            (None, None) => true,
            (Some(b'*'), _) => go(&p[1..], t) || (!t.is_empty() && go(p, &t[1..])),
            (Some(b'?'), Some(_)) => go(&p[1..], &t[1..]),
            (Some(a), Some(b)) if a == b => go(&p[1..], &t[1..]),
            _ => false,
        }
    }
    go(pattern.as_bytes(), text.as_bytes())
}

/// Whether a rule selects an image whose only tag is `tag` (ECR: every pattern, or every
/// prefix, of the rule must match one of the image's tags).
fn selects(rule: &serde_json::Value, tag: &str) -> bool {
    let selection = &rule["selection"];
    let list = |key: &str| -> Vec<String> {
        selection[key]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect()
    };
    match selection["tagStatus"].as_str() {
        Some("any") => true,
        Some("tagged") => {
            let patterns = list("tagPatternList");
            let prefixes = list("tagPrefixList");
            (!patterns.is_empty() && patterns.iter().all(|p| wildcard(p, tag)))
                || (!prefixes.is_empty() && prefixes.iter().all(|p| tag.starts_with(p.as_str())))
        }
        _ => false,
    }
}

/// No rule can expire a release: for every release tag, the first rule (by priority) selecting
/// it is a count rule keeping at least [`RELEASES_KEPT_AT_LEAST`] images. ECR never lets a
/// lower-priority rule expire an image a higher-priority rule selected.
pub fn releases_never_expire(rules: &[serde_json::Value]) -> Result<(), String> {
    let mut ordered: Vec<&serde_json::Value> = rules.iter().collect();
    ordered.sort_by_key(|r| r["rulePriority"].as_u64().unwrap_or(u64::MAX));
    for tag in RELEASE_TAGS {
        let Some(rule) = ordered.iter().find(|r| selects(r, tag)) else {
            continue;
        };
        let keeps = rule["selection"]["countType"] == "imageCountMoreThan"
            && rule["selection"]["countNumber"]
                .as_u64()
                .is_some_and(|n| n >= RELEASES_KEPT_AT_LEAST);
        if !keeps {
            return Err(format!(
                "rule {} ({}) can expire the release image `{tag}`",
                rule["rulePriority"],
                rule["description"].as_str().unwrap_or("no description")
            ));
        }
    }
    Ok(())
}

/// Every tag immutable, or every tag but `latest` (the deploy engine moves `latest` to
/// production's release; the version tags `v<N>` and the git shas never move).
fn immutable_but_latest(v: &hcl::Value) -> bool {
    const FILTER: &str = "image_tag_mutability_exclusion_filter";
    match known_str(v, &["image_tag_mutability"]) {
        Some("IMMUTABLE") => true,
        Some("IMMUTABLE_WITH_EXCLUSION") => {
            known_str(v, &[FILTER, "0", "filter"]) == Some("latest")
                && known_str(v, &[FILTER, "0", "filter_type"]) == Some("WILDCARD")
                && field(v, &[FILTER, "1"]).is_none()
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::testing::*;

    #[test]
    fn the_repositories_keep_ten_immutable_scanned_images() {
        assert_clean(check(repository()));
    }

    #[test]
    fn mutable_unscanned_unencrypted_repositories_are_caught() {
        let a = snippet(&[(
            "global/main.tf",
            r#"
            resource "aws_ecr_repository" "r" {
              name                 = "eventflow-backend"
              image_tag_mutability = "MUTABLE"
              image_scanning_configuration { scan_on_push = false }
            }
            "#,
        )]);
        let findings = check(&a);
        let file = "global/main.tf";
        assert_finds(
            &findings,
            file,
            &[
                "aws_ecr_repository.r",
                "image_tag_mutability is \"MUTABLE\"",
                "IMMUTABLE",
            ],
        );
        assert_finds(
            &findings,
            file,
            &["not scanned on push", "scan_on_push = true"],
        );
        assert_finds(&findings, file, &["encryption_type is not set"]);
        assert_finds(
            &findings,
            file,
            &["eventflow-backend (global) has no lifecycle policy"],
        );
        assert_finds(
            &findings,
            file,
            &["no aws_ecr_repository named eventflow-frontend"],
        );
    }

    #[test]
    fn only_latest_may_be_excluded_from_immutability() {
        let repo = |exclusion: &str| {
            format!(
                r#"
            resource "aws_ecr_repository" "r" {{
              name                 = "eventflow-backend"
              image_tag_mutability = "IMMUTABLE_WITH_EXCLUSION"
              {exclusion}
              image_scanning_configuration {{ scan_on_push = true }}
              encryption_configuration {{ encryption_type = "KMS" }}
            }}
            "#
            )
        };
        let latest = repo(
            r#"image_tag_mutability_exclusion_filter {
                filter      = "latest"
                filter_type = "WILDCARD"
              }"#,
        );
        let findings = check(&snippet(&[("global/main.tf", latest.as_str())]));
        assert!(
            !findings
                .iter()
                .any(|f| f.message.contains("image_tag_mutability")),
            "{findings:?}"
        );
        let versions = repo(
            r#"image_tag_mutability_exclusion_filter {
                filter      = "v*"
                filter_type = "WILDCARD"
              }"#,
        );
        let findings = check(&snippet(&[("global/main.tf", versions.as_str())]));
        assert_finds(
            &findings,
            "global/main.tf",
            &[
                "image_tag_mutability is \"IMMUTABLE_WITH_EXCLUSION\"",
                "`latest`",
            ],
        );
    }

    #[test]
    fn a_policy_keeping_another_number_of_images_is_caught() {
        let a = snippet(&[
            (
                "modules/ecr/main.tf",
                r#"
            variable "keep" { default = 30 }
            resource "aws_ecr_repository" "r" {
              for_each             = toset(["eventflow-backend", "eventflow-frontend"])
              name                 = each.value
              image_tag_mutability = "IMMUTABLE"
              image_scanning_configuration { scan_on_push = true }
              encryption_configuration { encryption_type = "AES256" }
            }
            resource "aws_ecr_lifecycle_policy" "p" {
              for_each   = aws_ecr_repository.r
              repository = each.value.name
              policy = jsonencode({ rules = [{
                rulePriority = 1
                selection    = { tagStatus = "any", countType = "imageCountMoreThan", countNumber = var.keep }
                action       = { type = "expire" }
              }] })
            }
            "#,
            ),
            (
                "global/main.tf",
                r#"module "ecr" { source = "../modules/ecr" }"#,
            ),
        ]);
        let findings = check(&a);
        assert_finds(
            &findings,
            "modules/ecr/main.tf",
            &[
                "aws_ecr_lifecycle_policy.p[\"eventflow-backend\"]",
                "no rule keeps the last 10 images",
            ],
        );
        assert!(
            !findings.iter().any(|f| f.message.contains("MUTABLE")),
            "{findings:?}"
        );
    }

    fn rules(json: &str) -> Vec<serde_json::Value> {
        serde_json::from_str::<serde_json::Value>(json).unwrap()["rules"]
            .as_array()
            .cloned()
            .unwrap()
    }

    #[test]
    fn a_keep_ten_rule_alone_can_expire_releases() {
        let err = releases_never_expire(&rules(
            r#"{"rules":[{"rulePriority":1,"description":"Keep the last 10 images","selection":{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":10},"action":{"type":"expire"}}]}"#,
        ))
        .unwrap_err();
        assert!(err.contains("can expire the release image `v1`"), "{err}");
    }

    #[test]
    fn a_release_rule_below_keep_ten_or_too_narrow_or_by_age_is_caught() {
        let keep_ten = r#"{"rulePriority":1,"selection":{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":10},"action":{"type":"expire"}}"#;
        let releases = |priority: u32, pattern: &str, count: &str| {
            format!(
                r#"{{"rulePriority":{priority},"selection":{{"tagStatus":"tagged","tagPatternList":["{pattern}"],{count}}},"action":{{"type":"expire"}}}}"#
            )
        };
        let forever = r#""countType":"imageCountMoreThan","countNumber":10000"#;
        // Lower priority than the keep-10 rule: it never gets to protect anything.
        let late = format!(r#"{{"rules":[{keep_ten},{}]}}"#, releases(2, "v*", forever));
        assert!(releases_never_expire(&rules(&late)).is_err());
        // Only v1*: v9 and v42 fall through to keep-10.
        let narrow = format!(
            r#"{{"rules":[{},{}]}}"#,
            releases(1, "v1*", forever),
            keep_ten.replace("\"rulePriority\":1", "\"rulePriority\":2")
        );
        let err = releases_never_expire(&rules(&narrow)).unwrap_err();
        assert!(err.contains("`v9`"), "{err}");
        // Expired after 30 days.
        let by_age = format!(
            r#"{{"rules":[{}]}}"#,
            releases(
                1,
                "v*",
                r#""countType":"sinceImagePushed","countUnit":"days","countNumber":30"#
            )
        );
        assert!(releases_never_expire(&rules(&by_age)).is_err());
    }

    #[test]
    fn the_repositorys_rules_keep_every_release() {
        assert!(wildcard("v*", "v1234") && !wildcard("v*", "sha") && wildcard("?1", "v1"));
        let mut checked = 0;
        for (_, _, _, v) in repository().resources("aws_ecr_lifecycle_policy") {
            let policy = json_at(v, &["policy"]).unwrap();
            releases_never_expire(policy["rules"].as_array().unwrap()).unwrap();
            checked += 1;
        }
        assert_eq!(checked, 2);
    }
}
