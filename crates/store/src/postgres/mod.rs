//! The PostgreSQL backend, for several receiver instances sharing one database.
//!
//! [`PgDatabase`] is the shared machinery (a connection pool with bounded waits, per-component
//! migrations under an advisory lock, transactions that are run again on serialization failures
//! and deadlocks); [`PgStore`] is the receiver's store on it. The statements that decide races
//! are written for PostgreSQL's READ COMMITTED: see [`appointments`] for the booking guards and
//! [`outbox`] for how instances share the pointer jobs.

mod appointments;
mod audit;
pub mod config;
mod database;
pub mod errors;
mod events;
pub mod migrate;
mod outbox;
mod provider;
mod requests;
mod resources;
pub mod schema;
mod slots;
pub mod sql;
pub mod tls;

use bars_fhir::Instant;

use crate::contract::Backend;
use crate::error::{CommitError, PutError, StoreError, WithdrawError};
use crate::model::*;
use crate::provider_model::*;
pub use config::{PgOptions, redact};
pub use database::{BoxFuture, PgDatabase, connect_client};

/// True for the URLs this backend serves.
pub fn is_postgres_url(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// The receiver's store on PostgreSQL.
pub struct PgStore {
    db: PgDatabase,
}

impl PgStore {
    /// Connects and brings the receiver's schema up to date.
    pub async fn connect(url: &str) -> Result<PgStore, StoreError> {
        Ok(PgStore {
            db: PgDatabase::connect(url, &[&schema::RECEIVER, &schema::PROVIDER]).await?,
        })
    }
}

impl Backend for PgStore {
    async fn put_resource(
        &self,
        resource: StoredResource,
        expected_version: Option<u64>,
    ) -> Result<StoredResource, PutError> {
        self.db
            .autocommit((&resource, expected_version), |c, (resource, expected)| {
                Box::pin(resources::put_resource(c, resource, *expected))
            })
            .await?;
        Ok(resource)
    }

    async fn get_resource(
        &self,
        resource_type: &str,
        id: &str,
    ) -> Result<Option<StoredResource>, StoreError> {
        let data = (resource_type.to_string(), id.to_string());
        self.db
            .autocommit(data, |c, (rt, id)| {
                Box::pin(resources::get_resource(c, rt, id))
            })
            .await
    }

    async fn list_resources(&self, resource_type: &str) -> Result<Vec<StoredResource>, StoreError> {
        self.db
            .autocommit(resource_type.to_string(), |c, rt| {
                Box::pin(resources::list_resources(c, rt))
            })
            .await
    }

    async fn put_schedule(
        &self,
        schedule: ScheduleRecord,
        expected_version: Option<u64>,
    ) -> Result<ScheduleRecord, PutError> {
        self.db
            .autocommit((&schedule, expected_version), |c, (schedule, expected)| {
                Box::pin(resources::put_schedule(c, schedule, *expected))
            })
            .await?;
        Ok(schedule)
    }

    async fn get_schedules(&self, ids: &[String]) -> Result<Vec<ScheduleRecord>, StoreError> {
        self.db
            .autocommit(ids.to_vec(), |c, ids| {
                Box::pin(resources::get_schedules(c, ids))
            })
            .await
    }

    async fn schedules_for_service(
        &self,
        service_id: &str,
    ) -> Result<Vec<ScheduleRecord>, StoreError> {
        self.db
            .autocommit(service_id.to_string(), |c, s| {
                Box::pin(resources::schedules_for_service(c, s))
            })
            .await
    }

    async fn insert_slots(&self, slots: Vec<SlotRecord>) -> Result<usize, StoreError> {
        let mut inserted = 0;
        // Large imports go in chunks, each its own transaction, so bookings are not held up
        // behind one huge statement and no statement nears the timeout.
        for chunk in slots.chunks(5_000) {
            inserted += self
                .db
                .write(chunk.to_vec(), |tx, c| Box::pin(slots::insert_slots(tx, c)))
                .await?;
        }
        Ok(inserted)
    }

    async fn get_slots(&self, ids: &[String]) -> Result<Vec<SlotRecord>, StoreError> {
        self.db
            .autocommit(ids.to_vec(), |c, ids| Box::pin(slots::get_slots(c, ids)))
            .await
    }

    async fn search_slots(&self, query: SlotQuery) -> Result<SlotPage, StoreError> {
        self.db
            .snapshot(query, |tx, q| Box::pin(slots::search_slots(tx, q)))
            .await
    }

    async fn withdraw_slot(&self, id: &str) -> Result<SlotRecord, WithdrawError> {
        self.db
            .write((id.to_string(), Instant::now()), |tx, (id, now)| {
                Box::pin(slots::withdraw_slot(tx, id, *now))
            })
            .await
    }

    async fn get_appointment(&self, id: &str) -> Result<Option<AppointmentRecord>, StoreError> {
        self.db
            .autocommit(id.to_string(), |c, id| Box::pin(appointments::get(c, id)))
            .await
    }

    async fn get_appointments(&self, ids: &[String]) -> Result<Vec<AppointmentRecord>, StoreError> {
        self.db
            .autocommit(ids.to_vec(), |c, ids| {
                Box::pin(appointments::get_many(c, ids))
            })
            .await
    }

    async fn get_appointment_version(
        &self,
        id: &str,
        version: u64,
    ) -> Result<Option<AppointmentVersion>, StoreError> {
        self.db
            .autocommit((id.to_string(), version), |c, (id, version)| {
                Box::pin(appointments::get_version(c, id, *version))
            })
            .await
    }

    async fn appointment_history(&self, query: HistoryQuery) -> Result<HistoryPage, StoreError> {
        self.db
            .snapshot(query, |tx, q| Box::pin(appointments::history(tx, q)))
            .await
    }

    async fn appointments_for_patient(
        &self,
        query: AppointmentQuery,
    ) -> Result<AppointmentPage, StoreError> {
        self.db
            .snapshot(query, |tx, q| Box::pin(appointments::for_patient(tx, q)))
            .await
    }

    async fn scan_appointments(
        &self,
        scan: AppointmentScan,
    ) -> Result<Vec<AppointmentRecord>, StoreError> {
        self.db
            .snapshot(scan, |tx, q| Box::pin(appointments::scan(tx, q)))
            .await
    }

    async fn commit_appointment(&self, change: AppointmentChange) -> Result<(), CommitError> {
        self.db
            .write(change, |tx, ch| Box::pin(appointments::commit(tx, ch)))
            .await
    }

    async fn find_request(
        &self,
        key: &IdempotencyKey,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        self.db
            .autocommit(key.clone(), |c, k| Box::pin(requests::find(c, k)))
            .await
    }

    async fn record_request(&self, record: IdempotencyRecord) -> Result<(), StoreError> {
        self.db
            .autocommit(record, |c, r| {
                Box::pin(async move { requests::insert(c, r, true).await.map(|_| ()) })
            })
            .await
    }

    async fn purge_requests(&self, before: Instant) -> Result<usize, StoreError> {
        self.db
            .autocommit(before, |c, b| Box::pin(requests::purge(c, *b)))
            .await
    }

    async fn append_audit(&self, entries: Vec<AuditEntry>) -> Result<(), StoreError> {
        self.db
            .autocommit(entries, |c, e| Box::pin(audit::append(c, e)))
            .await
    }

    async fn query_audit(&self, query: AuditQuery) -> Result<Vec<AuditRecord>, StoreError> {
        self.db
            .autocommit(query, |c, q| Box::pin(audit::query(c, q)))
            .await
    }

    async fn claim_pointer_jobs(
        &self,
        owner: &str,
        limit: usize,
        now: Instant,
        lease_until: Instant,
    ) -> Result<Vec<PointerJob>, StoreError> {
        self.db
            .write(
                (owner.to_string(), limit, now, lease_until),
                |tx, (owner, limit, now, lease_until)| {
                    Box::pin(outbox::claim(tx, owner, *limit, *now, *lease_until))
                },
            )
            .await
    }

    async fn finish_pointer_job(
        &self,
        seq: i64,
        owner: &str,
        pointer: PointerIdChange,
    ) -> Result<(), StoreError> {
        self.db
            .write(
                (seq, owner.to_string(), pointer, Instant::now()),
                |tx, (seq, owner, pointer, now)| {
                    Box::pin(outbox::finish(tx, *seq, owner, pointer, *now))
                },
            )
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
        let data = (
            seq,
            owner.to_string(),
            error.to_string(),
            next_attempt,
            give_up,
        );
        self.db
            .autocommit(data, |c, (seq, owner, error, next_attempt, give_up)| {
                Box::pin(outbox::postpone(
                    c,
                    *seq,
                    owner,
                    error,
                    *next_attempt,
                    *give_up,
                ))
            })
            .await
    }

    async fn release_pointer_leases(&self) -> Result<usize, StoreError> {
        self.db
            .autocommit((), |c, _| Box::pin(outbox::release_leases(c)))
            .await
    }

    async fn requeue_pointer_job(&self, seq: i64) -> Result<bool, StoreError> {
        self.db
            .autocommit((seq, Instant::now()), |c, (seq, now)| {
                Box::pin(outbox::requeue(c, *seq, *now))
            })
            .await
    }

    async fn undelivered_pointer_jobs(&self, limit: usize) -> Result<Vec<PointerJob>, StoreError> {
        self.db
            .autocommit(limit, |c, l| Box::pin(outbox::undelivered(c, *l)))
            .await
    }

    async fn outbox_stats(&self) -> Result<OutboxStats, StoreError> {
        self.db
            .autocommit((), |c, _| Box::pin(outbox::stats(c)))
            .await
    }

    async fn events_after(&self, query: EventQuery) -> Result<Vec<EventRecord>, StoreError> {
        self.db
            .autocommit(query, |c, q| Box::pin(events::after(c, q)))
            .await
    }

    async fn put_subscriber(&self, subscriber: Subscriber) -> Result<(), StoreError> {
        self.db
            .autocommit(subscriber, |c, s| Box::pin(events::put_subscriber(c, s)))
            .await
    }

    async fn remove_subscriber(&self, id: &str) -> Result<bool, StoreError> {
        self.db
            .write(id.to_string(), |tx, id| {
                Box::pin(events::remove_subscriber(tx, id))
            })
            .await
    }

    async fn list_subscribers(&self) -> Result<Vec<Subscriber>, StoreError> {
        self.db
            .autocommit((), |c, _| Box::pin(events::subscribers(c)))
            .await
    }

    async fn claim_deliveries(
        &self,
        owner: &str,
        limit: usize,
        now: Instant,
        lease_until: Instant,
    ) -> Result<Vec<Delivery>, StoreError> {
        self.db
            .write(
                (owner.to_string(), limit, now, lease_until),
                |tx, (owner, limit, now, lease_until)| {
                    Box::pin(events::claim(tx, owner, *limit, *now, *lease_until))
                },
            )
            .await
    }

    async fn finish_delivery(
        &self,
        subscriber: &str,
        seq: i64,
        owner: &str,
    ) -> Result<(), StoreError> {
        let data = (
            subscriber.to_string(),
            seq,
            owner.to_string(),
            Instant::now(),
        );
        self.db
            .autocommit(data, |c, (subscriber, seq, owner, now)| {
                Box::pin(events::finish(c, subscriber, *seq, owner, *now))
            })
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
        let data = (
            subscriber.to_string(),
            seq,
            owner.to_string(),
            error.to_string(),
            next_attempt,
            give_up,
        );
        self.db
            .autocommit(
                data,
                |c, (subscriber, seq, owner, error, next_attempt, give_up)| {
                    Box::pin(events::postpone(
                        c,
                        subscriber,
                        *seq,
                        owner,
                        error,
                        *next_attempt,
                        *give_up,
                    ))
                },
            )
            .await
    }

    async fn release_delivery_leases(&self) -> Result<usize, StoreError> {
        self.db
            .autocommit((), |c, _| Box::pin(events::release_leases(c)))
            .await
    }

    async fn requeue_deliveries(
        &self,
        subscriber: &str,
        seq: Option<i64>,
    ) -> Result<usize, StoreError> {
        self.db
            .autocommit(
                (subscriber.to_string(), seq, Instant::now()),
                |c, (subscriber, seq, now)| Box::pin(events::requeue(c, subscriber, *seq, *now)),
            )
            .await
    }

    async fn undelivered_events(
        &self,
        subscriber: Option<String>,
        limit: usize,
    ) -> Result<Vec<Delivery>, StoreError> {
        self.db
            .autocommit((subscriber, limit), |c, (subscriber, limit)| {
                Box::pin(events::undelivered(c, subscriber.as_deref(), *limit))
            })
            .await
    }

    async fn appointments_for_day(&self, query: DayQuery) -> Result<DayPage, StoreError> {
        self.db
            .snapshot(query, |tx, q| Box::pin(provider::day(tx, q)))
            .await
    }

    async fn sync_slots(
        &self,
        service_id: &str,
        slots: Vec<SlotSync>,
        now: Instant,
    ) -> Result<Vec<SlotSyncOutcome>, StoreError> {
        self.db
            .write(
                (service_id.to_string(), slots, now),
                |tx, (service_id, slots, now)| {
                    Box::pin(provider::sync(tx, service_id, slots, *now))
                },
            )
            .await
    }

    /// Other instances share the outbox: their leases are theirs until they expire.
    fn is_embedded(&self) -> bool {
        false
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.db.ping(&[&schema::RECEIVER, &schema::PROVIDER]).await
    }

    fn pool_status(&self) -> Vec<crate::PoolStatus> {
        self.db.pool_status()
    }
}
