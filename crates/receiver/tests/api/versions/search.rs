//! `GET /Appointment` (delta section 2.3): by NHS number under both versions, by demographics
//! under 1.5.0 with the decisions D1 (complete demographics), D2 (several patients) and D5
//! (every status but entered-in-error, unless `status` says).

use super::*;

const DYBALL: &str = "9658499007";
const FOWLER: &str = "9658499015";
const OTHER_DYBALL: &str = "9658499023";

/// A booking whose patient is a contained Patient with demographics, as a sender that holds
/// them writes it.
fn with_patient(
    slot: &Value,
    nhs: &str,
    family: &str,
    given: &str,
    born: &str,
    postcode: &str,
) -> Value {
    let mut a = appointment_for(slot, nhs);
    a["contained"] = json!([{
        "resourceType": "Patient", "id": "patient",
        "identifier": [{ "system": "https://fhir.nhs.uk/Id/nhs-number", "value": nhs }],
        "name": [{ "family": family, "given": [given] }],
        "birthDate": born,
        "address": [{ "use": "home", "postalCode": postcode }]
    }]);
    a["participant"] =
        json!([{ "actor": { "type": "Patient", "reference": "#patient" }, "status": "accepted" }]);
    a
}

async fn book(rx: &TestReceiver, body: &Value) -> Value {
    let r = speaking(rx.post("/Appointment"), V150)
        .json(body)
        .send()
        .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    r.json().unwrap()
}

async fn search(
    rx: &TestReceiver,
    version: &str,
    query: &str,
) -> bars_http::client::ClientResponse {
    speaking(
        rx.get(&format!("/Appointment?{query}")).to(SERVICE_A),
        version,
    )
    .send()
    .await
}

fn ids(bundle: &Value) -> Vec<String> {
    bundle["entry"]
        .as_array()
        .map(|e| {
            e.iter()
                .filter(|e| e["search"]["mode"] == "match")
                .map(|e| e["resource"]["id"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default()
}

const COMPLETE: &str = "patient:name=Adrian%20Dyball%0A&patient:birthdate=eq29%2F10%2F1932%0A&patient:address-postalcode=DN17%204LR%0A";

on_both! {
    #[tokio::test]
    async fn the_search_rows(backend: Backend) {
        let rx = start(backend).await;
        rx.generate(SERVICE_A, 1).await;
        let slots = rx.slots(SERVICE_A, "free").await;
        let first = book(&rx, &with_patient(&slots[1], DYBALL, "Dyball", "Adrian", "1932-10-29", "DN17 4LR")).await;
        let earlier = book(&rx, &with_patient(&slots[0], DYBALL, "Dyball", "Adrian", "1932-10-29", "DN17 4LR")).await;
        let fowler = book(&rx, &with_patient(&slots[2], FOWLER, "Fowler", "Frank", "1921-06-07", "DN17 1HJ")).await;
        let dyball_id = |a: &Value| a["id"].as_str().unwrap().to_string();

        // NHS number: both versions.
        for version in [V116, V150] {
            let r = search(&rx, version, &format!("patient:identifier=https://fhir.nhs.uk/Id/nhs-number|{DYBALL}")).await;
            assert_eq!(r.status, 200);
            let found = ids(&r.json().unwrap());
            assert_eq!(found.len(), 2, "{version}");
            let r = search(&rx, version, &format!("patient:identifier={DYBALL}")).await;
            assert_outcome(&r, 400, "value", "REC_BAD_REQUEST");
        }
        // Complete demographics, under 1.5.0: the patient's bookings in order of start.
        let r = search(&rx, V150, COMPLETE).await;
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        let bundle = r.json().unwrap();
        assert_eq!(ids(&bundle), [dyball_id(&earlier), dyball_id(&first)]);
        assert_eq!(bundle["total"], 2);
        // ... which 1.1.6 does not know: the NHS number is required there.
        assert_outcome(&search(&rx, V116, COMPLETE).await, 400, "required", "REC_BAD_REQUEST");
        // Partial demographics (D1), and nothing at all.
        let partial = "patient:name=Adrian&patient:birthdate=1932-10-29";
        assert_outcome(&search(&rx, V150, partial).await, 400, "required", "REC_BAD_REQUEST");
        assert_outcome(&search(&rx, V150, "_count=5").await, 400, "required", "REC_BAD_REQUEST");
        // A birth date that is no date.
        let bad = "patient:name=Adrian&patient:birthdate=gt1932-10-29&patient:address-postalcode=DN174LR";
        assert_outcome(&search(&rx, V150, bad).await, 400, "value", "REC_BAD_REQUEST");
        // NHS number and demographics AND-combine.
        let r = search(&rx, V150, &format!("patient:identifier=https://fhir.nhs.uk/Id/nhs-number|{FOWLER}&{COMPLETE}")).await;
        assert_eq!(r.json().unwrap()["total"], 0);
        // No such patient.
        let r = search(&rx, V150, "patient:name=Nobody&patient:birthdate=1932-10-29&patient:address-postalcode=DN174LR").await;
        let bundle = r.json().unwrap();
        assert_eq!((bundle["total"].clone(), ids(&bundle).len()), (json!(0), 0));
        let _ = fowler;
        rx.stop().await;
    }
}

on_both! {
    /// Demographics that fit two patients return nothing, with a warning naming no one (D2).
    #[tokio::test]
    async fn demographics_of_two_patients_match_neither(backend: Backend) {
        let rx = start(backend).await;
        rx.generate(SERVICE_A, 1).await;
        let slots = rx.slots(SERVICE_A, "free").await;
        book(&rx, &with_patient(&slots[0], DYBALL, "Dyball", "Adrian", "1932-10-29", "DN17 4LR")).await;
        book(&rx, &with_patient(&slots[1], OTHER_DYBALL, "Dyball", "Adrianne", "1932-10-29", "DN17 4LR")).await;
        let r = search(&rx, V150, COMPLETE).await;
        assert_eq!(r.status, 200);
        let bundle = r.json().unwrap();
        assert_eq!(bundle["total"], 0);
        assert!(ids(&bundle).is_empty());
        let outcome = bundle["entry"].as_array().unwrap().iter().find(|e| e["search"]["mode"] == "outcome").unwrap();
        assert_eq!(outcome["resource"]["issue"][0]["code"], "multiple-matches");
        assert_eq!(outcome["resource"]["issue"][0]["severity"], "warning");
        let text = outcome.to_string();
        assert!(!text.contains(DYBALL) && !text.contains(OTHER_DYBALL) && !text.contains("Dyball"), "{text}");
        // The NHS number tells them apart.
        let r = search(&rx, V150, &format!("patient:identifier=https://fhir.nhs.uk/Id/nhs-number|{DYBALL}&{COMPLETE}")).await;
        assert_eq!(r.json().unwrap()["total"], 1);
        rx.stop().await;
    }
}

on_both! {
    /// 1.5.0 returns every status but entered-in-error unless `status` says (D5); 1.1.6 every one.
    #[tokio::test]
    async fn entered_in_error_is_left_out_unless_asked_for(backend: Backend) {
        let rx = start(backend).await;
        rx.generate(SERVICE_A, 1).await;
        let slots = rx.slots(SERVICE_A, "free").await;
        let kept = book(&rx, &with_patient(&slots[0], DYBALL, "Dyball", "Adrian", "1932-10-29", "DN17 4LR")).await;
        let cancelled = book(&rx, &with_patient(&slots[1], DYBALL, "Dyball", "Adrian", "1932-10-29", "DN17 4LR")).await;
        let mistaken = book(&rx, &with_patient(&slots[2], DYBALL, "Dyball", "Adrian", "1932-10-29", "DN17 4LR")).await;
        for (a, status) in [(&cancelled, "cancelled"), (&mistaken, "entered-in-error")] {
            let mut c = a.clone();
            c["status"] = json!(status);
            assert_eq!(put(&rx, V150, &c).await.status, 200);
        }
        let id = |a: &Value| a["id"].as_str().unwrap().to_string();
        let by_nhs = format!("patient:identifier=https://fhir.nhs.uk/Id/nhs-number|{DYBALL}");
        let bundle = search(&rx, V150, &by_nhs).await.json().unwrap();
        assert_eq!(ids(&bundle), [id(&kept), id(&cancelled)]);
        let bundle = search(&rx, V150, COMPLETE).await.json().unwrap();
        assert_eq!(ids(&bundle), [id(&kept), id(&cancelled)]);
        let bundle = search(&rx, V150, &format!("{by_nhs}&status=entered-in-error,booked")).await.json().unwrap();
        assert_eq!(ids(&bundle), [id(&kept), id(&mistaken)]);
        assert_outcome(&search(&rx, V150, &format!("{by_nhs}&status=nonsense")).await, 400, "value", "REC_BAD_REQUEST");
        assert_eq!(ids(&search(&rx, V116, &by_nhs).await.json().unwrap()).len(), 3);
        rx.stop().await;
    }
}

on_both! {
    /// Another service's appointments are not found by demographics either.
    #[tokio::test]
    async fn a_demographic_search_sees_only_its_service(backend: Backend) {
        let rx = start(backend).await;
        rx.generate(SERVICE_B, 1).await;
        let slots = rx.slots(SERVICE_B, "free").await;
        book(&rx, &with_patient(&slots[0], DYBALL, "Dyball", "Adrian", "1932-10-29", "DN17 4LR")).await;
        let bundle = search(&rx, V150, COMPLETE).await.json().unwrap();
        assert_eq!(bundle["total"], 0);
        let r = speaking(rx.get(&format!("/Appointment?{COMPLETE}")).to(SERVICE_B), V150).send().await;
        assert_eq!(r.json().unwrap()["total"], 1);
        rx.stop().await;
    }
}
