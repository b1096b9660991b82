//! The append-only audit log (triggers refuse updates and deletes).

use bars_fhir::Instant;
use rusqlite::{Connection, params};

use super::unavailable;
use crate::columns::{instant, version};
use crate::error::StoreError;
use crate::model::{AuditEntry, AuditQuery, AuditRecord};

/// Appends a batch of entries, each stamped with the time it gives or, failing that, now.
pub(super) fn append(c: &Connection, entries: &[AuditEntry]) -> Result<(), StoreError> {
    let mut s = c
        .prepare_cached(
            "INSERT INTO audit (at_ns, request_id, correlation_id, sender_ods, sender_software, sender_app, action, resource_type, resource_id, version, outcome, patient)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
        )
        .map_err(unavailable)?;
    for e in entries {
        let at = e.at.unwrap_or_else(Instant::now);
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
        .map_err(unavailable)?;
    }
    Ok(())
}

pub(super) fn query(c: &Connection, q: &AuditQuery) -> Result<Vec<AuditRecord>, StoreError> {
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
