//! A restart on the same database loses nothing.

use serde_json::json;

use crate::helpers::*;

on_both! {
    #[tokio::test]
    async fn everything_survives_a_restart(backend: Backend) {
        let rx = start(backend).await;
        rx.generate(SERVICE_A, 2).await;
        let slots = rx.slots(SERVICE_A, "free").await;
        let booked = rx.book(&slots[0], PATIENT).await.json().unwrap();
        let id = booked["id"].as_str().unwrap().to_string();
        let mut cancelled = booked.clone();
        cancelled["status"] = json!("cancelled");
        assert_eq!(
            rx.put(&format!("/Appointment/{id}"))
                .json(&cancelled)
                .send()
                .await
                .status,
            200
        );
        let kept = rx.book(&slots[1], PATIENT).await.json().unwrap();
        let (request_id, correlation_id) = (
            uuid::Uuid::new_v4().to_string(),
            uuid::Uuid::new_v4().to_string(),
        );
        let third = appointment_for(&slots[2], PATIENT);
        assert_eq!(
            rx.post("/Appointment")
                .ids(&request_id, &correlation_id)
                .json(&third)
                .send()
                .await
                .status,
            201
        );
        let before_slots = rx
            .get(&rx.slot_query(SERVICE_A, "free,busy"))
            .send()
            .await
            .json()
            .unwrap()
            .to_string()
            .replace(&rx.base, "BASE");
        let dir = rx.stop().await;

        let rx = start_in(dir, None, |c| c).await;
        // Appointments, their versions and the slots' states are all there.
        let r = rx.get(&format!("/Appointment/{id}")).send().await;
        assert_eq!(r.json().unwrap()["status"], "cancelled");
        assert_eq!(r.header("etag"), Some("W/\"2\""));
        let r = rx
            .get(&format!("/Appointment/{}", kept["id"].as_str().unwrap()))
            .send()
            .await;
        assert_eq!(r.json().unwrap(), kept);
        assert_eq!(
            rx.get(&format!("/Appointment/{id}/_history"))
                .send()
                .await
                .json()
                .unwrap()["total"],
            2
        );
        let after_slots = rx
            .get(&rx.slot_query(SERVICE_A, "free,busy"))
            .send()
            .await
            .json()
            .unwrap()
            .to_string()
            .replace(&rx.base, "BASE");
        let (before, after): (serde_json::Value, serde_json::Value) = (
            serde_json::from_str(&before_slots).unwrap(),
            serde_json::from_str(&after_slots).unwrap(),
        );
        assert_eq!(before["total"], after["total"]);
        assert_eq!(
            before["entry"], after["entry"],
            "every slot's state and version survive"
        );
        // Request ids are remembered across the restart: a retry is still a duplicate.
        let retry = rx
            .post("/Appointment")
            .ids(&request_id, &correlation_id)
            .json(&third)
            .send()
            .await;
        assert_outcome(&retry, 409, "duplicate", "REC_CONFLICT");
        // Publishing again adds nothing: the slots are already there.
        assert_eq!(rx.generate(SERVICE_A, 2).await, 0);
        rx.stop().await;
    }
}

on_both! {
    /// A receiver that cannot publish its services at start-up does not start, and its error
    /// is written for an operator: which service, and what the store said - not the 503 a
    /// sender would have been answered.
    #[tokio::test]
    async fn a_receiver_that_cannot_publish_its_services_says_which_and_why(backend: Backend) {
        let db = fresh_db(backend).await;
        // Migrated first without a deadline, so that only the start-up's writes meet the lock.
        drop(open_store(&db, None).await);
        let store = open_store(&db, Some(std::time::Duration::from_millis(100))).await;
        let lock = db.lock_writes("resource").await;
        let config = bars_receiver::ReceiverConfig::new("RX001", "http://receiver.test")
            .with_service(SERVICE_A, "Minor Injuries Unit");
        let error = bars_receiver::Receiver::new(config, store)
            .await
            .err()
            .expect("a receiver whose store refuses writes does not start");
        lock.release().await;
        let text = error.to_string();
        assert!(text.contains(&format!("publishing service {SERVICE_A}")), "{text}");
        assert!(text.contains("storage unavailable"), "{text}");
    }
}
