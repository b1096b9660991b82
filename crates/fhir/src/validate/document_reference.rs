//! DocumentReference: the base R4 structure only (https://hl7.org/fhir/R4/documentreference.html).
//! The Registry (NRL) pointer rules live with the pointer writer, not here.

use serde_json::Value;

use super::datatypes::{ATTACHMENT, CODEABLE_CONCEPT, CODING, IDENTIFIER, PERIOD, REFERENCE};
use super::table::{CODE, INSTANT, STRING, Table, Type, one_many, one_one, zero_many, zero_one};
use super::{order, walker};
use crate::issue::Issue;

pub static DOCUMENT_REFERENCE: Table = Table::resource(
    "DocumentReference",
    &[
        zero_one("masterIdentifier", &[Type::Complex(&IDENTIFIER)]),
        zero_many("identifier", &[Type::Complex(&IDENTIFIER)]),
        one_one("status", CODE).codes(&["current", "superseded", "entered-in-error"]),
        zero_one("docStatus", CODE).codes(&["preliminary", "final", "amended", "entered-in-error"]),
        zero_one("type", &[Type::Complex(&CODEABLE_CONCEPT)]),
        zero_many("category", &[Type::Complex(&CODEABLE_CONCEPT)]),
        zero_one("subject", &[Type::Complex(&REFERENCE)]),
        zero_one("date", INSTANT),
        zero_many("author", &[Type::Complex(&REFERENCE)]),
        zero_one("authenticator", &[Type::Complex(&REFERENCE)]),
        zero_one("custodian", &[Type::Complex(&REFERENCE)]),
        zero_many("relatesTo", &[Type::Complex(&RELATES_TO)]),
        zero_one("description", STRING),
        zero_many("securityLabel", &[Type::Complex(&CODEABLE_CONCEPT)]),
        one_many("content", &[Type::Complex(&CONTENT)]),
        zero_one("context", &[Type::Complex(&CONTEXT)]),
    ],
);

static RELATES_TO: Table = Table::backbone(
    "DocumentReference.relatesTo",
    &[
        // R4 codes, plus the R5 `incorporates` and `summarizes` that NRL also accepts.
        one_one("code", CODE).codes(&[
            "replaces",
            "transforms",
            "signs",
            "appends",
            "incorporates",
            "summarizes",
        ]),
        one_one("target", &[Type::Complex(&REFERENCE)]),
    ],
);

static CONTENT: Table = Table::backbone(
    "DocumentReference.content",
    &[
        one_one("attachment", &[Type::Complex(&ATTACHMENT)]),
        zero_one("format", &[Type::Complex(&CODING)]),
    ],
);

static CONTEXT: Table = Table::backbone(
    "DocumentReference.context",
    &[
        zero_many("encounter", &[Type::Complex(&REFERENCE)]),
        zero_many("event", &[Type::Complex(&CODEABLE_CONCEPT)]),
        zero_one("period", &[Type::Complex(&PERIOD)]),
        zero_one("facilityType", &[Type::Complex(&CODEABLE_CONCEPT)]),
        zero_one("practiceSetting", &[Type::Complex(&CODEABLE_CONCEPT)]),
        zero_one("sourcePatientInfo", &[Type::Complex(&REFERENCE)]),
        zero_many("related", &[Type::Complex(&REFERENCE)]),
    ],
);

/// Base R4 DocumentReference structure (element names, types, cardinalities, required elements,
/// status/docStatus codes, relatesTo.code codes). NRL-specific business rules are NOT in here.
pub fn document_reference(resource: &Value) -> Vec<Issue> {
    order::in_document_order(resource, walker::resource(resource, &DOCUMENT_REFERENCE))
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::document_reference;
    use crate::issue::IssueType;
    use crate::validate::tests::{assert_issue, assert_valid};

    fn pointer() -> Value {
        json!({
            "resourceType": "DocumentReference",
            "id": "V4T0L-fb40f2f3-97dc-4aca-8c37-ae6a638518b4",
            "status": "current",
            "type": {"coding": [{"system": "http://snomed.info/sct", "code": "749001000000101"}]},
            "subject": {"identifier": {"system": "https://fhir.nhs.uk/Id/nhs-number", "value": "9693893123"}},
            "date": "2025-02-18T14:15:25.704Z",
            "content": [{
                "attachment": {"contentType": "application/fhir+json", "url": "https://server.example.org/Appointment/1"},
                "format": {"system": "https://fhir.nhs.uk/England/CodeSystem/England-NRLFormatCode", "code": "urn:nhs-ic:structured"}
            }],
            "context": {"period": {"start": "2025-02-01T06:45:00+00:00", "end": "2025-02-01T07:00:00+00:00"}}
        })
    }

    fn set(pointer_path: &str, value: Value) -> Value {
        let mut resource = pointer();
        match resource.pointer_mut(pointer_path) {
            Some(slot) => *slot = value,
            None => {
                let (parent, key) = pointer_path.rsplit_once('/').unwrap_or(("", pointer_path));
                let target = if parent.is_empty() {
                    Some(&mut resource)
                } else {
                    resource.pointer_mut(parent)
                };
                if let Some(Value::Object(object)) = target {
                    object.insert(key.to_string(), value);
                }
            }
        }
        resource
    }

    #[test]
    fn a_pointer_is_valid() {
        assert_valid(&document_reference(&pointer()));
    }

    #[test]
    fn status_and_doc_status_use_their_value_sets() {
        let mut resource = pointer();
        resource.as_object_mut().map(|o| o.remove("status"));
        assert_issue(
            &document_reference(&resource),
            IssueType::Required,
            "DocumentReference.status",
        );
        assert_issue(
            &document_reference(&set("/status", json!("active"))),
            IssueType::Value,
            "DocumentReference.status",
        );
        for status in ["current", "superseded", "entered-in-error"] {
            assert_valid(&document_reference(&set("/status", json!(status))));
        }
        for doc_status in ["preliminary", "final", "amended", "entered-in-error"] {
            assert_valid(&document_reference(&set("/docStatus", json!(doc_status))));
        }
        assert_issue(
            &document_reference(&set("/docStatus", json!("draft"))),
            IssueType::Value,
            "DocumentReference.docStatus",
        );
    }

    #[test]
    fn relates_to_needs_a_known_code_and_a_target() {
        for code in [
            "replaces",
            "transforms",
            "signs",
            "appends",
            "incorporates",
            "summarizes",
        ] {
            let relates = json!([{"code": code, "target": {"identifier": {"value": "V4T0L-1"}}}]);
            assert_valid(&document_reference(&set("/relatesTo", relates)));
        }
        let issues = document_reference(&set("/relatesTo", json!([{"code": "supersedes"}])));
        assert_issue(
            &issues,
            IssueType::Value,
            "DocumentReference.relatesTo[0].code",
        );
        assert_issue(
            &issues,
            IssueType::Required,
            "DocumentReference.relatesTo[0].target",
        );
    }

    #[test]
    fn content_and_its_attachment_are_required() {
        let mut resource = pointer();
        resource.as_object_mut().map(|o| o.remove("content"));
        assert_issue(
            &document_reference(&resource),
            IssueType::Required,
            "DocumentReference.content",
        );
        let issues = document_reference(&set("/content/0/attachment", json!(null)));
        assert_issue(
            &issues,
            IssueType::Structure,
            "DocumentReference.content[0].attachment",
        );
        let issues = document_reference(&set(
            "/content",
            json!([{"format": {"code": "urn:nhs-ic:structured"}}]),
        ));
        assert_issue(
            &issues,
            IssueType::Required,
            "DocumentReference.content[0].attachment",
        );
    }

    #[test]
    fn datatypes_are_checked() {
        let cases = [
            (
                "/date",
                json!("2025-02-18"),
                IssueType::Value,
                "DocumentReference.date",
            ),
            (
                "/content/0/attachment/size",
                json!(-1),
                IssueType::Value,
                "DocumentReference.content[0].attachment.size",
            ),
            (
                "/content/0/attachment/url",
                json!("https://x/a b"),
                IssueType::Value,
                "DocumentReference.content[0].attachment.url",
            ),
            (
                "/content/0/attachment/data",
                json!("not base64!"),
                IssueType::Value,
                "DocumentReference.content[0].attachment.data",
            ),
            (
                "/content/0/format",
                json!({"coding": [{"code": "x"}]}),
                IssueType::Structure,
                "DocumentReference.content[0].format.coding",
            ),
            (
                "/context/period/end",
                json!("2025-02-01T05:00:00+00:00"),
                IssueType::Invariant,
                "DocumentReference.context.period",
            ),
            (
                "/context/encounter",
                json!({"reference": "Encounter/1"}),
                IssueType::Structure,
                "DocumentReference.context.encounter",
            ),
            (
                "/context/sourcePatient",
                json!({"reference": "Patient/1"}),
                IssueType::Structure,
                "DocumentReference.context.sourcePatient",
            ),
            (
                "/category",
                json!({"coding": []}),
                IssueType::Structure,
                "DocumentReference.category",
            ),
        ];
        for (path, value, code, expression) in cases {
            assert_issue(&document_reference(&set(path, value)), code, expression);
        }
    }

    #[test]
    fn att_1_inline_data_needs_a_content_type() {
        let attachment = json!({"data": "aGVsbG8=", "title": "note"});
        let issues = document_reference(&set("/content/0/attachment", attachment));
        assert_issue(
            &issues,
            IssueType::Invariant,
            "DocumentReference.content[0].attachment",
        );
        let attachment = json!({"contentType": "text/plain", "data": "aGVsbG8=", "size": 5, "creation": "2025-02-01"});
        assert_valid(&document_reference(&set(
            "/content/0/attachment",
            attachment,
        )));
    }

    #[test]
    fn every_r4_element_is_known() {
        let mut resource = pointer();
        resource["masterIdentifier"] =
            json!({"system": "urn:ietf:rfc:3986", "value": "urn:oid:1.2.3"});
        resource["docStatus"] = json!("final");
        resource["category"] = json!([{"text": "Appointment"}]);
        resource["author"] = json!([{"reference": "Organization/RGT"}]);
        resource["authenticator"] = json!({"reference": "Organization/RGT"});
        resource["custodian"] = json!({"identifier": {"system": "https://fhir.nhs.uk/Id/ods-organization-code", "value": "RGT"}});
        resource["description"] = json!("Appointment pointer");
        resource["securityLabel"] = json!([{"coding": [{"code": "N"}]}]);
        resource["context"] = json!({
            "encounter": [{"reference": "Encounter/1"}],
            "event": [{"text": "booking"}],
            "facilityType": {"text": "clinic"},
            "practiceSetting": {"text": "general"},
            "sourcePatientInfo": {"reference": "Patient/1"},
            "related": [{"reference": "Appointment/1"}]
        });
        assert_valid(&document_reference(&resource));
    }
}
