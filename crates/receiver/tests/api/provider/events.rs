//! Every appointment change becomes an event: in the pull feed and at the subscriber, signed,
//! with the appointment as stored and what changed.

use http::Method;
use serde_json::json;

use super::webhook::Subscriber;
use super::*;

on_both! {
    #[tokio::test]
    async fn every_change_reaches_the_feed_and_the_subscriber(backend: Backend) {
        let rx = start_with(backend, quick).await;
        rx.generate(SERVICE_A, 1).await;
        let sub = Subscriber::start().await;
        subscribe(&rx, SERVICE_A, &sub).await;
        let ids = churn(&rx, 3).await;

        let events = feed(&rx, &rx.admin).await;
        let kinds: Vec<(&str, &str, u64)> = events
            .iter()
            .map(|e| (
                e["type"].as_str().unwrap(),
                e["data"]["by"].as_str().unwrap(),
                e["data"]["version"].as_u64().unwrap(),
            ))
            .collect();
        assert_eq!(
            kinds,
            [
                ("appointment.booked", "sender", 1),
                ("appointment.booked", "sender", 1),
                ("appointment.booked", "sender", 1),
                ("appointment.cancelled", "sender", 2),
                ("appointment.arrived", "provider", 2),
                ("appointment.cancelled", "provider", 2),
            ]
        );
        // The body is the appointment as stored at that version, and what changed.
        for e in &events {
            let (id, v) = (e["data"]["appointmentId"].as_str().unwrap(), e["data"]["version"].as_u64().unwrap());
            let stored = rx.get(&format!("/Appointment/{id}/_history/{v}")).send().await.json().unwrap();
            assert_eq!(e["data"]["appointment"], stored);
        }
        assert_eq!(events[0]["data"]["actorOds"], SENDER_ODS);
        assert_eq!(events[5]["data"]["actorOds"], "RX001");
        let changed: Vec<&str> = events[5]["data"]["changes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["element"].as_str().unwrap())
            .collect();
        assert_eq!(changed, ["cancelationReason", "status"]);
        assert_eq!(events[5]["data"]["changes"][1]["before"], "booked");
        assert_eq!(events[5]["data"]["appointmentId"], ids[2].as_str());
        // The feed resumes after any sequence number, and one service's feed is its own.
        let third = events[2]["data"]["sequence"].as_i64().unwrap();
        let r = admin_call(&rx, Method::GET, &format!("/admin/events?after={third}"), None).await;
        assert_eq!(r.json().unwrap()["events"].as_array().unwrap().len(), 3);
        let r = admin_call(&rx, Method::GET, &format!("/admin/events?after=0&service={SERVICE_B}"), None).await;
        assert_eq!(r.json().unwrap()["events"].as_array().unwrap().len(), 0);

        eventually("the subscriber has every event", async || sub.accepted_once().len() == 6).await;
        assert_every_event_once_in_order(&events, &sub.accepted_once());
        assert_eq!(sub.bad_signatures(), 0);
        assert_eq!(sub.received().len(), 6, "nothing was sent twice");
        rx.stop().await;
    }
}

on_both! {
    #[tokio::test]
    async fn a_waiting_feed_reader_hears_of_the_next_change(backend: Backend) {
        let rx = start_with(backend, quick).await;
        rx.generate(SERVICE_A, 1).await;
        let slots = rx.slots(SERVICE_A, "free").await;
        let booked = rx.book(&slots[0], PATIENT).await.json().unwrap();
        let id = booked["id"].as_str().unwrap().to_string();
        let last = feed(&rx, &rx.admin).await[0]["data"]["sequence"].as_i64().unwrap();

        let (client, admin) = (rx.client.clone(), rx.admin.clone());
        let waiting = tokio::spawn(async move {
            client
                .call(Method::GET, &format!("{admin}/admin/events?after={last}&wait=30"), &[], None)
                .await
                .unwrap()
        });
        let r = staff(&rx, &id, "arrived", json!({ "staff": "reception" })).await;
        assert_eq!(r.status, 200);
        let answer = waiting.await.unwrap().json().unwrap();
        assert_eq!(answer["events"][0]["type"], "appointment.arrived");
        assert_eq!(answer["last"], last + 1);
        // With nothing new, a reader that does not wait is answered at once, with nothing.
        let r = admin_call(&rx, Method::GET, &format!("/admin/events?after={}", last + 1), None).await;
        assert_eq!(r.json().unwrap()["events"], json!([]));
        for bad in ["after=-1", "after=x", "wait=61", "limit=0", "limit=1001"] {
            let r = admin_call(&rx, Method::GET, &format!("/admin/events?{bad}"), None).await;
            assert_outcome(&r, 400, "value", "REC_BAD_REQUEST");
        }
        rx.stop().await;
    }
}

on_both! {
    #[tokio::test]
    async fn subscribers_are_managed_from_the_admin_api_and_the_configuration(backend: Backend) {
        let configured = bars_store::Subscriber {
            id: "rota".into(),
            service_id: SERVICE_B.into(),
            url: "http://127.0.0.1:9/hook".into(),
            secret: bars_receiver::provider::signing::new_secret(),
        };
        let rx = start_with(backend, |mut c| {
            c.events.subscribers.push(configured.clone());
            quick(c)
        })
        .await;
        let r = admin_call(&rx, Method::GET, "/admin/subscribers", None).await;
        let listed = r.json().unwrap();
        assert_eq!(listed["subscribers"][0]["id"], "rota");
        assert!(!listed.to_string().contains(&configured.secret), "secrets are not listed");

        let r = admin_call(&rx, Method::POST, "/admin/subscribers", Some(json!({ "service": SERVICE_A, "url": "http://127.0.0.1:9/x" }))).await;
        assert_eq!(r.status, 201);
        let made = r.json().unwrap();
        assert!(made["secret"].as_str().unwrap().starts_with("whsec_"));
        for bad in [
            json!({ "service": "9999999999", "url": "http://127.0.0.1:9/x" }),
            json!({ "service": SERVICE_A, "url": "ftp://x" }),
            json!({ "service": SERVICE_A, "url": "http://127.0.0.1:9/x", "secret": "plain" }),
            json!({ "url": "http://127.0.0.1:9/x" }),
        ] {
            let r = admin_call(&rx, Method::POST, "/admin/subscribers", Some(bad.clone())).await;
            assert_eq!(r.status, 400, "{bad}");
        }
        let r = admin_call(&rx, Method::DELETE, &format!("/admin/subscribers/{}", made["id"].as_str().unwrap()), None).await;
        assert_eq!(r.status, 200);
        let r = admin_call(&rx, Method::DELETE, "/admin/subscribers/nobody", None).await;
        assert_outcome(&r, 404, "not-found", "REC_NOT_FOUND");
        rx.stop().await;
    }
}

on_both! {
    #[tokio::test]
    async fn python_verifies_a_webhook_and_rejects_a_tampered_one(backend: Backend) {
        let rx = start_with(backend, quick).await;
        rx.generate(SERVICE_A, 1).await;
        let sub = Subscriber::start().await;
        subscribe(&rx, SERVICE_A, &sub).await;
        churn(&rx, 1).await;
        eventually("a delivery", async || !sub.accepted_once().is_empty()).await;
        let d = sub.accepted_once()[0].clone();
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/api/provider/verify_webhook.py");
        let verify = |body: &[u8], id: &str| {
            use std::io::Write;
            let mut child = std::process::Command::new("python3")
                .arg(script)
                .args([&sub.secret, id, &d.timestamp, &d.signature])
                .stdin(std::process::Stdio::piped())
                .spawn()
                .expect("python3");
            child.stdin.take().unwrap().write_all(body).unwrap();
            child.wait().unwrap().success()
        };
        assert!(verify(&d.raw, &d.id), "the delivery as sent verifies");
        let mut tampered = d.raw.to_vec();
        let at = tampered.iter().position(|b| *b == b'9').unwrap();
        tampered[at] = b'8';
        assert!(!verify(&tampered, &d.id), "a changed body is rejected");
        assert!(!verify(&d.raw, "evt_other"), "a changed id is rejected");
        rx.stop().await;
    }
}
