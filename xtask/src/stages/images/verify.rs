//! Verifying a candidate image for real before it gets its tags: the backend against a
//! throwaway TLS-only PostgreSQL, the dashboard's pages and security headers, both stopping cleanly.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use serde_json::Value;

use super::build::Plan;
use super::{
    API_BASE_URL, BACKEND, DEEP_LINK, FRONTEND, HEALTHY_TIMEOUT, RDS_CA_BUNDLE, RDS_CA_IN_IMAGE,
    STOP_GRACE, TEST_CA_IN_BACKEND,
};
use crate::cmd::Cmd;
use crate::pipeline::StageContext;
use crate::secret::Secret;
use crate::services::docker::{self, Sandbox, capture, capture_quietly, docker};
use crate::services::random_secret;
use crate::services::test_ca::{self, TestCa};

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

pub(super) fn fetch(ctx: &mut StageContext, url: &str) -> Result<Response> {
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

pub(super) fn verify_backend(ctx: &mut StageContext, plan: &Plan) -> Result<()> {
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
pub(super) fn glibc_hint(error: anyhow::Error) -> anyhow::Error {
    if format!("{error:#}").contains("GLIBC_") {
        error.context("the backend binary needs a newer glibc than the image's Debian 12: build it on a Debian 12 host, or use the Dockerfile's `from-source` target (docs/images.md)")
    } else {
        error
    }
}

pub(super) fn wait_for_postgres(ctx: &mut StageContext, container: &str) -> Result<()> {
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

pub(super) fn verify_frontend(ctx: &mut StageContext, plan: &Plan) -> Result<()> {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
