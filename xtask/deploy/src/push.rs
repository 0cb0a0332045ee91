//! `cargo xtask images push`: the images' tags to ECR, skipping what the repository already has.
//!
//! The registry password comes from ECR's `GetAuthorizationToken` through the AWS SDK and reaches
//! `docker login` on its stdin only: never an argument, a log line or an error. The login is
//! undone at the end, however the push ends, so no credential stays in the Docker config.
//!
//! Identity tags (the commit sha, `vX.Y.Z`) name one build forever: one the repository has is
//! skipped, never pushed again. Moving tags (the branch, `latest`) are pushed where the
//! repository lets them move, and left where they are, with a note, where its tags are immutable.

use std::fmt;
use std::process::Stdio;

use anyhow::{Context, Result, bail, ensure};
use aws_sdk_ecr::types::{ImageTagMutability, Repository, TagStatus};
use tokio::io::AsyncWriteExt;

use crate::console::Console;

/// What `cargo xtask images push` asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// Local images `<repository>:<source_tag>` are pushed to the ECR repository of that name.
    pub repositories: Vec<String>,
    /// The local tag the images were built under (the commit sha).
    pub source_tag: String,
    pub identity_tags: Vec<String>,
    pub moving_tags: Vec<String>,
    /// Push here instead of the registry ECR names (a registry mirror, or a test registry).
    pub registry: Option<String>,
    pub dry_run: bool,
}

/// What happens to one tag in one repository.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    Push,
    Skip(String),
}

/// The decision for one tag, from what the repository says. Pure, so that every case is tested.
pub fn decide(tag: &str, moving: bool, present: bool, can_move: bool) -> Action {
    match (moving, present) {
        (_, false) => Action::Push,
        (false, true) => Action::Skip("already there (an identity tag names one build)".into()),
        (true, true) if can_move => Action::Push,
        (true, true) => Action::Skip(format!(
            "already there and the repository's tags are immutable: `{tag}` stays where it is"
        )),
    }
}

/// Whether the repository lets `tag` point at another image: mutable repositories, and the
/// exclusions of the `…_WITH_EXCLUSION` settings (wildcard filters such as `latest`, `dev-*`).
pub fn tag_can_move(mutability: &ImageTagMutability, exclusions: &[String], tag: &str) -> bool {
    let excluded = exclusions.iter().any(|filter| wildcard(filter, tag));
    match mutability {
        ImageTagMutability::Mutable => true,
        ImageTagMutability::MutableWithExclusion => !excluded,
        ImageTagMutability::ImmutableWithExclusion => excluded,
        _ => false,
    }
}

/// ECR's tag filters: `*` matches any run of characters, everything else itself.
fn wildcard(pattern: &str, text: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == text,
        Some((head, rest)) => {
            let Some(tail) = text.strip_prefix(head) else {
                return false;
            };
            (0..=tail.len())
                .filter(|i| tail.is_char_boundary(*i))
                .any(|i| wildcard(rest, &tail[i..]))
        }
    }
}

/// A `docker` command as data. A secret only ever goes to its stdin.
#[derive(Clone, PartialEq, Eq)]
pub struct Docker {
    pub args: Vec<String>,
    stdin: Option<String>,
}

impl Docker {
    fn new<I: IntoIterator<Item = S>, S: Into<String>>(args: I) -> Docker {
        Docker {
            args: args.into_iter().map(Into::into).collect(),
            stdin: None,
        }
    }

    async fn run(&self) -> Result<()> {
        let mut child = tokio::process::Command::new("docker")
            .args(&self.args)
            .stdin(if self.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("running `{self}`: is Docker installed?"))?;
        if let (Some(secret), Some(mut stdin)) = (&self.stdin, child.stdin.take()) {
            stdin
                .write_all(secret.as_bytes())
                .await
                .with_context(|| format!("writing to `{self}`"))?;
        }
        let status = child
            .wait()
            .await
            .with_context(|| format!("waiting for `{self}`"))?;
        ensure!(status.success(), "`{self}` failed ({status})");
        Ok(())
    }
}

impl fmt::Display for Docker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "docker {}", self.args.join(" "))?;
        if self.stdin.is_some() {
            f.write_str(" (password on stdin: ***)")?;
        }
        Ok(())
    }
}

/// The registry host and password that ECR's authorization token carries.
struct Login {
    host: String,
    password: String,
}

async fn login(ecr: &aws_sdk_ecr::Client) -> Result<Login> {
    let out = ecr.get_authorization_token().send().await.map_err(|e| {
        anyhow::anyhow!(
            "ecr:GetAuthorizationToken: {}: check the AWS credentials (`aws sso login`, or the workflow's credentials step)",
            aws_sdk_ecr::error::DisplayErrorContext(e)
        )
    })?;
    let data = out
        .authorization_data()
        .first()
        .context("ecr:GetAuthorizationToken returned no authorization data")?;
    let token = data
        .authorization_token()
        .context("ecr:GetAuthorizationToken returned no token")?;
    let decoded = aws_smithy_types::base64::decode(token)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .context("ECR's authorization token is not base64 `user:password`")?;
    let (_, password) = decoded
        .split_once(':')
        .context("ECR's authorization token is not `user:password`")?;
    let endpoint = data
        .proxy_endpoint()
        .context("ecr:GetAuthorizationToken returned no registry endpoint")?;
    let host = endpoint
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    Ok(Login {
        host,
        password: password.to_owned(),
    })
}

/// The host of `host[:port]`, `[v6]:port`, or a URL's authority.
fn host_name(address: &str) -> &str {
    let authority = address.split_once("://").map_or(address, |(_, rest)| rest);
    let authority = authority.split(['/', '?']).next().unwrap_or_default();
    let authority = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => authority.split(':').next().unwrap_or_default(),
    }
}

fn is_loopback(address: &str) -> bool {
    let host = host_name(address);
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Against a local AWS emulator (a loopback `AWS_ENDPOINT_URL`), the images and the registry
/// login go to a loopback registry only: never to the AWS host an emulator may name.
pub fn stays_on_this_machine(endpoint: Option<&str>, registry: &str) -> Result<()> {
    match endpoint {
        Some(endpoint) if is_loopback(endpoint) && !is_loopback(registry) => bail!(
            "refusing to log in to or push to {registry}: AWS_ENDPOINT_URL is a local emulator, so the registry must be on loopback too (start the emulator with its registry, `cargo xtask sandbox up`, or pass --registry 127.0.0.1:PORT)"
        ),
        _ => Ok(()),
    }
}

/// The repository's tag settings and the tags it has.
async fn repository(ecr: &aws_sdk_ecr::Client, name: &str) -> Result<(Repository, Vec<String>)> {
    let described = ecr
        .describe_repositories()
        .repository_names(name)
        .send()
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "ecr:DescribeRepositories {name}: {}: the repository comes from infrastructure/global (see infrastructure/README.md)",
                aws_sdk_ecr::error::DisplayErrorContext(e)
            )
        })?;
    let repository = described
        .repositories()
        .first()
        .cloned()
        .with_context(|| format!("ECR has no repository {name}"))?;
    let mut tags = Vec::new();
    let mut pages = ecr
        .list_images()
        .repository_name(name)
        .filter(
            aws_sdk_ecr::types::ListImagesFilter::builder()
                .tag_status(TagStatus::Tagged)
                .build(),
        )
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| {
            anyhow::anyhow!(
                "ecr:ListImages {name}: {}",
                aws_sdk_ecr::error::DisplayErrorContext(e)
            )
        })?;
        tags.extend(
            page.image_ids()
                .iter()
                .filter_map(|id| id.image_tag().map(str::to_owned)),
        );
    }
    Ok((repository, tags))
}

/// The plan for one repository: each tag with what happens to it.
pub fn plan(
    request: &Request,
    mutability: &ImageTagMutability,
    exclusions: &[String],
    present: &[String],
) -> Vec<(String, Action)> {
    let identity = request.identity_tags.iter().map(|t| (t, false));
    let moving = request.moving_tags.iter().map(|t| (t, true));
    identity
        .chain(moving)
        .map(|(tag, is_moving)| {
            let action = decide(
                tag,
                is_moving,
                present.contains(tag),
                tag_can_move(mutability, exclusions, tag),
            );
            (tag.clone(), action)
        })
        .collect()
}

/// Pushes the tags the repositories are missing; with `dry_run`, prints what it would run.
pub async fn push(ecr: &aws_sdk_ecr::Client, console: &Console, request: &Request) -> Result<()> {
    ensure!(
        !request.repositories.is_empty() && !request.identity_tags.is_empty(),
        "nothing to push: name at least one repository and one tag"
    );
    let login = login(ecr).await?;
    let host = request.registry.clone().unwrap_or(login.host);
    stays_on_this_machine(std::env::var("AWS_ENDPOINT_URL").ok().as_deref(), &host)?;
    let mut commands = Vec::new();
    for name in &request.repositories {
        let local = format!("{name}:{}", request.source_tag);
        if !request.dry_run {
            Docker::new(["image", "inspect", "--format", "{{.Id}}", &local])
                .run()
                .await
                .with_context(|| {
                    format!("{local} is not in the local Docker engine: run `cargo xtask images build` first")
                })?;
        }
        let (repository, present) = repository(ecr, name).await?;
        let mutability = repository
            .image_tag_mutability()
            .cloned()
            .unwrap_or(ImageTagMutability::Mutable);
        let exclusions: Vec<String> = repository
            .image_tag_mutability_exclusion_filters()
            .iter()
            .map(|f| f.filter().to_owned())
            .collect();
        console.say(format!("{name} ({mutability}) at {host}:"));
        for (tag, action) in plan(request, &mutability, &exclusions, &present) {
            match action {
                Action::Push => {
                    console.say(format!("  push {tag}"));
                    let remote = format!("{host}/{name}:{tag}");
                    commands.push(Docker::new(["tag", local.as_str(), remote.as_str()]));
                    commands.push(Docker::new(["push", remote.as_str()]));
                }
                Action::Skip(why) => console.say(format!("  skip {tag}: {why}")),
            }
        }
    }
    if commands.is_empty() {
        console.say("nothing to push: the repositories have every tag");
        return Ok(());
    }
    let login_cmd = Docker {
        stdin: Some(login.password),
        ..Docker::new([
            "login",
            "--username",
            "AWS",
            "--password-stdin",
            host.as_str(),
        ])
    };
    let logout = Docker::new(["logout", host.as_str()]);
    if request.dry_run {
        for cmd in std::iter::once(&login_cmd)
            .chain(&commands)
            .chain([&logout])
        {
            console.say(format!("  would run: {cmd}"));
        }
        return Ok(());
    }
    login_cmd.run().await?;
    let mut result = Ok(());
    for cmd in &commands {
        console.say(format!("  $ {cmd}"));
        if let Err(e) = cmd.run().await {
            result = Err(e);
            break;
        }
    }
    // However the pushes went, the credential does not stay in ~/.docker/config.json.
    if let Err(e) = logout.run().await {
        console.say(format!("  warning: {e:#}"));
    }
    if let Err(e) = result {
        bail!(
            "{e:#}: the tags before it were pushed; run `cargo xtask images push` again to push the rest"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> Request {
        Request {
            repositories: vec!["eventflow-backend".into()],
            source_tag: "abc".into(),
            identity_tags: vec!["abc".into(), "v1.2.3".into()],
            moving_tags: vec!["develop".into(), "latest".into()],
            registry: None,
            dry_run: true,
        }
    }

    #[test]
    fn identity_tags_the_repository_has_are_skipped() {
        let plan = plan(
            &request(),
            &ImageTagMutability::Immutable,
            &[],
            &["abc".into()],
        );
        assert!(matches!(plan[0], (ref t, Action::Skip(_)) if t == "abc"));
        assert_eq!(plan[1], ("v1.2.3".into(), Action::Push));
        assert_eq!(plan[2], ("develop".into(), Action::Push));
    }

    #[test]
    fn moving_tags_move_only_where_the_repository_allows() {
        let present = vec!["develop".to_owned(), "latest".to_owned()];
        let immutable = plan(&request(), &ImageTagMutability::Immutable, &[], &present);
        assert!(matches!(&immutable[2].1, Action::Skip(why) if why.contains("`develop` stays")));
        assert!(matches!(&immutable[3].1, Action::Skip(_)));
        let mutable = plan(&request(), &ImageTagMutability::Mutable, &[], &present);
        assert_eq!(mutable[2].1, Action::Push);
        assert_eq!(mutable[3].1, Action::Push);
        let excluded = plan(
            &request(),
            &ImageTagMutability::ImmutableWithExclusion,
            &["latest".into()],
            &present,
        );
        assert!(matches!(excluded[2].1, Action::Skip(_)));
        assert_eq!(excluded[3].1, Action::Push);
    }

    #[test]
    fn exclusion_filters_are_ecr_wildcards() {
        assert!(wildcard("latest", "latest"));
        assert!(!wildcard("latest", "latest2"));
        assert!(wildcard("dev-*", "dev-feature"));
        assert!(wildcard("*-rc*", "v1-rc2"));
        assert!(!wildcard("dev-*", "main"));
        let mutable_except = ImageTagMutability::MutableWithExclusion;
        assert!(!tag_can_move(&mutable_except, &["v*".into()], "v1.2.3"));
        assert!(tag_can_move(&mutable_except, &["v*".into()], "develop"));
    }

    #[test]
    fn against_a_local_emulator_only_a_loopback_registry_is_used() {
        let local = Some("http://127.0.0.1:5000");
        let aws_host = "123456789012.dkr.ecr.eu-central-1.amazonaws.com";
        let refused = stays_on_this_machine(local, aws_host).unwrap_err();
        assert!(refused.to_string().contains(aws_host), "{refused}");
        assert!(
            stays_on_this_machine(Some("http://localhost:5000/"), "registry.example.com:5000")
                .is_err()
        );
        assert!(stays_on_this_machine(Some("http://[::1]:5000"), "10.0.0.1:5000").is_err());
        assert!(stays_on_this_machine(local, "127.0.0.1:41234").is_ok());
        assert!(stays_on_this_machine(local, "localhost:41234").is_ok());
        assert!(stays_on_this_machine(local, "[::1]:41234").is_ok());
        // Real AWS, or another endpoint, decides its own registry.
        assert!(stays_on_this_machine(None, aws_host).is_ok());
        assert!(
            stays_on_this_machine(Some("https://ecr.eu-central-1.amazonaws.com"), aws_host).is_ok()
        );
    }

    #[test]
    fn the_password_never_shows_in_a_command_line() {
        let login = Docker {
            stdin: Some("hunter2-ecr-password".into()),
            ..Docker::new(["login", "--username", "AWS", "--password-stdin", "registry"])
        };
        let shown = login.to_string();
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(!login.args.iter().any(|a| a.contains("hunter2")));
        assert_eq!(
            shown,
            "docker login --username AWS --password-stdin registry (password on stdin: ***)"
        );
    }
}
