//! The metric watch of a blue/green bake: the new colour's error rate (5xx over requests) since
//! the traffic shift, judged by [`judge`], a pure function. Where the counts come from is behind
//! [`MetricSource`]: the load balancer's CloudWatch metrics in AWS ([`CloudWatch`]), or the
//! backend's own Prometheus `/metrics` ([`Prometheus`]), which the emulator drill uses since the
//! CloudWatch SDK speaks a protocol the emulator doesn't serve.

use std::sync::Mutex;

use anyhow::{Context, Result, bail};
use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricStat};

/// More than this share of 5xx answers trips the watch: 5%, the design's threshold.
pub const THRESHOLD_PERCENT: u64 = 5;
/// Below this many requests the rate says nothing (three requests, one failed, is not 33%).
pub const MIN_REQUESTS: u64 = 50;

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

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Enough requests, and the error rate is at or under the threshold.
    Healthy,
    /// Not enough requests yet to judge.
    TooFew,
    /// Enough requests, and the error rate is over the threshold: roll back.
    Tripped,
}

/// The decision, on plain numbers: over `threshold_percent` of at least `min_requests` trips.
pub fn judge(counts: Counts, threshold_percent: u64, min_requests: u64) -> Verdict {
    if counts.requests < min_requests.max(1) {
        return Verdict::TooFew;
    }
    if counts.errors * 100 > threshold_percent * counts.requests {
        Verdict::Tripped
    } else {
        Verdict::Healthy
    }
}

/// What a watch looks at: the load balancer and the new colour's target groups (ARNs).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Watched {
    pub load_balancer: String,
    pub target_groups: Vec<String>,
}

/// Where the counts come from.
#[allow(async_fn_in_trait)] // used through generics only
pub trait MetricSource {
    /// Marks the start of the window (the traffic shift).
    async fn begin(&self, watched: &Watched) -> Result<()>;
    /// The counts from the start of the window (`since_ms`, epoch milliseconds) to now.
    async fn counts(&self, watched: &Watched, since_ms: u64) -> Result<Counts>;
    /// Where the counts come from, for the log.
    fn describe(&self) -> String;
}

/// The backend's `GET /metrics`: `http_requests_total` by status, as differences from the value
/// at [`MetricSource::begin`]. The scrapes themselves (`route="/metrics"`) are left out.
pub struct Prometheus {
    client: reqwest::Client,
    url: String,
    baseline: Mutex<Option<Counts>>,
}

impl Prometheus {
    pub fn new(url: &str) -> Result<Prometheus> {
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            bail!(
                "--metrics-url must be an http:// or https:// URL of the backend's /metrics, e.g. http://10.0.1.5:8080/metrics"
            );
        }
        let client = reqwest::Client::builder()
            .user_agent(crate::user_agent::USER_AGENT)
            .timeout(std::time::Duration::from_secs(10))
            .build()
            .context("setting up the HTTP client")?;
        Ok(Prometheus {
            client,
            url: url.to_owned(),
            baseline: Mutex::new(None),
        })
    }

    async fn scrape(&self) -> Result<Counts> {
        let response = self
            .client
            .get(&self.url)
            .send()
            .await
            .with_context(|| format!("GET {}", self.url))?;
        let status = response.status();
        if !status.is_success() {
            bail!("GET {} answered {status}", self.url);
        }
        Ok(parse_prometheus(&response.text().await?))
    }
}

impl MetricSource for Prometheus {
    async fn begin(&self, _: &Watched) -> Result<()> {
        let now = self.scrape().await?;
        *self.baseline.lock().unwrap_or_else(|e| e.into_inner()) = Some(now);
        Ok(())
    }

    async fn counts(&self, _: &Watched, _since_ms: u64) -> Result<Counts> {
        let now = self.scrape().await?;
        let base = self
            .baseline
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .unwrap_or_default();
        Ok(since(base, now))
    }

    fn describe(&self) -> String {
        format!("http_requests_total from {}", self.url)
    }
}

/// `now − base`; a counter that went down was reset (a task restarted): count from zero.
pub fn since(base: Counts, now: Counts) -> Counts {
    if now.requests < base.requests || now.errors < base.errors {
        return now;
    }
    Counts {
        requests: now.requests - base.requests,
        errors: now.errors - base.errors,
    }
}

/// Sums `http_requests_total` of a Prometheus text exposition: every series, and those whose
/// `status` is 5xx, except the scrapes of `/metrics`.
pub fn parse_prometheus(text: &str) -> Counts {
    let mut counts = Counts::default();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("http_requests_total") else {
            continue;
        };
        let (labels, value) = match rest.strip_prefix('{') {
            Some(rest) => match rest.rsplit_once('}') {
                Some((labels, value)) => (labels, value),
                None => continue,
            },
            None if rest.starts_with(' ') => ("", rest),
            None => continue,
        };
        let Some(value) = value
            .split_whitespace()
            .next()
            .and_then(|v| v.parse::<f64>().ok())
        else {
            continue;
        };
        let label = |name: &str| {
            labels.split(',').find_map(|pair| {
                let (k, v) = pair.split_once('=')?;
                (k.trim() == name).then(|| v.trim().trim_matches('"'))
            })
        };
        if label("route") == Some("/metrics") {
            continue;
        }
        // Counters are whole numbers; the exposition writes them as floats.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let n = value.max(0.0) as u64;
        counts.requests += n;
        if label("status").is_some_and(|s| s.starts_with('5')) {
            counts.errors += n;
        }
    }
    counts
}

/// The load balancer's CloudWatch metrics (`AWS/ApplicationELB`): `RequestCount` and
/// `HTTPCode_Target_5XX_Count` of the new colour's target groups, and the load balancer's own
/// `HTTPCode_ELB_5XX_Count` (a 502 or 503 from the balancer counts against the release too).
pub struct CloudWatch {
    client: aws_sdk_cloudwatch::Client,
}

impl CloudWatch {
    pub fn new(config: &aws_config::SdkConfig) -> CloudWatch {
        CloudWatch {
            client: aws_sdk_cloudwatch::Client::new(config),
        }
    }
}

impl MetricSource for CloudWatch {
    async fn begin(&self, _: &Watched) -> Result<()> {
        Ok(())
    }

    async fn counts(&self, watched: &Watched, since_ms: u64) -> Result<Counts> {
        let load_balancer = crate::aws::arn_tail(&watched.load_balancer);
        let target_groups: Vec<String> = watched
            .target_groups
            .iter()
            .map(|t| crate::aws::arn_tail(t).to_owned())
            .collect();
        let now_ms = crate::time::now_ms();
        // Whole minutes around the window: the metrics have one-minute periods.
        let start = (since_ms / 60_000) * 60_000;
        let end = (now_ms / 60_000 + 1) * 60_000;
        let to_time = |ms: u64| {
            aws_sdk_cloudwatch::primitives::DateTime::from_millis(
                i64::try_from(ms).unwrap_or(i64::MAX),
            )
        };
        let mut pages = self
            .client
            .get_metric_data()
            .set_metric_data_queries(Some(queries(load_balancer, &target_groups)))
            .start_time(to_time(start))
            .end_time(to_time(end))
            .into_paginator()
            .send();
        let mut results = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| {
                anyhow::anyhow!(
                    "cloudwatch:GetMetricData: {}",
                    aws_sdk_cloudwatch::error::DisplayErrorContext(e)
                )
            })?;
            for r in page.metric_data_results() {
                results.push((r.id().unwrap_or_default().to_owned(), r.values().to_vec()));
            }
        }
        Ok(sum_results(&results))
    }

    fn describe(&self) -> String {
        "CloudWatch (AWS/ApplicationELB: the new colour's target groups and the load balancer)"
            .to_owned()
    }
}

/// The GetMetricData queries: ids `requests<i>` and `target5xx<i>` for each target group, and
/// `elb5xx` for the load balancer. Dimension values are ARN tails.
pub fn queries(load_balancer: &str, target_groups: &[String]) -> Vec<MetricDataQuery> {
    let query = |id: String, name: &str, tg: Option<&str>| {
        let mut metric = Metric::builder()
            .namespace("AWS/ApplicationELB")
            .metric_name(name)
            .dimensions(
                Dimension::builder()
                    .name("LoadBalancer")
                    .value(load_balancer)
                    .build(),
            );
        if let Some(tg) = tg {
            metric = metric.dimensions(Dimension::builder().name("TargetGroup").value(tg).build());
        }
        MetricDataQuery::builder()
            .id(id)
            .metric_stat(
                MetricStat::builder()
                    .metric(metric.build())
                    .period(60)
                    .stat("Sum")
                    .build(),
            )
            .return_data(true)
            .build()
    };
    let mut out = Vec::new();
    for (i, tg) in target_groups.iter().enumerate() {
        out.push(query(format!("requests{i}"), "RequestCount", Some(tg)));
        out.push(query(
            format!("target5xx{i}"),
            "HTTPCode_Target_5XX_Count",
            Some(tg),
        ));
    }
    out.push(query("elb5xx".to_owned(), "HTTPCode_ELB_5XX_Count", None));
    out
}

/// The source `deploy` was told to use (`--metrics`).
pub enum Chosen {
    CloudWatch(CloudWatch),
    Prometheus(Prometheus),
}

impl MetricSource for Chosen {
    async fn begin(&self, watched: &Watched) -> Result<()> {
        match self {
            Chosen::CloudWatch(s) => s.begin(watched).await,
            Chosen::Prometheus(s) => s.begin(watched).await,
        }
    }

    async fn counts(&self, watched: &Watched, since_ms: u64) -> Result<Counts> {
        match self {
            Chosen::CloudWatch(s) => s.counts(watched, since_ms).await,
            Chosen::Prometheus(s) => s.counts(watched, since_ms).await,
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

/// Adds up GetMetricData's answers by query id.
pub fn sum_results(results: &[(String, Vec<f64>)]) -> Counts {
    let mut counts = Counts::default();
    for (id, values) in results {
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let total = values.iter().sum::<f64>().max(0.0).round() as u64;
        if id.starts_with("requests") {
            counts.requests += total;
        } else if id.starts_with("target5xx") || id == "elb5xx" {
            counts.errors += total;
        }
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_metric_scrape_sends_a_user_agent() {
        let source = Prometheus::new("http://127.0.0.1:9/metrics").unwrap();
        assert_eq!(
            crate::user_agent::sent_by(&source.client).await.as_deref(),
            Some(crate::user_agent::USER_AGENT)
        );
    }

    fn c(requests: u64, errors: u64) -> Counts {
        Counts { requests, errors }
    }

    #[test]
    fn over_five_percent_of_enough_requests_trips() {
        assert_eq!(judge(c(1000, 51), 5, 50), Verdict::Tripped);
        assert_eq!(
            judge(c(1000, 50), 5, 50),
            Verdict::Healthy,
            "exactly 5% is not over"
        );
        assert_eq!(judge(c(1000, 0), 5, 50), Verdict::Healthy);
        assert_eq!(judge(c(50, 3), 5, 50), Verdict::Tripped);
    }

    #[test]
    fn three_requests_cannot_trip_it() {
        assert_eq!(judge(c(3, 1), 5, 50), Verdict::TooFew);
        assert_eq!(judge(c(3, 2), 5, 50), Verdict::TooFew);
        assert_eq!(judge(c(3, 3), 5, 50), Verdict::TooFew);
        assert_eq!(judge(c(0, 0), 5, 50), Verdict::TooFew);
        assert_eq!(judge(c(49, 49), 5, 50), Verdict::TooFew);
    }

    #[test]
    fn counts_describe_themselves() {
        assert_eq!(c(1000, 52).describe(), "52 of 1000 requests failed (5.2%)");
        assert_eq!(c(0, 0).describe(), "0 of 0 requests failed (0.0%)");
    }

    #[test]
    fn prometheus_text_is_summed_by_status_without_the_scrapes() {
        let text = r#"# HELP http_requests_total HTTP requests answered, by route and status.
# TYPE http_requests_total counter
http_requests_total{method="GET",route="/health",status="200"} 120
http_requests_total{method="POST",route="/v1/events",status="202"} 70
http_requests_total{method="POST",route="/v1/events",status="503"} 9
http_requests_total{method="GET",route="/v1/events",status="500"} 1
http_requests_total{method="GET",route="/metrics",status="200"} 44
http_request_duration_seconds_count{method="GET",route="/health"} 120
eventflow_build_info{git_sha="abc",version="0.1.0"} 1
"#;
        assert_eq!(parse_prometheus(text), c(200, 10));
        assert_eq!(parse_prometheus(""), c(0, 0));
    }

    #[test]
    fn the_window_is_the_difference_and_a_reset_counts_from_zero() {
        assert_eq!(since(c(100, 2), c(250, 5)), c(150, 3));
        assert_eq!(since(c(100, 2), c(30, 1)), c(30, 1));
    }

    #[test]
    fn cloudwatch_queries_cover_each_target_group_and_the_balancer() {
        let q = queries(
            "app/eventflow-production/50dc",
            &["targetgroup/eventflow-prod-backend-green/73e2".to_owned()],
        );
        let shown: Vec<String> = q
            .iter()
            .map(|q| {
                let stat = q.metric_stat().unwrap();
                let m = stat.metric().unwrap();
                let dims: Vec<String> = m
                    .dimensions()
                    .iter()
                    .map(|d| format!("{}={}", d.name().unwrap(), d.value().unwrap()))
                    .collect();
                format!(
                    "{} {} {} {} {}",
                    q.id().unwrap(),
                    m.metric_name().unwrap(),
                    stat.stat().unwrap(),
                    stat.period().unwrap(),
                    dims.join(",")
                )
            })
            .collect();
        assert_eq!(
            shown,
            [
                "requests0 RequestCount Sum 60 LoadBalancer=app/eventflow-production/50dc,TargetGroup=targetgroup/eventflow-prod-backend-green/73e2",
                "target5xx0 HTTPCode_Target_5XX_Count Sum 60 LoadBalancer=app/eventflow-production/50dc,TargetGroup=targetgroup/eventflow-prod-backend-green/73e2",
                "elb5xx HTTPCode_ELB_5XX_Count Sum 60 LoadBalancer=app/eventflow-production/50dc",
            ]
        );
    }

    #[test]
    fn cloudwatch_answers_are_summed_by_query() {
        // GetMetricData's results as AWS returns them: one value per minute, per query.
        let results = [
            ("requests0".to_owned(), vec![400.0, 380.0]),
            ("requests1".to_owned(), vec![220.0]),
            ("target5xx0".to_owned(), vec![30.0, 12.0]),
            ("target5xx1".to_owned(), vec![]),
            ("elb5xx".to_owned(), vec![2.0]),
        ];
        let counts = sum_results(&results);
        assert_eq!(counts, c(1000, 44));
        assert_eq!(
            judge(counts, THRESHOLD_PERCENT, MIN_REQUESTS),
            Verdict::Healthy
        );
        let spiking = [
            ("requests0".to_owned(), vec![100.0]),
            ("target5xx0".to_owned(), vec![9.0]),
        ];
        assert_eq!(
            judge(sum_results(&spiking), THRESHOLD_PERCENT, MIN_REQUESTS),
            Verdict::Tripped
        );
    }
}
