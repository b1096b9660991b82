//! The outbox worker: delivers each appointment's pointer jobs to the Registry, in order, until
//! they land. It runs beside the API and never holds a booking up: bookings only write jobs.

use std::sync::Arc;
use std::time::Duration;

use bars_booking::PointerAction;
use bars_fhir::Instant;
use bars_store::{PointerIdChange, PointerJob, Store};
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;
use tracing::Instrument;

use super::content::{PointerFacts, PointerSettings, pointer};
use super::registry::{CallError, Guarded, RegistryClient, Stored};
use crate::metrics::DeliveryResult;

/// Jobs taken per round; they belong to different appointments and are delivered concurrently.
const BATCH: usize = 16;
/// How long a worker holds a job; another instance may take it over once the lease runs out.
const LEASE: Duration = Duration::from_secs(120);
/// How often the worker looks for due retries when nothing wakes it.
const POLL: Duration = Duration::from_millis(500);
/// Attempts at a guarded change that keeps meeting a newer version before trying later.
const GUARD_RETRIES: usize = 3;

pub struct PointerWorker {
    pub store: Arc<dyn Store>,
    pub registry: RegistryClient,
    pub settings: PointerSettings,
    pub ods: String,
    pub base_url: String,
    /// This worker's name in leases.
    pub owner: String,
    pub wake: Arc<Notify>,
    pub backoff: Backoff,
    pub metrics: Arc<crate::metrics::ReceiverMetrics>,
}

/// How long to wait between attempts at one job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub initial: Duration,
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(300),
        }
    }
}

impl Backoff {
    /// The wait before the next attempt: doubling per attempt from `initial`, capped at `max`,
    /// with up to a fifth added at random so that retries after an outage spread out.
    pub fn delay(&self, attempts: u32) -> Duration {
        let doubled = self.initial.saturating_mul(1u32 << attempts.min(16));
        let base = doubled.min(self.max);
        let fifth = base.as_millis() as u64 / 5;
        let jitter = if fifth == 0 {
            0
        } else {
            (uuid::Uuid::new_v4().as_u128() % u128::from(fifth)) as u64
        };
        base + Duration::from_millis(jitter)
    }
}

impl PointerWorker {
    /// Delivers until `stop` turns true; a round in progress is finished first.
    pub async fn run(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        loop {
            if *stop.borrow() {
                break;
            }
            let now = Instant::now();
            let lease_until = now.plus_seconds(LEASE.as_secs() as i64);
            let jobs = match self
                .store
                .claim_pointer_jobs(&self.owner, BATCH, now, lease_until)
                .await
            {
                Ok(jobs) => jobs,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read the pointer outbox");
                    tokio::select! { _ = tokio::time::sleep(Duration::from_secs(1)) => {}, _ = stop.changed() => {} }
                    continue;
                }
            };
            if jobs.is_empty() {
                tokio::select! {
                    _ = self.wake.notified() => {}
                    _ = tokio::time::sleep(POLL) => {}
                    _ = stop.changed() => {}
                }
                continue;
            }
            let mut round = JoinSet::new();
            for job in jobs {
                let worker = self.clone();
                round.spawn(async move { worker.settle(job).await });
            }
            while round.join_next().await.is_some() {}
        }
    }

    /// Delivers one job and records the outcome.
    async fn settle(&self, job: PointerJob) {
        let correlation = uuid::Uuid::new_v4().to_string();
        let span = tracing::info_span!(
            "pointer_job",
            seq = job.seq,
            action = job.action.as_str(),
            correlation_id = %correlation,
        );
        self.settle_traced(job, correlation).instrument(span).await
    }

    async fn settle_traced(&self, job: PointerJob, correlation: String) {
        let outcome = self.deliver(&job, &correlation).await;
        let result = match &outcome {
            Ok(_) => DeliveryResult::Delivered,
            Err(CallError::Retry(_)) => DeliveryResult::Retry,
            Err(CallError::Permanent(_)) => DeliveryResult::Failed,
        };
        self.metrics.pointer_delivery(job.action.as_str(), result);
        let recorded = match outcome {
            Ok(change) => {
                tracing::info!(appointment = %job.appointment_id, action = job.action.as_str(), "registry pointer delivered");
                self.store
                    .finish_pointer_job(job.seq, &self.owner, change)
                    .await
            }
            Err(CallError::Retry(why)) => {
                let next =
                    Instant::now().plus_nanos(self.backoff.delay(job.attempts).as_nanos() as i64);
                tracing::warn!(appointment = %job.appointment_id, action = job.action.as_str(), attempts = job.attempts + 1, error = %why, "registry pointer not delivered; will retry");
                self.store
                    .postpone_pointer_job(job.seq, &self.owner, &why, next, false)
                    .await
            }
            Err(CallError::Permanent(why)) => {
                tracing::error!(appointment = %job.appointment_id, action = job.action.as_str(), error = %why, "registry refused a pointer; parked for an operator");
                self.store
                    .postpone_pointer_job(job.seq, &self.owner, &why, Instant::now(), true)
                    .await
            }
        };
        if let Err(e) = recorded {
            // The lease will lapse and the job be delivered again; delivery is idempotent.
            tracing::warn!(error = %e, seq = job.seq, "could not record a pointer job's outcome");
        }
    }

    async fn deliver(
        &self,
        job: &PointerJob,
        correlation: &str,
    ) -> Result<PointerIdChange, CallError> {
        let record = self
            .store
            .get_appointment(&job.appointment_id)
            .await
            .map_err(|e| CallError::Retry(e.to_string()))?
            .ok_or_else(|| CallError::Permanent("the appointment no longer exists".into()))?;
        let version = self
            .store
            .get_appointment_version(&job.appointment_id, job.appointment_version)
            .await
            .map_err(|e| CallError::Retry(e.to_string()))?
            .ok_or_else(|| CallError::Permanent("the appointment version is missing".into()))?;
        let body: serde_json::Value = serde_json::from_str(&version.body)
            .map_err(|_| CallError::Permanent("the appointment is not valid JSON".into()))?;
        let facts =
            PointerFacts::from_appointment(&body, record.service_id.clone()).ok_or_else(|| {
                CallError::Permanent("the appointment has no patient NHS number".into())
            })?;
        for _ in 0..GUARD_RETRIES {
            let existing = self
                .locate(record.pointer_id.as_deref(), &facts, correlation)
                .await?;
            match (job.action, existing) {
                (PointerAction::Create | PointerAction::Update, None) => {
                    let doc = pointer(&facts, &self.ods, &self.base_url, &self.settings);
                    return self
                        .registry
                        .create(&doc, correlation)
                        .await
                        .map(PointerIdChange::Set);
                }
                (PointerAction::Create | PointerAction::Update, Some(found)) => {
                    let doc = pointer(&facts, &self.ods, &self.base_url, &self.settings);
                    if self
                        .registry
                        .update(&found.id, &doc, found.etag.as_deref(), correlation)
                        .await?
                        == Guarded::Done
                    {
                        return Ok(PointerIdChange::Set(found.id));
                    }
                }
                (PointerAction::Delete, None) => return Ok(PointerIdChange::Clear),
                (PointerAction::Delete, Some(found)) => {
                    if self
                        .registry
                        .delete(&found.id, found.etag.as_deref(), correlation)
                        .await?
                        != Guarded::Stale
                    {
                        return Ok(PointerIdChange::Clear);
                    }
                }
            }
        }
        Err(CallError::Retry(
            "the pointer kept changing while it was being written".into(),
        ))
    }

    /// Reads the appointment's pointer before writing it: by its recorded id, else by searching
    /// (which also finds one created by an attempt whose answer was lost). Duplicates found on
    /// the way are removed, so an appointment ends with one pointer.
    async fn locate(
        &self,
        known: Option<&str>,
        facts: &PointerFacts,
        correlation: &str,
    ) -> Result<Option<Stored>, CallError> {
        if let Some(id) = known
            && let Some(found) = self.registry.get(id, correlation).await?
        {
            return Ok(Some(found));
        }
        let mut found = self
            .registry
            .find(
                &facts.appointment_id,
                &facts.nhs_number,
                &self.settings.type_code,
                correlation,
            )
            .await?;
        for extra in found.iter().skip(1) {
            tracing::warn!(appointment = %facts.appointment_id, "removing a duplicate registry pointer");
            self.registry
                .delete(&extra.id, extra.etag.as_deref(), correlation)
                .await?;
        }
        found.truncate(1);
        Ok(found.pop())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        let b = Backoff::default();
        assert!(b.delay(0) >= Duration::from_secs(1) && b.delay(0) < Duration::from_millis(1200));
        assert!(b.delay(3) >= Duration::from_secs(8) && b.delay(3) < Duration::from_millis(9600));
        assert!(b.delay(40) >= Duration::from_secs(300) && b.delay(40) <= Duration::from_secs(360));
    }
}
