//! The access log: the audit entries of requests that changed nothing (reads, searches and
//! refusals), in a file of its own beside the store's.
//!
//! Why not the `audit` table beside the bookings: a receiver reads far more than it writes,
//! and an entry there updates three indexes of random keys (appointment, patient, request id).
//! Under a read load that dirtied about three pages per read, each one written to the
//! write-ahead log and checkpointed, and every commit emptied the page caches of the store's
//! readers: profiled, a third of the receiver's CPU went to auditing its reads. Here entries
//! are appended in sequence order to an unindexed segment, a few dozen to a page; once a
//! segment holds its share it is sealed and its three indexes are built in one sorted pass
//! (`CREATE INDEX`), which writes each index page once. A lookup reads the sealed segments
//! through their indexes and scans only the open one, whose size the segment length bounds.
//!
//! Entries of changes stay in the store's `audit` table, written in the change's own
//! transaction. Both logs number their entries from one counter ([`AuditSeq`]), so a `seq` is
//! unique across the two and a lookup merges them in that order, as one trail.
//!
//! Segments are never merged: a receiver auditing a thousand reads a second seals one segment
//! of the default length every four minutes, and a lookup probes one index per segment.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};

use rusqlite::{Connection, OpenFlags, OptionalExtension};

use super::{audit, classify, unavailable};
use crate::error::StoreError;
use crate::model::{AuditEntry, AuditQuery, AuditRecord};

/// The next `seq` of the audit trail, shared by the change log and the access log. The SQLite
/// store belongs to one process, so a counter in memory, started after the highest number
/// either log holds, numbers every entry once.
pub(crate) struct AuditSeq(AtomicI64);

impl AuditSeq {
    pub(crate) fn after(highest: i64) -> AuditSeq {
        AuditSeq(AtomicI64::new(highest + 1))
    }

    pub(crate) fn next(&self) -> i64 {
        self.0.fetch_add(1, Ordering::Relaxed)
    }
}

/// The access log's file, beside the store's: `receiver.db` keeps its reads in
/// `receiver-access.db`.
pub(crate) fn path_beside(store: &Path) -> PathBuf {
    let stem = store
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "store".to_string());
    let name = match store.extension() {
        Some(ext) => format!("{stem}-access.{}", ext.to_string_lossy()),
        None => format!("{stem}-access"),
    };
    store.with_file_name(name)
}

/// The segment being appended to.
struct Appender {
    conn: Connection,
    open: i64,
    entries: u64,
}

pub(crate) struct AccessLog {
    appender: Mutex<Appender>,
    reader: Mutex<Connection>,
    segment_entries: u64,
}

fn segment(n: i64) -> String {
    format!("segment_{n}")
}

fn create_segment(c: &Connection, n: i64) -> rusqlite::Result<()> {
    let table = segment(n);
    c.execute_batch(&format!(
        "CREATE TABLE {table} (
            seq INTEGER PRIMARY KEY,
            at_ns INTEGER NOT NULL,
            request_id TEXT NOT NULL,
            correlation_id TEXT NOT NULL,
            sender_ods TEXT,
            sender_software TEXT,
            sender_app TEXT,
            action TEXT NOT NULL,
            resource_type TEXT NOT NULL,
            resource_id TEXT,
            version INTEGER,
            outcome INTEGER NOT NULL,
            patient TEXT
        );
        CREATE TRIGGER {table}_is_append_only_update BEFORE UPDATE ON {table}
            BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
        CREATE TRIGGER {table}_is_append_only_delete BEFORE DELETE ON {table}
            BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
        INSERT INTO segments (n, sealed) VALUES ({n}, 0);"
    ))
}

/// Builds a full segment's indexes, the same three the change log keeps, and marks it sealed.
/// Idempotent: a seal a crash interrupted is finished at the next open.
fn seal(c: &Connection, n: i64) -> rusqlite::Result<()> {
    let table = segment(n);
    c.execute_batch(&format!(
        "BEGIN IMMEDIATE;
         CREATE INDEX IF NOT EXISTS {table}_by_resource ON {table} (resource_id);
         CREATE INDEX IF NOT EXISTS {table}_by_patient ON {table} (patient);
         CREATE INDEX IF NOT EXISTS {table}_by_request ON {table} (request_id);
         UPDATE segments SET sealed = 1 WHERE n = {n};
         COMMIT;"
    ))
}

impl AccessLog {
    /// Opens (creating if needed) the log at `path`, finishing any seal a crash interrupted.
    pub(crate) fn open(
        path: &Path,
        busy_timeout: std::time::Duration,
        wal_limit_bytes: u64,
        segment_entries: u64,
    ) -> Result<AccessLog, StoreError> {
        let conn = Connection::open(path).map_err(classify)?;
        conn.busy_timeout(busy_timeout).map_err(classify)?;
        conn.set_prepared_statement_cache_capacity(64);
        conn.execute_batch(&format!(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = FULL;
             PRAGMA journal_size_limit = {wal_limit_bytes};
             CREATE TABLE IF NOT EXISTS segments (
                 n INTEGER PRIMARY KEY,
                 sealed INTEGER NOT NULL
             );"
        ))
        .map_err(classify)?;
        let open: Option<i64> = conn
            .query_row("SELECT max(n) FROM segments", [], |r| r.get(0))
            .map_err(classify)?;
        let open = match open {
            Some(n) => n,
            None => {
                create_segment(&conn, 0).map_err(classify)?;
                0
            }
        };
        let unsealed: Vec<i64> = conn
            .prepare("SELECT n FROM segments WHERE sealed = 0 AND n < ?1")
            .and_then(|mut s| s.query_map([open], |r| r.get(0))?.collect())
            .map_err(classify)?;
        for n in unsealed {
            seal(&conn, n).map_err(classify)?;
        }
        let entries: i64 = conn
            .query_row(
                &format!("SELECT count(*) FROM {}", segment(open)),
                [],
                |r| r.get(0),
            )
            .map_err(classify)?;
        let reader = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(classify)?;
        reader.busy_timeout(busy_timeout).map_err(classify)?;
        Ok(AccessLog {
            appender: Mutex::new(Appender {
                conn,
                open,
                entries: entries as u64,
            }),
            reader: Mutex::new(reader),
            segment_entries: segment_entries.max(1),
        })
    }

    /// The highest `seq` the log holds (0 when empty).
    pub(crate) fn highest_seq(&self) -> Result<i64, StoreError> {
        let a = self.lock_appender()?;
        let mut highest = 0;
        // The open segment may be empty after a roll; the one before it then holds the last.
        for n in [a.open, a.open - 1] {
            if n < 0 {
                continue;
            }
            let found: Option<i64> = a
                .conn
                .query_row(&format!("SELECT max(seq) FROM {}", segment(n)), [], |r| {
                    r.get(0)
                })
                .optional()
                .map_err(classify)?
                .flatten();
            highest = highest.max(found.unwrap_or(0));
        }
        Ok(highest)
    }

    fn lock_appender(&self) -> Result<std::sync::MutexGuard<'_, Appender>, StoreError> {
        self.appender
            .lock()
            .map_err(|_| StoreError::Internal("access log poisoned".into()))
    }

    /// Appends `entries` in one transaction, numbering them from `seqs`; seals each segment
    /// the batch filled. Blocking: run it off the async workers.
    pub(crate) fn append(&self, entries: &[AuditEntry], seqs: &AuditSeq) -> Result<(), StoreError> {
        let mut guard = self.lock_appender()?;
        let a = &mut *guard;
        let (open, count) = (a.open, a.entries);
        let mut sealed = Vec::new();
        let written = (|| -> rusqlite::Result<()> {
            a.conn.execute_batch("BEGIN IMMEDIATE")?;
            for e in entries {
                if a.entries >= self.segment_entries {
                    sealed.push(a.open);
                    a.open += 1;
                    a.entries = 0;
                    create_segment(&a.conn, a.open)?;
                }
                audit::insert(&a.conn, &segment(a.open), seqs.next(), e)?;
                a.entries += 1;
            }
            a.conn.execute_batch("COMMIT")
        })();
        if let Err(e) = written {
            let _ = a.conn.execute_batch("ROLLBACK");
            (a.open, a.entries) = (open, count);
            return Err(unavailable(e));
        }
        for n in sealed {
            // A seal that fails leaves the segment scanned until the next open finishes it.
            let started = std::time::Instant::now();
            match seal(&a.conn, n) {
                Ok(()) => tracing::info!(
                    segment = n,
                    entries = self.segment_entries,
                    ms = started.elapsed().as_millis() as u64,
                    "access log segment sealed and indexed"
                ),
                Err(e) => {
                    let _ = a.conn.execute_batch("ROLLBACK");
                    tracing::warn!(segment = n, error = %e, "access log segment not yet indexed");
                }
            }
        }
        Ok(())
    }

    /// The first `q.row_limit()` entries matching `q`, in `seq` order, from one snapshot.
    pub(crate) fn query(&self, q: &AuditQuery) -> Result<Vec<AuditRecord>, StoreError> {
        let reader = self
            .reader
            .lock()
            .map_err(|_| StoreError::Internal("access log reader poisoned".into()))?;
        reader.execute_batch("BEGIN").map_err(unavailable)?;
        let found = (|| {
            let segments: Vec<i64> = reader
                .prepare_cached("SELECT n FROM segments ORDER BY n")
                .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
                .map_err(unavailable)?;
            let limit = q.row_limit();
            let mut rows = Vec::new();
            for n in segments {
                let left = limit - rows.len() as i64;
                if left <= 0 {
                    break;
                }
                rows.extend(audit::select(&reader, &segment(n), q, left)?);
            }
            Ok(rows)
        })();
        let _ = reader.execute_batch("COMMIT");
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(i: usize) -> AuditEntry {
        AuditEntry {
            request_id: format!("r{i}"),
            correlation_id: "c".into(),
            action: "read".into(),
            resource_type: "Appointment".into(),
            resource_id: Some(format!("a{}", i % 3)),
            patient: Some(format!("p{}", i % 2)),
            outcome: 200,
            ..Default::default()
        }
    }

    fn open(path: &Path, segment_entries: u64) -> AccessLog {
        AccessLog::open(
            path,
            std::time::Duration::from_secs(5),
            1 << 20,
            segment_entries,
        )
        .unwrap()
    }

    fn plan(c: &Connection, table: &str, q: &AuditQuery) -> String {
        let (sql, values) = audit::query_sql(table, q);
        let mut args: Vec<&dyn rusqlite::ToSql> = values.iter().map(|v| v as _).collect();
        let limit = q.row_limit();
        args.push(&limit);
        c.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .unwrap()
            .query_map(args.as_slice(), |r| r.get::<_, String>(3))
            .unwrap()
            .map(Result::unwrap)
            .collect::<Vec<_>>()
            .join("; ")
    }

    #[test]
    fn the_file_sits_beside_the_store() {
        assert_eq!(
            path_beside(Path::new("/d/receiver.db")),
            Path::new("/d/receiver-access.db")
        );
        assert_eq!(path_beside(Path::new("data/r")), Path::new("data/r-access"));
    }

    /// Entries are found by each filter in the open segment (scanned) and in sealed ones (by
    /// their indexes), across segments, in sequence order, up to the limit.
    #[test]
    fn entries_are_found_before_and_after_their_segment_is_sealed() {
        let dir = tempfile::tempdir().unwrap();
        let log = open(&dir.path().join("a.db"), 4);
        let seqs = AuditSeq::after(100);
        let entries: Vec<AuditEntry> = (0..10).map(entry).collect();
        log.append(&entries[..3], &seqs).unwrap();
        log.append(&entries[3..], &seqs).unwrap();

        let all = log.query(&AuditQuery::default()).unwrap();
        let seq: Vec<i64> = all.iter().map(|r| r.seq).collect();
        assert_eq!(seq, (101..=110).collect::<Vec<_>>());
        assert_eq!(all[7].entry.request_id, "r7");

        let by_resource = log
            .query(&AuditQuery {
                resource_id: Some("a1".into()),
                ..Default::default()
            })
            .unwrap();
        let ids: Vec<&str> = by_resource
            .iter()
            .map(|r| r.entry.request_id.as_str())
            .collect();
        assert_eq!(ids, ["r1", "r4", "r7"]);
        let by_patient = log
            .query(&AuditQuery {
                patient: Some("p0".into()),
                limit: 3,
                ..Default::default()
            })
            .unwrap();
        let ids: Vec<&str> = by_patient
            .iter()
            .map(|r| r.entry.request_id.as_str())
            .collect();
        assert_eq!(ids, ["r0", "r2", "r4"]);
        let by_request = log
            .query(&AuditQuery {
                request_id: Some("r9".into()),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(by_request.len(), 1);
        assert_eq!(by_request[0].seq, 110);

        // Segments 0 and 1 are full and sealed; 2 holds the last two entries, unindexed.
        let c = Connection::open(dir.path().join("a.db")).unwrap();
        let sealed: Vec<(i64, i64)> = c
            .prepare("SELECT n, sealed FROM segments ORDER BY n")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(sealed, [(0, 1), (1, 1), (2, 0)]);
        for (q, index) in [
            (
                AuditQuery {
                    resource_id: Some("a".into()),
                    ..Default::default()
                },
                "segment_1_by_resource",
            ),
            (
                AuditQuery {
                    patient: Some("p".into()),
                    ..Default::default()
                },
                "segment_1_by_patient",
            ),
            (
                AuditQuery {
                    request_id: Some("r".into()),
                    ..Default::default()
                },
                "segment_1_by_request",
            ),
        ] {
            let plan = plan(&c, "segment_1", &q);
            assert!(plan.contains(index), "{plan}");
        }
    }

    /// Reopened, the log goes on numbering after its highest entry, finishes a seal a crash
    /// interrupted, and keeps every entry.
    #[test]
    fn a_reopened_log_finishes_interrupted_seals_and_keeps_its_entries() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.db");
        {
            let log = open(&path, 2);
            let entries: Vec<AuditEntry> = (0..5).map(entry).collect();
            log.append(&entries, &AuditSeq::after(0)).unwrap();
        }
        // As if the process had died between filling segment 1 and indexing it.
        let c = Connection::open(&path).unwrap();
        c.execute_batch(
            "DROP INDEX segment_1_by_resource; DROP INDEX segment_1_by_patient;
             DROP INDEX segment_1_by_request; UPDATE segments SET sealed = 0 WHERE n = 1;",
        )
        .unwrap();
        let log = open(&path, 2);
        assert_eq!(log.highest_seq().unwrap(), 5);
        let sealed: i64 = c
            .query_row("SELECT sealed FROM segments WHERE n = 1", [], |r| r.get(0))
            .unwrap();
        assert_eq!(sealed, 1);
        assert!(
            plan(
                &c,
                "segment_1",
                &AuditQuery {
                    patient: Some("p".into()),
                    ..Default::default()
                }
            )
            .contains("segment_1_by_patient")
        );
        log.append(&[entry(5)], &AuditSeq::after(log.highest_seq().unwrap()))
            .unwrap();
        let seq: Vec<i64> = log
            .query(&AuditQuery::default())
            .unwrap()
            .iter()
            .map(|r| r.seq)
            .collect();
        assert_eq!(seq, [1, 2, 3, 4, 5, 6]);
    }

    #[test]
    fn segments_refuse_edits_and_deletions() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.db");
        let log = open(&path, 2);
        let entries: Vec<AuditEntry> = (0..3).map(entry).collect();
        log.append(&entries, &AuditSeq::after(0)).unwrap();
        let c = Connection::open(&path).unwrap();
        for table in ["segment_0", "segment_1"] {
            assert!(
                c.execute(&format!("UPDATE {table} SET outcome = 500"), [])
                    .is_err()
            );
            assert!(c.execute(&format!("DELETE FROM {table}"), []).is_err());
        }
        assert_eq!(log.query(&AuditQuery::default()).unwrap().len(), 3);
    }
}
