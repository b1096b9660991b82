//! `Cache-Control: no-store` and the OWASP response headers on every response of every
//! listener: receiver, registry and proxy, API and admin, successes and errors alike (401, 403,
//! 404, 405, 400, health, metrics, the token endpoint, OpenAPI documents).

use std::collections::BTreeSet;
use std::time::Duration;

use bars_http::client::HttpClient;
use bytes::Bytes;
use http::{HeaderMap, Method};

use crate::kit::*;

/// Every path any listener serves, and some none does.
const PATHS: &[&str] = &[
    "/",
    "/nowhere",
    "/_ping",
    "/_status",
    "/metrics",
    "/openapi.json",
    "/oauth2/token",
    "/metadata",
    "/Slot",
    "/Slots",
    "/Appointment",
    "/Appointment/",
    "/Appointment/no-such-id",
    "/Appointment/no-such-id/_history",
    "/Appointment/no-such-id/_history/1",
    "/$process-message",
    "/MessageDefinition",
    "/ServiceRequest",
    "/DocumentReference",
    "/DocumentReference/no-such-id",
    "/HealthcareService",
    "/admin/services",
    "/admin/audit",
    "/admin/audit/1",
    "/admin/outbox",
    "/admin/slots",
    "/admin/endpoints",
    "/admin/applications",
    "/admin/applications/no-such-app",
];

const METHODS: &[&str] = &["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_response_of_every_listener_carries_no_store_and_the_owasp_headers() {
    let stack = Stack::start(1).await;
    let service = stack.service(0, 0);
    let mut expected = HeaderMap::new();
    bars_http::transport::apply_security_headers(&mut expected);
    assert!(expected.len() >= 6);

    let timeout = Duration::from_secs(10);
    let tls = stack.http.clone();
    let mtls = HttpClient::new(
        Some(
            bars_pki::tls::client_config(&stack.pki.ca_pem, Some(&stack.pki.proxy_client)).unwrap(),
        ),
        timeout,
    );
    let plain = HttpClient::plain(timeout);
    let token = stack.sender.token().await.unwrap();
    let rx = &stack.receivers[0];
    // (listener, client, whether to send the sender's token)
    let listeners: Vec<(&str, &str, &HttpClient, bool)> = vec![
        ("proxy API", &stack.proxy_url, &tls, true),
        ("proxy API, anonymous", &stack.proxy_url, &tls, false),
        ("proxy admin", &stack.proxy_admin_url, &plain, false),
        (
            "registry API, as the proxy",
            &stack.registry_url,
            &mtls,
            false,
        ),
        (
            "registry API, no certificate",
            &stack.registry_url,
            &tls,
            false,
        ),
        ("registry admin", &stack.registry_admin_url, &plain, false),
        ("receiver API, as the proxy", &rx.url, &mtls, false),
        ("receiver API, no certificate", &rx.url, &tls, false),
        ("receiver admin", &rx.admin_url, &plain, false),
    ];

    let mut failures = Vec::new();
    let mut statuses = BTreeSet::new();
    let mut requests = 0;
    for (name, base, client, with_token) in &listeners {
        for path in PATHS {
            for method in METHODS {
                // Bare, and as a BaRS sender sends (ids, Accept, target, a JSON body).
                for dressed in [false, true] {
                    let mut headers = Vec::new();
                    let mut body = None;
                    if dressed {
                        headers = bars_headers(None, Some(&service));
                        if *with_token {
                            headers.push(("authorization", format!("Bearer {token}")));
                        }
                        if !matches!(*method, "GET" | "HEAD" | "DELETE" | "OPTIONS") {
                            body = Some(Bytes::from_static(b"{\"resourceType\":\"Appointment\"}"));
                        }
                    }
                    let method = Method::from_bytes(method.as_bytes()).unwrap();
                    let url = format!("{base}{path}");
                    let r = client
                        .call(method.clone(), &url, &headers, body)
                        .await
                        .unwrap_or_else(|e| panic!("{name}: {method} {url}: {e}"));
                    requests += 1;
                    statuses.insert(r.status.as_u16());
                    for (header, value) in &expected {
                        let got = r.header(header.as_str());
                        if got != value.to_str().ok() {
                            failures.push(format!(
                                "{name}: {method} {path} ({}) -> {}: {header} is {got:?}",
                                if dressed { "with headers" } else { "bare" },
                                r.status
                            ));
                        }
                    }
                }
            }
        }
    }
    // What the walk cannot reach: a booking (201), the same slot again (409), a stale
    // If-Match (412), an Accept the receiver cannot serve (406), a real token (200).
    let slots = stack.free_slots(&service).await;
    let booked = stack.book(&service, &slots[0], PATIENT).await;
    let id = booked.json().unwrap()["id"].as_str().unwrap().to_string();
    let appointment = format!("/Appointment/{id}");
    let others = vec![
        ("booking", booked),
        ("slot taken", stack.book(&service, &slots[0], PATIENT).await),
        (
            "stale If-Match",
            stack
                .request(Method::DELETE, &appointment, Some(&service))
                .header("if-match", "W/\"9\"")
                .send()
                .await,
        ),
        (
            "unacceptable Accept",
            stack
                .request(Method::GET, &appointment, Some(&service))
                .header("accept", "application/xml")
                .send()
                .await,
        ),
        (
            "history",
            stack
                .request(
                    Method::GET,
                    &format!("{appointment}/_history"),
                    Some(&service),
                )
                .send()
                .await,
        ),
    ];
    let form = "grant_type=client_credentials&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion=";
    let sender = &stack.inner.sender;
    let assertion = bars_client::sign_client_assertion(
        &sender.client_id,
        &sender.key_id,
        &sender.algorithm,
        &sender.private_pem,
        &sender.token_url,
        Duration::from_secs(60),
    )
    .unwrap();
    let issued = tls
        .call(
            Method::POST,
            &stack.inner.sender.token_url,
            &[(
                "content-type",
                "application/x-www-form-urlencoded".to_string(),
            )],
            Some(Bytes::from(format!("{form}{assertion}"))),
        )
        .await
        .unwrap();
    assert_eq!(
        issued.status,
        200,
        "{}",
        String::from_utf8_lossy(&issued.body)
    );
    for (name, r) in others.into_iter().chain([("token issued", issued)]) {
        requests += 1;
        statuses.insert(r.status.as_u16());
        for (header, value) in &expected {
            let got = r.header(header.as_str());
            if got != value.to_str().ok() {
                failures.push(format!("{name} -> {}: {header} is {got:?}", r.status));
            }
        }
    }

    eprintln!("headers: {requests} responses checked, statuses {statuses:?}");
    for status in [200, 201, 400, 401, 403, 404, 405, 406, 409, 412] {
        assert!(
            statuses.contains(&status),
            "the walk never saw a {status}: {statuses:?}"
        );
    }
    assert!(
        failures.is_empty(),
        "{} responses without the headers:\n{}",
        failures.len(),
        failures.join("\n")
    );
    stack.stop().await;
}
