//! The append-only change log of the audit trail (triggers refuse updates and deletes), and
//! the statements it shares with the access log's segments ([`super::access_log`]).
//!
//! The change log is ordered by `seq` and indexed by appointment (whose ids are time-ordered,
//! so new entries land at the index's end) and by patient. Request ids are senders' random
//! UUIDs: an index of them, updated in each change's transaction, put every booking's entry on
//! a random page of it, dirtied, written to the write-ahead log and checkpointed, which cost
//! the group-commit writer about a third of its commits a second (docs/BENCHMARKS.md). They
//! are indexed a run at a time instead ([`RequestRuns`]): once `change_run_entries`
//! (`SqliteOptions`) changes have been logged since the last run, their request ids are sorted
//! and appended to `audit_request_key` under the next run's number, which writes each of its
//! pages once, at the table's end. A lookup by request id probes each run's keys and scans the
//! entries after the last run. Runs are never merged: at the default length a receiver booking
//! ten thousand appointments a day makes about one run a day.

use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};

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
    let (sql, values) = change_log_sql(q);
    rows(c, &sql, &values, q.row_limit())
}

/// The query of the change log for `q`. A request id is found through its runs' keys and
/// the entries after the last run (two disjoint sets: a run holds every entry up to its
/// `last_seq`); the other filters through the log's own indexes.
fn change_log_sql(q: &AuditQuery) -> (String, Vec<&str>) {
    let filters = q.filters();
    let Some(position) = filters
        .iter()
        .position(|(column, _)| *column == "request_id")
    else {
        return query_sql("audit", q);
    };
    let (conditions, limit) = conditions(q);
    let request = position + 1;
    let sql = format!(
        "SELECT * FROM (
            SELECT {COLUMNS} FROM audit WHERE {conditions} AND seq IN (
                SELECT seq FROM audit_request_key
                WHERE run IN (SELECT run FROM audit_request_run) AND request_id = ?{request})
            UNION ALL
            SELECT {COLUMNS} FROM audit WHERE {conditions}
                AND seq > (SELECT coalesce(max(last_seq), 0) FROM audit_request_run)
        ) ORDER BY seq LIMIT ?{limit}"
    );
    (sql, filters.into_iter().map(|(_, v)| v).collect())
}

/// The next run's number, and the last `seq` the runs so far hold: every entry of the change
/// log up to it is in a run.
fn last_run(c: &Connection) -> rusqlite::Result<(i64, i64)> {
    c.prepare_cached(
        "SELECT coalesce(max(run) + 1, 0), coalesce(max(last_seq), 0) FROM audit_request_run",
    )?
    .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))
}

/// The change log's request-id runs: counts the entries appended since the last run and makes
/// the next run once there are enough.
///
/// The count is kept in memory and is only a hint (a job the writer runs twice counts twice):
/// what a run holds is read from the log. A run is sound because every change's `seq` is taken
/// on the writer's thread in the transaction that appends its entry ([`super::SqliteStore`]),
/// so no entry with a `seq` at or below a run's last can be committed after that run.
pub(super) struct RequestRuns {
    run_entries: u64,
    unindexed: AtomicU64,
}

impl RequestRuns {
    /// Counts the entries after the last run of the log on `c`.
    pub(super) fn open(c: &Connection, run_entries: u64) -> Result<RequestRuns, StoreError> {
        let (_, last_seq) = last_run(c).map_err(unavailable)?;
        let unindexed: i64 = c
            .query_row(
                "SELECT count(*) FROM audit WHERE seq > ?1",
                [last_seq],
                |r| r.get(0),
            )
            .map_err(unavailable)?;
        Ok(RequestRuns {
            run_entries: run_entries.max(1),
            unindexed: AtomicU64::new(unindexed as u64),
        })
    }

    /// Called by the writer after a change's entry is appended on `c`, inside its transaction:
    /// makes a run when enough entries wait. A run that fails is rolled back alone and tried
    /// again with the next change; the change itself goes on.
    pub(super) fn appended(&self, c: &Connection) {
        if self.unindexed.fetch_add(1, Ordering::Relaxed) + 1 < self.run_entries {
            return;
        }
        let started = std::time::Instant::now();
        let made = c
            .execute_batch("SAVEPOINT audit_request_run")
            .and_then(|()| make_run(c))
            .and_then(|made| c.execute_batch("RELEASE audit_request_run").map(|()| made));
        match made {
            Ok(entries) => {
                self.unindexed.store(0, Ordering::Relaxed);
                // The run's time is spent inside a batch's commit: an operator sees it here.
                tracing::info!(
                    entries,
                    ms = started.elapsed().as_secs_f64() * 1e3,
                    "audit request ids indexed as a run"
                );
            }
            Err(e) => {
                let _ = c.execute_batch("ROLLBACK TO audit_request_run; RELEASE audit_request_run");
                tracing::warn!(error = %e, "the audit's request ids not yet indexed");
            }
        }
    }
}

/// Appends the request ids of every entry after the last run, sorted, as the next run; how
/// many it indexed (none when no entry waits).
fn make_run(c: &Connection) -> rusqlite::Result<usize> {
    let (run, after) = last_run(c)?;
    let last: i64 = c
        .prepare_cached("SELECT coalesce(max(seq), ?1) FROM audit WHERE seq > ?1")?
        .query_row([after], |r| r.get(0))?;
    if last == after {
        return Ok(0);
    }
    let indexed = c
        .prepare_cached(
            "INSERT INTO audit_request_key (run, request_id, seq)
             SELECT ?1, request_id, seq FROM audit WHERE seq > ?2 AND seq <= ?3
             ORDER BY request_id, seq",
        )?
        .execute(params![run, after, last])?;
    c.prepare_cached("INSERT INTO audit_request_run (run, last_seq) VALUES (?1, ?2)")?
        .execute(params![run, last])?;
    Ok(indexed)
}

/// The first `limit` entries of `table` matching `q`, in `seq` order.
pub(super) fn select(
    c: &Connection,
    table: &str,
    q: &AuditQuery,
    limit: i64,
) -> Result<Vec<AuditRecord>, StoreError> {
    let (sql, values) = query_sql(table, q);
    rows(c, &sql, &values, limit)
}

/// The entries `sql` finds with `values` bound in order and `limit` after them.
fn rows(
    c: &Connection,
    sql: &str,
    values: &[&str],
    limit: i64,
) -> Result<Vec<AuditRecord>, StoreError> {
    let mut s = c.prepare_cached(sql).map_err(unavailable)?;
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
    let (conditions, limit) = conditions(q);
    let sql =
        format!("SELECT {COLUMNS} FROM {table} WHERE {conditions} ORDER BY seq LIMIT ?{limit}");
    (sql, q.filters().into_iter().map(|(_, v)| v).collect())
}

/// `q`'s filters as conditions on parameters `?1`, `?2`, ... in [`AuditQuery::filters`]'
/// order (`TRUE` when there are none), and the number of the parameter after them.
fn conditions(q: &AuditQuery) -> (String, usize) {
    let filters = q.filters();
    let conditions: Vec<String> = filters
        .iter()
        .enumerate()
        .map(|(i, (column, _))| format!("{column} = ?{}", i + 1))
        .collect();
    let conditions = if conditions.is_empty() {
        "TRUE".to_string()
    } else {
        conditions.join(" AND ")
    };
    (conditions, filters.len() + 1)
}

/// The query plan `query_sql` gets for `q` on `table`, its steps joined: which index answers.
#[cfg(test)]
pub(super) fn plan_of(c: &Connection, table: &str, q: &AuditQuery) -> String {
    let (sql, values) = query_sql(table, q);
    plan(c, &sql, &values, q.row_limit())
}

#[cfg(test)]
fn plan(c: &Connection, sql: &str, values: &[&str], limit: i64) -> String {
    let mut args: Vec<&dyn rusqlite::ToSql> = values.iter().map(|v| v as _).collect();
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

    fn receiver_schema() -> Connection {
        let mut c = Connection::open_in_memory().unwrap();
        crate::sqlite::migrate::apply(&mut c, &crate::sqlite::schema::RECEIVER).unwrap();
        c
    }

    fn change_log_plan(c: &Connection, q: &AuditQuery) -> String {
        let (sql, values) = change_log_sql(q);
        plan(c, &sql, &values, q.row_limit())
    }

    fn by_request(id: &str) -> AuditQuery {
        AuditQuery {
            request_id: Some(id.into()),
            ..AuditQuery::default()
        }
    }

    fn entry(request_id: &str, patient: &str) -> AuditEntry {
        AuditEntry {
            request_id: request_id.into(),
            correlation_id: "c".into(),
            action: "create".into(),
            resource_type: "Appointment".into(),
            resource_id: Some("a".into()),
            patient: Some(patient.into()),
            outcome: 201,
            ..AuditEntry::default()
        }
    }

    /// The `seq` of each entry `q` finds in the change log.
    fn found(c: &Connection, q: &AuditQuery) -> Vec<i64> {
        query(c, q).unwrap().into_iter().map(|r| r.seq).collect()
    }

    /// The runs made so far: (run, last_seq).
    fn runs(c: &Connection) -> Vec<(i64, i64)> {
        c.prepare("SELECT run, last_seq FROM audit_request_run ORDER BY run")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    }

    /// A lookup by patient or appointment reads that column's index; one by request reads the
    /// runs' keys and the entries after the last run by `seq`: none scans the whole log.
    #[test]
    fn each_filter_is_answered_from_its_index() {
        let c = receiver_schema();
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
        ] {
            let plan = change_log_plan(&c, &q);
            assert!(plan.contains(index), "{index} not used: {plan}");
        }
        let plan = change_log_plan(&c, &by_request("r"));
        assert!(
            plan.contains("SEARCH audit_request_key USING PRIMARY KEY (run=? AND request_id=?)"),
            "the runs' keys not probed: {plan}"
        );
        assert!(
            plan.contains("SEARCH audit USING INTEGER PRIMARY KEY (rowid=?)")
                && plan.contains("SEARCH audit USING INTEGER PRIMARY KEY (rowid>?)"),
            "the log not read by seq: {plan}"
        );
        assert!(
            !plan.contains("SCAN audit"),
            "the whole log scanned: {plan}"
        );
    }

    /// Entries are found by request id whether their run is made or not, across runs, in `seq`
    /// order and up to the limit, with the other filters applied; a run holds every entry up
    /// to its last `seq`.
    #[test]
    fn request_ids_are_found_in_runs_and_after_the_last() {
        let c = receiver_schema();
        let runs_of_three = RequestRuns::open(&c, 3).unwrap();
        // Numbers with gaps, as the access log's entries take the numbers between.
        let entries = [
            (10, "x", "p1"),
            (12, "y", "p1"),
            (13, "x", "p2"),
            (20, "z", "p1"),
            (21, "x", "p1"),
            (25, "y", "p2"),
            (30, "x", "p2"),
        ];
        for (seq, request, patient) in entries {
            append(&c, seq, &entry(request, patient)).unwrap();
            runs_of_three.appended(&c);
        }
        assert_eq!(runs(&c), [(0, 0), (1, 13), (2, 25)]);
        assert_eq!(found(&c, &by_request("x")), [10, 13, 21, 30]);
        assert_eq!(found(&c, &by_request("y")), [12, 25]);
        assert_eq!(found(&c, &by_request("z")), [20]);
        assert!(found(&c, &by_request("w")).is_empty());
        let first_two = AuditQuery {
            limit: 2,
            ..by_request("x")
        };
        assert_eq!(found(&c, &first_two), [10, 13]);
        let with_patient = AuditQuery {
            patient: Some("p2".into()),
            ..by_request("x")
        };
        assert_eq!(found(&c, &with_patient), [13, 30]);
        let keys: i64 = c
            .query_row("SELECT count(*) FROM audit_request_key", [], |r| r.get(0))
            .unwrap();
        assert_eq!(keys, 6, "each entry up to the last run is keyed once");

        // Reopened, the count goes on from the entry after the last run.
        let reopened = RequestRuns::open(&c, 3).unwrap();
        append(&c, 31, &entry("y", "p1")).unwrap();
        reopened.appended(&c);
        assert_eq!(runs(&c), [(0, 0), (1, 13), (2, 25)]);
        append(&c, 32, &entry("x", "p1")).unwrap();
        reopened.appended(&c);
        assert_eq!(runs(&c), [(0, 0), (1, 13), (2, 25), (3, 32)]);
        assert_eq!(found(&c, &by_request("x")), [10, 13, 21, 30, 32]);
    }

    /// A run that fails is undone alone: the change's entry stays, is still found, and is
    /// indexed by the next run.
    #[test]
    fn a_run_that_fails_leaves_the_change_and_is_made_later() {
        let c = receiver_schema();
        let runs_of_two = RequestRuns::open(&c, 2).unwrap();
        c.execute_batch(
            "CREATE TEMP TRIGGER refuse_keys BEFORE INSERT ON audit_request_key
                BEGIN SELECT RAISE(ABORT, 'disk full'); END;",
        )
        .unwrap();
        c.execute_batch("BEGIN").unwrap();
        for seq in [1, 2] {
            append(&c, seq, &entry("r", "p")).unwrap();
            runs_of_two.appended(&c);
        }
        c.execute_batch("COMMIT").unwrap();
        assert_eq!(runs(&c), [(0, 0)]);
        assert_eq!(found(&c, &by_request("r")), [1, 2]);
        c.execute_batch("DROP TRIGGER refuse_keys").unwrap();
        append(&c, 3, &entry("r", "p")).unwrap();
        runs_of_two.appended(&c);
        assert_eq!(runs(&c), [(0, 0), (1, 3)]);
        assert_eq!(found(&c, &by_request("r")), [1, 2, 3]);
    }

    /// A log kept before runs existed becomes the first run: its entries are found by request
    /// id, and the old index of random keys is gone.
    #[test]
    fn entries_logged_before_runs_are_the_first_run() {
        let mut c = Connection::open_in_memory().unwrap();
        let before = crate::sqlite::migrate::Migrations {
            component: crate::sqlite::schema::RECEIVER.component,
            steps: &crate::sqlite::schema::RECEIVER.steps[..3],
        };
        crate::sqlite::migrate::apply(&mut c, &before).unwrap();
        for (seq, request) in [(4, "b"), (7, "a"), (9, "b")] {
            append(&c, seq, &entry(request, "p")).unwrap();
        }
        crate::sqlite::migrate::apply(&mut c, &crate::sqlite::schema::RECEIVER).unwrap();
        assert_eq!(runs(&c), [(0, 9)]);
        assert_eq!(found(&c, &by_request("b")), [4, 9]);
        assert_eq!(found(&c, &by_request("a")), [7]);
        let old_index: i64 = c
            .query_row(
                "SELECT count(*) FROM sqlite_schema WHERE name = 'audit_by_request'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(old_index, 0);
        assert!(
            c.execute("DELETE FROM audit_request_key", []).is_err()
                && c.execute("UPDATE audit_request_run SET last_seq = 0", [])
                    .is_err(),
            "the runs are as append-only as the log"
        );
    }
}
