//! Evaluates parsed FHIRPath steps over a JSON resource, returning *where* the matches are
//! (locations) rather than copies of them, so patch operations can change them in place.
//!
//! Collection semantics follow FHIRPath: navigating into a repeating element yields each array
//! item as its own member of the collection, and indexers/`first()`/`last()` pick from that
//! flattened collection.

use serde_json::Value;

use super::clip;
use super::equality::json_equal;
use super::expr::{Criteria, Operand, Step, Term};

/// One step of a location: an object member or an array item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Token {
    Key(String),
    Index(usize),
}

/// Where a matched element lives in the resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Location {
    pub(super) tokens: Vec<Token>,
    /// The data type suffix when the element was reached through a choice name
    /// (`value` finding `valueString` gives `String`), for `ofType()`.
    choice_type: Option<String>,
}

impl Location {
    pub(super) fn root() -> Location {
        Location {
            tokens: Vec::new(),
            choice_type: None,
        }
    }

    pub(super) fn is_root(&self) -> bool {
        self.tokens.is_empty()
    }

    /// The location of member `key` of this element.
    pub(super) fn member(&self, key: &str) -> Location {
        let mut tokens = self.tokens.clone();
        tokens.push(Token::Key(key.to_string()));
        Location {
            tokens,
            choice_type: None,
        }
    }

    fn item(&self, index: usize) -> Location {
        let mut tokens = self.tokens.clone();
        tokens.push(Token::Index(index));
        Location {
            tokens,
            choice_type: self.choice_type.clone(),
        }
    }

    pub(super) fn value<'a>(&self, root: &'a Value) -> Option<&'a Value> {
        value_at(root, &self.tokens)
    }

    pub(super) fn value_mut<'a>(&self, root: &'a mut Value) -> Option<&'a mut Value> {
        value_at_mut(root, &self.tokens)
    }

    /// The element names from the resource root to here, array positions left out
    /// (`/participant/0/type` gives `participant.type`): what schema knowledge is keyed on.
    pub(super) fn element_path(&self) -> Vec<String> {
        self.tokens
            .iter()
            .filter_map(|token| match token {
                Token::Key(key) => Some(key.clone()),
                Token::Index(_) => None,
            })
            .collect()
    }
}

pub(super) fn value_at<'a>(root: &'a Value, tokens: &[Token]) -> Option<&'a Value> {
    tokens
        .iter()
        .try_fold(root, |current, token| match (current, token) {
            (Value::Object(members), Token::Key(key)) => members.get(key),
            (Value::Array(items), Token::Index(index)) => items.get(*index),
            _ => None,
        })
}

pub(super) fn value_at_mut<'a>(root: &'a mut Value, tokens: &[Token]) -> Option<&'a mut Value> {
    tokens
        .iter()
        .try_fold(root, |current, token| match (current, token) {
            (Value::Object(members), Token::Key(key)) => members.get_mut(key),
            (Value::Array(items), Token::Index(index)) => items.get_mut(*index),
            _ => None,
        })
}

/// Evaluates a whole patch path against the resource. A leading capitalised name is the type of
/// the resource (`Appointment.start`); naming another type is an error rather than an empty
/// result, so a patch aimed at the wrong resource cannot silently do nothing.
pub(super) fn evaluate(steps: &[Step], root: &Value) -> Result<Vec<Location>, String> {
    let steps = without_root_type(steps, root)?;
    apply_steps(root, vec![Location::root()], steps)
}

fn without_root_type<'s>(steps: &'s [Step], root: &Value) -> Result<&'s [Step], String> {
    let Some((Step::Member(first), rest)) = steps.split_first() else {
        return Ok(steps);
    };
    if !first.starts_with(|c: char| c.is_ascii_uppercase()) {
        return Ok(steps);
    }
    let resource_type = root
        .get("resourceType")
        .and_then(Value::as_str)
        .unwrap_or("");
    if first == resource_type || first == "Resource" || first == "DomainResource" {
        Ok(rest)
    } else {
        Err(format!(
            "the path starts with {} but the resource is {}",
            clip(first),
            clip(resource_type)
        ))
    }
}

fn apply_steps(
    root: &Value,
    start: Vec<Location>,
    steps: &[Step],
) -> Result<Vec<Location>, String> {
    steps
        .iter()
        .try_fold(start, |items, step| apply_step(root, items, step))
}

fn apply_step(root: &Value, items: Vec<Location>, step: &Step) -> Result<Vec<Location>, String> {
    Ok(match step {
        Step::Member(name) => items
            .iter()
            .flat_map(|location| children(root, location, name))
            .collect(),
        Step::Index(index) => items.into_iter().nth(*index).into_iter().collect(),
        Step::First => items.into_iter().next().into_iter().collect(),
        Step::Last => items.into_iter().last().into_iter().collect(),
        Step::OfType(type_name) => items
            .into_iter()
            .filter(|location| is_of_type(root, location, type_name))
            .collect(),
        Step::Where(criteria) => {
            let mut kept = Vec::new();
            for location in items {
                if criteria_hold(root, &location, criteria)? {
                    kept.push(location);
                }
            }
            kept
        }
    })
}

/// The items member `name` contributes: each array item separately, nulls (placeholders that
/// align primitive arrays with their `_name` extensions) left out.
fn children(root: &Value, location: &Location, name: &str) -> Vec<Location> {
    let Some(Value::Object(members)) = location.value(root) else {
        return Vec::new();
    };
    let (key, choice_type) = match members.get(name) {
        Some(_) => (name.to_string(), None),
        None => match choice_key(members.keys(), name) {
            Some((key, type_name)) => (key, Some(type_name)),
            None => return Vec::new(),
        },
    };
    let mut child = location.member(&key);
    child.choice_type = choice_type;
    match members.get(&key) {
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .filter(|(_, item)| !item.is_null())
            .map(|(index, _)| child.item(index))
            .collect(),
        Some(Value::Null) | None => Vec::new(),
        Some(_) => vec![child],
    }
}

/// FHIR data types that can follow a choice element's name (`value[x]` as `valueString`, ...).
/// Matching only these keeps `patient` from finding `patientInstruction`.
const CHOICE_TYPES: &[&str] = &[
    "Base64Binary",
    "Boolean",
    "Canonical",
    "Code",
    "Date",
    "DateTime",
    "Decimal",
    "Id",
    "Instant",
    "Integer",
    "Markdown",
    "Oid",
    "PositiveInt",
    "String",
    "Time",
    "UnsignedInt",
    "Uri",
    "Url",
    "Uuid",
    "Address",
    "Age",
    "Annotation",
    "Attachment",
    "CodeableConcept",
    "Coding",
    "ContactPoint",
    "Count",
    "Distance",
    "Duration",
    "HumanName",
    "Identifier",
    "Money",
    "Period",
    "Quantity",
    "Range",
    "Ratio",
    "Reference",
    "SampledData",
    "Signature",
    "Timing",
    "ContactDetail",
    "Contributor",
    "DataRequirement",
    "Expression",
    "ParameterDefinition",
    "RelatedArtifact",
    "TriggerDefinition",
    "UsageContext",
    "Dosage",
    "Meta",
];

/// Finds the member holding choice element `name` (`value` -> `valueString`) and its type.
fn choice_key<'a>(keys: impl Iterator<Item = &'a String>, name: &str) -> Option<(String, String)> {
    keys.filter_map(|key| {
        let suffix = key.strip_prefix(name)?;
        CHOICE_TYPES
            .contains(&suffix)
            .then(|| (key.clone(), suffix.to_string()))
    })
    .next()
}

/// `ofType(T)`: without a schema only choice elements and resources carry a type we can check;
/// anything else is kept (its type is whatever the element's definition says).
fn is_of_type(root: &Value, location: &Location, type_name: &str) -> bool {
    if let Some(choice_type) = &location.choice_type {
        return choice_type.eq_ignore_ascii_case(type_name);
    }
    match location
        .value(root)
        .and_then(|value| value.get("resourceType"))
        .and_then(Value::as_str)
    {
        Some(resource_type) => resource_type == type_name,
        None => true,
    }
}

fn criteria_hold(root: &Value, item: &Location, criteria: &Criteria) -> Result<bool, String> {
    for term in &criteria.terms {
        if !term_holds(root, item, term)? {
            return Ok(false);
        }
    }
    Ok(true)
}

/// FHIRPath `=`/`!=`: an empty side gives empty (false in `where`); otherwise the collections are
/// equal when they have the same items in the same order.
fn term_holds(root: &Value, item: &Location, term: &Term) -> Result<bool, String> {
    match term {
        Term::Truthy(operand) => {
            let values = operand_values(root, item, operand)?;
            match values.as_slice() {
                [] => Ok(false),
                [Value::Bool(flag)] => Ok(*flag),
                [_] => Ok(true),
                _ => Err("where() criteria must give a single value for each item".to_string()),
            }
        }
        Term::Compare { left, equal, right } => {
            let (left, right) = (
                operand_values(root, item, left)?,
                operand_values(root, item, right)?,
            );
            if left.is_empty() || right.is_empty() {
                return Ok(false);
            }
            let same =
                left.len() == right.len() && left.iter().zip(&right).all(|(a, b)| json_equal(a, b));
            Ok(same == *equal)
        }
    }
}

fn operand_values(root: &Value, item: &Location, operand: &Operand) -> Result<Vec<Value>, String> {
    match operand {
        Operand::Literal(value) => Ok(vec![value.clone()]),
        Operand::Path(steps) => {
            let locations = apply_steps(root, vec![item.clone()], steps)?;
            Ok(locations
                .iter()
                .filter_map(|location| location.value(root))
                .cloned()
                .collect())
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::expr::parse;
    use super::*;

    fn appointment() -> Value {
        json!({
            "resourceType": "Appointment",
            "id": "a1",
            "status": "booked",
            "slot": [{"reference": "Slot/1"}, {"reference": "Slot/2"}],
            "participant": [
                {"type": [{"coding": [{"code": "ATND"}]}], "actor": {"reference": "Practitioner/1"}, "status": "accepted", "required": "required"},
                {"actor": {"reference": "Patient/9", "type": "Patient"}, "status": "accepted"},
                {"actor": {"reference": "Location/3"}, "status": "declined"}
            ],
            "extension": [
                {"url": "http://e/a", "valueString": "x"},
                {"url": "http://e/b", "valueBoolean": true},
                {"url": "http://e/c", "valueInteger": 12}
            ],
            "contained": [{"resourceType": "Patient", "id": "p"}, {"resourceType": "Location", "id": "l"}],
            "minutesDuration": 15
        })
    }

    fn pointers(path: &str) -> Vec<String> {
        let doc = appointment();
        let steps = parse(path).unwrap();
        evaluate(&steps, &doc)
            .unwrap()
            .iter()
            .map(pointer_text)
            .collect()
    }

    fn pointer_text(location: &Location) -> String {
        location
            .tokens
            .iter()
            .map(|token| match token {
                Token::Key(key) => format!("/{key}"),
                Token::Index(index) => format!("/{index}"),
            })
            .collect()
    }

    #[test]
    fn navigates_members_and_flattens_arrays() {
        assert_eq!(pointers("Appointment"), vec![""]);
        assert_eq!(pointers("Appointment.status"), vec!["/status"]);
        assert_eq!(pointers("status"), vec!["/status"]);
        assert_eq!(pointers("Appointment.slot"), vec!["/slot/0", "/slot/1"]);
        assert_eq!(
            pointers("Appointment.slot.reference"),
            vec!["/slot/0/reference", "/slot/1/reference"]
        );
        assert_eq!(pointers("Appointment.participant.actor.reference").len(), 3);
        assert_eq!(pointers("Appointment.missing"), Vec::<String>::new());
        assert_eq!(pointers("Appointment.status.missing"), Vec::<String>::new());
    }

    #[test]
    fn indexers_first_and_last_pick_from_the_flattened_collection() {
        assert_eq!(pointers("Appointment.slot[1]"), vec!["/slot/1"]);
        assert_eq!(pointers("Appointment.slot[2]"), Vec::<String>::new());
        assert_eq!(
            pointers("Appointment.slot.first().reference"),
            vec!["/slot/0/reference"]
        );
        assert_eq!(pointers("Appointment.slot.last()"), vec!["/slot/1"]);
        assert_eq!(
            pointers("Appointment.participant.actor[2]"),
            vec!["/participant/2/actor"]
        );
    }

    #[test]
    fn where_filters_by_criteria() {
        assert_eq!(
            pointers("Appointment.participant.where(actor.reference = 'Patient/9')"),
            vec!["/participant/1"]
        );
        assert_eq!(
            pointers("Appointment.participant.where(status = 'accepted')"),
            vec!["/participant/0", "/participant/1"]
        );
        assert_eq!(
            pointers(
                "Appointment.participant.where(status = 'accepted' and actor.type = 'Patient').actor"
            ),
            vec!["/participant/1/actor"]
        );
        assert_eq!(
            pointers("Appointment.participant.where(status != 'accepted')"),
            vec!["/participant/2"]
        );
        assert_eq!(
            pointers("Appointment.participant.where(type.coding.code = 'ATND')"),
            vec!["/participant/0"]
        );
        assert_eq!(
            pointers("Appointment.participant.where(required)"),
            vec!["/participant/0"]
        );
        assert_eq!(
            pointers("Appointment.extension.where(url = 'http://e/c' and value = 12.0)"),
            vec!["/extension/2"]
        );
        assert_eq!(
            pointers("Appointment.extension.where(value = true)"),
            vec!["/extension/1"]
        );
        assert_eq!(
            pointers("Appointment.extension.where(valueBoolean)"),
            vec!["/extension/1"]
        );
        assert_eq!(
            pointers("Appointment.slot.reference.where($this = 'Slot/2')"),
            vec!["/slot/1/reference"]
        );
        assert_eq!(
            pointers("Appointment.where(minutesDuration = 15)"),
            vec![""]
        );
        assert_eq!(
            pointers("Appointment.participant.where(nothing = 'x')"),
            Vec::<String>::new()
        );
        assert_eq!(
            pointers("Appointment.participant.where(nothing != 'x')"),
            Vec::<String>::new()
        );
    }

    #[test]
    fn choice_elements_and_of_type() {
        assert_eq!(
            pointers("Appointment.extension.value"),
            vec![
                "/extension/0/valueString",
                "/extension/1/valueBoolean",
                "/extension/2/valueInteger"
            ]
        );
        assert_eq!(
            pointers("Appointment.extension.value.ofType(string)"),
            vec!["/extension/0/valueString"]
        );
        assert_eq!(
            pointers("Appointment.extension.value.ofType(FHIR.integer)"),
            vec!["/extension/2/valueInteger"]
        );
        assert_eq!(
            pointers("Appointment.contained.ofType(Patient)"),
            vec!["/contained/0"]
        );
        assert_eq!(
            pointers("Appointment.participant.actor.ofType(Reference)").len(),
            3
        );
        // A member that merely starts with another name is not a choice.
        let doc = json!({"resourceType": "Appointment", "patientInstruction": "x"});
        assert!(
            evaluate(&parse("Appointment.patient").unwrap(), &doc)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn wrong_root_type_and_ambiguous_truthiness_are_errors() {
        let doc = appointment();
        assert!(evaluate(&parse("Patient.name").unwrap(), &doc).is_err());
        assert!(
            evaluate(
                &parse("Appointment.participant.where(actor.reference)").unwrap(),
                &doc
            )
            .is_ok()
        );
        assert!(evaluate(&parse("Appointment.where(slot)").unwrap(), &doc).is_err());
    }

    #[test]
    fn element_paths_skip_array_positions() {
        let doc = appointment();
        let locations = evaluate(&parse("Appointment.participant[0].type").unwrap(), &doc).unwrap();
        assert_eq!(
            locations[0].element_path(),
            vec!["participant".to_string(), "type".to_string()]
        );
    }
}
