//! The BaRS HTTP error codes (`https://fhir.nhs.uk/Codesystem/http-error-codes`).
//!
//! The prefix tells a sender who raised the error: `SEND_` (the sender broke the API contract;
//! raised by the proxy), `PROXY_` or unprefixed (the proxy itself), `REC_` (the receiver, or the
//! proxy on a receiver's behalf). A receiver only ever emits `REC_` codes.

use std::fmt;

/// The code system BaRS uses in `OperationOutcome.issue.details.coding.system`. The lower-case
/// "s" in "Codesystem" is what the live proxy, the sandbox and nearly every example use.
pub const HTTP_ERROR_CODES_SYSTEM: &str = "https://fhir.nhs.uk/Codesystem/http-error-codes";

/// True when `system` names the BaRS error code system, in either of the spellings in circulation.
pub fn is_http_error_codes_system(system: &str) -> bool {
    system.eq_ignore_ascii_case(HTTP_ERROR_CODES_SYSTEM)
}

macro_rules! bars_codes {
    ($($variant:ident => ($code:literal, $status:literal)),* $(,)?) => {
        /// A BaRS error code together with the HTTP status it normally travels with. One
        /// variant is one code on the wire: BaRS sends a few codes with more than one status
        /// (`REC_CONFLICT` with 409 and 412, `REC_BAD_REQUEST` with 400 and 413), and the other
        /// status is given where the error is made (`ApiError::with_status`), not by a variant
        /// that spells another code's text.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum BarsCode { $($variant),* }

        impl BarsCode {
            pub const ALL: &'static [BarsCode] = &[$(BarsCode::$variant),*];

            pub fn as_str(self) -> &'static str {
                match self { $(BarsCode::$variant => $code),* }
            }

            /// The HTTP status the code is documented with.
            pub fn status(self) -> u16 {
                match self { $(BarsCode::$variant => $status),* }
            }
        }
    };
}

bars_codes! {
    RecBadRequest => ("REC_BAD_REQUEST", 400),
    RecUnauthorized => ("REC_UNAUTHORIZED", 401),
    RecForbidden => ("REC_FORBIDDEN", 403),
    RecNotFound => ("REC_NOT_FOUND", 404),
    RecMethodNotAllowed => ("REC_METHOD_NOT_ALLOWED", 405),
    RecNotAcceptable => ("REC_NOT_ACCEPTABLE", 406),
    RecTimeout => ("REC_TIMEOUT", 408),
    RecConflict => ("REC_CONFLICT", 409),
    RecUnprocessableEntity => ("REC_UNPROCESSABLE_ENTITY", 422),
    RecTooEarly => ("REC_TOO_EARLY", 425),
    RecTooManyRequests => ("REC_TOO_MANY_REQUESTS", 429),
    RecServerError => ("REC_SERVER_ERROR", 500),
    RecNotImplemented => ("REC_NOT_IMPLEMENTED", 501),
    RecServiceUnavailable => ("REC_SERVICE_UNAVAILABLE", 503),
    SendBadRequest => ("SEND_BAD_REQUEST", 400),
    SendUnauthorized => ("SEND_UNAUTHORIZED", 401),
    SendForbidden => ("SEND_FORBIDDEN", 403),
    SendMethodNotAllowed => ("SEND_METHOD_NOT_ALLOWED", 405),
    SendNotAcceptable => ("SEND_NOT_ACCEPTABLE", 406),
    SendTooManyRequests => ("SEND_TOO_MANY_REQUESTS", 429),
    SendNotImplemented => ("SEND_NOT_IMPLEMENTED", 501),
    ProxyBadRequest => ("PROXY_BAD_REQUEST", 400),
    BadRequest => ("BAD_REQUEST", 400),
    ProxyNotFound => ("PROXY_NOT_FOUND", 404),
    // The Endpoint Catalogue refusing a duplicate, an orphan or a stale update (delta D22/D23).
    ProxyConflict => ("PROXY_CONFLICT", 409),
    NotFound => ("NOT_FOUND", 404),
    ProxyServerError => ("PROXY_SERVER_ERROR", 500),
    ServerError => ("SERVER_ERROR", 500),
    ProxyServiceUnavailable => ("PROXY_SERVICE_UNAVAILABLE", 503),
}

impl BarsCode {
    /// Looks a code up by its text.
    pub fn parse(code: &str) -> Option<BarsCode> {
        BarsCode::ALL.iter().copied().find(|c| c.as_str() == code)
    }
}

impl fmt::Display for BarsCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_carry_their_documented_status() {
        assert_eq!(BarsCode::RecConflict.status(), 409);
        assert_eq!(BarsCode::RecTooEarly.status(), 425);
        assert_eq!(
            BarsCode::RecServiceUnavailable.as_str(),
            "REC_SERVICE_UNAVAILABLE"
        );
        assert_eq!(BarsCode::parse("REC_CONFLICT"), Some(BarsCode::RecConflict));
        assert_eq!(
            BarsCode::parse("REC_BAD_REQUEST"),
            Some(BarsCode::RecBadRequest)
        );
    }

    #[test]
    fn each_code_spells_its_own_text() {
        for code in BarsCode::ALL {
            assert_eq!(BarsCode::parse(code.as_str()), Some(*code), "{code:?}");
        }
    }

    #[test]
    fn both_spellings_of_the_system_are_recognised() {
        assert!(is_http_error_codes_system(
            "https://fhir.nhs.uk/CodeSystem/http-error-codes"
        ));
        assert!(is_http_error_codes_system(HTTP_ERROR_CODES_SYSTEM));
        assert!(!is_http_error_codes_system(
            "http://hl7.org/fhir/ValueSet/operation-outcome"
        ));
    }
}
