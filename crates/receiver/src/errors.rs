//! How domain and storage failures are told to senders, as BaRS `REC_` codes.

use bars_booking::{DomainError, Fault};
use bars_fhir::IssueType;
use bars_fhir::codes::BarsCode;
use bars_http::ApiError;
use bars_store::{CommitError, StoreError, WithdrawError};
use http::{StatusCode, header};

pub fn domain(e: DomainError) -> ApiError {
    match e {
        DomainError::Invalid {
            fault,
            message,
            expression,
        } => {
            let issue = match fault {
                Fault::Required => IssueType::Required,
                Fault::Value => IssueType::Value,
                Fault::Invariant => IssueType::Invariant,
            };
            let err = ApiError::bars(BarsCode::RecBadRequest, issue, message);
            match expression {
                Some(x) => err.at(x),
                None => err,
            }
        }
        DomainError::NotFound { what } => ApiError::bars(
            BarsCode::RecNotFound,
            IssueType::NotFound,
            format!("{what} was not found"),
        ),
        e @ DomainError::SlotUnavailable { .. } => {
            ApiError::bars(BarsCode::RecConflict, IssueType::Conflict, e.to_string())
                .at("Appointment.slot")
        }
        e @ (DomainError::NotCurrent { .. } | DomainError::Stale) => {
            ApiError::bars(BarsCode::RecConflict, IssueType::Conflict, e.to_string())
        }
        e @ DomainError::PreconditionFailed { .. } => {
            ApiError::bars(BarsCode::RecConflict, IssueType::Conflict, e.to_string())
                .with_status(StatusCode::PRECONDITION_FAILED)
        }
        DomainError::BusinessRule(message) => ApiError::bars(
            BarsCode::RecUnprocessableEntity,
            IssueType::BusinessRule,
            message,
        ),
    }
}

pub fn store(e: StoreError) -> ApiError {
    match e {
        StoreError::Unavailable(detail) => {
            tracing::error!(error = %detail, "storage unavailable");
            ApiError::bars(
                BarsCode::RecServiceUnavailable,
                IssueType::Transient,
                "the booking store is temporarily unavailable; retry shortly",
            )
            .with_header(header::RETRY_AFTER, "1")
        }
        StoreError::Internal(detail) => {
            tracing::error!(error = %detail, "storage error");
            ApiError::bars(
                BarsCode::RecServerError,
                IssueType::NoStore,
                "the booking store could not process the request",
            )
        }
    }
}

/// A commit refused by a guard that the earlier read did not foresee: someone else got there
/// first. `Duplicate` and `VersionConflict` are resolved by the caller before reaching here.
pub fn commit(e: CommitError) -> ApiError {
    match e {
        CommitError::SlotUnavailable(slot) => ApiError::bars(
            BarsCode::RecConflict,
            IssueType::Conflict,
            format!("slot {slot} cannot be booked: it was booked by another request"),
        )
        .at("Appointment.slot"),
        CommitError::VersionConflict => ApiError::bars(
            BarsCode::RecConflict,
            IssueType::Conflict,
            "the appointment was changed by another request; read it again",
        ),
        CommitError::Duplicate => ApiError::bars(
            BarsCode::RecConflict,
            IssueType::Duplicate,
            "this request has already been processed",
        ),
        CommitError::Store(s) => store(s),
    }
}

pub fn withdraw(e: WithdrawError) -> ApiError {
    match e {
        WithdrawError::NotFound => {
            ApiError::bars(BarsCode::RecNotFound, IssueType::NotFound, "no such slot")
        }
        e @ WithdrawError::NotFree(_) => {
            ApiError::bars(BarsCode::RecConflict, IssueType::Conflict, e.to_string())
        }
        WithdrawError::Store(s) => store(s),
    }
}
