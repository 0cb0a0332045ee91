//! The built binary, as ECS runs it: subcommands, configuration errors, refusing a database
//! that is ahead, and graceful shutdown with a request in flight.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, ExitStatus, Output, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use eventflow_backend::auth::api_key;
use eventflow_backend::config::Secret;
use eventflow_backend::migrations::latest_known_version;
use serde_json::Value;

use crate::support::{API_KEYS_SECRET, TestDb, binary};

fn run(command: &mut std::process::Command) -> Output {
    command.output().expect("run eventflow-backend")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The binary serving in the background, its JSON log lines arriving on a channel.
struct Server {
    child: Child,
    addr: SocketAddr,
    log: Receiver<Value>,
}

impl Server {
    fn start(db: &TestDb) -> Self {
        let mut child = binary(db)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start eventflow-backend");
        let (sender, log) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Ok(entry) = serde_json::from_str::<Value>(&line) {
                    let _ = sender.send(entry);
                }
            }
        });
        let mut server = Self {
            child,
            addr: "0.0.0.0:0".parse().unwrap(),
            log,
        };
        let listening = server.wait_for_log("listening");
        server.addr = listening["addr"].as_str().unwrap().parse().unwrap();
        server
    }

    /// Waits for the log line with this message, failing after 30 s.
    fn wait_for_log(&mut self, message: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.log.recv_timeout(left) {
                Ok(entry) if entry["message"] == message => return entry,
                Ok(_) => {}
                Err(_) => break,
            }
        }
        let _ = self.child.kill();
        panic!("eventflow-backend never logged `{message}`");
    }

    fn signal(&self, name: &str) {
        let status = std::process::Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .status();
        assert!(status.unwrap().success());
    }

    fn wait(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("eventflow-backend did not exit within {timeout:?}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn graceful_shutdown_finishes_a_request_in_flight() {
    let db = TestDb::migrated().await;
    let (_, key) = api_key::create(&db.pool().await, &Secret::new(API_KEYS_SECRET), "shutdown")
        .await
        .unwrap();
    let mut server = Server::start(&db);

    let body = format!(
        r#"{{"events": [{}]}}"#,
        (0..50)
            .map(|i| format!(r#"{{"name": "in-flight", "properties": {{"i": {i}}}}}"#))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let (first_half, second_half) = body.split_at(body.len() / 2);
    let mut stream = TcpStream::connect(server.addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(
        stream,
        "POST /v1/events HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nX-API-Key: {key}\r\n\
         Content-Length: {}\r\n\r\n{first_half}",
        server.addr,
        body.len()
    )
    .unwrap();
    stream.flush().unwrap();
    // Let the server read the headers and start on the request.
    std::thread::sleep(Duration::from_millis(300));

    server.signal("TERM");
    server.wait_for_log(
        "shutdown signal received: refusing new connections, finishing in-flight requests",
    );
    // New connections are refused from now on (the listener closes right after the signal).
    let deadline = Instant::now() + Duration::from_secs(5);
    while TcpStream::connect_timeout(&server.addr, Duration::from_millis(200)).is_ok() {
        assert!(
            Instant::now() < deadline,
            "still accepting connections after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    }

    stream.write_all(second_half.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(
        response.starts_with("HTTP/1.1 202 Accepted\r\n"),
        "{response}"
    );
    assert!(response.ends_with(r#"{"accepted":50}"#), "{response}");

    let status = server.wait(Duration::from_secs(30));
    assert_eq!(status.code(), Some(0), "exit status after SIGTERM");
    server.wait_for_log("shutdown complete");
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(&db.pool().await)
        .await
        .unwrap();
    assert_eq!(stored, 50);
}

#[tokio::test]
async fn ctrl_c_stops_an_idle_server_with_status_0() {
    let db = TestDb::migrated().await;
    let mut server = Server::start(&db);
    server.signal("INT");
    assert_eq!(server.wait(Duration::from_secs(30)).code(), Some(0));
}

#[tokio::test]
async fn serve_migrates_an_empty_database_first() {
    let db = TestDb::create().await;
    let mut server = Server::start(&db);
    let health: Value = {
        let mut stream = TcpStream::connect(server.addr).unwrap();
        write!(
            stream,
            "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        serde_json::from_str(response.split("\r\n\r\n").nth(1).unwrap()).unwrap()
    };
    assert_eq!(health["migration_version"], latest_known_version());
    server.signal("TERM");
    assert_eq!(server.wait(Duration::from_secs(30)).code(), Some(0));
}

#[tokio::test]
async fn migrate_applies_then_is_a_no_op() {
    let db = TestDb::create().await;
    for _ in 0..2 {
        let output = run(binary(&db).arg("migrate"));
        assert!(output.status.success(), "{}", stderr(&output));
    }
    let version: i64 = sqlx::query_scalar("SELECT max(version) FROM _sqlx_migrations")
        .fetch_one(&db.pool().await)
        .await
        .unwrap();
    assert_eq!(version, latest_known_version());
}

#[tokio::test]
async fn a_database_ahead_is_refused_by_migrate_and_serve() {
    let db = TestDb::migrated().await;
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES ($1, 'from a newer release', true, '\\x00', 0)",
    )
    .bind(latest_known_version() + 1)
    .execute(&db.pool().await)
    .await
    .unwrap();
    for args in [&["migrate"][..], &[]] {
        let output = run(binary(&db).args(args));
        assert_eq!(output.status.code(), Some(1), "{args:?}");
        let stderr = stderr(&output);
        assert!(
            stderr.starts_with("error: the database is ahead of this binary"),
            "{args:?}: {stderr}"
        );
        assert!(!String::from_utf8_lossy(&output.stdout).contains("\"listening\""));
    }
}

#[tokio::test]
async fn configuration_errors_are_one_line_naming_the_variable() {
    let db = TestDb::create().await;
    let cases: [(&str, Option<&str>, &str); 4] = [
        (
            "JWT_SECRET",
            None,
            "error: JWT_SECRET is not set: set it to a random value",
        ),
        (
            "API_KEYS_SECRET",
            Some("tiny-value"),
            "error: API_KEYS_SECRET is too short (10 bytes",
        ),
        (
            "PORT",
            Some("http"),
            "error: PORT is `http`, not a port number",
        ),
        (
            "DATABASE_URL",
            Some("postgres://u:hunter2@host:port/db"),
            "error: DATABASE_URL is not a valid PostgreSQL URL",
        ),
    ];
    for (variable, value, expected) in cases {
        let mut command = binary(&db);
        match value {
            Some(value) => command.env(variable, value),
            None => command.env_remove(variable),
        };
        let output = run(&mut command);
        assert_eq!(output.status.code(), Some(1));
        let stderr = stderr(&output);
        assert!(stderr.starts_with(expected), "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(
            !stderr.contains("hunter2") && !stderr.contains("tiny-value"),
            "{stderr}"
        );
    }
}

#[tokio::test]
async fn create_api_key_prints_a_working_key_once() {
    let db = TestDb::migrated().await;
    let output = run(binary(&db).args(["create-api-key", "--name", "ios-app"]));
    assert!(output.status.success(), "{}", stderr(&output));
    let stdout = String::from_utf8(output.stdout.clone()).unwrap();
    let key = stdout.trim_end();
    assert_eq!(
        stdout.lines().count(),
        1,
        "stdout is the key alone: {stdout}"
    );
    assert!(stderr(&output).contains("shown only this once"));
    let pool = db.pool().await;
    let id = api_key::authenticate(&pool, &Secret::new(API_KEYS_SECRET), key)
        .await
        .unwrap();
    assert!(id.is_some());

    let output = run(binary(&db).args(["create-api-key", "--name", ""]));
    assert_eq!(output.status.code(), Some(1));
}
