//! UK opening hours across the clock changes of 2027, published through the admin API and
//! searched as a sender searches; and HTTP dates as RFC 9110 writes them.

use bytes::Bytes;
use http::Method;
use serde_json::{Value, json};

use crate::helpers::*;

/// Publishes 30-minute slots between `between` London time on `day`; (created, planned).
async fn publish(rx: &TestReceiver, day: &str, between: &str) -> (u64, u64) {
    let body = json!({ "service": SERVICE_A, "from": day, "days": 1, "every": "30m", "between": between, "zone": "Europe/London" });
    let r = rx
        .client
        .call(
            Method::POST,
            &format!("{}/admin/slots/generate", rx.admin),
            &[("content-type", "application/json".into())],
            Some(Bytes::from(body.to_string())),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let v = r.json().unwrap();
    (
        v["created"].as_u64().unwrap(),
        v["planned"].as_u64().unwrap(),
    )
}

/// The free and busy slots of service A starting within [from, to], in time order.
async fn slots_between(rx: &TestReceiver, from: &str, to: &str) -> Vec<Value> {
    let r = rx
        .get(&format!(
            "/Slot?Schedule.actor:HealthcareService={SERVICE_A}&status=free,busy&start=ge{from}&start=le{to}&_include=Slot:schedule&_include=Schedule:actor:HealthcareService"
        ))
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let mut slots: Vec<Value> = r.json().unwrap()["entry"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["search"]["mode"] == "match")
        .map(|e| e["resource"].clone())
        .collect();
    slots.sort_by_key(|s| s["start"].as_str().unwrap().to_string());
    slots
}

fn field(slots: &[Value], name: &str) -> Vec<String> {
    slots
        .iter()
        .map(|s| s[name].as_str().unwrap().to_string())
        .collect()
}

fn distinct(values: &[String]) -> usize {
    values
        .iter()
        .collect::<std::collections::HashSet<_>>()
        .len()
}

on_both! {
    /// 28 March 2027, 01:00 GMT -> 02:00 BST: a service open 00:00-04:00 is open three real
    /// hours and publishes six half-hour slots; nothing for the hour that does not exist.
    #[tokio::test]
    async fn the_missing_hour_of_spring_2027_publishes_no_slot(backend: Backend) {
        let rx = start(backend).await;
        assert_eq!(publish(&rx, "2027-03-28", "00:00-04:00").await, (6, 6));
        let slots = slots_between(&rx, "2027-03-27T23:00:00Z", "2027-03-28T05:00:00Z").await;
        assert_eq!(
            field(&slots, "start"),
            [
                "2027-03-28T00:00:00+00:00",
                "2027-03-28T00:30:00+00:00",
                "2027-03-28T01:00:00+00:00",
                "2027-03-28T01:30:00+00:00",
                "2027-03-28T02:00:00+00:00",
                "2027-03-28T02:30:00+00:00",
            ]
        );
        assert_eq!(distinct(&field(&slots, "id")), 6);
        // Publishing the same plan again adds nothing.
        assert_eq!(publish(&rx, "2027-03-28", "00:00-04:00").await, (0, 6));
        rx.stop().await;
    }
}

on_both! {
    /// 31 October 2027, 02:00 BST -> 01:00 GMT: a service open 00:00-04:00 is open five real
    /// hours; 01:00 and 01:30 each happen twice and each occurrence is its own slot, bookable
    /// on its own.
    #[tokio::test]
    async fn the_repeated_hour_of_autumn_2027_publishes_both_occurrences(backend: Backend) {
        let rx = start(backend).await;
        assert_eq!(publish(&rx, "2027-10-31", "00:00-04:00").await, (10, 10));
        let slots = slots_between(&rx, "2027-10-30T22:00:00Z", "2027-10-31T05:00:00Z").await;
        let starts = field(&slots, "start");
        let ends = field(&slots, "end");
        assert_eq!(starts.len(), 10);
        assert_eq!(starts[0], "2027-10-30T23:00:00+00:00");
        assert_eq!(ends[9], "2027-10-31T04:00:00+00:00");
        // Back to back, so no two overlap, and ten distinct ids.
        assert_eq!(starts[1..], ends[..9]);
        assert_eq!(distinct(&field(&slots, "id")), 10);
        // 01:30 BST (00:30Z) and 01:30 GMT (01:30Z): booking the second leaves the first free.
        let first = slots.iter().find(|s| s["start"] == "2027-10-31T00:30:00+00:00").unwrap();
        let second = slots.iter().find(|s| s["start"] == "2027-10-31T01:30:00+00:00").unwrap();
        let r = rx.book(second, PATIENT).await;
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
        let after = slots_between(&rx, "2027-10-31T00:30:00Z", "2027-10-31T01:30:00Z").await;
        let status = |id: &Value| {
            after.iter().find(|s| s["id"] == *id).unwrap()["status"].clone()
        };
        assert_eq!(status(&first["id"]), "free");
        assert_eq!(status(&second["id"]), "busy");
        rx.stop().await;
    }
}

on_both! {
    /// `Last-Modified` is the IMF-fixdate of `meta.lastUpdated`, to the second, in GMT.
    #[tokio::test]
    async fn last_modified_is_an_rfc_9110_date_of_the_last_update(backend: Backend) {
        let rx = start(backend).await;
        rx.generate(SERVICE_A, 1).await;
        let slot = rx.slots(SERVICE_A, "free").await.remove(0);
        let r = rx.book(&slot, PATIENT).await;
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
        let updated: jiff::Timestamp = r.json().unwrap()["meta"]["lastUpdated"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        let header = r.header("last-modified").unwrap().to_string();
        let expected = updated
            .round(jiff::TimestampRound::new().smallest(jiff::Unit::Second).mode(jiff::RoundMode::Trunc))
            .unwrap()
            .strftime("%a, %d %b %Y %H:%M:%S GMT")
            .to_string();
        assert_eq!(header, expected);
        rx.stop().await;
    }
}

on_both! {
    /// A zone the database does not know, or hours of no length, are a 400 OperationOutcome
    /// that names the field, and publish nothing.
    #[tokio::test]
    async fn unknown_zones_and_empty_hours_are_refused(backend: Backend) {
        let rx = start(backend).await;
        for (field, value) in [("zone", "Mars/Olympus"), ("between", "09:00-09:00"), ("between", "25:00-06:00")] {
            let mut body = json!({ "service": SERVICE_A, "from": "2027-10-31", "days": 1, "every": "30m", "between": "00:00-04:00", "zone": "Europe/London" });
            body[field] = json!(value);
            let r = rx
                .client
                .call(
                    Method::POST,
                    &format!("{}/admin/slots/generate", rx.admin),
                    &[("content-type", "application/json".into())],
                    Some(Bytes::from(body.to_string())),
                )
                .await
                .unwrap();
            assert_eq!(r.status, 400, "{value}");
            let outcome = r.json().unwrap();
            assert_eq!(outcome["resourceType"], "OperationOutcome");
            assert_eq!(outcome["issue"][0]["details"]["coding"][0]["code"], "REC_BAD_REQUEST");
            assert!(outcome["issue"][0]["diagnostics"].as_str().unwrap().starts_with(field));
        }
        assert!(slots_between(&rx, "2027-10-30T22:00:00Z", "2027-10-31T05:00:00Z").await.is_empty());
        rx.stop().await;
    }
}
