//! Promotion, not rebuild: production runs the very image (same digest) that staging verified.
//! The candidate's digest gets the release tag `v<N>` in ECR through the registry API
//! (`BatchGetImage` for its manifest, `PutImage` with the new tag), with no build and no pull;
//! `latest` follows once production verified it. The checks before anything changes: staging's
//! ledger has a verified release with these digests, and staging's `/health` answers 200 with
//! the candidate's git sha (both skipped, and recorded, with `--force-unverified`).

use std::collections::BTreeMap;

use anyhow::{Context as _, Result, bail};

use crate::aws::{Created, Image, Platform};
use crate::config::{BlueGreenApp, Config, Upstream};
use crate::console::Console;
use crate::deploy::git_sha;
use crate::ledger::{Kind, Outcome, Release};
use crate::verify::Checks;

/// The tag that follows production's current release; the repositories exclude it from tag
/// immutability (infrastructure/modules/ecr).
pub const LATEST: &str = "latest";

/// The image to promote, per app.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    /// What was asked for (`--image-tag`).
    pub tag: String,
    /// App → its image in ECR.
    pub images: BTreeMap<String, Image>,
    pub git_sha: Option<String>,
}

/// Finds the candidate's image in each app's repository.
pub async fn candidate<P: Platform>(
    platform: &P,
    apps: &[BlueGreenApp],
    tag: &str,
) -> Result<Candidate> {
    let mut images = BTreeMap::new();
    let mut sha = None;
    for app in apps {
        let image = platform
            .find_image(&app.repository, tag)
            .await?
            .with_context(|| {
                format!(
                    "image {}:{tag} is not in ECR: deploy it to staging first (`cargo xtask deploy staging --image-tag {tag}`), or pick a tag that `aws ecr describe-images --repository-name {}` lists",
                    app.repository, app.repository
                )
            })?;
        if app.health {
            sha = Some(git_sha(tag, &image).with_context(|| {
                format!(
                    "image {}:{tag} carries no git-sha tag, so `/health` can't confirm it runs: tag images with their full commit sha as well",
                    app.repository
                )
            })?);
        }
        images.insert(app.name.clone(), image);
    }
    Ok(Candidate {
        tag: tag.to_owned(),
        images,
        git_sha: sha,
    })
}

/// The verified staging deploy that ran exactly these digests (the newest one), if any. Pure.
pub fn verified_in_staging<'r>(
    staging: &'r [Release],
    digests: &BTreeMap<String, String>,
) -> Option<&'r Release> {
    staging.iter().rev().find(|r| {
        r.kind == Kind::Deploy
            && r.result == Outcome::Verified
            && digests
                .iter()
                .all(|(app, digest)| r.image_digests.get(app) == Some(digest))
    })
}

/// The release tag to give the candidate: the `v<N>` it already has in every repository (a
/// redeploy), or one past the highest `v<N>` production's ledger and the images know. Pure.
pub fn version_tag(candidate: &Candidate, production: &[Release]) -> String {
    let versions = |tags: &[String]| -> Vec<u64> {
        tags.iter()
            .filter_map(|t| t.strip_prefix('v')?.parse::<u64>().ok())
            .collect()
    };
    let mut common: Option<Vec<u64>> = None;
    for image in candidate.images.values() {
        let mine = versions(&image.tags);
        common = Some(match common {
            None => mine,
            Some(c) => c.into_iter().filter(|v| mine.contains(v)).collect(),
        });
    }
    if let Some(v) = common.and_then(|c| c.into_iter().max()) {
        return format!("v{v}");
    }
    let highest = production
        .iter()
        .filter_map(|r| r.image_tag.strip_prefix('v')?.parse::<u64>().ok())
        .max()
        .unwrap_or(0);
    format!("v{}", highest + 1)
}

/// `version`, or the next `v<N>` after it that no other image in any app's repository carries
/// (a tag left by a release the ledger lost must not be taken: tags are immutable).
pub async fn free_version<P: Platform>(
    platform: &P,
    apps: &[BlueGreenApp],
    candidate: &Candidate,
    version: String,
) -> Result<String> {
    let mut version = version;
    for _ in 0..100 {
        let mut taken = false;
        for app in apps {
            if let Some(other) = platform.find_image(&app.repository, &version).await?
                && other.digest != candidate.images[&app.name].digest
            {
                taken = true;
            }
        }
        if !taken {
            return Ok(version);
        }
        let n: u64 = version
            .strip_prefix('v')
            .and_then(|n| n.parse().ok())
            .context("a version tag is v<N>")?;
        version = format!("v{}", n + 1);
    }
    bail!("no free release tag after {version}: clean up the repositories' v<N> tags")
}

/// The checks before a production deploy: staging verified this image and runs it now.
/// `Ok(Some(why))` when they fail and `force` lets the deploy go on anyway.
pub async fn prechecks<C: Checks>(
    checks: &C,
    console: &Console,
    upstream: &Upstream,
    staging: &[Release],
    candidate: &Candidate,
    force: bool,
) -> Result<Option<String>> {
    let digests: BTreeMap<String, String> = candidate
        .images
        .iter()
        .map(|(app, i)| (app.clone(), i.digest.clone()))
        .collect();
    let mut problems = Vec::new();
    match verified_in_staging(staging, &digests) {
        Some(r) => console.say(format!(
            "  {} verified these images: release {} ({})",
            upstream.environment, r.id, r.image_tag
        )),
        None => problems.push(format!(
            "image {} never passed {} verification (no verified release in its ledger runs these digests)",
            candidate.tag, upstream.environment
        )),
    }
    let url = Config::health_url(&upstream.base_url);
    match (checks.health(&url).await, &candidate.git_sha) {
        (Ok(h), Some(sha)) if h.status == 200 && h.git_sha.as_deref() == Some(sha.as_str()) => {
            console.say(format!("  GET {url}: 200, git_sha {sha}"));
        }
        (Ok(h), Some(sha)) => problems.push(format!(
            "{} does not run {} now: GET {url} answered {} with git_sha {}, expected {sha}",
            upstream.environment,
            candidate.tag,
            h.status,
            h.git_sha.as_deref().unwrap_or("(none)")
        )),
        (Ok(_), None) => {}
        (Err(e), _) => problems.push(format!("GET {url} failed: {e:#}")),
    }
    if problems.is_empty() {
        return Ok(None);
    }
    let why = problems.join("; ");
    if force {
        console.say(format!(
            "warning: {why}: going on because of --force-unverified (recorded in the ledger)"
        ));
        return Ok(Some(why));
    }
    bail!(
        "{why}: deploy it to {} first (`cargo xtask deploy {} --image-tag {}`), or pass --force-unverified",
        upstream.environment,
        upstream.environment,
        candidate.tag
    )
}

/// Puts `tag` on every app's candidate digest; says which were new.
pub async fn tag_all<P: Platform>(
    platform: &P,
    console: &Console,
    apps: &[BlueGreenApp],
    candidate: &Candidate,
    tag: &str,
) -> Result<()> {
    for app in apps {
        let digest = &candidate.images[&app.name].digest;
        let created = platform
            .tag_image(&app.repository, digest, tag)
            .await
            .with_context(|| format!("tagging {}@{digest} as {tag}", app.repository))?;
        console.call(
            false,
            format!(
                "ecr:PutImage repositoryName={} imageDigest={digest} imageTag={tag}{}",
                app.repository,
                if created == Created::AlreadyExists {
                    " (already there)"
                } else {
                    ""
                }
            ),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::release;

    fn candidate(tags: &[&[&str]]) -> Candidate {
        Candidate {
            tag: "abc".into(),
            images: tags
                .iter()
                .enumerate()
                .map(|(i, t)| {
                    (
                        format!("app{i}"),
                        Image {
                            registry_id: "1".into(),
                            digest: format!("sha256:{i}"),
                            tags: t.iter().map(|s| (*s).to_owned()).collect(),
                        },
                    )
                })
                .collect(),
            git_sha: None,
        }
    }

    #[test]
    fn a_new_image_gets_the_next_version_and_a_promoted_one_keeps_its_own() {
        let prod = [
            release("01", Kind::Deploy, "v3", 1, Outcome::Verified),
            release("02", Kind::Deploy, "v4", 2, Outcome::RolledBack),
        ];
        assert_eq!(version_tag(&candidate(&[&["abc"], &["abc"]]), &prod), "v5");
        assert_eq!(version_tag(&candidate(&[&["abc"]]), &[]), "v1");
        assert_eq!(
            version_tag(
                &candidate(&[&["abc", "v3"], &["abc", "v3", "latest"]]),
                &prod
            ),
            "v3"
        );
        // Not the same version in every repository: a fresh one.
        assert_eq!(
            version_tag(&candidate(&[&["abc", "v3"], &["abc"]]), &prod),
            "v5"
        );
    }

    #[test]
    fn only_a_verified_staging_deploy_of_the_same_digests_counts() {
        let mut verified = release("01", Kind::Deploy, "abc", 1, Outcome::Verified);
        verified.image_digests = [("backend".into(), "sha256:new".into())].into();
        let mut failed = release("02", Kind::Deploy, "abc", 2, Outcome::RolledBack);
        failed.image_digests = [("backend".into(), "sha256:bad".into())].into();
        let staging = [verified, failed];
        let want = |d: &str| BTreeMap::from([("backend".to_owned(), d.to_owned())]);
        assert_eq!(
            verified_in_staging(&staging, &want("sha256:new")).map(|r| r.id.as_str()),
            Some("01")
        );
        assert!(verified_in_staging(&staging, &want("sha256:bad")).is_none());
        assert!(verified_in_staging(&staging, &want("sha256:other")).is_none());
    }
}
