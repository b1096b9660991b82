//! The Registry pointer outbox. One process uses a SQLite database, and the writer thread
//! runs one claim at a time, so leasing needs no row locks; only the head of each
//! appointment's queue (its oldest job not yet delivered) can be claimed.

use bars_fhir::Instant;
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::unavailable;
use crate::columns::{instant, version};
use crate::error::StoreError;
use crate::model::{JobState, OutboxStats, PointerIdChange, PointerJob};

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

pub(super) fn claim(
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

pub(super) fn finish(
    c: &Connection,
    seq: i64,
    owner: &str,
    pointer: &PointerIdChange,
    now: Instant,
) -> Result<String, StoreError> {
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
    Ok(appointment)
}

pub(super) fn postpone(
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

pub(super) fn release_leases(c: &Connection) -> Result<usize, StoreError> {
    c.execute(
        "UPDATE outbox SET leased_by = NULL, leased_until_ns = NULL WHERE leased_by IS NOT NULL",
        [],
    )
    .map_err(unavailable)
}

pub(super) fn requeue(c: &Connection, seq: i64, now: Instant) -> Result<bool, StoreError> {
    let n = c
        .execute("UPDATE outbox SET state = 'pending', next_attempt_ns = ?2 WHERE seq = ?1 AND state = 'failed'", params![seq, now.unix_nanos()])
        .map_err(unavailable)?;
    Ok(n == 1)
}

pub(super) fn undelivered(c: &Connection, limit: usize) -> Result<Vec<PointerJob>, StoreError> {
    let mut s = c
        .prepare_cached(&format!("SELECT {JOB_COLUMNS} FROM outbox WHERE state IN ('pending', 'failed') ORDER BY seq LIMIT ?1"))
        .map_err(unavailable)?;
    s.query_map(params![limit as i64], job_row)
        .and_then(Iterator::collect)
        .map_err(unavailable)
}

pub(super) fn stats(c: &Connection) -> Result<OutboxStats, StoreError> {
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
