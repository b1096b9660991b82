//! The `jti` cache that makes every client assertion single-use (RFC 7523 §3 item 7).
//!
//! An entry lives exactly as long as its assertion could still be accepted (its `exp` plus the
//! clock leeway); after that the expiry check refuses the assertion anyway, so the entry is
//! dropped. Memory is therefore bounded by the assertion rate times the maximum assertion
//! lifetime, and a hard capacity stops even a misbehaving registered client from growing it
//! further (the cache then fails closed).

use std::cmp::Reverse;
use std::collections::hash_map::Entry;
use std::collections::{BinaryHeap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};

/// Why a `jti` was not recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ReplayError {
    /// The same client already used this `jti` and the earlier assertion has not expired.
    #[error("the jti has already been used")]
    Replayed,
    /// The cache holds `capacity` live entries; new assertions are refused until some expire.
    #[error("the replay cache is full")]
    Full,
}

type Key = Arc<(String, String)>;

#[derive(Default)]
struct Inner {
    /// (client_id, jti) → the time (seconds since the epoch) the entry may be forgotten.
    seen: HashMap<Key, i64>,
    /// The same entries ordered by that time, soonest first, for pruning.
    by_expiry: BinaryHeap<Reverse<(i64, Key)>>,
}

/// A thread-safe cache of used `(client_id, jti)` pairs.
pub struct ReplayCache {
    inner: Mutex<Inner>,
    capacity: usize,
}

impl Default for ReplayCache {
    fn default() -> ReplayCache {
        ReplayCache::with_capacity(ReplayCache::DEFAULT_CAPACITY)
    }
}

impl std::fmt::Debug for ReplayCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplayCache")
            .field("len", &self.len())
            .field("capacity", &self.capacity)
            .finish()
    }
}

impl ReplayCache {
    /// Room for about 300 token requests a second sustained over the 5½-minute window an
    /// assertion can live.
    pub const DEFAULT_CAPACITY: usize = 100_000;

    pub fn with_capacity(capacity: usize) -> ReplayCache {
        ReplayCache {
            inner: Mutex::new(Inner::default()),
            capacity,
        }
    }

    /// Records `(client_id, jti)` until `remember_until` if it is not already recorded. Check
    /// and insert happen under one lock, so of two concurrent uses of a `jti` exactly one
    /// succeeds. Entries whose time has passed (`< now`) are pruned first.
    pub fn check_and_set(
        &self,
        client_id: &str,
        jti: &str,
        remember_until: i64,
        now: i64,
    ) -> Result<(), ReplayError> {
        let mut guard = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let inner = &mut *guard;
        inner.prune(now);
        let key: Key = Arc::new((client_id.to_owned(), jti.to_owned()));
        let full = inner.seen.len() >= self.capacity;
        match inner.seen.entry(key.clone()) {
            Entry::Occupied(_) => Err(ReplayError::Replayed),
            Entry::Vacant(_) if full => Err(ReplayError::Full),
            Entry::Vacant(slot) => {
                slot.insert(remember_until);
                inner.by_expiry.push(Reverse((remember_until, key)));
                Ok(())
            }
        }
    }

    /// True when the pair is recorded and not yet forgettable at `now`.
    pub fn contains(&self, client_id: &str, jti: &str, now: i64) -> bool {
        let inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let key = (client_id.to_owned(), jti.to_owned());
        inner.seen.get(&key).is_some_and(|until| *until >= now)
    }

    /// Drops every entry whose time has passed. `check_and_set` does this itself; call it from
    /// a timer to release memory when no tokens are being requested.
    pub fn prune(&self, now: i64) {
        self.inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .prune(now);
    }

    pub fn len(&self) -> usize {
        self.inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .seen
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }
}

impl Inner {
    fn prune(&mut self, now: i64) {
        while let Some(Reverse((until, _))) = self.by_expiry.peek() {
            if *until >= now {
                break;
            }
            if let Some(Reverse((_, key))) = self.by_expiry.pop() {
                self.seen.remove(&key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Barrier;

    #[test]
    fn a_jti_is_accepted_once_per_client() {
        let cache = ReplayCache::default();
        assert_eq!(cache.check_and_set("a", "j1", 200, 100), Ok(()));
        assert_eq!(
            cache.check_and_set("a", "j1", 200, 150),
            Err(ReplayError::Replayed)
        );
        // the same jti from another client is a different assertion
        assert_eq!(cache.check_and_set("b", "j1", 200, 150), Ok(()));
        assert!(cache.contains("a", "j1", 150));
        assert_eq!(cache.len(), 2);
    }

    #[test]
    fn entries_are_kept_until_their_time_and_then_pruned() {
        let cache = ReplayCache::default();
        cache.check_and_set("a", "old", 100, 50).expect("fresh");
        cache.check_and_set("a", "new", 300, 50).expect("fresh");
        // at exactly its time the entry still counts (the assertion is still acceptable then)
        assert_eq!(
            cache.check_and_set("a", "old", 100, 100),
            Err(ReplayError::Replayed)
        );
        cache.prune(101);
        assert_eq!(cache.len(), 1);
        assert!(!cache.contains("a", "old", 101));
        assert!(cache.contains("a", "new", 101));
        // a later insert prunes too
        cache.check_and_set("b", "x", 400, 301).expect("fresh");
        assert_eq!(cache.len(), 1);
        assert!(!cache.is_empty());
    }

    #[test]
    fn memory_stays_bounded_under_a_steady_stream() {
        let cache = ReplayCache::default();
        // one assertion a second, each remembered for 330 s, for an hour
        for t in 0..3600_i64 {
            cache
                .check_and_set("a", &format!("jti-{t}"), t + 330, t)
                .expect("fresh");
        }
        assert!(cache.len() <= 331, "len {}", cache.len());
    }

    #[test]
    fn a_full_cache_fails_closed() {
        let cache = ReplayCache::with_capacity(2);
        cache.check_and_set("a", "1", 100, 0).expect("fresh");
        cache.check_and_set("a", "2", 100, 0).expect("fresh");
        assert_eq!(
            cache.check_and_set("a", "3", 100, 0),
            Err(ReplayError::Full)
        );
        // a replay is still reported as a replay
        assert_eq!(
            cache.check_and_set("a", "1", 100, 0),
            Err(ReplayError::Replayed)
        );
        // once entries expire there is room again
        assert_eq!(cache.check_and_set("a", "3", 300, 101), Ok(()));
        assert_eq!(cache.capacity(), 2);
    }

    #[test]
    fn concurrent_uses_of_one_jti_have_exactly_one_winner() {
        let cache = Arc::new(ReplayCache::default());
        let barrier = Arc::new(Barrier::new(16));
        let handles: Vec<_> = (0..16)
            .map(|_| {
                let cache = cache.clone();
                let barrier = barrier.clone();
                std::thread::spawn(move || {
                    barrier.wait();
                    cache.check_and_set("a", "same", 1000, 0).is_ok()
                })
            })
            .collect();
        let wins = handles
            .into_iter()
            .map(|h| h.join().unwrap_or(false))
            .filter(|won| *won)
            .count();
        assert_eq!(wins, 1);
    }
}
