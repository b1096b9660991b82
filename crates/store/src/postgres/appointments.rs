//! Appointments: reads with the slots each holds, and the one atomic change.
//!
//! [`commit`] runs at READ COMMITTED and decides every race with a statement the database
//! re-checks on the newest row version after waiting for a concurrent writer: the request key
//! (primary key), the versioned update (`WHERE version = $n`), the guarded slot claim
//! (`WHERE status = 'free'`) and the partial unique index on active bookings. No decision rests
//! on a value read earlier in the transaction, so a stricter isolation level would add retries
//! without adding safety.
//!
//! Locks are taken in one order (request key, appointment row, then slots by id), so two
//! changes never wait for each other in a cycle.

use bars_booking::AppointmentStatus;
use deadpool_postgres::{GenericClient, Transaction};
use tokio_postgres::Row;

use super::errors::{db, is_unique_violation};
use super::sql;
use super::{audit, requests};
use crate::columns::{instant, version};
use crate::error::{CommitError, StoreError};
use crate::model::{
    AppointmentChange, AppointmentPage, AppointmentQuery, AppointmentRecord, AppointmentScan,
    AppointmentVersion, HistoryPage, HistoryQuery, fetch_count,
};

/// The appointment's columns and the slots it holds, read in the same statement.
const SELECT: &str = "SELECT a.id, a.version, a.status, a.service_id, a.patient, a.start_ns, a.end_ns, a.created_ns,
        a.last_updated_ns, a.pointer_id, a.body,
        ARRAY(SELECT s.slot_id FROM appointment_slot s WHERE s.appointment_id = a.id AND s.active ORDER BY s.slot_id)
    FROM appointment a";

fn appointment_row(r: &Row) -> AppointmentRecord {
    let status: String = r.get(2);
    AppointmentRecord {
        id: r.get(0),
        version: version(r.get(1)),
        status: AppointmentStatus::parse(&status).unwrap_or(AppointmentStatus::EnteredInError),
        service_id: r.get(3),
        patient: r.get(4),
        start: r.get::<_, Option<i64>>(5).map(instant),
        end: r.get::<_, Option<i64>>(6).map(instant),
        created: instant(r.get(7)),
        last_updated: instant(r.get(8)),
        pointer_id: r.get(9),
        body: r.get(10),
        held_slots: r.get(11),
    }
}

fn version_row(r: &Row) -> AppointmentVersion {
    AppointmentVersion {
        id: r.get(0),
        version: version(r.get(1)),
        last_updated: instant(r.get(2)),
        body: r.get(3),
    }
}

pub(super) async fn get<C: GenericClient>(
    c: &C,
    id: &str,
) -> Result<Option<AppointmentRecord>, StoreError> {
    let row = sql::opt(c, &format!("{SELECT} WHERE a.id = $1"), &[&id])
        .await
        .map_err(db)?;
    Ok(row.as_ref().map(appointment_row))
}

pub(super) async fn get_many<C: GenericClient>(
    c: &C,
    ids: &[String],
) -> Result<Vec<AppointmentRecord>, StoreError> {
    let select = format!("{SELECT} WHERE a.id = ANY($1)");
    sql::each_found(c, &select, ids, appointment_row, |a| &a.id)
        .await
        .map_err(db)
}

pub(super) async fn get_version<C: GenericClient>(
    c: &C,
    id: &str,
    v: u64,
) -> Result<Option<AppointmentVersion>, StoreError> {
    let row = sql::opt(
        c,
        "SELECT id, version, last_updated_ns, body FROM appointment_version WHERE id = $1 AND version = $2",
        &[&id, &(v as i64)],
    )
    .await
    .map_err(db)?;
    Ok(row.as_ref().map(version_row))
}

/// A page of versions and their count; run in a snapshot so they agree.
pub(super) async fn history<C: GenericClient>(
    c: &C,
    q: &HistoryQuery,
) -> Result<HistoryPage, StoreError> {
    let total: i64 = sql::one(
        c,
        "SELECT COUNT(*) FROM appointment_version WHERE id = $1",
        &[&q.id],
    )
    .await
    .map_err(db)?
    .get(0);
    // Versions are positive and below i64::MAX, so "before" a larger bound means all of them.
    let before = q
        .before
        .map_or(i64::MAX, |v| i64::try_from(v).unwrap_or(i64::MAX));
    let rows = sql::rows(
        c,
        "SELECT id, version, last_updated_ns, body FROM appointment_version WHERE id = $1 AND version < $2
         ORDER BY version DESC LIMIT $3",
        &[&q.id, &before, &fetch_count(q.limit)],
    )
    .await
    .map_err(db)?;
    Ok(HistoryPage {
        versions: rows.iter().map(version_row).collect(),
        total: total.max(0) as u64,
    })
}

/// One page of a patient's appointments after the cursor, and their count; run in a snapshot
/// so they agree.
pub(super) async fn for_patient<C: GenericClient>(
    c: &C,
    q: &AppointmentQuery,
) -> Result<AppointmentPage, StoreError> {
    let total: i64 = sql::one(
        c,
        "SELECT COUNT(*) FROM appointment WHERE patient = $1 AND ($2::text IS NULL OR service_id = $2)",
        &[&q.patient, &q.service],
    )
    .await
    .map_err(db)?
    .get(0);
    let (after_ns, after_id) = match &q.after {
        Some(cursor) => (cursor.created_nanos, cursor.id.as_str()),
        None => (i64::MIN, ""),
    };
    let rows = sql::rows(
        c,
        &format!(
            "{SELECT} WHERE a.patient = $1 AND ($2::text IS NULL OR a.service_id = $2)
               AND (a.created_ns > $3 OR (a.created_ns = $3 AND a.id > $4))
             ORDER BY a.created_ns, a.id LIMIT $5"
        ),
        &[
            &q.patient,
            &q.service,
            &after_ns,
            &after_id,
            &fetch_count(q.limit),
        ],
    )
    .await
    .map_err(db)?;
    Ok(AppointmentPage {
        appointments: rows.iter().map(appointment_row).collect(),
        total: total.max(0) as u64,
    })
}

/// Up to `limit` appointments of a scan after its cursor, in booking order.
pub(super) async fn scan<C: GenericClient>(
    c: &C,
    q: &AppointmentScan,
) -> Result<Vec<AppointmentRecord>, StoreError> {
    let (after_ns, after_id) = match &q.after {
        Some(cursor) => (cursor.created_nanos, cursor.id.as_str()),
        None => (i64::MIN, ""),
    };
    let limit = i64::try_from(q.limit).unwrap_or(i64::MAX);
    let rows = sql::rows(
        c,
        &format!(
            "{SELECT} WHERE ($1::text IS NULL OR a.service_id = $1)
               AND ($2::text IS NULL OR strpos(a.body, $2) > 0)
               AND (a.created_ns > $3 OR (a.created_ns = $3 AND a.id > $4))
             ORDER BY a.created_ns, a.id LIMIT $5"
        ),
        &[&q.service, &q.body_contains, &after_ns, &after_id, &limit],
    )
    .await
    .map_err(db)?;
    Ok(rows.iter().map(appointment_row).collect())
}

/// Applies an appointment change inside the caller's transaction; an `Err` means the caller
/// rolls everything back.
pub(super) async fn commit(
    tx: &Transaction<'_>,
    ch: &AppointmentChange,
) -> Result<(), CommitError> {
    // First the request key: a duplicate waits here for the other instance's transaction and
    // then finds the key taken, before it has locked anything else.
    if let Some(record) = &ch.idempotency
        && !requests::insert(tx, record, false).await?
    {
        return Err(CommitError::Duplicate);
    }
    write_row(tx, ch).await?;
    let inserted = sql::exec(
        tx,
        "INSERT INTO appointment_version (id, version, last_updated_ns, body) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        &[&ch.id, &(ch.version as i64), &ch.last_updated.unix_nanos(), &ch.body],
    )
    .await
    .map_err(db)?;
    if inserted == 0 {
        return Err(CommitError::VersionConflict);
    }
    // Slots in id order, a release before a claim of the same slot.
    let mut steps: Vec<(&str, bool)> = ch
        .release
        .iter()
        .map(|s| (s.as_str(), false))
        .chain(ch.claim.iter().map(|s| (s.as_str(), true)))
        .collect();
    steps.sort();
    let now = ch.last_updated.unix_nanos();
    for (slot, claim) in steps {
        if claim {
            claim_slot(tx, &ch.id, slot, now).await?;
        } else {
            release_slot(tx, &ch.id, slot, now).await?;
        }
    }
    if let Some(action) = ch.pointer {
        sql::exec(
            tx,
            "INSERT INTO outbox (appointment_id, appointment_version, action, next_attempt_ns, created_ns) VALUES ($1, $2, $3, $4, $4)",
            &[&ch.id, &(ch.version as i64), &action.as_str(), &now],
        )
        .await
        .map_err(db)?;
    }
    audit::append(tx, std::slice::from_ref(&ch.audit)).await?;
    super::events::record(tx, ch).await?;
    Ok(())
}

/// Inserts the appointment's first version, or moves it from the version the change was
/// decided on to the next; either statement writing nothing means someone else got there first.
async fn write_row(tx: &Transaction<'_>, ch: &AppointmentChange) -> Result<(), CommitError> {
    // $10 is `created` for the insert, the version to replace for the update.
    let (statement, tenth) = match ch.expected_version {
        None => (
            "INSERT INTO appointment (id, version, status, service_id, patient, start_ns, end_ns, last_updated_ns, body, created_ns, pointer_id)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, NULL) ON CONFLICT DO NOTHING",
            ch.created.unix_nanos(),
        ),
        Some(expected) => (
            "UPDATE appointment SET version = $2, status = $3, service_id = $4, patient = $5, start_ns = $6, end_ns = $7,
                 last_updated_ns = $8, body = $9
             WHERE id = $1 AND version = $10",
            expected as i64,
        ),
    };
    let written = sql::exec(
        tx,
        statement,
        &[
            &ch.id,
            &(ch.version as i64),
            &ch.status.as_str(),
            &ch.service_id,
            &ch.patient,
            &ch.start.map(|i| i.unix_nanos()),
            &ch.end.map(|i| i.unix_nanos()),
            &ch.last_updated.unix_nanos(),
            &ch.body,
            &tenth,
        ],
    )
    .await
    .map_err(db)?;
    if written == 0 {
        return Err(CommitError::VersionConflict);
    }
    Ok(())
}

/// free -> busy, guarded by the slot's status (re-checked after waiting for a concurrent
/// claim) and by the unique index on active bookings.
async fn claim_slot(
    tx: &Transaction<'_>,
    appointment: &str,
    slot: &str,
    now: i64,
) -> Result<(), CommitError> {
    let changed = sql::exec(
        tx,
        "UPDATE slot SET status = 'busy', version = version + 1, last_updated_ns = GREATEST($2, last_updated_ns + 1000)
         WHERE id = $1 AND status = 'free'",
        &[&slot, &now],
    )
    .await
    .map_err(db)?;
    if changed == 0 {
        return Err(CommitError::SlotUnavailable(slot.to_string()));
    }
    sql::exec(
        tx,
        "INSERT INTO appointment_slot (appointment_id, slot_id, active) VALUES ($1, $2, TRUE)
         ON CONFLICT (appointment_id, slot_id) DO UPDATE SET active = TRUE",
        &[&appointment, &slot],
    )
    .await
    .map_err(|e| {
        if is_unique_violation(&e) {
            CommitError::SlotUnavailable(slot.to_string())
        } else {
            CommitError::Store(db(e))
        }
    })?;
    Ok(())
}

/// busy -> free, but only for a slot this appointment actually holds.
async fn release_slot(
    tx: &Transaction<'_>,
    appointment: &str,
    slot: &str,
    now: i64,
) -> Result<(), CommitError> {
    let held = sql::exec(
        tx,
        "UPDATE appointment_slot SET active = FALSE WHERE appointment_id = $1 AND slot_id = $2 AND active",
        &[&appointment, &slot],
    )
    .await
    .map_err(db)?;
    if held == 1 {
        sql::exec(
            tx,
            "UPDATE slot SET status = 'free', version = version + 1, last_updated_ns = GREATEST($2, last_updated_ns + 1000)
             WHERE id = $1 AND status = 'busy'",
            &[&slot, &now],
        )
        .await
        .map_err(db)?;
    }
    Ok(())
}
