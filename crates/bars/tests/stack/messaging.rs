//! A booking by FHIR message, through the proxy, like a BaRS Application sends it.

use http::Method;
use serde_json::{Value, json};

use crate::kit::*;

fn booking_request(service: &str, slot: &Value, nhs: &str) -> Value {
    let id = |n: &str| format!("urn:uuid:{n}");
    json!({
        "resourceType": "Bundle",
        "id": uuid::Uuid::new_v4().to_string(),
        "meta": { "versionId": "1.1.0", "lastUpdated": "2026-01-01T00:00:00+00:00", "profile": ["https://fhir.nhs.uk/StructureDefinition/BARSBundleMessage"] },
        "type": "message",
        "timestamp": "2026-01-01T00:00:00+00:00",
        "entry": [
            { "fullUrl": id("00000000-0000-4000-8000-000000000001"), "resource": {
                "resourceType": "MessageHeader",
                "meta": { "profile": ["https://fhir.nhs.uk/StructureDefinition/BARSMessageHeader-booking-request"] },
                "eventCoding": { "system": "https://fhir.nhs.uk/CodeSystem/message-events-bars", "code": "booking-request" },
                "destination": [{ "endpoint": format!("https://fhir.nhs.uk/Id/dos-service-id|{service}"), "receiver": { "reference": id("00000000-0000-4000-8000-000000000005") } }],
                "sender": { "reference": id("00000000-0000-4000-8000-000000000004") },
                "source": { "name": "Demo GP Practice", "endpoint": "https://fhir.nhs.uk/Id/dos-service-id|2999999999" },
                "reason": { "coding": [{ "system": "https://fhir.nhs.uk/CodeSystem/message-reason-bars", "code": "new" }] },
                "focus": [{ "reference": id("00000000-0000-4000-8000-000000000002") }],
                "definition": "https://fhir.nhs.uk/MessageDefinition/bars-message-booking-request"
            }},
            { "fullUrl": id("00000000-0000-4000-8000-000000000002"), "resource": {
                "resourceType": "Appointment",
                "meta": { "lastUpdated": "2026-01-01T00:00:00+00:00", "profile": ["https://fhir.hl7.org.uk/StructureDefinition/UKCore-Appointment"] },
                "status": "booked", "start": slot["start"], "end": slot["end"],
                "slot": [{ "reference": id("00000000-0000-4000-8000-000000000006") }],
                "participant": [{ "actor": { "reference": id("00000000-0000-4000-8000-000000000003") }, "status": "accepted" }]
            }},
            { "fullUrl": id("00000000-0000-4000-8000-000000000003"), "resource": {
                "resourceType": "Patient", "identifier": [{ "system": "https://fhir.nhs.uk/Id/nhs-number", "value": nhs }]
            }},
            { "fullUrl": id("00000000-0000-4000-8000-000000000004"), "resource": {
                "resourceType": "Organization", "identifier": [{ "system": "https://fhir.nhs.uk/Id/ods-organization-code", "value": SENDER_ODS }], "name": "Demo GP Practice"
            }},
            { "fullUrl": id("00000000-0000-4000-8000-000000000005"), "resource": {
                "resourceType": "Organization", "identifier": [{ "system": "https://fhir.nhs.uk/Id/ods-organization-code", "value": "RX001" }], "name": "Receiver 1"
            }},
            { "fullUrl": id("00000000-0000-4000-8000-000000000006"), "resource": slot },
            { "fullUrl": id("00000000-0000-4000-8000-000000000007"), "resource": {
                "resourceType": "Schedule", "id": slot["schedule"]["reference"].as_str().unwrap().trim_start_matches("Schedule/"),
                "actor": [{ "reference": format!("HealthcareService/{service}") }]
            }},
            { "fullUrl": id("00000000-0000-4000-8000-000000000008"), "resource": {
                "resourceType": "HealthcareService", "id": service, "identifier": [{ "system": "https://fhir.nhs.uk/Id/dos-service-id", "value": service }]
            }}
        ]
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_booking_by_message_through_the_proxy_books_and_keeps_its_pointer() {
    let stack = Stack::start(1).await;
    let service = stack.service(0, 0);
    let slot = stack.free_slots(&service).await.remove(0);
    let bundle = booking_request(&service, &slot, PATIENT);
    let r = stack
        .request(Method::POST, "/$process-message", Some(&service))
        .json(&bundle)
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let response = r.json().unwrap();
    assert_eq!(response["type"], "message");
    assert_eq!(
        response["entry"][0]["resource"]["response"]["identifier"],
        bundle["id"]
    );
    assert_eq!(response["entry"][0]["resource"]["response"]["code"], "ok");
    let appointment = response["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["resource"])
        .find(|r| r["resourceType"] == "Appointment")
        .unwrap();
    let id = appointment["id"].as_str().unwrap();
    // The same booking is visible over REST, its slot is taken, and its pointer arrives.
    let viewed = stack
        .request(Method::GET, &format!("/Appointment/{id}"), Some(&service))
        .send()
        .await
        .json()
        .unwrap();
    assert_eq!(
        viewed["slot"][0]["reference"],
        format!("Slot/{}", slot["id"].as_str().unwrap())
    );
    assert!(
        !stack
            .free_slots(&service)
            .await
            .iter()
            .any(|s| s["id"] == slot["id"])
    );
    stack.pointers_settled().await;
    assert_eq!(stack.pointers(PATIENT).await.len(), 1);
    // MessageDefinitions are discoverable through the proxy too.
    let defs = stack
        .request(
            Method::GET,
            &format!("/MessageDefinition?context=https://fhir.nhs.uk/Id/dos-service-id|{service}"),
            Some(&service),
        )
        .send()
        .await;
    assert_eq!(defs.status, 200);
    assert!(defs.json().unwrap()["total"].as_u64().unwrap() >= 2);
    stack.stop().await;
}
