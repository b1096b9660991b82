//! Whatever arrives at `/$process-message`, the answer is a BaRS OperationOutcome with a 4xx
//! status - never a 500, never a panic.

use bytes::Bytes;
use serde_json::{Value, json};

use super::*;

#[track_caller]
fn refused_cleanly(what: &str, r: &ClientResponse) {
    let body = r.json().unwrap_or(Value::Null);
    assert!(
        (400..500).contains(&r.status.as_u16()),
        "{what}: {} {body}",
        r.status
    );
    assert_eq!(body["resourceType"], "OperationOutcome", "{what}");
    let code = body["issue"][0]["details"]["coding"][0]["code"]
        .as_str()
        .unwrap_or_default();
    assert!(code.starts_with("REC_"), "{what}: {body}");
}

on_both! {
    #[tokio::test]
    async fn junk_bundles_are_refused_cleanly(backend: Backend) {
        let rx = start(backend).await;
        rx.generate(SERVICE_A, 1).await;
        let slot = rx.slots(SERVICE_A, "free").await.remove(0);
        let good = booking(&slot, PATIENT, SERVICE_A);

        let raw: Vec<(&str, String)> = vec![
            ("empty body", String::new()),
            ("not JSON", "<Bundle/>".into()),
            ("truncated JSON", good.to_string()[..200].to_string()),
            ("a JSON array", "[]".into()),
            ("a JSON string", "\"Bundle\"".into()),
            (
                "deep nesting",
                format!("{}{}", "[".repeat(5000), "]".repeat(5000)),
            ),
        ];
        for (what, body) in raw {
            let r = rx
                .post("/$process-message")
                .body_as("application/fhir+json", body)
                .send()
                .await;
            refused_cleanly(what, &r);
        }

        let header_first = |header: Value| {
            json!({"resourceType": "Bundle", "id": "x", "meta": {"versionId": "1.1.0"}, "type": "message",
                   "timestamp": "2030-01-01T00:00:00Z",
                   "entry": [{"fullUrl": "urn:uuid:h", "resource": header}]})
        };
        let mut cases: Vec<(&str, Value)> = vec![
            (
                "not a Bundle",
                json!({"resourceType": "Appointment", "status": "booked"}),
            ),
            ("no resourceType", json!({"type": "message"})),
            (
                "entry an object",
                json!({"resourceType": "Bundle", "meta": {"versionId": "1.1.0"}, "entry": {}}),
            ),
            (
                "no entries",
                json!({"resourceType": "Bundle", "meta": {"versionId": "1.1.0"}, "type": "message"}),
            ),
            (
                "empty entry",
                json!({"resourceType": "Bundle", "meta": {"versionId": "1.1.0"}, "type": "message", "entry": []}),
            ),
            (
                "entries of junk",
                json!({"resourceType": "Bundle", "meta": {"versionId": "1.1.0"}, "type": "message", "entry": [1, "two", null, []]}),
            ),
            (
                "meta a string",
                json!({"resourceType": "Bundle", "meta": "1.1.0", "type": "message"}),
            ),
            (
                "versionId a number",
                json!({"resourceType": "Bundle", "meta": {"versionId": 1.1}, "type": "message"}),
            ),
            (
                "empty header",
                header_first(json!({"resourceType": "MessageHeader"})),
            ),
            (
                "destination a string",
                header_first(json!({"resourceType": "MessageHeader", "destination": "RX001"})),
            ),
            (
                "destination of junk",
                header_first(
                    json!({"resourceType": "MessageHeader", "destination": [1, {"endpoint": 7}]}),
                ),
            ),
            (
                "endpoint with no id",
                header_first(
                    json!({"resourceType": "MessageHeader", "destination": [{"endpoint": format!("{DOS}|")}]}),
                ),
            ),
            (
                "receiver a number",
                header_first(
                    json!({"resourceType": "MessageHeader", "destination": [{"endpoint": format!("{DOS}|{SERVICE_A}"), "receiver": 5}]}),
                ),
            ),
            (
                "receiver pointing at the header",
                header_first(
                    json!({"resourceType": "MessageHeader", "destination": [{"endpoint": format!("{DOS}|{SERVICE_A}"), "receiver": {"reference": "urn:uuid:h"}}]}),
                ),
            ),
        ];

        // A well-addressed message whose every other part is broken in turn.
        let mut m = good.clone();
        header_mut(&mut m)["focus"] = json!(42);
        cases.push(("focus a number", m));
        let mut m = good.clone();
        header_mut(&mut m)["focus"] = json!([{"reference": 42}]);
        cases.push(("focus reference a number", m));
        let mut m = good.clone();
        header_mut(&mut m)["focus"] = json!([{"reference": "urn:uuid:nowhere"}]);
        cases.push(("focus dangling", m));
        let mut m = good.clone();
        header_mut(&mut m)["eventCoding"] = json!("booking-request");
        cases.push(("eventCoding a string", m));
        let mut m = good.clone();
        header_mut(&mut m)["reason"] = json!({"coding": "new"});
        cases.push(("reason coding a string", m));
        let mut m = good.clone();
        header_mut(&mut m)["definition"] = json!(["x"]);
        cases.push(("definition an array", m));
        let mut m = good.clone();
        *appointment_mut(&mut m) = json!({"resourceType": "Appointment"});
        cases.push(("empty appointment", m));
        let mut m = good.clone();
        appointment_mut(&mut m)["status"] = json!(7);
        cases.push(("status a number", m));
        let mut m = good.clone();
        appointment_mut(&mut m)["slot"] = json!("Slot/1");
        cases.push(("slot a string", m));
        let mut m = good.clone();
        appointment_mut(&mut m)["slot"] = json!([{"reference": 1}, 2]);
        cases.push(("slot entries of junk", m));
        let mut m = good.clone();
        appointment_mut(&mut m)["participant"] = json!([{"actor": "patient"}, 3]);
        cases.push(("participants of junk", m));
        let mut m = good.clone();
        appointment_mut(&mut m)["serviceCategory"] = json!({"coding": 1});
        cases.push(("serviceCategory an object", m));
        let mut m = good.clone();
        resource_mut(&mut m, "Patient")["identifier"] = json!("9434765919");
        cases.push(("identifier a string", m));
        let mut m = good.clone();
        resource_mut(&mut m, "Slot")["id"] = json!(["slot"]);
        cases.push(("slot id an array", m));
        let mut m = good.clone();
        appointment_mut(&mut m)["id"] = json!({"id": 1});
        header_mut(&mut m)["reason"]["coding"][0]["code"] = json!("update");
        cases.push(("update with an object id", m));

        for (what, body) in &cases {
            refused_cleanly(what, &send(&rx, body).await);
        }

        // Many entries, still under the body limit.
        let mut many = good.clone();
        let entries = many["entry"].as_array_mut().unwrap();
        for i in 0..5000 {
            entries.push(json!({"fullUrl": format!("urn:uuid:extra-{i}"), "resource": {"resourceType": "Slot", "id": i.to_string()}}));
        }
        refused_cleanly("thousands of Slots", &send(&rx, &many).await);

        // Bigger than the body limit: 413.
        let mut huge = good.clone();
        appointment_mut(&mut huge)["description"] = json!("x".repeat(2 * 1024 * 1024));
        let r = send(&rx, &huge).await;
        refused_cleanly("huge", &r);
        assert_eq!(r.status, 413);

        // Not FHIR JSON.
        let r = rx
            .post("/$process-message")
            .body_as("application/xml", Bytes::from_static(b"<Bundle/>"))
            .send()
            .await;
        assert_outcome(&r, 400, "structure", "REC_BAD_REQUEST");

        // Nothing was booked by any of it.
        assert_eq!(slot_status(&rx, SERVICE_A, &slot["id"]).await, "free");
        // And the receiver still works.
        accepted(&good, &send(&rx, &good).await, SERVICE_A);
        rx.stop().await;
    }
}

on_both! {
    #[tokio::test]
    async fn process_message_accepts_post_only(backend: Backend) {
        let rx = start(backend).await;
        for method in ["GET", "PUT", "PATCH", "DELETE"] {
            let r = rx
                .req(
                    http::Method::from_bytes(method.as_bytes()).unwrap(),
                    "/$process-message",
                )
                .send()
                .await;
            assert_outcome(&r, 405, "not-supported", "REC_METHOD_NOT_ALLOWED");
            assert_eq!(r.header("allow"), Some("POST"), "{method}");
        }
        for method in ["POST", "PUT"] {
            let r = rx
                .req(
                    http::Method::from_bytes(method.as_bytes()).unwrap(),
                    "/MessageDefinition",
                )
                .send()
                .await;
            if method == "POST" {
                assert_outcome(&r, 405, "not-supported", "REC_METHOD_NOT_ALLOWED");
                assert_eq!(r.header("allow"), Some("GET"));
            } else {
                assert_eq!(r.status, 405);
            }
        }
        // Some clients percent-encode the `$`.
        rx.generate(SERVICE_A, 1).await;
        let slot = rx.slots(SERVICE_A, "free").await.remove(0);
        let message = booking(&slot, PATIENT, SERVICE_A);
        let r = rx.post("/%24process-message").json(&message).send().await;
        accepted(&message, &r, SERVICE_A);
        rx.stop().await;
    }
}
