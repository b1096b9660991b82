//! The SQL of the SQLite backend: plain functions over a connection, every value a bound
//! parameter. Write functions run inside the writer's savepoint; read functions on a reader.

use bars_booking::{AppointmentStatus, SlotStatus};
use bars_fhir::Instant;
use bars_fhir::resource::stamp;
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::{internal, is_unique_violation, unavailable};
use crate::error::{CommitError, StoreError, WithdrawError};
use crate::model::*;

fn instant(ns: i64) -> Instant {
    Instant::from_unix_nanos_trimmed(ns)
}

fn opt_instant(ns: Option<i64>) -> Option<Instant> {
    ns.map(instant)
}

fn version(v: i64) -> u64 {
    v.max(0) as u64
}

fn json_text(value: &serde_json::Value) -> String {
    value.to_string()
}

/// The version and `lastUpdated` a rewritten resource gets: one more than the stored version
/// (1 for a new one), and a time that never goes backwards. `select` reads (version,
/// last_updated_ns) of the stored one.
fn next_version(
    c: &Connection,
    select: &str,
    key: impl rusqlite::Params,
    now: Instant,
) -> Result<(u64, Instant), StoreError> {
    let previous: Option<(i64, i64)> = c
        .query_row(select, key, |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()
        .map_err(unavailable)?;
    Ok(match previous {
        None => (1, now),
        Some((v, ns)) => (version(v) + 1, now.after(instant(ns))),
    })
}

// ---------------------------------------------------------------- reference resources

fn resource_row(r: &Row<'_>) -> rusqlite::Result<StoredResource> {
    Ok(StoredResource {
        resource_type: r.get(0)?,
        id: r.get(1)?,
        version: version(r.get(2)?),
        last_updated: instant(r.get(3)?),
        body: r.get(4)?,
    })
}

pub(super) fn put_resource(
    c: &Connection,
    rt: &str,
    id: &str,
    mut body: serde_json::Value,
    now: Instant,
) -> Result<StoredResource, StoreError> {
    let (new_version, last_updated) = next_version(
        c,
        "SELECT version, last_updated_ns FROM resource WHERE resource_type = ?1 AND id = ?2",
        params![rt, id],
        now,
    )?;
    stamp(&mut body, id, new_version, last_updated);
    let text = json_text(&body);
    c.prepare_cached(
        "INSERT INTO resource (resource_type, id, version, last_updated_ns, body) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (resource_type, id) DO UPDATE SET version = excluded.version, last_updated_ns = excluded.last_updated_ns, body = excluded.body",
    )
    .and_then(|mut s| s.execute(params![rt, id, new_version as i64, last_updated.unix_nanos(), text]))
    .map_err(unavailable)?;
    Ok(StoredResource {
        resource_type: rt.into(),
        id: id.into(),
        version: new_version,
        last_updated,
        body: text,
    })
}

pub(super) fn get_resource(
    c: &Connection,
    rt: &str,
    id: &str,
) -> Result<Option<StoredResource>, StoreError> {
    c.prepare_cached("SELECT resource_type, id, version, last_updated_ns, body FROM resource WHERE resource_type = ?1 AND id = ?2")
        .and_then(|mut s| s.query_row(params![rt, id], resource_row).optional())
        .map_err(unavailable)
}

pub(super) fn list_resources(c: &Connection, rt: &str) -> Result<Vec<StoredResource>, StoreError> {
    let mut s = c.prepare_cached("SELECT resource_type, id, version, last_updated_ns, body FROM resource WHERE resource_type = ?1 ORDER BY id").map_err(unavailable)?;
    s.query_map(params![rt], resource_row)
        .and_then(Iterator::collect)
        .map_err(unavailable)
}

// ---------------------------------------------------------------- schedules and slots

fn schedule_row(r: &Row<'_>) -> rusqlite::Result<ScheduleRecord> {
    Ok(ScheduleRecord {
        id: r.get(0)?,
        service_id: r.get(1)?,
        version: version(r.get(2)?),
        last_updated: instant(r.get(3)?),
        body: r.get(4)?,
        slot_template: r.get(5)?,
    })
}

const SCHEDULE_COLUMNS: &str = "id, service_id, version, last_updated_ns, body, slot_template";

pub(super) fn put_schedule(
    c: &Connection,
    id: &str,
    service_id: &str,
    mut body: serde_json::Value,
    template: serde_json::Value,
    now: Instant,
) -> Result<ScheduleRecord, StoreError> {
    let (new_version, last_updated) = next_version(
        c,
        "SELECT version, last_updated_ns FROM schedule WHERE id = ?1",
        params![id],
        now,
    )?;
    stamp(&mut body, id, new_version, last_updated);
    let (text, template) = (json_text(&body), json_text(&template));
    c.execute(
        "INSERT INTO schedule (id, service_id, version, last_updated_ns, body, slot_template) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (id) DO UPDATE SET service_id = excluded.service_id, version = excluded.version,
             last_updated_ns = excluded.last_updated_ns, body = excluded.body, slot_template = excluded.slot_template",
        params![id, service_id, new_version as i64, last_updated.unix_nanos(), text, template],
    )
    .map_err(unavailable)?;
    Ok(ScheduleRecord {
        id: id.into(),
        service_id: service_id.into(),
        version: new_version,
        last_updated,
        body: text,
        slot_template: template,
    })
}

pub(super) fn get_schedules(
    c: &Connection,
    ids: &[String],
) -> Result<Vec<ScheduleRecord>, StoreError> {
    let mut s = c
        .prepare_cached(&format!(
            "SELECT {SCHEDULE_COLUMNS} FROM schedule WHERE id = ?1"
        ))
        .map_err(unavailable)?;
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(row) = s
            .query_row(params![id], schedule_row)
            .optional()
            .map_err(unavailable)?
        {
            out.push(row);
        }
    }
    Ok(out)
}

pub(super) fn schedules_for_service(
    c: &Connection,
    service_id: &str,
) -> Result<Vec<ScheduleRecord>, StoreError> {
    let mut s = c
        .prepare_cached(&format!(
            "SELECT {SCHEDULE_COLUMNS} FROM schedule WHERE service_id = ?1 ORDER BY id"
        ))
        .map_err(unavailable)?;
    s.query_map(params![service_id], schedule_row)
        .and_then(Iterator::collect)
        .map_err(unavailable)
}

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
    let mut s = c
        .prepare_cached(&format!("SELECT {SLOT_COLUMNS} FROM slot WHERE id = ?1"))
        .map_err(unavailable)?;
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(row) = s
            .query_row(params![id], slot_row)
            .optional()
            .map_err(unavailable)?
        {
            out.push(row);
        }
    }
    Ok(out)
}

pub(super) fn search_slots(c: &Connection, q: &SlotQuery) -> Result<SlotPage, StoreError> {
    let mut slots = Vec::new();
    let mut total = 0u64;
    let (from, to) = (q.start_from.unix_nanos(), q.start_to.unix_nanos());
    // One index range scan per status keeps the plan flat whatever the table size.
    let mut count = c.prepare_cached("SELECT COUNT(*) FROM slot WHERE service_id = ?1 AND status = ?2 AND start_ns >= ?3 AND start_ns <= ?4").map_err(unavailable)?;
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
        let n: i64 = count
            .query_row(params![q.service_id, status.as_str(), from, to], |r| {
                r.get(0)
            })
            .map_err(unavailable)?;
        total += n.max(0) as u64;
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

// ---------------------------------------------------------------- appointments

const APPOINTMENT_COLUMNS: &str = "id, version, status, service_id, patient, start_ns, end_ns, created_ns, last_updated_ns, pointer_id, body";

fn appointment_row(r: &Row<'_>) -> rusqlite::Result<AppointmentRecord> {
    let status: String = r.get(2)?;
    Ok(AppointmentRecord {
        id: r.get(0)?,
        version: version(r.get(1)?),
        status: AppointmentStatus::parse(&status).unwrap_or(AppointmentStatus::EnteredInError),
        service_id: r.get(3)?,
        patient: r.get(4)?,
        start: opt_instant(r.get(5)?),
        end: opt_instant(r.get(6)?),
        created: instant(r.get(7)?),
        last_updated: instant(r.get(8)?),
        held_slots: Vec::new(),
        pointer_id: r.get(9)?,
        body: r.get(10)?,
    })
}

fn held_slots(c: &Connection, id: &str) -> Result<Vec<String>, StoreError> {
    let mut s = c.prepare_cached("SELECT slot_id FROM appointment_slot WHERE appointment_id = ?1 AND active = 1 ORDER BY slot_id").map_err(unavailable)?;
    s.query_map(params![id], |r| r.get(0))
        .and_then(Iterator::collect)
        .map_err(unavailable)
}

pub(super) fn get_appointment(
    c: &Connection,
    id: &str,
) -> Result<Option<AppointmentRecord>, StoreError> {
    let mut s = c
        .prepare_cached(&format!(
            "SELECT {APPOINTMENT_COLUMNS} FROM appointment WHERE id = ?1"
        ))
        .map_err(unavailable)?;
    let Some(mut record) = s
        .query_row(params![id], appointment_row)
        .optional()
        .map_err(unavailable)?
    else {
        return Ok(None);
    };
    record.held_slots = held_slots(c, id)?;
    Ok(Some(record))
}

pub(super) fn get_appointment_version(
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
pub(super) fn appointment_history(
    c: &Connection,
    q: &HistoryQuery,
) -> Result<HistoryPage, StoreError> {
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
pub(super) fn appointments_for_patient(
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
        .prepare_cached(&format!(
            "SELECT {APPOINTMENT_COLUMNS} FROM appointment WHERE patient = ?1
               AND (?2 IS NULL OR service_id = ?2)
               AND (created_ns > ?3 OR (created_ns = ?3 AND id > ?4))
             ORDER BY created_ns, id LIMIT ?5"
        ))
        .map_err(unavailable)?;
    let mut appointments: Vec<AppointmentRecord> = s
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
    for r in &mut appointments {
        r.held_slots = held_slots(&tx, &r.id)?;
    }
    Ok(AppointmentPage {
        appointments,
        total: total.max(0) as u64,
    })
}

/// Applies an appointment change. Runs inside the writer's savepoint: returning an error rolls
/// back everything this function wrote.
pub(super) fn commit_appointment(
    c: &Connection,
    ch: &AppointmentChange,
) -> Result<(), CommitError> {
    if let Some(record) = &ch.idempotency
        && !insert_request(c, record, false)?
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
    append_audit(c, &ch.audit)?;
    Ok(())
}

fn write_appointment_row(c: &Connection, ch: &AppointmentChange) -> Result<(), CommitError> {
    let start = ch.start.map(|i| i.unix_nanos());
    let end = ch.end.map(|i| i.unix_nanos());
    match ch.expected_version {
        None => {
            c.prepare_cached(&format!("INSERT INTO appointment ({APPOINTMENT_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, NULL, ?10)"))
                .and_then(|mut s| {
                    s.execute(params![
                        ch.id,
                        ch.version as i64,
                        ch.status.as_str(),
                        ch.service_id,
                        ch.patient,
                        start,
                        end,
                        ch.created.unix_nanos(),
                        ch.last_updated.unix_nanos(),
                        ch.body
                    ])
                })
                .map_err(|e| if is_unique_violation(&e) { CommitError::VersionConflict } else { CommitError::Store(unavailable(e)) })?;
        }
        Some(expected) => {
            let changed = c
                .prepare_cached(
                    "UPDATE appointment SET version = ?2, status = ?3, service_id = ?4, patient = ?5, start_ns = ?6, end_ns = ?7,
                         last_updated_ns = ?8, body = ?9
                     WHERE id = ?1 AND version = ?10",
                )
                .and_then(|mut s| {
                    s.execute(params![
                        ch.id,
                        ch.version as i64,
                        ch.status.as_str(),
                        ch.service_id,
                        ch.patient,
                        start,
                        end,
                        ch.last_updated.unix_nanos(),
                        ch.body,
                        expected as i64
                    ])
                })
                .map_err(unavailable)?;
            if changed == 0 {
                return Err(CommitError::VersionConflict);
            }
        }
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

// ---------------------------------------------------------------- idempotency

/// Inserts a request record; returns false when one already exists for the key. With
/// `ignore_existing` the existing record is silently kept.
pub(super) fn insert_request(
    c: &Connection,
    record: &IdempotencyRecord,
    ignore_existing: bool,
) -> Result<bool, StoreError> {
    let (succeeded, status, body, location) = match &record.outcome {
        RequestOutcome::Succeeded { location } => (1, None, None, location.clone()),
        RequestOutcome::Failed { status, body } => {
            (0, Some(i64::from(*status)), Some(body.clone()), None)
        }
    };
    let sql = if ignore_existing {
        "INSERT INTO request (request_id, correlation_id, sender, succeeded, status, body, location, recorded_ns)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT DO NOTHING"
    } else {
        "INSERT INTO request (request_id, correlation_id, sender, succeeded, status, body, location, recorded_ns)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
    };
    match c.prepare_cached(sql).and_then(|mut s| {
        s.execute(params![
            record.key.request_id,
            record.key.correlation_id,
            record.key.sender,
            succeeded,
            status,
            body,
            location,
            record.recorded.unix_nanos()
        ])
    }) {
        Ok(n) => Ok(n == 1 || ignore_existing),
        Err(e) if is_unique_violation(&e) => Ok(false),
        Err(e) => Err(unavailable(e)),
    }
}

pub(super) fn find_request(
    c: &Connection,
    key: &IdempotencyKey,
) -> Result<Option<IdempotencyRecord>, StoreError> {
    c.prepare_cached(
        "SELECT succeeded, status, body, location, recorded_ns FROM request WHERE request_id = ?1 AND correlation_id = ?2 AND sender = ?3",
    )
    .and_then(|mut s| {
        s.query_row(params![key.request_id, key.correlation_id, key.sender], |r| {
            let succeeded: i64 = r.get(0)?;
            let outcome = if succeeded == 1 {
                RequestOutcome::Succeeded { location: r.get(3)? }
            } else {
                let status: Option<i64> = r.get(1)?;
                RequestOutcome::Failed { status: status.unwrap_or(500) as u16, body: r.get::<_, Option<String>>(2)?.unwrap_or_default() }
            };
            Ok(IdempotencyRecord { key: key.clone(), outcome, recorded: instant(r.get(4)?) })
        })
        .optional()
    })
    .map_err(unavailable)
}

pub(super) fn purge_requests(c: &Connection, before: Instant) -> Result<usize, StoreError> {
    c.execute(
        "DELETE FROM request WHERE recorded_ns < ?1",
        params![before.unix_nanos()],
    )
    .map_err(unavailable)
}

// ---------------------------------------------------------------- audit

pub(super) fn append_audit(c: &Connection, e: &AuditEntry) -> Result<(), StoreError> {
    let at = e.at.unwrap_or_else(Instant::now);
    c.prepare_cached(
        "INSERT INTO audit (at_ns, request_id, correlation_id, sender_ods, sender_software, sender_app, action, resource_type, resource_id, version, outcome, patient)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    )
    .and_then(|mut s| {
        s.execute(params![
            at.unix_nanos(),
            e.request_id,
            e.correlation_id,
            e.sender_ods,
            e.sender_software,
            e.sender_app,
            e.action,
            e.resource_type,
            e.resource_id,
            e.version.map(|v| v as i64),
            i64::from(e.outcome),
            e.patient
        ])
    })
    .map_err(unavailable)?;
    Ok(())
}

pub(super) fn query_audit(c: &Connection, q: &AuditQuery) -> Result<Vec<AuditRecord>, StoreError> {
    let mut s = c
        .prepare_cached(
            "SELECT seq, at_ns, request_id, correlation_id, sender_ods, sender_software, sender_app, action, resource_type, resource_id, version, outcome, patient
             FROM audit
             WHERE (?1 IS NULL OR resource_id = ?1) AND (?2 IS NULL OR patient = ?2) AND (?3 IS NULL OR request_id = ?3)
             ORDER BY seq LIMIT ?4",
        )
        .map_err(unavailable)?;
    let limit = if q.limit == 0 { 1_000 } else { q.limit };
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    s.query_map(
        params![q.resource_id, q.patient, q.request_id, limit],
        |r| {
            Ok(AuditRecord {
                seq: r.get(0)?,
                entry: AuditEntry {
                    at: Some(instant(r.get(1)?)),
                    request_id: r.get(2)?,
                    correlation_id: r.get(3)?,
                    sender_ods: r.get(4)?,
                    sender_software: r.get(5)?,
                    sender_app: r.get(6)?,
                    action: r.get(7)?,
                    resource_type: r.get(8)?,
                    resource_id: r.get(9)?,
                    version: r.get::<_, Option<i64>>(10)?.map(version),
                    outcome: r.get::<_, i64>(11)? as u16,
                    patient: r.get(12)?,
                },
            })
        },
    )
    .and_then(Iterator::collect)
    .map_err(unavailable)
}

// ---------------------------------------------------------------- pointer outbox

const JOB_COLUMNS: &str = "seq, appointment_id, appointment_version, action, state, attempts, last_error, created_ns, next_attempt_ns";

fn job_row(r: &Row<'_>) -> rusqlite::Result<PointerJob> {
    let action: String = r.get(3)?;
    let state: String = r.get(4)?;
    Ok(PointerJob {
        seq: r.get(0)?,
        appointment_id: r.get(1)?,
        appointment_version: version(r.get(2)?),
        action: bars_booking::PointerAction::parse(&action)
            .unwrap_or(bars_booking::PointerAction::Update),
        state: JobState::parse(&state).unwrap_or(JobState::Failed),
        attempts: r.get::<_, i64>(5)?.max(0) as u32,
        last_error: r.get(6)?,
        created: instant(r.get(7)?),
        next_attempt: instant(r.get(8)?),
    })
}

pub(super) fn claim_pointer_jobs(
    c: &Connection,
    owner: &str,
    limit: usize,
    now: Instant,
    lease_until: Instant,
) -> Result<Vec<PointerJob>, StoreError> {
    // The head of each appointment's queue: its oldest job not yet delivered. A failed head
    // blocks the jobs behind it, so an operator's fix keeps them in order.
    let mut s = c
        .prepare_cached(&format!(
            "SELECT {JOB_COLUMNS} FROM outbox o
             WHERE o.state = 'pending' AND o.next_attempt_ns <= ?1 AND (o.leased_until_ns IS NULL OR o.leased_until_ns < ?1 OR o.leased_by = ?3)
               AND o.seq = (SELECT MIN(seq) FROM outbox h WHERE h.appointment_id = o.appointment_id AND h.state IN ('pending', 'failed'))
             ORDER BY o.seq LIMIT ?2"
        ))
        .map_err(unavailable)?;
    let jobs: Vec<PointerJob> = s
        .query_map(params![now.unix_nanos(), limit as i64, owner], job_row)
        .and_then(Iterator::collect)
        .map_err(unavailable)?;
    let mut lease = c
        .prepare_cached("UPDATE outbox SET leased_by = ?2, leased_until_ns = ?3 WHERE seq = ?1")
        .map_err(unavailable)?;
    for job in &jobs {
        lease
            .execute(params![job.seq, owner, lease_until.unix_nanos()])
            .map_err(unavailable)?;
    }
    Ok(jobs)
}

pub(super) fn finish_pointer_job(
    c: &Connection,
    seq: i64,
    owner: &str,
    pointer: &PointerIdChange,
    now: Instant,
) -> Result<(), StoreError> {
    let appointment: Option<String> = c
        .query_row("SELECT appointment_id FROM outbox WHERE seq = ?1 AND leased_by = ?2 AND state = 'pending'", params![seq, owner], |r| r.get(0))
        .optional()
        .map_err(unavailable)?;
    let Some(appointment) = appointment else {
        return Err(StoreError::Internal(format!(
            "pointer job {seq} is not leased to this worker"
        )));
    };
    c.execute("UPDATE outbox SET state = 'done', done_ns = ?2, leased_by = NULL, leased_until_ns = NULL WHERE seq = ?1", params![seq, now.unix_nanos()])
        .map_err(unavailable)?;
    match pointer {
        PointerIdChange::Keep => {}
        PointerIdChange::Set(id) => {
            c.execute(
                "UPDATE appointment SET pointer_id = ?2 WHERE id = ?1",
                params![appointment, id],
            )
            .map_err(unavailable)?;
        }
        PointerIdChange::Clear => {
            c.execute(
                "UPDATE appointment SET pointer_id = NULL WHERE id = ?1",
                params![appointment],
            )
            .map_err(unavailable)?;
        }
    }
    Ok(())
}

pub(super) fn postpone_pointer_job(
    c: &Connection,
    seq: i64,
    owner: &str,
    error: &str,
    next: Instant,
    give_up: bool,
) -> Result<(), StoreError> {
    let state = if give_up { "failed" } else { "pending" };
    c.execute(
        "UPDATE outbox SET state = ?4, attempts = attempts + 1, last_error = ?3, next_attempt_ns = ?5, leased_by = NULL, leased_until_ns = NULL
         WHERE seq = ?1 AND leased_by = ?2",
        params![seq, owner, error, state, next.unix_nanos()],
    )
    .map_err(unavailable)?;
    Ok(())
}

pub(super) fn release_pointer_leases(c: &Connection) -> Result<usize, StoreError> {
    c.execute(
        "UPDATE outbox SET leased_by = NULL, leased_until_ns = NULL WHERE leased_by IS NOT NULL",
        [],
    )
    .map_err(unavailable)
}

pub(super) fn requeue_pointer_job(
    c: &Connection,
    seq: i64,
    now: Instant,
) -> Result<bool, StoreError> {
    let n = c
        .execute("UPDATE outbox SET state = 'pending', next_attempt_ns = ?2 WHERE seq = ?1 AND state = 'failed'", params![seq, now.unix_nanos()])
        .map_err(unavailable)?;
    Ok(n == 1)
}

pub(super) fn undelivered_pointer_jobs(
    c: &Connection,
    limit: usize,
) -> Result<Vec<PointerJob>, StoreError> {
    let mut s = c
        .prepare_cached(&format!("SELECT {JOB_COLUMNS} FROM outbox WHERE state IN ('pending', 'failed') ORDER BY seq LIMIT ?1"))
        .map_err(unavailable)?;
    s.query_map(params![limit as i64], job_row)
        .and_then(Iterator::collect)
        .map_err(unavailable)
}

pub(super) fn outbox_stats(c: &Connection) -> Result<OutboxStats, StoreError> {
    c.query_row(
        "SELECT COALESCE(SUM(state = 'pending'), 0), COALESCE(SUM(state = 'failed'), 0), MIN(created_ns) FROM outbox WHERE state IN ('pending', 'failed')",
        [],
        |r| {
            Ok(OutboxStats {
                pending: r.get::<_, i64>(0)?.max(0) as u64,
                failed: r.get::<_, i64>(1)?.max(0) as u64,
                oldest_undelivered: r.get::<_, Option<i64>>(2)?.map(instant),
            })
        },
    )
    .map_err(unavailable)
}
