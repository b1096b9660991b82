//! What the people who run BaRS see: metrics after a workload, health and readiness, and the
//! request log.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use bars_client::{Credentials, TokenSource};
use bars_http::client::HttpClient;
use bytes::Bytes;
use http::Method;
use serde_json::Value;

use crate::demo::{bars, start_demo};
use crate::kit::*;
use crate::processes::{Proc, free_port, wait_for};

/// A Prometheus exposition as `name{labels}` -> value.
fn samples(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let (key, value) = l.rsplit_once(' ')?;
            Some((key.to_string(), value.parse().ok()?))
        })
        .collect()
}

fn series(name: &str, labels: &[(&str, &str)]) -> String {
    if labels.is_empty() {
        return name.to_string();
    }
    let inner: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
    format!("{name}{{{}}}", inner.join(","))
}

struct Scrape(BTreeMap<String, f64>, String);

impl Scrape {
    fn get(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let key = series(name, labels);
        *self
            .0
            .get(&key)
            .unwrap_or_else(|| panic!("no {key} in\n{}", self.1))
    }
}

async fn scrape(http: &HttpClient, admin_url: &str) -> Scrape {
    let r = http
        .call(Method::GET, &format!("{admin_url}/metrics"), &[], None)
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    assert!(r.header("content-type").unwrap().starts_with("text/plain"));
    let text = String::from_utf8(r.body.to_vec()).unwrap();
    Scrape(samples(&text), text)
}

async fn health(http: &HttpClient, url: &str) -> (u16, Value) {
    let r = http.call(Method::GET, url, &[], None).await.unwrap();
    assert_eq!(
        r.header("content-type"),
        Some("application/health+json"),
        "{url}"
    );
    assert_eq!(r.header("cache-control"), Some("no-store"), "{url}");
    (r.status.as_u16(), r.json().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn metrics_count_what_a_workload_did() {
    let stack = Stack::start(1).await;
    let service = stack.service(0, 0);
    let plain = HttpClient::plain(Duration::from_secs(10));
    let slots = stack.free_slots(&service).await;
    let mut receiver_calls = 1;

    // Three bookings, the second sent twice with the same ids (a retry after a lost answer).
    let mut booked = Vec::new();
    for (i, slot) in slots.iter().take(3).enumerate() {
        let request = stack
            .request(Method::POST, "/Appointment", Some(&service))
            .json(&appointment_for(slot, PATIENT));
        let r = request.send().await;
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
        booked.push(r.json().unwrap()["id"].as_str().unwrap().to_string());
        receiver_calls += 1;
        if i == 1 {
            let again = request.send().await;
            assert_eq!(again.status, 409);
            receiver_calls += 1;
        }
    }
    // A slot already taken.
    let taken = stack.book(&service, &slots[0], OTHER_PATIENT).await;
    assert_eq!(taken.status, 409);
    receiver_calls += 1;
    // A cancellation.
    let cancelled = stack
        .request(
            Method::DELETE,
            &format!("/Appointment/{}", booked[2]),
            Some(&service),
        )
        .send()
        .await;
    assert_eq!(cancelled.status, 200);
    receiver_calls += 1;
    // A forged token request, and a routed call without a token.
    let forged = stack
        .http
        .call(
            Method::POST,
            &stack.inner.sender.token_url,
            &[(
                "content-type",
                "application/x-www-form-urlencoded".to_string(),
            )],
            Some(Bytes::from(
                "grant_type=client_credentials&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion=not.a.jwt",
            )),
        )
        .await
        .unwrap();
    assert_eq!(forged.status, 400);
    let anonymous = stack
        .request(Method::GET, "/Slot", Some(&service))
        .anonymous()
        .send()
        .await;
    assert_eq!(anonymous.status, 401);
    stack.pointers_settled().await;

    let rx = scrape(&plain, &stack.receivers[0].admin_url).await;
    let event = |e| rx.get("bars_appointment_events_total", &[("event", e)]);
    assert_eq!(event("booked"), 3.0);
    assert_eq!(event("cancelled"), 1.0);
    assert_eq!(
        rx.get("bars_booking_conflicts_total", &[("kind", "conflict")]),
        1.0
    );
    assert_eq!(
        rx.get("bars_idempotent_replays_total", &[("kind", "duplicate")]),
        1.0
    );
    let requests = |route, method, status| {
        rx.get(
            "bars_http_requests_total",
            &[
                ("listener", "api"),
                ("route", route),
                ("method", method),
                ("status", status),
            ],
        )
    };
    assert_eq!(requests("/Appointment", "POST", "201"), 3.0);
    assert_eq!(requests("/Appointment", "POST", "409"), 2.0);
    assert_eq!(requests("/Appointment/{id}", "DELETE", "200"), 1.0);
    assert_eq!(
        rx.get(
            "bars_http_request_duration_seconds_count",
            &[
                ("listener", "api"),
                ("route", "/Appointment"),
                ("method", "POST")
            ]
        ),
        5.0
    );
    let delivered = |action| {
        rx.get(
            "bars_pointer_deliveries_total",
            &[("action", action), ("result", "delivered")],
        )
    };
    assert_eq!(delivered("create"), 3.0);
    assert_eq!(delivered("delete"), 1.0);
    assert_eq!(rx.get("bars_outbox_pending", &[]), 0.0);
    assert_eq!(rx.get("bars_outbox_oldest_age_seconds", &[]), 0.0);
    assert_eq!(
        rx.get(
            "bars_db_connections",
            &[("pool", "sqlite_readers"), ("state", "in_use")]
        ) + rx.get(
            "bars_db_connections",
            &[("pool", "sqlite_readers"), ("state", "idle")]
        ),
        4.0
    );
    assert_eq!(rx.get("bars_db_waiting", &[("pool", "sqlite_writer")]), 0.0);

    let proxy = scrape(&plain, &stack.proxy_admin_url).await;
    // The demo sender's token, and the receiver's own for the Registry.
    assert!(proxy.get("bars_proxy_tokens_issued_total", &[]) >= 2.0);
    assert_eq!(
        proxy.get(
            "bars_proxy_token_rejections_total",
            &[("error", "invalid_request")]
        ),
        1.0
    );
    assert_eq!(
        proxy.get(
            "bars_proxy_bearer_rejections_total",
            &[("reason", "missing")]
        ),
        1.0
    );
    assert_eq!(
        proxy.get(
            "bars_proxy_upstream_duration_seconds_count",
            &[("target", &service)]
        ),
        f64::from(receiver_calls)
    );
    // Pointer writes and the worker's reads went to the Registry through the proxy.
    assert!(
        proxy.get(
            "bars_proxy_upstream_duration_seconds_count",
            &[("target", "registry")]
        ) >= 4.0
    );
    assert_eq!(
        proxy.get(
            "bars_http_requests_total",
            &[
                ("listener", "api"),
                ("route", "/Appointment"),
                ("method", "POST"),
                ("status", "201")
            ]
        ),
        3.0
    );

    let registry = scrape(&plain, &stack.registry_admin_url).await;
    assert_eq!(
        registry.get(
            "bars_http_requests_total",
            &[
                ("listener", "api"),
                ("route", "/DocumentReference"),
                ("method", "POST"),
                ("status", "201")
            ]
        ),
        3.0
    );
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_role_reports_liveness_and_readiness() {
    let mut stack = Stack::start(1).await;
    let plain = HttpClient::plain(Duration::from_secs(10));
    let rx = &stack.receivers[0];

    // Liveness on the API listeners: no ids, no token, no client certificate needed.
    for url in [&stack.proxy_url, &rx.url, &stack.registry_url] {
        let (status, body) = health(&stack.http, &format!("{url}/_ping")).await;
        assert_eq!((status, body["status"].as_str()), (200, Some("pass")));
    }
    // Readiness on the admin listeners.
    let (status, body) = health(&plain, &format!("{}/_status", rx.admin_url)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "pass");
    assert_eq!(body["serviceId"], "bars-receiver");
    assert_eq!(body["checks"]["database:responseTime"][0]["status"], "pass");
    assert_eq!(body["checks"]["outbox:lag"][0]["observedUnit"], "s");
    let (status, body) = health(&plain, &format!("{}/_status", stack.registry_admin_url)).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("pass")));

    // The proxy probes the Registry and every receiver.
    let (status, body) = health(&stack.http, &format!("{}/_status", stack.proxy_url)).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("pass")),
        "{body}"
    );
    let upstreams = body["checks"]["upstream:responseTime"].as_array().unwrap();
    let components: Vec<&str> = upstreams
        .iter()
        .map(|c| c["componentId"].as_str().unwrap())
        .collect();
    assert_eq!(
        components,
        vec![
            "receiver:2000010001,2000010002".to_string().as_str(),
            "registry"
        ]
    );

    // With the Registry down the proxy still serves receivers: `warn`, and still 200.
    stack.stop_registry().await;
    let mut seen = Value::Null;
    for _ in 0..100 {
        let (status, body) = health(&plain, &format!("{}/_status", stack.proxy_admin_url)).await;
        assert_eq!(status, 200);
        if body["status"] == "warn" {
            seen = body;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let registry = seen["checks"]["upstream:responseTime"]
        .as_array()
        .unwrap_or_else(|| panic!("the proxy never noticed the registry was down: {seen}"))
        .iter()
        .find(|c| c["componentId"] == "registry")
        .unwrap();
    assert_eq!(registry["status"], "warn");
    assert!(registry["output"].as_str().unwrap().contains("connect"));
    stack.restart_registry().await;
    stack.stop().await;
}

/// `bars demo --log-format json`, a workload through the CLI and one booking by message with
/// a patient's name and date of birth; then every line of the log is read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_request_log_carries_the_ids_and_no_patient_data() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path();
    let (demo, _) = start_demo(dir, None, &["--log-format", "json"]).await;
    let service = bars(dir, &["services"])[0]["value"]
        .as_str()
        .unwrap()
        .to_string();
    let free = bars(
        dir,
        &[
            "slots",
            "--service",
            &service,
            "--date",
            &tomorrow(),
            "--status",
            "free",
        ],
    );
    let slot = |i: usize| free[i]["id"].as_str().unwrap().to_string();
    let booked = bars(
        dir,
        &[
            "book",
            "--service",
            &service,
            "--slot",
            &slot(0),
            "--patient",
            PATIENT,
            "--reason",
            "Sprained ankle",
        ],
    );
    let id = booked["id"].as_str().unwrap().to_string();
    bars(dir, &["list", "--patient", PATIENT]);
    bars(dir, &["view", "--service", &service, "--appointment", &id]);
    bars(
        dir,
        &[
            "reschedule",
            "--service",
            &service,
            "--appointment",
            &id,
            "--slot",
            &slot(1),
        ],
    );
    bars(
        dir,
        &["cancel", "--service", &service, "--appointment", &id],
    );
    // A refusal that names no one: a booking for a malformed NHS number.
    let refused = std::process::Command::new(env!("CARGO_BIN_EXE_bars"))
        .current_dir(dir)
        .args(["--stack", "demo/stack.json", "book", "--service", &service])
        .args(["--slot", &slot(2), "--patient", "9434765918"])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    book_by_message(dir, &service).await;
    demo.interrupt_and_wait();

    let log = std::fs::read_to_string(dir.join("demo.log")).unwrap();
    let lines: Vec<Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: not JSON: {l}")))
        .collect();
    let requests: Vec<&Value> = lines.iter().filter(|l| l["message"] == "request").collect();
    assert!(requests.len() >= 20, "{} request lines", requests.len());
    for line in &requests {
        for field in ["request_id", "correlation_id", "route", "status", "role"] {
            let value = line[field].to_string();
            assert!(
                !value.is_empty() && line[field] != Value::Null,
                "{field} missing: {line}"
            );
        }
    }
    // The sender's calls carry the sender's ids and organisation, at the proxy and beyond.
    let bookings: Vec<&&Value> = requests
        .iter()
        .filter(|l| l["route"] == "/Appointment" && l["method"] == "POST" && l["status"] == 201)
        .collect();
    assert_eq!(bookings.len(), 2, "the proxy's line and the receiver's");
    assert_eq!(bookings[0]["request_id"], bookings[1]["request_id"]);
    assert!(uuid::Uuid::parse_str(bookings[0]["request_id"].as_str().unwrap()).is_ok());
    assert!(bookings.iter().all(|l| l["organisation"] == SENDER_ODS));
    // Lines written while a request was handled carry its ids too.
    let inside: Vec<&Value> = lines
        .iter()
        .filter(|l| l["span"]["name"] == "request")
        .collect();
    assert!(!inside.is_empty());
    assert!(inside.iter().all(|l| l["span"]["request_id"].is_string()));
    // Every line can be traced: to a request by its ids, for the pointer worker's lines by
    // the correlation id it sent to the Registry with, and for an event delivery's (the
    // worker's and the demo subscriber's) by the event's id.
    for line in &lines {
        let traced = line["request_id"].is_string()
            || line["span"]["request_id"].is_string()
            || (line["span"]["name"] == "pointer_job"
                && line["span"]["correlation_id"].is_string())
            || (line["span"]["name"] == "event_delivery" && line["span"]["event_id"].is_string());
        assert!(traced, "a line without ids: {line}");
    }

    for secret in crate::privacy::PATIENT_DATA {
        assert!(
            !log.contains(secret),
            "{secret} appears in the log:\n{}",
            log.lines()
                .filter(|l| l.contains(secret))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}

/// Books by FHIR message as a BaRS Application would, with the patient's demographics.
async fn book_by_message(dir: &Path, service: &str) {
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("demo/stack.json")).unwrap())
            .unwrap();
    let text = |v: &Value| v.as_str().unwrap().to_string();
    let ca = std::fs::read_to_string(text(&manifest["ca"])).unwrap();
    let http = HttpClient::new(
        Some(bars_pki::tls::client_config(&ca, None).unwrap()),
        Duration::from_secs(10),
    );
    let sender = &manifest["sender"];
    let tokens = TokenSource::new(
        Credentials {
            client_id: text(&sender["clientId"]),
            kid: text(&sender["keyId"]),
            algorithm: text(&sender["algorithm"]),
            private_pem: std::fs::read_to_string(text(&sender["privateKey"])).unwrap(),
            token_url: text(&sender["tokenUrl"]),
        },
        http.clone(),
    );
    let proxy = text(&manifest["proxy"]["url"]);
    let request = |method, path: String, body: Option<&Value>| {
        let http = http.clone();
        let tokens = tokens.clone();
        let body = body.map(|b| Bytes::from(b.to_string()));
        let url = format!("{proxy}{path}");
        async move {
            let headers = bars_headers(Some(&tokens.token().await.unwrap()), Some(service));
            http.call(method, &url, &headers, body).await.unwrap()
        }
    };
    let day = tomorrow();
    let slots = request(
        Method::GET,
        format!(
            "/Slot?Schedule.actor:HealthcareService={service}&status=free&start=ge{day}T00:00:00Z&start=le{day}T23:59:59Z&_include=Slot:schedule&_include=Schedule:actor:HealthcareService"
        ),
        None,
    )
    .await;
    assert_eq!(
        slots.status,
        200,
        "{}",
        String::from_utf8_lossy(&slots.body)
    );
    let slots = slots.json().unwrap();
    let slot = slots["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["resource"].clone())
        .filter(|r| r["resourceType"] == "Slot")
        .nth(3)
        .unwrap();
    let bundle = crate::messaging::booking_request(
        service,
        &text(&manifest["receivers"][0]["ods"]),
        &slot,
        PATIENT,
    );
    let r = request(Method::POST, "/$process-message".to_string(), Some(&bundle)).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    // A search whose query names the patient.
    let search = request(
        Method::GET,
        format!("/Appointment?patient:identifier=https://fhir.nhs.uk/Id/nhs-number|{PATIENT}"),
        None,
    )
    .await;
    assert_eq!(search.status, 200);
}

/// A plain-HTTP receiver process in `dir` on the given ports.
fn receiver_process(dir: &Path, api: u16, admin: u16) -> Proc {
    let args: Vec<String> = [
        "receiver",
        "--ods-code",
        "RXR01",
        "--service",
        "2000011111=Riverside Urgent Treatment Centre",
        "--database",
        "sqlite://receiver.db",
        "--listen",
        &format!("127.0.0.1:{api}"),
        "--admin-listen",
        &format!("127.0.0.1:{admin}"),
    ]
    .iter()
    .map(|a| a.to_string())
    .collect();
    Proc::start(dir, "receiver", &args)
}

/// SIGTERM in the middle of a booking load: the receiver stops accepting, finishes what it
/// had started (including a request whose body was still arriving), and exits cleanly; every
/// booking it acknowledged is there when it starts again.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_during_a_load_loses_no_acknowledged_booking() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path();
    let (api, admin) = (free_port(), free_port());
    let mut receiver = receiver_process(dir, api, admin);
    let plain = HttpClient::plain(Duration::from_secs(10));
    let base = format!("http://127.0.0.1:{api}");
    let admin_url = format!("http://127.0.0.1:{admin}");
    wait_for(&plain, &format!("{admin_url}/_ping")).await;
    let generated = plain
        .call(
            Method::POST,
            &format!("{admin_url}/admin/slots/generate"),
            &[("content-type", "application/json".into())],
            Some(Bytes::from(
                serde_json::json!({ "service": "2000011111", "from": tomorrow(), "days": 1,
                    "every": "5m", "between": "06:00-22:40", "zone": "UTC" })
                .to_string(),
            )),
        )
        .await
        .unwrap();
    assert_eq!(generated.status, 200);
    let day = tomorrow();
    let search = plain
        .call(
            Method::GET,
            &format!("{base}/Slot?Schedule.actor:HealthcareService=2000011111&status=free&start=ge{day}T00:00:00Z&start=le{day}T23:59:59Z&_include=Slot:schedule&_include=Schedule:actor:HealthcareService"),
            &bars_headers(None, None),
            None,
        )
        .await
        .unwrap();
    let slots: Vec<Value> = search.json().unwrap()["entry"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["search"]["mode"] == "match")
        .map(|e| e["resource"].clone())
        .collect();
    assert_eq!(slots.len(), 200);

    // A request already under way: its headers and half its body are in.
    let body = appointment_for(&slots[0], PATIENT).to_string();
    let mut slow = tokio::net::TcpStream::connect(("127.0.0.1", api))
        .await
        .unwrap();
    let mut head = format!(
        "POST /Appointment HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (name, value) in bars_headers(None, None) {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    let (first, rest) = body.split_at(body.len() / 2);
    slow.write_all(head.as_bytes()).await.unwrap();
    slow.write_all(first.as_bytes()).await.unwrap();

    // The load: eight senders booking the other slots until the receiver stops answering.
    let acknowledged = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let mut senders = tokio::task::JoinSet::new();
    for sender in 0..8 {
        let (slots, acknowledged, base) = (slots.clone(), acknowledged.clone(), base.clone());
        senders.spawn(async move {
            let http = HttpClient::plain(Duration::from_secs(10));
            for slot in slots.iter().skip(1).skip(sender).step_by(8) {
                let answer = http
                    .call(
                        Method::POST,
                        &format!("{base}/Appointment"),
                        &bars_headers(None, None),
                        Some(Bytes::from(appointment_for(slot, PATIENT).to_string())),
                    )
                    .await;
                match answer {
                    Ok(r) if r.status == 201 => acknowledged
                        .lock()
                        .unwrap()
                        .push(r.json().unwrap()["id"].as_str().unwrap().to_string()),
                    // Anything else is not an acknowledgement; the receiver is going away.
                    _ => break,
                }
            }
        });
    }
    while acknowledged.lock().unwrap().len() < 24 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    receiver.terminate();
    // Once new connections are refused, the receiver is draining: finish the slow request.
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(("127.0.0.1", api))
            .await
            .is_err()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Every other request has been answered or refused: the half-sent one is all that can
    // keep the receiver alive now, so a receiver that does not wait for it is gone.
    while senders.join_next().await.is_some() {}
    assert!(
        receiver.running(),
        "the receiver exited with a request in flight"
    );
    slow.write_all(rest.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    slow.read_to_end(&mut answer).await.unwrap();
    let answer = String::from_utf8_lossy(&answer).to_string();
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
    let slow_id = answer
        .lines()
        .find_map(|l| l.strip_prefix("location: "))
        .and_then(|l| l.split("/Appointment/").nth(1))
        .and_then(|l| l.split('/').next())
        .unwrap()
        .to_string();
    assert!(receiver.wait(), "the receiver exited cleanly");

    let mut expected = acknowledged.lock().unwrap().clone();
    expected.push(slow_id);
    let again = receiver_process(dir, api, admin);
    wait_for(&plain, &format!("{admin_url}/_ping")).await;
    for id in &expected {
        let r = plain
            .call(
                Method::GET,
                &format!("{base}/Appointment/{id}"),
                &bars_headers(None, None),
                None,
            )
            .await
            .unwrap();
        assert_eq!(r.status, 200, "acknowledged booking {id} is missing");
    }
    let busy = plain
        .call(
            Method::GET,
            &format!("{base}/Slot?Schedule.actor:HealthcareService=2000011111&status=busy&start=ge{day}T00:00:00Z&start=le{day}T23:59:59Z&_include=Slot:schedule&_include=Schedule:actor:HealthcareService"),
            &bars_headers(None, None),
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        busy.json().unwrap()["total"].as_u64().unwrap() as usize,
        expected.len(),
        "every busy slot is an acknowledged booking"
    );
    again.interrupt_and_wait();
}
