//! The event worker: sends each subscriber its service's events as Standard Webhooks, at
//! least once, in order per appointment, retrying with back-off. Like the pointer worker it
//! runs beside the API and never holds a booking up: a change only writes rows.
//!
//! A delivery is leased before it is sent, so two instances on one database never send the
//! same event at once; a delivery whose outcome could not be recorded (a crash, a lost
//! database) is sent again once its lease runs out, which is why subscribers deduplicate by
//! `webhook-id`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bars_fhir::Instant;
use bars_http::client::HttpClient;
use bars_store::{Delivery, Store, Subscriber};
use bytes::Bytes;
use http::Method;
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;
use tracing::Instrument;

use super::config::EventSettings;
use super::{payload, signing};
use crate::metrics::DeliveryResult;

/// Deliveries taken per round; they belong to different (subscriber, appointment) queues and
/// are sent concurrently.
const BATCH: usize = 32;
/// How long a worker holds a delivery; another instance may take it over once this runs out.
/// Well above any delivery's timeout.
const LEASE: Duration = Duration::from_secs(120);

pub struct EventWorker {
    pub store: Arc<dyn Store>,
    pub http: HttpClient,
    pub settings: EventSettings,
    /// This worker's name in leases.
    pub owner: String,
    /// Wakes the worker when this instance has written an event.
    pub wake: Arc<Notify>,
    pub metrics: Arc<crate::metrics::ReceiverMetrics>,
}

/// Why a delivery did not land.
#[derive(Debug)]
struct Failure(String);

impl EventWorker {
    /// Delivers until `stop` turns true; a round in progress is finished first.
    pub async fn run(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        loop {
            if *stop.borrow() {
                break;
            }
            let claimed = self.claim().await;
            let (deliveries, subscribers) = match claimed {
                Ok(found) => found,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read the event deliveries");
                    tokio::select! { _ = tokio::time::sleep(Duration::from_secs(1)) => {}, _ = stop.changed() => {} }
                    continue;
                }
            };
            if deliveries.is_empty() {
                tokio::select! {
                    _ = self.wake.notified() => {}
                    _ = tokio::time::sleep(self.settings.poll) => {}
                    _ = stop.changed() => {}
                }
                continue;
            }
            let mut round = JoinSet::new();
            for delivery in deliveries {
                let worker = self.clone();
                let subscriber = subscribers.get(&delivery.subscriber_id).cloned();
                round.spawn(async move { worker.settle(delivery, subscriber).await });
            }
            while round.join_next().await.is_some() {}
        }
    }

    /// Leases due deliveries, unless there is nobody to deliver to (then the store is not
    /// written at all).
    async fn claim(
        &self,
    ) -> Result<(Vec<Delivery>, HashMap<String, Subscriber>), bars_store::StoreError> {
        let subscribers: HashMap<String, Subscriber> = self
            .store
            .list_subscribers()
            .await?
            .into_iter()
            .map(|s| (s.id.clone(), s))
            .collect();
        if subscribers.is_empty() {
            return Ok((Vec::new(), subscribers));
        }
        let now = Instant::now();
        let lease_until = now.plus_seconds(LEASE.as_secs() as i64);
        let deliveries = self
            .store
            .claim_deliveries(&self.owner, BATCH, now, lease_until)
            .await?;
        Ok((deliveries, subscribers))
    }

    /// Sends one delivery and records the outcome; its log lines carry the event's id.
    async fn settle(&self, delivery: Delivery, subscriber: Option<Subscriber>) {
        let span = tracing::info_span!(
            "event_delivery",
            event_id = %payload::event_id(&delivery.event),
            subscriber = %delivery.subscriber_id,
        );
        self.settle_traced(delivery, subscriber)
            .instrument(span)
            .await
    }

    async fn settle_traced(&self, delivery: Delivery, subscriber: Option<Subscriber>) {
        let id = payload::event_id(&delivery.event);
        let outcome = match &subscriber {
            Some(s) => self.send(s, &delivery).await,
            None => Err(Failure("the subscriber was removed".into())),
        };
        let (sub, seq) = (&delivery.subscriber_id, delivery.event.seq);
        let attempts = delivery.attempts + 1;
        let give_up = attempts >= self.settings.max_attempts;
        self.metrics.webhook_delivery(match &outcome {
            Ok(()) => DeliveryResult::Delivered,
            Err(_) if give_up => DeliveryResult::Failed,
            Err(_) => DeliveryResult::Retry,
        });
        let recorded = match outcome {
            Ok(()) => {
                tracing::info!(subscriber = %sub, event = %id, "event delivered");
                self.store.finish_delivery(sub, seq, &self.owner).await
            }
            Err(Failure(why)) => {
                let next = Instant::now()
                    .plus_nanos(self.settings.backoff.delay(delivery.attempts).as_nanos() as i64);
                if give_up {
                    tracing::error!(subscriber = %sub, event = %id, attempts, error = %why, "event not delivered; parked for an operator");
                } else {
                    tracing::warn!(subscriber = %sub, event = %id, attempts, error = %why, "event not delivered; will retry");
                }
                self.store
                    .postpone_delivery(sub, seq, &self.owner, &why, next, give_up)
                    .await
            }
        };
        if let Err(e) = recorded {
            // The lease will lapse and the event be sent again; subscribers deduplicate.
            tracing::warn!(error = %e, subscriber = %sub, event = %id, "could not record a delivery's outcome");
        }
    }

    /// One attempt: the signed body, posted; any 2xx answer is a delivery.
    async fn send(&self, subscriber: &Subscriber, delivery: &Delivery) -> Result<(), Failure> {
        let key = signing::secret_key(&subscriber.secret)
            .map_err(|e| Failure(format!("subscriber {}: {e}", subscriber.id)))?;
        let body = payload::body(&self.store, &delivery.event)
            .await
            .map_err(|e| Failure(e.to_string()))?;
        let body = Bytes::from(body.to_string());
        let id = payload::event_id(&delivery.event);
        let timestamp = Instant::now().unix_nanos() / 1_000_000_000;
        let signature = signing::sign(&key, &id, timestamp, &body);
        let headers = [
            ("content-type", "application/json".to_string()),
            ("webhook-id", id),
            ("webhook-timestamp", timestamp.to_string()),
            ("webhook-signature", signature),
        ];
        // The client was built with the settings' timeout: a slow subscriber is an error
        // ("no response within ...") like any other.
        let answer = self
            .http
            .call(Method::POST, &subscriber.url, &headers, Some(body))
            .await
            .map_err(|e| Failure(e.to_string()))?;
        if answer.status.is_success() {
            Ok(())
        } else {
            Err(Failure(format!(
                "the subscriber answered {}",
                answer.status
            )))
        }
    }
}
