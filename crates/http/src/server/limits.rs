//! Limits on the request head, checked before any route runs, so that an oversized request
//! target or header block is refused with an OperationOutcome instead of reaching parsers
//! (or being dropped by the HTTP library with an empty 431).

use axum::response::{IntoResponse, Response};
use bars_fhir::IssueType;
use bars_fhir::codes::BarsCode;
use http::{Request, StatusCode};

use crate::error::ApiError;
use crate::transport::{SentIds, apply_security_headers};

/// How a listener codes a refusal made before routing: each role codes errors its own way
/// (receivers `REC_BAD_REQUEST`, the proxy `BAD_REQUEST`, the registry Spine codes).
pub type Refuse = fn(StatusCode, IssueType, String) -> ApiError;

/// Sizes a real BaRS request never comes near: the longest query a search needs is a few
/// hundred bytes and the Base64 headers a few hundred each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeadLimits {
    /// Longest request target (path and query); longer is 414.
    pub max_uri_bytes: usize,
    /// Largest header block (names and values); larger is 431.
    pub max_header_bytes: usize,
    /// Most header fields; more is 431.
    pub max_headers: usize,
}

impl Default for HeadLimits {
    fn default() -> Self {
        HeadLimits {
            max_uri_bytes: 8 * 1024,
            max_header_bytes: 16 * 1024,
            max_headers: 100,
        }
    }
}

impl HeadLimits {
    /// The read buffer the HTTP library may use for a head: room for twice our limits, so a
    /// head over them still parses and gets our OperationOutcome; only a head beyond this
    /// buffer is cut off by the library itself (an empty 431 and a closed connection).
    pub fn read_buffer(&self) -> usize {
        ((self.max_uri_bytes + self.max_header_bytes) * 2).max(8 * 1024)
    }

    /// The refusal for a head over the limits, if it is.
    pub fn check<B>(&self, request: &Request<B>, refuse: Refuse) -> Option<Response> {
        let uri_len = request
            .uri()
            .path_and_query()
            .map_or(0, |p| p.as_str().len());
        let (status, issue, diagnostics) = if uri_len > self.max_uri_bytes {
            (
                StatusCode::URI_TOO_LONG,
                IssueType::TooLong,
                format!(
                    "the request target is longer than the limit of {} bytes",
                    self.max_uri_bytes
                ),
            )
        } else if request.headers().len() > self.max_headers {
            (
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                IssueType::TooLong,
                format!(
                    "the request has more than the limit of {} header fields",
                    self.max_headers
                ),
            )
        } else if header_bytes(request) > self.max_header_bytes {
            (
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                IssueType::TooLong,
                format!(
                    "the request headers are larger than the limit of {} bytes",
                    self.max_header_bytes
                ),
            )
        } else {
            return None;
        };
        let mut response = refuse(status, issue, diagnostics).into_response();
        SentIds::of(request.headers()).echo(response.headers_mut());
        apply_security_headers(response.headers_mut());
        Some(response)
    }
}

fn header_bytes<B>(request: &Request<B>) -> usize {
    request
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum()
}

/// Refusals coded with a BaRS code, for the roles that use them.
pub mod refuse_with_bars_code {
    use super::*;

    /// `REC_BAD_REQUEST`: receivers (and the default).
    pub const RECEIVER: Refuse = |status, issue, diagnostics| {
        ApiError::bars(BarsCode::RecBadRequest, issue, diagnostics).with_status(status)
    };

    /// `BAD_REQUEST`: the proxy's own refusals.
    pub const PROXY: Refuse = |status, issue, diagnostics| {
        ApiError::bars(BarsCode::BadRequest, issue, diagnostics).with_status(status)
    };
}
