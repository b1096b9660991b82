//! The provider's reads and writes beside the booking path: the day list, and slots kept in
//! step with the service's own scheduling system.

use bars_booking::SlotStatus;
use bars_fhir::Instant;
use rusqlite::{Connection, OptionalExtension, params};

use super::unavailable;
use crate::columns::instant;
use crate::error::StoreError;
use crate::model::fetch_count;
use crate::provider_model::{
    DayPage, DayQuery, DayRow, SlotSync, SlotSyncOutcome, SyncStep, SyncedSlot, sync_step,
};

pub(super) fn day(c: &Connection, q: &DayQuery) -> Result<DayPage, StoreError> {
    let (after_ns, after_id) = match &q.after {
        Some(cursor) => (cursor.start_nanos, cursor.id.clone()),
        None => (i64::MIN, String::new()),
    };
    let statuses: Vec<&str> = q.statuses.iter().map(|s| s.as_str()).collect();
    // Statuses are filtered here rather than in SQL: a day holds few appointments, and one
    // statement serves every combination.
    let tx = c.unchecked_transaction().map_err(unavailable)?;
    let mut s = tx
        .prepare_cached(
            "SELECT a.id FROM appointment a
             WHERE a.service_id = ?1 AND a.start_ns >= ?2 AND a.start_ns < ?3
               AND (a.start_ns > ?4 OR (a.start_ns = ?4 AND a.id > ?5))
             ORDER BY a.start_ns, a.id",
        )
        .map_err(unavailable)?;
    let ids: Vec<String> = s
        .query_map(
            params![
                q.service_id,
                q.from.unix_nanos(),
                q.to.unix_nanos(),
                after_ns,
                after_id
            ],
            |r| r.get(0),
        )
        .and_then(Iterator::collect)
        .map_err(unavailable)?;
    let wanted = usize::try_from(fetch_count(q.limit)).unwrap_or(usize::MAX);
    let mut rows = Vec::new();
    for id in ids {
        if rows.len() >= wanted {
            break;
        }
        let Some(record) = super::appointments::get(&tx, &id)? else {
            continue;
        };
        if !statuses.is_empty() && !statuses.contains(&record.status.as_str()) {
            continue;
        }
        let booked_by: Option<String> = tx
            .prepare_cached(
                "SELECT actor_ods FROM appointment_event WHERE appointment_id = ?1 ORDER BY version LIMIT 1",
            )
            .and_then(|mut s| s.query_row(params![id], |r| r.get(0)).optional())
            .map_err(unavailable)?
            .flatten();
        rows.push(DayRow { record, booked_by });
    }
    Ok(DayPage { rows })
}

fn synced_slot(
    c: &Connection,
    service_id: &str,
    external_id: &str,
) -> Result<Option<SyncedSlot>, StoreError> {
    let found = c
        .prepare_cached(
            "SELECT s.id, s.schedule_id, s.status, s.start_ns, s.end_ns,
                    (SELECT h.appointment_id FROM appointment_slot h WHERE h.slot_id = s.id AND h.active = 1)
             FROM slot_external x JOIN slot s ON s.id = x.slot_id
             WHERE x.service_id = ?1 AND x.external_id = ?2",
        )
        .and_then(|mut s| {
            s.query_row(params![service_id, external_id], |r| {
                let status: String = r.get(2)?;
                Ok(SyncedSlot {
                    slot_id: r.get(0)?,
                    schedule_id: r.get(1)?,
                    status: SlotStatus::parse(&status).unwrap_or(SlotStatus::EnteredInError),
                    start: instant(r.get(3)?),
                    end: instant(r.get(4)?),
                    holder: r.get(5)?,
                })
            })
            .optional()
        })
        .map_err(unavailable)?;
    Ok(found)
}

pub(super) fn sync(
    c: &Connection,
    service_id: &str,
    items: &[SlotSync],
    now: Instant,
) -> Result<Vec<SlotSyncOutcome>, StoreError> {
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let found = synced_slot(c, service_id, item.external_id())?;
        let schedule_service: Option<String> = match item {
            SlotSync::Upsert { schedule_id, .. } => c
                .prepare_cached("SELECT service_id FROM schedule WHERE id = ?1")
                .and_then(|mut s| s.query_row(params![schedule_id], |r| r.get(0)).optional())
                .map_err(unavailable)?,
            SlotSync::Withdraw { .. } => None,
        };
        let step = sync_step(
            service_id,
            item,
            found.as_ref(),
            schedule_service.as_deref(),
        );
        out.push(apply(c, service_id, item, step, found.as_ref(), now)?);
    }
    Ok(out)
}

fn apply(
    c: &Connection,
    service_id: &str,
    item: &SlotSync,
    step: SyncStep,
    found: Option<&SyncedSlot>,
    now: Instant,
) -> Result<SlotSyncOutcome, StoreError> {
    let booked = |slot_id: &str| SlotSyncOutcome::Booked {
        slot_id: slot_id.to_string(),
        appointment_id: found.and_then(|f| f.holder.clone()),
    };
    match (step, item) {
        (SyncStep::Answer(outcome), _) => Ok(outcome),
        (
            SyncStep::Insert,
            SlotSync::Upsert {
                external_id,
                schedule_id,
                start,
                end,
            },
        ) => {
            let slot_id = uuid::Uuid::new_v4().to_string();
            c.execute(
                "INSERT INTO slot (id, schedule_id, service_id, status, start_ns, end_ns, version, last_updated_ns, extra)
                 VALUES (?1, ?2, ?3, 'free', ?4, ?5, 1, ?6, NULL)",
                params![slot_id, schedule_id, service_id, start.unix_nanos(), end.unix_nanos(), now.unix_nanos()],
            )
            .map_err(unavailable)?;
            c.execute(
                "INSERT INTO slot_external (service_id, external_id, slot_id) VALUES (?1, ?2, ?3)",
                params![service_id, external_id, slot_id],
            )
            .map_err(unavailable)?;
            Ok(SlotSyncOutcome::Created { slot_id })
        }
        (
            SyncStep::Update { slot_id, reinstate },
            SlotSync::Upsert {
                schedule_id,
                start,
                end,
                ..
            },
        ) => {
            let n = c
                .execute(
                    "UPDATE slot SET status = 'free', schedule_id = ?2, start_ns = ?3, end_ns = ?4, version = version + 1,
                         last_updated_ns = MAX(?5, last_updated_ns + 1000)
                     WHERE id = ?1 AND status <> 'busy'
                       AND NOT EXISTS (SELECT 1 FROM appointment_slot h WHERE h.slot_id = ?1 AND h.active = 1)",
                    params![slot_id, schedule_id, start.unix_nanos(), end.unix_nanos(), now.unix_nanos()],
                )
                .map_err(unavailable)?;
            Ok(match (n, reinstate) {
                (0, _) => booked(&slot_id),
                (_, true) => SlotSyncOutcome::Reinstated { slot_id },
                (_, false) => SlotSyncOutcome::Moved { slot_id },
            })
        }
        (SyncStep::Withdraw { slot_id }, _) => {
            let n = c
                .execute(
                    "UPDATE slot SET status = 'busy-unavailable', version = version + 1, last_updated_ns = MAX(?2, last_updated_ns + 1000)
                     WHERE id = ?1 AND status = 'free'",
                    params![slot_id, now.unix_nanos()],
                )
                .map_err(unavailable)?;
            Ok(if n == 0 {
                booked(&slot_id)
            } else {
                SlotSyncOutcome::Withdrawn { slot_id }
            })
        }
        (step, _) => Err(StoreError::Internal(format!(
            "slot sync step {step:?} does not fit its item"
        ))),
    }
}
