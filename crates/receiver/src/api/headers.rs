//! The HTTP headers of versions and preferences: `If-Match` read, `ETag` and `Last-Modified`
//! written, `Prefer` understood.

use axum::response::Response;
use bars_fhir::codes::BarsCode;
use bars_fhir::{Instant, IssueType};
use bars_http::ApiError;
use http::{HeaderMap, HeaderValue, header};

/// `W/"3"`, `"3"` or `3`.
pub fn parse_if_match(headers: &HeaderMap) -> Result<Option<u64>, ApiError> {
    let Some(raw) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    let text = raw.to_str().unwrap_or("").trim();
    let inner = text.strip_prefix("W/").unwrap_or(text).trim_matches('"');
    inner.parse::<u64>().map(Some).map_err(|_| {
        ApiError::bars(
            BarsCode::RecBadRequest,
            IssueType::Value,
            "If-Match must be an ETag such as W/\"3\"",
        )
    })
}

/// `Last-Modified` wants an HTTP date (RFC 9110 IMF-fixdate, always GMT). Every `Instant` has
/// a four-digit year, so jiff's printer cannot refuse it; the header is left out if it did.
pub fn http_date(i: Instant) -> Option<String> {
    jiff::fmt::rfc2822::DateTimePrinter::new()
        .timestamp_to_rfc9110_string(&i.to_timestamp())
        .ok()
}

/// `ETag` and `Last-Modified` of the version a response is about.
pub fn with_version_headers(
    mut response: Response,
    version: u64,
    last_updated: Instant,
) -> Response {
    let h = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&format!("W/\"{version}\"")) {
        h.insert(header::ETAG, v);
    }
    if let Some(v) = http_date(last_updated).and_then(|d| HeaderValue::from_str(&d).ok()) {
        h.insert(header::LAST_MODIFIED, v);
    }
    response
}

/// What a write's answer carries (`Prefer: return=...`, FHIR); the representation by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Return {
    Minimal,
    Representation,
    OperationOutcome,
}

pub fn prefer(headers: &HeaderMap) -> Return {
    let prefer = headers
        .get("prefer")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    if prefer.contains("return=minimal") {
        Return::Minimal
    } else if prefer.contains("return=operationoutcome") {
        Return::OperationOutcome
    } else {
        Return::Representation
    }
}
