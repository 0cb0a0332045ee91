//! What `images push` hands to the deploy engine, which holds the AWS SDK for the registry login.

use xtask_args::{PushArgs, PushTag};

use super::tags::{Tags, check_version};
use super::{BACKEND, FRONTEND};

/// `xtask-deploy`'s command line for pushing `tags`: identity tags (the sha, `vX.Y.Z`) are
/// skipped where the repository has them; moving tags (the branch, `latest`) move where the
/// repository allows it.
pub fn push_args(tags: &Tags, dry_run: bool) -> Vec<String> {
    let kinds: Vec<PushTag<'_>> = tags
        .all()
        .map(|tag| {
            if tag == tags.id || check_version(tag).is_ok() {
                PushTag::Identity(tag)
            } else {
                PushTag::Moving(tag)
            }
        })
        .collect();
    let mut args = vec!["push".to_owned()];
    args.extend(PushArgs::render(&[BACKEND, FRONTEND], &tags.id, &kinds));
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
