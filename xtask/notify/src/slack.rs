//! Slack: a Block Kit message POSTed to an incoming webhook.

use std::time::Duration;

use reqwest::Url;
use serde_json::{Value, json};

use crate::{Notice, Outcome, chain};

/// An incoming webhook. The URL is the credential: it is never printed.
pub struct Slack {
    webhook: Url,
}

impl Slack {
    pub(crate) fn new(url: &str) -> Result<Slack, String> {
        match Url::parse(url.trim()) {
            Ok(webhook) if matches!(webhook.scheme(), "https" | "http") && webhook.has_host() => {
                Ok(Slack { webhook })
            }
            _ => Err(
                "SLACK_WEBHOOK_URL is not an http(s) URL: set it to the incoming webhook URL of the Slack app"
                    .to_owned(),
            ),
        }
    }

    pub(crate) fn describe(&self) -> String {
        "webhook ***".to_owned()
    }

    /// The webhook URL and its path (the token part), for redaction.
    pub(crate) fn secrets(&self) -> Vec<String> {
        let mut secrets = vec![
            self.webhook.as_str().to_owned(),
            self.webhook.as_str().trim_end_matches('/').to_owned(),
        ];
        if self.webhook.path().len() > 1 {
            secrets.push(self.webhook.path().to_owned());
        }
        secrets
    }

    pub(crate) async fn send(&self, notice: &Notice, timeout: Duration) -> Result<String, String> {
        let client = http_client(timeout)
            .map_err(|e| format!("building the HTTP client: {}", chain(&e.without_url())))?;
        let body = serde_json::to_vec(&message(notice)).map_err(|e| e.to_string())?;
        let response = client
            .post(self.webhook.clone())
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .map_err(|e| {
                let what = if e.is_timeout() {
                    format!(
                        "the webhook did not answer within {}",
                        crate::format_duration(timeout)
                    )
                } else {
                    chain(&e.without_url())
                };
                format!("posting to the webhook: {what}")
            })?;
        let status = response.status();
        if status.is_success() {
            return Ok(self.describe());
        }
        let text = response.text().await.unwrap_or_default();
        let text: String = text.trim().chars().take(200).collect();
        Err(match status.as_u16() {
            403 | 404 | 410 => format!(
                "the webhook answered {status} {text}: the webhook was revoked or mistyped, set SLACK_WEBHOOK_URL to the Slack app's current one"
            ),
            _ => format!("the webhook answered {status} {text}"),
        }
        .trim_end()
        .to_owned())
    }
}

/// The Block Kit message: a header with the title, the facts as fields, and a button to the run.
/// `text` is what notifications and clients without blocks show.
pub fn message(notice: &Notice) -> Value {
    let emoji = match notice.result {
        Outcome::Success => ":white_check_mark:",
        Outcome::Failure => ":x:",
        Outcome::RolledBack => ":leftwards_arrow_with_hook:",
    };
    let fields: Vec<Value> = notice
        .fields()
        .into_iter()
        .map(|(name, value)| {
            let value = match name {
                "Result" => format!("{emoji} {}", escape(&value)),
                "Git sha" => format!("`{}`", escape(&value)),
                _ => escape(&value),
            };
            json!({"type": "mrkdwn", "text": format!("*{name}*\n{value}")})
        })
        .collect();
    let mut blocks = vec![
        json!({
            "type": "header",
            "text": {"type": "plain_text", "text": header(&notice.title), "emoji": true}
        }),
        json!({"type": "section", "fields": fields}),
    ];
    if let Some(url) = &notice.run_url {
        blocks.push(json!({
            "type": "actions",
            "elements": [{
                "type": "button",
                "text": {"type": "plain_text", "text": "View run"},
                "url": url
            }]
        }));
    }
    json!({
        "text": format!("{emoji} {} ({})", escape(&notice.title), notice.result),
        "blocks": blocks
    })
}

/// Slack's header text holds at most 150 characters.
fn header(title: &str) -> String {
    if title.chars().count() <= 150 {
        return title.to_owned();
    }
    let mut cut: String = title.chars().take(149).collect();
    cut.push('…');
    cut
}

/// The three characters Slack's mrkdwn reserves.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The webhook's client, with the notifier's User-Agent.
fn http_client(timeout: Duration) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .user_agent(crate::user_agent::USER_AGENT)
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(5)))
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_webhook_client_sends_a_user_agent() {
        let client = http_client(Duration::from_secs(5)).unwrap();
        assert_eq!(
            crate::user_agent::sent_by(&client).await.as_deref(),
            Some(crate::user_agent::USER_AGENT)
        );
    }

    #[test]
    fn a_bare_notice_has_a_header_and_its_result() {
        let notice = Notice::new(Outcome::Failure, "ci failed <main>");
        assert_eq!(
            message(&notice),
            json!({
                "text": ":x: ci failed &lt;main&gt; (failure)",
                "blocks": [
                    {"type": "header", "text": {"type": "plain_text", "text": "ci failed <main>", "emoji": true}},
                    {"type": "section", "fields": [{"type": "mrkdwn", "text": "*Result*\n:x: failure"}]}
                ]
            })
        );
    }

    #[test]
    fn long_titles_fit_the_header() {
        let text = header(&"x".repeat(400));
        assert_eq!(text.chars().count(), 150);
        assert!(text.ends_with('…'));
    }

    #[test]
    fn only_web_urls_are_webhooks() {
        assert!(Slack::new("https://hooks.slack.com/services/T/B/x").is_ok());
        assert!(Slack::new("ftp://hooks.slack.com/services/T/B/x").is_err());
        assert!(Slack::new("T/B/x").is_err());
    }
}
