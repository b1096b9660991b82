//! Why the catalogue refused a request, and the one place those refusals become
//! OperationOutcomes, with the status and code delta section 6.7 gives each.

use bars_fhir::IssueType;
use bars_fhir::codes::BarsCode;
use bars_http::ApiError;
use bars_store::StoreError;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EpcError {
    /// A missing or malformed header or body (400 `SEND_BAD_REQUEST`).
    #[error("{diagnostics}")]
    BadRequest {
        issue: IssueType,
        diagnostics: String,
        expression: Option<String>,
    },
    /// A change to an element that cannot change, or a write that leaves the records
    /// inconsistent (400 `SEND_BAD_REQUEST` `invariant`, D21).
    #[error("{0}")]
    Invariant(String),
    /// No record with that id (404 `PROXY_NOT_FOUND`).
    #[error("the Endpoint Catalogue has no {0} with that id")]
    NotFound(&'static str),
    /// The caller does not own what it tries to change (403 `SEND_FORBIDDEN`, D17).
    #[error("{0}")]
    Forbidden(String),
    /// A second endpoint of one type for a service (409 `PROXY_CONFLICT` `duplicate`, D23).
    #[error("The addition or update to an endpoint has resulted in a duplicate record. {0}")]
    Duplicate(String),
    /// An orphaned record or a stale update (409 `PROXY_CONFLICT` `conflict`, D22/D23).
    #[error("{0}")]
    Conflict(String),
}

impl EpcError {
    pub fn bad(issue: IssueType, diagnostics: impl Into<String>) -> EpcError {
        EpcError::BadRequest {
            issue,
            diagnostics: diagnostics.into(),
            expression: None,
        }
    }

    /// A bad element of the body, named by its FHIRPath.
    pub fn element(issue: IssueType, path: &str, diagnostics: impl Into<String>) -> EpcError {
        EpcError::BadRequest {
            issue,
            diagnostics: diagnostics.into(),
            expression: Some(path.to_string()),
        }
    }

    pub fn into_api(self) -> ApiError {
        let text = self.to_string();
        match self {
            EpcError::BadRequest {
                issue, expression, ..
            } => {
                let e = ApiError::bars(BarsCode::SendBadRequest, issue, text);
                match expression {
                    Some(path) => e.at(path),
                    None => e,
                }
            }
            EpcError::Invariant(_) => {
                ApiError::bars(BarsCode::SendBadRequest, IssueType::Invariant, text)
            }
            EpcError::NotFound(_) => {
                ApiError::bars(BarsCode::ProxyNotFound, IssueType::NotFound, text)
            }
            EpcError::Forbidden(_) => {
                ApiError::bars(BarsCode::SendForbidden, IssueType::Forbidden, text)
            }
            EpcError::Duplicate(_) => {
                ApiError::bars(BarsCode::ProxyConflict, IssueType::Duplicate, text)
            }
            EpcError::Conflict(_) => {
                ApiError::bars(BarsCode::ProxyConflict, IssueType::Conflict, text)
            }
        }
    }
}

/// The proxy's database failed: 503 when it may pass, 500 otherwise. The detail is logged, not
/// sent.
pub fn store_error(e: StoreError) -> ApiError {
    match e {
        StoreError::Unavailable(detail) => {
            tracing::error!(error = %detail, "the proxy database is unavailable");
            ApiError::bars(
                BarsCode::ProxyServiceUnavailable,
                IssueType::Transient,
                "the proxy database is temporarily unavailable; nothing was changed, retry shortly",
            )
            .with_header(http::header::RETRY_AFTER, "1")
        }
        StoreError::Internal(detail) => {
            tracing::error!(error = %detail, "proxy database error");
            ApiError::bars(
                BarsCode::ProxyServerError,
                IssueType::NoStore,
                "the proxy database could not process the change",
            )
        }
    }
}
