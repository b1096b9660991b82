//! Receivers for the kit to check: ours in-process (directly on a database of its own, or
//! behind the proxy of a whole local stack), and a fault-injecting front that turns ours into a
//! deliberately faulty receiver.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bars_client::{Credentials, SenderIdentity, TokenSource};
use bars_conformance::{Ctx, Report, Route, Window, Wire};
use bars_http::client::HttpClient;
use bars_http::server::{RunningServer, ServerOptions};
use bars_http::transport::TransportRules;
use bars_receiver::availability::SlotPlan;
use bars_receiver::{Receiver, ReceiverConfig};
use bars_stack::{LocalStack, ReceiverSpec, SenderSpec, StackSpec};
use bars_store::testing::{Backend, TestDatabase};
use bytes::Bytes;
use serde_json::{Value, json};

pub const SERVICE: &str = "2000011111";
pub const PATIENT: &str = "9434765919";
pub const OTHER_PATIENT: &str = "4409815415";
pub const SENDER_ODS: &str = "A1001";
/// An organisation our test receiver's access policy refuses (it admits only the kit's).
pub const REFUSED_ODS: &str = "Z9999";

/// Tomorrow, every 5 minutes 06:00-18:00 UTC: 144 slots, enough for a whole run.
fn plan(service: &str, window: &Window) -> SlotPlan {
    let d = window.first;
    SlotPlan {
        service_id: service.to_string(),
        schedule_id: None,
        from: jiff::civil::date(d.year() as i16, u8::from(d.month()) as i8, d.day() as i8),
        days: 1,
        every_minutes: 5,
        length_minutes: None,
        day_start: jiff::civil::time(6, 0, 0, 0),
        day_end: jiff::civil::time(18, 0, 0, 0),
        weekdays_only: false,
        zone: jiff::tz::TimeZone::UTC,
    }
}

/// Our receiver on 127.0.0.1 over plain HTTP (the proxy's side of the wire), slots published.
pub struct OwnReceiver {
    pub base: String,
    _db: TestDatabase,
    server: RunningServer,
    receiver: Receiver,
}

/// How our receiver is reached over TLS: the server's settings and whether it refuses a
/// connection without a client certificate (TLS-MA).
pub struct ServeTls {
    pub config: Arc<rustls::ServerConfig>,
    pub require_client_certificate: bool,
}

impl OwnReceiver {
    pub async fn start(backend: Backend) -> OwnReceiver {
        OwnReceiver::start_with(backend, None).await
    }

    pub async fn start_with(backend: Backend, tls: Option<ServeTls>) -> OwnReceiver {
        let db = TestDatabase::new(backend, "receiver.db")
            .await
            .expect("a test database");
        let store = bars_store::open(&db.url()).await.expect("the store");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        let scheme = if tls.is_some() { "https" } else { "http" };
        let base = format!("{scheme}://{addr}");
        let mut config =
            ReceiverConfig::new("RX001", &base).with_service(SERVICE, "Minor Injuries Unit");
        config.access.organisations = vec![SENDER_ODS.into()];
        let receiver = Receiver::new(config, store).await.unwrap();
        receiver
            .state
            .availability
            .generate(&plan(SERVICE, &Window::tomorrow()))
            .await
            .map_err(|e| e.diagnostics.clone())
            .unwrap();
        let rules = TransportRules {
            require_client_certificate: tls.as_ref().is_some_and(|t| t.require_client_certificate),
            ..TransportRules::receiver()
        };
        let server = RunningServer::start_on(
            listener,
            receiver.router(rules),
            ServerOptions {
                tls: tls.map(|t| t.config),
                ..ServerOptions::default()
            },
        );
        OwnReceiver {
            base,
            _db: db,
            server,
            receiver,
        }
    }

    pub async fn stop(self) {
        self.server.shutdown().await;
        self.receiver.close().await;
    }
}

/// Our receiver over mutual TLS with a development PKI, and a wire to it presenting the
/// proxy's client certificate (with a client without it, for the TLS-MA row). With
/// `require_client_certificate` false the receiver lets anyone in: a TLS-MA fault.
pub async fn over_tls(
    backend: Backend,
    require_client_certificate: bool,
) -> (OwnReceiver, Wire, tempfile::TempDir) {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let pki = bars_stack::DevPki::ensure(dir.path(), "conformance-sender", &["RX001"]).unwrap();
    let server = bars_pki::tls::server_config(
        &pki.servers,
        Some(&pki.ca_pem),
        bars_pki::tls::ClientAuth::Optional,
    )
    .unwrap();
    let own = OwnReceiver::start_with(
        backend,
        Some(ServeTls {
            config: server,
            require_client_certificate,
        }),
    )
    .await;
    let with_cert = bars_pki::tls::client_config(&pki.ca_pem, Some(&pki.proxy_client)).unwrap();
    let without = bars_pki::tls::client_config(&pki.ca_pem, None).unwrap();
    let wire = Wire::new(
        HttpClient::new(Some(with_cert.clone()), Duration::from_secs(30)),
        &own.base,
        Route::Direct {
            application: "conformance-kit".into(),
        },
        SenderIdentity::new(SENDER_ODS, "Conformance Practice"),
    )
    .with_tls(with_cert)
    .with_anonymous(HttpClient::new(Some(without), Duration::from_secs(30)));
    (own, wire, dir)
}

/// A wire straight to `base`, the kit acting as the proxy.
pub fn direct(base: &str) -> Wire {
    Wire::new(
        HttpClient::plain(Duration::from_secs(30)),
        base,
        Route::Direct {
            application: "conformance-kit".into(),
        },
        SenderIdentity::new(SENDER_ODS, "Conformance Practice"),
    )
}

/// Runs every check against what `wire` reaches, for our service and patient. Directly, the
/// receiver is ours with its policy refusing [`REFUSED_ODS`]; the stack's receivers have none.
pub async fn run(wire: Wire) -> Report {
    let refused = wire.is_direct().then(|| REFUSED_ODS.to_string());
    let ctx = Ctx::connect(
        wire,
        vec![SERVICE.into()],
        vec![PATIENT.into(), OTHER_PATIENT.into()],
        Window::tomorrow(),
    )
    .await
    .with_refused_organisation(refused);
    bars_conformance::run(&ctx, |_, _, _| {}).await
}

/// The ids a report skipped.
pub fn skipped(report: &Report) -> Vec<&'static str> {
    report
        .results
        .iter()
        .filter(|r| r.outcome.label() == "skipped")
        .map(|r| r.id)
        .collect()
}

/// A report's failures with their reasons, for assertion messages.
pub fn failures(report: &Report) -> String {
    report
        .results
        .iter()
        .filter(|r| r.outcome.label() != "passed")
        .map(|r| r.line())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The whole stack (proxy, registry, our receiver behind mutual TLS), slots published.
pub async fn stack(database: Option<String>) -> (LocalStack, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let spec = StackSpec {
        dir: dir.path().to_path_buf(),
        base_port: None,
        receivers: vec![ReceiverSpec {
            ods: "RX001".into(),
            name: "Receiver 1".into(),
            services: vec![(SERVICE.into(), "Minor Injuries Unit".into())],
        }],
        sender: SenderSpec {
            client_id: "conformance-sender".into(),
            ods: SENDER_ODS.into(),
            name: "Conformance Practice".into(),
        },
        pointer_backoff: bars_receiver::pointers::worker::Backoff {
            initial: Duration::from_millis(50),
            max: Duration::from_millis(400),
        },
        receiver_timeout: Duration::from_secs(10),
        receiver_database: database,
    };
    let stack = LocalStack::start(spec).await.unwrap();
    let window = Window::tomorrow();
    stack.publish(|s| plan(s, &window)).await.unwrap();
    (stack, dir)
}

/// A wire through the stack's proxy with its registered sender's credentials.
pub fn through_proxy(stack: &LocalStack) -> Wire {
    let http = stack.http(Duration::from_secs(30)).unwrap();
    let credentials = Credentials::from_key(
        &stack.sender.client_id,
        &stack.sender.key_id,
        stack.sender.private_pem.clone(),
        &stack.sender.token_url,
        None,
    )
    .unwrap();
    Wire::new(
        http.clone(),
        &stack.proxy_url,
        Route::Proxy {
            tokens: TokenSource::new(credentials, http),
        },
        SenderIdentity::new(&stack.sender.ods, &stack.sender.name),
    )
}

/// A way to be wrong, injected between the kit and our receiver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Claims a booking of a taken slot succeeded (a double-booking receiver).
    DoubleBooks,
    /// Drops `If-Match` and writes over newer versions (no read-before-write).
    NoConcurrencyControl,
    /// Echoes neither request id, and no `Cache-Control`.
    BareHeaders,
    /// Answers 500 to any body that is not JSON.
    FallsOverOnBadJson,
    /// Ignores `Accept` (serves any version) and answers every error as 400 invalid.
    SloppyErrors,
    /// Treats every request as new (no idempotency): a replay books again; a missing
    /// correlation id is made up rather than refused.
    NoIdempotency,
    /// Sends no `ETag` and no `meta.versionId`, and answers any patient's search with the
    /// first test patient's appointments.
    NoVersions,
    /// Keeps a cancelled booking's slot busy, and its capability statement is not R4.
    KeepsSlotsAfterCancel,
    /// Applies no update (answers 200 with the stored resource), acknowledges messages without
    /// processing them, and pages nothing.
    IgnoresWrites,
    /// Leaves the includes out, miscounts totals, answers a busy slot to a search for free
    /// ones, and lists booked appointments nowhere.
    ThinSearch,
}

pub const ALL_FAULTS: &[Fault] = &[
    Fault::DoubleBooks,
    Fault::NoConcurrencyControl,
    Fault::BareHeaders,
    Fault::FallsOverOnBadJson,
    Fault::SloppyErrors,
    Fault::NoIdempotency,
    Fault::NoVersions,
    Fault::KeepsSlotsAfterCancel,
    Fault::IgnoresWrites,
    Fault::ThinSearch,
];

struct Front {
    fault: Fault,
    upstream: String,
    http: HttpClient,
    /// Slots whose bookings were cancelled (KeepsSlotsAfterCancel hides them).
    cancelled_slots: Mutex<Vec<String>>,
}

type Answer = (u16, Vec<(String, String)>, Bytes);

fn outcome(status: u16, code: &str, issue: &str) -> Answer {
    let body = json!({ "resourceType": "OperationOutcome", "issue": [{ "severity": "error", "code": issue,
        "details": { "coding": [{ "system": "https://fhir.nhs.uk/Codesystem/http-error-codes", "code": code }] } }] });
    (
        status,
        vec![("content-type".into(), "application/fhir+json".into())],
        Bytes::from(body.to_string()),
    )
}

impl Front {
    async fn call(
        &self,
        method: &http::Method,
        path: &str,
        headers: &[(String, String)],
        body: Option<Bytes>,
    ) -> Answer {
        let refs: Vec<(&str, String)> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.clone()))
            .collect();
        match self
            .http
            .call(
                method.clone(),
                &format!("{}{path}", self.upstream),
                &refs,
                body,
            )
            .await
        {
            Ok(r) => (
                r.status.as_u16(),
                r.headers
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
                    .collect(),
                r.body,
            ),
            Err(e) => outcome(502, "REC_BAD_GATEWAY", &e.to_string()),
        }
    }

    async fn handle(
        &self,
        method: http::Method,
        path: String,
        mut headers: Vec<(String, String)>,
        body: Bytes,
    ) -> Answer {
        let fault = self.fault;
        let has_body = !body.is_empty();
        let is_json = serde_json::from_slice::<Value>(&body).is_ok();
        if fault == Fault::FallsOverOnBadJson && has_body && !is_json {
            return (500, vec![], Bytes::from_static(b"internal error"));
        }
        let set = |headers: &mut Vec<(String, String)>, name: &str, value: Option<String>| {
            headers.retain(|(k, _)| k != name);
            if let Some(v) = value {
                headers.push((name.to_string(), v));
            }
        };
        let appointment_write = path.starts_with("/Appointment/")
            && matches!(
                method,
                http::Method::PUT | http::Method::PATCH | http::Method::DELETE
            );
        let mut body = body;
        match fault {
            Fault::NoConcurrencyControl if appointment_write => {
                set(&mut headers, "if-match", None);
                // Last writer wins: the stored version's meta replaces the sender's.
                let current = self.call(&http::Method::GET, &path, &headers, None).await;
                if let (Ok(stored), Ok(mut sent)) = (
                    serde_json::from_slice::<Value>(&current.2),
                    serde_json::from_slice::<Value>(&body),
                ) && sent["resourceType"] == "Appointment"
                {
                    sent["meta"] = stored["meta"].clone();
                    body = Bytes::from(sent.to_string());
                }
            }
            Fault::NoVersions if path.starts_with("/Appointment?") => {
                let path = path.replace(OTHER_PATIENT, PATIENT);
                return self.call(&method, &path, &headers, None).await;
            }
            Fault::SloppyErrors => set(
                &mut headers,
                "accept",
                Some(bars_conformance::wire::FHIR_JSON.into()),
            ),
            Fault::NoIdempotency => {
                set(
                    &mut headers,
                    "x-request-id",
                    Some(uuid::Uuid::new_v4().to_string()),
                );
                if !headers.iter().any(|(k, _)| k == "x-correlation-id") {
                    headers.push(("x-correlation-id".into(), uuid::Uuid::new_v4().to_string()));
                }
            }
            Fault::IgnoresWrites if path == "/$process-message" && is_json => {
                // Acknowledges the message without processing it.
                return (
                    200,
                    vec![("content-type".into(), "application/fhir+json".into())],
                    body,
                );
            }
            Fault::IgnoresWrites if appointment_write => {
                let current = self.call(&http::Method::GET, &path, &headers, None).await;
                return current;
            }
            _ => {}
        }
        if fault == Fault::KeepsSlotsAfterCancel
            && method == http::Method::PUT
            && let Ok(sent) = serde_json::from_slice::<Value>(&body)
            && sent["status"] == "cancelled"
            && let Some(slot) = sent.pointer("/slot/0/reference").and_then(Value::as_str)
        {
            self.cancelled_slots
                .lock()
                .unwrap()
                .push(slot.trim_start_matches("Slot/").to_string());
        }
        let sent_body = body.clone();
        let (mut status, mut out_headers, mut out_body) = self
            .call(
                &method,
                &path,
                &headers,
                if has_body { Some(body) } else { None },
            )
            .await;
        match fault {
            Fault::DoubleBooks
                if method == http::Method::POST && path == "/Appointment" && status == 409 =>
            {
                if let Ok(mut a) = serde_json::from_slice::<Value>(&sent_body)
                    && a["resourceType"] == "Appointment"
                {
                    a["id"] = json!(uuid::Uuid::new_v4().to_string());
                    a["meta"] =
                        json!({ "versionId": "1", "lastUpdated": "2030-01-01T00:00:00+00:00" });
                    status = 201;
                    out_body = Bytes::from(a.to_string());
                    out_headers.push(("etag".into(), "W/\"1\"".into()));
                }
            }
            Fault::NoVersions => {
                out_headers.retain(|(k, _)| k != "etag");
                if let Ok(mut v) = serde_json::from_slice::<Value>(&out_body) {
                    if let Some(meta) = v["meta"].as_object_mut() {
                        meta.remove("versionId");
                    }
                    for e in v["entry"].as_array_mut().into_iter().flatten() {
                        if let Some(meta) = e["resource"]["meta"].as_object_mut() {
                            meta.remove("versionId");
                        }
                    }
                    out_body = Bytes::from(v.to_string());
                }
            }
            Fault::BareHeaders => {
                out_headers.retain(|(k, _)| {
                    !matches!(
                        k.as_str(),
                        "x-request-id" | "x-correlation-id" | "cache-control"
                    )
                });
            }
            Fault::SloppyErrors if status >= 400 => {
                let (s, h, b) = outcome(400, "REC_BAD_REQUEST", "invalid");
                (status, out_headers, out_body) = (s, h, b);
            }
            Fault::KeepsSlotsAfterCancel => {
                if let Ok(mut v) = serde_json::from_slice::<Value>(&out_body) {
                    if path == "/metadata" {
                        v["fhirVersion"] = json!("3.0.2");
                    }
                    let hidden = self.cancelled_slots.lock().unwrap().clone();
                    if let Some(entries) = v["entry"].as_array_mut() {
                        entries.retain(|e| {
                            !e["resource"]["id"]
                                .as_str()
                                .is_some_and(|id| hidden.iter().any(|h| h == id))
                        });
                    }
                    out_body = Bytes::from(v.to_string());
                }
            }
            Fault::IgnoresWrites if path.starts_with("/Slot") => {
                if let Ok(mut v) = serde_json::from_slice::<Value>(&out_body) {
                    if let Some(links) = v["link"].as_array_mut() {
                        links.retain(|l| l["relation"] != "next");
                    }
                    out_body = Bytes::from(v.to_string());
                }
            }
            Fault::ThinSearch
                if method == http::Method::GET
                    && (path.starts_with("/Slot")
                        || path.starts_with("/Appointment?")
                        || path == "/metadata") =>
            {
                if let Ok(mut v) = serde_json::from_slice::<Value>(&out_body) {
                    if let Some(entries) = v["entry"].as_array_mut() {
                        entries.retain(|e| e["resource"]["resourceType"] == "Slot");
                        if let Some(first) = entries.first_mut() {
                            first["resource"]["status"] = json!("busy");
                        }
                        if path.starts_with("/Appointment?") {
                            entries.clear();
                        }
                    }
                    if v["resourceType"] == "Bundle" {
                        v["total"] = json!(v["total"].as_u64().unwrap_or(0) + 7);
                    }
                    if let Some(resources) = v
                        .pointer_mut("/rest/0/resource")
                        .and_then(Value::as_array_mut)
                    {
                        for r in resources {
                            r["searchInclude"] = json!([]);
                        }
                    }
                    out_body = Bytes::from(v.to_string());
                }
            }
            _ => {}
        }
        out_headers.retain(|(k, _)| {
            !matches!(
                k.as_str(),
                "content-length" | "transfer-encoding" | "connection"
            )
        });
        (status, out_headers, out_body)
    }
}

/// Our receiver behind `fault`, on a port of its own.
pub struct Faulty {
    pub base: String,
    own: OwnReceiver,
    server: RunningServer,
}

impl Faulty {
    pub async fn start(fault: Fault) -> Faulty {
        let own = OwnReceiver::start(Backend::Sqlite).await;
        let front = Arc::new(Front {
            fault,
            upstream: own.base.clone(),
            http: HttpClient::plain(Duration::from_secs(30)),
            cancelled_slots: Mutex::new(Vec::new()),
        });
        let router = axum::Router::new().fallback(move |request: axum::extract::Request| {
            let front = Arc::clone(&front);
            async move {
                let (parts, body) = request.into_parts();
                let body = axum::body::to_bytes(body, 4 * 1024 * 1024)
                    .await
                    .unwrap_or_default();
                let path = parts
                    .uri
                    .path_and_query()
                    .map(|p| p.to_string())
                    .unwrap_or_default();
                let headers: Vec<(String, String)> = parts
                    .headers
                    .iter()
                    .filter(|(k, _)| {
                        !matches!(k.as_str(), "host" | "content-length" | "connection")
                    })
                    .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
                    .collect();
                let (status, headers, body) = front.handle(parts.method, path, headers, body).await;
                let mut response = axum::response::Response::new(axum::body::Body::from(body));
                *response.status_mut() = http::StatusCode::from_u16(status).unwrap();
                for (k, v) in headers {
                    if let (Ok(k), Ok(v)) = (
                        http::HeaderName::try_from(k),
                        http::HeaderValue::try_from(v),
                    ) {
                        response.headers_mut().append(k, v);
                    }
                }
                response
            }
        });
        let server = RunningServer::start(
            "127.0.0.1:0".parse().unwrap(),
            router,
            ServerOptions::default(),
        )
        .await
        .unwrap();
        Faulty {
            base: format!("http://{}", server.addr),
            own,
            server,
        }
    }

    pub async fn stop(self) {
        self.server.shutdown().await;
        self.own.stop().await;
    }
}
