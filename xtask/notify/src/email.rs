//! Email: a plain-text message through an SMTP relay (lettre, rustls).

use std::time::Duration;

use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use reqwest::Url;

use crate::{Notice, chain, format_duration};

/// The sender when `NOTIFY_FROM` is not set.
pub const DEFAULT_FROM: &str = "EventFlow <eventflow@localhost>";

/// A relay and the recipients. The URL holds the password: it is never printed.
pub struct Email {
    url: String,
    /// The URL as it may be shown: `smtps://ops:***@smtp.example.com:465`.
    shown: String,
    password: Option<String>,
    from: Mailbox,
    to: Vec<Mailbox>,
}

impl Email {
    pub(crate) fn new(url: &str, to: Option<&str>, from: Option<&str>) -> Result<Email, String> {
        let url = url.trim();
        let bad_url = || {
            "SMTP_URL must be smtps://user:pass@host[:port] or smtp://user:pass@host:port[?tls=required]"
                .to_owned()
        };
        let parsed = Url::parse(url).map_err(|_| bad_url())?;
        let tls = parsed
            .query_pairs()
            .find(|(k, _)| k == "tls")
            .map(|(_, v)| v.into_owned());
        let port = match (parsed.scheme(), tls.as_deref()) {
            ("smtp", None) => 25,
            ("smtp", Some("required" | "opportunistic")) => 587,
            ("smtps", _) => 465,
            _ => return Err(bad_url()),
        };
        let host = parsed
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(bad_url)?;
        let Some(to) = to else {
            return Err(
                "SMTP_URL is set but NOTIFY_EMAIL is not: set NOTIFY_EMAIL to the recipients, comma-separated"
                    .to_owned(),
            );
        };
        let to = to
            .split(',')
            .map(str::trim)
            .filter(|a| !a.is_empty())
            .map(|address| {
                address
                    .parse::<Mailbox>()
                    .map_err(|_| format!("NOTIFY_EMAIL: `{address}` is not an email address"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if to.is_empty() {
            return Err(
                "NOTIFY_EMAIL names no address: set it to the recipients, comma-separated"
                    .to_owned(),
            );
        }
        let from = from.unwrap_or(DEFAULT_FROM).trim();
        let from = from.parse::<Mailbox>().map_err(|_| {
            format!(
                "NOTIFY_FROM: `{from}` is not an email address, e.g. EventFlow <ci@example.com>"
            )
        })?;
        let user = match (parsed.username(), parsed.password()) {
            ("", None) => String::new(),
            (user, None) => format!("{user}@"),
            (user, Some(_)) => format!("{user}:***@"),
        };
        let query = tls.map(|t| format!("?tls={t}")).unwrap_or_default();
        let shown = format!(
            "{}://{user}{host}:{}{query}",
            parsed.scheme(),
            parsed.port().unwrap_or(port)
        );
        Ok(Email {
            url: url.to_owned(),
            shown,
            password: parsed.password().map(str::to_owned),
            from,
            to,
        })
    }

    pub(crate) fn describe(&self) -> String {
        format!(
            "{}, from {}, to {}",
            self.shown,
            self.from,
            self.recipients()
        )
    }

    fn recipients(&self) -> String {
        self.to
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The URL and the password, as written and percent-decoded, for redaction.
    pub(crate) fn secrets(&self) -> Vec<String> {
        let mut secrets = vec![self.url.clone()];
        if let Some(password) = &self.password {
            secrets.push(password.clone());
            if let Ok(decoded) = percent_encoding::percent_decode_str(password).decode_utf8() {
                secrets.push(decoded.into_owned());
            }
        }
        secrets
    }

    /// The message as it goes out: plain text, the notice's subject and text.
    pub fn message(&self, notice: &Notice) -> Result<Message, String> {
        let mut builder = Message::builder()
            .from(self.from.clone())
            .subject(notice.subject())
            .header(ContentType::TEXT_PLAIN);
        for to in &self.to {
            builder = builder.to(to.clone());
        }
        builder
            .body(notice.text())
            .map_err(|e| format!("composing the message: {}", chain(&e)))
    }

    pub(crate) async fn send(&self, notice: &Notice, timeout: Duration) -> Result<String, String> {
        let message = self.message(notice)?;
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(&self.url)
            .map_err(|e| format!("SMTP_URL: {}", chain(&e)))?
            .timeout(Some(timeout))
            .build();
        // lettre's timeout covers each read and write; this one covers the whole conversation
        // (a relay that greets and then goes quiet).
        let no_answer = || format!("no answer within {}", format_duration(timeout));
        match tokio::time::timeout(timeout, transport.send(message)).await {
            Err(_) => Err(no_answer()),
            Ok(Err(e)) if e.is_timeout() => Err(no_answer()),
            Ok(Err(e)) => Err(chain(&e)),
            Ok(Ok(_)) => Ok(()),
        }
        .map_err(|what| format!("sending through {}: {what}", self.shown))?;
        Ok(self.recipients())
    }
}
