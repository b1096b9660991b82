//! Appointments: reads with the slots each holds, and the one atomic change. The writer thread
//! runs a change inside its savepoint, so the guards (the versioned update, the guarded slot
//! claim, the unique index on active bookings) and every write of a change stand or fall
//! together.

use bars_booking::AppointmentStatus;
use bars_fhir::Instant;
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::{audit, each_found, is_unique_violation, requests, unavailable};
use crate::columns::{instant, version};
use crate::error::{CommitError, StoreError};
use crate::model::{
    AppointmentChange, AppointmentPage, AppointmentQuery, AppointmentRecord, AppointmentScan,
    AppointmentVersion, HistoryPage, HistoryQuery, fetch_count,
};

/// The columns [`appointment_row`] reads, as a literal so that each statement naming them is a
/// literal too (no text built per call). The last is the slots the appointment holds, read in
/// the same statement: a second statement per appointment was a third of a read's lookup (its
/// own step, reset and read transaction, with the write-ahead log's locks), profiled. The list
/// is taken from an ordered subquery, which the primary key's order answers, rather than with
/// `group_concat(... ORDER BY ...)`, which sorts in a temporary B-tree opened for every row.
macro_rules! appointment_columns {
    () => {
        "id, version, status, service_id, patient, start_ns, end_ns, created_ns, last_updated_ns, pointer_id, body,
         (SELECT group_concat(slot_id, ',') FROM (SELECT h.slot_id FROM appointment_slot h
           WHERE h.appointment_id = appointment.id AND h.active = 1 ORDER BY h.slot_id))"
    };
}

fn appointment_row(r: &Row<'_>) -> rusqlite::Result<AppointmentRecord> {
    let status: String = r.get(2)?;
    Ok(AppointmentRecord {
        id: r.get(0)?,
        version: version(r.get(1)?),
        status: AppointmentStatus::parse(&status).unwrap_or(AppointmentStatus::EnteredInError),
        service_id: r.get(3)?,
        patient: r.get(4)?,
        start: r.get::<_, Option<i64>>(5)?.map(instant),
        end: r.get::<_, Option<i64>>(6)?.map(instant),
        created: instant(r.get(7)?),
        last_updated: instant(r.get(8)?),
        pointer_id: r.get(9)?,
        body: r.get(10)?,
        held_slots: held_slots(r.get::<_, Option<String>>(11)?.as_deref()),
    })
}

/// The held slots' ids, in order, from the list the row carries (`NULL` when none). Slot ids
/// are FHIR ids (letters, digits, `-` and `.`), so a comma never occurs inside one.
fn held_slots(list: Option<&str>) -> Vec<String> {
    list.map(|l| l.split(',').map(str::to_string).collect())
        .unwrap_or_default()
}

const BY_ID: &str = concat!(
    "SELECT ",
    appointment_columns!(),
    " FROM appointment WHERE id = ?1"
);

pub(super) fn get(c: &Connection, id: &str) -> Result<Option<AppointmentRecord>, StoreError> {
    c.prepare_cached(BY_ID)
        .and_then(|mut s| s.query_row(params![id], appointment_row).optional())
        .map_err(unavailable)
}

/// The appointments of `ids` that exist, in the order asked for.
pub(super) fn get_many(
    c: &Connection,
    ids: &[String],
) -> Result<Vec<AppointmentRecord>, StoreError> {
    each_found(c, BY_ID, ids, appointment_row)
}

pub(super) fn get_version(
    c: &Connection,
    id: &str,
    v: u64,
) -> Result<Option<AppointmentVersion>, StoreError> {
    c.prepare_cached("SELECT id, version, last_updated_ns, body FROM appointment_version WHERE id = ?1 AND version = ?2")
        .and_then(|mut s| s.query_row(params![id, v as i64], version_row).optional())
        .map_err(unavailable)
}

fn version_row(r: &Row<'_>) -> rusqlite::Result<AppointmentVersion> {
    Ok(AppointmentVersion {
        id: r.get(0)?,
        version: version(r.get(1)?),
        last_updated: instant(r.get(2)?),
        body: r.get(3)?,
    })
}

/// A page of versions and their count, read in one transaction so they agree.
pub(super) fn history(c: &Connection, q: &HistoryQuery) -> Result<HistoryPage, StoreError> {
    let tx = c.unchecked_transaction().map_err(unavailable)?;
    let total: i64 = tx
        .prepare_cached("SELECT COUNT(*) FROM appointment_version WHERE id = ?1")
        .and_then(|mut s| s.query_row(params![q.id], |r| r.get(0)))
        .map_err(unavailable)?;
    // Versions are positive and below i64::MAX, so "before" a larger bound means all of them.
    let before = q
        .before
        .map_or(i64::MAX, |v| i64::try_from(v).unwrap_or(i64::MAX));
    let versions = tx
        .prepare_cached("SELECT id, version, last_updated_ns, body FROM appointment_version WHERE id = ?1 AND version < ?2 ORDER BY version DESC LIMIT ?3")
        .and_then(|mut s| {
            s.query_map(params![q.id, before, fetch_count(q.limit)], version_row)
                .and_then(Iterator::collect)
        })
        .map_err(unavailable)?;
    Ok(HistoryPage {
        versions,
        total: total.max(0) as u64,
    })
}

/// A page of a patient's appointments after the cursor, and their count, read in one
/// transaction so they agree.
pub(super) fn for_patient(
    c: &Connection,
    q: &AppointmentQuery,
) -> Result<AppointmentPage, StoreError> {
    let tx = c.unchecked_transaction().map_err(unavailable)?;
    let total: i64 = tx
        .prepare_cached(
            "SELECT COUNT(*) FROM appointment WHERE patient = ?1 AND (?2 IS NULL OR service_id = ?2)",
        )
        .and_then(|mut s| s.query_row(params![q.patient, q.service], |r| r.get(0)))
        .map_err(unavailable)?;
    let (after_ns, after_id) = match &q.after {
        Some(cursor) => (cursor.created_nanos, cursor.id.as_str()),
        None => (i64::MIN, ""),
    };
    let mut s = tx
        .prepare_cached(concat!(
            "SELECT ",
            appointment_columns!(),
            " FROM appointment WHERE patient = ?1
               AND (?2 IS NULL OR service_id = ?2)
               AND (created_ns > ?3 OR (created_ns = ?3 AND id > ?4))
             ORDER BY created_ns, id LIMIT ?5"
        ))
        .map_err(unavailable)?;
    let appointments: Vec<AppointmentRecord> = s
        .query_map(
            params![
                q.patient,
                q.service,
                after_ns,
                after_id,
                fetch_count(q.limit)
            ],
            appointment_row,
        )
        .and_then(Iterator::collect)
        .map_err(unavailable)?;
    Ok(AppointmentPage {
        appointments,
        total: total.max(0) as u64,
    })
}

/// Up to `limit` appointments of a scan after its cursor, in booking order.
pub(super) fn scan(
    c: &Connection,
    q: &AppointmentScan,
) -> Result<Vec<AppointmentRecord>, StoreError> {
    let (after_ns, after_id) = match &q.after {
        Some(cursor) => (cursor.created_nanos, cursor.id.as_str()),
        None => (i64::MIN, ""),
    };
    let limit = i64::try_from(q.limit).unwrap_or(i64::MAX);
    // One statement (the held slots are a column of it), so no transaction is needed to keep
    // the page and its slots consistent.
    let mut s = c
        .prepare_cached(concat!(
            "SELECT ",
            appointment_columns!(),
            " FROM appointment
             WHERE (?1 IS NULL OR service_id = ?1)
               AND (?2 IS NULL OR instr(body, ?2) > 0)
               AND (created_ns > ?3 OR (created_ns = ?3 AND id > ?4))
             ORDER BY created_ns, id LIMIT ?5"
        ))
        .map_err(unavailable)?;
    let appointments: Vec<AppointmentRecord> = s
        .query_map(
            params![q.service, q.body_contains, after_ns, after_id, limit],
            appointment_row,
        )
        .and_then(Iterator::collect)
        .map_err(unavailable)?;
    Ok(appointments)
}

/// Applies an appointment change. Runs inside the writer's savepoint: returning an error rolls
/// back everything this function wrote.
pub(super) fn commit(
    c: &Connection,
    ch: &AppointmentChange,
    audit_seq: i64,
) -> Result<(), CommitError> {
    if let Some(record) = &ch.idempotency
        && !requests::insert(c, record, false)?
    {
        return Err(CommitError::Duplicate);
    }
    write_appointment_row(c, ch)?;
    c.prepare_cached("INSERT INTO appointment_version (id, version, last_updated_ns, body) VALUES (?1, ?2, ?3, ?4)")
        .and_then(|mut s| s.execute(params![ch.id, ch.version as i64, ch.last_updated.unix_nanos(), ch.body]))
        .map_err(|e| if is_unique_violation(&e) { CommitError::VersionConflict } else { CommitError::Store(unavailable(e)) })?;
    for slot in &ch.release {
        release_slot(c, &ch.id, slot, ch.last_updated)?;
    }
    for slot in &ch.claim {
        claim_slot(c, &ch.id, slot, ch.last_updated)?;
    }
    if let Some(action) = ch.pointer {
        c.prepare_cached(
            "INSERT INTO outbox (appointment_id, appointment_version, action, next_attempt_ns, created_ns) VALUES (?1, ?2, ?3, ?4, ?4)",
        )
        .and_then(|mut s| s.execute(params![ch.id, ch.version as i64, action.as_str(), ch.last_updated.unix_nanos()]))
        .map_err(unavailable)?;
    }
    audit::append(c, audit_seq, &ch.audit)?;
    super::events::record(c, ch)?;
    Ok(())
}

/// Inserts the appointment's first version, or moves it from the version the change was
/// decided on to the next; either statement writing nothing means someone else got there first.
fn write_appointment_row(c: &Connection, ch: &AppointmentChange) -> Result<(), CommitError> {
    // ?10 is `created` for the insert, the version to replace for the update.
    let (statement, tenth) = match ch.expected_version {
        None => (
            "INSERT INTO appointment (id, version, status, service_id, patient, start_ns, end_ns, last_updated_ns, body, created_ns, pointer_id)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, NULL)",
            ch.created.unix_nanos(),
        ),
        Some(expected) => (
            "UPDATE appointment SET version = ?2, status = ?3, service_id = ?4, patient = ?5, start_ns = ?6, end_ns = ?7,
                 last_updated_ns = ?8, body = ?9
             WHERE id = ?1 AND version = ?10",
            expected as i64,
        ),
    };
    let written = c
        .prepare_cached(statement)
        .and_then(|mut s| {
            s.execute(params![
                ch.id,
                ch.version as i64,
                ch.status.as_str(),
                ch.service_id,
                ch.patient,
                ch.start.map(|i| i.unix_nanos()),
                ch.end.map(|i| i.unix_nanos()),
                ch.last_updated.unix_nanos(),
                ch.body,
                tenth
            ])
        })
        .map_err(|e| {
            if is_unique_violation(&e) {
                CommitError::VersionConflict
            } else {
                CommitError::Store(unavailable(e))
            }
        })?;
    if written == 0 {
        return Err(CommitError::VersionConflict);
    }
    Ok(())
}

/// free -> busy, guarded by the slot's current status and by the unique index on active
/// bookings; either guard failing means someone else has the slot.
fn claim_slot(
    c: &Connection,
    appointment: &str,
    slot: &str,
    now: Instant,
) -> Result<(), CommitError> {
    let changed = c
        .prepare_cached(
            "UPDATE slot SET status = 'busy', version = version + 1, last_updated_ns = MAX(?2, last_updated_ns + 1000) WHERE id = ?1 AND status = 'free'",
        )
        .and_then(|mut s| s.execute(params![slot, now.unix_nanos()]))
        .map_err(unavailable)?;
    if changed == 0 {
        return Err(CommitError::SlotUnavailable(slot.to_string()));
    }
    c.prepare_cached(
        "INSERT INTO appointment_slot (appointment_id, slot_id, active) VALUES (?1, ?2, 1)
         ON CONFLICT (appointment_id, slot_id) DO UPDATE SET active = 1",
    )
    .and_then(|mut s| s.execute(params![appointment, slot]))
    .map_err(|e| {
        if is_unique_violation(&e) {
            CommitError::SlotUnavailable(slot.to_string())
        } else {
            CommitError::Store(unavailable(e))
        }
    })?;
    Ok(())
}

/// busy -> free, but only for a slot this appointment actually holds.
fn release_slot(
    c: &Connection,
    appointment: &str,
    slot: &str,
    now: Instant,
) -> Result<(), CommitError> {
    let held = c
        .prepare_cached("UPDATE appointment_slot SET active = 0 WHERE appointment_id = ?1 AND slot_id = ?2 AND active = 1")
        .and_then(|mut s| s.execute(params![appointment, slot]))
        .map_err(unavailable)?;
    if held == 1 {
        c.prepare_cached(
            "UPDATE slot SET status = 'free', version = version + 1, last_updated_ns = MAX(?2, last_updated_ns + 1000) WHERE id = ?1 AND status = 'busy'",
        )
        .and_then(|mut s| s.execute(params![slot, now.unix_nanos()]))
        .map_err(unavailable)?;
    }
    Ok(())
}
