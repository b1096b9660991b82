//! The provider's workflow: what the service's own staff record as the day runs (arrived,
//! fulfilled, no-show), how they correct a mistake (entered in error) and how they cancel on
//! the provider's side. These are the FHIR Appointment workflow's transitions that BaRS leaves
//! to the receiver (digest section 5.3: "receiver-internal workflow ... is outside BaRS"); once
//! an appointment is attended or ended, [`crate::decide_update`] refuses every sender change
//! with 409 (`DomainError::NotCurrent`).

use crate::decide::PointerAction;
use crate::error::{DomainError, Fault};
use crate::model::Current;
use crate::scope::Scope;
use crate::status::AppointmentStatus;

/// What a member of staff records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StaffAction {
    /// The patient is here.
    Arrived,
    /// The patient was seen.
    Fulfilled,
    /// The patient did not come.
    Noshow,
    /// The appointment should never have existed (a booking or a status recorded in error).
    EnteredInError,
    /// The provider cancels (the clinic is closed, the clinician is ill, ...); needs a reason.
    Cancel,
}

impl StaffAction {
    pub const ALL: [StaffAction; 5] = [
        StaffAction::Arrived,
        StaffAction::Fulfilled,
        StaffAction::Noshow,
        StaffAction::EnteredInError,
        StaffAction::Cancel,
    ];

    /// The name used in URLs, the audit log and events.
    pub fn as_str(self) -> &'static str {
        match self {
            StaffAction::Arrived => "arrived",
            StaffAction::Fulfilled => "fulfilled",
            StaffAction::Noshow => "noshow",
            StaffAction::EnteredInError => "entered-in-error",
            StaffAction::Cancel => "provider-cancel",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "cancel" => Some(StaffAction::Cancel),
            _ => Self::ALL.into_iter().find(|a| a.as_str() == s),
        }
    }

    /// The status the appointment takes.
    pub fn status(self) -> AppointmentStatus {
        match self {
            StaffAction::Arrived => AppointmentStatus::Arrived,
            StaffAction::Fulfilled => AppointmentStatus::Fulfilled,
            StaffAction::Noshow => AppointmentStatus::Noshow,
            StaffAction::EnteredInError => AppointmentStatus::EnteredInError,
            StaffAction::Cancel => AppointmentStatus::Cancelled,
        }
    }

    /// The statuses this action may follow (FHIR R4 Appointment workflow): a patient arrives
    /// for a booking, is seen after arriving, and is a no-show only for a booking nobody
    /// attended; anything not yet ended may be cancelled; and any record but one already in
    /// error may be marked entered-in-error, which is how a wrong status is corrected.
    pub fn allowed_from(self, from: AppointmentStatus) -> bool {
        use AppointmentStatus::*;
        match self {
            StaffAction::Arrived => matches!(from, Booked | CheckedIn),
            StaffAction::Fulfilled => matches!(from, Arrived | CheckedIn),
            StaffAction::Noshow => from == Booked,
            StaffAction::Cancel => {
                matches!(from, Booked | Arrived | CheckedIn) || from.is_placeholder()
            }
            StaffAction::EnteredInError => from != EnteredInError,
        }
    }
}

/// What a staff action changes: the new status, the slots given back and kept, the pointer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaffPlan {
    pub action: StaffAction,
    pub status: AppointmentStatus,
    pub release: Vec<String>,
    pub held: Vec<String>,
    pub pointer: Option<PointerAction>,
}

/// Decides a staff action on a stored appointment of the service `scope` names.
///
/// A cancellation or an entry in error gives the slots back and removes the Registry pointer
/// of a booking that had one. Attendance keeps the slots: the time was used, so the slot must
/// not become bookable again; the pointer is updated so that it reflects the new version.
pub fn decide_staff(
    scope: &Scope,
    current: &Current,
    action: StaffAction,
    reason: Option<&str>,
) -> Result<StaffPlan, DomainError> {
    if !scope.admits(current.service_id.as_deref()) {
        return Err(DomainError::NotFound {
            what: format!("Appointment/{}", current.id),
        });
    }
    if !action.allowed_from(current.status) {
        return Err(DomainError::NotCurrent {
            status: current.status,
        });
    }
    if action == StaffAction::Cancel && reason.is_none_or(|r| r.trim().is_empty()) {
        return Err(DomainError::invalid_at(
            Fault::Required,
            "a provider cancellation needs a reason",
            "reason",
        ));
    }
    let had_pointer = current.status.holds_slot()
        || matches!(
            current.status,
            AppointmentStatus::Fulfilled | AppointmentStatus::Noshow
        );
    let ends = matches!(action, StaffAction::Cancel | StaffAction::EnteredInError);
    Ok(if ends {
        StaffPlan {
            action,
            status: action.status(),
            release: current.held_slots.clone(),
            held: vec![],
            pointer: had_pointer.then_some(PointerAction::Delete),
        }
    } else {
        StaffPlan {
            action,
            status: action.status(),
            release: vec![],
            held: current.held_slots.clone(),
            pointer: Some(PointerAction::Update),
        }
    })
}

#[cfg(test)]
mod tests {
    use bars_fhir::Instant;

    use super::*;

    fn current(status: AppointmentStatus) -> Current {
        Current {
            id: "a".into(),
            version: 1,
            status,
            held_slots: if status.holds_slot() {
                vec!["s1".into()]
            } else {
                vec![]
            },
            start: None,
            end: None,
            patient: None,
            service_id: Some("svc".into()),
            last_updated: Instant::now(),
        }
    }

    #[test]
    fn the_workflow_allows_what_fhir_allows_and_nothing_else() {
        use AppointmentStatus::*;
        let scope = Scope::Service("svc".into());
        let allowed = [
            (StaffAction::Arrived, vec![Booked, CheckedIn]),
            (StaffAction::Fulfilled, vec![Arrived, CheckedIn]),
            (StaffAction::Noshow, vec![Booked]),
            (
                StaffAction::Cancel,
                vec![Booked, Arrived, CheckedIn, Waitlist, Proposed, Pending],
            ),
            (
                StaffAction::EnteredInError,
                vec![
                    Proposed, Pending, Booked, Arrived, Fulfilled, Cancelled, Noshow, CheckedIn,
                    Waitlist,
                ],
            ),
        ];
        for (action, from) in allowed {
            for status in AppointmentStatus::ALL {
                let decided = decide_staff(&scope, &current(status), action, Some("ill"));
                assert_eq!(
                    decided.is_ok(),
                    from.contains(&status),
                    "{action:?} from {status}"
                );
                if let Err(e) = decided {
                    assert_eq!(e, DomainError::NotCurrent { status });
                }
            }
        }
    }

    #[test]
    fn ending_gives_the_slot_back_and_attendance_keeps_it() {
        let scope = Scope::Service("svc".into());
        let booked = current(AppointmentStatus::Booked);
        let cancel =
            decide_staff(&scope, &booked, StaffAction::Cancel, Some("clinic closed")).unwrap();
        assert_eq!(
            (cancel.release, cancel.held, cancel.pointer),
            (vec!["s1".to_string()], vec![], Some(PointerAction::Delete))
        );
        let arrived = decide_staff(&scope, &booked, StaffAction::Arrived, None).unwrap();
        assert_eq!(
            (arrived.release, arrived.held, arrived.pointer),
            (vec![], vec!["s1".to_string()], Some(PointerAction::Update))
        );
        // A placeholder has no pointer to remove.
        let waitlist = current(AppointmentStatus::Waitlist);
        let cancel = decide_staff(&scope, &waitlist, StaffAction::Cancel, Some("x")).unwrap();
        assert_eq!(cancel.pointer, None);
    }

    #[test]
    fn a_cancellation_needs_a_reason_and_another_service_is_not_found() {
        let booked = current(AppointmentStatus::Booked);
        for reason in [None, Some(""), Some("   ")] {
            assert!(matches!(
                decide_staff(
                    &Scope::Service("svc".into()),
                    &booked,
                    StaffAction::Cancel,
                    reason
                ),
                Err(DomainError::Invalid { .. })
            ));
        }
        assert!(matches!(
            decide_staff(
                &Scope::Service("other".into()),
                &booked,
                StaffAction::Arrived,
                None
            ),
            Err(DomainError::NotFound { .. })
        ));
    }
}
