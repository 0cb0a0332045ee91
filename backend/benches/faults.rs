//! How the service behaves when things go wrong, measured:
//!
//!     DATABASE_URL=postgres://… cargo bench -p eventflow-backend --bench faults
//!
//! Starts the server in-process on 127.0.0.1 with the production defaults (`Limits`, read
//! from the environment like the binary), in a database of its own that it drops at the end,
//! then runs four scenarios, each bounded in requests and time:
//!
//! - **lock**: another connection holds `LOCK TABLE events IN ACCESS EXCLUSIVE MODE` for
//!   `FAULT_LOCK_SECS` (default 30) while clients keep ingesting. `/health/live` must stay 200,
//!   failed requests must be 503 within the request timeout, every event answered 202 must be
//!   stored, and ingestion must recover by itself once the lock is gone.
//! - **restart**: PostgreSQL goes away mid-load. With `FAULT_PG_RESTART` set (a command and its
//!   arguments, split on spaces and run without a shell, e.g. `runuser -u postgres -- pg_ctl -D
//!   DATA -w restart -m fast`) the cluster really restarts; without it every connection of the
//!   server is ended with `pg_terminate_backend`, which is what clients see of a restart. Same
//!   checks as for the lock.
//! - **flood**: one key sends as fast as it can for 10 s: it gets 429 with `Retry-After`, while a
//!   second key sending 10 requests a second is unaffected.
//! - **labels**: 10,000 requests with random methods and paths, twice: `/metrics` size and the
//!   process's RSS before and after each round.
//!
//! Traffic goes only to 127.0.0.1. The figures go into backend/README.md.

use std::process::Command;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use eventflow_backend::auth::api_key;
use eventflow_backend::config::{DatabaseConfig, Limits, Secret, process_env};
use eventflow_backend::state::AppState;
use eventflow_backend::{db, migrations, server};
use rand::Rng;
use reqwest::StatusCode;
use serde_json::json;
use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, Executor, PgConnection, PgPool};

const API_KEYS_SECRET: &str = "fault-bench-api-keys-secret-0123456789ab";
const APPLICATION_NAME: &str = "eventflow-fault-bench";
/// Events per ingest request in the lock and restart scenarios.
const BATCH: usize = 10;
/// Concurrent ingesting clients in the lock and restart scenarios, each pausing between requests.
const CLIENTS: usize = 8;
const CLIENT_PAUSE: Duration = Duration::from_millis(20);

/// What the clients of one scenario saw.
#[derive(Default)]
struct Outcome {
    accepted_events: u64,
    /// Requests that failed with 503; events in them may or may not be stored.
    unavailable: u64,
    unavailable_events: u64,
    /// The slowest 503.
    slowest_unavailable: Duration,
    other_statuses: Vec<u16>,
    /// 503s without `Retry-After`.
    missing_retry_after: u64,
    transport_errors: u64,
}

impl Outcome {
    fn merge(&mut self, other: Outcome) {
        self.accepted_events += other.accepted_events;
        self.unavailable += other.unavailable;
        self.unavailable_events += other.unavailable_events;
        self.slowest_unavailable = self.slowest_unavailable.max(other.slowest_unavailable);
        self.other_statuses.extend(other.other_statuses);
        self.missing_retry_after += other.missing_retry_after;
        self.transport_errors += other.transport_errors;
    }
}

struct Bench {
    base_url: String,
    client: reqwest::Client,
    pool: PgPool,
    admin_options: PgConnectOptions,
    database: String,
    limits: Limits,
    keys: Vec<String>,
}

impl Bench {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// Ingests from `CLIENTS` clients until `stop` is set, each with a key of its own.
    async fn ingest_until(self: &Arc<Self>, stop: Arc<AtomicBool>) -> Outcome {
        let mut tasks = Vec::new();
        for client in 0..CLIENTS {
            let bench = Arc::clone(self);
            let stop = Arc::clone(&stop);
            tasks.push(tokio::spawn(async move {
                let key = &bench.keys[client % bench.keys.len()];
                let body = json!({"events": (0..BATCH).map(|i| json!({"name": format!("fault_{i}")})).collect::<Vec<_>>()});
                let mut outcome = Outcome::default();
                while !stop.load(Ordering::Relaxed) {
                    let started = Instant::now();
                    let response = bench
                        .client
                        .post(bench.url("/v1/events"))
                        .header("x-api-key", key)
                        .json(&body)
                        .send()
                        .await;
                    match response {
                        Ok(response) => match response.status() {
                            StatusCode::ACCEPTED => outcome.accepted_events += BATCH as u64,
                            StatusCode::SERVICE_UNAVAILABLE => {
                                outcome.unavailable += 1;
                                outcome.unavailable_events += BATCH as u64;
                                outcome.slowest_unavailable =
                                    outcome.slowest_unavailable.max(started.elapsed());
                                if response.headers().get("retry-after").is_none() {
                                    outcome.missing_retry_after += 1;
                                }
                            }
                            other => outcome.other_statuses.push(other.as_u16()),
                        },
                        Err(_) => outcome.transport_errors += 1,
                    }
                    tokio::time::sleep(CLIENT_PAUSE).await;
                }
                outcome
            }));
        }
        let mut total = Outcome::default();
        for task in tasks {
            total.merge(task.await.unwrap());
        }
        total
    }

    /// `/health/live` every 250 ms until `stop`: (probes, non-200 answers, slowest).
    async fn probe_liveness(self: &Arc<Self>, stop: Arc<AtomicBool>) -> (u64, u64, Duration) {
        let (mut probes, mut failures, mut slowest) = (0, 0, Duration::ZERO);
        while !stop.load(Ordering::Relaxed) {
            let started = Instant::now();
            let ok = self
                .client
                .get(self.url("/health/live"))
                .send()
                .await
                .is_ok_and(|r| r.status() == StatusCode::OK);
            slowest = slowest.max(started.elapsed());
            probes += 1;
            failures += u64::from(!ok);
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        (probes, failures, slowest)
    }

    async fn stored_events(&self) -> i64 {
        // Retried: right after a restart the pool may still be reconnecting.
        for _ in 0..50 {
            if let Ok(count) = sqlx::query_scalar("SELECT count(*) FROM events")
                .fetch_one(&self.pool)
                .await
            {
                return count;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        panic!("the events could not be counted after the fault");
    }

    /// Seconds from now until an ingest request is accepted again (at most 60 s).
    async fn time_to_recover(&self) -> Option<Duration> {
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(60) {
            let accepted = self
                .client
                .post(self.url("/v1/events"))
                .header("x-api-key", &self.keys[0])
                .json(&json!({"name": "recovery_probe"}))
                .send()
                .await
                .is_ok_and(|r| r.status() == StatusCode::ACCEPTED);
            if accepted {
                return Some(started.elapsed());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        None
    }

    /// Runs the clients and the liveness probe around `fault`, then checks and prints.
    async fn scenario<F, Fut>(self: &Arc<Self>, title: &str, fault: F)
    where
        F: FnOnce(Arc<Bench>) -> Fut,
        Fut: std::future::Future<Output = String>,
    {
        let before = self.stored_events().await;
        let stop = Arc::new(AtomicBool::new(false));
        let clients = tokio::spawn({
            let bench = Arc::clone(self);
            let stop = Arc::clone(&stop);
            async move { bench.ingest_until(stop).await }
        });
        let liveness = tokio::spawn({
            let bench = Arc::clone(self);
            let stop = Arc::clone(&stop);
            async move { bench.probe_liveness(stop).await }
        });
        // Some load before the fault, so it lands mid-stream.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let fault_started = Instant::now();
        let what = fault(Arc::clone(self)).await;
        let fault_secs = fault_started.elapsed().as_secs_f64();
        let recovered = self.time_to_recover().await;
        // Some load after recovery too.
        tokio::time::sleep(Duration::from_secs(2)).await;
        stop.store(true, Ordering::Relaxed);
        let outcome = clients.await.unwrap();
        let (probes, live_failures, live_slowest) = liveness.await.unwrap();
        let recovery_events = 1; // the accepted recovery probe
        let stored = (self.stored_events().await - before) as u64;
        let accepted = outcome.accepted_events + recovery_events;
        let lost = accepted.saturating_sub(stored);

        println!("\n## {title}: {what} ({fault_secs:.1} s)");
        println!("| check | result |\n| --- | --- |");
        println!(
            "| `/health/live` during the run | {probes} probes, {live_failures} not 200, slowest {:.0} ms |",
            live_slowest.as_secs_f64() * 1000.0
        );
        println!(
            "| events answered 202 | {accepted} ({} requests) |",
            accepted / BATCH as u64
        );
        println!(
            "| events stored | {stored} (lost: {lost}; stored from requests answered 503: {}) |",
            stored.saturating_sub(accepted)
        );
        println!(
            "| requests answered 503 | {}, slowest {:.2} s (request timeout {} s), without Retry-After: {} |",
            outcome.unavailable,
            outcome.slowest_unavailable.as_secs_f64(),
            self.limits.request_timeout.as_secs(),
            outcome.missing_retry_after
        );
        println!(
            "| other answers | {} other statuses {:?}, {} transport errors |",
            outcome.other_statuses.len(),
            summarize(&outcome.other_statuses),
            outcome.transport_errors
        );
        match recovered {
            Some(after) => println!(
                "| recovery | first 202 {:.2} s after the fault ended |",
                after.as_secs_f64()
            ),
            None => println!("| recovery | none within 60 s |"),
        }
        let verdict = live_failures == 0
            && lost == 0
            && recovered.is_some()
            && outcome.missing_retry_after == 0
            && outcome.slowest_unavailable <= self.limits.request_timeout + Duration::from_secs(1)
            && stored <= accepted + outcome.unavailable_events
            && outcome.other_statuses.iter().all(|s| *s < 500);
        println!("| verdict | {} |", if verdict { "PASS" } else { "FAIL" });
        assert!(verdict, "{title}: a check failed (see the table)");
    }
}

fn summarize(statuses: &[u16]) -> Vec<(u16, usize)> {
    let mut counts = std::collections::BTreeMap::new();
    for status in statuses {
        *counts.entry(*status).or_insert(0) += 1;
    }
    counts.into_iter().collect()
}

/// Holds `LOCK TABLE events IN ACCESS EXCLUSIVE MODE` for `hold`.
async fn hold_lock(bench: Arc<Bench>, hold: Duration) -> String {
    let mut locker =
        PgConnection::connect_with(&bench.admin_options.clone().database(&bench.database))
            .await
            .unwrap();
    locker.execute("BEGIN").await.unwrap();
    locker
        .execute("LOCK TABLE events IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();
    tokio::time::sleep(hold).await;
    locker.execute("COMMIT").await.unwrap();
    format!(
        "`LOCK TABLE events IN ACCESS EXCLUSIVE MODE` held {} s",
        hold.as_secs()
    )
}

/// Restarts PostgreSQL with `FAULT_PG_RESTART`, or ends every connection of the server.
async fn restart_database(bench: Arc<Bench>) -> String {
    match std::env::var("FAULT_PG_RESTART")
        .ok()
        .filter(|c| !c.trim().is_empty())
    {
        Some(command) => {
            let mut parts = command.split_whitespace();
            let program = parts.next().unwrap().to_owned();
            let args: Vec<String> = parts.map(str::to_owned).collect();
            let status = tokio::task::spawn_blocking(move || {
                Command::new(&program)
                    .args(&args)
                    .stdout(std::process::Stdio::null())
                    .status()
            })
            .await
            .unwrap()
            .expect("run FAULT_PG_RESTART");
            assert!(status.success(), "FAULT_PG_RESTART failed: {status}");
            "PostgreSQL restarted (`FAULT_PG_RESTART`, fast shutdown)".to_owned()
        }
        None => {
            let mut admin = PgConnection::connect_with(&bench.admin_options)
                .await
                .unwrap();
            let ended: i64 = sqlx::query_scalar(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1",
            )
            .bind(APPLICATION_NAME)
            .fetch_one(&mut admin)
            .await
            .unwrap();
            format!(
                "`pg_terminate_backend` on all {ended} of the server's connections (no FAULT_PG_RESTART)"
            )
        }
    }
}

/// One key as fast as 16 tasks can send for 10 s; another at 10 requests a second.
async fn flood(bench: &Arc<Bench>) {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut flooders = Vec::new();
    for _ in 0..16 {
        let bench = Arc::clone(bench);
        flooders.push(tokio::spawn(async move {
            let (mut accepted, mut limited, mut without_retry_after, mut other) =
                (0u64, 0u64, 0u64, 0u64);
            let mut sent = 0u64;
            while Instant::now() < deadline && sent < 20_000 {
                sent += 1;
                match bench
                    .client
                    .post(bench.url("/v1/events"))
                    .header("x-api-key", &bench.keys[0])
                    .json(&json!({"name": "flood"}))
                    .send()
                    .await
                {
                    Ok(r) if r.status() == StatusCode::ACCEPTED => accepted += 1,
                    Ok(r) if r.status() == StatusCode::TOO_MANY_REQUESTS => {
                        limited += 1;
                        without_retry_after += u64::from(r.headers().get("retry-after").is_none());
                    }
                    _ => other += 1,
                }
            }
            (accepted, limited, without_retry_after, other)
        }));
    }
    let neighbour = {
        let bench = Arc::clone(bench);
        tokio::spawn(async move {
            let (mut accepted, mut refused) = (0u64, 0u64);
            let mut slowest = Duration::ZERO;
            while Instant::now() < deadline {
                let started = Instant::now();
                let ok = bench
                    .client
                    .post(bench.url("/v1/events"))
                    .header("x-api-key", &bench.keys[1])
                    .json(&json!({"name": "neighbour"}))
                    .send()
                    .await
                    .is_ok_and(|r| r.status() == StatusCode::ACCEPTED);
                slowest = slowest.max(started.elapsed());
                if ok {
                    accepted += 1;
                } else {
                    refused += 1;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            (accepted, refused, slowest)
        })
    };
    let (mut accepted, mut limited, mut without_retry_after, mut other) = (0, 0, 0, 0);
    for flooder in flooders {
        let (a, l, w, o) = flooder.await.unwrap();
        accepted += a;
        limited += l;
        without_retry_after += w;
        other += o;
    }
    let (neighbour_ok, neighbour_refused, neighbour_slowest) = neighbour.await.unwrap();
    println!(
        "\n## flood: one key for 10 s (limit {}/s, burst {})",
        bench.limits.api_key_rate_per_second, bench.limits.api_key_rate_burst
    );
    println!("| check | result |\n| --- | --- |");
    println!(
        "| flooding key | {} requests: {accepted} accepted ({:.0}/s), {limited} answered 429 ({without_retry_after} without Retry-After), {other} other |",
        accepted + limited + other,
        accepted as f64 / 10.0
    );
    println!(
        "| other key, 10/s | {neighbour_ok} accepted, {neighbour_refused} refused, slowest {:.0} ms |",
        neighbour_slowest.as_secs_f64() * 1000.0
    );
    let verdict = limited > 0 && without_retry_after == 0 && neighbour_refused == 0 && other == 0;
    println!("| verdict | {} |", if verdict { "PASS" } else { "FAIL" });
    assert!(verdict, "flood: a check failed (see the table)");
}

/// Resident set size of this process (server and clients), in KiB.
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
        .expect("VmRSS in /proc/self/status")
}

async fn metrics_bytes(bench: &Bench) -> usize {
    bench
        .client
        .get(bench.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
        .len()
}

/// 10,000 requests with random methods and paths, from 8 tasks.
async fn random_requests(bench: &Arc<Bench>, count: usize) {
    let mut tasks = Vec::new();
    for task in 0..8 {
        let bench = Arc::clone(bench);
        tasks.push(tokio::spawn(async move {
            for _ in (task..count).step_by(8) {
                let (method, path) = {
                    let mut rng = rand::thread_rng();
                    let method: String = (0..rng.gen_range(3..12))
                        .map(|_| rng.gen_range(b'A'..=b'Z') as char)
                        .collect();
                    let path = format!("/{:x}/{:x}", rng.r#gen::<u64>(), rng.r#gen::<u32>());
                    (method, path)
                };
                let _ = bench
                    .client
                    .request(
                        reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
                        bench.url(&path),
                    )
                    .send()
                    .await;
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
}

async fn labels(bench: &Arc<Bench>) {
    let count = 10_000;
    println!("\n## labels: {count} requests with random methods and paths, twice");
    println!("| when | `/metrics` bytes | RSS KiB |\n| --- | ---: | ---: |");
    let mut sizes = vec![(metrics_bytes(bench).await, rss_kib())];
    println!("| before | {} | {} |", sizes[0].0, sizes[0].1);
    for round in 1..=2 {
        random_requests(bench, count).await;
        let size = (metrics_bytes(bench).await, rss_kib());
        println!("| after round {round} | {} | {} |", size.0, size.1);
        sizes.push(size);
    }
    // One new label set per (method, route, status) seen: a handful, whatever the count.
    let growth = sizes[2].0 as i64 - sizes[1].0 as i64;
    let verdict = sizes[1].0 - sizes[0].0 < 4096 && growth < 1024;
    println!(
        "| verdict | {} (`/metrics` grew {} bytes in round 1, {growth} in round 2) |",
        if verdict { "PASS" } else { "FAIL" },
        sizes[1].0 - sizes[0].0
    );
    assert!(verdict, "labels: /metrics grew with random requests");
}

#[tokio::main]
async fn main() {
    let url = std::env::var("DATABASE_URL").unwrap_or_else(|_| {
        panic!("DATABASE_URL is not set: point it at a PostgreSQL 15 server, e.g. DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres")
    });
    let limits = Limits::from_env(&process_env).unwrap_or_else(|error| panic!("{error}"));
    let lock_secs: u64 = std::env::var("FAULT_LOCK_SECS")
        .ok()
        .map_or(30, |v| v.parse().expect("FAULT_LOCK_SECS must be a number"));

    let admin_options = PgConnectOptions::from_str(&url).expect("DATABASE_URL is a PostgreSQL URL");
    let database = format!("eventflow_faults_{}", std::process::id());
    let mut admin = PgConnection::connect_with(&admin_options)
        .await
        .expect("connect to DATABASE_URL");
    admin
        .execute(format!(r#"CREATE DATABASE "{database}""#).as_str())
        .await
        .unwrap();
    let options = admin_options
        .clone()
        .database(&database)
        .application_name(APPLICATION_NAME);
    migrations::run(&options).await.unwrap();
    let config = DatabaseConfig {
        connect_options: options,
        max_connections: 10,
    };
    let pool = db::connect(&config, limits.statement_timeout)
        .await
        .unwrap();
    let secret = Secret::new(API_KEYS_SECRET);
    let mut keys = Vec::new();
    for client in 0..CLIENTS {
        keys.push(
            api_key::create(&pool, &secret, &format!("fault-{client}"))
                .await
                .unwrap()
                .1,
        );
    }
    let state = AppState::new(
        pool.clone(),
        Secret::new("fault-bench-jwt-secret-0123456789abcdef"),
        secret,
    )
    .with_limits(limits.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base_url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(server::serve(
        listener,
        server::app(state),
        std::future::pending(),
        server::ConnectionLimits {
            header_read_timeout: limits.header_read_timeout,
            shutdown_deadline: Duration::from_secs(1),
        },
    ));
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let bench = Arc::new(Bench {
        base_url,
        client,
        pool: pool.clone(),
        admin_options: admin_options.clone(),
        database: database.clone(),
        limits: limits.clone(),
        keys,
    });
    println!(
        "EventFlow faults: request timeout {} s, statement timeout {} ms, in-flight limit {}, pool 10, {CLIENTS} clients sending {BATCH} events every {} ms",
        limits.request_timeout.as_secs(),
        limits.statement_timeout.as_millis(),
        limits.max_in_flight,
        CLIENT_PAUSE.as_millis()
    );

    bench
        .scenario("lock", |b| hold_lock(b, Duration::from_secs(lock_secs)))
        .await;
    bench.scenario("restart", restart_database).await;
    flood(&bench).await;
    labels(&bench).await;

    pool.close().await;
    let mut admin = PgConnection::connect_with(&admin_options).await.unwrap();
    admin
        .execute(format!(r#"DROP DATABASE IF EXISTS "{database}" WITH (FORCE)"#).as_str())
        .await
        .unwrap();
}
