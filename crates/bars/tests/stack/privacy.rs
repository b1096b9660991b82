//! Privacy and secrets, on real `bars` processes: after a workload (book, view, update,
//! cancel, searches naming the patient, refusals whose bodies carry the patient's NHS number,
//! name and date of birth, Registry pointer writes, a replayed client assertion, admin calls
//! with right and wrong tokens, database URLs with a password: the receiver's own on PostgreSQL
//! when there is a test server, and one that cannot be reached), no NHS number, name or date of
//! birth is in any role's log (JSON or human), in an OperationOutcome's diagnostics or in
//! `/metrics`; nor is a client assertion, an access token, a private key, an admin token or a
//! database password in any log.

use std::time::Duration;

use bars_http::client::ClientResponse;
use bytes::Bytes;
use http::Method;
use serde_json::{Value, json};

use bars_store::testing::{PgTestSchema, note_skipped};

use crate::kit::{OTHER_PATIENT, PATIENT, appointment_for, bars_headers};
use crate::processes::{Proc, ProcessOptions, ProcessStack, free_port};

/// Patient data the workloads send (here and in `operations`' request-log test): the
/// patient's NHS number, a malformed one, the other patient's, a name and a date of birth.
pub const PATIENT_DATA: [&str; 6] = [
    PATIENT,
    "9434765918",
    OTHER_PATIENT,
    "Testpatient",
    "Alexandra",
    "1987-06-05",
];

/// What a workload did, for the checks after it.
pub struct Workload {
    /// The appointment booked, viewed, updated and cancelled.
    pub appointment: String,
    /// The X-Request-ID of its booking.
    pub booking_request: String,
    /// Every answer that was not a success.
    pub refusals: Vec<ClientResponse>,
    /// Secrets that crossed the wire: the assertion, the access token, admin tokens.
    pub secrets: Vec<String>,
}

async fn checked(
    r: ClientResponse,
    status: u16,
    refusals: &mut Vec<ClientResponse>,
) -> ClientResponse {
    assert_eq!(r.status, status, "{}", String::from_utf8_lossy(&r.body));
    if !r.status.is_success() {
        refusals.push(r.clone());
    }
    r
}

/// Book, view, update, cancel; searches and refusals carrying patient data; pointer writes;
/// a replayed client assertion; admin calls with the right token and a wrong one.
pub async fn workload(stack: &ProcessStack) -> Workload {
    stack.publish("10m", "08:00-12:00").await;
    let slots = stack.slots("free").await;
    let mut refusals = Vec::new();
    let mut secrets = vec![stack.sender.token().await.unwrap()];
    secrets.extend(stack.options.admin_token.clone());

    let headers = bars_headers(None, Some("2000011111"));
    let booking_request = headers[0].1.clone();
    let booked = stack
        .call_with(
            Method::POST,
            "/Appointment",
            &headers,
            Some(&appointment_for(&slots[0], PATIENT)),
        )
        .await
        .unwrap();
    let booked = checked(booked, 201, &mut refusals).await;
    let mut appointment = booked.json().unwrap();
    let id = appointment["id"].as_str().unwrap().to_string();
    let path = format!("/Appointment/{id}");
    checked(
        stack.call(Method::GET, &path, None).await,
        200,
        &mut refusals,
    )
    .await;
    appointment["description"] = json!("Swelling worse");
    let updated = stack.call(Method::PUT, &path, Some(&appointment)).await;
    checked(updated, 200, &mut refusals).await;
    let search =
        format!("/Appointment?patient:identifier=https://fhir.nhs.uk/Id/nhs-number|{PATIENT}");
    checked(
        stack.call(Method::GET, &search, None).await,
        200,
        &mut refusals,
    )
    .await;

    // Refusals whose requests name the patient: a malformed NHS number with a name and date
    // of birth, by REST and by message; the slot already taken, by another patient; a search
    // for a malformed number; a version that does not exist.
    let mut named = appointment_for(&slots[1], "9434765918");
    named["participant"][0]["actor"]["display"] = json!("Alexandra Testpatient");
    named["contained"] = json!([{ "resourceType": "Patient", "id": "p",
        "name": [{ "family": "Testpatient", "given": ["Alexandra"] }], "birthDate": "1987-06-05" }]);
    let r = stack.call(Method::POST, "/Appointment", Some(&named)).await;
    assert!(r.status.is_client_error(), "{}", r.status);
    refusals.push(r);
    let message = crate::messaging::booking_request("2000011111", "RXR01", &slots[2], "9434765918");
    let r = stack
        .call(Method::POST, "/$process-message", Some(&message))
        .await;
    assert!(r.status.is_client_error(), "{}", r.status);
    refusals.push(r);
    let taken = stack
        .call(
            Method::POST,
            "/Appointment",
            Some(&appointment_for(&slots[0], OTHER_PATIENT)),
        )
        .await;
    checked(taken, 409, &mut refusals).await;
    let r = stack
        .call(
            Method::GET,
            "/Appointment?patient:identifier=https://fhir.nhs.uk/Id/nhs-number|9434765918",
            None,
        )
        .await;
    checked(r, 400, &mut refusals).await;
    let r = stack
        .call(Method::GET, &format!("{path}/_history/99"), None)
        .await;
    checked(r, 404, &mut refusals).await;
    // A booking by message with the patient's demographics, accepted.
    let message = crate::messaging::booking_request("2000011111", "RXR01", &slots[3], PATIENT);
    let r = stack
        .call(Method::POST, "/$process-message", Some(&message))
        .await;
    checked(r, 200, &mut refusals).await;

    // The cancellation; then the registry has the patient's pointers.
    checked(
        stack.call(Method::DELETE, &path, None).await,
        200,
        &mut refusals,
    )
    .await;
    stack.outbox_settled().await;
    assert_eq!(
        stack.pointers(PATIENT).await.len(),
        1,
        "the message booking's pointer"
    );

    // A client assertion used twice: the second is refused as a replay.
    let assertion = bars_client::sign_client_assertion(
        "demo-sender",
        "demo-sender-1",
        "ES256",
        &std::fs::read_to_string(stack.dir().join("pki/demo-sender.key.pem")).unwrap(),
        &format!("{}/oauth2/token", stack.proxy_url),
        Duration::from_secs(60),
    )
    .unwrap();
    let form = format!(
        "grant_type=client_credentials&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion={assertion}"
    );
    for expected in [200, 401] {
        let r = stack
            .https
            .call(
                Method::POST,
                &format!("{}/oauth2/token", stack.proxy_url),
                &[(
                    "content-type",
                    "application/x-www-form-urlencoded".to_string(),
                )],
                Some(Bytes::from(form.clone())),
            )
            .await
            .unwrap();
        let r = checked(r, expected, &mut refusals).await;
        if let Some(token) = r
            .json()
            .and_then(|b| b["access_token"].as_str().map(str::to_string))
        {
            secrets.push(token);
        }
    }
    secrets.push(assertion);

    // Admin calls on every role: with the token, and with a wrong one.
    let wrong = format!("wrong-admin-token-{}", uuid::Uuid::new_v4());
    secrets.push(wrong.clone());
    for admin in [
        &stack.receiver_admin_url,
        &stack.proxy_admin_url,
        &stack.registry_admin_url,
    ] {
        for token in stack.options.admin_token.iter().chain([&wrong]) {
            let r = stack
                .plain
                .call(
                    Method::GET,
                    &format!("{admin}/metrics"),
                    &[("authorization", format!("Bearer {token}"))],
                    None,
                )
                .await
                .unwrap();
            if r.status != 200 {
                refusals.push(r);
            }
        }
    }
    Workload {
        appointment: id,
        booking_request,
        refusals,
        secrets,
    }
}

/// The lines of `text` that contain `needle`, for a failure message.
fn lines_with(text: &str, needle: &str) -> String {
    text.lines()
        .filter(|l| l.contains(needle))
        .take(5)
        .collect::<Vec<_>>()
        .join("\n")
}

/// The first line of each private key's PEM body (any part of a key would do).
fn private_key_lines(stack: &ProcessStack) -> Vec<String> {
    std::fs::read_dir(stack.dir().join("pki"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".key.pem"))
        .map(|p| {
            let pem = std::fs::read_to_string(&p).unwrap();
            pem.lines().nth(1).unwrap().to_string()
        })
        .collect()
}

/// `url` with `password` for its user (PostgreSQL test servers trust local connections, so any
/// password is accepted); `None` when the URL names no user.
fn with_password(url: &str, password: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (user, host) = rest[..authority_end].split_once('@')?;
    let user = user.split(':').next()?;
    Some(format!(
        "{scheme}://{user}:{password}@{host}{}",
        &rest[authority_end..]
    ))
}

async fn nothing_leaks(log_format: &'static str) {
    let admin_token = format!("admin-token-{}", uuid::Uuid::new_v4());
    let password = format!("db-password-{}", uuid::Uuid::new_v4().simple());
    // On PostgreSQL when there is a test server, with a password in the database URL.
    let schema = PgTestSchema::create().await;
    let receiver_database = match schema
        .as_ref()
        .and_then(|s| with_password(&s.url, &password))
    {
        Some(url) => url,
        None => {
            note_skipped("the receiver on PostgreSQL with a password in its URL");
            ProcessOptions::default().receiver_database
        }
    };
    let stack = ProcessStack::start(ProcessOptions {
        log_format,
        admin_token: Some(admin_token),
        receiver_database,
        ..ProcessOptions::default()
    })
    .await;
    let work = workload(&stack).await;

    // A receiver given a database URL with a password, on a server that is not there: it
    // stops, saying why, without the password.
    let refused = Proc::start(
        stack.dir(),
        "receiver-unreachable-database",
        &[
            "--log-format",
            log_format,
            "receiver",
            "--ods-code",
            "RXR01",
            "--service",
            "2000011111=Riverside Urgent Treatment Centre",
            "--database",
            &format!("postgres://bars:{password}@127.0.0.1:1/bars"),
            "--listen",
            &format!("127.0.0.1:{}", free_port()),
            "--admin-listen",
            &format!("127.0.0.1:{}", free_port()),
        ]
        .map(String::from),
    );
    assert!(
        !refused.wait(),
        "a receiver without its database does not start"
    );

    // What every role said, and what the operators can scrape.
    let mut scraped = String::new();
    for admin in [
        &stack.receiver_admin_url,
        &stack.proxy_admin_url,
        &stack.registry_admin_url,
    ] {
        let r = stack
            .plain
            .call(
                Method::GET,
                &format!("{admin}/metrics"),
                &[(
                    "authorization",
                    format!("Bearer {}", stack.options.admin_token.as_ref().unwrap()),
                )],
                None,
            )
            .await
            .unwrap();
        assert_eq!(r.status, 200);
        scraped.push_str(&String::from_utf8_lossy(&r.body));
    }
    let logs = stack.logs();
    assert!(
        logs.contains(&work.booking_request),
        "request lines are logged"
    );
    let unreachable =
        std::fs::read_to_string(stack.dir().join("receiver-unreachable-database.log")).unwrap();
    if std::env::var("PEEK").is_ok() {
        eprintln!("{unreachable}");
    }
    assert!(
        unreachable.contains("127.0.0.1:1") || unreachable.contains("database"),
        "the unreachable database is reported: {unreachable}"
    );

    for secret in PATIENT_DATA {
        assert!(
            !logs.contains(secret),
            "{log_format} logs carry patient data {secret}:\n{}",
            lines_with(&logs, secret)
        );
        assert!(!scraped.contains(secret), "/metrics carries {secret}");
        for r in &work.refusals {
            let body = String::from_utf8_lossy(&r.body);
            let outcome: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
            assert!(
                !body.contains(secret),
                "an answer ({}) carries {secret}: {outcome}",
                r.status
            );
        }
    }
    let mut secrets = work.secrets.clone();
    secrets.push(password);
    secrets.extend(private_key_lines(&stack));
    assert!(secrets.len() >= 8);
    for secret in &secrets {
        assert!(
            !logs.contains(secret.as_str()),
            "{log_format} logs carry a secret:\n{}",
            lines_with(&logs, secret)
        );
    }
    eprintln!(
        "privacy ({log_format}): {} log lines, {} refusals and {} bytes of metrics checked for {} \
         items of patient data and {} secrets",
        logs.lines().count(),
        work.refusals.len(),
        scraped.len(),
        PATIENT_DATA.len(),
        secrets.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_patient_data_or_secret_in_json_logs_outcomes_or_metrics() {
    nothing_leaks("json").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_patient_data_or_secret_in_human_logs_outcomes_or_metrics() {
    nothing_leaks("human").await;
}
