//! What a Registry pointer says about an appointment (BaRS 5.14, in the shape of the 1.4.0
//! specification's examples): who, when, where to read it, and who keeps it.

use bars_fhir::headers::{DOS_SERVICE_SYSTEM, ODS_SYSTEM, TargetIdentifier};
use bars_fhir::nhs_number::NHS_NUMBER_SYSTEM;
use serde_json::{Value, json};

/// The BaRS identifier system: the pointer's link back to the appointment id.
pub const BARS_IDENTIFIER_SYSTEM: &str = "https://fhir.nhs.uk/Id/BaRS-Identifier";
pub const PRODUCT_ID_SYSTEM: &str = "https://fhir.nhs.uk/id/product-id";
const FORMAT_SYSTEM: &str = "https://fhir.nhs.uk/England/CodeSystem/England-NRLFormatCode";
const STABILITY_EXTENSION: &str =
    "https://fhir.nhs.uk/England/StructureDefinition/Extension-England-ContentStability";
const STABILITY_SYSTEM: &str = "https://fhir.nhs.uk/England/CodeSystem/England-NRLContentStability";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Code {
    pub system: String,
    pub code: String,
    pub display: String,
}

impl Code {
    pub fn new(system: &str, code: &str, display: &str) -> Self {
        Code {
            system: system.into(),
            code: code.into(),
            display: display.into(),
        }
    }

    fn coding(&self) -> Value {
        json!({ "system": self.system, "code": self.code, "display": self.display })
    }

    /// `system|code`, the search-parameter form.
    pub fn token(&self) -> String {
        format!("{}|{}", self.system, self.code)
    }
}

/// How the pointer tells a sender where the appointment is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlForm {
    /// The appointment's own URL (BaRS API 1.4.0).
    Direct,
    /// The URL-friendly target identifier `system|value` a sender turns into
    /// `NHSD-Target-Identifier` (the 1.1.6 guide's reading).
    TargetIdentifier,
}

/// The parts of a pointer agreed at onboarding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PointerSettings {
    pub type_code: Code,
    pub category: Code,
    pub url_form: UrlForm,
    pub product_id: Option<String>,
}

impl Default for PointerSettings {
    fn default() -> Self {
        PointerSettings {
            type_code: Code::new(
                "http://snomed.info/sct",
                "749001000000101",
                "Appointment (record artifact)",
            ),
            category: Code::new("http://snomed.info/sct", "419891008", "Record artifact"),
            url_form: UrlForm::Direct,
            product_id: None,
        }
    }
}

/// The facts of one appointment version a pointer is built from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PointerFacts {
    pub appointment_id: String,
    pub nhs_number: String,
    pub service_id: Option<String>,
    pub start: Option<String>,
    pub end: Option<String>,
    pub last_updated: Option<String>,
}

impl PointerFacts {
    /// Reads the facts from a stored Appointment body.
    pub fn from_appointment(body: &Value, service_id: Option<String>) -> Option<PointerFacts> {
        let nhs = crate::mapping::patient_nhs_number(body).ok().flatten()?;
        let text = |name: &str| body.get(name).and_then(Value::as_str).map(str::to_string);
        Some(PointerFacts {
            appointment_id: text("id")?,
            nhs_number: nhs.as_str().to_string(),
            service_id,
            start: text("start"),
            end: text("end"),
            last_updated: body
                .pointer("/meta/lastUpdated")
                .and_then(Value::as_str)
                .map(str::to_string),
        })
    }
}

/// The DocumentReference for an appointment kept by the receiver `ods` at `base_url`.
pub fn pointer(
    facts: &PointerFacts,
    ods: &str,
    base_url: &str,
    settings: &PointerSettings,
) -> Value {
    let mut identifiers =
        vec![json!({ "system": BARS_IDENTIFIER_SYSTEM, "value": facts.appointment_id })];
    if let Some(service) = &facts.service_id {
        identifiers.push(json!({ "system": DOS_SERVICE_SYSTEM, "value": service }));
    }
    if let Some(product) = &settings.product_id {
        identifiers.push(json!({ "system": PRODUCT_ID_SYSTEM, "value": product }));
    }
    let url = match (settings.url_form, &facts.service_id) {
        (UrlForm::TargetIdentifier, Some(service)) => TargetIdentifier::dos(service).token(),
        _ => format!(
            "{}/Appointment/{}",
            base_url.trim_end_matches('/'),
            facts.appointment_id
        ),
    };
    let mut doc = json!({
        "resourceType": "DocumentReference",
        "identifier": identifiers,
        "status": "current",
        "type": { "coding": [settings.type_code.coding()] },
        "category": [{ "coding": [settings.category.coding()] }],
        "subject": { "identifier": { "system": NHS_NUMBER_SYSTEM, "value": facts.nhs_number } },
        "author": [{ "identifier": { "system": ODS_SYSTEM, "value": ods } }],
        "custodian": { "identifier": { "system": ODS_SYSTEM, "value": ods } },
        "content": [{
            "attachment": { "contentType": "application/fhir+json", "url": url },
            "format": { "system": FORMAT_SYSTEM, "code": "urn:nhs-ic:structured", "display": "Structured Document" },
            "extension": [{
                "url": STABILITY_EXTENSION,
                "valueCodeableConcept": { "coding": [{ "system": STABILITY_SYSTEM, "code": "static", "display": "Static" }] }
            }]
        }],
    });
    if let Some(date) = &facts.last_updated {
        doc["date"] = json!(date);
    }
    if facts.start.is_some() || facts.end.is_some() {
        let mut period = serde_json::Map::new();
        if let Some(s) = &facts.start {
            period.insert("start".into(), json!(s));
        }
        if let Some(e) = &facts.end {
            period.insert("end".into(), json!(e));
        }
        doc["context"] = json!({ "period": period });
    }
    doc
}

/// The appointment id a pointer names, if it is one of ours.
pub fn appointment_of(pointer: &Value) -> Option<&str> {
    pointer.get("identifier")?.as_array()?.iter().find_map(|i| {
        (i.get("system").and_then(Value::as_str) == Some(BARS_IDENTIFIER_SYSTEM))
            .then(|| i.get("value").and_then(Value::as_str))
            .flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> PointerFacts {
        PointerFacts {
            appointment_id: "a1".into(),
            nhs_number: "9434765919".into(),
            service_id: Some("2000011111".into()),
            start: Some("2030-01-01T09:00:00+00:00".into()),
            end: Some("2030-01-01T09:10:00+00:00".into()),
            last_updated: Some("2029-12-01T00:00:00+00:00".into()),
        }
    }

    #[test]
    fn a_pointer_is_a_valid_document_reference_naming_its_appointment() {
        let p = pointer(
            &facts(),
            "RX1",
            "https://rx.example/fhir",
            &PointerSettings::default(),
        );
        let issues: Vec<_> = bars_fhir::validate::document_reference(&p)
            .into_iter()
            .filter(|i| i.is_error())
            .collect();
        assert!(issues.is_empty(), "{issues:?}");
        assert_eq!(appointment_of(&p), Some("a1"));
        assert_eq!(
            p["content"][0]["attachment"]["url"],
            "https://rx.example/fhir/Appointment/a1"
        );
        assert_eq!(p["context"]["period"]["start"], "2030-01-01T09:00:00+00:00");
        assert_eq!(p["type"]["coding"][0]["code"], "749001000000101");
    }

    #[test]
    fn the_url_can_be_the_target_identifier() {
        let settings = PointerSettings {
            url_form: UrlForm::TargetIdentifier,
            ..PointerSettings::default()
        };
        let p = pointer(&facts(), "RX1", "https://rx.example", &settings);
        assert_eq!(
            p["content"][0]["attachment"]["url"],
            "https://fhir.nhs.uk/Id/dos-service-id|2000011111"
        );
    }
}
