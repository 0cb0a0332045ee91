//! Building the images: the backend's release binary and its Docker context, `docker build`
//! under the candidate tag, the reuse of an existing sha tag, and the OCI labels.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail, ensure};
use serde_json::Value;

use super::tags::Tags;
use super::{
    BACKEND, BACKEND_BASE_VAR, DEFAULT_POSTGRES_IMAGE, FRONTEND, FRONTEND_BASE_VAR, RDS_CA_BUNDLE,
    Request,
};
use crate::cmd::Cmd;
use crate::pipeline::StageContext;
use crate::project::Project;
use crate::services::docker::{capture, capture_quietly, docker};
use crate::services::postgres::IMAGE_VAR as POSTGRES_IMAGE_VAR;
use crate::services::target_dir;

/// Where the source lives, for the `org.opencontainers.image.source` label.
pub fn source_url(
    github_server: Option<&str>,
    github_repository: Option<&str>,
    origin: Option<&str>,
) -> String {
    if let (Some(server), Some(repository)) = (github_server, github_repository)
        && !server.is_empty()
        && !repository.is_empty()
    {
        return format!("{}/{repository}", server.trim_end_matches('/'));
    }
    let Some(origin) = origin.map(str::trim).filter(|o| !o.is_empty()) else {
        return String::new();
    };
    // git@github.com:org/repo.git → https://github.com/org/repo; credentials never in a label.
    let url = match origin.strip_prefix("git@") {
        Some(rest) => format!("https://{}", rest.replacen(':', "/", 1)),
        None => origin.to_owned(),
    };
    let url = match url.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
            let host = authority
                .rsplit_once('@')
                .map_or(authority, |(_, host)| host);
            format!("{scheme}://{host}{path}")
        }
        None => url,
    };
    url.trim_end_matches(".git").to_owned()
}

/// `2026-11-28T02:30:00Z` for a Unix time, without a date library.
pub fn rfc3339(unix: u64) -> String {
    let (days, rest) = ((unix / 86_400) as i64, unix % 86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

#[derive(Clone)]
pub(super) struct Plan {
    pub(super) root: PathBuf,
    pub(super) tags: Tags,
    /// The backend's release binary and the directory the Dockerfile is built from.
    pub(super) binary: PathBuf,
    pub(super) context: PathBuf,
    pub(super) version: String,
    pub(super) source: String,
    pub(super) postgres_image: String,
    pub(super) backend_base: Option<String>,
    pub(super) frontend_base: Option<String>,
}

impl Plan {
    pub(super) fn new(project: &Project, tags: Tags, request: &Request) -> Plan {
        let target = target_dir(project.root());
        let origin = std::process::Command::new("git")
            .args(["remote", "get-url", "origin"])
            .current_dir(project.root())
            .stderr(std::process::Stdio::null())
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        Plan {
            root: project.root().to_path_buf(),
            version: request.version.clone().unwrap_or_else(|| tags.id.clone()),
            binary: target.join("release").join(BACKEND),
            context: target.join("images/backend"),
            source: source_url(
                env("GITHUB_SERVER_URL").as_deref(),
                env("GITHUB_REPOSITORY").as_deref(),
                origin.as_deref(),
            ),
            postgres_image: env(POSTGRES_IMAGE_VAR)
                .unwrap_or_else(|| DEFAULT_POSTGRES_IMAGE.to_owned()),
            backend_base: env(BACKEND_BASE_VAR),
            frontend_base: env(FRONTEND_BASE_VAR),
            tags,
        }
    }

    pub(super) fn shown(&self, path: &Path) -> String {
        path.strip_prefix(&self.root)
            .unwrap_or(path)
            .to_string_lossy()
            .into_owned()
    }

    pub(super) fn image(&self, name: &str, tag: &str) -> String {
        format!("{name}:{tag}")
    }

    pub(super) fn candidate(&self, name: &str) -> String {
        self.image(name, &self.tags.candidate())
    }

    pub(super) fn cargo_build(&self) -> Cmd {
        Cmd::new("cargo")
            .args(["build", "--release", "-p", BACKEND])
            .env("EVENTFLOW_GIT_SHA", self.tags.id.clone())
    }

    pub(super) fn docker_build(
        &self,
        name: &str,
        base: Option<&str>,
        created: &str,
        extra: &[&str],
        context: &str,
    ) -> Cmd {
        let dockerfile = if name == BACKEND {
            "backend/Dockerfile"
        } else {
            "frontend/Dockerfile"
        };
        let mut cmd = docker()
            .args(["build", "--file", dockerfile])
            .args(extra.iter().copied());
        if let Some(base) = base {
            cmd = cmd.args(["--build-arg", &format!("BASE_IMAGE={base}")]);
        }
        cmd.args(["--build-arg", &format!("GIT_SHA={}", self.tags.id)])
            .args(["--build-arg", &format!("VERSION={}", self.version)])
            .args(["--build-arg", &format!("SOURCE={}", self.source)])
            .args(["--build-arg", &format!("CREATED={created}")])
            .args(["--tag", &self.candidate(name), context])
    }

    pub(super) fn backend_build(&self, created: &str) -> Cmd {
        self.docker_build(
            BACKEND,
            self.backend_base.as_deref(),
            created,
            &["--target", "runtime"],
            &self.shown(&self.context),
        )
    }

    pub(super) fn frontend_build(&self, created: &str) -> Cmd {
        self.docker_build(
            FRONTEND,
            self.frontend_base.as_deref(),
            created,
            &[],
            "frontend",
        )
    }
}

/// Which images the run builds; an existing sha tag is reused instead.
#[derive(Default)]
pub(super) struct Reuse {
    pub(super) backend: bool,
    pub(super) frontend: bool,
}

pub(super) fn lock(reuse: &Mutex<Reuse>) -> std::sync::MutexGuard<'_, Reuse> {
    reuse.lock().unwrap_or_else(|e| e.into_inner())
}

pub(super) fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The revision label of `image`, or `None` when there is no such image.
pub(super) fn revision_label(ctx: &mut StageContext, image: &str) -> Option<String> {
    capture_quietly(
        ctx,
        &docker().args([
            "image",
            "inspect",
            "--format",
            "{{index .Config.Labels \"org.opencontainers.image.revision\"}}",
            image,
        ]),
    )
    .ok()
    .map(|s| s.trim().to_owned())
}

pub(super) fn check_existing(
    ctx: &mut StageContext,
    plan: &Plan,
    reuse: &Mutex<Reuse>,
) -> Result<()> {
    for note in &plan.tags.notes {
        ctx.log(format!("note: {note}"));
    }
    if plan.tags.is_dirty() {
        return Ok(());
    }
    for name in [BACKEND, FRONTEND] {
        let image = plan.image(name, &plan.tags.id);
        match revision_label(ctx, &image) {
            None => ctx.log(format!("{image} does not exist yet: building it")),
            Some(label) if label == plan.tags.id => {
                ctx.log(format!(
                    "{image} exists (revision {label}): reusing it, not rebuilding"
                ));
                capture(ctx, &docker().args(["tag", &image, &plan.candidate(name)]))?;
                let mut reuse = lock(reuse);
                if name == BACKEND {
                    reuse.backend = true;
                } else {
                    reuse.frontend = true;
                }
            }
            Some(label) => bail!(
                "{image} exists but its revision label is `{label}`: a sha tag is immutable, so remove the impostor (`docker image rm {image}`) and build again"
            ),
        }
    }
    Ok(())
}

/// The Dockerfile's context for the host-built binary: a fresh directory holding only it (and
/// the allowlist that keeps anything else out).
pub(super) fn stage_backend_context(ctx: &mut StageContext, plan: &Plan) -> Result<()> {
    let dir = &plan.context;
    if dir.exists() {
        std::fs::remove_dir_all(dir).with_context(|| format!("removing {}", dir.display()))?;
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    std::fs::copy(&plan.binary, dir.join(BACKEND))
        .with_context(|| format!("copying {} into {}", plan.binary.display(), dir.display()))?;
    std::fs::copy(
        plan.root.join("backend/.dockerignore"),
        dir.join(".dockerignore"),
    )
    .context("copying backend/.dockerignore")?;
    // At the path the Dockerfile copies it from in either build context.
    let bundle = dir.join(RDS_CA_BUNDLE);
    std::fs::create_dir_all(bundle.parent().expect("the bundle has a directory"))
        .with_context(|| format!("creating {}", dir.display()))?;
    std::fs::copy(plan.root.join(RDS_CA_BUNDLE), &bundle)
        .with_context(|| format!("copying {RDS_CA_BUNDLE}"))?;
    ctx.log(format!(
        "copied {}, backend/.dockerignore and {RDS_CA_BUNDLE} into {}",
        plan.shown(&plan.binary),
        plan.shown(dir)
    ));
    Ok(())
}

pub(super) fn check_labels(ctx: &mut StageContext, plan: &Plan) -> Result<()> {
    for name in [BACKEND, FRONTEND] {
        let image = plan.candidate(name);
        let text = capture(
            ctx,
            &docker().args([
                "image",
                "inspect",
                "--format",
                "{{json .Config.Labels}}",
                &image,
            ]),
        )?;
        let labels: Value = serde_json::from_str(text.trim()).context("reading the labels")?;
        let label = |key: &str| {
            labels[format!("org.opencontainers.image.{key}")]
                .as_str()
                .unwrap_or("")
                .to_owned()
        };
        ensure!(
            label("revision") == plan.tags.id,
            "{image} has the revision label `{}`, not {}",
            label("revision"),
            plan.tags.id
        );
        ensure!(
            !label("created").is_empty() && !label("version").is_empty(),
            "{image} lacks its created or version label"
        );
        ctx.log(format!(
            "{image}: revision {}, version {}, created {}, source {}",
            label("revision"),
            label("version"),
            label("created"),
            label("source")
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_source_label_is_a_plain_https_url() {
        assert_eq!(
            source_url(Some("https://github.com"), Some("acme/eventflow"), None),
            "https://github.com/acme/eventflow"
        );
        assert_eq!(
            source_url(None, None, Some("git@github.com:acme/eventflow.git")),
            "https://github.com/acme/eventflow"
        );
        assert_eq!(
            source_url(
                None,
                None,
                Some("https://user:token@github.com/acme/eventflow.git")
            ),
            "https://github.com/acme/eventflow"
        );
        assert_eq!(source_url(None, None, None), "");
    }

    #[test]
    fn timestamps_are_rfc3339_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_795_845_945), "2026-11-28T06:05:45Z");
        assert_eq!(rfc3339(4_102_444_799), "2099-12-31T23:59:59Z");
    }
}
