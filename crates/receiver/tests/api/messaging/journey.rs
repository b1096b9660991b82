//! Booking, updating and cancelling by message goes through the same booking service as REST:
//! the same slots, versions, audit rows, pointer jobs and duplicate detection.

use http::Method;
use serde_json::{Value, json};

use super::*;

async fn admin_json(rx: &TestReceiver, path: &str) -> Value {
    rx.client
        .call(Method::GET, &format!("{}{path}", rx.admin), &[], None)
        .await
        .unwrap()
        .json()
        .unwrap()
}

on_both! {
    #[tokio::test]
    async fn book_update_and_cancel_by_message(backend: Backend) {
        let rx = start(backend).await;
        rx.generate(SERVICE_A, 1).await;
        let slot = rx.slots(SERVICE_A, "free").await.remove(0);

        // Book.
        let message = booking(&slot, PATIENT, SERVICE_A);
        let response = accepted(&message, &send(&rx, &message).await, SERVICE_A);
        let booked = persisted(&response);
        let id = booked["id"].as_str().unwrap().to_string();
        assert_eq!(booked["meta"]["versionId"], "1");
        assert_eq!(booked["status"], "booked");
        assert_eq!(
            booked["slot"][0]["reference"],
            format!("Slot/{}", slot["id"].as_str().unwrap()),
            "the slot is the receiver's own"
        );
        assert_eq!(
            booked["participant"][0]["actor"]["identifier"]["value"],
            PATIENT
        );
        assert_eq!(slot_status(&rx, SERVICE_A, &slot["id"]).await, "busy");

        // The REST API sees exactly what the message stored.
        let r = rx.get(&format!("/Appointment/{id}")).send().await;
        assert_eq!(r.status, 200);
        assert_eq!(r.json().unwrap(), booked);
        assert_eq!(r.header("etag"), Some("W/\"1\""));

        // Update: read, change, send with reason update.
        let mut changed = booked.clone();
        changed["description"] = json!("Patient prefers a call back first");
        let message = update(&changed, &slot, PATIENT, SERVICE_A);
        let response = accepted(&message, &send(&rx, &message).await, SERVICE_A);
        let v2 = persisted(&response);
        assert_eq!(v2["id"], id.as_str());
        assert_eq!(v2["meta"]["versionId"], "2");
        assert_eq!(v2["description"], "Patient prefers a call back first");
        assert_eq!(v2["created"], booked["created"], "created never changes");
        assert_eq!(slot_status(&rx, SERVICE_A, &slot["id"]).await, "busy");

        // Cancel.
        let message = cancellation(&v2, PATIENT, SERVICE_A);
        let response = accepted(&message, &send(&rx, &message).await, SERVICE_A);
        let v3 = persisted(&response);
        assert_eq!(v3["meta"]["versionId"], "3");
        assert_eq!(v3["status"], "cancelled");
        assert_eq!(v3["created"], booked["created"]);
        assert_eq!(slot_status(&rx, SERVICE_A, &slot["id"]).await, "free");
        let r = rx.get(&format!("/Appointment/{id}")).send().await;
        assert_eq!(r.json().unwrap(), v3);
        assert_eq!(r.header("etag"), Some("W/\"3\""));

        // A second cancellation finds nothing current to cancel.
        let again = cancellation(&v3, PATIENT, SERVICE_A);
        assert_outcome(&send(&rx, &again).await, 409, "conflict", "REC_CONFLICT");

        // History, audit rows and pointer jobs are the booking service's, as for REST.
        let history = rx
            .get(&format!("/Appointment/{id}/_history"))
            .send()
            .await
            .json()
            .unwrap();
        assert_eq!(history["total"], 3);
        let audit = admin_json(&rx, &format!("/admin/audit?appointment={id}")).await;
        let actions: Vec<(String, u64)> = audit["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["action"].as_str().unwrap().to_string(),
                    e["outcome"].as_u64().unwrap(),
                )
            })
            .collect();
        for expected in [("book", 201), ("update", 200), ("cancel", 200)] {
            assert!(
                actions.contains(&(expected.0.to_string(), expected.1)),
                "{expected:?} missing from {actions:?}"
            );
        }
        let outbox = admin_json(&rx, "/admin/outbox").await;
        let jobs: Vec<(String, u64)> = outbox["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|j| j["appointment"] == id.as_str())
            .map(|j| {
                (
                    j["action"].as_str().unwrap().to_string(),
                    j["version"].as_u64().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            jobs,
            [("create".to_string(), 1), ("delete".to_string(), 3)],
            "a pointer is created on booking and deleted on cancellation; an update in place needs none"
        );
        rx.stop().await;
    }
}

on_both! {
    #[tokio::test]
    async fn a_rest_booking_can_be_cancelled_by_message_and_rebooked_by_message(backend: Backend) {
        let rx = start(backend).await;
        rx.generate(SERVICE_A, 1).await;
        let slot = rx.slots(SERVICE_A, "free").await.remove(0);
        let booked = rx.book(&slot, PATIENT).await.json().unwrap();
        let message = cancellation(&booked, PATIENT, SERVICE_A);
        let v2 = persisted(&accepted(&message, &send(&rx, &message).await, SERVICE_A));
        assert_eq!(v2["status"], "cancelled");
        assert_eq!(v2["meta"]["versionId"], "2");
        assert_eq!(slot_status(&rx, SERVICE_A, &slot["id"]).await, "free");
        // The freed slot can be booked again, by message.
        let message = booking(&slot, OTHER_PATIENT, SERVICE_A);
        accepted(&message, &send(&rx, &message).await, SERVICE_A);
        assert_eq!(slot_status(&rx, SERVICE_A, &slot["id"]).await, "busy");
        rx.stop().await;
    }
}

on_both! {
    #[tokio::test]
    async fn a_retried_message_is_a_duplicate_and_books_nothing_more(backend: Backend) {
        let rx = start(backend).await;
        rx.generate(SERVICE_A, 1).await;
        let slots = rx.slots(SERVICE_A, "free").await;
        let message = booking(&slots[0], PATIENT, SERVICE_A);
        let request = rx.post("/$process-message").json(&message);
        let first = request.send().await;
        let booked = persisted(&accepted(&message, &first, SERVICE_A));
        let again = request.send().await;
        assert_outcome(&again, 409, "duplicate", "REC_CONFLICT");
        assert!(
            again
                .header("content-location")
                .unwrap()
                .contains(booked["id"].as_str().unwrap())
        );
        // The same bundle under new request ids is a new request: the slot is taken now.
        assert_outcome(&send(&rx, &message).await, 409, "conflict", "REC_CONFLICT");
        let found = rx
            .get(&format!(
                "/Appointment?patient:identifier=https://fhir.nhs.uk/Id/nhs-number|{PATIENT}"
            ))
            .send()
            .await
            .json()
            .unwrap();
        assert_eq!(found["total"], 1);

        // A refused message replays its refusal to a retry, even once the cause has gone.
        let mut refused = booking(&slots[1], PATIENT, SERVICE_A);
        refused["meta"]["versionId"] = json!("2.0.0");
        let request = rx.post("/$process-message").json(&refused);
        assert_outcome(
            &request.send().await,
            422,
            "not-supported",
            "REC_UNPROCESSABLE_ENTITY",
        );
        let fixed = rx
            .post("/$process-message")
            .ids(
                &request.request_id(),
                request
                    .headers
                    .iter()
                    .find(|(k, _)| k == "x-correlation-id")
                    .map(|(_, v)| v.as_str())
                    .unwrap(),
            )
            .json(&booking(&slots[1], PATIENT, SERVICE_A));
        assert_outcome(
            &fixed.send().await,
            422,
            "not-supported",
            "REC_UNPROCESSABLE_ENTITY",
        );
        assert_eq!(slot_status(&rx, SERVICE_A, &slots[1]["id"]).await, "free");
        rx.stop().await;
    }
}

on_both! {
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn rest_and_message_bookings_compete_for_one_slot_and_exactly_one_wins(backend: Backend) {
        let rx = start(backend).await;
        rx.generate(SERVICE_A, 1).await;
        let slot = rx.slots(SERVICE_A, "free").await.remove(0);

        let mut tasks = Vec::new();
        for i in 0..40 {
            let request = if i % 2 == 0 {
                rx.post("/Appointment")
                    .json(&appointment_for(&slot, PATIENT))
            } else {
                rx.post("/$process-message")
                    .json(&booking(&slot, PATIENT, SERVICE_A))
            };
            tasks.push(tokio::spawn(
                async move { (i % 2 == 0, request.send().await) },
            ));
        }
        let (mut rest_wins, mut message_wins, mut conflicts) = (0, 0, 0);
        for t in tasks {
            let (rest, r) = t.await.unwrap();
            match r.status.as_u16() {
                201 if rest => rest_wins += 1,
                200 if !rest => {
                    let body = r.json().unwrap();
                    assert_eq!(body["type"], "message");
                    message_wins += 1;
                }
                409 => {
                    assert_outcome(&r, 409, "conflict", "REC_CONFLICT");
                    conflicts += 1;
                }
                other => panic!(
                    "unexpected {other} ({}): {}",
                    if rest { "REST" } else { "message" },
                    String::from_utf8_lossy(&r.body)
                ),
            }
        }
        assert_eq!(rest_wins + message_wins, 1, "exactly one booking wins");
        assert_eq!(conflicts, 39);
        assert_eq!(slot_status(&rx, SERVICE_A, &slot["id"]).await, "busy");
        let found = rx
            .get(&format!(
                "/Appointment?patient:identifier=https://fhir.nhs.uk/Id/nhs-number|{PATIENT}"
            ))
            .send()
            .await
            .json()
            .unwrap();
        assert_eq!(found["total"], 1);
        let db = rx.stop().await;
        let active = db
            .scalar("SELECT COUNT(*) FROM appointment_slot WHERE active")
            .await;
        assert_eq!(active, 1);
    }
}
