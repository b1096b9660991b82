//! One target, one service: a request addressed to one of the receiver's services (by
//! `NHSD-Target-Identifier`, or a message's destination) neither sees nor changes another
//! service's slots and appointments. Each is answered exactly as something that does not exist,
//! and the access policy applied is that of the service owning what was touched.

use std::collections::BTreeSet;

use bars_http::client::ClientResponse;
use bars_receiver::access::AccessPolicy;
use serde_json::{Value, json};

use crate::helpers::*;
use crate::messaging;

/// What a sender can tell two answers apart by: status, FHIR issue code and BaRS code.
fn answer(r: &ClientResponse) -> (u16, Value, Value) {
    let body = r.json().unwrap_or(Value::Null);
    (
        r.status.as_u16(),
        body["issue"][0]["code"].clone(),
        body["issue"][0]["details"]["coding"][0]["code"].clone(),
    )
}

fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// `slot` with an id no slot has.
fn unknown_slot(slot: &Value) -> Value {
    let mut s = slot.clone();
    s["id"] = json!(new_id());
    s
}

async fn slot_ids(rx: &TestReceiver, service: &str, status: &str) -> BTreeSet<String> {
    rx.slots(service, status)
        .await
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect()
}

fn patient_search(nhs: &str) -> String {
    format!("/Appointment?patient:identifier=https://fhir.nhs.uk/Id/nhs-number|{nhs}")
}

/// Books `slot` addressed to `service`; the stored appointment.
async fn book_at(rx: &TestReceiver, service: &str, slot: &Value) -> Value {
    let r = rx
        .post("/Appointment")
        .to(service)
        .json(&appointment_for(slot, PATIENT))
        .send()
        .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    r.json().unwrap()
}

on_both! {
    #[tokio::test]
    async fn another_services_slot_is_booked_like_an_unknown_slot_and_stays_free(backend: Backend) {
        let rx = start(backend).await;
        rx.generate(SERVICE_A, 1).await;
        rx.generate(SERVICE_B, 1).await;
        let theirs = rx.slots(SERVICE_B, "free").await.remove(0);
        let id = theirs["id"].as_str().unwrap().to_string();

        let r = rx
            .post("/Appointment")
            .to(SERVICE_A)
            .json(&appointment_for(&theirs, PATIENT))
            .send()
            .await;
        let unknown = rx
            .post("/Appointment")
            .to(SERVICE_A)
            .json(&appointment_for(&unknown_slot(&theirs), PATIENT))
            .send()
            .await;
        assert_outcome(&unknown, 404, "not-found", "REC_NOT_FOUND");
        assert_eq!(answer(&r), answer(&unknown), "{}", String::from_utf8_lossy(&r.body));

        // Nothing changed: the slot is free and the patient has no appointment.
        assert!(slot_ids(&rx, SERVICE_B, "free").await.contains(&id));
        let found = rx.get(&patient_search(PATIENT)).send().await;
        assert_eq!(found.json().unwrap()["total"], 0);
        // Its own service books it.
        book_at(&rx, SERVICE_B, &theirs).await;
        assert!(slot_ids(&rx, SERVICE_B, "busy").await.contains(&id));
        rx.stop().await;
    }
}

/// Every REST request that names one appointment by id, for `id`.
fn requests_naming(rx: &TestReceiver, id: &str, stored: &Value) -> Vec<(&'static str, Req)> {
    let path = format!("/Appointment/{id}");
    let mut replaced = stored.clone();
    replaced["id"] = json!(id);
    replaced["description"] = json!("changed by someone else");
    let mut cancelled = replaced.clone();
    cancelled["status"] = json!("cancelled");
    let json_patch = json!([{ "op": "replace", "path": "/description", "value": "patched" }]);
    let fhirpath = json!({ "resourceType": "Parameters", "parameter": [{ "name": "operation", "part": [
        { "name": "type", "valueCode": "replace" },
        { "name": "path", "valueString": "Appointment.description" },
        { "name": "value", "valueString": "patched" }
    ]}]});
    let partial = json!({ "resourceType": "Appointment", "id": id, "description": "patched" });
    vec![
        ("read", rx.get(&path)),
        ("history", rx.get(&format!("{path}/_history"))),
        ("vread", rx.get(&format!("{path}/_history/1"))),
        ("put", rx.put(&path).json(&replaced)),
        ("put cancelled", rx.put(&path).json(&cancelled)),
        (
            "json patch",
            rx.patch(&path)
                .body_as("application/json-patch+json", json_patch.to_string()),
        ),
        ("fhirpath patch", rx.patch(&path).json(&fhirpath)),
        ("partial patch", rx.patch(&path).json(&partial)),
        (
            "put with if-match",
            rx.put(&path).header("if-match", "W/\"1\"").json(&replaced),
        ),
        ("delete", rx.delete(&path)),
    ]
}

on_both! {
    #[tokio::test]
    async fn another_services_appointment_is_answered_as_unknown_and_stays_unchanged(backend: Backend) {
        let rx = start(backend).await;
        rx.generate(SERVICE_A, 1).await;
        let slot = rx.slots(SERVICE_A, "free").await.remove(0);
        let ours = book_at(&rx, SERVICE_A, &slot).await;
        let id = ours["id"].as_str().unwrap().to_string();
        let nobody = new_id();

        let at_b = requests_naming(&rx, &id, &ours);
        let unknown_at_b = requests_naming(&rx, &nobody, &ours);
        let mut told_apart = Vec::new();
        for ((name, request), (_, unknown)) in at_b.into_iter().zip(unknown_at_b) {
            let r = request.to(SERVICE_B).send().await;
            let u = unknown.to(SERVICE_B).send().await;
            assert_eq!(
                answer(&u),
                (404, json!("not-found"), json!("REC_NOT_FOUND")),
                "{name}: an unknown appointment"
            );
            if answer(&r) != answer(&u) {
                told_apart.push(format!("{name}: {:?}", answer(&r)));
            }
        }
        assert!(told_apart.is_empty(), "answered unlike an unknown appointment: {told_apart:#?}");

        // Unchanged: the same version and status, its slot still held, one version in history.
        let r = rx.get(&format!("/Appointment/{id}")).to(SERVICE_A).send().await;
        assert_eq!(r.status, 200);
        assert_eq!(r.header("etag"), Some("W/\"1\""));
        assert_eq!(r.json().unwrap(), ours);
        let history = rx
            .get(&format!("/Appointment/{id}/_history"))
            .to(SERVICE_A)
            .send()
            .await;
        assert_eq!(history.json().unwrap()["total"], 1);
        assert!(slot_ids(&rx, SERVICE_A, "busy").await.contains(slot["id"].as_str().unwrap()));

        // Addressed to its own service, the same requests work.
        let r = rx.get(&format!("/Appointment/{id}/_history/1")).to(SERVICE_A).send().await;
        assert_eq!(r.status, 200);
        let r = rx.delete(&format!("/Appointment/{id}")).to(SERVICE_A).send().await;
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        rx.stop().await;
    }
}

on_both! {
    #[tokio::test]
    async fn appointment_search_lists_only_the_addressed_services_appointments(backend: Backend) {
        let rx = start(backend).await;
        rx.generate(SERVICE_A, 1).await;
        rx.generate(SERVICE_B, 1).await;
        let a = book_at(&rx, SERVICE_A, &rx.slots(SERVICE_A, "free").await[0]).await;
        let b = book_at(&rx, SERVICE_B, &rx.slots(SERVICE_B, "free").await[0]).await;

        let listed = |r: &ClientResponse| -> (Value, Vec<Value>) {
            let bundle = r.json().unwrap();
            let ids = bundle["entry"]
                .as_array()
                .map(|e| e.iter().map(|e| e["resource"]["id"].clone()).collect())
                .unwrap_or_default();
            (bundle["total"].clone(), ids)
        };
        let search = rx.get(&patient_search(PATIENT));
        let r = rx.get(&patient_search(PATIENT)).to(SERVICE_A).send().await;
        assert_eq!(listed(&r), (json!(1), vec![a["id"].clone()]));
        let r = rx.get(&patient_search(PATIENT)).to(SERVICE_B).send().await;
        assert_eq!(listed(&r), (json!(1), vec![b["id"].clone()]));
        let r = rx.get(&patient_search(PATIENT)).to("2000099999").send().await;
        assert_eq!(listed(&r), (json!(0), vec![]));
        // Unaddressed (only callers the receiver trusts directly): every service, as before.
        assert_eq!(listed(&search.send().await).0, json!(2));
        rx.stop().await;
    }
}

on_both! {
    #[tokio::test]
    async fn messages_cannot_book_or_change_across_services(backend: Backend) {
        let rx = start(backend).await;
        rx.generate(SERVICE_A, 1).await;
        rx.generate(SERVICE_B, 1).await;
        let slots = rx.slots(SERVICE_A, "free").await;
        let theirs = rx.slots(SERVICE_B, "free").await.remove(0);

        // Book: another service's slot is an unknown slot at the destination.
        let r = messaging::send(&rx, &messaging::booking(&theirs, PATIENT, SERVICE_A)).await;
        let unknown =
            messaging::send(&rx, &messaging::booking(&unknown_slot(&theirs), PATIENT, SERVICE_A)).await;
        assert_outcome(&unknown, 404, "not-found", "REC_NOT_FOUND");
        let mut told_apart = Vec::new();
        if answer(&r) != answer(&unknown) {
            told_apart.push(format!("book: {:?}", answer(&r)));
        }

        // Update and cancel: another service's appointment is an unknown appointment.
        let request = messaging::booking(&slots[0], PATIENT, SERVICE_A);
        let booked = messaging::persisted(&messaging::accepted(
            &request,
            &messaging::send(&rx, &request).await,
            SERVICE_A,
        ));
        let mut changed = booked.clone();
        changed["description"] = json!("changed by someone else");
        let mut nobody = changed.clone();
        nobody["id"] = json!(new_id());
        let cases = [
            (
                "update",
                messaging::update(&changed, &slots[0], PATIENT, SERVICE_B),
                messaging::update(&nobody, &slots[0], PATIENT, SERVICE_B),
            ),
            (
                "cancel",
                messaging::cancellation(&booked, PATIENT, SERVICE_B),
                messaging::cancellation(&nobody, PATIENT, SERVICE_B),
            ),
        ];
        for (name, message, unknown) in cases {
            let r = messaging::send(&rx, &message).await;
            let u = messaging::send(&rx, &unknown).await;
            assert_outcome(&u, 404, "not-found", "REC_NOT_FOUND");
            if answer(&r) != answer(&u) {
                told_apart.push(format!("{name}: {:?}", answer(&r)));
            }
        }
        assert!(told_apart.is_empty(), "answered unlike an unknown slot or appointment: {told_apart:#?}");
        assert!(slot_ids(&rx, SERVICE_B, "free").await.contains(theirs["id"].as_str().unwrap()));
        let id = booked["id"].as_str().unwrap();
        let r = rx.get(&format!("/Appointment/{id}")).send().await;
        let stored = r.json().unwrap();
        assert_eq!(
            (&stored["meta"]["versionId"], &stored["status"], &stored["description"]),
            (&json!("1"), &json!("booked"), &booked["description"])
        );
        rx.stop().await;
    }
}

on_both! {
    #[tokio::test]
    async fn the_access_policy_of_the_owning_service_applies(backend: Backend) {
        let rx = start_with(backend, |mut c| {
            c.service_access.insert(
                SERVICE_B.into(),
                AccessPolicy {
                    organisations: vec!["B2002".into()],
                    ..Default::default()
                },
            );
            c
        })
        .await;
        rx.generate(SERVICE_A, 1).await;
        rx.generate(SERVICE_B, 1).await;
        let refused = |r: &ClientResponse| assert_outcome(r, 401, "forbidden", "REC_UNAUTHORIZED");

        // Slot search: B's slots only for B2002; A's for anyone the receiver admits.
        refused(&rx.get(&rx.slot_query(SERVICE_B, "free")).send().await);
        refused(&rx.get(&rx.slot_query(SERVICE_B, "free")).to(SERVICE_B).send().await);
        assert_eq!(rx.get(&rx.slot_query(SERVICE_A, "free")).send().await.status, 200);
        let r = rx.get(&rx.slot_query(SERVICE_B, "free")).sent_by("B2002").send().await;
        assert_eq!(r.status, 200);
        let theirs: Vec<Value> = r.json().unwrap()["entry"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["search"]["mode"] == "match")
            .map(|e| e["resource"].clone())
            .collect();

        // Booking B's slot: refused by B's policy whether the request names B or no service at
        // all - the policy is the owner's, not the addressed one's.
        for request in [
            rx.post("/Appointment").json(&appointment_for(&theirs[0], PATIENT)),
            rx.post("/Appointment").to(SERVICE_B).json(&appointment_for(&theirs[0], PATIENT)),
        ] {
            refused(&request.send().await);
        }
        let r = rx.get(&rx.slot_query(SERVICE_B, "free")).sent_by("B2002").send().await;
        assert!(String::from_utf8_lossy(&r.body).contains(theirs[0]["id"].as_str().unwrap()), "still free");
        let r = rx
            .post("/Appointment")
            .to(SERVICE_B)
            .sent_by("B2002")
            .json(&appointment_for(&theirs[0], PATIENT))
            .send()
            .await;
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
        let id = r.json().unwrap()["id"].as_str().unwrap().to_string();
        let path = format!("/Appointment/{id}");

        // Its appointment: refused to A1001 by B's policy, unaddressed or addressed to B; not
        // found when addressed to A.
        refused(&rx.get(&path).send().await);
        refused(&rx.get(&path).to(SERVICE_B).send().await);
        refused(&rx.get(&format!("{path}/_history")).send().await);
        refused(&rx.delete(&path).send().await);
        assert_outcome(&rx.get(&path).to(SERVICE_A).send().await, 404, "not-found", "REC_NOT_FOUND");
        let r = rx.get(&path).sent_by("B2002").send().await;
        assert_eq!((r.status.as_u16(), r.json().unwrap()["status"].clone()), (200, json!("booked")));
        // A search spanning every service needs every service's consent; one at A does not.
        refused(&rx.get(&patient_search(PATIENT)).send().await);
        let r = rx.get(&patient_search(PATIENT)).to(SERVICE_A).send().await;
        assert_eq!(r.json().unwrap()["total"], 0);

        // A's slots and appointments are governed by the receiver's (open) policy alone.
        book_at(&rx, SERVICE_A, &rx.slots(SERVICE_A, "free").await[0]).await;
        rx.stop().await;
    }
}

on_both! {
    #[tokio::test]
    async fn practitioners_details_follow_the_services_own_policy(backend: Backend) {
        let rx = start_with(backend, |mut c| {
            c.service_access.insert(
                SERVICE_B.into(),
                AccessPolicy {
                    practitioner_details_for: vec!["B2002".into()],
                    ..Default::default()
                },
            );
            c
        })
        .await;
        let with_practitioners =
            |service: &str| format!("{}&_include=Schedule:actor:Practitioner", rx.slot_query(service, "free"));
        assert_outcome(
            &rx.get(&with_practitioners(SERVICE_B)).to(SERVICE_B).send().await,
            401,
            "forbidden",
            "REC_UNAUTHORIZED",
        );
        assert_eq!(rx.get(&rx.slot_query(SERVICE_B, "free")).to(SERVICE_B).send().await.status, 200);
        assert_eq!(rx.get(&with_practitioners(SERVICE_A)).to(SERVICE_A).send().await.status, 200);
        let r = rx.get(&with_practitioners(SERVICE_B)).to(SERVICE_B).sent_by("B2002").send().await;
        assert_eq!(r.status, 200);
        rx.stop().await;
    }
}

on_both! {
    #[tokio::test]
    async fn a_target_that_names_no_dos_service_is_refused_and_changes_nothing(backend: Backend) {
        let rx = start(backend).await;
        rx.generate(SERVICE_A, 1).await;
        let slot = rx.slots(SERVICE_A, "free").await.remove(0);
        let ods = bars_fhir::headers::TargetIdentifier::new(
            "https://fhir.nhs.uk/Id/ods-organization-code",
            "RX001",
        )
        .encode();
        for target in [ods.as_str(), "%%%not-base64", "{\"system\": \"x\"}"] {
            let with = |r: Req| r.header("nhsd-target-identifier", target);
            let cases = [
                ("book", with(rx.post("/Appointment")).json(&appointment_for(&slot, PATIENT))),
                ("message", with(rx.post("/$process-message")).json(&messaging::booking(&slot, PATIENT, SERVICE_A))),
                ("read", with(rx.get(&format!("/Appointment/{}", new_id())))),
                ("search", with(rx.get(&patient_search(PATIENT)))),
                ("slots", with(rx.get(&rx.slot_query(SERVICE_A, "free")))),
            ];
            for (name, request) in cases {
                let r = request.send().await;
                assert_eq!(
                    answer(&r),
                    (400, json!("value"), json!("REC_BAD_REQUEST")),
                    "{name} with {target}: {}",
                    String::from_utf8_lossy(&r.body)
                );
            }
        }
        assert!(slot_ids(&rx, SERVICE_A, "free").await.contains(slot["id"].as_str().unwrap()));
        // Without the header (a caller the receiver trusts directly), as before.
        assert_eq!(rx.book(&slot, PATIENT).await.status, 201);
        rx.stop().await;
    }
}

on_both! {
    #[tokio::test]
    async fn a_placeholder_belongs_to_the_service_it_was_created_at(backend: Backend) {
        let rx = start(backend).await;
        rx.generate(SERVICE_A, 1).await;
        rx.generate(SERVICE_B, 1).await;
        let ours = rx.slots(SERVICE_A, "free").await.remove(0);
        let theirs = rx.slots(SERVICE_B, "free").await.remove(0);
        let waitlist = json!({
            "resourceType": "Appointment",
            "meta": { "profile": ["https://fhir.hl7.org.uk/StructureDefinition/UKCore-Appointment"] },
            "status": "waitlist",
            "requestedPeriod": [{ "start": ours["start"], "end": ours["end"] }],
            "participant": [{ "actor": { "identifier": { "system": "https://fhir.nhs.uk/Id/nhs-number", "value": PATIENT } }, "status": "accepted" }]
        });
        let r = rx.post("/Appointment").to(SERVICE_A).json(&waitlist).send().await;
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
        let placeholder = r.json().unwrap();
        let path = format!("/Appointment/{}", placeholder["id"].as_str().unwrap());

        assert_outcome(&rx.get(&path).to(SERVICE_B).send().await, 404, "not-found", "REC_NOT_FOUND");
        assert_eq!(rx.get(&path).to(SERVICE_A).send().await.status, 200);
        let r = rx.get(&patient_search(PATIENT)).to(SERVICE_B).send().await;
        assert_eq!(r.json().unwrap()["total"], 0);

        // Booked into another service's slot: that slot is unknown at A.
        let book_into = |slot: &Value| {
            let mut booked = placeholder.clone();
            booked["status"] = json!("booked");
            booked["slot"] = json!([{ "reference": format!("Slot/{}", slot["id"].as_str().unwrap()) }]);
            booked["start"] = slot["start"].clone();
            booked["end"] = slot["end"].clone();
            booked
        };
        let r = rx.put(&path).to(SERVICE_A).json(&book_into(&theirs)).send().await;
        assert_outcome(&r, 404, "not-found", "REC_NOT_FOUND");
        assert!(slot_ids(&rx, SERVICE_B, "free").await.contains(theirs["id"].as_str().unwrap()));
        let r = rx.put(&path).to(SERVICE_A).json(&book_into(&ours)).send().await;
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        rx.stop().await;
    }
}
