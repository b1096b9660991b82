//! Pointers of both BaRS Core versions (issue 16; delta section 3.2): a 1.5.0 writer must
//! give the BaRS-Identifier, the dos-service-id and the period; a 1.1.x writer is held to the
//! rules it was written for. Both kinds are stored and served alike, and the guides' misprint
//! of the SNOMED CT system names the same type.

use serde_json::{Value, json};

use crate::helpers::*;

fn speaking(req: Req, version: &str) -> Req {
    req.header(
        "accept",
        &format!("application/fhir+json; version={version}"),
    )
}

/// A pointer as a 1.1.6 receiver wrote it: its appointment's id only, no period.
fn core_116_pointer() -> Value {
    let mut p = pointer();
    p["identifier"] =
        json!([{ "system": "https://fhir.nhs.uk/Id/BaRS-Identifier", "value": "a-116" }]);
    p.as_object_mut().unwrap().shift_remove("context");
    p
}

on_both! {
    #[tokio::test]
    async fn each_version_is_held_to_its_own_pointer_rules(backend: Backend) {
        let reg = start(backend).await;
        let old = core_116_pointer();
        // 1.5.0 rules: both identifiers and the period's two bounds are named as missing.
        let r = speaking(reg.by(RGT).post("/DocumentReference"), "1.5.0").json(&old).send().await;
        assert_outcome(&r, 400, "required", "VALIDATION_ERROR");
        let at: Vec<String> = r.json().unwrap()["issue"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|i| i["expression"][0].as_str().map(str::to_string))
            .collect();
        for expected in ["DocumentReference.identifier", "DocumentReference.context.period.start", "DocumentReference.context.period.end"] {
            assert!(at.iter().any(|a| a == expected), "{expected} in {at:?}");
        }
        // The same pointer from a 1.1.x writer, or one that names no version, is stored.
        for accept in ["application/fhir+json; version=1.1.0", "application/fhir+json"] {
            let r = reg.by(RGT).post("/DocumentReference").header("accept", accept).json(&old).send().await;
            assert_eq!(r.status, 201, "{accept}: {}", body_text(&r));
        }
        // The official (1.4.0/1.5.0) example passes the 1.5.0 rules.
        let r = speaking(reg.by(RGT).post("/DocumentReference"), "1.5.0").json(&pointer()).send().await;
        assert_eq!(r.status, 201, "{}", body_text(&r));
        let new_id = id_from_location(&r);
        // Both are served: the search finds the three.
        let found = reg.by(RGT).search(PATIENT, "").await.json().unwrap();
        assert_eq!(found["total"], 3, "{found}");
        // A 1.5.0 update (a reschedule's new period) is held to the same rules.
        let mut moved = reg.by(RGT).get(&format!("/DocumentReference/{new_id}")).send().await.json().unwrap();
        moved["context"]["period"] = json!({ "start": "2025-02-01T08:00:00+00:00" });
        let r = speaking(reg.by(RGT).put(&format!("/DocumentReference/{new_id}")), "1.5.0").json(&moved).send().await;
        assert_outcome(&r, 400, "required", "VALIDATION_ERROR");
        moved["context"]["period"]["end"] = json!("2025-02-01T08:15:00+00:00");
        let r = speaking(reg.by(RGT).put(&format!("/DocumentReference/{new_id}")), "1.5.0").json(&moved).send().await;
        assert_eq!(r.status, 200, "{}", body_text(&r));
        reg.stop().await;
    }
}

on_both! {
    /// The guides print the SNOMED CT system as https://snomed.info/ict; a pointer that uses it
    /// is of the same type, found by either spelling.
    #[tokio::test]
    async fn the_misprinted_snomed_system_names_the_same_type(backend: Backend) {
        let reg = start(backend).await;
        reg.create(&with_type(pointer(), "https://snomed.info/ict|749001000000101")).await;
        reg.create(&pointer()).await;
        for spelling in ["http://snomed.info/sct", "https://snomed.info/ict"] {
            let found = reg
                .by(RGT)
                .search(PATIENT, &format!("&type={spelling}|749001000000101"))
                .await
                .json()
                .unwrap();
            assert_eq!(found["total"], 2, "{spelling}: {found}");
        }
        reg.stop().await;
    }
}
