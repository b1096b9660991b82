//! Why the domain refuses a request. The HTTP edge maps each kind to a status and BaRS code.

use crate::status::AppointmentStatus;

/// Which FHIR-level fault an invalid request has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Something required is absent.
    Required,
    /// A value is of the right shape but not acceptable.
    Value,
    /// A combination of values breaks a rule (a status a sender may not request, ...).
    Invariant,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    /// The request itself is wrong (HTTP 400).
    #[error("{message}")]
    Invalid {
        fault: Fault,
        message: String,
        expression: Option<String>,
    },
    /// A referenced slot or appointment does not exist (HTTP 404).
    #[error("{what} was not found")]
    NotFound { what: String },
    /// The slot cannot be booked: taken, withdrawn, started (HTTP 409).
    #[error("slot {slot} cannot be booked: {reason}")]
    SlotUnavailable { slot: String, reason: &'static str },
    /// The appointment is no longer in a state that allows the change (HTTP 409).
    #[error("the appointment is {status} and can no longer be changed")]
    NotCurrent { status: AppointmentStatus },
    /// The sender's copy is older than the stored one (HTTP 409).
    #[error("the appointment has changed since the sender read it")]
    Stale,
    /// The version the sender named in If-Match is not the current one (HTTP 412).
    #[error("the appointment is at version {current}, not the version given in If-Match")]
    PreconditionFailed { current: u64 },
    /// Well-formed but against a business rule (HTTP 422).
    #[error("{0}")]
    BusinessRule(String),
}

impl DomainError {
    pub fn invalid(fault: Fault, message: impl Into<String>) -> Self {
        DomainError::Invalid {
            fault,
            message: message.into(),
            expression: None,
        }
    }

    pub fn invalid_at(
        fault: Fault,
        message: impl Into<String>,
        expression: impl Into<String>,
    ) -> Self {
        DomainError::Invalid {
            fault,
            message: message.into(),
            expression: Some(expression.into()),
        }
    }
}
