//! How the receiver's failures are told to senders, as BaRS `REC_` codes: the one place where
//! the booking service's errors, access refusals and storage failures become [`ApiError`]s.

use bars_booking::{DomainError, Fault};
use bars_fhir::IssueType;
use bars_fhir::codes::BarsCode;
use bars_fhir::patch::PatchError;
use bars_http::ApiError;
use bars_store::{StoreError, WithdrawError};
use http::{StatusCode, header};

use crate::access::AccessDenied;
use crate::booking_error::{BookingError, Conflict};

impl From<BookingError> for ApiError {
    fn from(e: BookingError) -> ApiError {
        match e {
            BookingError::Invalid { findings, patched } => {
                let code = if patched {
                    BarsCode::RecUnprocessableEntity
                } else {
                    BarsCode::RecBadRequest
                };
                ApiError::from_issues(code, &findings)
            }
            BookingError::Patch(e) => patch(e),
            BookingError::Refused(e) => domain(e),
            BookingError::UseCaseNotSupported { service, use_case } => ApiError::bars(
                BarsCode::RecUnprocessableEntity,
                IssueType::NotSupported,
                format!("service {service} does not support the use case {use_case}"),
            )
            .at("Appointment.serviceCategory"),
            BookingError::Conflict(Conflict::SlotTaken(slot)) => ApiError::bars(
                BarsCode::RecConflict,
                IssueType::Conflict,
                format!("slot {slot} cannot be booked: it was booked by another request"),
            )
            .at("Appointment.slot"),
            BookingError::Conflict(Conflict::VersionMoved) => ApiError::bars(
                BarsCode::RecConflict,
                IssueType::Conflict,
                "the appointment was changed by another request; read it again",
            ),
            BookingError::Duplicate => ApiError::bars(
                BarsCode::RecConflict,
                IssueType::Duplicate,
                "this request has already been processed",
            ),
            BookingError::NotFound { id } => ApiError::bars(
                BarsCode::RecNotFound,
                IssueType::NotFound,
                format!("Appointment/{id} was not found"),
            ),
            BookingError::NoVersion { id, version } => ApiError::bars(
                BarsCode::RecNotFound,
                IssueType::NotFound,
                format!("Appointment/{id} has no version {version}"),
            ),
            BookingError::TooCostly(why) => {
                ApiError::bars(BarsCode::RecUnprocessableEntity, IssueType::TooCostly, why)
            }
            BookingError::Denied(e) => e.into(),
            BookingError::Store(e) => store(e),
        }
    }
}

impl From<AccessDenied> for ApiError {
    fn from(e: AccessDenied) -> ApiError {
        let (issue, diagnostics) = match e {
            AccessDenied::Anonymous(subject) => (
                IssueType::Security,
                format!(
                    "{subject} needs the NHSD-End-User-Organisation header naming the sending organisation's ODS code"
                ),
            ),
            AccessDenied::Organisation(subject) => (
                IssueType::Forbidden,
                format!("the sending organisation is not authorised to use {subject}"),
            ),
            AccessDenied::Software(subject) => (
                IssueType::Forbidden,
                format!("the sending software is not authorised to use {subject}"),
            ),
            AccessDenied::PractitionerDetails => {
                return ApiError::bars(
                    BarsCode::RecUnauthorized,
                    IssueType::Forbidden,
                    "the sending organisation may not include practitioners' details (Schedule:actor:Practitioner, Schedule:actor:PractitionerRole)",
                )
                .at("_include");
            }
        };
        ApiError::bars(BarsCode::RecUnauthorized, issue, diagnostics)
    }
}

fn domain(e: DomainError) -> ApiError {
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

/// A malformed patch is the sender's request at fault (400); one that does not apply to this
/// appointment cannot be processed (422).
fn patch(e: PatchError) -> ApiError {
    let code = if e.is_malformed() {
        BarsCode::RecBadRequest
    } else {
        BarsCode::RecUnprocessableEntity
    };
    ApiError::bars(code, e.code(), e.diagnostics().to_string())
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

/// Why a write was refused: by the booking service, or before it was reached (a body that
/// cannot be read, a message that fails its checks). Kept apart so that the request-id rules
/// can tell a duplicate by its type, not by its rendering.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    #[error(transparent)]
    Booking(#[from] BookingError),
    #[error(transparent)]
    Request(#[from] ApiError),
}

impl From<Refusal> for ApiError {
    fn from(r: Refusal) -> ApiError {
        match r {
            Refusal::Booking(e) => e.into(),
            Refusal::Request(e) => e,
        }
    }
}
