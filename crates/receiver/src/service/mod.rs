//! The booking service: the one path every appointment read and write takes, whichever front
//! door (REST or `$process-message`) it came through, so that scope, access policy, slot
//! locking, the state machine, versioning, idempotency, audit and pointer maintenance are
//! identical.
//!
//! Writes ([`writes`]) read, decide (pure domain), then commit an
//! [`bars_store::AppointmentChange`] whose guards the store re-checks inside the transaction.
//! Reads ([`reads`]) answer views, versions, history and searches.
//!
//! Every read here, for a write or for a view, takes the request's [`Scope`]: what another
//! service owns is not read at all, so it is answered exactly as if it did not exist, and the
//! access policy applied is that of the service that owns what was read. Every audit entry,
//! for a change, a read or a refused write, is made by [`audit_entry`].

pub mod elements;
pub mod reads;
pub mod writes;

use std::sync::Arc;

use bars_booking::Scope;
use bars_fhir::Instant;
use bars_http::RequestContext;
use bars_store::{AppointmentRecord, AuditEntry, Store};

use crate::access;
use crate::audit::AuditSink;
use crate::booking_error::BookingError;
use crate::config::ReceiverConfig;
use crate::metrics::ReceiverMetrics;

#[derive(Clone)]
pub struct Bookings {
    pub store: Arc<dyn Store>,
    pub config: Arc<ReceiverConfig>,
    /// Wakes the pointer worker when a change leaves a job in the outbox.
    pub pointer_jobs: Arc<tokio::sync::Notify>,
    pub metrics: Arc<ReceiverMetrics>,
    /// Where the entries of reads and refused writes go; a change's entry is committed with it.
    pub audit: AuditSink,
}

/// A new appointment's id: a UUID of version 7 (RFC 9562), whose leading bits are the time of
/// its creation in milliseconds, where a version 4 UUID is random throughout.
///
/// The id is the key of five B-trees every booking writes (the appointment, its versions, its
/// slots, its pointer job, its audit entry). Random keys put each booking on a page of its own
/// in every one of them, so a batch of 64 bookings dirtied some 300 pages, all of which the
/// write-ahead log, its fsync and the next checkpoint carry; keys in time order land together
/// on the right-hand pages. The time the id reveals is the booking's `created`, which the
/// resource states anyway; the bits after it are random, so ids stay unguessable.
pub fn new_appointment_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// What an audit entry says a request did to an appointment.
pub struct Audited<'a> {
    /// `read`, `search`, `book`, `update`, `cancel`, ...
    pub action: &'a str,
    pub id: Option<&'a str>,
    pub version: Option<u64>,
    /// The NHS number of the patient whose booking it is, when there is one: the audit log
    /// answers "who saw this patient's bookings", so every entry that touched one names them.
    pub patient: Option<String>,
    /// The HTTP status the request was answered with.
    pub outcome: u16,
}

/// The one place an audit entry is made: who asked (from the request's context) and what was
/// done to which appointment.
pub fn audit_entry(ctx: &RequestContext, what: Audited<'_>) -> AuditEntry {
    AuditEntry {
        at: Some(Instant::now()),
        request_id: ctx.request_id.clone(),
        correlation_id: ctx.correlation_id.clone(),
        sender_ods: ctx.sender_ods().map(str::to_string),
        sender_software: ctx.sender_software().map(str::to_string),
        sender_app: ctx.application.clone(),
        action: what.action.to_string(),
        resource_type: "Appointment".to_string(),
        resource_id: what.id.map(str::to_string),
        version: what.version,
        outcome: what.outcome,
        patient: what.patient,
    }
}

impl Bookings {
    pub fn location(&self, id: &str, version: u64) -> String {
        self.config
            .url(&format!("Appointment/{id}/_history/{version}"))
    }

    /// Audits a request that changed nothing: a read, or a write refused (`outcome` is the
    /// status it was refused with). Such entries go through the batching sink.
    pub async fn audit(&self, ctx: &RequestContext, what: Audited<'_>) {
        self.audit.record(audit_entry(ctx, what)).await;
    }

    /// The current version of an appointment if `scope` admits it, after the access policy of
    /// its service. `None` both for an unknown id and for another service's appointment, so
    /// that neither can be told from the other. Every read of an appointment by id, for a
    /// write or a view, comes through here.
    async fn appointment(
        &self,
        ctx: &RequestContext,
        scope: &Scope,
        id: &str,
    ) -> Result<Option<AppointmentRecord>, BookingError> {
        // The addressed service's policy first: a sender it refuses learns nothing from 404s.
        access::check_owner(&self.config, ctx, scope.service())?;
        let found = self
            .store
            .get_appointment(id)
            .await?
            .filter(|record| scope.admits(record.service_id.as_deref()));
        // The owner's policy, when the owner is not the service already checked (an unaddressed
        // request): an admitted record of an addressed request is that service's own.
        if let Some(record) = &found
            && record.service_id.as_deref() != scope.service()
        {
            access::check_owner(&self.config, ctx, record.service_id.as_deref())?;
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::new_appointment_id;

    /// Ids sort in the order they were made (so the B-trees they key grow at one end), and are
    /// still the UUIDs a receiver's ids must be.
    #[test]
    fn appointment_ids_are_uuids_in_the_order_they_were_made() {
        let ids: Vec<String> = (0..2_000).map(|_| new_appointment_id()).collect();
        for id in &ids {
            let uuid = uuid::Uuid::try_parse(id).unwrap();
            assert_eq!(uuid.get_version_num(), 7, "{id}");
        }
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(sorted, ids);
    }
}
