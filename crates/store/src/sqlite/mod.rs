//! The SQLite backend: one database file in WAL mode with `synchronous = FULL`, so every
//! acknowledged write is on disk; a group-commit [`writer`] and a pool of [`readers`].

mod queries;
mod readers;
pub mod schema;
mod writer;

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use bars_fhir::Instant;
use rusqlite::{Connection, OpenFlags};

use crate::Store;
use crate::error::{CommitError, StoreError, WithdrawError};
use crate::model::*;
use readers::Readers;
use writer::Writer;

/// How many read connections to keep; reads beyond this wait their turn.
const READERS: usize = 4;

/// Tunables of the SQLite backend.
#[derive(Debug, Clone, Copy)]
pub struct SqliteOptions {
    /// How long a statement waits for a lock held by another process before giving up (503).
    pub busy_timeout: std::time::Duration,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        SqliteOptions {
            busy_timeout: std::time::Duration::from_secs(5),
        }
    }
}

pub struct SqliteStore {
    path: PathBuf,
    writer: Writer,
    readers: Readers,
}

/// Classifies a SQLite failure: lock contention, I/O and a full disk may pass (503, retry);
/// anything else is a fault in the store itself (500 `no-store`).
pub(crate) fn unavailable(e: rusqlite::Error) -> StoreError {
    use rusqlite::ErrorCode::*;
    match &e {
        rusqlite::Error::SqliteFailure(f, _)
            if matches!(
                f.code,
                DatabaseBusy
                    | DatabaseLocked
                    | SystemIoFailure
                    | DiskFull
                    | CannotOpen
                    | FileLockingProtocolFailed
                    | OutOfMemory
            ) =>
        {
            StoreError::Unavailable(e.to_string())
        }
        _ => StoreError::Internal(e.to_string()),
    }
}

pub(crate) fn internal(e: rusqlite::Error) -> StoreError {
    StoreError::Internal(e.to_string())
}

/// True when a statement failed on a UNIQUE or PRIMARY KEY constraint.
pub(crate) fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(
        e,
        rusqlite::Error::SqliteFailure(f, _)
            if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
    )
}

fn configure(conn: &Connection, cache_kib: i64, options: SqliteOptions) -> Result<(), StoreError> {
    conn.busy_timeout(options.busy_timeout)
        .map_err(unavailable)?;
    conn.execute_batch(&format!(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = FULL;
         PRAGMA foreign_keys = ON;
         PRAGMA temp_store = MEMORY;
         PRAGMA cache_size = -{cache_kib};"
    ))
    .map_err(unavailable)
}

impl SqliteStore {
    /// Opens (creating if needed) the database file and brings its schema up to date.
    pub fn open(path: impl AsRef<Path>) -> Result<SqliteStore, StoreError> {
        Self::open_with(path, SqliteOptions::default())
    }

    pub fn open_with(
        path: impl AsRef<Path>,
        options: SqliteOptions,
    ) -> Result<SqliteStore, StoreError> {
        let path = path.as_ref().to_path_buf();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                StoreError::Unavailable(format!("cannot create {}: {e}", dir.display()))
            })?;
        }
        let mut conn = Connection::open(&path).map_err(unavailable)?;
        configure(&conn, 16 * 1024, options)?;
        schema::migrate(&mut conn)?;
        let mut conns = Vec::with_capacity(READERS);
        for _ in 0..READERS {
            let reader = Connection::open_with_flags(
                &path,
                OpenFlags::SQLITE_OPEN_READ_ONLY
                    | OpenFlags::SQLITE_OPEN_NO_MUTEX
                    | OpenFlags::SQLITE_OPEN_URI,
            )
            .map_err(unavailable)?;
            reader
                .busy_timeout(options.busy_timeout)
                .map_err(unavailable)?;
            reader
                .execute_batch("PRAGMA cache_size = -8192; PRAGMA temp_store = MEMORY;")
                .map_err(unavailable)?;
            conns.push(reader);
        }
        let name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("sqlite")
            .to_string();
        Ok(SqliteStore {
            path,
            writer: Writer::spawn(conn, &name)?,
            readers: Readers::new(conns),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    async fn write<F, T, E>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&Connection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        self.writer.run(f).await
    }

    async fn read<F, T>(&self, f: F) -> Result<T, StoreError>
    where
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
        T: Send + 'static,
    {
        self.readers.run(f).await
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn put_resource(
        &self,
        resource_type: &str,
        id: &str,
        body: serde_json::Value,
    ) -> Result<StoredResource, StoreError> {
        let (rt, id) = (resource_type.to_string(), id.to_string());
        self.write(move |c| queries::put_resource(c, &rt, &id, body, Instant::now()))
            .await
    }

    async fn get_resource(
        &self,
        resource_type: &str,
        id: &str,
    ) -> Result<Option<StoredResource>, StoreError> {
        let (rt, id) = (resource_type.to_string(), id.to_string());
        self.read(move |c| queries::get_resource(c, &rt, &id)).await
    }

    async fn list_resources(&self, resource_type: &str) -> Result<Vec<StoredResource>, StoreError> {
        let rt = resource_type.to_string();
        self.read(move |c| queries::list_resources(c, &rt)).await
    }

    async fn put_schedule(
        &self,
        id: &str,
        service_id: &str,
        body: serde_json::Value,
        slot_template: serde_json::Value,
    ) -> Result<ScheduleRecord, StoreError> {
        let (id, service_id) = (id.to_string(), service_id.to_string());
        self.write(move |c| {
            queries::put_schedule(c, &id, &service_id, body, slot_template, Instant::now())
        })
        .await
    }

    async fn get_schedules(&self, ids: &[String]) -> Result<Vec<ScheduleRecord>, StoreError> {
        let ids = ids.to_vec();
        self.read(move |c| queries::get_schedules(c, &ids)).await
    }

    async fn schedules_for_service(
        &self,
        service_id: &str,
    ) -> Result<Vec<ScheduleRecord>, StoreError> {
        let service_id = service_id.to_string();
        self.read(move |c| queries::schedules_for_service(c, &service_id))
            .await
    }

    async fn insert_slots(&self, slots: Vec<SlotRecord>) -> Result<usize, StoreError> {
        let mut inserted = 0;
        let mut rest = slots;
        // Large imports go in chunks so that bookings are not held up behind one huge batch.
        while !rest.is_empty() {
            let chunk: Vec<SlotRecord> = rest.drain(..rest.len().min(5_000)).collect();
            inserted += self
                .write(move |c| queries::insert_slots(c, &chunk))
                .await?;
        }
        Ok(inserted)
    }

    async fn get_slots(&self, ids: &[String]) -> Result<Vec<SlotRecord>, StoreError> {
        let ids = ids.to_vec();
        self.read(move |c| queries::get_slots(c, &ids)).await
    }

    async fn search_slots(&self, query: SlotQuery) -> Result<SlotPage, StoreError> {
        self.read(move |c| queries::search_slots(c, &query)).await
    }

    async fn withdraw_slot(&self, id: &str) -> Result<SlotRecord, WithdrawError> {
        let id = id.to_string();
        self.write(move |c| queries::withdraw_slot(c, &id, Instant::now()))
            .await
    }

    async fn get_appointment(&self, id: &str) -> Result<Option<AppointmentRecord>, StoreError> {
        let id = id.to_string();
        self.read(move |c| queries::get_appointment(c, &id)).await
    }

    async fn get_appointments(&self, ids: &[String]) -> Result<Vec<AppointmentRecord>, StoreError> {
        let ids = ids.to_vec();
        self.read(move |c| {
            ids.iter()
                .filter_map(|id| queries::get_appointment(c, id).transpose())
                .collect()
        })
        .await
    }

    async fn get_appointment_version(
        &self,
        id: &str,
        version: u64,
    ) -> Result<Option<AppointmentVersion>, StoreError> {
        let id = id.to_string();
        self.read(move |c| queries::get_appointment_version(c, &id, version))
            .await
    }

    async fn appointment_history(&self, id: &str) -> Result<Vec<AppointmentVersion>, StoreError> {
        let id = id.to_string();
        self.read(move |c| queries::appointment_history(c, &id))
            .await
    }

    async fn appointments_for_patient(
        &self,
        nhs_number: &str,
        limit: usize,
        offset: usize,
    ) -> Result<(Vec<AppointmentRecord>, u64), StoreError> {
        let nhs = nhs_number.to_string();
        self.read(move |c| queries::appointments_for_patient(c, &nhs, limit, offset))
            .await
    }

    async fn commit_appointment(&self, change: AppointmentChange) -> Result<(), CommitError> {
        self.write(move |c| queries::commit_appointment(c, &change))
            .await
    }

    async fn find_request(
        &self,
        key: &IdempotencyKey,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        let key = key.clone();
        self.read(move |c| queries::find_request(c, &key)).await
    }

    async fn record_request(&self, record: IdempotencyRecord) -> Result<(), StoreError> {
        self.write(move |c| queries::insert_request(c, &record, true).map(|_| ()))
            .await
    }

    async fn purge_requests(&self, before: Instant) -> Result<usize, StoreError> {
        self.write(move |c| queries::purge_requests(c, before))
            .await
    }

    async fn append_audit(&self, entries: Vec<AuditEntry>) -> Result<(), StoreError> {
        self.write(move |c| entries.iter().try_for_each(|e| queries::append_audit(c, e)))
            .await
    }

    async fn query_audit(&self, query: AuditQuery) -> Result<Vec<AuditRecord>, StoreError> {
        self.read(move |c| queries::query_audit(c, &query)).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let v = self.read(schema::version).await?;
        if v == schema::CURRENT {
            Ok(())
        } else {
            Err(StoreError::Unavailable(format!(
                "schema version {v}, expected {}",
                schema::CURRENT
            )))
        }
    }
}
