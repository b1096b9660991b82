//! The pointer lifecycle a receiver drives: create, read, update, delete, with versions, ETags
//! and If-Match.

use serde_json::json;

use crate::helpers::*;

on_both! {
    #[tokio::test]
    async fn create_read_update_delete_round_trip(backend: Backend) {
        let reg = start(backend).await;
        let rgt = reg.by(RGT);

        // Create: 201, Location, an informational outcome; the client's id is ignored.
        let mut body = pointer();
        body["id"] = json!("RGT-chosen-by-client");
        let r = rgt.post("/DocumentReference").json(&body).send().await;
        assert_success(&r, 201, "RESOURCE_CREATED");
        assert_eq!(r.header("etag"), Some("W/\"1\""));
        let location = r.header("location").unwrap().to_string();
        let id = id_from_location(&r);
        assert_eq!(location, format!("{}/DocumentReference/{id}", reg.base));
        let (prefix, unique) = id.split_once('-').unwrap();
        assert_eq!(prefix, RGT);
        assert!(uuid::Uuid::try_parse(unique).is_ok(), "{id}");
        assert_ne!(id, "RGT-chosen-by-client");

        // Read: the pointer as sent, stamped with id, version and lastUpdated.
        let r = rgt.get(&format!("/DocumentReference/{id}")).send().await;
        assert_eq!(r.status, 200, "{}", body_text(&r));
        assert_eq!(r.header("etag"), Some("W/\"1\""));
        let read = r.json().unwrap();
        assert_eq!(read["id"], id.as_str());
        assert_eq!(read["meta"]["versionId"], "1");
        let created_at = read["meta"]["lastUpdated"].as_str().unwrap().to_string();
        assert_ne!(
            created_at, "2025-02-18T14:15:25.704Z",
            "the server owns lastUpdated"
        );
        let mut expected = pointer();
        for key in ["id", "meta"] {
            expected.as_object_mut().unwrap().shift_remove(key);
        }
        let mut without_server_fields = read.clone();
        for key in ["id", "meta"] {
            without_server_fields
                .as_object_mut()
                .unwrap()
                .shift_remove(key);
        }
        assert_eq!(without_server_fields, expected);

        // Update: the appointment moved; version 2.
        let mut moved = read.clone();
        moved["context"]["period"] =
            json!({"start": "2025-02-02T09:00:00+00:00", "end": "2025-02-02T09:15:00+00:00"});
        let r = rgt
            .put(&format!("/DocumentReference/{id}"))
            .json(&moved)
            .send()
            .await;
        assert_success(&r, 200, "RESOURCE_UPDATED");
        assert_eq!(r.header("etag"), Some("W/\"2\""));
        let r = rgt.get(&format!("/DocumentReference/{id}")).send().await;
        assert_eq!(r.header("etag"), Some("W/\"2\""));
        let updated = r.json().unwrap();
        assert_eq!(updated["meta"]["versionId"], "2");
        assert_eq!(
            updated["context"]["period"]["start"],
            "2025-02-02T09:00:00+00:00"
        );
        assert!(updated["meta"]["lastUpdated"].as_str().unwrap() > created_at.as_str());

        // A status change is an update, not a delete.
        let mut superseded = updated.clone();
        superseded["status"] = json!("superseded");
        let r = rgt
            .put(&format!("/DocumentReference/{id}"))
            .json(&superseded)
            .send()
            .await;
        assert_success(&r, 200, "RESOURCE_UPDATED");
        assert_eq!(r.header("etag"), Some("W/\"3\""));

        // Delete, then it is gone.
        let r = rgt.delete(&format!("/DocumentReference/{id}")).send().await;
        assert_success(&r, 200, "RESOURCE_DELETED");
        let r = rgt.get(&format!("/DocumentReference/{id}")).send().await;
        assert_outcome(&r, 404, "not-found", "RESOURCE_NOT_FOUND");
        let r = rgt.delete(&format!("/DocumentReference/{id}")).send().await;
        assert_outcome(&r, 404, "not-found", "RESOURCE_NOT_FOUND");
        let r = rgt
            .put(&format!("/DocumentReference/{id}"))
            .json(&superseded)
            .send()
            .await;
        assert_outcome(&r, 404, "not-found", "RESOURCE_NOT_FOUND");
    }
}

on_both! {
    #[tokio::test]
    async fn if_match_guards_updates_and_deletes(backend: Backend) {
        let reg = start(backend).await;
        let rgt = reg.by(RGT);
        let id = reg.create(&pointer()).await;
        let path = format!("/DocumentReference/{id}");
        let body = rgt.get(&path).send().await.json().unwrap();

        let r = rgt
            .put(&path)
            .header("if-match", "W/\"1\"")
            .json(&body)
            .send()
            .await;
        assert_success(&r, 200, "RESOURCE_UPDATED");
        assert_eq!(r.header("etag"), Some("W/\"2\""));

        // The same stale ETag again: someone (we) changed it since.
        let r = rgt
            .put(&path)
            .header("if-match", "W/\"1\"")
            .json(&body)
            .send()
            .await;
        assert_outcome(&r, 412, "conflict", "PRECONDITION_FAILED");
        let r = rgt.delete(&path).header("if-match", "W/\"1\"").send().await;
        assert_outcome(&r, 412, "conflict", "PRECONDITION_FAILED");
        let r = rgt
            .put(&path)
            .header("if-match", "not-an-etag")
            .json(&body)
            .send()
            .await;
        assert_outcome(&r, 400, "value", "BAD_REQUEST");

        // Nothing changed by the refusals.
        let r = rgt.get(&path).send().await;
        assert_eq!(r.header("etag"), Some("W/\"2\""));

        let r = rgt
            .put(&path)
            .header("if-match", "\"2\"")
            .json(&body)
            .send()
            .await;
        assert_success(&r, 200, "RESOURCE_UPDATED");
        let r = rgt.delete(&path).header("if-match", "W/\"3\"").send().await;
        assert_success(&r, 200, "RESOURCE_DELETED");
    }
}

on_both! {
    #[tokio::test]
    async fn identity_elements_are_immutable_on_update(backend: Backend) {
        let reg = start(backend).await;
        let rgt = reg.by(RGT);
        let id = reg.create(&pointer()).await;
        let path = format!("/DocumentReference/{id}");
        let current = rgt.get(&path).send().await.json().unwrap();

        let mut other_subject = current.clone();
        other_subject["subject"]["identifier"]["value"] = json!(OTHER_PATIENT);
        let r = rgt.put(&path).json(&other_subject).send().await;
        assert_outcome(&r, 400, "business-rule", "VALIDATION_ERROR");
        assert_eq!(
            r.json().unwrap()["issue"][0]["expression"][0],
            "DocumentReference.subject"
        );

        let mut other_custodian = current.clone();
        other_custodian["custodian"]["identifier"]["value"] = json!(OTHER_ORG);
        let r = rgt.put(&path).json(&other_custodian).send().await;
        assert_outcome(&r, 400, "business-rule", "VALIDATION_ERROR");
        assert_eq!(
            r.json().unwrap()["issue"][0]["expression"][0],
            "DocumentReference.custodian"
        );

        let r = rgt
            .put(&path)
            .json(&with_type(current.clone(), REFERRAL_TYPE))
            .send()
            .await;
        assert_outcome(&r, 400, "business-rule", "VALIDATION_ERROR");
        assert_eq!(
            r.json().unwrap()["issue"][0]["expression"][0],
            "DocumentReference.type"
        );

        // The id in the body must be there and match the URL.
        let mut other_id = current.clone();
        other_id["id"] = json!(format!("{RGT}-somebody-else"));
        let r = rgt.put(&path).json(&other_id).send().await;
        assert_outcome(&r, 400, "value", "INVALID_RESOURCE_ID");
        let mut no_id = current.clone();
        no_id.as_object_mut().unwrap().shift_remove("id");
        let r = rgt.put(&path).json(&no_id).send().await;
        assert_outcome(&r, 400, "required", "INVALID_RESOURCE_ID");

        // The custodian's ODS code compares case-insensitively: not a change.
        let mut lower = current.clone();
        lower["custodian"]["identifier"]["value"] = json!("rgt");
        let r = rgt.put(&path).json(&lower).send().await;
        assert_success(&r, 200, "RESOURCE_UPDATED");
        assert_eq!(rgt.get(&path).send().await.header("etag"), Some("W/\"2\""));
    }
}

on_both! {
    #[tokio::test]
    async fn ids_in_the_path_are_checked(backend: Backend) {
        let reg = start(backend).await;
        let rgt = reg.by(RGT);
        for bad in ["RGT_1", "RGT%201", &format!("RGT-{}", "x".repeat(70))] {
            let r = rgt.get(&format!("/DocumentReference/{bad}")).send().await;
            assert_outcome(&r, 400, "value", "INVALID_RESOURCE_ID");
        }
        let r = rgt.get("/DocumentReference/").send().await;
        assert_outcome(&r, 400, "required", "INVALID_RESOURCE_ID");
        let r = rgt
            .get(&format!("/DocumentReference/{RGT}-unknown"))
            .send()
            .await;
        assert_outcome(&r, 404, "not-found", "RESOURCE_NOT_FOUND");
    }
}
