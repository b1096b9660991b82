//! The current version of recently read appointments, kept in memory so that a read of one
//! does not step a SQLite statement.
//!
//! A read of an appointment is where a receiver spends most of its life (a sender views,
//! updates, cancels and rebooks by id, and each of those reads first), and on SQLite its lookup
//! was the largest single cost of a read: a read transaction with the write-ahead log's locks,
//! a statement's step and reset, and the row decoded, about a fifth of the receiver's CPU per
//! read, profiled. Only the SQLite backend keeps one: a SQLite file is written by one process
//! (its writer thread), so every change passes through [`SqliteStore`](super::SqliteStore) and
//! can be seen here; PostgreSQL serves several instances, which would each need the others'
//! changes.
//!
//! What must hold: once a change of an appointment has been committed and its caller told,
//! no read answers an older version from here. The protocol (all under one small lock, which
//! reads that find their entry never take):
//!
//! - a change of an existing appointment first marks it *changing* and removes its entry; when
//!   the change is over (committed or not) it removes the entry again and unmarks it. Every
//!   start and end advances the *epoch*.
//! - a read that misses takes the epoch before its read transaction begins and offers what it
//!   read afterwards; the offer is kept only if the epoch has not moved and nothing it might
//!   concern is changing. A read that began before a change began, or while one was under
//!   way, may have seen the version before it; its offer is dropped.
//!
//! A change whose appointment is not known until it runs (a pointer job names its
//! appointment in the outbox row) marks *everything* changing while it runs, then removes the
//! one it touched. Creating an appointment needs nothing: only found appointments are kept,
//! and a read that found none keeps nothing.
//!
//! Hand-written rather than a crate's because the protocol is the point: a cache crate keeps
//! entries, not the ordering between a read's snapshot and a writer's commit.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::model::AppointmentRecord;

/// Bytes of appointments kept: about 1,500 appointments of a couple of kilobytes, the ones
/// read lately (a clinic's coming days, a sender's recent bookings). 8 MiB took the receiver's
/// peak from 44 to 57 MB in `bars bench`, against a budget of 64 MB; this takes it to about 51.
const KEPT_BYTES: u64 = 4 * 1024 * 1024;
/// What an entry costs besides its body: the record's other fields and the cache's own.
const ENTRY_OVERHEAD: u64 = 320;

#[derive(Clone)]
struct ByBytes;

impl quick_cache::Weighter<String, Arc<AppointmentRecord>> for ByBytes {
    fn weight(&self, _id: &String, record: &Arc<AppointmentRecord>) -> u64 {
        record.body.len() as u64 + ENTRY_OVERHEAD
    }
}

pub(super) struct AppointmentCache {
    entries: quick_cache::sync::Cache<String, Arc<AppointmentRecord>, ByBytes>,
    changes: Mutex<Changes>,
}

#[derive(Default)]
struct Changes {
    epoch: u64,
    /// Appointments with a change under way, and how many.
    changing: HashMap<String, usize>,
    /// Changes under way whose appointment is not yet known.
    changing_unknown: usize,
}

/// When a missed read began: its offer is kept only if nothing changed since.
#[derive(Debug, Clone, Copy)]
pub(super) struct Ticket(u64);

/// A change under way, from [`AppointmentCache::change`] until it is dropped. It is moved into
/// the write job, so it is dropped when the job is: after its batch committed or rolled back
/// and before its caller is told (see `writer::Work::deliver`), or unsent when the caller gave
/// up before the writer took it. Either way nothing the job wrote can still be in flight.
pub(super) struct Change {
    cache: Arc<AppointmentCache>,
    /// The appointment to forget when the change is over: named at the start, or by
    /// [`Change::touched`] once a change of an unknown one has run.
    id: Option<String>,
    /// Whether the appointment was named at the start (what the change marked).
    named: bool,
}

impl Change {
    /// Names the appointment a change of an unknown one concerns, once it has run.
    pub(super) fn touched(&mut self, id: &str) {
        self.id = Some(id.to_string());
    }
}

impl Drop for Change {
    fn drop(&mut self) {
        self.cache.end(self.id.as_deref(), self.named);
    }
}

impl AppointmentCache {
    pub(super) fn new() -> AppointmentCache {
        AppointmentCache {
            entries: quick_cache::sync::Cache::with_weighter(
                (KEPT_BYTES / 2048) as usize,
                KEPT_BYTES,
                ByBytes,
            ),
            changes: Mutex::new(Changes::default()),
        }
    }

    /// The lock is never held across anything that can panic, but a poisoned one still guards
    /// consistent counters, so its state is used rather than failing every read.
    fn changes(&self) -> MutexGuard<'_, Changes> {
        self.changes.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) fn get(&self, id: &str) -> Option<AppointmentRecord> {
        self.entries.get(id).map(|r| (*r).clone())
    }

    /// Taken before a missed read's transaction begins.
    pub(super) fn ticket(&self) -> Ticket {
        Ticket(self.changes().epoch)
    }

    /// Keeps what a read found, unless something may have changed it since `ticket`.
    pub(super) fn offer(&self, ticket: Ticket, record: &AppointmentRecord) {
        let changes = self.changes();
        if changes.epoch == ticket.0
            && changes.changing_unknown == 0
            && !changes.changing.contains_key(&record.id)
        {
            self.entries
                .insert(record.id.clone(), Arc::new(record.clone()));
        }
    }

    /// Marks a change of appointment `id` (`None`: not known until it runs) as under way until
    /// the returned [`Change`] is dropped, and forgets what was kept of it.
    pub(super) fn change(self: &Arc<Self>, id: Option<&str>) -> Change {
        let mut changes = self.changes();
        changes.epoch += 1;
        match id {
            Some(id) => {
                *changes.changing.entry(id.to_string()).or_default() += 1;
                self.entries.remove(id);
            }
            None => changes.changing_unknown += 1,
        }
        Change {
            cache: self.clone(),
            id: id.map(str::to_string),
            named: id.is_some(),
        }
    }

    fn end(&self, id: Option<&str>, named: bool) {
        let mut changes = self.changes();
        changes.epoch += 1;
        if let Some(id) = id {
            self.entries.remove(id);
        }
        match id.filter(|_| named) {
            Some(id) => {
                if let Some(n) = changes.changing.get_mut(id) {
                    *n -= 1;
                    if *n == 0 {
                        changes.changing.remove(id);
                    }
                }
            }
            None => changes.changing_unknown = changes.changing_unknown.saturating_sub(1),
        }
    }
}

#[cfg(test)]
mod tests {
    use bars_booking::AppointmentStatus;
    use bars_fhir::Instant;

    use super::*;

    fn record(id: &str, version: u64) -> AppointmentRecord {
        AppointmentRecord {
            id: id.into(),
            version,
            status: AppointmentStatus::Booked,
            service_id: Some("s".into()),
            patient: None,
            start: None,
            end: None,
            created: Instant::from_unix_nanos(0, 0),
            last_updated: Instant::from_unix_nanos(0, 0),
            held_slots: vec![],
            pointer_id: None,
            body: format!("{{\"version\":{version}}}"),
        }
    }

    #[test]
    fn a_read_nothing_changed_under_is_kept() {
        let cache = AppointmentCache::new();
        let ticket = cache.ticket();
        cache.offer(ticket, &record("a", 1));
        assert_eq!(cache.get("a").map(|r| r.version), Some(1));
        assert!(cache.get("b").is_none());
    }

    /// The read began before the change: it may hold the version the change replaced.
    #[test]
    fn a_read_that_began_before_a_change_is_not_kept() {
        let cache = Arc::new(AppointmentCache::new());
        let ticket = cache.ticket();
        drop(cache.change(Some("a")));
        cache.offer(ticket, &record("a", 1));
        assert!(cache.get("a").is_none());
    }

    /// The read began while the change was under way, before its commit.
    #[test]
    fn a_read_during_a_change_is_not_kept_even_when_it_ends_first() {
        let cache = Arc::new(AppointmentCache::new());
        let change = cache.change(Some("a"));
        let ticket = cache.ticket();
        cache.offer(ticket, &record("a", 1));
        assert!(cache.get("a").is_none());
        drop(change);
        // Taken after the change is over: what it reads is the committed version.
        let ticket = cache.ticket();
        cache.offer(ticket, &record("a", 2));
        assert_eq!(cache.get("a").map(|r| r.version), Some(2));
    }

    #[test]
    fn a_change_removes_what_was_kept() {
        let cache = Arc::new(AppointmentCache::new());
        cache.offer(cache.ticket(), &record("a", 1));
        cache.offer(cache.ticket(), &record("b", 1));
        let change = cache.change(Some("a"));
        assert!(
            cache.get("a").is_none(),
            "gone while the change is under way"
        );
        drop(change);
        assert!(cache.get("a").is_none());
        assert_eq!(cache.get("b").map(|r| r.version), Some(1));
    }

    /// Two changes of one appointment at once: the first to end does not reopen it.
    #[test]
    fn overlapping_changes_keep_it_closed_until_the_last_ends() {
        let cache = Arc::new(AppointmentCache::new());
        let first = cache.change(Some("a"));
        let second = cache.change(Some("a"));
        drop(first);
        cache.offer(cache.ticket(), &record("a", 2));
        assert!(cache.get("a").is_none());
        drop(second);
        cache.offer(cache.ticket(), &record("a", 3));
        assert_eq!(cache.get("a").map(|r| r.version), Some(3));
    }

    #[test]
    fn a_change_of_an_unknown_appointment_closes_all_and_removes_the_one_it_touched() {
        let cache = Arc::new(AppointmentCache::new());
        cache.offer(cache.ticket(), &record("a", 1));
        cache.offer(cache.ticket(), &record("b", 1));
        let mut change = cache.change(None);
        cache.offer(cache.ticket(), &record("c", 1));
        assert!(cache.get("c").is_none(), "nothing is kept while it runs");
        change.touched("a");
        drop(change);
        assert!(cache.get("a").is_none());
        assert_eq!(cache.get("b").map(|r| r.version), Some(1));
        cache.offer(cache.ticket(), &record("c", 1));
        assert_eq!(cache.get("c").map(|r| r.version), Some(1));
    }

    #[test]
    fn what_is_kept_is_bounded_by_its_bytes() {
        let cache = AppointmentCache::new();
        let mut big = record("x", 1);
        big.body = "x".repeat(64 * 1024);
        for i in 0..1_000 {
            big.id = format!("x{i}");
            cache.offer(cache.ticket(), &big);
        }
        let kept = (0..1_000)
            .filter(|i| cache.get(&format!("x{i}")).is_some())
            .count() as u64;
        assert!(kept * (64 * 1024) <= KEPT_BYTES, "{kept} kept");
        assert!(kept > 0);
    }
}
