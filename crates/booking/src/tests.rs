//! The transition table and booking rules, case by case.

use bars_fhir::{Instant, NhsNumber};

use crate::*;

fn at(s: &str) -> Instant {
    Instant::parse(s).unwrap()
}

fn now() -> Instant {
    at("2030-01-01T08:00:00Z")
}

fn patient() -> Option<NhsNumber> {
    Some(NhsNumber::parse("9434765919").unwrap())
}

fn slot(id: &str, start: &str, end: &str, status: SlotStatus) -> SlotView {
    SlotView {
        id: id.into(),
        service_id: "2000099999".into(),
        status,
        start: at(start),
        end: at(end),
    }
}

fn free_slots() -> Vec<SlotView> {
    vec![
        slot(
            "s1",
            "2030-01-01T09:00:00Z",
            "2030-01-01T09:10:00Z",
            SlotStatus::Free,
        ),
        slot(
            "s2",
            "2030-01-01T09:10:00Z",
            "2030-01-01T09:20:00Z",
            SlotStatus::Free,
        ),
        slot(
            "taken",
            "2030-01-01T09:20:00Z",
            "2030-01-01T09:30:00Z",
            SlotStatus::Busy,
        ),
        slot(
            "withdrawn",
            "2030-01-01T09:30:00Z",
            "2030-01-01T09:40:00Z",
            SlotStatus::BusyUnavailable,
        ),
        slot(
            "past",
            "2030-01-01T07:00:00Z",
            "2030-01-01T07:10:00Z",
            SlotStatus::Free,
        ),
    ]
}

fn booked_in(slot_id: &str, start: &str, end: &str) -> Requested {
    Requested {
        status: AppointmentStatus::Booked,
        slots: vec![slot_id.into()],
        start: Some(at(start)),
        end: Some(at(end)),
        patient: patient(),
        replaces: vec![],
    }
}

fn current(status: AppointmentStatus, held: &[&str]) -> Current {
    Current {
        id: "a1".into(),
        version: 3,
        status,
        held_slots: held.iter().map(|s| s.to_string()).collect(),
        start: Some(at("2030-01-01T09:00:00Z")),
        end: Some(at("2030-01-01T09:10:00Z")),
        patient: patient(),
        service_id: if held.is_empty() {
            None
        } else {
            Some("2000099999".into())
        },
        last_updated: at("2029-12-31T10:00:00Z"),
    }
}

#[test]
fn booking_a_free_slot_claims_it_and_creates_a_pointer() {
    let plan = decide_create(
        &Scope::Receiver,
        &booked_in("s1", "2030-01-01T09:00:00Z", "2030-01-01T09:10:00Z"),
        &free_slots(),
        &[],
        now(),
        Rules::default(),
    )
    .unwrap();
    assert_eq!(plan.event, Event::Booked);
    assert_eq!(plan.claim, vec!["s1"]);
    assert_eq!(plan.held, vec!["s1"]);
    assert_eq!(plan.service_id.as_deref(), Some("2000099999"));
    assert_eq!(plan.pointer, Some(PointerAction::Create));
}

#[test]
fn slots_that_are_not_free_or_have_started_cannot_be_booked() {
    for (id, start, end) in [
        ("taken", "2030-01-01T09:20:00Z", "2030-01-01T09:30:00Z"),
        ("withdrawn", "2030-01-01T09:30:00Z", "2030-01-01T09:40:00Z"),
        ("past", "2030-01-01T07:00:00Z", "2030-01-01T07:10:00Z"),
    ] {
        let err = decide_create(
            &Scope::Receiver,
            &booked_in(id, start, end),
            &free_slots(),
            &[],
            now(),
            Rules::default(),
        )
        .unwrap_err();
        assert!(
            matches!(err, DomainError::SlotUnavailable { .. }),
            "{id}: {err:?}"
        );
    }
    let lenient = Rules {
        refuse_started_slots: false,
        ..Rules::default()
    };
    decide_create(
        &Scope::Receiver,
        &booked_in("past", "2030-01-01T07:00:00Z", "2030-01-01T07:10:00Z"),
        &free_slots(),
        &[],
        now(),
        lenient,
    )
    .unwrap();
}

#[test]
fn unknown_slot_is_not_found() {
    let err = decide_create(
        &Scope::Receiver,
        &booked_in("nope", "2030-01-01T09:00:00Z", "2030-01-01T09:10:00Z"),
        &free_slots(),
        &[],
        now(),
        Rules::default(),
    )
    .unwrap_err();
    assert_eq!(
        err,
        DomainError::NotFound {
            what: "Slot/nope".into()
        }
    );
}

#[test]
fn the_appointment_must_lie_within_its_slot_unless_relaxed() {
    let req = booked_in("s1", "2030-01-01T09:05:00Z", "2030-01-01T09:15:00Z");
    let err = decide_create(
        &Scope::Receiver,
        &req,
        &free_slots(),
        &[],
        now(),
        Rules::default(),
    )
    .unwrap_err();
    assert!(matches!(
        err,
        DomainError::Invalid {
            fault: Fault::Invariant,
            ..
        }
    ));
    let lenient = Rules {
        appointment_within_slot: false,
        ..Rules::default()
    };
    decide_create(&Scope::Receiver, &req, &free_slots(), &[], now(), lenient).unwrap();
}

#[test]
fn a_booking_spanning_two_adjacent_slots_is_within_them() {
    let mut req = booked_in("s1", "2030-01-01T09:00:00Z", "2030-01-01T09:20:00Z");
    req.slots.push("s2".into());
    let plan = decide_create(
        &Scope::Receiver,
        &req,
        &free_slots(),
        &[],
        now(),
        Rules::default(),
    )
    .unwrap();
    assert_eq!(plan.claim, vec!["s1", "s2"]);
    req.slots.push("s1".into());
    assert!(matches!(
        decide_create(
            &Scope::Receiver,
            &req,
            &free_slots(),
            &[],
            now(),
            Rules::default()
        ),
        Err(DomainError::Invalid {
            fault: Fault::Value,
            ..
        })
    ));
}

#[test]
fn a_new_appointment_must_be_booked_or_a_placeholder() {
    for status in [
        AppointmentStatus::Cancelled,
        AppointmentStatus::EnteredInError,
        AppointmentStatus::Arrived,
        AppointmentStatus::Fulfilled,
    ] {
        let mut req = booked_in("s1", "2030-01-01T09:00:00Z", "2030-01-01T09:10:00Z");
        req.status = status;
        let err = decide_create(
            &Scope::Receiver,
            &req,
            &free_slots(),
            &[],
            now(),
            Rules::default(),
        )
        .unwrap_err();
        assert!(
            matches!(
                err,
                DomainError::Invalid {
                    fault: Fault::Invariant,
                    ..
                }
            ),
            "{status}"
        );
    }
    let waitlist = Requested {
        status: AppointmentStatus::Waitlist,
        slots: vec![],
        start: None,
        end: None,
        patient: patient(),
        replaces: vec![],
    };
    let plan = decide_create(
        &Scope::Receiver,
        &waitlist,
        &[],
        &[],
        now(),
        Rules::default(),
    )
    .unwrap();
    assert_eq!(plan.event, Event::Placeholder);
    assert!(plan.claim.is_empty() && plan.pointer.is_none());
}

#[test]
fn a_patient_without_an_nhs_number_is_refused() {
    let mut req = booked_in("s1", "2030-01-01T09:00:00Z", "2030-01-01T09:10:00Z");
    req.patient = None;
    assert!(matches!(
        decide_create(
            &Scope::Receiver,
            &req,
            &free_slots(),
            &[],
            now(),
            Rules::default()
        ),
        Err(DomainError::BusinessRule(_))
    ));
}

#[test]
fn rebook_provenance_is_checked() {
    let mut req = booked_in("s2", "2030-01-01T09:10:00Z", "2030-01-01T09:20:00Z");
    req.replaces = vec!["a1".into()];
    // the old booking may still be booked (book first) or already cancelled (cancel first)
    for status in [AppointmentStatus::Booked, AppointmentStatus::Cancelled] {
        decide_create(
            &Scope::Receiver,
            &req,
            &free_slots(),
            &[current(status, &["s1"])],
            now(),
            Rules::default(),
        )
        .unwrap();
    }
    let err = decide_create(
        &Scope::Receiver,
        &req,
        &free_slots(),
        &[],
        now(),
        Rules::default(),
    )
    .unwrap_err();
    assert!(matches!(
        err,
        DomainError::Invalid {
            fault: Fault::Value,
            ..
        }
    ));
    let mut other_patient = current(AppointmentStatus::Booked, &["s1"]);
    other_patient.patient = Some(NhsNumber::parse("4409815415").unwrap());
    assert!(
        decide_create(
            &Scope::Receiver,
            &req,
            &free_slots(),
            &[other_patient],
            now(),
            Rules::default()
        )
        .is_err()
    );
    let mut other_service = current(AppointmentStatus::Booked, &["s1"]);
    other_service.service_id = Some("elsewhere".into());
    assert!(
        decide_create(
            &Scope::Receiver,
            &req,
            &free_slots(),
            &[other_service],
            now(),
            Rules::default()
        )
        .is_err()
    );
    assert!(
        decide_create(
            &Scope::Receiver,
            &req,
            &free_slots(),
            &[current(AppointmentStatus::EnteredInError, &[])],
            now(),
            Rules::default()
        )
        .is_err()
    );
}

#[test]
fn cancelling_a_booking_releases_its_slots_and_deletes_the_pointer() {
    for status in [
        AppointmentStatus::Cancelled,
        AppointmentStatus::EnteredInError,
    ] {
        let mut req = booked_in("s1", "2030-01-01T09:00:00Z", "2030-01-01T09:10:00Z");
        req.status = status;
        let plan = decide_update(
            &Scope::Receiver,
            &current(AppointmentStatus::Booked, &["s1"]),
            &req,
            &free_slots(),
            &[],
            now(),
            Rules::default(),
        )
        .unwrap();
        assert_eq!(plan.event, Event::Cancelled);
        assert_eq!(plan.release, vec!["s1"]);
        assert!(plan.held.is_empty());
        assert_eq!(plan.pointer, Some(PointerAction::Delete));
    }
}

#[test]
fn cancelling_a_placeholder_touches_no_pointer() {
    let mut req = booked_in("s1", "2030-01-01T09:00:00Z", "2030-01-01T09:10:00Z");
    req.status = AppointmentStatus::Cancelled;
    let plan = decide_update(
        &Scope::Receiver,
        &current(AppointmentStatus::Waitlist, &[]),
        &req,
        &[],
        &[],
        now(),
        Rules::default(),
    )
    .unwrap();
    assert_eq!(plan.pointer, None);
}

#[test]
fn rescheduling_moves_slots_and_updates_the_pointer() {
    let req = booked_in("s2", "2030-01-01T09:10:00Z", "2030-01-01T09:20:00Z");
    let plan = decide_update(
        &Scope::Receiver,
        &current(AppointmentStatus::Booked, &["s1"]),
        &req,
        &free_slots(),
        &[],
        now(),
        Rules::default(),
    )
    .unwrap();
    assert_eq!(plan.event, Event::Rescheduled);
    assert_eq!(plan.claim, vec!["s2"]);
    assert_eq!(plan.release, vec!["s1"]);
    assert_eq!(plan.pointer, Some(PointerAction::Update));
}

#[test]
fn updating_details_in_the_same_slot_needs_no_slot_change() {
    let mut slots = free_slots();
    slots[0].status = SlotStatus::Busy; // held by this very appointment
    let req = booked_in("s1", "2030-01-01T09:00:00Z", "2030-01-01T09:10:00Z");
    let plan = decide_update(
        &Scope::Receiver,
        &current(AppointmentStatus::Booked, &["s1"]),
        &req,
        &slots,
        &[],
        now(),
        Rules::default(),
    )
    .unwrap();
    assert_eq!(plan.event, Event::Updated);
    assert!(plan.claim.is_empty() && plan.release.is_empty());
    assert_eq!(plan.pointer, None);
}

#[test]
fn moving_to_a_taken_slot_conflicts() {
    let req = booked_in("taken", "2030-01-01T09:20:00Z", "2030-01-01T09:30:00Z");
    let err = decide_update(
        &Scope::Receiver,
        &current(AppointmentStatus::Booked, &["s1"]),
        &req,
        &free_slots(),
        &[],
        now(),
        Rules::default(),
    )
    .unwrap_err();
    assert!(matches!(err, DomainError::SlotUnavailable { .. }));
}

#[test]
fn booking_a_placeholder_claims_and_creates_the_pointer() {
    let req = booked_in("s1", "2030-01-01T09:00:00Z", "2030-01-01T09:10:00Z");
    let plan = decide_update(
        &Scope::Receiver,
        &current(AppointmentStatus::Waitlist, &[]),
        &req,
        &free_slots(),
        &[],
        now(),
        Rules::default(),
    )
    .unwrap();
    assert_eq!(plan.event, Event::Booked);
    assert_eq!(plan.claim, vec!["s1"]);
    assert_eq!(plan.pointer, Some(PointerAction::Create));
}

#[test]
fn ended_and_attended_appointments_are_not_current() {
    let req = booked_in("s1", "2030-01-01T09:00:00Z", "2030-01-01T09:10:00Z");
    for status in [
        AppointmentStatus::Cancelled,
        AppointmentStatus::EnteredInError,
        AppointmentStatus::Fulfilled,
        AppointmentStatus::Noshow,
        AppointmentStatus::Arrived,
        AppointmentStatus::CheckedIn,
    ] {
        let err = decide_update(
            &Scope::Receiver,
            &current(status, &[]),
            &req,
            &free_slots(),
            &[],
            now(),
            Rules::default(),
        )
        .unwrap_err();
        assert_eq!(err, DomainError::NotCurrent { status });
    }
}

#[test]
fn senders_cannot_request_attendance_or_step_back_to_a_placeholder() {
    let booked = current(AppointmentStatus::Booked, &["s1"]);
    for status in [
        AppointmentStatus::Arrived,
        AppointmentStatus::Fulfilled,
        AppointmentStatus::Noshow,
        AppointmentStatus::CheckedIn,
        AppointmentStatus::Waitlist,
    ] {
        let mut req = booked_in("s1", "2030-01-01T09:00:00Z", "2030-01-01T09:10:00Z");
        req.status = status;
        let err = decide_update(
            &Scope::Receiver,
            &booked,
            &req,
            &free_slots(),
            &[],
            now(),
            Rules::default(),
        )
        .unwrap_err();
        assert!(
            matches!(
                err,
                DomainError::Invalid {
                    fault: Fault::Invariant,
                    ..
                }
            ),
            "{status}"
        );
    }
}

#[test]
fn the_patient_cannot_change() {
    let mut req = booked_in("s1", "2030-01-01T09:00:00Z", "2030-01-01T09:10:00Z");
    req.patient = Some(NhsNumber::parse("4409815415").unwrap());
    let err = decide_update(
        &Scope::Receiver,
        &current(AppointmentStatus::Booked, &["s1"]),
        &req,
        &free_slots(),
        &[],
        now(),
        Rules::default(),
    )
    .unwrap_err();
    assert!(matches!(err, DomainError::BusinessRule(_)));
}

#[test]
fn freshness_if_match_then_last_updated() {
    let c = current(AppointmentStatus::Booked, &["s1"]);
    check_freshness(&c, Some(3), None).unwrap();
    assert_eq!(
        check_freshness(&c, Some(2), None),
        Err(DomainError::PreconditionFailed { current: 3 })
    );
    assert_eq!(
        check_freshness(&c, None, Some(at("2029-12-31T09:59:59Z"))),
        Err(DomainError::Stale)
    );
    check_freshness(&c, None, Some(at("2029-12-31T10:00:00Z"))).unwrap();
    check_freshness(&c, None, None).unwrap();
}

fn addressed_to(service: &str) -> Scope {
    Scope::Service(service.into())
}

#[test]
fn another_services_slot_is_answered_as_an_unknown_slot() {
    let req = booked_in("s1", "2030-01-01T09:00:00Z", "2030-01-01T09:10:00Z");
    let unknown = decide_create(
        &addressed_to("2000099999"),
        &booked_in("nope", "2030-01-01T09:00:00Z", "2030-01-01T09:10:00Z"),
        &free_slots(),
        &[],
        now(),
        Rules::default(),
    )
    .unwrap_err();
    let foreign = decide_create(
        &addressed_to("elsewhere"),
        &req,
        &free_slots(),
        &[],
        now(),
        Rules::default(),
    )
    .unwrap_err();
    assert_eq!(
        foreign,
        DomainError::NotFound {
            what: "Slot/s1".into()
        }
    );
    assert!(matches!(unknown, DomainError::NotFound { .. }));
    // Moving a booking of the addressed service into another's slot: the same answer.
    let mut theirs = free_slots();
    theirs[1].service_id = "elsewhere".into();
    let err = decide_update(
        &addressed_to("2000099999"),
        &current(AppointmentStatus::Booked, &["s1"]),
        &booked_in("s2", "2030-01-01T09:10:00Z", "2030-01-01T09:20:00Z"),
        &theirs,
        &[],
        now(),
        Rules::default(),
    )
    .unwrap_err();
    assert_eq!(
        err,
        DomainError::NotFound {
            what: "Slot/s2".into()
        }
    );
    decide_create(
        &addressed_to("2000099999"),
        &req,
        &free_slots(),
        &[],
        now(),
        Rules::default(),
    )
    .unwrap();
}

#[test]
fn another_services_appointment_is_not_found() {
    let req = booked_in("s1", "2030-01-01T09:00:00Z", "2030-01-01T09:10:00Z");
    let mut cancel = req.clone();
    cancel.status = AppointmentStatus::Cancelled;
    for r in [&req, &cancel] {
        let err = decide_update(
            &addressed_to("elsewhere"),
            &current(AppointmentStatus::Booked, &["s1"]),
            r,
            &free_slots(),
            &[],
            now(),
            Rules::default(),
        )
        .unwrap_err();
        assert_eq!(
            err,
            DomainError::NotFound {
                what: "Appointment/a1".into()
            }
        );
    }
    // A placeholder created unaddressed has no owner: no service can see it.
    let err = decide_update(
        &addressed_to("2000099999"),
        &current(AppointmentStatus::Waitlist, &[]),
        &cancel,
        &[],
        &[],
        now(),
        Rules::default(),
    )
    .unwrap_err();
    assert!(matches!(err, DomainError::NotFound { .. }));
}

#[test]
fn a_placeholder_belongs_to_the_service_it_was_addressed_to() {
    let waitlist = Requested {
        status: AppointmentStatus::Waitlist,
        slots: vec![],
        start: None,
        end: None,
        patient: patient(),
        replaces: vec![],
    };
    let plan = decide_create(
        &addressed_to("2000099999"),
        &waitlist,
        &[],
        &[],
        now(),
        Rules::default(),
    )
    .unwrap();
    assert_eq!(plan.service_id.as_deref(), Some("2000099999"));
    // ... and keeps it when it changes.
    let mut owned = current(AppointmentStatus::Waitlist, &[]);
    owned.service_id = Some("2000099999".into());
    let mut proposed = waitlist.clone();
    proposed.status = AppointmentStatus::Proposed;
    let plan = decide_update(
        &addressed_to("2000099999"),
        &owned,
        &proposed,
        &[],
        &[],
        now(),
        Rules::default(),
    )
    .unwrap();
    assert_eq!(plan.service_id.as_deref(), Some("2000099999"));
}

#[test]
fn another_services_appointment_cannot_be_replaced() {
    let mut req = booked_in("s2", "2030-01-01T09:10:00Z", "2030-01-01T09:20:00Z");
    req.replaces = vec!["a1".into()];
    let mut theirs = current(AppointmentStatus::Booked, &["s1"]);
    theirs.service_id = Some("elsewhere".into());
    let foreign = decide_create(
        &addressed_to("2000099999"),
        &req,
        &free_slots(),
        &[theirs],
        now(),
        Rules::default(),
    )
    .unwrap_err();
    let absent = decide_create(
        &addressed_to("2000099999"),
        &req,
        &free_slots(),
        &[],
        now(),
        Rules::default(),
    )
    .unwrap_err();
    assert_eq!(foreign, absent);
}
