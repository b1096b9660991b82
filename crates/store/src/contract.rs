//! The store contract, declared once.
//!
//! [`Store`] is what the roles hold (`Arc<dyn Store>`). A database implements [`Backend`]: the
//! same methods as plain `async fn`s, with no tracing in them. Every backend is a `Store`
//! through one blanket implementation, which runs each call in a debug span `store{op=...}`:
//! the one place store calls are traced, so a new backend is traced the day it is written,
//! and the boxing a `dyn Store` call needs happens once, as before.
//!
//! Both traits and the blanket implementation are generated from the single list of methods
//! below, so they cannot drift apart. `Backend` is kept out of the crate root so that a caller
//! with a concrete backend in hand and `bars_store::*` in scope calls the traced methods.

use std::future::Future;

use async_trait::async_trait;
use bars_fhir::Instant;
use tracing::Instrument;

use crate::error::{CommitError, PutError, StoreError, WithdrawError};
use crate::model::*;

/// Runs one call of a backend in its span.
async fn traced<F: Future>(op: &'static str, call: F) -> F::Output {
    call.instrument(tracing::debug_span!("store", op)).await
}

/// Declares [`Store`], [`Backend`] and the traced implementation of one for the other, from
/// the calls (`async fn`s taking `&self`, traced) and the facts (plain `fn(&self)`s with a
/// default, answered without touching the database, so not traced).
macro_rules! contract {
    (
        calls {
            $(
                $(#[$attr:meta])*
                async fn $name:ident(&self $(, $arg:ident: $ty:ty)* $(,)?) -> $ret:ty;
            )*
        }
        facts {
            $(
                $(#[$plain_attr:meta])*
                fn $plain:ident(&self) -> $plain_ret:ty $default:block
            )*
        }
    ) => {
        /// Durable state of a receiver, on whichever database it was opened (see [`crate::open`]).
        #[async_trait]
        pub trait Store: Send + Sync + 'static {
            $( $(#[$attr])* async fn $name(&self $(, $arg: $ty)*) -> $ret; )*
            $( $(#[$plain_attr])* fn $plain(&self) -> $plain_ret $default )*
        }

        /// What a database implements to serve as a [`Store`]; see the module documentation.
        pub trait Backend: Send + Sync + 'static {
            $( $(#[$attr])* fn $name(&self $(, $arg: $ty)*) -> impl Future<Output = $ret> + Send; )*
            $( $(#[$plain_attr])* fn $plain(&self) -> $plain_ret $default )*
        }

        #[async_trait]
        impl<B: Backend> Store for B {
            $(
                async fn $name(&self $(, $arg: $ty)*) -> $ret {
                    traced(stringify!($name), Backend::$name(self $(, $arg)*)).await
                }
            )*
            $( fn $plain(&self) -> $plain_ret { Backend::$plain(self) } )*
        }
    };
}

contract! {
    calls {
        // --- reference resources (HealthcareService, Organization, Location, Practitioner, ...)
        /// Writes a version of a reference resource that its owner stamped (the body carries
        /// the record's `id`, `meta.versionId` and `meta.lastUpdated`), provided the stored
        /// version is still `expected_version` (`None`: nothing stored yet). The store keeps
        /// the body as the text it is given.
        async fn put_resource(
            &self,
            resource: StoredResource,
            expected_version: Option<u64>,
        ) -> Result<StoredResource, PutError>;
        async fn get_resource(
            &self,
            resource_type: &str,
            id: &str,
        ) -> Result<Option<StoredResource>, StoreError>;
        async fn list_resources(&self, resource_type: &str) -> Result<Vec<StoredResource>, StoreError>;

        // --- availability
        /// Writes a version of a schedule that its owner stamped, as [`Store::put_resource`]
        /// does a reference resource.
        async fn put_schedule(
            &self,
            schedule: ScheduleRecord,
            expected_version: Option<u64>,
        ) -> Result<ScheduleRecord, PutError>;
        async fn get_schedules(&self, ids: &[String]) -> Result<Vec<ScheduleRecord>, StoreError>;
        async fn schedules_for_service(
            &self,
            service_id: &str,
        ) -> Result<Vec<ScheduleRecord>, StoreError>;
        /// Inserts free slots; returns how many were new (existing ids are left alone).
        async fn insert_slots(&self, slots: Vec<SlotRecord>) -> Result<usize, StoreError>;
        async fn get_slots(&self, ids: &[String]) -> Result<Vec<SlotRecord>, StoreError>;
        async fn search_slots(&self, query: SlotQuery) -> Result<SlotPage, StoreError>;
        /// Takes a free slot out of availability (free -> busy-unavailable).
        async fn withdraw_slot(&self, id: &str) -> Result<SlotRecord, WithdrawError>;

        // --- appointments
        async fn get_appointment(&self, id: &str) -> Result<Option<AppointmentRecord>, StoreError>;
        async fn get_appointments(&self, ids: &[String]) -> Result<Vec<AppointmentRecord>, StoreError>;
        async fn get_appointment_version(
            &self,
            id: &str,
            version: u64,
        ) -> Result<Option<AppointmentVersion>, StoreError>;
        /// One page of an appointment's versions, newest first, with how many there are in all
        /// (see [`HistoryQuery`]); the page and its total come from one snapshot.
        async fn appointment_history(&self, query: HistoryQuery) -> Result<HistoryPage, StoreError>;
        /// One page of a patient's appointments in booking order, with how many there are in all
        /// (see [`AppointmentQuery`]); the page and its total come from one snapshot.
        async fn appointments_for_patient(
            &self,
            query: AppointmentQuery,
        ) -> Result<AppointmentPage, StoreError>;
        /// Applies one appointment change atomically, or nothing of it.
        async fn commit_appointment(&self, change: AppointmentChange) -> Result<(), CommitError>;

        // --- idempotency
        async fn find_request(
            &self,
            key: &IdempotencyKey,
        ) -> Result<Option<IdempotencyRecord>, StoreError>;
        /// Records the outcome of a request that changed nothing (a refusal); a record already
        /// present for the key is kept.
        async fn record_request(&self, record: IdempotencyRecord) -> Result<(), StoreError>;
        /// Forgets request records older than `before`; returns how many.
        async fn purge_requests(&self, before: Instant) -> Result<usize, StoreError>;

        // --- audit
        async fn append_audit(&self, entries: Vec<AuditEntry>) -> Result<(), StoreError>;
        async fn query_audit(&self, query: AuditQuery) -> Result<Vec<AuditRecord>, StoreError>;

        // --- the Registry pointer outbox
        /// Leases up to `limit` deliverable jobs to `owner` until `lease_until`: for each appointment
        /// only its oldest undelivered job, and only when due. Jobs of one appointment are thereby
        /// delivered one at a time, in order. Jobs still leased to `owner` itself are handed back
        /// to it: a worker claims only when none of its jobs is in flight, so such a lease is one
        /// whose outcome it could not record (the database was unreachable at that moment).
        async fn claim_pointer_jobs(
            &self,
            owner: &str,
            limit: usize,
            now: Instant,
            lease_until: Instant,
        ) -> Result<Vec<PointerJob>, StoreError>;
        /// Marks a leased job delivered and records the appointment's pointer id.
        async fn finish_pointer_job(
            &self,
            seq: i64,
            owner: &str,
            pointer: PointerIdChange,
        ) -> Result<(), StoreError>;
        /// Records a failed attempt: retried at `next_attempt`, or parked as failed when `give_up`.
        async fn postpone_pointer_job(
            &self,
            seq: i64,
            owner: &str,
            error: &str,
            next_attempt: Instant,
            give_up: bool,
        ) -> Result<(), StoreError>;
        /// Frees every lease; for a store only one process uses, at start-up.
        async fn release_pointer_leases(&self) -> Result<usize, StoreError>;
        /// Puts a failed job back in the queue.
        async fn requeue_pointer_job(&self, seq: i64) -> Result<bool, StoreError>;
        /// Undelivered jobs (pending and failed), oldest first.
        async fn undelivered_pointer_jobs(&self, limit: usize) -> Result<Vec<PointerJob>, StoreError>;
        async fn outbox_stats(&self) -> Result<OutboxStats, StoreError>;

        // --- health
        /// Succeeds when the database answers and its schema is current.
        async fn ping(&self) -> Result<(), StoreError>;
    }
    facts {
        /// True for a database only this process uses (embedded SQLite): leases found at start-up
        /// were left by a previous run of this process and can be released at once.
        fn is_embedded(&self) -> bool {
            false
        }

        /// Connection pool use, for the metrics endpoint.
        fn pool_status(&self) -> Vec<PoolStatus> {
            Vec::new()
        }
    }
}
