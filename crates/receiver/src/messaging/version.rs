//! Step 2 of section 6.3: `Bundle.meta.versionId` names the version of the BaRS Application
//! (MessageDefinition) the message follows - not a resource version - and the receiver reads
//! it to decide whether it can process the message at all.
//!
//! Supported: every version whose major is [`SUPPORTED_MAJOR`], pre-releases included
//! (`1.0.0-alpha`, the official example's value). Within one major BaRS changes are
//! non-breaking, and the message is in any case held to the structure of its
//! MessageDefinition in step 4, so refusing a `1.x` pre-release would only turn away the
//! published examples. Any other major, and anything that is not a version at all, is
//! 422 `not-supported`; a missing (or empty, or non-string) versionId is 400 `invariant`.

use bars_fhir::IssueType;
use bars_fhir::codes::BarsCode;
use bars_http::ApiError;
use serde_json::Value;

/// The major version of BaRS messages this receiver processes.
pub const SUPPORTED_MAJOR: u64 = 1;

/// Checks `Bundle.meta.versionId`.
pub fn check(bundle: &serde_json::Map<String, Value>) -> Result<(), ApiError> {
    let version = bundle
        .get("meta")
        .and_then(|m| m.get("versionId"))
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|v| !v.is_empty());
    let Some(version) = version else {
        return Err(ApiError::bars(
            BarsCode::RecBadRequest,
            IssueType::Invariant,
            "Bundle.meta.versionId is required: it names the BaRS message version the bundle follows (e.g. 1.1.0)",
        )
        .at("Bundle.meta.versionId"));
    };
    match major_of(version) {
        Some(SUPPORTED_MAJOR) => Ok(()),
        Some(_) | None => Err(ApiError::bars(
            BarsCode::RecUnprocessableEntity,
            IssueType::NotSupported,
            format!(
                "Bundle.meta.versionId names a message version this receiver does not process; it processes version {SUPPORTED_MAJOR}.x messages"
            ),
        )
        .at("Bundle.meta.versionId")),
    }
}

/// The major of a semantic-version-like text: `MAJOR[.MINOR[.PATCH]]`, then optionally
/// `-prerelease` and `+build` of `[0-9A-Za-z.-]`. None when it is not such a text.
pub fn major_of(text: &str) -> Option<u64> {
    let (rest, build) = match text.split_once('+') {
        Some((r, b)) => (r, Some(b)),
        None => (text, None),
    };
    let (core, pre) = match rest.split_once('-') {
        Some((c, p)) => (c, Some(p)),
        None => (rest, None),
    };
    let label_ok = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
    };
    if pre.is_some_and(|p| !label_ok(p)) || build.is_some_and(|b| !label_ok(b)) {
        return None;
    }
    let parts: Vec<&str> = core.split('.').collect();
    if parts.len() > 3
        || parts
            .iter()
            .any(|p| p.is_empty() || p.len() > 9 || !p.chars().all(|c| c.is_ascii_digit()))
    {
        return None;
    }
    parts.first()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn bundle(meta: Value) -> serde_json::Map<String, Value> {
        json!({"resourceType": "Bundle", "meta": meta})
            .as_object()
            .cloned()
            .unwrap()
    }

    #[test]
    fn majors() {
        assert_eq!(major_of("1.1.0"), Some(1));
        assert_eq!(major_of("1.0.0-alpha"), Some(1));
        assert_eq!(major_of("1.2.0-rc.1+build.5"), Some(1));
        assert_eq!(major_of("1"), Some(1));
        assert_eq!(major_of("2.0.0"), Some(2));
        assert_eq!(major_of("0.9"), Some(0));
        for junk in [
            "v1", "1..0", "1.0.0.0", "abc", "1.0-", "1.0+", "1.x", "1.0 beta",
        ] {
            assert_eq!(major_of(junk), None, "{junk}");
        }
    }

    #[test]
    fn missing_is_400_invariant_and_other_majors_422() {
        assert!(check(&bundle(json!({"versionId": "1.1.0"}))).is_ok());
        assert!(check(&bundle(json!({"versionId": "1.0.0-alpha"}))).is_ok());
        for meta in [
            json!({}),
            json!({"versionId": ""}),
            json!({"versionId": 1}),
            json!(null),
        ] {
            let e = check(&bundle(meta.clone())).unwrap_err();
            assert_eq!(
                (e.status.as_u16(), e.issue),
                (400, IssueType::Invariant),
                "{meta}"
            );
        }
        for v in ["2.0.0", "0.1.0", "banana"] {
            let e = check(&bundle(json!({"versionId": v}))).unwrap_err();
            assert_eq!(
                (e.status.as_u16(), e.issue),
                (422, IssueType::NotSupported),
                "{v}"
            );
        }
    }
}
