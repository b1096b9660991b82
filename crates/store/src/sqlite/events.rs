//! Appointment events and their webhook deliveries. An event and its deliveries are written
//! inside the appointment change's savepoint ([`record`]), so the provider's systems hear of
//! every change that committed and of nothing that did not. One process uses a SQLite
//! database and its writer runs one claim at a time, so leases need no row locks; as in the
//! pointer outbox, only the head of each (subscriber, appointment) queue can be claimed.

use bars_booking::AppointmentStatus;
use bars_fhir::Instant;
use rusqlite::{Connection, Row, params};

use super::unavailable;
use crate::columns::{instant, version};
use crate::error::{CommitError, StoreError};
use crate::model::{AppointmentChange, JobState};
use crate::provider_model::{Delivery, EventQuery, EventRecord, Subscriber};

const EVENT_COLUMNS: &str =
    "e.seq, e.appointment_id, e.version, e.service_id, e.action, e.status, e.actor_ods, e.at_ns";

fn event_row(r: &Row<'_>) -> rusqlite::Result<EventRecord> {
    let status: String = r.get(5)?;
    Ok(EventRecord {
        seq: r.get(0)?,
        appointment_id: r.get(1)?,
        version: version(r.get(2)?),
        service_id: r.get(3)?,
        action: r.get(4)?,
        status: AppointmentStatus::parse(&status).unwrap_or(AppointmentStatus::EnteredInError),
        actor_ods: r.get(6)?,
        at: instant(r.get(7)?),
    })
}

/// Writes the change's event and a delivery for each subscriber of its service.
pub(super) fn record(c: &Connection, ch: &AppointmentChange) -> Result<(), CommitError> {
    let now = ch.last_updated.unix_nanos();
    c.prepare_cached(
        "INSERT INTO appointment_event (appointment_id, version, service_id, action, status, actor_ods, at_ns)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )
    .and_then(|mut s| {
        s.execute(params![
            ch.id,
            ch.version as i64,
            ch.service_id,
            ch.audit.action,
            ch.status.as_str(),
            ch.audit.sender_ods,
            now
        ])
    })
    .map_err(unavailable)?;
    let seq = c.last_insert_rowid();
    c.prepare_cached(
        "INSERT INTO event_delivery (subscriber_id, event_seq, appointment_id, next_attempt_ns)
         SELECT id, ?1, ?2, ?3 FROM event_subscriber WHERE service_id = ?4",
    )
    .and_then(|mut s| s.execute(params![seq, ch.id, now, ch.service_id]))
    .map_err(unavailable)?;
    Ok(())
}

pub(super) fn after(c: &Connection, q: &EventQuery) -> Result<Vec<EventRecord>, StoreError> {
    let mut s = c
        .prepare_cached(&format!(
            "SELECT {EVENT_COLUMNS} FROM appointment_event e
             WHERE e.seq > ?1 AND (?2 IS NULL OR e.service_id = ?2) ORDER BY e.seq LIMIT ?3"
        ))
        .map_err(unavailable)?;
    s.query_map(params![q.after, q.service, q.limit as i64], event_row)
        .and_then(Iterator::collect)
        .map_err(unavailable)
}

pub(super) fn put_subscriber(c: &Connection, s: &Subscriber) -> Result<(), StoreError> {
    c.execute(
        "INSERT INTO event_subscriber (id, service_id, url, secret) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (id) DO UPDATE SET service_id = excluded.service_id, url = excluded.url, secret = excluded.secret",
        params![s.id, s.service_id, s.url, s.secret],
    )
    .map_err(unavailable)?;
    Ok(())
}

pub(super) fn remove_subscriber(c: &Connection, id: &str) -> Result<bool, StoreError> {
    c.execute(
        "DELETE FROM event_delivery WHERE subscriber_id = ?1",
        params![id],
    )
    .map_err(unavailable)?;
    let n = c
        .execute("DELETE FROM event_subscriber WHERE id = ?1", params![id])
        .map_err(unavailable)?;
    Ok(n == 1)
}

pub(super) fn subscribers(c: &Connection) -> Result<Vec<Subscriber>, StoreError> {
    let mut s = c
        .prepare_cached("SELECT id, service_id, url, secret FROM event_subscriber ORDER BY id")
        .map_err(unavailable)?;
    s.query_map([], |r| {
        Ok(Subscriber {
            id: r.get(0)?,
            service_id: r.get(1)?,
            url: r.get(2)?,
            secret: r.get(3)?,
        })
    })
    .and_then(Iterator::collect)
    .map_err(unavailable)
}

const DELIVERY_SELECT: &str =
    "SELECT d.subscriber_id, d.state, d.attempts, d.last_error, d.next_attempt_ns,
        e.seq, e.appointment_id, e.version, e.service_id, e.action, e.status, e.actor_ods, e.at_ns
    FROM event_delivery d JOIN appointment_event e ON e.seq = d.event_seq";

fn delivery_row(r: &Row<'_>) -> rusqlite::Result<Delivery> {
    let state: String = r.get(1)?;
    let status: String = r.get(10)?;
    Ok(Delivery {
        subscriber_id: r.get(0)?,
        state: JobState::parse(&state).unwrap_or(JobState::Failed),
        attempts: r.get::<_, i64>(2)?.max(0) as u32,
        last_error: r.get(3)?,
        next_attempt: instant(r.get(4)?),
        event: EventRecord {
            seq: r.get(5)?,
            appointment_id: r.get(6)?,
            version: version(r.get(7)?),
            service_id: r.get(8)?,
            action: r.get(9)?,
            status: AppointmentStatus::parse(&status).unwrap_or(AppointmentStatus::EnteredInError),
            actor_ods: r.get(11)?,
            at: instant(r.get(12)?),
        },
    })
}

pub(super) fn claim(
    c: &Connection,
    owner: &str,
    limit: usize,
    now: Instant,
    lease_until: Instant,
) -> Result<Vec<Delivery>, StoreError> {
    // The head of each (subscriber, appointment) queue: a failed head blocks the deliveries
    // behind it, so an operator's retry keeps them in order.
    let mut s = c
        .prepare_cached(&format!(
            "{DELIVERY_SELECT}
             WHERE d.state = 'pending' AND d.next_attempt_ns <= ?1
               AND (d.leased_until_ns IS NULL OR d.leased_until_ns < ?1 OR d.leased_by = ?3)
               AND d.event_seq = (SELECT MIN(h.event_seq) FROM event_delivery h
                                  WHERE h.subscriber_id = d.subscriber_id AND h.appointment_id = d.appointment_id
                                    AND h.state IN ('pending', 'failed'))
             ORDER BY d.event_seq LIMIT ?2"
        ))
        .map_err(unavailable)?;
    let found: Vec<Delivery> = s
        .query_map(params![now.unix_nanos(), limit as i64, owner], delivery_row)
        .and_then(Iterator::collect)
        .map_err(unavailable)?;
    let mut lease = c
        .prepare_cached(
            "UPDATE event_delivery SET leased_by = ?3, leased_until_ns = ?4 WHERE subscriber_id = ?1 AND event_seq = ?2",
        )
        .map_err(unavailable)?;
    for d in &found {
        lease
            .execute(params![
                d.subscriber_id,
                d.event.seq,
                owner,
                lease_until.unix_nanos()
            ])
            .map_err(unavailable)?;
    }
    Ok(found)
}

pub(super) fn finish(
    c: &Connection,
    subscriber: &str,
    seq: i64,
    owner: &str,
    now: Instant,
) -> Result<(), StoreError> {
    let n = c
        .execute(
            "UPDATE event_delivery SET state = 'done', done_ns = ?4, leased_by = NULL, leased_until_ns = NULL
             WHERE subscriber_id = ?1 AND event_seq = ?2 AND leased_by = ?3 AND state = 'pending'",
            params![subscriber, seq, owner, now.unix_nanos()],
        )
        .map_err(unavailable)?;
    if n == 0 {
        return Err(StoreError::Internal(format!(
            "delivery of event {seq} to {subscriber} is not leased to this worker"
        )));
    }
    Ok(())
}

pub(super) fn postpone(
    c: &Connection,
    subscriber: &str,
    seq: i64,
    owner: &str,
    error: &str,
    next: Instant,
    give_up: bool,
) -> Result<(), StoreError> {
    let state = if give_up { "failed" } else { "pending" };
    c.execute(
        "UPDATE event_delivery SET state = ?5, attempts = attempts + 1, last_error = ?4, next_attempt_ns = ?6,
             leased_by = NULL, leased_until_ns = NULL
         WHERE subscriber_id = ?1 AND event_seq = ?2 AND leased_by = ?3",
        params![subscriber, seq, owner, error, state, next.unix_nanos()],
    )
    .map_err(unavailable)?;
    Ok(())
}

pub(super) fn release_leases(c: &Connection) -> Result<usize, StoreError> {
    c.execute(
        "UPDATE event_delivery SET leased_by = NULL, leased_until_ns = NULL WHERE leased_by IS NOT NULL",
        [],
    )
    .map_err(unavailable)
}

pub(super) fn requeue(
    c: &Connection,
    subscriber: &str,
    seq: Option<i64>,
    now: Instant,
) -> Result<usize, StoreError> {
    c.execute(
        "UPDATE event_delivery SET state = 'pending', attempts = 0, next_attempt_ns = ?3
         WHERE subscriber_id = ?1 AND (?2 IS NULL OR event_seq = ?2) AND state = 'failed'",
        params![subscriber, seq, now.unix_nanos()],
    )
    .map_err(unavailable)
}

pub(super) fn undelivered(
    c: &Connection,
    subscriber: Option<&str>,
    limit: usize,
) -> Result<Vec<Delivery>, StoreError> {
    let mut s = c
        .prepare_cached(&format!(
            "{DELIVERY_SELECT} WHERE d.state IN ('pending', 'failed') AND (?1 IS NULL OR d.subscriber_id = ?1)
             ORDER BY d.event_seq LIMIT ?2"
        ))
        .map_err(unavailable)?;
    s.query_map(params![subscriber, limit as i64], delivery_row)
        .and_then(Iterator::collect)
        .map_err(unavailable)
}
