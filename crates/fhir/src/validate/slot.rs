//! Slot: base R4 (https://hl7.org/fhir/R4/slot.html) and UKCore-Slot (digest section 7.3).

use serde_json::Value;

use super::datatypes::{CODEABLE_CONCEPT, IDENTIFIER, REFERENCE};
use super::table::{BOOLEAN, CODE, INSTANT, STRING, Table, Type, one_one, zero_many, zero_one};
use super::uk_core::{check_delivery_channel, check_start_before_end};
use super::{order, walker};
use crate::issue::Issue;

pub static SLOT: Table = Table::resource(
    "Slot",
    &[
        zero_many("identifier", &[Type::Complex(&IDENTIFIER)]),
        zero_many("serviceCategory", &[Type::Complex(&CODEABLE_CONCEPT)]),
        zero_many("serviceType", &[Type::Complex(&CODEABLE_CONCEPT)]),
        zero_many("specialty", &[Type::Complex(&CODEABLE_CONCEPT)]),
        zero_one("appointmentType", &[Type::Complex(&CODEABLE_CONCEPT)]),
        one_one("schedule", &[Type::Complex(&REFERENCE)]),
        one_one("status", CODE).codes(&[
            "busy",
            "free",
            "busy-unavailable",
            "busy-tentative",
            "entered-in-error",
        ]),
        one_one("start", INSTANT),
        one_one("end", INSTANT),
        zero_one("overbooked", BOOLEAN),
        zero_one("comment", STRING),
    ],
);

/// Base R4 Slot + UKCore-Slot (+ start < end).
pub fn slot(resource: &Value) -> Vec<Issue> {
    let mut issues = walker::resource(resource, &SLOT);
    if let Some(slot) = resource.as_object() {
        check_start_before_end(slot, "Slot", &mut issues);
        check_delivery_channel(slot, "Slot", &mut issues);
    }
    order::in_document_order(resource, issues)
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::slot;
    use crate::issue::IssueType;
    use crate::validate::tests::{assert_issue, assert_valid};

    fn free() -> Value {
        json!({
            "resourceType": "Slot",
            "id": "slot001",
            "meta": {"lastUpdated": "2021-10-11T15:01:30+00:00", "profile": ["https://fhir.hl7.org.uk/StructureDefinition/UKCore-Slot"]},
            "schedule": {"reference": "Schedule/sched1111"},
            "status": "free",
            "start": "2021-10-06T09:00:00.000+00:00",
            "end": "2021-10-06T10:00:00.000+00:00"
        })
    }

    #[test]
    fn a_free_slot_is_valid() {
        assert_valid(&slot(&free()));
        let mut full = free();
        full["overbooked"] = json!(false);
        full["comment"] = json!("walk-in");
        full["appointmentType"] = json!({"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0276", "code": "WALKIN"}]});
        assert_valid(&slot(&full));
    }

    #[test]
    fn schedule_status_start_and_end_are_required() {
        for key in ["schedule", "status", "start", "end"] {
            let mut resource = free();
            resource.as_object_mut().map(|o| o.remove(key));
            assert_issue(
                &slot(&resource),
                IssueType::Required,
                &format!("Slot.{key}"),
            );
        }
    }

    #[test]
    fn status_comes_from_its_value_set() {
        for status in [
            "busy",
            "free",
            "busy-unavailable",
            "busy-tentative",
            "entered-in-error",
        ] {
            let mut resource = free();
            resource["status"] = json!(status);
            assert_valid(&slot(&resource));
        }
        let mut resource = free();
        resource["status"] = json!("available");
        assert_issue(&slot(&resource), IssueType::Value, "Slot.status");
    }

    #[test]
    fn types_are_enforced() {
        let mut resource = free();
        resource["overbooked"] = json!("no");
        resource["start"] = json!("2021-10-06");
        resource["schedule"] = json!([{"reference": "Schedule/1"}]);
        let issues = slot(&resource);
        assert_issue(&issues, IssueType::Structure, "Slot.overbooked");
        assert_issue(&issues, IssueType::Value, "Slot.start");
        assert_issue(&issues, IssueType::Structure, "Slot.schedule");
    }

    #[test]
    fn start_must_be_before_end() {
        let mut resource = free();
        resource["end"] = resource["start"].clone();
        assert_issue(&slot(&resource), IssueType::Invariant, "Slot.end");
    }

    #[test]
    fn delivery_channel_is_checked() {
        let url = "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-DeliveryChannel";
        let mut resource = free();
        resource["extension"] = json!([{"url": url, "valueCode": "Telephone"}]);
        assert_valid(&slot(&resource));
        resource["extension"] = json!([{"url": url, "valueCode": "telephone"}]);
        assert_issue(
            &slot(&resource),
            IssueType::Value,
            "Slot.extension[0].valueCode",
        );
    }
}
