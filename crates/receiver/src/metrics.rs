//! What a receiver counts for its operators, beyond the request metrics every role keeps.

use std::sync::Arc;

use bars_fhir::IssueType;
use bars_http::ApiError;
use bars_http::metrics::{CounterVec, Exposition};
use bars_http::observe::HttpMetrics;
use bars_store::{OutboxStats, PoolStatus};
use http::StatusCode;

use crate::service::Written;

pub struct ReceiverMetrics {
    /// Requests on both listeners (the sender-facing API and the admin API).
    pub http: Arc<HttpMetrics>,
    /// Appointment changes committed, by what they did (`booked`, `cancelled`, ...).
    pub events: CounterVec,
    /// Writes refused because something changed under them: a slot taken (409 conflict) or a
    /// version moved on (412).
    pub conflicts: CounterVec,
    /// Requests answered from their ids instead of being processed again.
    pub replays: CounterVec,
    /// Registry pointer deliveries, by action and result.
    pub pointer_deliveries: CounterVec,
}

impl Default for ReceiverMetrics {
    fn default() -> Self {
        ReceiverMetrics {
            http: Arc::default(),
            events: CounterVec::new(
                "bars_appointment_events_total",
                "Appointment changes committed: booked (bookings), cancelled (cancellations), updated, rescheduled, placeholder.",
                &["event"],
            ),
            conflicts: CounterVec::new(
                "bars_booking_conflicts_total",
                "Appointment writes refused because the slot or the appointment changed first: conflict (409) or precondition (412).",
                &["kind"],
            ),
            replays: CounterVec::new(
                "bars_idempotent_replays_total",
                "Requests answered from their X-Request-ID/X-Correlation-ID instead of being processed again: duplicate (409), refusal (the stored refusal), in_progress (425).",
                &["kind"],
            ),
            pointer_deliveries: CounterVec::new(
                "bars_pointer_deliveries_total",
                "Registry pointer job attempts, by action (create, update, delete) and result (delivered, retry, failed).",
                &["action", "result"],
            ),
        }
    }
}

impl ReceiverMetrics {
    /// Counts what an appointment write came to.
    pub fn write_outcome(&self, outcome: &Result<Written, ApiError>) {
        match outcome {
            Ok(written) => self.events.inc(&[written.event.as_str()]),
            Err(e) if e.status == StatusCode::CONFLICT && e.issue == IssueType::Conflict => {
                self.conflicts.inc(&["conflict"])
            }
            Err(e) if e.status == StatusCode::PRECONDITION_FAILED => {
                self.conflicts.inc(&["precondition"])
            }
            Err(_) => {}
        }
    }

    /// The whole exposition, with the values only the store knows at scrape time.
    pub fn render(&self, outbox: &OutboxStats, pools: &[PoolStatus]) -> String {
        let mut out = Exposition::default();
        self.http.render(&mut out);
        self.events.render(&mut out);
        self.conflicts.render(&mut out);
        self.replays.render(&mut out);
        self.pointer_deliveries.render(&mut out);
        outbox_gauges(&mut out, outbox);
        out.connection_pools(&pools.iter().map(PoolStatus::as_tuple).collect::<Vec<_>>());
        out.into_text()
    }
}

fn outbox_gauges(out: &mut Exposition, stats: &OutboxStats) {
    let now = bars_fhir::Instant::now();
    let oldest = stats.oldest_undelivered.map_or(0.0, |i| {
        (now.unix_nanos() - i.unix_nanos()).max(0) as f64 / 1e9
    });
    out.single_gauge(
        "bars_outbox_pending",
        "Registry pointer jobs waiting to be delivered.",
        stats.pending as f64,
    );
    out.single_gauge(
        "bars_outbox_failed",
        "Registry pointer jobs the registry refused, waiting for an operator.",
        stats.failed as f64,
    );
    out.single_gauge(
        "bars_outbox_oldest_age_seconds",
        "Age of the oldest undelivered pointer job.",
        (oldest * 1000.0).round() / 1000.0,
    );
}
