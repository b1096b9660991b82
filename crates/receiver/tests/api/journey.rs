//! The whole Appointment Management Foundation journey against one receiver.

use serde_json::{Value, json};

use crate::helpers::*;

fn slot_status(slots: &[Value], id: &str) -> Option<String> {
    slots
        .iter()
        .find(|s| s["id"] == id)
        .map(|s| s["status"].as_str().unwrap().to_string())
}

async fn status_of(rx: &TestReceiver, slot_id: &str) -> String {
    let free = rx.slots(SERVICE_A, "free,busy").await;
    slot_status(&free, slot_id).unwrap_or_else(|| panic!("slot {slot_id} not found"))
}

on_both! {
    #[tokio::test]
    async fn search_book_view_update_reschedule_cancel_rebook(backend: Backend) {
        let rx = start(backend).await;
        assert_eq!(rx.generate(SERVICE_A, 1).await, 24);

        // Search: a searchset of free slots with the schedule and the service included.
        let r = rx.get(&rx.slot_query(SERVICE_A, "free")).send().await;
        assert_eq!(r.status, 200);
        let bundle = r.json().unwrap();
        assert_eq!(bundle["type"], "searchset");
        assert_eq!(bundle["total"], 24, "total counts matches only");
        assert!(
            bundle["link"][0]["url"]
                .as_str()
                .unwrap()
                .starts_with(&format!("{}/Slot?", rx.base))
        );
        let entries = bundle["entry"].as_array().unwrap();
        assert!(
            entries.iter().any(
                |e| e["resource"]["resourceType"] == "Schedule" && e["search"]["mode"] == "include"
            )
        );
        assert!(
            entries
                .iter()
                .any(|e| e["resource"]["resourceType"] == "HealthcareService"
                    && e["resource"]["identifier"][0]["value"] == SERVICE_A)
        );
        let slots = rx.slots(SERVICE_A, "free").await;
        let (first, second, third) = (&slots[0], &slots[1], &slots[2]);
        assert_eq!(
            first["meta"]["profile"][0],
            "https://fhir.hl7.org.uk/StructureDefinition/UKCore-Slot"
        );

        // Book.
        let r = rx.book(first, PATIENT).await;
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
        let booked = r.json().unwrap();
        let id = booked["id"].as_str().unwrap().to_string();
        assert_eq!(booked["meta"]["versionId"], "1");
        assert!(booked["created"].is_string());
        assert_eq!(r.header("etag"), Some("W/\"1\""));
        assert_eq!(
            r.header("location"),
            Some(format!("{}/Appointment/{id}/_history/1", rx.base).as_str())
        );
        assert!(r.header("last-modified").unwrap().ends_with("GMT"));
        assert_eq!(status_of(&rx, first["id"].as_str().unwrap()).await, "busy");

        // View.
        let r = rx.get(&format!("/Appointment/{id}")).send().await;
        assert_eq!(r.status, 200);
        assert_eq!(r.json().unwrap(), booked);
        assert_eq!(r.header("etag"), Some("W/\"1\""));

        // Search by patient.
        let r = rx
            .get(&format!(
                "/Appointment?patient:identifier=https://fhir.nhs.uk/Id/nhs-number|{PATIENT}"
            ))
            .send()
            .await;
        assert_eq!(r.status, 200);
        let found = r.json().unwrap();
        assert_eq!(found["total"], 1);
        assert_eq!(found["entry"][0]["resource"]["id"], id.as_str());
        assert_eq!(found["entry"][0]["search"]["mode"], "match");
        let none = rx
            .get(&format!(
                "/Appointment?patient:identifier=https://fhir.nhs.uk/Id/nhs-number|{OTHER_PATIENT}"
            ))
            .send()
            .await;
        assert_eq!(none.json().unwrap()["total"], 0);

        // PUT with If-Match: read, change, write.
        let mut changed = booked.clone();
        changed["description"] = json!("Patient prefers a call back first");
        let r = rx
            .put(&format!("/Appointment/{id}"))
            .header("if-match", "W/\"1\"")
            .json(&changed)
            .send()
            .await;
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        let v2 = r.json().unwrap();
        assert_eq!(v2["meta"]["versionId"], "2");
        assert_eq!(v2["description"], "Patient prefers a call back first");
        assert_eq!(
            v2["created"], booked["created"],
            "created is the receiver's and never changes"
        );

        // PATCH reschedule in each form: JSON Patch, FHIRPath Patch, BaRS partial Appointment.
        let json_patch = json!([
            { "op": "replace", "path": "/slot/0/reference", "value": format!("Slot/{}", second["id"].as_str().unwrap()) },
            { "op": "replace", "path": "/start", "value": second["start"] },
            { "op": "replace", "path": "/end", "value": second["end"] }
        ]);
        let r = rx
            .patch(&format!("/Appointment/{id}"))
            .header("if-match", "W/\"2\"")
            .body_as("application/json-patch+json", json_patch.to_string())
            .send()
            .await;
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        assert_eq!(r.json().unwrap()["meta"]["versionId"], "3");
        assert_eq!(status_of(&rx, first["id"].as_str().unwrap()).await, "free");
        assert_eq!(status_of(&rx, second["id"].as_str().unwrap()).await, "busy");

        let op = |ty: &str, path: &str, value: Value| {
            json!({ "name": "operation", "part": [
                { "name": "type", "valueCode": ty }, { "name": "path", "valueString": path }, { "name": "value", "valueInstant": value }
            ]})
        };
        let fhirpath = json!({ "resourceType": "Parameters", "parameter": [
            { "name": "operation", "part": [
                { "name": "type", "valueCode": "replace" }, { "name": "path", "valueString": "Appointment.slot[0]" },
                { "name": "value", "valueReference": { "reference": format!("Slot/{}", third["id"].as_str().unwrap()) } }
            ]},
            op("replace", "Appointment.start", third["start"].clone()),
            op("replace", "Appointment.end", third["end"].clone()),
        ]});
        let r = rx
            .patch(&format!("/Appointment/{id}"))
            .header("if-match", "W/\"3\"")
            .json(&fhirpath)
            .send()
            .await;
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        assert_eq!(status_of(&rx, second["id"].as_str().unwrap()).await, "free");
        assert_eq!(status_of(&rx, third["id"].as_str().unwrap()).await, "busy");

        let v4 = r.json().unwrap();
        let partial = json!({
            "resourceType": "Appointment", "id": id, "meta": { "lastUpdated": v4["meta"]["lastUpdated"] },
            "status": "booked", "slot": [{ "reference": format!("Slot/{}", first["id"].as_str().unwrap()) }],
            "start": first["start"], "end": first["end"]
        });
        let r = rx
            .patch(&format!("/Appointment/{id}"))
            .json(&partial)
            .send()
            .await;
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        let v5 = r.json().unwrap();
        assert_eq!(v5["meta"]["versionId"], "5");
        assert_eq!(
            v5["description"], "Patient prefers a call back first",
            "a partial PATCH keeps what it does not mention"
        );
        assert_eq!(status_of(&rx, third["id"].as_str().unwrap()).await, "free");
        assert_eq!(status_of(&rx, first["id"].as_str().unwrap()).await, "busy");

        // Cancel (PUT status cancelled): the slot is free again.
        let mut cancel = v5.clone();
        cancel["status"] = json!("cancelled");
        let r = rx
            .put(&format!("/Appointment/{id}"))
            .json(&cancel)
            .send()
            .await;
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        assert_eq!(r.json().unwrap()["status"], "cancelled");
        assert_eq!(status_of(&rx, first["id"].as_str().unwrap()).await, "free");

        // Rebook: a new appointment that replaces the cancelled one.
        let mut rebook = appointment_for(second, PATIENT);
        rebook["replaces"] = json!([{ "reference": format!("Appointment/{id}") }]);
        let r = rx.post("/Appointment").json(&rebook).send().await;
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
        let new = r.json().unwrap();
        assert_eq!(new["replaces"][0]["reference"], format!("Appointment/{id}"));
        assert_eq!(status_of(&rx, second["id"].as_str().unwrap()).await, "busy");

        // Every version is kept and readable.
        let r = rx.get(&format!("/Appointment/{id}/_history")).send().await;
        assert_eq!(r.json().unwrap()["total"], 6);
        let r = rx
            .get(&format!("/Appointment/{id}/_history/2"))
            .send()
            .await;
        assert_eq!(
            r.json().unwrap()["description"],
            "Patient prefers a call back first"
        );
        assert_eq!(r.header("etag"), Some("W/\"2\""));
        rx.stop().await;
    }
}

on_both! {
    #[tokio::test]
    async fn rebook_is_accepted_book_first_too(backend: Backend) {
        let rx = start(backend).await;
        rx.generate(SERVICE_A, 1).await;
        let slots = rx.slots(SERVICE_A, "free").await;
        let old = rx.book(&slots[0], PATIENT).await.json().unwrap();
        let old_id = old["id"].as_str().unwrap();

        // Book the new one first: for a moment the patient has two bookings.
        let mut rebook = appointment_for(&slots[1], PATIENT);
        rebook["replaces"] = json!([{ "reference": format!("Appointment/{old_id}") }]);
        let r = rx.post("/Appointment").json(&rebook).send().await;
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));

        // Then cancel the old one with DELETE (a logical cancel).
        let r = rx.delete(&format!("/Appointment/{old_id}")).send().await;
        assert_eq!(r.status, 200);
        let outcome = r.json().unwrap();
        assert_eq!(outcome["resourceType"], "OperationOutcome");
        assert_eq!(outcome["issue"][0]["severity"], "information");
        let kept = rx
            .get(&format!("/Appointment/{old_id}"))
            .send()
            .await
            .json()
            .unwrap();
        assert_eq!(
            kept["status"], "cancelled",
            "DELETE never removes the record"
        );
        let free = rx.slots(SERVICE_A, "free").await;
        assert!(free.iter().any(|s| s["id"] == slots[0]["id"]));

        // Replacing another patient's booking, or one that does not exist, is refused.
        let mut foreign = appointment_for(&slots[2], OTHER_PATIENT);
        foreign["replaces"] = json!([{ "reference": format!("Appointment/{old_id}") }]);
        assert_outcome(
            &rx.post("/Appointment").json(&foreign).send().await,
            400,
            "value",
            "REC_BAD_REQUEST",
        );
        let mut ghost = appointment_for(&slots[2], PATIENT);
        ghost["replaces"] = json!([{ "reference": format!("Appointment/{}", uuid::Uuid::new_v4()) }]);
        assert_outcome(
            &rx.post("/Appointment").json(&ghost).send().await,
            400,
            "value",
            "REC_BAD_REQUEST",
        );
        rx.stop().await;
    }
}

on_both! {
    #[tokio::test]
    async fn waitlist_placeholder_needs_no_slot_and_books_later(backend: Backend) {
        let rx = start(backend).await;
        rx.generate(SERVICE_A, 1).await;
        let slots = rx.slots(SERVICE_A, "free").await;
        let waitlist = json!({
            "resourceType": "Appointment",
            "meta": { "profile": ["https://fhir.hl7.org.uk/StructureDefinition/UKCore-Appointment"] },
            "status": "waitlist",
            "requestedPeriod": [{ "start": slots[0]["start"], "end": slots[5]["end"] }],
            "participant": [{ "actor": { "identifier": { "system": "https://fhir.nhs.uk/Id/nhs-number", "value": PATIENT } }, "status": "accepted" }]
        });
        let r = rx.post("/Appointment").json(&waitlist).send().await;
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
        let placeholder = r.json().unwrap();
        let id = placeholder["id"].as_str().unwrap();

        let mut booked = placeholder.clone();
        booked["status"] = json!("booked");
        booked["slot"] = json!([{ "reference": format!("Slot/{}", slots[3]["id"].as_str().unwrap()) }]);
        booked["start"] = slots[3]["start"].clone();
        booked["end"] = slots[3]["end"].clone();
        let r = rx
            .put(&format!("/Appointment/{id}"))
            .json(&booked)
            .send()
            .await;
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        let busy = rx.slots(SERVICE_A, "busy").await;
        assert_eq!(busy.len(), 1);
        assert_eq!(busy[0]["id"], slots[3]["id"]);
        rx.stop().await;
    }
}

on_both! {
    #[tokio::test]
    async fn times_sent_with_an_offset_are_stored_in_utc(backend: Backend) {
        let rx = start(backend).await;
        rx.generate(SERVICE_A, 1).await;
        let slot = &rx.slots(SERVICE_A, "free").await[0];
        let start = bars_fhir::Instant::parse(slot["start"].as_str().unwrap()).unwrap();
        let end = bars_fhir::Instant::parse(slot["end"].as_str().unwrap()).unwrap();
        // Write the same instants at +01:00.
        let shift = |i: bars_fhir::Instant| {
            let t = i
                .to_offset_date_time()
                .to_offset(time::UtcOffset::from_hms(1, 0, 0).unwrap());
            format!(
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}+01:00",
                t.year(),
                u8::from(t.month()),
                t.day(),
                t.hour(),
                t.minute(),
                t.second()
            )
        };
        let mut a = appointment_for(slot, PATIENT);
        a["start"] = json!(shift(start));
        a["end"] = json!(shift(end));
        let r = rx.post("/Appointment").json(&a).send().await;
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
        assert_eq!(r.json().unwrap()["start"], slot["start"]);
        rx.stop().await;
    }
}
