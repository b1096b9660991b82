//! The provider's side: events to the service's own systems (under faults, on both backends),
//! staff running the day, the day list and slot sync.

mod day;
mod events;
mod faults;
mod staff;
mod sync;
mod webhook;

use std::time::Duration;

use bars_http::client::ClientResponse;
use bars_receiver::ReceiverConfig;
use bars_receiver::pointers::worker::Backoff;
use bytes::Bytes;
use http::Method;
use serde_json::{Value, json};

use crate::helpers::*;
use webhook::{Received, Subscriber};

/// Quick retries and a short delivery timeout, so that faults play out in a test's time.
pub fn quick(mut c: ReceiverConfig) -> ReceiverConfig {
    c.events.poll = Duration::from_millis(50);
    c.events.timeout = Duration::from_millis(1_000);
    c.events.backoff = Backoff {
        initial: Duration::from_millis(20),
        max: Duration::from_millis(200),
    };
    c.events.max_attempts = 10_000;
    c
}

pub async fn admin_call(
    rx: &TestReceiver,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> ClientResponse {
    admin_at(rx, &rx.admin, method, path, body).await
}

pub async fn admin_at(
    rx: &TestReceiver,
    admin: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> ClientResponse {
    rx.client
        .call(
            method,
            &format!("{admin}{path}"),
            &[("content-type", "application/json".into())],
            body.map(|b| Bytes::from(b.to_string())),
        )
        .await
        .unwrap()
}

pub async fn subscribe(rx: &TestReceiver, service: &str, s: &Subscriber) {
    let r = admin_call(
        rx,
        Method::POST,
        "/admin/subscribers",
        Some(json!({ "id": "pas", "service": service, "url": s.url(), "secret": s.secret })),
    )
    .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
}

/// A staff action through the admin API.
pub async fn staff(rx: &TestReceiver, id: &str, action: &str, body: Value) -> ClientResponse {
    admin_call(
        rx,
        Method::POST,
        &format!("/admin/appointments/{id}/{action}"),
        Some(body),
    )
    .await
}

/// Waits for `done` (a test's own bound: the run fails with `what` after a minute).
pub async fn eventually(what: &str, mut done: impl AsyncFnMut() -> bool) {
    for _ in 0..1200 {
        if done().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("never happened: {what}");
}

/// Every event in the feed, oldest first.
pub async fn feed(rx: &TestReceiver, admin: &str) -> Vec<Value> {
    let r = admin_at(
        rx,
        admin,
        Method::GET,
        "/admin/events?after=0&limit=1000",
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    r.json().unwrap()["events"].as_array().unwrap().clone()
}

/// Books `n` of tomorrow's free slots of service A, each for the test patient, and changes
/// every booking once more: the first by the sender (a cancellation), the second by staff
/// (arrived), the rest by a provider cancellation. Returns the appointment ids.
pub async fn churn(rx: &TestReceiver, n: usize) -> Vec<String> {
    let slots = rx.slots(SERVICE_A, "free").await;
    let mut ids = Vec::new();
    for slot in slots.iter().take(n) {
        let r = rx.book(slot, PATIENT).await;
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
        ids.push(r.json().unwrap()["id"].as_str().unwrap().to_string());
    }
    for (i, id) in ids.iter().enumerate() {
        let r = match i {
            0 => {
                let mut a = rx
                    .get(&format!("/Appointment/{id}"))
                    .send()
                    .await
                    .json()
                    .unwrap();
                a["status"] = json!("cancelled");
                rx.put(&format!("/Appointment/{id}")).json(&a).send().await
            }
            1 => staff(rx, id, "arrived", json!({})).await,
            _ => staff(rx, id, "cancel", json!({ "reason": "clinician unwell" })).await,
        };
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    }
    ids
}

/// The subscriber has every event of the feed exactly once (by id) among its accepted
/// deliveries, and nothing else; and each appointment's events arrived in version order.
pub fn assert_every_event_once_in_order(feed: &[Value], got: &[Received]) {
    let mut want: Vec<&str> = feed
        .iter()
        .map(|e| e["data"]["id"].as_str().unwrap())
        .collect();
    let mut have: Vec<&str> = got.iter().map(|r| r.id.as_str()).collect();
    want.sort();
    have.sort();
    assert_eq!(
        have, want,
        "the subscriber's events are the feed's, once each"
    );
    let mut last = std::collections::HashMap::<String, u64>::new();
    for r in got {
        let appointment = r.body["data"]["appointmentId"]
            .as_str()
            .unwrap()
            .to_string();
        let version = r.body["data"]["version"].as_u64().unwrap();
        let before = last.insert(appointment.clone(), version).unwrap_or(0);
        assert_eq!(
            version,
            before + 1,
            "{appointment}: version {version} arrived after version {before}"
        );
    }
}
