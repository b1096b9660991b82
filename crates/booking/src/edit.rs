//! What an edit of a stored appointment may change, by the Core version it was made under.
//!
//! Core 1.1.6 lets a PUT replace the appointment and a PATCH change any element. Core 1.5.0
//! gives each edit one job (delta section 2.4-2.6, decisions D6 and D7): a PUT (or a message
//! update) changes only `status` and `reasonCode` (a cancellation is that PUT with
//! `cancelled` or `entered-in-error`); a PATCH is a reschedule and changes only the slot, and
//! the times that follow it; a DELETE cancels. Whatever else differs from the stored version
//! is refused as 400 `invariant`, and an appointment that is no longer `booked` is not current
//! (409).

use crate::error::{DomainError, Fault};
use crate::model::{Current, Requested};
use crate::status::AppointmentStatus;
use crate::version::CoreVersion;

/// How a sender asked to change a stored appointment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EditKind {
    /// `PUT /Appointment/{id}`, or a message `booking-request` with reason update or delete.
    Update,
    /// `PATCH /Appointment/{id}`.
    Reschedule,
    /// `DELETE /Appointment/{id}`: a logical cancel.
    Cancel,
}

/// An edit as the domain judges it: under which version, of which kind, and which elements
/// it changes beside those the domain reads itself.
#[derive(Debug, Clone, Copy)]
pub struct EditRequest<'a> {
    pub version: CoreVersion,
    pub kind: EditKind,
    /// Top-level elements whose value differs from the stored version, other than those the
    /// domain compares itself (`status`, `slot`, `start`, `end`) and those the server owns
    /// (`id`, `meta`, `created`). Found by the edge, which knows the JSON.
    pub changed: &'a [String],
}

impl<'a> EditRequest<'a> {
    pub fn new(version: CoreVersion, kind: EditKind, changed: &'a [String]) -> Self {
        EditRequest {
            version,
            kind,
            changed,
        }
    }
}

/// Elements a 1.5.0 PUT may change besides `status`.
const UPDATE_MAY_CHANGE: &[&str] = &["reasonCode"];
/// Elements a 1.5.0 PATCH may change besides `slot`, `start` and `end`.
const RESCHEDULE_MAY_CHANGE: &[&str] = &["minutesDuration"];

/// Checks an edit against its version's rules; under 1.1.6 there is nothing to check here.
pub(crate) fn check_edit(
    edit: &EditRequest<'_>,
    current: &Current,
    req: &Requested,
) -> Result<(), DomainError> {
    if !edit.version.restricts_edits() {
        return Ok(());
    }
    if current.status != AppointmentStatus::Booked {
        return Err(DomainError::NotCurrent {
            status: current.status,
        });
    }
    let moved = !same_slots(&current.held_slots, &req.slots)
        || req.start != current.start
        || req.end != current.end;
    match edit.kind {
        EditKind::Update | EditKind::Cancel => {
            if !matches!(
                req.status,
                AppointmentStatus::Booked
                    | AppointmentStatus::Cancelled
                    | AppointmentStatus::EnteredInError
            ) {
                return Err(DomainError::invalid_at(
                    Fault::Invariant,
                    format!(
                        "under BaRS 1.5.0 an update sets the status to booked, cancelled or entered-in-error, not {}",
                        req.status
                    ),
                    "Appointment.status",
                ));
            }
            if moved {
                return Err(DomainError::invalid_at(
                    Fault::Invariant,
                    "slot, start and end cannot be changed by PUT under BaRS 1.5.0; use PATCH (reschedule) or rebook",
                    "Appointment.slot",
                ));
            }
            let cancelling = req.status.is_cancellation();
            refuse_others(
                edit.changed,
                |name| {
                    UPDATE_MAY_CHANGE.contains(&name) || (cancelling && name == "cancelationReason")
                },
                "PUT (only status and reasonCode may change)",
            )
        }
        EditKind::Reschedule => {
            if req.status != AppointmentStatus::Booked {
                return Err(DomainError::invalid_at(
                    Fault::Invariant,
                    "a reschedule (PATCH) keeps the appointment booked under BaRS 1.5.0; use PUT to cancel",
                    "Appointment.status",
                ));
            }
            refuse_others(
                edit.changed,
                |name| RESCHEDULE_MAY_CHANGE.contains(&name),
                "PATCH (a reschedule changes only the slot and its times)",
            )
        }
    }
}

fn refuse_others(
    changed: &[String],
    allowed: impl Fn(&str) -> bool,
    what: &str,
) -> Result<(), DomainError> {
    match changed.iter().find(|name| !allowed(name)) {
        None => Ok(()),
        Some(name) => Err(DomainError::invalid_at(
            Fault::Invariant,
            format!("{name} cannot be changed by {what} under BaRS 1.5.0"),
            format!("Appointment.{name}"),
        )),
    }
}

/// The same slots, in any order.
pub(crate) fn same_slots(a: &[String], b: &[String]) -> bool {
    a.len() == b.len() && a.iter().all(|s| b.contains(s))
}
