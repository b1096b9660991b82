//! A real registry on 127.0.0.1:0 over a database of its own (a temporary SQLite file, or a
//! PostgreSQL schema of its own), and callers that present the organisation the proxy would
//! have authenticated. Tests written with [`on_both!`] run once per backend from one body.

use std::sync::Arc;
use std::time::Duration;

use bars_http::client::{ClientResponse, HttpClient};
use bars_http::server::{RunningServer, ServerOptions};
use bars_http::transport::{TransportRules, Trust};
use bars_registry::{Registry, RegistryConfig, RegistryStore};
pub use bars_store::on_both;
pub use bars_store::testing::{Backend, TestDatabase};
use bytes::Bytes;
use http::Method;
use serde_json::{Value, json};

/// The custodian in the official examples.
pub const RGT: &str = "RGT";
pub const OTHER_ORG: &str = "V4T0L";
/// The patient in the official examples.
pub const PATIENT: &str = "9693893123";
pub const OTHER_PATIENT: &str = "9434765919";
pub const BOOKING_TYPE: &str = "http://snomed.info/sct|749001000000101";
pub const REFERRAL_TYPE: &str = "http://snomed.info/sct|3457005";
pub const NHS_SYSTEM: &str = "https://fhir.nhs.uk/Id/nhs-number";
pub const ODS_SYSTEM: &str = "https://fhir.nhs.uk/Id/ods-organization-code";
pub const SPINE_SYSTEM: &str = "https://fhir.nhs.uk/STU3/CodeSystem/Spine-ErrorOrWarningCode-1";
pub const SUCCESS_SYSTEM: &str = "https://fhir.nhs.uk/CodeSystem/NRLF-SuccessCode";

const POST_BODY: &str = include_str!(
    "../../../../fixtures/bars-api-examples/examples__document_reference__POST-body.json"
);

pub struct TestRegistry {
    pub base: String,
    pub client: HttpClient,
    /// The database, when the registry has a real one (not a stand-in store).
    pub db: Option<TestDatabase>,
    server: Option<RunningServer>,
}

/// A fresh, empty database on `backend`. Tests reach it only through [`on_both!`], which has
/// already skipped the PostgreSQL variant when no server is configured.
pub async fn fresh_db(backend: Backend) -> TestDatabase {
    TestDatabase::new(backend, "registry.db")
        .await
        .expect("a test database for this backend")
}

/// The production rules, except that the proxy's organisation header is believed without
/// mutual TLS so tests can set it directly.
pub fn test_rules() -> TransportRules {
    TransportRules {
        trust_application_header: Trust::Always,
        ..Registry::production_rules()
    }
}

pub async fn start(backend: Backend) -> TestRegistry {
    start_in(fresh_db(backend).await, |c| c).await
}

pub async fn start_with(
    backend: Backend,
    configure: impl FnOnce(RegistryConfig) -> RegistryConfig,
) -> TestRegistry {
    start_in(fresh_db(backend).await, configure).await
}

/// A registry on `db`, opened by URL as `bars registry --database` opens it.
pub async fn start_in(
    db: TestDatabase,
    configure: impl FnOnce(RegistryConfig) -> RegistryConfig,
) -> TestRegistry {
    let store = bars_registry::open_store(&db.url()).await.unwrap();
    start_on_store(Some(db), store, configure).await
}

pub async fn start_on_store(
    db: Option<TestDatabase>,
    store: Arc<dyn RegistryStore>,
    configure: impl FnOnce(RegistryConfig) -> RegistryConfig,
) -> TestRegistry {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let registry = Registry::new(configure(RegistryConfig::new(&base)), store);
    let server = RunningServer::start_on(
        listener,
        registry.router(test_rules()),
        ServerOptions::default(),
    );
    TestRegistry {
        base,
        client: HttpClient::plain(Duration::from_secs(30)),
        db,
        server: Some(server),
    }
}

impl TestRegistry {
    /// A caller the proxy authenticated as organisation `ods`.
    pub fn by(&self, ods: &str) -> Caller {
        Caller {
            client: self.client.clone(),
            base: self.base.clone(),
            org: Some(ods.to_string()),
        }
    }

    /// A caller that did not come through the proxy.
    pub fn anonymous(&self) -> Caller {
        Caller {
            client: self.client.clone(),
            base: self.base.clone(),
            org: None,
        }
    }

    /// Creates `pointer` as its custodian and returns its id.
    pub async fn create(&self, pointer: &Value) -> String {
        let custodian = pointer["custodian"]["identifier"]["value"]
            .as_str()
            .unwrap();
        let r = self
            .by(custodian)
            .post("/DocumentReference")
            .json(pointer)
            .send()
            .await;
        assert_eq!(r.status, 201, "{}", body_text(&r));
        id_from_location(&r)
    }

    pub async fn stop(mut self) -> TestDatabase {
        if let Some(server) = self.server.take() {
            server.shutdown().await;
        }
        self.db.take().expect("a registry on a test database")
    }
}

pub fn id_from_location(r: &ClientResponse) -> String {
    let location = r.header("location").expect("a Location header");
    location
        .rsplit_once("/DocumentReference/")
        .map(|(_, id)| id.to_string())
        .expect("Location names a DocumentReference")
}

pub struct Caller {
    client: HttpClient,
    base: String,
    org: Option<String>,
}

impl Caller {
    pub fn req(&self, method: Method, path: &str) -> Req {
        let url = if path.starts_with("http") {
            path.to_string()
        } else {
            format!("{}{}", self.base, path)
        };
        let mut headers = vec![("accept".to_string(), "application/fhir+json".to_string())];
        if let Some(org) = &self.org {
            headers.push(("nhsd-authenticated-organisation".into(), org.clone()));
        }
        Req {
            client: self.client.clone(),
            method,
            url,
            headers,
            body: None,
        }
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

    pub fn delete(&self, path: &str) -> Req {
        self.req(Method::DELETE, path)
    }

    /// `GET /DocumentReference?subject:identifier=<system>|<nhs>` plus `extra`.
    pub async fn search(&self, nhs: &str, extra: &str) -> ClientResponse {
        self.get(&format!(
            "/DocumentReference?subject:identifier={NHS_SYSTEM}|{nhs}{extra}"
        ))
        .send()
        .await
    }
}

pub struct Req {
    client: HttpClient,
    method: Method,
    url: String,
    headers: Vec<(String, String)>,
    body: Option<Bytes>,
}

impl Req {
    pub fn header(mut self, name: &str, value: &str) -> Self {
        let name = name.to_ascii_lowercase();
        self.headers.retain(|(k, _)| *k != name);
        self.headers.push((name, value.to_string()));
        self
    }

    pub fn json(self, body: &Value) -> Self {
        self.body_as("application/fhir+json", body.to_string())
    }

    pub fn body_as(mut self, content_type: &str, body: impl Into<Bytes>) -> Self {
        self = self.header("content-type", content_type);
        self.body = Some(body.into());
        self
    }

    pub async fn send(&self) -> ClientResponse {
        let headers: Vec<(&str, String)> = self
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.clone()))
            .collect();
        self.client
            .call(self.method.clone(), &self.url, &headers, self.body.clone())
            .await
            .unwrap()
    }
}

pub fn body_text(r: &ClientResponse) -> String {
    String::from_utf8_lossy(&r.body).into_owned()
}

/// The official POST body, for `custodian` and the patient `nhs`.
pub fn pointer_for(custodian: &str, nhs: &str) -> Value {
    let mut p: Value = serde_json::from_str(POST_BODY).unwrap();
    p["custodian"]["identifier"]["value"] = json!(custodian);
    p["author"][0]["identifier"]["value"] = json!(custodian);
    p["subject"]["identifier"]["value"] = json!(nhs);
    p
}

pub fn pointer() -> Value {
    pointer_for(RGT, PATIENT)
}

/// Sets the pointer type (`system|code`).
pub fn with_type(mut p: Value, token: &str) -> Value {
    let (system, code) = token.split_once('|').unwrap();
    p["type"] = json!({ "coding": [{ "system": system, "code": code }] });
    p
}

/// Asserts an error OperationOutcome: status, FHIR issue code and Spine code; and that it does
/// not quote an NHS number.
#[track_caller]
pub fn assert_outcome(r: &ClientResponse, status: u16, issue: &str, code: &str) {
    let body = r.json().unwrap_or(Value::Null);
    assert_eq!(r.status.as_u16(), status, "status; body: {body}");
    assert_eq!(body["resourceType"], "OperationOutcome", "{body}");
    assert_eq!(body["issue"][0]["severity"], "error", "{body}");
    assert_eq!(body["issue"][0]["code"], issue, "issue code; body: {body}");
    let coding = &body["issue"][0]["details"]["coding"][0];
    assert_eq!(coding["system"], SPINE_SYSTEM, "{body}");
    assert_eq!(coding["code"], code, "Spine code; body: {body}");
    assert_no_nhs_number(&body);
    assert!(
        r.header("content-type")
            .is_some_and(|c| c.starts_with("application/fhir+json")),
        "{:?}",
        r.headers
    );
}

/// Asserts a success OperationOutcome with an NRLF success code.
#[track_caller]
pub fn assert_success(r: &ClientResponse, status: u16, code: &str) {
    let body = r.json().unwrap_or(Value::Null);
    assert_eq!(r.status.as_u16(), status, "status; body: {body}");
    assert_eq!(body["resourceType"], "OperationOutcome", "{body}");
    assert_eq!(body["issue"][0]["severity"], "information", "{body}");
    assert_eq!(body["issue"][0]["code"], "informational", "{body}");
    let coding = &body["issue"][0]["details"]["coding"][0];
    assert_eq!(coding["system"], SUCCESS_SYSTEM, "{body}");
    assert_eq!(coding["code"], code, "{body}");
}

#[track_caller]
pub fn assert_no_nhs_number(outcome: &Value) {
    for issue in outcome["issue"].as_array().into_iter().flatten() {
        let diagnostics = issue["diagnostics"].as_str().unwrap_or("");
        for nhs in [PATIENT, OTHER_PATIENT, "9693893124"] {
            assert!(
                !diagnostics.contains(nhs),
                "diagnostics quote an NHS number: {diagnostics}"
            );
        }
    }
}
