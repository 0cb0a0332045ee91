//! EventFlow's pipeline notifications: a [`Notice`] (what happened, where, which build) sent to
//! every configured [`Channels`] member, Slack through an incoming webhook and email through an
//! SMTP relay.
//!
//! ```no_run
//! # async fn example() {
//! use xtask_notify::{Channels, Notice, Outcome};
//!
//! let mut notice = Notice::new(Outcome::RolledBack, "production deploy rolled back");
//! notice.environment = Some("production".into());
//! for delivery in Channels::from_env().send(&notice).await {
//!     println!("{delivery}");
//! }
//! # }
//! ```
//!
//! Configuration comes from the environment (an empty variable counts as unset, which is what a
//! GitHub workflow passes for a secret that isn't defined):
//!
//! | variable | meaning |
//! |---|---|
//! | `SLACK_WEBHOOK_URL` | a Slack app's incoming webhook; a secret, always printed as `***` |
//! | `SMTP_URL` | the relay: `smtps://user:pass@host[:465]`, `smtp://user:pass@host:587?tls=required` (STARTTLS), or `smtp://host:25` (unencrypted, for a relay on the local network only); the password is a secret |
//! | `NOTIFY_EMAIL` | the recipients, comma-separated (needed with `SMTP_URL`) |
//! | `NOTIFY_FROM` | the sender, default `EventFlow <eventflow@localhost>`; relays that check senders need a verified one |
//!
//! Sending never panics and one channel's failure never stops the others: each channel answers
//! with a [`Delivery`], whose error text has every secret already replaced by `***`.
//!
//! The `xtask-notify` binary (run through `cargo xtask notify`) wraps this for the workflows:
//! `--status success|failure|rolled-back`, optional `--title`, `--url`, `--environment`,
//! `--version`, `--duration`, `--dry-run`. It exits 0 when every configured channel took the
//! notice, and also when nothing is configured (it says so: a fork or a new repository without the
//! secrets must not fail its runs over notifications). It exits 1 when a configured channel
//! failed: a broken webhook or relay is how alerts get lost without anyone noticing, so the step
//! turns red (and under GitHub Actions an `::error::` annotation names the channel). A workflow
//! that must not fail on it can give the step `continue-on-error: true`.

mod email;
mod redact;
mod slack;
mod user_agent;

use std::fmt;
use std::time::Duration;

use crate::email::Email;
use crate::slack::Slack;

pub use slack::message as slack_message;

/// How a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Success,
    Failure,
    /// A deploy that failed its verification and was rolled back to the previous release.
    RolledBack,
}

impl Outcome {
    /// `success`, `failure`, `rolled back`.
    pub fn label(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
            Outcome::RolledBack => "rolled back",
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// What to tell people: the run's result and what it was about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notice {
    pub environment: Option<String>,
    pub version: Option<String>,
    pub git_sha: Option<String>,
    pub result: Outcome,
    pub title: String,
    pub duration: Option<Duration>,
    /// A link to the run (the GitHub Actions run, say).
    pub run_url: Option<String>,
}

impl Notice {
    /// A notice with only a result and a title.
    pub fn new(result: Outcome, title: impl Into<String>) -> Notice {
        Notice {
            environment: None,
            version: None,
            git_sha: None,
            result,
            title: title.into(),
            duration: None,
            run_url: None,
        }
    }

    /// The named facts in display order (environment, version, git sha, result, duration), the
    /// absent ones left out.
    pub fn fields(&self) -> Vec<(&'static str, String)> {
        let mut fields = Vec::new();
        if let Some(environment) = &self.environment {
            fields.push(("Environment", environment.clone()));
        }
        if let Some(version) = &self.version {
            fields.push(("Version", version.clone()));
        }
        if let Some(sha) = &self.git_sha {
            fields.push(("Git sha", short_sha(sha).to_owned()));
        }
        fields.push(("Result", self.result.label().to_owned()));
        if let Some(duration) = self.duration {
            fields.push(("Duration", format_duration(duration)));
        }
        fields
    }

    /// The email subject: `EventFlow: <title> (<result>)`.
    pub fn subject(&self) -> String {
        format!("EventFlow: {} ({})", self.title, self.result)
    }

    /// The plain-text message: the title, one line per field, and the run's link.
    pub fn text(&self) -> String {
        let mut text = format!("{}\n\n", self.title);
        let mut lines = self.fields();
        if let Some(url) = &self.run_url {
            lines.push(("Run", url.clone()));
        }
        for (name, value) in lines {
            text.push_str(&format!("{:<13}{value}\n", format!("{name}:")));
        }
        text
    }
}

/// The first 12 characters of a commit sha, as the images are tagged.
fn short_sha(sha: &str) -> &str {
    sha.get(..12).unwrap_or(sha)
}

/// `45s`, `4m 12s`, `1h 02m`.
pub fn format_duration(duration: Duration) -> String {
    let secs = duration.as_secs();
    match secs {
        0..60 => format!("{secs}s"),
        60..3600 => format!("{}m {:02}s", secs / 60, secs % 60),
        _ => format!("{}h {:02}m", secs / 3600, secs % 3600 / 60),
    }
}

/// A channel a notice can go to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Channel {
    Slack,
    Email,
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Channel::Slack => "slack",
            Channel::Email => "email",
        })
    }
}

/// What became of a notice on one channel. Every text in it is already redacted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// Taken by the channel; `to` says where, without secrets (`webhook ***`, the recipients).
    Sent { channel: Channel, to: String },
    /// Not delivered, with the reason.
    Failed { channel: Channel, error: String },
    /// Neither `SLACK_WEBHOOK_URL` nor `SMTP_URL` is set: nothing was sent, on purpose.
    NotConfigured,
}

impl Delivery {
    pub fn is_failed(&self) -> bool {
        matches!(self, Delivery::Failed { .. })
    }

    pub fn channel(&self) -> Option<Channel> {
        match self {
            Delivery::Sent { channel, .. } | Delivery::Failed { channel, .. } => Some(*channel),
            Delivery::NotConfigured => None,
        }
    }
}

impl fmt::Display for Delivery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Delivery::Sent { channel, to } => write!(f, "{channel}: sent to {to}"),
            Delivery::Failed { channel, error } => write!(f, "{channel}: not sent: {error}"),
            Delivery::NotConfigured => {
                f.write_str("notifications: no SLACK_WEBHOOK_URL or SMTP_URL set, nothing sent")
            }
        }
    }
}

/// How long one channel may take to deliver, connection included, unless told otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15);

/// The channels configured in the environment. Its `Debug` output masks every secret.
pub struct Channels {
    slack: Option<Result<Slack, String>>,
    email: Option<Result<Email, String>>,
    timeout: Duration,
}

impl Channels {
    /// From `SLACK_WEBHOOK_URL`, `SMTP_URL`, `NOTIFY_EMAIL` and `NOTIFY_FROM`. A variable that is
    /// set but wrong is not an error here: its channel answers [`Delivery::Failed`] naming the fix.
    pub fn from_env() -> Channels {
        Channels::from_lookup(|name| std::env::var(name).ok())
    }

    /// Like [`Channels::from_env`], with the variables from `lookup`.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Channels {
        let var = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let slack = var("SLACK_WEBHOOK_URL").map(|url| Slack::new(&url));
        let email = match (var("SMTP_URL"), var("NOTIFY_EMAIL")) {
            (None, None) => None,
            (Some(url), to) => Some(Email::new(&url, to.as_deref(), var("NOTIFY_FROM").as_deref())),
            (None, Some(_)) => Some(Err(
                "NOTIFY_EMAIL is set but SMTP_URL is not: set SMTP_URL to the relay, e.g. smtps://user:pass@smtp.example.com"
                    .to_owned(),
            )),
        };
        Channels {
            slack,
            email,
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// Gives each channel at most `timeout` to deliver (default [`DEFAULT_TIMEOUT`]).
    pub fn with_timeout(mut self, timeout: Duration) -> Channels {
        self.timeout = timeout;
        self
    }

    pub fn is_empty(&self) -> bool {
        self.slack.is_none() && self.email.is_none()
    }

    /// One line per configured channel, secrets masked: `slack: webhook ***`,
    /// `email: smtps://ops:***@smtp.example.com:465, from …, to …`.
    pub fn describe(&self) -> Vec<String> {
        let mut lines = Vec::new();
        match &self.slack {
            Some(Ok(slack)) => lines.push(format!("slack: {}", slack.describe())),
            Some(Err(error)) => lines.push(format!("slack: misconfigured: {error}")),
            None => {}
        }
        match &self.email {
            Some(Ok(email)) => lines.push(format!("email: {}", email.describe())),
            Some(Err(error)) => lines.push(format!("email: misconfigured: {error}")),
            None => {}
        }
        lines
    }

    /// Sends `notice` to every configured channel at once and says what became of it on each
    /// (Slack first, then email). With nothing configured: `[Delivery::NotConfigured]`.
    pub async fn send(&self, notice: &Notice) -> Vec<Delivery> {
        if self.is_empty() {
            return vec![Delivery::NotConfigured];
        }
        let slack = async {
            match &self.slack {
                None => None,
                Some(Err(error)) => Some(failed(Channel::Slack, error)),
                Some(Ok(slack)) => Some(
                    within(
                        self.timeout,
                        Channel::Slack,
                        slack.send(notice, self.timeout),
                    )
                    .await,
                ),
            }
        };
        let email = async {
            match &self.email {
                None => None,
                Some(Err(error)) => Some(failed(Channel::Email, error)),
                Some(Ok(email)) => Some(
                    within(
                        self.timeout,
                        Channel::Email,
                        email.send(notice, self.timeout),
                    )
                    .await,
                ),
            }
        };
        let (slack, email) = tokio::join!(slack, email);
        [slack, email]
            .into_iter()
            .flatten()
            .map(|delivery| self.redacted(delivery))
            .collect()
    }

    /// Every secret out of `delivery`'s text, whatever put it there.
    fn redacted(&self, delivery: Delivery) -> Delivery {
        let mut secrets = Vec::new();
        if let Some(Ok(slack)) = &self.slack {
            secrets.extend(slack.secrets());
        }
        if let Some(Ok(email)) = &self.email {
            secrets.extend(email.secrets());
        }
        match delivery {
            Delivery::Failed { channel, error } => Delivery::Failed {
                channel,
                error: redact::redact(&error, &secrets),
            },
            Delivery::Sent { channel, to } => Delivery::Sent {
                channel,
                to: redact::redact(&to, &secrets),
            },
            Delivery::NotConfigured => Delivery::NotConfigured,
        }
    }
}

impl fmt::Debug for Channels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Channels")
            .field("channels", &self.describe())
            .field("timeout", &self.timeout)
            .finish()
    }
}

fn failed(channel: Channel, error: &str) -> Delivery {
    Delivery::Failed {
        channel,
        error: error.to_owned(),
    }
}

/// `delivery`, or a failure once `timeout` (and a little grace for the channel's own timeout to
/// answer first) has passed.
async fn within(
    timeout: Duration,
    channel: Channel,
    delivery: impl Future<Output = Result<String, String>>,
) -> Delivery {
    match tokio::time::timeout(timeout + Duration::from_secs(1), delivery).await {
        Ok(Ok(to)) => Delivery::Sent { channel, to },
        Ok(Err(error)) => Delivery::Failed { channel, error },
        Err(_) => Delivery::Failed {
            channel,
            error: format!("no answer within {}", format_duration(timeout)),
        },
    }
}

/// The full chain of an error's causes on one line.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn the_text_names_every_fact_and_the_run() {
        assert_eq!(
            notice().text(),
            "production deploy rolled back\n\n\
             Environment: production\n\
             Version:     v1.4.0\n\
             Git sha:     0123456789ab\n\
             Result:      rolled back\n\
             Duration:    4m 12s\n\
             Run:         https://github.com/eventflow/eventflow/actions/runs/42\n"
        );
        assert_eq!(
            notice().subject(),
            "EventFlow: production deploy rolled back (rolled back)"
        );
        let bare = Notice::new(Outcome::Failure, "ci failed");
        assert_eq!(bare.text(), "ci failed\n\nResult:      failure\n");
    }

    #[test]
    fn durations_read_at_a_glance() {
        assert_eq!(format_duration(Duration::from_secs(45)), "45s");
        assert_eq!(format_duration(Duration::from_secs(252)), "4m 12s");
        assert_eq!(format_duration(Duration::from_secs(3720)), "1h 02m");
    }

    fn vars(pairs: &[(&str, &str)]) -> Channels {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Channels::from_lookup(move |name| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        })
    }

    #[test]
    fn nothing_configured_says_so() {
        let channels = vars(&[("SLACK_WEBHOOK_URL", ""), ("SMTP_URL", " ")]);
        assert!(channels.is_empty());
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let deliveries = runtime.block_on(channels.send(&notice()));
        assert_eq!(deliveries, [Delivery::NotConfigured]);
        assert_eq!(
            deliveries[0].to_string(),
            "notifications: no SLACK_WEBHOOK_URL or SMTP_URL set, nothing sent"
        );
    }

    #[test]
    fn misconfiguration_names_the_fix_without_the_secret() {
        let channels = vars(&[
            (
                "SLACK_WEBHOOK_URL",
                "hooks.slack.com/services/T0/B0/sekrit-token",
            ),
            ("SMTP_URL", "smtps://ops:hunter2-pass@smtp.example.com"),
        ]);
        let lines = channels.describe();
        assert_eq!(
            lines,
            [
                "slack: misconfigured: SLACK_WEBHOOK_URL is not an http(s) URL: set it to the incoming webhook URL of the Slack app",
                "email: misconfigured: SMTP_URL is set but NOTIFY_EMAIL is not: set NOTIFY_EMAIL to the recipients, comma-separated",
            ]
        );
        let debug = format!("{channels:?}");
        assert!(
            !debug.contains("sekrit") && !debug.contains("hunter2"),
            "{debug}"
        );

        let channels = vars(&[("NOTIFY_EMAIL", "ops@example.com")]);
        assert_eq!(
            channels.describe(),
            [
                "email: misconfigured: NOTIFY_EMAIL is set but SMTP_URL is not: set SMTP_URL to the relay, e.g. smtps://user:pass@smtp.example.com"
            ]
        );
        let channels = vars(&[
            ("SMTP_URL", "smtps://ops:hunter2-pass@smtp.example.com"),
            ("NOTIFY_EMAIL", "ops@example.com, not an address"),
        ]);
        assert_eq!(
            channels.describe(),
            ["email: misconfigured: NOTIFY_EMAIL: `not an address` is not an email address"]
        );
        let channels = vars(&[
            ("SMTP_URL", "imap://ops:hunter2-pass@mail.example.com"),
            ("NOTIFY_EMAIL", "ops@example.com"),
        ]);
        assert_eq!(
            channels.describe(),
            [
                "email: misconfigured: SMTP_URL must be smtps://user:pass@host[:port] or smtp://user:pass@host:port[?tls=required]"
            ]
        );
    }

    #[test]
    fn configured_channels_describe_themselves_masked() {
        let channels = vars(&[
            (
                "SLACK_WEBHOOK_URL",
                "https://hooks.slack.com/services/T0/B0/sekrit-token",
            ),
            ("SMTP_URL", "smtps://ops:hunter2-pass@smtp.example.com"),
            ("NOTIFY_EMAIL", "ops@example.com,oncall@example.com"),
        ]);
        assert_eq!(
            channels.describe(),
            [
                "slack: webhook ***",
                "email: smtps://ops:***@smtp.example.com:465, from EventFlow <eventflow@localhost>, to ops@example.com, oncall@example.com",
            ]
        );
    }
}
