//! Authorisation (BaRS 1.3): the proxy authenticates senders, the receiver decides who may use
//! it, from the access-control headers the sender attached.
//!
//! Two layers: the receiver's policy, applied to every request before routing ([`enforce`]),
//! and each service's own ([`check_owner`]), applied once a request's reads know which service
//! owns what it touches. A service's policy can only narrow the receiver's.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bars_fhir::IssueType;
use bars_fhir::codes::BarsCode;
use bars_http::{ApiError, RequestContext};

use crate::config::ReceiverConfig;

/// Which senders may use this receiver. Empty allow-lists allow everyone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccessPolicy {
    /// ODS codes of organisations allowed to send.
    pub organisations: Vec<String>,
    /// Identifiers (or names) of sending software allowed.
    pub software: Vec<String>,
    /// Refuse requests that do not say which organisation sends them.
    pub require_organisation: bool,
    /// When not empty, only these organisations (ODS codes) may have practitioners' details
    /// included in slot searches (`_include=Schedule:actor:Practitioner[Role]`).
    pub practitioner_details_for: Vec<String>,
}

impl AccessPolicy {
    /// Whether the sender may see who the practitioners behind a schedule are.
    pub fn check_practitioner_details(&self, ctx: &RequestContext) -> Result<(), ApiError> {
        if self.practitioner_details_for.is_empty() {
            return Ok(());
        }
        let allowed = ctx.sender_ods().is_some_and(|ods| {
            self.practitioner_details_for
                .iter()
                .any(|o| o.eq_ignore_ascii_case(ods))
        });
        if allowed {
            Ok(())
        } else {
            Err(ApiError::bars(
                BarsCode::RecUnauthorized,
                IssueType::Forbidden,
                "the sending organisation may not include practitioners' details (Schedule:actor:Practitioner, Schedule:actor:PractitionerRole)",
            )
            .at("_include"))
        }
    }
}

/// Paths that BaRS exempts from access-control headers.
const OPEN_PATHS: [&str; 1] = ["/metadata"];

impl AccessPolicy {
    pub fn check(&self, ctx: &RequestContext) -> Result<(), ApiError> {
        self.check_for(ctx, "this receiver")
    }

    /// [`Self::check`], naming what the sender was refused (`subject`) in the diagnostics.
    fn check_for(&self, ctx: &RequestContext, subject: &str) -> Result<(), ApiError> {
        let ods = ctx.sender_ods();
        if ods.is_none() && (self.require_organisation || !self.organisations.is_empty()) {
            return Err(ApiError::bars(
                BarsCode::RecUnauthorized,
                IssueType::Security,
                format!(
                    "{subject} needs the NHSD-End-User-Organisation header naming the sending organisation's ODS code"
                ),
            ));
        }
        if let Some(ods) = ods
            && !self.organisations.is_empty()
            && !self
                .organisations
                .iter()
                .any(|o| o.eq_ignore_ascii_case(ods))
        {
            return Err(ApiError::bars(
                BarsCode::RecUnauthorized,
                IssueType::Forbidden,
                format!("the sending organisation is not authorised to use {subject}"),
            ));
        }
        if !self.software.is_empty() {
            let allowed = ctx.software.as_ref().is_some_and(|s| {
                [s.id.as_deref(), s.name.as_deref()]
                    .into_iter()
                    .flatten()
                    .any(|v| self.software.iter().any(|a| a == v))
            });
            if !allowed {
                return Err(ApiError::bars(
                    BarsCode::RecUnauthorized,
                    IssueType::Forbidden,
                    format!("the sending software is not authorised to use {subject}"),
                ));
            }
        }
        Ok(())
    }
}

/// The policy of the service that owns what a request reads or changes (`None`: an
/// appointment no service owns, governed by the receiver's policy alone).
pub fn check_owner(
    config: &ReceiverConfig,
    ctx: &RequestContext,
    owner: Option<&str>,
) -> Result<(), ApiError> {
    match owner.and_then(|id| Some((id, config.service_access.get(id)?))) {
        Some((id, policy)) => policy.check_for(ctx, &format!("service {id}")),
        None => Ok(()),
    }
}

/// A request that spans every service (one that named none) must be admitted by each.
pub fn check_every_service(config: &ReceiverConfig, ctx: &RequestContext) -> Result<(), ApiError> {
    for id in config.service_access.keys() {
        check_owner(config, ctx, Some(id))?;
    }
    Ok(())
}

/// Whether the sender may see the practitioners behind `service`'s schedules: the receiver's
/// rule and then the service's.
pub fn check_practitioner_details(
    config: &ReceiverConfig,
    ctx: &RequestContext,
    service: &str,
) -> Result<(), ApiError> {
    config.access.check_practitioner_details(ctx)?;
    match config.service_access.get(service) {
        Some(policy) => policy.check_practitioner_details(ctx),
        None => Ok(()),
    }
}

pub async fn enforce(
    State(policy): State<Arc<AccessPolicy>>,
    request: Request,
    next: Next,
) -> Response {
    if OPEN_PATHS.contains(&request.uri().path()) {
        return next.run(request).await;
    }
    let verdict = match request.extensions().get::<RequestContext>() {
        Some(ctx) => policy.check(ctx),
        None => Ok(()),
    };
    match verdict {
        Ok(()) => next.run(request).await,
        Err(e) => e.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bars_fhir::headers::{EndUserOrganisation, RequestingSoftware};

    fn ctx(ods: Option<&str>, software: Option<&str>) -> RequestContext {
        RequestContext {
            organisation: ods.map(|o| EndUserOrganisation {
                ods_code: Some(o.into()),
                name: None,
            }),
            software: software.map(|s| RequestingSoftware {
                id: Some(s.into()),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn open_policy_allows_anyone() {
        AccessPolicy::default().check(&ctx(None, None)).unwrap();
    }

    #[test]
    fn allow_lists_refuse_others() {
        let p = AccessPolicy {
            organisations: vec!["A1001".into()],
            software: vec!["SUPP-APP-1".into()],
            require_organisation: true,
            ..Default::default()
        };
        p.check(&ctx(Some("A1001"), Some("SUPP-APP-1"))).unwrap();
        assert_eq!(
            p.check(&ctx(None, Some("SUPP-APP-1"))).unwrap_err().issue,
            IssueType::Security
        );
        assert_eq!(
            p.check(&ctx(Some("B2002"), Some("SUPP-APP-1")))
                .unwrap_err()
                .issue,
            IssueType::Forbidden
        );
        assert_eq!(
            p.check(&ctx(Some("A1001"), Some("OTHER")))
                .unwrap_err()
                .issue,
            IssueType::Forbidden
        );
    }
}
