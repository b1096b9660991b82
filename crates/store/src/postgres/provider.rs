//! The provider's reads and writes beside the booking path: the day list, and slots kept in
//! step with the service's own scheduling system. A sync's writes are guarded by the slot's
//! status and by the absence of an active booking, re-checked by PostgreSQL on the newest row,
//! so a booking that commits first turns a move or a withdrawal into a refusal.

use bars_booking::SlotStatus;
use bars_fhir::Instant;
use deadpool_postgres::Transaction;
use tokio_postgres::Row;

use super::appointments;
use super::errors::db;
use super::sql;
use crate::columns::instant;
use crate::error::StoreError;
use crate::model::fetch_count;
use crate::provider_model::{
    DayPage, DayQuery, DayRow, SlotSync, SlotSyncOutcome, SyncStep, SyncedSlot, sync_step,
};

pub(super) async fn day(tx: &Transaction<'_>, q: &DayQuery) -> Result<DayPage, StoreError> {
    let (after_ns, after_id) = match &q.after {
        Some(cursor) => (cursor.start_nanos, cursor.id.clone()),
        None => (i64::MIN, String::new()),
    };
    let statuses: Vec<String> = q.statuses.iter().map(|s| s.as_str().to_string()).collect();
    let rows = sql::rows(
        tx,
        "SELECT a.id,
                (SELECT e.actor_ods FROM appointment_event e WHERE e.appointment_id = a.id ORDER BY e.version LIMIT 1)
         FROM appointment a
         WHERE a.service_id = $1 AND a.start_ns >= $2 AND a.start_ns < $3
           AND (a.start_ns > $4 OR (a.start_ns = $4 AND a.id > $5))
           AND (cardinality($6::TEXT[]) = 0 OR a.status = ANY($6))
         ORDER BY a.start_ns, a.id LIMIT $7",
        &[
            &q.service_id,
            &q.from.unix_nanos(),
            &q.to.unix_nanos(),
            &after_ns,
            &after_id,
            &statuses,
            &fetch_count(q.limit),
        ],
    )
    .await
    .map_err(db)?;
    let ids: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
    let booked_by: Vec<Option<String>> = rows.iter().map(|r| r.get(1)).collect();
    let records = appointments::get_many(tx, &ids).await?;
    Ok(DayPage {
        rows: records
            .into_iter()
            .zip(booked_by)
            .map(|(record, booked_by)| DayRow { record, booked_by })
            .collect(),
    })
}

fn synced_row(r: &Row) -> SyncedSlot {
    let status: String = r.get(2);
    SyncedSlot {
        slot_id: r.get(0),
        schedule_id: r.get(1),
        status: SlotStatus::parse(&status).unwrap_or(SlotStatus::EnteredInError),
        start: instant(r.get(3)),
        end: instant(r.get(4)),
        holder: r.get(5),
    }
}

pub(super) async fn sync(
    tx: &Transaction<'_>,
    service_id: &str,
    items: &[SlotSync],
    now: Instant,
) -> Result<Vec<SlotSyncOutcome>, StoreError> {
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let found = sql::opt(
            tx,
            "SELECT s.id, s.schedule_id, s.status, s.start_ns, s.end_ns,
                    (SELECT h.appointment_id FROM appointment_slot h WHERE h.slot_id = s.id AND h.active)
             FROM slot_external x JOIN slot s ON s.id = x.slot_id
             WHERE x.service_id = $1 AND x.external_id = $2",
            &[&service_id, &item.external_id()],
        )
        .await
        .map_err(db)?
        .as_ref()
        .map(synced_row);
        let schedule_service: Option<String> = match item {
            SlotSync::Upsert { schedule_id, .. } => sql::opt(
                tx,
                "SELECT service_id FROM schedule WHERE id = $1",
                &[schedule_id],
            )
            .await
            .map_err(db)?
            .map(|r| r.get(0)),
            SlotSync::Withdraw { .. } => None,
        };
        let step = sync_step(
            service_id,
            item,
            found.as_ref(),
            schedule_service.as_deref(),
        );
        out.push(apply(tx, service_id, item, step, found.as_ref(), now).await?);
    }
    Ok(out)
}

async fn apply(
    tx: &Transaction<'_>,
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
    let now = now.unix_nanos();
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
            sql::exec(
                tx,
                "INSERT INTO slot (id, schedule_id, service_id, status, start_ns, end_ns, version, last_updated_ns, extra)
                 VALUES ($1, $2, $3, 'free', $4, $5, 1, $6, NULL)",
                &[&slot_id, schedule_id, &service_id, &start.unix_nanos(), &end.unix_nanos(), &now],
            )
            .await
            .map_err(db)?;
            sql::exec(
                tx,
                "INSERT INTO slot_external (service_id, external_id, slot_id) VALUES ($1, $2, $3)",
                &[&service_id, external_id, &slot_id],
            )
            .await
            .map_err(db)?;
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
            let n = sql::exec(
                tx,
                "UPDATE slot SET status = 'free', schedule_id = $2, start_ns = $3, end_ns = $4, version = version + 1,
                     last_updated_ns = GREATEST($5, last_updated_ns + 1000)
                 WHERE id = $1 AND status <> 'busy'
                   AND NOT EXISTS (SELECT 1 FROM appointment_slot h WHERE h.slot_id = $1 AND h.active)",
                &[&slot_id, schedule_id, &start.unix_nanos(), &end.unix_nanos(), &now],
            )
            .await
            .map_err(db)?;
            Ok(match (n, reinstate) {
                (0, _) => booked(&slot_id),
                (_, true) => SlotSyncOutcome::Reinstated { slot_id },
                (_, false) => SlotSyncOutcome::Moved { slot_id },
            })
        }
        (SyncStep::Withdraw { slot_id }, _) => {
            let n = sql::exec(
                tx,
                "UPDATE slot SET status = 'busy-unavailable', version = version + 1, last_updated_ns = GREATEST($2, last_updated_ns + 1000)
                 WHERE id = $1 AND status = 'free'",
                &[&slot_id, &now],
            )
            .await
            .map_err(db)?;
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
