//! The bake's decisions, on plain numbers: the new colour's error rate, and whether the
//! service's event ingestion collapsed after the shift.

use super::{Counts, Rate};

/// More than this share of 5xx answers trips the watch: 5%, the design's threshold.
pub const THRESHOLD_PERCENT: u64 = 5;
/// Below this many requests the rate says nothing (three requests, one failed, is not 33%).
pub const MIN_REQUESTS: u64 = 50;

/// Ingestion has collapsed when the accepted-events rate since the shift is under this share of
/// the rate before it.
pub const COLLAPSE_PERCENT: u64 = 10;
/// Before the shift the service must have accepted at least this many events a minute for a
/// drop to mean anything (a quiet night's two events a minute can drop to none by chance).
pub const MIN_BEFORE_PER_MINUTE: u64 = 10;
/// The rate since the shift is judged over at least a minute of data, never a lone scrape.
pub const MIN_DURING_SECS: u64 = 60;

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

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ingestion {
    /// Too few events before the shift for a drop to mean anything.
    QuietBefore,
    /// Less than [`MIN_DURING_SECS`] of data since the shift.
    TooSoon,
    /// Fewer than [`MIN_REQUESTS`] requests reached the new colour: no traffic, nothing to ingest.
    NoRequests,
    /// At or over [`COLLAPSE_PERCENT`] of the rate before.
    Flowing,
    /// Under [`COLLAPSE_PERCENT`] of the rate before while requests still arrive: roll back.
    Collapsed,
}

/// Whether the accepted-events rate `during` the bake collapsed against the rate `before` the
/// shift, with `requests` reaching the new colour meanwhile.
pub fn judge_ingestion(before: Rate, during: Rate, requests: u64) -> Ingestion {
    if before.secs == 0 || before.events * 60 < MIN_BEFORE_PER_MINUTE * before.secs {
        return Ingestion::QuietBefore;
    }
    if during.secs < MIN_DURING_SECS {
        return Ingestion::TooSoon;
    }
    if requests < MIN_REQUESTS {
        return Ingestion::NoRequests;
    }
    // during/during.secs < 10% × before/before.secs, without dividing.
    if during.events * 100 * before.secs < COLLAPSE_PERCENT * before.events * during.secs {
        Ingestion::Collapsed
    } else {
        Ingestion::Flowing
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(requests: u64, errors: u64) -> Counts {
        Counts { requests, errors }
    }

    fn r(events: u64, secs: u64) -> Rate {
        Rate { events, secs }
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
    fn ingestion_under_a_tenth_of_the_rate_before_while_requests_arrive_collapsed() {
        // 600 a minute before; 9 a minute since the shift is under 10%.
        assert_eq!(
            judge_ingestion(r(3000, 300), r(18, 120), 500),
            Ingestion::Collapsed
        );
        assert_eq!(
            judge_ingestion(r(3000, 300), r(0, 120), 500),
            Ingestion::Collapsed
        );
        // Exactly 10% is not under; half the rate is a quieter minute, not a collapse.
        assert_eq!(
            judge_ingestion(r(3000, 300), r(120, 120), 500),
            Ingestion::Flowing
        );
        assert_eq!(
            judge_ingestion(r(3000, 300), r(600, 120), 500),
            Ingestion::Flowing
        );
    }

    #[test]
    fn ingestion_is_not_judged_on_a_quiet_before_a_short_window_or_no_requests() {
        assert_eq!(
            judge_ingestion(r(40, 300), r(0, 120), 500),
            Ingestion::QuietBefore,
            "8 a minute is under the minimum"
        );
        assert_eq!(
            judge_ingestion(r(0, 0), r(0, 120), 500),
            Ingestion::QuietBefore
        );
        assert_eq!(
            judge_ingestion(r(3000, 300), r(0, 59), 500),
            Ingestion::TooSoon
        );
        assert_eq!(
            judge_ingestion(r(3000, 300), r(0, 120), 49),
            Ingestion::NoRequests,
            "no traffic: nothing to ingest"
        );
    }
}
