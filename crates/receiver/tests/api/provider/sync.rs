//! Slots kept in step with the provider's scheduling system, keyed by its own ids: created,
//! moved and withdrawn in one call, each slot answered on its own, the same call twice
//! changing nothing, and a booked slot never moved or withdrawn.

use http::Method;
use serde_json::{Value, json};

use super::*;

async fn sync(rx: &TestReceiver, slots: Value) -> Vec<Value> {
    let r = admin_call(
        rx,
        Method::POST,
        "/admin/slots/sync",
        Some(json!({ "service": SERVICE_A, "slots": slots })),
    )
    .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    r.json().unwrap()["results"].as_array().unwrap().clone()
}

fn outcomes(results: &[Value]) -> Vec<&str> {
    results
        .iter()
        .map(|r| r["outcome"].as_str().unwrap())
        .collect()
}

on_both! {
    #[tokio::test]
    async fn slots_follow_the_scheduling_system_by_its_own_ids(backend: Backend) {
        let rx = start(backend).await;
        // Publishing once gives the service its schedule, which sync defaults to.
        rx.generate(SERVICE_A, 1).await;
        let day = tomorrow();
        let at = |h: u32, m: u32| format!("{day}T{h:02}:{m:02}:00+00:00");
        let first = json!([
            { "externalId": "pas-1", "start": at(14, 0), "end": at(14, 15) },
            { "externalId": "pas-2", "start": at(14, 15), "end": at(14, 30) },
            { "externalId": "pas-3", "start": at(15, 0), "end": at(14, 0) },
            { "externalId": "pas-4", "start": at(15, 0), "end": at(15, 15), "schedule": "not-a-schedule" },
        ]);
        let results = sync(&rx, first.clone()).await;
        assert_eq!(outcomes(&results), ["created", "created", "invalid", "invalid"]);
        let slot2 = results[1]["slot"].as_str().unwrap().to_string();
        assert_eq!(outcomes(&sync(&rx, first).await), ["unchanged", "unchanged", "invalid", "invalid"]);

        // Moved, and searchable at its new time.
        let results = sync(&rx, json!([{ "externalId": "pas-1", "start": at(16, 0), "end": at(16, 15) }])).await;
        assert_eq!(outcomes(&results), ["moved"]);
        let free = rx.slots(SERVICE_A, "free").await;
        let moved = free.iter().find(|s| s["id"] == results[0]["slot"]).unwrap();
        assert_eq!(moved["start"], at(16, 0));

        // A booked slot is neither moved nor withdrawn, and the answer names the booking.
        let slot = free.iter().find(|s| s["id"] == slot2.as_str()).unwrap();
        let appointment = rx.book(slot, PATIENT).await.json().unwrap()["id"].as_str().unwrap().to_string();
        let results = sync(&rx, json!([
            { "externalId": "pas-2", "withdraw": true },
            { "externalId": "pas-2", "start": at(17, 0), "end": at(17, 15) },
            { "externalId": "pas-1", "withdraw": true },
            { "externalId": "pas-1", "withdraw": true },
            { "externalId": "pas-9", "withdraw": true },
            { "withdraw": true },
        ])).await;
        assert_eq!(outcomes(&results), ["booked", "booked", "withdrawn", "unchanged", "unknown", "invalid"]);
        assert_eq!(results[0]["appointment"], appointment.as_str());
        assert!(results[0]["reason"].as_str().unwrap().contains(&appointment));
        let booked = rx.get(&format!("/Appointment/{appointment}")).send().await.json().unwrap();
        assert_eq!(booked["start"], slot["start"], "the booking did not move");

        // A withdrawn slot offered again is free again.
        let results = sync(&rx, json!([{ "externalId": "pas-1", "start": at(16, 0), "end": at(16, 15) }])).await;
        assert_eq!(outcomes(&results), ["reinstated"]);
        assert!(rx.slots(SERVICE_A, "free").await.iter().any(|s| s["id"] == results[0]["slot"]));

        let r = admin_call(&rx, Method::POST, "/admin/slots/sync", Some(json!({ "slots": [] }))).await;
        assert_outcome(&r, 400, "value", "REC_BAD_REQUEST");
        rx.stop().await;
    }
}
