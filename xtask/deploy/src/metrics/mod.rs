//! The metric watch of a blue/green bake. It judges the new colour's error rate (its target
//! groups' 5xx over their requests) and the service's accepted-events rate against the rate
//! before the shift, both with pure functions ([`judge`]), and it fails when it can't see
//! ([`watch`]: failed reads, data that never covers the bake's end). Where the numbers come from
//! is behind [`MetricSource`]: CloudWatch in AWS ([`CloudWatch`]), or the backend's own Prometheus
//! `/metrics` ([`Prometheus`]), which the emulator drill uses since the CloudWatch SDK speaks a
//! protocol the emulator doesn't serve.

mod cloudwatch;
pub mod judge;
mod prometheus;
pub mod watch;

use anyhow::{Result, bail};

pub use cloudwatch::{CloudWatch, accepted_namespace, queries, sum_results};
pub use judge::{Ingestion, MIN_REQUESTS, THRESHOLD_PERCENT, Verdict, judge, judge_ingestion};
pub use prometheus::{Prometheus, Scrape, parse_prometheus, since};

/// Requests and 5xx answers in a window.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub requests: u64,
    pub errors: u64,
}

impl Counts {
    /// The rate in tenths of a percent, for people: `52` is 5.2%.
    pub fn per_mille(self) -> u64 {
        (self.errors * 1000).checked_div(self.requests).unwrap_or(0)
    }

    pub fn describe(self) -> String {
        let pm = self.per_mille();
        format!(
            "{} of {} requests failed ({}.{}%)",
            self.errors,
            self.requests,
            pm / 10,
            pm % 10
        )
    }
}

/// Events over a stretch of time: how an accepted-events rate is kept without dividing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Rate {
    pub events: u64,
    pub secs: u64,
}

impl Rate {
    pub fn describe(self) -> String {
        format!("{} accepted events in {}s", self.events, self.secs)
    }
}

/// One read of a window that began at the shift.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Reading {
    /// The new colour's requests and 5xx since the shift.
    pub counts: Counts,
    /// Events the service accepted since the shift, or `None` when the source can't see them.
    pub accepted: Option<u64>,
    /// Epoch milliseconds up to which the data is complete: the scrape's time, or the end of
    /// CloudWatch's newest published minute. The watch waits for this to pass the bake's end.
    pub covers_to_ms: u64,
}

/// What a watch looks at: the load balancer, the new colour's target groups (ARNs), and the
/// cluster (whose name is in the accepted-events metric's namespace).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Watched {
    pub load_balancer: String,
    pub target_groups: Vec<String>,
    pub cluster: String,
}

/// Where the numbers come from.
#[allow(async_fn_in_trait)] // used through generics only
pub trait MetricSource {
    /// Marks a moment the watch will ask about (`at_ms`, epoch milliseconds): before the new
    /// colour starts, and at each shift. Sources with history (CloudWatch) need no marks.
    async fn mark(&self, watched: &Watched, at_ms: u64) -> Result<()>;
    /// What happened from `since_ms` (a shift) to `now_ms`.
    async fn read(&self, watched: &Watched, since_ms: u64, now_ms: u64) -> Result<Reading>;
    /// The events the service accepted in the time before the shift at `shift_ms`, or `None`
    /// when the source can't see them.
    async fn accepted_before(&self, watched: &Watched, shift_ms: u64) -> Result<Option<Rate>>;
    /// Where the numbers come from, for the log.
    fn describe(&self) -> String;
}

/// The source `deploy` was told to use (`--metrics`).
pub enum Chosen {
    CloudWatch(CloudWatch),
    Prometheus(Prometheus),
}

impl MetricSource for Chosen {
    async fn mark(&self, watched: &Watched, at_ms: u64) -> Result<()> {
        match self {
            Chosen::CloudWatch(s) => s.mark(watched, at_ms).await,
            Chosen::Prometheus(s) => s.mark(watched, at_ms).await,
        }
    }

    async fn read(&self, watched: &Watched, since_ms: u64, now_ms: u64) -> Result<Reading> {
        match self {
            Chosen::CloudWatch(s) => s.read(watched, since_ms, now_ms).await,
            Chosen::Prometheus(s) => s.read(watched, since_ms, now_ms).await,
        }
    }

    async fn accepted_before(&self, watched: &Watched, shift_ms: u64) -> Result<Option<Rate>> {
        match self {
            Chosen::CloudWatch(s) => s.accepted_before(watched, shift_ms).await,
            Chosen::Prometheus(s) => s.accepted_before(watched, shift_ms).await,
        }
    }

    fn describe(&self) -> String {
        match self {
            Chosen::CloudWatch(s) => s.describe(),
            Chosen::Prometheus(s) => s.describe(),
        }
    }
}

/// The source for `--metrics` and `--metrics-url`.
pub fn choose(
    kind: crate::cli::MetricsKind,
    url: Option<&str>,
    aws: &aws_config::SdkConfig,
) -> Result<Chosen> {
    match (kind, url) {
        (crate::cli::MetricsKind::Cloudwatch, None) => Ok(Chosen::CloudWatch(CloudWatch::new(aws))),
        (crate::cli::MetricsKind::Cloudwatch, Some(_)) => {
            bail!("--metrics-url goes with --metrics prometheus")
        }
        (crate::cli::MetricsKind::Prometheus, Some(url)) => {
            Ok(Chosen::Prometheus(Prometheus::new(url)?))
        }
        (crate::cli::MetricsKind::Prometheus, None) => {
            bail!("--metrics prometheus needs --metrics-url URL, the backend's /metrics")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_describe_themselves() {
        let c = |requests, errors| Counts { requests, errors };
        assert_eq!(c(1000, 52).describe(), "52 of 1000 requests failed (5.2%)");
        assert_eq!(c(0, 0).describe(), "0 of 0 requests failed (0.0%)");
    }
}
