//! What `images push` hands to the deploy engine, which holds the AWS SDK for the registry login.

use super::tags::{Tags, check_version};
use super::{BACKEND, FRONTEND};

/// `xtask-deploy`'s command line for pushing `tags`: identity tags (the sha, `vX.Y.Z`) are
/// skipped where the repository has them; moving tags (the branch, `latest`) move where the
/// repository allows it.
pub fn push_args(tags: &Tags, dry_run: bool) -> Vec<String> {
    let mut args: Vec<String> = ["push", "--repository", BACKEND, "--repository", FRONTEND]
        .map(str::to_owned)
        .into();
    args.extend(["--source-tag".to_owned(), tags.id.clone()]);
    for tag in tags.all() {
        let flag = if tag == tags.id || check_version(tag).is_ok() {
            "--tag"
        } else {
            "--moving-tag"
        };
        args.extend([flag.to_owned(), tag.to_owned()]);
    }
    if dry_run {
        args.push("--dry-run".to_owned());
    }
    args
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stages::images::Request;
    use crate::stages::images::tags::tags;
    use crate::stages::images::tags::tests::{SHA, revision};

    #[test]
    fn push_sends_identity_tags_and_moving_tags_apart() {
        let request = Request {
            version: Some("v1.4.0".into()),
            release: true,
        };
        let tags = tags(&revision(Some("develop"), false), &request).unwrap();
        assert_eq!(
            push_args(&tags, true).join(" "),
            format!(
                "push --repository eventflow-backend --repository eventflow-frontend --source-tag {SHA} --tag {SHA} --moving-tag develop --tag v1.4.0 --moving-tag latest --dry-run"
            )
        );
    }
}
