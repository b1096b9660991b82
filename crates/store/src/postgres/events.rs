//! Appointment events and their webhook deliveries, shared by every instance on the database.
//!
//! [`record`] runs as the last statement of an appointment change's transaction. It first
//! takes a transaction-scoped advisory lock, so events get their `seq` in the order their
//! changes commit: a feed reader that has seen `seq` n never later finds an event below n
//! committed behind its back. The lock is held only from the event's insert to the commit.
//!
//! Claims lease deliveries with `FOR UPDATE SKIP LOCKED`, as the pointer outbox does: two
//! instances claiming at once never get the same delivery, and only the head of each
//! (subscriber, appointment) queue can be claimed, so one appointment's events reach a
//! subscriber one at a time, in order, whichever instance sends them.

use bars_booking::AppointmentStatus;
use bars_fhir::Instant;
use deadpool_postgres::{GenericClient, Transaction};
use tokio_postgres::Row;

use super::errors::db;
use super::sql;
use crate::columns::{instant, version};
use crate::error::{CommitError, StoreError};
use crate::model::{AppointmentChange, JobState};
use crate::provider_model::{Delivery, EventQuery, EventRecord, Subscriber};

const ORDER_LOCK: &str = "SELECT pg_advisory_xact_lock(hashtext('bars.appointment_event'), hashtext(COALESCE(current_schema(), '')))";

const EVENT_COLUMNS: &str =
    "e.seq, e.appointment_id, e.version, e.service_id, e.action, e.status, e.actor_ods, e.at_ns";

fn event_at(r: &Row, i: usize) -> EventRecord {
    let status: String = r.get(i + 5);
    EventRecord {
        seq: r.get(i),
        appointment_id: r.get(i + 1),
        version: version(r.get(i + 2)),
        service_id: r.get(i + 3),
        action: r.get(i + 4),
        status: AppointmentStatus::parse(&status).unwrap_or(AppointmentStatus::EnteredInError),
        actor_ods: r.get(i + 6),
        at: instant(r.get(i + 7)),
    }
}

/// Writes the change's event and a delivery for each subscriber of its service.
pub(super) async fn record(
    tx: &Transaction<'_>,
    ch: &AppointmentChange,
) -> Result<(), CommitError> {
    tx.batch_execute(ORDER_LOCK).await.map_err(db)?;
    let now = ch.last_updated.unix_nanos();
    let row = sql::one(
        tx,
        "INSERT INTO appointment_event (appointment_id, version, service_id, action, status, actor_ods, at_ns)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING seq",
        &[
            &ch.id,
            &(ch.version as i64),
            &ch.service_id,
            &ch.audit.action,
            &ch.status.as_str(),
            &ch.audit.sender_ods,
            &now,
        ],
    )
    .await
    .map_err(db)?;
    let seq: i64 = row.get(0);
    sql::exec(
        tx,
        "INSERT INTO event_delivery (subscriber_id, event_seq, appointment_id, next_attempt_ns)
         SELECT id, $1, $2, $3 FROM event_subscriber WHERE service_id = $4",
        &[&seq, &ch.id, &now, &ch.service_id],
    )
    .await
    .map_err(db)?;
    Ok(())
}

pub(super) async fn after<C: GenericClient>(
    c: &C,
    q: &EventQuery,
) -> Result<Vec<EventRecord>, StoreError> {
    let rows = sql::rows(
        c,
        &format!(
            "SELECT {EVENT_COLUMNS} FROM appointment_event e
             WHERE e.seq > $1 AND ($2::TEXT IS NULL OR e.service_id = $2) ORDER BY e.seq LIMIT $3"
        ),
        &[&q.after, &q.service, &(q.limit as i64)],
    )
    .await
    .map_err(db)?;
    Ok(rows.iter().map(|r| event_at(r, 0)).collect())
}

pub(super) async fn put_subscriber<C: GenericClient>(
    c: &C,
    s: &Subscriber,
) -> Result<(), StoreError> {
    sql::exec(
        c,
        "INSERT INTO event_subscriber (id, service_id, url, secret) VALUES ($1, $2, $3, $4)
         ON CONFLICT (id) DO UPDATE SET service_id = excluded.service_id, url = excluded.url, secret = excluded.secret",
        &[&s.id, &s.service_id, &s.url, &s.secret],
    )
    .await
    .map_err(db)?;
    Ok(())
}

pub(super) async fn remove_subscriber(tx: &Transaction<'_>, id: &str) -> Result<bool, StoreError> {
    sql::exec(
        tx,
        "DELETE FROM event_delivery WHERE subscriber_id = $1",
        &[&id],
    )
    .await
    .map_err(db)?;
    let n = sql::exec(tx, "DELETE FROM event_subscriber WHERE id = $1", &[&id])
        .await
        .map_err(db)?;
    Ok(n == 1)
}

pub(super) async fn subscribers<C: GenericClient>(c: &C) -> Result<Vec<Subscriber>, StoreError> {
    let rows = sql::rows(
        c,
        "SELECT id, service_id, url, secret FROM event_subscriber ORDER BY id",
        &[],
    )
    .await
    .map_err(db)?;
    Ok(rows
        .iter()
        .map(|r| Subscriber {
            id: r.get(0),
            service_id: r.get(1),
            url: r.get(2),
            secret: r.get(3),
        })
        .collect())
}

const DELIVERY_COLUMNS: &str =
    "d.subscriber_id, d.state, d.attempts, d.last_error, d.next_attempt_ns";

fn delivery_row(r: &Row) -> Delivery {
    let state: String = r.get(1);
    Delivery {
        subscriber_id: r.get(0),
        state: JobState::parse(&state).unwrap_or(JobState::Failed),
        attempts: r.get::<_, i32>(2).max(0) as u32,
        last_error: r.get(3),
        next_attempt: instant(r.get(4)),
        event: event_at(r, 5),
    }
}

pub(super) async fn claim(
    tx: &Transaction<'_>,
    owner: &str,
    limit: usize,
    now: Instant,
    lease_until: Instant,
) -> Result<Vec<Delivery>, StoreError> {
    let leased = sql::rows(
        tx,
        "WITH heads AS (
             SELECT d.subscriber_id, d.event_seq FROM event_delivery d
             WHERE d.state = 'pending' AND d.next_attempt_ns <= $1
               AND (d.leased_until_ns IS NULL OR d.leased_until_ns < $1 OR d.leased_by = $3)
               AND d.event_seq = (SELECT MIN(h.event_seq) FROM event_delivery h
                                  WHERE h.subscriber_id = d.subscriber_id AND h.appointment_id = d.appointment_id
                                    AND h.state <> 'done')
             ORDER BY d.event_seq
             LIMIT $2
             FOR UPDATE OF d SKIP LOCKED
         )
         UPDATE event_delivery SET leased_by = $3, leased_until_ns = $4
         FROM heads WHERE event_delivery.subscriber_id = heads.subscriber_id AND event_delivery.event_seq = heads.event_seq
         RETURNING event_delivery.subscriber_id, event_delivery.event_seq",
        &[&now.unix_nanos(), &(limit as i64), &owner, &lease_until.unix_nanos()],
    )
    .await
    .map_err(db)?;
    if leased.is_empty() {
        return Ok(Vec::new());
    }
    let subscribers: Vec<String> = leased.iter().map(|r| r.get(0)).collect();
    let seqs: Vec<i64> = leased.iter().map(|r| r.get(1)).collect();
    let rows = sql::rows(
        tx,
        &format!(
            "SELECT {DELIVERY_COLUMNS}, {EVENT_COLUMNS}
             FROM unnest($1::TEXT[], $2::BIGINT[]) AS l(subscriber_id, event_seq)
             JOIN event_delivery d ON d.subscriber_id = l.subscriber_id AND d.event_seq = l.event_seq
             JOIN appointment_event e ON e.seq = d.event_seq
             ORDER BY d.event_seq, d.subscriber_id"
        ),
        &[&subscribers, &seqs],
    )
    .await
    .map_err(db)?;
    Ok(rows.iter().map(delivery_row).collect())
}

pub(super) async fn finish<C: GenericClient>(
    c: &C,
    subscriber: &str,
    seq: i64,
    owner: &str,
    now: Instant,
) -> Result<(), StoreError> {
    let n = sql::exec(
        c,
        "UPDATE event_delivery SET state = 'done', done_ns = $4, leased_by = NULL, leased_until_ns = NULL
         WHERE subscriber_id = $1 AND event_seq = $2 AND leased_by = $3 AND state = 'pending'",
        &[&subscriber, &seq, &owner, &now.unix_nanos()],
    )
    .await
    .map_err(db)?;
    if n == 0 {
        return Err(StoreError::Internal(format!(
            "delivery of event {seq} to {subscriber} is not leased to this worker"
        )));
    }
    Ok(())
}

pub(super) async fn postpone<C: GenericClient>(
    c: &C,
    subscriber: &str,
    seq: i64,
    owner: &str,
    error: &str,
    next: Instant,
    give_up: bool,
) -> Result<(), StoreError> {
    let state = if give_up { "failed" } else { "pending" };
    sql::exec(
        c,
        "UPDATE event_delivery SET state = $5, attempts = attempts + 1, last_error = $4, next_attempt_ns = $6,
             leased_by = NULL, leased_until_ns = NULL
         WHERE subscriber_id = $1 AND event_seq = $2 AND leased_by = $3",
        &[&subscriber, &seq, &owner, &error, &state, &next.unix_nanos()],
    )
    .await
    .map_err(db)?;
    Ok(())
}

pub(super) async fn release_leases<C: GenericClient>(c: &C) -> Result<usize, StoreError> {
    let n = sql::exec(
        c,
        "UPDATE event_delivery SET leased_by = NULL, leased_until_ns = NULL WHERE leased_by IS NOT NULL",
        &[],
    )
    .await
    .map_err(db)?;
    Ok(n as usize)
}

pub(super) async fn requeue<C: GenericClient>(
    c: &C,
    subscriber: &str,
    seq: Option<i64>,
    now: Instant,
) -> Result<usize, StoreError> {
    let n = sql::exec(
        c,
        "UPDATE event_delivery SET state = 'pending', attempts = 0, next_attempt_ns = $3
         WHERE subscriber_id = $1 AND ($2::BIGINT IS NULL OR event_seq = $2) AND state = 'failed'",
        &[&subscriber, &seq, &now.unix_nanos()],
    )
    .await
    .map_err(db)?;
    Ok(n as usize)
}

pub(super) async fn undelivered<C: GenericClient>(
    c: &C,
    subscriber: Option<&str>,
    limit: usize,
) -> Result<Vec<Delivery>, StoreError> {
    let rows = sql::rows(
        c,
        &format!(
            "SELECT {DELIVERY_COLUMNS}, {EVENT_COLUMNS}
             FROM event_delivery d JOIN appointment_event e ON e.seq = d.event_seq
             WHERE d.state <> 'done' AND ($1::TEXT IS NULL OR d.subscriber_id = $1)
             ORDER BY d.event_seq LIMIT $2"
        ),
        &[&subscriber, &(limit as i64)],
    )
    .await
    .map_err(db)?;
    Ok(rows.iter().map(delivery_row).collect())
}
