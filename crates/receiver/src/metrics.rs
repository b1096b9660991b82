//! What a receiver counts for its operators, beyond the request metrics every role keeps.
//!
//! Every label is an enum of this crate or the domain's: nothing a sender writes becomes one.

use std::sync::Arc;

use bars_booking::{DomainError, Event};
use bars_http::label_values;
use bars_http::metrics::{Counter, Exposition, Family, saturating_i64};
use bars_http::observe::HttpMetrics;
use bars_store::{OutboxStats, PoolStatus};
// The derive expands to paths of the crate itself, so it is named here, not re-exported.
use prometheus_client::encoding::EncodeLabelSet;

use crate::booking_error::BookingError;

label_values! {
    /// Why a write was refused because something changed under it.
    pub enum ConflictKind { Conflict => "conflict", Precondition => "precondition" }
}

label_values! {
    /// How a request was answered from its ids instead of being processed again.
    pub enum ReplayKind {
        Duplicate => "duplicate",
        Refusal => "refusal",
        InProgress => "in_progress",
    }
}

label_values! {
    /// What became of one attempt to deliver a Registry pointer.
    pub enum DeliveryResult { Delivered => "delivered", Retry => "retry", Failed => "failed" }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct EventLabels {
    /// [`bars_booking::Event::as_str`].
    event: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ConflictLabels {
    kind: ConflictKind,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ReplayLabels {
    kind: ReplayKind,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct DeliveryLabels {
    /// [`bars_booking::PointerAction::as_str`].
    action: &'static str,
    result: DeliveryResult,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct WebhookLabels {
    result: DeliveryResult,
}

#[derive(Default)]
pub struct ReceiverMetrics {
    /// Requests on both listeners (the sender-facing API and the admin API).
    pub http: Arc<HttpMetrics>,
    /// Appointment changes committed, by what they did (`booked`, `cancelled`, ...).
    events: Family<EventLabels, Counter>,
    /// Writes refused because something changed under them: a slot taken (409 conflict) or a
    /// version moved on (412).
    conflicts: Family<ConflictLabels, Counter>,
    /// Requests answered from their ids instead of being processed again.
    replays: Family<ReplayLabels, Counter>,
    /// Registry pointer deliveries, by action and result.
    pointer_deliveries: Family<DeliveryLabels, Counter>,
    /// Webhook deliveries of appointment events to the provider's subscribers, by result.
    webhook_deliveries: Family<WebhookLabels, Counter>,
}

impl ReceiverMetrics {
    /// Counts what an appointment write came to: the event it committed, or the conflict that
    /// refused it.
    pub fn write_outcome(&self, outcome: Result<Event, &BookingError>) {
        let kind = match outcome {
            Ok(event) => {
                self.events
                    .get_or_create(&EventLabels {
                        event: event.as_str(),
                    })
                    .inc();
                return;
            }
            Err(BookingError::Conflict(_))
            | Err(BookingError::Refused(
                DomainError::SlotUnavailable { .. }
                | DomainError::NotCurrent { .. }
                | DomainError::Stale,
            )) => ConflictKind::Conflict,
            Err(BookingError::Refused(DomainError::PreconditionFailed { .. })) => {
                ConflictKind::Precondition
            }
            Err(_) => return,
        };
        self.conflicts.get_or_create(&ConflictLabels { kind }).inc();
    }

    /// Counts a request answered from its ids.
    pub fn replay(&self, kind: ReplayKind) {
        self.replays.get_or_create(&ReplayLabels { kind }).inc();
    }

    /// Counts one pointer delivery attempt; `action` is the job's [`bars_booking::PointerAction`].
    pub fn pointer_delivery(&self, action: &'static str, result: DeliveryResult) {
        self.pointer_deliveries
            .get_or_create(&DeliveryLabels { action, result })
            .inc();
    }

    /// Counts one attempt to deliver an appointment event to a subscriber.
    pub fn webhook_delivery(&self, result: DeliveryResult) {
        self.webhook_deliveries
            .get_or_create(&WebhookLabels { result })
            .inc();
    }

    /// The whole exposition, with the values only the store knows at scrape time.
    pub fn render(&self, outbox: &OutboxStats, pools: &[PoolStatus]) -> String {
        let mut out = Exposition::default();
        self.http.render(&mut out);
        out.register(
            "bars_appointment_events",
            "Appointment changes committed: booked (bookings), cancelled (cancellations), updated, rescheduled, placeholder.",
            self.events.clone(),
        );
        out.register(
            "bars_booking_conflicts",
            "Appointment writes refused because the slot or the appointment changed first: conflict (409) or precondition (412).",
            self.conflicts.clone(),
        );
        out.register(
            "bars_idempotent_replays",
            "Requests answered from their X-Request-ID/X-Correlation-ID instead of being processed again: duplicate (409), refusal (the stored refusal), in_progress (425).",
            self.replays.clone(),
        );
        out.register(
            "bars_pointer_deliveries",
            "Registry pointer job attempts, by action (create, update, delete) and result (delivered, retry, failed).",
            self.pointer_deliveries.clone(),
        );
        out.register(
            "bars_webhook_deliveries",
            "Appointment event deliveries to the provider's subscribers, by result (delivered, retry, failed: parked for an operator).",
            self.webhook_deliveries.clone(),
        );
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
    out.gauge(
        "bars_outbox_pending",
        "Registry pointer jobs waiting to be delivered.",
        saturating_i64(stats.pending),
    );
    out.gauge(
        "bars_outbox_failed",
        "Registry pointer jobs the registry refused, waiting for an operator.",
        saturating_i64(stats.failed),
    );
    out.float_gauge(
        "bars_outbox_oldest_age_seconds",
        "Age of the oldest undelivered pointer job.",
        (oldest * 1000.0).round() / 1000.0,
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::booking_error::Conflict;

    #[test]
    fn conflicts_are_counted_from_the_services_error_not_its_rendering() {
        let m = ReceiverMetrics::default();
        m.write_outcome(Ok(Event::Booked));
        m.write_outcome(Err(&BookingError::Conflict(Conflict::SlotTaken(
            "s".into(),
        ))));
        m.write_outcome(Err(&BookingError::Conflict(Conflict::VersionMoved)));
        m.write_outcome(Err(&BookingError::Refused(DomainError::Stale)));
        m.write_outcome(Err(&BookingError::Refused(
            DomainError::PreconditionFailed { current: 2 },
        )));
        // A duplicate is answered 409 too, but nothing changed under it.
        m.write_outcome(Err(&BookingError::Duplicate));
        m.write_outcome(Err(&BookingError::Refused(DomainError::BusinessRule(
            "no".into(),
        ))));
        let text = m.render(&OutboxStats::default(), &[]);
        for line in [
            r#"bars_appointment_events_total{event="booked"} 1"#,
            r#"bars_booking_conflicts_total{kind="conflict"} 3"#,
            r#"bars_booking_conflicts_total{kind="precondition"} 1"#,
        ] {
            assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
        }
    }
}
