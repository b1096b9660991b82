//! Searching a patient's pointers: by NHS number (raw or URL-encoded), type and custodian, in
//! pages of 20 with continuation tokens.

use std::collections::HashSet;

use serde_json::Value;

use crate::helpers::*;

fn ids(bundle: &Value) -> Vec<String> {
    bundle["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["resource"]["id"].as_str().unwrap().to_string())
        .collect()
}

fn next_token(bundle: &Value) -> Option<String> {
    let tag = bundle["meta"]["tag"]
        .as_array()?
        .iter()
        .find(|t| t["display"] == "next_page_token")?;
    Some(tag["code"].as_str()?.to_string())
}

fn link(bundle: &Value, relation: &str) -> Option<String> {
    bundle["link"]
        .as_array()?
        .iter()
        .find(|l| l["relation"] == relation)
        .and_then(|l| l["url"].as_str())
        .map(str::to_string)
}

on_both! {
    #[tokio::test]
    async fn search_by_nhs_number_raw_and_url_encoded(backend: Backend) {
        let reg = start(backend).await;
        let mine = reg.create(&pointer()).await;
        reg.create(&pointer_for(RGT, OTHER_PATIENT)).await;
        // Any authenticated organisation may search, not only custodians.
        let sender = reg.by("A1001");

        let raw = sender.search(PATIENT, "").await;
        assert_eq!(raw.status, 200, "{}", body_text(&raw));
        let bundle = raw.json().unwrap();
        assert_eq!(bundle["resourceType"], "Bundle");
        assert_eq!(bundle["type"], "searchset");
        assert_eq!(bundle["total"], 1);
        assert_eq!(ids(&bundle), vec![mine.clone()]);
        let entry = &bundle["entry"][0];
        assert_eq!(
            entry["fullUrl"],
            format!("{}/DocumentReference/{mine}", reg.base)
        );
        assert_eq!(entry["search"]["mode"], "match");
        assert_eq!(entry["resource"]["subject"]["identifier"]["value"], PATIENT);
        assert_eq!(entry["resource"]["meta"]["versionId"], "1");
        assert!(link(&bundle, "self").is_some());
        assert_eq!(link(&bundle, "next"), None);
        assert_eq!(next_token(&bundle), None);

        for query in [
            format!(
                "/DocumentReference?subject:identifier=https%3A%2F%2Ffhir.nhs.uk%2FId%2Fnhs-number%7C{PATIENT}"
            ),
            format!(
                "/DocumentReference?subject%3Aidentifier=https%253A%252F%252Ffhir.nhs.uk%252FId%252Fnhs-number%257C{PATIENT}"
            ),
        ] {
            let r = sender.get(&query).send().await;
            assert_eq!(r.status, 200, "{query}: {}", body_text(&r));
            assert_eq!(ids(&r.json().unwrap()), vec![mine.clone()], "{query}");
        }
    }
}

on_both! {
    #[tokio::test]
    async fn search_by_type_and_custodian(backend: Backend) {
        let reg = start(backend).await;
        let rgt_booking = reg.create(&pointer()).await;
        let rgt_referral = reg.create(&with_type(pointer(), REFERRAL_TYPE)).await;
        let other_booking = reg.create(&pointer_for(OTHER_ORG, PATIENT)).await;
        let sender = reg.by("A1001");

        let all = sender.search(PATIENT, "").await.json().unwrap();
        assert_eq!(all["total"], 3);
        assert_eq!(
            ids(&all),
            [
                rgt_booking.clone(),
                rgt_referral.clone(),
                other_booking.clone()
            ]
        );

        let bookings = sender
            .search(PATIENT, &format!("&type={BOOKING_TYPE}"))
            .await
            .json()
            .unwrap();
        assert_eq!(ids(&bookings), [rgt_booking.clone(), other_booking.clone()]);
        assert!(
            link(&bookings, "self")
                .unwrap()
                .contains("type=http://snomed.info/sct|749001000000101")
        );

        let at_other = sender
            .search(
                PATIENT,
                &format!("&custodian:identifier={ODS_SYSTEM}|{OTHER_ORG}"),
            )
            .await
            .json()
            .unwrap();
        assert_eq!(ids(&at_other), vec![other_booking.clone()]);

        let rgt_referrals = sender
            .search(
                PATIENT,
                &format!("&custodian:identifier={ODS_SYSTEM}|rgt&type=http%3A%2F%2Fsnomed.info%2Fsct%7C3457005"),
            )
            .await
            .json()
            .unwrap();
        assert_eq!(ids(&rgt_referrals), [rgt_referral]);

        let categorised = sender
            .search(PATIENT, "&category=http://snomed.info/sct|419891008")
            .await
            .json()
            .unwrap();
        assert_eq!(categorised["total"], 3);
    }
}

on_both! {
    #[tokio::test]
    async fn an_empty_search_is_an_empty_bundle(backend: Backend) {
        let reg = start(backend).await;
        reg.create(&pointer()).await;
        let r = reg.by("A1001").search(OTHER_PATIENT, "").await;
        assert_eq!(r.status, 200);
        let bundle = r.json().unwrap();
        assert_eq!(bundle["resourceType"], "Bundle");
        assert_eq!(bundle["type"], "searchset");
        assert_eq!(bundle["total"], 0);
        assert_eq!(bundle["entry"], serde_json::json!([]));
        assert_eq!(next_token(&bundle), None);
    }
}

on_both! {
    #[tokio::test]
    async fn pages_of_twenty_with_next_page_tokens(backend: Backend) {
        let reg = start(backend).await;
        let mut created = Vec::new();
        for _ in 0..45 {
            created.push(reg.create(&pointer()).await);
        }
        reg.create(&pointer_for(RGT, OTHER_PATIENT)).await;
        let sender = reg.by("A1001");

        let mut seen = Vec::new();
        let mut sizes = Vec::new();
        let mut extra = String::new();
        loop {
            let r = sender.search(PATIENT, &extra).await;
            assert_eq!(r.status, 200, "{}", body_text(&r));
            let bundle = r.json().unwrap();
            assert_eq!(
                bundle["total"], 45,
                "total counts every match, not the page"
            );
            let page = ids(&bundle);
            sizes.push(page.len());
            seen.extend(page);
            match next_token(&bundle) {
                Some(token) => {
                    let next = link(&bundle, "next").expect("a next link beside the token");
                    assert!(next.contains(&format!("next-page-token={token}")), "{next}");
                    extra = format!("&next-page-token={token}");
                }
                None => {
                    assert_eq!(link(&bundle, "next"), None);
                    break;
                }
            }
        }
        assert_eq!(sizes, [20, 20, 5]);
        assert_eq!(seen, created, "every pointer once, in a stable order");
        assert_eq!(seen.iter().collect::<HashSet<_>>().len(), 45);

        // The next link is a complete search URL.
        let first = sender.search(PATIENT, "").await.json().unwrap();
        let next = link(&first, "next").unwrap();
        let second = sender.get(&next).send().await.json().unwrap();
        assert_eq!(ids(&second), created[20..40].to_vec());
    }
}

on_both! {
    #[tokio::test]
    async fn filters_apply_across_pages(backend: Backend) {
        let reg = start_with(backend, |mut c| {
            c.page_size = 2;
            c
        })
        .await;
        let mut bookings = Vec::new();
        for i in 0..5 {
            bookings.push(reg.create(&pointer()).await);
            if i % 2 == 0 {
                reg.create(&with_type(pointer(), REFERRAL_TYPE)).await;
            }
        }
        let sender = reg.by("A1001");
        let filter = format!("&type={BOOKING_TYPE}");
        let mut seen = Vec::new();
        let mut extra = filter.clone();
        loop {
            let bundle = sender.search(PATIENT, &extra).await.json().unwrap();
            assert_eq!(bundle["total"], 5);
            seen.extend(ids(&bundle));
            match next_token(&bundle) {
                Some(token) => extra = format!("{filter}&next-page-token={token}"),
                None => break,
            }
        }
        assert_eq!(seen, bookings);
    }
}

on_both! {
    #[tokio::test]
    async fn bad_search_parameters_are_invalid_values(backend: Backend) {
        let reg = start(backend).await;
        let sender = reg.by("A1001");
        let cases = [
            ("/DocumentReference".to_string(), "required"),
            (
                "/DocumentReference?type=http://snomed.info/sct|749001000000101".to_string(),
                "required",
            ),
            (
                format!("/DocumentReference?subject:identifier={PATIENT}"),
                "value",
            ),
            (
                format!("/DocumentReference?subject:identifier=https://example.org/mrn|{PATIENT}"),
                "value",
            ),
            (
                format!("/DocumentReference?subject:identifier={NHS_SYSTEM}|9693893124"),
                "value",
            ),
            (
                format!(
                    "/DocumentReference?subject:identifier={NHS_SYSTEM}|{PATIENT}&type=749001000000101"
                ),
                "value",
            ),
            (
                format!(
                    "/DocumentReference?subject:identifier={NHS_SYSTEM}|{PATIENT}&custodian:identifier=https://example.org|RGT"
                ),
                "value",
            ),
            (
                format!(
                    "/DocumentReference?subject:identifier={NHS_SYSTEM}|{PATIENT}&next-page-token=not-a-token"
                ),
                "value",
            ),
            (
                format!(
                    "/DocumentReference?subject:identifier={NHS_SYSTEM}|{PATIENT}&subject:identifier={NHS_SYSTEM}|{OTHER_PATIENT}"
                ),
                "value",
            ),
        ];
        for (query, issue) in cases {
            let r = sender.get(&query).send().await;
            assert_outcome(&r, 400, issue, "INVALID_VALUE");
        }
        // A query that is not valid percent-encoded UTF-8 is a malformed request.
        let r = sender
            .get("/DocumentReference?subject:identifier=%FF")
            .send()
            .await;
        assert_outcome(&r, 400, "value", "BAD_REQUEST");
    }
}

on_both! {
    #[tokio::test]
    async fn continuation_tokens_and_page_sizes_stay_within_their_bounds(backend: Backend) {
        use base64::Engine;
        let reg = start(backend).await;
        reg.create(&pointer()).await;
        let sender = reg.by("A1001");
        let token = |text: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text);
        // The largest position a token can hold resumes past every pointer, on both backends.
        let last = bars_registry::store::Cursor { after: i64::MAX }.encode();
        let r = sender.search(PATIENT, &format!("&next-page-token={last}")).await;
        assert_eq!(r.status, 200, "{}", body_text(&r));
        let bundle = r.json().unwrap();
        assert_eq!((bundle["total"].as_u64(), ids(&bundle).len()), (Some(1), 0));
        // Beyond it, below zero, or not a number: refused, never wrapped.
        for text in ["p1:9223372036854775808", "p1:-1", "p1:1e3", "p1:", "p2:1"] {
            let r = sender.search(PATIENT, &format!("&next-page-token={}", token(text))).await;
            assert_outcome(&r, 400, "value", "INVALID_VALUE");
        }
        // NRL pages are 20 and a sender cannot change that: _count is not read, whatever it says.
        for count in ["0", "-1", "99999999999999999999999"] {
            let r = sender.search(PATIENT, &format!("&_count={count}")).await;
            assert_eq!(r.status, 200, "{}", body_text(&r));
            assert_eq!(ids(&r.json().unwrap()).len(), 1);
        }
    }
}
