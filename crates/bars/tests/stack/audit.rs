//! The audit trail, end to end on real processes: `bars audit` finds exactly the entries of an
//! appointment, a patient or a request, and no listener, route or verb can change or remove an
//! entry (the database triggers behind that are in the store's contract tests).

use std::collections::BTreeMap;
use std::time::Duration;

use bars_http::client::HttpClient;
use bytes::Bytes;
use http::Method;
use serde_json::{Value, json};

use crate::kit::{PATIENT, bars_headers};
use crate::privacy::workload;
use crate::processes::{ProcessOptions, ProcessStack};

type Headers = Vec<(&'static str, String)>;

async fn stack() -> ProcessStack {
    ProcessStack::start(ProcessOptions {
        admin_token: Some(format!("admin-{}", uuid::Uuid::new_v4())),
        ..ProcessOptions::default()
    })
    .await
}

/// Every entry, by sequence number, once the audited reads of `appointment` are written (the
/// sink writes reads in the background).
async fn whole_trail(stack: &ProcessStack, appointment: &str) -> BTreeMap<u64, Value> {
    for _ in 0..200 {
        let r = stack
            .admin(Method::GET, "/admin/audit?limit=100000", None)
            .await;
        assert_eq!(r.status, 200);
        let entries = r.json().unwrap()["entries"].as_array().unwrap().clone();
        let actions: Vec<&str> = entries
            .iter()
            .filter(|e| e["resourceId"] == appointment)
            .filter_map(|e| e["action"].as_str())
            .collect();
        if ["book", "read", "update", "cancel"]
            .iter()
            .all(|a| actions.contains(a))
        {
            return entries
                .into_iter()
                .map(|e| (e["seq"].as_u64().unwrap(), e))
                .collect();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the appointment's reads and changes never all reached the audit trail");
}

/// `bars --json audit ...` against the receiver's admin listener; the entries' sequence numbers.
fn cli(stack: &ProcessStack, query: &[&str]) -> Vec<u64> {
    let token = stack.options.admin_token.clone().unwrap();
    let mut args = vec![
        "--json",
        "audit",
        "--admin-url",
        &stack.receiver_admin_url,
        "--admin-token",
        &token,
    ];
    args.extend_from_slice(query);
    let (ok, out, err) = stack.cli(&args);
    assert!(ok, "bars audit {query:?}: {err}");
    let entries: Vec<Value> = serde_json::from_str(&out).unwrap();
    entries.iter().map(|e| e["seq"].as_u64().unwrap()).collect()
}

fn matching(trail: &BTreeMap<u64, Value>, field: &str, value: &str) -> Vec<u64> {
    trail
        .iter()
        .filter(|(_, e)| e[field] == value)
        .map(|(seq, _)| *seq)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bars_audit_finds_exactly_the_entries_of_an_appointment_a_patient_or_a_request() {
    let stack = stack().await;
    let work = workload(&stack).await;
    let trail = whole_trail(&stack, &work.appointment).await;

    let by_appointment = cli(&stack, &["--appointment", &work.appointment]);
    assert_eq!(
        by_appointment,
        matching(&trail, "resourceId", &work.appointment)
    );
    let actions: Vec<&str> = by_appointment
        .iter()
        .map(|s| trail[s]["action"].as_str().unwrap())
        .collect();
    for action in ["book", "read", "update", "cancel"] {
        assert!(actions.contains(&action), "{action} in {actions:?}");
    }

    let by_patient = cli(&stack, &["--patient", PATIENT]);
    assert_eq!(by_patient, matching(&trail, "patient", PATIENT));
    assert!(by_patient.len() >= 5, "{by_patient:?}");
    assert!(
        by_patient.iter().any(|s| trail[s]["action"] == "search"),
        "the search naming the patient is there"
    );

    let by_request = cli(&stack, &["--request", &work.booking_request]);
    assert_eq!(by_request.len(), 1);
    assert_eq!(trail[&by_request[0]]["action"], "book");
    assert_eq!(trail[&by_request[0]]["outcome"], 201);
    assert_eq!(trail[&by_request[0]]["senderApp"], "demo-sender");

    assert!(cli(&stack, &["--patient", "9000000009"]).is_empty());
    assert!(cli(&stack, &["--request", "'; DELETE FROM audit; --"]).is_empty());
    // Only staff with the admin token read it.
    let (ok, _, _) = stack.cli(&[
        "audit",
        "--admin-url",
        &stack.receiver_admin_url,
        "--appointment",
        &work.appointment,
    ]);
    assert!(!ok, "the audit trail needs the admin token");
    eprintln!(
        "audit: {} entries; {} for the appointment, {} for the patient, {} for the request",
        trail.len(),
        by_appointment.len(),
        by_patient.len(),
        by_request.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_listener_route_or_verb_changes_or_removes_an_audit_entry() {
    let stack = stack().await;
    let work = workload(&stack).await;
    let before = whole_trail(&stack, &work.appointment).await;
    let first = *before.keys().next().unwrap();
    let token = stack.options.admin_token.clone().unwrap();
    let mtls = HttpClient::new(
        Some(
            bars_pki::tls::client_config(
                &std::fs::read_to_string(stack.dir().join("pki/ca.pem")).unwrap(),
                Some(&bars_pki::Identity::read(&stack.dir().join("pki"), "proxy-client").unwrap()),
            )
            .unwrap(),
        ),
        Duration::from_secs(10),
    );
    let sender_token = stack.sender.token().await.unwrap();
    // (listener, client, headers): staff with the admin token, without it, senders through
    // the proxy, and the proxy's own certificate straight at the receiver and the registry.
    let admin = vec![
        ("authorization", format!("Bearer {token}")),
        ("content-type", "application/json".to_string()),
    ];
    let mut sender = bars_headers(None, Some("2000011111"));
    sender.push(("authorization", format!("Bearer {sender_token}")));
    let listeners: Vec<(&str, &HttpClient, Headers)> = vec![
        (&stack.receiver_admin_url, &stack.plain, admin.clone()),
        (&stack.receiver_admin_url, &stack.plain, vec![]),
        (&stack.proxy_admin_url, &stack.plain, admin.clone()),
        (&stack.registry_admin_url, &stack.plain, admin.clone()),
        (&stack.proxy_url, &stack.https, sender.clone()),
        (&stack.receiver_url, &mtls, bars_headers(None, None)),
        (&stack.registry_url, &mtls, bars_headers(None, None)),
    ];
    let seq = first.to_string();
    let paths = [
        "/admin/audit".to_string(),
        format!("/admin/audit/{seq}"),
        format!("/admin/audit?appointment={}", work.appointment),
        "/admin/audit/anything".to_string(),
        "/AuditEvent".to_string(),
        format!("/AuditEvent/{seq}"),
        "/audit".to_string(),
    ];
    let body = json!({ "seq": first, "action": "forged", "outcome": 200, "entries": [] });
    let mut tried = 0;
    for (base, client, headers) in &listeners {
        for path in &paths {
            for method in [Method::POST, Method::PUT, Method::PATCH, Method::DELETE] {
                let r = client
                    .call(
                        method.clone(),
                        &format!("{base}{path}"),
                        headers,
                        Some(Bytes::from(body.to_string())),
                    )
                    .await
                    .unwrap();
                tried += 1;
                assert!(
                    r.status.is_client_error(),
                    "{method} {base}{path} answered {}",
                    r.status
                );
            }
        }
    }

    let after = whole_trail(&stack, &work.appointment).await;
    for (seq, entry) in &before {
        assert_eq!(after.get(seq), Some(entry), "audit entry {seq} changed");
    }
    assert!(after.values().all(|e| e["action"] != "forged"));
    eprintln!(
        "audit: {tried} attempts to change {} entries, all refused, none changed",
        before.len()
    );
}
