//! A SQLite database shared by the components of one process: one writer thread doing group
//! commit, a pool of read-only connections, and each component's migrations applied at open.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};

use super::classify;
use super::migrate::{self, Migrations};
use super::readers::Readers;
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
    /// Changes logged before their request ids are indexed as a run (see `audit`): a lookup
    /// by request id scans at most about this many entries, and making a run sorts this many.
    pub change_run_entries: u64,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        SqliteOptions {
            busy_timeout: std::time::Duration::from_secs(5),
            wal_limit_bytes: 64 * 1024 * 1024,
            access_segment_entries: 250_000,
            change_run_entries: 8_192,
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
        // writer.rs).
        conn.execute_batch("PRAGMA wal_autocheckpoint = 0;")
            .map_err(classify)?;
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
        let wal_limit = super::writer::WalLimit {
            path: PathBuf::from(wal),
            bytes: options.wal_limit_bytes,
        };
        Ok(Database {
            writer: Writer::spawn(conn, checkpointer, &name, wal_limit)?,
            readers: Readers::new(conns),
            path,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` in the next group-commit batch; returns once the batch is durable. An `Err`
    /// from `f` rolls back only `f`'s changes. `f` may run twice (when a job of its batch fails,
    /// the batch runs again: see writer.rs), so it must have no effect outside the transaction.
    pub async fn write<F, T, E>(&self, f: F) -> Result<T, E>
    where
        F: FnMut(&Connection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        self.writer.run(f).await
    }

    /// Runs `f` on a read-only connection (a consistent snapshot).
    pub async fn read<F, T>(&self, f: F) -> Result<T, StoreError>
    where
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
        T: Send + 'static,
    {
        self.readers.run(f).await
    }

    /// Runs a lookup of one row by its key on a read-only connection, on the caller's thread
    /// when a connection is idle (see [`Readers::point`]).
    pub async fn point_read<F, T>(&self, f: F) -> Result<T, StoreError>
    where
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
        T: Send + 'static,
    {
        self.readers.point(f).await
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
