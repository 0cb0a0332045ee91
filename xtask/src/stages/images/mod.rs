//! The container images, `eventflow-backend` and `eventflow-frontend`: built from this commit,
//! tagged so that every release traces back to it, and verified for real before the stage passes
//! (docs/images.md).
//!
//! An image is built under a candidate tag (`<id>-candidate`), verified, and only then given its
//! real tags, so the immutable sha tag only ever names an image that passed. A sha tag that
//! already exists is reused rather than rebuilt, and verified again.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail, ensure};
use serde_json::Value;

use crate::cmd::Cmd;
use crate::pipeline::cache::Inputs;
use crate::pipeline::{Stage, StageContext, Tool};
use crate::project::Project;
use crate::secret::Secret;
use crate::services::docker::{self, Sandbox, capture, capture_quietly, docker};
use crate::services::postgres::IMAGE_VAR as POSTGRES_IMAGE_VAR;
use crate::services::test_ca::{self, TestCa};
use crate::services::{random_secret, target_dir};

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

impl From<crate::cli::ImagesArgs> for Request {
    fn from(args: crate::cli::ImagesArgs) -> Request {
        Request {
            version: args.version,
            release: args.release,
        }
    }
}

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
    fn non_empty(s: Option<&str>) -> Option<&str> {
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

fn is_sha(s: &str) -> bool {
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

/// An HTTP response as `curl --include` prints it.
#[derive(Debug, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    /// Names lower-cased.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Response {
    pub fn parse(text: &str) -> Result<Response> {
        let (head, body) = text
            .split_once("\r\n\r\n")
            .context("the response has no end of headers")?;
        let mut lines = head.lines();
        let status = lines
            .next()
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|s| s.parse().ok())
            .context("the response has no status line")?;
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        Ok(Response {
            status,
            headers,
            body: body.to_owned(),
        })
    }

    pub fn header(&self, name: &str) -> &str {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v)
    }
}

/// The `src` of the page's module script (Vite's entry bundle).
pub fn module_script(html: &str) -> Option<&str> {
    let tag_start = html.find("<script type=\"module\"")?;
    let tag = &html[tag_start..tag_start + html[tag_start..].find('>')?];
    let src = &tag[tag.find("src=\"")? + 5..];
    Some(&src[..src.find('"')?])
}

/// The path a browser fetches for `src` on the page at `page`, honouring a `<base href>`.
pub fn resolve(page: &str, html: &str, src: &str) -> String {
    if src.starts_with('/') {
        return src.to_owned();
    }
    let base = html
        .find("<base href=\"")
        .map(|i| &html[i + 12..])
        .and_then(|rest| rest.find('"').map(|end| &rest[..end]))
        .unwrap_or(page);
    let dir = &base[..=base.rfind('/').unwrap_or(0)];
    let dir = if dir.is_empty() { "/" } else { dir };
    format!("{dir}{}", src.trim_start_matches("./"))
}

/// What the dashboard's nginx must send on every response (`frontend/nginx/security-headers.conf`):
/// the problems with `response`, none when it carries them all. `api_origin` is the origin the
/// container was given for the API, which the Content-Security-Policy must let the page call.
pub fn security_header_problems(response: &Response, api_origin: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let csp = response.header("content-security-policy");
    let directives: Vec<&str> = csp.split(';').map(str::trim).collect();
    let connect = format!("connect-src 'self' {api_origin}");
    for required in [
        "default-src 'self'",
        "script-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "frame-ancestors 'none'",
        connect.as_str(),
    ] {
        if !directives.contains(&required) {
            problems.push(format!("Content-Security-Policy lacks `{required}`"));
        }
    }
    for unsafe_source in ["'unsafe-inline'", "'unsafe-eval'", "*"] {
        if directives
            .iter()
            .any(|d| d.split_whitespace().skip(1).any(|s| s == unsafe_source))
        {
            problems.push(format!("Content-Security-Policy allows {unsafe_source}"));
        }
    }
    for (name, expected) in [
        ("x-frame-options", "DENY"),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "no-referrer"),
    ] {
        let value = response.header(name);
        if !value.eq_ignore_ascii_case(expected) {
            problems.push(format!("{name} is `{value}`, expected `{expected}`"));
        }
    }
    // Half a year at least: a shorter HSTS lapses between two visits of an occasional user.
    let hsts = response.header("strict-transport-security");
    let max_age = hsts
        .split(';')
        .find_map(|d| d.trim().strip_prefix("max-age="))
        .and_then(|v| v.parse::<u64>().ok());
    if max_age.is_none_or(|age| age < 15_552_000) {
        problems.push(format!(
            "Strict-Transport-Security is `{hsts}`, expected max-age of at least 15552000"
        ));
    }
    problems
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

/// Everything the stage's steps need, worked out while planning.
#[derive(Clone)]
struct Plan {
    root: PathBuf,
    tags: Tags,
    /// The backend's release binary and the directory the Dockerfile is built from.
    binary: PathBuf,
    context: PathBuf,
    version: String,
    source: String,
    postgres_image: String,
    backend_base: Option<String>,
    frontend_base: Option<String>,
}

impl Plan {
    fn new(project: &Project, tags: Tags, request: &Request) -> Plan {
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

    fn shown(&self, path: &Path) -> String {
        path.strip_prefix(&self.root)
            .unwrap_or(path)
            .to_string_lossy()
            .into_owned()
    }

    fn image(&self, name: &str, tag: &str) -> String {
        format!("{name}:{tag}")
    }

    fn candidate(&self, name: &str) -> String {
        self.image(name, &self.tags.candidate())
    }

    fn cargo_build(&self) -> Cmd {
        Cmd::new("cargo")
            .args(["build", "--release", "-p", BACKEND])
            .env("EVENTFLOW_GIT_SHA", self.tags.id.clone())
    }

    fn docker_build(
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

    fn backend_build(&self, created: &str) -> Cmd {
        self.docker_build(
            BACKEND,
            self.backend_base.as_deref(),
            created,
            &["--target", "runtime"],
            &self.shown(&self.context),
        )
    }

    fn frontend_build(&self, created: &str) -> Cmd {
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
struct Reuse {
    backend: bool,
    frontend: bool,
}

/// `cargo xtask images build`: the stage in `ci`, with the tags `request` asks for.
pub fn build(project: &Project, request: &Request) -> Stage {
    let stage = Stage::new(STAGE, &["images", "build"])
        .uses_cargo()
        .needs("build-frontend")
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

fn lock(reuse: &Mutex<Reuse>) -> std::sync::MutexGuard<'_, Reuse> {
    reuse.lock().unwrap_or_else(|e| e.into_inner())
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The revision label of `image`, or `None` when there is no such image.
fn revision_label(ctx: &mut StageContext, image: &str) -> Option<String> {
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

fn check_existing(ctx: &mut StageContext, plan: &Plan, reuse: &Mutex<Reuse>) -> Result<()> {
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
fn stage_backend_context(ctx: &mut StageContext, plan: &Plan) -> Result<()> {
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

fn check_labels(ctx: &mut StageContext, plan: &Plan) -> Result<()> {
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

/// `curl --include` of a loopback URL.
fn fetch(ctx: &mut StageContext, url: &str) -> Result<Response> {
    let text = capture(
        ctx,
        &Cmd::new("curl").args([
            "--silent",
            "--show-error",
            "--include",
            "--max-time",
            "10",
            url,
        ]),
    )?;
    Response::parse(&text).with_context(|| format!("reading the response of {url}"))
}

fn verify_backend(ctx: &mut StageContext, plan: &Plan) -> Result<()> {
    let image = plan.candidate(BACKEND);
    let mut sandbox = Sandbox::default();
    // The backend reaches PostgreSQL by name on a network of their own; PostgreSQL publishes no
    // port at all, and the backend only 8080 on 127.0.0.1.
    let network = sandbox.network(ctx, "eventflow-images")?;
    let password = Secret::new(random_secret()?);
    // TLS only, as RDS: a CA made for this check signs the server's certificate for the name
    // the backend dials; the backend gets only the CA and must verify the server with it.
    let tls = ctx
        .root
        .join(&plan.context)
        .with_file_name("backend-verify-tls");
    if tls.exists() {
        std::fs::remove_dir_all(&tls).with_context(|| format!("removing {}", tls.display()))?;
    }
    std::fs::create_dir_all(&tls).with_context(|| format!("creating {}", tls.display()))?;
    let ca = TestCa::create(ctx, &tls, &["DNS:postgres"])?;
    // Root-owned in the container and read through group root (see xtask/containers).
    ca.set_key_mode(0o640)?;
    std::fs::write(
        tls.join(test_ca::HBA_FILE),
        test_ca::tls_only_hba(&["0.0.0.0/0", "::/0"]),
    )
    .context("writing the test pg_hba.conf")?;
    let shown = |path: PathBuf| path.to_string_lossy().into_owned();
    let (cert, key, hba) = (
        shown(ca.cert_file()),
        shown(ca.key_file()),
        shown(tls.join(test_ca::HBA_FILE)),
    );
    let postgres = sandbox.start_with(
        ctx,
        "eventflow-images-postgres",
        &[
            "--network",
            &network,
            "--network-alias",
            "postgres",
            "--user",
            "postgres:0",
            &plan.postgres_image,
            "postgres",
            "-c",
            "ssl=on",
            "-c",
            "ssl_cert_file=/tmp/server.crt",
            "-c",
            "ssl_key_file=/tmp/server.key",
            "-c",
            "hba_file=/tmp/pg_hba.conf",
        ],
        &[("POSTGRES_PASSWORD", &password)],
        &[
            (&cert, "/tmp/server.crt"),
            (&key, "/tmp/server.key"),
            (&hba, "/tmp/pg_hba.conf"),
        ],
    )?;
    wait_for_postgres(ctx, &postgres)?;
    let url = Secret::new(format!(
        "postgres://postgres:{}@postgres:5432/postgres?{}",
        password.expose(),
        test_ca::verify_full_query(Path::new(TEST_CA_IN_BACKEND))
    ));
    let ca_file = shown(ca.ca_file());
    let backend = sandbox.start_with(
        ctx,
        "eventflow-images-backend",
        &[
            "--network",
            &network,
            "--publish",
            "127.0.0.1::8080",
            &image,
        ],
        &[
            ("DATABASE_URL", &url),
            ("JWT_SECRET", &Secret::new(random_secret()?)),
            ("API_KEYS_SECRET", &Secret::new(random_secret()?)),
        ],
        &[(&ca_file, TEST_CA_IN_BACKEND)],
    )?;
    docker::wait_healthy(ctx, &backend, HEALTHY_TIMEOUT).map_err(glibc_hint)?;
    let shipped = capture(
        ctx,
        &docker().args(["exec", &backend, "cat", RDS_CA_IN_IMAGE]),
    )?;
    let committed = std::fs::read_to_string(ctx.root.join(RDS_CA_BUNDLE))
        .with_context(|| format!("reading {RDS_CA_BUNDLE}"))?;
    ensure!(
        shipped == committed,
        "{image} does not ship {RDS_CA_BUNDLE} at {RDS_CA_IN_IMAGE}, which production's DATABASE_URL names in sslrootcert: rebuild the image from backend/Dockerfile"
    );
    ctx.log(format!(
        "{image} ships {RDS_CA_BUNDLE} at {RDS_CA_IN_IMAGE}"
    ));
    let address = docker::published(ctx, &backend, 8080)?;
    let response = fetch(ctx, &format!("http://{address}/health"))?;
    ensure!(
        response.status == 200,
        "GET /health answered {}: {}",
        response.status,
        response.body
    );
    let health: Value =
        serde_json::from_str(&response.body).context("GET /health did not answer JSON")?;
    ensure!(
        health["status"] == "ok" && health["database"] == "ok",
        "GET /health is not ok: {health}"
    );
    ensure!(
        health["git_sha"] == plan.tags.id.as_str(),
        "GET /health reports git_sha {}, not {}: the binary in the image was not built from this commit",
        health["git_sha"],
        plan.tags.id
    );
    let migrations = health["migration_version"].as_i64().unwrap_or(0);
    ensure!(
        migrations > 0,
        "GET /health reports migration_version {}: the backend did not apply its migrations at start-up",
        health["migration_version"]
    );
    ctx.log(format!(
        "GET /health: status ok, git_sha {}, version {}, migration_version {migrations}",
        plan.tags.id, health["version"]
    ));
    let (code, took) = docker::stop(ctx, &backend, STOP_GRACE)?;
    ensure!(
        code == 0,
        "after SIGTERM the backend exited with code {code} (137 means it was still running when the {} s grace period ended); its log ends:\n{}",
        STOP_GRACE.as_secs(),
        docker::logs(ctx, &backend)
    );
    ctx.log(format!(
        "SIGTERM: the backend exited with code 0 after {:.1} s (grace period {} s)",
        took.as_secs_f64(),
        STOP_GRACE.as_secs()
    ));
    Ok(())
}

/// A binary linked against a newer glibc than the image's fails at start; say what to do.
fn glibc_hint(error: anyhow::Error) -> anyhow::Error {
    if format!("{error:#}").contains("GLIBC_") {
        error.context("the backend binary needs a newer glibc than the image's Debian 12: build it on a Debian 12 host, or use the Dockerfile's `from-source` target (docs/images.md)")
    } else {
        error
    }
}

fn wait_for_postgres(ctx: &mut StageContext, container: &str) -> Result<()> {
    // Over TCP inside the container: the official image's first-start server listens only on
    // its socket, so this answers only once the final server is up.
    let probe = docker().args([
        "exec",
        container,
        "pg_isready",
        "--quiet",
        "--host",
        "127.0.0.1",
        "--username",
        "postgres",
    ]);
    ctx.log(format!("waiting for PostgreSQL: {probe}"));
    let started = std::time::Instant::now();
    loop {
        if capture_quietly(ctx, &probe).is_ok() {
            ctx.log(format!(
                "PostgreSQL ready after {:.1} s",
                started.elapsed().as_secs_f64()
            ));
            return Ok(());
        }
        ensure!(
            docker::state(ctx, container)?["Running"] == true,
            "the PostgreSQL container exited; its log ends:\n{}",
            docker::logs(ctx, container)
        );
        ensure!(
            started.elapsed() < HEALTHY_TIMEOUT,
            "PostgreSQL was not ready within {HEALTHY_TIMEOUT:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn verify_frontend(ctx: &mut StageContext, plan: &Plan) -> Result<()> {
    let built = std::fs::read_to_string(ctx.root.join("frontend/dist/index.html"))
        .context("reading frontend/dist/index.html")?;
    let bundle = module_script(&built)
        .context("frontend/dist/index.html has no module script")?
        .to_owned();
    let mut sandbox = Sandbox::default();
    let container = sandbox.start(
        ctx,
        "eventflow-images-frontend",
        &[
            "--publish",
            "127.0.0.1::8080",
            "--env",
            &format!("EVENTFLOW_API_BASE_URL={API_BASE_URL}"),
            &plan.candidate(FRONTEND),
        ],
        &[],
    )?;
    docker::wait_healthy(ctx, &container, HEALTHY_TIMEOUT)?;
    let address = docker::published(ctx, &container, 8080)?;
    let index = fetch(ctx, &format!("http://{address}/"))?;
    for (path, page) in [
        ("/", &index),
        (
            DEEP_LINK,
            &fetch(ctx, &format!("http://{address}{DEEP_LINK}"))?,
        ),
    ] {
        ensure!(
            page.status == 200 && page.header("content-type").starts_with("text/html"),
            "GET {path} answered {} ({}), not the app's HTML",
            page.status,
            page.header("content-type")
        );
        ensure!(
            page.body.contains("id=\"root\"") && module_script(&page.body) == Some(bundle.as_str()),
            "GET {path} is not the built index.html (no #root, or not the bundle {bundle})"
        );
        ensure!(
            page.header("cache-control").contains("no-cache"),
            "GET {path} has Cache-Control `{}`: index.html must be revalidated (no-cache) so a deploy shows at once",
            page.header("cache-control")
        );
        // What the browser would load next from that page.
        let script = resolve(path, &page.body, &bundle);
        let asset = fetch(ctx, &format!("http://{address}{script}"))?;
        ensure!(
            asset.status == 200 && asset.header("content-type").contains("javascript"),
            "the page at {path} loads {script}, which answered {} ({})",
            asset.status,
            asset.header("content-type")
        );
        ensure!(
            asset.header("cache-control").contains("immutable"),
            "{script} has Cache-Control `{}`: hashed assets are cached for good (immutable)",
            asset.header("cache-control")
        );
    }
    let config = fetch(ctx, &format!("http://{address}/config.js"))?;
    ensure!(
        config.status == 200
            && config
                .body
                .contains(&format!("apiBaseUrl: \"{API_BASE_URL}\""))
            && config.header("cache-control").contains("no-cache"),
        "/config.js does not carry EVENTFLOW_API_BASE_URL ({}, Cache-Control `{}`): {}",
        config.status,
        config.header("cache-control"),
        config.body
    );
    let missing = fetch(ctx, &format!("http://{address}/assets/no-such-file.js"))?;
    ensure!(
        missing.status == 404,
        "a missing asset answered {}, not 404",
        missing.status
    );
    // Every location block of nginx.conf: the page (and its SPA fallback), the bundle, the
    // run-time configuration, a 404 and the health check.
    let script = resolve("/", &index.body, &bundle);
    for path in [
        "/",
        DEEP_LINK,
        "/index.html",
        script.as_str(),
        "/config.js",
        "/assets/no-such-file.js",
        "/healthz",
    ] {
        let response = fetch(ctx, &format!("http://{address}{path}"))?;
        let problems = security_header_problems(&response, API_BASE_URL);
        ensure!(
            problems.is_empty(),
            "GET {path} ({}) lacks security headers: {}; every location in frontend/nginx/nginx.conf must include security-headers.conf",
            response.status,
            problems.join("; ")
        );
    }
    ctx.log(format!(
        "/ and {DEEP_LINK} serve the built index.html, which loads {bundle}; /config.js carries EVENTFLOW_API_BASE_URL; a missing asset is a 404; every location sends CSP (connect-src {API_BASE_URL}), X-Frame-Options, nosniff, Referrer-Policy and HSTS"
    ));
    let (code, took) = docker::stop(ctx, &container, STOP_GRACE)?;
    ensure!(
        code == 0,
        "the frontend container exited with code {code} when stopped"
    );
    ctx.log(format!(
        "docker stop: nginx exited with code 0 after {:.1} s",
        took.as_secs_f64()
    ));
    Ok(())
}

/// `cargo xtask images push`. Logging in to ECR needs the AWS SDK, which lives in the
/// `xtask/deploy` crate rather than in the light xtask.
/// `cargo xtask images push`: the tags of this commit's images to ECR, through `xtask-deploy`
/// (which holds the AWS SDK for the registry login). Identity tags (the sha, `vX.Y.Z`) are
/// skipped where the repository has them; moving tags (the branch, `latest`) move where the
/// repository allows it.
pub fn push(project: &Project, request: &Request, dry_run: bool) -> Result<bool> {
    let tags = tags(&Revision::read(project), request)?;
    pushable(&tags)?;
    crate::deploy::run(project, push_args(&tags, dry_run))
}

/// `xtask-deploy`'s command line for pushing `tags`.
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

    const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

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

    fn revision(branch: Option<&str>, dirty: bool) -> Revision {
        Revision {
            sha: SHA.to_owned(),
            dirty,
            branch: branch.map(str::to_owned),
        }
    }

    fn request(version: Option<&str>, release: bool) -> Request {
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

    #[test]
    fn responses_parse_from_curl_include_output() {
        let text = "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nCache-Control: no-cache\r\n\r\n<!doctype html>\r\n\r\nmore";
        let response = Response::parse(text).unwrap();
        assert_eq!(response.status, 200);
        assert_eq!(response.header("cache-control"), "no-cache");
        assert_eq!(response.header("x-missing"), "");
        assert_eq!(response.body, "<!doctype html>\r\n\r\nmore");
        assert!(Response::parse("garbage").is_err());
    }

    fn with_headers(headers: &[(&str, &str)]) -> Response {
        Response {
            status: 200,
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), (*v).to_owned()))
                .collect(),
            body: String::new(),
        }
    }

    const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; font-src 'self'; connect-src 'self' https://api.eventflow.invalid; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'";

    fn secure(csp: &str, hsts: &str) -> Response {
        with_headers(&[
            ("Content-Security-Policy", csp),
            ("X-Frame-Options", "DENY"),
            ("X-Content-Type-Options", "nosniff"),
            ("Referrer-Policy", "no-referrer"),
            ("Strict-Transport-Security", hsts),
        ])
    }

    #[test]
    fn the_production_security_headers_pass() {
        let problems = security_header_problems(
            &secure(CSP, "max-age=31536000"),
            "https://api.eventflow.invalid",
        );
        assert_eq!(problems, Vec::<String>::new());
    }

    #[test]
    fn the_images_nginx_sends_them_on_a_404() {
        // `curl --include` of /assets/no-such-file.js from the built image (its Date left out).
        let text = concat!(
            "HTTP/1.1 404 Not Found\r\n",
            "Server: nginx\r\n",
            "Content-Type: text/html\r\n",
            "Content-Length: 146\r\n",
            "Connection: keep-alive\r\n",
            "Content-Security-Policy: default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; font-src 'self'; connect-src 'self' https://api.eventflow.invalid; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'\r\n",
            "X-Frame-Options: DENY\r\n",
            "X-Content-Type-Options: nosniff\r\n",
            "Referrer-Policy: no-referrer\r\n",
            "Strict-Transport-Security: max-age=31536000\r\n",
            "\r\n",
            "<html>404</html>"
        );
        let response = Response::parse(text).unwrap();
        assert_eq!(response.status, 404);
        let problems = security_header_problems(&response, "https://api.eventflow.invalid");
        assert_eq!(problems, Vec::<String>::new());
    }

    #[test]
    fn a_response_without_security_headers_names_each_one_missing() {
        let problems =
            security_header_problems(&with_headers(&[]), "https://api.eventflow.invalid");
        let text = problems.join("\n");
        for missing in [
            "lacks `default-src 'self'`",
            "lacks `frame-ancestors 'none'`",
            "lacks `connect-src 'self' https://api.eventflow.invalid`",
            "x-frame-options is ``",
            "x-content-type-options is ``",
            "referrer-policy is ``",
            "Strict-Transport-Security is ``",
        ] {
            assert!(
                text.contains(missing),
                "no problem says {missing:?} in:\n{text}"
            );
        }
    }

    #[test]
    fn a_loose_policy_or_a_short_hsts_is_a_problem() {
        let api = "https://api.eventflow.invalid";
        let inline = CSP.replace("script-src 'self'", "script-src 'self' 'unsafe-inline'");
        assert!(
            security_header_problems(&secure(&inline, "max-age=31536000"), api)
                .iter()
                .any(|p| p.contains("'unsafe-inline'"))
        );
        let other_api = security_header_problems(
            &secure(CSP, "max-age=31536000"),
            "https://elsewhere.example",
        );
        assert!(
            other_api
                .iter()
                .any(|p| p.contains("connect-src 'self' https://elsewhere.example"))
        );
        assert!(
            security_header_problems(&secure(CSP, "max-age=300"), api)
                .iter()
                .any(|p| p.contains("Strict-Transport-Security"))
        );
    }

    #[test]
    fn the_page_loads_its_bundle_from_where_the_browser_would() {
        let html = r#"<head><script src="./config.js"></script><script type="module" crossorigin src="./assets/index-AbC.js"></script>"#;
        assert_eq!(module_script(html), Some("./assets/index-AbC.js"));
        assert_eq!(
            resolve("/", html, "./assets/index-AbC.js"),
            "/assets/index-AbC.js"
        );
        // Without a <base>, a relative bundle on a deep link resolves under the link's directory.
        assert_eq!(
            resolve("/events/123", html, "./assets/index-AbC.js"),
            "/events/assets/index-AbC.js"
        );
        let based = format!(r#"<head><base href="/">{html}"#);
        assert_eq!(
            resolve("/events/123", &based, "./assets/index-AbC.js"),
            "/assets/index-AbC.js"
        );
        assert_eq!(resolve("/events/123", html, "/assets/x.js"), "/assets/x.js");
    }

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
