//! The message's Appointment as a REST sender would have sent it, so the booking service sees
//! one shape whichever door a booking came through.
//!
//! Inside a message the Appointment points at other entries (`urn:uuid:`); stored on its own
//! those references would dangle. So:
//! * `slot[].reference` to a Slot entry becomes `Slot/<that entry's id>` - the receiver's own
//!   slot id, as returned by `GET /Slot`. The entry's status and times are ignored (section
//!   5.1: the receiver's own Slot record is authoritative).
//! * The patient participant's reference to the Patient entry becomes
//!   `actor.identifier` with the NHS number from that entry.
//!
//! Everything else (id, meta.profile, meta.lastUpdated, status, times, serviceCategory, ...) is
//! kept as sent.

use bars_fhir::IssueType;
use bars_fhir::codes::BarsCode;
use bars_fhir::nhs_number::NHS_NUMBER_SYSTEM;
use bars_http::ApiError;
use serde_json::{Value, json};

use super::bundle::{Entry, Message, bad};

/// A Slot entry that cannot name a slot of this receiver: like an unknown `Slot/<id>` on the
/// REST API, there is nothing to book (404).
fn no_such_slot(at: String) -> ApiError {
    ApiError::bars(
        BarsCode::RecNotFound,
        IssueType::NotFound,
        "the Slot entry has no id, so it names no slot at this receiver; send the Slot as GET /Slot returned it",
    )
    .at(at)
}

/// Translates the focus Appointment into the REST form.
pub fn rest_appointment(message: &Message<'_>, appointment: Entry<'_>) -> Result<Value, ApiError> {
    let Some(source) = appointment.resource else {
        return Err(bad(
            IssueType::Required,
            "the focus Appointment has no content",
            "Appointment",
        ));
    };
    let mut out = source.clone();

    if let Some(Value::Array(slots)) = out.get_mut("slot") {
        for (i, slot) in slots.iter_mut().enumerate() {
            let at = format!("Appointment.slot[{i}]");
            let Some(reference) = slot.get("reference").and_then(Value::as_str) else {
                continue; // the validator reports it
            };
            let new_reference = match message.resolve(reference) {
                Some(entry) if entry.is("Slot") => match entry.id() {
                    Some(id) => format!("Slot/{id}"),
                    None => return Err(no_such_slot(at)),
                },
                Some(_) => {
                    return Err(bad(
                        IssueType::Invariant,
                        "a slot reference must point to a Slot entry",
                        at,
                    ));
                }
                None if is_local(reference) => {
                    return Err(bad(
                        IssueType::Invariant,
                        "the slot reference does not resolve to an entry of the bundle",
                        at,
                    ));
                }
                // Already `Slot/<id>` (or some other form the booking service judges).
                None => continue,
            };
            if let Some(obj) = slot.as_object_mut() {
                obj.insert("reference".into(), Value::String(new_reference));
            }
        }
    }

    if let Some(Value::Array(participants)) = out.get_mut("participant") {
        for (i, participant) in participants.iter_mut().enumerate() {
            let at = format!("Appointment.participant[{i}].actor");
            let Some(reference) = participant
                .get("actor")
                .and_then(|a| a.get("reference"))
                .and_then(Value::as_str)
            else {
                continue;
            };
            let patient = match message.resolve(reference) {
                Some(entry) if entry.is("Patient") => entry,
                Some(_) => continue, // a practitioner, a service, ...: not the patient
                None if is_local(reference) => {
                    return Err(bad(
                        IssueType::Invariant,
                        "the participant's actor does not resolve to an entry of the bundle",
                        at,
                    ));
                }
                None => continue,
            };
            // Without an NHS number the actor is still the patient, and the booking service
            // refuses it as a REST booking without one (422 business-rule).
            let mut actor = json!({ "type": "Patient" });
            if let Some(number) = nhs_number(patient) {
                actor["identifier"] = json!({ "system": NHS_NUMBER_SYSTEM, "value": number });
            }
            if let Some(obj) = participant.as_object_mut() {
                obj.insert("actor".into(), actor);
            }
        }
    }
    Ok(Value::Object(out))
}

/// A reference that can only mean an entry of this bundle.
fn is_local(reference: &str) -> bool {
    reference.starts_with("urn:uuid:") || reference.starts_with("urn:oid:")
}

/// The Patient entry's NHS number, as written (the validator judges it).
fn nhs_number<'a>(patient: Entry<'a>) -> Option<&'a str> {
    patient
        .resource?
        .get("identifier")?
        .as_array()?
        .iter()
        .find(|i| i.get("system").and_then(Value::as_str) == Some(NHS_NUMBER_SYSTEM))?
        .get("value")?
        .as_str()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(slot: Value, patient: Value) -> Value {
        json!({"resourceType": "Bundle", "entry": [
            {"fullUrl": "urn:uuid:h", "resource": {"resourceType": "MessageHeader"}},
            {"fullUrl": "urn:uuid:a", "resource": {
                "resourceType": "Appointment", "id": "keep", "status": "booked",
                "meta": {"profile": ["https://fhir.hl7.org.uk/StructureDefinition/UKCore-Appointment"]},
                "slot": [{"reference": "urn:uuid:s"}],
                "participant": [
                    {"actor": {"reference": "urn:uuid:p"}, "status": "accepted"},
                    {"actor": {"reference": "urn:uuid:h"}, "status": "accepted"}
                ]
            }},
            {"fullUrl": "urn:uuid:s", "resource": slot},
            {"fullUrl": "urn:uuid:p", "resource": patient}
        ]})
    }

    fn translate(body: &Value) -> Result<Value, ApiError> {
        let m = Message::read(body).unwrap();
        let a = m.entries[1];
        rest_appointment(&m, a)
    }

    #[test]
    fn slot_and_patient_become_rest_references() {
        let body = message(
            json!({"resourceType": "Slot", "id": "slot-1", "status": "busy"}),
            json!({"resourceType": "Patient", "identifier": [
                {"system": "https://example.org/mrn", "value": "x"},
                {"system": NHS_NUMBER_SYSTEM, "value": "9434765919"}
            ]}),
        );
        let a = translate(&body).unwrap();
        assert_eq!(a["slot"][0]["reference"], "Slot/slot-1");
        assert_eq!(a["participant"][0]["actor"]["type"], "Patient");
        assert_eq!(
            a["participant"][0]["actor"]["identifier"]["value"],
            "9434765919"
        );
        assert!(a["participant"][0]["actor"].get("reference").is_none());
        // Not the patient: left alone.
        assert_eq!(a["participant"][1]["actor"]["reference"], "urn:uuid:h");
        assert_eq!(a["id"], "keep");
        assert_eq!(
            a["meta"]["profile"][0],
            "https://fhir.hl7.org.uk/StructureDefinition/UKCore-Appointment"
        );
    }

    #[test]
    fn a_slot_entry_without_id_is_not_found() {
        let body = message(
            json!({"resourceType": "Slot"}),
            json!({"resourceType": "Patient"}),
        );
        let e = translate(&body).unwrap_err();
        assert_eq!((e.status.as_u16(), e.issue), (404, IssueType::NotFound));
    }

    #[test]
    fn dangling_and_mistyped_references_are_invariant_errors() {
        let mut body = message(
            json!({"resourceType": "Schedule", "id": "x"}),
            json!({"resourceType": "Patient"}),
        );
        assert_eq!(translate(&body).unwrap_err().issue, IssueType::Invariant);
        body["entry"][2]["resource"] = json!({"resourceType": "Slot", "id": "s"});
        body["entry"][1]["resource"]["participant"][0]["actor"]["reference"] =
            json!("urn:uuid:gone");
        assert_eq!(translate(&body).unwrap_err().issue, IssueType::Invariant);
    }

    #[test]
    fn a_patient_without_nhs_number_is_still_the_patient() {
        let body = message(
            json!({"resourceType": "Slot", "id": "s"}),
            json!({"resourceType": "Patient", "name": [{"family": "X"}]}),
        );
        let a = translate(&body).unwrap();
        assert_eq!(a["participant"][0]["actor"], json!({"type": "Patient"}));
    }
}
