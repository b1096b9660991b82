//! Headers: the target a request is routed by, who is asking, and the version it speaks
//! (BaRS 1.3, 1.4, 1.6, 3.1, 3.2).

use bars_fhir::headers::{EndUserOrganisation, TargetIdentifier, decode_base64_json};

use super::{Graded, api, describe, skip, verdict};
use crate::sender::record::Recorded;
use crate::sender::session::Session;

/// Whether a request is routed to a receiver by its target (everything but the token
/// endpoint, the Registry, the proxy's directory, and /metadata asked of the proxy itself).
fn routed(r: &Recorded) -> bool {
    let route = r.route();
    let proxy_own = [
        "/DocumentReference",
        "/HealthcareService",
        "/Endpoint",
        "/Organization",
    ]
    .iter()
    .any(|p| route == *p || route.starts_with(&format!("{p}/")));
    let proxy_metadata = route == "/metadata" && r.header("nhsd-target-identifier").is_none();
    !(proxy_own || proxy_metadata)
}

pub(super) fn target_identifiers(s: &Session) -> Graded {
    let all: Vec<&Recorded> = s.api.iter().filter(|r| routed(r)).collect();
    if all.is_empty() {
        return skip("the sender sent no request routed to a receiver");
    }
    let offences = all
        .iter()
        .filter_map(|r| match r.header("nhsd-target-identifier") {
            None => Some((
                format!("{} has no NHSD-Target-Identifier", describe(r)),
                vec![*r],
            )),
            Some(v) => TargetIdentifier::decode(v).err().map(|e| {
                (
                    format!("{}: NHSD-Target-Identifier: {e}", describe(r)),
                    vec![*r],
                )
            }),
        })
        .collect();
    verdict(s, &all, offences, "routed requests")
}

/// What is wrong with an access-control header's value, if anything.
fn access_header_problem(name: &str, value: &str) -> Option<String> {
    let decoded = match decode_base64_json(value) {
        Ok(v) => v,
        Err(e) => return Some(format!("{name}: {e}")),
    };
    let (kind, ok) = match name {
        "nhsd-end-user-organisation" => {
            let org = EndUserOrganisation::from_json(&decoded);
            ("Organization", org.ods_code.is_some() && org.name.is_some())
        }
        "nhsd-requesting-software" => (
            "Device",
            decoded["identifier"]
                .as_array()
                .is_some_and(|i| i.iter().any(|i| i["value"].is_string())),
        ),
        _ => (
            "PractitionerRole",
            decoded["identifier"]
                .as_array()
                .is_some_and(|i| i.iter().any(|i| i["value"].is_string())),
        ),
    };
    if decoded["resourceType"] != kind {
        return Some(format!("{name} is not a {kind}"));
    }
    (!ok).then(|| match kind {
        "Organization" => format!("{name} lacks the ODS code or the organisation's name"),
        _ => format!("{name} lacks an identifier"),
    })
}

pub(super) fn access_control_headers(s: &Session) -> Graded {
    let all = match api(s) {
        Ok(a) => a,
        Err(g) => return g,
    };
    let mut offences = Vec::new();
    for r in &all {
        if r.header("nhsd-end-user-organisation").is_none() {
            offences.push((
                format!("{} has no NHSD-End-User-Organisation", describe(r)),
                vec![*r],
            ));
        }
        for name in [
            "nhsd-end-user-organisation",
            "nhsd-requesting-software",
            "nhsd-requesting-practitioner",
        ] {
            if let Some(problem) = r.header(name).and_then(|v| access_header_problem(name, v)) {
                offences.push((format!("{}: {problem}", describe(r)), vec![*r]));
            }
        }
    }
    verdict(s, &all, offences, "requests")
}

/// The major version an `Accept` asks for, when it asks for FHIR JSON.
fn accepted_major(accept: &str) -> Option<String> {
    accept.split(',').find_map(|media| {
        let mut parts = media.split(';').map(str::trim);
        let kind = parts.next()?;
        if !kind.eq_ignore_ascii_case("application/fhir+json") {
            return None;
        }
        parts.find_map(|p| {
            let (k, v) = p.split_once('=')?;
            k.trim().eq_ignore_ascii_case("version").then(|| {
                v.trim()
                    .trim_matches('"')
                    .split('.')
                    .next()
                    .unwrap_or("")
                    .to_string()
            })
        })
    })
}

pub(super) fn accept_version(s: &Session) -> Graded {
    let all = match api(s) {
        Ok(a) => a,
        Err(g) => return g,
    };
    let offences = all
        .iter()
        .filter_map(|r| match r.header("accept").and_then(accepted_major) {
            Some(major) if major == "1" => None,
            Some(major) => Some((
                format!("{} asks for version {major}.x", describe(r)),
                vec![*r],
            )),
            None => Some((
                format!(
                    "{} does not ask for application/fhir+json with a version",
                    describe(r)
                ),
                vec![*r],
            )),
        })
        .collect();
    verdict(s, &all, offences, "requests")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_names_the_major_version() {
        assert_eq!(
            accepted_major("application/fhir+json; version=1.1.0").as_deref(),
            Some("1")
        );
        assert_eq!(
            accepted_major("application/json, application/fhir+json;version=2.0.0").as_deref(),
            Some("2")
        );
        assert_eq!(accepted_major("application/fhir+json"), None);
        assert_eq!(accepted_major("application/json; version=1.0.0"), None);
    }

    #[test]
    fn access_control_headers_must_be_the_resources_named() {
        use bars_fhir::headers::encode_base64_json;
        let org = encode_base64_json(&serde_json::json!({
            "resourceType": "Organization",
            "identifier": [{ "system": bars_fhir::headers::ODS_SYSTEM, "value": "A1001" }],
            "name": "Practice"
        }));
        assert_eq!(
            access_header_problem("nhsd-end-user-organisation", &org),
            None
        );
        let nameless = encode_base64_json(&serde_json::json!({ "resourceType": "Organization" }));
        assert!(access_header_problem("nhsd-end-user-organisation", &nameless).is_some());
        assert!(access_header_problem("nhsd-end-user-organisation", "{not base64").is_some());
        assert!(access_header_problem("nhsd-requesting-software", &org).is_some());
    }
}
