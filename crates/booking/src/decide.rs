//! The booking rules: given what a sender asked for and what is stored, decide what changes.
//!
//! Each decision is a pure function returning a [`Plan`]; the store applies the plan atomically
//! and re-checks the slot and version guards itself, so a decision made on a read that has since
//! gone stale can never double-book.

use std::collections::BTreeSet;

use bars_fhir::Instant;

use crate::edit::{EditKind, EditRequest, check_edit, same_slots};
use crate::error::{DomainError, Fault};
use crate::model::{Current, Requested, Rules, SlotView};
use crate::scope::Scope;
use crate::status::{AppointmentStatus, SlotStatus};
use crate::version::CoreVersion;

/// What happened to the appointment, for the audit log, metrics and the pointer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// A booking took its slots (a new booking, or a placeholder that became booked).
    Booked,
    /// A placeholder (waitlist, proposed, pending) was created or changed; it holds no slot.
    Placeholder,
    /// A booking changed without moving in time.
    Updated,
    /// A booking moved to other slots or times.
    Rescheduled,
    /// A booking or placeholder was cancelled or marked entered-in-error.
    Cancelled,
}

impl Event {
    pub fn as_str(self) -> &'static str {
        match self {
            Event::Booked => "booked",
            Event::Placeholder => "placeholder",
            Event::Updated => "updated",
            Event::Rescheduled => "rescheduled",
            Event::Cancelled => "cancelled",
        }
    }
}

/// What the Registry pointer for the appointment must do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PointerAction {
    Create,
    Update,
    Delete,
}

impl PointerAction {
    pub fn as_str(self) -> &'static str {
        match self {
            PointerAction::Create => "create",
            PointerAction::Update => "update",
            PointerAction::Delete => "delete",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            PointerAction::Create,
            PointerAction::Update,
            PointerAction::Delete,
        ]
        .into_iter()
        .find(|a| a.as_str() == s)
    }
}

/// The changes a request makes: slots to take and to give back, the slots held afterwards,
/// the owning service and the pointer action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub event: Event,
    /// Slots that must go free -> busy (the store refuses if any is no longer free).
    pub claim: Vec<String>,
    /// Slots the appointment gives back (busy -> free).
    pub release: Vec<String>,
    /// The slots the appointment holds after the change.
    pub held: Vec<String>,
    pub service_id: Option<String>,
    pub pointer: Option<PointerAction>,
    /// The appointment's new start and end when the receiver derived them from its new slots
    /// (a 1.5.0 reschedule that named only the slot); `None`: as the sender wrote them.
    pub times: Option<(Instant, Instant)>,
}

/// BaRS read-before-write: the sender must have worked on the current version.
///
/// `If-Match` is the strong check (HTTP 412 on mismatch); without it, a body whose
/// `meta.lastUpdated` is older than the stored one proves the sender worked on an old copy (409).
pub fn check_freshness(
    current: &Current,
    if_match: Option<u64>,
    sender_last_updated: Option<Instant>,
) -> Result<(), DomainError> {
    if let Some(version) = if_match
        && version != current.version
    {
        return Err(DomainError::PreconditionFailed {
            current: current.version,
        });
    }
    if let Some(seen) = sender_last_updated
        && seen < current.last_updated
    {
        return Err(DomainError::Stale);
    }
    Ok(())
}

/// Decides a new appointment (REST create or a `booking-request` with reason `new`) under the
/// rules of `version`.
///
/// Slots and replaced appointments outside `scope` are treated as absent; a placeholder
/// belongs to the service `scope` names.
pub fn decide_create(
    scope: &Scope,
    version: CoreVersion,
    req: &Requested,
    slots: &[SlotView],
    replaced: &[Current],
    now: Instant,
    rules: Rules,
) -> Result<Plan, DomainError> {
    require_patient(req)?;
    if req.status.is_placeholder()
        && !version.allows_placeholders()
        && !rules.placeholders_under_1_5
    {
        return Err(DomainError::invalid_at(
            Fault::Invariant,
            format!(
                "under BaRS {version} a new appointment must be booked, not {}",
                req.status
            ),
            "Appointment.status",
        ));
    }
    if !(req.status == AppointmentStatus::Booked || req.status.is_placeholder()) {
        return Err(DomainError::invalid_at(
            Fault::Invariant,
            format!(
                "a new appointment must be booked (or a waitlist, proposed or pending placeholder), not {}",
                req.status
            ),
            "Appointment.status",
        ));
    }
    let wanted = distinct_slots(req)?;
    let service_id = if req.status == AppointmentStatus::Booked {
        Some(check_bookable(scope, req, &wanted, slots, now, rules, &[])?)
    } else {
        scope.service().map(str::to_string)
    };
    check_replaces(scope, req, replaced, service_id.as_deref())?;
    Ok(if req.status == AppointmentStatus::Booked {
        Plan {
            event: Event::Booked,
            claim: wanted.clone(),
            release: vec![],
            held: wanted,
            service_id,
            pointer: Some(PointerAction::Create),
            times: None,
        }
    } else {
        Plan {
            event: Event::Placeholder,
            claim: vec![],
            release: vec![],
            held: vec![],
            service_id,
            pointer: None,
            times: None,
        }
    })
}

/// Decides a change to a stored appointment (PUT, PATCH, DELETE or a `booking-request` update)
/// under the rules of the version the edit was made under ([`crate::edit`]).
///
/// An appointment outside `scope` is not found, and slots and replaced appointments outside
/// it are treated as absent.
#[allow(clippy::too_many_arguments)]
pub fn decide_update(
    scope: &Scope,
    edit: &EditRequest<'_>,
    current: &Current,
    req: &Requested,
    slots: &[SlotView],
    replaced: &[Current],
    now: Instant,
    rules: Rules,
) -> Result<Plan, DomainError> {
    if !scope.admits(current.service_id.as_deref()) {
        return Err(DomainError::NotFound {
            what: format!("Appointment/{}", current.id),
        });
    }
    if current.status.is_terminal()
        || matches!(
            current.status,
            AppointmentStatus::Arrived | AppointmentStatus::CheckedIn
        )
    {
        return Err(DomainError::NotCurrent {
            status: current.status,
        });
    }
    if req.status.is_attendance() {
        return Err(DomainError::invalid_at(
            Fault::Invariant,
            format!(
                "a sender cannot set an appointment to {}; that is the receiver's workflow",
                req.status
            ),
            "Appointment.status",
        ));
    }
    require_patient(req)?;
    check_edit(edit, current, req)?;
    if current.patient.is_some() && req.patient != current.patient {
        return Err(DomainError::BusinessRule(
            "the patient of an appointment cannot be changed".into(),
        ));
    }

    if req.status.is_cancellation() {
        return Ok(Plan {
            event: Event::Cancelled,
            claim: vec![],
            release: current.held_slots.clone(),
            held: vec![],
            service_id: current.service_id.clone(),
            pointer: (current.status == AppointmentStatus::Booked).then_some(PointerAction::Delete),
            times: None,
        });
    }

    if req.status.is_placeholder() {
        if current.status == AppointmentStatus::Booked {
            return Err(DomainError::invalid_at(
                Fault::Invariant,
                format!(
                    "a booked appointment cannot go back to {}; cancel it instead",
                    req.status
                ),
                "Appointment.status",
            ));
        }
        check_replaces(scope, req, replaced, current.service_id.as_deref())?;
        return Ok(Plan {
            event: Event::Placeholder,
            claim: vec![],
            release: vec![],
            held: vec![],
            service_id: current.service_id.clone(),
            pointer: None,
            times: None,
        });
    }

    // The request is `booked`: a placeholder being booked, or a booking being updated or moved.
    let wanted = distinct_slots(req)?;
    let times = derived_times(edit, current, req, &wanted, slots);
    let derived;
    let req = match times {
        Some((start, end)) => {
            derived = Requested {
                start: Some(start),
                end: Some(end),
                ..req.clone()
            };
            &derived
        }
        None => req,
    };
    let service_id = check_bookable(scope, req, &wanted, slots, now, rules, &current.held_slots)?;
    if let Some(existing) = &current.service_id
        && *existing != service_id
    {
        let message = "an appointment cannot move to a slot of another service";
        return Err(if edit.version.restricts_edits() {
            DomainError::invalid_at(Fault::Invariant, message, "Appointment.slot")
        } else {
            DomainError::BusinessRule(message.into())
        });
    }
    check_replaces(scope, req, replaced, Some(&service_id))?;
    let claim: Vec<String> = wanted
        .iter()
        .filter(|s| !current.held_slots.contains(s))
        .cloned()
        .collect();
    let release: Vec<String> = current
        .held_slots
        .iter()
        .filter(|s| !wanted.contains(s))
        .cloned()
        .collect();
    let moved = !claim.is_empty()
        || !release.is_empty()
        || req.start != current.start
        || req.end != current.end;
    let (event, pointer) = if current.status.is_placeholder() {
        (Event::Booked, Some(PointerAction::Create))
    } else if moved {
        (Event::Rescheduled, Some(PointerAction::Update))
    } else {
        (Event::Updated, None)
    };
    Ok(Plan {
        event,
        claim,
        release,
        held: wanted,
        service_id: Some(service_id),
        pointer,
        times,
    })
}

/// A 1.5.0 reschedule that names a new slot but leaves the times as they were takes the new
/// slots' period: the receiver derives `start` and `end` from the slot (delta section 2.6).
/// `None` when nothing is derived (another edit, other times given, unknown slots).
fn derived_times(
    edit: &EditRequest<'_>,
    current: &Current,
    req: &Requested,
    wanted: &[String],
    slots: &[SlotView],
) -> Option<(Instant, Instant)> {
    if !(edit.version.restricts_edits() && edit.kind == EditKind::Reschedule)
        || same_slots(&current.held_slots, wanted)
        || req.start != current.start
        || req.end != current.end
    {
        return None;
    }
    let found: Vec<&SlotView> = wanted
        .iter()
        .map(|id| slots.iter().find(|s| &s.id == id))
        .collect::<Option<_>>()?;
    let start = found.iter().map(|s| s.start).min()?;
    let end = found.iter().map(|s| s.end).max()?;
    Some((start, end))
}

fn require_patient(req: &Requested) -> Result<(), DomainError> {
    if req.patient.is_none() {
        return Err(DomainError::BusinessRule(
            "the patient must be identified by NHS number (participant.actor.identifier with system https://fhir.nhs.uk/Id/nhs-number)".into(),
        ));
    }
    Ok(())
}

fn distinct_slots(req: &Requested) -> Result<Vec<String>, DomainError> {
    let mut seen = BTreeSet::new();
    for (i, id) in req.slots.iter().enumerate() {
        if !seen.insert(id.as_str()) {
            return Err(DomainError::invalid_at(
                Fault::Value,
                "the same slot is listed twice",
                format!("Appointment.slot[{i}]"),
            ));
        }
    }
    Ok(req.slots.clone())
}

/// Checks that a `booked` request can take its slots: they exist in `scope`, belong to one
/// service, are free (or already held by this appointment), have not started, and contain the
/// appointment. Returns the owning service.
fn check_bookable(
    scope: &Scope,
    req: &Requested,
    wanted: &[String],
    slots: &[SlotView],
    now: Instant,
    rules: Rules,
    held: &[String],
) -> Result<String, DomainError> {
    if wanted.is_empty() {
        return Err(DomainError::invalid_at(
            Fault::Required,
            "a booked appointment must reference its slot",
            "Appointment.slot",
        ));
    }
    let (Some(start), Some(end)) = (req.start, req.end) else {
        return Err(DomainError::invalid_at(
            Fault::Required,
            "a booked appointment must have a start and an end",
            "Appointment.start",
        ));
    };
    let mut found = Vec::with_capacity(wanted.len());
    for id in wanted {
        let slot = slots
            .iter()
            .find(|s| &s.id == id && scope.admits(Some(&s.service_id)))
            .ok_or_else(|| DomainError::NotFound {
                what: format!("Slot/{id}"),
            })?;
        found.push(slot);
    }
    let service_id = found[0].service_id.clone();
    if found.iter().any(|s| s.service_id != service_id) {
        return Err(DomainError::invalid_at(
            Fault::Invariant,
            "all slots of an appointment must belong to one service",
            "Appointment.slot",
        ));
    }
    for slot in &found {
        let already_ours = held.contains(&slot.id);
        if !already_ours && slot.status != SlotStatus::Free {
            return Err(DomainError::SlotUnavailable {
                slot: slot.id.clone(),
                reason: slot_refusal(slot.status),
            });
        }
        if !already_ours && rules.refuse_started_slots && slot.start <= now {
            return Err(DomainError::SlotUnavailable {
                slot: slot.id.clone(),
                reason: "it has already started",
            });
        }
    }
    if rules.appointment_within_slot {
        let slot_start = found.iter().map(|s| s.start).min().unwrap_or(start);
        let slot_end = found.iter().map(|s| s.end).max().unwrap_or(end);
        if start < slot_start || end > slot_end {
            return Err(DomainError::invalid_at(
                Fault::Invariant,
                "the appointment's start and end must lie within its slot",
                "Appointment.start",
            ));
        }
    }
    Ok(service_id)
}

fn slot_refusal(status: SlotStatus) -> &'static str {
    match status {
        SlotStatus::Busy => "it is already booked",
        SlotStatus::BusyUnavailable => "it has been withdrawn",
        SlotStatus::BusyTentative => "it is tentatively held",
        SlotStatus::EnteredInError => "it was entered in error",
        SlotStatus::Free => "it is free",
    }
}

/// Rebook provenance: every replaced appointment exists in `scope`, is the same patient's at
/// the same service, and is booked or cancelled.
fn check_replaces(
    scope: &Scope,
    req: &Requested,
    replaced: &[Current],
    service_id: Option<&str>,
) -> Result<(), DomainError> {
    for (i, id) in req.replaces.iter().enumerate() {
        let at = format!("Appointment.replaces[{i}]");
        let old = replaced
            .iter()
            .find(|c| &c.id == id && scope.admits(c.service_id.as_deref()))
            .ok_or_else(|| {
                DomainError::invalid_at(
                    Fault::Value,
                    "the appointment this one replaces does not exist",
                    at.clone(),
                )
            })?;
        if old.patient != req.patient {
            return Err(DomainError::invalid_at(
                Fault::Value,
                "the replaced appointment belongs to another patient",
                at,
            ));
        }
        if let (Some(new), Some(old_service)) = (service_id, old.service_id.as_deref())
            && new != old_service
        {
            return Err(DomainError::invalid_at(
                Fault::Value,
                "the replaced appointment is at another service",
                at,
            ));
        }
        if !matches!(
            old.status,
            AppointmentStatus::Booked | AppointmentStatus::Cancelled
        ) {
            return Err(DomainError::invalid_at(
                Fault::Value,
                format!("a {} appointment cannot be replaced", old.status),
                at,
            ));
        }
    }
    Ok(())
}
