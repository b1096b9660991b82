//! Per-application rate limiting: a token bucket per client, refilled continuously.
//!
//! Keyed by the application a verified access token names, and consulted only after the bearer
//! check found that application registered, so no unauthenticated client can add a key. Even
//! so the map does not keep what it no longer needs: a bucket untouched for a minute has
//! refilled, and a full bucket is exactly what a client without one gets, so such buckets are
//! dropped once the map passes [`PRUNE_ABOVE`] (applications withdrawn, or idle, cost nothing).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Buckets kept before refilled ones are dropped; a new key past this prunes first.
const PRUNE_ABOVE: usize = 1_024;

/// The longest a bucket takes to refill from empty: its allowance is a minute's.
const REFILL: Duration = Duration::from_secs(60);

struct Bucket {
    tokens: f64,
    updated: Instant,
}

#[derive(Default)]
pub struct RateLimiter {
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl RateLimiter {
    /// Takes one request from `client`'s allowance of `per_minute` (a bucket of that size,
    /// refilled evenly over a minute). `Err` carries how long until the next request is allowed.
    pub fn check(&self, client: &str, per_minute: u32) -> Result<(), Duration> {
        self.check_at(client, per_minute, Instant::now())
    }

    fn check_at(&self, client: &str, per_minute: u32, now: Instant) -> Result<(), Duration> {
        if per_minute == 0 {
            return Err(REFILL);
        }
        let capacity = f64::from(per_minute);
        let rate = capacity / REFILL.as_secs_f64();
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() >= PRUNE_ABOVE && !buckets.contains_key(client) {
            buckets.retain(|_, b| now.saturating_duration_since(b.updated) < REFILL);
        }
        let bucket = buckets.entry(client.to_string()).or_insert(Bucket {
            tokens: capacity,
            updated: now,
        });
        let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * rate).min(capacity);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - bucket.tokens) / rate))
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.buckets.lock().map_or(0, |b| b.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allows_a_burst_then_refills() {
        let limiter = RateLimiter::default();
        let t0 = Instant::now();
        for _ in 0..60 {
            limiter.check_at("app", 60, t0).unwrap();
        }
        let wait = limiter.check_at("app", 60, t0).unwrap_err();
        assert!(wait <= Duration::from_secs(1) && wait > Duration::from_millis(900));
        limiter
            .check_at("app", 60, t0 + Duration::from_secs(1))
            .unwrap();
        // Another application has its own allowance.
        limiter.check_at("other", 60, t0).unwrap();
    }

    #[test]
    fn refilled_buckets_are_dropped_and_spent_ones_kept() {
        let limiter = RateLimiter::default();
        let t0 = Instant::now();
        // Many applications that each called once...
        for i in 0..PRUNE_ABOVE * 3 {
            limiter.check_at(&format!("app-{i}"), 10, t0).unwrap();
        }
        // ...a minute before another used up its allowance.
        let t1 = t0 + REFILL;
        for _ in 0..10 {
            limiter.check_at("spent", 10, t1).unwrap();
        }
        // The next new application prunes the refilled buckets, not the spent one.
        limiter.check_at("new", 10, t1).unwrap();
        assert_eq!(limiter.len(), 2);
        assert!(limiter.check_at("spent", 10, t1).is_err());

        // Ten applications a second, each calling once, for twenty minutes: the buckets kept
        // are those of the last minute, never more than the pruning threshold.
        let mut most = 0;
        for i in 0..12_000u32 {
            let now = t1 + Duration::from_millis(100) * i;
            limiter.check_at(&format!("caller-{i}"), 10, now).unwrap();
            most = most.max(limiter.len());
        }
        assert!(most <= PRUNE_ABOVE, "{most} buckets");
    }
}
