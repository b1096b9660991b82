//! Appointment events: written in the change's own transaction (a refused change leaves
//! none), one delivery per subscriber of the change's service, and deliveries leased one at
//! a time per (subscriber, appointment), in order, parked and requeued like pointer jobs.

use bars_booking::AppointmentStatus;
use bars_fhir::Instant;
use bars_store::*;

use crate::backends;
use crate::cases::{change, seed};

fn subscriber(id: &str, service: &str) -> Subscriber {
    Subscriber {
        id: id.into(),
        service_id: service.into(),
        url: "http://127.0.0.1:9/hook".into(),
        secret: "whsec_c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0".into(),
    }
}

async fn all_events(store: &dyn Store) -> Vec<EventRecord> {
    store
        .events_after(EventQuery {
            service: None,
            after: 0,
            limit: 100,
        })
        .await
        .unwrap()
}

#[tokio::test]
async fn an_event_is_written_with_its_change_or_not_at_all() {
    for (name, store, _keep) in backends().await {
        let slots = seed(store.as_ref(), 2).await;
        store
            .put_subscriber(subscriber("pas", "svc"))
            .await
            .unwrap();
        store
            .put_subscriber(subscriber("elsewhere", "other"))
            .await
            .unwrap();
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
        // Refused by the slot guard, then by the version guard: neither leaves an event.
        let taken = store
            .commit_appointment(change(
                "a2",
                1,
                None,
                AppointmentStatus::Booked,
                &[&slots[0]],
                &[],
                "r2",
            ))
            .await;
        assert!(
            matches!(taken, Err(CommitError::SlotUnavailable(_))),
            "{name}"
        );
        let stale = store
            .commit_appointment(change(
                "a1",
                3,
                Some(2),
                AppointmentStatus::Booked,
                &[],
                &[],
                "r3",
            ))
            .await;
        assert_eq!(stale, Err(CommitError::VersionConflict), "{name}");

        let events = all_events(store.as_ref()).await;
        assert_eq!(events.len(), 1, "{name}");
        let e = &events[0];
        assert_eq!(
            (
                e.appointment_id.as_str(),
                e.version,
                e.action.as_str(),
                e.status,
                e.service_id.as_deref()
            ),
            ("a1", 1, "book", AppointmentStatus::Booked, Some("svc")),
            "{name}"
        );
        let owed = store.undelivered_events(None, 10).await.unwrap();
        assert_eq!(
            owed.len(),
            1,
            "{name}: only the service's own subscriber is owed it"
        );
        assert_eq!(owed[0].subscriber_id, "pas", "{name}");
        assert!(store.remove_subscriber("pas").await.unwrap(), "{name}");
        assert!(
            store.undelivered_events(None, 10).await.unwrap().is_empty(),
            "{name}"
        );
    }
}

#[tokio::test]
async fn deliveries_go_one_at_a_time_per_appointment_in_order() {
    for (name, store, _keep) in backends().await {
        let slots = seed(store.as_ref(), 2).await;
        store
            .put_subscriber(subscriber("pas", "svc"))
            .await
            .unwrap();
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
        let mut second = change(
            "a1",
            2,
            Some(1),
            AppointmentStatus::Cancelled,
            &[],
            &[&slots[0]],
            "r2",
        );
        second.audit.action = "cancel".into();
        store.commit_appointment(second).await.unwrap();
        store
            .commit_appointment(change(
                "b1",
                1,
                None,
                AppointmentStatus::Booked,
                &[&slots[1]],
                &[],
                "r3",
            ))
            .await
            .unwrap();

        let now = Instant::now();
        let lease = now.plus_seconds(60);
        let claim = |owner: &'static str| {
            let store = store.clone();
            async move {
                let got = store
                    .claim_deliveries(owner, 10, Instant::now(), lease)
                    .await
                    .unwrap();
                got.iter()
                    .map(|d| (d.event.appointment_id.clone(), d.event.version))
                    .collect::<Vec<_>>()
            }
        };
        // The head of each appointment's queue, once.
        assert_eq!(
            claim("w1").await,
            [("a1".to_string(), 1), ("b1".to_string(), 1)],
            "{name}"
        );
        assert!(
            claim("w2").await.is_empty(),
            "{name}: leased deliveries are not handed out twice"
        );
        let seqs: Vec<i64> = all_events(store.as_ref())
            .await
            .iter()
            .map(|e| e.seq)
            .collect();
        store.finish_delivery("pas", seqs[0], "w1").await.unwrap();
        assert!(
            store.finish_delivery("pas", seqs[0], "w1").await.is_err(),
            "{name}"
        );
        // Then the appointment's next event; parked, it holds nothing else back but itself.
        assert_eq!(claim("w2").await, [("a1".to_string(), 2)], "{name}");
        store
            .postpone_delivery("pas", seqs[1], "w2", "answered 500", now, true)
            .await
            .unwrap();
        assert!(claim("w2").await.is_empty(), "{name}");
        let failed = store
            .undelivered_events(Some("pas".into()), 10)
            .await
            .unwrap();
        assert_eq!(
            failed
                .iter()
                .map(|d| (d.event.seq, d.state, d.attempts))
                .collect::<Vec<_>>(),
            [
                (seqs[1], JobState::Failed, 1),
                (seqs[2], JobState::Pending, 0)
            ],
            "{name}"
        );
        assert_eq!(
            store
                .requeue_deliveries("pas", Some(seqs[1]))
                .await
                .unwrap(),
            1,
            "{name}"
        );
        assert_eq!(claim("w3").await, [("a1".to_string(), 2)], "{name}");
        // A worker that lost track of its leases (its outcome was never recorded) takes them
        // back at its next claim; nobody else gets them meanwhile.
        assert_eq!(claim("w1").await, [("b1".to_string(), 1)], "{name}");
        assert_eq!(claim("w3").await, [("a1".to_string(), 2)], "{name}");
        assert!(claim("w4").await.is_empty(), "{name}");
    }
}
