//! How the Registry tells callers what went wrong: OperationOutcomes coded the way the National
//! Record Locator codes them (Spine error codes), so a sender or receiver written against NRL
//! reads our errors without a second code table.
//!
//! Every error leaves through [`ApiError::coded`]; this module only chooses the status, the
//! Spine code and the FHIR issue type. Diagnostics never quote an NHS number.

use bars_fhir::outcome::Coding;
use bars_fhir::{Issue, IssueType};
use bars_http::ApiError;
use bars_store::StoreError;
use http::{StatusCode, header};

use crate::store::{SupersedeRefusal, WriteError};

/// The code system NRL uses in `OperationOutcome.issue.details.coding.system`.
pub const SPINE_ERROR_SYSTEM: &str =
    "https://fhir.nhs.uk/STU3/CodeSystem/Spine-ErrorOrWarningCode-1";

/// The Spine codes the Registry emits, each with the HTTP status it travels with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpineCode {
    /// The request itself is malformed: unreadable body, wrong media type, bad header.
    BadRequest,
    /// The pointer breaks the FHIR structure or the NRL pointer rules.
    ValidationError,
    /// The id in the path or body is malformed, missing, or does not match.
    InvalidResourceId,
    /// A search parameter (or the continuation token) has a value we cannot use.
    InvalidValue,
    /// The caller may not do this to this pointer (or is not known at all).
    AccessDenied,
    /// No pointer with this id, or no such path.
    ResourceNotFound,
    /// `If-Match` named a version that is no longer current.
    PreconditionFailed,
    /// The store failed in a way a retry will not fix.
    InternalServerError,
    /// The store is temporarily unavailable, or too contended; a retry may succeed.
    ServiceUnavailable,
}

impl SpineCode {
    pub fn as_str(self) -> &'static str {
        match self {
            SpineCode::BadRequest => "BAD_REQUEST",
            SpineCode::ValidationError => "VALIDATION_ERROR",
            SpineCode::InvalidResourceId => "INVALID_RESOURCE_ID",
            SpineCode::InvalidValue => "INVALID_VALUE",
            SpineCode::AccessDenied => "ACCESS_DENIED",
            SpineCode::ResourceNotFound => "RESOURCE_NOT_FOUND",
            SpineCode::PreconditionFailed => "PRECONDITION_FAILED",
            SpineCode::InternalServerError => "INTERNAL_SERVER_ERROR",
            SpineCode::ServiceUnavailable => "SERVICE_UNAVAILABLE",
        }
    }

    pub fn display(self) -> &'static str {
        match self {
            SpineCode::BadRequest => "Bad request",
            SpineCode::ValidationError => "There has been a validation error",
            SpineCode::InvalidResourceId => "Invalid resource ID",
            SpineCode::InvalidValue => "Invalid value",
            SpineCode::AccessDenied => "Access has been denied to process this request",
            SpineCode::ResourceNotFound => "Resource not found",
            SpineCode::PreconditionFailed => "Precondition failed",
            SpineCode::InternalServerError => "Internal server error",
            SpineCode::ServiceUnavailable => "Service unavailable",
        }
    }

    pub fn status(self) -> StatusCode {
        match self {
            SpineCode::BadRequest
            | SpineCode::ValidationError
            | SpineCode::InvalidResourceId
            | SpineCode::InvalidValue => StatusCode::BAD_REQUEST,
            SpineCode::AccessDenied => StatusCode::FORBIDDEN,
            SpineCode::ResourceNotFound => StatusCode::NOT_FOUND,
            SpineCode::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
            SpineCode::InternalServerError => StatusCode::INTERNAL_SERVER_ERROR,
            SpineCode::ServiceUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    pub fn coding(self) -> Coding {
        Coding::new(
            SPINE_ERROR_SYSTEM,
            self.as_str(),
            Some(self.display().to_string()),
        )
    }
}

/// An error with the status the code normally travels with.
pub fn spine(code: SpineCode, issue: IssueType, diagnostics: impl Into<String>) -> ApiError {
    spine_with_status(code.status(), code, issue, diagnostics)
}

/// An error whose status differs from the code's usual one (413, 415, 405 are all "bad request"
/// in Spine terms but have their own HTTP meaning).
pub fn spine_with_status(
    status: StatusCode,
    code: SpineCode,
    issue: IssueType,
    diagnostics: impl Into<String>,
) -> ApiError {
    ApiError::coded(status, code.coding(), issue, diagnostics)
}

/// How the Registry's listeners code a request refused before routing (an oversized head).
pub const REFUSE: bars_http::server::Refuse = |status, issue, diagnostics| {
    spine_with_status(status, SpineCode::BadRequest, issue, diagnostics)
};

/// Re-codes an error raised by the shared HTTP edge (which speaks BaRS `REC_` codes) as a Spine
/// code, keeping its status, issue type, diagnostics and headers.
pub fn recode(error: ApiError, code: SpineCode) -> ApiError {
    let mut recoded = spine_with_status(error.status, code, error.issue, error.diagnostics.clone());
    recoded.expression = error.expression.clone();
    recoded.more = error.more.clone();
    recoded.headers = error.headers.clone();
    recoded
}

/// A pointer that breaks the rules: every finding is reported, the first one leads.
pub fn validation(issues: &[Issue]) -> ApiError {
    let mut errors = issues.iter().filter(|i| i.is_error());
    let Some(first) = errors.next() else {
        return spine(
            SpineCode::ValidationError,
            IssueType::Invalid,
            "the DocumentReference is not a valid pointer",
        );
    };
    let mut error = spine(
        SpineCode::ValidationError,
        first.code,
        first.diagnostics.clone(),
    );
    error.expression = first.expression.clone();
    error.more = errors.cloned().collect();
    error
}

pub fn not_found(id: &str) -> ApiError {
    spine(
        SpineCode::ResourceNotFound,
        IssueType::NotFound,
        format!("DocumentReference/{id} does not exist"),
    )
}

pub fn precondition_failed(expected: u64, current: u64) -> ApiError {
    spine(
        SpineCode::PreconditionFailed,
        IssueType::Conflict,
        format!(
            "If-Match names version {expected} but the pointer is at version {current}; read it again"
        ),
    )
}

/// Storage failures: 503 with `Retry-After` when a retry may help, 500 when it will not. The
/// detail goes to the log only; it may describe the database but never reaches the caller.
pub fn store(e: StoreError) -> ApiError {
    match e {
        StoreError::Unavailable(detail) => {
            tracing::error!(error = %detail, "registry storage unavailable");
            spine(
                SpineCode::ServiceUnavailable,
                IssueType::Transient,
                "the pointer store is temporarily unavailable; retry shortly",
            )
            .with_header(header::RETRY_AFTER, "1")
        }
        StoreError::Internal(detail) => {
            tracing::error!(error = %detail, "registry storage error");
            spine(
                SpineCode::InternalServerError,
                IssueType::NoStore,
                "the pointer store could not process the request",
            )
        }
    }
}

/// A write the store refused. Version mismatches are resolved by the caller before this
/// (412 or a retry), so reaching here with one means the retries ran out.
pub fn write(e: WriteError, id: &str) -> ApiError {
    match e {
        WriteError::NotFound => not_found(id),
        WriteError::VersionMismatch { .. } => contended(),
        WriteError::DuplicateId => spine(
            SpineCode::InvalidResourceId,
            IssueType::Duplicate,
            format!("DocumentReference/{id} already exists"),
        ),
        WriteError::Supersede(refusal) => supersede(refusal),
        WriteError::Store(e) => store(e),
    }
}

/// The pointer kept changing under us: a retry after a moment will most likely succeed.
pub fn contended() -> ApiError {
    spine(
        SpineCode::ServiceUnavailable,
        IssueType::LockError,
        "the pointer is being changed by other requests; retry shortly",
    )
    .with_header(header::RETRY_AFTER, "1")
}

fn supersede(refusal: SupersedeRefusal) -> ApiError {
    let expression = "DocumentReference.relatesTo.target";
    match refusal {
        SupersedeRefusal::Missing => spine(
            SpineCode::ValidationError,
            IssueType::Value,
            "the pointer named in relatesTo (code 'replaces') does not exist",
        ),
        SupersedeRefusal::OtherCustodian => spine(
            SpineCode::AccessDenied,
            IssueType::Forbidden,
            "the pointer named in relatesTo (code 'replaces') belongs to another custodian; only its own custodian may supersede it",
        ),
        SupersedeRefusal::OtherSubject => spine(
            SpineCode::ValidationError,
            IssueType::BusinessRule,
            "the pointer named in relatesTo (code 'replaces') is for a different patient; a pointer can only replace one for the same subject",
        ),
        SupersedeRefusal::OtherType => spine(
            SpineCode::ValidationError,
            IssueType::BusinessRule,
            "the pointer named in relatesTo (code 'replaces') has a different type; a pointer can only replace one of the same type",
        ),
    }
    .at(expression)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_carry_their_status_and_system() {
        let e = spine(SpineCode::AccessDenied, IssueType::Forbidden, "no");
        assert_eq!(e.status, StatusCode::FORBIDDEN);
        let oo = e.outcome();
        assert_eq!(oo["issue"][0]["code"], "forbidden");
        assert_eq!(
            oo["issue"][0]["details"]["coding"][0]["system"],
            SPINE_ERROR_SYSTEM
        );
        assert_eq!(
            oo["issue"][0]["details"]["coding"][0]["code"],
            "ACCESS_DENIED"
        );
    }

    #[test]
    fn unavailable_storage_asks_for_a_retry() {
        let e = store(StoreError::Unavailable("disk full".into()));
        assert_eq!(e.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(e.headers.get(header::RETRY_AFTER).unwrap(), "1");
        assert!(!e.diagnostics.contains("disk"));
        let e = store(StoreError::Internal("corrupt row".into()));
        assert_eq!(e.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(e.issue, IssueType::NoStore);
    }

    #[test]
    fn recoding_keeps_status_and_detail() {
        let original = ApiError::bars(
            bars_fhir::codes::BarsCode::RecBadRequest,
            IssueType::Structure,
            "not JSON",
        )
        .with_header(header::RETRY_AFTER, "5");
        let e = recode(original, SpineCode::BadRequest);
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert_eq!(e.code(), "BAD_REQUEST");
        assert_eq!(e.coding.system, SPINE_ERROR_SYSTEM);
        assert_eq!(e.diagnostics, "not JSON");
        assert_eq!(e.headers.get(header::RETRY_AFTER).unwrap(), "5");
    }

    #[test]
    fn validation_reports_every_finding() {
        let issues = [
            Issue::error(IssueType::Required, "custodian is required")
                .at("DocumentReference.custodian"),
            Issue::error(IssueType::Value, "bad system").at("DocumentReference.subject"),
        ];
        let e = validation(&issues);
        assert_eq!(e.code(), "VALIDATION_ERROR");
        assert_eq!(e.issue, IssueType::Required);
        assert_eq!(e.more.len(), 1);
        assert_eq!(e.outcome()["issue"].as_array().unwrap().len(), 2);
    }
}
