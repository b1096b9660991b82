//! FHIRPath Patch (https://hl7.org/fhir/R4/fhirpatch.html): a `Parameters` resource whose
//! `operation` parameters add, insert, delete, replace or move elements named by FHIRPath.
//!
//! Operations run in order on a copy; the first failure rejects the whole patch.

use serde_json::Value;

use super::eval::{self, Location, Token};
use super::expr::Step;
use super::parameters::{self, Action, Operation, PartValue, is_repeating};
use super::{PatchError, ensure_identity_kept};
use crate::issue::IssueType;

/// FHIRPath Patch: a `Parameters` resource with repeated `operation` parameters.
pub fn fhirpath_patch(target: &Value, parameters: &Value) -> Result<Value, PatchError> {
    let operations = parameters::parse(parameters)?;
    let mut result = target.clone();
    for operation in &operations {
        apply(&mut result, operation)?;
    }
    ensure_identity_kept(target, &result)?;
    Ok(result)
}

fn apply(doc: &mut Value, operation: &Operation) -> Result<(), PatchError> {
    match &operation.action {
        Action::Add { name, value } => add(doc, operation, name, value),
        Action::Insert { value, index } => insert(doc, operation, value, *index),
        Action::Delete => delete(doc, operation),
        Action::Replace { value } => replace(doc, operation, value),
        Action::Move {
            source,
            destination,
        } => move_item(doc, operation, *source, *destination),
    }
}

/// `add`: the path selects one element; property `name` is appended to if it is a list, created
/// if absent (as a list when the element is known to repeat), and refused if it already holds a
/// single value (that is what `replace` is for).
fn add(
    doc: &mut Value,
    operation: &Operation,
    name: &str,
    value: &PartValue,
) -> Result<(), PatchError> {
    let location = single_match(doc, operation)?;
    let resource_type = resource_type(doc);
    let parent_path = location.element_path();
    let repeating = is_repeating(&resource_type, &parent_path, name);
    let mut value_path = parent_path;
    value_path.push(name.to_string());
    let new_value = value.materialize(&resource_type, &mut value_path);
    let Some(Value::Object(members)) = location.value_mut(doc) else {
        return Err(failed(
            operation,
            "the path does not select an element that can have properties",
        ));
    };
    match members.get_mut(name) {
        None if repeating && !new_value.is_array() => {
            members.insert(name.to_string(), Value::Array(vec![new_value]));
        }
        None => {
            members.insert(name.to_string(), new_value);
        }
        Some(Value::Array(items)) => match new_value {
            Value::Array(more) => items.extend(more),
            single => items.push(single),
        },
        Some(_) => {
            return Err(failed(
                operation,
                &format!("'{}' already has a value; use replace", super::clip(name)),
            ));
        }
    }
    Ok(())
}

/// `insert`: the path names a list; the value goes in at `index` (0 ..= length). An absent list
/// counts as empty, so inserting at 0 creates it.
fn insert(
    doc: &mut Value,
    operation: &Operation,
    value: &PartValue,
    index: usize,
) -> Result<(), PatchError> {
    let (owner, name) = list_owner(doc, operation)?;
    let resource_type = resource_type(doc);
    let mut value_path = owner.element_path();
    value_path.push(name.to_string());
    let new_value = value.materialize(&resource_type, &mut value_path);
    let Some(Value::Object(members)) = owner.value_mut(doc) else {
        return Err(failed(operation, "the path does not select a list"));
    };
    match members.get_mut(name) {
        Some(Value::Array(items)) if index <= items.len() => items.insert(index, new_value),
        None if index == 0 => {
            members.insert(name.to_string(), Value::Array(vec![new_value]));
        }
        Some(Value::Array(_)) | None => {
            return Err(failed(operation, "the index is beyond the end of the list"));
        }
        Some(_) => return Err(failed(operation, "the path does not select a list")),
    }
    Ok(())
}

/// `delete`: nothing matched is fine (the element is already gone); one match is removed; more
/// than one is refused, as the specification allows deleting only a single element.
fn delete(doc: &mut Value, operation: &Operation) -> Result<(), PatchError> {
    let matches = matches(doc, operation)?;
    match matches.as_slice() {
        [] => Ok(()),
        [location] => remove_location(doc, operation, location),
        _ => Err(failed(operation, "the path matches more than one element")),
    }
}

/// `replace`: exactly one element, swapped for the value.
fn replace(doc: &mut Value, operation: &Operation, value: &PartValue) -> Result<(), PatchError> {
    let location = single_match(doc, operation)?;
    if location.is_root() {
        return Err(failed(operation, "the path selects the whole resource"));
    }
    let new_value = value.materialize(&resource_type(doc), &mut location.element_path());
    let slot = location
        .value_mut(doc)
        .ok_or_else(|| failed(operation, "the element disappeared"))?;
    *slot = new_value;
    Ok(())
}

/// `move`: within one list, the item at `source` moves to `destination` (both existing indexes).
fn move_item(
    doc: &mut Value,
    operation: &Operation,
    source: usize,
    destination: usize,
) -> Result<(), PatchError> {
    let (owner, name) = list_owner(doc, operation)?;
    let Some(Value::Array(items)) = owner.value_mut(doc).and_then(|value| value.get_mut(name))
    else {
        return Err(failed(operation, "the path does not select a list"));
    };
    if source >= items.len() || destination >= items.len() {
        return Err(failed(
            operation,
            "source or destination is beyond the end of the list",
        ));
    }
    let item = items.remove(source);
    items.insert(destination, item);
    Ok(())
}

fn matches(doc: &Value, operation: &Operation) -> Result<Vec<Location>, PatchError> {
    eval::evaluate(&operation.path, doc).map_err(|why| failed(operation, &why))
}

fn single_match(doc: &Value, operation: &Operation) -> Result<Location, PatchError> {
    let mut matches = matches(doc, operation)?;
    match matches.len() {
        0 => Err(failed(operation, "the path matches nothing")),
        1 => Ok(matches.remove(0)),
        _ => Err(failed(operation, "the path matches more than one element")),
    }
}

/// For insert and move the path names a list (`Appointment.slot`), which may be empty or absent,
/// so it is resolved as "the one element that owns it" plus the list's name.
fn list_owner<'p>(
    doc: &Value,
    operation: &'p Operation,
) -> Result<(Location, &'p str), PatchError> {
    let not_a_list = || {
        failed(
            operation,
            "the path must end with the name of a list, such as Appointment.slot",
        )
    };
    let Some((Step::Member(name), owner_steps)) = operation.path.split_last() else {
        return Err(not_a_list());
    };
    if owner_steps.is_empty() && name.starts_with(|c: char| c.is_ascii_uppercase()) {
        return Err(not_a_list());
    }
    let mut owners = eval::evaluate(owner_steps, doc).map_err(|why| failed(operation, &why))?;
    match owners.len() {
        1 => Ok((owners.remove(0), name)),
        0 => Err(failed(operation, "the path matches nothing")),
        _ => Err(failed(operation, "the path matches more than one list")),
    }
}

/// Removes one element. Emptying a list removes the property (FHIR has no empty arrays), and the
/// element's primitive extensions (`_name`) go with it.
fn remove_location(
    doc: &mut Value,
    operation: &Operation,
    location: &Location,
) -> Result<(), PatchError> {
    let vanished = || failed(operation, "the element disappeared");
    match location.tokens.as_slice() {
        [] => Err(failed(operation, "the path selects the whole resource")),
        [owner @ .., Token::Key(name)] => {
            let Some(Value::Object(members)) = eval::value_at_mut(doc, owner) else {
                return Err(vanished());
            };
            members.shift_remove(name.as_str());
            members.shift_remove(format!("_{name}").as_str());
            Ok(())
        }
        [owner @ .., Token::Key(name), Token::Index(index)] => {
            let Some(Value::Object(members)) = eval::value_at_mut(doc, owner) else {
                return Err(vanished());
            };
            remove_list_item(members, name, *index).ok_or_else(vanished)
        }
        _ => Err(vanished()),
    }
}

fn remove_list_item(
    members: &mut serde_json::Map<String, Value>,
    name: &str,
    index: usize,
) -> Option<()> {
    let Some(Value::Array(items)) = members.get_mut(name) else {
        return None;
    };
    if index >= items.len() {
        return None;
    }
    items.remove(index);
    let now_empty = items.is_empty();
    let shadow_name = format!("_{name}");
    if let Some(Value::Array(shadow)) = members.get_mut(&shadow_name) {
        if index < shadow.len() {
            shadow.remove(index);
        }
        if shadow.iter().all(Value::is_null) {
            members.shift_remove(&shadow_name);
        }
    }
    if now_empty {
        members.shift_remove(name);
    }
    Some(())
}

fn resource_type(doc: &Value) -> String {
    doc.get("resourceType")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn failed(operation: &Operation, why: &str) -> PatchError {
    PatchError::failed(
        IssueType::Processing,
        format!("{}: {why}", operation.label()),
    )
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn appointment() -> Value {
        json!({
            "resourceType": "Appointment",
            "id": "a1",
            "status": "booked",
            "start": "2024-01-01T09:00:00+00:00",
            "_start": {"extension": [{"url": "http://e/x", "valueString": "y"}]},
            "slot": [{"reference": "Slot/1"}, {"reference": "Slot/2"}],
            "participant": [
                {"actor": {"reference": "Practitioner/1"}, "status": "accepted"},
                {"actor": {"reference": "Patient/9"}, "status": "accepted"}
            ]
        })
    }

    fn op(kind: &str, path: &str, extra: Value) -> Value {
        let mut parts = vec![
            json!({"name": "type", "valueCode": kind}),
            json!({"name": "path", "valueString": path}),
        ];
        if let Value::Array(more) = extra {
            parts.extend(more);
        }
        json!({"name": "operation", "part": parts})
    }

    fn params(operations: Vec<Value>) -> Value {
        json!({"resourceType": "Parameters", "parameter": operations})
    }

    fn run(operations: Vec<Value>) -> Result<Value, PatchError> {
        fhirpath_patch(&appointment(), &params(operations))
    }

    #[test]
    fn add_appends_to_lists_creates_absent_elements_and_refuses_singletons() {
        let added = run(vec![op("add", "Appointment", json!([{"name": "name", "valueString": "slot"}, {"name": "value", "valueReference": {"reference": "Slot/3"}}]))]).unwrap();
        assert_eq!(
            added["slot"],
            json!([{"reference": "Slot/1"}, {"reference": "Slot/2"}, {"reference": "Slot/3"}])
        );
        let added = run(vec![op("add", "Appointment", json!([{"name": "name", "valueString": "comment"}, {"name": "value", "valueString": "hello"}]))]).unwrap();
        assert_eq!(added["comment"], json!("hello"));
        let added = run(vec![op("add", "Appointment", json!([{"name": "name", "valueString": "reasonCode"}, {"name": "value", "valueCodeableConcept": {"text": "pain"}}]))]).unwrap();
        assert_eq!(added["reasonCode"], json!([{"text": "pain"}]));
        let added = run(vec![op("add", "Appointment.participant[0]", json!([{"name": "name", "valueString": "type"}, {"name": "value", "valueCodeableConcept": {"text": "t"}}]))]).unwrap();
        assert_eq!(added["participant"][0]["type"], json!([{"text": "t"}]));
        let err = run(vec![op("add", "Appointment", json!([{"name": "name", "valueString": "status"}, {"name": "value", "valueCode": "cancelled"}]))]).unwrap_err();
        assert_eq!(err.code(), IssueType::Processing);
        assert!(!err.is_malformed());
        let err = run(vec![op(
            "add",
            "Appointment.participant",
            json!([{"name": "name", "valueString": "x"}, {"name": "value", "valueString": "y"}]),
        )])
        .unwrap_err();
        assert!(err.diagnostics().contains("more than one"), "{err}");
        let err = run(vec![op(
            "add",
            "Appointment.status",
            json!([{"name": "name", "valueString": "x"}, {"name": "value", "valueString": "y"}]),
        )])
        .unwrap_err();
        assert!(!err.is_malformed());
    }

    #[test]
    fn add_builds_a_participant_backbone_from_parts() {
        let patched = run(vec![op(
            "add",
            "Appointment",
            json!([
                {"name": "name", "valueString": "participant"},
                {"name": "value", "part": [
                    {"name": "type", "valueCodeableConcept": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "code": "ATND"}]}},
                    {"name": "actor", "valueReference": {"reference": "Practitioner/2", "display": "Dr B"}},
                    {"name": "required", "valueCode": "required"},
                    {"name": "status", "valueCode": "accepted"}
                ]}
            ]),
        )])
        .unwrap();
        assert_eq!(
            patched["participant"][2],
            json!({
                "type": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "code": "ATND"}]}],
                "actor": {"reference": "Practitioner/2", "display": "Dr B"},
                "required": "required",
                "status": "accepted"
            })
        );
    }

    #[test]
    fn insert_places_items_and_checks_the_index() {
        let value = json!([{"name": "index", "valueInteger": 0}, {"name": "value", "valueReference": {"reference": "Slot/0"}}]);
        let patched = run(vec![op("insert", "Appointment.slot", value)]).unwrap();
        assert_eq!(
            patched["slot"],
            json!([{"reference": "Slot/0"}, {"reference": "Slot/1"}, {"reference": "Slot/2"}])
        );
        let value = json!([{"name": "index", "valueInteger": 2}, {"name": "value", "valueReference": {"reference": "Slot/3"}}]);
        let patched = run(vec![op("insert", "Appointment.slot", value)]).unwrap();
        assert_eq!(patched["slot"][2], json!({"reference": "Slot/3"}));
        let value = json!([{"name": "index", "valueInteger": 3}, {"name": "value", "valueReference": {"reference": "Slot/3"}}]);
        assert!(
            !run(vec![op("insert", "Appointment.slot", value)])
                .unwrap_err()
                .is_malformed()
        );
        // An absent list is empty: index 0 creates it.
        let value = json!([{"name": "index", "valueInteger": 0}, {"name": "value", "valueReference": {"reference": "ServiceRequest/1"}}]);
        let patched = run(vec![op("insert", "Appointment.basedOn", value)]).unwrap();
        assert_eq!(
            patched["basedOn"],
            json!([{"reference": "ServiceRequest/1"}])
        );
        for path in [
            "Appointment.status",
            "Appointment",
            "Appointment.slot.first()",
            "Appointment.participant.actor",
        ] {
            let value = json!([{"name": "index", "valueInteger": 0}, {"name": "value", "valueString": "x"}]);
            let err = run(vec![op("insert", path, value)]).unwrap_err();
            assert!(!err.is_malformed(), "{path}");
        }
    }

    #[test]
    fn delete_removes_one_element_or_nothing() {
        let patched = run(vec![op("delete", "Appointment.slot[0]", json!([]))]).unwrap();
        assert_eq!(patched["slot"], json!([{"reference": "Slot/2"}]));
        let patched = run(vec![
            op("delete", "Appointment.slot[0]", json!([])),
            op("delete", "Appointment.slot[0]", json!([])),
        ])
        .unwrap();
        assert!(patched.get("slot").is_none(), "emptying a list removes it");
        let patched = run(vec![op("delete", "Appointment.comment", json!([]))]).unwrap();
        assert_eq!(patched, appointment());
        let patched = run(vec![op("delete", "Appointment.start", json!([]))]).unwrap();
        assert!(patched.get("start").is_none() && patched.get("_start").is_none());
        let patched = run(vec![op(
            "delete",
            "Appointment.participant.where(actor.reference = 'Patient/9')",
            json!([]),
        )])
        .unwrap();
        assert_eq!(
            patched["participant"],
            json!([{"actor": {"reference": "Practitioner/1"}, "status": "accepted"}])
        );
        assert!(
            !run(vec![op("delete", "Appointment.slot", json!([]))])
                .unwrap_err()
                .is_malformed()
        );
        assert!(
            !run(vec![op("delete", "Appointment", json!([]))])
                .unwrap_err()
                .is_malformed()
        );
    }

    #[test]
    fn delete_keeps_primitive_extension_arrays_aligned() {
        let doc = json!({"resourceType": "Appointment", "id": "a", "x": ["a", "b", "c"], "_x": [null, {"id": "b"}, null]});
        let patched = fhirpath_patch(
            &doc,
            &params(vec![op("delete", "Appointment.x[1]", json!([]))]),
        )
        .unwrap();
        assert_eq!(
            patched,
            json!({"resourceType": "Appointment", "id": "a", "x": ["a", "c"]})
        );
        let patched = fhirpath_patch(
            &doc,
            &params(vec![op("delete", "Appointment.x[0]", json!([]))]),
        )
        .unwrap();
        assert_eq!(
            patched,
            json!({"resourceType": "Appointment", "id": "a", "x": ["b", "c"], "_x": [{"id": "b"}, null]})
        );
    }

    #[test]
    fn replace_needs_exactly_one_match() {
        let value = json!([{"name": "value", "valueCode": "cancelled"}]);
        assert_eq!(
            run(vec![op("replace", "Appointment.status", value.clone())]).unwrap()["status"],
            json!("cancelled")
        );
        assert!(
            !run(vec![op("replace", "Appointment.comment", value.clone())])
                .unwrap_err()
                .is_malformed()
        );
        assert!(
            !run(vec![op("replace", "Appointment.slot", value.clone())])
                .unwrap_err()
                .is_malformed()
        );
        assert!(
            !run(vec![op("replace", "Appointment", value.clone())])
                .unwrap_err()
                .is_malformed()
        );
        let patched = run(vec![op(
            "replace",
            "Appointment.participant.where(actor.reference = 'Patient/9').status",
            json!([{"name": "value", "valueCode": "declined"}]),
        )])
        .unwrap();
        assert_eq!(patched["participant"][1]["status"], json!("declined"));
        assert_eq!(patched["participant"][0]["status"], json!("accepted"));
    }

    #[test]
    fn replace_with_parts_rebuilds_a_backbone() {
        let value = json!([{"name": "value", "part": [{"name": "actor", "valueReference": {"reference": "Practitioner/7"}}, {"name": "status", "valueCode": "tentative"}, {"name": "type", "valueCodeableConcept": {"text": "t"}}]}]);
        let patched = run(vec![op("replace", "Appointment.participant[0]", value)]).unwrap();
        assert_eq!(
            patched["participant"][0],
            json!({"actor": {"reference": "Practitioner/7"}, "status": "tentative", "type": [{"text": "t"}]})
        );
    }

    #[test]
    fn move_reorders_within_a_list() {
        let value = json!([{"name": "source", "valueInteger": 0}, {"name": "destination", "valueInteger": 1}]);
        let patched = run(vec![op("move", "Appointment.slot", value)]).unwrap();
        assert_eq!(
            patched["slot"],
            json!([{"reference": "Slot/2"}, {"reference": "Slot/1"}])
        );
        for (source, destination) in [(2, 0), (0, 2)] {
            let value = json!([{"name": "source", "valueInteger": source}, {"name": "destination", "valueInteger": destination}]);
            assert!(
                !run(vec![op("move", "Appointment.slot", value)])
                    .unwrap_err()
                    .is_malformed()
            );
        }
        let value = json!([{"name": "source", "valueInteger": 0}, {"name": "destination", "valueInteger": 0}]);
        assert!(
            !run(vec![op("move", "Appointment.basedOn", value.clone())])
                .unwrap_err()
                .is_malformed()
        );
        assert!(
            !run(vec![op("move", "Appointment.status", value)])
                .unwrap_err()
                .is_malformed()
        );
    }

    #[test]
    fn resource_type_and_id_are_guarded() {
        let err = run(vec![op(
            "replace",
            "Appointment.id",
            json!([{"name": "value", "valueId": "other"}]),
        )])
        .unwrap_err();
        assert_eq!(
            err,
            PatchError::failed(IssueType::Invariant, "id cannot be changed")
        );
        let err = run(vec![op("delete", "Appointment.id", json!([]))]).unwrap_err();
        assert_eq!(err.code(), IssueType::Invariant);
        let err = run(vec![op(
            "replace",
            "Appointment.resourceType",
            json!([{"name": "value", "valueString": "Patient"}]),
        )])
        .unwrap_err();
        assert_eq!(
            err,
            PatchError::failed(IssueType::Invariant, "resourceType cannot be changed")
        );
        let err = run(vec![op(
            "replace",
            "Patient.id",
            json!([{"name": "value", "valueId": "x"}]),
        )])
        .unwrap_err();
        assert_eq!(err.code(), IssueType::Processing);
    }

    #[test]
    fn a_later_failure_rejects_the_whole_patch() {
        let target = appointment();
        let body = params(vec![
            op(
                "replace",
                "Appointment.status",
                json!([{"name": "value", "valueCode": "cancelled"}]),
            ),
            op(
                "replace",
                "Appointment.comment",
                json!([{"name": "value", "valueString": "x"}]),
            ),
        ]);
        assert!(fhirpath_patch(&target, &body).is_err());
        assert_eq!(target, appointment());
    }

    #[test]
    fn diagnostics_do_not_echo_paths_or_values() {
        let err = run(vec![op(
            "replace",
            "Appointment.participant.where(actor.reference = 'Patient/secret').status",
            json!([{"name": "value", "valueCode": "x"}]),
        )])
        .unwrap_err();
        assert_eq!(
            err.diagnostics(),
            "operation 1 (replace): the path matches nothing"
        );
    }
}
