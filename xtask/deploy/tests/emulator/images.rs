//! Real images for the drills, built from local images only (no registry to pull from):
//! - the backend: this commit's binary (which `cargo xtask test deploy` builds) in the
//!   Dockerfile's `runtime` target, as `cargo xtask images build` makes it;
//! - another build of the same backend (a label apart, so another digest): deployed under
//!   another sha tag, its `/health` reports a sha the engine does not expect;
//! - an image whose container exits at start.
//!
//! Built once per test process.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

pub struct Images {
    pub backend: String,
    pub other_build: String,
    pub exits: String,
}

pub fn images(sha: &str) -> &'static Images {
    static IMAGES: OnceLock<Images> = OnceLock::new();
    IMAGES.get_or_init(|| build(sha))
}

pub fn docker(args: &[&str]) {
    let out = Command::new("docker")
        .args(args)
        .stdout(Stdio::null())
        .output()
        .expect("running docker");
    assert!(
        out.status.success(),
        "docker {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `docker build` of a Dockerfile given on stdin, without a build context.
fn build_from_stdin(tag: &str, dockerfile: &str) {
    let mut child = Command::new("docker")
        .args(["build", "--quiet", "--tag", tag, "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running docker build");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(dockerfile.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "docker build {tag}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn build(sha: &str) -> Images {
    let root = root();
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root.join("target"));
    let binary = target.join("debug/eventflow-backend");
    assert!(
        binary.exists(),
        "{} is missing: run `cargo xtask test deploy`, which builds it",
        binary.display()
    );
    // The build context `cargo xtask images build` makes: the binary and the RDS CA bundle.
    let context =
        std::env::temp_dir().join(format!("eventflow-drill-image-{}", std::process::id()));
    let certs = context.join("backend/certs/rds-ca");
    std::fs::create_dir_all(&certs).unwrap();
    std::fs::copy(&binary, context.join("eventflow-backend")).unwrap();
    std::fs::copy(
        root.join("backend/certs/rds-ca/eu-central-1-bundle.pem"),
        certs.join("eu-central-1-bundle.pem"),
    )
    .unwrap();
    let backend = format!("eventflow-drill/backend:{sha}");
    let dockerfile = root.join("backend/Dockerfile");
    docker(&[
        "build",
        "--quiet",
        "--target",
        "runtime",
        "--build-arg",
        &format!("GIT_SHA={sha}"),
        "--file",
        &dockerfile.to_string_lossy(),
        "--tag",
        &backend,
        &context.to_string_lossy(),
    ]);
    std::fs::remove_dir_all(&context).unwrap();

    let other_build = format!("eventflow-drill/backend:other-{sha}");
    build_from_stdin(
        &other_build,
        &format!("FROM {backend}\nLABEL org.eventflow.drill=\"another build\"\n"),
    );
    let exits = "eventflow-drill/exits:latest".to_owned();
    build_from_stdin(
        &exits,
        "FROM debian:bookworm-slim\nENTRYPOINT [\"sh\", \"-c\", \"echo this build exits at start >&2; exit 3\"]\n",
    );
    Images {
        backend,
        other_build,
        exits,
    }
}
