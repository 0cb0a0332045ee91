//! The per-API-key rate limit: a token bucket per key (governor's GCRA), `API_KEY_RATE_LIMIT`
//! requests per second with bursts of `API_KEY_RATE_BURST`. A key over it gets 429 with
//! `Retry-After`; other keys are untouched.
//!
//! Keys are counted after they authenticate, so only real keys get a bucket and the map stays
//! as small as the `api_keys` table: random keys sent by a flood cost a lookup, not memory
//! (the load balancer's per-IP rule is what bounds those).

use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

pub struct ApiKeyRateLimiter {
    limiter: DefaultKeyedRateLimiter<i64>,
    clock: DefaultClock,
}

impl ApiKeyRateLimiter {
    pub fn new(per_second: u32, burst: u32) -> Self {
        let per_second = NonZeroU32::new(per_second).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
        Self {
            limiter: RateLimiter::keyed(Quota::per_second(per_second).allow_burst(burst)),
            clock: DefaultClock::default(),
        }
    }

    /// Takes one request from `key_id`'s bucket, or says how long until one is available.
    pub fn check(&self, key_id: i64) -> Result<(), Duration> {
        self.limiter
            .check_key(&key_id)
            .map_err(|not_until| not_until.wait_time_from(self.clock.now()))
    }
}

/// `Retry-After` is whole seconds: round up, so a client that waits that long gets through.
pub fn retry_after_secs(wait: Duration) -> u64 {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    secs.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_refusal_per_key() {
        let limiter = ApiKeyRateLimiter::new(1, 3);
        for _ in 0..3 {
            assert_eq!(limiter.check(7), Ok(()));
        }
        let wait = limiter.check(7).unwrap_err();
        assert!(wait <= Duration::from_secs(1), "{wait:?}");
        // Another key has a bucket of its own.
        assert_eq!(limiter.check(8), Ok(()));
    }

    #[test]
    fn retry_after_rounds_up() {
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1000)), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1001)), 2);
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
    }
}
