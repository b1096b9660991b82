//! Crash safety: a receiver killed with SIGKILL in the middle of a booking load (no shutdown,
//! no draining) and started again on the same database keeps every booking and cancellation it
//! acknowledged, its slots agree with its appointments, and the pointer jobs it had not yet
//! delivered are delivered once each.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bars_store::testing::{PgTestSchema, note_skipped};
use bytes::Bytes;
use http::Method;

use crate::invariants::{check_pointers, check_slots};
use crate::kit::{PATIENT, appointment_for, bars_headers};
use crate::processes::{ProcessOptions, ProcessStack};

/// What the load was told about one appointment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Told {
    /// 201 to the booking, nothing (yet) about a cancellation.
    Booked,
    /// 200 to the cancellation.
    Cancelled,
    /// The cancellation was sent but never answered: it may or may not have happened.
    CancelUnanswered,
}

const SENDERS: usize = 6;
const SLOTS: usize = 96;
/// Acknowledgements to wait for before the kill.
const KILL_AFTER: usize = 30;

async fn killed_during_a_load_and_restarted(options: ProcessOptions) {
    let mut stack = ProcessStack::start(options).await;
    stack.publish("10m", "06:00-22:00").await;
    let mut slots = stack.slots("free").await;
    for _ in 0..100 {
        if slots.len() == SLOTS {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        slots = stack.slots("free").await;
    }
    assert_eq!(slots.len(), SLOTS);

    // Six senders book their share of the slots through the proxy; every third booking is
    // then cancelled. A sender stops at the first answer that is not a success.
    let told = Arc::new(Mutex::new(BTreeMap::<String, Told>::new()));
    let mut load = tokio::task::JoinSet::new();
    for sender in 0..SENDERS {
        let (https, tokens, proxy) = (
            stack.https.clone(),
            stack.sender.clone(),
            stack.proxy_url.clone(),
        );
        let (slots, told) = (slots.clone(), told.clone());
        load.spawn(async move {
            let send = |method: Method, path: String, body: Option<Bytes>| {
                let (https, tokens, proxy) = (https.clone(), tokens.clone(), proxy.clone());
                async move {
                    let mut headers = bars_headers(None, Some("2000011111"));
                    headers.push((
                        "authorization",
                        format!("Bearer {}", tokens.token().await.unwrap()),
                    ));
                    https
                        .call(method, &format!("{proxy}{path}"), &headers, body)
                        .await
                }
            };
            for (k, slot) in slots.iter().skip(sender).step_by(SENDERS).enumerate() {
                let body = Bytes::from(appointment_for(slot, PATIENT).to_string());
                let id = match send(Method::POST, "/Appointment".into(), Some(body)).await {
                    Ok(r) if r.status == 201 => {
                        r.json().unwrap()["id"].as_str().unwrap().to_string()
                    }
                    _ => break,
                };
                told.lock().unwrap().insert(id.clone(), Told::Booked);
                if k % 3 == 2 {
                    let answer = send(Method::DELETE, format!("/Appointment/{id}"), None).await;
                    let ok = matches!(&answer, Ok(r) if r.status == 200);
                    let now = if ok {
                        Told::Cancelled
                    } else {
                        Told::CancelUnanswered
                    };
                    told.lock().unwrap().insert(id, now);
                    if !ok {
                        break;
                    }
                }
            }
        });
    }
    // A load that stopped early (every sender refused) must not keep the test waiting.
    while told.lock().unwrap().len() < KILL_AFTER && !load.is_empty() {
        if load.try_join_next().is_none() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    assert!(
        told.lock().unwrap().len() >= KILL_AFTER,
        "the load stopped before the kill"
    );
    stack.receiver.take().unwrap().kill();
    while load.join_next().await.is_some() {}
    let told = told.lock().unwrap().clone();
    assert!(
        told.len() < SLOTS,
        "the kill came after the load had finished"
    );

    stack.start_receiver().await;
    for (id, was) in &told {
        let r = stack
            .call(Method::GET, &format!("/Appointment/{id}"), None)
            .await;
        assert_eq!(r.status, 200, "acknowledged booking {id} is missing");
        let status = r.json().unwrap()["status"].as_str().unwrap().to_string();
        match was {
            Told::Booked => assert_eq!(status, "booked", "{id}"),
            Told::Cancelled => assert_eq!(status, "cancelled", "acknowledged cancellation {id}"),
            Told::CancelUnanswered => {
                assert!(
                    status == "booked" || status == "cancelled",
                    "{id}: {status}"
                )
            }
        }
    }
    let mut all_slots = stack.slots("busy").await;
    all_slots.extend(stack.slots("free").await);
    assert_eq!(all_slots.len(), SLOTS, "every slot is busy or free");
    let appointments = stack.appointments(PATIENT).await;
    for id in told.keys() {
        assert!(
            appointments.iter().any(|a| a["id"] == id.as_str()),
            "{id} is found by the patient search"
        );
    }
    if let Err(e) = check_slots(&all_slots, &appointments) {
        panic!("after the crash: {e}");
    }

    stack.outbox_settled().await;
    let pointers = stack.pointers(PATIENT).await;
    if let Err(e) = check_pointers(&appointments, &pointers) {
        panic!("after the crash: {e}");
    }
    let cancelled = told.values().filter(|t| **t == Told::Cancelled).count();
    eprintln!(
        "crash: {} bookings ({cancelled} of them then cancelled) acknowledged before the kill, all \
         present; {} appointments stored, {} pointers",
        told.len(),
        appointments.len(),
        pointers.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_killed_during_a_booking_load_keeps_every_acknowledged_booking_on_sqlite() {
    killed_during_a_load_and_restarted(ProcessOptions::default()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_killed_during_a_booking_load_keeps_every_acknowledged_booking_on_postgres() {
    let Some(schema) = PgTestSchema::create().await else {
        note_skipped(
            "a_receiver_killed_during_a_booking_load_keeps_every_acknowledged_booking_on_postgres",
        );
        return;
    };
    killed_during_a_load_and_restarted(ProcessOptions {
        receiver_database: schema.url.clone(),
        ..ProcessOptions::default()
    })
    .await;
}
