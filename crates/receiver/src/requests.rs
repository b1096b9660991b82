//! Transactional integrity (BaRS 5.10): a write carrying request ids that were already seen is
//! never processed twice.
//!
//! A request in progress is tracked in memory (a retry arriving meanwhile gets 425); its outcome
//! is stored durably — a success in the same transaction as its effect, a refusal on its own —
//! so that a later retry gets 409 `duplicate` or the original refusal replayed. Across several
//! instances sharing one database, the unique key on the stored record still lets only one of
//! two simultaneous duplicates take effect.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use axum::response::{IntoResponse, Response};
use bars_fhir::codes::BarsCode;
use bars_fhir::{Instant, IssueType};
use bars_http::fhir_json::fhir_response;
use bars_http::{ApiError, RequestContext};
use bars_store::{IdempotencyKey, IdempotencyRecord, RequestOutcome, Store};
use http::{StatusCode, header};

use crate::booking_error::BookingError;
use crate::errors;
use crate::metrics::{ReceiverMetrics, ReplayKind};

#[derive(Clone, Default)]
pub struct InFlight(Arc<Mutex<HashSet<IdempotencyKey>>>);

/// Held while a request is processed; releases its key when dropped.
pub struct Admission {
    key: IdempotencyKey,
    inflight: InFlight,
}

impl Drop for Admission {
    fn drop(&mut self) {
        if let Ok(mut set) = self.inflight.0.lock() {
            set.remove(&self.key);
        }
    }
}

impl Admission {
    pub fn key(&self) -> &IdempotencyKey {
        &self.key
    }

    /// The record a successful write commits with its effect.
    pub fn success(&self, location: Option<String>) -> IdempotencyRecord {
        IdempotencyRecord {
            key: self.key.clone(),
            outcome: RequestOutcome::Succeeded { location },
            recorded: Instant::now(),
        }
    }
}

pub fn key_of(ctx: &RequestContext) -> IdempotencyKey {
    IdempotencyKey {
        request_id: ctx.request_id.clone(),
        correlation_id: ctx.correlation_id.clone(),
        sender: ctx.sender_key(),
    }
}

/// Admits a write, or answers it from what is known about its ids.
pub async fn admit(
    store: &dyn Store,
    inflight: &InFlight,
    metrics: &ReceiverMetrics,
    ctx: &RequestContext,
) -> Result<Admission, Response> {
    let key = key_of(ctx);
    {
        let mut set = inflight.0.lock().map_err(|_| {
            errors::store(bars_store::StoreError::Internal(
                "in-flight set poisoned".into(),
            ))
            .into_response()
        })?;
        if !set.insert(key.clone()) {
            metrics.replay(ReplayKind::InProgress);
            return Err(too_early());
        }
    }
    let admission = Admission {
        key,
        inflight: inflight.clone(),
    };
    match store.find_request(&admission.key).await {
        Ok(None) => Ok(admission),
        Ok(Some(record)) => Err(counted_replay(metrics, &record)),
        Err(e) => Err(errors::store(e).into_response()),
    }
}

fn counted_replay(metrics: &ReceiverMetrics, record: &IdempotencyRecord) -> Response {
    let kind = match record.outcome {
        RequestOutcome::Succeeded { .. } => ReplayKind::Duplicate,
        RequestOutcome::Failed { .. } => ReplayKind::Refusal,
    };
    metrics.replay(kind);
    replay(record)
}

fn too_early() -> Response {
    let mut e = ApiError::bars(
        BarsCode::RecTooEarly,
        IssueType::Duplicate,
        "a request with these X-Request-ID and X-Correlation-ID is still being processed; retry later",
    );
    e = e.with_header(header::RETRY_AFTER, "1");
    e.into_response()
}

/// The answer to a request whose ids were already processed.
pub fn replay(record: &IdempotencyRecord) -> Response {
    match &record.outcome {
        RequestOutcome::Succeeded { location } => {
            let mut e = ApiError::bars(
                BarsCode::RecConflict,
                IssueType::Duplicate,
                "a request with these X-Request-ID and X-Correlation-ID was already processed successfully; it has not been applied again",
            );
            if let Some(l) = location {
                e = e.with_header(header::CONTENT_LOCATION, l);
            }
            e.into_response()
        }
        RequestOutcome::Failed { status, body } => fhir_response(
            StatusCode::from_u16(*status).unwrap_or(StatusCode::BAD_REQUEST),
            body.clone(),
        ),
    }
}

/// Answers a request that found its ids already committed by another instance mid-flight.
pub async fn answer_duplicate(
    store: &dyn Store,
    metrics: &ReceiverMetrics,
    key: &IdempotencyKey,
) -> Response {
    match store.find_request(key).await {
        Ok(Some(record)) => counted_replay(metrics, &record),
        Ok(None) => {
            metrics.replay(ReplayKind::Duplicate);
            ApiError::from(BookingError::Duplicate).into_response()
        }
        Err(e) => errors::store(e).into_response(),
    }
}

/// Remembers a refusal so a retry gets the same answer. Only a sender's own mistake is kept
/// (4xx); a transient failure (5xx, 408, 425, 429) must stay retryable.
pub async fn remember_refusal(store: &dyn Store, admission: &Admission, error: &ApiError) {
    let status = error.status.as_u16();
    if !(400..500).contains(&status) || matches!(status, 408 | 425 | 429) {
        return;
    }
    let record = IdempotencyRecord {
        key: admission.key.clone(),
        outcome: RequestOutcome::Failed {
            status,
            body: error.outcome().to_string(),
        },
        recorded: Instant::now(),
    };
    if let Err(e) = store.record_request(record).await {
        tracing::warn!(error = %e, "could not record a refused request");
    }
}

/// Forgets request records older than the retention period, once an hour: duplicates are
/// detected for at least that long, and the table does not grow without bound.
pub async fn forget_old_requests(store: std::sync::Arc<dyn Store>, retention: std::time::Duration) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(3600));
    loop {
        tick.tick().await;
        let cutoff = Instant::now().plus_seconds(-(retention.as_secs() as i64));
        match store.purge_requests(cutoff).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(forgotten = n, "old request records removed"),
            Err(e) => tracing::warn!(error = %e, "could not remove old request records"),
        }
    }
}
