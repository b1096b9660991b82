//! Staff run the day: each action is a versioned, audited change; senders can no longer
//! change an attended appointment; a provider cancellation frees the slot and tells the
//! sender why.

use http::Method;
use serde_json::json;

use super::*;

on_both! {
    #[tokio::test]
    async fn staff_record_the_day_and_senders_cannot_change_an_attended_appointment(backend: Backend) {
        let rx = start(backend).await;
        rx.generate(SERVICE_A, 1).await;
        let slots = rx.slots(SERVICE_A, "free").await;
        let booked = rx.book(&slots[0], PATIENT).await.json().unwrap();
        let id = booked["id"].as_str().unwrap().to_string();

        let r = staff(&rx, &id, "arrived", json!({ "staff": "reception", "service": SERVICE_A })).await;
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        let arrived = r.json().unwrap();
        assert_eq!((arrived["status"].as_str(), arrived["meta"]["versionId"].as_str()), (Some("arrived"), Some("2")));

        // The sender reads the new status; its cancellation is refused as the digest says
        // (section 5.3: no longer current -> 409 REC_CONFLICT conflict).
        let seen = rx.get(&format!("/Appointment/{id}")).send().await.json().unwrap();
        assert_eq!(seen["status"], "arrived");
        let mut cancel = seen.clone();
        cancel["status"] = json!("cancelled");
        let r = rx.put(&format!("/Appointment/{id}")).json(&cancel).send().await;
        assert_outcome(&r, 409, "conflict", "REC_CONFLICT");
        let r = rx.delete(&format!("/Appointment/{id}")).send().await;
        assert_outcome(&r, 409, "conflict", "REC_CONFLICT");

        assert_eq!(staff(&rx, &id, "fulfilled", json!({})).await.status, 200);
        // A no-show after the patient was seen is not a transition FHIR allows.
        let r = staff(&rx, &id, "noshow", json!({})).await;
        assert_outcome(&r, 409, "conflict", "REC_CONFLICT");
        // The slot was used: it stays busy.
        assert!(rx.slots(SERVICE_A, "free").await.iter().all(|s| s["id"] != slots[0]["id"]));
        // A mistake is corrected by marking the record entered in error.
        assert_eq!(staff(&rx, &id, "entered-in-error", json!({})).await.status, 200);

        let history = rx.get(&format!("/Appointment/{id}/_history")).send().await.json().unwrap();
        assert_eq!(history["total"], 4);
        let r = admin_call(&rx, Method::GET, &format!("/admin/audit?appointment={id}"), None).await;
        let actions: Vec<(String, Option<String>)> = r.json().unwrap()["entries"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["outcome"] == 200 || e["outcome"] == 201)
            .filter(|e| e["action"] != "read")
            .map(|e| (e["action"].as_str().unwrap().to_string(), e["senderOds"].as_str().map(str::to_string)))
            .collect();
        for want in [("arrived", "RX001"), ("fulfilled", "RX001"), ("entered-in-error", "RX001"), ("book", SENDER_ODS)] {
            assert!(actions.contains(&(want.0.to_string(), Some(want.1.to_string()))), "{want:?} in {actions:?}");
        }
        rx.stop().await;
    }
}

on_both! {
    #[tokio::test]
    async fn a_provider_cancellation_frees_the_slot_and_the_sender_sees_why(backend: Backend) {
        let rx = start(backend).await;
        rx.generate(SERVICE_A, 1).await;
        let slots = rx.slots(SERVICE_A, "free").await;
        let booked = rx.book(&slots[0], PATIENT).await.json().unwrap();
        let id = booked["id"].as_str().unwrap().to_string();

        let r = staff(&rx, &id, "cancel", json!({})).await;
        assert_outcome(&r, 400, "required", "REC_BAD_REQUEST");
        let r = staff(&rx, &id, "cancel", json!({ "reason": "clinic closed", "service": SERVICE_B })).await;
        assert_outcome(&r, 404, "not-found", "REC_NOT_FOUND");
        let r = staff(&rx, &id, "discharge", json!({})).await;
        assert_outcome(&r, 404, "not-found", "REC_NOT_FOUND");
        let r = staff(&rx, "no-such-appointment", "arrived", json!({})).await;
        assert_outcome(&r, 404, "not-found", "REC_NOT_FOUND");

        let r = staff(&rx, &id, "cancel", json!({ "reason": "clinic closed" })).await;
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        let seen = rx.get(&format!("/Appointment/{id}")).send().await.json().unwrap();
        assert_eq!(seen["status"], "cancelled");
        assert_eq!(seen["cancelationReason"]["text"], "clinic closed");
        assert_eq!(seen["cancelationReason"]["coding"][0]["code"], "prov");
        assert!(rx.slots(SERVICE_A, "free").await.iter().any(|s| s["id"] == slots[0]["id"]), "the slot is free again");
        // The Registry pointer follows through the outbox: created, then deleted.
        let r = admin_call(&rx, Method::GET, "/admin/outbox", None).await;
        let jobs: Vec<String> = r.json().unwrap()["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|j| j["appointment"] == id.as_str())
            .map(|j| j["action"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(jobs, ["create", "delete"]);
        // Ended: nothing more to do on it but correct it.
        let r = staff(&rx, &id, "arrived", json!({})).await;
        assert_outcome(&r, 409, "conflict", "REC_CONFLICT");
        rx.stop().await;
    }
}
