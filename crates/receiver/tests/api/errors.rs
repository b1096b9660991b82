//! Every row of the digest's section 4.4 tables: status, FHIR issue code and BaRS code.

use std::time::Duration;

use axum::Router;
use axum::routing::get;
use bars_receiver::access::AccessPolicy;
use serde_json::{Value, json};

use crate::helpers::*;

async fn booked(rx: &TestReceiver) -> (Value, Vec<Value>) {
    rx.generate(SERVICE_A, 1).await;
    let slots = rx.slots(SERVICE_A, "free").await;
    let r = rx.book(&slots[0], PATIENT).await;
    assert_eq!(r.status, 201);
    (r.json().unwrap(), slots)
}

// ---------------------------------------------------------------- common to every endpoint

on_both! {
    #[tokio::test]
    async fn request_ids_are_required_and_must_be_uuids(backend: Backend) {
        let rx = start(backend).await;
        for header in ["x-request-id", "x-correlation-id"] {
            let r = rx.get("/metadata").without(header).send().await;
            assert_outcome(&r, 400, "required", "REC_BAD_REQUEST");
            let r = rx
                .get("/metadata")
                .header(header, "not-a-uuid")
                .send()
                .await;
            assert_outcome(&r, 400, "value", "REC_BAD_REQUEST");
            assert_eq!(
                r.header(header),
                Some("not-a-uuid"),
                "ids are echoed even on errors"
            );
        }
        // The echo is on successes too, with the canonical names.
        let req = rx.get("/metadata");
        let r = req.send().await;
        assert_eq!(r.header("x-request-id"), Some(req.request_id().as_str()));
        assert!(r.header("x-correlation-id").is_some());
        rx.stop().await;
    }
}

on_both! {
    #[tokio::test]
    async fn duplicates_and_access_control(backend: Backend) {
        let rx = start_with(backend, |mut c| {
            c.access = AccessPolicy {
                organisations: vec![SENDER_ODS.into()],
                software: vec![],
                require_organisation: true,
                ..Default::default()
            };
            c
        })
        .await;
        let (appointment, _) = booked(&rx).await;
        let id = appointment["id"].as_str().unwrap();
        let cancel = rx.delete(&format!("/Appointment/{id}"));
        assert_eq!(cancel.send().await.status, 200);
        assert_outcome(&cancel.send().await, 409, "duplicate", "REC_CONFLICT");

        let r = rx
            .get(&format!("/Appointment/{id}"))
            .without("nhsd-end-user-organisation")
            .send()
            .await;
        assert_outcome(&r, 401, "security", "REC_UNAUTHORIZED");
        let other = bars_fhir::headers::EndUserOrganisation {
            ods_code: Some("Z9999".into()),
            name: None,
        };
        let r = rx
            .get(&format!("/Appointment/{id}"))
            .header(
                "nhsd-end-user-organisation",
                &bars_fhir::headers::encode_base64_json(&other.to_json()),
            )
            .send()
            .await;
        assert_outcome(&r, 401, "forbidden", "REC_UNAUTHORIZED");
        // A slot search by a sender that is not permitted.
        let r = rx
            .get(&rx.slot_query(SERVICE_A, "free"))
            .header(
                "nhsd-end-user-organisation",
                &bars_fhir::headers::encode_base64_json(&other.to_json()),
            )
            .send()
            .await;
        assert_outcome(&r, 401, "forbidden", "REC_UNAUTHORIZED");
        // The CapabilityStatement is open to all.
        assert_eq!(
            rx.get("/metadata")
                .without("nhsd-end-user-organisation")
                .send()
                .await
                .status,
            200
        );
        rx.stop().await;
    }
}

on_both! {
    #[tokio::test]
    async fn accept_methods_and_unimplemented_features(backend: Backend) {
        let rx = start(backend).await;
        assert_outcome(
            &rx.get("/metadata")
                .header("accept", "application/fhir+json; version=2.0.0")
                .send()
                .await,
            406,
            "processing",
            "REC_NOT_ACCEPTABLE",
        );
        assert_outcome(
            &rx.get("/metadata")
                .header("accept", "application/fhir+xml")
                .send()
                .await,
            406,
            "processing",
            "REC_NOT_ACCEPTABLE",
        );
        assert_eq!(
            rx.get("/metadata")
                .header("accept", "application/fhir+json; version=1.0.0")
                .send()
                .await
                .status,
            200
        );

        for (method, path, allow) in [
            ("POST", "/Slot".to_string(), "GET"),
            ("DELETE", "/Slots".to_string(), "GET"),
            ("POST", "/metadata".to_string(), "GET"),
            ("PUT", "/Appointment".to_string(), "GET, POST"),
            (
                "POST",
                format!("/Appointment/{}", uuid::Uuid::new_v4()),
                "GET, PUT, PATCH, DELETE",
            ),
        ] {
            let r = rx
                .req(http::Method::from_bytes(method.as_bytes()).unwrap(), &path)
                .send()
                .await;
            assert_outcome(&r, 405, "not-supported", "REC_METHOD_NOT_ALLOWED");
            assert_eq!(r.header("allow"), Some(allow), "{method} {path}");
        }
        assert_outcome(
            &rx.get("/ServiceRequest").send().await,
            501,
            "not-supported",
            "REC_NOT_IMPLEMENTED",
        );
        assert_outcome(
            &rx.get("/NoSuchThing").send().await,
            404,
            "not-found",
            "REC_NOT_FOUND",
        );
        rx.stop().await;
    }
}

/// Holds SQLite's write lock from outside the receiver, as another process could.
async fn lock_database(rx: &TestReceiver) -> bars_store::testing::WriteLock {
    rx.db.lock_writes("request").await
}

/// A receiver that gives each request 300 ms instead of 5 s.
async fn start_impatient(backend: Backend) -> TestReceiver {
    start_with(backend, |mut c| {
        c.request_timeout = Duration::from_millis(300);
        c
    })
    .await
}

on_both! {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_request_not_processed_in_time_is_a_timeout_and_its_retry_books_once(backend: Backend) {
        let rx = start_impatient(backend).await;
        rx.generate(SERVICE_A, 1).await;
        let slot = rx.slots(SERVICE_A, "free").await.remove(0);
        let request = rx
            .post("/Appointment")
            .json(&appointment_for(&slot, PATIENT));
        let lock = lock_database(&rx).await;
        assert_outcome(&request.send().await, 408, "timeout", "REC_TIMEOUT");
        lock.release().await;
        // The original went on and booked; its retry is never a second booking.
        // 425 while the original is still being committed; bounded, so a request that never
        // settles fails the test instead of hanging it.
        let mut retry = request.send().await;
        for _ in 0..500 {
            if retry.status != 425 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
            retry = request.send().await;
        }
        assert_outcome(&retry, 409, "duplicate", "REC_CONFLICT");
        assert_eq!(rx.slots(SERVICE_A, "busy").await.len(), 1);
        rx.stop().await;
    }
}

on_both! {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_booking_whose_body_trickles_in_past_the_deadline_is_a_timeout(backend: Backend) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let rx = start_impatient(backend).await;
        rx.generate(SERVICE_A, 1).await;
        let free = rx.slots(SERVICE_A, "free").await;
        let slot = free[0].clone();
        let request = rx.post("/Appointment");
        let body = appointment_for(&slot, PATIENT).to_string();
        // The head and half the body, then silence: a slow (or hostile) client.
        let mut head = format!(
            "POST /Appointment HTTP/1.1\r\nHost: x\r\nContent-Type: application/fhir+json\r\nContent-Length: {}\r\n",
            body.len()
        );
        for (name, value) in &request.headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        let address = rx.base.trim_start_matches("http://");
        let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
        stream.write_all(head.as_bytes()).await.unwrap();
        stream.write_all(&body.as_bytes()[..body.len() / 2]).await.unwrap();
        let mut answer = Vec::new();
        let mut chunk = [0u8; 4096];
        while !String::from_utf8_lossy(&answer).contains("\"OperationOutcome\"") {
            let n = tokio::time::timeout(Duration::from_secs(30), stream.read(&mut chunk))
                .await
                .expect("no answer to a stalled upload")
                .unwrap();
            assert!(n > 0, "closed without an answer");
            answer.extend_from_slice(&chunk[..n]);
        }
        let text = String::from_utf8_lossy(&answer);
        assert!(text.starts_with("HTTP/1.1 408"), "{text}");
        assert!(text.contains("REC_TIMEOUT"), "{text}");
        drop(stream);
        assert_eq!(rx.slots(SERVICE_A, "free").await.len(), free.len(), "nothing was booked");
        rx.stop().await;
    }
}

on_both! {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn storage_that_stays_locked_is_unavailable_and_nothing_is_lost(backend: Backend) {
        let rx = start_in(fresh_db(backend).await, Some(Duration::from_millis(100)), |c| c).await;
        rx.generate(SERVICE_A, 1).await;
        let slot = rx.slots(SERVICE_A, "free").await.remove(0);
        let request = rx
            .post("/Appointment")
            .json(&appointment_for(&slot, PATIENT));
        let lock = lock_database(&rx).await;
        let r = request.send().await;
        assert_outcome(&r, 503, "transient", "REC_SERVICE_UNAVAILABLE");
        assert!(r.header("retry-after").is_some());
        lock.release().await;
        // A transient failure is not remembered: the retry books.
        assert_eq!(request.send().await.status, 201);
        rx.stop().await;
    }
}

on_both! {
    #[tokio::test]
    async fn a_corrupted_record_is_a_storage_error_not_a_crash(backend: Backend) {
        let rx = start(backend).await;
        let (appointment, _) = booked(&rx).await;
        let id = appointment["id"].as_str().unwrap();
        rx.db
            .execute("UPDATE appointment SET body = 'not json' WHERE id = $1", &[id])
            .await;
        let patch = json!([{ "op": "replace", "path": "/description", "value": "x" }]);
        let r = rx
            .patch(&format!("/Appointment/{id}"))
            .body_as("application/json-patch+json", patch.to_string())
            .send()
            .await;
        assert_outcome(&r, 500, "no-store", "REC_SERVER_ERROR");
        rx.stop().await;
    }
}

on_both! {
    /// A search or a history splices stored bodies into its Bundle as they are: one that is not
    /// JSON is a storage error, as for a read, never an entry whose resource is `null`.
    #[tokio::test]
    async fn a_corrupted_record_in_a_bundle_is_a_storage_error_not_a_null(backend: Backend) {
        let rx = start(backend).await;
        let (appointment, _) = booked(&rx).await;
        let id = appointment["id"].as_str().unwrap();
        let search = format!(
            "/Appointment?patient:identifier=https://fhir.nhs.uk/Id/nhs-number|{PATIENT}"
        );
        let history = format!("/Appointment/{id}/_history");
        let slots = rx.slot_query(SERVICE_A, "free");
        for path in [&search, &history, &slots] {
            assert_eq!(rx.get(path).send().await.status, 200, "{path}");
        }
        rx.db
            .execute("UPDATE appointment SET body = 'not json' WHERE id = $1", &[id])
            .await;
        rx.db
            .execute("UPDATE appointment_version SET body = '{\"cut' WHERE id = $1", &[id])
            .await;
        rx.db
            .execute(
                "UPDATE schedule SET body = 'null,' WHERE service_id = $1",
                &[SERVICE_A],
            )
            .await;
        let mut answers = Vec::new();
        for path in [&search, &history, &slots] {
            let r = rx.get(path).send().await;
            let body = r.json().unwrap_or(Value::Null);
            answers.push((path.as_str(), r.status.as_u16(), body["issue"][0]["code"].clone()));
        }
        let storage_errors: Vec<_> = [&search, &history, &slots]
            .iter()
            .map(|p| (p.as_str(), 500, json!("no-store")))
            .collect();
        assert_eq!(answers, storage_errors);
        for path in [&search, &history, &slots] {
            assert_outcome(&rx.get(path).send().await, 500, "no-store", "REC_SERVER_ERROR");
        }
        rx.stop().await;
    }
}

on_both! {
    #[tokio::test]
    async fn a_panicking_handler_is_an_exception_outcome(backend: Backend) {
        let app = Router::new()
            .route(
                "/boom",
                get(|| async { if true { panic!("deliberate") } else { "never" } }),
            )
            .layer(axum::middleware::from_fn_with_state(
                std::sync::Arc::new(bars_http::guard::Guard::receiver(Duration::from_secs(5))),
                bars_http::guard::guard,
            ));
        let server = bars_http::server::RunningServer::start(
            "127.0.0.1:0".parse().unwrap(),
            app,
            Default::default(),
        )
        .await
        .unwrap();
        let client = bars_http::client::HttpClient::plain(Duration::from_secs(5));
        let r = client
            .call(
                http::Method::GET,
                &format!("http://{}/boom", server.addr),
                &[],
                None,
            )
            .await
            .unwrap();
        assert_outcome(&r, 500, "exception", "REC_SERVER_ERROR");
        server.shutdown().await;
    }
}

// ---------------------------------------------------------------- GET /Slot

on_both! {
    #[tokio::test]
    async fn slot_search_refusals(backend: Backend) {
        let rx = start(backend).await;
        let ok = rx.slot_query(SERVICE_A, "free");
        let tomorrow = tomorrow();
        let cases: Vec<(String, u16, &str, &str)> = vec![
            (
                ok.replace(
                    &format!("Schedule.actor:HealthcareService={SERVICE_A}&"),
                    "",
                ),
                400,
                "required",
                "REC_BAD_REQUEST",
            ),
            (
                ok.replace(SERVICE_A, &format!("http://example.org/other|{SERVICE_A}")),
                400,
                "value",
                "REC_BAD_REQUEST",
            ),
            (
                ok.replace(SERVICE_A, "2000099999"),
                404,
                "not-found",
                "REC_NOT_FOUND",
            ),
            (
                ok.replace("&_include=Schedule:actor:HealthcareService", ""),
                400,
                "required",
                "REC_BAD_REQUEST",
            ),
            (
                ok.replace(&format!("&start=le{tomorrow}T23:59:59Z"), ""),
                400,
                "required",
                "REC_BAD_REQUEST",
            ),
            (
                ok.replace(&format!("ge{tomorrow}T00:00:00Z"), &format!("ge{tomorrow}")),
                400,
                "value",
                "REC_BAD_REQUEST",
            ),
            (
                ok.replace(
                    &format!("ge{tomorrow}T00:00:00Z"),
                    &format!("ge{tomorrow}T00:00:00%2B01:00"),
                ),
                400,
                "value",
                "REC_BAD_REQUEST",
            ),
            (
                ok.replace(&format!("le{tomorrow}T23:59:59Z"), "le2099-01-01T00:00:00Z"),
                422,
                "too-costly",
                "REC_UNPROCESSABLE_ENTITY",
            ),
            (
                ok.replace("status=free&", ""),
                400,
                "required",
                "REC_BAD_REQUEST",
            ),
            (
                ok.replace("status=free", "status=busy-unavailable"),
                400,
                "value",
                "REC_BAD_REQUEST",
            ),
        ];
        for (path, status, issue, code) in cases {
            let r = rx.get(&path).send().await;
            assert_outcome(&r, status, issue, code);
        }
        // The target identifier, when it names a DoS service, must agree with the parameter.
        let target = bars_fhir::headers::TargetIdentifier::dos(SERVICE_B).encode();
        assert_outcome(
            &rx.get(&ok)
                .header("nhsd-target-identifier", &target)
                .send()
                .await,
            400,
            "invariant",
            "REC_BAD_REQUEST",
        );
        rx.stop().await;
    }
}

on_both! {
    #[tokio::test]
    async fn including_practitioners_can_be_refused_to_some_senders(backend: Backend) {
        let rx = start_with(backend, |mut c| {
            c.access.practitioner_details_for = vec!["B2002".into()];
            c
        })
        .await;
        let ok = rx.slot_query(SERVICE_A, "free");
        assert_eq!(rx.get(&ok).send().await.status, 200);
        let with_practitioners = format!("{ok}&_include=Schedule:actor:Practitioner");
        assert_outcome(
            &rx.get(&with_practitioners).send().await,
            401,
            "forbidden",
            "REC_UNAUTHORIZED",
        );
        let b2002 = bars_fhir::headers::EndUserOrganisation {
            ods_code: Some("B2002".into()),
            name: None,
        };
        let r = rx
            .get(&with_practitioners)
            .header(
                "nhsd-end-user-organisation",
                &bars_fhir::headers::encode_base64_json(&b2002.to_json()),
            )
            .send()
            .await;
        assert_eq!(r.status, 200);
        rx.stop().await;
    }
}

// ---------------------------------------------------------------- GET /Appointment(/{id})

on_both! {
    #[tokio::test]
    async fn appointment_read_and_search_refusals(backend: Backend) {
        let rx = start(backend).await;
        assert_outcome(
            &rx.get("/Appointment/").send().await,
            400,
            "required",
            "REC_BAD_REQUEST",
        );
        assert_outcome(
            &rx.get("/Appointment/not-a-uuid").send().await,
            400,
            "value",
            "REC_BAD_REQUEST",
        );
        assert_outcome(
            &rx.get(&format!("/Appointment/{}", uuid::Uuid::new_v4()))
                .send()
                .await,
            404,
            "not-found",
            "REC_NOT_FOUND",
        );
        assert_outcome(
            &rx.get("/Appointment").send().await,
            400,
            "required",
            "REC_BAD_REQUEST",
        );
        assert_outcome(
            &rx.get(&format!("/Appointment?patient:identifier={PATIENT}"))
                .send()
                .await,
            400,
            "value",
            "REC_BAD_REQUEST",
        );
        assert_outcome(
            &rx.get("/Appointment?patient:identifier=https://fhir.nhs.uk/Id/nhs-number|1234567890")
                .send()
                .await,
            400,
            "value",
            "REC_BAD_REQUEST",
        );
        rx.stop().await;
    }
}

// ---------------------------------------------------------------- writes

on_both! {
    #[tokio::test]
    async fn write_refusals(backend: Backend) {
        let rx = start_with(backend, |mut c| {
            c.body_limit = 64 * 1024;
            c
        })
        .await;
        let (appointment, slots) = booked(&rx).await;
        let id = appointment["id"].as_str().unwrap().to_string();
        let fresh = appointment_for(&slots[1], PATIENT);

        // Structure: not JSON, not an Appointment, not FHIR JSON, too large.
        assert_outcome(
            &rx.post("/Appointment")
                .body_as("application/fhir+json", "{not json")
                .send()
                .await,
            400,
            "structure",
            "REC_BAD_REQUEST",
        );
        assert_outcome(
            &rx.post("/Appointment")
                .json(&json!({"resourceType": "Patient"}))
                .send()
                .await,
            400,
            "structure",
            "REC_BAD_REQUEST",
        );
        assert_outcome(
            &rx.post("/Appointment")
                .body_as("text/plain", fresh.to_string())
                .send()
                .await,
            400,
            "structure",
            "REC_BAD_REQUEST",
        );
        let huge = json!({ "resourceType": "Appointment", "description": "x".repeat(100 * 1024) });
        assert_outcome(
            &rx.post("/Appointment").json(&huge).send().await,
            413,
            "too-long",
            "REC_BAD_REQUEST",
        );

        // Required, value, invariant.
        let mut no_status = fresh.clone();
        no_status.as_object_mut().unwrap().remove("status");
        assert_outcome(
            &rx.post("/Appointment").json(&no_status).send().await,
            400,
            "required",
            "REC_BAD_REQUEST",
        );
        let mut bad_status = fresh.clone();
        bad_status["status"] = json!("maybe");
        assert_outcome(
            &rx.post("/Appointment").json(&bad_status).send().await,
            400,
            "value",
            "REC_BAD_REQUEST",
        );
        let mut backwards = fresh.clone();
        backwards["start"] = fresh["end"].clone();
        backwards["end"] = fresh["start"].clone();
        assert_outcome(
            &rx.post("/Appointment").json(&backwards).send().await,
            400,
            "invariant",
            "REC_BAD_REQUEST",
        );
        let mut cancelled = fresh.clone();
        cancelled["status"] = json!("cancelled");
        assert_outcome(
            &rx.post("/Appointment").json(&cancelled).send().await,
            400,
            "invariant",
            "REC_BAD_REQUEST",
        );
        let mut wrong_id = appointment.clone();
        wrong_id["id"] = json!(uuid::Uuid::new_v4().to_string());
        assert_outcome(
            &rx.put(&format!("/Appointment/{id}"))
                .json(&wrong_id)
                .send()
                .await,
            400,
            "invalid",
            "REC_BAD_REQUEST",
        );

        // Unknown slot; slot taken.
        let mut ghost = fresh.clone();
        ghost["slot"] = json!([{ "reference": "Slot/nowhere" }]);
        assert_outcome(
            &rx.post("/Appointment").json(&ghost).send().await,
            404,
            "not-found",
            "REC_NOT_FOUND",
        );
        assert_outcome(
            &rx.book(&slots[0], OTHER_PATIENT).await,
            409,
            "conflict",
            "REC_CONFLICT",
        );

        // Stale copy (older meta.lastUpdated), stale If-Match.
        let mut stale = appointment.clone();
        stale["meta"]["lastUpdated"] = json!("2020-01-01T00:00:00+00:00");
        assert_outcome(
            &rx.put(&format!("/Appointment/{id}"))
                .json(&stale)
                .send()
                .await,
            409,
            "conflict",
            "REC_CONFLICT",
        );
        assert_outcome(
            &rx.put(&format!("/Appointment/{id}"))
                .header("if-match", "W/\"7\"")
                .json(&appointment)
                .send()
                .await,
            412,
            "conflict",
            "REC_CONFLICT",
        );

        // JSON Patch `test` failing.
        let failing = json!([{ "op": "test", "path": "/status", "value": "waitlist" }]);
        assert_outcome(
            &rx.patch(&format!("/Appointment/{id}"))
                .body_as("application/json-patch+json", failing.to_string())
                .send()
                .await,
            422,
            "processing",
            "REC_UNPROCESSABLE_ENTITY",
        );
        // A patch whose result is not a valid Appointment.
        let breaking = json!([{ "op": "replace", "path": "/status", "value": "maybe" }]);
        assert_outcome(
            &rx.patch(&format!("/Appointment/{id}"))
                .body_as("application/json-patch+json", breaking.to_string())
                .send()
                .await,
            422,
            "value",
            "REC_UNPROCESSABLE_ENTITY",
        );

        // Use case not supported by the service; patient without an NHS number.
        let mut use_case = fresh.clone();
        use_case["serviceCategory"] = json!([{ "coding": [{ "system": "https://fhir.nhs.uk/CodeSystem/usecases-categories-bars", "code": "a1t1" }] }]);
        assert_outcome(
            &rx.post("/Appointment").json(&use_case).send().await,
            422,
            "not-supported",
            "REC_UNPROCESSABLE_ENTITY",
        );
        let mut anonymous = fresh.clone();
        anonymous["participant"] =
            json!([{ "actor": { "reference": "Patient/123" }, "status": "accepted" }]);
        assert_outcome(
            &rx.post("/Appointment").json(&anonymous).send().await,
            422,
            "business-rule",
            "REC_UNPROCESSABLE_ENTITY",
        );

        // No longer current: cancelled appointments cannot be changed.
        assert_eq!(
            rx.delete(&format!("/Appointment/{id}")).send().await.status,
            200
        );
        let current = rx
            .get(&format!("/Appointment/{id}"))
            .send()
            .await
            .json()
            .unwrap();
        let mut revive = current.clone();
        revive["status"] = json!("booked");
        assert_outcome(
            &rx.put(&format!("/Appointment/{id}"))
                .json(&revive)
                .send()
                .await,
            409,
            "conflict",
            "REC_CONFLICT",
        );
        assert_outcome(
            &rx.delete(&format!("/Appointment/{id}")).send().await,
            409,
            "conflict",
            "REC_CONFLICT",
        );
        assert_outcome(
            &rx.put(&format!("/Appointment/{}", uuid::Uuid::new_v4()))
                .json(&revive)
                .send()
                .await,
            400,
            "invalid",
            "REC_BAD_REQUEST",
        );
        let mut unknown = revive.clone();
        let ghost_id = uuid::Uuid::new_v4().to_string();
        unknown["id"] = json!(ghost_id);
        assert_outcome(
            &rx.put(&format!("/Appointment/{ghost_id}"))
                .json(&unknown)
                .send()
                .await,
            404,
            "not-found",
            "REC_NOT_FOUND",
        );
        rx.stop().await;
    }
}

on_both! {
    #[tokio::test]
    async fn diagnostics_never_name_the_patient(backend: Backend) {
        let rx = start(backend).await;
        let (appointment, slots) = booked(&rx).await;
        let mut bad_nhs = appointment_for(&slots[2], "9434765918");
        bad_nhs["description"] = json!("x");
        let r = rx.post("/Appointment").json(&bad_nhs).send().await;
        assert_outcome(&r, 400, "value", "REC_BAD_REQUEST");
        let text = String::from_utf8_lossy(&r.body);
        assert!(!text.contains("9434765918"), "{text}");
        let r = rx.book(&slots[0], OTHER_PATIENT).await;
        assert!(!String::from_utf8_lossy(&r.body).contains(OTHER_PATIENT));
        assert!(!String::from_utf8_lossy(&r.body).contains(PATIENT));
        let _ = appointment;
        rx.stop().await;
    }
}
