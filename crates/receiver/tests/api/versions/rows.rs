//! The rows of the delta's appointment tables (sections 2.2-2.7, 3.1 and 5.2), each under
//! Core 1.1.6 and 1.5.0: what the request does, what it is refused with, and the pointer job
//! it leaves.

use super::*;

/// A receiver with tomorrow's slots of service A, free.
async fn ready(backend: Backend) -> (TestReceiver, Vec<Value>) {
    let rx = start(backend).await;
    rx.generate(SERVICE_A, 1).await;
    let slots = rx.slots(SERVICE_A, "free").await;
    (rx, slots)
}

async fn slot_status(rx: &TestReceiver, slot: &Value) -> String {
    for status in ["free", "busy"] {
        if rx
            .slots(SERVICE_A, status)
            .await
            .iter()
            .any(|s| s["id"] == slot["id"])
        {
            return status.into();
        }
    }
    "neither".into()
}

fn moved_to(a: &Value, slot: &Value) -> Value {
    let mut moved = a.clone();
    moved["slot"] = slot_ref(slot);
    moved["start"] = slot["start"].clone();
    moved["end"] = slot["end"].clone();
    moved
}

on_both! {
    /// A PUT that moves the booking: a reschedule under 1.1.6, refused under 1.5.0.
    #[tokio::test]
    async fn a_put_that_changes_slot_start_or_end(backend: Backend) {
        let (rx, slots) = ready(backend).await;
        let a = booked(&rx, V150, &slots[0], PATIENT).await;
        let moved = moved_to(&a, &slots[1]);
        assert_outcome(&put(&rx, V150, &moved).await, 400, "invariant", "REC_BAD_REQUEST");
        let mut later = a.clone();
        later["end"] = slots[0]["start"].clone();
        assert_outcome(&put(&rx, V150, &later).await, 400, "invariant", "REC_BAD_REQUEST");
        assert_eq!(slot_status(&rx, &slots[0]).await, "busy");
        assert_eq!(pointer_actions(&rx, a["id"].as_str().unwrap()).await, ["create"]);

        let r = put(&rx, V116, &moved).await;
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        assert_eq!(slot_status(&rx, &slots[0]).await, "free");
        assert_eq!(slot_status(&rx, &slots[1]).await, "busy");
        assert_eq!(pointer_actions(&rx, a["id"].as_str().unwrap()).await, ["create", "update"]);
        rx.stop().await;
    }
}

on_both! {
    /// A PUT that changes an element other than status and reasonCode.
    #[tokio::test]
    async fn a_put_that_changes_another_element(backend: Backend) {
        let (rx, slots) = ready(backend).await;
        let a = booked(&rx, V116, &slots[0], PATIENT).await;
        let mut described = a.clone();
        described["description"] = json!("Something else");
        let r = put(&rx, V150, &described).await;
        assert_outcome(&r, 400, "invariant", "REC_BAD_REQUEST");
        assert_eq!(r.json().unwrap()["issue"][0]["expression"][0], "Appointment.description");
        assert_eq!(put(&rx, V116, &described).await.status, 200);
        rx.stop().await;
    }
}

on_both! {
    /// A PUT that changes only the reason: allowed under both, and no pointer call (R4).
    #[tokio::test]
    async fn a_put_that_changes_the_reason_only(backend: Backend) {
        let (rx, slots) = ready(backend).await;
        for (i, version) in [V116, V150].into_iter().enumerate() {
            let a = booked(&rx, version, &slots[i], PATIENT).await;
            let id = a["id"].as_str().unwrap();
            let mut reasoned = a.clone();
            reasoned["reasonCode"] = reason("165332000");
            let r = put(&rx, version, &reasoned).await;
            assert_eq!(r.status, 200, "{version}: {}", String::from_utf8_lossy(&r.body));
            assert_eq!(read(&rx, id).await["reasonCode"], reason("165332000"));
            assert_eq!(pointer_actions(&rx, id).await, ["create"], "{version}");
        }
        rx.stop().await;
    }
}

on_both! {
    /// Under 1.5.0 a PUT may leave out what it does not change (D6); under 1.1.6 it replaces
    /// the appointment, so the same minimal body is invalid.
    #[tokio::test]
    async fn a_minimal_put_keeps_what_it_leaves_out(backend: Backend) {
        let (rx, slots) = ready(backend).await;
        let a = booked(&rx, V116, &slots[0], PATIENT).await;
        let id = a["id"].as_str().unwrap();
        let minimal = json!({"resourceType": "Appointment", "id": id, "status": "booked", "reasonCode": reason("165342003")});
        let r = put(&rx, V116, &minimal).await;
        assert_eq!(r.status, 400, "{}", String::from_utf8_lossy(&r.body));
        let r = put(&rx, V150, &minimal).await;
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        let stored = read(&rx, id).await;
        assert_eq!(stored["slot"], a["slot"]);
        assert_eq!(stored["description"], a["description"]);
        assert_eq!(stored["participant"], a["participant"]);
        assert_eq!(stored["reasonCode"], reason("165342003"));
        assert_eq!(stored["meta"]["versionId"], "2");
        rx.stop().await;
    }
}

on_both! {
    /// Cancel is the PUT with cancelled or entered-in-error and a reason: the slot goes free
    /// and the pointer is deleted, under both versions; under 1.5.0 nothing else may change.
    #[tokio::test]
    async fn a_cancel_by_put(backend: Backend) {
        let (rx, slots) = ready(backend).await;
        let cases = [(V116, "cancelled"), (V150, "cancelled"), (V150, "entered-in-error"), (V116, "entered-in-error")];
        for (i, (version, status)) in cases.into_iter().enumerate() {
            let a = booked(&rx, version, &slots[i], PATIENT).await;
            let id = a["id"].as_str().unwrap();
            if version == V150 {
                let mut too_much = a.clone();
                too_much["status"] = json!(status);
                too_much["description"] = json!("changed");
                assert_outcome(&put(&rx, version, &too_much).await, 400, "invariant", "REC_BAD_REQUEST");
            }
            let mut cancel = a.clone();
            cancel["status"] = json!(status);
            cancel["reasonCode"] = reason("165342003");
            let r = put(&rx, version, &cancel).await;
            assert_eq!(r.status, 200, "{version} {status}: {}", String::from_utf8_lossy(&r.body));
            assert_eq!(slot_status(&rx, &slots[i]).await, "free");
            assert_eq!(pointer_actions(&rx, id).await, ["create", "delete"]);
            // Not current any more: 409 under both.
            let mut again = read(&rx, id).await;
            again["status"] = json!("booked");
            assert_outcome(&put(&rx, version, &again).await, 409, "conflict", "REC_CONFLICT");
        }
        rx.stop().await;
    }
}

on_both! {
    /// A PATCH naming only the new slot: under 1.5.0 a reschedule whose times follow the slot,
    /// both slots moved in one change and the pointer updated; under 1.1.6 the old times lie
    /// outside the new slot.
    #[tokio::test]
    async fn a_patch_that_names_only_the_slot(backend: Backend) {
        let (rx, slots) = ready(backend).await;
        let a = booked(&rx, V116, &slots[0], PATIENT).await;
        let id = a["id"].as_str().unwrap();
        let only_slot = json!({"resourceType": "Appointment", "slot": slot_ref(&slots[1])});
        assert_outcome(&patch(&rx, V116, id, &only_slot).await, 400, "invariant", "REC_BAD_REQUEST");
        let r = patch(&rx, V150, id, &only_slot).await;
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        let stored = read(&rx, id).await;
        assert_eq!(stored["status"], "booked");
        assert_eq!(stored["slot"], slot_ref(&slots[1]));
        let same_instant = |a: &Value, b: &Value| {
            bars_fhir::Instant::parse(a.as_str().unwrap()).unwrap()
                == bars_fhir::Instant::parse(b.as_str().unwrap()).unwrap()
        };
        assert!(same_instant(&stored["start"], &slots[1]["start"]), "{stored}");
        assert!(same_instant(&stored["end"], &slots[1]["end"]), "{stored}");
        assert_eq!(slot_status(&rx, &slots[0]).await, "free");
        assert_eq!(slot_status(&rx, &slots[1]).await, "busy");
        assert_eq!(pointer_actions(&rx, id).await, ["create", "update"]);
        rx.stop().await;
    }
}

on_both! {
    /// A PATCH that changes anything but the slot and its times, or sets another status.
    #[tokio::test]
    async fn a_patch_that_changes_more_than_the_slot(backend: Backend) {
        let (rx, slots) = ready(backend).await;
        let a = booked(&rx, V116, &slots[0], PATIENT).await;
        let id = a["id"].as_str().unwrap();
        let reasoned = json!({"resourceType": "Appointment", "reasonCode": reason("165332000")});
        assert_outcome(&patch(&rx, V150, id, &reasoned).await, 400, "invariant", "REC_BAD_REQUEST");
        let cancelled = json!({"resourceType": "Appointment", "status": "cancelled"});
        assert_outcome(&patch(&rx, V150, id, &cancelled).await, 400, "invariant", "REC_BAD_REQUEST");
        // New times outside the new slot.
        let outside = json!({"resourceType": "Appointment", "slot": slot_ref(&slots[1]), "start": slots[0]["start"], "end": slots[1]["end"]});
        assert_outcome(&patch(&rx, V150, id, &outside).await, 400, "invariant", "REC_BAD_REQUEST");
        assert_eq!(pointer_actions(&rx, id).await, ["create"]);
        // 1.1.6 lets a PATCH change the reason, and cancel.
        assert_eq!(patch(&rx, V116, id, &reasoned).await.status, 200);
        assert_eq!(patch(&rx, V116, id, &cancelled).await.status, 200);
        assert_eq!(slot_status(&rx, &slots[0]).await, "free");
        rx.stop().await;
    }
}

on_both! {
    /// A PATCH to a slot that is not free, and any edit of an appointment no longer booked.
    #[tokio::test]
    async fn a_patch_to_a_taken_slot_or_of_an_ended_booking_conflicts(backend: Backend) {
        let (rx, slots) = ready(backend).await;
        for version in [V116, V150] {
            let a = booked(&rx, version, &slots[0], PATIENT).await;
            let other = booked(&rx, version, &slots[1], OTHER_PATIENT).await;
            let id = a["id"].as_str().unwrap();
            let taken = json!({"resourceType": "Appointment", "slot": slot_ref(&slots[1]), "start": slots[1]["start"], "end": slots[1]["end"]});
            assert_outcome(&patch(&rx, version, id, &taken).await, 409, "conflict", "REC_CONFLICT");
            let r = rx.delete(&format!("/Appointment/{id}")).header("accept", &format!("application/fhir+json; version={version}")).send().await;
            assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
            let free = json!({"resourceType": "Appointment", "slot": slot_ref(&slots[2]), "start": slots[2]["start"], "end": slots[2]["end"]});
            assert_outcome(&patch(&rx, version, id, &free).await, 409, "conflict", "REC_CONFLICT");
            // Tidy up for the next version's round.
            let mut cancel = other.clone();
            cancel["status"] = json!("cancelled");
            assert_eq!(put(&rx, version, &cancel).await.status, 200);
        }
        rx.stop().await;
    }
}

on_both! {
    /// A new appointment must be booked under 1.5.0 (D4); 1.1.6 still takes placeholders.
    #[tokio::test]
    async fn a_placeholder_create(backend: Backend) {
        let (rx, _) = ready(backend).await;
        let waitlist = json!({
            "resourceType": "Appointment", "status": "waitlist",
            "meta": { "profile": ["https://fhir.hl7.org.uk/StructureDefinition/UKCore-Appointment"] },
            "participant": [{ "actor": { "type": "Patient", "identifier": { "system": "https://fhir.nhs.uk/Id/nhs-number", "value": PATIENT } }, "status": "accepted" }]
        });
        let r = speaking(rx.post("/Appointment").to(SERVICE_A), V150).json(&waitlist).send().await;
        assert_outcome(&r, 400, "invariant", "REC_BAD_REQUEST");
        let r = speaking(rx.post("/Appointment").to(SERVICE_A), V116).json(&waitlist).send().await;
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
        // That 1.1.6 placeholder is not current to a 1.5.0 edit (only booked ones are).
        let mut booked_now = r.json().unwrap();
        booked_now["status"] = json!("cancelled");
        let id = booked_now["id"].as_str().unwrap().to_string();
        let r = speaking(rx.put(&format!("/Appointment/{id}")).to(SERVICE_A), V150).json(&booked_now).send().await;
        assert_outcome(&r, 409, "conflict", "REC_CONFLICT");
        rx.stop().await;
    }
}

on_both! {
    /// Slot references in each form the specifications use (D3), under both versions.
    #[tokio::test]
    async fn slot_references_in_every_form_book(backend: Backend) {
        let (rx, slots) = ready(backend).await;
        let mut free = slots.iter();
        for version in [V116, V150] {
            for form in ["urn:uuid:{id}", "{base}/Slot/{id}", "Slot/{id}"] {
                let slot = free.next().unwrap();
                let reference = form
                    .replace("{id}", slot["id"].as_str().unwrap())
                    .replace("{base}", &rx.base);
                let mut body = appointment_for(slot, PATIENT);
                body["slot"] = json!([{ "reference": reference }]);
                let r = speaking(rx.post("/Appointment"), version).json(&body).send().await;
                assert_eq!(r.status, 201, "{version} {reference}: {}", String::from_utf8_lossy(&r.body));
                assert_eq!(slot_status(&rx, slot).await, "busy");
            }
        }
        rx.stop().await;
    }
}

on_both! {
    /// Rebook under 1.5.0 is cancel then book, without `replaces`: the old pointer deleted,
    /// a new one created.
    #[tokio::test]
    async fn a_rebook_is_cancel_then_book(backend: Backend) {
        let (rx, slots) = ready(backend).await;
        let old = booked(&rx, V150, &slots[0], PATIENT).await;
        let mut cancel = old.clone();
        cancel["status"] = json!("cancelled");
        assert_eq!(put(&rx, V150, &cancel).await.status, 200);
        let new = booked(&rx, V150, &slots[1], PATIENT).await;
        assert!(new.get("replaces").is_none());
        assert_eq!(pointer_actions(&rx, old["id"].as_str().unwrap()).await, ["create", "delete"]);
        assert_eq!(pointer_actions(&rx, new["id"].as_str().unwrap()).await, ["create"]);
        rx.stop().await;
    }
}

on_both! {
    /// A message update is held to the same 1.5.0 rules as a PUT, with the same codes.
    #[tokio::test]
    async fn a_message_update_follows_the_put_rules(backend: Backend) {
        use crate::messaging::{cancellation, update};
        let (rx, slots) = ready(backend).await;
        let a = booked(&rx, V116, &slots[0], PATIENT).await;
        let mut moved = moved_to(&a, &slots[1]);
        moved["participant"] = json!([{ "actor": { "reference": crate::messaging::PATIENT_URL }, "status": "accepted" }]);
        moved["slot"] = json!([{ "reference": crate::messaging::SLOT_URL }]);
        let message = update(&moved, &slots[1], PATIENT, SERVICE_A);
        let r = speaking(rx.post("/$process-message"), V150).json(&message).send().await;
        assert_outcome(&r, 400, "invariant", "REC_BAD_REQUEST");
        let r = speaking(rx.post("/$process-message"), V116).json(&message).send().await;
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        // A message cancellation under 1.5.0.
        let current = read(&rx, a["id"].as_str().unwrap()).await;
        let r = speaking(rx.post("/$process-message"), V150)
            .json(&cancellation(&current, PATIENT, SERVICE_A))
            .send()
            .await;
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        assert_eq!(slot_status(&rx, &slots[1]).await, "free");
        rx.stop().await;
    }
}
