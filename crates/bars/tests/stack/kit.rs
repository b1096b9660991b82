//! The whole BaRS stack in one test process, over real sockets and real TLS: a registry and
//! receivers that accept only the proxy's client certificate, a proxy that authenticates
//! senders with signed JWTs, and receivers that keep their pointers through the proxy.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bars_client::{Credentials, TokenSource};
use bars_fhir::headers::{
    DOS_SERVICE_SYSTEM, EndUserOrganisation, TargetIdentifier, encode_base64_json,
};
use bars_http::client::{ClientResponse, HttpClient};
use bars_http::server::{RunningServer, ServerOptions};
use bars_http::transport::TransportRules;
use bars_pki::tls::{ClientAuth, client_config, server_config};
use bars_pki::{Algorithm, Ca, Identity, SigningKey};
use bars_proxy::auth::{
    Application, Applications, AuthConfig, AuthState, ProxySigningKey, TOKEN_PATH,
};
use bars_proxy::{Catalogue, Endpoint, Proxy, ProxyConfig};
use bars_receiver::pointers::{RegistryTarget, worker::Backoff};
use bars_receiver::{Receiver, ReceiverConfig};
use bars_registry::{Registry, RegistryConfig, SqliteRegistryStore};
use bars_store::Store;
use bytes::Bytes;
use http::Method;
use serde_json::{Value, json};
use tempfile::TempDir;

pub const SENDER: &str = "demo-sender";
pub const SENDER_ODS: &str = "A1001";
pub const PATIENT: &str = "9434765919";
pub const OTHER_PATIENT: &str = "4409815415";

pub struct StackReceiver {
    pub url: String,
    pub admin: String,
    pub services: Vec<String>,
    pub store: Arc<dyn Store>,
    pub db: std::path::PathBuf,
    receiver: Option<Receiver>,
    servers: Vec<RunningServer>,
}

pub struct Stack {
    /// Holds the databases for the stack's lifetime.
    _dir: TempDir,
    pub ca: Ca,
    pub proxy_url: String,
    pub proxy_admin: String,
    pub registry_addr: SocketAddr,
    pub receivers: Vec<StackReceiver>,
    /// A client trusting the stack's CA, as a sender's would.
    pub http: HttpClient,
    pub sender: Arc<TokenSource>,
    pub sender_key: SigningKey,
    pub proxy: Arc<Proxy>,
    proxy_servers: Vec<RunningServer>,
    registry_server: Option<RunningServer>,
    registry_db: std::path::PathBuf,
    server_identity: Identity,
}

fn tls_server(identity: &Identity, ca: &Ca) -> ServerOptions {
    ServerOptions {
        tls: Some(server_config(identity, Some(ca.cert_pem()), ClientAuth::Optional).unwrap()),
        ..ServerOptions::default()
    }
}

fn mtls_rules() -> TransportRules {
    TransportRules {
        require_client_certificate: true,
        ..TransportRules::receiver()
    }
}

/// Pointer delivery retries quickly in tests.
pub const TEST_BACKOFF: Backoff = Backoff {
    initial: Duration::from_millis(50),
    max: Duration::from_millis(400),
};

pub async fn start_registry(
    addr: SocketAddr,
    db: &std::path::Path,
    identity: &Identity,
    ca: &Ca,
) -> RunningServer {
    let store = SqliteRegistryStore::open(db).unwrap();
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    let base = format!("https://{}", listener.local_addr().unwrap());
    let registry = Registry::new(RegistryConfig::new(base), Arc::new(store));
    let rules = TransportRules {
        require_client_certificate: true,
        ..Registry::production_rules()
    };
    RunningServer::start_on(listener, registry.router(rules), tls_server(identity, ca))
}

impl Stack {
    /// A stack with `receivers` receivers of two services each.
    pub async fn start(receivers: usize) -> Stack {
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let dir = tempfile::tempdir().unwrap();
        let ca = Ca::generate("BaRS stack test CA").unwrap();
        let server_identity = ca
            .issue_server("servers", &["localhost", "127.0.0.1"])
            .unwrap();
        let proxy_client = ca.issue_client("proxy").unwrap();
        let trusting = client_config(ca.cert_pem(), None).unwrap();
        let http = HttpClient::new(Some(trusting.clone()), Duration::from_secs(30));

        // The registry.
        let registry_db = dir.path().join("registry.db");
        let registry_server = start_registry(
            "127.0.0.1:0".parse().unwrap(),
            &registry_db,
            &server_identity,
            &ca,
        )
        .await;
        let registry_addr = registry_server.addr;
        let registry_url = format!("https://{registry_addr}");

        // The proxy's listener first: receivers need its URL to write pointers.
        let proxy_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let proxy_url = format!("https://{}", proxy_listener.local_addr().unwrap());

        // Receivers, each registered at the proxy as an application of its own organisation.
        let applications = Applications::new();
        let sender_key = SigningKey::generate(Algorithm::ES256, "demo-sender-1").unwrap();
        applications
            .add(application(SENDER, SENDER_ODS, &sender_key))
            .unwrap();
        let mut stack_receivers = Vec::new();
        let mut endpoints = Vec::new();
        for i in 0..receivers {
            let ods = format!("RX{:03}", i + 1);
            let services = vec![format!("20000{}0001", i + 1), format!("20000{}0002", i + 1)];
            let key = SigningKey::generate(Algorithm::RS512, &format!("{ods}-1")).unwrap();
            applications
                .add(application(&format!("receiver-{ods}"), &ods, &key))
                .unwrap();
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let url = format!("https://{}", listener.local_addr().unwrap());
            for s in &services {
                endpoints.push(Endpoint {
                    system: DOS_SERVICE_SYSTEM.into(),
                    value: s.clone(),
                    name: format!("Service {s}"),
                    url: url.clone(),
                    ods_code: Some(ods.clone()),
                });
            }
            let db = dir.path().join(format!("{ods}.db"));
            let target = pointer_target(&proxy_url, &ods, &key, &trusting);
            let r = start_receiver(
                listener,
                &ods,
                &services,
                &db,
                target,
                &server_identity,
                &ca,
            )
            .await;
            stack_receivers.push(r);
        }

        // The proxy.
        let auth = AuthState::new(
            AuthConfig::new(format!("{proxy_url}{TOKEN_PATH}"), proxy_url.clone()),
            applications,
            ProxySigningKey::generate().unwrap(),
        );
        let mut config = ProxyConfig::new(&proxy_url, &registry_url);
        config.receiver_timeout = Duration::from_secs(3);
        let upstream = client_config(ca.cert_pem(), Some(&proxy_client)).unwrap();
        let proxy = Arc::new(Proxy::new(
            config,
            Catalogue::from_entries(endpoints).unwrap(),
            auth,
            Some(upstream.clone()),
            Some(upstream),
        ));
        let api = RunningServer::start_on(
            proxy_listener,
            proxy.router(),
            ServerOptions {
                tls: Some(server_config(&server_identity, None, ClientAuth::None).unwrap()),
                ..ServerOptions::default()
            },
        );
        let admin = RunningServer::start(
            "127.0.0.1:0".parse().unwrap(),
            proxy.admin_router(None),
            ServerOptions::default(),
        )
        .await
        .unwrap();
        let sender = TokenSource::new(
            Credentials {
                client_id: SENDER.into(),
                kid: sender_key.kid.clone(),
                algorithm: "ES256".into(),
                private_pem: sender_key.private_pem.clone(),
                token_url: format!("{proxy_url}{TOKEN_PATH}"),
            },
            http.clone(),
        );
        Stack {
            proxy_admin: format!("http://{}", admin.addr),
            proxy_servers: vec![api, admin],
            _dir: dir,
            ca,
            proxy_url,
            registry_addr,
            receivers: stack_receivers,
            http,
            sender,
            sender_key,
            proxy,
            registry_server: Some(registry_server),
            registry_db,
            server_identity,
        }
    }

    /// Stops the registry (its data stays on disk).
    pub async fn stop_registry(&mut self) {
        if let Some(s) = self.registry_server.take() {
            s.shutdown().await;
        }
    }

    /// Starts the registry again on its old address and database.
    pub async fn restart_registry(&mut self) {
        self.registry_server = Some(
            start_registry(
                self.registry_addr,
                &self.registry_db,
                &self.server_identity,
                &self.ca,
            )
            .await,
        );
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
            url: format!("{}{path}", self.proxy_url),
            headers,
            body: None,
        }
    }

    /// Tomorrow's slots of `service`, through the proxy.
    pub async fn free_slots(&self, service: &str) -> Vec<Value> {
        let day = tomorrow();
        let path = format!(
            "/Slot?Schedule.actor:HealthcareService={service}&status=free&start=ge{day}T00:00:00Z&start=le{day}T23:59:59Z&_include=Slot:schedule&_include=Schedule:actor:HealthcareService"
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
            for r in &self.receivers {
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

    pub async fn stop(mut self) {
        for r in self.receivers.drain(..) {
            r.stop().await;
        }
        for s in self.proxy_servers.drain(..) {
            s.shutdown().await;
        }
        self.stop_registry().await;
    }
}

pub fn application(client_id: &str, ods: &str, key: &SigningKey) -> Application {
    Application {
        client_id: client_id.into(),
        name: format!("{client_id} application"),
        ods_code: ods.into(),
        keys: vec![key.public_jwk.clone()],
        products: vec![bars_proxy::auth::BARS_PRODUCT.into()],
        rate_limit_per_minute: None,
    }
}

fn pointer_target(
    proxy_url: &str,
    ods: &str,
    key: &SigningKey,
    trusting: &rustls::ClientConfig,
) -> RegistryTarget {
    let mut target = RegistryTarget::new(proxy_url);
    target.tls = Some(trusting.clone());
    target.backoff = TEST_BACKOFF;
    target.timeout = Duration::from_secs(5);
    let credentials = Credentials {
        client_id: format!("receiver-{ods}"),
        kid: key.kid.clone(),
        algorithm: key.algorithm.as_str().into(),
        private_pem: key.private_pem.clone(),
        token_url: format!("{proxy_url}{TOKEN_PATH}"),
    };
    target.auth = Some(TokenSource::new(credentials, target.client()));
    target
}

pub async fn start_receiver(
    listener: tokio::net::TcpListener,
    ods: &str,
    services: &[String],
    db: &std::path::Path,
    target: RegistryTarget,
    identity: &Identity,
    ca: &Ca,
) -> StackReceiver {
    let url = format!("https://{}", listener.local_addr().unwrap());
    let store: Arc<dyn Store> = Arc::new(bars_store::sqlite::SqliteStore::open(db).unwrap());
    let mut config = ReceiverConfig::new(ods, &url);
    for s in services {
        config = config.with_service(s, format!("Service {s}"));
    }
    let mut receiver = Receiver::new(config, store.clone()).await.unwrap();
    receiver.start_pointer_worker(target).await.unwrap();
    let api = RunningServer::start_on(
        listener,
        receiver.router(mtls_rules()),
        tls_server(identity, ca),
    );
    let admin = RunningServer::start(
        "127.0.0.1:0".parse().unwrap(),
        receiver.admin_router(None),
        ServerOptions::default(),
    )
    .await
    .unwrap();
    let r = StackReceiver {
        url,
        admin: format!("http://{}", admin.addr),
        services: services.to_vec(),
        store,
        db: db.to_path_buf(),
        receiver: Some(receiver),
        servers: vec![api, admin],
    };
    for s in services {
        r.generate(s).await;
    }
    r
}

impl StackReceiver {
    /// Publishes tomorrow's slots, 08:00-12:00 UTC every 10 minutes.
    pub async fn generate(&self, service: &str) {
        let body = json!({ "service": service, "from": tomorrow(), "days": 1, "every": "10m", "between": "08:00-12:00", "zone": "UTC" });
        let r = HttpClient::plain(Duration::from_secs(30))
            .call(
                Method::POST,
                &format!("{}/admin/slots/generate", self.admin),
                &[("content-type", "application/json".into())],
                Some(Bytes::from(body.to_string())),
            )
            .await
            .unwrap();
        assert_eq!(r.status, 200);
    }

    pub async fn stop(mut self) {
        for s in self.servers.drain(..) {
            s.shutdown().await;
        }
        if let Some(r) = self.receiver.take() {
            r.close().await;
        }
    }
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

/// A sender's request through the proxy.
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
