//! What every handler reads from a request before anything else: its context, the service it
//! is addressed to, its query and the id in its path.

use axum::extract::FromRequestParts;
use bars_booking::Scope;
use bars_fhir::IssueType;
use bars_fhir::codes::BarsCode;
use bars_fhir::search::Query;
use bars_http::{ApiError, RequestContext};
use http::Uri;
use http::request::Parts;

use crate::scope;

pub fn query_of(uri: &Uri) -> Result<Query, ApiError> {
    Query::parse(uri.query())
        .map_err(|e| ApiError::bars(BarsCode::RecBadRequest, IssueType::Value, e.to_string()))
}

fn context(parts: &Parts) -> RequestContext {
    parts
        .extensions
        .get::<RequestContext>()
        .cloned()
        .unwrap_or_default()
}

/// The request's context and the service it is addressed to.
pub fn addressed(parts: &Parts) -> Result<(RequestContext, Scope), ApiError> {
    let ctx = context(parts);
    let scope = scope::addressed(&parts.headers, &ctx)?;
    Ok((ctx, scope))
}

/// The request's context and the service it is addressed to, as a handler's argument.
pub struct Addressed {
    pub ctx: RequestContext,
    pub scope: Scope,
}

impl<S: Send + Sync> FromRequestParts<S> for Addressed {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let (ctx, scope) = addressed(parts)?;
        Ok(Addressed { ctx, scope })
    }
}

/// An appointment id is a UUID the receiver gave it.
pub fn check_id(id: &str) -> Result<(), ApiError> {
    uuid::Uuid::try_parse(id).map(|_| ()).map_err(|_| {
        ApiError::bars(
            BarsCode::RecBadRequest,
            IssueType::Value,
            "the appointment id must be a UUID",
        )
    })
}
