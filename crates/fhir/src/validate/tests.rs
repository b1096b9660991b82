//! Shared test helpers, the generic FHIR JSON rules, the official fixtures and robustness.

use serde_json::{Value, json};

use super::{appointment, document_reference, schedule, slot};
use crate::issue::{Issue, IssueType, Severity};

pub(super) fn describe(issues: &[Issue]) -> String {
    issues
        .iter()
        .map(|i| {
            format!(
                "\n  {:?} {} {:?}: {}",
                i.severity, i.code, i.expression, i.diagnostics
            )
        })
        .collect()
}

/// The issue with this code whose expressions include `expression`; fails listing all issues.
#[track_caller]
pub(super) fn assert_issue<'a>(
    issues: &'a [Issue],
    code: IssueType,
    expression: &str,
) -> &'a Issue {
    issues
        .iter()
        .find(|i| i.code == code && i.expression.iter().any(|e| e == expression))
        .unwrap_or_else(|| panic!("expected {code} at {expression}, got:{}", describe(issues)))
}

/// Nothing was reported at `expression` (or beneath it).
#[track_caller]
pub(super) fn assert_nothing_at(issues: &[Issue], expression: &str) {
    let hits: Vec<Issue> = issues
        .iter()
        .filter(|i| i.expression.iter().any(|e| e.starts_with(expression)))
        .cloned()
        .collect();
    assert!(
        hits.is_empty(),
        "expected nothing at {expression}, got:{}",
        describe(&hits)
    );
}

#[track_caller]
pub(super) fn assert_valid(issues: &[Issue]) {
    assert!(
        issues.is_empty(),
        "expected no issues, got:{}",
        describe(issues)
    );
}

#[track_caller]
fn parse(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("fixture is not JSON: {e}"))
}

/// A booked appointment that satisfies every rule; tests break one thing at a time.
pub(super) fn booked() -> Value {
    json!({
        "resourceType": "Appointment",
        "id": "aca94bdb-2e38-4399-9ece-2ba083ce65b5",
        "meta": {
            "lastUpdated": "2024-01-11T15:01:30.8185338+00:00",
            "profile": ["https://fhir.hl7.org.uk/StructureDefinition/UKCore-Appointment"]
        },
        "status": "booked",
        "slot": [{"reference": "Slot/deb4c4b3-870b-4599-84df-5e54cef7afda"}],
        "start": "2024-02-12T12:30:30+00:00",
        "end": "2024-02-12T12:40:30+00:00",
        "participant": [{
            "actor": {"identifier": {"system": "https://fhir.nhs.uk/Id/nhs-number", "value": "9434765919"}},
            "status": "accepted"
        }]
    })
}

fn with(mut resource: Value, pointer: &str, value: Value) -> Value {
    match resource.pointer_mut(pointer) {
        Some(slot) => *slot = value,
        None => {
            let (parent, key) = pointer.rsplit_once('/').expect("pointer has a parent");
            let target = if parent.is_empty() {
                &mut resource
            } else {
                resource.pointer_mut(parent).expect("parent exists")
            };
            target
                .as_object_mut()
                .expect("parent is an object")
                .insert(key.to_string(), value);
        }
    }
    resource
}

// ---- generic FHIR JSON rules (exercised through Appointment and Slot) ----

#[test]
fn the_baseline_appointment_is_valid() {
    assert_valid(&appointment(&booked()));
}

#[test]
fn unknown_elements_are_structure_errors() {
    let issues = appointment(&with(booked(), "/cancellationReason", json!({"text": "x"})));
    let issue = assert_issue(
        &issues,
        IssueType::Structure,
        "Appointment.cancellationReason",
    );
    assert!(issue.diagnostics.contains("unknown element"));
    let issues = appointment(&with(booked(), "/participant/0/actor/kind", json!("x")));
    assert_issue(
        &issues,
        IssueType::Structure,
        "Appointment.participant[0].actor.kind",
    );
}

#[test]
fn keys_that_are_not_element_names_are_never_echoed() {
    let issues = appointment(&with(booked(), "/9434765919", json!(1)));
    let issue = assert_issue(&issues, IssueType::Structure, "Appointment");
    assert!(!issue.diagnostics.contains("9434765919"));
}

#[test]
fn resource_type_must_match() {
    assert_issue(
        &appointment(&with(booked(), "/resourceType", json!("Slot"))),
        IssueType::Structure,
        "Appointment",
    );
    let mut missing = booked();
    missing.as_object_mut().map(|o| o.remove("resourceType"));
    assert_issue(&appointment(&missing), IssueType::Required, "Appointment");
}

#[test]
fn non_objects_are_structure_errors() {
    for value in [
        json!(null),
        json!([]),
        json!("Appointment"),
        json!(3),
        json!(true),
    ] {
        let issues = appointment(&value);
        assert_eq!(issues.len(), 1, "{}", describe(&issues));
        assert_issue(&issues, IssueType::Structure, "Appointment");
        assert_issue(&slot(&value), IssueType::Structure, "Slot");
        assert_issue(&schedule(&value), IssueType::Structure, "Schedule");
        assert_issue(
            &document_reference(&value),
            IssueType::Structure,
            "DocumentReference",
        );
    }
}

#[test]
fn wrong_json_kinds_are_structure_errors() {
    let cases = [
        ("/status", json!(1), "Appointment.status"),
        ("/description", json!(true), "Appointment.description"),
        (
            "/minutesDuration",
            json!("15"),
            "Appointment.minutesDuration",
        ),
        (
            "/participant/0/actor",
            json!("Patient/1"),
            "Appointment.participant[0].actor",
        ),
        // a repeating element written as a single value, and the reverse
        ("/slot", json!({"reference": "Slot/1"}), "Appointment.slot"),
        (
            "/meta",
            json!([{"lastUpdated": "2024-01-11T15:01:30Z"}]),
            "Appointment.meta",
        ),
        (
            "/start",
            json!(["2024-02-12T12:30:30+00:00"]),
            "Appointment.start",
        ),
    ];
    for (pointer, value, expression) in cases {
        assert_issue(
            &appointment(&with(booked(), pointer, value)),
            IssueType::Structure,
            expression,
        );
    }
}

#[test]
fn required_elements_are_reported_missing() {
    let mut resource = booked();
    resource.as_object_mut().map(|o| o.remove("status"));
    assert_issue(
        &appointment(&resource),
        IssueType::Required,
        "Appointment.status",
    );
    let issues = appointment(&with(booked(), "/meta/security", json!([{"system": "x"}])));
    assert_nothing_at(&issues, "Appointment.meta");
}

#[test]
fn ele_1_forbids_empty_content_and_nulls() {
    let cases = [
        (
            "/meta/tag",
            json!([]),
            IssueType::Structure,
            "Appointment.meta.tag",
        ),
        (
            "/participant/0/actor",
            json!({}),
            IssueType::Structure,
            "Appointment.participant[0].actor",
        ),
        (
            "/description",
            json!(""),
            IssueType::Value,
            "Appointment.description",
        ),
        (
            "/comment",
            json!(null),
            IssueType::Structure,
            "Appointment.comment",
        ),
        (
            "/slot",
            json!([null]),
            IssueType::Structure,
            "Appointment.slot[0]",
        ),
    ];
    for (pointer, value, code, expression) in cases {
        assert_issue(
            &appointment(&with(booked(), pointer, value)),
            code,
            expression,
        );
    }
}

#[test]
fn primitive_formats_are_value_errors() {
    let cases = [
        ("/start", json!("2024-02-12"), "Appointment.start"),
        ("/start", json!("2024-02-12T12:30:30"), "Appointment.start"),
        ("/created", json!("2024-13"), "Appointment.created"),
        ("/minutesDuration", json!(0), "Appointment.minutesDuration"),
        ("/minutesDuration", json!(-5), "Appointment.minutesDuration"),
        ("/priority", json!(-1), "Appointment.priority"),
        ("/id", json!("not an id!"), "Appointment.id"),
        ("/id", json!("a".repeat(65)), "Appointment.id"),
        ("/status", json!("booked "), "Appointment.status"),
        (
            "/meta/versionId",
            json!("v 1"),
            "Appointment.meta.versionId",
        ),
        (
            "/meta/source",
            json!("has space"),
            "Appointment.meta.source",
        ),
        (
            "/requestedPeriod",
            json!([{"start": "2024-02-30"}]),
            "Appointment.requestedPeriod[0].start",
        ),
    ];
    for (pointer, value, expression) in cases {
        assert_issue(
            &appointment(&with(booked(), pointer, value)),
            IssueType::Value,
            expression,
        );
    }
    let fraction: Value = serde_json::from_str("1.5").expect("number");
    let issues = appointment(&with(booked(), "/minutesDuration", fraction));
    assert_issue(&issues, IssueType::Value, "Appointment.minutesDuration");
    let exponent: Value = serde_json::from_str("1e1").expect("number");
    assert_issue(
        &appointment(&with(booked(), "/priority", exponent)),
        IssueType::Value,
        "Appointment.priority",
    );
}

#[test]
fn well_formed_primitives_pass() {
    let resource = with(booked(), "/minutesDuration", json!(10));
    let resource = with(resource, "/priority", json!(0));
    let resource = with(resource, "/created", json!("2024"));
    let resource = with(
        resource,
        "/requestedPeriod",
        json!([{"start": "2024-02-01", "end": "2024-02-28"}]),
    );
    assert_valid(&appointment(&resource));
}

#[test]
fn primitive_extensions_are_checked() {
    let ext = json!({"extension": [{"url": "https://example.org/ext", "valueString": "x"}]});
    assert_valid(&appointment(&with(booked(), "/_status", ext.clone())));
    // an extension-only repeating primitive
    let resource = with(
        booked(),
        "/meta/profile",
        json!([
            "https://fhir.hl7.org.uk/StructureDefinition/UKCore-Appointment",
            null
        ]),
    );
    assert_valid(&appointment(&with(
        resource.clone(),
        "/meta/_profile",
        json!([null, ext.clone()]),
    )));
    assert_issue(
        &appointment(&resource),
        IssueType::Structure,
        "Appointment.meta.profile[1]",
    );
    let issues = appointment(&with(resource, "/meta/_profile", json!([ext])));
    assert_issue(&issues, IssueType::Structure, "Appointment.meta.profile");
    assert_issue(
        &appointment(&with(booked(), "/_status", json!("x"))),
        IssueType::Structure,
        "Appointment.status",
    );
    assert_issue(
        &appointment(&with(booked(), "/_status", json!({}))),
        IssueType::Structure,
        "Appointment.status",
    );
    let issues = appointment(&with(booked(), "/_status", json!({"foo": 1})));
    assert_issue(&issues, IssueType::Structure, "Appointment.status.foo");
    // `_` is only for primitives
    assert_issue(
        &appointment(&with(booked(), "/_slot", json!([{"id": "a"}]))),
        IssueType::Structure,
        "Appointment._slot",
    );
    assert_issue(
        &appointment(&with(booked(), "/_nonsense", json!({"id": "a"}))),
        IssueType::Structure,
        "Appointment._nonsense",
    );
}

#[test]
fn extension_values_of_every_type_are_accepted_and_checked() {
    let ok = [
        json!({"url": "u", "valueString": "x"}),
        json!({"url": "u", "valueBoolean": true}),
        json!({"url": "u", "valueInteger": -3}),
        json!({"url": "u", "valueDecimal": 1.50}),
        json!({"url": "u", "valueDateTime": "2024-02"}),
        json!({"url": "u", "valueInstant": "2024-02-12T12:30:30Z"}),
        json!({"url": "u", "valuePeriod": {"start": "2024-02-12"}}),
        json!({"url": "u", "valueIdentifier": {"system": "s", "value": "v"}}),
        json!({"url": "u", "valueCoding": {"code": "c"}}),
        json!({"url": "u", "valueUri": "urn:x"}),
        json!({"url": "u", "valueReference": {"reference": "Organization/1"}}),
        json!({"url": "u", "valueQuantity": {"value": 3, "unit": "min"}}),
        json!({"url": "u", "valueAddress": {"city": "Leeds"}}),
        json!({"url": "u", "extension": [{"url": "inner", "valueCode": "c"}]}),
        json!({"url": "u", "_valueString": {"id": "a"}, "valueString": "x"}),
    ];
    for extension in ok {
        assert_valid(&appointment(&with(
            booked(),
            "/extension",
            json!([extension]),
        )));
    }
    let bad = [
        (
            json!({"url": "u", "valueInteger": 1.5}),
            IssueType::Value,
            "Appointment.extension[0].valueInteger",
        ),
        (
            json!({"url": "u", "valueBoolean": "true"}),
            IssueType::Structure,
            "Appointment.extension[0].valueBoolean",
        ),
        (
            json!({"url": "u", "valueDateTime": "12/02/2024"}),
            IssueType::Value,
            "Appointment.extension[0].valueDateTime",
        ),
        (
            json!({"url": "u", "valueFoo": "x"}),
            IssueType::Structure,
            "Appointment.extension[0].valueFoo",
        ),
        (
            json!({"url": "u", "valueAddress": {}}),
            IssueType::Structure,
            "Appointment.extension[0].valueAddress",
        ),
        (
            json!({"url": "u", "valuePeriod": {"begin": "2024"}}),
            IssueType::Structure,
            "Appointment.extension[0].valuePeriod.begin",
        ),
        (
            json!({"url": "u", "valueString": "a", "valueCode": "b"}),
            IssueType::Structure,
            "Appointment.extension[0].valueCode",
        ),
        (
            json!({"url": "u", "valueCode": "b", "extension": [{"url": "v", "valueCode": "c"}]}),
            IssueType::Invariant,
            "Appointment.extension[0]",
        ),
        (
            json!({"url": "u"}),
            IssueType::Invariant,
            "Appointment.extension[0]",
        ),
        (
            json!({"valueCode": "b"}),
            IssueType::Required,
            "Appointment.extension[0].url",
        ),
        (
            json!({"url": "u", "extension": [{"url": "v"}]}),
            IssueType::Invariant,
            "Appointment.extension[0].extension[0]",
        ),
    ];
    for (extension, code, expression) in bad {
        assert_issue(
            &appointment(&with(booked(), "/extension", json!([extension]))),
            code,
            expression,
        );
    }
}

#[test]
fn datatype_invariants_and_bindings() {
    let reversed = json!([{"start": "2024-02-12T12:00:00Z", "end": "2024-02-11T12:00:00Z"}]);
    assert_issue(
        &appointment(&with(booked(), "/requestedPeriod", reversed)),
        IssueType::Invariant,
        "Appointment.requestedPeriod[0]",
    );
    let identifier = json!([{"use": "primary", "value": "x"}]);
    assert_issue(
        &appointment(&with(booked(), "/identifier", identifier)),
        IssueType::Value,
        "Appointment.identifier[0].use",
    );
    let narrative = json!({"status": "generated", "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\">Booked</div>"});
    assert_valid(&appointment(&with(booked(), "/text", narrative)));
    let issues = appointment(&with(booked(), "/text", json!({"div": "plain text"})));
    assert_issue(&issues, IssueType::Required, "Appointment.text.status");
    assert_issue(&issues, IssueType::Value, "Appointment.text.div");
}

#[test]
fn contained_resources_and_local_references() {
    let patient = json!({"resourceType": "Patient", "id": "pat", "name": [{"family": "X"}]});
    let resource = with(booked(), "/contained", json!([patient]));
    let resource = with(
        resource,
        "/participant/0/actor",
        json!({"reference": "#pat"}),
    );
    assert_valid(&appointment(&resource));
    // ref-1: the local reference names no contained resource
    let dangling = with(
        resource.clone(),
        "/participant/0/actor",
        json!({"reference": "#other"}),
    );
    let issues = appointment(&dangling);
    assert_issue(
        &issues,
        IssueType::Invariant,
        "Appointment.participant[0].actor.reference",
    );
    // dom-3: the contained resource is not referenced
    assert_issue(&issues, IssueType::Invariant, "Appointment.contained[0]");
    // dom-4 and dom-2
    let stamped = with(
        resource.clone(),
        "/contained/0/meta",
        json!({"lastUpdated": "2024-01-11T15:01:30Z"}),
    );
    assert_issue(
        &appointment(&stamped),
        IssueType::Invariant,
        "Appointment.contained[0].meta.lastUpdated",
    );
    let nested = with(
        resource.clone(),
        "/contained/0/contained",
        json!([{"resourceType": "Patient", "id": "x"}]),
    );
    assert_issue(
        &appointment(&nested),
        IssueType::Invariant,
        "Appointment.contained[0].contained",
    );
    // unknown resource types are still held to ele-1; known ones to their table
    let empty = with(resource.clone(), "/contained/0/name", json!([{}]));
    assert_issue(
        &appointment(&empty),
        IssueType::Structure,
        "Appointment.contained[0].name[0]",
    );
    let slot = json!({"resourceType": "Slot", "id": "s", "status": "free", "start": "2024-02-12T12:00:00Z", "end": "2024-02-12T13:00:00Z"});
    let resource = with(
        with(booked(), "/contained", json!([slot])),
        "/slot",
        json!([{"reference": "#s"}]),
    );
    assert_issue(
        &appointment(&resource),
        IssueType::Required,
        "Appointment.contained[0].schedule",
    );
    let issues = appointment(&with(booked(), "/contained", json!(["Patient"])));
    assert_issue(&issues, IssueType::Structure, "Appointment.contained[0]");
}

#[test]
fn findings_come_in_document_order() {
    let resource = json!({
        "resourceType": "Appointment",
        "meta": {"profile": ["https://fhir.hl7.org.uk/StructureDefinition/UKCore-Appointment"]},
        "status": "bogus",
        "participant": [{"actor": {"reference": "Patient/1"}, "status": "maybe"}],
        "start": "yesterday",
        "comment": ""
    });
    let expressions: Vec<String> = appointment(&resource)
        .into_iter()
        .map(|i| i.expression.join(","))
        .collect();
    assert_eq!(
        expressions,
        [
            "Appointment",
            "Appointment",
            "Appointment.meta.lastUpdated",
            "Appointment.status",
            "Appointment.participant[0].status",
            "Appointment.start",
            "Appointment.comment"
        ]
    );
}

// ---- patient data never appears in diagnostics ----

#[test]
fn no_diagnostic_contains_the_nhs_number_or_other_patient_data() {
    let number = "9434765918"; // fails its check digit
    let resource = json!({
        "resourceType": "Appointment",
        "contained": [{"resourceType": "Patient", "id": "p", "name": [{"family": "Zebedee-Secret"}], "birthDate": ""}],
        "status": number,
        "start": "1980-01-02",
        "participant": [
            {"actor": {"identifier": {"system": "https://fhir.nhs.uk/Id/nhs-number", "value": number}}, "status": number},
            {"actor": {"reference": format!("Patient/{number}"), "display": "Zebedee-Secret"}, "status": "accepted"},
            {"actor": {"identifier": {"system": "https://fhir.nhs.uk/Id/nhs-number", "value": "94347659"}}, "status": "accepted"}
        ],
        "extension": [{"url": "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-DeliveryChannel", "valueCode": number}],
        "replaces": [{"reference": format!("Patient/{number}")}]
    });
    let resource = with(resource, &format!("/{number}"), json!("Zebedee-Secret"));
    let issues = appointment(&resource);
    assert_issue(
        &issues,
        IssueType::Value,
        "Appointment.participant[0].actor.identifier.value",
    );
    assert!(issues.len() > 8, "{}", describe(&issues));
    for issue in &issues {
        for secret in [number, "94347659", "Zebedee", "1980-01-02"] {
            assert!(
                !issue.diagnostics.contains(secret),
                "diagnostics leak patient data: {issue}"
            );
            assert!(
                issue.expression.iter().all(|e| !e.contains(secret)),
                "expression leaks patient data: {issue}"
            );
        }
    }
}

// ---- official fixtures ----

macro_rules! fixture {
    ($name:literal) => {
        include_str!(concat!("../../../../fixtures/bars-api-examples/", $name))
    };
}

/// The resources of a given type in a Bundle fixture.
fn entries(bundle: &Value, resource_type: &str) -> Vec<Value> {
    bundle["entry"]
        .as_array()
        .expect("bundle entries")
        .iter()
        .map(|e| e["resource"].clone())
        .filter(|r| r["resourceType"] == resource_type)
        .collect()
}

#[test]
fn official_appointment_examples_are_valid() {
    // The PUT body has its UKCore profile and an urn:uuid patient actor.
    assert_valid(&appointment(&parse(fixture!(
        "examples1.2.0__appointment__PUT-body.json"
    ))));
    assert_valid(&appointment(&parse(fixture!(
        "examples__appointment__POST-success.json"
    ))));
    assert_valid(&appointment(&parse(fixture!(
        "examples__appointment__id__GET-success.json"
    ))));
    let search = parse(fixture!("examples__appointment__GET-success.json"));
    let found = entries(&search, "Appointment");
    assert_eq!(found.len(), 2);
    for resource in &found {
        assert_valid(&appointment(resource));
    }
}

#[test]
fn the_partial_patch_body_is_not_a_whole_appointment() {
    // BaRS-style PATCH bodies carry only id/meta/status; validated alone they lack participant.
    let issues = appointment(&parse(fixture!(
        "examples1.2.0__appointment__PATCH-body.json"
    )));
    assert_issue(&issues, IssueType::Required, "Appointment.participant");
}

#[test]
fn the_ig_booking_example_is_valid_once_its_missing_comma_is_restored() {
    let page = include_str!("../../../../fixtures/ig/initial-booking.page.md");
    let block = page
        .split("```json")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("the page has a JSON block");
    assert!(
        serde_json::from_str::<Value>(block).is_err(),
        "the published example lacks a comma after id"
    );
    let id = "\"aca94bdb-2e38-4399-9ece-2ba083ce65b5\"";
    let fixed = block.replacen(id, &format!("{id},"), 1);
    assert_valid(&appointment(&parse(&fixed)));
}

#[test]
fn booking_message_resources() {
    let request = parse(fixture!(
        "examples__process_message__request__BookingPOST.json"
    ));
    for resource in entries(&request, "Appointment") {
        assert_valid(&appointment(&resource));
    }
    for resource in entries(&request, "Slot") {
        assert_valid(&slot(&resource));
    }
    // Its Schedule names its actors only by urn:uuid, so the service cannot be recognised
    // without resolving the bundle.
    for resource in entries(&request, "Schedule") {
        let issues = schedule(&resource);
        assert_issue(&issues, IssueType::Required, "Schedule.actor");
        assert_eq!(issues.len(), 1, "{}", describe(&issues));
    }
}

#[test]
fn the_booking_response_example_has_known_defects() {
    let response = parse(fixture!(
        "examples__process_message__response__BookingHTTPResponse.json"
    ));
    let appointments = entries(&response, "Appointment");
    let issues = appointment(&appointments[0]);
    assert_issue(
        &issues,
        IssueType::Required,
        "Appointment.participant[0].status",
    );
    let slots = entries(&response, "Slot");
    let issues = slot(&slots[0]);
    assert_issue(&issues, IssueType::Structure, "Slot.Schedule"); // capital S
    assert_issue(&issues, IssueType::Required, "Slot.schedule");
    let schedules = entries(&response, "Schedule");
    let issues = schedule(&schedules[0]);
    assert_issue(&issues, IssueType::Value, "Schedule.id"); // placeholder "{ScheduleItem}"
    assert_nothing_at(&issues, "Schedule.actor"); // HealthcareService/{...} is recognised by type
}

#[test]
fn the_slot_search_example() {
    let search = parse(fixture!("examples__slots__GET-success.json"));
    let slots = entries(&search, "Slot");
    assert_eq!(slots.len(), 3);
    for resource in &slots {
        assert_valid(&slot(resource));
    }
    for resource in entries(&search, "Schedule") {
        assert_issue(&schedule(&resource), IssueType::Required, "Schedule.actor");
    }
}

#[test]
fn official_document_reference_examples_are_valid() {
    assert_valid(&document_reference(&parse(fixture!(
        "examples__document_reference__POST-body.json"
    ))));
    assert_valid(&document_reference(&parse(fixture!(
        "examples__document_reference__id__PUT-body.json"
    ))));
    assert_valid(&document_reference(&parse(fixture!(
        "examples__document_reference__id__GET-success.json"
    ))));
    let search = parse(fixture!("examples__document_reference__GET-success.json"));
    let found = entries(&search, "DocumentReference");
    assert!(!found.is_empty());
    for resource in &found {
        assert_valid(&document_reference(resource));
    }
}

// ---- robustness: any JSON only ever produces issues ----

/// A small deterministic generator, so the test needs no extra crates and never flakes.
struct Xorshift(u64);

impl Xorshift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const KEYS: &[&str] = &[
    "resourceType",
    "id",
    "meta",
    "status",
    "participant",
    "actor",
    "reference",
    "identifier",
    "system",
    "value",
    "extension",
    "url",
    "valueCode",
    "valueCodeableConcept",
    "coding",
    "code",
    "start",
    "end",
    "slot",
    "_status",
    "contained",
    "replaces",
    "schedule",
    "content",
    "attachment",
    "relatesTo",
    "target",
    "period",
    "type",
    "profile",
    "lastUpdated",
    "_given",
    "given",
    "valueReference",
    "text",
    "div",
];

const STRINGS: &[&str] = &[
    "",
    " ",
    "booked",
    "accepted",
    "Patient/1",
    "urn:uuid:x",
    "#p",
    "#",
    "2024-02-12T12:30:30Z",
    "2024",
    "9434765919",
    "https://fhir.nhs.uk/Id/nhs-number",
    "Appointment",
    "Slot",
    "Patient",
    "HealthcareService/1",
    "Video",
    "é\u{0}",
    "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-DeliveryChannel",
];

fn random_value(rng: &mut Xorshift, depth: u32) -> Value {
    let choice = if depth > 5 {
        rng.below(5)
    } else {
        rng.below(8)
    };
    match choice {
        0 => Value::Null,
        1 => json!(rng.below(2) == 0),
        2 => match rng.below(3) {
            0 => json!(rng.below(5) as i64 - 2),
            1 => serde_json::from_str("1.5").unwrap_or(Value::Null),
            _ => serde_json::from_str("1e400").unwrap_or(Value::Null),
        },
        3 | 4 => json!(STRINGS[rng.below(STRINGS.len() as u64) as usize]),
        5 => Value::Array(
            (0..rng.below(4))
                .map(|_| random_value(rng, depth + 1))
                .collect(),
        ),
        _ => {
            let mut object = serde_json::Map::new();
            for _ in 0..rng.below(5) {
                let key = KEYS[rng.below(KEYS.len() as u64) as usize];
                object.insert(key.to_string(), random_value(rng, depth + 1));
            }
            Value::Object(object)
        }
    }
}

#[test]
fn arbitrary_json_never_panics() {
    let mut rng = Xorshift(0x9E37_79B9_7F4A_7C15);
    for _ in 0..3000 {
        let mut value = random_value(&mut rng, 0);
        if let Some(object) = value.as_object_mut() {
            let types = ["Appointment", "Slot", "Schedule", "DocumentReference"];
            object.insert("resourceType".into(), json!(types[rng.below(4) as usize]));
        }
        for issue in appointment(&value)
            .iter()
            .chain(&slot(&value))
            .chain(&schedule(&value))
            .chain(&document_reference(&value))
        {
            assert!(
                !issue.expression.is_empty(),
                "every finding has a location: {issue}"
            );
        }
    }
}

#[test]
fn mutated_fixtures_never_panic() {
    let mut rng = Xorshift(42);
    let base = parse(fixture!("examples1.2.0__appointment__PUT-body.json"));
    for _ in 0..500 {
        let mut value = base.clone();
        let pointers = [
            "/meta",
            "/status",
            "/participant",
            "/participant/0",
            "/participant/0/actor",
            "/slot/0",
            "/start",
        ];
        for _ in 0..3 {
            let pointer = pointers[rng.below(pointers.len() as u64) as usize];
            if let Some(target) = value.pointer_mut(pointer) {
                *target = random_value(&mut rng, 2);
            }
        }
        let _ = appointment(&value);
    }
}

#[test]
fn deep_nesting_is_reported_not_overflowed() {
    let mut extension = json!({"url": "u", "valueString": "x"});
    for _ in 0..300 {
        extension = json!({"url": "u", "extension": [extension]});
    }
    let issues = appointment(&with(booked(), "/extension", json!([extension])));
    assert!(
        issues
            .iter()
            .any(|i| i.code == IssueType::Structure && i.diagnostics.contains("nested too deeply"))
    );
}

#[test]
fn warnings_are_warnings() {
    let mut resource = booked();
    resource["meta"]
        .as_object_mut()
        .map(|m| m.remove("lastUpdated"));
    let issues = appointment(&resource);
    assert_eq!(issues.len(), 1, "{}", describe(&issues));
    let issue = assert_issue(&issues, IssueType::Required, "Appointment.meta.lastUpdated");
    assert_eq!(issue.severity, Severity::Warning);
}
