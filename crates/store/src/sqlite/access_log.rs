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
//! transaction. Both logs number their entries from one counter ([`AccessLog::next_seq`]), so a `seq` is
//! unique across the two and a lookup merges them in that order, as one trail.
//!
//! Segments are never merged: a receiver auditing a thousand reads a second seals one segment
//! of the default length every four minutes, and a lookup probes one index per segment.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};

use rusqlite::{Connection, OpenFlags};

use super::{SqliteOptions, audit, classify, unavailable};
use crate::error::StoreError;
use crate::model::{AuditEntry, AuditQuery, AuditRecord};

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
    /// The next `seq` of the whole trail, handed to the change log's entries too. The SQLite
    /// store belongs to one process, so a counter in memory, started after the highest number
    /// either log holds, numbers every entry once.
    next_seq: AtomicI64,
}

fn segment(n: i64) -> String {
    format!("segment_{n}")
}

/// A segment has the change log's columns and append-only triggers (`audit` in the receiver's
/// first migration, whose text as an applied migration never changes, so it is not shared from
/// here); `audit::COLUMNS` reads and writes both alike.
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
    /// Opens (creating if needed) the log at `path`, finishing any seal a crash interrupted;
    /// `changes_highest` is the highest `seq` of the change log, numbered on from as this log's.
    pub(crate) fn open(
        path: &Path,
        options: &SqliteOptions,
        changes_highest: i64,
    ) -> Result<AccessLog, StoreError> {
        let conn = Connection::open(path).map_err(classify)?;
        conn.busy_timeout(options.busy_timeout).map_err(classify)?;
        conn.set_prepared_statement_cache_capacity(64);
        let wal_limit_bytes = options.wal_limit_bytes;
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
        // A segment is made with its first entry, so the open one holds the highest (or, when it
        // is the first and still empty, nothing has been logged).
        let (entries, highest): (i64, Option<i64>) = conn
            .query_row(
                &format!("SELECT count(*), max(seq) FROM {}", segment(open)),
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map_err(classify)?;
        let reader = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(classify)?;
        reader
            .busy_timeout(options.busy_timeout)
            .map_err(classify)?;
        Ok(AccessLog {
            appender: Mutex::new(Appender {
                conn,
                open,
                entries: entries as u64,
            }),
            reader: Mutex::new(reader),
            segment_entries: options.access_segment_entries.max(1),
            next_seq: AtomicI64::new(changes_highest.max(highest.unwrap_or(0)) + 1),
        })
    }

    /// The next number of the audit trail.
    pub(crate) fn next_seq(&self) -> i64 {
        self.next_seq.fetch_add(1, Ordering::Relaxed)
    }

    fn lock_appender(&self) -> Result<std::sync::MutexGuard<'_, Appender>, StoreError> {
        self.appender
            .lock()
            .map_err(|_| StoreError::Internal("access log poisoned".into()))
    }

    /// Appends `entries` in one transaction, numbering them on; seals each segment the batch
    /// filled. Blocking: run it off the async workers.
    pub(crate) fn append(&self, entries: &[AuditEntry]) -> Result<(), StoreError> {
        let mut guard = self.lock_appender()?;
        let a = &mut *guard;
        let (open, count) = (a.open, a.entries);
        let mut sealed = Vec::new();
        let written = (|| -> rusqlite::Result<()> {
            a.conn.execute_batch("BEGIN IMMEDIATE")?;
            let mut insert = audit::insert_sql(&segment(a.open));
            for e in entries {
                if a.entries >= self.segment_entries {
                    sealed.push(a.open);
                    a.open += 1;
                    a.entries = 0;
                    create_segment(&a.conn, a.open)?;
                    insert = audit::insert_sql(&segment(a.open));
                }
                audit::insert(&a.conn, &insert, self.next_seq(), e)?;
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
    use crate::sqlite::audit::plan_of;

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

    /// A log whose segments hold `segment_entries`, numbering on after `changes_highest`.
    fn open(path: &Path, segment_entries: u64, changes_highest: i64) -> AccessLog {
        let options = SqliteOptions {
            access_segment_entries: segment_entries,
            ..SqliteOptions::default()
        };
        AccessLog::open(path, &options, changes_highest).unwrap()
    }

    /// The (request id, seq) of each entry `q` finds.
    fn found(log: &AccessLog, q: AuditQuery) -> Vec<(String, i64)> {
        log.query(&q)
            .unwrap()
            .into_iter()
            .map(|r| (r.entry.request_id, r.seq))
            .collect()
    }

    fn by_patient(patient: &str) -> AuditQuery {
        AuditQuery {
            patient: Some(patient.into()),
            ..Default::default()
        }
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
        let log = open(&dir.path().join("a.db"), 4, 100);
        let entries: Vec<AuditEntry> = (0..10).map(entry).collect();
        log.append(&entries[..3]).unwrap();
        log.append(&entries[3..]).unwrap();

        let all = found(&log, AuditQuery::default());
        let seq: Vec<i64> = all.iter().map(|(_, seq)| *seq).collect();
        assert_eq!(seq, (101..=110).collect::<Vec<_>>());
        assert_eq!(all[7].0, "r7");

        let ids = |found: Vec<(String, i64)>| -> Vec<String> {
            found.into_iter().map(|(id, _)| id).collect()
        };
        let by_resource = AuditQuery {
            resource_id: Some("a1".into()),
            ..Default::default()
        };
        assert_eq!(ids(found(&log, by_resource)), ["r1", "r4", "r7"]);
        let first_three = AuditQuery {
            limit: 3,
            ..by_patient("p0")
        };
        assert_eq!(ids(found(&log, first_three)), ["r0", "r2", "r4"]);
        let by_request = AuditQuery {
            request_id: Some("r9".into()),
            ..Default::default()
        };
        assert_eq!(found(&log, by_request), [("r9".to_string(), 110)]);

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
            (by_patient("p"), "segment_1_by_patient"),
            (
                AuditQuery {
                    request_id: Some("r".into()),
                    ..Default::default()
                },
                "segment_1_by_request",
            ),
        ] {
            let plan = plan_of(&c, "segment_1", &q);
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
            let log = open(&path, 2, 0);
            let entries: Vec<AuditEntry> = (0..5).map(entry).collect();
            log.append(&entries).unwrap();
        }
        // As if the process had died between filling segment 1 and indexing it.
        let c = Connection::open(&path).unwrap();
        c.execute_batch(
            "DROP INDEX segment_1_by_resource; DROP INDEX segment_1_by_patient;
             DROP INDEX segment_1_by_request; UPDATE segments SET sealed = 0 WHERE n = 1;",
        )
        .unwrap();
        let log = open(&path, 2, 0);
        let sealed: i64 = c
            .query_row("SELECT sealed FROM segments WHERE n = 1", [], |r| r.get(0))
            .unwrap();
        assert_eq!(sealed, 1);
        assert!(plan_of(&c, "segment_1", &by_patient("p")).contains("segment_1_by_patient"));
        log.append(&[entry(5)]).unwrap();
        let seq: Vec<i64> = found(&log, AuditQuery::default())
            .into_iter()
            .map(|(_, seq)| seq)
            .collect();
        assert_eq!(seq, [1, 2, 3, 4, 5, 6]);
    }

    #[test]
    fn segments_refuse_edits_and_deletions() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.db");
        let log = open(&path, 2, 0);
        let entries: Vec<AuditEntry> = (0..3).map(entry).collect();
        log.append(&entries).unwrap();
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
