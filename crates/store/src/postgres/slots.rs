//! Slots: bulk publication, search, and withdrawal guarded by the slot's current status.

use bars_booking::SlotStatus;
use bars_fhir::Instant;
use deadpool_postgres::{GenericClient, Transaction};
use tokio_postgres::Row;

use super::errors::db;
use super::sql;
use crate::columns::{instant, version};
use crate::error::{StoreError, WithdrawError};
use crate::model::{SlotPage, SlotQuery, SlotRecord, counted_by_the_page, fetch_count};

const SLOT_COLUMNS: &str =
    "id, schedule_id, service_id, status, start_ns, end_ns, version, last_updated_ns, extra";

fn slot_row(r: &Row) -> SlotRecord {
    let status: String = r.get(3);
    SlotRecord {
        id: r.get(0),
        schedule_id: r.get(1),
        service_id: r.get(2),
        status: SlotStatus::parse(&status).unwrap_or(SlotStatus::EnteredInError),
        start: instant(r.get(4)),
        end: instant(r.get(5)),
        version: version(r.get(6)),
        last_updated: instant(r.get(7)),
        extra: r.get(8),
    }
}

/// Inserts new slots in one statement; existing ids are left alone. Rows go in id order, so
/// two instances importing overlapping plans at once wait for each other instead of
/// deadlocking.
pub(super) async fn insert_slots(
    tx: &Transaction<'_>,
    slots: &[SlotRecord],
) -> Result<usize, StoreError> {
    let mut sorted: Vec<&SlotRecord> = slots.iter().collect();
    sorted.sort_by(|a, b| a.id.cmp(&b.id));
    let ids: Vec<&str> = sorted.iter().map(|s| s.id.as_str()).collect();
    let schedules: Vec<&str> = sorted.iter().map(|s| s.schedule_id.as_str()).collect();
    let services: Vec<&str> = sorted.iter().map(|s| s.service_id.as_str()).collect();
    let statuses: Vec<&str> = sorted.iter().map(|s| s.status.as_str()).collect();
    let starts: Vec<i64> = sorted.iter().map(|s| s.start.unix_nanos()).collect();
    let ends: Vec<i64> = sorted.iter().map(|s| s.end.unix_nanos()).collect();
    let versions: Vec<i64> = sorted.iter().map(|s| s.version as i64).collect();
    let updated: Vec<i64> = sorted.iter().map(|s| s.last_updated.unix_nanos()).collect();
    let extras: Vec<Option<&str>> = sorted.iter().map(|s| s.extra.as_deref()).collect();
    let n = sql::exec(
        tx,
        "INSERT INTO slot (id, schedule_id, service_id, status, start_ns, end_ns, version, last_updated_ns, extra)
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::bigint[], $7::bigint[], $8::bigint[], $9::text[])
         ON CONFLICT (id) DO NOTHING",
        &[&ids, &schedules, &services, &statuses, &starts, &ends, &versions, &updated, &extras],
    )
    .await
    .map_err(db)?;
    Ok(n as usize)
}

/// The slots of `ids` that exist, in the order asked for.
pub(super) async fn get_slots<C: GenericClient>(
    c: &C,
    ids: &[String],
) -> Result<Vec<SlotRecord>, StoreError> {
    let select = format!("SELECT {SLOT_COLUMNS} FROM slot WHERE id = ANY($1)");
    sql::each_found(c, &select, ids, slot_row, |s| &s.id)
        .await
        .map_err(db)
}

/// Pages, then counts where the page does not tell the count, one status at a time (one index
/// range each); the caller runs it in a snapshot so the total and the page agree.
pub(super) async fn search_slots<C: GenericClient>(
    c: &C,
    q: &SlotQuery,
) -> Result<SlotPage, StoreError> {
    let (from, to) = (q.start_from.unix_nanos(), q.start_to.unix_nanos());
    let (after_ns, after_id) = match &q.after {
        Some(cursor) => (cursor.start_nanos, cursor.id.clone()),
        None => (i64::MIN, String::new()),
    };
    let limit = fetch_count(q.limit);
    let mut slots = Vec::new();
    let mut total = 0u64;
    for status in &q.statuses {
        let status = status.as_str();
        let rows = sql::rows(
            c,
            &format!(
                "SELECT {SLOT_COLUMNS} FROM slot WHERE service_id = $1 AND status = $2 AND start_ns >= $3 AND start_ns <= $4
                   AND (start_ns > $5 OR (start_ns = $5 AND id > $6))
                 ORDER BY start_ns, id LIMIT $7"
            ),
            &[&q.service_id, &status, &from, &to, &after_ns, &after_id, &limit],
        )
        .await
        .map_err(db)?;
        total += match counted_by_the_page(q, rows.len()) {
            Some(n) => n,
            None => {
                let count = sql::one(
                    c,
                    "SELECT COUNT(*) FROM slot WHERE service_id = $1 AND status = $2 AND start_ns >= $3 AND start_ns <= $4",
                    &[&q.service_id, &status, &from, &to],
                )
                .await
                .map_err(db)?;
                count.get::<_, i64>(0).max(0) as u64
            }
        };
        slots.extend(rows.iter().map(slot_row));
    }
    slots.sort_by(|a, b| a.start.cmp(&b.start).then_with(|| a.id.cmp(&b.id)));
    slots.truncate(q.limit.saturating_add(1));
    Ok(SlotPage { slots, total })
}

pub(super) async fn withdraw_slot(
    tx: &Transaction<'_>,
    id: &str,
    now: Instant,
) -> Result<SlotRecord, WithdrawError> {
    let changed = sql::exec(
        tx,
        "UPDATE slot SET status = 'busy-unavailable', version = version + 1, last_updated_ns = GREATEST($2, last_updated_ns + 1000)
         WHERE id = $1 AND status = 'free'",
        &[&id, &now.unix_nanos()],
    )
    .await
    .map_err(db)?;
    let slot = get_slots(tx, &[id.to_string()])
        .await?
        .pop()
        .ok_or(WithdrawError::NotFound)?;
    if changed == 0 {
        return Err(WithdrawError::NotFree(slot.status.as_str().into()));
    }
    Ok(slot)
}
