//! Authorisation (BaRS 1.3): the proxy authenticates senders, the receiver decides who may use
//! it, from the access-control headers the sender attached.
//!
//! Two layers: the receiver's policy, applied to every request before routing (the API's
//! `enforce` layer), and each service's own ([`check_owner`]), applied once a request's reads
//! know which service owns what it touches. A service's policy can only narrow the receiver's.
//!
//! A refusal is an [`AccessDenied`], told to the sender by [`crate::errors`]: the booking
//! service carries it as one of its own errors without knowing how it is rendered.

use std::fmt;

use bars_http::RequestContext;

pub use crate::config::AccessPolicy;
use crate::config::ReceiverConfig;

/// What a policy protects: the whole receiver, or one of its services.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    Receiver,
    Service(String),
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Subject::Receiver => f.write_str("this receiver"),
            Subject::Service(id) => write!(f, "service {id}"),
        }
    }
}

/// Why a policy refused the sender.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccessDenied {
    /// The policy must know the sending organisation, and the request did not name it.
    #[error("{0} needs the sending organisation named")]
    Anonymous(Subject),
    /// The sending organisation is not one the policy allows.
    #[error("the sending organisation may not use {0}")]
    Organisation(Subject),
    /// The sending software is not one the policy allows.
    #[error("the sending software may not use {0}")]
    Software(Subject),
    /// The sending organisation may not see who the practitioners behind a schedule are.
    #[error("the sending organisation may not see practitioners' details")]
    PractitionerDetails,
}

impl AccessPolicy {
    /// Whether the sender may see who the practitioners behind a schedule are.
    pub fn check_practitioner_details(&self, ctx: &RequestContext) -> Result<(), AccessDenied> {
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
            Err(AccessDenied::PractitionerDetails)
        }
    }

    /// The receiver's own policy, applied to every request.
    pub fn check(&self, ctx: &RequestContext) -> Result<(), AccessDenied> {
        self.check_for(ctx, || Subject::Receiver)
    }

    /// [`Self::check`] for `subject`, named only when the sender is refused.
    fn check_for(
        &self,
        ctx: &RequestContext,
        subject: impl FnOnce() -> Subject,
    ) -> Result<(), AccessDenied> {
        let ods = ctx.sender_ods();
        if ods.is_none() && (self.require_organisation || !self.organisations.is_empty()) {
            return Err(AccessDenied::Anonymous(subject()));
        }
        if let Some(ods) = ods
            && !self.organisations.is_empty()
            && !self
                .organisations
                .iter()
                .any(|o| o.eq_ignore_ascii_case(ods))
        {
            return Err(AccessDenied::Organisation(subject()));
        }
        if !self.software.is_empty() {
            let allowed = ctx.software.as_ref().is_some_and(|s| {
                [s.id.as_deref(), s.name.as_deref()]
                    .into_iter()
                    .flatten()
                    .any(|v| self.software.iter().any(|a| a == v))
            });
            if !allowed {
                return Err(AccessDenied::Software(subject()));
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
) -> Result<(), AccessDenied> {
    match owner.and_then(|id| Some((id, config.service_access.get(id)?))) {
        Some((id, policy)) => policy.check_for(ctx, || Subject::Service(id.to_string())),
        None => Ok(()),
    }
}

/// A request that spans every service (one that named none) must be admitted by each.
pub fn check_every_service(
    config: &ReceiverConfig,
    ctx: &RequestContext,
) -> Result<(), AccessDenied> {
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
) -> Result<(), AccessDenied> {
    config.access.check_practitioner_details(ctx)?;
    match config.service_access.get(service) {
        Some(policy) => policy.check_practitioner_details(ctx),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bars_fhir::IssueType;
    use bars_fhir::headers::{EndUserOrganisation, RequestingSoftware};
    use bars_http::ApiError;

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

    /// The refusal as the sender is told it.
    fn told(denied: AccessDenied) -> ApiError {
        ApiError::from(denied)
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
            told(p.check(&ctx(None, Some("SUPP-APP-1"))).unwrap_err()).issue,
            IssueType::Security
        );
        assert_eq!(
            told(
                p.check(&ctx(Some("B2002"), Some("SUPP-APP-1")))
                    .unwrap_err()
            )
            .issue,
            IssueType::Forbidden
        );
        assert_eq!(
            told(p.check(&ctx(Some("A1001"), Some("OTHER"))).unwrap_err()).issue,
            IssueType::Forbidden
        );
    }
}
