//! The SQLite backend: one database file in WAL mode with `synchronous = FULL`, so every
//! acknowledged write is on disk. [`Database`] is the shared machinery (a group-commit writer,
//! a pool of readers, per-component migrations); [`SqliteStore`] is the receiver's store on it.

mod database;
pub mod migrate;
mod queries;
mod readers;
pub mod schema;
mod writer;

use std::path::Path;

use async_trait::async_trait;
use bars_fhir::Instant;

use crate::Store;
use crate::error::{CommitError, StoreError, WithdrawError};
use crate::model::*;
pub use database::{Database, SqliteOptions};

/// Classifies a SQLite failure: lock contention, I/O and a full disk may pass (503, retry);
/// anything else is a fault in the store itself (500 `no-store`).
pub fn classify(e: rusqlite::Error) -> StoreError {
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

pub(crate) use classify as unavailable;

pub(crate) fn internal(e: rusqlite::Error) -> StoreError {
    StoreError::Internal(e.to_string())
}

/// True when a statement failed on a UNIQUE or PRIMARY KEY constraint.
pub fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(
        e,
        rusqlite::Error::SqliteFailure(f, _)
            if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
    )
}

/// The receiver's store on SQLite.
pub struct SqliteStore {
    db: Database,
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
        Ok(SqliteStore {
            db: Database::open(path, options, &[&schema::RECEIVER])?,
        })
    }

    pub fn path(&self) -> &Path {
        self.db.path()
    }

    async fn write<F, T, E>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&rusqlite::Connection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        self.db.write(f).await
    }

    async fn read<F, T>(&self, f: F) -> Result<T, StoreError>
    where
        F: FnOnce(&rusqlite::Connection) -> Result<T, StoreError> + Send + 'static,
        T: Send + 'static,
    {
        self.db.read(f).await
    }
}

#[async_trait]
impl Store for SqliteStore {
    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "put_resource"))]
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

    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "get_resource"))]
    async fn get_resource(
        &self,
        resource_type: &str,
        id: &str,
    ) -> Result<Option<StoredResource>, StoreError> {
        let (rt, id) = (resource_type.to_string(), id.to_string());
        self.read(move |c| queries::get_resource(c, &rt, &id)).await
    }

    #[tracing::instrument(
        level = "debug",
        name = "store",
        skip_all,
        fields(op = "list_resources")
    )]
    async fn list_resources(&self, resource_type: &str) -> Result<Vec<StoredResource>, StoreError> {
        let rt = resource_type.to_string();
        self.read(move |c| queries::list_resources(c, &rt)).await
    }

    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "put_schedule"))]
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

    #[tracing::instrument(
        level = "debug",
        name = "store",
        skip_all,
        fields(op = "get_schedules")
    )]
    async fn get_schedules(&self, ids: &[String]) -> Result<Vec<ScheduleRecord>, StoreError> {
        let ids = ids.to_vec();
        self.read(move |c| queries::get_schedules(c, &ids)).await
    }

    #[tracing::instrument(
        level = "debug",
        name = "store",
        skip_all,
        fields(op = "schedules_for_service")
    )]
    async fn schedules_for_service(
        &self,
        service_id: &str,
    ) -> Result<Vec<ScheduleRecord>, StoreError> {
        let service_id = service_id.to_string();
        self.read(move |c| queries::schedules_for_service(c, &service_id))
            .await
    }

    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "insert_slots"))]
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

    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "get_slots"))]
    async fn get_slots(&self, ids: &[String]) -> Result<Vec<SlotRecord>, StoreError> {
        let ids = ids.to_vec();
        self.read(move |c| queries::get_slots(c, &ids)).await
    }

    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "search_slots"))]
    async fn search_slots(&self, query: SlotQuery) -> Result<SlotPage, StoreError> {
        self.read(move |c| queries::search_slots(c, &query)).await
    }

    #[tracing::instrument(
        level = "debug",
        name = "store",
        skip_all,
        fields(op = "withdraw_slot")
    )]
    async fn withdraw_slot(&self, id: &str) -> Result<SlotRecord, WithdrawError> {
        let id = id.to_string();
        self.write(move |c| queries::withdraw_slot(c, &id, Instant::now()))
            .await
    }

    #[tracing::instrument(
        level = "debug",
        name = "store",
        skip_all,
        fields(op = "get_appointment")
    )]
    async fn get_appointment(&self, id: &str) -> Result<Option<AppointmentRecord>, StoreError> {
        let id = id.to_string();
        self.read(move |c| queries::get_appointment(c, &id)).await
    }

    #[tracing::instrument(
        level = "debug",
        name = "store",
        skip_all,
        fields(op = "get_appointments")
    )]
    async fn get_appointments(&self, ids: &[String]) -> Result<Vec<AppointmentRecord>, StoreError> {
        let ids = ids.to_vec();
        self.read(move |c| {
            ids.iter()
                .filter_map(|id| queries::get_appointment(c, id).transpose())
                .collect()
        })
        .await
    }

    #[tracing::instrument(
        level = "debug",
        name = "store",
        skip_all,
        fields(op = "get_appointment_version")
    )]
    async fn get_appointment_version(
        &self,
        id: &str,
        version: u64,
    ) -> Result<Option<AppointmentVersion>, StoreError> {
        let id = id.to_string();
        self.read(move |c| queries::get_appointment_version(c, &id, version))
            .await
    }

    #[tracing::instrument(
        level = "debug",
        name = "store",
        skip_all,
        fields(op = "appointment_history")
    )]
    async fn appointment_history(&self, id: &str) -> Result<Vec<AppointmentVersion>, StoreError> {
        let id = id.to_string();
        self.read(move |c| queries::appointment_history(c, &id))
            .await
    }

    #[tracing::instrument(
        level = "debug",
        name = "store",
        skip_all,
        fields(op = "appointments_for_patient")
    )]
    async fn appointments_for_patient(
        &self,
        nhs_number: &str,
        service: Option<&str>,
        limit: usize,
        offset: usize,
    ) -> Result<(Vec<AppointmentRecord>, u64), StoreError> {
        let nhs = nhs_number.to_string();
        let service = service.map(str::to_string);
        self.read(move |c| {
            queries::appointments_for_patient(c, &nhs, service.as_deref(), limit, offset)
        })
        .await
    }

    #[tracing::instrument(
        level = "debug",
        name = "store",
        skip_all,
        fields(op = "commit_appointment")
    )]
    async fn commit_appointment(&self, change: AppointmentChange) -> Result<(), CommitError> {
        self.write(move |c| queries::commit_appointment(c, &change))
            .await
    }

    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "find_request"))]
    async fn find_request(
        &self,
        key: &IdempotencyKey,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        let key = key.clone();
        self.read(move |c| queries::find_request(c, &key)).await
    }

    #[tracing::instrument(
        level = "debug",
        name = "store",
        skip_all,
        fields(op = "record_request")
    )]
    async fn record_request(&self, record: IdempotencyRecord) -> Result<(), StoreError> {
        self.write(move |c| queries::insert_request(c, &record, true).map(|_| ()))
            .await
    }

    #[tracing::instrument(
        level = "debug",
        name = "store",
        skip_all,
        fields(op = "purge_requests")
    )]
    async fn purge_requests(&self, before: Instant) -> Result<usize, StoreError> {
        self.write(move |c| queries::purge_requests(c, before))
            .await
    }

    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "append_audit"))]
    async fn append_audit(&self, entries: Vec<AuditEntry>) -> Result<(), StoreError> {
        self.write(move |c| entries.iter().try_for_each(|e| queries::append_audit(c, e)))
            .await
    }

    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "query_audit"))]
    async fn query_audit(&self, query: AuditQuery) -> Result<Vec<AuditRecord>, StoreError> {
        self.read(move |c| queries::query_audit(c, &query)).await
    }

    #[tracing::instrument(
        level = "debug",
        name = "store",
        skip_all,
        fields(op = "claim_pointer_jobs")
    )]
    async fn claim_pointer_jobs(
        &self,
        owner: &str,
        limit: usize,
        now: Instant,
        lease_until: Instant,
    ) -> Result<Vec<PointerJob>, StoreError> {
        let owner = owner.to_string();
        self.write(move |c| queries::claim_pointer_jobs(c, &owner, limit, now, lease_until))
            .await
    }

    #[tracing::instrument(
        level = "debug",
        name = "store",
        skip_all,
        fields(op = "finish_pointer_job")
    )]
    async fn finish_pointer_job(
        &self,
        seq: i64,
        owner: &str,
        pointer: PointerIdChange,
    ) -> Result<(), StoreError> {
        let owner = owner.to_string();
        self.write(move |c| queries::finish_pointer_job(c, seq, &owner, &pointer, Instant::now()))
            .await
    }

    #[tracing::instrument(
        level = "debug",
        name = "store",
        skip_all,
        fields(op = "postpone_pointer_job")
    )]
    async fn postpone_pointer_job(
        &self,
        seq: i64,
        owner: &str,
        error: &str,
        next_attempt: Instant,
        give_up: bool,
    ) -> Result<(), StoreError> {
        let (owner, error) = (owner.to_string(), error.to_string());
        self.write(move |c| {
            queries::postpone_pointer_job(c, seq, &owner, &error, next_attempt, give_up)
        })
        .await
    }

    #[tracing::instrument(
        level = "debug",
        name = "store",
        skip_all,
        fields(op = "release_pointer_leases")
    )]
    async fn release_pointer_leases(&self) -> Result<usize, StoreError> {
        self.write(queries::release_pointer_leases).await
    }

    #[tracing::instrument(
        level = "debug",
        name = "store",
        skip_all,
        fields(op = "requeue_pointer_job")
    )]
    async fn requeue_pointer_job(&self, seq: i64) -> Result<bool, StoreError> {
        self.write(move |c| queries::requeue_pointer_job(c, seq, Instant::now()))
            .await
    }

    #[tracing::instrument(
        level = "debug",
        name = "store",
        skip_all,
        fields(op = "undelivered_pointer_jobs")
    )]
    async fn undelivered_pointer_jobs(&self, limit: usize) -> Result<Vec<PointerJob>, StoreError> {
        self.read(move |c| queries::undelivered_pointer_jobs(c, limit))
            .await
    }

    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "outbox_stats"))]
    async fn outbox_stats(&self) -> Result<OutboxStats, StoreError> {
        self.read(queries::outbox_stats).await
    }

    fn is_embedded(&self) -> bool {
        true
    }

    fn pool_status(&self) -> Vec<PoolStatus> {
        self.db.pool_status()
    }

    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "ping"))]
    async fn ping(&self) -> Result<(), StoreError> {
        self.db.ping(&[&schema::RECEIVER]).await
    }
}
