//! Every NRL pointer rule, over HTTP: status, FHIR issue code and Spine code.

use serde_json::{Value, json};

use crate::helpers::*;

fn without(element: &str) -> Value {
    let mut p = pointer();
    p.as_object_mut().unwrap().shift_remove(element);
    p
}

fn with(path: &str, value: Value) -> Value {
    let mut p = pointer();
    let (parent, key) = path.rsplit_once('/').unwrap();
    let target = if parent.is_empty() {
        &mut p
    } else {
        p.pointer_mut(parent).unwrap()
    };
    target
        .as_object_mut()
        .unwrap()
        .insert(key.to_string(), value);
    p
}

/// POSTs `body` and asserts the refusal, naming the element at fault.
async fn refused(reg: &TestRegistry, body: &Value, issue: &str, expression: &str) {
    let r = reg
        .by(RGT)
        .post("/DocumentReference")
        .json(body)
        .send()
        .await;
    assert_outcome(&r, 400, issue, "VALIDATION_ERROR");
    let outcome = r.json().unwrap();
    let at: Vec<&str> = outcome["issue"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|i| i["expression"].as_array().into_iter().flatten())
        .filter_map(Value::as_str)
        .collect();
    assert!(
        at.contains(&expression),
        "expected {expression} in {outcome}"
    );
}

on_both! {
    #[tokio::test]
    async fn required_elements(backend: Backend) {
        let reg = start(backend).await;
        for element in [
            "custodian",
            "type",
            "status",
            "subject",
            "category",
            "content",
        ] {
            refused(
                &reg,
                &without(element),
                "required",
                &format!("DocumentReference.{element}"),
            )
            .await;
        }
        refused(
            &reg,
            &with("/content", json!([])),
            "structure",
            "DocumentReference.content",
        )
        .await;
        // Nothing was stored along the way.
        let bundle = reg.by(RGT).search(PATIENT, "").await.json().unwrap();
        assert_eq!(bundle["total"], 0);
    }
}

on_both! {
    #[tokio::test]
    async fn custodian_must_be_an_ods_code(backend: Backend) {
        let reg = start(backend).await;
        refused(
            &reg,
            &with(
                "/custodian/identifier/system",
                json!("https://example.org/organisations"),
            ),
            "value",
            "DocumentReference.custodian.identifier.system",
        )
        .await;
        refused(
            &reg,
            &with("/custodian", json!({"reference": "Organization/RGT"})),
            "required",
            "DocumentReference.custodian.identifier",
        )
        .await;
        refused(
            &reg,
            &with("/custodian/identifier/value", json!("R/GT")),
            "value",
            "DocumentReference.custodian.identifier.value",
        )
        .await;
    }
}

on_both! {
    #[tokio::test]
    async fn subject_must_be_a_valid_nhs_number(backend: Backend) {
        let reg = start(backend).await;
        refused(
            &reg,
            &with(
                "/subject/identifier/system",
                json!("https://example.org/patients"),
            ),
            "value",
            "DocumentReference.subject.identifier.system",
        )
        .await;
        for bad in ["9693893124", "969389312", "96938931XX"] {
            refused(
                &reg,
                &with("/subject/identifier/value", json!(bad)),
                "value",
                "DocumentReference.subject.identifier.value",
            )
            .await;
        }
    }
}

on_both! {
    #[tokio::test]
    async fn exactly_one_category_coding(backend: Backend) {
        let reg = start(backend).await;
        let two = json!([{"coding": [
            {"system": "http://snomed.info/sct", "code": "419891008"},
            {"system": "http://snomed.info/sct", "code": "734163000"}
        ]}]);
        refused(
            &reg,
            &with("/category", two),
            "value",
            "DocumentReference.category[0].coding",
        )
        .await;
        let two_categories = json!([
            {"coding": [{"system": "http://snomed.info/sct", "code": "419891008"}]},
            {"coding": [{"system": "http://snomed.info/sct", "code": "734163000"}]}
        ]);
        refused(
            &reg,
            &with("/category", two_categories),
            "value",
            "DocumentReference.category",
        )
        .await;
        refused(
            &reg,
            &with("/category", json!([{"text": "Record artifact"}])),
            "required",
            "DocumentReference.category[0].coding",
        )
        .await;
    }
}

on_both! {
    #[tokio::test]
    async fn relates_to_codes(backend: Backend) {
        let reg = start(backend).await;
        refused(
            &reg,
            &with(
                "/relatesTo",
                json!([{"code": "supersedes", "target": {"identifier": {"value": "RGT-1"}}}]),
            ),
            "value",
            "DocumentReference.relatesTo[0].code",
        )
        .await;
        // A known code that is not `replaces` is stored as is.
        let appends = with(
            "/relatesTo",
            json!([{"code": "appends", "target": {"identifier": {"value": "RGT-1"}}}]),
        );
        reg.create(&appends).await;
    }
}

on_both! {
    #[tokio::test]
    async fn base_r4_structure(backend: Backend) {
        let reg = start(backend).await;
        refused(
            &reg,
            &with("/resourceType", json!("Appointment")),
            "structure",
            "DocumentReference",
        )
        .await;
        refused(
            &reg,
            &with("/notAnElement", json!("x")),
            "structure",
            "DocumentReference.notAnElement",
        )
        .await;
        refused(
            &reg,
            &with("/status", json!("active")),
            "value",
            "DocumentReference.status",
        )
        .await;
        refused(
            &reg,
            &with("/date", json!("2025-02-18")),
            "value",
            "DocumentReference.date",
        )
        .await;
    }
}

on_both! {
    #[tokio::test]
    async fn every_finding_is_reported_at_once(backend: Backend) {
        let reg = start(backend).await;
        let mut body = without("custodian");
        body.as_object_mut().unwrap().shift_remove("category");
        body["subject"]["identifier"]["value"] = json!("9693893124");
        let r = reg
            .by(RGT)
            .post("/DocumentReference")
            .json(&body)
            .send()
            .await;
        assert_outcome(&r, 400, "required", "VALIDATION_ERROR");
        let outcome = r.json().unwrap();
        assert!(outcome["issue"].as_array().unwrap().len() >= 3, "{outcome}");
        for issue in outcome["issue"].as_array().unwrap() {
            assert_eq!(issue["details"]["coding"][0]["code"], "VALIDATION_ERROR");
        }
    }
}

on_both! {
    #[tokio::test]
    async fn updates_follow_the_same_rules(backend: Backend) {
        let reg = start(backend).await;
        let id = reg.create(&pointer()).await;
        let path = format!("/DocumentReference/{id}");
        let mut body = reg.by(RGT).get(&path).send().await.json().unwrap();
        body.as_object_mut().unwrap().shift_remove("category");
        let r = reg.by(RGT).put(&path).json(&body).send().await;
        assert_outcome(&r, 400, "required", "VALIDATION_ERROR");
    }
}
