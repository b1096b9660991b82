//! Reads a FHIRPath Patch `Parameters` resource into validated operations.
//!
//! Everything that can be checked without the target is checked here, before any operation runs,
//! so a malformed document is always reported as malformed (400) whatever the target holds.

use serde_json::{Map, Value};

use super::expr::{self, Step};
use super::{PatchError, clip};
use crate::issue::IssueType;

/// Deepest nesting of `part` accepted in a value; FHIR datatypes are far shallower.
const MAX_PART_DEPTH: usize = 16;

/// One `operation` parameter, validated.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Operation {
    /// 1-based position among the parameters, for diagnostics.
    pub(super) number: usize,
    pub(super) path: Vec<Step>,
    pub(super) action: Action,
}

/// What an operation does, with exactly the parts its type requires.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Action {
    Add { name: String, value: PartValue },
    Insert { value: PartValue, index: usize },
    Delete,
    Replace { value: PartValue },
    Move { source: usize, destination: usize },
}

impl Operation {
    /// "operation 2 (replace)": names the operation without echoing the path, whose literals
    /// may be patient data.
    pub(super) fn label(&self) -> String {
        let kind = match self.action {
            Action::Add { .. } => "add",
            Action::Insert { .. } => "insert",
            Action::Delete => "delete",
            Action::Replace { .. } => "replace",
            Action::Move { .. } => "move",
        };
        format!("operation {} ({kind})", self.number)
    }
}

/// An operation's `value`: either a `value[x]` taken as-is, or `part`s that build an element.
/// Parts are kept in order with their names so that repetition can be decided when the value is
/// placed (see [`PartValue::materialize`]).
#[derive(Debug, Clone, PartialEq)]
pub(super) enum PartValue {
    Json(Value),
    Element(Vec<(String, PartValue)>),
}

impl PartValue {
    /// Builds the JSON for this value placed at `element_path` (element names from the resource
    /// root, e.g. `participant`). A part name that repeats, or that names a repeating element,
    /// becomes an array; others become single values.
    pub(super) fn materialize(&self, resource_type: &str, element_path: &mut Vec<String>) -> Value {
        let entries = match self {
            PartValue::Json(value) => return value.clone(),
            PartValue::Element(entries) => entries,
        };
        let mut object = Map::new();
        for (name, _) in entries {
            if object.contains_key(name) {
                continue;
            }
            element_path.push(name.clone());
            let values: Vec<Value> = entries
                .iter()
                .filter(|(other, _)| other == name)
                .map(|(_, value)| value.materialize(resource_type, element_path))
                .collect();
            let repeating = values.len() > 1
                || is_repeating(resource_type, &element_path[..element_path.len() - 1], name);
            element_path.pop();
            let value = match <[Value; 1]>::try_from(values) {
                Ok([single]) if !repeating || single.is_array() => single,
                Ok([single]) => Value::Array(vec![single]),
                Err(many) => Value::Array(many),
            };
            object.insert(name.clone(), value);
        }
        Value::Object(object)
    }
}

/// Elements that repeat wherever they appear.
const ALWAYS_REPEATING: &[&str] = &["extension", "modifierExtension", "coding"];

/// Repeating elements of the resources we patch, as (parent element path, name). There is no
/// schema at hand, so this is the short list that lets a FHIRPath `add` of an absent repeating
/// element (or a part-built backbone) produce an array as FHIR JSON requires.
const KNOWN_REPEATING: &[(&str, &str, &str)] = &[
    ("*", "", "identifier"),
    ("*", "", "contained"),
    ("*", "meta", "profile"),
    ("*", "meta", "security"),
    ("*", "meta", "tag"),
    ("Appointment", "", "serviceCategory"),
    ("Appointment", "", "serviceType"),
    ("Appointment", "", "specialty"),
    ("Appointment", "", "reasonCode"),
    ("Appointment", "", "reasonReference"),
    ("Appointment", "", "supportingInformation"),
    ("Appointment", "", "slot"),
    ("Appointment", "", "basedOn"),
    ("Appointment", "", "participant"),
    ("Appointment", "", "requestedPeriod"),
    ("Appointment", "", "replaces"),
    ("Appointment", "participant", "type"),
];

/// Whether element `name` under `parent` (element names from the resource root) repeats.
pub(super) fn is_repeating(resource_type: &str, parent: &[String], name: &str) -> bool {
    if ALWAYS_REPEATING.contains(&name) {
        return true;
    }
    let parent = parent.join(".");
    KNOWN_REPEATING
        .iter()
        .any(|&(resource, known_parent, known_name)| {
            (resource == "*" || resource == resource_type)
                && known_parent == parent
                && known_name == name
        })
}

/// Reads the Parameters resource into operations, in order.
pub(super) fn parse(parameters: &Value) -> Result<Vec<Operation>, PatchError> {
    let Value::Object(members) = parameters else {
        return Err(PatchError::malformed(
            IssueType::Structure,
            "a FHIRPath Patch body must be a JSON object",
        ));
    };
    if members.get("resourceType").and_then(Value::as_str) != Some("Parameters") {
        return Err(PatchError::malformed(
            IssueType::Invalid,
            "a FHIRPath Patch body must be a Parameters resource",
        ));
    }
    let entries = match members.get("parameter") {
        None => return Ok(Vec::new()),
        Some(Value::Array(entries)) => entries,
        Some(_) => {
            return Err(PatchError::malformed(
                IssueType::Structure,
                "Parameters.parameter must be an array",
            ));
        }
    };
    entries
        .iter()
        .enumerate()
        .map(|(index, entry)| parse_operation(index + 1, entry))
        .collect()
}

/// The parts of one operation as found, before checking which its type needs.
#[derive(Default)]
struct Parts<'a> {
    kind: Option<&'a str>,
    path: Option<&'a str>,
    name: Option<&'a str>,
    value: Option<PartValue>,
    index: Option<usize>,
    source: Option<usize>,
    destination: Option<usize>,
}

fn parse_operation(number: usize, entry: &Value) -> Result<Operation, PatchError> {
    let label = format!("parameter {number}");
    let Value::Object(members) = entry else {
        return Err(PatchError::malformed(
            IssueType::Structure,
            format!("{label} is not a JSON object"),
        ));
    };
    if members.get("name").and_then(Value::as_str) != Some("operation") {
        return Err(PatchError::malformed(
            IssueType::Invalid,
            format!("{label} is not named 'operation'"),
        ));
    }
    let Some(Value::Array(part_list)) = members.get("part") else {
        return Err(PatchError::malformed(
            IssueType::Invalid,
            format!("{label} (operation) has no parts"),
        ));
    };
    let parts = collect_parts(&label, part_list)?;
    let kind = parts.kind.ok_or_else(|| missing(&label, "type"))?;
    let path_text = parts.path.ok_or_else(|| missing(&label, "path"))?;
    let path = expr::parse(path_text).map_err(|why| {
        PatchError::malformed(
            IssueType::Value,
            format!("{label}: the path is not supported FHIRPath: {why}"),
        )
    })?;
    let action = match kind {
        "add" => Action::Add {
            name: valid_name(&label, parts.name)?,
            value: parts.value.ok_or_else(|| missing(&label, "value"))?,
        },
        "insert" => Action::Insert {
            value: parts.value.ok_or_else(|| missing(&label, "value"))?,
            index: parts.index.ok_or_else(|| missing(&label, "index"))?,
        },
        "delete" => Action::Delete,
        "replace" => Action::Replace {
            value: parts.value.ok_or_else(|| missing(&label, "value"))?,
        },
        "move" => Action::Move {
            source: parts.source.ok_or_else(|| missing(&label, "source"))?,
            destination: parts
                .destination
                .ok_or_else(|| missing(&label, "destination"))?,
        },
        other => {
            return Err(PatchError::malformed(
                IssueType::Value,
                format!("{label}: unknown operation type '{}'", clip(other)),
            ));
        }
    };
    Ok(Operation {
        number,
        path,
        action,
    })
}

fn collect_parts<'a>(label: &str, part_list: &'a [Value]) -> Result<Parts<'a>, PatchError> {
    let mut parts = Parts::default();
    for part in part_list {
        let Value::Object(members) = part else {
            return Err(PatchError::malformed(
                IssueType::Structure,
                format!("{label}: a part is not a JSON object"),
            ));
        };
        let name = members.get("name").and_then(Value::as_str).ok_or_else(|| {
            PatchError::malformed(IssueType::Invalid, format!("{label}: a part has no name"))
        })?;
        match name {
            "type" => set_once(
                label,
                name,
                &mut parts.kind,
                primitive_text(label, name, members)?,
            )?,
            "path" => set_once(
                label,
                name,
                &mut parts.path,
                primitive_text(label, name, members)?,
            )?,
            "name" => set_once(
                label,
                name,
                &mut parts.name,
                primitive_text(label, name, members)?,
            )?,
            "index" => set_once(
                label,
                name,
                &mut parts.index,
                whole_number(label, name, members)?,
            )?,
            "source" => set_once(
                label,
                name,
                &mut parts.source,
                whole_number(label, name, members)?,
            )?,
            "destination" => set_once(
                label,
                name,
                &mut parts.destination,
                whole_number(label, name, members)?,
            )?,
            "value" => set_once(
                label,
                name,
                &mut parts.value,
                part_value(label, members, 0)?,
            )?,
            other => {
                return Err(PatchError::malformed(
                    IssueType::Invalid,
                    format!("{label}: unknown part '{}'", clip(other)),
                ));
            }
        }
    }
    Ok(parts)
}

fn set_once<T>(label: &str, name: &str, slot: &mut Option<T>, value: T) -> Result<(), PatchError> {
    if slot.is_some() {
        return Err(PatchError::malformed(
            IssueType::Invalid,
            format!("{label} has more than one '{name}' part"),
        ));
    }
    *slot = Some(value);
    Ok(())
}

fn missing(label: &str, name: &str) -> PatchError {
    PatchError::malformed(IssueType::Invalid, format!("{label} has no '{name}' part"))
}

/// The `name` of an add must be a plain element name: it becomes an object member.
fn valid_name(label: &str, name: Option<&str>) -> Result<String, PatchError> {
    let name = name.ok_or_else(|| missing(label, "name"))?;
    let plain = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if plain {
        Ok(name.to_string())
    } else {
        Err(PatchError::malformed(
            IssueType::Value,
            format!("{label}: '{}' is not an element name", clip(name)),
        ))
    }
}

/// The single `value[x]` member of a part (`valueString`, `valueReference`, ...), if any.
/// More than one is malformed: FHIR allows exactly one choice per element.
fn choice_value<'a>(
    label: &str,
    members: &'a Map<String, Value>,
) -> Result<Option<&'a Value>, PatchError> {
    let mut found = members.iter().filter(|(key, _)| {
        key.strip_prefix("value")
            .is_some_and(|suffix| suffix.starts_with(|c: char| c.is_ascii_uppercase()))
    });
    match (found.next(), found.next()) {
        (None, _) => Ok(None),
        (Some((_, value)), None) => Ok(Some(value)),
        (Some(_), Some(_)) => Err(PatchError::malformed(
            IssueType::Structure,
            format!("{label}: a part has more than one value[x]"),
        )),
    }
}

fn primitive_text<'a>(
    label: &str,
    name: &str,
    members: &'a Map<String, Value>,
) -> Result<&'a str, PatchError> {
    match choice_value(label, members)? {
        Some(Value::String(text)) => Ok(text),
        Some(_) => Err(PatchError::malformed(
            IssueType::Value,
            format!("{label}: the '{name}' part must hold a string value"),
        )),
        None => Err(PatchError::malformed(
            IssueType::Invalid,
            format!("{label}: the '{name}' part has no value"),
        )),
    }
}

/// `index`, `source` and `destination` are integers from 0 (valueInteger, valueUnsignedInt, ...).
fn whole_number(
    label: &str,
    name: &str,
    members: &Map<String, Value>,
) -> Result<usize, PatchError> {
    let number = match choice_value(label, members)? {
        Some(Value::Number(number)) => number.as_u64().and_then(|n| usize::try_from(n).ok()),
        None => {
            return Err(PatchError::malformed(
                IssueType::Invalid,
                format!("{label}: the '{name}' part has no value"),
            ));
        }
        Some(_) => None,
    };
    number.ok_or_else(|| {
        PatchError::malformed(
            IssueType::Value,
            format!("{label}: the '{name}' part must be a whole number from 0"),
        )
    })
}

/// A `value` part (or a nested part inside one): a `value[x]`, a `resource`, or nested parts.
fn part_value(
    label: &str,
    members: &Map<String, Value>,
    depth: usize,
) -> Result<PartValue, PatchError> {
    let direct = match (choice_value(label, members)?, members.get("resource")) {
        (Some(_), Some(_)) => return Err(ambiguous(label)),
        (Some(value), None) | (None, Some(value)) => Some(value),
        (None, None) => None,
    };
    match (direct, members.get("part")) {
        (Some(_), Some(_)) => Err(ambiguous(label)),
        (Some(value), None) => Ok(PartValue::Json(value.clone())),
        (None, Some(Value::Array(nested))) => nested_parts(label, nested, depth + 1),
        (None, Some(_)) => Err(PatchError::malformed(
            IssueType::Structure,
            format!("{label}: 'part' must be an array"),
        )),
        (None, None) => Err(PatchError::malformed(
            IssueType::Invalid,
            format!("{label}: a value part has no value[x] and no parts"),
        )),
    }
}

fn nested_parts(label: &str, nested: &[Value], depth: usize) -> Result<PartValue, PatchError> {
    if depth > MAX_PART_DEPTH {
        return Err(PatchError::malformed(
            IssueType::Structure,
            format!("{label}: the value parts are nested too deeply"),
        ));
    }
    if nested.is_empty() {
        return Err(PatchError::malformed(
            IssueType::Invalid,
            format!("{label}: a value has an empty part list"),
        ));
    }
    let mut entries = Vec::with_capacity(nested.len());
    for part in nested {
        let Value::Object(members) = part else {
            return Err(PatchError::malformed(
                IssueType::Structure,
                format!("{label}: a value part is not a JSON object"),
            ));
        };
        let Some(Value::String(name)) = members.get("name") else {
            return Err(PatchError::malformed(
                IssueType::Invalid,
                format!("{label}: a value part has no name"),
            ));
        };
        entries.push((name.clone(), part_value(label, members, depth)?));
    }
    Ok(PartValue::Element(entries))
}

fn ambiguous(label: &str) -> PatchError {
    PatchError::malformed(
        IssueType::Structure,
        format!("{label}: a value part has more than one of value[x], resource and part"),
    )
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn operation(parts: Value) -> Value {
        json!({"resourceType": "Parameters", "parameter": [{"name": "operation", "part": parts}]})
    }

    fn parse_one(parts: Value) -> Result<Operation, PatchError> {
        parse(&operation(parts)).map(|mut operations| operations.remove(0))
    }

    #[test]
    fn reads_each_operation_type() {
        let add = parse_one(json!([{"name": "type", "valueCode": "add"}, {"name": "path", "valueString": "Appointment"}, {"name": "name", "valueString": "comment"}, {"name": "value", "valueString": "x"}])).unwrap();
        assert_eq!(
            add.action,
            Action::Add {
                name: "comment".to_string(),
                value: PartValue::Json(json!("x"))
            }
        );
        assert_eq!(add.label(), "operation 1 (add)");
        let insert = parse_one(json!([{"name": "type", "valueCode": "insert"}, {"name": "path", "valueString": "Appointment.slot"}, {"name": "index", "valueInteger": 1}, {"name": "value", "valueReference": {"reference": "Slot/3"}}])).unwrap();
        assert_eq!(
            insert.action,
            Action::Insert {
                value: PartValue::Json(json!({"reference": "Slot/3"})),
                index: 1
            }
        );
        let delete = parse_one(json!([{"name": "type", "valueCode": "delete"}, {"name": "path", "valueString": "Appointment.comment"}])).unwrap();
        assert_eq!(delete.action, Action::Delete);
        let replace = parse_one(json!([{"name": "type", "valueCode": "replace"}, {"name": "path", "valueString": "Appointment.start"}, {"name": "value", "valueInstant": "2024-01-01T10:00:00+00:00"}])).unwrap();
        assert_eq!(
            replace.action,
            Action::Replace {
                value: PartValue::Json(json!("2024-01-01T10:00:00+00:00"))
            }
        );
        let moved = parse_one(json!([{"name": "type", "valueCode": "move"}, {"name": "path", "valueString": "Appointment.slot"}, {"name": "source", "valueUnsignedInt": 0}, {"name": "destination", "valuePositiveInt": 1}])).unwrap();
        assert_eq!(
            moved.action,
            Action::Move {
                source: 0,
                destination: 1
            }
        );
    }

    #[test]
    fn builds_elements_from_parts() {
        let value = parse_one(json!([
            {"name": "type", "valueCode": "add"}, {"name": "path", "valueString": "Appointment"}, {"name": "name", "valueString": "participant"},
            {"name": "value", "part": [
                {"name": "type", "valueCodeableConcept": {"coding": [{"code": "ATND"}]}},
                {"name": "actor", "part": [{"name": "reference", "valueString": "Practitioner/1"}, {"name": "type", "valueUri": "Practitioner"}]},
                {"name": "status", "valueCode": "accepted"},
                {"name": "extension", "part": [{"name": "url", "valueUri": "http://e/1"}, {"name": "valueString", "valueString": "a"}]},
                {"name": "extension", "part": [{"name": "url", "valueUri": "http://e/2"}, {"name": "valueString", "valueString": "b"}]}
            ]}
        ]))
        .unwrap();
        let Action::Add { value, .. } = value.action else {
            panic!()
        };
        let built = value.materialize("Appointment", &mut vec!["participant".to_string()]);
        assert_eq!(
            built,
            json!({
                "type": [{"coding": [{"code": "ATND"}]}],
                "actor": {"reference": "Practitioner/1", "type": "Practitioner"},
                "status": "accepted",
                "extension": [{"url": "http://e/1", "valueString": "a"}, {"url": "http://e/2", "valueString": "b"}]
            })
        );
    }

    #[test]
    fn repeated_part_names_become_arrays() {
        let value = PartValue::Element(vec![
            ("x".to_string(), PartValue::Json(json!(1))),
            ("y".to_string(), PartValue::Json(json!(2))),
            ("x".to_string(), PartValue::Json(json!(3))),
        ]);
        assert_eq!(
            serde_json::to_string(&value.materialize("Appointment", &mut Vec::new())).unwrap(),
            r#"{"x":[1,3],"y":2}"#
        );
    }

    #[test]
    fn knows_appointment_repeating_elements() {
        assert!(is_repeating("Appointment", &[], "slot"));
        assert!(is_repeating(
            "Appointment",
            &["participant".to_string()],
            "type"
        ));
        assert!(!is_repeating(
            "Appointment",
            &["participant".to_string(), "actor".to_string()],
            "type"
        ));
        assert!(!is_repeating("Appointment", &[], "start"));
        assert!(is_repeating("Slot", &[], "identifier"));
        assert!(!is_repeating("Slot", &[], "slot"));
        assert!(is_repeating(
            "Slot",
            &["a".to_string(), "b".to_string()],
            "extension"
        ));
    }

    #[test]
    fn rejects_malformed_parameters() {
        let cases = [
            json!([]),
            json!("Parameters"),
            json!({"resourceType": "Appointment"}),
            json!({"resourceType": "Parameters", "parameter": {}}),
            json!({"resourceType": "Parameters", "parameter": [1]}),
            json!({"resourceType": "Parameters", "parameter": [{"name": "op", "part": []}]}),
            json!({"resourceType": "Parameters", "parameter": [{"name": "operation"}]}),
            operation(json!([{"name": "path", "valueString": "Appointment.start"}])),
            operation(json!([{"name": "type", "valueCode": "delete"}])),
            operation(
                json!([{"name": "type", "valueCode": "remove"}, {"name": "path", "valueString": "Appointment.start"}]),
            ),
            operation(
                json!([{"name": "type", "valueCode": "delete"}, {"name": "path", "valueString": "Appointment..start"}]),
            ),
            operation(
                json!([{"name": "type", "valueCode": "delete"}, {"name": "path", "valueInteger": 1}]),
            ),
            operation(
                json!([{"name": "type", "valueCode": "delete"}, {"name": "type", "valueCode": "delete"}, {"name": "path", "valueString": "a"}]),
            ),
            operation(
                json!([{"name": "type", "valueCode": "delete"}, {"name": "path", "valueString": "a"}, {"name": "colour", "valueString": "red"}]),
            ),
            operation(
                json!([{"name": "type", "valueCode": "replace"}, {"name": "path", "valueString": "a"}]),
            ),
            operation(
                json!([{"name": "type", "valueCode": "replace"}, {"name": "path", "valueString": "a"}, {"name": "value"}]),
            ),
            operation(
                json!([{"name": "type", "valueCode": "replace"}, {"name": "path", "valueString": "a"}, {"name": "value", "valueString": "x", "valueCode": "y"}]),
            ),
            operation(
                json!([{"name": "type", "valueCode": "replace"}, {"name": "path", "valueString": "a"}, {"name": "value", "valueString": "x", "part": []}]),
            ),
            operation(
                json!([{"name": "type", "valueCode": "replace"}, {"name": "path", "valueString": "a"}, {"name": "value", "part": []}]),
            ),
            operation(
                json!([{"name": "type", "valueCode": "replace"}, {"name": "path", "valueString": "a"}, {"name": "value", "part": [{"valueString": "x"}]}]),
            ),
            operation(
                json!([{"name": "type", "valueCode": "add"}, {"name": "path", "valueString": "a"}, {"name": "value", "valueString": "x"}]),
            ),
            operation(
                json!([{"name": "type", "valueCode": "add"}, {"name": "path", "valueString": "a"}, {"name": "name", "valueString": "a/b"}, {"name": "value", "valueString": "x"}]),
            ),
            operation(
                json!([{"name": "type", "valueCode": "insert"}, {"name": "path", "valueString": "a"}, {"name": "index", "valueInteger": -1}, {"name": "value", "valueString": "x"}]),
            ),
            operation(
                json!([{"name": "type", "valueCode": "insert"}, {"name": "path", "valueString": "a"}, {"name": "index", "valueDecimal": 1.5}, {"name": "value", "valueString": "x"}]),
            ),
            operation(
                json!([{"name": "type", "valueCode": "insert"}, {"name": "path", "valueString": "a"}, {"name": "value", "valueString": "x"}]),
            ),
            operation(
                json!([{"name": "type", "valueCode": "move"}, {"name": "path", "valueString": "a"}, {"name": "source", "valueInteger": 0}]),
            ),
            operation(
                json!([{"name": "type", "valueCode": "move"}, {"name": "path", "valueString": "a"}, {"name": "source", "valueString": "0"}, {"name": "destination", "valueInteger": 1}]),
            ),
        ];
        for case in cases {
            let err = parse(&case).unwrap_err();
            assert!(err.is_malformed(), "{case}");
            assert!(
                matches!(
                    err.code(),
                    IssueType::Invalid | IssueType::Structure | IssueType::Value
                ),
                "{case}"
            );
        }
    }

    #[test]
    fn parts_nested_too_deeply_are_refused() {
        let mut value = json!({"name": "leaf", "valueString": "x"});
        for _ in 0..40 {
            value = json!({"name": "n", "part": [value]});
        }
        let body = operation(
            json!([{"name": "type", "valueCode": "replace"}, {"name": "path", "valueString": "a"}, {"name": "value", "part": [value]}]),
        );
        assert!(parse(&body).unwrap_err().is_malformed());
    }

    #[test]
    fn an_empty_parameters_resource_has_no_operations() {
        assert_eq!(
            parse(&json!({"resourceType": "Parameters"})).unwrap(),
            Vec::new()
        );
        assert_eq!(
            parse(&json!({"resourceType": "Parameters", "parameter": []})).unwrap(),
            Vec::new()
        );
    }
}
