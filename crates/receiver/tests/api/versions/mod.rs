//! Core 1.5.0 beside 1.1.6 (issue 16): each row of the delta's tables (sections 2, 3 and 5.2)
//! under both versions, on both backends; a request's version is the one its `Accept`
//! `version=` selects.

mod mixed;
mod negotiation;
mod rows;
mod search;

use bars_http::client::ClientResponse;
use http::Method;
use serde_json::{Value, json};

use crate::helpers::*;

pub const V116: &str = "1.1.0";
pub const V150: &str = "1.5.0";

/// `req` as a sender of Core `version` sends it.
pub fn speaking(req: Req, version: &str) -> Req {
    req.header(
        "accept",
        &format!("application/fhir+json; version={version}"),
    )
}

/// Books `slot` for `nhs` as a sender of `version` would; returns the stored appointment.
pub async fn booked(rx: &TestReceiver, version: &str, slot: &Value, nhs: &str) -> Value {
    let r = speaking(rx.post("/Appointment"), version)
        .json(&appointment_for(slot, nhs))
        .send()
        .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    r.json().unwrap()
}

pub async fn read(rx: &TestReceiver, id: &str) -> Value {
    let r = rx.get(&format!("/Appointment/{id}")).send().await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    r.json().unwrap()
}

pub async fn put(rx: &TestReceiver, version: &str, body: &Value) -> ClientResponse {
    let id = body["id"].as_str().unwrap();
    speaking(rx.put(&format!("/Appointment/{id}")), version)
        .json(body)
        .send()
        .await
}

/// A partial-Appointment PATCH of appointment `id`.
pub async fn patch(rx: &TestReceiver, version: &str, id: &str, body: &Value) -> ClientResponse {
    speaking(rx.patch(&format!("/Appointment/{id}")), version)
        .json(body)
        .send()
        .await
}

/// The pointer actions waiting in the outbox for appointment `id`, oldest first (the test
/// receiver has no registry, so nothing is delivered).
pub async fn pointer_actions(rx: &TestReceiver, id: &str) -> Vec<String> {
    let r = rx
        .client
        .call(
            Method::GET,
            &format!("{}/admin/outbox", rx.admin),
            &[],
            None,
        )
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    r.json().unwrap()["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|j| j["appointment"] == id)
        .map(|j| j["action"].as_str().unwrap().to_string())
        .collect()
}

pub fn slot_ref(slot: &Value) -> Value {
    json!([{ "reference": format!("Slot/{}", slot["id"].as_str().unwrap()) }])
}

pub fn reason(code: &str) -> Value {
    json!([{ "coding": [{ "system": "http://snomed.info/sct", "code": code }] }])
}
