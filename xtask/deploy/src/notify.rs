//! Telling people how a deploy ended: every production deploy's end, each failure and each
//! rollback (staging's automatic rollbacks too). The engine only knows [`Notifier`]; the senders
//! (Slack, email) live elsewhere and are handed in by `main`. A notification that fails is
//! reported on the console and never fails, blocks or delays a rollback.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use anyhow::Result;

use crate::console::Console;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoticeResult {
    Success,
    Failure,
    RolledBack,
}

impl NoticeResult {
    pub fn as_str(self) -> &'static str {
        match self {
            NoticeResult::Success => "success",
            NoticeResult::Failure => "failure",
            NoticeResult::RolledBack => "rolled back",
        }
    }
}

/// One notification.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notice {
    pub environment: String,
    /// The image tag deployed (or rolled back to).
    pub version: String,
    pub git_sha: String,
    pub result: NoticeResult,
    /// One line: what happened.
    pub title: String,
    pub duration: Duration,
    /// The CI run, when there is one.
    pub run_url: Option<String>,
}

/// Something that sends notices.
#[allow(async_fn_in_trait)] // used through `DynNotifier` and generics, never spawned
pub trait Notifier {
    async fn notify(&self, notice: &Notice) -> Result<()>;
}

/// [`Notifier`] behind a reference in the deploy context (an `async fn` trait can't be a `dyn`).
pub trait DynNotifier {
    fn notify_dyn<'a>(
        &'a self,
        notice: &'a Notice,
    ) -> Pin<Box<dyn Future<Output = Result<()>> + 'a>>;
}

impl<T: Notifier> DynNotifier for T {
    fn notify_dyn<'a>(
        &'a self,
        notice: &'a Notice,
    ) -> Pin<Box<dyn Future<Output = Result<()>> + 'a>> {
        Box::pin(self.notify(notice))
    }
}

/// How long a sender gets before the engine moves on without it.
pub const TIMEOUT: Duration = Duration::from_secs(20);

/// Sends `notice`, reporting (never returning) a failure or a sender that takes too long.
pub async fn send(notifier: &dyn DynNotifier, console: &Console, notice: &Notice) {
    match tokio::time::timeout(TIMEOUT, notifier.notify_dyn(notice)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => console.say(format!(
            "warning: the {} notification was not sent: {e:#}",
            notice.result.as_str()
        )),
        Err(_) => console.say(format!(
            "warning: the {} notification was not sent: no answer within {}s",
            notice.result.as_str(),
            TIMEOUT.as_secs()
        )),
    }
}

/// The notice for how `release` ended.
pub fn of_release(release: &crate::ledger::Release, result: NoticeResult, title: String) -> Notice {
    let end = release.ended_ms.unwrap_or_else(crate::time::now_ms);
    Notice {
        environment: release.environment.clone(),
        version: release.image_tag.clone(),
        git_sha: release.git_sha.clone(),
        result,
        title,
        duration: Duration::from_millis(end.saturating_sub(release.started_ms)),
        run_url: run_url(),
    }
}

/// The CI run's URL (GitHub Actions sets these), for the notice.
pub fn run_url() -> Option<String> {
    let server = std::env::var("GITHUB_SERVER_URL").ok()?;
    let repository = std::env::var("GITHUB_REPOSITORY").ok()?;
    let run = std::env::var("GITHUB_RUN_ID").ok()?;
    Some(format!("{server}/{repository}/actions/runs/{run}"))
}

/// The real senders: Slack and email, as `SLACK_WEBHOOK_URL`, `SMTP_URL` and `NOTIFY_EMAIL`
/// configure them (`xtask-notify`, which `cargo xtask notify` uses too). Each delivery is one
/// line; with nothing configured it says so and sends nothing.
pub struct Senders(pub xtask_notify::Channels);

impl Senders {
    pub fn from_env() -> Senders {
        Senders(xtask_notify::Channels::from_env())
    }

    /// No channel: every notice only says that nothing is configured (benchmarks, drills).
    pub fn none() -> Senders {
        Senders(xtask_notify::Channels::from_lookup(|_| None))
    }
}

impl Notifier for Senders {
    async fn notify(&self, notice: &Notice) -> Result<()> {
        let result = match notice.result {
            NoticeResult::Success => xtask_notify::Outcome::Success,
            NoticeResult::Failure => xtask_notify::Outcome::Failure,
            NoticeResult::RolledBack => xtask_notify::Outcome::RolledBack,
        };
        let sent = xtask_notify::Notice {
            environment: Some(notice.environment.clone()),
            version: Some(notice.version.clone()),
            git_sha: Some(notice.git_sha.clone()),
            result,
            title: notice.title.clone(),
            duration: Some(notice.duration),
            run_url: notice.run_url.clone(),
        };
        let deliveries = self.0.send(&sent).await;
        for delivery in &deliveries {
            match delivery {
                // It says "notifications: …" itself.
                xtask_notify::Delivery::NotConfigured => println!("{delivery}"),
                _ => println!("notifications: {delivery}"),
            }
        }
        let failed: Vec<String> = deliveries
            .iter()
            .filter(|d| d.is_failed())
            .map(ToString::to_string)
            .collect();
        anyhow::ensure!(failed.is_empty(), "{}", failed.join("; "));
        Ok(())
    }
}

/// Keeps every notice, for the tests; fails every send when `failing`.
#[cfg(test)]
#[derive(Default)]
pub struct Recording {
    pub notices: std::sync::Mutex<Vec<Notice>>,
    pub failing: bool,
}

#[cfg(test)]
impl Recording {
    pub fn results(&self) -> Vec<NoticeResult> {
        self.notices
            .lock()
            .unwrap()
            .iter()
            .map(|n| n.result)
            .collect()
    }
}

#[cfg(test)]
impl Notifier for Recording {
    async fn notify(&self, notice: &Notice) -> Result<()> {
        self.notices.lock().unwrap().push(notice.clone());
        if self.failing {
            anyhow::bail!("slack: 503 Service Unavailable");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notice() -> Notice {
        Notice {
            environment: "production".into(),
            version: "v7".into(),
            git_sha: "abc".into(),
            result: NoticeResult::RolledBack,
            title: "deploy of v7 to production rolled back".into(),
            duration: Duration::from_secs(3),
            run_url: None,
        }
    }

    #[tokio::test]
    async fn a_failing_sender_is_reported_and_not_returned() {
        let recording = Recording {
            failing: true,
            ..Recording::default()
        };
        let console = Console::quiet();
        send(&recording, &console, &notice()).await;
        assert_eq!(recording.results(), [NoticeResult::RolledBack]);
        assert_eq!(
            console.lines(),
            ["warning: the rolled back notification was not sent: slack: 503 Service Unavailable"]
        );
    }

    struct Hangs;
    impl Notifier for Hangs {
        async fn notify(&self, _: &Notice) -> Result<()> {
            std::future::pending().await
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_sender_that_hangs_is_given_up_on() {
        let console = Console::quiet();
        send(&Hangs, &console, &notice()).await;
        assert_eq!(
            console.lines(),
            ["warning: the rolled back notification was not sent: no answer within 20s"]
        );
    }
}
