//! Transactional integrity: the same request ids are never processed twice.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use serde_json::json;

use crate::helpers::*;

on_both! {
    #[tokio::test]
    async fn a_retried_booking_is_a_duplicate_and_books_nothing_more(backend: Backend) {
        let rx = start(backend).await;
        rx.generate(SERVICE_A, 1).await;
        let slots = rx.slots(SERVICE_A, "free").await;
        let request = rx
            .post("/Appointment")
            .json(&appointment_for(&slots[0], PATIENT));
        let first = request.send().await;
        assert_eq!(first.status, 201);
        let again = request.send().await;
        assert_outcome(&again, 409, "duplicate", "REC_CONFLICT");
        assert_eq!(
            again.header("x-request-id"),
            Some(request.request_id().as_str())
        );
        assert!(
            again
                .header("content-location")
                .unwrap()
                .contains(first.json().unwrap()["id"].as_str().unwrap())
        );
        let found = rx
            .get(&format!(
                "/Appointment?patient:identifier=https://fhir.nhs.uk/Id/nhs-number|{PATIENT}"
            ))
            .send()
            .await
            .json()
            .unwrap();
        assert_eq!(found["total"], 1);
        // A new request id is a new request.
        let other = rx
            .post("/Appointment")
            .json(&appointment_for(&slots[1], PATIENT))
            .send()
            .await;
        assert_eq!(other.status, 201);
        rx.stop().await;
    }
}

on_both! {
    #[tokio::test]
    async fn a_refused_request_replays_its_refusal(backend: Backend) {
        let rx = start(backend).await;
        rx.generate(SERVICE_A, 1).await;
        let slots = rx.slots(SERVICE_A, "free").await;
        assert_eq!(rx.book(&slots[0], PATIENT).await.status, 201);
        let losing = rx
            .post("/Appointment")
            .json(&appointment_for(&slots[0], OTHER_PATIENT));
        let first = losing.send().await;
        assert_outcome(&first, 409, "conflict", "REC_CONFLICT");
        // Even after the slot is freed, the same request ids get the original answer.
        let booked = rx
            .get(&format!(
                "/Appointment?patient:identifier=https://fhir.nhs.uk/Id/nhs-number|{PATIENT}"
            ))
            .send()
            .await
            .json()
            .unwrap();
        let id = booked["entry"][0]["resource"]["id"]
            .as_str()
            .unwrap()
            .to_string();
        assert_eq!(
            rx.delete(&format!("/Appointment/{id}")).send().await.status,
            200
        );
        let replay = losing.send().await;
        assert_outcome(&replay, 409, "conflict", "REC_CONFLICT");
        assert_eq!(
            replay.json().unwrap()["id"],
            first.json().unwrap()["id"],
            "the stored outcome is replayed as it was"
        );
        rx.stop().await;
    }
}

/// Opens a connection and sends a booking's headers and half its body, then stalls.
fn stalled_booking(addr: &str, request_id: &str, correlation_id: &str, body: &str) -> TcpStream {
    let mut stream = TcpStream::connect(addr).unwrap();
    let head = format!(
        "POST /Appointment HTTP/1.1\r\nhost: {addr}\r\nx-request-id: {request_id}\r\nx-correlation-id: {correlation_id}\r\ncontent-type: application/fhir+json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream
        .write_all(&body.as_bytes()[..body.len() / 2])
        .unwrap();
    stream
        .set_read_timeout(Some(Duration::from_millis(25)))
        .unwrap();
    stream
}

/// The status line of whatever the server has said so far, if anything.
fn status_line(stream: &mut TcpStream) -> Option<String> {
    let mut buf = [0u8; 512];
    match stream.read(&mut buf) {
        Ok(n) if n > 0 => Some(
            String::from_utf8_lossy(&buf[..n])
                .lines()
                .next()
                .unwrap_or("")
                .to_string(),
        ),
        _ => None,
    }
}

on_both! {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_retry_while_the_original_is_in_flight_is_too_early(backend: Backend) {
        let rx = start(backend).await;
        rx.generate(SERVICE_A, 1).await;
        let slot = rx.slots(SERVICE_A, "free").await.remove(0);
        let body = appointment_for(&slot, PATIENT).to_string();
        let (request_id, correlation_id) = (
            uuid::Uuid::new_v4().to_string(),
            uuid::Uuid::new_v4().to_string(),
        );
        let addr = rx.base.trim_start_matches("http://").to_string();

        // Two copies of one request, both stalled mid-body: exactly one is admitted and waits for
        // its body; the other is answered at once, before its body arrives.
        let body2 = body.clone();
        let outcome = tokio::task::spawn_blocking(move || {
            let mut streams = [
                stalled_booking(&addr, &request_id, &correlation_id, &body2),
                stalled_booking(&addr, &request_id, &correlation_id, &body2),
            ];
            for _ in 0..400 {
                for which in 0..2 {
                    if let Some(early) = status_line(&mut streams[which]) {
                        // Let the admitted one finish.
                        let admitted = &mut streams[1 - which];
                        admitted
                            .write_all(&body2.as_bytes()[body2.len() / 2..])
                            .unwrap();
                        admitted
                            .set_read_timeout(Some(Duration::from_secs(10)))
                            .unwrap();
                        let done = status_line(admitted).unwrap_or_default();
                        return (early, done, request_id, correlation_id);
                    }
                }
            }
            panic!("neither copy was answered");
        })
        .await
        .unwrap();
        let (early, done, request_id, correlation_id) = outcome;
        assert!(early.starts_with("HTTP/1.1 425"), "{early}");
        assert!(done.starts_with("HTTP/1.1 201"), "{done}");

        // Once it is done, a retry is a duplicate.
        let retry = rx
            .post("/Appointment")
            .without("nhsd-end-user-organisation")
            .without("nhsd-requesting-software")
            .ids(&request_id, &correlation_id)
            .json(&appointment_for(&slot, PATIENT))
            .send()
            .await;
        assert_outcome(&retry, 409, "duplicate", "REC_CONFLICT");
        // And over HTTP, a 425 is a proper OperationOutcome with Retry-After.
        rx.stop().await;
    }
}

on_both! {
    #[tokio::test]
    async fn reads_are_never_duplicates(backend: Backend) {
        let rx = start(backend).await;
        let request = rx.get("/metadata");
        assert_eq!(request.send().await.status, 200);
        assert_eq!(request.send().await.status, 200);
        let _ = json!({});
        rx.stop().await;
    }
}
