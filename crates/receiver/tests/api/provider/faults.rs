//! Events under faults: a subscriber that is down, fails, times out or is slow gets every
//! event exactly once (by id) once it recovers, in order per appointment; a parked delivery is
//! visible and retried from the admin API; a receiver killed mid-delivery resumes on restart;
//! two instances on one PostgreSQL database never send one event at the same time.

use std::sync::Arc;
use std::time::Duration;

use bars_http::server::{RunningServer, ServerOptions};
use bars_receiver::{Receiver, ReceiverConfig};
use http::Method;
use serde_json::json;

use super::webhook::{Mode, Subscriber};
use super::*;

on_both! {
    #[tokio::test]
    async fn a_subscriber_down_for_a_while_gets_every_event_once_it_is_back(backend: Backend) {
        let rx = start_with(backend, quick).await;
        rx.generate(SERVICE_A, 1).await;
        let sub = Subscriber::start().await;
        subscribe(&rx, SERVICE_A, &sub).await;
        sub.go_down().await;
        churn(&rx, 4).await;
        eventually("failed attempts are recorded", async || {
            let r = admin_call(&rx, Method::GET, "/admin/deliveries", None).await;
            r.json().unwrap()["deliveries"][0]["attempts"].as_u64().unwrap_or(0) >= 2
        })
        .await;
        assert!(sub.received().is_empty());
        sub.come_back().await;
        eventually("every event delivered", async || sub.accepted_once().len() == 8).await;
        assert_every_event_once_in_order(&feed(&rx, &rx.admin).await, &sub.accepted_once());
        rx.stop().await;
    }
}

on_both! {
    #[tokio::test]
    async fn a_subscriber_answering_500_gets_every_event_once_it_recovers(backend: Backend) {
        let rx = start_with(backend, quick).await;
        rx.generate(SERVICE_A, 1).await;
        let sub = Subscriber::start().await;
        sub.set_mode(Mode::Fail);
        subscribe(&rx, SERVICE_A, &sub).await;
        churn(&rx, 4).await;
        eventually("several refused attempts", async || sub.received().len() >= 8).await;
        assert!(sub.accepted_once().is_empty());
        sub.set_mode(Mode::Accept);
        eventually("every event delivered", async || sub.accepted_once().len() == 8).await;
        assert_every_event_once_in_order(&feed(&rx, &rx.admin).await, &sub.accepted_once());
        rx.stop().await;
    }
}

on_both! {
    #[tokio::test]
    async fn a_subscriber_that_times_out_or_is_slow_gets_every_event_in_order(backend: Backend) {
        let rx = start_with(backend, quick).await;
        rx.generate(SERVICE_A, 1).await;
        let sub = Subscriber::start().await;
        // Past the receiver's 1 s timeout: each attempt counts as failed, though the
        // subscriber may go on to accept it (and then gets it again: it deduplicates by id).
        sub.set_mode(Mode::Slow(Duration::from_millis(1_500)));
        subscribe(&rx, SERVICE_A, &sub).await;
        churn(&rx, 3).await;
        eventually("attempts timed out", async || {
            let r = admin_call(&rx, Method::GET, "/admin/deliveries", None).await;
            r.json().unwrap()["deliveries"]
                .as_array()
                .unwrap()
                .iter()
                .any(|d| d["lastError"].as_str().unwrap_or("").contains("no response within"))
        })
        .await;
        // Slow but within the timeout.
        sub.set_mode(Mode::Slow(Duration::from_millis(100)));
        eventually("every event delivered", async || {
            let r = admin_call(&rx, Method::GET, "/admin/deliveries", None).await;
            r.json().unwrap()["undelivered"] == 0
        })
        .await;
        // Deliveries that were still being answered when the receiver gave up land too.
        eventually("late answers finished", async || sub.received().len() >= sub.accepted_once().len()).await;
        assert_every_event_once_in_order(&feed(&rx, &rx.admin).await, &sub.accepted_once());
        rx.stop().await;
    }
}

on_both! {
    #[tokio::test]
    async fn a_parked_delivery_holds_back_its_appointment_until_retried(backend: Backend) {
        let rx = start_with(backend, |c| {
            let mut c = quick(c);
            c.events.max_attempts = 2;
            c
        })
        .await;
        rx.generate(SERVICE_A, 1).await;
        let sub = Subscriber::start().await;
        sub.set_mode(Mode::Fail);
        subscribe(&rx, SERVICE_A, &sub).await;
        let slots = rx.slots(SERVICE_A, "free").await;
        let id = rx.book(&slots[0], PATIENT).await.json().unwrap()["id"].as_str().unwrap().to_string();
        eventually("the delivery is parked", async || {
            let r = admin_call(&rx, Method::GET, "/admin/deliveries?subscriber=pas", None).await;
            r.json().unwrap()["failed"] == 1
        })
        .await;
        assert_eq!(sub.received().len(), 2, "two attempts, then parked");
        let metrics = admin_call(&rx, Method::GET, "/metrics", None).await;
        let metrics = String::from_utf8_lossy(&metrics.body).into_owned();
        for line in [
            r#"bars_webhook_deliveries_total{result="retry"} 1"#,
            r#"bars_webhook_deliveries_total{result="failed"} 1"#,
        ] {
            assert!(metrics.lines().any(|l| l == line), "{line} in\n{metrics}");
        }
        // The appointment's next event waits behind the parked one, even now that the
        // subscriber is well again: it must not arrive first.
        sub.set_mode(Mode::Accept);
        assert_eq!(staff(&rx, &id, "arrived", json!({})).await.status, 200);
        let r = admin_call(&rx, Method::GET, "/admin/deliveries", None).await;
        let listed = r.json().unwrap();
        assert_eq!((listed["failed"].as_u64(), listed["undelivered"].as_u64()), (Some(1), Some(2)));
        assert_eq!(listed["deliveries"][0]["lastError"], "the subscriber answered 500 Internal Server Error");
        assert!(sub.accepted_once().is_empty());

        let r = admin_call(&rx, Method::POST, "/admin/deliveries/pas/retry", None).await;
        assert_eq!(r.json().unwrap()["requeued"], 1);
        eventually("both delivered", async || sub.accepted_once().len() == 2).await;
        assert_every_event_once_in_order(&feed(&rx, &rx.admin).await, &sub.accepted_once());
        let r = admin_call(&rx, Method::POST, "/admin/deliveries/pas/retry", None).await;
        assert_outcome(&r, 404, "not-found", "REC_NOT_FOUND");
        let r = admin_call(&rx, Method::POST, "/admin/deliveries/pas/retry?sequence=0", None).await;
        assert_outcome(&r, 400, "value", "REC_BAD_REQUEST");
        rx.stop().await;
    }
}

/// A receiver in a runtime of its own, which a test can stop dead: its tasks are dropped
/// wherever they are (mid-delivery included), nothing is drained or recorded, as when the
/// process is killed.
struct Killable {
    base: String,
    admin: String,
    kill: std::sync::mpsc::Sender<()>,
    thread: std::thread::JoinHandle<()>,
}

fn start_killable(url: String, configure: fn(ReceiverConfig) -> ReceiverConfig) -> Killable {
    let (ready_tx, ready) = std::sync::mpsc::channel();
    let (kill, killed) = std::sync::mpsc::channel::<()>();
    let thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let servers = rt.block_on(async move {
            let store = bars_store::open(&url).await.unwrap();
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let base = format!("http://{}", listener.local_addr().unwrap());
            let config = configure(
                ReceiverConfig::new("RX001", &base)
                    .with_service(SERVICE_A, "Minor Injuries Unit")
                    .with_service(SERVICE_B, "Urgent Treatment Centre"),
            );
            let receiver = Receiver::new(config, store).await.unwrap();
            let api = RunningServer::start_on(
                listener,
                receiver.router(bars_http::transport::TransportRules::receiver()),
                ServerOptions::default(),
            );
            let admin = RunningServer::start(
                "127.0.0.1:0".parse().unwrap(),
                receiver.admin_router(None),
                ServerOptions::default(),
            )
            .await
            .unwrap();
            ready_tx
                .send((base, format!("http://{}", admin.addr)))
                .unwrap();
            (receiver, api, admin)
        });
        let _ = killed.recv();
        // Every task stops where it is; the receiver is never closed.
        rt.shutdown_background();
        drop(servers);
    });
    let (base, admin) = ready.recv().unwrap();
    Killable {
        base,
        admin,
        kill,
        thread,
    }
}

fn named(c: ReceiverConfig) -> ReceiverConfig {
    let mut c = quick(c);
    c.instance = Some("rx-1".into());
    c
}

on_both! {
    #[tokio::test]
    async fn a_receiver_killed_mid_delivery_resumes_without_loss(backend: Backend) {
        // The test's receiver only provides the database (and a client); it is stopped first.
        let rx = start_with(backend, quick).await;
        rx.generate(SERVICE_A, 1).await;
        let (url, client) = (rx.db.url(), rx.client.clone());
        let db = rx.stop().await;
        let first = start_killable(url.clone(), named);
        let rx_view = crate::helpers::TestReceiver::view(&first.base, &first.admin, client.clone(), db);
        let sub = Subscriber::start().await;
        // Deliveries hang, so the kill finds them in flight.
        sub.set_mode(Mode::Slow(Duration::from_secs(600)));
        subscribe(&rx_view, SERVICE_A, &sub).await;
        churn(&rx_view, 3).await;
        eventually("deliveries in flight", async || sub.most_at_once() >= 1).await;
        let _ = first.kill.send(());
        first.thread.join().unwrap();
        sub.set_mode(Mode::Accept);

        let second = start_killable(url, named);
        let rx_view = rx_view.moved_to(&second.base, &second.admin);
        eventually("every event delivered after the restart", async || sub.accepted_once().len() == 6).await;
        assert_every_event_once_in_order(&feed(&rx_view, &second.admin).await, &sub.accepted_once());
        let r = admin_call(&rx_view, Method::GET, "/admin/deliveries", None).await;
        assert_eq!(r.json().unwrap()["undelivered"], 0);
        let _ = second.kill.send(());
        second.thread.join().unwrap();
    }
}

#[tokio::test]
async fn two_instances_on_one_postgres_never_send_one_event_at_once() {
    if bars_store::testing::server_url().is_none() {
        bars_store::testing::note_skipped(module_path!());
        return;
    }
    let one = start_with(Backend::Postgres, quick).await;
    one.generate(SERVICE_A, 1).await;
    let store = bars_store::open(&one.db.url()).await.unwrap();
    let two = serve_on(store).await;
    let sub = Subscriber::start().await;
    // A little slow, so that the two workers' rounds overlap.
    sub.set_mode(Mode::Slow(Duration::from_millis(30)));
    subscribe(&one, SERVICE_A, &sub).await;
    // Both instances take bookings and staff actions.
    let slots = one.slots(SERVICE_A, "free").await;
    let mut ids = Vec::new();
    for (i, slot) in slots.iter().take(16).enumerate() {
        let base = if i % 2 == 0 { &one.base } else { &two.0 };
        let r = crate::helpers::Req::new(
            one.client.clone(),
            Method::POST,
            format!("{base}/Appointment"),
        )
        .json(&appointment_for(slot, PATIENT))
        .send()
        .await;
        assert_eq!(r.status, 201);
        ids.push(r.json().unwrap()["id"].as_str().unwrap().to_string());
    }
    for (i, id) in ids.iter().enumerate() {
        let admin = if i % 2 == 0 {
            one.admin.clone()
        } else {
            two.1.clone()
        };
        let r = admin_at(
            &one,
            &admin,
            Method::POST,
            &format!("/admin/appointments/{id}/arrived"),
            Some(json!({})),
        )
        .await;
        assert_eq!(r.status, 200);
    }
    eventually("every event delivered", async || {
        sub.accepted_once().len() == 32
    })
    .await;
    assert_eq!(
        sub.most_at_once(),
        1,
        "one event was being sent by both instances at once"
    );
    assert_eq!(sub.received().len(), 32, "an event was sent twice");
    assert_every_event_once_in_order(&feed(&one, &one.admin).await, &sub.accepted_once());
    for s in two.3 {
        s.shutdown().await;
    }
    two.2.close().await;
    one.stop().await;
}

/// A second receiver instance on `store`: its API and admin base URLs, the receiver and its servers.
async fn serve_on(
    store: Arc<dyn bars_store::Store>,
) -> (String, String, Receiver, Vec<RunningServer>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let config = quick(
        ReceiverConfig::new("RX001", &base)
            .with_service(SERVICE_A, "Minor Injuries Unit")
            .with_service(SERVICE_B, "Urgent Treatment Centre"),
    );
    let receiver = Receiver::new(config, store).await.unwrap();
    let api = RunningServer::start_on(
        listener,
        receiver.router(bars_http::transport::TransportRules::receiver()),
        ServerOptions::default(),
    );
    let admin = RunningServer::start(
        "127.0.0.1:0".parse().unwrap(),
        receiver.admin_router(None),
        ServerOptions::default(),
    )
    .await
    .unwrap();
    (
        base,
        format!("http://{}", admin.addr),
        receiver,
        vec![api, admin],
    )
}
