//! Booking by FHIR message: `POST /$process-message` and `GET /MessageDefinition`.
//!
//! This module builds the message Bundles a BaRS sender sends and checks the synchronous
//! response against section 6.4; the submodules hold the tests.

mod definitions;
mod fixture;
mod journey;
mod junk;
mod rules;

use bars_http::client::ClientResponse;
use serde_json::{Value, json};

use crate::helpers::*;

pub const HEADER_URL: &str = "urn:uuid:c5957fdd-097b-409d-a406-49c52ceef2cd";
pub const APPOINTMENT_URL: &str = "urn:uuid:aca94bdb-2e38-4399-9ece-2ba083ce65b5";
pub const PATIENT_URL: &str = "urn:uuid:788660eb-d2c9-4773-abd4-318484673fb2";
pub const RECEIVING_ORG_URL: &str = "urn:uuid:43a42f7a-a6f2-42a5-a8f0-fc85abf8c3fa";
pub const SENDING_ORG_URL: &str = "urn:uuid:6324587b-eb70-4333-9db2-22d48f64c9ba";
pub const SLOT_URL: &str = "urn:uuid:deb4c4b3-870b-4599-84df-5e54cef7afda";
pub const SCHEDULE_URL: &str = "urn:uuid:3a62607b-df65-4932-940c-14262787f62d";
pub const SERVICE_URL: &str = "urn:uuid:e5fd53eb-7b1d-496d-bbf8-5c9dc7bd761b";

pub const DOS: &str = "https://fhir.nhs.uk/Id/dos-service-id";
pub const SENDER_ENDPOINT: &str = "https://fhir.nhs.uk/Id/dos-service-id|2000099999";
pub const EVENTS: &str = "https://fhir.nhs.uk/CodeSystem/message-events-bars";
pub const REASONS: &str = "https://fhir.nhs.uk/CodeSystem/message-reason-bars";
pub const BOOKING_REQUEST: &str =
    "https://fhir.nhs.uk/MessageDefinition/bars-message-booking-request";
pub const BOOKING_CANCELLED: &str =
    "https://fhir.nhs.uk/MessageDefinition/bars-message-booking-request-cancelled";
pub const USE_CASES: &str = "https://fhir.nhs.uk/CodeSystem/usecases-categories-bars";

const LAST_UPDATED: &str = "2021-10-11T15:01:30+00:00";

fn entry(full_url: &str, resource: Value) -> Value {
    json!({ "fullUrl": full_url, "resource": resource })
}

fn header(service: &str, reason: &str, definition: &str) -> Value {
    json!({
        "resourceType": "MessageHeader",
        "meta": { "lastUpdated": LAST_UPDATED, "profile": ["https://fhir.nhs.uk/StructureDefinition/BARSMessageHeader-booking-request"] },
        "eventCoding": { "system": EVENTS, "code": "booking-request" },
        "destination": [{ "endpoint": format!("{DOS}|{service}"), "receiver": { "reference": RECEIVING_ORG_URL } }],
        "sender": { "reference": SENDING_ORG_URL },
        "source": { "name": "Sending Practice", "software": "Test sender", "version": "1.0", "endpoint": SENDER_ENDPOINT },
        "reason": { "coding": [{ "system": REASONS, "code": reason }] },
        "focus": [{ "reference": APPOINTMENT_URL }],
        "definition": definition,
    })
}

fn patient(nhs: &str) -> Value {
    json!({
        "resourceType": "Patient",
        "meta": { "lastUpdated": LAST_UPDATED, "profile": ["https://fhir.hl7.org.uk/StructureDefinition/UKCore-Patient"] },
        "identifier": [{ "system": "https://fhir.nhs.uk/Id/nhs-number", "value": nhs }],
        "name": [{ "family": "Chalmers", "given": ["Peter"] }],
        "birthDate": "1974-12-25"
    })
}

fn organisation(ods: &str, name: &str) -> Value {
    json!({
        "resourceType": "Organization",
        "meta": { "lastUpdated": LAST_UPDATED, "profile": ["https://fhir.hl7.org.uk/StructureDefinition/UKCore-Organization"] },
        "identifier": [{ "system": "https://fhir.nhs.uk/Id/ods-organization-code", "value": ods }],
        "name": name
    })
}

/// The Slot, Schedule and HealthcareService entries, as `GET /Slot` returned them (the Slot's
/// status deliberately says `busy`, as the official example does: the receiver ignores it).
fn availability(slot: &Value, service: &str) -> Vec<Value> {
    vec![
        entry(
            SLOT_URL,
            json!({
                "resourceType": "Slot",
                "id": slot["id"],
                "meta": { "lastUpdated": LAST_UPDATED, "profile": ["https://fhir.hl7.org.uk/StructureDefinition/UKCore-Slot"] },
                "schedule": { "reference": SCHEDULE_URL },
                "status": "busy",
                "start": slot["start"],
                "end": slot["end"],
            }),
        ),
        entry(
            SCHEDULE_URL,
            json!({
                "resourceType": "Schedule",
                "meta": { "lastUpdated": LAST_UPDATED, "profile": ["https://fhir.hl7.org.uk/StructureDefinition/UKCore-Schedule"] },
                "actor": [{ "reference": SERVICE_URL }],
            }),
        ),
        entry(
            SERVICE_URL,
            json!({
                "resourceType": "HealthcareService",
                "meta": { "lastUpdated": LAST_UPDATED, "profile": ["https://fhir.hl7.org.uk/StructureDefinition/UKCore-HealthcareService"] },
                "identifier": [{ "system": DOS, "value": service }],
                "name": "Minor Injuries Unit",
            }),
        ),
    ]
}

fn bundle(entries: Vec<Value>) -> Value {
    json!({
        "resourceType": "Bundle",
        "id": uuid::Uuid::new_v4().to_string(),
        "meta": { "versionId": "1.1.0", "lastUpdated": LAST_UPDATED, "profile": ["https://fhir.nhs.uk/StructureDefinition/BARSBundleMessage"] },
        "type": "message",
        "timestamp": LAST_UPDATED,
        "entry": entries,
    })
}

/// A `booking-request` / `new` message booking `slot` of `service` for the patient `nhs`.
pub fn booking(slot: &Value, nhs: &str, service: &str) -> Value {
    let appointment = json!({
        "resourceType": "Appointment",
        "meta": { "lastUpdated": LAST_UPDATED, "profile": ["https://fhir.hl7.org.uk/StructureDefinition/UKCore-Appointment"] },
        "status": "booked",
        "description": "Reason for calling",
        "start": slot["start"],
        "end": slot["end"],
        "slot": [{ "reference": SLOT_URL }],
        "participant": [{ "actor": { "reference": PATIENT_URL }, "status": "accepted" }],
    });
    let mut entries = vec![
        entry(HEADER_URL, header(service, "new", BOOKING_REQUEST)),
        entry(APPOINTMENT_URL, appointment),
        entry(PATIENT_URL, patient(nhs)),
        entry(
            RECEIVING_ORG_URL,
            organisation("RX001", "Receiving organisation"),
        ),
        entry(
            SENDING_ORG_URL,
            organisation(SENDER_ODS, "Sending Practice"),
        ),
    ];
    entries.extend(availability(slot, service));
    bundle(entries)
}

/// A `booking-request` / `update` message carrying `appointment` (the receiver's copy, read
/// beforehand and changed), with the slot it holds.
pub fn update(appointment: &Value, slot: &Value, nhs: &str, service: &str) -> Value {
    let mut entries = vec![
        entry(HEADER_URL, header(service, "update", BOOKING_REQUEST)),
        entry(APPOINTMENT_URL, appointment.clone()),
        entry(PATIENT_URL, patient(nhs)),
        entry(
            RECEIVING_ORG_URL,
            organisation("RX001", "Receiving organisation"),
        ),
        entry(
            SENDING_ORG_URL,
            organisation(SENDER_ODS, "Sending Practice"),
        ),
    ];
    entries.extend(availability(slot, service));
    bundle(entries)
}

/// A `booking-request-cancelled` message (reason `update`) for the receiver's `appointment`.
pub fn cancellation(appointment: &Value, nhs: &str, service: &str) -> Value {
    let mut cancelled = appointment.clone();
    cancelled["status"] = json!("cancelled");
    cancelled["participant"] =
        json!([{ "actor": { "reference": PATIENT_URL }, "status": "accepted" }]);
    bundle(vec![
        entry(HEADER_URL, header(service, "update", BOOKING_CANCELLED)),
        entry(APPOINTMENT_URL, cancelled),
        entry(PATIENT_URL, patient(nhs)),
        entry(
            RECEIVING_ORG_URL,
            organisation("RX001", "Receiving organisation"),
        ),
        entry(
            SENDING_ORG_URL,
            organisation(SENDER_ODS, "Sending Practice"),
        ),
    ])
}

/// The resource of the first entry of `resource_type`.
pub fn resource_mut<'a>(bundle: &'a mut Value, resource_type: &str) -> &'a mut Value {
    bundle["entry"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|e| e["resource"]["resourceType"] == resource_type)
        .map(|e| &mut e["resource"])
        .unwrap_or_else(|| panic!("no {resource_type} entry"))
}

pub fn header_mut(bundle: &mut Value) -> &mut Value {
    resource_mut(bundle, "MessageHeader")
}

pub fn appointment_mut(bundle: &mut Value) -> &mut Value {
    resource_mut(bundle, "Appointment")
}

pub async fn send(rx: &TestReceiver, message: &Value) -> ClientResponse {
    rx.post("/$process-message").json(message).send().await
}

/// Sends and expects 200; returns the response Bundle after checking it against section 6.4.
#[track_caller]
pub fn accepted(request: &Value, r: &ClientResponse, service: &str) -> Value {
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let response = r.json().unwrap();
    check_response(request, &response, service);
    response
}

/// The persisted Appointment of a response Bundle.
pub fn persisted(response: &Value) -> Value {
    let focus = response["entry"][0]["resource"]["focus"][0]["reference"].clone();
    response["entry"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["fullUrl"] == focus)
        .map(|e| e["resource"].clone())
        .unwrap()
}

fn is_instant(v: &Value) -> bool {
    v.as_str()
        .is_some_and(|s| bars_fhir::Instant::parse(s).is_ok())
}

/// The rules of section 6.4 for the synchronous response to `request`.
#[track_caller]
pub fn check_response(request: &Value, response: &Value, service: &str) {
    assert_eq!(response["resourceType"], "Bundle");
    assert_eq!(response["type"], "message");
    let id = response["id"]
        .as_str()
        .expect("the response Bundle has an id");
    assert!(uuid::Uuid::try_parse(id).is_ok());
    assert_ne!(
        response["id"], request["id"],
        "the response is a new Bundle"
    );
    assert!(is_instant(&response["timestamp"]), "{response}");
    assert!(is_instant(&response["meta"]["lastUpdated"]), "{response}");

    let entries = response["entry"].as_array().unwrap();
    let resolve = |reference: &Value| {
        entries
            .iter()
            .find(|e| e["fullUrl"] == *reference)
            .map(|e| &e["resource"])
    };
    // First entry: the answering MessageHeader.
    let header = &entries[0]["resource"];
    assert_eq!(header["resourceType"], "MessageHeader", "bdl-12");
    assert!(header["id"].is_string());
    assert_ne!(entries[0]["fullUrl"], request["entry"][0]["fullUrl"]);
    assert_eq!(header["eventCoding"]["system"], EVENTS);
    assert_eq!(header["eventCoding"]["code"], "booking-request");
    assert_eq!(header["response"]["identifier"], request["id"]);
    assert_eq!(header["response"]["code"], "ok");
    let request_header = &request["entry"][0]["resource"];
    assert_eq!(
        header["destination"][0]["endpoint"], request_header["source"]["endpoint"],
        "the answer goes back to the sender"
    );
    assert_eq!(header["source"]["endpoint"], format!("{DOS}|{service}"));
    assert_eq!(
        resolve(&header["destination"][0]["receiver"]["reference"]).unwrap()["resourceType"],
        "Organization"
    );
    assert_eq!(
        resolve(&header["sender"]["reference"]).unwrap()["resourceType"],
        "Organization"
    );

    // The focus resolves to the persisted Appointment, with what only the receiver sets.
    let appointment = resolve(&header["focus"][0]["reference"]).expect("the focus resolves");
    assert_eq!(appointment["resourceType"], "Appointment");
    assert!(uuid::Uuid::try_parse(appointment["id"].as_str().unwrap()).is_ok());
    assert!(is_instant(&appointment["meta"]["lastUpdated"]));
    assert!(appointment["meta"]["versionId"].as_str().is_some());
    assert!(appointment["created"].is_string());
    assert_eq!(
        header["focus"][0]["reference"], request_header["focus"][0]["reference"],
        "the Appointment keeps its fullUrl"
    );

    // The other entries are echoed under their fullUrls.
    let request_entries = request["entry"].as_array().unwrap();
    assert_eq!(entries.len(), request_entries.len());
    for e in request_entries.iter().skip(1) {
        let echoed = resolve(&e["fullUrl"]).expect("every request entry is in the response");
        if e["resource"]["resourceType"] != "Appointment" {
            assert_eq!(*echoed, e["resource"]);
        }
    }
}

/// Whether a slot of `service` is free, busy or missing, by the REST search.
pub async fn slot_status(rx: &TestReceiver, service: &str, id: &Value) -> String {
    rx.slots(service, "free,busy")
        .await
        .iter()
        .find(|s| s["id"] == *id)
        .map(|s| s["status"].as_str().unwrap().to_string())
        .unwrap_or_else(|| "missing".into())
}
