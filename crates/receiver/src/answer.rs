//! Answers written straight to JSON text: stored bodies go into them as the text they are
//! stored as, never parsed into a tree and serialised again.

use axum::response::Response;
use bars_fhir::IssueType;
use bars_fhir::codes::BarsCode;
use bars_http::ApiError;
use bars_http::fhir_json::fhir_response;
use http::StatusCode;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;

use crate::booking_error::BookingError;

/// A stored body, to be spliced into an answer as it is. Its JSON is checked (a scan, nothing
/// is built): one that does not parse is the store's failure (500 `no-store`), never a silent
/// `null` in the middle of a Bundle.
pub fn stored<'a>(body: &'a str, what: &str) -> Result<&'a RawValue, ApiError> {
    serde_json::from_str(body).map_err(|_| corrupt(what))
}

/// A stored body read for what it says (the references it holds, say), as `T`, which may keep
/// only the elements it names: one that does not parse is the store's failure, as when it is
/// spliced.
pub fn parsed<T: DeserializeOwned>(body: &str, what: &str) -> Result<T, ApiError> {
    serde_json::from_str(body).map_err(|_| corrupt(what))
}

fn corrupt(what: &str) -> ApiError {
    BookingError::corrupt(what).into()
}

/// A FHIR JSON answer serialised from `body` in one pass.
pub fn fhir_written(status: StatusCode, body: &impl Serialize) -> Result<Response, ApiError> {
    Ok(fhir_response(status, text(body)?))
}

/// `body` as JSON text. Serialising `Value`s and stored JSON cannot fail; if it ever did, the
/// answer is a 500, not a panic.
pub fn text(body: &impl Serialize) -> Result<String, ApiError> {
    serde_json::to_string(body).map_err(|e| {
        tracing::error!(error = %e, "an answer could not be serialised");
        ApiError::bars(
            BarsCode::RecServerError,
            IssueType::Exception,
            "the answer could not be written",
        )
    })
}
