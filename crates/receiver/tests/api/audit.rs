//! Every request that reads or changes a booking leaves an audit entry.

use http::Method;
use serde_json::json;

use crate::helpers::*;

on_both! {
    #[tokio::test]
    async fn reads_changes_and_refusals_are_audited_with_the_sender(backend: Backend) {
        let rx = start(backend).await;
        rx.generate(SERVICE_A, 1).await;
        let slots = rx.slots(SERVICE_A, "free").await;
        let booking = rx
            .post("/Appointment")
            .json(&appointment_for(&slots[0], PATIENT));
        let booked = booking.send().await.json().unwrap();
        let id = booked["id"].as_str().unwrap();
        assert_eq!(
            rx.get(&format!("/Appointment/{id}")).send().await.status,
            200
        );
        let mut changed = booked.clone();
        changed["description"] = json!("changed");
        assert_eq!(
            rx.put(&format!("/Appointment/{id}"))
                .json(&changed)
                .send()
                .await
                .status,
            200
        );
        assert_eq!(
            rx.put(&format!("/Appointment/{id}"))
                .header("if-match", "W/\"1\"")
                .json(&changed)
                .send()
                .await
                .status,
            412
        );
        assert_eq!(
            rx.delete(&format!("/Appointment/{id}")).send().await.status,
            200
        );
        rx.get(&format!(
            "/Appointment?patient:identifier=https://fhir.nhs.uk/Id/nhs-number|{PATIENT}"
        ))
        .send()
        .await;

        // The sink writes reads in the background: poll until everything expected is there.
        let expected: Vec<(String, u64)> = [
            ("book", 201),
            ("read", 200),
            ("update", 200),
            ("update", 412),
            ("cancel", 200),
        ]
        .iter()
        .map(|(a, o)| (a.to_string(), *o))
        .collect();
        let fetch = |query: String| {
            let (client, admin) = (rx.client.clone(), rx.admin.clone());
            async move {
                client
                    .call(
                        Method::GET,
                        &format!("{admin}/admin/audit?{query}"),
                        &[],
                        None,
                    )
                    .await
                    .unwrap()
                    .json()
                    .unwrap()["entries"]
                    .as_array()
                    .unwrap()
                    .clone()
            }
        };
        let summary = |entries: &[serde_json::Value]| -> Vec<(String, u64)> {
            entries
                .iter()
                .map(|e| {
                    (
                        e["action"].as_str().unwrap().to_string(),
                        e["outcome"].as_u64().unwrap(),
                    )
                })
                .collect()
        };
        let mut entries = Vec::new();
        let mut by_patient = Vec::new();
        for _ in 0..500 {
            entries = fetch(format!("appointment={id}")).await;
            by_patient = fetch(format!("patient={PATIENT}")).await;
            let have = summary(&entries);
            if expected.iter().all(|e| have.contains(e))
                && by_patient.iter().any(|e| e["action"] == "search")
            {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        let have = summary(&entries);
        for e in &expected {
            assert!(have.contains(e), "{e:?} missing from {have:?}");
        }
        assert!(
            by_patient.iter().any(|e| e["action"] == "search"),
            "the search by patient is audited"
        );
        let book = entries.iter().find(|e| e["action"] == "book").unwrap();
        assert_eq!(book["requestId"], booking.request_id());
        assert_eq!(book["senderOds"], SENDER_ODS);
        assert_eq!(book["senderSoftware"], "TEST-SENDER");
        assert_eq!(book["version"], 1);
        rx.stop().await;
    }
}

on_both! {
    /// The audit log answers "who saw this patient's bookings": a version or the history of an
    /// appointment shows the patient as much as a read of it does, so each entry names them.
    #[tokio::test]
    async fn every_read_of_an_appointment_names_its_patient(backend: Backend) {
        let rx = start(backend).await;
        rx.generate(SERVICE_A, 1).await;
        let slots = rx.slots(SERVICE_A, "free").await;
        let booked = rx.book(&slots[0], PATIENT).await.json().unwrap();
        let id = booked["id"].as_str().unwrap();
        for path in [
            format!("/Appointment/{id}"),
            format!("/Appointment/{id}/_history/1"),
            format!("/Appointment/{id}/_history"),
        ] {
            assert_eq!(rx.get(&path).send().await.status, 200, "{path}");
        }
        let wanted = ["read", "vread", "history"];
        let mut seen: Vec<String> = Vec::new();
        // The sink writes reads in the background: poll until they are there.
        for _ in 0..250 {
            let r = rx
                .client
                .call(
                    Method::GET,
                    &format!("{}/admin/audit?patient={PATIENT}", rx.admin),
                    &[],
                    None,
                )
                .await
                .unwrap();
            seen = r.json().unwrap()["entries"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|e| e["resourceId"] == id)
                .filter_map(|e| e["action"].as_str().map(str::to_string))
                .collect();
            if wanted.iter().all(|a| seen.iter().any(|s| s == a)) {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        for action in wanted {
            assert!(
                seen.iter().any(|s| s == action),
                "{action} not found by patient: {seen:?}"
            );
        }
        rx.stop().await;
    }
}
