//! Request records: the idempotency key of every write. The primary key on (request id,
//! correlation id, sender) is what lets only one of two instances apply the same request.

use bars_fhir::Instant;
use deadpool_postgres::GenericClient;

use super::errors::db;
use super::sql;
use crate::columns::instant;
use crate::error::StoreError;
use crate::model::{IdempotencyKey, IdempotencyRecord, RequestOutcome};

/// Inserts a request record; false when one already exists for the key (committed by anyone,
/// including a transaction that was in flight and committed while this one waited).
pub(super) async fn insert<C: GenericClient>(
    c: &C,
    record: &IdempotencyRecord,
    ignore_existing: bool,
) -> Result<bool, StoreError> {
    let (succeeded, status, body, location) = match &record.outcome {
        RequestOutcome::Succeeded { location } => (true, None, None, location.as_deref()),
        RequestOutcome::Failed { status, body } => {
            (false, Some(i32::from(*status)), Some(body.as_str()), None)
        }
    };
    let n = sql::exec(
        c,
        "INSERT INTO request (request_id, correlation_id, sender, succeeded, status, body, location, recorded_ns)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
        &[
            &record.key.request_id,
            &record.key.correlation_id,
            &record.key.sender,
            &succeeded,
            &status,
            &body,
            &location,
            &record.recorded.unix_nanos(),
        ],
    )
    .await
    .map_err(db)?;
    Ok(n == 1 || ignore_existing)
}

pub(super) async fn find<C: GenericClient>(
    c: &C,
    key: &IdempotencyKey,
) -> Result<Option<IdempotencyRecord>, StoreError> {
    let row = sql::opt(
        c,
        "SELECT succeeded, status, body, location, recorded_ns FROM request
         WHERE request_id = $1 AND correlation_id = $2 AND sender = $3",
        &[&key.request_id, &key.correlation_id, &key.sender],
    )
    .await
    .map_err(db)?;
    Ok(row.map(|r| {
        let outcome = if r.get::<_, bool>(0) {
            RequestOutcome::Succeeded { location: r.get(3) }
        } else {
            RequestOutcome::Failed {
                status: r.get::<_, Option<i32>>(1).unwrap_or(500) as u16,
                body: r.get::<_, Option<String>>(2).unwrap_or_default(),
            }
        };
        IdempotencyRecord {
            key: key.clone(),
            outcome,
            recorded: instant(r.get(4)),
        }
    }))
}

pub(super) async fn purge<C: GenericClient>(c: &C, before: Instant) -> Result<usize, StoreError> {
    let n = sql::exec(
        c,
        "DELETE FROM request WHERE recorded_ns < $1",
        &[&before.unix_nanos()],
    )
    .await
    .map_err(db)?;
    Ok(n as usize)
}
