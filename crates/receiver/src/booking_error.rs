//! Why the booking service did not do what it was asked, in the service's own terms.
//!
//! The service returns a [`BookingError`]; the edge tells it to the sender
//! ([`crate::errors`]), the metrics count the conflicts among them and the request-id rules
//! recognise a duplicate by its variant. Nobody reads a rendered status or issue code back.

use bars_booking::DomainError;
use bars_fhir::Issue;
use bars_fhir::patch::PatchError;
use bars_store::{CommitError, StoreError};

use crate::access::AccessDenied;

#[derive(Debug, Clone, thiserror::Error)]
pub enum BookingError {
    /// The appointment is not valid, with every finding. `patched`: it is the result of a
    /// patch that is invalid (the patch was well-formed, so it cannot be processed: 422),
    /// rather than what the sender sent (400).
    #[error("the appointment is not valid ({} findings)", findings.len())]
    Invalid { findings: Vec<Issue>, patched: bool },
    /// A patch document that is malformed, or that does not apply to the stored appointment.
    #[error("the patch cannot be applied: {}", .0.diagnostics())]
    Patch(PatchError),
    /// The domain refused the change: a rule, or a conflict or stale version seen on reading.
    #[error(transparent)]
    Refused(#[from] DomainError),
    /// The service does not take the use case the booking names (`serviceCategory`).
    #[error("service {service} does not support the use case {use_case}")]
    UseCaseNotSupported { service: String, use_case: String },
    /// Another request committed first: the transaction's own guard found it.
    #[error("another request committed first: {0:?}")]
    Conflict(Conflict),
    /// A request with the same ids was committed meanwhile (by another instance).
    #[error("a request with these ids was committed meanwhile")]
    Duplicate,
    /// No appointment with this id within the request's scope.
    #[error("Appointment/{id} was not found")]
    NotFound { id: String },
    /// The appointment (within scope) has no such version.
    #[error("Appointment/{id} has no version {version}")]
    NoVersion { id: String, version: u64 },
    /// The policy of the service that owns what was read refused the sender.
    #[error(transparent)]
    Denied(#[from] AccessDenied),
    /// A search would read more than the receiver allows (a search by demographics at a
    /// service with very many appointments); an NHS number narrows it.
    #[error("the search is too costly: {0}")]
    TooCostly(String),
    /// The store failed, or holds what it should not (a body that is not JSON).
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a commit found changed since its read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Conflict {
    /// The slot was taken by another request.
    SlotTaken(String),
    /// The appointment moved on to another version.
    VersionMoved,
}

impl BookingError {
    /// A single finding about the request as sent (400).
    pub fn invalid(finding: Issue) -> Self {
        BookingError::Invalid {
            findings: vec![finding],
            patched: false,
        }
    }

    /// A stored body that does not parse: the store holds what it should not.
    pub fn corrupt(what: &str) -> Self {
        BookingError::Store(StoreError::Internal(format!("{what} is not valid JSON")))
    }
}

impl From<CommitError> for BookingError {
    fn from(e: CommitError) -> Self {
        match e {
            CommitError::SlotUnavailable(slot) => BookingError::Conflict(Conflict::SlotTaken(slot)),
            CommitError::VersionConflict => BookingError::Conflict(Conflict::VersionMoved),
            CommitError::Duplicate => BookingError::Duplicate,
            CommitError::Store(e) => BookingError::Store(e),
        }
    }
}
