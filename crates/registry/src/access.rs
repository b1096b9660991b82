//! Who may do what: anyone the proxy authenticated may search; only a pointer's custodian may
//! read it by id, change it or delete it.
//!
//! The caller's organisation is the one the proxy vouches for (`NHSD-Authenticated-Organisation`,
//! believed only under the transport's trust rule), never anything the body or the access-control
//! headers claim.

use bars_fhir::IssueType;
use bars_http::{ApiError, RequestContext};

use crate::errors::{SpineCode, spine};
use crate::rules::normalise_ods;

fn denied(diagnostics: impl Into<String>) -> ApiError {
    spine(SpineCode::AccessDenied, IssueType::Forbidden, diagnostics)
}

/// The authenticated caller's ODS code, upper-case.
pub fn caller(ctx: &RequestContext) -> Result<String, ApiError> {
    let Some(organisation) = ctx.authenticated_organisation.as_deref() else {
        return Err(denied(
            "the request did not come through the BaRS proxy: no authenticated organisation (NHSD-Authenticated-Organisation) was presented",
        ));
    };
    normalise_ods(organisation)
        .ok_or_else(|| denied("the authenticated organisation is not a valid ODS code"))
}

/// Only the custodian may write (or read by id) a pointer.
pub fn ensure_custodian(caller: &str, custodian: &str, action: &str) -> Result<(), ApiError> {
    if caller.eq_ignore_ascii_case(custodian) {
        Ok(())
    } else {
        Err(denied(format!(
            "only the pointer's custodian may {action} it; organisation {caller} is not the custodian"
        )))
    }
}

/// Pointer ids are `<custodian ODS>-<unique part>`: a caller may only address ids under its own
/// prefix. Checked before the store is read, so another organisation's caller cannot even learn
/// whether an id exists.
pub fn ensure_own_id(caller: &str, id: &str, action: &str) -> Result<(), ApiError> {
    let own = id
        .split_once('-')
        .is_some_and(|(prefix, rest)| !rest.is_empty() && prefix.eq_ignore_ascii_case(caller));
    if own {
        Ok(())
    } else {
        Err(denied(format!(
            "only the pointer's custodian may {action} it; this id does not belong to organisation {caller}"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(org: Option<&str>) -> RequestContext {
        RequestContext {
            authenticated_organisation: org.map(str::to_string),
            ..RequestContext::default()
        }
    }

    #[test]
    fn the_proxy_must_vouch_for_the_caller() {
        let e = caller(&ctx(None)).unwrap_err();
        assert_eq!(e.code(), "ACCESS_DENIED");
        assert!(e.diagnostics.contains("BaRS proxy"));
        assert_eq!(caller(&ctx(Some("rgt"))).unwrap(), "RGT");
        assert!(caller(&ctx(Some("R G T"))).is_err());
    }

    #[test]
    fn custodians_and_their_ids() {
        assert!(ensure_custodian("RGT", "rgt", "update").is_ok());
        assert_eq!(
            ensure_custodian("V4T0L", "RGT", "update")
                .unwrap_err()
                .code(),
            "ACCESS_DENIED"
        );
        assert!(ensure_own_id("RGT", "rgt-123", "read").is_ok());
        assert!(ensure_own_id("RGT", "RGTX-123", "read").is_err());
        assert!(ensure_own_id("RGT", "RGT-", "read").is_err());
        assert!(ensure_own_id("RGT", "V4T0L-123", "read").is_err());
        assert!(ensure_own_id("RGT", "RGT", "read").is_err());
    }
}
