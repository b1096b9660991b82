//! Races: many senders after few slots, and concurrent updates of one version.

use std::collections::{HashMap, HashSet};

use serde_json::json;

use crate::helpers::*;

on_both! {
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn two_hundred_bookings_for_twenty_slots_book_each_slot_exactly_once(backend: Backend) {
        let rx = start(backend).await;
        rx.generate(SERVICE_A, 1).await;
        let slots: Vec<_> = rx
            .slots(SERVICE_A, "free")
            .await
            .into_iter()
            .take(20)
            .collect();
        assert_eq!(slots.len(), 20);

        // Ten senders per slot, all at once.
        let mut tasks = Vec::new();
        for i in 0..200 {
            let slot = slots[i % 20].clone();
            let request = rx
                .post("/Appointment")
                .json(&appointment_for(&slot, PATIENT));
            tasks.push(tokio::spawn(async move {
                (
                    slot["id"].as_str().unwrap().to_string(),
                    request.send().await,
                )
            }));
        }
        let mut created = HashMap::new();
        let mut conflicts = 0;
        for t in tasks {
            let (slot, r) = t.await.unwrap();
            match r.status.as_u16() {
                201 => {
                    let id = r.json().unwrap()["id"].as_str().unwrap().to_string();
                    assert!(
                        created.insert(slot, id).is_none(),
                        "a slot was booked twice"
                    );
                }
                409 => {
                    assert_outcome(&r, 409, "conflict", "REC_CONFLICT");
                    conflicts += 1;
                }
                other => panic!(
                    "unexpected status {other}: {}",
                    String::from_utf8_lossy(&r.body)
                ),
            }
        }
        assert_eq!(created.len(), 20);
        assert_eq!(conflicts, 180);

        // Every slot is busy and held by exactly the appointment that won it.
        let busy: HashSet<String> = rx
            .slots(SERVICE_A, "busy")
            .await
            .iter()
            .map(|s| s["id"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(busy, created.keys().cloned().collect());
        let found = rx
            .get(&format!(
                "/Appointment?patient:identifier=https://fhir.nhs.uk/Id/nhs-number|{PATIENT}"
            ))
            .send()
            .await
            .json()
            .unwrap();
        assert_eq!(found["total"], 20);
        for e in found["entry"].as_array().unwrap() {
            let slot_ref = e["resource"]["slot"][0]["reference"]
                .as_str()
                .unwrap()
                .trim_start_matches("Slot/")
                .to_string();
            assert_eq!(
                created.get(&slot_ref).map(String::as_str),
                e["resource"]["id"].as_str()
            );
        }
        let db = rx.stop().await;
        // And the database agrees: one active booking per slot, no more.
        let doubled = db
            .scalar("SELECT COUNT(*) FROM (SELECT slot_id FROM appointment_slot WHERE active GROUP BY slot_id HAVING COUNT(*) > 1) d")
            .await;
        assert_eq!(doubled, 0);
        let active = db
            .scalar("SELECT COUNT(*) FROM appointment_slot WHERE active")
            .await;
        assert_eq!(active, 20);
    }
}

on_both! {
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_puts_with_the_same_if_match_let_exactly_one_through(backend: Backend) {
        let rx = start(backend).await;
        rx.generate(SERVICE_A, 1).await;
        let slot = rx.slots(SERVICE_A, "free").await.remove(0);
        let booked = rx.book(&slot, PATIENT).await.json().unwrap();
        let id = booked["id"].as_str().unwrap().to_string();

        let mut tasks = Vec::new();
        for i in 0..30 {
            let mut body = booked.clone();
            body["description"] = json!(format!("edit {i}"));
            let request = rx
                .put(&format!("/Appointment/{id}"))
                .header("if-match", "W/\"1\"")
                .json(&body);
            tasks.push(tokio::spawn(async move { request.send().await }));
        }
        let mut ok = 0;
        let mut precondition_failed = 0;
        for t in tasks {
            let r = t.await.unwrap();
            match r.status.as_u16() {
                200 => ok += 1,
                412 => {
                    assert_outcome(&r, 412, "conflict", "REC_CONFLICT");
                    precondition_failed += 1;
                }
                other => panic!(
                    "unexpected status {other}: {}",
                    String::from_utf8_lossy(&r.body)
                ),
            }
        }
        assert_eq!((ok, precondition_failed), (1, 29));
        let now = rx.get(&format!("/Appointment/{id}")).send().await;
        assert_eq!(now.header("etag"), Some("W/\"2\""));
        rx.stop().await;
    }
}

on_both! {
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_reschedules_into_one_slot_move_only_one_booking(backend: Backend) {
        let rx = start(backend).await;
        rx.generate(SERVICE_A, 1).await;
        let slots = rx.slots(SERVICE_A, "free").await;
        let target = slots[10].clone();
        let mut ids = Vec::new();
        for s in &slots[..10] {
            ids.push(
                rx.book(s, PATIENT).await.json().unwrap()["id"]
                    .as_str()
                    .unwrap()
                    .to_string(),
            );
        }
        let mut tasks = Vec::new();
        for id in &ids {
            let patch = json!([
                { "op": "replace", "path": "/slot/0/reference", "value": format!("Slot/{}", target["id"].as_str().unwrap()) },
                { "op": "replace", "path": "/start", "value": target["start"] },
                { "op": "replace", "path": "/end", "value": target["end"] }
            ]);
            let request = rx
                .patch(&format!("/Appointment/{id}"))
                .body_as("application/json-patch+json", patch.to_string());
            tasks.push(tokio::spawn(
                async move { request.send().await.status.as_u16() },
            ));
        }
        let mut statuses = Vec::new();
        for t in tasks {
            statuses.push(t.await.unwrap());
        }
        assert_eq!(
            statuses.iter().filter(|s| **s == 200).count(),
            1,
            "{statuses:?}"
        );
        assert_eq!(
            statuses.iter().filter(|s| **s == 409).count(),
            9,
            "{statuses:?}"
        );
        // Ten bookings still hold ten slots: the mover released its old one, the losers kept theirs.
        assert_eq!(rx.slots(SERVICE_A, "busy").await.len(), 10);
        rx.stop().await;
    }
}
