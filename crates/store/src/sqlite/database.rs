//! A SQLite database shared by the components of one process: one writer thread doing group
//! commit, a pool of read-only connections, and each component's migrations applied at open.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};

use super::classify;
use super::migrate::{self, Migrations};
use super::readers::Readers;
use super::syncer::LogFile;
use super::writer::Writer;
use crate::error::StoreError;

/// How many read connections to keep; reads beyond this wait their turn.
const READERS: usize = 4;

/// Tunables of the SQLite backend.
#[derive(Debug, Clone, Copy)]
pub struct SqliteOptions {
    /// How long a statement waits for a lock held by another process before giving up (503).
    pub busy_timeout: std::time::Duration,
    /// The size the write-ahead log may reach before the writer forces it back to the start
    /// (`wal_checkpoint(RESTART)`). SQLite's own checkpoints after commits are PASSIVE: readers
    /// that never pause can keep them from ever restarting the log, which then grows without
    /// bound under continuous load. Reset logs are also truncated back to this size.
    pub wal_limit_bytes: u64,
    /// Entries an access-log segment holds before it is sealed and indexed (see
    /// `access_log`): lookups scan at most this many entries, and sealing one sorts this many.
    pub access_segment_entries: u64,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        SqliteOptions {
            busy_timeout: std::time::Duration::from_secs(5),
            wal_limit_bytes: 64 * 1024 * 1024,
            access_segment_entries: 250_000,
        }
    }
}

pub struct Database {
    path: PathBuf,
    writer: Writer,
    readers: Readers,
}

/// Prepared statements kept per connection. A booking alone runs a dozen distinct statements
/// and every component adds its own; rusqlite's default of 16 would evict and re-prepare them
/// on every request.
const STATEMENT_CACHE: usize = 256;

/// Settings every connection gets, the writer's and the readers'.
///
/// The query planner stability guarantee keeps a cached statement's plan for every value bound
/// to it. Without it SQLite marks statements whose plan *might* depend on a bound value (one
/// near a partial index, such as the appointment's held slots next to
/// `one_active_booking_per_slot`) and re-prepares them whenever the value changes: on every
/// call, which cost a tenth of a read's CPU. Our plans are index lookups chosen by the schema,
/// never by the values.
fn tune(conn: &Connection) -> Result<(), StoreError> {
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )
    .map_err(classify)?;
    Ok(())
}

fn configure(conn: &Connection, cache_kib: i64, options: SqliteOptions) -> Result<(), StoreError> {
    conn.busy_timeout(options.busy_timeout).map_err(classify)?;
    tune(conn)?;
    conn.execute_batch(&format!(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = FULL;
         PRAGMA foreign_keys = ON;
         PRAGMA temp_store = MEMORY;
         PRAGMA cache_size = -{cache_kib};
         PRAGMA journal_size_limit = {};",
        options.wal_limit_bytes
    ))
    .map_err(classify)
}

impl Database {
    /// Opens (creating if needed) the file and applies every component's migrations.
    pub fn open(
        path: impl AsRef<Path>,
        options: SqliteOptions,
        migrations: &[&Migrations],
    ) -> Result<Database, StoreError> {
        Database::open_syncing(path, options, migrations, None)
    }

    /// [`Database::open`], making batches durable with `sync` instead of an fsync of the
    /// write-ahead log (tests hold a sync back to see what waits for it).
    fn open_syncing(
        path: impl AsRef<Path>,
        options: SqliteOptions,
        migrations: &[&Migrations],
        sync: Option<Box<dyn FnMut() -> std::io::Result<()> + Send>>,
    ) -> Result<Database, StoreError> {
        let path = path.as_ref().to_path_buf();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                StoreError::Unavailable(format!("cannot create {}: {e}", dir.display()))
            })?;
        }
        let mut conn = Connection::open(&path).map_err(classify)?;
        // The writer's page cache survives between batches (no other connection writes), so it
        // holds the hot pages of the tables bookings append to; 8 MiB of them is plenty.
        configure(&conn, 8 * 1024, options)?;
        for m in migrations {
            migrate::apply(&mut conn, m)?;
        }
        // The writer's commits never checkpoint; the checkpointer's connection does (see
        // writer.rs). Nor do they sync the log: the syncer does, off the writer's thread
        // (syncer.rs), which needs the log to be a write-ahead log.
        conn.execute_batch("PRAGMA wal_autocheckpoint = 0; PRAGMA synchronous = NORMAL;")
            .map_err(classify)?;
        let mode: String = conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .map_err(classify)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Unavailable(format!(
                "{} cannot keep a write-ahead log (journal mode {mode})",
                path.display()
            )));
        }
        let checkpointer = Connection::open(&path).map_err(classify)?;
        configure(&checkpointer, 1024, options)?;
        checkpointer
            .execute_batch("PRAGMA wal_autocheckpoint = 0;")
            .map_err(classify)?;
        let mut conns = Vec::with_capacity(READERS);
        for _ in 0..READERS {
            let reader = Connection::open_with_flags(
                &path,
                OpenFlags::SQLITE_OPEN_READ_ONLY
                    | OpenFlags::SQLITE_OPEN_NO_MUTEX
                    | OpenFlags::SQLITE_OPEN_URI,
            )
            .map_err(classify)?;
            reader
                .busy_timeout(options.busy_timeout)
                .map_err(classify)?;
            tune(&reader)?;
            // A reader's page cache is emptied whenever another connection has committed, which
            // under load is before nearly every read: a small one does as well and keeps the
            // process small.
            reader
                .execute_batch("PRAGMA cache_size = -2048; PRAGMA temp_store = MEMORY;")
                .map_err(classify)?;
            conns.push(reader);
        }
        let name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("sqlite")
            .to_string();
        let mut wal = path.clone().into_os_string();
        wal.push("-wal");
        let wal = PathBuf::from(wal);
        let sync = sync.unwrap_or_else(|| {
            let mut log = LogFile::new(wal.clone());
            Box::new(move || log.sync())
        });
        let wal_limit = super::writer::WalLimit {
            path: wal,
            bytes: options.wal_limit_bytes,
        };
        Ok(Database {
            writer: Writer::spawn(conn, checkpointer, &name, wal_limit, sync)?,
            readers: Readers::new(conns),
            path,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` in the next group-commit batch, inside its own savepoint; returns once the batch
    /// is durable. An `Err` from `f` rolls back only `f`'s changes.
    pub async fn write<F, T, E>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&Connection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        self.writer.run(f).await
    }

    /// Runs `f` on a read-only connection (a consistent snapshot), and returns once what it
    /// read is durable (see `syncer.rs`).
    pub async fn read<F, T>(&self, f: F) -> Result<T, StoreError>
    where
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
        T: Send + 'static,
    {
        let read = self.readers.run(f).await?;
        self.writer.after_read().await;
        Ok(read)
    }

    /// Runs a lookup of one row by its key on a read-only connection, on the caller's thread
    /// when a connection is idle (see [`Readers::point`]).
    pub async fn point_read<F, T>(&self, f: F) -> Result<T, StoreError>
    where
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
        T: Send + 'static,
    {
        let read = self.readers.point(f).await?;
        self.writer.after_read().await;
        Ok(read)
    }

    /// How busy the readers and the writer are.
    pub fn pool_status(&self) -> Vec<crate::PoolStatus> {
        let (size, in_use, waiting) = self.readers.load();
        let (in_batch, queued) = self.writer.load();
        vec![
            crate::PoolStatus {
                name: "sqlite_readers",
                size,
                in_use,
                waiting,
            },
            crate::PoolStatus {
                name: "sqlite_writer",
                size: 1,
                in_use: u64::from(in_batch > 0),
                waiting: queued,
            },
        ]
    }

    /// Succeeds when the database answers and every component's schema is current.
    pub async fn ping(&self, migrations: &[&Migrations]) -> Result<(), StoreError> {
        let owned: Vec<Migrations> = migrations.iter().map(|m| **m).collect();
        self.read(move |c| migrate::check(c, &owned.iter().collect::<Vec<_>>()))
            .await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, mpsc};
    use std::time::Duration;

    use super::*;

    /// A sync that reports when it starts and finishes when let through.
    type Gate = (
        Box<dyn FnMut() -> std::io::Result<()> + Send>,
        mpsc::Receiver<()>,
        mpsc::Sender<std::io::Result<()>>,
    );

    fn gated() -> Gate {
        let (starts, started) = mpsc::channel();
        let (release, released) = mpsc::channel::<std::io::Result<()>>();
        let sync = move || {
            let _ = starts.send(());
            released.recv().unwrap_or(Ok(()))
        };
        (Box::new(sync), started, release)
    }

    const NOTES: Migrations = Migrations {
        component: "notes",
        steps: &["CREATE TABLE note (k INTEGER PRIMARY KEY)"],
    };

    fn note(k: i64) -> impl FnOnce(&Connection) -> Result<(), StoreError> + Send + 'static {
        move |c| {
            c.execute("INSERT INTO note (k) VALUES (?1)", [k])
                .map(|_| ())
                .map_err(classify)
        }
    }

    fn notes(c: &Connection) -> Result<i64, StoreError> {
        c.query_row("SELECT count(*) FROM note", [], |r| r.get(0))
            .map_err(classify)
    }

    /// Waits (without blocking the test's one thread) for the sync to start.
    async fn sync_started(started: &mpsc::Receiver<()>) {
        while started.try_recv().is_err() {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    /// Lets every spawned task run as far as it can.
    async fn settle_tasks() {
        for _ in 0..100 {
            tokio::task::yield_now().await;
        }
    }

    /// The pipeline: a write is answered only once the sync after its commit has finished, and
    /// meanwhile the writer goes on committing the next batch.
    #[tokio::test(flavor = "current_thread")]
    async fn a_write_is_answered_after_its_sync_while_the_next_batch_commits() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notes.db");
        let (sync, started, release) = gated();
        let db = Arc::new(
            Database::open_syncing(&path, SqliteOptions::default(), &[&NOTES], Some(sync)).unwrap(),
        );
        let first = tokio::spawn({
            let db = db.clone();
            async move { db.write(note(1)).await }
        });
        sync_started(&started).await;
        let second = tokio::spawn({
            let db = db.clone();
            async move { db.write(note(2)).await }
        });
        // A connection of the test's own, which waits for nothing, sees the second batch
        // committed while the first one's sync is still held.
        let outside = Connection::open(&path).unwrap();
        while notes(&outside).unwrap() < 2 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        settle_tasks().await;
        assert!(
            !first.is_finished(),
            "answered before its commit was synced"
        );
        assert!(
            !second.is_finished(),
            "answered before its commit was synced"
        );
        release.send(Ok(())).unwrap();
        first.await.unwrap().unwrap();
        release.send(Ok(())).unwrap();
        second.await.unwrap().unwrap();
    }

    /// A read may see a batch that is committed but not yet durable; it returns only once that
    /// batch is durable, so nothing a crash could take back is ever shown.
    #[tokio::test(flavor = "current_thread")]
    async fn a_read_returns_only_once_what_it_saw_is_durable() {
        let dir = tempfile::tempdir().unwrap();
        let (sync, started, release) = gated();
        let db = Arc::new(
            Database::open_syncing(
                dir.path().join("notes.db"),
                SqliteOptions::default(),
                &[&NOTES],
                Some(sync),
            )
            .unwrap(),
        );
        let write = tokio::spawn({
            let db = db.clone();
            async move { db.write(note(1)).await }
        });
        sync_started(&started).await;
        let (saw, seen) = mpsc::channel();
        let point = tokio::spawn({
            let (db, saw) = (db.clone(), saw.clone());
            async move {
                db.point_read(move |c| {
                    let n = notes(c)?;
                    let _ = saw.send(n);
                    Ok(n)
                })
                .await
            }
        });
        let scan = tokio::spawn({
            let db = db.clone();
            async move {
                db.read(move |c| {
                    let n = notes(c)?;
                    let _ = saw.send(n);
                    Ok(n)
                })
                .await
            }
        });
        for _ in 0..2 {
            while seen.try_recv().map(|n| assert_eq!(n, 1)).is_err() {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
        settle_tasks().await;
        assert!(
            !point.is_finished(),
            "a lookup showed a write before it was durable"
        );
        assert!(
            !scan.is_finished(),
            "a scan showed a write before it was durable"
        );
        release.send(Ok(())).unwrap();
        write.await.unwrap().unwrap();
        assert_eq!(point.await.unwrap().unwrap(), 1);
        assert_eq!(scan.await.unwrap().unwrap(), 1);
    }

    /// Inside an answer a read does not wait for the sync in flight (what it feeds may be a
    /// write, answered after a later sync); the answer does, before it is given.
    #[tokio::test(flavor = "current_thread")]
    async fn inside_an_answer_a_read_does_not_wait_but_the_answer_does() {
        let dir = tempfile::tempdir().unwrap();
        let (sync, started, release) = gated();
        let db = Arc::new(
            Database::open_syncing(
                dir.path().join("notes.db"),
                SqliteOptions::default(),
                &[&NOTES],
                Some(sync),
            )
            .unwrap(),
        );
        let write = tokio::spawn({
            let db = db.clone();
            async move { db.write(note(1)).await }
        });
        sync_started(&started).await;
        let (read, reads) = mpsc::channel();
        let answer = tokio::spawn({
            let db = db.clone();
            crate::durable_answer(async move {
                let n = db.point_read(notes).await.unwrap();
                let _ = read.send(n);
                n
            })
        });
        let mut waited = 0;
        let n = loop {
            if let Ok(n) = reads.try_recv() {
                break n;
            }
            waited += 1;
            assert!(
                waited < 10_000,
                "the read inside the answer waited for the sync"
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        };
        assert_eq!(n, 1);
        settle_tasks().await;
        assert!(
            !answer.is_finished(),
            "the answer showed a write before it was durable"
        );
        release.send(Ok(())).unwrap();
        write.await.unwrap().unwrap();
        assert_eq!(answer.await.unwrap(), 1);
    }

    /// A sync that fails fails the writes it was to make durable; the next ones go on.
    #[tokio::test(flavor = "current_thread")]
    async fn a_failed_sync_fails_the_writes_it_was_to_make_durable() {
        let dir = tempfile::tempdir().unwrap();
        let (sync, _started, release) = gated();
        let db = Database::open_syncing(
            dir.path().join("notes.db"),
            SqliteOptions::default(),
            &[&NOTES],
            Some(sync),
        )
        .unwrap();
        release
            .send(Err(std::io::Error::other("the disk went away")))
            .unwrap();
        let failed = db.write(note(1)).await;
        assert!(
            matches!(&failed, Err(StoreError::Unavailable(why)) if why.contains("the disk went away")),
            "{failed:?}"
        );
        release.send(Ok(())).unwrap();
        db.write(note(2)).await.unwrap();
    }

    /// The real sync: a store opened the ordinary way keeps what it acknowledged.
    #[tokio::test]
    async fn an_acknowledged_write_is_in_the_file_after_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notes.db");
        {
            let db = Database::open(&path, SqliteOptions::default(), &[&NOTES]).unwrap();
            db.write(note(7)).await.unwrap();
            assert_eq!(db.read(notes).await.unwrap(), 1);
        }
        let again = Connection::open(&path).unwrap();
        assert_eq!(notes(&again).unwrap(), 1);
    }
}
