//! The tags one build gets: the commit sha always, the branch, a version, `latest` for a release;
//! `<sha>-dirty` alone for uncommitted changes.

use anyhow::{Result, bail, ensure};

use super::Request;
use crate::project::Project;

/// The commit being built, as git and the CI environment describe it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Revision {
    pub sha: String,
    /// Changes not committed, tracked or not: the build is not exactly `sha`.
    pub dirty: bool,
    /// The branch, if any (none on a detached checkout outside CI).
    pub branch: Option<String>,
}

impl Revision {
    /// Reads the repository; planning never changes it.
    pub fn read(project: &Project) -> Revision {
        let git = |args: &[&str]| {
            std::process::Command::new("git")
                .args(args)
                .current_dir(project.root())
                .stderr(std::process::Stdio::null())
                .output()
                .ok()
                .filter(|o| o.status.success())
                .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        };
        let env = |name: &str| std::env::var(name).ok();
        Revision {
            sha: project.git_sha(),
            dirty: git(&["status", "--porcelain"]).is_some_and(|s| !s.is_empty()),
            branch: branch_name(
                git(&["rev-parse", "--abbrev-ref", "HEAD"]).as_deref(),
                env("GITHUB_HEAD_REF").as_deref(),
                env("GITHUB_REF_NAME").as_deref(),
                env("GITHUB_REF_TYPE").as_deref(),
            ),
        }
    }
}

/// The branch being built: git's, or on a detached checkout (GitHub Actions) the pull request's
/// source branch, or the pushed branch.
pub fn branch_name(
    git: Option<&str>,
    github_head_ref: Option<&str>,
    github_ref_name: Option<&str>,
    github_ref_type: Option<&str>,
) -> Option<String> {
    pub(super) fn non_empty(s: Option<&str>) -> Option<&str> {
        s.map(str::trim).filter(|s| !s.is_empty())
    }
    if let Some(branch) = non_empty(git).filter(|b| *b != "HEAD") {
        return Some(branch.to_owned());
    }
    if let Some(branch) = non_empty(github_head_ref) {
        return Some(branch.to_owned());
    }
    non_empty(github_ref_name)
        .filter(|_| github_ref_type == Some("branch"))
        .map(str::to_owned)
}

/// A branch name as a Docker tag (`[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`): lower case, anything
/// else becomes `-`, runs of `-` collapse, and no leading or trailing `.` or `-`.
/// `feature/Login Form` → `feature-login-form`.
pub fn sanitize_tag(name: &str) -> Option<String> {
    let mut tag = String::with_capacity(name.len());
    for c in name.chars().flat_map(char::to_lowercase) {
        let c = if c.is_ascii_alphanumeric() || c == '_' || c == '.' {
            c
        } else {
            '-'
        };
        if !(c == '-' && tag.ends_with('-')) {
            tag.push(c);
        }
    }
    let tag = tag.trim_matches(|c| c == '-' || c == '.');
    let tag: String = tag.chars().take(128).collect();
    let tag = tag.trim_end_matches(['-', '.']);
    (!tag.is_empty()).then(|| tag.to_owned())
}

/// `vMAJOR.MINOR.PATCH`, optionally with a pre-release such as `-rc.1`.
pub fn check_version(version: &str) -> Result<()> {
    let fix = "give the version as vMAJOR.MINOR.PATCH, e.g. --version v1.4.2 (or v1.5.0-rc.1)";
    let Some(rest) = version.strip_prefix('v') else {
        bail!("version `{version}` does not start with `v`: {fix}");
    };
    let (core, pre) = match rest.split_once('-') {
        Some((core, pre)) => (core, Some(pre)),
        None => (rest, None),
    };
    let numbers: Vec<&str> = core.split('.').collect();
    let numeric = |n: &&str| {
        !n.is_empty()
            && n.bytes().all(|b| b.is_ascii_digit())
            && (n.len() == 1 || !n.starts_with('0'))
    };
    ensure!(
        numbers.len() == 3 && numbers.iter().all(numeric),
        "version `{version}` is not vMAJOR.MINOR.PATCH: {fix}"
    );
    if let Some(pre) = pre {
        ensure!(
            !pre.is_empty()
                && pre.split('.').all(|p| {
                    !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                }),
            "version `{version}` has a malformed pre-release part: {fix}"
        );
    }
    Ok(())
}

pub(super) fn is_sha(s: &str) -> bool {
    s.len() == 40
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The tags one build gets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tags {
    /// The identity tag: the commit sha, or `<sha>-dirty` for a work tree with changes.
    pub id: String,
    /// The moving tags that point at it: the branch, the version, `latest`.
    pub extra: Vec<String>,
    /// Tags left out, and why.
    pub notes: Vec<String>,
}

impl Tags {
    pub fn all(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.id.as_str()).chain(self.extra.iter().map(String::as_str))
    }

    /// The tag an image is built and verified under before it gets its real tags.
    pub fn candidate(&self) -> String {
        format!("{}-candidate", self.id)
    }

    pub fn is_dirty(&self) -> bool {
        self.id.ends_with("-dirty")
    }
}

/// The tagging scheme: `<sha>` always (immutable); the sanitised branch; `vX.Y.Z` with a
/// version; `latest` only for a production release. A work tree with changes gets `<sha>-dirty`
/// and nothing else: the moving tags only ever point at committed code.
pub fn tags(revision: &Revision, request: &Request) -> Result<Tags> {
    ensure!(
        is_sha(&revision.sha),
        "`{}` is not a commit sha: the images are tagged with the commit, so build them inside the git repository with at least one commit",
        revision.sha
    );
    if let Some(version) = &request.version {
        check_version(version)?;
    }
    ensure!(
        !request.release || request.version.is_some(),
        "--release needs --version vX.Y.Z: `latest` always names a released version"
    );
    if revision.dirty {
        ensure!(
            request.version.is_none() && !request.release,
            "the work tree has uncommitted changes: a version or a release is built from a commit, so commit (or stash) them first"
        );
        return Ok(Tags {
            id: format!("{}-dirty", revision.sha),
            extra: Vec::new(),
            notes: vec![
                "uncommitted changes: tagged <sha>-dirty only, never pushed, and rebuilt whenever this stage runs"
                    .to_owned(),
            ],
        });
    }
    let mut extra = Vec::new();
    let mut notes = Vec::new();
    match revision.branch.as_deref().map(|b| (b, sanitize_tag(b))) {
        None => notes.push("no branch (detached HEAD): no branch tag".to_owned()),
        Some((branch, None)) => notes.push(format!("branch `{branch}` makes no tag")),
        Some((branch, Some(tag)))
            if tag == "latest" || is_sha(&tag) || check_version(&tag).is_ok() =>
        {
            notes.push(format!(
                "branch `{branch}` would tag `{tag}`, which only a release or a commit may: no branch tag"
            ));
        }
        Some((_, Some(tag))) => extra.push(tag),
    }
    if let Some(version) = &request.version {
        extra.push(version.clone());
    }
    if request.release {
        extra.push("latest".to_owned());
    }
    extra.dedup();
    Ok(Tags {
        id: revision.sha.clone(),
        extra,
        notes,
    })
}

/// The tags `images push` may send: never a dirty build's.
pub fn pushable(tags: &Tags) -> Result<Vec<String>> {
    ensure!(
        !tags.is_dirty(),
        "the work tree has uncommitted changes and a -dirty image is never pushed: commit them, then build and push again"
    );
    Ok(tags.all().map(str::to_owned).collect())
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    pub(in crate::stages::images) const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

    pub(in crate::stages::images) fn revision(branch: Option<&str>, dirty: bool) -> Revision {
        Revision {
            sha: SHA.to_owned(),
            dirty,
            branch: branch.map(str::to_owned),
        }
    }

    pub(in crate::stages::images) fn request(version: Option<&str>, release: bool) -> Request {
        Request {
            version: version.map(str::to_owned),
            release,
        }
    }

    fn all(tags: &Tags) -> Vec<&str> {
        tags.all().collect()
    }

    #[test]
    fn a_commit_on_a_branch_gets_its_sha_and_the_branch() {
        let tags = tags(&revision(Some("develop"), false), &Request::default()).unwrap();
        assert_eq!(all(&tags), [SHA, "develop"]);
        assert_eq!(tags.candidate(), format!("{SHA}-candidate"));
    }

    #[test]
    fn branch_names_are_sanitised() {
        let cases = [
            ("feature/x", Some("feature-x")),
            ("Feature/Login Form", Some("feature-login-form")),
            ("release/1.4", Some("release-1.4")),
            ("fix//double--dash", Some("fix-double-dash")),
            ("-leading.and.trailing.-", Some("leading.and.trailing")),
            (
                "dependabot/npm_and_yarn/vite-8.3.9",
                Some("dependabot-npm_and_yarn-vite-8.3.9"),
            ),
            ("ünïcode", Some("n-code")),
            ("///", None),
        ];
        for (branch, tag) in cases {
            assert_eq!(sanitize_tag(branch).as_deref(), tag, "{branch}");
        }
        let long = "a".repeat(300);
        assert_eq!(sanitize_tag(&long).unwrap().len(), 128);
    }

    #[test]
    fn a_version_and_a_release_add_their_tags() {
        let tags = tags(
            &revision(Some("main"), false),
            &request(Some("v1.4.2"), true),
        )
        .unwrap();
        assert_eq!(all(&tags), [SHA, "main", "v1.4.2", "latest"]);
        let tags = tags_of(Some("main"), Some("v1.5.0-rc.1"), false);
        assert_eq!(tags, [SHA, "main", "v1.5.0-rc.1"]);
    }

    fn tags_of(branch: Option<&str>, version: Option<&str>, release: bool) -> Vec<String> {
        tags(&revision(branch, false), &request(version, release))
            .unwrap()
            .all()
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn latest_only_for_a_release_and_only_with_a_version() {
        assert!(!tags_of(Some("main"), Some("v1.0.0"), false).contains(&"latest".to_owned()));
        let err = tags(&revision(Some("main"), false), &request(None, true)).unwrap_err();
        assert!(
            err.to_string().starts_with("--release needs --version"),
            "{err}"
        );
    }

    #[test]
    fn branches_never_take_a_tag_reserved_for_releases_or_commits() {
        for branch in ["latest", "v1.2.3", SHA] {
            let tags = tags(&revision(Some(branch), false), &Request::default()).unwrap();
            assert_eq!(all(&tags), [SHA], "{branch}");
            assert_eq!(tags.notes.len(), 1);
        }
        let detached = tags(&revision(None, false), &Request::default()).unwrap();
        assert_eq!(all(&detached), [SHA]);
    }

    #[test]
    fn a_dirty_tree_gets_only_a_dirty_tag_and_is_never_pushed() {
        let tags = tags(&revision(Some("develop"), true), &Request::default()).unwrap();
        assert_eq!(all(&tags), [format!("{SHA}-dirty")]);
        assert!(tags.is_dirty());
        let err = pushable(&tags).unwrap_err();
        assert!(err.to_string().contains("never pushed"), "{err}");
        let err = super::tags(
            &revision(Some("main"), true),
            &request(Some("v1.0.0"), false),
        )
        .unwrap_err();
        assert!(err.to_string().contains("uncommitted changes"), "{err}");
    }

    #[test]
    fn a_clean_build_pushes_every_tag() {
        let tags = tags(
            &revision(Some("main"), false),
            &request(Some("v2.0.0"), true),
        )
        .unwrap();
        assert_eq!(pushable(&tags).unwrap(), [SHA, "main", "v2.0.0", "latest"]);
    }

    #[test]
    fn only_a_commit_sha_names_an_image() {
        let mut no_repo = revision(Some("main"), false);
        no_repo.sha = "unknown".to_owned();
        let err = tags(&no_repo, &Request::default()).unwrap_err();
        assert!(err.to_string().contains("not a commit sha"), "{err}");
    }

    #[test]
    fn versions_are_v_major_minor_patch() {
        for good in [
            "v0.1.0",
            "v1.4.2",
            "v10.20.30",
            "v1.5.0-rc.1",
            "v2.0.0-beta-2",
        ] {
            assert!(check_version(good).is_ok(), "{good}");
        }
        for bad in [
            "1.4.2",
            "v1.4",
            "v1.4.2.1",
            "v01.2.3",
            "v1.2.x",
            "v1.2.3-",
            "v1.2.3-rc..1",
            "vlatest",
        ] {
            assert!(check_version(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_branch_comes_from_git_then_from_github() {
        assert_eq!(
            branch_name(Some("develop"), None, None, None).as_deref(),
            Some("develop")
        );
        // A pull request's detached checkout: its source branch.
        assert_eq!(
            branch_name(
                Some("HEAD"),
                Some("feature/x"),
                Some("42/merge"),
                Some("branch")
            )
            .as_deref(),
            Some("feature/x")
        );
        assert_eq!(
            branch_name(Some("HEAD"), Some(""), Some("main"), Some("branch")).as_deref(),
            Some("main")
        );
        // A tag push is not a branch.
        assert_eq!(
            branch_name(Some("HEAD"), None, Some("v1.0.0"), Some("tag")),
            None
        );
        assert_eq!(branch_name(None, None, None, None), None);
    }
}
