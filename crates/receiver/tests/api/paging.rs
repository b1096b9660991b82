//! Every number a sender sends is parsed against stated bounds: out of range is 400
//! `REC_BAD_REQUEST`, never a 500 and never clamped. Appointment search and `_history` page by
//! an opaque token that resumes after a position no write moves, so a walk through every page
//! sees each record exactly once while others book and reschedule.

use std::collections::BTreeSet;

use http::Method;
use serde_json::{Value, json};

use crate::helpers::*;

fn search(nhs: &str) -> String {
    format!("/Appointment?patient:identifier=https://fhir.nhs.uk/Id/nhs-number|{nhs}")
}

/// The ids of a Bundle's entries, in order.
fn ids(bundle: &Value) -> Vec<String> {
    bundle["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["resource"]["id"].as_str().unwrap().to_string())
        .collect()
}

/// The Bundle's `next` link as a path on the receiver.
fn next_path(rx: &TestReceiver, bundle: &Value) -> Option<String> {
    bundle["link"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["relation"] == "next")
        .map(|l| {
            l["url"]
                .as_str()
                .unwrap()
                .strip_prefix(&rx.base)
                .expect("next links point back at this receiver")
                .to_string()
        })
}

async fn book_n(rx: &TestReceiver, slots: &[Value], nhs: &str) -> Vec<String> {
    let mut ids = Vec::new();
    for slot in slots {
        let r = rx.book(slot, nhs).await;
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
        ids.push(r.json().unwrap()["id"].as_str().unwrap().to_string());
    }
    ids
}

/// Moves an appointment to `slot` (a new start, so a new place in a start-ordered list).
async fn reschedule(rx: &TestReceiver, id: &str, slot: &Value) {
    let patch = json!([
        { "op": "replace", "path": "/slot/0/reference", "value": format!("Slot/{}", slot["id"].as_str().unwrap()) },
        { "op": "replace", "path": "/start", "value": slot["start"] },
        { "op": "replace", "path": "/end", "value": slot["end"] }
    ]);
    let r = rx
        .patch(&format!("/Appointment/{id}"))
        .body_as("application/json-patch+json", patch.to_string())
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
}

on_both! {
    #[tokio::test]
    async fn offsets_are_refused_as_bad_requests_whatever_their_value(backend: Backend) {
        let rx = start(backend).await;
        rx.generate(SERVICE_A, 1).await;
        let slots = rx.slots(SERVICE_A, "free").await;
        book_n(&rx, &slots[..2], PATIENT).await;
        // The first was a 500 on PostgreSQL (an unbounded usize cast to a negative OFFSET) and
        // an offset of zero on SQLite; the others silently paged by offset.
        for offset in ["9223372036854775808", "18446744073709551616", "-1", "abc", "", "1"] {
            let r = rx.get(&format!("{}&_offset={offset}", search(PATIENT))).send().await;
            assert_outcome(&r, 400, "not-supported", "REC_BAD_REQUEST");
            assert_eq!(r.json().unwrap()["issue"][0]["expression"][0], "_offset", "{offset}");
        }
    }
}

on_both! {
    #[tokio::test]
    async fn page_sizes_outside_their_bounds_are_refused_everywhere(backend: Backend) {
        let rx = start(backend).await;
        rx.generate(SERVICE_A, 1).await;
        let slots = rx.slots(SERVICE_A, "free").await;
        let id = book_n(&rx, &slots[..1], PATIENT).await.remove(0);
        let history = format!("/Appointment/{id}/_history?x=1");
        let slot_search = rx.slot_query(SERVICE_A, "free");
        // Appointment search and history take at most 100 a page, slot search 1000.
        for (base, max) in [(search(PATIENT), 100), (history.clone(), 100), (slot_search.clone(), 1000)] {
            for count in [
                (max + 1).to_string(),
                "9223372036854775808".into(),
                "99999999999999999999999".into(),
                "-1".into(),
                "2.5".into(),
                "ten".into(),
                String::new(),
            ] {
                let r = rx.get(&format!("{base}&_count={count}")).send().await;
                assert_outcome(&r, 400, "value", "REC_BAD_REQUEST");
                let body = r.json().unwrap();
                assert_eq!(body["issue"][0]["expression"][0], "_count", "{base} {count}");
                assert!(
                    body["issue"][0]["diagnostics"].as_str().unwrap().contains(&format!("0 to {max}")),
                    "the refusal states the bounds: {body}"
                );
            }
            let r = rx.get(&format!("{base}&_count=1&_count=2")).send().await;
            assert_outcome(&r, 400, "value", "REC_BAD_REQUEST");
            // The largest page is served.
            let r = rx.get(&format!("{base}&_count={max}")).send().await;
            assert_eq!(r.status, 200, "{base}: {}", String::from_utf8_lossy(&r.body));
        }
        // _count=0 is FHIR's "the total only": no entries, no next page.
        for base in [search(PATIENT), history, slot_search] {
            let r = rx.get(&format!("{base}&_count=0")).send().await;
            assert_eq!(r.status, 200, "{base}");
            let bundle = r.json().unwrap();
            assert!(bundle["total"].as_u64().unwrap() >= 1, "{base}: {bundle}");
            let matches = bundle["entry"].as_array().unwrap().iter().filter(|e| e["search"]["mode"] != "include").count();
            assert_eq!(matches, 0, "{base}: {bundle}");
            assert!(next_path(&rx, &bundle).is_none(), "{base}");
        }
    }
}

on_both! {
    #[tokio::test]
    async fn page_tokens_this_server_did_not_issue_are_bad_requests(backend: Backend) {
        let rx = start(backend).await;
        rx.generate(SERVICE_A, 1).await;
        let slots = rx.slots(SERVICE_A, "free").await;
        let id = book_n(&rx, &slots[..1], PATIENT).await.remove(0);
        let history = format!("/Appointment/{id}/_history?_count=1");
        // A real token of the other kind, to show kinds are not interchangeable.
        let r = rx.get(&history).send().await;
        assert_eq!(r.status, 200);
        let r = rx.patch(&format!("/Appointment/{id}")).body_as("application/json-patch+json", json!([{ "op": "replace", "path": "/description", "value": "v2" }]).to_string()).send().await;
        assert_eq!(r.status, 200);
        let page = rx.get(&history).send().await.json().unwrap();
        let history_next = next_path(&rx, &page).expect("two versions, one a page");
        let history_token = history_next.split("_page_after=").nth(1).unwrap().to_string();
        for token in [
            "garbage".to_string(),
            "%21%21".into(),
            "YTF8MTIzfG5vdC1hLXV1aWQ".into(), // a1|123|not-a-uuid
            "aDF8OTIyMzM3MjAzNjg1NDc3NTgwOA".into(), // h1|9223372036854775808
            "aDF8LTE".into(), // h1|-1
            "A".repeat(4000),
            String::new(),
        ] {
            for base in [search(PATIENT), history.clone()] {
                let r = rx.get(&format!("{base}&_page_after={token}")).send().await;
                assert_outcome(&r, 400, "value", "REC_BAD_REQUEST");
                assert_eq!(r.json().unwrap()["issue"][0]["expression"][0], "_page_after");
            }
        }
        let r = rx.get(&format!("{}&_page_after={history_token}", search(PATIENT))).send().await;
        assert_outcome(&r, 400, "value", "REC_BAD_REQUEST");
        // The history token itself works where it was issued.
        assert_eq!(rx.get(&history_next).send().await.status, 200);
    }
}

on_both! {
    #[tokio::test]
    async fn version_ids_outside_what_a_version_can_be_are_bad_requests(backend: Backend) {
        let rx = start(backend).await;
        rx.generate(SERVICE_A, 1).await;
        let slots = rx.slots(SERVICE_A, "free").await;
        let id = book_n(&rx, &slots[..1], PATIENT).await.remove(0);
        // These were read as u64 and cast to a negative number on the way to the database
        // (and the audit log); now they are refused for what they are.
        for vid in ["9223372036854775808", "18446744073709551615", "0", "-1", "1.0"] {
            let r = rx.get(&format!("/Appointment/{id}/_history/{vid}")).send().await;
            assert_outcome(&r, 400, "value", "REC_BAD_REQUEST");
        }
        assert_eq!(rx.get(&format!("/Appointment/{id}/_history/1")).send().await.status, 200);
        let r = rx.get(&format!("/Appointment/{id}/_history/9223372036854775807")).send().await;
        assert_outcome(&r, 404, "not-found", "REC_NOT_FOUND");
    }
}

on_both! {
    #[tokio::test]
    async fn a_walk_through_every_page_sees_each_appointment_once_while_others_book(backend: Backend) {
        let rx = start(backend).await;
        rx.generate(SERVICE_A, 2).await;
        let slots = rx.slots(SERVICE_A, "free").await;
        assert_eq!(slots.len(), 24);
        // Seven appointments at the later half of the day, so reschedules can move them earlier.
        let existing = book_n(&rx, &slots[12..19], PATIENT).await;
        book_n(&rx, &slots[19..20], OTHER_PATIENT).await;
        let mut seen = Vec::new();
        let mut path = format!("{}&_count=3", search(PATIENT));
        let mut spare = slots[..12].iter();
        let mut pages = 0;
        loop {
            let r = rx.get(&path).send().await;
            assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
            let bundle = r.json().unwrap();
            assert_eq!(bundle["total"], 7 + pages, "the total counts every page, now");
            let page = ids(&bundle);
            assert!(page.len() <= 3);
            seen.extend(page.iter().cloned());
            pages += 1;
            let Some(next) = next_path(&rx, &bundle) else { break };
            assert!(pages < 10, "the walk ends");
            // Between pages: another booking, and one already seen moved to the start of the day.
            book_n(&rx, std::slice::from_ref(spare.next().unwrap()), PATIENT).await;
            reschedule(&rx, &page[0], spare.next().unwrap()).await;
            path = next;
        }
        let distinct: BTreeSet<&String> = seen.iter().collect();
        assert_eq!(distinct.len(), seen.len(), "no appointment twice: {seen:?}");
        for id in &existing {
            assert!(seen.contains(id), "{id} was on no page: {seen:?}");
        }
        assert_eq!(&seen[..7], &existing[..], "in booking order");
    }
}

on_both! {
    #[tokio::test]
    async fn history_pages_newest_first_and_a_new_version_does_not_shift_them(backend: Backend) {
        let rx = start(backend).await;
        rx.generate(SERVICE_A, 1).await;
        let slots = rx.slots(SERVICE_A, "free").await;
        let id = book_n(&rx, &slots[..1], PATIENT).await.remove(0);
        let describe = |v: u32| {
            let id = id.clone();
            let rx = &rx;
            async move {
                let patch = json!([{ "op": "replace", "path": "/description", "value": format!("v{v}") }]);
                let r = rx.patch(&format!("/Appointment/{id}")).body_as("application/json-patch+json", patch.to_string()).send().await;
                assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
            }
        };
        for v in 2..=5 {
            describe(v).await;
        }
        let versions = |b: &Value| -> Vec<String> {
            b["entry"].as_array().unwrap().iter().map(|e| e["resource"]["meta"]["versionId"].as_str().unwrap().to_string()).collect()
        };
        let first = rx.get(&format!("/Appointment/{id}/_history?_count=2")).send().await.json().unwrap();
        assert_eq!(first["type"], "history");
        assert_eq!((versions(&first), first["total"].as_u64()), (vec!["5".to_string(), "4".into()], Some(5)));
        describe(6).await;
        let mut path = next_path(&rx, &first).unwrap();
        let mut rest = Vec::new();
        let mut pages = 0;
        loop {
            let bundle = rx.get(&path).send().await.json().unwrap();
            rest.extend(versions(&bundle));
            pages += 1;
            assert!(pages < 5, "the walk ends");
            match next_path(&rx, &bundle) {
                Some(next) => path = next,
                None => break,
            }
        }
        assert_eq!(rest, ["3", "2", "1"]);
        // Without _count, one page holds them all, as before.
        let all = rx.get(&format!("/Appointment/{id}/_history")).send().await.json().unwrap();
        assert_eq!(versions(&all), ["6", "5", "4", "3", "2", "1"]);
        assert!(next_path(&rx, &all).is_none());
    }
}

on_both! {
    #[tokio::test]
    async fn admin_numbers_are_bounded_and_refused_as_outcomes(backend: Backend) {
        let rx = start(backend).await;
        let admin = |path: &str, method: Method| {
            let url = format!("{}{path}", rx.admin);
            let client = rx.client.clone();
            async move { client.call(method, &url, &[], None).await.unwrap() }
        };
        // The first was a 500 on PostgreSQL (a negative LIMIT) and unlimited on SQLite.
        for limit in ["9223372036854775808", "18446744073709551615", "0", "-1", "x", "100001"] {
            let r = admin(&format!("/admin/audit?limit={limit}"), Method::GET).await;
            assert_outcome(&r, 400, "value", "REC_BAD_REQUEST");
        }
        assert_eq!(admin("/admin/audit?limit=100000", Method::GET).await.status, 200);
        // A job number that is not one was axum's plain-text rejection.
        for seq in ["abc", "9223372036854775808", "-1"] {
            let r = admin(&format!("/admin/outbox/{seq}/retry"), Method::POST).await;
            assert_outcome(&r, 400, "value", "REC_BAD_REQUEST");
        }
        let r = admin("/admin/outbox/42/retry", Method::POST).await;
        assert_outcome(&r, 404, "not-found", "REC_NOT_FOUND");
    }
}

on_both! {
    #[tokio::test]
    async fn slot_windows_at_and_beyond_the_representable_instants_are_refused(backend: Backend) {
        let rx = start(backend).await;
        rx.generate(SERVICE_A, 1).await;
        let query = |lower: &str, upper: &str| {
            format!(
                "/Slot?Schedule.actor:HealthcareService={SERVICE_A}&status=free&start={lower}&start={upper}&_include=Slot:schedule&_include=Schedule:actor:HealthcareService"
            )
        };
        // Instants are i64 nanoseconds (1677-09-21 to 2262-04-11): beyond them is a bad value.
        for (lower, upper) in [
            ("ge1600-01-01T00:00:00Z", "le1600-01-02T00:00:00Z"),
            ("ge2262-04-11T23:47:16Z", "le2262-04-11T23:47:17Z"),
            ("ge0001-01-01T00:00:00Z", "le9999-12-31T23:59:59Z"),
        ] {
            let r = rx.get(&query(lower, upper)).send().await;
            assert_outcome(&r, 400, "value", "REC_BAD_REQUEST");
        }
        // The widest window that can be written is too costly, not an overflow.
        let r = rx.get(&query("ge1677-09-22T00:00:00Z", "le2262-04-10T00:00:00Z")).send().await;
        assert_outcome(&r, 422, "too-costly", "REC_UNPROCESSABLE_ENTITY");
        // The last representable instant as both bounds is a window like any other.
        let r = rx
            .get(&query("ge2262-04-11T23:47:16.854775807Z", "le2262-04-11T23:47:16.854775807Z"))
            .send()
            .await;
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        assert_eq!(r.json().unwrap()["total"], 0);
    }
}
