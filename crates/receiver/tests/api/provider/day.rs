//! The day list: a service's appointments for a day, NHS numbers masked unless asked for,
//! filtered by status, paged by cursor, every patient shown audited.

use http::Method;
use serde_json::{Value, json};

use super::*;

async fn list(rx: &TestReceiver, query: &str) -> Value {
    let r = admin_call(
        rx,
        Method::GET,
        &format!("/admin/appointments?{query}"),
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    r.json().unwrap()
}

on_both! {
    #[tokio::test]
    async fn the_day_list_masks_numbers_filters_by_status_and_pages(backend: Backend) {
        let rx = start(backend).await;
        rx.generate(SERVICE_A, 2).await;
        rx.generate(SERVICE_B, 1).await;
        let slots = rx.slots(SERVICE_A, "free").await;
        let mut ids = Vec::new();
        for (slot, nhs) in slots.iter().take(3).zip([PATIENT, OTHER_PATIENT, PATIENT]) {
            ids.push(rx.book(slot, nhs).await.json().unwrap()["id"].as_str().unwrap().to_string());
        }
        let other_service = rx.slots(SERVICE_B, "free").await;
        assert_eq!(rx.book(&other_service[0], PATIENT).await.status, 201);
        assert_eq!(staff(&rx, &ids[1], "cancel", json!({ "reason": "clinic closed" })).await.status, 200);

        let day = format!("service={SERVICE_A}&date={}&zone=UTC", tomorrow());
        let all = list(&rx, &day).await;
        let lines = all["appointments"].as_array().unwrap();
        let listed: Vec<&str> = lines.iter().map(|l| l["id"].as_str().unwrap()).collect();
        assert_eq!(listed, ids.iter().map(String::as_str).collect::<Vec<_>>(), "in start order, this service's only");
        assert_eq!(lines[0]["patient"], "*******919");
        assert!(!all.to_string().contains(PATIENT) && !all.to_string().contains(OTHER_PATIENT));
        assert_eq!(lines[0]["bookedBy"], SENDER_ODS);
        assert_eq!(lines[0]["reason"], "Reason for calling");
        assert_eq!(lines[1]["status"], "cancelled");
        assert_eq!(lines[1]["cancellationReason"], "clinic closed");
        assert_eq!(lines[0]["start"], slots[0]["start"]);

        let shown = list(&rx, &format!("{day}&show-nhs-number=true")).await;
        assert_eq!(shown["appointments"][1]["patient"], OTHER_PATIENT);
        let booked = list(&rx, &format!("{day}&status=booked")).await;
        assert_eq!(booked["appointments"].as_array().unwrap().len(), 2);
        let next_day = list(&rx, &format!("service={SERVICE_A}&date={}&zone=UTC", day_after(&tomorrow()))).await;
        assert_eq!(next_day["appointments"], json!([]));
        let both_days = list(&rx, &format!("{day}&to={}", day_after(&tomorrow()))).await;
        assert_eq!(both_days["appointments"].as_array().unwrap().len(), 3);

        // One at a time, by cursor: each once, in order.
        let mut paged = Vec::new();
        let mut query = format!("{day}&_count=1");
        loop {
            let page = list(&rx, &query).await;
            for l in page["appointments"].as_array().unwrap() {
                paged.push(l["id"].as_str().unwrap().to_string());
            }
            match page["next"].as_str() {
                Some(token) => query = format!("{day}&_count=1&_page_after={token}"),
                None => break,
            }
        }
        assert_eq!(paged, ids);

        // Reads are audited through the batching sink, so the entry lands shortly after.
        eventually("the day list is audited", async || {
            let r = admin_call(&rx, Method::GET, &format!("/admin/audit?appointment={}", ids[0]), None).await;
            r.json().unwrap()["entries"].as_array().unwrap().iter().any(|e| e["action"] == "day-list" && e["patient"] == PATIENT)
        })
        .await;
        let r = admin_call(&rx, Method::GET, "/admin/appointments?date=2026-01-01", None).await;
        assert_outcome(&r, 400, "required", "REC_BAD_REQUEST");
        rx.stop().await;
    }
}

fn day_after(date: &str) -> String {
    let d = time::Date::parse(
        date,
        time::macros::format_description!("[year]-[month]-[day]"),
    )
    .unwrap();
    let n = d.next_day().unwrap();
    format!("{:04}-{:02}-{:02}", n.year(), u8::from(n.month()), n.day())
}
