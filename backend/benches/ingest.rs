//! Ingestion throughput through the HTTP API, against PostgreSQL's `COPY` of the same rows.
//!
//!     DATABASE_URL='postgres://…?sslmode=verify-full&sslrootcert=CA' cargo bench -p eventflow-backend --bench ingest
//!
//! The connections are verified TLS, as production's to RDS: a server that answers without TLS
//! stops the benchmark, since its figures would not be production's.
//!
//! Starts the server in-process on 127.0.0.1, in a database of its own that it drops at the
//! end, and sends batches of 100 and of 1,000 events from a few concurrent clients, as apps
//! do. `COPY … FROM STDIN` of the same rows into the same table (same indexes) is the
//! physical reference: the fastest way PostgreSQL loads rows. The ratio says how much of that
//! the API keeps after HTTP, JSON, validation and authentication. The numbers go into
//! backend/README.md.
//!
//! Each batch size runs `BENCH_ROUNDS` (default 3) rounds of API-then-COPY, interleaved so
//! that load from elsewhere on the machine hits both alike; rates are the medians, latency
//! percentiles are over every request. `BENCH_EVENTS` (default 100000) bounds the events per
//! run; `BENCH_CLIENTS` (default 4) sets the concurrent clients.

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use eventflow_backend::auth::api_key;
use eventflow_backend::config::{Limits, Secret};
use eventflow_backend::state::AppState;
use eventflow_backend::{migrations, server};
use serde_json::json;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, Executor, PgConnection, PgPool};

const BATCH_SIZES: [usize; 2] = [100, 1000];
const NAMES: [&str; 8] = [
    "page_view",
    "signup",
    "login",
    "add_to_cart",
    "checkout",
    "search",
    "share",
    "logout",
];

struct Event {
    name: &'static str,
    timestamp: DateTime<Utc>,
    user_id: String,
    properties: serde_json::Value,
}

/// Deterministic, varied events: the same rows for the API and for `COPY`.
fn events(count: usize) -> Vec<Event> {
    let start = DateTime::parse_from_rfc3339("2025-06-01T00:00:00Z")
        .unwrap()
        .to_utc();
    (0..count)
        .map(|i| Event {
            name: NAMES[i % NAMES.len()],
            timestamp: start + TimeDelta::milliseconds(i as i64 * 37),
            user_id: format!("user-{}", i % 5000),
            properties: json!({
                "path": format!("/products/{}", i % 977),
                "referrer": "https://www.example.com/",
                "duration_ms": (i * 7919) % 30000,
                "experiment": {"id": "exp-42", "variant": if i % 2 == 0 { "a" } else { "b" }},
            }),
        })
        .collect()
}

fn request_bodies(events: &[Event], batch: usize) -> Vec<Vec<u8>> {
    events
        .chunks(batch)
        .map(|chunk| {
            let events: Vec<_> = chunk
                .iter()
                .map(|e| {
                    json!({
                        "name": e.name,
                        "timestamp": e.timestamp.to_rfc3339(),
                        "user_id": e.user_id,
                        "properties": e.properties,
                    })
                })
                .collect();
            serde_json::to_vec(&json!({ "events": events })).unwrap()
        })
        .collect()
}

/// The same rows in `COPY`'s text format.
fn copy_text(events: &[Event], api_key_id: i64) -> Vec<u8> {
    // Text format escapes backslash, tab, newline and carriage return.
    let escape = |field: &str| {
        field
            .replace('\\', "\\\\")
            .replace('\t', "\\t")
            .replace('\n', "\\n")
            .replace('\r', "\\r")
    };
    let mut text = String::new();
    for e in events {
        text.push_str(&format!(
            "{}\t{}\t{}\t{}\t{api_key_id}\n",
            escape(e.name),
            e.timestamp.to_rfc3339(),
            escape(&e.user_id),
            escape(&serde_json::to_string(&e.properties).unwrap()),
        ));
    }
    text.into_bytes()
}

struct HttpResult {
    elapsed: Duration,
    latencies: Vec<Duration>,
}

async fn ingest_over_http(
    url: &str,
    key: &str,
    bodies: Arc<Vec<Vec<u8>>>,
    clients: usize,
) -> HttpResult {
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..clients)
        .map(|_| {
            let (client, bodies, next, url, key) = (
                client.clone(),
                bodies.clone(),
                next.clone(),
                url.to_owned(),
                key.to_owned(),
            );
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(body) = bodies.get(i) else {
                        return latencies;
                    };
                    let sent = Instant::now();
                    let response = client
                        .post(&url)
                        .header("x-api-key", &key)
                        .header("content-type", "application/json")
                        .body(body.clone())
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(response.status(), reqwest::StatusCode::ACCEPTED);
                    response.bytes().await.unwrap();
                    latencies.push(sent.elapsed());
                }
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for worker in workers {
        latencies.extend(worker.await.unwrap());
    }
    HttpResult {
        elapsed: started.elapsed(),
        latencies,
    }
}

async fn copy_in(pool: &PgPool, text: &[u8]) -> Duration {
    let mut conn = pool.acquire().await.unwrap();
    let started = Instant::now();
    let mut copy = conn
        .copy_in_raw("COPY events (name, occurred_at, user_id, properties, api_key_id) FROM STDIN")
        .await
        .unwrap();
    for chunk in text.chunks(1 << 20) {
        copy.send(chunk).await.unwrap();
    }
    copy.finish().await.unwrap();
    started.elapsed()
}

/// Each run starts from an empty table, with no checkpoint pending from the previous one.
async fn reset(pool: &PgPool) {
    pool.execute("TRUNCATE events").await.unwrap();
    pool.execute("CHECKPOINT").await.unwrap();
}

async fn count(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(pool)
        .await
        .unwrap()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1]
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().map_or(default, |v| {
        v.parse()
            .unwrap_or_else(|_| panic!("{name} must be a number"))
    })
}

#[tokio::main]
async fn main() {
    let url = std::env::var("DATABASE_URL").unwrap_or_else(|_| {
        panic!("DATABASE_URL is not set: point it at a PostgreSQL 15 server, e.g. DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres")
    });
    let total = env_usize("BENCH_EVENTS", 100_000);
    let clients = env_usize("BENCH_CLIENTS", 4);
    let rounds = env_usize("BENCH_ROUNDS", 3).max(1);

    let admin_options = PgConnectOptions::from_str(&url).expect("DATABASE_URL is a PostgreSQL URL");
    let database = format!("eventflow_bench_{}", std::process::id());
    let mut admin = PgConnection::connect_with(&admin_options)
        .await
        .expect("connect to DATABASE_URL");
    admin
        .execute(format!(r#"CREATE DATABASE "{database}""#).as_str())
        .await
        .unwrap();
    let options = admin_options.clone().database(&database);

    migrations::run(&options).await.unwrap();
    let pool = PgPoolOptions::new()
        .max_connections(10)
        .connect_with(options)
        .await
        .unwrap();
    let version: String = sqlx::query_scalar("SHOW server_version")
        .fetch_one(&pool)
        .await
        .unwrap();
    let tls: Option<String> =
        sqlx::query_scalar("SELECT version FROM pg_stat_ssl WHERE pid = pg_backend_pid() AND ssl")
            .fetch_optional(&pool)
            .await
            .unwrap();
    let Some(tls) = tls else {
        panic!(
            "the connection to DATABASE_URL is not TLS: the benchmark measures what production runs; add ?sslmode=verify-full&sslrootcert=CA_FILE and point it at a server with ssl=on (cargo xtask test integration provisions one)"
        )
    };
    println!(
        "PostgreSQL connections: {tls}, sslmode {:?}",
        admin_options.get_ssl_mode()
    );
    let secret = Secret::new("bench-api-keys-secret-0123456789abcdef");
    let (key_record, key) = api_key::create(&pool, &secret, "bench").await.unwrap();
    // The per-key rate limit would cap one key's throughput: this measures the write path.
    let state = AppState::new(
        pool.clone(),
        Secret::new("bench-jwt-secret-0123456789abcdef0123"),
        secret,
    )
    .with_limits(Limits {
        api_key_rate_per_second: 1_000_000,
        api_key_rate_burst: 1_000_000,
        ..Limits::default()
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let ingest_url = format!("http://{}/v1/events", listener.local_addr().unwrap());
    tokio::spawn(server::serve(
        listener,
        server::app(state),
        std::future::pending(),
        server::ConnectionLimits {
            header_read_timeout: Duration::from_secs(10),
            shutdown_deadline: Duration::from_secs(1),
        },
    ));

    let _ = rustls::crypto::ring::default_provider().install_default();
    let rows = events(total);
    let copy_rows = copy_text(&rows, key_record.id);
    println!(
        "EventFlow ingestion: {total} events per run, {rounds} rounds, {clients} concurrent clients, \
         PostgreSQL {version}, {} CPUs",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!(
        "{:>6} {:>9} {:>11} {:>8} {:>8} {:>12} {:>7}",
        "batch", "requests", "API ev/s", "p50 ms", "p99 ms", "COPY ev/s", "ratio"
    );
    for batch in BATCH_SIZES {
        let bodies = Arc::new(request_bodies(&rows, batch));
        // Warm up connections and prepared statements, outside the measurement.
        reset(&pool).await;
        ingest_over_http(
            &ingest_url,
            &key,
            Arc::new(bodies[..clients.min(bodies.len())].to_vec()),
            clients,
        )
        .await;

        let (mut api_rates, mut copy_rates, mut latencies) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..rounds {
            reset(&pool).await;
            let http = ingest_over_http(&ingest_url, &key, bodies.clone(), clients).await;
            assert_eq!(count(&pool).await, total as i64, "every event stored");
            api_rates.push(total as f64 / http.elapsed.as_secs_f64());
            latencies.extend(http.latencies);

            reset(&pool).await;
            let copy = copy_in(&pool, &copy_rows).await;
            assert_eq!(count(&pool).await, total as i64, "every row copied");
            copy_rates.push(total as f64 / copy.as_secs_f64());
        }
        latencies.sort();
        let (api_rate, copy_rate) = (median(api_rates), median(copy_rates));
        println!(
            "{batch:>6} {:>9} {api_rate:>11.0} {:>8.1} {:>8.1} {copy_rate:>12.0} {:>6.0}%",
            bodies.len(),
            percentile(&latencies, 0.50).as_secs_f64() * 1000.0,
            percentile(&latencies, 0.99).as_secs_f64() * 1000.0,
            api_rate / copy_rate * 100.0,
        );
    }

    pool.close().await;
    admin
        .execute(format!(r#"DROP DATABASE "{database}" WITH (FORCE)"#).as_str())
        .await
        .unwrap();
}
