//! PostgreSQL only: several stores (as several instances would open them) on one database.
//! SQLite serves one process, so these have no SQLite variant.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use bars_booking::{AppointmentStatus, PointerAction, SlotStatus};
use bars_fhir::Instant;
use bars_store::testing::{PgTestSchema, note_skipped};
use bars_store::*;
use serde_json::json;

use crate::cases::seed;

async fn schema(test: &str) -> Option<PgTestSchema> {
    let schema = PgTestSchema::create().await;
    if schema.is_none() {
        note_skipped(test);
    }
    schema
}

fn booking(id: &str, slot: &str, request: &str) -> AppointmentChange {
    let now = Instant::now();
    AppointmentChange {
        id: id.into(),
        version: 1,
        expected_version: None,
        status: AppointmentStatus::Booked,
        service_id: Some("svc".into()),
        patient: Some("9434765919".into()),
        start: None,
        end: None,
        created: now,
        last_updated: now,
        body: json!({"resourceType": "Appointment", "id": id}).to_string(),
        claim: vec![slot.into()],
        release: vec![],
        pointer: Some(PointerAction::Create),
        idempotency: Some(IdempotencyRecord {
            key: IdempotencyKey {
                request_id: request.into(),
                correlation_id: "c".into(),
                sender: "s".into(),
            },
            outcome: RequestOutcome::Succeeded { location: None },
            recorded: now,
        }),
        audit: AuditEntry {
            request_id: request.into(),
            correlation_id: "c".into(),
            action: "book".into(),
            resource_type: "Appointment".into(),
            resource_id: Some(id.into()),
            outcome: 201,
            ..Default::default()
        },
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_book_each_slot_once_and_each_request_once() {
    let Some(schema) = schema("two_instances_book_each_slot_once_and_each_request_once").await
    else {
        return;
    };
    let a = bars_store::open(&schema.url).await.unwrap();
    let b = bars_store::open(&schema.url).await.unwrap();
    let slots = seed(a.as_ref(), 10).await;
    let mut tasks = Vec::new();
    for i in 0..100 {
        let store = if i % 2 == 0 { a.clone() } else { b.clone() };
        let slot = slots[i % slots.len()].clone();
        tasks.push(tokio::spawn(async move {
            store
                .commit_appointment(booking(&format!("a{i}"), &slot, &format!("r{i}")))
                .await
        }));
    }
    // The same request ids reaching both instances at once.
    let free = seed_more(a.as_ref(), 20).await;
    for (i, slot) in free.iter().enumerate() {
        for store in [a.clone(), b.clone()] {
            let slot = slot.clone();
            tasks.push(tokio::spawn(async move {
                store
                    .commit_appointment(booking(
                        &format!("d{i}-{}", uuid()),
                        &slot,
                        &format!("dup{i}"),
                    ))
                    .await
            }));
        }
    }
    let mut ok = 0;
    let mut taken = 0;
    let mut duplicates = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(()) => ok += 1,
            Err(CommitError::SlotUnavailable(_)) => taken += 1,
            Err(CommitError::Duplicate) => duplicates += 1,
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    assert_eq!((ok, taken, duplicates), (30, 90, 20));
    let client = schema.connect().await;
    let doubled: i64 = client
        .query_one("SELECT COUNT(*) FROM (SELECT slot_id FROM appointment_slot WHERE active GROUP BY slot_id HAVING COUNT(*) > 1) d", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(doubled, 0);
    assert_eq!(a.outbox_stats().await.unwrap().pending, 30);
}

fn uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

async fn seed_more(store: &dyn Store, n: usize) -> Vec<String> {
    let base = Instant::parse("2031-01-01T09:00:00Z").unwrap();
    let records: Vec<SlotRecord> = (0..n)
        .map(|i| SlotRecord {
            id: format!("more-{i:03}"),
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
    store.insert_slots(records).await.unwrap();
    (0..n).map(|i| format!("more-{i:03}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn workers_on_two_instances_share_the_outbox_one_job_at_a_time_in_order() {
    let Some(schema) =
        schema("workers_on_two_instances_share_the_outbox_one_job_at_a_time_in_order").await
    else {
        return;
    };
    let a = bars_store::open(&schema.url).await.unwrap();
    let b = bars_store::open(&schema.url).await.unwrap();
    let slots = seed(a.as_ref(), 40).await;
    // 20 appointments with three jobs each (book, move, move): 60 jobs.
    for i in 0..20 {
        let id = format!("a{i}");
        a.commit_appointment(booking(&id, &slots[2 * i], &format!("r{i}")))
            .await
            .unwrap();
        for v in 2..=3u64 {
            let (from, to) = if v == 2 {
                (&slots[2 * i], &slots[2 * i + 1])
            } else {
                (&slots[2 * i + 1], &slots[2 * i])
            };
            let mut moved = booking(&id, to, &format!("r{i}-{v}"));
            moved.version = v;
            moved.expected_version = Some(v - 1);
            moved.release = vec![from.clone()];
            moved.pointer = Some(PointerAction::Update);
            a.commit_appointment(moved).await.unwrap();
        }
    }
    let leased: Arc<Mutex<HashSet<String>>> = Arc::default();
    let delivered: Arc<Mutex<HashMap<String, Vec<u64>>>> = Arc::default();
    let mut workers = Vec::new();
    for w in 0..4 {
        let store = if w % 2 == 0 { a.clone() } else { b.clone() };
        let (leased, delivered) = (leased.clone(), delivered.clone());
        workers.push(tokio::spawn(async move {
            let owner = format!("w{w}");
            // Bounded; an idle round (the other workers hold every due job) waits a moment
            // rather than spinning through the bound while they deliver.
            for _ in 0..2000 {
                let now = Instant::now();
                let jobs = store
                    .claim_pointer_jobs(&owner, 3, now, now.plus_seconds(60))
                    .await
                    .unwrap();
                if jobs.is_empty() {
                    if store.outbox_stats().await.unwrap().pending == 0 {
                        return;
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                    continue;
                }
                for job in &jobs {
                    assert!(
                        leased.lock().unwrap().insert(job.appointment_id.clone()),
                        "two jobs of {} leased at once",
                        job.appointment_id
                    );
                }
                tokio::task::yield_now().await;
                for job in jobs {
                    delivered
                        .lock()
                        .unwrap()
                        .entry(job.appointment_id.clone())
                        .or_default()
                        .push(job.appointment_version);
                    leased.lock().unwrap().remove(&job.appointment_id);
                    store
                        .finish_pointer_job(job.seq, &owner, PointerIdChange::Keep)
                        .await
                        .unwrap();
                }
            }
            panic!("the outbox did not drain");
        }));
    }
    for w in workers {
        w.await.unwrap();
    }
    let delivered = delivered.lock().unwrap();
    assert_eq!(delivered.len(), 20);
    for (id, versions) in delivered.iter() {
        assert_eq!(versions, &vec![1, 2, 3], "{id}: each job once, in order");
    }
}

#[tokio::test]
async fn the_audit_log_cannot_be_changed_on_postgres() {
    let Some(schema) = schema("the_audit_log_cannot_be_changed_on_postgres").await else {
        return;
    };
    let store = bars_store::open(&schema.url).await.unwrap();
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
    let client = schema.connect().await;
    for sql in [
        "UPDATE audit SET outcome = 500",
        "DELETE FROM audit",
        "TRUNCATE audit",
    ] {
        assert!(client.batch_execute(sql).await.is_err(), "{sql}");
    }
    assert_eq!(
        store
            .query_audit(AuditQuery::default())
            .await
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_starting_together_migrate_once() {
    let Some(schema) = schema("instances_starting_together_migrate_once").await else {
        return;
    };
    let opens: Vec<_> = (0..4)
        .map(|_| {
            let url = schema.url.clone();
            tokio::spawn(async move { bars_store::open(&url).await })
        })
        .collect();
    for o in opens {
        o.await.unwrap().unwrap().ping().await.unwrap();
    }
    let client = schema.connect().await;
    let step: i32 = client
        .query_one(
            "SELECT step FROM schema_migration WHERE component = 'receiver'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        step as usize,
        bars_store::postgres::schema::RECEIVER.steps.len()
    );
}

#[tokio::test]
async fn a_statement_held_up_by_a_lock_is_cancelled_as_unavailable() {
    let Some(schema) = schema("a_statement_held_up_by_a_lock_is_cancelled_as_unavailable").await
    else {
        return;
    };
    let store = bars_store::open(&schema.url_with("statement_timeout=200ms"))
        .await
        .unwrap();
    let slots = seed(store.as_ref(), 1).await;
    let mut locker = schema.connect().await;
    let tx = locker.transaction().await.unwrap();
    tx.batch_execute("LOCK TABLE slot IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();
    let err = store
        .commit_appointment(booking("a1", &slots[0], "r1"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, CommitError::Store(StoreError::Unavailable(_))),
        "{err:?}"
    );
    tx.rollback().await.unwrap();
    // Nothing of the cancelled change was kept, and the retry books.
    store
        .commit_appointment(booking("a1", &slots[0], "r1"))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_server_that_is_not_there_is_unavailable() {
    // Port 9 (discard) on loopback: nothing listens, the connection is refused at once.
    let err = match bars_store::open("postgres://postgres@127.0.0.1:9/test").await {
        Err(e) => e,
        Ok(_) => panic!("a store without a server"),
    };
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
}

/// `PgDatabase::autocommit` runs outside any transaction: each statement is committed as it
/// completes, so another connection sees a write before the unit of work has finished. (Its
/// old name, `read`, hid that the store's single-statement writes run there too.)
#[tokio::test]
async fn autocommit_commits_each_statement_as_it_runs() {
    let Some(schema) = schema("autocommit_commits_each_statement_as_it_runs").await else {
        return;
    };
    let db = bars_store::postgres::PgDatabase::connect(&schema.url, &[])
        .await
        .unwrap();
    let observer = schema.connect().await;
    observer
        .batch_execute("CREATE TABLE seen (n INT)")
        .await
        .unwrap();
    let seen_before_the_end = db
        .autocommit(observer, |c, observer| {
            Box::pin(async move {
                let db = bars_store::postgres::errors::db;
                c.execute("INSERT INTO seen VALUES (1)", &[])
                    .await
                    .map_err(db)?;
                let row = observer
                    .query_one("SELECT COUNT(*) FROM seen", &[])
                    .await
                    .map_err(db)?;
                Ok::<_, StoreError>(row.get::<_, i64>(0))
            })
        })
        .await
        .unwrap();
    assert_eq!(seen_before_the_end, 1);
}
