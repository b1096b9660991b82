//! One appointment under both versions: booked under one, changed under the other; and a
//! 1.1.6 sender and a 1.5.0 sender at the same appointments at once.

use std::collections::HashMap;

use super::*;

on_both! {
    /// Booked under 1.1.6, rescheduled and cancelled under 1.5.0; booked under 1.5.0,
    /// rescheduled by PUT under 1.1.6 and its reason changed under 1.5.0.
    #[tokio::test]
    async fn an_appointment_changes_hands_between_versions(backend: Backend) {
        let rx = start(backend).await;
        rx.generate(SERVICE_A, 1).await;
        let slots = rx.slots(SERVICE_A, "free").await;

        let a = booked(&rx, V116, &slots[0], PATIENT).await;
        let id = a["id"].as_str().unwrap();
        let r = patch(&rx, V150, id, &json!({"resourceType": "Appointment", "slot": slot_ref(&slots[1])})).await;
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        let mut cancel = read(&rx, id).await;
        cancel["status"] = json!("cancelled");
        assert_eq!(put(&rx, V150, &cancel).await.status, 200);
        assert_eq!(pointer_actions(&rx, id).await, ["create", "update", "delete"]);

        let b = booked(&rx, V150, &slots[2], PATIENT).await;
        let id = b["id"].as_str().unwrap();
        let mut moved = b.clone();
        moved["slot"] = slot_ref(&slots[3]);
        moved["start"] = slots[3]["start"].clone();
        moved["end"] = slots[3]["end"].clone();
        assert_eq!(put(&rx, V116, &moved).await.status, 200);
        let mut reasoned = read(&rx, id).await;
        reasoned["reasonCode"] = reason("165332000");
        assert_eq!(put(&rx, V150, &reasoned).await.status, 200);
        assert_eq!(pointer_actions(&rx, id).await, ["create", "update"]);
        let free: Vec<Value> = rx.slots(SERVICE_A, "free").await;
        for (i, expected_free) in [(0, true), (1, true), (2, true), (3, false)] {
            assert_eq!(free.iter().any(|s| s["id"] == slots[i]["id"]), expected_free, "slot {i}");
        }
        rx.stop().await;
    }
}

/// What a step did, for the tally.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Move {
    Reschedule,
    Cancel,
    Book,
}

/// One step of a sender speaking `version`: reschedule (1.1.6 by PUT with the new times,
/// 1.5.0 by PATCH of the slot alone), cancel (PUT), or book, on appointments and slots picked
/// by the step's number from those booked so far by either sender.
async fn act(
    rx: &TestReceiver,
    version: &str,
    step: usize,
    slots: &[Value],
    pool: &std::sync::Mutex<Vec<String>>,
) -> (Move, u16) {
    let k = if version == V116 { 0 } else { 1 };
    let slot = &slots[(step * 5 + k * 3) % slots.len()];
    let id = {
        let pool = pool.lock().unwrap();
        pool[(step * 3 + k) % pool.len()].clone()
    };
    let moved = match (step + k) % 4 {
        0 | 1 => Move::Reschedule,
        2 => Move::Cancel,
        _ => Move::Book,
    };
    let r = match (moved, version) {
        (Move::Book, _) => {
            let r = speaking(rx.post("/Appointment"), version)
                .json(&appointment_for(slot, PATIENT))
                .send()
                .await;
            if r.status == 201 {
                let new = r.json().unwrap()["id"].as_str().unwrap().to_string();
                pool.lock().unwrap().push(new);
            }
            r
        }
        (Move::Reschedule, V116) => {
            let mut moved = read(rx, &id).await;
            moved["slot"] = slot_ref(slot);
            moved["start"] = slot["start"].clone();
            moved["end"] = slot["end"].clone();
            put(rx, V116, &moved).await
        }
        (Move::Reschedule, _) => {
            patch(
                rx,
                V150,
                &id,
                &json!({"resourceType": "Appointment", "slot": slot_ref(slot)}),
            )
            .await
        }
        (Move::Cancel, _) => {
            let mut cancel = read(rx, &id).await;
            cancel["status"] = json!("cancelled");
            put(rx, version, &cancel).await
        }
    };
    (moved, r.status.as_u16())
}

on_both! {
    /// A 1.1.6 sender and a 1.5.0 sender book, reschedule and cancel the same appointments at
    /// once, over few slots. Afterwards no slot is held twice, every busy slot is held by a
    /// booked appointment and every free one by none, and nothing failed with a server error.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_1_1_6_sender_and_a_1_5_0_sender_at_once(backend: Backend) {
        let rx = std::sync::Arc::new(start(backend).await);
        rx.generate(SERVICE_A, 1).await;
        let slots: Vec<Value> = rx.slots(SERVICE_A, "free").await.into_iter().take(8).collect();
        let mut ids = Vec::new();
        for slot in &slots[..3] {
            ids.push(booked(&rx, V116, slot, PATIENT).await["id"].as_str().unwrap().to_string());
        }
        let pool = std::sync::Arc::new(std::sync::Mutex::new(ids));
        let mut tasks = Vec::new();
        for version in [V116, V150] {
            let (rx, slots, pool) = (rx.clone(), slots.clone(), pool.clone());
            tasks.push(tokio::spawn(async move {
                let mut answers = Vec::new();
                for step in 0..40 {
                    answers.push((version, act(&rx, version, step, &slots, &pool).await));
                }
                answers
            }));
        }
        let mut tally: HashMap<(&str, Move, u16), usize> = HashMap::new();
        for t in tasks {
            for (version, (moved, status)) in t.await.unwrap() {
                assert!(matches!(status, 200 | 201 | 409), "{version} {moved:?}: unexpected status {status}");
                *tally.entry((version, moved, status)).or_default() += 1;
            }
        }
        // Both senders did move bookings, so the check below is about something.
        for version in [V116, V150] {
            assert!(tally.contains_key(&(version, Move::Reschedule, 200)), "no {version} reschedule succeeded: {tally:?}");
        }
        // Slot states agree with the appointments that hold them.
        let search = rx
            .get(&format!("/Appointment?patient:identifier=https://fhir.nhs.uk/Id/nhs-number|{PATIENT}&_count=100"))
            .send()
            .await
            .json()
            .unwrap();
        let mut holders: HashMap<String, usize> = HashMap::new();
        for e in search["entry"].as_array().unwrap() {
            let a = &e["resource"];
            if a["status"] == "booked" {
                for s in a["slot"].as_array().unwrap() {
                    let id = s["reference"].as_str().unwrap().rsplit('/').next().unwrap().to_string();
                    *holders.entry(id).or_default() += 1;
                }
            }
        }
        assert!(holders.values().all(|n| *n == 1), "a slot is held twice: {holders:?}");
        let busy: Vec<String> = rx.slots(SERVICE_A, "busy").await.iter().map(|s| s["id"].as_str().unwrap().to_string()).collect();
        for slot in &slots {
            let id = slot["id"].as_str().unwrap();
            assert_eq!(busy.contains(&id.to_string()), holders.contains_key(id), "slot {id}: busy vs held");
        }
        match std::sync::Arc::try_unwrap(rx) {
            Ok(rx) => {
                rx.stop().await;
            }
            Err(_) => panic!("the receiver is still shared"),
        }
    }
}
