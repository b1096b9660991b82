//! The one generic walker: checks any JSON object against an element table using the FHIR JSON
//! rules (https://hl7.org/fhir/R4/json.html), so resource modules only add their own rules.
//!
//! Diagnostics name the rule that was broken and, at most, an element name or a code from a
//! fixed value set: never a value taken from the resource, which may identify a patient.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Number, Value};

use super::datatypes::{PRIMITIVE_EXTENSION, inherited};
use super::table::{Base, Element, JsonKind, Primitive, Table, Type};
use crate::instant::{Instant, check_date, check_date_time};
use crate::issue::{Issue, IssueType};

/// Deeper nesting than any real resource needs; a guard so hostile input cannot exhaust the stack.
const MAX_DEPTH: usize = 64;

/// Checks a whole resource's structure: its `resourceType`, every element against `table`,
/// contained resources, and local references (ref-1, dom-3).
pub fn resource(value: &Value, table: &'static Table) -> Vec<Issue> {
    let mut issues = Vec::new();
    let path = table.name;
    let Some(object) = value.as_object() else {
        issues
            .push(Issue::error(IssueType::Structure, "a resource must be a JSON object").at(path));
        return issues;
    };
    match object.get("resourceType") {
        None => issues.push(
            Issue::error(IssueType::Required, "the resourceType property is required").at(path),
        ),
        Some(Value::String(found)) if found == table.name => {}
        Some(_) => issues.push(
            Issue::error(
                IssueType::Structure,
                format!("the resourceType must be '{}'", table.name),
            )
            .at(path),
        ),
    }
    walk_object(object, table, path, 0, &mut issues);
    check_local_references(object, path, &mut issues);
    issues
}

/// Checks one JSON object against a table: every property must be a known element of the right
/// shape, required elements must be present, and the table's own invariant must hold.
fn walk_object(
    object: &Map<String, Value>,
    table: &'static Table,
    path: &str,
    depth: usize,
    issues: &mut Vec<Issue>,
) {
    if depth > MAX_DEPTH {
        issues
            .push(Issue::error(IssueType::Structure, "the content is nested too deeply").at(path));
        return;
    }
    if object.is_empty() {
        issues.push(
            Issue::error(IssueType::Structure, "ele-1: an object must not be empty").at(path),
        );
        return;
    }
    let mut present: Vec<&'static str> = Vec::new();
    // choice elements already written; their `_name` partners do not count
    let mut chosen: Vec<&'static str> = Vec::new();
    for (key, value) in object {
        if key == "resourceType" && table.base == Base::DomainResource {
            continue;
        }
        if let Some(name) = key.strip_prefix('_') {
            match find_element(table, name) {
                Some((element, Type::Primitive(_))) => {
                    present.push(element.name);
                    walk_primitive_extension(
                        value,
                        element,
                        object.get(name),
                        &child(path, name),
                        depth,
                        issues,
                    );
                }
                _ => unknown_element(key, path, issues),
            }
            continue;
        }
        let Some((element, ty)) = find_element(table, key) else {
            unknown_element(key, path, issues);
            continue;
        };
        let element_path = child(path, key);
        if element.choice_prefix().is_some() && chosen.contains(&element.name) {
            issues.push(
                Issue::error(
                    IssueType::Structure,
                    format!("only one type may be given for {}", element.name),
                )
                .at(&element_path),
            );
        }
        present.push(element.name);
        if element.choice_prefix().is_some() {
            chosen.push(element.name);
        }
        let extension_sibling = object.get(&format!("_{key}"));
        walk_element(
            value,
            element,
            ty,
            extension_sibling,
            &element_path,
            depth,
            issues,
        );
    }
    for element in inherited(table.base).iter().chain(table.elements) {
        if element.min > 0 && !present.contains(&element.name) {
            let text = format!(
                "the element '{}' is required (minimum cardinality {})",
                element.name, element.min
            );
            issues.push(Issue::error(IssueType::Required, text).at(child(path, element.name)));
        }
    }
    if let Some(invariant) = table.invariant {
        invariant(object, path, issues);
    }
}

/// The element a JSON property name denotes, with the type it was written as (choice elements
/// are written `value` + TypeName, e.g. `valueCodeableConcept`).
fn find_element(table: &'static Table, key: &str) -> Option<(&'static Element, Type)> {
    inherited(table.base)
        .iter()
        .chain(table.elements)
        .find_map(|element| match element.choice_prefix() {
            None => (element.name == key)
                .then(|| element.types.first().map(|ty| (element, *ty)))
                .flatten(),
            Some(prefix) => {
                let suffix = key.strip_prefix(prefix)?;
                element
                    .types
                    .iter()
                    .find(|ty| is_type_suffix(suffix, ty.name()))
                    .map(|ty| (element, *ty))
            }
        })
}

/// `DateTime` is the suffix for `dateTime`: the type name with its first letter capitalised.
fn is_type_suffix(suffix: &str, type_name: &str) -> bool {
    let (mut s, mut t) = (suffix.chars(), type_name.chars());
    match (s.next(), t.next()) {
        (Some(first), Some(type_first)) => {
            first == type_first.to_ascii_uppercase() && s.as_str() == t.as_str()
        }
        _ => false,
    }
}

/// Checks an element's JSON shape against its cardinality, then each value against its type.
fn walk_element(
    value: &Value,
    element: &Element,
    ty: Type,
    extension_sibling: Option<&Value>,
    path: &str,
    depth: usize,
    issues: &mut Vec<Issue>,
) {
    match value {
        Value::Null => issues.push(null_value(path)),
        Value::Array(items) if element.many => {
            if items.is_empty() {
                issues.push(
                    Issue::error(IssueType::Structure, "ele-1: an array must not be empty")
                        .at(path),
                );
            }
            let extensions = extension_sibling.and_then(Value::as_array);
            for (index, item) in items.iter().enumerate() {
                let item_path = format!("{path}[{index}]");
                if item.is_null() {
                    // A repeating primitive may be null when `_name` carries its extensions.
                    let carried = extensions
                        .and_then(|e| e.get(index))
                        .is_some_and(Value::is_object);
                    if !(carried && matches!(ty, Type::Primitive(_))) {
                        issues.push(null_value(&item_path));
                    }
                    continue;
                }
                walk_value(item, element, ty, &item_path, depth, issues);
            }
        }
        _ if element.many => issues.push(
            Issue::error(
                IssueType::Structure,
                "this element repeats and must be written as a JSON array",
            )
            .at(path),
        ),
        Value::Array(_) => issues.push(
            Issue::error(
                IssueType::Structure,
                "this element does not repeat and must not be a JSON array",
            )
            .at(path),
        ),
        _ => walk_value(value, element, ty, path, depth, issues),
    }
}

/// Checks a single (non-array) value against a type.
fn walk_value(
    value: &Value,
    element: &Element,
    ty: Type,
    path: &str,
    depth: usize,
    issues: &mut Vec<Issue>,
) {
    match ty {
        Type::Primitive(primitive) => {
            if check_primitive(value, primitive, path, issues) {
                check_binding(value, element, path, issues);
            }
        }
        Type::Complex(table) => match value.as_object() {
            Some(object) => walk_object(object, table, path, depth + 1, issues),
            None => issues.push(not_an_object(table.name, path)),
        },
        Type::Resource => walk_contained(value, path, depth + 1, issues),
        Type::Opaque(name) => match value {
            Value::Object(_) => check_no_empty_content(value, path, depth + 1, issues),
            _ => issues.push(not_an_object(name, path)),
        },
    }
}

/// Validates `_name`: the `id`/`extension` of a primitive, one object (or null) per array item.
fn walk_primitive_extension(
    value: &Value,
    element: &Element,
    primitive: Option<&Value>,
    path: &str,
    depth: usize,
    issues: &mut Vec<Issue>,
) {
    match (element.many, value) {
        (true, Value::Array(items)) => {
            let primitives = primitive.and_then(Value::as_array);
            if primitives.is_some_and(|p| p.len() != items.len()) {
                let text = "the '_' array of a repeating primitive must have one entry per value";
                issues.push(Issue::error(IssueType::Structure, text).at(path));
            }
            for (index, item) in items.iter().enumerate() {
                let item_path = format!("{path}[{index}]");
                match item {
                    Value::Null
                        if primitives
                            .and_then(|p| p.get(index))
                            .is_some_and(|v| !v.is_null()) => {}
                    Value::Object(object) => {
                        walk_object(object, &PRIMITIVE_EXTENSION, &item_path, depth + 1, issues)
                    }
                    Value::Null => issues.push(null_value(&item_path)),
                    _ => issues.push(not_an_object("Element", &item_path)),
                }
            }
        }
        (false, Value::Object(object)) => {
            walk_object(object, &PRIMITIVE_EXTENSION, path, depth + 1, issues)
        }
        (true, _) => issues.push(
            Issue::error(
                IssueType::Structure,
                "the extensions of a repeating primitive must be a JSON array",
            )
            .at(path),
        ),
        (false, _) => issues.push(not_an_object("Element", path)),
    }
}

/// A contained resource: its own table when we have one, otherwise only the no-empty-content
/// rule; plus the rules every contained resource obeys (dom-2, dom-4, dom-5).
fn walk_contained(value: &Value, path: &str, depth: usize, issues: &mut Vec<Issue>) {
    let Some(object) = value.as_object() else {
        issues.push(not_an_object("Resource", path));
        return;
    };
    match object.get("resourceType") {
        Some(Value::String(resource_type)) => match super::resource_table(resource_type) {
            Some(table) => walk_object(object, table, path, depth, issues),
            None => check_no_empty_content(value, path, depth, issues),
        },
        Some(_) => issues.push(
            Issue::error(IssueType::Structure, "resourceType must be a JSON string")
                .at(child(path, "resourceType")),
        ),
        None => issues.push(
            Issue::error(
                IssueType::Required,
                "a contained resource needs a resourceType",
            )
            .at(path),
        ),
    }
    if object.contains_key("contained") {
        let text = "dom-2: a contained resource must not contain further resources";
        issues.push(Issue::error(IssueType::Invariant, text).at(child(path, "contained")));
    }
    let meta = object.get("meta");
    for (element, rule) in [
        ("versionId", "dom-4"),
        ("lastUpdated", "dom-4"),
        ("security", "dom-5"),
    ] {
        if meta.and_then(|m| m.get(element)).is_some() {
            let text = format!("{rule}: a contained resource must not have meta.{element}");
            issues.push(
                Issue::error(IssueType::Invariant, text).at(format!("{path}.meta.{element}")),
            );
        }
    }
}

/// ele-1 for content we have no table for: no nulls, empty objects, empty arrays or empty
/// strings anywhere beneath.
fn check_no_empty_content(value: &Value, path: &str, depth: usize, issues: &mut Vec<Issue>) {
    if depth > MAX_DEPTH {
        issues
            .push(Issue::error(IssueType::Structure, "the content is nested too deeply").at(path));
        return;
    }
    match value {
        Value::Null => issues.push(null_value(path)),
        Value::String(text) if text.is_empty() => issues.push(empty_string(path)),
        Value::Array(items) if items.is_empty() => issues
            .push(Issue::error(IssueType::Structure, "ele-1: an array must not be empty").at(path)),
        Value::Object(object) if object.is_empty() => issues.push(
            Issue::error(IssueType::Structure, "ele-1: an object must not be empty").at(path),
        ),
        Value::Object(object) => {
            for (key, child_value) in object {
                let child_path = if is_element_name(key) {
                    child(path, key)
                } else {
                    path.to_string()
                };
                // nulls in an array are allowed where the primitive/extension pair lines up
                let paired = key
                    .strip_prefix('_')
                    .map_or_else(|| object.contains_key(&format!("_{key}")), |_| true);
                match child_value {
                    Value::Array(items) if paired && !items.is_empty() => {
                        for (index, item) in items.iter().enumerate() {
                            if !item.is_null() {
                                check_no_empty_content(
                                    item,
                                    &format!("{child_path}[{index}]"),
                                    depth + 1,
                                    issues,
                                );
                            }
                        }
                    }
                    _ => check_no_empty_content(child_value, &child_path, depth + 1, issues),
                }
            }
        }
        Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                check_no_empty_content(item, &format!("{path}[{index}]"), depth + 1, issues);
            }
        }
        _ => {}
    }
}

/// Checks a primitive's JSON kind and lexical form; true when it is well formed (so a binding
/// may be checked next).
fn check_primitive(
    value: &Value,
    primitive: Primitive,
    path: &str,
    issues: &mut Vec<Issue>,
) -> bool {
    let kind = primitive.json_kind();
    let problem = match (kind, value) {
        (JsonKind::Boolean, Value::Bool(_)) => None,
        (JsonKind::Number, Value::Number(number)) => number_problem(number, primitive),
        (JsonKind::String, Value::String(text)) if text.is_empty() => {
            issues.push(empty_string(path));
            return false;
        }
        (JsonKind::String, Value::String(text)) => text_problem(text, primitive),
        _ => {
            let json = match kind {
                JsonKind::Boolean => "a JSON boolean",
                JsonKind::Number => "a JSON number",
                JsonKind::String => "a JSON string",
            };
            let text = format!("a FHIR {} must be written as {json}", primitive.name());
            issues.push(Issue::error(IssueType::Structure, text).at(path));
            return false;
        }
    };
    match problem {
        Some(text) => {
            issues.push(Issue::error(IssueType::Value, text).at(path));
            false
        }
        None => true,
    }
}

/// Integers must be whole JSON numbers (no fraction, no exponent) within the type's range. The
/// number's text is inspected because `arbitrary_precision` keeps it exactly as sent.
fn number_problem(number: &Number, primitive: Primitive) -> Option<String> {
    let (min, rule) = match primitive {
        Primitive::Integer => (
            i64::from(i32::MIN),
            "an integer must lie between -2147483648 and 2147483647",
        ),
        Primitive::PositiveInt => (1, "a positiveInt must lie between 1 and 2147483647"),
        Primitive::UnsignedInt => (0, "an unsignedInt must lie between 0 and 2147483647"),
        _ => return None,
    };
    let text = number.to_string();
    let digits = text.strip_prefix('-').unwrap_or(&text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Some(format!(
            "a {} must be a whole number without a fraction or exponent",
            primitive.name()
        ));
    }
    match text.parse::<i64>() {
        Ok(n) if (min..=i64::from(i32::MAX)).contains(&n) => None,
        _ => Some(rule.to_string()),
    }
}

/// The lexical rules of the string-valued primitives.
fn text_problem(text: &str, primitive: Primitive) -> Option<String> {
    let fails = |ok: bool, rule: &str| (!ok).then(|| rule.to_string());
    let time = |result: Result<(), crate::instant::InstantError>, what: &str| {
        result
            .err()
            .map(|e| format!("not a valid FHIR {what}: {e}"))
    };
    match primitive {
        Primitive::Code => fails(
            is_code(text),
            "a code must not have leading, trailing or repeated whitespace",
        ),
        Primitive::Id => fails(
            is_id(text),
            "an id is 1-64 characters from A-Z, a-z, 0-9, '-' and '.'",
        ),
        Primitive::Uri | Primitive::Url | Primitive::Canonical => fails(
            !text.chars().any(char::is_whitespace),
            "a uri must not contain whitespace",
        ),
        Primitive::Oid => fails(
            is_oid(text),
            "an oid must be urn:oid: followed by a dotted number",
        ),
        Primitive::Uuid => fails(
            is_uuid(text),
            "a uuid must be urn:uuid: followed by a lower-case UUID",
        ),
        Primitive::Instant => time(Instant::parse(text).map(|_| ()), "instant"),
        Primitive::DateTime => time(check_date_time(text), "dateTime"),
        Primitive::Date => time(check_date(text), "date"),
        Primitive::Time => fails(
            is_time(text),
            "a time must be hh:mm:ss with optional fractional seconds",
        ),
        Primitive::Base64Binary => fails(is_base64(text), "a base64Binary must be valid Base64"),
        Primitive::Xhtml => fails(
            text.trim_start().starts_with("<div"),
            "narrative xhtml must be a <div> element",
        ),
        _ => None,
    }
}

/// A code from a required binding must be one of the listed codes.
fn check_binding(value: &Value, element: &Element, path: &str, issues: &mut Vec<Issue>) {
    let Some(code) = value.as_str() else { return };
    if !element.codes.is_empty() && !element.codes.contains(&code) {
        let text = format!(
            "the code is not in the required value set ({})",
            element.codes.join(" | ")
        );
        issues.push(Issue::error(IssueType::Value, text).at(path));
    }
}

/// ref-1 (a local `#id` reference needs a contained resource with that id) and dom-3 (every
/// contained resource is referenced from elsewhere in the resource, or refers to it with `#`).
fn check_local_references(object: &Map<String, Value>, path: &str, issues: &mut Vec<Issue>) {
    let mut references = Vec::new();
    for (key, value) in object {
        if is_element_name(key) {
            collect_local_references(value, &child(path, key), 0, &mut references);
        }
    }
    let contained: Vec<Option<&str>> = match object.get("contained") {
        Some(Value::Array(items)) => items
            .iter()
            .map(|c| c.get("id").and_then(Value::as_str))
            .collect(),
        _ => Vec::new(),
    };
    for (reference_path, reference) in &references {
        let target = &reference[1..];
        if !target.is_empty() && !contained.contains(&Some(target)) {
            let text = "ref-1: a local reference must point to a contained resource";
            issues.push(Issue::error(IssueType::Invariant, text).at(reference_path.as_str()));
        }
    }
    for (index, id) in contained.iter().enumerate() {
        let contained_path = format!("{path}.contained[{index}]");
        let inside = format!("{contained_path}.");
        let referenced = references.iter().any(|(p, r)| match id {
            Some(id) => {
                (!p.starts_with(&inside) && r[1..] == **id) || (p.starts_with(&inside) && r == "#")
            }
            None => false,
        });
        if !referenced {
            let text = "dom-3: a contained resource must have an id and be referenced from elsewhere in the resource";
            issues.push(Issue::error(IssueType::Invariant, text).at(contained_path));
        }
    }
}

/// Every `reference` string beginning with `#`, with its path.
fn collect_local_references(
    value: &Value,
    path: &str,
    depth: usize,
    out: &mut Vec<(String, String)>,
) {
    if depth > MAX_DEPTH {
        return;
    }
    match value {
        Value::Object(object) => {
            for (key, child_value) in object {
                if !is_element_name(key) {
                    continue;
                }
                let child_path = child(path, key);
                match child_value {
                    Value::String(reference)
                        if key == "reference" && reference.starts_with('#') =>
                    {
                        out.push((child_path, reference.clone()));
                    }
                    _ => collect_local_references(child_value, &child_path, depth + 1, out),
                }
            }
        }
        Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                collect_local_references(item, &format!("{path}[{index}]"), depth + 1, out);
            }
        }
        _ => {}
    }
}

/// Reports a property that is not an element of the table. The name is only echoed when it is
/// shaped like an element name, so arbitrary text from the sender never reaches diagnostics.
fn unknown_element(key: &str, path: &str, issues: &mut Vec<Issue>) {
    if is_element_name(key) {
        issues.push(
            Issue::error(IssueType::Structure, format!("unknown element '{key}'"))
                .at(child(path, key)),
        );
    } else {
        issues.push(
            Issue::error(
                IssueType::Structure,
                "unknown element with a name that is not a FHIR name",
            )
            .at(path),
        );
    }
}

fn null_value(path: &str) -> Issue {
    Issue::error(
        IssueType::Structure,
        "ele-1: null is not allowed; omit the element instead",
    )
    .at(path)
}

fn empty_string(path: &str) -> Issue {
    Issue::error(IssueType::Value, "ele-1: a string must not be empty").at(path)
}

fn not_an_object(type_name: &str, path: &str) -> Issue {
    Issue::error(
        IssueType::Structure,
        format!("a {type_name} must be written as a JSON object"),
    )
    .at(path)
}

fn child(path: &str, name: &str) -> String {
    format!("{path}.{name}")
}

/// A FHIR element name: a letter or `_`, then letters, digits or `_`; at most 64 characters.
fn is_element_name(key: &str) -> bool {
    let mut chars = key.chars();
    key.len() <= 64
        && chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `[^\s]+(\s[^\s]+)*`: no leading, trailing or doubled whitespace.
fn is_code(text: &str) -> bool {
    text.split(char::is_whitespace).all(|part| !part.is_empty())
}

/// `[A-Za-z0-9\-\.]{1,64}`.
pub(super) fn is_id(text: &str) -> bool {
    (1..=64).contains(&text.len())
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

/// `urn:oid:[0-2](\.(0|[1-9][0-9]*))+`.
fn is_oid(text: &str) -> bool {
    let Some(rest) = text.strip_prefix("urn:oid:") else {
        return false;
    };
    let mut arcs = rest.split('.');
    let first_ok = arcs.next().is_some_and(|a| matches!(a, "0" | "1" | "2"));
    let mut count = 0;
    let rest_ok = arcs.all(|arc| {
        count += 1;
        !arc.is_empty()
            && arc.bytes().all(|b| b.is_ascii_digit())
            && (arc == "0" || !arc.starts_with('0'))
    });
    first_ok && rest_ok && count > 0
}

/// `urn:uuid:` and a lower-case 8-4-4-4-12 hexadecimal UUID.
fn is_uuid(text: &str) -> bool {
    let Some(rest) = text.strip_prefix("urn:uuid:") else {
        return false;
    };
    let groups: Vec<&str> = rest.split('-').collect();
    groups.iter().map(|g| g.len()).eq([8, 4, 4, 4, 12])
        && groups.iter().all(|g| {
            g.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        })
}

/// `hh:mm:ss[.f+]` with hours 00-23, minutes 00-59 and seconds 00-60 (leap second).
fn is_time(text: &str) -> bool {
    let (clock, fraction) = match text.split_once('.') {
        Some((clock, fraction)) => (clock, Some(fraction)),
        None => (text, None),
    };
    let parts: Vec<&str> = clock.split(':').collect();
    let number = |s: &str, max: u32| s.len() == 2 && s.parse::<u32>().is_ok_and(|n| n <= max);
    parts.len() == 3
        && number(parts[0], 23)
        && number(parts[1], 59)
        && number(parts[2], 60)
        && fraction.is_none_or(|f| !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()))
}

/// Standard Base64; whitespace between groups is allowed by the FHIR regex.
fn is_base64(text: &str) -> bool {
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    !compact.is_empty() && STANDARD.decode(compact.as_bytes()).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lexical_rules() {
        assert!(is_code("booked") && is_code("In-person") && is_code("a b"));
        assert!(!is_code(" booked") && !is_code("booked ") && !is_code("a  b"));
        assert!(is_id("aca94bdb-2e38-4399-9ece-2ba083ce65b5") && is_id("a.b"));
        assert!(!is_id("{ScheduleItem}") && !is_id(&"a".repeat(65)) && !is_id("a_b"));
        assert!(is_oid("urn:oid:1.2.840") && !is_oid("urn:oid:1") && !is_oid("urn:oid:1.02"));
        assert!(is_uuid("urn:uuid:deb4c4b3-870b-4599-84df-5e54cef7afda"));
        assert!(!is_uuid("urn:uuid:DEB4C4B3-870b-4599-84df-5e54cef7afda") && !is_uuid("deb4c4b3"));
        assert!(
            is_time("09:30:00")
                && is_time("23:59:60.5")
                && !is_time("24:00:00")
                && !is_time("9:30:00")
        );
        assert!(
            is_base64("aGVsbG8=")
                && is_base64("aGVs bG8=")
                && !is_base64("aGVsbG8")
                && !is_base64("***")
        );
        assert!(
            is_element_name("status")
                && is_element_name("_status")
                && !is_element_name("9434765919")
        );
    }

    #[test]
    fn choice_suffixes_capitalise_the_type_name() {
        assert!(is_type_suffix("DateTime", "dateTime"));
        assert!(is_type_suffix("CodeableConcept", "CodeableConcept"));
        assert!(!is_type_suffix("dateTime", "dateTime"));
        assert!(!is_type_suffix("", "string"));
        assert!(!is_type_suffix("Strin", "string"));
    }

    #[test]
    fn integers_reject_fractions_exponents_and_out_of_range_values() {
        let number = |text: &str| match serde_json::from_str::<Value>(text) {
            Ok(Value::Number(n)) => n,
            other => panic!("{other:?}"),
        };
        assert_eq!(number_problem(&number("5"), Primitive::PositiveInt), None);
        assert!(number_problem(&number("0"), Primitive::PositiveInt).is_some());
        assert!(number_problem(&number("-1"), Primitive::UnsignedInt).is_some());
        assert!(number_problem(&number("1.0"), Primitive::Integer).is_some());
        assert!(number_problem(&number("1e3"), Primitive::Integer).is_some());
        assert!(number_problem(&number("2147483648"), Primitive::Integer).is_some());
        assert!(number_problem(&number("99999999999999999999999"), Primitive::Integer).is_some());
        assert_eq!(
            number_problem(&number("-2147483648"), Primitive::Integer),
            None
        );
        assert_eq!(number_problem(&number("1.50"), Primitive::Decimal), None);
    }
}
