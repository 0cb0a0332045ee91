//! The backend's own `GET /metrics` as a metric source: `http_requests_total` by status and
//! `eventflow_events_ingested_total`, as differences between scrapes taken at marked moments.

use std::sync::Mutex;

use anyhow::{Context, Result, bail};

use super::{Counts, MetricSource, Rate, Reading, Watched};

/// The counters of one scrape.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Scrape {
    pub counts: Counts,
    pub accepted: u64,
}

/// Scrapes at the marks, as differences. The scrapes themselves (`route="/metrics"`) are left
/// out of the requests.
pub struct Prometheus {
    pub(super) client: reqwest::Client,
    url: String,
    /// `(epoch ms, scrape)` at each mark, oldest first.
    marks: Mutex<Vec<(u64, Scrape)>>,
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
            marks: Mutex::new(Vec::new()),
        })
    }

    async fn scrape(&self) -> Result<Scrape> {
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

    fn marks(&self) -> std::sync::MutexGuard<'_, Vec<(u64, Scrape)>> {
        self.marks.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl MetricSource for Prometheus {
    async fn mark(&self, _: &Watched, at_ms: u64) -> Result<()> {
        let now = self.scrape().await?;
        self.marks().push((at_ms, now));
        Ok(())
    }

    async fn read(&self, _: &Watched, since_ms: u64, now_ms: u64) -> Result<Reading> {
        let Some(base) = self
            .marks()
            .iter()
            .rev()
            .find(|(at, _)| *at <= since_ms)
            .map(|m| m.1)
        else {
            bail!("no scrape of {} at the shift to count from", self.url);
        };
        let now = self.scrape().await?;
        let window = since(base, now);
        Ok(Reading {
            counts: window.counts,
            accepted: Some(window.accepted),
            covers_to_ms: now_ms,
        })
    }

    async fn accepted_before(&self, _: &Watched, shift_ms: u64) -> Result<Option<Rate>> {
        let marks = self.marks();
        let upto: Vec<_> = marks.iter().filter(|(at, _)| *at <= shift_ms).collect();
        let [.., (from_ms, from), (to_ms, to)] = upto.as_slice() else {
            bail!(
                "no scrape of {} before the new colour started, so no rate before the shift",
                self.url
            );
        };
        Ok(Some(Rate {
            events: since(*from, *to).accepted,
            secs: to_ms.saturating_sub(*from_ms) / 1000,
        }))
    }

    fn describe(&self) -> String {
        format!(
            "eventflow_events_ingested_total and http_requests_total from {}",
            self.url
        )
    }
}

/// `now − base`; a counter that went down was reset (a task restarted): count from zero.
pub fn since(base: Scrape, now: Scrape) -> Scrape {
    if now.counts.requests < base.counts.requests
        || now.counts.errors < base.counts.errors
        || now.accepted < base.accepted
    {
        return now;
    }
    Scrape {
        counts: Counts {
            requests: now.counts.requests - base.counts.requests,
            errors: now.counts.errors - base.counts.errors,
        },
        accepted: now.accepted - base.accepted,
    }
}

/// Sums `http_requests_total` of a Prometheus text exposition (every series, and those whose
/// `status` is 5xx, except the scrapes of `/metrics`), and reads
/// `eventflow_events_ingested_total`.
pub fn parse_prometheus(text: &str) -> Scrape {
    let mut scrape = Scrape::default();
    for line in text.lines() {
        let Some((name, labels, value)) = sample(line) else {
            continue;
        };
        let label = |wanted: &str| {
            labels.split(',').find_map(|pair| {
                let (k, v) = pair.split_once('=')?;
                (k.trim() == wanted).then(|| v.trim().trim_matches('"'))
            })
        };
        match name {
            "http_requests_total" if label("route") != Some("/metrics") => {
                scrape.counts.requests += value;
                if label("status").is_some_and(|s| s.starts_with('5')) {
                    scrape.counts.errors += value;
                }
            }
            "eventflow_events_ingested_total" => scrape.accepted += value,
            _ => {}
        }
    }
    scrape
}

/// `name{labels} value` (or `name value`) of one exposition line.
fn sample(line: &str) -> Option<(&str, &str, u64)> {
    let end = line.find(['{', ' '])?;
    let (name, rest) = line.split_at(end);
    let (labels, value) = match rest.strip_prefix('{') {
        Some(rest) => rest.rsplit_once('}')?,
        None => ("", rest),
    };
    let value = value.split_whitespace().next()?.parse::<f64>().ok()?;
    // Counters are whole numbers; the exposition writes them as floats.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    Some((name, labels, value.max(0.0) as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(requests: u64, errors: u64, accepted: u64) -> Scrape {
        Scrape {
            counts: Counts { requests, errors },
            accepted,
        }
    }

    #[tokio::test]
    async fn the_metric_scrape_sends_a_user_agent() {
        let source = Prometheus::new("http://127.0.0.1:9/metrics").unwrap();
        assert_eq!(
            crate::user_agent::sent_by(&source.client).await.as_deref(),
            Some(crate::user_agent::USER_AGENT)
        );
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
# TYPE eventflow_events_ingested_total counter
eventflow_events_ingested_total 312
http_requests_totally_other 5
eventflow_build_info{git_sha="abc",version="0.1.0"} 1
"#;
        assert_eq!(parse_prometheus(text), s(200, 10, 312));
        assert_eq!(parse_prometheus(""), s(0, 0, 0));
    }

    #[test]
    fn the_window_is_the_difference_and_a_reset_counts_from_zero() {
        assert_eq!(since(s(100, 2, 40), s(250, 5, 90)), s(150, 3, 50));
        assert_eq!(since(s(100, 2, 40), s(30, 1, 5)), s(30, 1, 5));
        assert_eq!(since(s(100, 2, 40), s(150, 2, 5)), s(150, 2, 5));
    }
}
