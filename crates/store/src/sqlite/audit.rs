//! The append-only change log of the audit trail (triggers refuse updates and deletes), and
//! the statements it shares with the access log's segments ([`super::access_log`]).

use std::sync::LazyLock;

use bars_fhir::Instant;
use rusqlite::{Connection, params};

use super::unavailable;
use crate::columns::{instant, version};
use crate::error::StoreError;
use crate::model::{AuditEntry, AuditQuery, AuditRecord};

/// The columns of an entry, in the order every statement here binds and reads them: the change
/// log `audit` and each segment of the access log have exactly these.
const COLUMNS: &str = "seq, at_ns, request_id, correlation_id, sender_ods, sender_software, sender_app, action, resource_type, resource_id, version, outcome, patient";

/// The statement that appends an entry to `table`: made once per table and batch, not per entry.
pub(super) fn insert_sql(table: &str) -> String {
    format!(
        "INSERT INTO {table} ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)"
    )
}

static CHANGE_LOG_INSERT: LazyLock<String> = LazyLock::new(|| insert_sql("audit"));

/// Appends one entry with its `seq` by `insert` (an [`insert_sql`]), stamped with the time it
/// gives or, failing that, now.
pub(super) fn insert(
    c: &Connection,
    insert: &str,
    seq: i64,
    e: &AuditEntry,
) -> rusqlite::Result<()> {
    let at = e.at.unwrap_or_else(Instant::now);
    c.prepare_cached(insert)?
        .execute(params![
            seq,
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
        .map(|_| ())
}

/// Appends a change's entry to the change log, inside the change's transaction.
pub(super) fn append(c: &Connection, seq: i64, entry: &AuditEntry) -> Result<(), StoreError> {
    insert(c, &CHANGE_LOG_INSERT, seq, entry).map_err(unavailable)
}

/// The highest `seq` of the change log (0 when empty).
pub(super) fn highest_seq(c: &Connection) -> Result<i64, StoreError> {
    c.query_row("SELECT coalesce(max(seq), 0) FROM audit", [], |r| r.get(0))
        .map_err(unavailable)
}

/// The change log's first entries matching `q`, in `seq` order.
pub(super) fn query(c: &Connection, q: &AuditQuery) -> Result<Vec<AuditRecord>, StoreError> {
    select(c, "audit", q, q.row_limit())
}

/// The first `limit` entries of `table` matching `q`, in `seq` order.
pub(super) fn select(
    c: &Connection,
    table: &str,
    q: &AuditQuery,
    limit: i64,
) -> Result<Vec<AuditRecord>, StoreError> {
    let (sql, values) = query_sql(table, q);
    let mut s = c.prepare_cached(&sql).map_err(unavailable)?;
    let mut args: Vec<&dyn rusqlite::ToSql> = values.iter().map(|v| v as _).collect();
    args.push(&limit);
    s.query_map(args.as_slice(), |r| {
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
    })
    .and_then(Iterator::collect)
    .map_err(unavailable)
}

/// The query of `table` for `q`'s filters only, so that the planner can use the index of the
/// one given.
pub(super) fn query_sql<'q>(table: &str, q: &'q AuditQuery) -> (String, Vec<&'q str>) {
    let filters = q.filters();
    let conditions: Vec<String> = filters
        .iter()
        .enumerate()
        .map(|(i, (column, _))| format!("{column} = ?{}", i + 1))
        .collect();
    let filter = if conditions.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", conditions.join(" AND "))
    };
    let sql = format!(
        "SELECT {COLUMNS} FROM {table} {filter} ORDER BY seq LIMIT ?{}",
        filters.len() + 1
    );
    (sql, filters.into_iter().map(|(_, v)| v).collect())
}

/// The query plan `query_sql` gets for `q` on `table`, its steps joined: which index answers.
#[cfg(test)]
pub(super) fn plan_of(c: &Connection, table: &str, q: &AuditQuery) -> String {
    let (sql, values) = query_sql(table, q);
    let mut args: Vec<&dyn rusqlite::ToSql> = values.iter().map(|v| v as _).collect();
    let limit = q.row_limit();
    args.push(&limit);
    c.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
        .and_then(|mut s| {
            s.query_map(args.as_slice(), |r| r.get::<_, String>(3))?
                .collect::<Result<Vec<_>, _>>()
        })
        .map(|steps| steps.join("; "))
        .unwrap_or_else(|e| format!("no plan: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A lookup by patient, appointment or request reads that column's index, not the whole log.
    #[test]
    fn each_filter_is_answered_from_its_index() {
        let mut c = Connection::open_in_memory().unwrap();
        crate::sqlite::migrate::apply(&mut c, &crate::sqlite::schema::RECEIVER).unwrap();
        for (q, index) in [
            (
                AuditQuery {
                    patient: Some("9434765919".into()),
                    ..AuditQuery::default()
                },
                "audit_by_patient",
            ),
            (
                AuditQuery {
                    resource_id: Some("a".into()),
                    ..AuditQuery::default()
                },
                "audit_by_resource",
            ),
            (
                AuditQuery {
                    request_id: Some("r".into()),
                    ..AuditQuery::default()
                },
                "audit_by_request",
            ),
        ] {
            let plan = plan_of(&c, "audit", &q);
            assert!(plan.contains(index), "{index} not used: {plan}");
        }
    }
}
