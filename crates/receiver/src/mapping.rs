//! FHIR Appointment JSON <-> the booking domain: the only place that knows which elements
//! carry the slots, the times, the patient and the rebook provenance.

use bars_booking::{AppointmentStatus, Fault, Requested};
use bars_fhir::nhs_number::NHS_NUMBER_SYSTEM;
use bars_fhir::resource::reference_id;
use bars_fhir::{Instant, NhsNumber};
use serde_json::Value;

use bars_booking::DomainError;

/// The R5 cross-version extension some senders use in R4 to say which appointment this replaces.
pub const REPLACES_EXTENSION: &str =
    "http://hl7.org/fhir/5.0/StructureDefinition/extension-Appointment.replaces";

/// Extracts the facts the domain decides on. The resource has already passed validation, so
/// shapes are as expected; what is checked here is what only the receiver can judge
/// (slot references must be to its own Slots, the patient must carry an NHS number).
pub fn requested(resource: &Value) -> Result<Requested, DomainError> {
    let status = resource
        .get("status")
        .and_then(Value::as_str)
        .and_then(AppointmentStatus::parse)
        .ok_or_else(|| {
            DomainError::invalid_at(
                Fault::Required,
                "the appointment status is required",
                "Appointment.status",
            )
        })?;
    Ok(Requested {
        status,
        slots: slot_ids(resource)?,
        start: instant_at(resource, "start")?,
        end: instant_at(resource, "end")?,
        patient: patient_nhs_number(resource)?,
        replaces: replaced_ids(resource)?,
    })
}

fn instant_at(resource: &Value, name: &str) -> Result<Option<Instant>, DomainError> {
    match resource.get(name).and_then(Value::as_str) {
        None => Ok(None),
        Some(text) => Instant::parse(text).map(Some).map_err(|e| {
            DomainError::invalid_at(
                Fault::Value,
                format!("{name} is not a valid instant: {e}"),
                format!("Appointment.{name}"),
            )
        }),
    }
}

fn slot_ids(resource: &Value) -> Result<Vec<String>, DomainError> {
    let Some(slots) = resource.get("slot").and_then(Value::as_array) else {
        return Ok(vec![]);
    };
    slots
        .iter()
        .enumerate()
        .map(|(i, s)| {
            s.get("reference")
                .and_then(Value::as_str)
                .and_then(slot_id)
                .map(str::to_string)
                .ok_or_else(|| {
                    DomainError::invalid_at(
                        Fault::Value,
                        "a slot reference must be Slot/<id>, <base>/Slot/<id> or urn:uuid:<id> of a slot at this receiver",
                        format!("Appointment.slot[{i}]"),
                    )
                })
        })
        .collect()
}

/// The slot id a reference names, in each form the specifications use (decision D3): the
/// guide's `Slot/<id>`, an absolute `<base>/Slot/<id>`, and the API's `urn:uuid:<id>` (whose
/// "uuid" is the slot id the receiver returned from `GET /Slot`, taken as it is: this
/// receiver's slot ids are readable ids, not UUIDs).
fn slot_id(reference: &str) -> Option<&str> {
    match reference.strip_prefix("urn:uuid:") {
        Some(id) => (!id.is_empty() && !id.contains(['/', ':'])).then_some(id),
        None => reference_id(reference, "Slot"),
    }
}

fn replaced_ids(resource: &Value) -> Result<Vec<String>, DomainError> {
    let mut refs: Vec<(String, Option<&str>)> = Vec::new();
    if let Some(list) = resource.get("replaces").and_then(Value::as_array) {
        for (i, r) in list.iter().enumerate() {
            refs.push((
                format!("Appointment.replaces[{i}]"),
                r.get("reference").and_then(Value::as_str),
            ));
        }
    }
    if let Some(exts) = resource.get("extension").and_then(Value::as_array) {
        for (i, e) in exts.iter().enumerate() {
            if e.get("url").and_then(Value::as_str) == Some(REPLACES_EXTENSION) {
                refs.push((
                    format!("Appointment.extension[{i}]"),
                    e.pointer("/valueReference/reference")
                        .and_then(Value::as_str),
                ));
            }
        }
    }
    refs.into_iter()
        .map(|(at, r)| {
            r.and_then(|r| reference_id(r, "Appointment"))
                .map(str::to_string)
                .ok_or_else(|| {
                    DomainError::invalid_at(
                        Fault::Value,
                        "a replaced appointment must be referenced as Appointment/<id>",
                        at,
                    )
                })
        })
        .collect()
}

/// Finds the patient participant's NHS number: on `actor.identifier`, or on a contained
/// Patient the actor points to with `#id`.
pub fn patient_nhs_number(resource: &Value) -> Result<Option<NhsNumber>, DomainError> {
    let Some(participants) = resource.get("participant").and_then(Value::as_array) else {
        return Ok(None);
    };
    for (i, p) in participants.iter().enumerate() {
        let Some(actor) = p.get("actor") else {
            continue;
        };
        if let Some(number) = nhs_identifier(actor.get("identifier")) {
            return NhsNumber::parse(number).map(Some).map_err(|e| {
                DomainError::invalid_at(
                    Fault::Value,
                    e.to_string(),
                    format!("Appointment.participant[{i}].actor.identifier"),
                )
            });
        }
        if let Some(local) = actor
            .get("reference")
            .and_then(Value::as_str)
            .and_then(|r| r.strip_prefix('#'))
            && let Some(patient) = contained(resource, "Patient", local)
            && let Some(number) = patient
                .get("identifier")
                .and_then(Value::as_array)
                .and_then(|ids| ids.iter().find_map(|id| nhs_identifier(Some(id))))
        {
            return NhsNumber::parse(number).map(Some).map_err(|e| {
                DomainError::invalid_at(
                    Fault::Value,
                    e.to_string(),
                    format!("Appointment.contained.where(id='{local}').identifier"),
                )
            });
        }
    }
    Ok(None)
}

fn nhs_identifier(identifier: Option<&Value>) -> Option<&str> {
    let id = identifier?;
    (id.get("system").and_then(Value::as_str) == Some(NHS_NUMBER_SYSTEM))
        .then(|| id.get("value").and_then(Value::as_str))
        .flatten()
}

fn contained<'a>(resource: &'a Value, resource_type: &str, id: &str) -> Option<&'a Value> {
    resource.get("contained")?.as_array()?.iter().find(|c| {
        c.get("resourceType").and_then(Value::as_str) == Some(resource_type)
            && c.get("id").and_then(Value::as_str) == Some(id)
    })
}

/// Rewrites `start` and `end` in UTC (`+00:00`), keeping the sender's precision: every stored
/// appointment reads the same way whatever offset it was booked with.
pub fn normalise_times(resource: &mut Value, start: Option<Instant>, end: Option<Instant>) {
    if let Some(obj) = resource.as_object_mut() {
        for (name, value) in [("start", start), ("end", end)] {
            if let Some(v) = value
                && obj.contains_key(name)
            {
                obj.insert(name.into(), Value::String(v.to_string()));
            }
        }
    }
}

/// Sets `start` and `end` the receiver derived (from a new slot), in UTC, and
/// `minutesDuration`, when the appointment states one, to match them.
pub fn set_times(resource: &mut Value, start: Instant, end: Instant) {
    if let Some(obj) = resource.as_object_mut() {
        obj.insert("start".into(), Value::String(start.to_string()));
        obj.insert("end".into(), Value::String(end.to_string()));
        if obj.contains_key("minutesDuration") {
            let minutes = (end.unix_nanos() - start.unix_nanos()) / 60_000_000_000;
            obj.insert("minutesDuration".into(), Value::from(minutes));
        }
    }
}

/// Sets `created`, which only the receiver may write.
pub fn set_created(resource: &mut Value, created: Instant) {
    if let Some(obj) = resource.as_object_mut() {
        obj.insert("created".into(), Value::String(created.to_string()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn appointment(actor: Value) -> Value {
        json!({
            "resourceType": "Appointment", "status": "booked",
            "slot": [{"reference": "Slot/s1"}],
            "start": "2030-01-01T10:00:00+01:00", "end": "2030-01-01T10:10:00+01:00",
            "participant": [{"actor": actor, "status": "accepted"}],
            "replaces": [{"reference": "Appointment/old"}]
        })
    }

    #[test]
    fn extracts_the_facts() {
        let r = requested(&appointment(
            json!({"identifier": {"system": NHS_NUMBER_SYSTEM, "value": "9434765919"}}),
        ))
        .unwrap();
        assert_eq!(r.status, AppointmentStatus::Booked);
        assert_eq!(r.slots, vec!["s1"]);
        assert_eq!(r.start.unwrap().to_string(), "2030-01-01T09:00:00+00:00");
        assert_eq!(r.patient.unwrap().as_str(), "9434765919");
        assert_eq!(r.replaces, vec!["old"]);
    }

    #[test]
    fn reads_a_contained_patient() {
        let mut a = appointment(json!({"reference": "#p"}));
        a["contained"] = json!([{"resourceType": "Patient", "id": "p", "identifier": [{"system": NHS_NUMBER_SYSTEM, "value": "9434765919"}]}]);
        assert!(requested(&a).unwrap().patient.is_some());
    }

    #[test]
    fn a_patient_reference_alone_gives_no_nhs_number() {
        assert!(
            requested(&appointment(json!({"reference": "Patient/123"})))
                .unwrap()
                .patient
                .is_none()
        );
    }

    #[test]
    fn slot_references_in_every_form_name_the_slot() {
        let mut a = appointment(json!({"reference": "#p"}));
        for form in [
            "urn:uuid:deb4c4b3-870b-4599-84df-5e54cef7afda",
            "Slot/deb4c4b3-870b-4599-84df-5e54cef7afda",
            "https://rx.example/fhir/Slot/deb4c4b3-870b-4599-84df-5e54cef7afda",
        ] {
            a["slot"] = json!([{ "reference": form }]);
            assert_eq!(
                requested(&a).unwrap().slots,
                ["deb4c4b3-870b-4599-84df-5e54cef7afda"],
                "{form}"
            );
        }
    }

    #[test]
    fn foreign_slot_references_are_refused() {
        let mut a = appointment(json!({"reference": "#p"}));
        for form in ["Schedule/s1", "urn:uuid:", "urn:oid:1.2.3", "urn:uuid:a/b"] {
            a["slot"] = json!([{ "reference": form }]);
            assert!(
                matches!(
                    requested(&a),
                    Err(DomainError::Invalid {
                        fault: Fault::Value,
                        ..
                    })
                ),
                "{form}"
            );
        }
    }

    #[test]
    fn the_replaces_extension_counts_too() {
        let mut a = appointment(json!({"reference": "#p"}));
        a.as_object_mut().unwrap().remove("replaces");
        a["extension"] = json!([{"url": REPLACES_EXTENSION, "valueReference": {"reference": "Appointment/old2"}}]);
        assert_eq!(requested(&a).unwrap().replaces, vec!["old2"]);
    }

    #[test]
    fn times_are_rewritten_in_utc() {
        let mut a = appointment(json!({}));
        let r = requested(&a).unwrap();
        normalise_times(&mut a, r.start, r.end);
        assert_eq!(a["start"], "2030-01-01T09:00:00+00:00");
        assert_eq!(a["end"], "2030-01-01T09:10:00+00:00");
    }
}
