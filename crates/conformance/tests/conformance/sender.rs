//! Sender mode proved both ways: our own SDK, driven through book, update, reschedule, cancel,
//! rebook, a replayed booking and the toolkit's sentinels, passes every sender check; two
//! deliberately careless senders fail exactly the checks their carelessness breaks, and
//! between them every sender check fails at least once.

use std::collections::BTreeSet;
use std::time::Duration;

use bars_client::workflows::{BookingDetails, booking};
use bars_client::{
    BarsClient, Call, Credentials, RetryPolicy, SenderIdentity, TokenSource, sign_client_assertion,
};
use bars_conformance::Report;
use bars_conformance::sender::{SenderStack, SenderStackSpec, grade};
use bars_fhir::headers::{TargetIdentifier, encode_base64_json};
use bars_fhir::{Instant, NhsNumber};
use bars_http::client::HttpClient;
use bytes::Bytes;
use http::Method;
use serde_json::{Value, json};

const SERVICE: &str = "2000011111";
const TIMES_OUT: &str = "2000081230";
const PATIENT: &str = "9434765919";

struct Run {
    stack: SenderStack,
    _dir: tempfile::TempDir,
}

impl Run {
    async fn start() -> Run {
        let dir = tempfile::tempdir().unwrap();
        let today = jiff::Timestamp::now()
            .to_zoned(jiff::tz::TimeZone::UTC)
            .date();
        let stack = SenderStack::start(SenderStackSpec::new(dir.path().to_path_buf(), today))
            .await
            .unwrap();
        Run { stack, _dir: dir }
    }

    fn http(&self) -> HttpClient {
        self.stack.stack.http(Duration::from_secs(30)).unwrap()
    }

    fn credentials(&self) -> Credentials {
        let s = &self.stack.stack.sender;
        Credentials::from_key(
            &s.client_id,
            &s.key_id,
            s.private_pem.clone(),
            &s.token_url,
            None,
        )
        .unwrap()
    }

    fn identity(&self) -> SenderIdentity {
        let s = &self.stack.stack.sender;
        SenderIdentity::new(&s.ods, &s.name)
    }

    /// Grades the session and stops the stack.
    async fn grade(self) -> Report {
        let s = self.stack.stack.sender.clone();
        let report = grade(&self.stack.recorder, &s.client_id, &s.token_url);
        self.stack.stop().await;
        report
    }
}

/// Tomorrow, the whole day (UTC): the stack publishes slots there.
fn tomorrow() -> (Instant, Instant) {
    let today = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date();
    let day = today.tomorrow().unwrap();
    let start = day.to_zoned(jiff::tz::TimeZone::UTC).unwrap().timestamp();
    let from = Instant::from_timestamp(start).unwrap();
    (from, from.plus_seconds(24 * 3600 - 1))
}

fn failed(report: &Report) -> BTreeSet<&'static str> {
    report.failed().into_iter().collect()
}

fn lines(report: &Report) -> String {
    report
        .results
        .iter()
        .map(|r| r.line())
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_sdk_passes_every_sender_check() {
    let run = Run::start().await;
    let http = run.http();
    let client = BarsClient::new(
        http.clone(),
        &run.stack.stack.proxy_url,
        TokenSource::new(run.credentials(), http),
        run.identity(),
    )
    .with_retry(RetryPolicy {
        attempts: 3,
        initial_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_millis(100),
    });
    let service = TargetIdentifier::dos(SERVICE);
    let patient = NhsNumber::parse(PATIENT).unwrap();
    let (from, to) = tomorrow();
    let slots = client.slots(&service, from, to, "free").await.unwrap();
    assert!(slots.len() > 8, "{} slots", slots.len());

    // Book, view, update, reschedule, cancel.
    let booked = client
        .book(&service, &slots[0], &patient, &BookingDetails::default())
        .await
        .unwrap();
    let id = booked["id"].as_str().unwrap().to_string();
    client.view(&service, &id).await.unwrap();
    client
        .update(&service, &id, |a| {
            a["reasonCode"] = json!([{ "text": "Swelling worse" }])
        })
        .await
        .unwrap();
    client.reschedule(&service, &id, &slots[1]).await.unwrap();
    client.cancel(&service, &id, false, None).await.unwrap();

    // Book and rebook.
    let second = client
        .book(&service, &slots[2], &patient, &BookingDetails::default())
        .await
        .unwrap();
    let (_, old) = client
        .rebook(&service, second["id"].as_str().unwrap(), &slots[3])
        .await
        .unwrap();
    assert_eq!(old["status"], "cancelled");

    // An application retrying a booking whose answer it lost: the same ids, a duplicate, and
    // the SDK fetches the booking instead of sending it again.
    let call = Call::new(Method::POST, "/Appointment")
        .to(&service)
        .fhir(&booking(&slots[4], &patient, &BookingDetails::default()));
    let first = client.book_with(&service, &call).await.unwrap();
    let again = client.book_with(&service, &call).await.unwrap();
    assert_eq!(first["id"], again["id"]);

    // The toolkit's sentinels: a service that always times out (retried with the same ids)
    // and a patient whose booking always conflicts.
    let refused = client
        .slots(&TargetIdentifier::dos(TIMES_OUT), from, to, "free")
        .await
        .unwrap_err();
    assert_eq!(refused.status(), Some(408), "{refused:?}");
    let conflict = client
        .book(
            &service,
            &slots[5],
            &NhsNumber::parse("9658499023").unwrap(),
            &BookingDetails::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(conflict.status(), Some(409), "{conflict:?}");

    let report = run.grade().await;
    let not_passed: Vec<String> = report
        .results
        .iter()
        .filter(|r| r.outcome.label() != "passed")
        .map(|r| r.line())
        .collect();
    assert!(
        not_passed.is_empty(),
        "our SDK did not pass every sender check:\n{}",
        not_passed.join("\n")
    );
    assert!(report.conformant());
    // The evidence never shows a token or an assertion.
    let json = report.json();
    assert!(
        !json.contains("Bearer ey"),
        "a token leaked into the evidence"
    );
    assert!(json.contains("[redacted: token 1]"), "tokens are not named");
    assert!(
        !json.contains("client_assertion=ey"),
        "an assertion leaked into the evidence"
    );
}

/// A sender written by hand, getting everything right unless told otherwise.
struct Raw {
    http: HttpClient,
    base: String,
    token_url: String,
    credentials: Credentials,
    identity: SenderIdentity,
    token: String,
}

/// One hand-made request.
struct Req {
    method: Method,
    path: String,
    target: Option<String>,
    body: Option<Value>,
    headers: Vec<(&'static str, String)>,
}

impl Req {
    fn new(method: Method, path: impl Into<String>) -> Req {
        Req {
            method,
            path: path.into(),
            target: Some(TargetIdentifier::dos(SERVICE).encode()),
            body: None,
            headers: vec![
                ("x-request-id", uuid::Uuid::new_v4().to_string()),
                ("x-correlation-id", uuid::Uuid::new_v4().to_string()),
                ("accept", "application/fhir+json; version=1.1.0".into()),
            ],
        }
    }

    fn get(path: impl Into<String>) -> Req {
        Req::new(Method::GET, path)
    }

    fn at(mut self, service: &str) -> Req {
        self.target = Some(TargetIdentifier::dos(service).encode());
        self
    }

    fn target(mut self, raw: &str) -> Req {
        self.target = Some(raw.to_string());
        self
    }

    fn header(mut self, name: &'static str, value: &str) -> Req {
        self.headers.retain(|(k, _)| *k != name);
        if !value.is_empty() {
            self.headers.push((name, value.to_string()));
        }
        self
    }

    fn ids(self, request: &str, correlation: &str) -> Req {
        self.header("x-request-id", request)
            .header("x-correlation-id", correlation)
    }

    fn json(mut self, body: Value) -> Req {
        self.body = Some(body);
        self
    }
}

impl Run {
    async fn raw(&self) -> Raw {
        let mut raw = self.raw_without_token();
        raw.login().await;
        raw
    }

    /// A hand-made sender that has not asked for a token yet.
    fn raw_without_token(&self) -> Raw {
        let s = &self.stack.stack.sender;
        Raw {
            http: self.http(),
            base: self.stack.stack.proxy_url.clone(),
            token_url: s.token_url.clone(),
            credentials: self.credentials(),
            identity: self.identity(),
            token: String::new(),
        }
    }
}

impl Raw {
    async fn login(&mut self) {
        let assertion = self.assertion(60);
        self.token = self.token_for(&assertion).await.unwrap();
    }

    fn assertion(&self, lifetime: u64) -> String {
        let c = &self.credentials;
        sign_client_assertion(
            &c.client_id,
            &c.kid,
            &c.algorithm,
            &c.private_pem,
            &self.token_url,
            Duration::from_secs(lifetime),
        )
        .unwrap()
    }

    /// Posts an assertion to the token endpoint; the token when one was issued.
    async fn token_for(&self, assertion: &str) -> Option<String> {
        let form = format!(
            "grant_type=client_credentials&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion={assertion}"
        );
        let r = self
            .http
            .call(
                Method::POST,
                &self.token_url,
                &[(
                    "content-type",
                    "application/x-www-form-urlencoded".to_string(),
                )],
                Some(Bytes::from(form)),
            )
            .await
            .unwrap();
        r.json()
            .and_then(|v| v["access_token"].as_str().map(str::to_string))
    }

    async fn send(&self, req: Req) -> (u16, Value, Option<String>) {
        let mut headers: Vec<(&str, String)> =
            vec![("authorization", format!("Bearer {}", self.token))];
        headers.extend(self.identity.headers());
        if let Some(t) = &req.target {
            headers.push(("nhsd-target-identifier", t.clone()));
        }
        if req.body.is_some() {
            headers.push(("content-type", "application/fhir+json".into()));
        }
        for (k, v) in &req.headers {
            headers.retain(|(h, _)| h != k);
            headers.push((k, v.clone()));
        }
        let r = self
            .http
            .call(
                req.method,
                &format!("{}{}", self.base, req.path),
                &headers,
                req.body.map(|b| Bytes::from(b.to_string())),
            )
            .await
            .unwrap();
        (
            r.status.as_u16(),
            r.json().unwrap_or(Value::Null),
            r.header("etag").map(str::to_string),
        )
    }

    /// Free slots at our service tomorrow, from a proper search.
    async fn search(&self) -> Vec<Value> {
        let (from, to) = tomorrow();
        let path = format!(
            "/Slot?Schedule.actor:HealthcareService={SERVICE}&status=free&start=ge{}&start=le{}&_include=Slot:schedule&_include=Schedule:actor:HealthcareService",
            from.with_fraction_digits(0),
            to.with_fraction_digits(0)
        )
        .replace('+', "%2B");
        let (status, bundle, _) = self.send(Req::get(path)).await;
        assert_eq!(status, 200, "{bundle}");
        bundle["entry"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["resource"]["resourceType"] == "Slot")
            .map(|e| e["resource"].clone())
            .collect()
    }
}

fn appointment(slot: &str, start_end: Option<(&Value, &Value)>) -> Value {
    let mut a = json!({
        "resourceType": "Appointment",
        "meta": { "profile": ["https://fhir.hl7.org.uk/StructureDefinition/UKCore-Appointment"] },
        "status": "booked",
        "slot": [{ "reference": format!("Slot/{slot}") }],
        "participant": [{
            "actor": { "type": "Patient", "identifier": { "system": "https://fhir.nhs.uk/Id/nhs-number", "value": PATIENT } },
            "status": "accepted"
        }]
    });
    if let Some((start, end)) = start_end {
        a["start"] = start.clone();
        a["end"] = end.clone();
    }
    a
}

/// Books a searched slot properly; the Appointment as answered.
async fn book(raw: &Raw, slot: &Value, request: Option<(&str, &str)>) -> (u16, Value) {
    let mut req = Req::new(Method::POST, "/Appointment").json(appointment(
        slot["id"].as_str().unwrap(),
        Some((&slot["start"], &slot["end"])),
    ));
    if let Some((r, c)) = request {
        req = req.ids(r, c);
    }
    let (status, body, _) = raw.send(req).await;
    (status, body)
}

/// No read before write, no If-Match, a change under a new correlation id, a duplicate sent
/// again, a retry under new ids, a second token while the first was good, a jti used twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_careless_workflow_fails_exactly_its_checks() {
    let run = Run::start().await;
    let raw = run.raw().await;
    let slots = raw.search().await;

    // A change straight after booking, without a read and without If-Match.
    let (status, booked) = book(&raw, &slots[0], None).await;
    assert_eq!(status, 201, "{booked}");
    let id = booked["id"].as_str().unwrap();
    let mut changed = booked.clone();
    changed["description"] = json!("changed without reading");
    let (status, body, _) = raw
        .send(Req::new(Method::PUT, format!("/Appointment/{id}")).json(changed))
        .await;
    assert_eq!(status, 200, "{body}");

    // A read, then the change under another correlation id.
    let (_, current, etag) = raw
        .send(
            Req::get(format!("/Appointment/{id}"))
                .ids(&uuid(), "8c1f9d3e-1111-4a55-9b1e-000000000001"),
        )
        .await;
    let mut changed = current.clone();
    changed["description"] = json!("changed in another conversation");
    let (status, body, _) = raw
        .send(
            Req::new(Method::PUT, format!("/Appointment/{id}"))
                .header("if-match", etag.as_deref().unwrap())
                .ids(&uuid(), "8c1f9d3e-2222-4a55-9b1e-000000000002")
                .json(changed),
        )
        .await;
    assert_eq!(status, 200, "{body}");

    // A booking sent three times with the same ids: the third despite the 409 duplicate.
    let (r, c) = (uuid(), uuid());
    let (status, _) = book(&raw, &slots[1], Some((&r, &c))).await;
    assert_eq!(status, 201);
    for _ in 0..2 {
        let (status, body) = book(&raw, &slots[1], Some((&r, &c))).await;
        assert_eq!(status, 409, "{body}");
    }

    // A timeout, retried under new ids.
    for _ in 0..2 {
        let (status, body, _) = raw.send(Req::get("/metadata").at(TIMES_OUT)).await;
        assert_eq!(status, 408, "{body}");
    }

    // A second token while the first is good, with the first assertion again (refused).
    let first = raw.assertion(60);
    assert!(raw.token_for(&first).await.is_some());
    assert!(
        raw.token_for(&first).await.is_none(),
        "a replayed assertion was accepted"
    );

    let report = run.grade().await;
    let expected: BTreeSet<&str> = [
        "SND-RBW-001",
        "SND-RBW-002",
        "SND-ID-004",
        "SND-RETRY-001",
        "SND-RETRY-002",
        "SND-TOK-001",
        "SND-JWT-002",
    ]
    .into();
    assert_eq!(failed(&report), expected, "\n{}", lines(&report));
}

fn uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Headers and ids made carelessly: an assertion that lives an hour, no version in Accept, a
/// target not Base64, a request id that is no UUID, no correlation id, a request id used for
/// two requests, an organisation without a name, and a slot no search answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn careless_headers_fail_exactly_their_checks() {
    let run = Run::start().await;
    let mut raw = run.raw_without_token();
    // Its first assertion lives an hour (refused); the second is right.
    let long = raw.assertion(3600);
    assert!(
        raw.token_for(&long).await.is_none(),
        "an hour-long assertion was accepted"
    );
    raw.login().await;
    let slots = raw.search().await;
    assert!(!slots.is_empty());

    let sends = [
        Req::get("/metadata").header("accept", "application/fhir+json"),
        Req::get("/metadata").target(r#"{"system":"https://fhir.nhs.uk/Id/dos-service-id","value":"2000011111"}"#),
        Req::get("/metadata").header("x-request-id", "not-a-uuid"),
        Req::get("/metadata").header("x-correlation-id", ""),
        Req::get("/metadata").header(
            "nhsd-end-user-organisation",
            &encode_base64_json(&json!({ "resourceType": "Organization", "identifier": [{ "system": "https://fhir.nhs.uk/Id/ods-organization-code", "value": "A1001" }] })),
        ),
    ];
    for req in sends {
        raw.send(req).await;
    }
    let shared = uuid();
    raw.send(Req::get("/metadata").header("x-request-id", &shared))
        .await;
    raw.send(
        Req::get("/Appointment?patient:identifier=https://fhir.nhs.uk/Id/nhs-number%7C9434765919")
            .header("x-request-id", &shared),
    )
    .await;
    let (status, body, _) = raw
        .send(Req::new(Method::POST, "/Appointment").json(appointment(&uuid(), None)))
        .await;
    assert!(status >= 400, "{body}");

    let report = run.grade().await;
    let expected: BTreeSet<&str> = [
        "SND-JWT-001",
        "SND-HDR-001",
        "SND-HDR-002",
        "SND-HDR-003",
        "SND-ID-001",
        "SND-ID-002",
        "SND-ID-003",
        "SND-SLOT-001",
    ]
    .into();
    assert_eq!(failed(&report), expected, "\n{}", lines(&report));
}

/// The two careless senders above fail, between them, every sender check (so each can fail).
#[test]
fn every_sender_check_is_failed_by_a_careless_sender() {
    let covered: BTreeSet<&str> = [
        "SND-RBW-001",
        "SND-RBW-002",
        "SND-ID-004",
        "SND-RETRY-001",
        "SND-RETRY-002",
        "SND-TOK-001",
        "SND-JWT-002",
        "SND-JWT-001",
        "SND-HDR-001",
        "SND-HDR-002",
        "SND-HDR-003",
        "SND-ID-001",
        "SND-ID-002",
        "SND-ID-003",
        "SND-SLOT-001",
    ]
    .into();
    let all: BTreeSet<&str> = bars_conformance::sender::checks::all()
        .iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(
        all.difference(&covered).collect::<Vec<_>>(),
        Vec::<&&str>::new(),
        "sender checks no careless sender fails"
    );
}

/// The toolkit's sentinels answer through the proxy as TKW documents, with the ids echoed;
/// an ordinary patient books as usual.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sentinels_answer_as_the_toolkit_does() {
    let run = Run::start().await;
    let raw = run.raw().await;
    let slots = raw.search().await;
    let slot = &slots[0];
    for (nhs, status, code) in [
        ("9658499015", 404, "REC_NOT_FOUND"),
        ("9658499023", 409, "REC_CONFLICT"),
        ("9658499031", 422, "REC_UNPROCESSABLE_ENTITY"),
    ] {
        let mut a = appointment(
            slot["id"].as_str().unwrap(),
            Some((&slot["start"], &slot["end"])),
        );
        a["participant"][0]["actor"]["identifier"]["value"] = json!(nhs);
        let (got, body, _) = raw
            .send(Req::new(Method::POST, "/Appointment").json(a))
            .await;
        assert_eq!(got, status, "{nhs}: {body}");
        assert_eq!(
            body["issue"][0]["details"]["coding"][0]["code"], code,
            "{body}"
        );
    }
    let (got, body, _) = raw.send(Req::get("/metadata").at(TIMES_OUT)).await;
    assert_eq!(
        (
            got,
            body["issue"][0]["details"]["coding"][0]["code"].as_str()
        ),
        (408, Some("REC_TIMEOUT")),
        "{body}"
    );
    let (got, body) = book(&raw, &slots[0], None).await;
    assert_eq!(got, 201, "an ordinary booking of the same slot: {body}");
    let report = run.grade().await;
    // The sentinel answers are the sender's evidence like any other, ids echoed.
    let json = report.json();
    assert!(json.contains("TKW sentinel"), "{json}");
}
