//! Rebooking: a new pointer that `replaces` an old one deletes it in the same transaction, but
//! only the same custodian's pointer for the same patient and type.

use serde_json::{Value, json};

use crate::helpers::*;

fn replacing(mut p: Value, old: &str) -> Value {
    p["relatesTo"] = json!([{ "code": "replaces", "target": { "identifier": { "value": old } } }]);
    p
}

async fn exists(reg: &TestRegistry, custodian: &str, id: &str) -> bool {
    let r = reg
        .by(custodian)
        .get(&format!("/DocumentReference/{id}"))
        .send()
        .await;
    match r.status.as_u16() {
        200 => true,
        404 => false,
        other => panic!("unexpected {other}: {}", body_text(&r)),
    }
}

on_both! {
    #[tokio::test]
    async fn a_replacing_pointer_deletes_the_old_one(backend: Backend) {
        let reg = start(backend).await;
        let old = reg.create(&pointer()).await;
        let r = reg
            .by(RGT)
            .post("/DocumentReference")
            .json(&replacing(pointer(), &old))
            .send()
            .await;
        assert_success(&r, 201, "RESOURCE_CREATED");
        let new = id_from_location(&r);
        assert!(!exists(&reg, RGT, &old).await);
        assert!(exists(&reg, RGT, &new).await);
        let bundle = reg.by("A1001").search(PATIENT, "").await.json().unwrap();
        assert_eq!(bundle["total"], 1);
        assert_eq!(bundle["entry"][0]["resource"]["id"], new.as_str());
        assert_eq!(
            bundle["entry"][0]["resource"]["relatesTo"][0]["target"]["identifier"]["value"],
            old.as_str()
        );
    }
}

on_both! {
    #[tokio::test]
    async fn only_a_matching_pointer_can_be_replaced(backend: Backend) {
        let reg = start(backend).await;
        let old = reg.create(&pointer()).await;
        let rgt = reg.by(RGT);

        let other_patient = replacing(pointer_for(RGT, OTHER_PATIENT), &old);
        let r = rgt
            .post("/DocumentReference")
            .json(&other_patient)
            .send()
            .await;
        assert_outcome(&r, 400, "business-rule", "VALIDATION_ERROR");

        let other_type = replacing(with_type(pointer(), REFERRAL_TYPE), &old);
        let r = rgt
            .post("/DocumentReference")
            .json(&other_type)
            .send()
            .await;
        assert_outcome(&r, 400, "business-rule", "VALIDATION_ERROR");

        let missing = replacing(pointer(), &format!("{RGT}-no-such-pointer"));
        let r = rgt.post("/DocumentReference").json(&missing).send().await;
        assert_outcome(&r, 400, "value", "VALIDATION_ERROR");

        // Another custodian cannot supersede RGT's pointer.
        let theirs = replacing(pointer_for(OTHER_ORG, PATIENT), &old);
        let r = reg
            .by(OTHER_ORG)
            .post("/DocumentReference")
            .json(&theirs)
            .send()
            .await;
        assert_outcome(&r, 403, "forbidden", "ACCESS_DENIED");

        // Every refusal left things as they were: the old pointer, and nothing new.
        assert!(exists(&reg, RGT, &old).await);
        let everything = rgt.search(PATIENT, "").await.json().unwrap();
        assert_eq!(everything["total"], 1);
        let other = rgt.search(OTHER_PATIENT, "").await.json().unwrap();
        assert_eq!(other["total"], 0);
    }
}
