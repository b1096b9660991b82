//! The whole BaRS stack in one test process (`bars-stack`, as `bars demo` runs it) with the
//! conveniences the cross-role tests share.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bars_client::{Credentials, TokenSource};
use bars_fhir::headers::{EndUserOrganisation, TargetIdentifier, encode_base64_json};
use bars_http::client::{ClientResponse, HttpClient};
use bars_receiver::availability::SlotPlan;
use bars_receiver::pointers::worker::Backoff;
use bars_stack::{LocalStack, ReceiverSpec, SenderSpec, StackSpec};
use bytes::Bytes;
use http::Method;
use serde_json::{Value, json};
use tempfile::TempDir;

pub const SENDER: &str = "demo-sender";
pub const SENDER_ODS: &str = "A1001";
pub const PATIENT: &str = "9434765919";
pub const OTHER_PATIENT: &str = "4409815415";

/// The in-process stack with the conveniences the tests use.
pub struct Stack {
    pub inner: LocalStack,
    _dir: TempDir,
    /// A client trusting the stack's CA, as a sender's would.
    pub http: HttpClient,
    pub sender: Arc<TokenSource>,
}

/// Pointer delivery retries quickly in tests.
pub const TEST_BACKOFF: Backoff = Backoff {
    initial: Duration::from_millis(50),
    max: Duration::from_millis(400),
};

impl std::ops::Deref for Stack {
    type Target = LocalStack;
    fn deref(&self) -> &LocalStack {
        &self.inner
    }
}

impl std::ops::DerefMut for Stack {
    fn deref_mut(&mut self) -> &mut LocalStack {
        &mut self.inner
    }
}

/// The stack the tests run, in `dir`: `receivers` receivers (RX001, RX002, ...) of two services
/// each, on random ports.
pub fn spec(dir: &Path, receivers: usize, receiver_database: Option<String>) -> StackSpec {
    StackSpec {
        dir: dir.to_path_buf(),
        base_port: None,
        receivers: (0..receivers)
            .map(|i| ReceiverSpec {
                ods: format!("RX{:03}", i + 1),
                name: format!("Receiver {}", i + 1),
                services: (1..=2)
                    .map(|s| {
                        (
                            format!("20000{}000{s}", i + 1),
                            format!("Service 20000{}000{s}", i + 1),
                        )
                    })
                    .collect(),
            })
            .collect(),
        sender: SenderSpec {
            client_id: SENDER.into(),
            ods: SENDER_ODS.into(),
            name: "Demo GP Practice".into(),
        },
        pointer_backoff: TEST_BACKOFF,
        receiver_timeout: Duration::from_secs(3),
        receiver_database,
    }
}

impl Stack {
    /// A stack with `receivers` receivers (RX001, RX002, ...) of two services each, with
    /// tomorrow's slots published.
    pub async fn start(receivers: usize) -> Stack {
        Self::start_on(receivers, None).await
    }

    /// As [`Stack::start`], with the receivers on this database (a `postgres://` URL) instead
    /// of a SQLite file each.
    pub async fn start_on(receivers: usize, receiver_database: Option<String>) -> Stack {
        let dir = tempfile::tempdir().unwrap();
        let spec = spec(dir.path(), receivers, receiver_database);
        let inner = LocalStack::start(spec).await.unwrap();
        let day = jiff::Timestamp::now()
            .to_zoned(jiff::tz::TimeZone::UTC)
            .date()
            .tomorrow()
            .unwrap();
        inner
            .publish(|service| SlotPlan {
                service_id: service.to_string(),
                schedule_id: None,
                from: day,
                days: 1,
                every_minutes: 10,
                length_minutes: None,
                day_start: jiff::civil::time(8, 0, 0, 0),
                day_end: jiff::civil::time(12, 0, 0, 0),
                weekdays_only: false,
                zone: jiff::tz::TimeZone::UTC,
            })
            .await
            .unwrap();
        let http = inner.http(Duration::from_secs(30)).unwrap();
        let s = &inner.sender;
        let sender = TokenSource::new(
            Credentials {
                client_id: s.client_id.clone(),
                kid: s.key_id.clone(),
                algorithm: s.algorithm.clone(),
                private_pem: s.private_pem.clone(),
                token_url: s.token_url.clone(),
            },
            http.clone(),
        );
        Stack {
            inner,
            _dir: dir,
            http,
            sender,
        }
    }

    /// The `j`th service of the `i`th receiver.
    pub fn service(&self, i: usize, j: usize) -> String {
        self.inner.receivers[i].services[j].0.clone()
    }

    pub async fn restart_registry(&mut self) {
        self.inner.restart_registry().await.unwrap();
    }

    /// A request from the demo sender, through the proxy, to `service` (if given).
    pub fn request(&self, method: Method, path: &str, service: Option<&str>) -> SenderRequest {
        let org = EndUserOrganisation {
            ods_code: Some(SENDER_ODS.into()),
            name: Some("Demo GP Practice".into()),
        };
        let mut headers = vec![
            ("x-request-id".to_string(), uuid::Uuid::new_v4().to_string()),
            (
                "x-correlation-id".to_string(),
                uuid::Uuid::new_v4().to_string(),
            ),
            (
                "accept".to_string(),
                "application/fhir+json; version=1.1.0".to_string(),
            ),
            (
                "nhsd-end-user-organisation".to_string(),
                encode_base64_json(&org.to_json()),
            ),
        ];
        if let Some(s) = service {
            headers.push((
                "nhsd-target-identifier".into(),
                TargetIdentifier::dos(s).encode(),
            ));
        }
        SenderRequest {
            http: self.http.clone(),
            tokens: Some(self.sender.clone()),
            method,
            url: format!("{}{path}", self.inner.proxy_url),
            headers,
            body: None,
        }
    }

    /// Tomorrow's slots of `service`, through the proxy.
    pub async fn free_slots(&self, service: &str) -> Vec<Value> {
        self.slots_on(service, &tomorrow(), "free").await
    }

    /// The slots of `service` on `day` (`YYYY-MM-DD`, UTC) with this status, through the proxy.
    pub async fn slots_on(&self, service: &str, day: &str, status: &str) -> Vec<Value> {
        let path = format!(
            "/Slot?Schedule.actor:HealthcareService={service}&status={status}&start=ge{day}T00:00:00Z&start=le{day}T23:59:59Z&_include=Slot:schedule&_include=Schedule:actor:HealthcareService"
        );
        let r = self.request(Method::GET, &path, Some(service)).send().await;
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        r.json().unwrap()["entry"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["search"]["mode"] == "match")
            .map(|e| e["resource"].clone())
            .collect()
    }

    pub async fn book(&self, service: &str, slot: &Value, nhs: &str) -> ClientResponse {
        self.request(Method::POST, "/Appointment", Some(service))
            .json(&appointment_for(slot, nhs))
            .send()
            .await
    }

    /// The patient's pointers in the registry, through the proxy.
    pub async fn pointers(&self, nhs: &str) -> Vec<Value> {
        let path = format!(
            "/DocumentReference?subject:identifier=https://fhir.nhs.uk/Id/nhs-number|{nhs}"
        );
        let r = self.request(Method::GET, &path, None).send().await;
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        r.json().unwrap()["entry"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .map(|e| e["resource"].clone())
            .collect()
    }

    /// Waits until every receiver's outbox is empty.
    pub async fn pointers_settled(&self) {
        for _ in 0..600 {
            let mut pending = 0;
            for r in &self.inner.receivers {
                let s = r.store.outbox_stats().await.unwrap();
                pending += s.pending + s.failed;
            }
            if pending == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("pointer jobs did not settle");
    }

    pub async fn stop(self) {
        self.inner.stop().await;
    }
}

pub fn application(
    client_id: &str,
    ods: &str,
    key: &bars_pki::SigningKey,
) -> bars_proxy::auth::Application {
    bars_proxy::auth::Application {
        client_id: client_id.into(),
        name: format!("{client_id} application"),
        ods_code: ods.into(),
        keys: vec![key.public_jwk.clone()],
        products: vec![bars_proxy::auth::BARS_PRODUCT.into()],
        rate_limit_per_minute: None,
    }
}

/// The headers a BaRS sender sends with a FHIR body: fresh ids, `Accept` and `Content-Type` for
/// BaRS 1.1.0, and, when given, its access token and the target service.
pub fn bars_headers(token: Option<&str>, service: Option<&str>) -> Vec<(&'static str, String)> {
    let mut headers = vec![
        ("x-request-id", uuid::Uuid::new_v4().to_string()),
        ("x-correlation-id", uuid::Uuid::new_v4().to_string()),
        ("accept", "application/fhir+json; version=1.1.0".to_string()),
        (
            "content-type",
            "application/fhir+json; version=1.1.0".to_string(),
        ),
    ];
    if let Some(token) = token {
        headers.push(("authorization", format!("Bearer {token}")));
    }
    if let Some(service) = service {
        headers.push((
            "nhsd-target-identifier",
            TargetIdentifier::dos(service).encode(),
        ));
    }
    headers
}

pub fn tomorrow() -> String {
    let d = time::OffsetDateTime::now_utc().date().next_day().unwrap();
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

pub fn appointment_for(slot: &Value, nhs: &str) -> Value {
    json!({
        "resourceType": "Appointment",
        "meta": { "profile": ["https://fhir.hl7.org.uk/StructureDefinition/UKCore-Appointment"] },
        "status": "booked",
        "slot": [{ "reference": format!("Slot/{}", slot["id"].as_str().unwrap()) }],
        "start": slot["start"],
        "end": slot["end"],
        "participant": [{ "actor": { "identifier": { "system": "https://fhir.nhs.uk/Id/nhs-number", "value": nhs } }, "status": "accepted" }]
    })
}

/// A sender's request through the proxy; a clone sent again is a retry with the same ids.
#[derive(Clone)]
pub struct SenderRequest {
    pub http: HttpClient,
    pub tokens: Option<Arc<TokenSource>>,
    pub method: Method,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<Bytes>,
}

impl SenderRequest {
    pub fn header(mut self, name: &str, value: &str) -> Self {
        let name = name.to_ascii_lowercase();
        self.headers.retain(|(k, _)| *k != name);
        self.headers.push((name, value.to_string()));
        self
    }

    pub fn without(mut self, name: &str) -> Self {
        let name = name.to_ascii_lowercase();
        self.headers.retain(|(k, _)| *k != name);
        self
    }

    pub fn anonymous(mut self) -> Self {
        self.tokens = None;
        self
    }

    pub fn json(mut self, body: &Value) -> Self {
        self = self.header("content-type", "application/fhir+json; version=1.1.0");
        self.body = Some(Bytes::from(body.to_string()));
        self
    }

    pub fn body_as(mut self, content_type: &str, body: String) -> Self {
        self = self.header("content-type", content_type);
        self.body = Some(Bytes::from(body));
        self
    }

    pub fn request_id(&self) -> String {
        self.headers
            .iter()
            .find(|(k, _)| k == "x-request-id")
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    }

    pub async fn send(&self) -> ClientResponse {
        let mut headers: Vec<(&str, String)> = self
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.clone()))
            .collect();
        if let Some(tokens) = &self.tokens {
            headers.push((
                "authorization",
                format!("Bearer {}", tokens.token().await.unwrap()),
            ));
        }
        self.http
            .call(self.method.clone(), &self.url, &headers, self.body.clone())
            .await
            .unwrap()
    }
}

#[track_caller]
pub fn assert_outcome(r: &ClientResponse, status: u16, issue: &str, code: &str) {
    let body = r.json().unwrap_or(Value::Null);
    assert_eq!(r.status.as_u16(), status, "status; body: {body}");
    assert_eq!(body["resourceType"], "OperationOutcome", "{body}");
    assert_eq!(body["issue"][0]["code"], issue, "issue; body: {body}");
    assert_eq!(
        body["issue"][0]["details"]["coding"][0]["code"], code,
        "code; body: {body}"
    );
}
