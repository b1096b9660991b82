//! A real receiver on 127.0.0.1:0 over a database of its own (a temporary SQLite file, or a
//! PostgreSQL schema of its own), and a small client that sends what a BaRS sender sends.
//!
//! Tests written with [`on_both!`] run once per backend from one body; the PostgreSQL variant
//! is skipped (and says so) when `BARS_TEST_POSTGRES_URL` is unset.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bars_fhir::headers::{EndUserOrganisation, RequestingSoftware, encode_base64_json};
use bars_http::client::{ClientResponse, HttpClient};
use bars_http::server::{RunningServer, ServerOptions};
use bars_http::transport::TransportRules;
use bars_receiver::{Receiver, ReceiverConfig};
use bars_store::Store;
pub use bars_store::on_both;
use bars_store::sqlite::{SqliteOptions, SqliteStore};
pub use bars_store::testing::{Backend, TestDatabase};
use bytes::Bytes;
use http::Method;
use serde_json::{Value, json};

pub const SERVICE_A: &str = "2000011111";
pub const SERVICE_B: &str = "2000022222";
pub const PATIENT: &str = "9434765919";
pub const OTHER_PATIENT: &str = "4409815415";
pub const SENDER_ODS: &str = "A1001";

pub struct TestReceiver {
    pub base: String,
    pub admin: String,
    pub client: HttpClient,
    pub db: TestDatabase,
    servers: Vec<RunningServer>,
    receiver: Option<Receiver>,
}

/// A fresh, empty database on `backend`. Tests reach it only through [`on_both!`], which
/// has already skipped the PostgreSQL variant when no server is configured.
pub async fn fresh_db(backend: Backend) -> TestDatabase {
    TestDatabase::new(backend, "receiver.db")
        .await
        .expect("a test database for this backend")
}

/// The receiver's store on `db`. `lock_timeout` bounds how long a write waits for a lock held
/// by someone else before the store answers 503: SQLite's busy timeout, PostgreSQL's
/// statement timeout.
pub async fn open_store(db: &TestDatabase, lock_timeout: Option<Duration>) -> Arc<dyn Store> {
    match db.backend {
        Backend::Sqlite => {
            let mut options = SqliteOptions::default();
            if let Some(t) = lock_timeout {
                options.busy_timeout = t;
            }
            Arc::new(SqliteStore::open_with(db.file(), options).unwrap())
        }
        Backend::Postgres => {
            let url = match lock_timeout {
                Some(t) => db.url_with(&format!("statement_timeout={}ms", t.as_millis())),
                None => db.url(),
            };
            bars_store::open(&url).await.unwrap()
        }
    }
}

pub async fn start(backend: Backend) -> TestReceiver {
    start_with(backend, |c| c).await
}

pub async fn start_with(
    backend: Backend,
    configure: impl FnOnce(ReceiverConfig) -> ReceiverConfig,
) -> TestReceiver {
    start_in(fresh_db(backend).await, None, configure).await
}

pub async fn start_in(
    db: TestDatabase,
    lock_timeout: Option<Duration>,
    configure: impl FnOnce(ReceiverConfig) -> ReceiverConfig,
) -> TestReceiver {
    let store = open_store(&db, lock_timeout).await;
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
        db,
        servers: vec![api, admin],
        receiver: Some(receiver),
    }
}

impl TestReceiver {
    /// A client's view of a receiver started elsewhere (at `base`, admin at `admin`) over
    /// `db`; stopping it stops nothing but hands `db` back.
    pub fn view(base: &str, admin: &str, client: HttpClient, db: TestDatabase) -> TestReceiver {
        TestReceiver {
            base: base.to_string(),
            admin: admin.to_string(),
            client,
            db,
            servers: Vec::new(),
            receiver: None,
        }
    }

    /// The same view, of a receiver started again at other addresses.
    pub fn moved_to(mut self, base: &str, admin: &str) -> TestReceiver {
        self.base = base.to_string();
        self.admin = admin.to_string();
        self
    }

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

    pub async fn stop(mut self) -> TestDatabase {
        for s in self.servers.drain(..) {
            s.shutdown().await;
        }
        if let Some(r) = self.receiver.take() {
            r.close().await;
        }
        self.db
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

    /// Addresses the request to `service`, as the proxy forwards it (`NHSD-Target-Identifier`).
    pub fn to(self, service: &str) -> Self {
        let target = bars_fhir::headers::TargetIdentifier::dos(service).encode();
        self.header("nhsd-target-identifier", &target)
    }

    /// Sends the request on behalf of the organisation with ODS code `ods`.
    pub fn sent_by(self, ods: &str) -> Self {
        let org = EndUserOrganisation {
            ods_code: Some(ods.into()),
            name: None,
        };
        self.header(
            "nhsd-end-user-organisation",
            &encode_base64_json(&org.to_json()),
        )
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
