//! The official booking-request bundle (`examples/process_message/request/Booking (POST).json`),
//! corrected for its known defects, books; and the answer follows section 6.4 and carries what
//! the official response example does.

use serde_json::{Value, json};

use super::*;

fn fixture(name: &str) -> Value {
    let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/bars-api-examples")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

/// Repairs the example's defects (digest section 8, fixtures/README.md) against a real slot.
fn corrected(mut bundle: Value, slot: &Value) -> Value {
    // Placeholder destination (a service nobody hosts, with the http:// spelling) -> ours.
    header_mut(&mut bundle)["destination"][0]["endpoint"] = json!(format!("{DOS}|{SERVICE_A}"));
    header_mut(&mut bundle)["source"]["endpoint"] = json!(SENDER_ENDPOINT);
    // The Slot entry has no id (it must be the one GET /Slot returned) and is dated 2021.
    let s = resource_mut(&mut bundle, "Slot");
    s["id"] = slot["id"].clone();
    s["start"] = slot["start"].clone();
    s["end"] = slot["end"].clone();
    // The appointment lies outside its slot (and in the past): book the slot's period.
    let a = appointment_mut(&mut bundle);
    a["start"] = slot["start"].clone();
    a["end"] = slot["end"].clone();
    // Bundle.meta.versionId "1.0.0-alpha" is left as it is: pre-releases of 1.x are processed.
    // The NHS number (9476719931) is valid; the profiles and the event/reason systems are right.
    bundle
}

on_both! {
    #[tokio::test]
    async fn the_corrected_official_booking_bundle_books_and_its_response_follows_6_4(backend: Backend) {
        let rx = start(backend).await;
        rx.generate(SERVICE_A, 1).await;
        let slot = rx.slots(SERVICE_A, "free").await.remove(0);
        let original = fixture("examples__process_message__request__BookingPOST.json");

        // As published it is not for this receiver.
        assert_outcome(
            &send(&rx, &original).await,
            422,
            "not-supported",
            "REC_UNPROCESSABLE_ENTITY",
        );

        let request = corrected(original.clone(), &slot);
        assert_eq!(request["meta"]["versionId"], "1.0.0-alpha");
        let r = send(&rx, &request).await;
        let response = accepted(&request, &r, SERVICE_A);
        assert_eq!(slot_status(&rx, SERVICE_A, &slot["id"]).await, "busy");

        // The points the official response example makes, held to our decisions.
        let official = fixture("examples__process_message__response__BookingHTTPResponse.json");
        assert_eq!(response["type"], official["type"]);
        let header = &response["entry"][0]["resource"];
        assert_eq!(header["response"]["identifier"], original["id"]);
        assert_eq!(header["response"]["code"], "ok");
        assert_eq!(
            header["eventCoding"]["code"],
            official["entry"][0]["resource"]["eventCoding"]["code"]
        );
        assert_eq!(header["focus"][0]["reference"], APPOINTMENT_URL);
        let urls: Vec<&Value> = response["entry"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| &e["fullUrl"])
            .collect();
        for e in official["entry"].as_array().unwrap().iter().skip(1) {
            assert!(
                urls.contains(&&e["fullUrl"]),
                "{} is answered",
                e["fullUrl"]
            );
        }
        let appointment = persisted(&response);
        assert_ne!(
            appointment["id"], official["entry"][1]["resource"]["id"],
            "the id is the receiver's own"
        );
        assert_ne!(
            appointment["created"], "2021-10-11T15:01:30+00:00",
            "created is the receiver's, not the sender's"
        );
        assert_eq!(appointment["meta"]["versionId"], "1");
        assert_eq!(
            appointment["slot"][0]["reference"],
            format!("Slot/{}", slot["id"].as_str().unwrap()),
            "as in the official response: Slot/<receiver slot id>"
        );
        assert_eq!(appointment["description"], "Reason for calling-");
        assert_eq!(
            appointment["meta"]["profile"], original["entry"][1]["resource"]["meta"]["profile"],
            "the Appointment's profiles are kept"
        );
        // The patient is identified by NHS number, not by a reference that only the bundle resolves.
        assert_eq!(
            appointment["participant"][0]["actor"]["identifier"]["value"],
            "9476719931"
        );
        // The Slot the sender echoed (status busy) is returned as received; the receiver's own
        // record is what counts.
        let echoed_slot = response["entry"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["fullUrl"] == SLOT_URL)
            .unwrap();
        assert_eq!(echoed_slot["resource"]["status"], "busy");

        // The REST read returns the same appointment.
        let id = appointment["id"].as_str().unwrap();
        let read = rx.get(&format!("/Appointment/{id}")).send().await;
        assert_eq!(read.json().unwrap(), appointment);
        rx.stop().await;
    }
}
