//! What the provider's systems are told of a change: the event's facts, the appointment as
//! stored at that version, and what changed from the version before. The same body goes out
//! as a webhook and in the pull feed, in the Standard Webhooks shape
//! `{"type", "timestamp", "data"}`.

use std::sync::Arc;

use bars_store::{EventRecord, Store, StoreError};
use serde_json::{Map, Value, json};

/// The actions the provider's staff take (see [`bars_booking::provider::StaffAction`]); every
/// other action is a sender's.
fn by_provider(action: &str) -> bool {
    bars_booking::provider::StaffAction::ALL
        .iter()
        .any(|a| a.as_str() == action)
}

/// The event type for an action: `appointment.<what happened>`.
pub fn event_type(action: &str) -> String {
    let what = match action {
        "book" => "booked",
        "update" => "updated",
        "reschedule" => "rescheduled",
        "cancel" | "provider-cancel" => "cancelled",
        other => other,
    };
    format!("appointment.{what}")
}

/// The `webhook-id` of an event: stable across retries and instances, unique across
/// receivers (appointment ids are UUIDs), so a subscriber can deduplicate by it.
pub fn event_id(event: &EventRecord) -> String {
    format!("evt_{}_v{}", event.appointment_id, event.version)
}

/// The body for `event`, reading its version and the one before from the store.
pub async fn body(store: &Arc<dyn Store>, event: &EventRecord) -> Result<Value, StoreError> {
    let current = store
        .get_appointment_version(&event.appointment_id, event.version)
        .await?
        .ok_or_else(|| {
            StoreError::Internal(format!("{} has no stored version", event_id(event)))
        })?;
    let previous = match event.version {
        0 | 1 => None,
        v => {
            store
                .get_appointment_version(&event.appointment_id, v - 1)
                .await?
        }
    };
    let parse = |text: &str| {
        serde_json::from_str::<Value>(text)
            .map_err(|_| StoreError::Internal("a stored appointment is not valid JSON".into()))
    };
    let appointment = parse(&current.body)?;
    let before = previous.map(|p| parse(&p.body)).transpose()?;
    Ok(compose(event, appointment, before.as_ref()))
}

/// The body from the parts; pure, for the tests.
pub fn compose(event: &EventRecord, appointment: Value, before: Option<&Value>) -> Value {
    json!({
        "type": event_type(&event.action),
        "timestamp": event.at.to_string(),
        "data": {
            "id": event_id(event),
            "sequence": event.seq,
            "action": event.action,
            "by": if by_provider(&event.action) { "provider" } else { "sender" },
            "actorOds": event.actor_ods,
            "serviceId": event.service_id,
            "appointmentId": event.appointment_id,
            "version": event.version,
            "status": event.status.as_str(),
            "changes": changes(before, &appointment),
            "appointment": appointment,
        }
    })
}

/// The top-level elements that differ between two versions (`meta` aside, which always
/// does), by name, each with its value before and after; everything, from nothing, for a
/// first version.
pub fn changes(before: Option<&Value>, after: &Value) -> Vec<Value> {
    let empty = Map::new();
    let before = before.and_then(Value::as_object).unwrap_or(&empty);
    let after = after.as_object().unwrap_or(&empty);
    let names: std::collections::BTreeSet<&String> = after.keys().chain(before.keys()).collect();
    names
        .into_iter()
        .filter(|n| n.as_str() != "meta")
        .filter(|n| before.get(n.as_str()) != after.get(n.as_str()))
        .map(|n| {
            json!({
                "element": n,
                "before": before.get(n.as_str()).cloned().unwrap_or(Value::Null),
                "after": after.get(n.as_str()).cloned().unwrap_or(Value::Null),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use bars_booking::AppointmentStatus;
    use bars_fhir::Instant;

    use super::*;

    #[test]
    fn a_cancellation_says_what_changed_and_by_whom() {
        let event = EventRecord {
            seq: 7,
            appointment_id: "a1".into(),
            version: 2,
            service_id: Some("svc".into()),
            action: "provider-cancel".into(),
            status: AppointmentStatus::Cancelled,
            actor_ods: Some("RX001".into()),
            at: Instant::now(),
        };
        let before = json!({"resourceType": "Appointment", "meta": {"versionId": "1"}, "status": "booked", "slot": [1]});
        let after = json!({"resourceType": "Appointment", "meta": {"versionId": "2"}, "status": "cancelled", "cancelationReason": {"text": "ill"}});
        let body = compose(&event, after.clone(), Some(&before));
        assert_eq!(body["type"], "appointment.cancelled");
        assert_eq!(body["data"]["by"], "provider");
        assert_eq!(body["data"]["id"], "evt_a1_v2");
        assert_eq!(body["data"]["appointment"], after);
        let changed: Vec<&str> = body["data"]["changes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["element"].as_str().unwrap())
            .collect();
        assert_eq!(changed, ["cancelationReason", "slot", "status"]);
        assert_eq!(body["data"]["changes"][2]["before"], "booked");
        assert_eq!(body["data"]["changes"][1]["after"], Value::Null);
        assert_eq!(event_type("book"), "appointment.booked");
        assert_eq!(event_type("noshow"), "appointment.noshow");
    }
}
