//! Rules shared by UK Core Appointment and Slot: the DeliveryChannel extension and `start < end`.

use serde_json::{Map, Value};

use crate::instant::Instant;
use crate::issue::{Issue, IssueType};

pub const DELIVERY_CHANNEL_URL: &str =
    "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-DeliveryChannel";
pub const DELIVERY_CHANNEL_SYSTEM: &str =
    "https://fhir.hl7.org.uk/CodeSystem/UKCore-DeliveryChannel";
pub const DELIVERY_CHANNEL_CODES: [&str; 3] = ["In-person", "Telephone", "Video"];

/// The resource's own extensions (not those of its elements) with their indexes.
pub fn extensions(
    resource: &Map<String, Value>,
) -> impl Iterator<Item = (usize, &Map<String, Value>)> {
    resource
        .get("extension")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
        .filter_map(|(index, extension)| extension.as_object().map(|e| (index, e)))
}

/// The resource's extensions with the given url.
pub fn extensions_with_url<'a>(
    resource: &'a Map<String, Value>,
    url: &'a str,
) -> impl Iterator<Item = (usize, &'a Map<String, Value>)> {
    extensions(resource).filter(move |(_, e)| e.get("url").and_then(Value::as_str) == Some(url))
}

/// UK Core profiles allow each of their extensions at most once (0..1).
pub fn at_most_once(
    resource: &Map<String, Value>,
    root: &str,
    url: &str,
    name: &str,
    issues: &mut Vec<Issue>,
) {
    if extensions_with_url(resource, url).count() > 1 {
        let text = format!("the UK Core {name} extension may appear at most once");
        issues.push(Issue::error(IssueType::Structure, text).at(format!("{root}.extension")));
    }
}

/// DeliveryChannel carries `In-person`, `Telephone` or `Video`: as a `valueCode` (UK Core STU1/2,
/// what BaRS senders write) or a `valueCodeableConcept` (current UK Core); both are accepted.
pub fn check_delivery_channel(resource: &Map<String, Value>, root: &str, issues: &mut Vec<Issue>) {
    at_most_once(
        resource,
        root,
        DELIVERY_CHANNEL_URL,
        "DeliveryChannel",
        issues,
    );
    for (index, extension) in extensions_with_url(resource, DELIVERY_CHANNEL_URL) {
        let path = format!("{root}.extension[{index}]");
        let allowed = DELIVERY_CHANNEL_CODES.join(" | ");
        if let Some(code) = extension.get("valueCode") {
            if !code
                .as_str()
                .is_some_and(|c| DELIVERY_CHANNEL_CODES.contains(&c))
            {
                let text = format!("the delivery channel code must be one of {allowed}");
                issues.push(Issue::error(IssueType::Value, text).at(format!("{path}.valueCode")));
            }
        } else if let Some(concept) = extension.get("valueCodeableConcept") {
            if !has_delivery_channel_coding(concept) {
                let text = format!(
                    "the delivery channel must have a coding from UKCore-DeliveryChannel ({allowed})"
                );
                issues.push(
                    Issue::error(IssueType::Value, text).at(format!("{path}.valueCodeableConcept")),
                );
            }
        } else {
            let text =
                "the DeliveryChannel extension must have a valueCode or a valueCodeableConcept";
            issues.push(Issue::error(IssueType::Value, text).at(path));
        }
    }
}

fn has_delivery_channel_coding(concept: &Value) -> bool {
    concept
        .get("coding")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|coding| {
            let system_ok = coding
                .get("system")
                .is_none_or(|s| s.as_str() == Some(DELIVERY_CHANNEL_SYSTEM));
            let code_ok = coding
                .get("code")
                .and_then(Value::as_str)
                .is_some_and(|c| DELIVERY_CHANNEL_CODES.contains(&c));
            system_ok && code_ok
        })
}

/// A booking or slot must start strictly before it ends. Values that are not instants have been
/// reported by the walker and are not compared.
pub fn check_start_before_end(resource: &Map<String, Value>, root: &str, issues: &mut Vec<Issue>) {
    let instant = |key: &str| {
        resource
            .get(key)
            .and_then(Value::as_str)
            .and_then(|t| Instant::parse(t).ok())
    };
    if let (Some(start), Some(end)) = (instant("start"), instant("end"))
        && start >= end
    {
        issues.push(
            Issue::error(IssueType::Invariant, "start must be before end")
                .at(format!("{root}.end")),
        );
    }
}
