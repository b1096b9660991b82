//! Request records: the idempotency key of every write.

use bars_fhir::Instant;
use rusqlite::{Connection, OptionalExtension, params};

use super::{is_unique_violation, unavailable};
use crate::columns::instant;
use crate::error::StoreError;
use crate::model::{IdempotencyKey, IdempotencyRecord, RequestOutcome};

/// Inserts a request record; returns false when one already exists for the key. With
/// `ignore_existing` the existing record is silently kept.
pub(super) fn insert(
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

pub(super) fn find(
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

pub(super) fn purge(c: &Connection, before: Instant) -> Result<usize, StoreError> {
    c.execute(
        "DELETE FROM request WHERE recorded_ns < ?1",
        params![before.unix_nanos()],
    )
    .map_err(unavailable)
}
