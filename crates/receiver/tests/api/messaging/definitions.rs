//! `GET /MessageDefinition?context=...` (section 2.2).

use serde_json::Value;

use super::*;

fn urls_and_ids(bundle: &Value) -> Vec<(String, String)> {
    bundle["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["resource"]["url"].as_str().unwrap().to_string(),
                e["resource"]["id"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

on_both! {
    #[tokio::test]
    async fn definitions_per_service_and_use_case(backend: Backend) {
        let rx = start_with(backend, |mut c| {
            c.services[1].use_cases = vec!["a1t1".into(), "a2t1".into()];
            c
        })
        .await;
        let get = |q: String| {
            let r = rx.get(&format!("/MessageDefinition?{q}"));
            async move { r.send().await }
        };

        // The generic service, by system|value (both spellings) and by bare value.
        for q in [
            format!("context={DOS}|{SERVICE_A}"),
            format!("context=https%3A%2F%2Ffhir.nhs.uk%2FId%2Fdos-service-id%7C{SERVICE_A}"),
            format!("context=http://fhir.nhs.uk/Id/dos-service-id|{SERVICE_A}"),
            format!("context={SERVICE_A}"),
        ] {
            let r = get(q.clone()).await;
            assert_eq!(r.status, 200, "{q}: {}", String::from_utf8_lossy(&r.body));
            let b = r.json().unwrap();
            assert_eq!(b["resourceType"], "Bundle");
            assert_eq!(b["type"], "searchset");
            assert_eq!(b["total"], 2, "{q}");
            assert_eq!(
                urls_and_ids(&b),
                [
                    (
                        BOOKING_REQUEST.to_string(),
                        format!("booking-request-{SERVICE_A}-generic")
                    ),
                    (
                        BOOKING_CANCELLED.to_string(),
                        format!("booking-request-cancelled-{SERVICE_A}-generic")
                    ),
                ]
            );
            for e in b["entry"].as_array().unwrap() {
                let d = &e["resource"];
                assert_eq!(d["resourceType"], "MessageDefinition");
                assert_eq!(d["status"], "active");
                assert_eq!(d["eventCoding"]["system"], EVENTS);
                assert_eq!(d["eventCoding"]["code"], "booking-request");
                assert_eq!(d["useContext"].as_array().unwrap().len(), 1);
                assert_eq!(d["useContext"][0]["code"]["system"], DOS);
                assert_eq!(d["useContext"][0]["code"]["code"], SERVICE_A);
                assert!(d["version"].is_string());
                assert_eq!(e["search"]["mode"], "match");
                assert_eq!(
                    e["fullUrl"],
                    format!(
                        "{}/MessageDefinition/{}",
                        rx.base,
                        d["id"].as_str().unwrap()
                    )
                );
            }
        }

        // A service with use cases: one pair per use case; repeats narrow (all must match).
        let b = get(format!("context={SERVICE_B}")).await.json().unwrap();
        assert_eq!(b["total"], 4);
        let r = get(format!(
            "context={DOS}|{SERVICE_B}&context={USE_CASES}|a2t1"
        ))
        .await;
        assert_eq!(r.status, 200);
        let b = r.json().unwrap();
        assert_eq!(
            urls_and_ids(&b),
            [
                (
                    BOOKING_REQUEST.to_string(),
                    format!("booking-request-{SERVICE_B}-a2t1")
                ),
                (
                    BOOKING_CANCELLED.to_string(),
                    format!("booking-request-cancelled-{SERVICE_B}-a2t1")
                ),
            ]
        );
        let d = &b["entry"][0]["resource"];
        assert_eq!(d["useContext"][1]["code"]["system"], USE_CASES);
        assert_eq!(d["useContext"][1]["code"]["code"], "a2t1");
        // The focus table of section 6.2.
        let focus: Vec<(String, u64, String)> = d["focus"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                (
                    f["code"].as_str().unwrap().to_string(),
                    f["min"].as_u64().unwrap(),
                    f["max"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        for row in [
            ("Appointment", 1, "1"),
            ("Patient", 1, "1"),
            ("Organization", 2, "*"),
            ("Slot", 1, "1"),
            ("Schedule", 1, "1"),
            ("HealthcareService", 1, "1"),
        ] {
            assert!(
                focus.contains(&(row.0.to_string(), row.1, row.2.to_string())),
                "{row:?} in {focus:?}"
            );
        }
        let self_link = b["link"][0]["url"].as_str().unwrap();
        assert!(self_link.starts_with(&format!("{}/MessageDefinition?context=", rx.base)));

        // A use case alone, bare: every service supporting it.
        let b = get("context=a1t1".into()).await.json().unwrap();
        assert_eq!(b["total"], 2);

        // Nothing matches: 404, not an empty bundle.
        for q in [
            format!("context={SERVICE_A}&context=a1t1"),
            "context=9999999999".to_string(),
            format!("context={USE_CASES}|{SERVICE_A}"),
            format!("context=https://example.org/other|{SERVICE_A}"),
        ] {
            assert_outcome(&get(q).await, 404, "not-found", "REC_NOT_FOUND");
        }
        // No context: 400 required; a malformed one: 400 value.
        assert_outcome(
            &get(String::new()).await,
            400,
            "required",
            "REC_BAD_REQUEST",
        );
        assert_outcome(
            &get("_count=1".into()).await,
            400,
            "required",
            "REC_BAD_REQUEST",
        );
        for q in [
            "context=",
            "context=https://fhir.nhs.uk/Id/dos-service-id|",
            "context=a|b|c",
        ] {
            assert_outcome(&get(q.into()).await, 400, "value", "REC_BAD_REQUEST");
        }
        rx.stop().await;
    }
}
