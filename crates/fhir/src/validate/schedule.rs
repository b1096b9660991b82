//! Schedule: base R4 (https://hl7.org/fhir/R4/schedule.html), UKCore-Schedule, and the BaRS
//! rule that a schedule belongs to a service (digest section 7.4).

use serde_json::{Map, Value};

use super::datatypes::{CODEABLE_CONCEPT, IDENTIFIER, PERIOD, REFERENCE};
use super::table::{BOOLEAN, STRING, Table, Type, one_many, zero_many, zero_one};
use super::{order, walker};
use crate::headers::DOS_SERVICE_SYSTEM;
use crate::issue::{Issue, IssueType};
use crate::resource::reference_id;

pub static SCHEDULE: Table = Table::resource(
    "Schedule",
    &[
        zero_many("identifier", &[Type::Complex(&IDENTIFIER)]),
        zero_one("active", BOOLEAN),
        zero_many("serviceCategory", &[Type::Complex(&CODEABLE_CONCEPT)]),
        zero_many("serviceType", &[Type::Complex(&CODEABLE_CONCEPT)]),
        zero_many("specialty", &[Type::Complex(&CODEABLE_CONCEPT)]),
        one_many("actor", &[Type::Complex(&REFERENCE)]),
        zero_one("planningHorizon", &[Type::Complex(&PERIOD)]),
        zero_one("comment", STRING),
    ],
);

/// Base R4 Schedule + UKCore-Schedule + BaRS: at least one actor that is a HealthcareService.
pub fn schedule(resource: &Value) -> Vec<Issue> {
    let mut issues = walker::resource(resource, &SCHEDULE);
    if let Some(schedule) = resource.as_object() {
        check_service_actor(schedule, &mut issues);
    }
    order::in_document_order(resource, issues)
}

/// BaRS finds slots by service, so a schedule must name the HealthcareService it belongs to.
/// Bundle-local references (`urn:uuid:`) cannot be recognised here: their type is unknown
/// until the bundle is resolved, so they need `type` or the service identifier.
fn check_service_actor(schedule: &Map<String, Value>, issues: &mut Vec<Issue>) {
    let Some(Value::Array(actors)) = schedule.get("actor") else {
        return; // missing or malformed: already reported by the walker
    };
    if !actors.iter().any(is_healthcare_service) {
        let text = "BaRS: at least one actor must be the HealthcareService (a HealthcareService reference, type or DoS service id)";
        issues.push(Issue::error(IssueType::Required, text).at("Schedule.actor"));
    }
}

fn is_healthcare_service(actor: &Value) -> bool {
    let by_reference = actor
        .get("reference")
        .and_then(Value::as_str)
        .is_some_and(|r| reference_id(r, "HealthcareService").is_some());
    let by_type = actor.get("type").and_then(Value::as_str) == Some("HealthcareService");
    let by_identifier =
        actor.pointer("/identifier/system").and_then(Value::as_str) == Some(DOS_SERVICE_SYSTEM);
    by_reference || by_type || by_identifier
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::schedule;
    use crate::issue::IssueType;
    use crate::validate::tests::{assert_issue, assert_valid, describe};

    fn with_actors(actors: Value) -> Value {
        json!({
            "resourceType": "Schedule",
            "id": "sched1111",
            "meta": {"lastUpdated": "2021-10-11T15:01:30+00:00"},
            "active": true,
            "actor": actors,
            "planningHorizon": {"start": "2021-10-06T00:00:00Z", "end": "2021-10-07T00:00:00Z"}
        })
    }

    #[test]
    fn a_service_actor_is_recognised_by_reference_type_or_dos_id() {
        let practitioner = json!({"reference": "Practitioner/ABCD123456"});
        for service in [
            json!({"reference": "HealthcareService/2000099999"}),
            json!({"reference": "https://receiver.example.org/fhir/HealthcareService/2000099999"}),
            json!({"reference": "urn:uuid:7dfe2de5-abbe-4a3c-911f-1482e6fb34c3", "type": "HealthcareService"}),
            json!({"identifier": {"system": "https://fhir.nhs.uk/Id/dos-service-id", "value": "2000099999"}}),
        ] {
            assert_valid(&schedule(&with_actors(json!([
                practitioner.clone(),
                service
            ]))));
        }
    }

    #[test]
    fn a_schedule_without_a_service_actor_is_rejected() {
        let issues = schedule(&with_actors(
            json!([{"reference": "Practitioner/ABCD123456"}, {"reference": "Location/loc1111"}]),
        ));
        assert_issue(&issues, IssueType::Required, "Schedule.actor");
        let issues = schedule(&with_actors(
            json!([{"reference": "Practitioner/1", "type": "Practitioner"}]),
        ));
        assert_issue(&issues, IssueType::Required, "Schedule.actor");
    }

    #[test]
    fn actor_is_required_and_repeats() {
        let mut resource = with_actors(json!([]));
        resource.as_object_mut().map(|o| o.remove("actor"));
        let issues = schedule(&resource);
        assert_issue(&issues, IssueType::Required, "Schedule.actor");
        assert_eq!(issues.len(), 1, "reported once: {}", describe(&issues));
        let issues = schedule(&with_actors(json!({"reference": "HealthcareService/1"})));
        assert_issue(&issues, IssueType::Structure, "Schedule.actor");
    }

    #[test]
    fn elements_are_typed() {
        let mut resource = with_actors(json!([{"reference": "HealthcareService/1"}]));
        resource["active"] = json!("yes");
        resource["planningHorizon"] =
            json!({"start": "2021-10-08T00:00:00Z", "end": "2021-10-07T00:00:00Z"});
        resource["slot"] = json!([]);
        let issues = schedule(&resource);
        assert_issue(&issues, IssueType::Structure, "Schedule.active");
        assert_issue(&issues, IssueType::Invariant, "Schedule.planningHorizon");
        assert_issue(&issues, IssueType::Structure, "Schedule.slot");
    }
}
