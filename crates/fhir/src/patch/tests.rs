//! Tests across the three forms: the reschedule use case, atomicity, the BaRS example body, and
//! robustness against malformed documents of every shape.

use serde_json::{Value, json};

use super::*;

/// The BaRS API example body `specification/examples1.2.0/appointment/PATCH-body.json`, from the
/// shared fixtures the validator tests also read.
const EXAMPLE_PATCH_BODY: &str = include_str!(
    "../../../../fixtures/bars-api-examples/examples1.2.0__appointment__PATCH-body.json"
);

fn stored_appointment() -> Value {
    json!({
        "resourceType": "Appointment",
        "id": "91607239-b002-470a-8709-6b25bd50fdd1",
        "meta": {"versionId": "2", "lastUpdated": "2021-11-10T09:00:00+00:00"},
        "status": "booked",
        "description": "Follow-up",
        "start": "2021-11-12T10:00:00+00:00",
        "end": "2021-11-12T10:15:00+00:00",
        "slot": [{"reference": "Slot/old-slot"}],
        "created": "2021-11-10T09:00:00+00:00",
        "participant": [{"actor": {"reference": "Patient/9000000009"}, "status": "accepted"}]
    })
}

const NEW_SLOT: &str = "Slot/new-slot";
const NEW_START: &str = "2021-11-15T14:00:00+00:00";
const NEW_END: &str = "2021-11-15T14:15:00+00:00";

fn rescheduled_by_json_patch(target: &Value) -> Result<Value, PatchError> {
    let patch = json!([
        {"op": "test", "path": "/slot/0/reference", "value": "Slot/old-slot"},
        {"op": "replace", "path": "/slot/0/reference", "value": NEW_SLOT},
        {"op": "replace", "path": "/start", "value": NEW_START},
        {"op": "replace", "path": "/end", "value": NEW_END}
    ]);
    json_patch(target, &patch)
}

fn rescheduled_by_fhirpath_patch(target: &Value) -> Result<Value, PatchError> {
    let replace = |path: &str, value: Value| {
        json!({"name": "operation", "part": [
            {"name": "type", "valueCode": "replace"},
            {"name": "path", "valueString": path},
            value
        ]})
    };
    let parameters = json!({"resourceType": "Parameters", "parameter": [
        replace("Appointment.slot[0].reference", json!({"name": "value", "valueString": NEW_SLOT})),
        replace("Appointment.start", json!({"name": "value", "valueInstant": NEW_START})),
        replace("Appointment.end", json!({"name": "value", "valueInstant": NEW_END}))
    ]});
    fhirpath_patch(target, &parameters)
}

fn rescheduled_by_partial_resource(target: &Value) -> Result<Value, PatchError> {
    // The shape of the IG's "Using PATCH" reschedule example.
    let partial = json!({
        "resourceType": "Appointment",
        "id": "91607239-b002-470a-8709-6b25bd50fdd1",
        "status": "booked",
        "slot": [{"reference": NEW_SLOT}],
        "start": NEW_START,
        "end": NEW_END
    });
    partial_resource(target, &partial)
}

#[test]
fn reschedule_gives_the_same_result_in_all_three_forms() {
    let stored = stored_appointment();
    let by_json_patch = rescheduled_by_json_patch(&stored).unwrap();
    let by_fhirpath = rescheduled_by_fhirpath_patch(&stored).unwrap();
    let by_partial = rescheduled_by_partial_resource(&stored).unwrap();
    let mut expected = stored_appointment();
    expected["slot"] = json!([{"reference": NEW_SLOT}]);
    expected["start"] = json!(NEW_START);
    expected["end"] = json!(NEW_END);
    assert_eq!(by_json_patch, expected);
    assert_eq!(by_fhirpath, expected);
    assert_eq!(by_partial, expected);
    // Same member order too: the serialised forms are identical.
    let text = serde_json::to_string(&expected).unwrap();
    for result in [&by_json_patch, &by_fhirpath, &by_partial] {
        assert_eq!(serde_json::to_string(result).unwrap(), text);
    }
    assert_eq!(
        stored,
        stored_appointment(),
        "the stored resource is never modified"
    );
}

#[test]
fn the_bars_example_body_applies_as_a_partial_resource() {
    let body: Value = serde_json::from_str(EXAMPLE_PATCH_BODY).unwrap();
    let mut stored = stored_appointment();
    stored["status"] = json!("proposed");
    let patched = partial_resource(&stored, &body).unwrap();
    assert_eq!(patched["status"], json!("booked"));
    assert_eq!(
        patched["meta"], stored["meta"],
        "meta belongs to the server"
    );
    assert_eq!(patched["id"], stored["id"]);
    let mut expected = stored.clone();
    expected["status"] = json!("booked");
    assert_eq!(patched, expected);
    // A stored resource with another id is still patched: the caller compares ids with the URL.
    stored["id"] = json!("other");
    assert_eq!(
        partial_resource(&stored, &body).unwrap()["id"],
        json!("other")
    );
}

#[test]
fn json_patch_is_atomic() {
    let stored = stored_appointment();
    let patch = json!([
        {"op": "replace", "path": "/status", "value": "cancelled"},
        {"op": "remove", "path": "/description"},
        {"op": "test", "path": "/start", "value": "1999-01-01T00:00:00+00:00"}
    ]);
    let err = json_patch(&stored, &patch).unwrap_err();
    assert_eq!(
        err,
        PatchError::Failed {
            code: IssueType::Processing,
            diagnostics: "test operation failed at /start".to_string()
        }
    );
    assert_eq!(stored, stored_appointment());
}

#[test]
fn fhirpath_patch_is_atomic() {
    let stored = stored_appointment();
    let parameters = json!({"resourceType": "Parameters", "parameter": [
        {"name": "operation", "part": [{"name": "type", "valueCode": "delete"}, {"name": "path", "valueString": "Appointment.description"}]},
        {"name": "operation", "part": [{"name": "type", "valueCode": "replace"}, {"name": "path", "valueString": "Appointment.comment"}, {"name": "value", "valueString": "x"}]}
    ]});
    let err = fhirpath_patch(&stored, &parameters).unwrap_err();
    assert_eq!(err.code(), IssueType::Processing);
    assert!(!err.is_malformed());
    assert_eq!(stored, stored_appointment());
}

#[test]
fn json_patch_refuses_identity_changes() {
    let stored = stored_appointment();
    for patch in [
        json!([{"op": "replace", "path": "/id", "value": "x"}]),
        json!([{"op": "remove", "path": "/id"}]),
        json!([{"op": "move", "from": "/id", "path": "/identifier"}]),
    ] {
        assert_eq!(
            json_patch(&stored, &patch).unwrap_err(),
            PatchError::Failed {
                code: IssueType::Invariant,
                diagnostics: "id cannot be changed".to_string()
            }
        );
    }
    for patch in [
        json!([{"op": "replace", "path": "/resourceType", "value": "Patient"}]),
        json!([{"op": "add", "path": "", "value": {"resourceType": "Patient", "id": "91607239-b002-470a-8709-6b25bd50fdd1"}}]),
        json!([{"op": "replace", "path": "", "value": []}]),
    ] {
        let err = json_patch(&stored, &patch).unwrap_err();
        assert_eq!(err.code(), IssueType::Invariant);
        assert_eq!(err.diagnostics(), "resourceType cannot be changed");
    }
    // Moving id away and back again leaves it unchanged, which is allowed.
    let patch = json!([{"op": "move", "from": "/id", "path": "/x"}, {"op": "move", "from": "/x", "path": "/id"}]);
    assert!(json_patch(&stored, &patch).is_ok());
}

#[test]
fn errors_expose_code_diagnostics_and_display() {
    let malformed = PatchError::Malformed {
        code: IssueType::Structure,
        diagnostics: "bad".to_string(),
    };
    let failed = PatchError::Failed {
        code: IssueType::Processing,
        diagnostics: "no".to_string(),
    };
    assert!(malformed.is_malformed() && !failed.is_malformed());
    assert_eq!(
        (malformed.code(), malformed.diagnostics()),
        (IssueType::Structure, "bad")
    );
    assert_eq!(
        (failed.code(), failed.diagnostics()),
        (IssueType::Processing, "no")
    );
    assert_eq!(failed.to_string(), "no");
    let boxed: Box<dyn std::error::Error> = Box::new(malformed);
    assert_eq!(boxed.to_string(), "bad");
}

fn huge_number() -> Value {
    serde_json::from_str("18446744073709551616").unwrap_or(Value::Null)
}

/// Documents of many wrong shapes; every function must answer `Err`, never panic.
fn malformed_documents() -> Vec<Value> {
    vec![
        json!(null),
        json!(true),
        json!(42),
        json!("patch"),
        json!({}),
        json!({"resourceType": "Patient", "id": "x"}),
        json!([null]),
        json!([[{"op": "add"}]]),
        json!({"resourceType": "Parameters", "parameter": "operation"}),
        json!({"resourceType": "Parameters", "parameter": [{"name": "operation", "part": [{"name": "type", "valueCode": "replace"}, {"name": "path", "valueString": "Appointment.where(a = "}]}]}),
        json!({"resourceType": "Parameters", "parameter": [{"name": "operation", "part": [{"name": "type", "valueCode": "insert"}, {"name": "path", "valueString": "Appointment.slot"}, {"name": "value", "valueString": "x"}, {"name": "index", "valueInteger": huge_number()}]}]}),
        json!({"resourceType": "Parameters", "parameter": [{"name": "operation", "part": null}]}),
        json!({"resourceType": "Parameters", "parameter": [{"name": "operation", "part": [{"name": "type", "valueCode": "add"}, {"name": "path", "valueString": "\u{0}\u{ffff}"}]}]}),
        json!({"resourceType": ["Parameters"]}),
    ]
}

#[test]
fn malformed_json_patches_are_rejected() {
    let stored = stored_appointment();
    let mut cases = malformed_documents();
    cases.extend([
        json!([{"op": "add", "path": "/x"}]),
        json!([{"op": "add", "path": "x", "value": 1}]),
        json!([{"op": "remove", "path": "/slot/00"}]),
        json!([{"op": "move", "from": "/slot", "path": "/slot/0"}]),
        json!([{"op": "ADD", "path": "/x", "value": 1}]),
        json!([{"op": "test", "path": "/~9", "value": 1}]),
    ]);
    for patch in cases {
        let result = json_patch(&stored, &patch);
        assert!(result.is_err(), "{patch}");
    }
    assert_eq!(stored, stored_appointment());
}

#[test]
fn malformed_fhirpath_patches_are_rejected() {
    let stored = stored_appointment();
    let operation = |parts: Value| json!({"resourceType": "Parameters", "parameter": [{"name": "operation", "part": parts}]});
    let mut cases = malformed_documents();
    cases.extend([
        json!([{"op": "replace", "path": "/status", "value": "cancelled"}]),
        operation(json!([{"name": "type", "valueCode": "replace"}, {"name": "path", "valueString": "Appointment.status"}])),
        operation(json!([{"name": "type", "valueCode": "replace"}, {"name": "path", "valueString": "Appointment.status | Appointment.end"}, {"name": "value", "valueCode": "x"}])),
        operation(json!([{"name": "type", "valueCode": "replace"}, {"name": "path", "valueString": "Appointment.participant.where(actor.resolve() is Patient)"}, {"name": "value", "valueCode": "x"}])),
        operation(json!([{"name": "type", "valueCode": "insert"}, {"name": "path", "valueString": "Appointment.slot"}, {"name": "index", "valueInteger": 9}, {"name": "value", "valueString": "x"}])),
        operation(json!([{"name": "type", "valueCode": "move"}, {"name": "path", "valueString": "Appointment.slot"}, {"name": "source", "valueInteger": 0}, {"name": "destination", "valueInteger": 5}])),
        operation(json!([{"name": "type", "valueCode": "add"}, {"name": "path", "valueString": "Appointment.start"}, {"name": "name", "valueString": "x"}, {"name": "value", "valueString": "x"}])),
    ]);
    for parameters in cases {
        assert!(
            fhirpath_patch(&stored, &parameters).is_err(),
            "{parameters}"
        );
    }
    assert_eq!(stored, stored_appointment());
}

#[test]
fn malformed_partial_resources_are_rejected() {
    let stored = stored_appointment();
    let mut cases = malformed_documents();
    cases.extend([
        json!({"resourceType": "appointment"}),
        json!({"resourceType": null, "status": "booked"}),
        json!([{"resourceType": "Appointment"}]),
    ]);
    for partial in cases {
        let err = partial_resource(&stored, &partial).unwrap_err();
        assert!(err.is_malformed(), "{partial}");
        assert_eq!(err.code(), IssueType::Invalid);
    }
}

#[test]
fn odd_targets_do_not_panic() {
    let patch = json!([{"op": "add", "path": "/a/b", "value": 1}]);
    let parameters = json!({"resourceType": "Parameters", "parameter": [{"name": "operation", "part": [{"name": "type", "valueCode": "delete"}, {"name": "path", "valueString": "Appointment.a"}]}]});
    let partial = json!({"resourceType": "Appointment"});
    for target in [
        json!(null),
        json!([1, 2]),
        json!("x"),
        json!({}),
        json!({"resourceType": 5, "id": [1]}),
    ] {
        let _ = json_patch(&target, &patch);
        let _ = fhirpath_patch(&target, &parameters);
        let _ = partial_resource(&target, &partial);
    }
}

/// A tiny deterministic generator, so the robustness test needs no dependency.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        usize::try_from(self.0 >> 33).unwrap_or(0) % n.max(1)
    }

    fn pick<'a>(&mut self, items: &'a [&'a str]) -> &'a str {
        items[self.below(items.len())]
    }

    fn value(&mut self, depth: usize) -> Value {
        match self.below(if depth > 2 { 5 } else { 7 }) {
            0 => Value::Null,
            1 => json!(self.below(3) == 0),
            2 => json!(self.below(5)),
            3 => json!(self.pick(&["", "Slot/1", "booked", "Appointment", "x"])),
            4 => serde_json::from_str(self.pick(&["1.0", "-0", "1e400", "18446744073709551616"]))
                .unwrap_or(Value::Null),
            5 => Value::Array((0..self.below(3)).map(|_| self.value(depth + 1)).collect()),
            _ => {
                let keys = [
                    "op",
                    "path",
                    "from",
                    "value",
                    "name",
                    "part",
                    "resourceType",
                    "parameter",
                    "valueString",
                    "valueInteger",
                    "reference",
                    "slot",
                ];
                Value::Object(
                    (0..self.below(4))
                        .map(|_| (self.pick(&keys).to_string(), self.value(depth + 1)))
                        .collect(),
                )
            }
        }
    }
}

const POINTERS: &[&str] = &[
    "",
    "/",
    "/slot",
    "/slot/0",
    "/slot/-",
    "/slot/01",
    "/slot/9",
    "/id",
    "/resourceType",
    "/x/y",
    "/~",
    "/participant/0/actor",
    "status",
];
const FHIRPATHS: &[&str] = &[
    "Appointment",
    "Appointment.slot",
    "Appointment.slot[0]",
    "Appointment.slot.first().reference",
    "Appointment.participant.where(status = 'accepted')",
    "Appointment.participant.where(actor.reference = 1 and status != true).actor",
    "Appointment.id",
    "resourceType",
    "Patient.name",
    "Appointment.where(",
    "Appointment.extension.value.ofType(string)",
    "$this.start",
    "",
];
const TYPES: &[&str] = &["add", "insert", "delete", "replace", "move", "copy"];

fn random_json_patch(rng: &mut Lcg) -> Value {
    let operations = (0..rng.below(4))
        .map(|_| {
            json!({
                "op": rng.pick(&["add", "remove", "replace", "move", "copy", "test", "nope"]),
                "path": rng.pick(POINTERS),
                "from": rng.pick(POINTERS),
                "value": rng.value(0),
            })
        })
        .collect();
    Value::Array(operations)
}

fn random_parameters(rng: &mut Lcg) -> Value {
    let operations: Vec<Value> = (0..rng.below(4))
        .map(|_| {
            let mut parts = vec![json!({"name": "type", "valueCode": rng.pick(TYPES)}), json!({"name": "path", "valueString": rng.pick(FHIRPATHS)})];
            for name in ["name", "value", "index", "source", "destination"] {
                if rng.below(2) == 0 {
                    let part = match name {
                        "name" => json!({"name": name, "valueString": rng.pick(&["slot", "comment", "status", "participant"])}),
                        "value" if rng.below(2) == 0 => json!({"name": name, "part": [{"name": "actor", "valueReference": rng.value(1)}, {"name": "type", "valueString": "x"}]}),
                        "value" => json!({"name": name, "valueString": rng.value(0)}),
                        _ => json!({"name": name, "valueInteger": rng.below(4)}),
                    };
                    parts.push(part);
                }
            }
            json!({"name": "operation", "part": parts})
        })
        .collect();
    json!({"resourceType": "Parameters", "parameter": operations})
}

#[test]
fn random_documents_never_panic_and_never_touch_the_target() {
    let stored = stored_appointment();
    let mut rng = Lcg(0x5eed);
    for _ in 0..3000 {
        let _ = json_patch(&stored, &random_json_patch(&mut rng));
        let _ = fhirpath_patch(&stored, &random_parameters(&mut rng));
        let _ = json_patch(&stored, &rng.value(0));
        let _ = fhirpath_patch(&stored, &rng.value(0));
        let _ = partial_resource(&stored, &rng.value(0));
    }
    assert_eq!(stored, stored_appointment());
}
