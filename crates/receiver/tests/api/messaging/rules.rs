//! Section 6.3, step by step: each check in its order, with its status, issue code and BaRS
//! code, and each row of the workflow-variable table.

use serde_json::{Value, json};

use super::*;

/// Sends a message and expects the given refusal (the failing call's message names the case).
async fn refused(rx: &TestReceiver, message: &Value, status: u16, issue: &str, code: &str) {
    let r = send(rx, message).await;
    assert_outcome(&r, status, issue, code);
}

const BAD: &str = "REC_BAD_REQUEST";
const UNPROCESSABLE: &str = "REC_UNPROCESSABLE_ENTITY";

/// A booking message for the first free slot of SERVICE_A, and the slot.
async fn booking_for_a(rx: &TestReceiver) -> (Value, Value) {
    let slot = rx.slots(SERVICE_A, "free").await.remove(0);
    (booking(&slot, PATIENT, SERVICE_A), slot)
}

on_both! {
    #[tokio::test]
    async fn step_1_request_ids_as_for_rest(backend: Backend) {
        let rx = start(backend).await;
        rx.generate(SERVICE_A, 1).await;
        let (message, _) = booking_for_a(&rx).await;
        let r = rx
            .post("/$process-message")
            .without("x-request-id")
            .json(&message)
            .send()
            .await;
        assert_outcome(&r, 400, "required", BAD);
        let r = rx
            .post("/$process-message")
            .header("x-correlation-id", "nope")
            .json(&message)
            .send()
            .await;
        assert_outcome(&r, 400, "value", BAD);
        rx.stop().await;
    }
}

on_both! {
    #[tokio::test]
    async fn step_2_the_message_version(backend: Backend) {
        let rx = start(backend).await;
        rx.generate(SERVICE_A, 1).await;
        let (message, slot) = booking_for_a(&rx).await;

        let mut m = message.clone();
        m["meta"].as_object_mut().unwrap().remove("versionId");
        refused(&rx, &m, 400, "invariant", BAD).await;
        m["meta"]["versionId"] = json!("");
        refused(&rx, &m, 400, "invariant", BAD).await;
        for unsupported in ["2.0.0", "0.9.0", "latest"] {
            m["meta"]["versionId"] = json!(unsupported);
            refused(&rx, &m, 422, "not-supported", UNPROCESSABLE).await;
        }
        // The version is checked before anything else in the bundle.
        let mut broken = message.clone();
        broken["meta"]["versionId"] = json!("3.0.0");
        broken["type"] = json!("collection");
        refused(&rx, &broken, 422, "not-supported", UNPROCESSABLE).await;

        // Any 1.x is processed, pre-releases included (the official example's 1.0.0-alpha).
        let mut alpha = message.clone();
        alpha["meta"]["versionId"] = json!("1.0.0-alpha");
        accepted(&alpha, &send(&rx, &alpha).await, SERVICE_A);
        assert_eq!(slot_status(&rx, SERVICE_A, &slot["id"]).await, "busy");
        rx.stop().await;
    }
}

on_both! {
    #[tokio::test]
    async fn step_3_the_message_must_be_for_this_receiver(backend: Backend) {
        let rx = start(backend).await;
        rx.generate(SERVICE_A, 1).await;
        let (message, _) = booking_for_a(&rx).await;

        // A service this receiver does not host.
        let mut m = message.clone();
        header_mut(&mut m)["destination"][0]["endpoint"] = json!(format!("{DOS}|1111111111"));
        refused(&rx, &m, 422, "not-supported", UNPROCESSABLE).await;
        // Another identifier system.
        header_mut(&mut m)["destination"][0]["endpoint"] = json!(format!(
            "https://fhir.nhs.uk/Id/ods-organization-code|{SERVICE_A}"
        ));
        refused(&rx, &m, 422, "not-supported", UNPROCESSABLE).await;
        // A bare value is not an endpoint.
        header_mut(&mut m)["destination"][0]["endpoint"] = json!(SERVICE_A);
        refused(&rx, &m, 422, "not-supported", UNPROCESSABLE).await;
        // The receiver reference must resolve to an Organization entry...
        let mut m = message.clone();
        header_mut(&mut m)["destination"][0]["receiver"]["reference"] = json!("urn:uuid:nobody");
        refused(&rx, &m, 422, "not-supported", UNPROCESSABLE).await;
        header_mut(&mut m)["destination"][0]["receiver"]["reference"] = json!(PATIENT_URL);
        refused(&rx, &m, 422, "not-supported", UNPROCESSABLE).await;
        // ... which, when it names its ODS code, is this receiver's.
        let mut m = message.clone();
        resource_mut(&mut m, "Organization")["identifier"][0]["value"] = json!("ZZ999");
        refused(&rx, &m, 422, "not-supported", UNPROCESSABLE).await;
        // NHSD-Target-Identifier and the destination must agree.
        let target = bars_fhir::headers::TargetIdentifier::dos(SERVICE_B).encode();
        let r = rx
            .post("/$process-message")
            .header("nhsd-target-identifier", &target)
            .json(&message)
            .send()
            .await;
        assert_outcome(&r, 422, "not-supported", UNPROCESSABLE);
        // A header without a destination is malformed.
        let mut m = message.clone();
        header_mut(&mut m)
            .as_object_mut()
            .unwrap()
            .remove("destination");
        refused(&rx, &m, 400, "required", BAD).await;
        let mut m = message.clone();
        header_mut(&mut m)["destination"][0]
            .as_object_mut()
            .unwrap()
            .remove("receiver");
        refused(&rx, &m, 400, "required", BAD).await;
        // Not-for-me is judged before the structure.
        let mut m = message.clone();
        header_mut(&mut m)["destination"][0]["endpoint"] = json!(format!("{DOS}|1111111111"));
        m.as_object_mut().unwrap().remove("timestamp");
        refused(&rx, &m, 422, "not-supported", UNPROCESSABLE).await;

        // The http:// spelling of the official examples is the same system, and a receiving
        // Organization without an ODS code is accepted (the official example has none).
        let mut m = message.clone();
        header_mut(&mut m)["destination"][0]["endpoint"] =
            json!(format!("http://fhir.nhs.uk/Id/dos-service-id|{SERVICE_A}"));
        resource_mut(&mut m, "Organization")
            .as_object_mut()
            .unwrap()
            .remove("identifier");
        let r = rx
            .post("/$process-message")
            .header(
                "nhsd-target-identifier",
                &bars_fhir::headers::TargetIdentifier::dos(SERVICE_A).encode(),
            )
            .json(&m)
            .send()
            .await;
        accepted(&m, &r, SERVICE_A);
        rx.stop().await;
    }
}

on_both! {
    #[tokio::test]
    async fn step_4_the_bundle_against_its_message_definition(backend: Backend) {
        let rx = start(backend).await;
        rx.generate(SERVICE_A, 1).await;
        let (message, _) = booking_for_a(&rx).await;
        let edit = |f: &dyn Fn(&mut Value)| {
            let mut m = message.clone();
            f(&mut m);
            m
        };
        let remove = |m: &mut Value, key: &str| {
            m.as_object_mut().unwrap().remove(key);
        };
        let cases: Vec<(&str, Value, u16, &str, &str)> = vec![
            (
                "no Bundle.id",
                edit(&|m| remove(m, "id")),
                400,
                "required",
                BAD,
            ),
            (
                "type collection",
                edit(&|m| m["type"] = json!("collection")),
                400,
                "invariant",
                BAD,
            ),
            (
                "no type",
                edit(&|m| remove(m, "type")),
                400,
                "required",
                BAD,
            ),
            (
                "no timestamp",
                edit(&|m| remove(m, "timestamp")),
                400,
                "required",
                BAD,
            ),
            (
                "timestamp not an instant",
                edit(&|m| m["timestamp"] = json!("yesterday")),
                400,
                "value",
                BAD,
            ),
            (
                "MessageHeader not first",
                edit(&|m| m["entry"].as_array_mut().unwrap().swap(0, 1)),
                400,
                "invariant",
                BAD,
            ),
            (
                "a second MessageHeader",
                edit(&|m| {
                    let h = m["entry"][0].clone();
                    let mut h2 = h.clone();
                    h2["fullUrl"] = json!("urn:uuid:second-header");
                    m["entry"].as_array_mut().unwrap().push(h2);
                }),
                400,
                "invariant",
                BAD,
            ),
            (
                "an entry without fullUrl",
                edit(&|m| {
                    m["entry"][4].as_object_mut().unwrap().remove("fullUrl");
                }),
                400,
                "required",
                BAD,
            ),
            (
                "an entry without resource",
                edit(&|m| {
                    m["entry"][4].as_object_mut().unwrap().remove("resource");
                }),
                400,
                "required",
                BAD,
            ),
            (
                "duplicate fullUrls",
                edit(&|m| m["entry"][2]["fullUrl"] = json!(SLOT_URL)),
                400,
                "invariant",
                BAD,
            ),
            (
                "no eventCoding",
                edit(&|m| {
                    header_mut(m).as_object_mut().unwrap().remove("eventCoding");
                }),
                400,
                "required",
                BAD,
            ),
            (
                "no reason",
                edit(&|m| {
                    header_mut(m).as_object_mut().unwrap().remove("reason");
                }),
                400,
                "required",
                BAD,
            ),
            (
                "no source.endpoint",
                edit(&|m| {
                    header_mut(m)["source"]
                        .as_object_mut()
                        .unwrap()
                        .remove("endpoint");
                }),
                400,
                "required",
                BAD,
            ),
            (
                "no sender",
                edit(&|m| {
                    header_mut(m).as_object_mut().unwrap().remove("sender");
                }),
                400,
                "required",
                BAD,
            ),
            (
                "sender not an Organization",
                edit(&|m| header_mut(m)["sender"]["reference"] = json!(PATIENT_URL)),
                400,
                "invariant",
                BAD,
            ),
            (
                "no focus",
                edit(&|m| {
                    header_mut(m).as_object_mut().unwrap().remove("focus");
                }),
                400,
                "required",
                BAD,
            ),
            (
                "focus dangling",
                edit(&|m| header_mut(m)["focus"][0]["reference"] = json!("urn:uuid:gone")),
                400,
                "invariant",
                BAD,
            ),
            (
                "focus on the Patient",
                edit(&|m| header_mut(m)["focus"][0]["reference"] = json!(PATIENT_URL)),
                400,
                "invariant",
                BAD,
            ),
            (
                "an unknown definition",
                edit(&|m| {
                    header_mut(m)["definition"] = json!(
                        "https://fhir.nhs.uk/MessageDefinition/bars-message-servicerequest-request"
                    )
                }),
                422,
                "not-supported",
                UNPROCESSABLE,
            ),
            (
                "no Slot",
                edit(&|m| {
                    m["entry"]
                        .as_array_mut()
                        .unwrap()
                        .retain(|e| e["resource"]["resourceType"] != "Slot")
                }),
                400,
                "required",
                BAD,
            ),
            (
                "two Slots",
                edit(&|m| {
                    let mut s = m["entry"][5].clone();
                    s["fullUrl"] = json!("urn:uuid:another-slot");
                    m["entry"].as_array_mut().unwrap().push(s);
                }),
                400,
                "invariant",
                BAD,
            ),
            (
                "no Schedule",
                edit(&|m| {
                    m["entry"]
                        .as_array_mut()
                        .unwrap()
                        .retain(|e| e["resource"]["resourceType"] != "Schedule")
                }),
                400,
                "required",
                BAD,
            ),
            (
                "no HealthcareService",
                edit(&|m| {
                    m["entry"]
                        .as_array_mut()
                        .unwrap()
                        .retain(|e| e["resource"]["resourceType"] != "HealthcareService")
                }),
                400,
                "required",
                BAD,
            ),
            (
                "no Patient",
                edit(&|m| {
                    m["entry"]
                        .as_array_mut()
                        .unwrap()
                        .retain(|e| e["resource"]["resourceType"] != "Patient")
                }),
                400,
                "required",
                BAD,
            ),
            (
                "one Organization",
                edit(&|m| {
                    m["entry"]
                        .as_array_mut()
                        .unwrap()
                        .retain(|e| e["fullUrl"] != SENDING_ORG_URL)
                }),
                // The sender reference no longer resolves: caught first, as a broken header.
                400,
                "invariant",
                BAD,
            ),
            (
                "two Appointments",
                edit(&|m| {
                    let mut a = m["entry"][1].clone();
                    a["fullUrl"] = json!("urn:uuid:another-appointment");
                    m["entry"].as_array_mut().unwrap().push(a);
                }),
                400,
                "invariant",
                BAD,
            ),
        ];
        for (what, m, status, issue, code) in &cases {
            let r = send(&rx, m).await;
            let body = r.json().unwrap_or(Value::Null);
            assert_eq!(r.status.as_u16(), *status, "{what}: {body}");
            assert_eq!(body["issue"][0]["code"], *issue, "{what}: {body}");
            assert_eq!(
                body["issue"][0]["details"]["coding"][0]["code"], *code,
                "{what}"
            );
        }

        // Organizations: at least two, whoever they are.
        let mut m = message.clone();
        header_mut(&mut m)["sender"]["reference"] = json!(RECEIVING_ORG_URL);
        m["entry"]
            .as_array_mut()
            .unwrap()
            .retain(|e| e["fullUrl"] != SENDING_ORG_URL);
        refused(&rx, &m, 400, "required", BAD).await;

        // Resource types the definition does not list are tolerated.
        let mut m = message.clone();
        m["entry"].as_array_mut().unwrap().push(json!({
            "fullUrl": "urn:uuid:encounter",
            "resource": { "resourceType": "Encounter", "status": "finished" }
        }));
        accepted(&m, &send(&rx, &m).await, SERVICE_A);
        rx.stop().await;
    }
}

on_both! {
    #[tokio::test]
    async fn step_5_the_use_case_must_be_supported_by_the_destination(backend: Backend) {
        let rx = start_with(backend, |mut c| {
            c.services[1].use_cases = vec!["a1t1".into()];
            c
        })
        .await;
        rx.generate(SERVICE_A, 1).await;
        rx.generate(SERVICE_B, 1).await;
        let use_case = |code: &str| json!([{ "coding": [{ "system": USE_CASES, "code": code }] }]);

        // SERVICE_A lists no use cases: generic bookings only.
        let (mut m, _) = booking_for_a(&rx).await;
        appointment_mut(&mut m)["serviceCategory"] = use_case("a1t1");
        refused(&rx, &m, 422, "not-supported", UNPROCESSABLE).await;

        // SERVICE_B supports a1t1, not a2t1.
        let slot = rx.slots(SERVICE_B, "free").await.remove(0);
        let mut m = booking(&slot, PATIENT, SERVICE_B);
        appointment_mut(&mut m)["serviceCategory"] = use_case("a2t1");
        refused(&rx, &m, 422, "not-supported", UNPROCESSABLE).await;
        // The use case is judged before the workflow variables.
        header_mut(&mut m)["eventCoding"]["code"] = json!("booking-response");
        refused(&rx, &m, 422, "not-supported", UNPROCESSABLE).await;

        let mut m = booking(&slot, PATIENT, SERVICE_B);
        appointment_mut(&mut m)["serviceCategory"] = use_case("a1t1");
        let booked = persisted(&accepted(&m, &send(&rx, &m).await, SERVICE_B));
        assert_eq!(booked["serviceCategory"][0]["coding"][0]["code"], "a1t1");
        rx.stop().await;
    }
}

on_both! {
    #[tokio::test]
    async fn step_6_the_workflow_variable_table(backend: Backend) {
        let rx = start(backend).await;
        rx.generate(SERVICE_A, 1).await;
        let slots = rx.slots(SERVICE_A, "free").await;
        let set = |m: &mut Value, event: &str, reason: &str, status: &str| {
            header_mut(m)["eventCoding"]["code"] = json!(event);
            header_mut(m)["reason"]["coding"][0]["code"] = json!(reason);
            appointment_mut(m)["status"] = json!(status);
        };

        // Rows that are refused, whatever the rest of the message.
        let base = booking(&slots[0], PATIENT, SERVICE_A);
        for (event, reason, status) in [
            ("booking-request", "new", "cancelled"),
            ("booking-request", "new", "proposed"),
            ("booking-request", "new", "waitlist"),
            ("booking-request", "update", "proposed"),
            ("booking-request", "update", "arrived"),
            ("booking-request", "delete", "booked"),
            ("booking-request", "rebook", "booked"),
            ("booking-response", "new", "booked"),
            ("booking-response", "update", "cancelled"),
            ("servicerequest-request", "new", "booked"),
            ("something-else", "new", "booked"),
        ] {
            let mut m = base.clone();
            set(&mut m, event, reason, status);
            header_mut(&mut m)
                .as_object_mut()
                .unwrap()
                .remove("definition");
            let r = send(&rx, &m).await;
            let body = r.json().unwrap();
            assert_eq!(
                (r.status.as_u16(), body["issue"][0]["code"].as_str()),
                (400, Some("invariant")),
                "{event} {reason} {status}: {body}"
            );
            assert_eq!(body["issue"][0]["details"]["coding"][0]["code"], BAD);
        }
        // An event from another system is "anything else".
        let mut m = base.clone();
        header_mut(&mut m)["eventCoding"]["system"] = json!("https://example.org/events");
        refused(&rx, &m, 400, "invariant", BAD).await;
        // A definition that contradicts the workflow.
        let mut m = base.clone();
        header_mut(&mut m)["definition"] = json!(BOOKING_CANCELLED);
        refused(&rx, &m, 400, "invariant", BAD).await;
        assert_eq!(slot_status(&rx, SERVICE_A, &slots[0]["id"]).await, "free");

        // booking-request + new + booked: a new booking if the slot is free, else 409.
        accepted(&base, &send(&rx, &base).await, SERVICE_A);
        let taken = booking(&slots[0], OTHER_PATIENT, SERVICE_A);
        refused(&rx, &taken, 409, "conflict", "REC_CONFLICT").await;

        // booking-request + update + booked: an update (the id is required, and must exist).
        let second = booking(&slots[1], PATIENT, SERVICE_A);
        let booked = persisted(&accepted(&second, &send(&rx, &second).await, SERVICE_A));
        let mut no_id = booked.clone();
        no_id.as_object_mut().unwrap().remove("id");
        refused(
            &rx,
            &update(&no_id, &slots[1], PATIENT, SERVICE_A),
            400,
            "required",
            BAD,
        )
        .await;
        let mut bad_id = booked.clone();
        bad_id["id"] = json!("not-a-uuid");
        refused(
            &rx,
            &update(&bad_id, &slots[1], PATIENT, SERVICE_A),
            400,
            "value",
            BAD,
        )
        .await;
        let mut unknown = booked.clone();
        unknown["id"] = json!(uuid::Uuid::new_v4().to_string());
        refused(
            &rx,
            &update(&unknown, &slots[1], PATIENT, SERVICE_A),
            404,
            "not-found",
            "REC_NOT_FOUND",
        )
        .await;
        // Step 7: a sender that did not read the latest version conflicts.
        let mut stale = booked.clone();
        stale["meta"]["lastUpdated"] = json!("2021-10-11T15:01:30+00:00");
        refused(
            &rx,
            &update(&stale, &slots[1], PATIENT, SERVICE_A),
            409,
            "conflict",
            "REC_CONFLICT",
        )
        .await;
        // Rescheduling by update message: to a free slot moves the booking, to a taken one is 409.
        let mut moved = booked.clone();
        moved["slot"] = json!([{ "reference": SLOT_URL }]);
        moved["start"] = slots[2]["start"].clone();
        moved["end"] = slots[2]["end"].clone();
        let m = update(&moved, &slots[2], PATIENT, SERVICE_A);
        let v2 = persisted(&accepted(&m, &send(&rx, &m).await, SERVICE_A));
        assert_eq!(v2["meta"]["versionId"], "2");
        assert_eq!(slot_status(&rx, SERVICE_A, &slots[1]["id"]).await, "free");
        assert_eq!(slot_status(&rx, SERVICE_A, &slots[2]["id"]).await, "busy");
        let mut onto_taken = v2.clone();
        onto_taken["slot"] = json!([{ "reference": SLOT_URL }]);
        onto_taken["start"] = slots[0]["start"].clone();
        onto_taken["end"] = slots[0]["end"].clone();
        refused(
            &rx,
            &update(&onto_taken, &slots[0], PATIENT, SERVICE_A),
            409,
            "conflict",
            "REC_CONFLICT",
        )
        .await;

        // booking-request + delete + entered-in-error: a cancellation too (delete is tolerated).
        let mut m = cancellation(&v2, PATIENT, SERVICE_A);
        header_mut(&mut m)["reason"]["coding"][0]["code"] = json!("delete");
        appointment_mut(&mut m)["status"] = json!("entered-in-error");
        let v3 = persisted(&accepted(&m, &send(&rx, &m).await, SERVICE_A));
        assert_eq!(v3["status"], "entered-in-error");
        assert_eq!(slot_status(&rx, SERVICE_A, &slots[2]["id"]).await, "free");
        // Cancelling what is no longer current is 409; cancelling what does not exist is 404.
        refused(
            &rx,
            &cancellation(&v3, PATIENT, SERVICE_A),
            409,
            "conflict",
            "REC_CONFLICT",
        )
        .await;
        refused(
            &rx,
            &cancellation(&unknown, PATIENT, SERVICE_A),
            404,
            "not-found",
            "REC_NOT_FOUND",
        )
        .await;
        // The sample cancellation's reason new is refused (section 9 item 15).
        let mut m = cancellation(&v3, PATIENT, SERVICE_A);
        header_mut(&mut m)["reason"]["coding"][0]["code"] = json!("new");
        refused(&rx, &m, 400, "invariant", BAD).await;
        rx.stop().await;
    }
}

on_both! {
    #[tokio::test]
    async fn slots_and_patients_are_the_receivers_own(backend: Backend) {
        let rx = start(backend).await;
        rx.generate(SERVICE_A, 1).await;
        rx.generate(SERVICE_B, 1).await;
        let (message, slot) = booking_for_a(&rx).await;

        // A Slot entry without an id names no slot here; an unknown id is not found either.
        let mut m = message.clone();
        resource_mut(&mut m, "Slot")
            .as_object_mut()
            .unwrap()
            .remove("id");
        refused(&rx, &m, 404, "not-found", "REC_NOT_FOUND").await;
        let mut m = message.clone();
        resource_mut(&mut m, "Slot")["id"] = json!(uuid::Uuid::new_v4().to_string());
        refused(&rx, &m, 404, "not-found", "REC_NOT_FOUND").await;
        // The appointment's slot reference must resolve to the Slot entry.
        let mut m = message.clone();
        appointment_mut(&mut m)["slot"][0]["reference"] = json!("urn:uuid:elsewhere");
        refused(&rx, &m, 400, "invariant", BAD).await;
        // A slot of another service than the destination is not found there.
        let other = rx.slots(SERVICE_B, "free").await.remove(0);
        let m = booking(&other, PATIENT, SERVICE_A);
        refused(&rx, &m, 404, "not-found", "REC_NOT_FOUND").await;
        // A patient without an NHS number cannot be booked (as on REST); a bad one is a bad value.
        let mut m = message.clone();
        resource_mut(&mut m, "Patient")
            .as_object_mut()
            .unwrap()
            .remove("identifier");
        refused(&rx, &m, 422, "business-rule", UNPROCESSABLE).await;
        let mut m = message.clone();
        resource_mut(&mut m, "Patient")["identifier"][0]["value"] = json!("1234567890");
        let r = send(&rx, &m).await;
        assert_outcome(&r, 400, "value", BAD);
        assert!(
            !String::from_utf8_lossy(&r.body).contains("1234567890"),
            "diagnostics never repeat an NHS number"
        );
        // The Appointment itself is validated as on REST (here: no UK Core profile).
        let mut m = message.clone();
        appointment_mut(&mut m)["meta"]
            .as_object_mut()
            .unwrap()
            .remove("profile");
        refused(&rx, &m, 400, "required", BAD).await;
        // An appointment outside its slot (the official example's defect) is refused as on REST.
        let mut m = message.clone();
        appointment_mut(&mut m)["start"] = json!("2021-10-12T12:30:30+00:00");
        appointment_mut(&mut m)["end"] = json!("2021-10-12T12:40:30+00:00");
        refused(&rx, &m, 400, "invariant", BAD).await;
        assert_eq!(slot_status(&rx, SERVICE_A, &slot["id"]).await, "free");

        // An update addressed to another service than the appointment's: not found there.
        let booked = persisted(&accepted(&message, &send(&rx, &message).await, SERVICE_A));
        refused(
            &rx,
            &cancellation(&booked, PATIENT, SERVICE_B),
            404,
            "not-found",
            "REC_NOT_FOUND",
        )
        .await;
        let mut unslotted = booked.clone();
        unslotted.as_object_mut().unwrap().remove("slot");
        refused(
            &rx,
            &cancellation(&unslotted, PATIENT, SERVICE_B),
            404,
            "not-found",
            "REC_NOT_FOUND",
        )
        .await;
        assert_eq!(slot_status(&rx, SERVICE_A, &slot["id"]).await, "busy");
        rx.stop().await;
    }
}
