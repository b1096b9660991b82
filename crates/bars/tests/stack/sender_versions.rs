//! The sender speaking each BaRS Core version (issue 16 point 4) against the real stack: the SDK
//! and the CLI book, update, reschedule, rebook and cancel under 1.1.6 and under 1.5.0; the
//! stored appointments and the registry's pointers are checked after each step, and what the
//! SDK put on the wire (recorded by a relay in front of the proxy) is each version's shape.

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bars_client::{
    BarsClient, BarsError, BarsVersion, BookingDetails, Demographics, PatientQuery, SenderIdentity,
    Slot,
};
use bars_fhir::NhsNumber;
use bars_fhir::headers::TargetIdentifier;
use bars_http::server::RunningServer;
use http::Method;
use serde_json::{Value, json};

use crate::kit::*;

/// One request as the sender sent it.
#[derive(Debug, Clone)]
struct Sent {
    method: Method,
    path: String,
    accept: String,
    content_type: Option<String>,
    body: Option<Value>,
}

type Log = Arc<Mutex<Vec<Sent>>>;

/// A plain-HTTP relay in front of the stack's proxy that writes down every request it passes on.
async fn recording_relay(stack: &Stack) -> (RunningServer, Log) {
    let log: Log = Arc::default();
    let upstream = stack.inner.proxy_url.clone();
    let http = stack.http.clone();
    let kept = log.clone();
    let app = axum::Router::new().fallback(move |request: axum::extract::Request| {
        let (upstream, http, log) = (upstream.clone(), http.clone(), kept.clone());
        async move {
            let (parts, body) = request.into_parts();
            let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
            let header = |name: &str| {
                parts
                    .headers
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string)
            };
            let path = parts
                .uri
                .path_and_query()
                .map(|p| p.as_str().to_string())
                .unwrap_or_default();
            log.lock().unwrap().push(Sent {
                method: parts.method.clone(),
                path: path.clone(),
                accept: header("accept").unwrap_or_default(),
                content_type: header("content-type"),
                body: serde_json::from_slice(&body).ok(),
            });
            let headers: Vec<(&str, String)> = parts
                .headers
                .iter()
                .filter(|(k, _)| !matches!(k.as_str(), "host" | "content-length" | "connection"))
                .filter_map(|(k, v)| Some((k.as_str(), v.to_str().ok()?.to_string())))
                .collect();
            let answer = http
                .call(
                    parts.method,
                    &format!("{upstream}{path}"),
                    &headers,
                    (!body.is_empty()).then_some(body),
                )
                .await
                .unwrap();
            let mut response = http::Response::builder().status(answer.status);
            for (k, v) in &answer.headers {
                if !matches!(
                    k.as_str(),
                    "content-length" | "transfer-encoding" | "connection"
                ) {
                    response = response.header(k, v);
                }
            }
            response.body(axum::body::Body::from(answer.body)).unwrap()
        }
    });
    let server = RunningServer::start("127.0.0.1:0".parse().unwrap(), app, Default::default())
        .await
        .unwrap();
    (server, log)
}

fn taken(log: &Log) -> Vec<Sent> {
    std::mem::take(&mut *log.lock().unwrap())
}

/// The stored appointment, read through the proxy (1.1.6 reads everything alike).
async fn stored(stack: &Stack, service: &str, id: &str) -> Value {
    let r = stack
        .request(Method::GET, &format!("/Appointment/{id}"), Some(service))
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    r.json().unwrap()
}

/// The appointment ids the registry points at for the patient, with each pointer's period start.
async fn pointed(stack: &Stack, nhs: &str) -> Vec<(String, String)> {
    stack.pointers_settled().await;
    let mut out: Vec<(String, String)> = stack
        .pointers(nhs)
        .await
        .iter()
        .map(|p| {
            let id = p["identifier"]
                .as_array()
                .unwrap()
                .iter()
                .find(|i| i["system"] == "https://fhir.nhs.uk/Id/BaRS-Identifier")
                .map(|i| i["value"].as_str().unwrap().to_string())
                .unwrap_or_default();
            let start = p
                .pointer("/context/period/start")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            (id, start)
        })
        .collect();
    out.sort();
    out
}

fn same_instant(a: &Value, b: &str) -> bool {
    let parse = |s: &str| s.parse::<jiff::Timestamp>().unwrap();
    parse(a.as_str().unwrap()) == parse(b)
}

fn demographics(family: &str) -> Demographics {
    Demographics {
        family: family.into(),
        given: vec!["Ada".into()],
        birth_date: "1990-03-04".into(),
        postcode: "LS1 4AP".into(),
    }
}

fn reason(code: &str) -> Value {
    json!([{ "coding": [{ "system": "http://snomed.info/sct", "code": code }] }])
}

/// One version's whole workflow through the SDK, checked at every step.
async fn sdk_workflow(
    stack: &Stack,
    relay: &str,
    log: &Log,
    version: BarsVersion,
    service_id: &str,
    nhs: &str,
) {
    let service = TargetIdentifier::dos(service_id);
    let client = BarsClient::new(
        bars_http::client::HttpClient::plain(Duration::from_secs(30)),
        relay,
        stack.sender.clone(),
        SenderIdentity::new(SENDER_ODS, "Demo GP Practice"),
    )
    .with_version(version);
    let patient = NhsNumber::parse(nhs).unwrap();
    let now = bars_fhir::Instant::now();
    let slots: Vec<Slot> = client
        .slots(&service, now, now.plus_seconds(3 * 86_400), "free")
        .await
        .unwrap();
    let (first, second, third) = (&slots[0], &slots[1], &slots[2]);
    let family = format!("Lovelace{}", version.as_str().replace('.', ""));

    // Book, with the patient's demographics.
    let details = BookingDetails {
        demographics: Some(demographics(&family)),
        ..Default::default()
    };
    let booked = client
        .book(&service, first, &patient, &details)
        .await
        .unwrap();
    let id = booked["id"].as_str().unwrap().to_string();
    let sent = taken(log);
    let post = sent.iter().find(|s| s.method == Method::POST).unwrap();
    assert_eq!(
        post.content_type.as_deref(),
        Some(format!("application/fhir+json; version={}", version.media_version()).as_str())
    );
    for s in &sent {
        assert_eq!(
            s.accept,
            format!("application/fhir+json; version={}", version.media_version()),
            "{} {}",
            s.method,
            s.path
        );
    }
    assert_eq!(pointed(stack, nhs).await.len(), 1);
    assert_eq!(pointed(stack, nhs).await[0].0, id);

    // Update the reason: 1.1.6 PUTs the whole appointment, 1.5.0 only status and reasonCode.
    let updated = client
        .update(&service, &id, |a| a["reasonCode"] = reason("165332000"))
        .await
        .unwrap();
    assert_eq!(updated["reasonCode"], reason("165332000"));
    let put = taken(log)
        .into_iter()
        .find(|s| s.method == Method::PUT)
        .unwrap()
        .body
        .unwrap();
    let mut keys: Vec<&str> = put
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    match version {
        BarsVersion::V1_1_6 => {
            assert!(
                put.get("slot").is_some() && put.get("participant").is_some(),
                "{put}"
            )
        }
        BarsVersion::V1_5_0 => assert_eq!(keys, ["id", "reasonCode", "resourceType", "status"]),
    }
    let now_stored = stored(stack, service_id, &id).await;
    assert_eq!(now_stored["reasonCode"], reason("165332000"));
    assert_eq!(
        now_stored.pointer("/slot/0/reference").unwrap(),
        &json!(format!("Slot/{}", first.id)),
        "the update kept the slot"
    );
    assert!(
        now_stored["contained"][0]["birthDate"] == "1990-03-04",
        "the update kept what it did not send: {now_stored}"
    );

    // A change 1.5.0 does not let a PUT make is not sent at all; 1.1.6 makes it.
    let described = client
        .update(&service, &id, |a| a["description"] = json!("Follow-up"))
        .await;
    match version {
        BarsVersion::V1_1_6 => assert_eq!(described.unwrap()["description"], "Follow-up"),
        BarsVersion::V1_5_0 => {
            assert!(
                matches!(&described, Err(BarsError::NotApplicable(m)) if m.contains("description")),
                "{described:?}"
            );
            assert!(taken(log).iter().all(|s| s.method == Method::GET));
        }
    }

    // Reschedule: 1.5.0 PATCHes the slot only and reads back the times the receiver derived.
    let moved = client.reschedule(&service, &id, second).await.unwrap();
    assert!(same_instant(&moved["start"], &second.start), "{moved}");
    assert!(same_instant(&moved["end"], &second.end), "{moved}");
    let patch = taken(log)
        .into_iter()
        .find(|s| s.method == Method::PATCH)
        .unwrap();
    assert_eq!(
        patch.content_type.as_deref(),
        Some("application/json-patch+json")
    );
    let paths: Vec<&str> = patch
        .body
        .as_ref()
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .filter(|op| op["op"] == "replace")
        .map(|op| op["path"].as_str().unwrap())
        .collect();
    match version {
        BarsVersion::V1_1_6 => assert_eq!(paths, ["/slot", "/start", "/end"]),
        BarsVersion::V1_5_0 => assert_eq!(paths, ["/slot"]),
    }
    let after = stored(stack, service_id, &id).await;
    assert_eq!(after["slot"][0]["reference"], format!("Slot/{}", second.id));
    assert!(same_instant(&after["start"], &second.start));
    let pointers = pointed(stack, nhs).await;
    assert_eq!(pointers.len(), 1);
    assert!(
        same_instant(&json!(pointers[0].1), &second.start),
        "the pointer moved with the booking: {pointers:?}"
    );

    // Rebook: 1.1.6 books (with replaces) then cancels; 1.5.0 cancels then books, no replaces.
    let (new, old) = client.rebook(&service, &id, third).await.unwrap();
    let new_id = new["id"].as_str().unwrap().to_string();
    assert_eq!(old["status"], "cancelled");
    assert_eq!(new["status"], "booked");
    let writes: Vec<Sent> = taken(log)
        .into_iter()
        .filter(|s| s.method != Method::GET)
        .collect();
    let order: Vec<&Method> = writes.iter().map(|s| &s.method).collect();
    let booking = writes.iter().find(|s| s.method == Method::POST).unwrap();
    let replaces = booking.body.as_ref().unwrap().get("replaces");
    match version {
        BarsVersion::V1_1_6 => {
            assert_eq!(order, [&Method::POST, &Method::PUT]);
            assert_eq!(
                replaces,
                Some(&json!([{ "reference": format!("Appointment/{id}") }]))
            );
        }
        BarsVersion::V1_5_0 => {
            assert_eq!(order, [&Method::PUT, &Method::POST]);
            assert_eq!(replaces, None);
            let cancel = writes[0].body.as_ref().unwrap();
            assert_eq!(cancel["status"], "cancelled");
            assert_eq!(cancel["cancelationReason"]["text"], "Rebooked");
            assert!(cancel.get("participant").is_none(), "{cancel}");
        }
    }
    assert_eq!(stored(stack, service_id, &id).await["status"], "cancelled");
    let rebooked = stored(stack, service_id, &new_id).await;
    assert_eq!(
        rebooked["slot"][0]["reference"],
        format!("Slot/{}", third.id)
    );
    assert_eq!(
        pointed(stack, nhs)
            .await
            .into_iter()
            .map(|p| p.0)
            .collect::<Vec<_>>(),
        vec![new_id.clone()],
        "the old pointer deleted, the new one written"
    );

    // Search: by NHS number under both; by demographics under 1.5.0 only.
    let by_number = client
        .search(
            &service,
            &PatientQuery {
                nhs_number: Some(patient.clone()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let mut ids: Vec<&str> = by_number
        .appointments
        .iter()
        .map(|a| a["id"].as_str().unwrap())
        .collect();
    ids.sort_unstable();
    let mut expected = [id.as_str(), new_id.as_str()];
    expected.sort_unstable();
    assert_eq!(ids, expected);
    let by_demographics = client
        .search(
            &service,
            &PatientQuery {
                name: Some(format!("ada {family}")),
                birth_date: Some("1990-03-04".into()),
                postcode: Some("ls14ap".into()),
                ..Default::default()
            },
        )
        .await;
    match version {
        BarsVersion::V1_1_6 => assert!(
            matches!(by_demographics, Err(BarsError::NotApplicable(_))),
            "{by_demographics:?}"
        ),
        BarsVersion::V1_5_0 => {
            let found = by_demographics.unwrap();
            let mut ids: Vec<&str> = found
                .appointments
                .iter()
                .map(|a| a["id"].as_str().unwrap())
                .collect();
            ids.sort_unstable();
            assert_eq!(ids, expected, "the rebooking carried the demographics over");
            let sent = taken(log);
            assert!(sent.iter().any(|s| s.path.contains("patient:name=")
                && s.path.contains("patient:address-postalcode=")
                && !s.path.contains("patient:identifier")));
        }
    }

    // Cancel the new booking: a PUT of the status and reason.
    let cancelled = client
        .cancel(&service, &new_id, false, Some("Patient is better"))
        .await
        .unwrap();
    assert_eq!(cancelled["status"], "cancelled");
    let cancel = taken(log)
        .into_iter()
        .find(|s| s.method == Method::PUT)
        .unwrap()
        .body
        .unwrap();
    assert_eq!(cancel["cancelationReason"]["text"], "Patient is better");
    assert_eq!(
        cancel.get("slot").is_some(),
        version == BarsVersion::V1_1_6,
        "{cancel}"
    );
    let gone = stored(stack, service_id, &new_id).await;
    assert_eq!(gone["status"], "cancelled");
    assert_eq!(gone["cancelationReason"]["text"], "Patient is better");
    assert!(pointed(stack, nhs).await.is_empty(), "no pointer is left");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_sdk_follows_each_core_versions_workflow() {
    let stack = Stack::start(1).await;
    let (relay, log) = recording_relay(&stack).await;
    let relay_url = format!("http://{}", relay.addr);
    sdk_workflow(
        &stack,
        &relay_url,
        &log,
        BarsVersion::V1_1_6,
        &stack.service(0, 0),
        PATIENT,
    )
    .await;
    sdk_workflow(
        &stack,
        &relay_url,
        &log,
        BarsVersion::V1_5_0,
        &stack.service(0, 1),
        OTHER_PATIENT,
    )
    .await;

    // Demographics that fit two patients: the receiver returns no appointment and says why,
    // and the SDK passes that on.
    let service = TargetIdentifier::dos(stack.service(0, 1));
    let client = BarsClient::new(
        bars_http::client::HttpClient::plain(Duration::from_secs(30)),
        &relay_url,
        stack.sender.clone(),
        SenderIdentity::new(SENDER_ODS, "Demo GP Practice"),
    );
    let now = bars_fhir::Instant::now();
    let free = client
        .slots(&service, now, now.plus_seconds(3 * 86_400), "free")
        .await
        .unwrap();
    let twin = BookingDetails {
        demographics: Some(demographics("Lovelace150")),
        ..Default::default()
    };
    client
        .book(
            &service,
            &free[0],
            &NhsNumber::parse(PATIENT).unwrap(),
            &twin,
        )
        .await
        .unwrap();
    let ambiguous = client
        .search(
            &service,
            &PatientQuery {
                name: Some("Ada Lovelace150".into()),
                birth_date: Some("1990-03-04".into()),
                postcode: Some("LS1 4AP".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(ambiguous.appointments.is_empty(), "{ambiguous:?}");
    assert!(
        ambiguous
            .warnings
            .iter()
            .any(|w| w.starts_with("multiple-matches")),
        "{ambiguous:?}"
    );
    relay.shutdown().await;
    stack.stop().await;
}

/// Runs `bars --json ...` against the stack's manifest; its JSON output, or its error text.
fn cli(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> Result<Value, String> {
    let out = Command::new(env!("CARGO_BIN_EXE_bars"))
        .current_dir(dir)
        .env_remove("BARS_VERSION")
        .envs(env.iter().copied())
        .args(["--json", "--stack", "stack.json"])
        .args(args)
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    Ok(serde_json::from_slice(&out.stdout).unwrap())
}

/// The CLI's workflow under one version, chosen by `how` (flag, environment or manifest).
async fn cli_workflow(
    stack: &Stack,
    dir: &Path,
    version: &str,
    how: &[&str],
    env: &[(&str, &str)],
    service: &str,
    nhs: &str,
) {
    let run = |args: &[&str]| {
        let mut all: Vec<&str> = args.to_vec();
        all.extend_from_slice(how);
        cli(dir, env, &all)
    };
    let slots = stack.free_slots(service).await;
    let slot = |i: usize| slots[i]["id"].as_str().unwrap().to_string();
    let family = format!("Hopper{}", version.replace('.', ""));
    let booked = run(&[
        "book",
        "--service",
        service,
        "--slot",
        &slot(0),
        "--patient",
        nhs,
        "--family",
        &family,
        "--given",
        "Grace",
        "--birth-date",
        "1985-12-09",
        "--postcode",
        "SW1A 1AA",
    ])
    .unwrap();
    let id = booked["id"].as_str().unwrap().to_string();
    assert_eq!(pointed(stack, nhs).await.len(), 1);

    let updated = run(&[
        "update",
        "--service",
        service,
        "--appointment",
        &id,
        "--reason-code",
        "165332000",
    ])
    .unwrap();
    assert_eq!(updated["reasonCode"][0]["coding"][0]["code"], "165332000");
    let described = run(&[
        "update",
        "--service",
        service,
        "--appointment",
        &id,
        "--description",
        "Follow-up",
    ]);
    match version {
        "1.1.6" => assert_eq!(described.unwrap()["description"], "Follow-up"),
        _ => assert!(
            described
                .as_ref()
                .is_err_and(|e| e.contains("only the status and reasonCode")),
            "{described:?}"
        ),
    }

    let moved = run(&[
        "reschedule",
        "--service",
        service,
        "--appointment",
        &id,
        "--slot",
        &slot(1),
    ])
    .unwrap();
    assert_eq!(moved["slot"][0]["reference"], format!("Slot/{}", slot(1)));
    assert!(same_instant(
        &moved["start"],
        slots[1]["start"].as_str().unwrap()
    ));
    let pointers = pointed(stack, nhs).await;
    assert!(same_instant(
        &json!(pointers[0].1),
        slots[1]["start"].as_str().unwrap()
    ));

    let rebooked = run(&[
        "rebook",
        "--service",
        service,
        "--appointment",
        &id,
        "--slot",
        &slot(2),
    ])
    .unwrap();
    let new_id = rebooked["booked"]["id"].as_str().unwrap().to_string();
    assert_eq!(rebooked["cancelled"]["status"], "cancelled");
    let new = stored(stack, service, &new_id).await;
    assert_eq!(new["slot"][0]["reference"], format!("Slot/{}", slot(2)));
    assert_eq!(
        pointed(stack, nhs)
            .await
            .into_iter()
            .map(|p| p.0)
            .collect::<Vec<_>>(),
        vec![new_id.clone()]
    );

    let by_demographics = run(&[
        "search",
        "--service",
        service,
        "--family",
        &family,
        "--given",
        "Grace",
        "--birth-date",
        "1985-12-09",
        "--postcode",
        "sw1a1aa",
    ]);
    match version {
        "1.1.6" => assert!(
            by_demographics
                .as_ref()
                .is_err_and(|e| e.contains("needs 1.5.0")),
            "{by_demographics:?}"
        ),
        _ => {
            let found = by_demographics.unwrap();
            assert_eq!(
                found["appointments"].as_array().unwrap().len(),
                2,
                "{found}"
            );
        }
    }
    let by_number = run(&["search", "--service", service, "--patient", nhs]).unwrap();
    assert_eq!(by_number["appointments"].as_array().unwrap().len(), 2);

    let cancelled = run(&[
        "cancel",
        "--service",
        service,
        "--appointment",
        &new_id,
        "--reason",
        "Better",
    ])
    .unwrap();
    assert_eq!(cancelled["status"], "cancelled");
    assert_eq!(
        stored(stack, service, &new_id).await["cancelationReason"]["text"],
        "Better"
    );
    assert!(pointed(stack, nhs).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_cli_speaks_the_version_it_is_given() {
    let stack = Stack::start(1).await;
    let dir = tempfile::tempdir().unwrap();
    let mut manifest = stack.inner.manifest(&[]);
    manifest["sender"]["barsVersion"] = json!("1.1.6");
    std::fs::write(dir.path().join("stack.json"), manifest.to_string()).unwrap();

    // The manifest says 1.1.6; the flag and the environment say otherwise.
    cli_workflow(
        &stack,
        dir.path(),
        "1.1.6",
        &[],
        &[],
        &stack.service(0, 0),
        PATIENT,
    )
    .await;
    cli_workflow(
        &stack,
        dir.path(),
        "1.5.0",
        &["--bars-version", "1.5.0"],
        &[],
        &stack.service(0, 1),
        OTHER_PATIENT,
    )
    .await;
    let refused = cli(
        dir.path(),
        &[("BARS_VERSION", "2.0.0")],
        &[
            "view",
            "--service",
            &stack.service(0, 0),
            "--appointment",
            "x",
        ],
    );
    assert!(
        refused
            .as_ref()
            .is_err_and(|e| e.contains("give 1.1.6 or 1.5.0")),
        "{refused:?}"
    );
    stack.stop().await;
}
