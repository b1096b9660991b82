//! The fuzz targets' bodies: every parser that reads what a sender controls, fed arbitrary
//! bytes, with the properties that must hold for any input.
//!
//! Each function is one cargo-fuzz target (`fuzz/fuzz_targets/<name>.rs` calls it) and is also
//! replayed by `cargo test` over the seed corpus and every input that once failed
//! (`fuzz/seeds/<name>/`, `fuzz/regressions/<name>/`), so a fixed crash stays fixed without a
//! fuzzer installed. A violated property panics, which is what libFuzzer reports.
//!
//! The properties go beyond "does not panic": decoders round-trip what they accept, PATCH
//! never changes the resource's identity or the caller's copy, and validation diagnostics never
//! quote a value that could be an NHS number.

// Panicking is how a fuzz target reports a broken property (a decoder that cannot read back
// what it wrote), so the workspace's ban on unwrap/expect does not apply to these bodies.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a fuzz target reports a violated property by panicking"
)]

use bars_fhir::headers::{
    TargetIdentifier, decode_base64_json, decode_lenient_json, encode_base64_json,
};
use bars_fhir::search::{DateParam, Query, Token, encode_component};
use bars_fhir::{Instant, Issue, NhsNumber, patch, validate};
use serde_json::Value;

/// A target: its name (the cargo-fuzz target and corpus directory) and its body.
pub struct Target {
    pub name: &'static str,
    pub run: fn(&[u8]),
}

/// Every target, in the order CI runs them.
pub const TARGETS: &[Target] = &[
    Target {
        name: "fhir_resource",
        run: fhir_resource,
    },
    Target {
        name: "search_params",
        run: search_params,
    },
    Target {
        name: "json_patch",
        run: json_patch,
    },
    Target {
        name: "fhirpath_patch",
        run: fhirpath_patch,
    },
    Target {
        name: "partial_patch",
        run: partial_patch,
    },
    Target {
        name: "base64_headers",
        run: base64_headers,
    },
];

/// The stored Appointment the PATCH targets change: the official PUT example, parsed once
/// rather than on each of the millions of inputs a run feeds.
static STORED_APPOINTMENT: std::sync::LazyLock<Value> = std::sync::LazyLock::new(|| {
    serde_json::from_str(include_str!(
        "../../../fixtures/bars-api-examples/examples1.2.0__appointment__PUT-body.json"
    ))
    .expect("the fixture parses")
});

/// FHIR JSON as a receiver or registry reads it: parse, then every validator, then the typed
/// values the domain extracts (instants, NHS numbers) from every string in the document.
pub fn fhir_resource(data: &[u8]) {
    let Ok(value) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let (mut keys, mut strings) = (Vec::new(), Vec::new());
    collect_strings(&value, &mut keys, &mut strings);
    // Element names are quoted on purpose ("unknown element 'x'"), so a number the sender put
    // inside a name may come back; a number that is only a value never may.
    let nhs_like: Vec<&str> = strings
        .iter()
        .map(|s| s.trim())
        .filter(|s| s.len() == 10 && s.bytes().all(|b| b.is_ascii_digit()))
        .filter(|s| !keys.iter().any(|k| k.contains(s)))
        .collect();
    strings.extend(keys);
    for validator in [
        validate::appointment,
        validate::slot,
        validate::schedule,
        validate::document_reference,
    ] {
        for issue in validator(&value) {
            check_issue(&issue, &nhs_like);
        }
    }
    for s in &strings {
        if let Ok(instant) = Instant::parse(s) {
            let again = Instant::parse(&instant.to_string())
                .expect("an instant's own rendering must parse");
            assert_eq!(again, instant, "instant round trip");
            assert_eq!(again.fraction_digits(), instant.fraction_digits());
        }
        if let Ok(number) = NhsNumber::parse(s) {
            assert_eq!(NhsNumber::parse(number.as_str()).ok(), Some(number));
        }
    }
}

/// A finding must explain itself and must not quote a patient identifier.
fn check_issue(issue: &Issue, nhs_like: &[&str]) {
    assert!(
        !issue.diagnostics.trim().is_empty(),
        "every issue carries diagnostics"
    );
    for number in nhs_like {
        assert!(
            !issue.diagnostics.contains(number),
            "diagnostics quote an NHS-number-like value"
        );
        for expression in &issue.expression {
            assert!(
                !expression.contains(number),
                "an expression quotes an NHS-number-like value"
            );
        }
    }
}

fn collect_strings<'a>(value: &'a Value, keys: &mut Vec<&'a str>, values: &mut Vec<&'a str>) {
    match value {
        Value::String(s) => values.push(s),
        Value::Array(items) => items.iter().for_each(|v| collect_strings(v, keys, values)),
        Value::Object(map) => map.iter().for_each(|(k, v)| {
            keys.push(k);
            collect_strings(v, keys, values);
        }),
        _ => {}
    }
}

/// A query string as every search endpoint reads it, then each value as a date, a token and an
/// instant. Whatever a value is, encoding it and parsing it back gives it again.
pub fn search_params(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(query) = Query::parse(Some(text)) {
        for (name, value) in query.pairs() {
            if let Ok(date) = DateParam::parse(value) {
                let again = Instant::parse(&date.value.to_string()).expect("rendered instant");
                assert_eq!(again, date.value);
            }
            if let Some(token) = Token::parse(value) {
                assert!(!token.code.is_empty());
                let qualified = Token::parse_qualified(value);
                assert_eq!(
                    qualified.is_some(),
                    token.system.as_deref().is_some_and(|s| !s.is_empty())
                );
            }
            let _ = Instant::parse_query_value(value);
            let _ = TargetIdentifier::parse_token(value);
            let encoded = format!("{}={}", encode_component(name), encode_component(value));
            let back = Query::parse(Some(&encoded)).expect("an encoded pair parses");
            assert_eq!(
                back.pairs(),
                &[(name.clone(), value.clone())],
                "encode then parse"
            );
        }
    }
    // The same text as one raw value: the round trip must hold for any string at all.
    let encoded = format!("v={}", encode_component(text));
    if let Ok(back) = Query::parse(Some(&encoded)) {
        assert_eq!(back.first(&["v"]), Some(text));
    }
}

/// The three PATCH forms share their contract: a failure leaves no trace, a success keeps the
/// resource's type and id (the URL names both), and the caller's copy is never touched.
fn apply_patch(data: &[u8], apply: fn(&Value, &Value) -> Result<Value, patch::PatchError>) {
    let Ok(document) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let mut targets = vec![(STORED_APPOINTMENT.clone(), document.clone())];
    // `[target, patch]` lets the fuzzer choose the target too.
    if let Value::Array(pair) = &document
        && let [target @ Value::Object(_), patch] = pair.as_slice()
    {
        targets.push((target.clone(), patch.clone()));
    }
    for (target, document) in targets {
        let before = target.clone();
        match apply(&target, &document) {
            Ok(patched) => {
                for key in ["resourceType", "id"] {
                    assert_eq!(patched.get(key), target.get(key), "a patch changed {key}");
                }
                // Whatever a patch produced must be storable and re-readable.
                let text = serde_json::to_string(&patched).expect("serialises");
                let again: Value = serde_json::from_str(&text).expect("re-parses");
                assert_eq!(again, patched);
                let _ = validate::appointment(&patched);
            }
            Err(e) => {
                assert!(
                    !e.diagnostics().trim().is_empty(),
                    "a refusal explains itself"
                );
                let _ = (e.code(), e.is_malformed());
            }
        }
        assert_eq!(target, before, "the caller's resource was changed");
    }
}

/// RFC 6902 JSON Patch (`application/json-patch+json`).
pub fn json_patch(data: &[u8]) {
    apply_patch(data, patch::json_patch);
}

/// FHIRPath Patch (a `Parameters` resource).
pub fn fhirpath_patch(data: &[u8]) {
    apply_patch(data, patch::fhirpath_patch);
}

/// The partial Appointment the BaRS examples send.
pub fn partial_patch(data: &[u8]) {
    apply_patch(data, patch::partial_resource);
}

/// The Base64 JSON headers (`NHSD-Target-Identifier` and the access-control headers), strict
/// and lenient: what decodes re-encodes to the same value.
pub fn base64_headers(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(value) = decode_base64_json(text) {
        assert!(value.is_object());
        let again = decode_base64_json(&encode_base64_json(&value)).expect("re-encoded decodes");
        assert_eq!(again, value);
    }
    if let Ok(value) = decode_lenient_json(text) {
        assert!(value.is_object());
    }
    let decoded = [
        TargetIdentifier::decode(text),
        TargetIdentifier::decode_lenient(text),
    ];
    for target in decoded.into_iter().flatten() {
        let again = TargetIdentifier::decode(&target.encode()).expect("re-encoded decodes");
        assert_eq!(again, target);
        if let Some(parsed) = TargetIdentifier::parse_token(&target.token())
            && !target.system.contains('|')
        {
            assert_eq!(parsed, target);
        }
    }
}
