//! The append-only audit log: a batch goes in as one statement.

use bars_fhir::Instant;
use deadpool_postgres::GenericClient;

use super::errors::db;
use super::sql;
use crate::columns::{instant, version};
use crate::error::StoreError;
use crate::model::{AuditEntry, AuditQuery, AuditRecord};

pub(super) async fn append<C: GenericClient>(
    c: &C,
    entries: &[AuditEntry],
) -> Result<(), StoreError> {
    if entries.is_empty() {
        return Ok(());
    }
    let now = Instant::now();
    let at: Vec<i64> = entries
        .iter()
        .map(|e| e.at.unwrap_or(now).unix_nanos())
        .collect();
    let text = |f: fn(&AuditEntry) -> &str| entries.iter().map(f).collect::<Vec<&str>>();
    let opt =
        |f: fn(&AuditEntry) -> Option<&str>| entries.iter().map(f).collect::<Vec<Option<&str>>>();
    let request_ids = text(|e| &e.request_id);
    let correlation_ids = text(|e| &e.correlation_id);
    let actions = text(|e| &e.action);
    let types = text(|e| &e.resource_type);
    let ods = opt(|e| e.sender_ods.as_deref());
    let software = opt(|e| e.sender_software.as_deref());
    let apps = opt(|e| e.sender_app.as_deref());
    let resources = opt(|e| e.resource_id.as_deref());
    let patients = opt(|e| e.patient.as_deref());
    let versions: Vec<Option<i64>> = entries
        .iter()
        .map(|e| e.version.map(|v| v as i64))
        .collect();
    let outcomes: Vec<i32> = entries.iter().map(|e| i32::from(e.outcome)).collect();
    sql::exec(
        c,
        "INSERT INTO audit (at_ns, request_id, correlation_id, sender_ods, sender_software, sender_app, action, resource_type, resource_id, version, outcome, patient)
         SELECT * FROM UNNEST($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::bigint[], $11::int[], $12::text[])",
        &[
            &at,
            &request_ids,
            &correlation_ids,
            &ods,
            &software,
            &apps,
            &actions,
            &types,
            &resources,
            &versions,
            &outcomes,
            &patients,
        ],
    )
    .await
    .map_err(db)?;
    Ok(())
}

pub(super) async fn query<C: GenericClient>(
    c: &C,
    q: &AuditQuery,
) -> Result<Vec<AuditRecord>, StoreError> {
    // Only the filters given, so that the planner can use the index of the one given (a
    // catch-all `($1 IS NULL OR ...)` reads the whole log once the plan is generic).
    let filters = q.filters();
    let conditions: Vec<String> = filters
        .iter()
        .enumerate()
        .map(|(i, (column, _))| format!("{column} = ${}", i + 1))
        .collect();
    let filter = if conditions.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", conditions.join(" AND "))
    };
    let limit = q.row_limit();
    let values: Vec<&str> = filters.iter().map(|(_, v)| *v).collect();
    let mut args: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> =
        values.iter().map(|v| v as _).collect();
    args.push(&limit);
    let rows = sql::rows(
        c,
        &format!(
            "SELECT seq, at_ns, request_id, correlation_id, sender_ods, sender_software, sender_app, action, resource_type, resource_id, version, outcome, patient
             FROM audit {filter} ORDER BY seq LIMIT ${}",
            filters.len() + 1
        ),
        &args,
    )
    .await
    .map_err(db)?;
    Ok(rows
        .iter()
        .map(|r| AuditRecord {
            seq: r.get(0),
            entry: AuditEntry {
                at: Some(instant(r.get(1))),
                request_id: r.get(2),
                correlation_id: r.get(3),
                sender_ods: r.get(4),
                sender_software: r.get(5),
                sender_app: r.get(6),
                action: r.get(7),
                resource_type: r.get(8),
                resource_id: r.get(9),
                version: r.get::<_, Option<i64>>(10).map(version),
                outcome: r.get::<_, i32>(11).clamp(0, i32::from(u16::MAX)) as u16,
                patient: r.get(12),
            },
        })
        .collect())
}
