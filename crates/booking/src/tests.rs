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
        CoreVersion::V1_1_6,
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
            CoreVersion::V1_1_6,
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
        CoreVersion::V1_1_6,
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
        CoreVersion::V1_1_6,
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
        CoreVersion::V1_1_6,
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
    decide_create(
        &Scope::Receiver,
        CoreVersion::V1_1_6,
        &req,
        &free_slots(),
        &[],
        now(),
        lenient,
    )
    .unwrap();
}

#[test]
fn a_booking_spanning_two_adjacent_slots_is_within_them() {
    let mut req = booked_in("s1", "2030-01-01T09:00:00Z", "2030-01-01T09:20:00Z");
    req.slots.push("s2".into());
    let plan = decide_create(
        &Scope::Receiver,
        CoreVersion::V1_1_6,
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
            CoreVersion::V1_1_6,
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
            CoreVersion::V1_1_6,
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
        CoreVersion::V1_1_6,
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
            CoreVersion::V1_1_6,
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
            CoreVersion::V1_1_6,
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
        CoreVersion::V1_1_6,
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
            CoreVersion::V1_1_6,
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
            CoreVersion::V1_1_6,
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
            CoreVersion::V1_1_6,
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
            &EditRequest::new(CoreVersion::V1_1_6, EditKind::Update, &[]),
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
        &EditRequest::new(CoreVersion::V1_1_6, EditKind::Update, &[]),
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
        &EditRequest::new(CoreVersion::V1_1_6, EditKind::Update, &[]),
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
        &EditRequest::new(CoreVersion::V1_1_6, EditKind::Update, &[]),
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
        &EditRequest::new(CoreVersion::V1_1_6, EditKind::Update, &[]),
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
        &EditRequest::new(CoreVersion::V1_1_6, EditKind::Update, &[]),
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
            &EditRequest::new(CoreVersion::V1_1_6, EditKind::Update, &[]),
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
            &EditRequest::new(CoreVersion::V1_1_6, EditKind::Update, &[]),
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
        &EditRequest::new(CoreVersion::V1_1_6, EditKind::Update, &[]),
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
        CoreVersion::V1_1_6,
        &booked_in("nope", "2030-01-01T09:00:00Z", "2030-01-01T09:10:00Z"),
        &free_slots(),
        &[],
        now(),
        Rules::default(),
    )
    .unwrap_err();
    let foreign = decide_create(
        &addressed_to("elsewhere"),
        CoreVersion::V1_1_6,
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
        &EditRequest::new(CoreVersion::V1_1_6, EditKind::Update, &[]),
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
        CoreVersion::V1_1_6,
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
            &EditRequest::new(CoreVersion::V1_1_6, EditKind::Update, &[]),
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
        &EditRequest::new(CoreVersion::V1_1_6, EditKind::Update, &[]),
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
        CoreVersion::V1_1_6,
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
        &EditRequest::new(CoreVersion::V1_1_6, EditKind::Update, &[]),
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
        CoreVersion::V1_1_6,
        &req,
        &free_slots(),
        &[theirs],
        now(),
        Rules::default(),
    )
    .unwrap_err();
    let absent = decide_create(
        &addressed_to("2000099999"),
        CoreVersion::V1_1_6,
        &req,
        &free_slots(),
        &[],
        now(),
        Rules::default(),
    )
    .unwrap_err();
    assert_eq!(foreign, absent);
}

// ---- Core 1.5.0 rules (delta section 2), beside the 1.1.6 behaviour they replace ----

fn edit(version: CoreVersion, kind: EditKind, changed: &[String]) -> EditRequest<'_> {
    EditRequest::new(version, kind, changed)
}

fn update_under(
    version: CoreVersion,
    kind: EditKind,
    changed: &[String],
    current_status: AppointmentStatus,
    req: &Requested,
) -> Result<Plan, DomainError> {
    let held: &[&str] = if current_status.holds_slot() {
        &["s1"]
    } else {
        &[]
    };
    decide_update(
        &Scope::Receiver,
        &edit(version, kind, changed),
        &current(current_status, held),
        req,
        &free_slots(),
        &[],
        now(),
        Rules::default(),
    )
}

fn invariant_at(result: Result<Plan, DomainError>, at: &str) {
    match result {
        Err(DomainError::Invalid {
            fault: Fault::Invariant,
            expression: Some(x),
            ..
        }) => assert_eq!(x, at),
        other => panic!("expected 400 invariant at {at}, got {other:?}"),
    }
}

#[test]
fn a_placeholder_is_created_under_1_1_6_only() {
    let waitlist = Requested {
        status: AppointmentStatus::Waitlist,
        slots: vec![],
        start: None,
        end: None,
        patient: patient(),
        replaces: vec![],
    };
    let create = |version, rules| {
        decide_create(&Scope::Receiver, version, &waitlist, &[], &[], now(), rules)
    };
    assert!(create(CoreVersion::V1_1_6, Rules::default()).is_ok());
    invariant_at(
        create(CoreVersion::V1_5_0, Rules::default()),
        "Appointment.status",
    );
    let flagged = Rules {
        placeholders_under_1_5: true,
        ..Rules::default()
    };
    assert!(create(CoreVersion::V1_5_0, flagged).is_ok());
}

#[test]
fn a_1_5_0_put_changes_status_and_reason_only() {
    let same = booked_in("s1", "2030-01-01T09:00:00Z", "2030-01-01T09:10:00Z");
    let reason = vec!["reasonCode".to_string()];
    let plan = update_under(
        CoreVersion::V1_5_0,
        EditKind::Update,
        &reason,
        AppointmentStatus::Booked,
        &same,
    )
    .unwrap();
    assert_eq!((plan.event, plan.pointer), (Event::Updated, None));

    let moved = booked_in("s2", "2030-01-01T09:10:00Z", "2030-01-01T09:20:00Z");
    invariant_at(
        update_under(
            CoreVersion::V1_5_0,
            EditKind::Update,
            &[],
            AppointmentStatus::Booked,
            &moved,
        ),
        "Appointment.slot",
    );
    let described = vec!["description".to_string()];
    invariant_at(
        update_under(
            CoreVersion::V1_5_0,
            EditKind::Update,
            &described,
            AppointmentStatus::Booked,
            &same,
        ),
        "Appointment.description",
    );
    // Under 1.1.6 the same PUTs are a reschedule and a plain update.
    let plan = update_under(
        CoreVersion::V1_1_6,
        EditKind::Update,
        &described,
        AppointmentStatus::Booked,
        &moved,
    )
    .unwrap();
    assert_eq!(plan.event, Event::Rescheduled);
}

#[test]
fn a_1_5_0_cancel_may_give_a_reason_and_nothing_else() {
    let mut cancel = booked_in("s1", "2030-01-01T09:00:00Z", "2030-01-01T09:10:00Z");
    cancel.status = AppointmentStatus::Cancelled;
    let reasons = vec!["reasonCode".to_string(), "cancelationReason".to_string()];
    let plan = update_under(
        CoreVersion::V1_5_0,
        EditKind::Update,
        &reasons,
        AppointmentStatus::Booked,
        &cancel,
    )
    .unwrap();
    assert_eq!(plan.event, Event::Cancelled);
    assert_eq!(plan.pointer, Some(PointerAction::Delete));
    let participant = vec!["participant".to_string()];
    invariant_at(
        update_under(
            CoreVersion::V1_5_0,
            EditKind::Update,
            &participant,
            AppointmentStatus::Booked,
            &cancel,
        ),
        "Appointment.participant",
    );
    // cancelationReason belongs to a cancellation only.
    let same = booked_in("s1", "2030-01-01T09:00:00Z", "2030-01-01T09:10:00Z");
    let why = vec!["cancelationReason".to_string()];
    invariant_at(
        update_under(
            CoreVersion::V1_5_0,
            EditKind::Update,
            &why,
            AppointmentStatus::Booked,
            &same,
        ),
        "Appointment.cancelationReason",
    );
}

#[test]
fn under_1_5_0_only_a_booked_appointment_is_current() {
    let same = booked_in("s1", "2030-01-01T09:00:00Z", "2030-01-01T09:10:00Z");
    for kind in [EditKind::Update, EditKind::Reschedule, EditKind::Cancel] {
        let err = update_under(
            CoreVersion::V1_5_0,
            kind,
            &[],
            AppointmentStatus::Waitlist,
            &same,
        )
        .unwrap_err();
        assert!(matches!(err, DomainError::NotCurrent { .. }), "{kind:?}");
    }
    // 1.1.6 books a waitlist placeholder by PUT.
    let plan = update_under(
        CoreVersion::V1_1_6,
        EditKind::Update,
        &[],
        AppointmentStatus::Waitlist,
        &same,
    )
    .unwrap();
    assert_eq!(plan.event, Event::Booked);
}

#[test]
fn a_1_5_0_put_may_not_set_another_status() {
    let mut proposed = booked_in("s1", "2030-01-01T09:00:00Z", "2030-01-01T09:10:00Z");
    proposed.status = AppointmentStatus::Proposed;
    invariant_at(
        update_under(
            CoreVersion::V1_5_0,
            EditKind::Update,
            &[],
            AppointmentStatus::Booked,
            &proposed,
        ),
        "Appointment.status",
    );
}

#[test]
fn a_1_5_0_reschedule_derives_its_times_from_the_new_slot() {
    // The sender named the new slot only: the times are still the old slot's.
    let only_slot = booked_in("s2", "2030-01-01T09:00:00Z", "2030-01-01T09:10:00Z");
    let plan = update_under(
        CoreVersion::V1_5_0,
        EditKind::Reschedule,
        &[],
        AppointmentStatus::Booked,
        &only_slot,
    )
    .unwrap();
    assert_eq!(plan.event, Event::Rescheduled);
    assert_eq!(
        (plan.claim.clone(), plan.release.clone()),
        (vec!["s2".into()], vec!["s1".into()])
    );
    assert_eq!(
        plan.times,
        Some((at("2030-01-01T09:10:00Z"), at("2030-01-01T09:20:00Z")))
    );
    assert_eq!(plan.pointer, Some(PointerAction::Update));
    // Under 1.1.6 the old times are outside the new slot.
    invariant_at(
        update_under(
            CoreVersion::V1_1_6,
            EditKind::Reschedule,
            &[],
            AppointmentStatus::Booked,
            &only_slot,
        ),
        "Appointment.start",
    );
    // Times given must lie within the new slot.
    let outside = booked_in("s2", "2030-01-01T09:00:00Z", "2030-01-01T09:20:00Z");
    invariant_at(
        update_under(
            CoreVersion::V1_5_0,
            EditKind::Reschedule,
            &[],
            AppointmentStatus::Booked,
            &outside,
        ),
        "Appointment.start",
    );
}

#[test]
fn a_1_5_0_reschedule_changes_nothing_but_the_slot() {
    let moved = booked_in("s2", "2030-01-01T09:10:00Z", "2030-01-01T09:20:00Z");
    let duration = vec!["minutesDuration".to_string()];
    assert!(
        update_under(
            CoreVersion::V1_5_0,
            EditKind::Reschedule,
            &duration,
            AppointmentStatus::Booked,
            &moved,
        )
        .is_ok()
    );
    let reason = vec!["reasonCode".to_string()];
    invariant_at(
        update_under(
            CoreVersion::V1_5_0,
            EditKind::Reschedule,
            &reason,
            AppointmentStatus::Booked,
            &moved,
        ),
        "Appointment.reasonCode",
    );
    let mut cancel = moved.clone();
    cancel.status = AppointmentStatus::Cancelled;
    invariant_at(
        update_under(
            CoreVersion::V1_5_0,
            EditKind::Reschedule,
            &[],
            AppointmentStatus::Booked,
            &cancel,
        ),
        "Appointment.status",
    );
    // A PATCH that changes nothing is a no-op update.
    let same = booked_in("s1", "2030-01-01T09:00:00Z", "2030-01-01T09:10:00Z");
    let plan = update_under(
        CoreVersion::V1_5_0,
        EditKind::Reschedule,
        &[],
        AppointmentStatus::Booked,
        &same,
    )
    .unwrap();
    assert_eq!(
        (plan.event, plan.pointer, plan.times),
        (Event::Updated, None, None)
    );
}

#[test]
fn a_1_5_0_move_to_another_service_is_an_invariant_error() {
    let mut slots = free_slots();
    slots.push(SlotView {
        service_id: "2000088888".into(),
        ..slot(
            "elsewhere",
            "2030-01-01T09:10:00Z",
            "2030-01-01T09:20:00Z",
            SlotStatus::Free,
        )
    });
    let req = booked_in("elsewhere", "2030-01-01T09:10:00Z", "2030-01-01T09:20:00Z");
    let run = |version| {
        decide_update(
            &Scope::Receiver,
            &edit(version, EditKind::Reschedule, &[]),
            &current(AppointmentStatus::Booked, &["s1"]),
            &req,
            &slots,
            &[],
            now(),
            Rules::default(),
        )
    };
    invariant_at(run(CoreVersion::V1_5_0), "Appointment.slot");
    assert!(matches!(
        run(CoreVersion::V1_1_6),
        Err(DomainError::BusinessRule(_))
    ));
}
