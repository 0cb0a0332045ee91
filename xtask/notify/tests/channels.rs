//! Both channels against receivers on loopback: a Slack webhook (axum) and an SMTP relay (a
//! small sink that speaks just enough SMTP), including receivers that fail or never answer.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use base64::Engine;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use xtask_notify::{Channel, Channels, Delivery, Notice, Outcome};

const TOKEN: &str = "T0EVENTFLOW/B0NOTIFY/sekrit-webhook-token";
const PASSWORD: &str = "hunter2-smtp-pass";

fn notice() -> Notice {
    Notice {
        environment: Some("production".into()),
        version: Some("v1.4.0".into()),
        git_sha: Some("0123456789abcdef0123456789abcdef01234567".into()),
        result: Outcome::RolledBack,
        title: "production deploy rolled back".into(),
        duration: Some(Duration::from_secs(252)),
        run_url: Some("https://github.com/eventflow/eventflow/actions/runs/42".into()),
    }
}

/// What a Slack webhook on loopback received: the request path and JSON body of each POST.
#[derive(Clone, Default)]
struct Received(Arc<Mutex<Vec<(String, Value)>>>);

/// A webhook answering `status` to every POST; its URL.
async fn slack(status: StatusCode) -> (String, Received) {
    let received = Received::default();
    let app =
        Router::new()
            .fallback(
                |State((received, status)): State<(Received, StatusCode)>,
                 uri: Uri,
                 body: Bytes| async move {
                    let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
                    received
                        .0
                        .lock()
                        .unwrap()
                        .push((uri.path().to_owned(), body));
                    (
                        status,
                        if status.is_success() {
                            "ok"
                        } else {
                            "internal_error"
                        },
                    )
                },
            )
            .with_state((received.clone(), status));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/services/{TOKEN}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, received)
}

/// A server that accepts connections and never says a word; its address.
async fn silent() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    addr
}

/// One message as an SMTP relay received it.
#[derive(Clone, Debug, Default)]
struct Mail {
    /// The decoded `AUTH PLAIN` credentials: `\0user\0password`.
    auth: Option<String>,
    from: String,
    to: Vec<String>,
    data: String,
}

impl Mail {
    fn header(&self, name: &str) -> Option<&str> {
        let (headers, _) = self.data.split_once("\r\n\r\n")?;
        headers
            .lines()
            .find_map(|line| line.strip_prefix(&format!("{name}: ")))
    }

    fn body(&self) -> String {
        self.data
            .split_once("\r\n\r\n")
            .map(|(_, body)| body.replace("\r\n", "\n"))
            .unwrap_or_default()
    }
}

#[derive(Clone, Default)]
struct Mailbox(Arc<Mutex<Vec<Mail>>>);

/// An SMTP relay on loopback that accepts (or, with `accept_auth` false, refuses) any
/// credentials; its port.
async fn smtp(accept_auth: bool) -> (u16, Mailbox) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let mailbox = Mailbox::default();
    let kept = mailbox.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(session(stream, accept_auth, kept.clone()));
        }
    });
    (port, mailbox)
}

async fn session(stream: TcpStream, accept_auth: bool, mailbox: Mailbox) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    write.write_all(b"220 sink.test ESMTP\r\n").await?;
    let mut mail = Mail::default();
    while let Some(line) = lines.next_line().await? {
        let command = line.to_ascii_uppercase();
        let reply: &[u8] = if command.starts_with("EHLO") {
            b"250-sink.test\r\n250-AUTH PLAIN LOGIN\r\n250 8BITMIME\r\n"
        } else if let Some(encoded) = line.strip_prefix("AUTH PLAIN ") {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(encoded.trim())
                .unwrap_or_default();
            mail.auth = Some(String::from_utf8_lossy(&decoded).into_owned());
            if accept_auth {
                b"235 2.7.0 accepted\r\n"
            } else {
                b"535 5.7.8 authentication credentials invalid\r\n"
            }
        } else if command.starts_with("MAIL FROM:") {
            mail.from = line[10..].trim().to_owned();
            b"250 2.1.0 ok\r\n"
        } else if command.starts_with("RCPT TO:") {
            mail.to.push(line[8..].trim().to_owned());
            b"250 2.1.5 ok\r\n"
        } else if command == "DATA" {
            write.write_all(b"354 go ahead\r\n").await?;
            while let Some(data) = lines.next_line().await? {
                if data == "." {
                    break;
                }
                mail.data.push_str(&data);
                mail.data.push_str("\r\n");
            }
            mailbox.0.lock().unwrap().push(std::mem::take(&mut mail));
            b"250 2.0.0 queued\r\n"
        } else if command == "QUIT" {
            write.write_all(b"221 2.0.0 bye\r\n").await?;
            return Ok(());
        } else {
            b"250 ok\r\n"
        };
        write.write_all(reply).await?;
    }
    Ok(())
}

fn channels(vars: &[(&str, String)]) -> Channels {
    let vars: Vec<(String, String)> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    Channels::from_lookup(move |name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
        .with_timeout(Duration::from_secs(2))
}

fn smtp_url(port: u16) -> String {
    format!("smtp://ops:{PASSWORD}@127.0.0.1:{port}")
}

/// No delivery, in any form it can be printed, holds the webhook or the SMTP password.
fn assert_redacted(deliveries: &[Delivery]) {
    for delivery in deliveries {
        for text in [delivery.to_string(), format!("{delivery:?}")] {
            for secret in [TOKEN, "sekrit", PASSWORD, "/services/"] {
                assert!(!text.contains(secret), "`{secret}` in {text}");
            }
        }
    }
}

#[tokio::test]
async fn slack_receives_the_block_kit_message() {
    let (url, received) = slack(StatusCode::OK).await;
    let deliveries = channels(&[("SLACK_WEBHOOK_URL", url)])
        .send(&notice())
        .await;
    assert_eq!(
        deliveries,
        [Delivery::Sent {
            channel: Channel::Slack,
            to: "webhook ***".into()
        }]
    );
    let received = received.0.lock().unwrap().clone();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].0, format!("/services/{TOKEN}"));
    assert_eq!(
        received[0].1,
        json!({
            "text": ":leftwards_arrow_with_hook: production deploy rolled back (rolled back)",
            "blocks": [
                {
                    "type": "header",
                    "text": {"type": "plain_text", "text": "production deploy rolled back", "emoji": true}
                },
                {
                    "type": "section",
                    "fields": [
                        {"type": "mrkdwn", "text": "*Environment*\nproduction"},
                        {"type": "mrkdwn", "text": "*Version*\nv1.4.0"},
                        {"type": "mrkdwn", "text": "*Git sha*\n`0123456789ab`"},
                        {"type": "mrkdwn", "text": "*Result*\n:leftwards_arrow_with_hook: rolled back"},
                        {"type": "mrkdwn", "text": "*Duration*\n4m 12s"}
                    ]
                },
                {
                    "type": "actions",
                    "elements": [{
                        "type": "button",
                        "text": {"type": "plain_text", "text": "View run"},
                        "url": "https://github.com/eventflow/eventflow/actions/runs/42"
                    }]
                }
            ]
        })
    );
}

#[tokio::test]
async fn email_reaches_the_relay_with_its_recipients_subject_and_text() {
    let (port, mailbox) = smtp(true).await;
    let deliveries = channels(&[
        ("SMTP_URL", smtp_url(port)),
        ("NOTIFY_EMAIL", "ops@example.com, oncall@example.com".into()),
        ("NOTIFY_FROM", "EventFlow CI <ci@example.com>".into()),
    ])
    .send(&notice())
    .await;
    assert_eq!(
        deliveries,
        [Delivery::Sent {
            channel: Channel::Email,
            to: "ops@example.com, oncall@example.com".into()
        }]
    );
    assert_redacted(&deliveries);
    let mails = mailbox.0.lock().unwrap().clone();
    assert_eq!(mails.len(), 1, "{mails:?}");
    let mail = &mails[0];
    assert_eq!(mail.auth.as_deref(), Some(&*format!("\0ops\0{PASSWORD}")));
    assert_eq!(mail.from, "<ci@example.com>");
    assert_eq!(mail.to, ["<ops@example.com>", "<oncall@example.com>"]);
    assert_eq!(
        mail.header("To"),
        Some("ops@example.com, oncall@example.com")
    );
    assert_eq!(
        mail.header("Subject"),
        Some("EventFlow: production deploy rolled back (rolled back)")
    );
    assert_eq!(
        mail.header("Content-Type"),
        Some("text/plain; charset=utf-8")
    );
    assert_eq!(mail.body().trim_end(), notice().text().trim_end());
}

#[tokio::test]
async fn a_failing_webhook_is_reported_and_the_email_still_goes_out() {
    let (url, received) = slack(StatusCode::INTERNAL_SERVER_ERROR).await;
    let (port, mailbox) = smtp(true).await;
    let deliveries = channels(&[
        ("SLACK_WEBHOOK_URL", url),
        ("SMTP_URL", smtp_url(port)),
        ("NOTIFY_EMAIL", "ops@example.com".into()),
    ])
    .send(&notice())
    .await;
    assert_eq!(
        deliveries,
        [
            Delivery::Failed {
                channel: Channel::Slack,
                error: "the webhook answered 500 Internal Server Error internal_error".into()
            },
            Delivery::Sent {
                channel: Channel::Email,
                to: "ops@example.com".into()
            }
        ]
    );
    assert_redacted(&deliveries);
    assert_eq!(received.0.lock().unwrap().len(), 1);
    assert_eq!(mailbox.0.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn receivers_that_never_answer_fail_in_bounded_time_without_blocking_each_other() {
    let (url, received) = slack(StatusCode::OK).await;
    let silent_slack = format!("http://{}/services/{TOKEN}", silent().await);
    let silent_smtp = silent().await;

    // A silent webhook, a relay that answers.
    let (port, mailbox) = smtp(true).await;
    let started = Instant::now();
    let deliveries = channels(&[
        ("SLACK_WEBHOOK_URL", silent_slack),
        ("SMTP_URL", smtp_url(port)),
        ("NOTIFY_EMAIL", "ops@example.com".into()),
    ])
    .send(&notice())
    .await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        deliveries,
        [
            Delivery::Failed {
                channel: Channel::Slack,
                error: "posting to the webhook: the webhook did not answer within 2s".into()
            },
            Delivery::Sent {
                channel: Channel::Email,
                to: "ops@example.com".into()
            }
        ]
    );
    assert_eq!(mailbox.0.lock().unwrap().len(), 1);

    // A silent relay, a webhook that answers.
    let started = Instant::now();
    let deliveries = channels(&[
        ("SLACK_WEBHOOK_URL", url),
        ("SMTP_URL", format!("smtp://ops:{PASSWORD}@{silent_smtp}")),
        ("NOTIFY_EMAIL", "ops@example.com".into()),
    ])
    .send(&notice())
    .await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        deliveries[0],
        Delivery::Sent {
            channel: Channel::Slack,
            to: "webhook ***".into()
        }
    );
    let Delivery::Failed {
        channel: Channel::Email,
        error,
    } = &deliveries[1]
    else {
        panic!("{deliveries:?}");
    };
    assert!(
        *error == format!("sending through smtp://ops:***@{silent_smtp}: no answer within 2s"),
        "{error}"
    );
    assert_redacted(&deliveries);
    assert_eq!(received.0.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn refused_credentials_and_closed_ports_are_errors_without_secrets() {
    let (port, mailbox) = smtp(false).await;
    // A port nothing listens on: bind one, then let it go.
    let closed = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let deliveries = channels(&[
        (
            "SLACK_WEBHOOK_URL",
            format!("http://{closed}/services/{TOKEN}"),
        ),
        ("SMTP_URL", smtp_url(port)),
        ("NOTIFY_EMAIL", "ops@example.com".into()),
    ])
    .send(&notice())
    .await;
    assert_eq!(deliveries.len(), 2, "{deliveries:?}");
    assert!(deliveries.iter().all(Delivery::is_failed), "{deliveries:?}");
    assert_redacted(&deliveries);
    let text = deliveries[1].to_string();
    assert!(
        text.starts_with(&format!(
            "email: not sent: sending through smtp://ops:***@127.0.0.1:{port}: "
        )) && text.contains("535"),
        "{text}"
    );
    assert!(
        deliveries[0]
            .to_string()
            .starts_with("slack: not sent: posting to the webhook: "),
        "{}",
        deliveries[0]
    );
    // The relay saw the password (that is its job), and no message.
    assert!(mailbox.0.lock().unwrap().is_empty());
}
