//! A real receiver on 127.0.0.1:0 over its own temporary SQLite file, and a small client that
//! sends what a BaRS sender sends.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bars_fhir::headers::{EndUserOrganisation, RequestingSoftware, encode_base64_json};
use bars_http::client::{ClientResponse, HttpClient};
use bars_http::server::{RunningServer, ServerOptions};
use bars_http::transport::TransportRules;
use bars_receiver::{Receiver, ReceiverConfig};
use bars_store::sqlite::{SqliteOptions, SqliteStore};
use bytes::Bytes;
use http::Method;
use serde_json::{Value, json};
use tempfile::TempDir;

pub const SERVICE_A: &str = "2000011111";
pub const SERVICE_B: &str = "2000022222";
pub const PATIENT: &str = "9434765919";
pub const OTHER_PATIENT: &str = "4409815415";
pub const SENDER_ODS: &str = "A1001";

pub struct TestReceiver {
    pub base: String,
    pub admin: String,
    pub client: HttpClient,
    pub dir: TempDir,
    servers: Vec<RunningServer>,
    receiver: Option<Receiver>,
}

pub fn db_path(dir: &TempDir) -> std::path::PathBuf {
    dir.path().join("receiver.db")
}

pub async fn start() -> TestReceiver {
    start_with(|c| c).await
}

pub async fn start_with(configure: impl FnOnce(ReceiverConfig) -> ReceiverConfig) -> TestReceiver {
    start_in(
        tempfile::tempdir().unwrap(),
        SqliteOptions::default(),
        configure,
    )
    .await
}

pub async fn start_in(
    dir: TempDir,
    options: SqliteOptions,
    configure: impl FnOnce(ReceiverConfig) -> ReceiverConfig,
) -> TestReceiver {
    let store = Arc::new(SqliteStore::open_with(db_path(&dir), options).unwrap());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let base = format!("http://{addr}");
    let config = configure(
        ReceiverConfig::new("RX001", &base)
            .with_service(SERVICE_A, "Minor Injuries Unit")
            .with_service(SERVICE_B, "Urgent Treatment Centre"),
    );
    let receiver = Receiver::new(config, store).await.unwrap();
    let api = RunningServer::start_on(
        listener,
        receiver.router(TransportRules::receiver()),
        ServerOptions::default(),
    );
    let admin = RunningServer::start(
        "127.0.0.1:0".parse().unwrap(),
        receiver.admin_router(None),
        ServerOptions::default(),
    )
    .await
    .unwrap();
    TestReceiver {
        base,
        admin: format!("http://{}", admin.addr),
        client: HttpClient::plain(Duration::from_secs(30)),
        dir,
        servers: vec![api, admin],
        receiver: Some(receiver),
    }
}

impl TestReceiver {
    pub fn req(&self, method: Method, path: &str) -> Req {
        Req::new(
            self.client.clone(),
            method,
            format!("{}{}", self.base, path),
        )
    }

    pub fn get(&self, path: &str) -> Req {
        self.req(Method::GET, path)
    }

    pub fn post(&self, path: &str) -> Req {
        self.req(Method::POST, path)
    }

    pub fn put(&self, path: &str) -> Req {
        self.req(Method::PUT, path)
    }

    pub fn patch(&self, path: &str) -> Req {
        self.req(Method::PATCH, path)
    }

    pub fn delete(&self, path: &str) -> Req {
        self.req(Method::DELETE, path)
    }

    /// Publishes `days` days of 10-minute slots, 08:00-12:00 UTC (24 a day), from tomorrow.
    pub async fn generate(&self, service: &str, days: u32) -> u64 {
        let from = tomorrow();
        let body = json!({ "service": service, "from": from, "days": days, "every": "10m", "between": "08:00-12:00", "zone": "UTC" });
        let r = self
            .client
            .call(
                Method::POST,
                &format!("{}/admin/slots/generate", self.admin),
                &[("content-type", "application/json".into())],
                Some(Bytes::from(body.to_string())),
            )
            .await
            .unwrap();
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        r.json().unwrap()["created"].as_u64().unwrap()
    }

    pub fn slot_query(&self, service: &str, status: &str) -> String {
        let from = tomorrow();
        format!(
            "/Slot?Schedule.actor:HealthcareService={service}&status={status}&start=ge{from}T00:00:00Z&start=le{from}T23:59:59Z&_include=Slot:schedule&_include=Schedule:actor:HealthcareService"
        )
    }

    /// Tomorrow's slots of `service` with the given status.
    pub async fn slots(&self, service: &str, status: &str) -> Vec<Value> {
        let r = self.get(&self.slot_query(service, status)).send().await;
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        r.json().unwrap()["entry"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["search"]["mode"] == "match")
            .map(|e| e["resource"].clone())
            .collect()
    }

    pub async fn book(&self, slot: &Value, nhs: &str) -> ClientResponse {
        self.post("/Appointment")
            .json(&appointment_for(slot, nhs))
            .send()
            .await
    }

    pub async fn stop(mut self) -> TempDir {
        for s in self.servers.drain(..) {
            s.shutdown().await;
        }
        if let Some(r) = self.receiver.take() {
            r.close().await;
        }
        self.dir
    }
}

pub fn tomorrow() -> String {
    let d = time::OffsetDateTime::now_utc().date().next_day().unwrap();
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

/// A UKCore-Appointment booking `slot` for the patient with NHS number `nhs`.
pub fn appointment_for(slot: &Value, nhs: &str) -> Value {
    json!({
        "resourceType": "Appointment",
        "meta": { "lastUpdated": "2020-01-01T00:00:00+00:00", "profile": ["https://fhir.hl7.org.uk/StructureDefinition/UKCore-Appointment"] },
        "status": "booked",
        "slot": [{ "reference": format!("Slot/{}", slot["id"].as_str().unwrap()) }],
        "description": "Reason for calling",
        "start": slot["start"],
        "end": slot["end"],
        "participant": [{
            "actor": { "type": "Patient", "identifier": { "system": "https://fhir.nhs.uk/Id/nhs-number", "value": nhs } },
            "status": "accepted"
        }]
    })
}

/// A request as a BaRS sender makes it: fresh ids, Accept with the version, access-control headers.
pub struct Req {
    client: HttpClient,
    method: Method,
    url: String,
    pub headers: Vec<(String, String)>,
    body: Option<Bytes>,
}

impl Req {
    pub fn new(client: HttpClient, method: Method, url: String) -> Self {
        let org = EndUserOrganisation {
            ods_code: Some(SENDER_ODS.into()),
            name: Some("Sending Practice".into()),
        };
        let sw = RequestingSoftware {
            id_system: Some("https://example.org/device".into()),
            id: Some("TEST-SENDER".into()),
            name: Some("Test sender".into()),
            version: Some("1.0".into()),
        };
        Req {
            client,
            method,
            url,
            headers: vec![
                ("x-request-id".into(), uuid::Uuid::new_v4().to_string()),
                ("x-correlation-id".into(), uuid::Uuid::new_v4().to_string()),
                (
                    "accept".into(),
                    "application/fhir+json; version=1.1.0".into(),
                ),
                (
                    "nhsd-end-user-organisation".into(),
                    encode_base64_json(&org.to_json()),
                ),
                (
                    "nhsd-requesting-software".into(),
                    encode_base64_json(&sw.to_json()),
                ),
            ],
            body: None,
        }
    }

    /// Sets (or with an empty value, removes) a header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        let name = name.to_ascii_lowercase();
        self.headers.retain(|(k, _)| *k != name);
        if !value.is_empty() {
            self.headers.push((name, value.to_string()));
        }
        self
    }

    pub fn without(mut self, name: &str) -> Self {
        let name = name.to_ascii_lowercase();
        self.headers.retain(|(k, _)| *k != name);
        self
    }

    pub fn ids(self, request_id: &str, correlation_id: &str) -> Self {
        self.header("x-request-id", request_id)
            .header("x-correlation-id", correlation_id)
    }

    pub fn request_id(&self) -> String {
        self.headers
            .iter()
            .find(|(k, _)| k == "x-request-id")
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    }

    pub fn json(self, body: &Value) -> Self {
        self.body_as("application/fhir+json; version=1.1.0", body.to_string())
    }

    pub fn body_as(mut self, content_type: &str, body: impl Into<Bytes>) -> Self {
        self = self.header("content-type", content_type);
        self.body = Some(body.into());
        self
    }

    pub async fn send(&self) -> ClientResponse {
        self.send_checked().await.unwrap()
    }

    pub async fn send_checked(&self) -> Result<ClientResponse, bars_http::client::ClientError> {
        let headers: Vec<(&str, String)> = self
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.clone()))
            .collect();
        self.client
            .call(self.method.clone(), &self.url, &headers, self.body.clone())
            .await
    }
}

/// Asserts an OperationOutcome's status, FHIR issue code and BaRS code.
#[track_caller]
pub fn assert_outcome(r: &ClientResponse, status: u16, issue: &str, code: &str) {
    let body = r.json().unwrap_or(Value::Null);
    assert_eq!(r.status.as_u16(), status, "status; body: {body}");
    assert_eq!(body["resourceType"], "OperationOutcome", "{body}");
    assert_eq!(body["issue"][0]["code"], issue, "issue code; body: {body}");
    assert_eq!(
        body["issue"][0]["details"]["coding"][0]["system"],
        "https://fhir.nhs.uk/Codesystem/http-error-codes",
        "{body}"
    );
    assert_eq!(
        body["issue"][0]["details"]["coding"][0]["code"], code,
        "BaRS code; body: {body}"
    );
}
