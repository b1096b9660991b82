//! Appointment: base R4 (https://hl7.org/fhir/R4/appointment.html), UKCore-Appointment and the
//! BaRS booking rules (digest sections 5.4 and 7.2).

use serde_json::{Map, Value};

use super::datatypes::{CODEABLE_CONCEPT, IDENTIFIER, PERIOD, REFERENCE};
use super::table::{
    CODE, DATE_TIME, INSTANT, POSITIVE_INT, STRING, Table, Type, UNSIGNED_INT, one_many, one_one,
    zero_many, zero_one,
};
use super::uk_core::{
    at_most_once, check_delivery_channel, check_start_before_end, extensions_with_url,
};
use super::{order, walker};
use crate::issue::{Issue, IssueType};
use crate::nhs_number::{NHS_NUMBER_SYSTEM, NhsNumber, NhsNumberError};
use crate::resource::reference_id;

pub const UK_CORE_APPOINTMENT: &str =
    "https://fhir.hl7.org.uk/StructureDefinition/UKCore-Appointment";
const BOOKING_ORGANIZATION_URL: &str =
    "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-BookingOrganization";
/// The R5 cross-version extension some senders use instead of the `replaces` element.
const REPLACES_EXTENSION_URL: &str =
    "http://hl7.org/fhir/5.0/StructureDefinition/extension-Appointment.replaces";

const STATUS_CODES: &[&str] = &[
    "proposed",
    "pending",
    "booked",
    "arrived",
    "fulfilled",
    "cancelled",
    "noshow",
    "entered-in-error",
    "checked-in",
    "waitlist",
];
/// Statuses in which the patient has agreed to attend, so their participation is `accepted`.
const PATIENT_ACCEPTED_STATUSES: &[&str] =
    &["booked", "pending", "arrived", "checked-in", "fulfilled"];

pub static APPOINTMENT: Table = Table::resource(
    "Appointment",
    &[
        zero_many("identifier", &[Type::Complex(&IDENTIFIER)]),
        one_one("status", CODE).codes(STATUS_CODES),
        zero_one("cancelationReason", &[Type::Complex(&CODEABLE_CONCEPT)]),
        zero_many("serviceCategory", &[Type::Complex(&CODEABLE_CONCEPT)]),
        zero_many("serviceType", &[Type::Complex(&CODEABLE_CONCEPT)]),
        zero_many("specialty", &[Type::Complex(&CODEABLE_CONCEPT)]),
        zero_one("appointmentType", &[Type::Complex(&CODEABLE_CONCEPT)]),
        zero_many("reasonCode", &[Type::Complex(&CODEABLE_CONCEPT)]),
        zero_many("reasonReference", &[Type::Complex(&REFERENCE)]),
        zero_one("priority", UNSIGNED_INT),
        zero_one("description", STRING),
        zero_many("supportingInformation", &[Type::Complex(&REFERENCE)]),
        zero_one("start", INSTANT),
        zero_one("end", INSTANT),
        zero_one("minutesDuration", POSITIVE_INT),
        zero_many("slot", &[Type::Complex(&REFERENCE)]),
        zero_one("created", DATE_TIME),
        zero_one("comment", STRING),
        zero_one("patientInstruction", STRING),
        zero_many("basedOn", &[Type::Complex(&REFERENCE)]),
        one_many("participant", &[Type::Complex(&PARTICIPANT)]),
        zero_many("requestedPeriod", &[Type::Complex(&PERIOD)]),
        // R5 element, not in R4: BaRS rebooks point at the appointment they replace (digest §9.14).
        zero_many("replaces", &[Type::Complex(&REFERENCE)]),
    ],
);

static PARTICIPANT: Table = Table::backbone(
    "Appointment.participant",
    &[
        zero_many("type", &[Type::Complex(&CODEABLE_CONCEPT)]),
        zero_one("actor", &[Type::Complex(&REFERENCE)]),
        zero_one("required", CODE).codes(&["required", "optional", "information-only"]),
        one_one("status", CODE).codes(&["accepted", "declined", "tentative", "needs-action"]),
        zero_one("period", &[Type::Complex(&PERIOD)]),
    ],
);

/// Validates an Appointment against base R4, UK Core (UKCore-Appointment) and the BaRS rules.
/// Returns every finding (errors and warnings), in document order; an empty Vec means valid.
pub fn appointment(resource: &Value) -> Vec<Issue> {
    let mut issues = walker::resource(resource, &APPOINTMENT);
    if let Some(appointment) = resource.as_object() {
        check_r4_invariants(appointment, &mut issues);
        check_start_before_end(appointment, "Appointment", &mut issues);
        check_delivery_channel(appointment, "Appointment", &mut issues);
        check_booking_organization(appointment, &mut issues);
        check_profile_and_last_updated(appointment, &mut issues);
        check_patient_participant(appointment, &mut issues);
        check_nhs_numbers(appointment, &mut issues);
        check_booked_content(appointment, &mut issues);
        check_replaces(appointment, &mut issues);
    }
    order::in_document_order(resource, issues)
}

fn status(appointment: &Map<String, Value>) -> Option<&str> {
    appointment.get("status").and_then(Value::as_str)
}

fn exists(object: &Map<String, Value>, key: &str) -> bool {
    object.get(key).is_some_and(|v| !v.is_null())
}

/// The participants that are JSON objects, with their indexes (the walker reports the rest).
fn participants(
    appointment: &Map<String, Value>,
) -> impl Iterator<Item = (usize, &Map<String, Value>)> {
    appointment
        .get("participant")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
        .filter_map(|(index, participant)| participant.as_object().map(|p| (index, p)))
}

/// app-1 to app-4 of the R4 Appointment resource.
fn check_r4_invariants(appointment: &Map<String, Value>, issues: &mut Vec<Issue>) {
    for (index, participant) in participants(appointment) {
        if !exists(participant, "type") && !exists(participant, "actor") {
            let text = "app-1: a participant must have a type or an actor";
            issues.push(
                Issue::error(IssueType::Invariant, text)
                    .at(format!("Appointment.participant[{index}]")),
            );
        }
    }
    let (has_start, has_end) = (exists(appointment, "start"), exists(appointment, "end"));
    if has_start != has_end {
        let text = "app-2: start and end must both be present or both be absent";
        issues.push(Issue::error(IssueType::Invariant, text).at("Appointment"));
    }
    let status = status(appointment);
    let may_be_unscheduled =
        status.is_some_and(|s| matches!(s, "proposed" | "cancelled" | "waitlist"));
    if !(may_be_unscheduled || (has_start && has_end)) {
        let text = "app-3: start and end are required unless the status is proposed, cancelled or waitlist";
        issues.push(Issue::error(IssueType::Invariant, text).at("Appointment"));
    }
    // The R4 expression tests 'no-show', but the code is 'noshow' (digest §7.2).
    if exists(appointment, "cancelationReason")
        && !status.is_some_and(|s| matches!(s, "cancelled" | "noshow"))
    {
        let text =
            "app-4: a cancelationReason is only allowed when the status is cancelled or noshow";
        issues.push(Issue::error(IssueType::Invariant, text).at("Appointment.cancelationReason"));
    }
}

/// UK Core BookingOrganization: at most once, and its value is a Reference to the organisation.
fn check_booking_organization(appointment: &Map<String, Value>, issues: &mut Vec<Issue>) {
    at_most_once(
        appointment,
        "Appointment",
        BOOKING_ORGANIZATION_URL,
        "BookingOrganization",
        issues,
    );
    for (index, extension) in extensions_with_url(appointment, BOOKING_ORGANIZATION_URL) {
        if !extension
            .get("valueReference")
            .is_some_and(Value::is_object)
        {
            let text = "the BookingOrganization extension must have a valueReference";
            issues.push(
                Issue::error(IssueType::Value, text).at(format!("Appointment.extension[{index}]")),
            );
        }
    }
}

/// BaRS: the Appointment declares UKCore-Appointment, and carries `meta.lastUpdated` (used for
/// concurrency; its absence is tolerated because the server stamps its own).
fn check_profile_and_last_updated(appointment: &Map<String, Value>, issues: &mut Vec<Issue>) {
    let meta = appointment.get("meta");
    match meta
        .and_then(|m| m.get("profile"))
        .and_then(Value::as_array)
    {
        None => {
            let text = format!("BaRS: meta.profile must declare {UK_CORE_APPOINTMENT}");
            issues.push(Issue::error(IssueType::Required, text).at("Appointment.meta.profile"));
        }
        Some(profiles) if !profiles.iter().any(is_uk_core_appointment) => {
            let text = format!("BaRS: meta.profile must include {UK_CORE_APPOINTMENT}");
            issues.push(Issue::error(IssueType::Value, text).at("Appointment.meta.profile"));
        }
        Some(_) => {}
    }
    if meta.and_then(|m| m.get("lastUpdated")).is_none() {
        let text = "BaRS: every resource should carry meta.lastUpdated";
        issues.push(Issue::warning(IssueType::Required, text).at("Appointment.meta.lastUpdated"));
    }
}

/// A canonical matches with or without a `|version` suffix.
fn is_uk_core_appointment(profile: &Value) -> bool {
    profile.as_str().and_then(|p| p.split('|').next()) == Some(UK_CORE_APPOINTMENT)
}

/// BaRS: exactly one participant is the patient, and in the statuses where the patient has
/// agreed to attend, their participation is `accepted`.
fn check_patient_participant(appointment: &Map<String, Value>, issues: &mut Vec<Issue>) {
    if !appointment.get("participant").is_some_and(Value::is_array) {
        return; // missing or malformed: already reported by the walker
    }
    let patients: Vec<(usize, &Map<String, Value>)> = participants(appointment)
        .filter(|(_, p)| p.get("actor").is_some_and(is_patient_actor))
        .collect();
    match patients.len() {
        0 => {
            let text = "BaRS: one participant's actor must be the patient (a Patient reference or an NHS number)";
            issues.push(Issue::error(IssueType::Required, text).at("Appointment.participant"));
        }
        1 => {}
        _ => {
            let text = "BaRS: exactly one participant's actor may be the patient";
            let issue = patients.iter().fold(
                Issue::error(IssueType::Invariant, text),
                |issue, (index, _)| issue.at(format!("Appointment.participant[{index}]")),
            );
            issues.push(issue);
        }
    }
    if !status(appointment).is_some_and(|s| PATIENT_ACCEPTED_STATUSES.contains(&s)) {
        return;
    }
    for (index, participant) in &patients {
        if participant
            .get("status")
            .and_then(Value::as_str)
            .is_some_and(|s| s != "accepted")
        {
            let text = "BaRS: the patient's participation must be accepted when the appointment is booked, pending, arrived, checked-in or fulfilled";
            issues.push(
                Issue::error(IssueType::Invariant, text)
                    .at(format!("Appointment.participant[{index}].status")),
            );
        }
    }
}

/// The patient is recognised by a reference to a Patient (or to a bundle entry or contained
/// resource not typed as something else), by an NHS number identifier, or by `type: Patient`.
fn is_patient_actor(actor: &Value) -> bool {
    let reference = actor.get("reference").and_then(Value::as_str);
    let declared_type = actor.get("type").and_then(Value::as_str);
    let typed_patient = declared_type
        .is_some_and(|t| t == "Patient" || t == "http://hl7.org/fhir/StructureDefinition/Patient");
    let patient_like_reference = reference.is_some_and(|r| {
        r.starts_with("urn:uuid:") || r.starts_with('#') || reference_id(r, "Patient").is_some()
    });
    let nhs_number =
        actor.pointer("/identifier/system").and_then(Value::as_str) == Some(NHS_NUMBER_SYSTEM);
    typed_patient || nhs_number || (patient_like_reference && declared_type.is_none())
}

/// BaRS: an actor identified by NHS number must carry a valid one (ten digits, Modulus 11).
/// The number itself never appears in a diagnostic.
fn check_nhs_numbers(appointment: &Map<String, Value>, issues: &mut Vec<Issue>) {
    for (index, participant) in participants(appointment) {
        let Some(identifier) = participant.get("actor").and_then(|a| a.get("identifier")) else {
            continue;
        };
        if identifier.get("system").and_then(Value::as_str) != Some(NHS_NUMBER_SYSTEM) {
            continue;
        }
        let path = format!("Appointment.participant[{index}].actor.identifier.value");
        let problem = match identifier.get("value") {
            None => Some((
                IssueType::Required,
                "an NHS number identifier must have a value",
            )),
            Some(Value::String(number)) => match NhsNumber::parse(number) {
                Ok(_) => None,
                Err(NhsNumberError::Format) => {
                    Some((IssueType::Value, "an NHS number must be exactly ten digits"))
                }
                Err(NhsNumberError::CheckDigit) => {
                    Some((IssueType::Value, "the NHS number fails its check digit"))
                }
            },
            Some(_) => None, // not a string: reported by the walker
        };
        if let Some((code, text)) = problem {
            issues.push(Issue::error(code, text).at(path));
        }
    }
}

/// BaRS: a booked appointment says which slot it occupies and when.
fn check_booked_content(appointment: &Map<String, Value>, issues: &mut Vec<Issue>) {
    if status(appointment) != Some("booked") {
        return;
    }
    let has_slot = appointment
        .get("slot")
        .and_then(Value::as_array)
        .is_some_and(|slots| !slots.is_empty());
    if !has_slot {
        let text = "BaRS: a booked appointment must reference its slot";
        issues.push(Issue::error(IssueType::Required, text).at("Appointment.slot"));
    }
    for key in ["start", "end"] {
        if !exists(appointment, key) {
            let text = format!("BaRS: a booked appointment must have {key}");
            issues.push(Issue::error(IssueType::Required, text).at(format!("Appointment.{key}")));
        }
    }
}

/// Rebook provenance, as the R5 `replaces` element or its cross-version extension, must point at
/// the earlier booking as `Appointment/<id>`.
fn check_replaces(appointment: &Map<String, Value>, issues: &mut Vec<Issue>) {
    let text = "replaces must reference the earlier appointment as Appointment/<id>";
    if let Some(Value::Array(replaced)) = appointment.get("replaces") {
        for (index, reference) in replaced.iter().enumerate() {
            if !is_appointment_reference(reference) {
                let path = format!("Appointment.replaces[{index}]");
                let path = if reference.get("reference").is_some() {
                    format!("{path}.reference")
                } else {
                    path
                };
                issues.push(Issue::error(IssueType::Value, text).at(path));
            }
        }
    }
    for (index, extension) in extensions_with_url(appointment, REPLACES_EXTENSION_URL) {
        if !extension
            .get("valueReference")
            .is_some_and(is_appointment_reference)
        {
            issues.push(
                Issue::error(IssueType::Value, text).at(format!("Appointment.extension[{index}]")),
            );
        }
    }
}

fn is_appointment_reference(reference: &Value) -> bool {
    reference
        .get("reference")
        .and_then(Value::as_str)
        .and_then(|r| r.strip_prefix("Appointment/"))
        .is_some_and(walker::is_id)
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::appointment;
    use crate::issue::{IssueType, Severity};
    use crate::validate::tests::{assert_issue, assert_nothing_at, assert_valid, booked, describe};

    fn set(mut resource: Value, key: &str, value: Value) -> Value {
        resource[key] = value;
        resource
    }

    fn without(mut resource: Value, key: &str) -> Value {
        resource.as_object_mut().map(|o| o.remove(key));
        resource
    }

    /// A participant that is the patient, by NHS number.
    fn patient(status: &str) -> Value {
        json!({"actor": {"identifier": {"system": "https://fhir.nhs.uk/Id/nhs-number", "value": "9434765919"}}, "status": status})
    }

    fn practitioner() -> Value {
        json!({"actor": {"reference": "Practitioner/p1"}, "status": "accepted"})
    }

    fn unscheduled(status: &str) -> Value {
        let resource = without(without(without(booked(), "slot"), "start"), "end");
        set(resource, "status", json!(status))
    }

    #[test]
    fn status_is_required_and_from_its_value_set() {
        assert_issue(
            &appointment(&without(booked(), "status")),
            IssueType::Required,
            "Appointment.status",
        );
        let issues = appointment(&set(booked(), "status", json!("confirmed")));
        let issue = assert_issue(&issues, IssueType::Value, "Appointment.status");
        assert!(issue.diagnostics.contains("proposed | pending | booked"));
        for status in super::STATUS_CODES {
            assert_nothing_at(
                &appointment(&set(booked(), "status", json!(status))),
                "Appointment.status",
            );
        }
    }

    #[test]
    fn participant_is_required() {
        assert_issue(
            &appointment(&without(booked(), "participant")),
            IssueType::Required,
            "Appointment.participant",
        );
        assert_issue(
            &appointment(&set(booked(), "participant", json!([]))),
            IssueType::Structure,
            "Appointment.participant",
        );
    }

    #[test]
    fn participant_status_and_required_use_their_value_sets() {
        let issues = appointment(&set(
            booked(),
            "participant",
            json!([{"actor": {"reference": "Patient/1"}}]),
        ));
        assert_issue(
            &issues,
            IssueType::Required,
            "Appointment.participant[0].status",
        );
        let issues = appointment(&set(
            unscheduled("proposed"),
            "participant",
            json!([patient("maybe")]),
        ));
        assert_issue(
            &issues,
            IssueType::Value,
            "Appointment.participant[0].status",
        );
        let mut participant = patient("accepted");
        participant["required"] = json!("mandatory");
        let issues = appointment(&set(booked(), "participant", json!([participant.clone()])));
        assert_issue(
            &issues,
            IssueType::Value,
            "Appointment.participant[0].required",
        );
        for required in ["required", "optional", "information-only"] {
            participant["required"] = json!(required);
            assert_valid(&appointment(&set(
                booked(),
                "participant",
                json!([participant.clone()]),
            )));
        }
        for status in ["accepted", "declined", "tentative", "needs-action"] {
            assert_valid(&appointment(&set(
                unscheduled("proposed"),
                "participant",
                json!([patient(status)]),
            )));
        }
    }

    #[test]
    fn app_1_participants_need_a_type_or_an_actor() {
        let issues = appointment(&set(
            booked(),
            "participant",
            json!([patient("accepted"), {"status": "accepted"}]),
        ));
        assert_issue(&issues, IssueType::Invariant, "Appointment.participant[1]");
        let typed = json!({"type": [{"coding": [{"code": "ATND"}]}], "status": "accepted"});
        assert_valid(&appointment(&set(
            booked(),
            "participant",
            json!([patient("accepted"), typed]),
        )));
    }

    #[test]
    fn app_2_start_and_end_come_together() {
        let issues = appointment(&set(
            unscheduled("proposed"),
            "start",
            json!("2024-02-12T12:30:30Z"),
        ));
        assert_issue(&issues, IssueType::Invariant, "Appointment");
        let issues = appointment(&set(
            unscheduled("proposed"),
            "end",
            json!("2024-02-12T12:30:30Z"),
        ));
        assert_issue(&issues, IssueType::Invariant, "Appointment");
        assert_valid(&appointment(&unscheduled("proposed")));
    }

    #[test]
    fn app_3_times_are_required_unless_proposed_cancelled_or_waitlist() {
        for status in [
            "pending",
            "arrived",
            "fulfilled",
            "noshow",
            "entered-in-error",
            "checked-in",
        ] {
            let issues = appointment(&unscheduled(status));
            let issue = assert_issue(&issues, IssueType::Invariant, "Appointment");
            assert!(
                issue.diagnostics.starts_with("app-3"),
                "{}",
                describe(&issues)
            );
        }
        for status in ["proposed", "cancelled", "waitlist"] {
            assert_valid(&appointment(&unscheduled(status)));
        }
    }

    #[test]
    fn app_4_cancelation_reason_only_when_cancelled_or_noshow() {
        let reason = json!({"coding": [{"system": "http://terminology.hl7.org/CodeSystem/appointment-cancellation-reason", "code": "pat"}]});
        let issues = appointment(&set(booked(), "cancelationReason", reason.clone()));
        assert_issue(
            &issues,
            IssueType::Invariant,
            "Appointment.cancelationReason",
        );
        for status in ["cancelled", "noshow"] {
            let resource = set(
                set(booked(), "status", json!(status)),
                "cancelationReason",
                reason.clone(),
            );
            assert_valid(&appointment(&resource));
        }
    }

    #[test]
    fn start_must_be_strictly_before_end() {
        let issues = appointment(&set(booked(), "end", json!("2024-02-12T12:30:30+00:00")));
        assert_issue(&issues, IssueType::Invariant, "Appointment.end");
        // the same instant written with another offset is still not later
        let issues = appointment(&set(booked(), "end", json!("2024-02-12T13:30:30+01:00")));
        assert_issue(&issues, IssueType::Invariant, "Appointment.end");
        let issues = appointment(&set(booked(), "end", json!("2024-02-12T12:00:00Z")));
        assert_issue(&issues, IssueType::Invariant, "Appointment.end");
        assert_valid(&appointment(&set(
            booked(),
            "end",
            json!("2024-02-12T12:30:31+00:00"),
        )));
    }

    const DELIVERY: &str =
        "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-DeliveryChannel";

    #[test]
    fn delivery_channel_accepts_both_forms_of_its_three_codes() {
        for code in ["In-person", "Telephone", "Video"] {
            let extension = json!([{"url": DELIVERY, "valueCode": code}]);
            assert_valid(&appointment(&set(booked(), "extension", extension)));
            let concept = json!({"coding": [{"system": "https://fhir.hl7.org.uk/CodeSystem/UKCore-DeliveryChannel", "code": code}]});
            let extension = json!([{"url": DELIVERY, "valueCodeableConcept": concept}]);
            assert_valid(&appointment(&set(booked(), "extension", extension)));
        }
    }

    #[test]
    fn delivery_channel_rejects_other_codes_and_types() {
        let extension =
            json!([{"url": "https://example.org/other"}, {"url": DELIVERY, "valueCode": "Fax"}]);
        let issues = appointment(&set(booked(), "extension", extension));
        assert_issue(
            &issues,
            IssueType::Value,
            "Appointment.extension[1].valueCode",
        );
        let concept =
            json!({"coding": [{"system": "https://example.org/channels", "code": "Video"}]});
        let issues = appointment(&set(
            booked(),
            "extension",
            json!([{"url": DELIVERY, "valueCodeableConcept": concept}]),
        ));
        assert_issue(
            &issues,
            IssueType::Value,
            "Appointment.extension[0].valueCodeableConcept",
        );
        let issues = appointment(&set(
            booked(),
            "extension",
            json!([{"url": DELIVERY, "valueString": "Video"}]),
        ));
        assert_issue(&issues, IssueType::Value, "Appointment.extension[0]");
        let twice = json!([{"url": DELIVERY, "valueCode": "Video"}, {"url": DELIVERY, "valueCode": "Video"}]);
        assert_issue(
            &appointment(&set(booked(), "extension", twice)),
            IssueType::Structure,
            "Appointment.extension",
        );
    }

    #[test]
    fn booking_organization_is_a_reference() {
        let url =
            "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-BookingOrganization";
        let good = json!([{"url": url, "valueReference": {"identifier": {"system": "https://fhir.nhs.uk/Id/ods-organization-code", "value": "RGT"}}}]);
        assert_valid(&appointment(&set(booked(), "extension", good)));
        let bad = json!([{"url": url, "valueIdentifier": {"value": "RGT"}}]);
        assert_issue(
            &appointment(&set(booked(), "extension", bad)),
            IssueType::Value,
            "Appointment.extension[0]",
        );
    }

    #[test]
    fn meta_profile_must_declare_uk_core_appointment() {
        let issues = appointment(&without(booked(), "meta"));
        assert_issue(&issues, IssueType::Required, "Appointment.meta.profile");
        let issues = appointment(&set(
            booked(),
            "meta",
            json!({"lastUpdated": "2024-01-11T15:01:30Z"}),
        ));
        assert_issue(&issues, IssueType::Required, "Appointment.meta.profile");
        let base_only = json!({"lastUpdated": "2024-01-11T15:01:30Z", "profile": ["http://hl7.org/fhir/StructureDefinition/Appointment"]});
        assert_issue(
            &appointment(&set(booked(), "meta", base_only)),
            IssueType::Value,
            "Appointment.meta.profile",
        );
        let both = json!({"lastUpdated": "2024-01-11T15:01:30Z", "profile": [
            "http://hl7.org/fhir/StructureDefinition/Appointment",
            "https://fhir.hl7.org.uk/StructureDefinition/UKCore-Appointment|1.1.0"
        ]});
        assert_valid(&appointment(&set(booked(), "meta", both)));
    }

    #[test]
    fn missing_last_updated_is_only_a_warning() {
        let issues = appointment(&without(booked(), "meta"));
        let issue = assert_issue(&issues, IssueType::Required, "Appointment.meta.lastUpdated");
        assert_eq!(issue.severity, Severity::Warning);
        let issue = assert_issue(&issues, IssueType::Required, "Appointment.meta.profile");
        assert_eq!(issue.severity, Severity::Error);
    }

    #[test]
    fn the_patient_is_recognised_in_every_documented_form() {
        let actors = [
            json!({"reference": "Patient/788660eb-d2c9-4773-abd4-318484673fb2"}),
            json!({"reference": "urn:uuid:788660eb-d2c9-4773-abd4-318484673fb2"}),
            json!({"reference": "urn:uuid:788660eb-d2c9-4773-abd4-318484673fb2", "type": "Patient"}),
            json!({"identifier": {"system": "https://fhir.nhs.uk/Id/nhs-number", "value": "9434765919"}}),
            json!({"type": "Patient", "display": "the patient"}),
        ];
        for actor in actors {
            let participants = json!([{"actor": actor, "status": "accepted"}, practitioner()]);
            assert_valid(&appointment(&set(booked(), "participant", participants)));
        }
    }

    #[test]
    fn exactly_one_participant_is_the_patient() {
        let issues = appointment(&set(booked(), "participant", json!([practitioner()])));
        assert_issue(&issues, IssueType::Required, "Appointment.participant");
        // a bundle-local reference typed as something else is not the patient
        let typed = json!([{"actor": {"reference": "urn:uuid:1", "type": "Practitioner"}, "status": "accepted"}]);
        assert_issue(
            &appointment(&set(booked(), "participant", typed)),
            IssueType::Required,
            "Appointment.participant",
        );
        let two = json!([patient("accepted"), practitioner(), {"actor": {"reference": "Patient/2"}, "status": "accepted"}]);
        let issues = appointment(&set(booked(), "participant", two));
        let issue = assert_issue(&issues, IssueType::Invariant, "Appointment.participant[0]");
        assert_eq!(
            issue.expression,
            ["Appointment.participant[0]", "Appointment.participant[2]"]
        );
    }

    #[test]
    fn the_patient_has_accepted_an_active_booking() {
        for status in ["booked", "pending", "arrived", "checked-in", "fulfilled"] {
            let resource = set(
                set(booked(), "status", json!(status)),
                "participant",
                json!([patient("tentative")]),
            );
            assert_issue(
                &appointment(&resource),
                IssueType::Invariant,
                "Appointment.participant[0].status",
            );
        }
        // other participants may still be deciding
        let resource = set(
            booked(),
            "participant",
            json!([patient("accepted"), {"actor": {"reference": "Practitioner/1"}, "status": "needs-action"}]),
        );
        assert_valid(&appointment(&resource));
        for status in ["proposed", "cancelled", "waitlist"] {
            let resource = set(
                unscheduled(status),
                "participant",
                json!([patient("declined")]),
            );
            assert_valid(&appointment(&resource));
        }
    }

    #[test]
    fn nhs_numbers_must_pass_modulus_11() {
        let with_number = |value: Value| {
            let actor = json!({"identifier": {"system": "https://fhir.nhs.uk/Id/nhs-number", "value": value}});
            set(
                booked(),
                "participant",
                json!([{"actor": actor, "status": "accepted"}]),
            )
        };
        let issues = appointment(&with_number(json!("9434765918")));
        let issue = assert_issue(
            &issues,
            IssueType::Value,
            "Appointment.participant[0].actor.identifier.value",
        );
        assert_eq!(issue.diagnostics, "the NHS number fails its check digit");
        let issues = appointment(&with_number(json!("943 476 5919")));
        assert_issue(
            &issues,
            IssueType::Value,
            "Appointment.participant[0].actor.identifier.value",
        );
        let actor = json!({"identifier": {"system": "https://fhir.nhs.uk/Id/nhs-number"}});
        let issues = appointment(&set(
            booked(),
            "participant",
            json!([{"actor": actor, "status": "accepted"}]),
        ));
        assert_issue(
            &issues,
            IssueType::Required,
            "Appointment.participant[0].actor.identifier.value",
        );
        // other identifier systems are not NHS numbers
        let actor = json!({"reference": "Patient/1", "identifier": {"system": "https://example.org/mrn", "value": "123"}});
        assert_valid(&appointment(&set(
            booked(),
            "participant",
            json!([{"actor": actor, "status": "accepted"}]),
        )));
        assert_valid(&appointment(&with_number(json!("9000000009"))));
    }

    #[test]
    fn a_booking_names_its_slot_and_times() {
        let issues = appointment(&without(booked(), "slot"));
        assert_issue(&issues, IssueType::Required, "Appointment.slot");
        let issues = appointment(&without(without(booked(), "start"), "end"));
        assert_issue(&issues, IssueType::Required, "Appointment.start");
        assert_issue(&issues, IssueType::Required, "Appointment.end");
        assert_issue(&issues, IssueType::Invariant, "Appointment"); // app-3 as well
        assert_valid(&appointment(&unscheduled("waitlist")));
    }

    #[test]
    fn replaces_points_at_an_earlier_appointment() {
        let good = json!([{"reference": "Appointment/91607239-b002-470a-8709-6b25bd50fdd1"}]);
        assert_valid(&appointment(&set(booked(), "replaces", good.clone())));
        let issues = appointment(&set(booked(), "replaces", json!([{"reference": "Slot/1"}])));
        assert_issue(
            &issues,
            IssueType::Value,
            "Appointment.replaces[0].reference",
        );
        let issues = appointment(&set(
            booked(),
            "replaces",
            json!([{"reference": "Appointment/{id}"}]),
        ));
        assert_issue(
            &issues,
            IssueType::Value,
            "Appointment.replaces[0].reference",
        );
        let issues = appointment(&set(
            booked(),
            "replaces",
            json!([{"identifier": {"value": "x"}}]),
        ));
        assert_issue(&issues, IssueType::Value, "Appointment.replaces[0]");
        let url = "http://hl7.org/fhir/5.0/StructureDefinition/extension-Appointment.replaces";
        let extension = json!([{"url": url, "valueReference": good[0].clone()}]);
        assert_valid(&appointment(&set(booked(), "extension", extension)));
        let extension = json!([{"url": url, "valueReference": {"reference": "Appointment"}}]);
        assert_issue(
            &appointment(&set(booked(), "extension", extension)),
            IssueType::Value,
            "Appointment.extension[0]",
        );
    }
}
