//! The container images, `eventflow-backend` and `eventflow-frontend`: built from this commit,
//! tagged so that every release traces back to it, and verified for real before the stage passes
//! (docs/images.md).
//!
//! An image is built under a candidate tag (`<id>-candidate`), verified, and only then given its
//! real tags, so the immutable sha tag only ever names an image that passed. A sha tag that
//! already exists is reused rather than rebuilt, and verified again.
//!
//! `tags` names the images, `build` builds them, `verify` checks them for real, and `push` says
//! what `images push` hands to the deploy engine.

mod build;
mod push;
mod tags;
mod verify;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{bail, ensure};

use self::build::{
    Plan, Reuse, check_existing, check_labels, lock, now, rfc3339, stage_backend_context,
};
pub use self::push::push_args;
pub use self::tags::{Revision, Tags, pushable, tags};
use self::verify::{verify_backend, verify_frontend};
use crate::cmd::Cmd;
use crate::pipeline::cache::Inputs;
use crate::pipeline::{Stage, Tool};
use crate::project::Project;
use crate::services::docker::docker;
use crate::services::postgres::IMAGE_VAR as POSTGRES_IMAGE_VAR;

pub const STAGE: &str = "images";
pub const BACKEND: &str = "eventflow-backend";
pub const FRONTEND: &str = "eventflow-frontend";
/// Base images, when not the Dockerfiles' defaults (CI points these at locally built images).
pub const BACKEND_BASE_VAR: &str = "EVENTFLOW_BACKEND_BASE_IMAGE";
pub const FRONTEND_BASE_VAR: &str = "EVENTFLOW_FRONTEND_BASE_IMAGE";
const DEFAULT_POSTGRES_IMAGE: &str = "postgres:15";
/// Amazon's RDS root CAs, committed, and where the backend image keeps them.
const RDS_CA_BUNDLE: &str = "backend/certs/rds-ca/eu-central-1-bundle.pem";
const RDS_CA_IN_IMAGE: &str = "/etc/eventflow/rds-ca/eu-central-1-bundle.pem";
/// Where the verification puts its own test CA in the backend container.
const TEST_CA_IN_BACKEND: &str = "/tmp/eventflow-test-ca.crt";
/// How long the backend gets to exit after SIGTERM: its own shutdown deadline is 20 s.
const STOP_GRACE: Duration = Duration::from_secs(20);
const HEALTHY_TIMEOUT: Duration = Duration::from_secs(120);
const DEEP_LINK: &str = "/events/123";
/// Handed to the dashboard container to check that its entrypoint writes the run-time config.
const API_BASE_URL: &str = "https://api.eventflow.invalid";

/// What `images build` and `images push` were asked for beyond the commit.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Request {
    /// `vX.Y.Z`: also tag the images with this version.
    pub version: Option<String>,
    /// A production release: also tag `latest`.
    pub release: bool,
}

pub fn docker_tool() -> Tool {
    Tool::new(
        "docker",
        "install Docker and start its engine (`docker version` must show a Server): https://docs.docker.com/engine/install/",
    )
    .probe(docker().args(["version", "--format", "{{.Server.Version}}"]))
}

fn curl_tool() -> Tool {
    Tool::new(
        "curl",
        "install curl (Debian/Ubuntu: apt-get install curl); the images stage fetches the containers' pages with it",
    )
}

/// `cargo xtask images build`: the stage in `ci`, with the tags `request` asks for.
pub fn build(project: &Project, request: &Request) -> Stage {
    // After the unit tests: no image is built from code that fails them. The release build then
    // runs beside the slower suites, in its own profile directory.
    let stage = Stage::new(STAGE, &["images", "build"])
        .uses_cargo_release()
        .needs("build-frontend")
        .after("test-unit")
        .tool(docker_tool())
        .tool(curl_tool());
    let revision = Revision::read(project);
    let tags = match tags(&revision, request) {
        Ok(tags) => tags,
        Err(error) => {
            let message = format!("{error:#}");
            return stage.call(format!("refuse: {message}"), move |_| bail!(message));
        }
    };
    let present = Cmd::new("docker").args(["image", "inspect"]).args(
        tags.all()
            .flat_map(|tag| [format!("{BACKEND}:{tag}"), format!("{FRONTEND}:{tag}")]),
    );
    // The tags (hence the commit) are in the plan, and the images must still be in the engine.
    let inputs = Inputs::files(&[
        "backend/**",
        "frontend/**",
        "Cargo.toml",
        "Cargo.lock",
        ".cargo/config.toml",
    ])
    .tools(&["docker", "rustc", "cargo", "node", "npm"])
    .env(&[
        BACKEND_BASE_VAR,
        FRONTEND_BASE_VAR,
        POSTGRES_IMAGE_VAR,
        "GITHUB_SERVER_URL",
        "GITHUB_REPOSITORY",
    ])
    .present(present);
    steps(stage, Plan::new(project, tags, request)).cache(inputs)
}

fn steps(stage: Stage, plan: Plan) -> Stage {
    let reuse = Arc::new(Mutex::new(Reuse::default()));
    let id = plan.tags.id.clone();
    let created = "<now, RFC 3339>";

    let mut stage = stage
        .call(
            if plan.tags.is_dirty() {
                format!("note: {}", plan.tags.notes.join("; "))
            } else {
                format!(
                    "reuse {BACKEND}:{id} and {FRONTEND}:{id} where they exist with the revision label {id} (a sha tag is immutable): tag them {} instead of building",
                    plan.tags.candidate()
                )
            },
            {
                let (plan, reuse) = (plan.clone(), reuse.clone());
                move |ctx| check_existing(ctx, &plan, &reuse)
            },
        )
        .call(format!("unless reused: {}", plan.cargo_build()), {
            let (plan, reuse) = (plan.clone(), reuse.clone());
            move |ctx| {
                if lock(&reuse).backend {
                    return Ok(());
                }
                ctx.run(&plan.cargo_build())
            }
        })
        .call(
            format!(
                "unless reused: copy {}, backend/.dockerignore and {RDS_CA_BUNDLE} into a fresh {}",
                plan.shown(&plan.binary),
                plan.shown(&plan.context)
            ),
            {
                let (plan, reuse) = (plan.clone(), reuse.clone());
                move |ctx| {
                    if lock(&reuse).backend {
                        return Ok(());
                    }
                    stage_backend_context(ctx, &plan)
                }
            },
        )
        .call(format!("unless reused: {}", plan.backend_build(created)), {
            let (plan, reuse) = (plan.clone(), reuse.clone());
            move |ctx| {
                if !lock(&reuse).backend {
                    ctx.run(&plan.backend_build(&rfc3339(now())))?;
                }
                Ok(())
            }
        })
        .call(format!("unless reused: {}", plan.frontend_build(created)), {
            let (plan, reuse) = (plan.clone(), reuse.clone());
            move |ctx| {
                if !lock(&reuse).frontend {
                    ensure!(
                        ctx.root.join("frontend/dist/index.html").is_file(),
                        "frontend/dist/index.html is missing: run `cargo xtask build frontend` first"
                    );
                    ctx.run(&plan.frontend_build(&rfc3339(now())))?;
                }
                Ok(())
            }
        })
        .call(
            format!(
                "check both candidates' OCI labels: revision {id}, version {}, source, created",
                plan.version
            ),
            {
                let plan = plan.clone();
                move |ctx| check_labels(ctx, &plan)
            },
        )
        .call(
            format!(
                "verify {}: on a private network with a throwaway TLS-only PostgreSQL (${POSTGRES_IMAGE_VAR}, default {DEFAULT_POSTGRES_IMAGE}; a CA made for the check, copied into the backend, which connects with sslmode=verify-full), port 8080 published on 127.0.0.1 only; it ships {RDS_CA_BUNDLE} at {RDS_CA_IN_IMAGE}; its HEALTHCHECK reports healthy; GET /health says status ok, git_sha {id}, migration_version > 0; `docker stop --time {}` (SIGTERM) ends it with exit code 0",
                plan.candidate(BACKEND),
                STOP_GRACE.as_secs()
            ),
            {
                let plan = plan.clone();
                move |ctx| verify_backend(ctx, &plan)
            },
        )
        .call(
            format!(
                "verify {}: port 8080 on 127.0.0.1 only; its HEALTHCHECK reports healthy; / and the deep link {DEEP_LINK} are the built index.html (no-cache), its bundle is served immutable, /config.js carries EVENTFLOW_API_BASE_URL, a missing asset is a 404; every location sends the security headers (CSP allowing that API origin, X-Frame-Options, nosniff, Referrer-Policy, HSTS); `docker stop` ends it with exit code 0",
                plan.candidate(FRONTEND)
            ),
            {
                let plan = plan.clone();
                move |ctx| verify_frontend(ctx, &plan)
            },
        );
    for name in [BACKEND, FRONTEND] {
        for tag in plan.tags.all() {
            stage =
                stage.run(docker().args(["tag", &plan.candidate(name), &plan.image(name, tag)]));
        }
        stage = stage.run(docker().args(["image", "rm", &plan.candidate(name)]));
    }
    stage
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::stages::images::tags::tests::{SHA, request, revision};

    #[test]
    fn the_stage_builds_candidates_verifies_them_then_tags_them() {
        let plan = Plan {
            root: PathBuf::from("/repo"),
            tags: tags(
                &revision(Some("feature/x"), false),
                &request(Some("v1.2.3"), false),
            )
            .unwrap(),
            binary: PathBuf::from("/repo/target/release/eventflow-backend"),
            context: PathBuf::from("/repo/target/images/backend"),
            version: "v1.2.3".to_owned(),
            source: "https://github.com/acme/eventflow".to_owned(),
            postgres_image: DEFAULT_POSTGRES_IMAGE.to_owned(),
            backend_base: None,
            frontend_base: Some("eventflow-ci/nginx:1.22".to_owned()),
        };
        let stage = steps(Stage::new(STAGE, &["images", "build"]), plan);
        expect_test::expect![[r#"
            # reuse eventflow-backend:<sha> and eventflow-frontend:<sha> where they exist with the revision label <sha> (a sha tag is immutable): tag them <sha>-candidate instead of building
            # unless reused: $ EVENTFLOW_GIT_SHA=<sha> cargo build --release -p eventflow-backend
            # unless reused: copy target/release/eventflow-backend, backend/.dockerignore and backend/certs/rds-ca/eu-central-1-bundle.pem into a fresh target/images/backend
            # unless reused: $ docker build --file backend/Dockerfile --target runtime --build-arg GIT_SHA=<sha> --build-arg VERSION=v1.2.3 --build-arg SOURCE=https://github.com/acme/eventflow --build-arg 'CREATED=<now, RFC 3339>' --tag eventflow-backend:<sha>-candidate target/images/backend
            # unless reused: $ docker build --file frontend/Dockerfile --build-arg BASE_IMAGE=eventflow-ci/nginx:1.22 --build-arg GIT_SHA=<sha> --build-arg VERSION=v1.2.3 --build-arg SOURCE=https://github.com/acme/eventflow --build-arg 'CREATED=<now, RFC 3339>' --tag eventflow-frontend:<sha>-candidate frontend
            # check both candidates' OCI labels: revision <sha>, version v1.2.3, source, created
            # verify eventflow-backend:<sha>-candidate: on a private network with a throwaway TLS-only PostgreSQL ($EVENTFLOW_POSTGRES_IMAGE, default postgres:15; a CA made for the check, copied into the backend, which connects with sslmode=verify-full), port 8080 published on 127.0.0.1 only; it ships backend/certs/rds-ca/eu-central-1-bundle.pem at /etc/eventflow/rds-ca/eu-central-1-bundle.pem; its HEALTHCHECK reports healthy; GET /health says status ok, git_sha <sha>, migration_version > 0; `docker stop --time 20` (SIGTERM) ends it with exit code 0
            # verify eventflow-frontend:<sha>-candidate: port 8080 on 127.0.0.1 only; its HEALTHCHECK reports healthy; / and the deep link /events/123 are the built index.html (no-cache), its bundle is served immutable, /config.js carries EVENTFLOW_API_BASE_URL, a missing asset is a 404; every location sends the security headers (CSP allowing that API origin, X-Frame-Options, nosniff, Referrer-Policy, HSTS); `docker stop` ends it with exit code 0
            $ docker tag eventflow-backend:<sha>-candidate eventflow-backend:<sha>
            $ docker tag eventflow-backend:<sha>-candidate eventflow-backend:feature-x
            $ docker tag eventflow-backend:<sha>-candidate eventflow-backend:v1.2.3
            $ docker image rm eventflow-backend:<sha>-candidate
            $ docker tag eventflow-frontend:<sha>-candidate eventflow-frontend:<sha>
            $ docker tag eventflow-frontend:<sha>-candidate eventflow-frontend:feature-x
            $ docker tag eventflow-frontend:<sha>-candidate eventflow-frontend:v1.2.3
            $ docker image rm eventflow-frontend:<sha>-candidate"#]]
        .assert_eq(
            &crate::pipeline::plan::steps(&stage)
                .replace(SHA, "<sha>")
                .lines()
                .map(str::trim_start)
                .collect::<Vec<_>>()
                .join("\n"),
        );
    }
}
