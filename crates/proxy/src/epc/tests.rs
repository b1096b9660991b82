//! The Endpoint Catalogue through the proxy's own router, on both backends: every operation,
//! the ownership, privacy and integrity rules, routing by the catalogue (D24), and records
//! surviving a restart. Two organisations are registered: `RX1` (the owner in most tests) and
//! `RX2`.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, to_bytes};
use bars_fhir::headers::{TargetIdentifier, encode_base64_json};
use bars_http::server::{RunningServer, ServerOptions};
use bars_store::on_both;
use bars_store::testing::{Backend, TestDatabase};
use http::{HeaderMap, Method, Request, StatusCode};
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::auth::testkit;
use crate::auth::{Applications, AuthConfig, AuthState, ProxySigningKey};
use crate::catalogue::Endpoint;
use crate::{Proxy, ProxyConfig, Seed, open_store};

const BASE: &str = "http://proxy.test";
const DOS: &str = "https://fhir.nhs.uk/Id/dos-service-id";
const ODS: &str = "https://fhir.nhs.uk/Id/ods-organization-code";

struct Epc {
    proxy: Proxy,
    router: Router,
    auth: AuthState,
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
}

impl Answer {
    fn code(&self) -> (&str, &str) {
        let issue = &self.body["issue"][0];
        (
            issue["details"]["coding"][0]["code"].as_str().unwrap_or(""),
            issue["code"].as_str().unwrap_or(""),
        )
    }

    #[track_caller]
    fn refused(&self, status: u16, code: &str, issue: &str) {
        assert_eq!(self.status.as_u16(), status, "{}", self.body);
        assert_eq!(self.body["resourceType"], "OperationOutcome");
        assert_eq!(self.code(), (code, issue), "{}", self.body);
    }

    #[track_caller]
    fn ok(&self, status: u16) -> &Value {
        assert_eq!(self.status.as_u16(), status, "{}", self.body);
        &self.body
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

fn auth() -> AuthState {
    let app = |client: &str, ods: &str| {
        let mut a = testkit::application(client, &[testkit::ec_key()], true);
        a.ods_code = ods.into();
        a
    };
    AuthState::new(
        AuthConfig::new(format!("{BASE}/oauth2/token"), BASE),
        Applications::from_list([
            app("rx1-app", "RX1"),
            app("rx2-app", "RX2"),
            app("nhse-app", "NHSE"),
        ])
        .unwrap(),
        ProxySigningKey::generate().unwrap(),
    )
}

async fn database(backend: Backend) -> TestDatabase {
    TestDatabase::new(backend, "proxy.db")
        .await
        .expect("a test database")
}

impl Epc {
    async fn open(db: &TestDatabase, seed: Seed) -> Epc {
        Self::open_with(db, seed, ProxyConfig::new(BASE, "http://registry.invalid")).await
    }

    async fn open_with(db: &TestDatabase, mut seed: Seed, config: ProxyConfig) -> Epc {
        let auth = auth();
        // The applications live in the proxy's database like the catalogue.
        seed.applications = auth.applications.list();
        let proxy = Proxy::open(
            config,
            open_store(&db.url()).await.unwrap(),
            seed,
            auth.clone(),
            None,
            None,
            Duration::from_secs(3600),
        )
        .await
        .unwrap();
        let router = proxy.router();
        Epc {
            proxy,
            router,
            auth,
        }
    }

    fn token(&self, ods: &str) -> String {
        let client = format!("{}-app", ods.to_lowercase());
        let app = self.auth.applications.get(&client).unwrap();
        self.auth.tokens.issue(&app).unwrap().access_token
    }

    /// A call as `ods` with every EPC header, `edit` changing them first.
    async fn call_with(
        &self,
        method: Method,
        path: &str,
        ods: &str,
        body: Option<&Value>,
        edit: impl FnOnce(&mut HeaderMap),
    ) -> Answer {
        let mut headers = HeaderMap::new();
        let mut set = |name: &'static str, value: String| {
            headers.insert(name, value.parse().unwrap());
        };
        set("authorization", format!("Bearer {}", self.token(ods)));
        set("x-request-id", uuid::Uuid::new_v4().to_string());
        set("x-correlation-id", uuid::Uuid::new_v4().to_string());
        set("accept", "application/fhir+json".into());
        set(
            "nhsd-end-user-organisation",
            encode_base64_json(&json!({
                "resourceType": "Organization",
                "identifier": [{ "system": ODS, "value": ods }]
            })),
        );
        if body.is_some() {
            set("content-type", "application/fhir+json;version=1.4.0".into());
        }
        edit(&mut headers);
        let mut request = Request::builder().method(method).uri(path);
        for (name, value) in &headers {
            request = request.header(name, value);
        }
        let request = request
            .body(body.map_or(Body::empty(), |b| Body::from(b.to_string())))
            .unwrap();
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = to_bytes(response.into_body(), usize::MAX).await.unwrap();
        Answer {
            status,
            headers,
            body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        }
    }

    async fn call(&self, method: Method, path: &str, ods: &str, body: Option<&Value>) -> Answer {
        self.call_with(method, path, ods, body, |_| {}).await
    }

    /// Creates an Endpoint and its HealthcareService for DoS service `service`, owned by `ods`;
    /// returns their ids.
    async fn service(&self, ods: &str, service: &str, address: &str) -> (String, String) {
        let e = self
            .call(
                Method::POST,
                "/Endpoint",
                ods,
                Some(&endpoint(ods, service, address)),
            )
            .await;
        let endpoint_id = e.ok(201)["id"].as_str().unwrap().to_string();
        let s = self
            .call(
                Method::POST,
                "/HealthcareService",
                ods,
                Some(&healthcare_service(ods, service, &[&endpoint_id])),
            )
            .await;
        let service_id = s.ok(201)["id"].as_str().unwrap().to_string();
        (service_id, endpoint_id)
    }
}

/// An Endpoint in the OAS14 example's shape.
fn endpoint(ods: &str, service: &str, address: &str) -> Value {
    json!({
        "resourceType": "Endpoint",
        "identifier": [
            { "system": DOS, "value": service },
            { "system": "https://fhir.nhs.uk/id/product-id", "value": "SupplierProduct-v2024.12.12" }
        ],
        "status": "active",
        "connectionType": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/endpoint-connection-type", "code": "hl7-fhir-rest" }] },
        "name": format!("BaRS endpoint of {service}"),
        "payloadType": [{ "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/endpoint-payload-type", "code": "bars", "display": "BaRS" }] }],
        "managingOrganization": [{ "identifier": { "system": ODS, "value": ods } }],
        "address": address,
        "header": "public",
        "period": { "start": "2025-01-01T00:00:00+00:00" }
    })
}

fn healthcare_service(ods: &str, service: &str, endpoints: &[&str]) -> Value {
    json!({
        "resourceType": "HealthcareService",
        "identifier": [{ "system": DOS, "value": service }],
        "active": true,
        "providedBy": [{ "identifier": { "system": ODS, "value": ods } }],
        "name": format!("Service {service}"),
        "endpoint": endpoints.iter().map(|id| json!({ "reference": format!("Endpoint/{id}") })).collect::<Vec<_>>()
    })
}

fn entries(bundle: &Value) -> Vec<&Value> {
    bundle["entry"]
        .as_array()
        .map(|e| e.iter().map(|e| &e["resource"]).collect())
        .unwrap_or_default()
}

on_both! {
    #[tokio::test]
    async fn services_and_endpoints_are_created_read_searched_updated_and_deleted(backend: Backend) {
        let db = database(backend).await;
        let epc = Epc::open(&db, Seed::default()).await;

        // Create (D19: 201 with Location and the first version).
        let created = epc
            .call(Method::POST, "/Endpoint", "RX1", Some(&endpoint("RX1", "1001", "https://rx1.example/fhir/")))
            .await;
        let e = created.ok(201).clone();
        let eid = e["id"].as_str().unwrap().to_string();
        assert_eq!(created.header("location"), Some(format!("{BASE}/Endpoint/{eid}").as_str()));
        assert_eq!(created.header("etag"), Some("W/\"1\""));
        assert_eq!(e["meta"]["versionId"], "1");
        assert_eq!(e["address"], "https://rx1.example/fhir");
        let s = epc
            .call(Method::POST, "/HealthcareService", "RX1", Some(&healthcare_service("RX1", "1001", &[&eid])))
            .await;
        let sid = s.ok(201)["id"].as_str().unwrap().to_string();
        assert_eq!(s.body["endpoint"][0]["reference"], format!("Endpoint/{eid}"));
        assert_eq!(s.body["providedBy"][0]["identifier"]["value"], "RX1");

        // Read.
        let read = epc.call(Method::GET, &format!("/HealthcareService/{sid}"), "RX2", None).await;
        assert_eq!(read.ok(200)["name"], "Service 1001");
        assert_eq!(read.header("etag"), Some("W/\"1\""));
        let read = epc.call(Method::GET, &format!("/Endpoint/{eid}"), "RX2", None).await;
        assert_eq!(read.ok(200)["address"], "https://rx1.example/fhir", "a public address is shown to all");

        // Search services: by identifier (any spelling of the system, or none), by provider.
        for query in [
            "HealthcareService.identifier=https%3A%2F%2Ffhir.nhs.uk%2FId%2Fdos-service-id%7C1001",
            "HealthcareService.identifier=http://FHIR.nhs.uk/id/dos-service-id|1001",
            "HealthcareService.identifier=1001",
            "HealthcareService.providedBy=https://fhir.nhs.uk/Id/ods-organization-code|RX1",
            "identifier=1001&active=true",
        ] {
            let found = epc.call(Method::GET, &format!("/HealthcareService?{query}"), "RX2", None).await;
            assert_eq!(found.ok(200)["total"], 1, "{query}");
            assert_eq!(entries(&found.body)[0]["id"], sid.as_str(), "{query}");
            assert_eq!(found.body["entry"][0]["fullUrl"], format!("{BASE}/HealthcareService/{sid}"));
        }
        let none = epc.call(Method::GET, "/HealthcareService?HealthcareService.identifier=1002", "RX2", None).await;
        assert_eq!(none.ok(200)["total"], 0);
        let none = epc.call(Method::GET, "/HealthcareService?HealthcareService.identifier=1001&HealthcareService.providedBy=RX2", "RX2", None).await;
        assert_eq!(none.ok(200)["total"], 0, "parameters are ANDed");
        // D18: no parameters is refused rather than answered with the whole catalogue.
        epc.call(Method::GET, "/HealthcareService", "RX2", None).await.refused(400, "SEND_BAD_REQUEST", "required");
        epc.call(Method::GET, "/Endpoint", "RX2", None).await.refused(400, "SEND_BAD_REQUEST", "required");

        // Search endpoints: through their service's identifier or id, or their own identifier.
        for query in [
            "_has:HealthcareService.Identifier=https://fhir.nhs.uk/Id/dos-service-id|1001".to_string(),
            "_has:HealthcareService:endpoint:identifier=1001".to_string(),
            format!("_has:HealthcareService.Id={sid}"),
            "Endpoint.identifier=https://fhir.nhs.uk/id/product-id|SupplierProduct-v2024.12.12".to_string(),
        ] {
            let found = epc.call(Method::GET, &format!("/Endpoint?{query}"), "RX2", None).await;
            assert_eq!(found.ok(200)["total"], 1, "{query}");
            assert_eq!(entries(&found.body)[0]["id"], eid.as_str());
        }

        // Update: the version moves on.
        let mut changed = e.clone();
        changed["name"] = json!("Renamed");
        let updated = epc.call(Method::PUT, &format!("/Endpoint/{eid}"), "RX1", Some(&changed)).await;
        assert_eq!(updated.ok(200)["name"], "Renamed");
        assert_eq!(updated.body["meta"]["versionId"], "2");
        assert_eq!(updated.header("etag"), Some("W/\"2\""));
        // Upsert: PUT to an id the catalogue does not hold creates it.
        let fresh_id = uuid::Uuid::new_v4().to_string();
        let upserted = epc
            .call(Method::PUT, &format!("/Endpoint/{fresh_id}"), "RX1", Some(&endpoint("RX1", "1001", "https://other.example")))
            .await;
        assert_eq!(upserted.ok(201)["id"], fresh_id.as_str());

        // Delete: the 200-Delete outcome; the service first (the endpoint is still in use).
        let deleted = epc.call(Method::DELETE, &format!("/HealthcareService/{sid}"), "RX1", None).await;
        assert_eq!(deleted.ok(200)["issue"][0]["details"]["coding"][0]["code"], "OK");
        assert_eq!(deleted.body["issue"][0]["severity"], "information");
        epc.call(Method::DELETE, &format!("/Endpoint/{eid}"), "RX1", None).await.ok(200);
        epc.call(Method::GET, &format!("/Endpoint/{eid}"), "RX1", None).await.refused(404, "PROXY_NOT_FOUND", "not-found");
        epc.call(Method::GET, &format!("/HealthcareService/{sid}"), "RX1", None).await.refused(404, "PROXY_NOT_FOUND", "not-found");
        epc.call(Method::DELETE, &format!("/Endpoint/{eid}"), "RX1", None).await.refused(404, "PROXY_NOT_FOUND", "not-found");
    }
}

on_both! {
    #[tokio::test]
    async fn templates_are_created_searched_replaced_and_deleted(backend: Backend) {
        let db = database(backend).await;
        let epc = Epc::open(&db, Seed::default()).await;
        let mut template = endpoint("RX1", "unused", "https://product.example/fhir");
        template["identifier"] = json!([{ "system": "https://fhir.nhs.uk/id/product-id", "value": "Product-1" }]);
        template.as_object_mut().unwrap().remove("period");
        let created = epc.call(Method::POST, "/Endpoint/$template", "RX1", Some(&template)).await;
        let id = created.ok(201)["id"].as_str().unwrap().to_string();
        assert_eq!(created.header("location"), Some(format!("{BASE}/Endpoint/{id}/$template").as_str()));
        // A template is not an Endpoint of a service.
        epc.call(Method::GET, &format!("/Endpoint/{id}"), "RX1", None).await.refused(404, "PROXY_NOT_FOUND", "not-found");
        for query in [
            "Endpoint.identifier=Product-1",
            // The examples query with https and store http: the same system.
            "ConnectionType=https://terminology.hl7.org/CodeSystem/endpoint-connection-type|hl7-fhir-rest",
            "PayloadType=https%3A%2F%2Fterminology.hl7.org%2FCodeSystem%2Fendpoint-payload-type%7Cbars",
        ] {
            let found = epc.call(Method::GET, &format!("/Endpoint/$template?{query}"), "RX2", None).await;
            assert_eq!(found.ok(200)["total"], 1, "{query}");
        }
        let found = epc.call(Method::GET, "/Endpoint/$template?ConnectionType=hl7-fhir-msg", "RX2", None).await;
        assert_eq!(found.ok(200)["total"], 0);
        epc.call(Method::GET, "/Endpoint/$template", "RX2", None).await.refused(400, "SEND_BAD_REQUEST", "required");

        let mut replaced = created.body.clone();
        replaced["address"] = json!("https://product.example/v2");
        let put = epc.call(Method::PUT, &format!("/Endpoint/{id}/$template"), "RX1", Some(&replaced)).await;
        assert_eq!(put.ok(200)["address"], "https://product.example/v2");
        epc.call(Method::PUT, &format!("/Endpoint/{id}/$template"), "RX2", Some(&replaced)).await.refused(403, "SEND_FORBIDDEN", "forbidden");
        epc.call(Method::DELETE, &format!("/Endpoint/{id}/$template"), "RX2", None).await.refused(403, "SEND_FORBIDDEN", "forbidden");
        epc.call(Method::DELETE, &format!("/Endpoint/{id}/$template"), "RX1", None).await.ok(200);
        let found = epc.call(Method::GET, "/Endpoint/$template?Endpoint.identifier=Product-1", "RX2", None).await;
        assert_eq!(found.ok(200)["total"], 0);
    }
}

on_both! {
    #[tokio::test]
    async fn a_private_address_is_shown_to_its_owner_only(backend: Backend) {
        let db = database(backend).await;
        let epc = Epc::open(&db, Seed::default()).await;
        let mut private = endpoint("RX1", "2001", "https://secret.example/fhir");
        private["header"] = json!("private");
        let created = epc.call(Method::POST, "/Endpoint", "RX1", Some(&private)).await;
        assert_eq!(created.ok(201)["address"], "https://secret.example/fhir", "the owner wrote it");
        let id = created.body["id"].as_str().unwrap().to_string();
        let mut template = private.clone();
        template.as_object_mut().unwrap().remove("period");
        epc.call(Method::POST, "/Endpoint/$template", "RX1", Some(&template)).await.ok(201);

        let reads = [
            format!("/Endpoint/{id}"),
            "/Endpoint?Endpoint.identifier=2001".to_string(),
            "/Endpoint/$template?Endpoint.identifier=2001".to_string(),
        ];
        for path in &reads {
            let owner = epc.call(Method::GET, path, "RX1", None).await;
            let theirs = if path.contains('?') { entries(owner.ok(200))[0].clone() } else { owner.ok(200).clone() };
            assert_eq!(theirs["address"], "https://secret.example/fhir", "{path}: the owner sees it");
            assert!(theirs["meta"].get("security").is_none());

            let other = epc.call(Method::GET, path, "RX2", None).await;
            let seen = if path.contains('?') { entries(other.ok(200))[0].clone() } else { other.ok(200).clone() };
            assert!(seen.get("address").is_none(), "{path}: hidden from others: {seen}");
            assert_eq!(seen["meta"]["security"][0]["code"], "REDACTED");
            assert_eq!(seen["header"], "private");
            assert_eq!(other.header("vary"), Some("authorization"));
        }
    }
}

on_both! {
    #[tokio::test]
    async fn only_the_owner_creates_changes_or_deletes(backend: Backend) {
        let db = database(backend).await;
        let epc = Epc::open(&db, Seed::default()).await;
        let (sid, eid) = epc.service("RX1", "3001", "https://rx1.example").await;
        let current = epc.call(Method::GET, &format!("/Endpoint/{eid}"), "RX1", None).await.body;
        let mut hijack = current.clone();
        hijack["address"] = json!("https://attacker.example");

        // Another organisation: 403 on every write, before anything else is looked at.
        epc.call(Method::PUT, &format!("/Endpoint/{eid}"), "RX2", Some(&hijack)).await.refused(403, "SEND_FORBIDDEN", "forbidden");
        epc.call(Method::DELETE, &format!("/Endpoint/{eid}"), "RX2", None).await.refused(403, "SEND_FORBIDDEN", "forbidden");
        let service = epc.call(Method::GET, &format!("/HealthcareService/{sid}"), "RX2", None).await.body;
        epc.call(Method::PUT, &format!("/HealthcareService/{sid}"), "RX2", Some(&service)).await.refused(403, "SEND_FORBIDDEN", "forbidden");
        epc.call(Method::DELETE, &format!("/HealthcareService/{sid}"), "RX2", None).await.refused(403, "SEND_FORBIDDEN", "forbidden");
        // Nor may it create records in another organisation's name.
        epc.call(Method::POST, "/Endpoint", "RX2", Some(&endpoint("RX1", "3002", "https://x.example"))).await.refused(403, "SEND_FORBIDDEN", "forbidden");
        // The header is the sender's word; the application's registration is the proxy's.
        epc.call_with(Method::PUT, &format!("/Endpoint/{eid}"), "RX2", Some(&hijack), |h| {
            h.insert("nhsd-end-user-organisation", encode_base64_json(&json!({
                "resourceType": "Organization", "identifier": [{ "system": ODS, "value": "RX1" }]
            })).parse().unwrap());
        }).await.refused(403, "SEND_FORBIDDEN", "forbidden");
        let unchanged = epc.call(Method::GET, &format!("/Endpoint/{eid}"), "RX1", None).await;
        assert_eq!(unchanged.body["address"], "https://rx1.example");
        assert_eq!(unchanged.body["meta"]["versionId"], "1");
        // The owner may.
        epc.call(Method::PUT, &format!("/Endpoint/{eid}"), "RX1", Some(&hijack)).await.ok(200);
    }
}

on_both! {
    #[tokio::test]
    async fn a_stale_update_is_refused(backend: Backend) {
        let db = database(backend).await;
        let epc = Epc::open(&db, Seed::default()).await;
        let (_, eid) = epc.service("RX1", "4001", "https://rx1.example").await;
        let path = format!("/Endpoint/{eid}");
        let v1 = epc.call(Method::GET, &path, "RX1", None).await.body;
        let mut first = v1.clone();
        first["name"] = json!("first");
        epc.call(Method::PUT, &path, "RX1", Some(&first)).await.ok(200);

        // The same read, applied again: its version is gone.
        let mut second = v1.clone();
        second["name"] = json!("second");
        epc.call(Method::PUT, &path, "RX1", Some(&second)).await.refused(409, "PROXY_CONFLICT", "conflict");
        // D22: a lastUpdated earlier than the stored one, without a version.
        second["meta"].as_object_mut().unwrap().remove("versionId");
        epc.call(Method::PUT, &path, "RX1", Some(&second)).await.refused(409, "PROXY_CONFLICT", "conflict");
        // If-Match naming the old version.
        let mut bare = second.clone();
        bare.as_object_mut().unwrap().remove("meta");
        epc.call_with(Method::PUT, &path, "RX1", Some(&bare), |h| {
            h.insert("if-match", "W/\"1\"".parse().unwrap());
        }).await.refused(409, "PROXY_CONFLICT", "conflict");
        // Nothing said about the version: it cannot be told from a stale update.
        epc.call(Method::PUT, &path, "RX1", Some(&bare)).await.refused(400, "SEND_BAD_REQUEST", "required");
        assert_eq!(epc.call(Method::GET, &path, "RX1", None).await.body["name"], "first");
        // The current version is accepted, by If-Match as by meta.
        epc.call_with(Method::PUT, &path, "RX1", Some(&bare), |h| {
            h.insert("if-match", "W/\"2\"".parse().unwrap());
        }).await.ok(200);
    }
}

on_both! {
    #[tokio::test]
    async fn duplicates_orphans_immutable_elements_and_status_coherence_are_refused(backend: Backend) {
        let db = database(backend).await;
        let epc = Epc::open(&db, Seed::default()).await;
        let (sid, eid) = epc.service("RX1", "5001", "https://rx1.example").await;
        let service = epc.call(Method::GET, &format!("/HealthcareService/{sid}"), "RX1", None).await.body;
        let current = epc.call(Method::GET, &format!("/Endpoint/{eid}"), "RX1", None).await.body;

        // D23 duplicate: a second BaRS endpoint of the same type for the service.
        let twin = epc.call(Method::POST, "/Endpoint", "RX1", Some(&endpoint("RX1", "5001", "https://twin.example"))).await;
        let twin_id = twin.ok(201)["id"].as_str().unwrap().to_string();
        let mut doubled = service.clone();
        doubled["endpoint"] = json!([{ "reference": format!("Endpoint/{eid}") }, { "reference": format!("Endpoint/{twin_id}") }]);
        epc.call(Method::PUT, &format!("/HealthcareService/{sid}"), "RX1", Some(&doubled)).await.refused(409, "PROXY_CONFLICT", "duplicate");
        // A reference to an Endpoint the catalogue does not hold.
        let mut dangling = service.clone();
        dangling["endpoint"] = json!([{ "reference": "Endpoint/no-such-endpoint" }]);
        epc.call(Method::PUT, &format!("/HealthcareService/{sid}"), "RX1", Some(&dangling)).await.refused(400, "SEND_BAD_REQUEST", "value");

        // D23 orphans: deleting an endpoint in use; leaving a service without a BaRS endpoint.
        epc.call(Method::DELETE, &format!("/Endpoint/{eid}"), "RX1", None).await.refused(409, "PROXY_CONFLICT", "conflict");
        let mut not_bars = endpoint("RX1", "5001", "https://msg.example");
        not_bars["payloadType"] = json!([{ "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/endpoint-payload-type", "code": "other" }] }]);
        let not_bars_id = epc.call(Method::POST, "/Endpoint", "RX1", Some(&not_bars)).await.ok(201)["id"].as_str().unwrap().to_string();
        let mut orphaned = service.clone();
        orphaned["endpoint"] = json!([{ "reference": format!("Endpoint/{not_bars_id}") }]);
        epc.call(Method::PUT, &format!("/HealthcareService/{sid}"), "RX1", Some(&orphaned)).await.refused(409, "PROXY_CONFLICT", "conflict");

        // D21 immutable elements.
        let mut renumbered = service.clone();
        renumbered["identifier"][0]["value"] = json!("5999");
        epc.call(Method::PUT, &format!("/HealthcareService/{sid}"), "RX1", Some(&renumbered)).await.refused(400, "SEND_BAD_REQUEST", "invariant");
        let mut given_away = current.clone();
        given_away["managingOrganization"] = json!([{ "identifier": { "system": ODS, "value": "RX2" } }]);
        epc.call(Method::PUT, &format!("/Endpoint/{eid}"), "RX1", Some(&given_away)).await.refused(400, "SEND_BAD_REQUEST", "invariant");

        // D21 status coherence: the active service's only BaRS endpoint cannot be switched off...
        let mut off = current.clone();
        off["status"] = json!("off");
        epc.call(Method::PUT, &format!("/Endpoint/{eid}"), "RX1", Some(&off)).await.refused(400, "SEND_BAD_REQUEST", "invariant");
        // ...until the service is inactive.
        let mut inactive = service.clone();
        inactive["active"] = json!(false);
        epc.call(Method::PUT, &format!("/HealthcareService/{sid}"), "RX1", Some(&inactive)).await.ok(200);
        epc.call(Method::PUT, &format!("/Endpoint/{eid}"), "RX1", Some(&off)).await.ok(200);
        // Bad bodies.
        let mut no_name = endpoint("RX1", "5002", "https://x.example");
        no_name.as_object_mut().unwrap().remove("name");
        epc.call(Method::POST, "/Endpoint", "RX1", Some(&no_name)).await.refused(400, "SEND_BAD_REQUEST", "required");
        let mut ownerless = endpoint("RX1", "5003", "https://x.example");
        ownerless.as_object_mut().unwrap().remove("managingOrganization");
        epc.call(Method::POST, "/Endpoint", "RX1", Some(&ownerless)).await.refused(400, "SEND_BAD_REQUEST", "required");
        epc.call(Method::POST, "/Endpoint", "RX1", Some(&json!({"resourceType": "Patient"}))).await.refused(400, "SEND_BAD_REQUEST", "structure");
    }
}

#[tokio::test]
async fn the_request_headers_of_the_catalogue_are_checked() {
    let db = database(Backend::Sqlite).await;
    let epc = Epc::open(&db, Seed::default()).await;
    let path = "/HealthcareService?HealthcareService.identifier=1";
    epc.call(Method::GET, path, "RX1", None).await.ok(200);
    let without = |name: &'static str| {
        move |h: &mut HeaderMap| {
            h.remove(name);
        }
    };
    epc.call_with(
        Method::GET,
        path,
        "RX1",
        None,
        without("nhsd-end-user-organisation"),
    )
    .await
    .refused(400, "SEND_BAD_REQUEST", "required");
    epc.call_with(Method::GET, path, "RX1", None, without("accept"))
        .await
        .refused(400, "SEND_BAD_REQUEST", "required");
    epc.call_with(Method::GET, path, "RX1", None, without("x-correlation-id"))
        .await
        .refused(400, "SEND_BAD_REQUEST", "required");
    epc.call_with(Method::GET, path, "RX1", None, |h| {
        h.insert("accept", "text/xml".parse().unwrap());
    })
    .await
    .refused(406, "SEND_NOT_ACCEPTABLE", "processing");
    epc.call_with(Method::GET, path, "RX1", None, |h| {
        h.insert("x-request-id", "not-a-uuid".parse().unwrap());
    })
    .await
    .refused(400, "SEND_BAD_REQUEST", "value");
    epc.call_with(Method::GET, path, "RX1", None, |h| {
        h.insert("nhsd-end-user-organisation", "%%%".parse().unwrap());
    })
    .await
    .refused(400, "SEND_BAD_REQUEST", "value");
    // No version in Accept is needed (D14), and one is not refused either.
    epc.call_with(Method::GET, path, "RX1", None, |h| {
        h.insert(
            "accept",
            "application/fhir+json; version=1.5.0".parse().unwrap(),
        );
    })
    .await
    .ok(200);
    // A token is needed like everywhere else.
    epc.call_with(Method::GET, path, "RX1", None, without("authorization"))
        .await
        .refused(401, "SEND_UNAUTHORIZED", "unknown");
}

/// A stand-in receiver that says which one it is and what it was asked.
async fn upstream(name: &'static str) -> RunningServer {
    let app = Router::new().fallback(move |uri: http::Uri| async move {
        bars_http::fhir_json::fhir_json(
            StatusCode::OK,
            &json!({ "upstream": name, "path": uri.to_string() }),
        )
    });
    RunningServer::start(
        "127.0.0.1:0".parse().unwrap(),
        app,
        ServerOptions::default(),
    )
    .await
    .unwrap()
}

impl Epc {
    async fn routed(&self, service: &str) -> Answer {
        let target = TargetIdentifier::dos(service).encode();
        self.call_with(Method::GET, "/Slot?status=free", "RX2", None, |h| {
            h.insert("nhsd-target-identifier", target.parse().unwrap());
        })
        .await
    }
}

on_both! {
    #[tokio::test]
    async fn requests_are_routed_by_the_catalogue(backend: Backend) {
        let db = database(backend).await;
        let (a, b) = (upstream("a").await, upstream("b").await);
        let epc = Epc::open(&db, Seed::default()).await;
        let (sid, eid) = epc.service("RX1", "6001", &format!("http://{}/base/", a.addr)).await;

        // TI -> HealthcareService -> active BaRS Endpoint -> address (path and query kept).
        let r = epc.routed("6001").await;
        assert_eq!(r.ok(200)["upstream"], "a");
        assert_eq!(r.body["path"], "/base/Slot?status=free");

        // An update through the API moves the traffic at once.
        let mut moved = epc.call(Method::GET, &format!("/Endpoint/{eid}"), "RX1", None).await.body;
        moved["address"] = json!(format!("http://{}", b.addr));
        // A private address still routes: privacy limits what callers read, not where calls go.
        moved["header"] = json!("private");
        epc.call(Method::PUT, &format!("/Endpoint/{eid}"), "RX1", Some(&moved)).await.ok(200);
        assert_eq!(epc.routed("6001").await.ok(200)["upstream"], "b");

        // Not in the catalogue: 404 PROXY_NOT_FOUND.
        epc.routed("6999").await.refused(404, "PROXY_NOT_FOUND", "not-found");

        // Two active BaRS endpoints for one target: 404 NOT_FOUND multiple-matches (D24).
        let (other_sid, other_eid) = epc.service("RX2", "6001", &format!("http://{}", a.addr)).await;
        epc.routed("6001").await.refused(404, "NOT_FOUND", "multiple-matches");

        // Only active endpoints within their period count: one not yet started leaves one.
        let other_service = epc.call(Method::GET, &format!("/HealthcareService/{other_sid}"), "RX2", None).await.body;
        let mut paused = other_service.clone();
        paused["active"] = json!(false);
        epc.call(Method::PUT, &format!("/HealthcareService/{other_sid}"), "RX2", Some(&paused)).await.ok(200);
        let mut later = epc.call(Method::GET, &format!("/Endpoint/{other_eid}"), "RX2", None).await.body;
        later["period"] = json!({ "start": "2099-01-01T00:00:00Z" });
        epc.call(Method::PUT, &format!("/Endpoint/{other_eid}"), "RX2", Some(&later)).await.ok(200);
        paused["active"] = json!(true);
        paused["meta"] = Value::Null;
        let current = epc.call(Method::GET, &format!("/HealthcareService/{other_sid}"), "RX2", None).await.body;
        paused["meta"] = current["meta"].clone();
        // An active service whose only endpoint has not started is still coherent (its status
        // is active); routing skips the endpoint.
        epc.call(Method::PUT, &format!("/HealthcareService/{other_sid}"), "RX2", Some(&paused)).await.ok(200);
        assert_eq!(epc.routed("6001").await.ok(200)["upstream"], "b");

        // An inactive service is not routed to.
        let mut off = epc.call(Method::GET, &format!("/HealthcareService/{sid}"), "RX1", None).await.body;
        off["active"] = json!(false);
        epc.call(Method::PUT, &format!("/HealthcareService/{sid}"), "RX1", Some(&off)).await.ok(200);
        epc.routed("6001").await.refused(404, "PROXY_NOT_FOUND", "not-found");
        a.shutdown().await;
        b.shutdown().await;
    }
}

on_both! {
    #[tokio::test]
    async fn the_catalogue_survives_a_restart_and_the_file_still_seeds_it(backend: Backend) {
        let db = database(backend).await;
        let a = upstream("a").await;
        let seed = || Seed {
            endpoints: vec![Endpoint {
                system: DOS.into(),
                value: "7000".into(),
                name: "Seeded".into(),
                url: format!("http://{}", a.addr),
                ods_code: Some("RX1".into()),
            }],
            applications: vec![],
        };
        let first = Epc::open(&db, seed()).await;
        // The file's entry is a HealthcareService and its Endpoint, owned by its ODS code.
        let seeded = first.call(Method::GET, "/HealthcareService?HealthcareService.identifier=7000", "RX2", None).await;
        let seeded_service = entries(seeded.ok(200))[0].clone();
        assert_eq!(seeded_service["providedBy"][0]["identifier"]["value"], "RX1");
        assert_eq!(first.routed("7000").await.ok(200)["upstream"], "a");
        let (sid, eid) = first.service("RX1", "7001", &format!("http://{}", a.addr)).await;
        let mut renamed = first.call(Method::GET, &format!("/Endpoint/{eid}"), "RX1", None).await.body;
        renamed["name"] = json!("kept");
        first.call(Method::PUT, &format!("/Endpoint/{eid}"), "RX1", Some(&renamed)).await.ok(200);
        drop(first);

        let second = Epc::open(&db, seed()).await;
        let read = second.call(Method::GET, &format!("/Endpoint/{eid}"), "RX1", None).await;
        assert_eq!(read.ok(200)["name"], "kept");
        assert_eq!(read.body["meta"]["versionId"], "2");
        second.call(Method::GET, &format!("/HealthcareService/{sid}"), "RX1", None).await.ok(200);
        assert_eq!(second.routed("7001").await.ok(200)["upstream"], "a");
        assert_eq!(second.routed("7000").await.ok(200)["upstream"], "a");
        // The unchanged file did not write the seeded records again.
        let again = second.call(Method::GET, &format!("/HealthcareService/{}", seeded_service["id"].as_str().unwrap()), "RX2", None).await;
        assert_eq!(again.ok(200)["meta"], seeded_service["meta"]);
        drop(second);
        a.shutdown().await;
    }
}

on_both! {
    #[tokio::test]
    async fn a_database_from_before_the_catalogue_is_converted(backend: Backend) {
        let db = database(backend).await;
        // The proxy's schema as it was: endpoints one URL per target.
        drop(open_store(&db.url()).await.unwrap());
        db.execute(
            "INSERT INTO proxy_endpoint (system, value, name, url, ods_code) VALUES ($1, $2, $3, $4, $5)",
            &[DOS, "8001", "Old", "http://old.example/", "RX1"],
        )
        .await;
        let epc = Epc::open(&db, Seed::default()).await;
        let found = epc.call(Method::GET, "/HealthcareService?HealthcareService.identifier=8001", "RX1", None).await;
        assert_eq!(entries(found.ok(200))[0]["name"], "Old");
        assert_eq!(db.scalar("SELECT COUNT(*) FROM proxy_endpoint").await, 0);
        assert_eq!(
            epc.proxy.state.catalogue.list(),
            vec![Endpoint { system: DOS.into(), value: "8001".into(), name: "Old".into(), url: "http://old.example".into(), ods_code: Some("RX1".into()) }]
        );
    }
}

#[test]
fn the_ig_shape_is_read_and_the_oas_shape_written() {
    let ig = json!({
        "resourceType": "Endpoint",
        "identifier": [{ "system": "http://fhir.nhs.uk/Id/product-id", "value": "P1" }],
        "status": "active",
        "connectionType": [{ "valueCodeableConcept": { "coding": [{ "system": "https://fhir.nhs.uk/CodeSystem/ConnectionTypes", "code": "BARS", "display": "Booking And Referrals Standard" }], "text": "Booking and Referrals" } }],
        "name": "IG shaped",
        "managingOrganization": { "reference": "Organization/RX1" },
        "address": "https://rx.example/",
        "header": ["private"],
        "Period": { "Start": "2025-01-01" }
    });
    let parsed = super::shape::endpoint(&ig, super::record::Kind::Endpoint)
        .unwrap()
        .record;
    let out = parsed.body();
    assert_eq!(
        out["identifier"][0]["system"],
        "https://fhir.nhs.uk/id/product-id"
    );
    assert_eq!(out["connectionType"]["coding"][0]["code"], "hl7-fhir-rest");
    assert_eq!(out["payloadType"][0]["coding"][0]["code"], "bars");
    assert_eq!(out["managingOrganization"][0]["identifier"]["value"], "RX1");
    assert_eq!(out["header"], "private");
    assert_eq!(out["period"]["start"], "2025-01-01");
    assert!(parsed.routable_at(bars_fhir::instant::Instant::now()));
    let r4 = json!({
        "resourceType": "HealthcareService",
        "identifier": [{ "system": DOS, "value": "1" }],
        "active": true,
        "providedBy": { "identifier": { "system": ODS, "value": "RX1" } },
        "name": "R4 shaped",
        "endpoint": [{ "reference": "https://proxy.example/Endpoint/e1" }, { "reference": "urn:uuid:e2" }]
    });
    let parsed = super::shape::service(&r4).unwrap().record;
    assert_eq!(parsed.endpoints, ["e1", "e2"]);
    assert_eq!(parsed.body()["providedBy"][0]["identifier"]["value"], "RX1");
}

on_both! {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_proxies_racing_never_leave_a_service_without_its_endpoint(backend: Backend) {
        let db = database(backend).await;
        let here = Arc::new(Epc::open(&db, Seed::default()).await);
        let there = Arc::new(Epc::open(&db, Seed::default()).await);
        for round in 0..8 {
            let service = format!("90{round:02}");
            let e = here
                .call(Method::POST, "/Endpoint", "RX1", Some(&endpoint("RX1", &service, "https://rx.example")))
                .await;
            let eid = e.ok(201)["id"].as_str().unwrap().to_string();
            // One proxy deletes the endpoint while the other lists a service that uses it.
            let barrier = Arc::new(tokio::sync::Barrier::new(2));
            let delete = {
                let (epc, barrier, eid) = (here.clone(), barrier.clone(), eid.clone());
                tokio::spawn(async move {
                    barrier.wait().await;
                    epc.call(Method::DELETE, &format!("/Endpoint/{eid}"), "RX1", None).await.status
                })
            };
            let create = {
                let (epc, barrier) = (there.clone(), barrier.clone());
                let body = healthcare_service("RX1", &service, &[&eid]);
                tokio::spawn(async move {
                    barrier.wait().await;
                    epc.call(Method::POST, "/HealthcareService", "RX1", Some(&body)).await.status
                })
            };
            let (deleted, created) = (delete.await.unwrap(), create.await.unwrap());
            assert!(
                deleted.is_success() != created.is_success(),
                "round {round}: exactly one of the two may win (deleted {deleted}, created {created})"
            );
            // Whatever won, the catalogue holds together: a service's endpoint exists.
            let found = here
                .call(Method::GET, &format!("/HealthcareService?HealthcareService.identifier={service}"), "RX1", None)
                .await;
            for s in entries(found.ok(200)) {
                let reference = s["endpoint"][0]["reference"].as_str().unwrap();
                here.call(Method::GET, &format!("/{reference}"), "RX1", None).await.ok(200);
            }
        }
    }
}

on_both! {
    #[tokio::test]
    async fn a_catalogue_admin_application_changes_any_record(backend: Backend) {
        let db = database(backend).await;
        let mut config = ProxyConfig::new(BASE, "http://registry.invalid");
        config.catalogue_admins = vec!["nhse-app".into()];
        let epc = Epc::open_with(&db, Seed::default(), config).await;
        let mut private = endpoint("RX1", "9901", "https://rx1.example");
        private["header"] = json!("private");
        let eid = epc.call(Method::POST, "/Endpoint", "RX1", Some(&private)).await.ok(201)["id"]
            .as_str()
            .unwrap()
            .to_string();
        // The admin reads the private address and changes the record it does not own...
        let mut read = epc.call(Method::GET, &format!("/Endpoint/{eid}"), "NHSE", None).await;
        assert_eq!(read.ok(200)["address"], "https://rx1.example");
        read.body["address"] = json!("https://moved.example");
        epc.call(Method::PUT, &format!("/Endpoint/{eid}"), "NHSE", Some(&read.body)).await.ok(200);
        // ...which another organisation's application may not.
        let mut theirs = epc.call(Method::GET, &format!("/Endpoint/{eid}"), "RX2", None).await.body;
        theirs["name"] = json!("not theirs");
        epc.call(Method::PUT, &format!("/Endpoint/{eid}"), "RX2", Some(&theirs)).await.refused(403, "SEND_FORBIDDEN", "forbidden");
        epc.call(Method::DELETE, &format!("/Endpoint/{eid}"), "NHSE", None).await.ok(200);
    }
}
