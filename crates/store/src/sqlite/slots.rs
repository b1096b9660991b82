//! Slots: bulk publication, search, and withdrawal guarded by the slot's current status.

use bars_booking::SlotStatus;
use bars_fhir::Instant;
use rusqlite::{Connection, Row, params};

use super::{each_found, internal, unavailable};
use crate::columns::{instant, version};
use crate::error::{StoreError, WithdrawError};
use crate::model::{SlotPage, SlotQuery, SlotRecord, counted_by_the_page, fetch_count};

const SLOT_COLUMNS: &str =
    "id, schedule_id, service_id, status, start_ns, end_ns, version, last_updated_ns, extra";

fn slot_row(r: &Row<'_>) -> rusqlite::Result<SlotRecord> {
    let status: String = r.get(3)?;
    Ok(SlotRecord {
        id: r.get(0)?,
        schedule_id: r.get(1)?,
        service_id: r.get(2)?,
        status: SlotStatus::parse(&status).unwrap_or(SlotStatus::EnteredInError),
        start: instant(r.get(4)?),
        end: instant(r.get(5)?),
        version: version(r.get(6)?),
        last_updated: instant(r.get(7)?),
        extra: r.get(8)?,
    })
}

pub(super) fn insert_slots(c: &Connection, slots: &[SlotRecord]) -> Result<usize, StoreError> {
    let mut s = c
        .prepare_cached(
            "INSERT INTO slot (id, schedule_id, service_id, status, start_ns, end_ns, version, last_updated_ns, extra)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT (id) DO NOTHING",
        )
        .map_err(unavailable)?;
    let mut inserted = 0;
    for slot in slots {
        inserted += s
            .execute(params![
                slot.id,
                slot.schedule_id,
                slot.service_id,
                slot.status.as_str(),
                slot.start.unix_nanos(),
                slot.end.unix_nanos(),
                slot.version as i64,
                slot.last_updated.unix_nanos(),
                slot.extra
            ])
            .map_err(internal)?;
    }
    Ok(inserted)
}

pub(super) fn get_slots(c: &Connection, ids: &[String]) -> Result<Vec<SlotRecord>, StoreError> {
    each_found(
        c,
        &format!("SELECT {SLOT_COLUMNS} FROM slot WHERE id = ?1"),
        ids,
        slot_row,
    )
}

/// The longest window a slot search may span and still run on the caller's thread.
const CALLER_THREAD_WINDOW_NANOS: i64 = 24 * 60 * 60 * 1_000_000_000;

/// Whether a search runs on the caller's thread, as point lookups do, rather than on the
/// blocking pool. A window of at most a day reads at most one day of one service's slots per
/// status (its count, then its page), tens to hundreds of index entries from the page cache;
/// the two thread hops to the pool and back cost more than that (a quarter of the receiver's
/// CPU in a profile of one-day searches went to scheduling them). Longer windows, whose count
/// grows with their length, still go to the pool so as not to stall an async worker.
pub(super) fn runs_on_the_callers_thread(q: &SlotQuery) -> bool {
    q.start_to
        .unix_nanos()
        .saturating_sub(q.start_from.unix_nanos())
        <= CALLER_THREAD_WINDOW_NANOS
}

pub(super) fn search_slots(c: &Connection, q: &SlotQuery) -> Result<SlotPage, StoreError> {
    let mut slots = Vec::new();
    let mut total = 0u64;
    let (from, to) = (q.start_from.unix_nanos(), q.start_to.unix_nanos());
    // The cursor's condition is written so that it offers the planner no bound on start_ns:
    // `start_ns > ?5 OR (start_ns = ?5 AND ...)` let it take `?5` (i64::MIN on a first page) as
    // the range's lower bound instead of `?3`, scanning the service's slots from the very
    // first, which grew with the store. The lower bound is the later of the window's start and
    // the cursor's; given that, `start_ns > ?5 OR id > ?6` is the same condition.
    let mut page = c
        .prepare_cached(&format!(
            "SELECT {SLOT_COLUMNS} FROM slot WHERE service_id = ?1 AND status = ?2 AND start_ns >= ?3 AND start_ns <= ?4
               AND (start_ns > ?5 OR id > ?6)
             ORDER BY start_ns, id LIMIT ?7"
        ))
        .map_err(unavailable)?;
    let (after_ns, after_id) = match &q.after {
        Some(cursor) => (cursor.start_nanos, cursor.id.clone()),
        None => (i64::MIN, String::new()),
    };
    let page_from = from.max(after_ns);
    for status in &q.statuses {
        let rows = page
            .query_map(
                params![
                    q.service_id,
                    status.as_str(),
                    page_from,
                    to,
                    after_ns,
                    after_id,
                    fetch_count(q.limit)
                ],
                slot_row,
            )
            .and_then(Iterator::collect::<rusqlite::Result<Vec<_>>>)
            .map_err(unavailable)?;
        total += match counted_by_the_page(q, rows.len()) {
            Some(n) => n,
            None => {
                // One index range scan per status keeps the plan flat whatever the table size.
                let n: i64 = c
                    .prepare_cached("SELECT COUNT(*) FROM slot WHERE service_id = ?1 AND status = ?2 AND start_ns >= ?3 AND start_ns <= ?4")
                    .and_then(|mut count| {
                        count.query_row(params![q.service_id, status.as_str(), from, to], |r| {
                            r.get(0)
                        })
                    })
                    .map_err(unavailable)?;
                n.max(0) as u64
            }
        };
        slots.extend(rows);
    }
    slots.sort_by(|a, b| a.start.cmp(&b.start).then_with(|| a.id.cmp(&b.id)));
    slots.truncate(q.limit.saturating_add(1));
    Ok(SlotPage { slots, total })
}

pub(super) fn withdraw_slot(
    c: &Connection,
    id: &str,
    now: Instant,
) -> Result<SlotRecord, WithdrawError> {
    let changed = c
        .execute(
            "UPDATE slot SET status = 'busy-unavailable', version = version + 1, last_updated_ns = MAX(?2, last_updated_ns + 1000)
             WHERE id = ?1 AND status = 'free'",
            params![id, now.unix_nanos()],
        )
        .map_err(unavailable)?;
    let slot = get_slots(c, &[id.to_string()])?
        .pop()
        .ok_or(WithdrawError::NotFound)?;
    if changed == 0 {
        return Err(WithdrawError::NotFree(slot.status.as_str().into()));
    }
    Ok(slot)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(from: &str, to: &str) -> SlotQuery {
        SlotQuery {
            service_id: "svc".into(),
            statuses: vec![SlotStatus::Free],
            start_from: Instant::parse(from).unwrap(),
            start_to: Instant::parse(to).unwrap(),
            after: None,
            limit: 1000,
        }
    }

    /// A day's search stays on the caller's thread; a longer window, whose count grows with
    /// it, goes to the pool.
    #[test]
    fn only_a_window_of_a_day_or_less_runs_on_the_callers_thread() {
        let day = query("2026-01-05T00:00:00Z", "2026-01-06T00:00:00Z");
        let hour = query("2026-01-05T09:00:00Z", "2026-01-05T10:00:00Z");
        let just_over = query("2026-01-05T00:00:00Z", "2026-01-06T00:00:00.001Z");
        let fortnight = query("2026-01-05T00:00:00Z", "2026-01-19T00:00:00Z");
        assert!(runs_on_the_callers_thread(&day));
        assert!(runs_on_the_callers_thread(&hour));
        assert!(!runs_on_the_callers_thread(&just_over));
        assert!(!runs_on_the_callers_thread(&fortnight));
    }
}
