//! The service a request is addressed to, read from `NHSD-Target-Identifier`.
//!
//! The proxy routes every call by that header, so it is what a sender was authorised to reach;
//! the booking service then acts only within the [`Scope`] it gives. A request without the
//! header is unaddressed and spans the whole receiver, as before: only a caller the receiver's
//! own listener trusts directly can send one, since the proxy refuses to route without it. A
//! header that is there but names no DoS service is refused, so that no request reaches the
//! booking service with a scope wider than the sender asked for.

use bars_booking::Scope;
use bars_fhir::IssueType;
use bars_fhir::codes::BarsCode;
use bars_fhir::headers::DOS_SERVICE_SYSTEM;
use bars_http::context::{TARGET_IDENTIFIER, header_str};
use bars_http::{ApiError, RequestContext};
use http::HeaderMap;

/// The DoS service identifier system in either spelling: BaRS examples write it with
/// `http://` (a known defect, section 8), the standard with `https://`.
pub fn is_dos_service_system(system: &str) -> bool {
    system == DOS_SERVICE_SYSTEM || system == "http://fhir.nhs.uk/Id/dos-service-id"
}

/// The scope of a request, from its decoded context and (to tell a malformed header from an
/// absent one) its headers.
pub fn addressed(headers: &HeaderMap, ctx: &RequestContext) -> Result<Scope, ApiError> {
    match &ctx.target {
        Some(target) if is_dos_service_system(&target.system) => {
            Ok(Scope::Service(target.value.clone()))
        }
        Some(_) => Err(not_a_service()),
        None if header_str(headers, TARGET_IDENTIFIER).is_some() => Err(not_a_service()),
        None => Ok(Scope::Receiver),
    }
}

/// BaRS answers a header value it cannot use with 400 `REC_BAD_REQUEST` `value`.
fn not_a_service() -> ApiError {
    ApiError::bars(
        BarsCode::RecBadRequest,
        IssueType::Value,
        format!(
            "NHSD-Target-Identifier must name a service of this receiver by its DoS service id (Base64 of {{\"system\": \"{DOS_SERVICE_SYSTEM}\", \"value\": \"<id>\"}})"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use bars_fhir::headers::TargetIdentifier;
    use http::HeaderValue;

    fn with(target: Option<TargetIdentifier>, raw: Option<&str>) -> Result<Scope, ApiError> {
        let mut headers = HeaderMap::new();
        if let Some(raw) = raw {
            headers.insert(TARGET_IDENTIFIER, HeaderValue::from_str(raw).unwrap());
        }
        let ctx = RequestContext {
            target,
            ..Default::default()
        };
        addressed(&headers, &ctx)
    }

    #[test]
    fn a_dos_service_id_addresses_that_service() {
        let t = TargetIdentifier::dos("2000011111");
        assert_eq!(
            with(Some(t.clone()), Some(&t.encode())).unwrap(),
            Scope::Service("2000011111".into())
        );
        let http = TargetIdentifier::new("http://fhir.nhs.uk/Id/dos-service-id", "2000011111");
        assert_eq!(
            with(Some(http.clone()), Some(&http.encode())).unwrap(),
            Scope::Service("2000011111".into())
        );
    }

    #[test]
    fn no_header_addresses_the_whole_receiver() {
        assert_eq!(with(None, None).unwrap(), Scope::Receiver);
    }

    #[test]
    fn a_header_that_names_no_dos_service_is_refused() {
        let ods = TargetIdentifier::new("https://fhir.nhs.uk/Id/ods-organization-code", "RX001");
        for (target, raw) in [(Some(ods.clone()), ods.encode()), (None, "%%%".to_string())] {
            let e = with(target, Some(&raw)).unwrap_err();
            assert_eq!(
                (e.status.as_u16(), e.issue, e.coding.code.as_str()),
                (400, IssueType::Value, "REC_BAD_REQUEST")
            );
        }
    }
}
