//! CloudWatch as a metric source: the new colour's target groups in `AWS/ApplicationELB`, and
//! the accepted events the backend logs, counted by the log group's metric filter
//! (`infrastructure/modules/ecs`) into `EventFlow/<cluster>` `EventsAccepted`.

use anyhow::Result;
use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricStat};

use super::{Counts, MetricSource, Rate, Reading, Watched};

const MINUTE_MS: u64 = 60_000;
/// The metric filter's metric (infrastructure/modules/ecs/main.tf, `events_accepted`).
const ACCEPTED_METRIC: &str = "EventsAccepted";
/// The rate before a shift is taken over five whole minutes that end this long before it: ALB
/// and log metrics arrive up to three minutes late, and a minute not yet published would read
/// as a quiet one.
const BEFORE_LAG_MS: u64 = 3 * MINUTE_MS;
const BEFORE_WINDOW_MS: u64 = 5 * MINUTE_MS;

/// The namespace of a cluster's accepted-events metric.
pub fn accepted_namespace(cluster: &str) -> String {
    format!("EventFlow/{cluster}")
}

/// `GetMetricData` for the new colour's `RequestCount` and `HTTPCode_Target_5XX_Count` (both
/// dimensions: `TargetGroup` and `LoadBalancer`), and the service's `EventsAccepted`. The
/// balancer's own 5xx (`HTTPCode_ELB_5XX_Count`) are not the colour's: a 10% canary would count
/// the whole balancer's; the 5xx-rate alarm judges them.
pub struct CloudWatch {
    client: aws_sdk_cloudwatch::Client,
}

impl CloudWatch {
    pub fn new(config: &aws_config::SdkConfig) -> CloudWatch {
        CloudWatch {
            client: aws_sdk_cloudwatch::Client::new(config),
        }
    }

    /// Each query's `(id, [(minute start ms, value)])` over `[start_ms, end_ms)`.
    async fn fetch(
        &self,
        queries: Vec<MetricDataQuery>,
        start_ms: u64,
        end_ms: u64,
    ) -> Result<Vec<(String, Vec<(u64, f64)>)>> {
        let to_time = |ms: u64| {
            aws_sdk_cloudwatch::primitives::DateTime::from_millis(
                i64::try_from(ms).unwrap_or(i64::MAX),
            )
        };
        let mut pages = self
            .client
            .get_metric_data()
            .set_metric_data_queries(Some(queries))
            .start_time(to_time(start_ms))
            .end_time(to_time(end_ms))
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
                let points = r
                    .timestamps()
                    .iter()
                    .map(|t| u64::try_from(t.to_millis().unwrap_or(0)).unwrap_or(0))
                    .zip(r.values().iter().copied())
                    .collect();
                results.push((r.id().unwrap_or_default().to_owned(), points));
            }
        }
        Ok(results)
    }
}

impl MetricSource for CloudWatch {
    async fn mark(&self, _: &Watched, _: u64) -> Result<()> {
        Ok(())
    }

    async fn read(&self, watched: &Watched, since_ms: u64, now_ms: u64) -> Result<Reading> {
        let (load_balancer, target_groups) = dimensions(watched);
        // Whole minutes around the window: the metrics have one-minute periods.
        let start = since_ms / MINUTE_MS * MINUTE_MS;
        let end = (now_ms / MINUTE_MS + 1) * MINUTE_MS;
        let mut q = queries(load_balancer, &target_groups);
        q.push(accepted_query(&watched.cluster));
        let results = self.fetch(q, start, end).await?;
        Ok(reading(&results))
    }

    async fn accepted_before(&self, watched: &Watched, shift_ms: u64) -> Result<Option<Rate>> {
        let end = (shift_ms.saturating_sub(BEFORE_LAG_MS)) / MINUTE_MS * MINUTE_MS;
        let start = end.saturating_sub(BEFORE_WINDOW_MS);
        let results = self
            .fetch(vec![accepted_query(&watched.cluster)], start, end)
            .await?;
        Ok(Some(Rate {
            events: total(results.iter().flat_map(|(_, points)| points)),
            secs: BEFORE_WINDOW_MS / 1000,
        }))
    }

    fn describe(&self) -> String {
        "CloudWatch (AWS/ApplicationELB of the new colour's target groups; EventsAccepted)"
            .to_owned()
    }
}

fn dimensions(watched: &Watched) -> (&str, Vec<String>) {
    (
        crate::aws::arn_tail(&watched.load_balancer),
        watched
            .target_groups
            .iter()
            .map(|t| crate::aws::arn_tail(t).to_owned())
            .collect(),
    )
}

/// The GetMetricData queries of the new colour: ids `requests<i>` and `target5xx<i>` for each of
/// its target groups, each with the `TargetGroup` and `LoadBalancer` dimensions (ARN tails).
pub fn queries(load_balancer: &str, target_groups: &[String]) -> Vec<MetricDataQuery> {
    let query = |id: String, name: &str, tg: &str| {
        let metric = Metric::builder()
            .namespace("AWS/ApplicationELB")
            .metric_name(name)
            .dimensions(Dimension::builder().name("TargetGroup").value(tg).build())
            .dimensions(
                Dimension::builder()
                    .name("LoadBalancer")
                    .value(load_balancer)
                    .build(),
            );
        sum_per_minute(id, metric.build())
    };
    let mut out = Vec::new();
    for (i, tg) in target_groups.iter().enumerate() {
        out.push(query(format!("requests{i}"), "RequestCount", tg));
        out.push(query(
            format!("target5xx{i}"),
            "HTTPCode_Target_5XX_Count",
            tg,
        ));
    }
    out
}

fn accepted_query(cluster: &str) -> MetricDataQuery {
    let metric = Metric::builder()
        .namespace(accepted_namespace(cluster))
        .metric_name(ACCEPTED_METRIC)
        .build();
    sum_per_minute("accepted".to_owned(), metric)
}

fn sum_per_minute(id: String, metric: Metric) -> MetricDataQuery {
    MetricDataQuery::builder()
        .id(id)
        .metric_stat(
            MetricStat::builder()
                .metric(metric)
                .period(60)
                .stat("Sum")
                .build(),
        )
        .return_data(true)
        .build()
}

fn total<'a>(points: impl Iterator<Item = &'a (u64, f64)>) -> u64 {
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let total = points.map(|p| p.1).sum::<f64>().max(0.0).round() as u64;
    total
}

/// Adds up GetMetricData's answers by query id: the new colour's requests and target 5xx. Any
/// other id (the balancer's own 5xx, were it asked) is not the colour's and is left out.
pub fn sum_results(results: &[(String, Vec<(u64, f64)>)]) -> Counts {
    let sum = |prefix: &str| {
        total(
            results
                .iter()
                .filter(|(id, _)| id.starts_with(prefix))
                .flat_map(|(_, points)| points),
        )
    };
    Counts {
        requests: sum("requests"),
        errors: sum("target5xx"),
    }
}

/// The reading of a window's answers. Its data covers to the end of the newest minute the new
/// colour's request count was published for: ALB metrics arrive in order, a minute or three late,
/// and a minute with no requests publishes no datapoint (so it can't show coverage).
pub fn reading(results: &[(String, Vec<(u64, f64)>)]) -> Reading {
    let newest = results
        .iter()
        .filter(|(id, _)| id.starts_with("requests"))
        .flat_map(|(_, points)| points.iter().map(|p| p.0))
        .max();
    Reading {
        counts: sum_results(results),
        accepted: Some(total(
            results
                .iter()
                .filter(|(id, _)| id == "accepted")
                .flat_map(|(_, points)| points),
        )),
        covers_to_ms: newest.map_or(0, |start| start + MINUTE_MS),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{MIN_REQUESTS, THRESHOLD_PERCENT, Verdict, judge};

    fn show(q: &MetricDataQuery) -> String {
        let stat = q.metric_stat().unwrap();
        let m = stat.metric().unwrap();
        let dims: Vec<String> = m
            .dimensions()
            .iter()
            .map(|d| format!("{}={}", d.name().unwrap(), d.value().unwrap()))
            .collect();
        format!(
            "{} {}/{} {} {} {}",
            q.id().unwrap(),
            m.namespace().unwrap(),
            m.metric_name().unwrap(),
            stat.stat().unwrap(),
            stat.period().unwrap(),
            dims.join(",")
        )
    }

    #[test]
    fn cloudwatch_queries_ask_only_for_the_new_colours_target_groups() {
        let q = queries(
            "app/eventflow-production/50dc",
            &["targetgroup/eventflow-prod-backend-green/73e2".to_owned()],
        );
        let shown: Vec<String> = q.iter().map(show).collect();
        assert_eq!(
            shown,
            [
                "requests0 AWS/ApplicationELB/RequestCount Sum 60 TargetGroup=targetgroup/eventflow-prod-backend-green/73e2,LoadBalancer=app/eventflow-production/50dc",
                "target5xx0 AWS/ApplicationELB/HTTPCode_Target_5XX_Count Sum 60 TargetGroup=targetgroup/eventflow-prod-backend-green/73e2,LoadBalancer=app/eventflow-production/50dc",
            ]
        );
        assert_eq!(
            show(&accepted_query("eventflow-production")),
            "accepted EventFlow/eventflow-production/EventsAccepted Sum 60 "
        );
    }

    fn at(minute: u64, value: f64) -> (u64, f64) {
        (minute * MINUTE_MS, value)
    }

    #[test]
    fn cloudwatch_answers_are_summed_by_query() {
        // GetMetricData's results as AWS returns them: one value per minute, per query.
        let results = [
            ("requests0".to_owned(), vec![at(1, 400.0), at(2, 380.0)]),
            ("requests1".to_owned(), vec![at(1, 220.0)]),
            ("target5xx0".to_owned(), vec![at(1, 30.0), at(2, 14.0)]),
            ("target5xx1".to_owned(), vec![]),
            ("accepted".to_owned(), vec![at(1, 700.0), at(2, 650.0)]),
        ];
        let r = reading(&results);
        assert_eq!(
            r,
            Reading {
                counts: Counts {
                    requests: 1000,
                    errors: 44
                },
                accepted: Some(1350),
                covers_to_ms: 3 * MINUTE_MS,
            }
        );
        assert_eq!(
            judge(r.counts, THRESHOLD_PERCENT, MIN_REQUESTS),
            Verdict::Healthy
        );
        let spiking = [
            ("requests0".to_owned(), vec![at(1, 100.0)]),
            ("target5xx0".to_owned(), vec![at(1, 9.0)]),
        ];
        assert_eq!(
            judge(sum_results(&spiking), THRESHOLD_PERCENT, MIN_REQUESTS),
            Verdict::Tripped
        );
    }

    #[test]
    fn old_colour_errors_do_not_trip_the_canary() {
        // A 10% canary: green answered 1000 requests with 3 errors; blue's 400 errors show in
        // the balancer-wide count only. Adding those to green's requests read 40.3%.
        let results = [
            ("requests0".to_owned(), vec![at(1, 1000.0)]),
            ("target5xx0".to_owned(), vec![at(1, 3.0)]),
            ("elb5xx".to_owned(), vec![at(1, 400.0)]),
        ];
        let counts = sum_results(&results);
        assert_eq!(
            counts,
            Counts {
                requests: 1000,
                errors: 3
            }
        );
        assert_eq!(
            judge(counts, THRESHOLD_PERCENT, MIN_REQUESTS),
            Verdict::Healthy
        );
    }

    #[test]
    fn the_data_covers_to_the_end_of_the_newest_request_minute() {
        let lagging = [
            ("requests0".to_owned(), vec![at(10, 100.0), at(11, 90.0)]),
            ("target5xx0".to_owned(), vec![]),
            // The log metric published a later minute: it proves nothing about the balancer's.
            ("accepted".to_owned(), vec![at(12, 50.0)]),
        ];
        assert_eq!(reading(&lagging).covers_to_ms, 12 * MINUTE_MS);
        assert_eq!(reading(&[]).covers_to_ms, 0, "no data covers nothing");
    }
}
