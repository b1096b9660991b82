use bars_booking::{AppointmentStatus, PointerAction, SlotStatus};
use bars_fhir::Instant;
use bars_store::*;
use serde_json::json;

use crate::backends;

fn at(s: &str) -> Instant {
    Instant::parse(s).unwrap()
}

/// A resource's first version as its owner stamps it (in the receiver, `availability`).
pub fn first_version(resource_type: &str, id: &str, mut body: serde_json::Value) -> StoredResource {
    let now = Instant::now();
    bars_fhir::resource::stamp(&mut body, id, 1, now);
    StoredResource {
        resource_type: resource_type.into(),
        id: id.into(),
        version: 1,
        last_updated: now,
        body: body.to_string(),
    }
}

/// A schedule's first version, stamped as its owner would.
fn schedule(id: &str, service_id: &str, body: serde_json::Value) -> ScheduleRecord {
    let StoredResource {
        version,
        last_updated,
        body,
        ..
    } = first_version("Schedule", id, body);
    ScheduleRecord {
        id: id.into(),
        service_id: service_id.into(),
        version,
        last_updated,
        body,
        slot_template: "{}".into(),
    }
}

/// A schedule `sch` for service `svc` and `slots` free ten-minute slots from 2030-01-01 09:00,
/// for the tests of both backends and the PostgreSQL-only ones.
pub async fn seed(store: &dyn Store, slots: usize) -> Vec<String> {
    store
        .put_schedule(
            schedule(
                "sch",
                "svc",
                json!({"resourceType": "Schedule", "actor": [{"reference": "HealthcareService/svc"}]}),
            ),
            None,
        )
        .await
        .unwrap();
    let base = at("2030-01-01T09:00:00Z");
    let records: Vec<SlotRecord> = (0..slots)
        .map(|i| SlotRecord {
            id: format!("slot-{i:03}"),
            schedule_id: "sch".into(),
            service_id: "svc".into(),
            status: SlotStatus::Free,
            start: base.plus_seconds(600 * i as i64),
            end: base.plus_seconds(600 * (i as i64 + 1)),
            version: 1,
            last_updated: base,
            extra: None,
        })
        .collect();
    assert_eq!(store.insert_slots(records).await.unwrap(), slots);
    (0..slots).map(|i| format!("slot-{i:03}")).collect()
}

pub fn change(
    id: &str,
    version: u64,
    expected: Option<u64>,
    status: AppointmentStatus,
    claim: &[&str],
    release: &[&str],
    request: &str,
) -> AppointmentChange {
    let now = Instant::now();
    AppointmentChange {
        id: id.into(),
        version,
        expected_version: expected,
        status,
        service_id: Some("svc".into()),
        patient: Some("9434765919".into()),
        start: Some(at("2030-01-01T09:00:00Z")),
        end: Some(at("2030-01-01T09:10:00Z")),
        created: now,
        last_updated: now,
        body: json!({"resourceType": "Appointment", "id": id, "meta": {"versionId": version.to_string()}}).to_string(),
        claim: claim.iter().map(|s| s.to_string()).collect(),
        release: release.iter().map(|s| s.to_string()).collect(),
        pointer: Some(PointerAction::Create),
        idempotency: Some(IdempotencyRecord {
            key: IdempotencyKey { request_id: request.into(), correlation_id: "c".into(), sender: "s".into() },
            outcome: RequestOutcome::Succeeded { location: Some(format!("Appointment/{id}")) },
            recorded: now,
        }),
        audit: AuditEntry { request_id: request.into(), correlation_id: "c".into(), action: "book".into(), resource_type: "Appointment".into(), resource_id: Some(id.into()), outcome: 201, ..Default::default() },
    }
}

async fn slot_status(store: &dyn Store, id: &str) -> SlotStatus {
    store.get_slots(&[id.to_string()]).await.unwrap()[0].status
}

/// Every read of an appointment names the slots it holds now, in id order, and no other: by
/// id, by several ids, by patient and in a scan, after a booking of two and a move of one.
#[tokio::test]
async fn every_read_of_an_appointment_names_the_slots_it_holds() {
    for (name, store, _keep) in backends().await {
        let slots = seed(store.as_ref(), 3).await;
        let mut sorted = slots.clone();
        sorted.sort();
        let (first, second, third) = (&sorted[0], &sorted[1], &sorted[2]);
        store
            .commit_appointment(change(
                "a1",
                1,
                None,
                AppointmentStatus::Booked,
                &[third, first],
                &[],
                "r1",
            ))
            .await
            .unwrap();
        store
            .commit_appointment(change(
                "a1",
                2,
                Some(1),
                AppointmentStatus::Booked,
                &[second],
                &[first],
                "r2",
            ))
            .await
            .unwrap();
        let held = vec![second.clone(), third.clone()];
        let one = store.get_appointment("a1").await.unwrap().unwrap();
        assert_eq!(one.held_slots, held, "{name}: by id");
        let many = store
            .get_appointments(&["a1".to_string(), "a1".to_string()])
            .await
            .unwrap();
        assert!(
            many.iter().all(|a| a.held_slots == held) && many.len() == 2,
            "{name}: by ids"
        );
        let page = store
            .appointments_for_patient(AppointmentQuery {
                patient: "9434765919".into(),
                service: None,
                after: None,
                limit: 10,
            })
            .await
            .unwrap();
        assert_eq!(page.appointments[0].held_slots, held, "{name}: by patient");
        let scanned = store
            .scan_appointments(AppointmentScan {
                service: None,
                body_contains: None,
                after: None,
                limit: 10,
            })
            .await
            .unwrap();
        assert_eq!(scanned[0].held_slots, held, "{name}: in a scan");
    }
}

#[tokio::test]
async fn a_booking_claims_its_slot_and_records_everything() {
    for (name, store, _keep) in backends().await {
        let slots = seed(store.as_ref(), 3).await;
        store
            .commit_appointment(change(
                "a1",
                1,
                None,
                AppointmentStatus::Booked,
                &[&slots[0]],
                &[],
                "r1",
            ))
            .await
            .unwrap();
        assert_eq!(
            slot_status(store.as_ref(), &slots[0]).await,
            SlotStatus::Busy,
            "{name}"
        );
        let a = store.get_appointment("a1").await.unwrap().unwrap();
        assert_eq!(
            (a.version, a.held_slots.clone()),
            (1, vec![slots[0].clone()]),
            "{name}"
        );
        let key = IdempotencyKey {
            request_id: "r1".into(),
            correlation_id: "c".into(),
            sender: "s".into(),
        };
        assert!(
            matches!(
                store.find_request(&key).await.unwrap().unwrap().outcome,
                RequestOutcome::Succeeded { .. }
            ),
            "{name}"
        );
        assert_eq!(
            store
                .query_audit(AuditQuery {
                    resource_id: Some("a1".into()),
                    ..Default::default()
                })
                .await
                .unwrap()
                .len(),
            1,
            "{name}"
        );
    }
}

/// A search addressed to one service sees only that service's appointments, and its total
/// counts only those (a total over every service would tell a sender about the others).
#[tokio::test]
async fn a_patients_appointments_can_be_limited_to_one_service() {
    for (name, store, _keep) in backends().await {
        let slots = seed(store.as_ref(), 3).await;
        for (i, owner) in [Some("svc"), Some("other"), None].into_iter().enumerate() {
            let held: &[&str] = if owner == Some("svc") {
                &[&slots[0]]
            } else {
                &[]
            };
            let mut c = change(
                &format!("a{i}"),
                1,
                None,
                if owner == Some("svc") {
                    AppointmentStatus::Booked
                } else {
                    AppointmentStatus::Waitlist
                },
                held,
                &[],
                &format!("r{i}"),
            );
            c.service_id = owner.map(str::to_string);
            c.pointer = None;
            store.commit_appointment(c).await.unwrap();
        }
        let ids = |found: &[AppointmentRecord]| -> Vec<String> {
            found.iter().map(|a| a.id.clone()).collect()
        };
        let of = |service: Option<&str>| {
            let query = AppointmentQuery {
                patient: "9434765919".into(),
                service: service.map(str::to_string),
                after: None,
                limit: 10,
            };
            let store = store.clone();
            async move {
                let page = store.appointments_for_patient(query).await.unwrap();
                (page.appointments, page.total)
            }
        };
        let (all, total) = of(None).await;
        assert_eq!((all.len(), total), (3, 3), "{name}");
        let (svc, total) = of(Some("svc")).await;
        assert_eq!((ids(&svc), total), (vec!["a0".to_string()], 1), "{name}");
        let (other, total) = of(Some("other")).await;
        assert_eq!((ids(&other), total), (vec!["a1".to_string()], 1), "{name}");
        let (none, total) = of(Some("nobody")).await;
        assert!(none.is_empty() && total == 0, "{name}");
    }
}

#[tokio::test]
async fn a_refused_change_writes_nothing() {
    for (name, store, _keep) in backends().await {
        let slots = seed(store.as_ref(), 3).await;
        store
            .commit_appointment(change(
                "a1",
                1,
                None,
                AppointmentStatus::Booked,
                &[&slots[0]],
                &[],
                "r1",
            ))
            .await
            .unwrap();
        // Second booking claims a free slot and the taken one: the whole change is refused.
        let err = store
            .commit_appointment(change(
                "a2",
                1,
                None,
                AppointmentStatus::Booked,
                &[&slots[1], &slots[0]],
                &[],
                "r2",
            ))
            .await
            .unwrap_err();
        assert_eq!(
            err,
            CommitError::SlotUnavailable(slots[0].clone()),
            "{name}"
        );
        assert!(
            store.get_appointment("a2").await.unwrap().is_none(),
            "{name}"
        );
        assert_eq!(
            slot_status(store.as_ref(), &slots[1]).await,
            SlotStatus::Free,
            "{name}: the first claim was rolled back"
        );
        let key = IdempotencyKey {
            request_id: "r2".into(),
            correlation_id: "c".into(),
            sender: "s".into(),
        };
        assert!(store.find_request(&key).await.unwrap().is_none(), "{name}");
        assert!(
            store
                .query_audit(AuditQuery {
                    resource_id: Some("a2".into()),
                    ..Default::default()
                })
                .await
                .unwrap()
                .is_empty(),
            "{name}"
        );
    }
}

#[tokio::test]
async fn duplicates_and_stale_versions_are_refused() {
    for (name, store, _keep) in backends().await {
        let slots = seed(store.as_ref(), 3).await;
        store
            .commit_appointment(change(
                "a1",
                1,
                None,
                AppointmentStatus::Booked,
                &[&slots[0]],
                &[],
                "r1",
            ))
            .await
            .unwrap();
        let dup = store
            .commit_appointment(change(
                "a9",
                1,
                None,
                AppointmentStatus::Booked,
                &[&slots[1]],
                &[],
                "r1",
            ))
            .await
            .unwrap_err();
        assert_eq!(dup, CommitError::Duplicate, "{name}");
        assert_eq!(
            slot_status(store.as_ref(), &slots[1]).await,
            SlotStatus::Free,
            "{name}"
        );
        // Move a1 to slot 1 at version 2; then a stale write expecting version 1 fails.
        store
            .commit_appointment(change(
                "a1",
                2,
                Some(1),
                AppointmentStatus::Booked,
                &[&slots[1]],
                &[&slots[0]],
                "r3",
            ))
            .await
            .unwrap();
        assert_eq!(
            slot_status(store.as_ref(), &slots[0]).await,
            SlotStatus::Free,
            "{name}"
        );
        assert_eq!(
            slot_status(store.as_ref(), &slots[1]).await,
            SlotStatus::Busy,
            "{name}"
        );
        let stale = store
            .commit_appointment(change(
                "a1",
                2,
                Some(1),
                AppointmentStatus::Cancelled,
                &[],
                &[&slots[1]],
                "r4",
            ))
            .await
            .unwrap_err();
        assert_eq!(stale, CommitError::VersionConflict, "{name}");
        assert_eq!(
            slot_status(store.as_ref(), &slots[1]).await,
            SlotStatus::Busy,
            "{name}"
        );
        let history = store
            .appointment_history(HistoryQuery {
                id: "a1".into(),
                before: None,
                limit: 10,
            })
            .await
            .unwrap();
        assert_eq!((history.versions.len(), history.total), (2, 2), "{name}");
    }
}

#[tokio::test]
async fn the_unique_index_holds_even_if_a_slot_is_marked_free_by_mistake() {
    for (name, store, _keep) in backends().await {
        let slots = seed(store.as_ref(), 1).await;
        store
            .commit_appointment(change(
                "a1",
                1,
                None,
                AppointmentStatus::Booked,
                &[&slots[0]],
                &[],
                "r1",
            ))
            .await
            .unwrap();
        // Publishing the same slot id again does not reset it...
        let again = store.get_slots(&slots).await.unwrap();
        assert_eq!(store.insert_slots(again).await.unwrap(), 0, "{name}");
        // ...and withdrawing a busy slot is refused.
        assert!(
            matches!(
                store.withdraw_slot(&slots[0]).await,
                Err(WithdrawError::NotFree(_))
            ),
            "{name}"
        );
    }
}

#[tokio::test]
async fn slot_search_pages_and_counts() {
    for (name, store, _keep) in backends().await {
        let slots = seed(store.as_ref(), 30).await;
        store.withdraw_slot(&slots[5]).await.unwrap();
        let q = |after| SlotQuery {
            service_id: "svc".into(),
            statuses: vec![SlotStatus::Free],
            start_from: at("2030-01-01T00:00:00Z"),
            start_to: at("2030-01-02T00:00:00Z"),
            after,
            limit: 10,
        };
        let first = store.search_slots(q(None)).await.unwrap();
        assert_eq!(first.total, 29, "{name}");
        assert_eq!(
            first.slots.len(),
            11,
            "{name}: one more than the limit, to tell there is a next page"
        );
        let last = &first.slots[9];
        let second = store
            .search_slots(q(Some(SlotCursor {
                start_nanos: last.start.unix_nanos(),
                id: last.id.clone(),
            })))
            .await
            .unwrap();
        assert_eq!(second.slots[0].id, first.slots[10].id, "{name}");
        assert!(
            !first.slots.iter().any(|s| s.id == slots[5]),
            "{name}: withdrawn slots are not free"
        );
        let other = store
            .search_slots(SlotQuery {
                service_id: "other".into(),
                ..q(None)
            })
            .await
            .unwrap();
        assert_eq!(other.total, 0, "{name}");
    }
}

/// The total is the whole window's on every page, whether the page holds every match (a first
/// page short of its limit, told without counting), all but one, or only the window's tail
/// (a later page), and it sums the statuses asked for.
#[tokio::test]
async fn slot_search_totals_the_window_on_every_page() {
    for (name, store, _keep) in backends().await {
        let slots = seed(store.as_ref(), 30).await;
        store.withdraw_slot(&slots[5]).await.unwrap();
        let q = |statuses: Vec<SlotStatus>, limit, after| SlotQuery {
            service_id: "svc".into(),
            statuses,
            start_from: at("2030-01-01T00:00:00Z"),
            start_to: at("2030-01-02T00:00:00Z"),
            after,
            limit,
        };
        let free = || vec![SlotStatus::Free];
        for limit in [27, 28, 29, 30, 31, 100] {
            let first = store.search_slots(q(free(), limit, None)).await.unwrap();
            assert_eq!(first.total, 29, "{name}: limit {limit}");
            assert_eq!(
                first.slots.len(),
                29.min(limit + 1),
                "{name}: limit {limit}"
            );
            let last = &first.slots[limit.min(29) - 1];
            let rest = store
                .search_slots(q(
                    free(),
                    limit,
                    Some(SlotCursor {
                        start_nanos: last.start.unix_nanos(),
                        id: last.id.clone(),
                    }),
                ))
                .await
                .unwrap();
            assert_eq!(rest.total, 29, "{name}: a later page, limit {limit}");
            assert_eq!(
                rest.slots.len(),
                29 - limit.min(29),
                "{name}: limit {limit}"
            );
        }
        let both = store
            .search_slots(q(
                vec![SlotStatus::Free, SlotStatus::BusyUnavailable],
                100,
                None,
            ))
            .await
            .unwrap();
        assert_eq!((both.total, both.slots.len()), (30, 30), "{name}");
    }
}

/// A placeholder appointment of the test patient booked at `created`, holding no slot.
fn booked_at(id: &str, created: Instant) -> AppointmentChange {
    let mut ch = change(id, 1, None, AppointmentStatus::Booked, &[], &[], id);
    ch.created = created;
    ch.last_updated = created;
    ch.pointer = None;
    ch
}

#[tokio::test]
async fn appointment_pages_resume_after_a_cursor_while_others_book_and_reschedule() {
    for (name, store, _keep) in backends().await {
        let base = at("2030-01-01T09:00:00Z");
        // Seven appointments; two share a creation instant, so the id breaks the tie.
        let mut existing = Vec::new();
        for i in 0..7 {
            let id = format!("a{i}");
            let created = base.plus_seconds(i.min(5));
            store
                .commit_appointment(booked_at(&id, created))
                .await
                .unwrap();
            existing.push(id);
        }
        let page = |after| AppointmentQuery {
            patient: "9434765919".into(),
            service: None,
            after,
            limit: 3,
        };
        let mut seen = Vec::new();
        let mut after = None;
        for round in 0.. {
            let found = store.appointments_for_patient(page(after)).await.unwrap();
            assert_eq!(
                found.total,
                7 + round,
                "{name}: the total counts every page"
            );
            let more = found.appointments.len() > 3;
            let shown: Vec<_> = found.appointments.into_iter().take(3).collect();
            seen.extend(shown.iter().map(|a| a.id.clone()));
            let Some(last) = shown.last().filter(|_| more) else {
                break;
            };
            after = Some(AppointmentCursor {
                created_nanos: last.created.unix_nanos(),
                id: last.id.clone(),
            });
            // Between pages: a new booking, and a reschedule of one already seen.
            let new = format!("n{round}");
            store
                .commit_appointment(booked_at(&new, base.plus_seconds(-60 - round as i64)))
                .await
                .unwrap();
            let mut moved = change(
                &shown[0].id,
                2,
                Some(1),
                AppointmentStatus::Booked,
                &[],
                &[],
                &format!("m{round}"),
            );
            moved.start = Some(at("2031-06-01T09:00:00Z"));
            moved.created = shown[0].created;
            store.commit_appointment(moved).await.unwrap();
        }
        let mut sorted = seen.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(
            sorted.len(),
            seen.len(),
            "{name}: no appointment twice: {seen:?}"
        );
        assert_eq!(
            seen, existing,
            "{name}: every appointment, in booking order"
        );
        // No limit a caller passes overflows the query.
        let all = store
            .appointments_for_patient(AppointmentQuery {
                limit: usize::MAX,
                ..page(None)
            })
            .await
            .unwrap();
        assert_eq!(all.appointments.len() as u64, all.total, "{name}");
    }
}

#[tokio::test]
async fn history_pages_run_newest_first_and_new_versions_do_not_shift_them() {
    for (name, store, _keep) in backends().await {
        let created = at("2030-01-01T09:00:00Z");
        store
            .commit_appointment(booked_at("h", created))
            .await
            .unwrap();
        for v in 2..=5 {
            let ch = change(
                "h",
                v,
                Some(v - 1),
                AppointmentStatus::Booked,
                &[],
                &[],
                &format!("r{v}"),
            );
            store.commit_appointment(ch).await.unwrap();
        }
        let q = |before| HistoryQuery {
            id: "h".into(),
            before,
            limit: 2,
        };
        let first = store.appointment_history(q(None)).await.unwrap();
        let versions = |p: &HistoryPage| p.versions.iter().map(|v| v.version).collect::<Vec<_>>();
        assert_eq!(
            (versions(&first), first.total),
            (vec![5, 4, 3], 5),
            "{name}"
        );
        // A version written meanwhile is newer than every page still to come.
        store
            .commit_appointment(change(
                "h",
                6,
                Some(5),
                AppointmentStatus::Cancelled,
                &[],
                &[],
                "r6",
            ))
            .await
            .unwrap();
        let second = store.appointment_history(q(Some(4))).await.unwrap();
        assert_eq!(
            (versions(&second), second.total),
            (vec![3, 2, 1], 6),
            "{name}"
        );
        let last = store.appointment_history(q(Some(2))).await.unwrap();
        assert_eq!(versions(&last), vec![1], "{name}");
        let beyond = store.appointment_history(q(Some(u64::MAX))).await.unwrap();
        assert_eq!(versions(&beyond), vec![6, 5, 4], "{name}");
        let none = store
            .appointment_history(HistoryQuery {
                id: "missing".into(),
                before: None,
                limit: usize::MAX,
            })
            .await
            .unwrap();
        assert_eq!((none.versions.len(), none.total), (0, 0), "{name}");
    }
}

#[tokio::test]
async fn no_limit_a_caller_passes_breaks_a_read() {
    for (name, store, _keep) in backends().await {
        seed(store.as_ref(), 3).await;
        let audit = store
            .query_audit(AuditQuery {
                limit: usize::MAX,
                ..Default::default()
            })
            .await;
        assert!(audit.is_ok(), "{name}: {audit:?}");
        let slots = store
            .search_slots(SlotQuery {
                service_id: "svc".into(),
                statuses: vec![SlotStatus::Free],
                start_from: at("2030-01-01T00:00:00Z"),
                start_to: at("2030-01-02T00:00:00Z"),
                after: None,
                limit: usize::MAX,
            })
            .await
            .unwrap();
        assert_eq!(slots.slots.len(), 3, "{name}");
    }
}

#[tokio::test]
async fn request_records_expire_and_refusals_are_kept_once() {
    for (name, store, _keep) in backends().await {
        let key = IdempotencyKey {
            request_id: "r".into(),
            correlation_id: "c".into(),
            sender: "s".into(),
        };
        let refusal = |body: &str| IdempotencyRecord {
            key: key.clone(),
            outcome: RequestOutcome::Failed {
                status: 409,
                body: body.into(),
            },
            recorded: at("2020-01-01T00:00:00Z"),
        };
        store.record_request(refusal("first")).await.unwrap();
        store.record_request(refusal("second")).await.unwrap();
        assert_eq!(
            store.find_request(&key).await.unwrap().unwrap().outcome,
            RequestOutcome::Failed {
                status: 409,
                body: "first".into()
            },
            "{name}"
        );
        assert_eq!(
            store
                .purge_requests(at("2021-01-01T00:00:00Z"))
                .await
                .unwrap(),
            1,
            "{name}"
        );
        assert!(store.find_request(&key).await.unwrap().is_none(), "{name}");
    }
}

/// The store writes the version its owner stamped, only after the version it follows, and
/// keeps the body as the text it was given: stamping is the owner's (the receiver's
/// `availability`), never the store's.
#[tokio::test]
async fn a_version_is_written_as_given_only_after_the_one_it_follows() {
    for (name, store, _keep) in backends().await {
        // Text no serializer would produce: the store must not parse and re-serialise it.
        let text = |v: u64| {
            format!(
                "{{ \"resourceType\":\"Organization\",  \"id\":\"RX1\", \"meta\":{{\"versionId\":\"{v}\"}} }}"
            )
        };
        let version = |v: u64| StoredResource {
            resource_type: "Organization".into(),
            id: "RX1".into(),
            version: v,
            last_updated: at("2030-01-01T09:00:00Z").plus_seconds(v as i64),
            body: text(v),
        };
        store.put_resource(version(1), None).await.unwrap();
        assert_eq!(
            store.put_resource(version(1), None).await,
            Err(PutError::VersionConflict),
            "{name}: a first version when one is stored"
        );
        store.put_resource(version(2), Some(1)).await.unwrap();
        assert_eq!(
            store.put_resource(version(3), Some(1)).await,
            Err(PutError::VersionConflict),
            "{name}: a version after one that is no longer current"
        );
        assert_eq!(
            store.get_resource("Organization", "RX1").await.unwrap(),
            Some(version(2)),
            "{name}"
        );
        assert_eq!(
            store.list_resources("Organization").await.unwrap(),
            [version(2)],
            "{name}"
        );

        let schedule = |v: u64| ScheduleRecord {
            id: "sch".into(),
            service_id: if v == 1 { "svc" } else { "svc2" }.into(),
            version: v,
            last_updated: at("2030-01-01T09:00:00Z").plus_seconds(v as i64),
            body: format!("{{\"resourceType\": \"Schedule\", \"v\": {v}}}"),
            slot_template: format!("{{\"comment\":  \"{v}\"}}"),
        };
        store.put_schedule(schedule(1), None).await.unwrap();
        assert_eq!(
            store.put_schedule(schedule(2), None).await,
            Err(PutError::VersionConflict),
            "{name}"
        );
        assert_eq!(
            store.put_schedule(schedule(2), Some(2)).await,
            Err(PutError::VersionConflict),
            "{name}"
        );
        store.put_schedule(schedule(2), Some(1)).await.unwrap();
        assert_eq!(
            store.get_schedules(&["sch".into()]).await.unwrap(),
            [schedule(2)],
            "{name}"
        );
        assert_eq!(
            store.schedules_for_service("svc2").await.unwrap(),
            [schedule(2)],
            "{name}: the indexed service moved with the new version"
        );
        store.ping().await.unwrap();
    }
}

#[tokio::test]
async fn the_audit_log_cannot_be_changed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.db");
    let store = bars_store::sqlite::SqliteStore::open(&path).unwrap();
    store
        .append_audit(vec![AuditEntry {
            request_id: "r".into(),
            correlation_id: "c".into(),
            action: "read".into(),
            resource_type: "Appointment".into(),
            outcome: 200,
            ..Default::default()
        }])
        .await
        .unwrap();
    // A read's entry is in the access log beside the store; a change's in the store's own
    // `audit` table (written here as a change's transaction would). Neither takes edits.
    let access = rusqlite::Connection::open(dir.path().join("audit-access.db")).unwrap();
    assert!(
        access
            .execute("UPDATE segment_0 SET outcome = 500", [])
            .is_err()
    );
    assert!(access.execute("DELETE FROM segment_0", []).is_err());
    let db = rusqlite::Connection::open(&path).unwrap();
    db.execute(
        "INSERT INTO audit (seq, at_ns, request_id, correlation_id, action, resource_type, outcome) VALUES (1000, 0, 'r2', 'c', 'book', 'Appointment', 201)",
        [],
    )
    .unwrap();
    assert!(db.execute("UPDATE audit SET outcome = 500", []).is_err());
    assert!(db.execute("DELETE FROM audit", []).is_err());
    let trail = store.query_audit(AuditQuery::default()).await.unwrap();
    let kept: Vec<(&str, u16)> = trail
        .iter()
        .map(|r| (r.entry.request_id.as_str(), r.entry.outcome))
        .collect();
    assert_eq!(kept, [("r", 200), ("r2", 201)]);
}

/// A reopened SQLite store numbers the trail on after the highest entry of either log, so no
/// two entries ever share a `seq` (the change log and the access log count from one counter).
#[tokio::test]
async fn a_reopened_store_numbers_its_audit_trail_on_from_both_logs() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("trail.db");
    let read = |request: &str| AuditEntry {
        request_id: request.into(),
        correlation_id: "c".into(),
        action: "read".into(),
        resource_type: "Appointment".into(),
        outcome: 200,
        ..Default::default()
    };
    for round in 0..3 {
        let store = bars_store::sqlite::SqliteStore::open(&path).unwrap();
        store
            .append_audit(vec![
                read(&format!("r{round}a")),
                read(&format!("r{round}b")),
            ])
            .await
            .unwrap();
    }
    let store = bars_store::sqlite::SqliteStore::open(&path).unwrap();
    let seqs: Vec<i64> = store
        .query_audit(AuditQuery::default())
        .await
        .unwrap()
        .iter()
        .map(|r| r.seq)
        .collect();
    assert_eq!(seqs, [1, 2, 3, 4, 5, 6]);
}

/// Every change committed while others commit and reads are audited (both taking numbers of
/// the one trail) is found by its request id, whether its run has been made or not: a change
/// numbered before another but committed after a run would be in neither the run nor the
/// entries after it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn changes_committed_together_are_each_found_by_request_id() {
    let dir = tempfile::tempdir().unwrap();
    let options = bars_store::sqlite::SqliteOptions {
        change_run_entries: 3,
        ..Default::default()
    };
    let store = std::sync::Arc::new(
        bars_store::sqlite::SqliteStore::open_with(dir.path().join("runs.db"), options).unwrap(),
    );
    let mut tasks = Vec::new();
    for i in 0..400 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let id = format!("a{i:03}");
            if i % 4 == 0 {
                let read = AuditEntry {
                    request_id: format!("read-{id}"),
                    correlation_id: "c".into(),
                    action: "read".into(),
                    resource_type: "Appointment".into(),
                    outcome: 200,
                    ..Default::default()
                };
                store.append_audit(vec![read]).await.unwrap();
            }
            store
                .commit_appointment(booked_at(&id, Instant::now()))
                .await
                .unwrap();
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let mut missing = Vec::new();
    for i in 0..400 {
        let id = format!("a{i:03}");
        let found = store
            .query_audit(AuditQuery {
                request_id: Some(id.clone()),
                ..Default::default()
            })
            .await
            .unwrap();
        if found.len() != 1 {
            missing.push((id, found.len()));
        }
    }
    assert!(missing.is_empty(), "not found once: {missing:?}");
}

/// Values that look like SQL are data: stored, found and compared verbatim, on every backend.
#[tokio::test]
async fn hostile_values_are_stored_and_searched_verbatim() {
    const HOSTILE: [&str; 4] = [
        "'; DROP TABLE appointment; --",
        "x' OR '1'='1",
        "\"); DELETE FROM audit; --",
        "Robert'); DROP TABLE slot;--",
    ];
    for (name, store, _keep) in backends().await {
        for (i, value) in HOSTILE.iter().enumerate() {
            store
                .append_audit(vec![AuditEntry {
                    request_id: value.to_string(),
                    correlation_id: value.to_string(),
                    action: "read".into(),
                    resource_type: "Appointment".into(),
                    resource_id: Some(value.to_string()),
                    patient: Some(value.to_string()),
                    outcome: 200 + i as u16,
                    ..Default::default()
                }])
                .await
                .unwrap();
        }
        for (i, value) in HOSTILE.iter().enumerate() {
            for query in [
                AuditQuery {
                    request_id: Some(value.to_string()),
                    ..Default::default()
                },
                AuditQuery {
                    patient: Some(value.to_string()),
                    ..Default::default()
                },
                AuditQuery {
                    resource_id: Some(value.to_string()),
                    ..Default::default()
                },
            ] {
                let found = store.query_audit(query).await.unwrap();
                assert_eq!(found.len(), 1, "{name}: {value}");
                assert_eq!(found[0].entry.request_id, *value, "{name}");
                assert_eq!(found[0].entry.outcome, 200 + i as u16, "{name}");
            }
            assert!(
                store.get_appointment(value).await.unwrap().is_none(),
                "{name}"
            );
            let found = store
                .appointments_for_patient(AppointmentQuery {
                    patient: value.to_string(),
                    service: None,
                    after: None,
                    limit: 10,
                })
                .await
                .unwrap();
            assert!(
                found.appointments.is_empty() && found.total == 0,
                "{name}: {value}"
            );
        }
        // The tables are all still there.
        seed(store.as_ref(), 1).await;
        assert_eq!(
            store
                .query_audit(AuditQuery::default())
                .await
                .unwrap()
                .len(),
            HOSTILE.len(),
            "{name}"
        );
    }
}

#[tokio::test]
async fn pointer_jobs_are_delivered_one_at_a_time_in_order_per_appointment() {
    for (name, store, _keep) in backends().await {
        let slots = seed(store.as_ref(), 3).await;
        // a1: booked (create) then moved (update); a2: booked (create).
        store
            .commit_appointment(change(
                "a1",
                1,
                None,
                AppointmentStatus::Booked,
                &[&slots[0]],
                &[],
                "r1",
            ))
            .await
            .unwrap();
        let mut moved = change(
            "a1",
            2,
            Some(1),
            AppointmentStatus::Booked,
            &[&slots[1]],
            &[&slots[0]],
            "r2",
        );
        moved.pointer = Some(PointerAction::Update);
        store.commit_appointment(moved).await.unwrap();
        store
            .commit_appointment(change(
                "a2",
                1,
                None,
                AppointmentStatus::Booked,
                &[&slots[2]],
                &[],
                "r3",
            ))
            .await
            .unwrap();
        let now = Instant::now();
        let later = now.plus_seconds(60);

        let first = store
            .claim_pointer_jobs("w1", 10, now, later)
            .await
            .unwrap();
        let heads: Vec<(&str, PointerAction)> = first
            .iter()
            .map(|j| (j.appointment_id.as_str(), j.action))
            .collect();
        assert_eq!(
            heads,
            vec![("a1", PointerAction::Create), ("a2", PointerAction::Create)],
            "{name}: only the head of each queue"
        );
        // Leased jobs are not handed to a second worker.
        assert!(
            store
                .claim_pointer_jobs("w2", 10, now, later)
                .await
                .unwrap()
                .is_empty(),
            "{name}"
        );
        // A worker takes back its own leases: outcomes it could not record.
        let again = store
            .claim_pointer_jobs("w1", 10, now, later)
            .await
            .unwrap();
        assert_eq!(
            again.iter().map(|j| j.seq).collect::<Vec<_>>(),
            first.iter().map(|j| j.seq).collect::<Vec<_>>(),
            "{name}"
        );
        assert_eq!(store.outbox_stats().await.unwrap().pending, 3, "{name}");

        store
            .finish_pointer_job(first[0].seq, "w1", PointerIdChange::Set("RX1-p1".into()))
            .await
            .unwrap();
        assert_eq!(
            store
                .get_appointment("a1")
                .await
                .unwrap()
                .unwrap()
                .pointer_id
                .as_deref(),
            Some("RX1-p1"),
            "{name}"
        );
        assert!(
            store
                .finish_pointer_job(first[1].seq, "w2", PointerIdChange::Keep)
                .await
                .is_err(),
            "{name}: only the lease holder finishes"
        );
        // a1's update is next; a2's create, still leased, is not handed out again.
        let second = store
            .claim_pointer_jobs("w2", 10, now, later)
            .await
            .unwrap();
        assert_eq!(
            second
                .iter()
                .map(|j| (j.appointment_id.as_str(), j.action, j.appointment_version))
                .collect::<Vec<_>>(),
            vec![("a1", PointerAction::Update, 2)],
            "{name}"
        );

        // A failed head blocks its queue until requeued.
        store
            .postpone_pointer_job(second[0].seq, "w2", "registry refused", now, true)
            .await
            .unwrap();
        let stats = store.outbox_stats().await.unwrap();
        assert_eq!((stats.pending, stats.failed), (1, 1), "{name}");
        assert!(stats.oldest_undelivered.is_some(), "{name}");
        assert!(
            store.requeue_pointer_job(second[0].seq).await.unwrap(),
            "{name}"
        );
        // A retry is not due before its time.
        let now = Instant::now().plus_seconds(1);
        let leased = store
            .claim_pointer_jobs("w3", 10, now, later)
            .await
            .unwrap();
        assert_eq!(
            leased.len(),
            1,
            "{name}: the requeued job (a2's is still leased to w1)"
        );
        store
            .postpone_pointer_job(leased[0].seq, "w3", "timeout", now.plus_seconds(30), false)
            .await
            .unwrap();
        assert!(
            store
                .claim_pointer_jobs("w3", 10, now, later)
                .await
                .unwrap()
                .is_empty(),
            "{name}"
        );
        let due = now.plus_seconds(31);
        assert_eq!(
            store
                .claim_pointer_jobs("w3", 10, due, due.plus_seconds(60))
                .await
                .unwrap()
                .len(),
            1,
            "{name}"
        );
        assert_eq!(
            store.undelivered_pointer_jobs(10).await.unwrap().len(),
            2,
            "{name}"
        );
        // Leases can be freed at start-up.
        assert!(store.release_pointer_leases().await.unwrap() >= 1, "{name}");
    }
}

/// A scan walks one service's appointments (or all) in booking order after a cursor, and
/// keeps only those whose stored text contains what was asked for, taken literally (`%`
/// and `_` are not patterns).
#[tokio::test]
async fn appointment_scans_filter_by_service_and_stored_text_and_resume() {
    for (name, store, _keep) in backends().await {
        let base = at("2030-01-01T09:00:00Z");
        for i in 0..6i64 {
            let id = format!("s{i}");
            let mut ch = booked_at(&id, base.plus_seconds(i));
            let born = if i % 2 == 0 {
                "1932-10-29"
            } else {
                "1921-06-07"
            };
            ch.body = json!({"resourceType": "Appointment", "id": id, "contained": [{"resourceType": "Patient", "birthDate": born}], "note": [{"text": "50%_off"}]}).to_string();
            if i == 5 {
                ch.service_id = Some("other".into());
            }
            store.commit_appointment(ch).await.unwrap();
        }
        let scan = |service: Option<&str>,
                    text: Option<&str>,
                    after: Option<AppointmentCursor>,
                    limit| AppointmentScan {
            service: service.map(str::to_string),
            body_contains: text.map(str::to_string),
            after,
            limit,
        };
        let ids = |found: Vec<AppointmentRecord>| -> Vec<String> {
            found.into_iter().map(|a| a.id).collect()
        };
        let all = store
            .scan_appointments(scan(None, None, None, 10))
            .await
            .unwrap();
        assert_eq!(ids(all), ["s0", "s1", "s2", "s3", "s4", "s5"], "{name}");
        let svc = store
            .scan_appointments(scan(Some("svc"), None, None, 10))
            .await
            .unwrap();
        assert_eq!(ids(svc).len(), 5, "{name}");
        let born = Some("\"birthDate\":\"1932-10-29\"");
        let first = store
            .scan_appointments(scan(Some("svc"), born, None, 1))
            .await
            .unwrap();
        let cursor = AppointmentCursor {
            created_nanos: first[0].created.unix_nanos(),
            id: first[0].id.clone(),
        };
        assert_eq!(ids(first), ["s0"], "{name}");
        let rest = store
            .scan_appointments(scan(Some("svc"), born, Some(cursor), 10))
            .await
            .unwrap();
        assert_eq!(ids(rest), ["s2", "s4"], "{name}");
        let literal = store
            .scan_appointments(scan(None, Some("1932%"), None, 10))
            .await
            .unwrap();
        assert!(literal.is_empty(), "{name}: % is not a pattern");
        let literal = store
            .scan_appointments(scan(None, Some("50%_off"), None, 10))
            .await
            .unwrap();
        assert_eq!(literal.len(), 6, "{name}");
    }
}

/// A read after a change has been acknowledged answers the change, however often the
/// appointment was read before it (the SQLite backend keeps appointments it has read): an
/// update, a refused stale update, and the pointer id a pointer job sets.
#[tokio::test]
async fn a_read_after_a_change_answers_the_change_however_often_it_was_read_before() {
    for (name, store, _keep) in backends().await {
        let slots = seed(store.as_ref(), 2).await;
        store
            .commit_appointment(change(
                "a1",
                1,
                None,
                AppointmentStatus::Booked,
                &[&slots[0]],
                &[],
                "r1",
            ))
            .await
            .unwrap();
        let read = || async { store.get_appointment("a1").await.unwrap().unwrap() };
        for _ in 0..3 {
            assert_eq!(read().await.version, 1, "{name}");
        }
        store
            .commit_appointment(change(
                "a1",
                2,
                Some(1),
                AppointmentStatus::Booked,
                &[&slots[1]],
                &[&slots[0]],
                "r2",
            ))
            .await
            .unwrap();
        let now = read().await;
        assert_eq!(
            (now.version, now.held_slots.clone()),
            (2, vec![slots[1].clone()]),
            "{name}"
        );
        assert!(
            now.body.contains("\"versionId\":\"2\""),
            "{name}: {}",
            now.body
        );
        // A change decided on version 1 is refused and leaves version 2 to be read.
        assert!(
            store
                .commit_appointment(change(
                    "a1",
                    2,
                    Some(1),
                    AppointmentStatus::Cancelled,
                    &[],
                    &[&slots[1]],
                    "r3"
                ))
                .await
                .is_err(),
            "{name}"
        );
        assert_eq!(
            (read().await.version, read().await.status),
            (2, AppointmentStatus::Booked),
            "{name}"
        );
        assert_eq!(read().await.pointer_id, None, "{name}");
        let now_ = Instant::now();
        let jobs = store
            .claim_pointer_jobs("w1", 1, now_, now_.plus_seconds(60))
            .await
            .unwrap();
        assert_eq!(jobs[0].appointment_id, "a1", "{name}");
        store
            .finish_pointer_job(jobs[0].seq, "w1", PointerIdChange::Set("RX1-p1".into()))
            .await
            .unwrap();
        assert_eq!(read().await.pointer_id.as_deref(), Some("RX1-p1"), "{name}");
    }
}

/// Readers hammer an appointment while it is changed one version at a time; after each
/// change is acknowledged, every read answers that version or a later one, never an older.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_read_after_an_acknowledged_change_answers_an_older_version() {
    for (name, store, _keep) in backends().await {
        let slots = seed(store.as_ref(), 1).await;
        store
            .commit_appointment(change(
                "a1",
                1,
                None,
                AppointmentStatus::Booked,
                &[&slots[0]],
                &[],
                "r1",
            ))
            .await
            .unwrap();
        let acknowledged = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(1));
        let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let readers: Vec<_> = (0..4)
            .map(|_| {
                let (store, acknowledged, done) =
                    (store.clone(), acknowledged.clone(), done.clone());
                tokio::spawn(async move {
                    let mut stale = Vec::new();
                    while !done.load(std::sync::atomic::Ordering::SeqCst) {
                        let floor = acknowledged.load(std::sync::atomic::Ordering::SeqCst);
                        let seen = store.get_appointment("a1").await.unwrap().unwrap().version;
                        if seen < floor {
                            stale.push((floor, seen));
                        }
                        tokio::task::yield_now().await;
                    }
                    stale
                })
            })
            .collect();
        for v in 2..=60u64 {
            let mut next = change(
                "a1",
                v,
                Some(v - 1),
                AppointmentStatus::Booked,
                &[],
                &[],
                &format!("r{v}"),
            );
            next.pointer = None;
            store.commit_appointment(next).await.unwrap();
            acknowledged.store(v, std::sync::atomic::Ordering::SeqCst);
            let seen = store.get_appointment("a1").await.unwrap().unwrap().version;
            assert_eq!(
                seen, v,
                "{name}: read right after version {v} was acknowledged"
            );
        }
        done.store(true, std::sync::atomic::Ordering::SeqCst);
        for reader in readers {
            assert_eq!(
                reader.await.unwrap(),
                Vec::<(u64, u64)>::new(),
                "{name}: stale reads"
            );
        }
    }
}
