//! The SQLite backend: one database file in WAL mode with `synchronous = FULL`, so every
//! acknowledged write is on disk. [`Database`] is the shared machinery (a group-commit writer,
//! a pool of readers, per-component migrations); [`SqliteStore`] is the receiver's store on it.

mod access_log;
mod appointment_cache;
mod appointments;
mod audit;
mod database;
mod events;
pub mod migrate;
mod outbox;
mod provider;
mod readers;
mod requests;
mod resources;
pub mod schema;
mod slots;
mod writer;

use std::path::Path;
use std::sync::Arc;

use bars_fhir::Instant;
use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::contract::Backend;
use crate::error::{CommitError, PutError, StoreError, WithdrawError};
use crate::model::*;
use crate::provider_model::*;
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

/// The rows of `ids` that exist, in the order asked for (repeats included): one lookup per id
/// with `sql`, a statement whose one parameter is the id. A cached statement and a primary-key
/// lookup each make this as fast as one `IN (...)` statement, without building one per length.
fn each_found<T>(
    c: &Connection,
    sql: &str,
    ids: &[String],
    row: impl Fn(&Row<'_>) -> rusqlite::Result<T>,
) -> Result<Vec<T>, StoreError> {
    let mut s = c.prepare_cached(sql).map_err(unavailable)?;
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(found) = s
            .query_row(params![id], &row)
            .optional()
            .map_err(unavailable)?
        {
            out.push(found);
        }
    }
    Ok(out)
}

/// The receiver's store on SQLite: the bookings' file, and beside it the access log, where
/// the audit entries of requests that changed nothing go (see [`access_log`]).
pub struct SqliteStore {
    db: Database,
    access: Arc<access_log::AccessLog>,
    /// Appointments read lately, current as of every change acknowledged (see its module).
    appointments: Arc<appointment_cache::AppointmentCache>,
    /// The change log's request ids waiting for their run (see [`audit`]).
    request_runs: Arc<audit::RequestRuns>,
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
        let db = Database::open(&path, options, &[&schema::RECEIVER, &schema::PROVIDER])?;
        let log = Connection::open(path.as_ref()).map_err(classify)?;
        let changes_highest = audit::highest_seq(&log)?;
        let request_runs = audit::RequestRuns::open(&log, options.change_run_entries)?;
        let access = access_log::AccessLog::open(
            &access_log::path_beside(path.as_ref()),
            &options,
            changes_highest,
        )?;
        Ok(SqliteStore {
            db,
            access: Arc::new(access),
            appointments: Arc::new(appointment_cache::AppointmentCache::new()),
            request_runs: Arc::new(request_runs),
        })
    }

    pub fn path(&self) -> &Path {
        self.db.path()
    }

    async fn write<F, T, E>(&self, f: F) -> Result<T, E>
    where
        F: FnMut(&rusqlite::Connection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        self.db.write(f).await
    }

    /// Runs `f` on the access log off the async workers (its appends and scans block).
    async fn on_access_log<F, T>(&self, f: F) -> Result<T, StoreError>
    where
        F: FnOnce(&access_log::AccessLog) -> Result<T, StoreError> + Send + 'static,
        T: Send + 'static,
    {
        let access = self.access.clone();
        tokio::task::spawn_blocking(move || f(&access))
            .await
            .map_err(|e| StoreError::Internal(format!("access log task failed: {e}")))?
    }

    async fn read<F, T>(&self, f: F) -> Result<T, StoreError>
    where
        F: FnOnce(&rusqlite::Connection) -> Result<T, StoreError> + Send + 'static,
        T: Send + 'static,
    {
        self.db.read(f).await
    }

    /// Lookups by key of `keys` rows: on the caller's thread when they are few (a booking's
    /// slots, the appointments it replaces), as point lookups are; on the pool when a caller
    /// names many, which would stall the async worker.
    async fn keyed_read<F, T>(&self, keys: usize, f: F) -> Result<T, StoreError>
    where
        F: FnOnce(&rusqlite::Connection) -> Result<T, StoreError> + Send + 'static,
        T: Send + 'static,
    {
        self.read_where(keys <= POINT_LOOKUP_KEYS, f).await
    }

    /// A read on the caller's thread when it is `bounded` (a few rows, read in microseconds:
    /// the two thread hops to the pool would cost more), on the blocking pool otherwise.
    async fn read_where<F, T>(&self, bounded: bool, f: F) -> Result<T, StoreError>
    where
        F: FnOnce(&rusqlite::Connection) -> Result<T, StoreError> + Send + 'static,
        T: Send + 'static,
    {
        if bounded {
            self.db.point_read(f).await
        } else {
            self.db.read(f).await
        }
    }
}

/// The most keys a lookup may name and still run on the caller's thread.
const POINT_LOOKUP_KEYS: usize = 8;

impl Backend for SqliteStore {
    async fn put_resource(
        &self,
        resource: StoredResource,
        expected_version: Option<u64>,
    ) -> Result<StoredResource, PutError> {
        self.write(move |c| {
            resources::put_resource(c, &resource, expected_version)?;
            Ok(resource.clone())
        })
        .await
    }

    async fn get_resource(
        &self,
        resource_type: &str,
        id: &str,
    ) -> Result<Option<StoredResource>, StoreError> {
        let (rt, id) = (resource_type.to_string(), id.to_string());
        self.db
            .point_read(move |c| resources::get_resource(c, &rt, &id))
            .await
    }

    async fn list_resources(&self, resource_type: &str) -> Result<Vec<StoredResource>, StoreError> {
        let rt = resource_type.to_string();
        self.read(move |c| resources::list_resources(c, &rt)).await
    }

    async fn put_schedule(
        &self,
        schedule: ScheduleRecord,
        expected_version: Option<u64>,
    ) -> Result<ScheduleRecord, PutError> {
        self.write(move |c| {
            resources::put_schedule(c, &schedule, expected_version)?;
            Ok(schedule.clone())
        })
        .await
    }

    async fn get_schedules(&self, ids: &[String]) -> Result<Vec<ScheduleRecord>, StoreError> {
        let ids = ids.to_vec();
        self.keyed_read(ids.len(), move |c| resources::get_schedules(c, &ids))
            .await
    }

    async fn schedules_for_service(
        &self,
        service_id: &str,
    ) -> Result<Vec<ScheduleRecord>, StoreError> {
        let service_id = service_id.to_string();
        self.read(move |c| resources::schedules_for_service(c, &service_id))
            .await
    }

    async fn insert_slots(&self, slots: Vec<SlotRecord>) -> Result<usize, StoreError> {
        let mut inserted = 0;
        let mut rest = slots;
        // Large imports go in chunks so that bookings are not held up behind one huge batch.
        while !rest.is_empty() {
            let chunk: Vec<SlotRecord> = rest.drain(..rest.len().min(5_000)).collect();
            inserted += self.write(move |c| slots::insert_slots(c, &chunk)).await?;
        }
        Ok(inserted)
    }

    async fn get_slots(&self, ids: &[String]) -> Result<Vec<SlotRecord>, StoreError> {
        let ids = ids.to_vec();
        self.keyed_read(ids.len(), move |c| slots::get_slots(c, &ids))
            .await
    }

    async fn search_slots(&self, query: SlotQuery) -> Result<SlotPage, StoreError> {
        let bounded = slots::runs_on_the_callers_thread(&query);
        self.read_where(bounded, move |c| slots::search_slots(c, &query))
            .await
    }

    async fn withdraw_slot(&self, id: &str) -> Result<SlotRecord, WithdrawError> {
        let id = id.to_string();
        self.write(move |c| slots::withdraw_slot(c, &id, Instant::now()))
            .await
    }

    async fn get_appointment(&self, id: &str) -> Result<Option<AppointmentRecord>, StoreError> {
        if let Some(kept) = self.appointments.get(id) {
            return Ok(Some(kept));
        }
        let ticket = self.appointments.ticket();
        let id = id.to_string();
        let found = self
            .db
            .point_read(move |c| appointments::get(c, &id))
            .await?;
        if let Some(record) = &found {
            self.appointments.offer(ticket, record);
        }
        Ok(found)
    }

    async fn get_appointments(&self, ids: &[String]) -> Result<Vec<AppointmentRecord>, StoreError> {
        let ids = ids.to_vec();
        self.keyed_read(ids.len(), move |c| appointments::get_many(c, &ids))
            .await
    }

    async fn get_appointment_version(
        &self,
        id: &str,
        version: u64,
    ) -> Result<Option<AppointmentVersion>, StoreError> {
        let id = id.to_string();
        self.db
            .point_read(move |c| appointments::get_version(c, &id, version))
            .await
    }

    async fn appointment_history(&self, query: HistoryQuery) -> Result<HistoryPage, StoreError> {
        self.read(move |c| appointments::history(c, &query)).await
    }

    async fn appointments_for_patient(
        &self,
        query: AppointmentQuery,
    ) -> Result<AppointmentPage, StoreError> {
        self.read(move |c| appointments::for_patient(c, &query))
            .await
    }

    async fn scan_appointments(
        &self,
        scan: AppointmentScan,
    ) -> Result<Vec<AppointmentRecord>, StoreError> {
        self.read(move |c| appointments::scan(c, &scan)).await
    }

    async fn commit_appointment(&self, change: AppointmentChange) -> Result<(), CommitError> {
        // Only a change of an existing appointment can leave a kept copy behind; the mark
        // travels with the job and ends when the job is done with (see appointment_cache).
        let marked = change
            .expected_version
            .map(|_| self.appointments.change(Some(&change.id)));
        let (access, runs) = (self.access.clone(), self.request_runs.clone());
        self.write(move |c| {
            let _marked = &marked;
            // Numbered here, on the writer's thread and inside the transaction, so that the
            // change log's entries are committed in `seq` order (what a run relies on).
            appointments::commit(c, &change, access.next_seq())?;
            runs.appended(c);
            Ok(())
        })
        .await
    }

    async fn find_request(
        &self,
        key: &IdempotencyKey,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        let key = key.clone();
        self.db.point_read(move |c| requests::find(c, &key)).await
    }

    async fn record_request(&self, record: IdempotencyRecord) -> Result<(), StoreError> {
        self.write(move |c| requests::insert(c, &record, true).map(|_| ()))
            .await
    }

    async fn purge_requests(&self, before: Instant) -> Result<usize, StoreError> {
        self.write(move |c| requests::purge(c, before)).await
    }

    async fn append_audit(&self, entries: Vec<AuditEntry>) -> Result<(), StoreError> {
        self.on_access_log(move |log| log.append(&entries)).await
    }

    /// Both logs' first matches, merged in `seq` order: one trail.
    async fn query_audit(&self, query: AuditQuery) -> Result<Vec<AuditRecord>, StoreError> {
        let limit = usize::try_from(query.row_limit()).unwrap_or(usize::MAX);
        let wanted = query.clone();
        let (mut found, reads) = tokio::try_join!(
            self.read(move |c| audit::query(c, &query)),
            self.on_access_log(move |log| log.query(&wanted)),
        )?;
        found.extend(reads);
        found.sort_by_key(|r| r.seq);
        found.truncate(limit);
        Ok(found)
    }

    async fn claim_pointer_jobs(
        &self,
        owner: &str,
        limit: usize,
        now: Instant,
        lease_until: Instant,
    ) -> Result<Vec<PointerJob>, StoreError> {
        let owner = owner.to_string();
        self.write(move |c| outbox::claim(c, &owner, limit, now, lease_until))
            .await
    }

    async fn finish_pointer_job(
        &self,
        seq: i64,
        owner: &str,
        pointer: PointerIdChange,
    ) -> Result<(), StoreError> {
        let owner = owner.to_string();
        // The job sets the pointer id of an appointment its outbox row names.
        let mut marked = self.appointments.change(None);
        self.write(move |c| {
            let touched = outbox::finish(c, seq, &owner, &pointer, Instant::now())?;
            marked.touched(&touched);
            Ok(())
        })
        .await
    }

    async fn postpone_pointer_job(
        &self,
        seq: i64,
        owner: &str,
        error: &str,
        next_attempt: Instant,
        give_up: bool,
    ) -> Result<(), StoreError> {
        let (owner, error) = (owner.to_string(), error.to_string());
        self.write(move |c| outbox::postpone(c, seq, &owner, &error, next_attempt, give_up))
            .await
    }

    async fn release_pointer_leases(&self) -> Result<usize, StoreError> {
        self.write(outbox::release_leases).await
    }

    async fn requeue_pointer_job(&self, seq: i64) -> Result<bool, StoreError> {
        self.write(move |c| outbox::requeue(c, seq, Instant::now()))
            .await
    }

    async fn undelivered_pointer_jobs(&self, limit: usize) -> Result<Vec<PointerJob>, StoreError> {
        self.read(move |c| outbox::undelivered(c, limit)).await
    }

    async fn outbox_stats(&self) -> Result<OutboxStats, StoreError> {
        self.read(outbox::stats).await
    }

    async fn events_after(&self, query: EventQuery) -> Result<Vec<EventRecord>, StoreError> {
        self.read(move |c| events::after(c, &query)).await
    }

    async fn put_subscriber(&self, subscriber: Subscriber) -> Result<(), StoreError> {
        self.write(move |c| events::put_subscriber(c, &subscriber))
            .await
    }

    async fn remove_subscriber(&self, id: &str) -> Result<bool, StoreError> {
        let id = id.to_string();
        self.write(move |c| events::remove_subscriber(c, &id)).await
    }

    async fn list_subscribers(&self) -> Result<Vec<Subscriber>, StoreError> {
        self.read(events::subscribers).await
    }

    async fn claim_deliveries(
        &self,
        owner: &str,
        limit: usize,
        now: Instant,
        lease_until: Instant,
    ) -> Result<Vec<Delivery>, StoreError> {
        let owner = owner.to_string();
        self.write(move |c| events::claim(c, &owner, limit, now, lease_until))
            .await
    }

    async fn finish_delivery(
        &self,
        subscriber: &str,
        seq: i64,
        owner: &str,
    ) -> Result<(), StoreError> {
        let (subscriber, owner) = (subscriber.to_string(), owner.to_string());
        self.write(move |c| events::finish(c, &subscriber, seq, &owner, Instant::now()))
            .await
    }

    async fn postpone_delivery(
        &self,
        subscriber: &str,
        seq: i64,
        owner: &str,
        error: &str,
        next_attempt: Instant,
        give_up: bool,
    ) -> Result<(), StoreError> {
        let (subscriber, owner, error) =
            (subscriber.to_string(), owner.to_string(), error.to_string());
        self.write(move |c| {
            events::postpone(c, &subscriber, seq, &owner, &error, next_attempt, give_up)
        })
        .await
    }

    async fn release_delivery_leases(&self) -> Result<usize, StoreError> {
        self.write(events::release_leases).await
    }

    async fn requeue_deliveries(
        &self,
        subscriber: &str,
        seq: Option<i64>,
    ) -> Result<usize, StoreError> {
        let subscriber = subscriber.to_string();
        self.write(move |c| events::requeue(c, &subscriber, seq, Instant::now()))
            .await
    }

    async fn undelivered_events(
        &self,
        subscriber: Option<String>,
        limit: usize,
    ) -> Result<Vec<Delivery>, StoreError> {
        self.read(move |c| events::undelivered(c, subscriber.as_deref(), limit))
            .await
    }

    async fn appointments_for_day(&self, query: DayQuery) -> Result<DayPage, StoreError> {
        self.read(move |c| provider::day(c, &query)).await
    }

    async fn sync_slots(
        &self,
        service_id: &str,
        slots: Vec<SlotSync>,
        now: Instant,
    ) -> Result<Vec<SlotSyncOutcome>, StoreError> {
        let service_id = service_id.to_string();
        self.write(move |c| provider::sync(c, &service_id, &slots, now))
            .await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.db.ping(&[&schema::RECEIVER, &schema::PROVIDER]).await
    }

    fn is_embedded(&self) -> bool {
        true
    }

    fn pool_status(&self) -> Vec<PoolStatus> {
        self.db.pool_status()
    }
}
