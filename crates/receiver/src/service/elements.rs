//! Which elements of an appointment an edit changes, for the Core 1.5.0 rules that let each
//! edit change only its own elements ([`bars_booking::edit`]): the domain judges, this finds
//! the differences, because only the edge knows the JSON.

use bars_fhir::patch::json_equal;
use serde_json::Value;

/// Elements the domain compares itself (by slot id and by instant, whatever form the sender
/// wrote them in) or that the server owns; they are never reported as changed here.
const JUDGED_ELSEWHERE: &[&str] = &[
    "resourceType",
    "id",
    "meta",
    "created",
    "status",
    "slot",
    "start",
    "end",
];

/// The top-level elements whose value differs between the stored appointment and the edited
/// one (present in one and absent in the other counts), numbers compared by value and member
/// order ignored.
pub fn changed(stored: &Value, edited: &Value) -> Vec<String> {
    let (Some(a), Some(b)) = (stored.as_object(), edited.as_object()) else {
        return Vec::new();
    };
    let mut names: Vec<&String> = a.keys().chain(b.keys()).collect();
    names.sort();
    names.dedup();
    names
        .into_iter()
        .filter(|name| !JUDGED_ELSEWHERE.contains(&name.as_str()))
        .filter(|name| match (a.get(*name), b.get(*name)) {
            (Some(x), Some(y)) => !json_equal(x, y),
            _ => true,
        })
        .cloned()
        .collect()
}

/// A 1.5.0 PUT that leaves an element out keeps the stored value (delta decision D6: the
/// Find-Resource pattern says a sender must know at least the status and the id), so the
/// resource it leads to is the stored one with every element the sender wrote put over it.
pub fn over_stored(stored: &Value, sent: &Value) -> Value {
    let mut merged = stored.clone();
    if let (Some(out), Some(sent)) = (merged.as_object_mut(), sent.as_object()) {
        for (name, value) in sent {
            out.insert(name.clone(), value.clone());
        }
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn differences_are_found_by_value() {
        let stored = json!({"resourceType": "Appointment", "id": "a", "status": "booked",
            "minutesDuration": 10, "description": "x", "reasonCode": [{"text": "a"}],
            "slot": [{"reference": "Slot/1"}]});
        let edited = json!({"resourceType": "Appointment", "id": "a", "status": "cancelled",
            "minutesDuration": 10.0, "reasonCode": [{"text": "b"}],
            "slot": [{"reference": "urn:uuid:1"}], "comment": "new"});
        assert_eq!(
            changed(&stored, &edited),
            ["comment", "description", "reasonCode"]
        );
        assert!(changed(&stored, &stored).is_empty());
    }

    #[test]
    fn what_a_put_leaves_out_is_kept() {
        let stored = json!({"status": "booked", "description": "x", "reasonCode": [{"text": "a"}]});
        let sent = json!({"status": "cancelled", "reasonCode": [{"text": "b"}]});
        assert_eq!(
            over_stored(&stored, &sent),
            json!({"status": "cancelled", "description": "x", "reasonCode": [{"text": "b"}]})
        );
    }
}
