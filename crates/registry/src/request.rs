//! Reading a request safely: its context, query, path id, `If-Match` and FHIR JSON body. Every
//! refusal is a Spine-coded OperationOutcome; nothing here can panic on input.

use axum::body::Body;
use bars_fhir::IssueType;
use bars_fhir::codes::BarsCode;
use bars_fhir::search::Query;
use bars_http::fhir_json::{BodyKind, body_kind, parse_json_object, read_body};
use bars_http::{ApiError, RequestContext};
use http::request::Parts;
use http::{HeaderMap, StatusCode, header};
use serde_json::Value;

use crate::errors::{SpineCode, recode, spine, spine_with_status};
use crate::rules::is_valid_id;

/// The transport context the middleware decoded; an empty one (nobody authenticated) if the
/// middleware did not run.
pub fn context(parts: &Parts) -> RequestContext {
    parts
        .extensions
        .get::<RequestContext>()
        .cloned()
        .unwrap_or_default()
}

pub fn query(parts: &Parts) -> Result<Query, ApiError> {
    Query::parse(parts.uri.query())
        .map_err(|e| spine(SpineCode::BadRequest, IssueType::Value, e.to_string()))
}

/// A pointer id in the path must be a FHIR id; anything else cannot name a pointer.
pub fn path_id(id: &str) -> Result<(), ApiError> {
    if is_valid_id(id) {
        Ok(())
    } else {
        Err(spine(
            SpineCode::InvalidResourceId,
            IssueType::Value,
            "the id in the path is not a valid pointer id (letters, digits, '-' and '.', at most 64)",
        ))
    }
}

/// `If-Match: W/"3"` (also `"3"` or `3`); `*` and absence both mean "whatever is current".
pub fn if_match(headers: &HeaderMap) -> Result<Option<u64>, ApiError> {
    let Some(raw) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    let text = raw.to_str().unwrap_or("").trim();
    if text == "*" {
        return Ok(None);
    }
    let inner = text.strip_prefix("W/").unwrap_or(text).trim_matches('"');
    inner.parse::<u64>().map(Some).map_err(|_| {
        spine(
            SpineCode::BadRequest,
            IssueType::Value,
            "If-Match must be a single ETag such as W/\"3\"",
        )
    })
}

/// Reads a FHIR JSON object body within `limit` bytes.
pub async fn fhir_object(headers: &HeaderMap, body: Body, limit: usize) -> Result<Value, ApiError> {
    if body_kind(headers) != Some(BodyKind::FhirJson) {
        return Err(spine_with_status(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            SpineCode::BadRequest,
            IssueType::NotSupported,
            "the body must be sent as application/fhir+json",
        ));
    }
    let bytes = read_body(body, limit, BarsCode::RecBadRequest)
        .await
        .map_err(|e| recode(e, SpineCode::BadRequest))?;
    parse_json_object(&bytes, BarsCode::RecBadRequest).map_err(|e| recode(e, SpineCode::BadRequest))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(name: header::HeaderName, value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(name, HeaderValue::from_str(value).unwrap());
        h
    }

    #[test]
    fn if_match_forms() {
        assert_eq!(if_match(&HeaderMap::new()).unwrap(), None);
        assert_eq!(
            if_match(&headers(header::IF_MATCH, "W/\"3\"")).unwrap(),
            Some(3)
        );
        assert_eq!(
            if_match(&headers(header::IF_MATCH, "\"3\"")).unwrap(),
            Some(3)
        );
        assert_eq!(if_match(&headers(header::IF_MATCH, "3")).unwrap(), Some(3));
        assert_eq!(if_match(&headers(header::IF_MATCH, "*")).unwrap(), None);
        let e = if_match(&headers(header::IF_MATCH, "W/\"abc\"")).unwrap_err();
        assert_eq!(e.code(), "BAD_REQUEST");
    }

    #[test]
    fn path_ids() {
        assert!(path_id("RGT-fb40f2f3-97dc-4aca-8c37-ae6a638518b4").is_ok());
        assert_eq!(path_id("RGT_1").unwrap_err().code(), "INVALID_RESOURCE_ID");
    }

    #[tokio::test]
    async fn bodies_are_refused_cleanly() {
        let fhir = headers(header::CONTENT_TYPE, "application/fhir+json");
        let cases: [(HeaderMap, &str, u16); 5] = [
            (headers(header::CONTENT_TYPE, "text/plain"), "{}", 415),
            (HeaderMap::new(), "{}", 415),
            (fhir.clone(), "{not json", 400),
            (fhir.clone(), "[1,2]", 400),
            (fhir.clone(), &"x".repeat(64), 413),
        ];
        for (h, body, status) in cases {
            let e = fhir_object(&h, Body::from(body.to_string()), 32)
                .await
                .unwrap_err();
            assert_eq!(e.status.as_u16(), status, "{body}");
            assert_eq!(e.code(), "BAD_REQUEST");
        }
        let ok = fhir_object(&fhir, Body::from("{\"a\":1}"), 32)
            .await
            .unwrap();
        assert_eq!(ok["a"], 1);
    }
}
