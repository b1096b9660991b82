//! The Registry pointer outbox, shared by every instance on the database.
//!
//! A claim leases jobs with `FOR UPDATE SKIP LOCKED`: two workers claiming at once never block
//! each other and never get the same job, since a row one of them is leasing is skipped by the
//! other, and a row whose lease has just been committed fails the lease test when re-checked.
//! Only the head of each appointment's queue (its oldest job not yet delivered) can be claimed,
//! and the head stays the head while it is leased or parked, so an appointment's jobs are
//! delivered one at a time, in order, whichever instance delivers them. A lease that is not
//! finished (a crashed instance) simply expires; a worker that is still alive but could not
//! record an outcome (the database went away mid-delivery, or a claim's answer was lost) takes
//! its own leases back at its next claim instead of waiting for them to expire.

use bars_booking::PointerAction;
use bars_fhir::Instant;
use deadpool_postgres::{GenericClient, Transaction};
use tokio_postgres::Row;

use super::errors::db;
use super::sql;
use crate::columns::{instant, version};
use crate::error::StoreError;
use crate::model::{JobState, OutboxStats, PointerIdChange, PointerJob};

const JOB_COLUMNS: &str = "seq, appointment_id, appointment_version, action, state, attempts, last_error, created_ns, next_attempt_ns";

fn job_row(r: &Row) -> PointerJob {
    let action: String = r.get(3);
    let state: String = r.get(4);
    PointerJob {
        seq: r.get(0),
        appointment_id: r.get(1),
        appointment_version: version(r.get(2)),
        action: PointerAction::parse(&action).unwrap_or(PointerAction::Update),
        state: JobState::parse(&state).unwrap_or(JobState::Failed),
        attempts: r.get::<_, i32>(5).max(0) as u32,
        last_error: r.get(6),
        created: instant(r.get(7)),
        next_attempt: instant(r.get(8)),
    }
}

pub(super) async fn claim(
    tx: &Transaction<'_>,
    owner: &str,
    limit: usize,
    now: Instant,
    lease_until: Instant,
) -> Result<Vec<PointerJob>, StoreError> {
    let rows = sql::rows(
        tx,
        "WITH heads AS (
             SELECT o.seq FROM outbox o
             WHERE o.state = 'pending' AND o.next_attempt_ns <= $1
               AND (o.leased_until_ns IS NULL OR o.leased_until_ns < $1 OR o.leased_by = $3)
               AND o.seq = (SELECT MIN(h.seq) FROM outbox h WHERE h.appointment_id = o.appointment_id AND h.state <> 'done')
             ORDER BY o.seq
             LIMIT $2
             FOR UPDATE OF o SKIP LOCKED
         )
         UPDATE outbox SET leased_by = $3, leased_until_ns = $4
         FROM heads WHERE outbox.seq = heads.seq
         RETURNING outbox.seq, outbox.appointment_id, outbox.appointment_version, outbox.action, outbox.state,
                   outbox.attempts, outbox.last_error, outbox.created_ns, outbox.next_attempt_ns",
        &[&now.unix_nanos(), &(limit as i64), &owner, &lease_until.unix_nanos()],
    )
    .await
    .map_err(db)?;
    let mut jobs: Vec<PointerJob> = rows.iter().map(job_row).collect();
    jobs.sort_by_key(|j| j.seq);
    Ok(jobs)
}

pub(super) async fn finish(
    tx: &Transaction<'_>,
    seq: i64,
    owner: &str,
    pointer: &PointerIdChange,
    now: Instant,
) -> Result<(), StoreError> {
    let Some(row) = sql::opt(
        tx,
        "UPDATE outbox SET state = 'done', done_ns = $3, leased_by = NULL, leased_until_ns = NULL
         WHERE seq = $1 AND leased_by = $2 AND state = 'pending' RETURNING appointment_id",
        &[&seq, &owner, &now.unix_nanos()],
    )
    .await
    .map_err(db)?
    else {
        return Err(StoreError::Internal(format!(
            "pointer job {seq} is not leased to this worker"
        )));
    };
    let appointment: String = row.get(0);
    let id: Option<&str> = match pointer {
        PointerIdChange::Keep => return Ok(()),
        PointerIdChange::Set(id) => Some(id),
        PointerIdChange::Clear => None,
    };
    sql::exec(
        tx,
        "UPDATE appointment SET pointer_id = $2 WHERE id = $1",
        &[&appointment, &id],
    )
    .await
    .map_err(db)?;
    Ok(())
}

pub(super) async fn postpone<C: GenericClient>(
    c: &C,
    seq: i64,
    owner: &str,
    error: &str,
    next: Instant,
    give_up: bool,
) -> Result<(), StoreError> {
    let state = if give_up { "failed" } else { "pending" };
    sql::exec(
        c,
        "UPDATE outbox SET state = $4, attempts = attempts + 1, last_error = $3, next_attempt_ns = $5, leased_by = NULL, leased_until_ns = NULL
         WHERE seq = $1 AND leased_by = $2",
        &[&seq, &owner, &error, &state, &next.unix_nanos()],
    )
    .await
    .map_err(db)?;
    Ok(())
}

pub(super) async fn release_leases<C: GenericClient>(c: &C) -> Result<usize, StoreError> {
    let n = sql::exec(
        c,
        "UPDATE outbox SET leased_by = NULL, leased_until_ns = NULL WHERE leased_by IS NOT NULL",
        &[],
    )
    .await
    .map_err(db)?;
    Ok(n as usize)
}

pub(super) async fn requeue<C: GenericClient>(
    c: &C,
    seq: i64,
    now: Instant,
) -> Result<bool, StoreError> {
    let n = sql::exec(
        c,
        "UPDATE outbox SET state = 'pending', next_attempt_ns = $2 WHERE seq = $1 AND state = 'failed'",
        &[&seq, &now.unix_nanos()],
    )
    .await
    .map_err(db)?;
    Ok(n == 1)
}

pub(super) async fn undelivered<C: GenericClient>(
    c: &C,
    limit: usize,
) -> Result<Vec<PointerJob>, StoreError> {
    let rows = sql::rows(
        c,
        &format!("SELECT {JOB_COLUMNS} FROM outbox WHERE state <> 'done' ORDER BY seq LIMIT $1"),
        &[&(limit as i64)],
    )
    .await
    .map_err(db)?;
    Ok(rows.iter().map(job_row).collect())
}

pub(super) async fn stats<C: GenericClient>(c: &C) -> Result<OutboxStats, StoreError> {
    let r = sql::one(
        c,
        "SELECT COUNT(*) FILTER (WHERE state = 'pending'), COUNT(*) FILTER (WHERE state = 'failed'), MIN(created_ns)
         FROM outbox WHERE state <> 'done'",
        &[],
    )
    .await
    .map_err(db)?;
    Ok(OutboxStats {
        pending: r.get::<_, i64>(0).max(0) as u64,
        failed: r.get::<_, i64>(1).max(0) as u64,
        oldest_undelivered: r.get::<_, Option<i64>>(2).map(instant),
    })
}
