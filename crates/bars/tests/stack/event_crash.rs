//! Events survive a crash: a receiver process killed with SIGKILL while its webhook deliveries
//! hang in flight, started again on the same database, delivers every event to the
//! subscriber, once each by id and in order per appointment.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use bars_http::server::{RunningServer, ServerOptions};
use bars_receiver::provider::signing;
use bars_store::testing::{PgTestSchema, note_skipped};
use bytes::Bytes;
use http::Method;
use serde_json::{Value, json};

use crate::kit::{PATIENT, appointment_for};
use crate::processes::{ProcessOptions, ProcessStack};

#[derive(Default)]
struct Hook {
    key: Vec<u8>,
    /// While set, deliveries are held open and never answered.
    hang: AtomicBool,
    entered: AtomicUsize,
    /// (event id, appointment, version) of each accepted delivery.
    accepted: Mutex<Vec<(String, String, u64)>>,
}

async fn receive(State(hook): State<Arc<Hook>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    hook.entered.fetch_add(1, Ordering::SeqCst);
    if hook.hang.load(Ordering::SeqCst) {
        tokio::time::sleep(Duration::from_secs(600)).await;
    }
    let header = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let id = header("webhook-id");
    let signed = header("webhook-timestamp")
        .parse::<i64>()
        .is_ok_and(|ts| signing::verify(&hook.key, &id, ts, &body, &header("webhook-signature")));
    if !signed {
        return StatusCode::UNAUTHORIZED;
    }
    let event: Value = serde_json::from_slice(&body).unwrap();
    hook.accepted.lock().unwrap().push((
        id,
        event["data"]["appointmentId"].as_str().unwrap().to_string(),
        event["data"]["version"].as_u64().unwrap(),
    ));
    StatusCode::NO_CONTENT
}

async fn killed_mid_delivery_and_restarted(options: ProcessOptions) {
    let mut stack = ProcessStack::start(options).await;
    stack.publish("10m", "08:00-12:00").await;
    let secret = signing::new_secret();
    let hook = Arc::new(Hook {
        key: signing::secret_key(&secret).unwrap(),
        hang: AtomicBool::new(true),
        ..Hook::default()
    });
    let server = RunningServer::start(
        "127.0.0.1:0".parse().unwrap(),
        Router::new()
            .route("/hook", post(receive))
            .with_state(hook.clone()),
        ServerOptions::default(),
    )
    .await
    .unwrap();
    let r = stack
        .admin(
            Method::POST,
            "/admin/subscribers",
            Some(&json!({ "id": "pas", "service": "2000011111", "url": format!("http://{}/hook", server.addr), "secret": secret })),
        )
        .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));

    let slots = stack.slots("free").await;
    let mut ids = Vec::new();
    for slot in slots.iter().take(3) {
        let r = stack
            .call(
                Method::POST,
                "/Appointment",
                Some(&appointment_for(slot, PATIENT)),
            )
            .await;
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
        ids.push(r.json().unwrap()["id"].as_str().unwrap().to_string());
    }
    let r = stack
        .admin(
            Method::POST,
            &format!("/admin/appointments/{}/arrived", ids[0]),
            Some(&json!({})),
        )
        .await;
    assert_eq!(r.status, 200);
    for _ in 0..400 {
        if hook.entered.load(Ordering::SeqCst) > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(
        hook.entered.load(Ordering::SeqCst) > 0,
        "a delivery was in flight at the kill"
    );

    stack.receiver.take().unwrap().kill();
    hook.hang.store(false, Ordering::SeqCst);
    stack.start_receiver().await;

    let mut accepted = Vec::new();
    for _ in 0..600 {
        accepted = hook.accepted.lock().unwrap().clone();
        let distinct: std::collections::BTreeSet<&String> = accepted.iter().map(|a| &a.0).collect();
        if distinct.len() == 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut first_seen: Vec<(String, String, u64)> = Vec::new();
    for a in accepted {
        if !first_seen.iter().any(|s| s.0 == a.0) {
            first_seen.push(a);
        }
    }
    assert_eq!(
        first_seen.len(),
        4,
        "every event delivered after the restart: {first_seen:?}"
    );
    let mut last = BTreeMap::<String, u64>::new();
    for (_, appointment, version) in &first_seen {
        let before = last.insert(appointment.clone(), *version).unwrap_or(0);
        assert_eq!(*version, before + 1, "{appointment} out of order");
    }
    // The subscriber has every event; the receiver records the last success a moment after the
    // subscriber's answer reaches it.
    let mut undelivered = serde_json::Value::Null;
    for _ in 0..600 {
        let r = stack.admin(Method::GET, "/admin/deliveries", None).await;
        undelivered = r.json().unwrap()["undelivered"].clone();
        if undelivered == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(undelivered, 0);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_killed_mid_delivery_delivers_every_event_after_restart_on_sqlite() {
    killed_mid_delivery_and_restarted(ProcessOptions::default()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_killed_mid_delivery_delivers_every_event_after_restart_on_postgres() {
    let Some(schema) = PgTestSchema::create().await else {
        note_skipped(
            "a_receiver_killed_mid_delivery_delivers_every_event_after_restart_on_postgres",
        );
        return;
    };
    killed_mid_delivery_and_restarted(ProcessOptions {
        receiver_database: schema.url.clone(),
        ..ProcessOptions::default()
    })
    .await;
}
