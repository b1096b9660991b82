//! Junk in, clean OperationOutcomes out: never a 500, never a dropped connection, never a body
//! that is not FHIR.

use serde_json::json;

use crate::helpers::*;

on_both! {
    #[tokio::test]
    async fn junk_bodies_get_clean_outcomes(backend: Backend) {
        let reg = start_with(backend, |mut c| {
            c.body_limit = 64 * 1024;
            c
        })
        .await;
        let rgt = reg.by(RGT);
        let id = reg.create(&pointer()).await;
        let path = format!("/DocumentReference/{id}");

        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        let deep_object = format!("{}1{}", "{\"a\":".repeat(5_000), "}".repeat(5_000));
        let junk: Vec<(&str, Vec<u8>, u16, &str)> = vec![
            ("application/fhir+json", b"".to_vec(), 400, "BAD_REQUEST"),
            ("application/fhir+json", b"{".to_vec(), 400, "BAD_REQUEST"),
            ("application/fhir+json", b"null".to_vec(), 400, "BAD_REQUEST"),
            ("application/fhir+json", b"\"DocumentReference\"".to_vec(), 400, "BAD_REQUEST"),
            ("application/fhir+json", b"[{\"resourceType\":\"DocumentReference\"}]".to_vec(), 400, "BAD_REQUEST"),
            ("application/fhir+json", vec![0xff, 0xfe, 0x00, 0x7b], 400, "BAD_REQUEST"),
            ("application/fhir+json", deep.into_bytes(), 400, "BAD_REQUEST"),
            ("application/fhir+json", deep_object.into_bytes(), 400, "BAD_REQUEST"),
            // Parsed but not a pointer (on PUT the missing id is found first).
            ("application/fhir+json", b"{}".to_vec(), 400, "VALIDATION_ERROR"),
            ("application/fhir+json", b"{\"resourceType\":\"DocumentReference\",\"custodian\":42,\"subject\":[],\"type\":\"x\",\"category\":{},\"content\":null}".to_vec(), 400, "VALIDATION_ERROR"),
            ("application/fhir+json", vec![b' '; 70 * 1024], 413, "BAD_REQUEST"),
            ("text/plain", b"{}".to_vec(), 415, "BAD_REQUEST"),
            ("application/fhir+xml", b"<DocumentReference/>".to_vec(), 415, "BAD_REQUEST"),
            ("application/json-patch+json", b"[]".to_vec(), 415, "BAD_REQUEST"),
        ];
        for (content_type, body, status, code) in junk {
            for (method, target) in [("POST", "/DocumentReference"), ("PUT", path.as_str())] {
                let req = if method == "POST" {
                    rgt.post(target)
                } else {
                    rgt.put(target)
                };
                let r = req.body_as(content_type, body.clone()).send().await;
                let outcome = r
                    .json()
                    .unwrap_or_else(|| panic!("{method} {content_type}: not JSON: {}", body_text(&r)));
                assert_eq!(
                    r.status.as_u16(),
                    status,
                    "{method} {content_type}: {outcome}"
                );
                assert_eq!(outcome["resourceType"], "OperationOutcome");
                let code = if method == "PUT" && code == "VALIDATION_ERROR" {
                    "INVALID_RESOURCE_ID"
                } else {
                    code
                };
                assert_eq!(
                    outcome["issue"][0]["details"]["coding"][0]["code"], code,
                    "{outcome}"
                );
                assert_no_nhs_number(&outcome);
            }
        }
        // The stored pointer survived all of it.
        assert_eq!(rgt.get(&path).send().await.header("etag"), Some("W/\"1\""));
    }
}

on_both! {
    #[tokio::test]
    async fn a_missing_content_type_is_refused(backend: Backend) {
        let reg = start(backend).await;
        let r = reg
            .by(RGT)
            .post("/DocumentReference")
            .body_as("application/fhir+json", pointer().to_string())
            .header("content-type", "")
            .send()
            .await;
        assert_outcome(&r, 415, "not-supported", "BAD_REQUEST");
    }
}

on_both! {
    #[tokio::test]
    async fn other_verbs_and_paths(backend: Backend) {
        let reg = start(backend).await;
        let rgt = reg.by(RGT);
        let id = reg.create(&pointer()).await;

        for (method, path, allow) in [
            (
                "PATCH",
                format!("/DocumentReference/{id}"),
                "GET, PUT, DELETE",
            ),
            (
                "POST",
                format!("/DocumentReference/{id}"),
                "GET, PUT, DELETE",
            ),
            ("PUT", "/DocumentReference".to_string(), "GET, POST"),
            ("DELETE", "/DocumentReference".to_string(), "GET, POST"),
        ] {
            let r = rgt
                .req(method.parse().unwrap(), &path)
                .json(&json!({}))
                .send()
                .await;
            assert_outcome(&r, 405, "not-supported", "BAD_REQUEST");
            assert_eq!(r.header("allow"), Some(allow), "{method} {path}");
        }
        for path in [
            "/",
            "/Appointment",
            "/DocumentReference/RGT-1/_history",
            "/metadata",
        ] {
            let r = rgt.get(path).send().await;
            assert_outcome(&r, 404, "not-found", "RESOURCE_NOT_FOUND");
        }
    }
}

on_both! {
    #[tokio::test]
    async fn responses_carry_the_security_headers_and_echo_request_ids(backend: Backend) {
        let reg = start(backend).await;
        let request_id = uuid::Uuid::new_v4().to_string();
        let r = reg
            .by(RGT)
            .post("/DocumentReference")
            .header("x-request-id", &request_id)
            .json(&pointer())
            .send()
            .await;
        assert_eq!(r.status, 201);
        assert_eq!(r.header("x-request-id"), Some(request_id.as_str()));
        assert_eq!(r.header("cache-control"), Some("no-store"));
        assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    }
}
