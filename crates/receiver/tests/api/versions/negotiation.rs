//! Which version answers: `Accept` `version=` (same major, nearest minor), else the
//! service's default, else the receiver's; and what the CapabilityStatement says.

use super::*;

async fn statement_version(rx: &TestReceiver, req: Req) -> String {
    let _ = rx;
    let r = req.send().await;
    assert_eq!(r.status, 200);
    r.json().unwrap()["version"].as_str().unwrap().to_string()
}

on_both! {
    #[tokio::test]
    async fn the_accept_version_selects_the_closest_served_version(backend: Backend) {
        let rx = start_with(backend, |mut c| {
            c.service_versions.insert(SERVICE_B.into(), bars_receiver::CoreVersion::V1_5_0);
            c
        })
        .await;
        for (asked, answered) in [("1.1.0", "1.1.6"), ("1.2.0", "1.1.6"), ("1.3.0", "1.5.0"), ("1.4.0-alpha", "1.5.0"), ("1.5.0", "1.5.0"), ("1.9.9", "1.5.0")] {
            let req = speaking(rx.get("/metadata"), asked);
            assert_eq!(statement_version(&rx, req).await, answered, "{asked}");
        }
        // No version: the receiver's default, or the addressed service's own.
        let plain = rx.get("/metadata").header("accept", "application/fhir+json");
        assert_eq!(statement_version(&rx, plain).await, "1.1.6");
        let to_b = rx.get("/metadata").header("accept", "application/fhir+json").to(SERVICE_B);
        assert_eq!(statement_version(&rx, to_b).await, "1.5.0");
        // Another major is refused, as before.
        let r = speaking(rx.get("/metadata"), "2.0.0").send().await;
        assert_outcome(&r, 406, "processing", "REC_NOT_ACCEPTABLE");
        rx.stop().await;
    }
}

on_both! {
    #[tokio::test]
    async fn a_receiver_serving_one_version_says_so_and_answers_by_it(backend: Backend) {
        let rx = start_with(backend, |mut c| {
            c.versions = vec![bars_receiver::CoreVersion::V1_1_6];
            c
        })
        .await;
        let r = speaking(rx.get("/metadata"), V150).send().await;
        let statement = r.json().unwrap();
        assert_eq!(statement["version"], "1.1.6");
        let doc = statement["rest"][0]["documentation"].as_str().unwrap();
        assert!(doc.contains("versions served: 1.1.6;"), "{doc}");
        // A 1.5.0 sender is held to the 1.1.6 rules: its PUT may move the booking.
        rx.generate(SERVICE_A, 1).await;
        let slots = rx.slots(SERVICE_A, "free").await;
        let a = booked(&rx, V150, &slots[0], PATIENT).await;
        let mut moved = a.clone();
        moved["slot"] = slot_ref(&slots[1]);
        moved["start"] = slots[1]["start"].clone();
        moved["end"] = slots[1]["end"].clone();
        assert_eq!(put(&rx, V150, &moved).await.status, 200);
        rx.stop().await;
    }
}
