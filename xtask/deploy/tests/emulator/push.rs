//! `push` for real: ECR's authorization token, repository settings and tag list from the
//! emulator, `docker login`/`tag`/`push` against the throwaway registry on loopback that
//! `cargo xtask test deploy` starts (moto serves no registry), with a tiny local image.

use std::process::{Command, Stdio};

use xtask_deploy::console::Console;
use xtask_deploy::push::{self, Request};

use crate::support;

/// The registry the stage started; without it, the one-line fix.
fn registry() -> String {
    std::env::var("EVENTFLOW_TEST_REGISTRY").unwrap_or_else(|_| {
        panic!(
            "EVENTFLOW_TEST_REGISTRY is not set: the push test pushes to the registry that `cargo xtask test deploy` starts; run `cargo xtask test deploy`"
        )
    })
}

fn docker(args: &[&str]) {
    let status = Command::new("docker")
        .args(args)
        .stdout(Stdio::null())
        .status()
        .expect("running docker");
    assert!(status.success(), "docker {}", args.join(" "));
}

/// A one-file image, made without a registry to pull from.
fn tiny_image(reference: &str) {
    let dir = std::env::temp_dir().join(format!("eventflow-push-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("rootfs")).unwrap();
    std::fs::write(dir.join("rootfs/release.txt"), reference).unwrap();
    let tar = dir.join("rootfs.tar");
    let status = Command::new("tar")
        .arg("-cf")
        .arg(&tar)
        .arg("-C")
        .arg(dir.join("rootfs"))
        .arg(".")
        .status()
        .unwrap();
    assert!(status.success());
    let status = Command::new("docker")
        .args(["import", "-", reference])
        .stdin(std::fs::File::open(&tar).unwrap())
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "docker import {reference}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The tags the registry holds for `name`, from its HTTP API.
async fn registry_tags(registry: &str, name: &str) -> Vec<String> {
    let url = format!("http://{registry}/v2/{name}/tags/list");
    let text = reqwest::get(&url).await.unwrap().text().await.unwrap();
    let body: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    let mut tags: Vec<String> = body["tags"]
        .as_array()
        .map(|t| {
            t.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    tags.sort();
    tags
}

#[tokio::test]
async fn push_sends_what_the_repository_lacks_and_the_password_only_on_stdin() {
    let registry = registry();
    let config = support::sdk_config().await;
    let ecr = aws_sdk_ecr::Client::new(&config);
    let name = format!("eventflow-push-{}", std::process::id());
    let sha = "cccccccccccccccccccccccccccccccccccccccc";
    ecr.create_repository()
        .repository_name(&name)
        .image_tag_mutability(aws_sdk_ecr::types::ImageTagMutability::Immutable)
        .send()
        .await
        .unwrap();
    // The version tag is in ECR already (pushed by an earlier run): it must be skipped.
    ecr.put_image()
        .repository_name(&name)
        .image_tag("v2.0.0")
        .image_manifest(
            r#"{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{"mediaType":"application/vnd.docker.container.image.v1+json","size":1,"digest":"sha256:1111111111111111111111111111111111111111111111111111111111111111"},"layers":[]}"#,
        )
        .send()
        .await
        .unwrap();
    // The push itself acts as staging's deploy role, whose policy moto enforces.
    let role = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(support::REGION))
        .credentials_provider(support::role_credentials("staging"))
        .load()
        .await;
    let ecr = aws_sdk_ecr::Client::new(&role);
    let local = format!("{name}:{sha}");
    tiny_image(&local);
    let password = {
        let token = ecr.get_authorization_token().send().await.unwrap();
        let token = token.authorization_data()[0]
            .authorization_token()
            .unwrap()
            .to_owned();
        let decoded = aws_smithy_types::base64::decode(token).unwrap();
        String::from_utf8(decoded)
            .unwrap()
            .split_once(':')
            .unwrap()
            .1
            .to_owned()
    };
    let request = |dry_run| Request {
        repositories: vec![name.clone()],
        source_tag: sha.to_owned(),
        identity_tags: vec![sha.to_owned(), "v2.0.0".to_owned()],
        moving_tags: vec!["develop".to_owned()],
        registry: Some(registry.clone()),
        dry_run,
    };

    // A dry run says what it would run and pushes nothing.
    let console = Console::quiet();
    push::push(&ecr, &console, &request(true)).await.unwrap();
    let lines = console.lines().join("\n");
    assert!(lines.contains(&format!("  push {sha}")), "{lines}");
    assert!(lines.contains("  skip v2.0.0: already there"), "{lines}");
    assert!(
        lines.contains(&format!(
            "would run: docker login --username AWS --password-stdin {registry} (password on stdin: ***)"
        )),
        "{lines}"
    );
    assert!(registry_tags(&registry, &name).await.is_empty());

    let console = Console::quiet();
    push::push(&ecr, &console, &request(false)).await.unwrap();
    let lines = console.lines().join("\n");
    assert!(
        !lines.contains(&password),
        "the registry password leaked: {lines}"
    );
    assert_eq!(
        registry_tags(&registry, &name).await,
        ["cccccccccccccccccccccccccccccccccccccccc", "develop"]
    );
    // The login is undone: no credential for the registry stays behind.
    let docker_config = std::env::var("DOCKER_CONFIG")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| std::path::Path::new(&std::env::var("HOME").unwrap()).join(".docker"));
    let config_text =
        std::fs::read_to_string(docker_config.join("config.json")).unwrap_or_default();
    assert!(!config_text.contains(&registry), "{config_text}");

    // A local image that isn't there fails in one line naming the fix, before any login.
    let missing = Request {
        source_tag: "dddddddddddddddddddddddddddddddddddddddd".to_owned(),
        ..request(false)
    };
    let error = push::push(&ecr, &Console::quiet(), &missing)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        error.ends_with("is not in the local Docker engine: run `cargo xtask images build` first"),
        "{error}"
    );
    docker(&["rmi", "--force", &local]);
    for tag in [sha, "develop"] {
        docker(&["rmi", "--force", &format!("{registry}/{name}:{tag}")]);
    }
}
