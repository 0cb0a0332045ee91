//! The bake's watch over time: it reads the source every poll, rolls back on a tripped error
//! rate or collapsed ingestion, and passes only when it has seen the whole bake.
//!
//! Blind is a failure, never a pass:
//! - two reads in a row that fail (permissions, throttling, an unreachable `/metrics`) end the
//!   bake: one failure is retried at the next poll;
//! - the bake's time ends only when a successful read covers its end (CloudWatch: a datapoint
//!   of the new colour's requests for the minute holding the end; Prometheus: a scrape after
//!   it). ALB metrics arrive 1–3 minutes late, so the watch goes on after the bake's time for
//!   up to [`LAG_LIMIT`]; data that still doesn't cover the end by then ends the bake.

use std::time::Duration;

use tokio::time::Instant;

use super::{Ingestion, MetricSource, Rate, Reading, Verdict, Watched, judge};
use crate::console::{Cancel, Console, interrupted};
use crate::ledger::Colour;
use crate::time;

/// This many failed reads in a row and the watch is blind.
pub const BLIND_AFTER_FAILED_READS: u32 = 2;
/// How long after the bake's time the watch waits for data that covers its end.
pub const LAG_LIMIT: Duration = Duration::from_secs(300);

/// One bake: `share` percent of the traffic on `colour` for `bake`, read every `poll`.
pub struct Bake {
    pub share: i32,
    pub colour: Colour,
    pub bake: Duration,
    pub poll: Duration,
}

/// What the watch has learnt so far.
#[derive(Default)]
struct Seen {
    /// When the window began (the mark at the shift), epoch ms.
    since_ms: Option<u64>,
    /// The accepted-events rate before the shift; `Some(None)` when the source can't see it.
    before: Option<Option<Rate>>,
    failed_in_a_row: u32,
    last: Option<Reading>,
    last_ingestion: Option<Ingestion>,
}

/// Watches the bake; `Err(reason)` when it trips, when ingestion collapses, when it is blind,
/// or on Ctrl-C.
pub async fn watch<M: MetricSource>(
    console: &Console,
    cancel: &mut Cancel,
    metrics: &M,
    watched: &Watched,
    bake: &Bake,
) -> Result<(), String> {
    let Bake {
        share,
        colour,
        bake: length,
        poll,
    } = *bake;
    // One clock for the bake: wall-clock at the start, then the runtime's (which tests pause).
    let started = Instant::now();
    let start_ms = time::now_ms();
    let now_ms = || start_ms + millis(started.elapsed());
    let end = started + length;
    let end_ms = start_ms + millis(length);
    let give_up = end + LAG_LIMIT;
    let poll = poll.min(length.max(Duration::from_secs(1)));
    console.say(format!(
        "baking {share}% on {colour} for {}s, from {}: rolls back when over {}% of at least {} requests fail, when accepted events fall under {}% of the rate before the shift while requests arrive, and when blind ({} failed reads in a row, or no data covering the bake's end within {}s after it)",
        length.as_secs(),
        metrics.describe(),
        super::THRESHOLD_PERCENT,
        super::MIN_REQUESTS,
        super::judge::COLLAPSE_PERCENT,
        BLIND_AFTER_FAILED_READS,
        LAG_LIMIT.as_secs(),
    ));
    let mut seen = Seen::default();
    let mut said_waiting = false;
    let mut first = true;
    loop {
        if !first {
            let wait = if Instant::now() < end {
                poll.min(end.saturating_duration_since(Instant::now()))
            } else {
                poll.min(give_up.saturating_duration_since(Instant::now()))
            };
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = interrupted(cancel) => return Err("interrupted (Ctrl-C) during the bake".to_owned()),
            }
        }
        let now = now_ms();
        match read_once(metrics, watched, &mut seen, now, first).await {
            Err(e) => {
                seen.failed_in_a_row += 1;
                console.say(format!(
                    "  reading the metrics failed ({} in a row): {e:#}",
                    seen.failed_in_a_row
                ));
                if seen.failed_in_a_row >= BLIND_AFTER_FAILED_READS {
                    return Err(format!(
                        "the metric watch on {colour} is blind: {} reads in a row failed (last: {e:#}); a bake that can't be seen is not verified",
                        seen.failed_in_a_row
                    ));
                }
            }
            Ok(None) => {}
            Ok(Some(reading)) => {
                seen.failed_in_a_row = 0;
                judge_reading(console, &mut seen, reading, colour)?;
                if Instant::now() >= end && reading.covers_to_ms >= end_ms {
                    console.say(format!(
                        "  the data covers the bake's end ({})",
                        time::iso8601(end_ms)
                    ));
                    return Ok(());
                }
            }
        }
        first = false;
        if Instant::now() >= end && !said_waiting {
            said_waiting = true;
            console.say(format!(
                "  the bake's {}s are over; watching on until the data covers its end ({}), at most {}s more (metrics arrive late)",
                length.as_secs(),
                time::iso8601(end_ms),
                LAG_LIMIT.as_secs()
            ));
        }
        if Instant::now() >= give_up {
            let newest = seen
                .last
                .map_or("none".to_owned(), |r| time::iso8601(r.covers_to_ms));
            return Err(format!(
                "the metric watch on {colour} is blind: no data covered the bake's end ({}) within {}s after it (newest data to {newest}); a bake that can't be seen is not verified",
                time::iso8601(end_ms),
                LAG_LIMIT.as_secs()
            ));
        }
    }
}

/// Marks the shift if not yet marked, reads the rate before it if not yet read, then reads the
/// window. `Ok(None)` for the first pass, which only marks (nothing has happened yet).
async fn read_once<M: MetricSource>(
    metrics: &M,
    watched: &Watched,
    seen: &mut Seen,
    now_ms: u64,
    first: bool,
) -> anyhow::Result<Option<Reading>> {
    let since_ms = match seen.since_ms {
        Some(since) => since,
        None => {
            metrics.mark(watched, now_ms).await?;
            seen.since_ms = Some(now_ms);
            now_ms
        }
    };
    if seen.before.is_none() {
        seen.before = Some(metrics.accepted_before(watched, since_ms).await?);
    }
    if first {
        return Ok(None);
    }
    Ok(Some(metrics.read(watched, since_ms, now_ms).await?))
}

/// Judges one reading and says what changed; `Err(reason)` to roll back.
fn judge_reading(
    console: &Console,
    seen: &mut Seen,
    reading: Reading,
    colour: Colour,
) -> Result<(), String> {
    let counts = reading.counts;
    let verdict = judge(counts, super::THRESHOLD_PERCENT, super::MIN_REQUESTS);
    if verdict == Verdict::Tripped {
        return Err(format!(
            "the error rate on {colour} is over {}%: {}",
            super::THRESHOLD_PERCENT,
            counts.describe()
        ));
    }
    if seen.last.map(|r| r.counts) != Some(counts) {
        console.say(format!(
            "  {}{}",
            counts.describe(),
            if verdict == Verdict::TooFew {
                " (too few to judge yet)"
            } else {
                ""
            }
        ));
    }
    seen.last = Some(reading);
    let (Some(Some(before)), Some(accepted)) = (seen.before, reading.accepted) else {
        if seen.last_ingestion.is_none() {
            console.say("  accepted events: this source can't see them, not judged");
            seen.last_ingestion = Some(Ingestion::QuietBefore);
        }
        return Ok(());
    };
    let during = Rate {
        events: accepted,
        secs: reading
            .covers_to_ms
            .saturating_sub(seen.since_ms.unwrap_or_default())
            / 1000,
    };
    let ingestion = super::judge_ingestion(before, during, counts.requests);
    if ingestion == Ingestion::Collapsed {
        return Err(format!(
            "event ingestion collapsed after the shift to {colour}: {} against {} before it (under {}%) while {} requests arrived",
            during.describe(),
            before.describe(),
            super::judge::COLLAPSE_PERCENT,
            counts.requests
        ));
    }
    if seen.last_ingestion != Some(ingestion) {
        let why = match ingestion {
            Ingestion::QuietBefore => format!(
                "not judged: {} before the shift is under {} a minute",
                before.describe(),
                super::judge::MIN_BEFORE_PER_MINUTE
            ),
            Ingestion::TooSoon => "too soon to judge (under a minute of data)".to_owned(),
            Ingestion::NoRequests => "not judged: too few requests to expect any".to_owned(),
            Ingestion::Flowing | Ingestion::Collapsed => {
                format!("flowing ({} before the shift)", before.describe())
            }
        };
        console.say(format!("  accepted events: {}, {why}", during.describe()));
        seen.last_ingestion = Some(ingestion);
    }
    Ok(())
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
