//! The receiver keeps the registry's pointers true: one current pointer per active booking.

use http::Method;
use serde_json::{Value, json};

use crate::kit::*;

/// The appointment id a pointer names.
fn appointment_of(p: &Value) -> String {
    p["identifier"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["system"] == "https://fhir.nhs.uk/Id/BaRS-Identifier")
        .unwrap()["value"]
        .as_str()
        .unwrap()
        .to_string()
}

fn service_of(p: &Value) -> String {
    p["identifier"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["system"] == "https://fhir.nhs.uk/Id/dos-service-id")
        .unwrap()["value"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn after_a_mixed_workload_the_registry_holds_one_pointer_per_active_booking() {
    let stack = Stack::start(2).await;
    let (s1, s2) = (stack.service(0, 0), stack.service(1, 1));
    let slots1 = stack.free_slots(&s1).await;
    let slots2 = stack.free_slots(&s2).await;

    // Six bookings over two receivers.
    let mut booked = Vec::new();
    for (service, slot) in [
        (&s1, &slots1[0]),
        (&s1, &slots1[1]),
        (&s1, &slots1[2]),
        (&s2, &slots2[0]),
        (&s2, &slots2[1]),
        (&s2, &slots2[2]),
    ] {
        let r = stack.book(service, slot, PATIENT).await;
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
        booked.push((service.clone(), r.json().unwrap()));
    }
    // Reschedule two (PATCH), cancel two (PUT and DELETE), rebook one (book new, cancel old).
    for (i, new_slot) in [(0usize, &slots1[5]), (3, &slots2[5])] {
        let (service, a) = &booked[i];
        let patch = json!([
            { "op": "replace", "path": "/slot/0/reference", "value": format!("Slot/{}", new_slot["id"].as_str().unwrap()) },
            { "op": "replace", "path": "/start", "value": new_slot["start"] },
            { "op": "replace", "path": "/end", "value": new_slot["end"] }
        ]);
        let r = stack
            .request(
                Method::PATCH,
                &format!("/Appointment/{}", a["id"].as_str().unwrap()),
                Some(service),
            )
            .body_as("application/json-patch+json", patch.to_string())
            .send()
            .await;
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        booked[i].1 = r.json().unwrap();
    }
    let mut cancelled = Vec::new();
    {
        let (service, a) = &booked[1];
        let mut body = a.clone();
        body["status"] = json!("cancelled");
        assert_eq!(
            stack
                .request(
                    Method::PUT,
                    &format!("/Appointment/{}", a["id"].as_str().unwrap()),
                    Some(service)
                )
                .json(&body)
                .send()
                .await
                .status,
            200
        );
        cancelled.push(a["id"].as_str().unwrap().to_string());
        let (service, a) = &booked[4];
        assert_eq!(
            stack
                .request(
                    Method::DELETE,
                    &format!("/Appointment/{}", a["id"].as_str().unwrap()),
                    Some(service)
                )
                .send()
                .await
                .status,
            200
        );
        cancelled.push(a["id"].as_str().unwrap().to_string());
    }
    let (service, old) = booked[2].clone();
    let mut rebook = appointment_for(&slots1[7], PATIENT);
    rebook["replaces"] =
        json!([{ "reference": format!("Appointment/{}", old["id"].as_str().unwrap()) }]);
    let r = stack
        .request(Method::POST, "/Appointment", Some(&service))
        .json(&rebook)
        .send()
        .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let new = r.json().unwrap();
    assert_eq!(
        stack
            .request(
                Method::DELETE,
                &format!("/Appointment/{}", old["id"].as_str().unwrap()),
                Some(&service)
            )
            .send()
            .await
            .status,
        200
    );
    cancelled.push(old["id"].as_str().unwrap().to_string());

    stack.pointers_settled().await;

    // The active bookings and their current times.
    let mut active: Vec<Value> = booked
        .iter()
        .map(|(_, a)| a.clone())
        .filter(|a| !cancelled.contains(&a["id"].as_str().unwrap().to_string()))
        .collect();
    active.push(new);
    let pointers = stack.pointers(PATIENT).await;
    assert_eq!(
        pointers.len(),
        active.len(),
        "exactly one pointer per active booking: {pointers:#?}"
    );
    for a in &active {
        let id = a["id"].as_str().unwrap();
        let matching: Vec<&Value> = pointers
            .iter()
            .filter(|p| appointment_of(p) == id)
            .collect();
        assert_eq!(matching.len(), 1, "one pointer for {id}");
        let p = matching[0];
        assert_eq!(
            p["context"]["period"]["start"], a["start"],
            "the pointer carries the current period"
        );
        assert_eq!(p["context"]["period"]["end"], a["end"]);
        assert_eq!(p["status"], "current");
        assert_eq!(p["subject"]["identifier"]["value"], PATIENT);
    }
    for id in &cancelled {
        assert!(
            !pointers.iter().any(|p| &appointment_of(p) == id),
            "no pointer for cancelled {id}"
        );
    }
    // The receiver knows each pointer's id.
    for r in &stack.receivers {
        for a in &active {
            if let Some(record) = r
                .store
                .get_appointment(a["id"].as_str().unwrap())
                .await
                .unwrap()
            {
                let pid = record.pointer_id.expect("pointer id stored");
                assert!(pointers.iter().any(|p| p["id"] == pid.as_str()));
            }
        }
    }
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bookings_do_not_wait_for_a_registry_that_is_down_and_pointers_converge_later() {
    let mut stack = Stack::start(1).await;
    let service = stack.service(0, 0);
    let slots = stack.free_slots(&service).await;
    stack.stop_registry().await;

    let mut ids = Vec::new();
    for slot in &slots[..4] {
        let r = stack.book(&service, slot, PATIENT).await;
        assert_eq!(r.status, 201, "booking succeeds without the registry");
        ids.push(r.json().unwrap()["id"].as_str().unwrap().to_string());
    }
    let cancel = stack
        .request(
            Method::DELETE,
            &format!("/Appointment/{}", ids[3]),
            Some(&service),
        )
        .send()
        .await;
    assert_eq!(cancel.status, 200);
    // Attempts fail while the registry is away, and the jobs wait.
    let store = stack.receivers[0].store.clone();
    for _ in 0..200 {
        if store
            .undelivered_pointer_jobs(10)
            .await
            .unwrap()
            .iter()
            .any(|j| j.attempts > 0)
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let waiting = store.undelivered_pointer_jobs(10).await.unwrap();
    assert!(
        waiting
            .iter()
            .any(|j| j.attempts > 0 && j.last_error.is_some()),
        "{waiting:?}"
    );

    stack.restart_registry().await;
    stack.pointers_settled().await;
    let pointers = stack.pointers(PATIENT).await;
    let mut named: Vec<String> = pointers.iter().map(appointment_of).collect();
    named.sort();
    let mut expected = ids[..3].to_vec();
    expected.sort();
    assert_eq!(
        named, expected,
        "three bookings, three pointers, no duplicates, none for the cancelled one"
    );
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn only_the_custodian_changes_a_pointer_and_anyone_authorised_can_list_and_view() {
    let stack = Stack::start(2).await;
    let service = stack.service(1, 0);
    let slot = &stack.free_slots(&service).await[0];
    let booked = stack
        .book(&service, slot, OTHER_PATIENT)
        .await
        .json()
        .unwrap();
    stack.pointers_settled().await;
    let pointers = stack.pointers(OTHER_PATIENT).await;
    assert_eq!(pointers.len(), 1);
    let pointer = &pointers[0];
    let pid = pointer["id"].as_str().unwrap();
    assert!(
        pid.starts_with("RX002-"),
        "the id carries the custodian: {pid}"
    );

    // The sender (another organisation) cannot change or delete it.
    let r = stack
        .request(Method::DELETE, &format!("/DocumentReference/{pid}"), None)
        .send()
        .await;
    assert_eq!(r.status, 403);
    assert_eq!(
        r.json().unwrap()["issue"][0]["details"]["coding"][0]["code"],
        "ACCESS_DENIED"
    );
    let mut changed = pointer.clone();
    changed["context"]["period"]["start"] = json!("2030-01-01T00:00:00+00:00");
    let r = stack
        .request(Method::PUT, &format!("/DocumentReference/{pid}"), None)
        .json(&changed)
        .send()
        .await;
    assert_eq!(r.status, 403);
    assert_eq!(stack.pointers(OTHER_PATIENT).await.len(), 1, "still there");

    // List + View: from the pointer to the appointment, at the service that owns it.
    let service_from_pointer = service_of(pointer);
    let id = appointment_of(pointer);
    let r = stack
        .request(
            Method::GET,
            &format!("/Appointment/{id}"),
            Some(&service_from_pointer),
        )
        .send()
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json().unwrap(), booked);
    let url = pointer["content"][0]["attachment"]["url"].as_str().unwrap();
    assert!(url.ends_with(&format!("/Appointment/{id}")));
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_retry_after_an_unknown_outcome_never_creates_a_second_pointer() {
    let stack = Stack::start(1).await;
    let service = stack.service(0, 0);
    let slot = &stack.free_slots(&service).await[0];
    let booked = stack.book(&service, slot, PATIENT).await.json().unwrap();
    stack.pointers_settled().await;
    assert_eq!(stack.pointers(PATIENT).await.len(), 1);

    // The state a lost answer leaves: the registry has the pointer, but the receiver never
    // heard; its job is still pending and it does not know the pointer's id.
    let db = rusqlite::Connection::open(&stack.receivers[0].db).unwrap();
    db.busy_timeout(std::time::Duration::from_secs(5)).unwrap();
    db.execute(
        "UPDATE outbox SET state = 'pending', done_ns = NULL WHERE appointment_id = ?1",
        [booked["id"].as_str().unwrap()],
    )
    .unwrap();
    db.execute(
        "UPDATE appointment SET pointer_id = NULL WHERE id = ?1",
        [booked["id"].as_str().unwrap()],
    )
    .unwrap();
    assert_eq!(
        stack.receivers[0]
            .store
            .outbox_stats()
            .await
            .unwrap()
            .pending,
        1
    );

    stack.pointers_settled().await;
    let pointers = stack.pointers(PATIENT).await;
    assert_eq!(
        pointers.len(),
        1,
        "the retry found the pointer instead of creating another: {pointers:#?}"
    );
    let record = stack.receivers[0]
        .store
        .get_appointment(booked["id"].as_str().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        record.pointer_id.as_deref(),
        pointers[0]["id"].as_str(),
        "and it recorded its id"
    );
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn undelivered_pointer_jobs_are_visible_to_operators() {
    let mut stack = Stack::start(1).await;
    let service = stack.service(0, 0);
    let slot = &stack.free_slots(&service).await[0];
    stack.stop_registry().await;
    assert_eq!(stack.book(&service, slot, PATIENT).await.status, 201);
    let admin = stack.receivers[0].admin_url.clone();
    let plain = bars_http::client::HttpClient::plain(std::time::Duration::from_secs(5));
    let mut outbox = Value::Null;
    for _ in 0..200 {
        outbox = plain
            .call(Method::GET, &format!("{admin}/admin/outbox"), &[], None)
            .await
            .unwrap()
            .json()
            .unwrap();
        if outbox["jobs"][0]["attempts"].as_u64().unwrap_or(0) > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(outbox["pending"], 1);
    assert!(outbox["oldestUndeliveredSeconds"].is_number());
    assert_eq!(outbox["jobs"][0]["action"], "create");
    assert!(
        outbox["jobs"][0]["lastError"]
            .as_str()
            .unwrap()
            .contains("registry"),
        "{outbox}"
    );
    let metrics = plain
        .call(Method::GET, &format!("{admin}/metrics"), &[], None)
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&metrics.body).to_string();
    assert!(text.contains("bars_outbox_pending 1"), "{text}");
    assert!(text.contains("bars_outbox_oldest_age_seconds"), "{text}");
    stack.restart_registry().await;
    stack.pointers_settled().await;
    let metrics = plain
        .call(Method::GET, &format!("{admin}/metrics"), &[], None)
        .await
        .unwrap();
    assert!(String::from_utf8_lossy(&metrics.body).contains("bars_outbox_pending 0"));
    stack.stop().await;
}
