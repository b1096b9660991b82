//! FHIR JSON in and out: media types, the `Accept` check and reading bodies safely.

use std::time::Duration;

use axum::body::Body;
use axum::response::Response;

use bars_fhir::IssueType;
use bars_fhir::codes::BarsCode;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use http_body_util::BodyExt;
use hyper::body::Body as _;

use crate::error::ApiError;
use crate::media::FHIR_JSON;

/// The body size limit for FHIR requests unless a role configures another.
pub const DEFAULT_BODY_LIMIT: usize = 1024 * 1024;

/// How a request body is encoded, judged from `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    FhirJson,
    JsonPatch,
    MergePatch,
}

/// Classifies `Content-Type`; `application/json` counts as FHIR JSON.
pub fn body_kind(headers: &HeaderMap) -> Option<BodyKind> {
    let ct = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    let media = ct.split(';').next()?.trim().to_ascii_lowercase();
    match media.as_str() {
        "application/fhir+json" | "application/json" | "application/json+fhir" => {
            Some(BodyKind::FhirJson)
        }
        "application/json-patch+json" => Some(BodyKind::JsonPatch),
        "application/merge-patch+json" => Some(BodyKind::MergePatch),
        _ => None,
    }
}

/// How long a client has to deliver a request body once its head has arrived: a client that
/// trickles a body cannot hold a connection and a handler open indefinitely.
pub const BODY_READ_DEADLINE: Duration = Duration::from_secs(10);

/// Reads the whole body, refusing more than `limit` bytes with 413 (at once when the announced
/// length is already too long) and a body not delivered within [`BODY_READ_DEADLINE`] with 408.
pub async fn read_body(body: Body, limit: usize, code: BarsCode) -> Result<Bytes, ApiError> {
    read_body_within(body, limit, code, BODY_READ_DEADLINE).await
}

/// [`read_body`] with another deadline.
pub async fn read_body_within(
    body: Body,
    limit: usize,
    code: BarsCode,
    deadline: Duration,
) -> Result<Bytes, ApiError> {
    if body.size_hint().lower() > limit as u64 {
        return Err(too_large(limit, code));
    }
    let limited = http_body_util::Limited::new(body, limit);
    match tokio::time::timeout(deadline, limited.collect()).await {
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => Err(too_large(limit, code)),
        Ok(Err(_)) => Err(ApiError::bars(
            code,
            IssueType::Incomplete,
            "the request body could not be read completely",
        )),
        Err(_) => Err(ApiError::bars(
            code,
            IssueType::Timeout,
            format!(
                "the request body did not arrive within {} ms",
                deadline.as_millis()
            ),
        )
        .with_status(StatusCode::REQUEST_TIMEOUT)),
    }
}

fn too_large(limit: usize, code: BarsCode) -> ApiError {
    ApiError::bars(
        code,
        IssueType::TooLong,
        format!("the request body is larger than the limit of {limit} bytes"),
    )
    .with_status(StatusCode::PAYLOAD_TOO_LARGE)
}

/// Parses a body that must be a JSON object (a resource), or explains why not (400
/// `structure`).
pub fn parse_json_object(bytes: &[u8], code: BarsCode) -> Result<serde_json::Value, ApiError> {
    parse_json_body(bytes, code, serde_json::Value::is_object, "a JSON object")
}

/// Parses a body that must be a JSON object or array: a patch, which is an array in JSON Patch
/// and an object in the other two forms. Anything else is 400 `structure`.
pub fn parse_json_object_or_array(
    bytes: &[u8],
    code: BarsCode,
) -> Result<serde_json::Value, ApiError> {
    parse_json_body(
        bytes,
        code,
        |v| v.is_object() || v.is_array(),
        "a JSON object or array",
    )
}

fn parse_json_body(
    bytes: &[u8],
    code: BarsCode,
    wanted: fn(&serde_json::Value) -> bool,
    what: &str,
) -> Result<serde_json::Value, ApiError> {
    if bytes.is_empty() {
        return Err(ApiError::bars(
            code,
            IssueType::Structure,
            "the request has no body",
        ));
    }
    match serde_json::from_slice::<serde_json::Value>(bytes) {
        Ok(v) if wanted(&v) => Ok(v),
        Ok(_) => Err(ApiError::bars(
            code,
            IssueType::Structure,
            format!("the request body is not {what}"),
        )),
        Err(e) => Err(ApiError::bars(
            code,
            IssueType::Structure,
            format!(
                "the request body is not valid JSON (line {}, column {})",
                e.line(),
                e.column()
            ),
        )),
    }
}

/// A FHIR JSON response.
pub fn fhir_response(status: StatusCode, body: impl Into<Body>) -> Response {
    let mut r = Response::new(body.into());
    *r.status_mut() = status;
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(FHIR_JSON));
    r
}

pub fn fhir_json(status: StatusCode, value: &serde_json::Value) -> Response {
    fhir_response(status, value.to_string())
}

/// Why an `Accept` header was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AcceptRefusal {
    /// No media range we can produce (we produce FHIR JSON only).
    MediaType,
    /// A `version` parameter whose major version is not ours.
    Version(String),
}

/// Checks `Accept` against FHIR JSON and our major version. A missing header, or one without
/// a version, is accepted (BaRS: a missing version is read as the current major).
pub fn check_accept(headers: &HeaderMap, major: u32) -> Result<Option<String>, AcceptRefusal> {
    let values: Vec<&str> = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    if values.is_empty() {
        return Ok(None);
    }
    let mut acceptable_media = false;
    let mut versions = Vec::new();
    for range in values.iter().flat_map(|v| v.split(',')) {
        let mut parts = range.split(';').map(str::trim);
        let media = parts.next().unwrap_or("").to_ascii_lowercase();
        let ok = matches!(
            media.as_str(),
            "application/fhir+json"
                | "application/json"
                | "application/json+fhir"
                | "application/*"
                | "*/*"
                | ""
        );
        let mut q_zero = false;
        for p in parts {
            if let Some((k, v)) = p.split_once('=') {
                let (k, v) = (k.trim().to_ascii_lowercase(), v.trim().trim_matches('"'));
                if k == "version" && ok {
                    versions.push(v.to_string());
                }
                if k == "q" && v.parse::<f32>().is_ok_and(|q| q == 0.0) {
                    q_zero = true;
                }
            }
        }
        acceptable_media |= ok && !q_zero;
    }
    if !acceptable_media {
        return Err(AcceptRefusal::MediaType);
    }
    // Several versions: like the central proxy, judge by the highest one offered.
    let highest = versions.iter().max_by(|a, b| compare_versions(a, b));
    match highest {
        None => Ok(None),
        Some(v) if version_major(v) == Some(major) => Ok(Some(v.clone())),
        Some(v) => Err(AcceptRefusal::Version(v.clone())),
    }
}

fn version_major(v: &str) -> Option<u32> {
    v.split('.').next()?.trim().parse().ok()
}

fn compare_versions(a: &str, b: &str) -> std::cmp::Ordering {
    let parse = |s: &str| {
        s.split(['.', '-'])
            .map(version_component)
            .collect::<Vec<_>>()
    };
    parse(a).cmp(&parse(b))
}

/// One component of a BaRS version (`1.1.0`, `1.0.0-beta`) for comparing versions. Digits too
/// many for `u64` still name a number larger than any real version, so they read as the
/// largest rather than as zero, which would let `99999999999999999999.0.0` pass for `0.0.0`;
/// a label that is not a number (`beta`) reads as zero.
pub fn version_component(part: &str) -> u64 {
    if !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()) {
        part.parse().unwrap_or(u64::MAX)
    } else {
        0
    }
}

impl AcceptRefusal {
    /// The refusal as an error with the role's code (`REC_NOT_ACCEPTABLE` for a receiver).
    pub fn to_error(&self, code: BarsCode) -> ApiError {
        let msg = match self {
            AcceptRefusal::MediaType => {
                "the Accept header names no media type this server produces (application/fhir+json)"
                    .to_string()
            }
            AcceptRefusal::Version(v) => format!(
                "the Accept header asks for version {v}, whose major version is not supported"
            ),
        };
        ApiError::bars(code, IssueType::Processing, msg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT, HeaderValue::from_str(v).unwrap());
        h
    }

    #[test]
    fn accept_rules() {
        assert_eq!(check_accept(&HeaderMap::new(), 1), Ok(None));
        assert_eq!(
            check_accept(&accept("application/fhir+json; version=1.1.0"), 1),
            Ok(Some("1.1.0".into()))
        );
        assert_eq!(check_accept(&accept("application/fhir+json"), 1), Ok(None));
        assert_eq!(check_accept(&accept("*/*"), 1), Ok(None));
        assert_eq!(
            check_accept(&accept("application/fhir+json; version=2.0.0"), 1),
            Err(AcceptRefusal::Version("2.0.0".into()))
        );
        assert_eq!(
            check_accept(&accept("application/fhir+xml"), 1),
            Err(AcceptRefusal::MediaType)
        );
        assert_eq!(
            check_accept(
                &accept("application/fhir+json;version=1.0.0, application/fhir+json;version=1.2.0"),
                1
            ),
            Ok(Some("1.2.0".into()))
        );
        assert_eq!(
            check_accept(&accept("application/fhir+json;q=0"), 1),
            Err(AcceptRefusal::MediaType)
        );
        // A version number too large for u64 is the highest offered, not a zero.
        let huge = "99999999999999999999.0.0";
        assert_eq!(
            check_accept(
                &accept(&format!(
                    "application/fhir+json;version=1.0.0, application/fhir+json;version={huge}"
                )),
                1
            ),
            Err(AcceptRefusal::Version(huge.into()))
        );
        assert_eq!(version_component("18446744073709551616"), u64::MAX);
        assert_eq!(version_component("beta"), 0);
    }

    #[test]
    fn an_object_body_is_an_object_and_a_patch_body_may_be_an_array() {
        let code = BarsCode::RecBadRequest;
        let refusal = |r: Result<serde_json::Value, ApiError>| {
            let e = r.err().map(|e| (e.status, e.issue, e.diagnostics.clone()));
            e.map(|(status, issue, text)| (status.as_u16(), issue, text))
        };
        assert!(parse_json_object(br#"{"a": 1}"#, code).is_ok());
        assert_eq!(
            refusal(parse_json_object(b"[]", code)),
            Some((
                400,
                IssueType::Structure,
                "the request body is not a JSON object".into()
            ))
        );
        assert!(parse_json_object_or_array(b"[]", code).is_ok());
        assert!(parse_json_object_or_array(br#"{"a": 1}"#, code).is_ok());
        assert_eq!(
            refusal(parse_json_object_or_array(b"1", code)),
            Some((
                400,
                IssueType::Structure,
                "the request body is not a JSON object or array".into()
            ))
        );
        for parse in [parse_json_object, parse_json_object_or_array] {
            assert_eq!(
                refusal(parse(b"", code)).map(|r| r.2),
                Some("the request has no body".into())
            );
            assert_eq!(
                refusal(parse(b"{", code)).map(|r| r.1),
                Some(IssueType::Structure)
            );
        }
    }

    #[test]
    fn content_types() {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/fhir+json;version=1.1.0"),
        );
        assert_eq!(body_kind(&h), Some(BodyKind::FhirJson));
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json-patch+json"),
        );
        assert_eq!(body_kind(&h), Some(BodyKind::JsonPatch));
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        assert_eq!(body_kind(&h), None);
    }
}
