//! The proxy: section 3.3 in order, tokens, mutual TLS to receivers, and what it never forwards.

use std::time::Duration;

use axum::Router;
use axum::extract::{Path, Request};
use axum::response::IntoResponse;
use axum::routing::any;
use bars_client::sign_client_assertion;
use bars_http::server::{RunningServer, ServerOptions};
use bars_pki::tls::client_config;
use bars_proxy::auth::TOKEN_PATH;
use bytes::Bytes;
use http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::kit::*;

/// A receiver that misbehaves on demand: `/<kind>/...` answers as `kind` says.
async fn fake_receiver() -> RunningServer {
    async fn answer(
        Path((kind, _rest)): Path<(String, String)>,
        request: Request,
    ) -> axum::response::Response {
        let oo = |code: &str| {
            json!({"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": code}]}).to_string()
        };
        match kind.as_str() {
            "unavailable" => {
                (StatusCode::SERVICE_UNAVAILABLE, "down for maintenance").into_response()
            }
            "crash" => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "<html>stack trace</html>",
            )
                .into_response(),
            "nostore" => (StatusCode::INTERNAL_SERVER_ERROR, oo("no-store")).into_response(),
            "forbidden" => (StatusCode::FORBIDDEN, "no").into_response(),
            "gateway" => (StatusCode::GATEWAY_TIMEOUT, "").into_response(),
            "slow" => {
                tokio::time::sleep(Duration::from_secs(10)).await;
                (StatusCode::OK, "late").into_response()
            }
            _ => {
                // Echo what arrived, so the test can see what the proxy forwarded.
                let headers: serde_json::Map<String, Value> = request
                    .headers()
                    .iter()
                    .map(|(k, v)| (k.as_str().to_string(), json!(v.to_str().unwrap_or(""))))
                    .collect();
                (
                    StatusCode::OK,
                    [("content-type", "application/fhir+json")],
                    json!({ "path": request.uri().to_string(), "headers": headers }).to_string(),
                )
                    .into_response()
            }
        }
    }
    RunningServer::start(
        "127.0.0.1:0".parse().unwrap(),
        Router::new().route("/{kind}/{*rest}", any(answer)),
        ServerOptions::default(),
    )
    .await
    .unwrap()
}

/// Registers `/<kind>` of the fake receiver as service `value` through the proxy's admin API.
async fn register(stack: &Stack, value: &str, url: &str) {
    let endpoint = json!({ "system": "https://fhir.nhs.uk/Id/dos-service-id", "value": value, "name": format!("fake {value}"), "url": url });
    let r = stack
        .http
        .call(
            Method::POST,
            &format!("{}/admin/endpoints", stack.proxy_admin_url),
            &[("content-type", "application/json".into())],
            Some(Bytes::from(endpoint.to_string())),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_section_3_3_table_row_by_row() {
    let stack = Stack::start(1).await;
    let service = stack.service(0, 0);
    let fake = fake_receiver().await;
    for kind in [
        "unavailable",
        "crash",
        "nostore",
        "forbidden",
        "gateway",
        "echo",
    ] {
        register(&stack, kind, &format!("http://{}/{kind}", fake.addr)).await;
    }

    // Row 1: /metadata without a target is the proxy's own statement, no token needed.
    let r = stack
        .request(Method::GET, "/metadata", None)
        .anonymous()
        .send()
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json().unwrap()["id"], "bars-proxy");
    // ...with a target it is the receiver's.
    let r = stack
        .request(Method::GET, "/metadata", Some(&service))
        .send()
        .await;
    assert_eq!(r.json().unwrap()["id"], "bars-receiver");

    // Row 2: the token.
    assert_outcome(
        &stack
            .request(Method::GET, "/Slot", Some(&service))
            .anonymous()
            .send()
            .await,
        401,
        "unknown",
        "SEND_UNAUTHORIZED",
    );
    let r = stack
        .request(Method::GET, "/Slot", Some(&service))
        .anonymous()
        .header("authorization", "Bearer not-a-token")
        .send()
        .await;
    assert_outcome(&r, 401, "security", "SEND_UNAUTHORIZED");

    // Row 4: the request ids (checked after the token).
    assert_outcome(
        &stack
            .request(Method::GET, "/metadata", Some(&service))
            .without("x-request-id")
            .send()
            .await,
        400,
        "invalid",
        "BAD_REQUEST",
    );
    assert_outcome(
        &stack
            .request(Method::GET, "/metadata", Some(&service))
            .without("x-correlation-id")
            .send()
            .await,
        400,
        "invalid",
        "BAD_REQUEST",
    );

    // Row 5: the registry needs BaRS 1.1.0 or later.
    let r = stack
        .request(
            Method::GET,
            &format!(
                "/DocumentReference?subject:identifier=https://fhir.nhs.uk/Id/nhs-number|{PATIENT}"
            ),
            None,
        )
        .header("accept", "application/fhir+json; version=1.0.0")
        .send()
        .await;
    assert_outcome(&r, 406, "processing", "SEND_NOT_ACCEPTABLE");

    // Rows 6 and 7: the target identifier.
    assert_outcome(
        &stack
            .request(Method::GET, "/metadata", None)
            .header("nhsd-target-identifier", "%%%not-base64")
            .send()
            .await,
        400,
        "invalid",
        "PROXY_BAD_REQUEST",
    );
    let no_system = bars_fhir::headers::encode_base64_json(&json!({ "value": service }));
    assert_outcome(
        &stack
            .request(Method::GET, "/Slot", None)
            .header("nhsd-target-identifier", &no_system)
            .send()
            .await,
        400,
        "structure",
        "PROXY_BAD_REQUEST",
    );
    assert_outcome(
        &stack.request(Method::GET, "/Slot", None).send().await,
        400,
        "required",
        "SEND_BAD_REQUEST",
    );

    // Row 8: the catalogue.
    assert_outcome(
        &stack
            .request(Method::GET, "/metadata", Some("9999999999"))
            .send()
            .await,
        404,
        "not-found",
        "PROXY_NOT_FOUND",
    );

    // Row 9: receivers that fail without a usable answer.
    assert_outcome(
        &stack
            .request(Method::GET, "/metadata", Some("unavailable"))
            .send()
            .await,
        503,
        "transient",
        "REC_SERVICE_UNAVAILABLE",
    );
    assert_outcome(
        &stack
            .request(Method::GET, "/metadata", Some("crash"))
            .send()
            .await,
        500,
        "exception",
        "REC_SERVER_ERROR",
    );
    assert_outcome(
        &stack
            .request(Method::GET, "/metadata", Some("nostore"))
            .send()
            .await,
        500,
        "no-store",
        "REC_SERVER_ERROR",
    );
    assert_outcome(
        &stack
            .request(Method::GET, "/metadata", Some("forbidden"))
            .send()
            .await,
        403,
        "forbidden",
        "REC_FORBIDDEN",
    );
    assert_outcome(
        &stack
            .request(Method::GET, "/metadata", Some("gateway"))
            .send()
            .await,
        408,
        "timeout",
        "REC_TIMEOUT",
    );
    // ...while a receiver's own OperationOutcome passes through unchanged.
    let r = stack
        .request(Method::GET, "/Appointment/not-a-uuid", Some(&service))
        .send()
        .await;
    assert_outcome(&r, 400, "value", "REC_BAD_REQUEST");

    // Paths and verbs the API does not have.
    assert_outcome(
        &stack
            .request(Method::GET, "/Nothing", Some(&service))
            .send()
            .await,
        404,
        "not-found",
        "NOT_FOUND",
    );
    let r = stack
        .request(Method::DELETE, "/Slot", Some(&service))
        .send()
        .await;
    assert_outcome(&r, 405, "not-supported", "SEND_METHOD_NOT_ALLOWED");
    assert_eq!(r.header("allow"), Some("GET"));
    fake.shutdown().await;
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rate_limits_two_matches_and_an_application_without_bars() {
    let stack = Stack::start(1).await;
    let service = stack.service(0, 0);
    // An application without the BaRS product gets tokens, but not BaRS (row 2, 403).
    let key = bars_pki::SigningKey::generate(bars_pki::Algorithm::ES256, "nb-1").unwrap();
    let mut no_bars = application("no-bars", "B2002", &key);
    no_bars.products = vec![];
    let limited_key = bars_pki::SigningKey::generate(bars_pki::Algorithm::RS512, "lim-1").unwrap();
    let mut limited = application("limited", "C3003", &limited_key);
    limited.rate_limit_per_minute = Some(3);
    for app in [no_bars, limited] {
        let r = stack
            .http
            .call(
                Method::POST,
                &format!("{}/admin/applications", stack.proxy_admin_url),
                &[("content-type", "application/json".into())],
                Some(Bytes::from(serde_json::to_string(&app).unwrap())),
            )
            .await
            .unwrap();
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    }
    let token_for = |client: &str, key: &bars_pki::SigningKey| {
        let tokens = bars_client::TokenSource::new(
            bars_client::Credentials {
                client_id: client.into(),
                kid: key.kid.clone(),
                algorithm: key.algorithm.as_str().into(),
                private_pem: key.private_pem.clone(),
                token_url: format!("{}{TOKEN_PATH}", stack.proxy_url),
            },
            stack.http.clone(),
        );
        async move { tokens.token().await.unwrap() }
    };
    let no_bars_token = token_for("no-bars", &key).await;
    let r = stack
        .request(Method::GET, "/metadata", Some(&service))
        .anonymous()
        .header("authorization", &format!("Bearer {no_bars_token}"))
        .send()
        .await;
    assert_outcome(&r, 403, "forbidden", "SEND_FORBIDDEN");

    // Row 0: the fourth call in a minute is refused, with Retry-After.
    let limited_token = token_for("limited", &limited_key).await;
    for _ in 0..3 {
        let r = stack
            .request(Method::GET, "/metadata", Some(&service))
            .anonymous()
            .header("authorization", &format!("Bearer {limited_token}"))
            .send()
            .await;
        assert_eq!(r.status, 200);
    }
    let r = stack
        .request(Method::GET, "/metadata", Some(&service))
        .anonymous()
        .header("authorization", &format!("Bearer {limited_token}"))
        .send()
        .await;
    assert_outcome(&r, 429, "throttled", "SEND_TOO_MANY_REQUESTS");
    assert!(r.header("retry-after").unwrap().parse::<u64>().unwrap() >= 1);
    // Other applications are not held back.
    assert_eq!(
        stack
            .request(Method::GET, "/metadata", Some(&service))
            .send()
            .await
            .status,
        200
    );

    // The admin API refuses a second endpoint for one target (409 BAD_REQUEST duplicate)...
    let dup = json!({ "system": "https://fhir.nhs.uk/Id/dos-service-id", "value": service, "name": "again", "url": "http://127.0.0.1:1" });
    let r = stack
        .http
        .call(
            Method::POST,
            &format!("{}/admin/endpoints", stack.proxy_admin_url),
            &[("content-type", "application/json".into())],
            Some(Bytes::from(dup.to_string())),
        )
        .await
        .unwrap();
    assert_outcome(&r, 409, "duplicate", "PROXY_CONFLICT");
    // ...but a configured catalogue may list one twice, and then the proxy cannot choose (row 8).
    let endpoints = vec![
        bars_proxy::Endpoint {
            system: "https://fhir.nhs.uk/Id/dos-service-id".into(),
            value: "2".into(),
            name: "a".into(),
            url: "http://127.0.0.1:1".into(),
            ods_code: None,
        },
        bars_proxy::Endpoint {
            system: "https://fhir.nhs.uk/Id/dos-service-id".into(),
            value: "2".into(),
            name: "b".into(),
            url: "http://127.0.0.1:2".into(),
            ods_code: None,
        },
    ];
    let catalogue = bars_proxy::Catalogue::from_entries(endpoints).unwrap();
    assert_eq!(
        catalogue.resolve(&bars_fhir::headers::TargetIdentifier::dos("2")),
        bars_proxy::catalogue::Resolution::Many
    );
    let proxy = bars_proxy::Proxy::new(
        bars_proxy::ProxyConfig::new("http://p", "http://r"),
        catalogue,
        (*stack.proxy.state.auth).clone(),
        None,
        None,
    );
    let server = RunningServer::start(
        "127.0.0.1:0".parse().unwrap(),
        proxy.router(),
        ServerOptions::default(),
    )
    .await
    .unwrap();
    let mut req = stack.request(Method::GET, "/metadata", Some("2"));
    req.url = format!("http://{}/metadata", server.addr);
    assert_outcome(&req.send().await, 404, "multiple-matches", "NOT_FOUND");
    server.shutdown().await;
    stack.stop().await;
}

/// Posts an assertion to the token endpoint.
async fn token_answer(stack: &Stack, assertion: &str) -> (u16, Value) {
    let form = format!(
        "grant_type=client_credentials&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion={assertion}"
    );
    let r = stack
        .http
        .call(
            Method::POST,
            &format!("{}{TOKEN_PATH}", stack.proxy_url),
            &[("content-type", "application/x-www-form-urlencoded".into())],
            Some(Bytes::from(form)),
        )
        .await
        .unwrap();
    (r.status.as_u16(), r.json().unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tokens_valid_expired_forged_misaddressed_replayed_unknown() {
    let stack = Stack::start(1).await;
    let token_url = format!("{}{TOKEN_PATH}", stack.proxy_url);
    let k = &stack.pki.sender_key;
    let sign = |client: &str, audience: &str| {
        sign_client_assertion(
            client,
            &k.kid,
            "ES256",
            &k.private_pem,
            audience,
            Duration::from_secs(60),
        )
        .unwrap()
    };

    let valid = sign(SENDER, &token_url);
    let (status, body) = token_answer(&stack, &valid).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["access_token"].is_string() && body["expires_in"].as_u64().unwrap() > 0);
    let token = body["access_token"].as_str().unwrap().to_string();
    let service = stack.service(0, 0);
    let r = stack
        .request(Method::GET, "/metadata", Some(&service))
        .anonymous()
        .header("authorization", &format!("Bearer {token}"))
        .send()
        .await;
    assert_eq!(r.status, 200);

    // The same assertion again: replayed.
    let (status, body) = token_answer(&stack, &valid).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client")),
        "{body}"
    );
    // Addressed to another audience.
    let (status, _) = token_answer(&stack, &sign(SENDER, "https://elsewhere.example/token")).await;
    assert_eq!(status, 401);
    // An unknown client.
    let (status, _) = token_answer(&stack, &sign("nobody", &token_url)).await;
    assert_eq!(status, 401);
    // Signed by another key under the registered kid.
    let other = bars_pki::SigningKey::generate(bars_pki::Algorithm::ES256, &k.kid).unwrap();
    let forged = sign_client_assertion(
        SENDER,
        &k.kid,
        "ES256",
        &other.private_pem,
        &token_url,
        Duration::from_secs(60),
    )
    .unwrap();
    assert_eq!(token_answer(&stack, &forged).await.0, 401);
    // Expired: signed with claims from two minutes ago.
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let claims = json!({ "iss": SENDER, "sub": SENDER, "aud": token_url, "jti": uuid::Uuid::new_v4().to_string(), "iat": now - 180, "exp": now - 120 });
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
    header.kid = Some(k.kid.clone());
    let expired = jsonwebtoken::encode(
        &header,
        &claims,
        &jsonwebtoken::EncodingKey::from_ec_pem(k.private_pem.as_bytes()).unwrap(),
    )
    .unwrap();
    assert_eq!(token_answer(&stack, &expired).await.0, 401);
    // No assertion at all.
    let r = stack
        .http
        .call(
            Method::POST,
            &token_url,
            &[("content-type", "application/x-www-form-urlencoded".into())],
            Some(Bytes::from_static(b"grant_type=client_credentials")),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 400);
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn slow_down_and_uncertified_receivers() {
    let stack = Stack::start(1).await;
    let fake = fake_receiver().await;
    register(&stack, "slow", &format!("http://{}/slow", fake.addr)).await;
    // A receiver that does not answer in time (the stack's proxy waits 3 s).
    assert_outcome(
        &stack
            .request(Method::GET, "/metadata", Some("slow"))
            .send()
            .await,
        408,
        "timeout",
        "REC_TIMEOUT",
    );
    // A receiver that is down.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    register(&stack, "down", &format!("http://{closed}")).await;
    assert_outcome(
        &stack
            .request(Method::GET, "/metadata", Some("down"))
            .send()
            .await,
        503,
        "transient",
        "REC_SERVICE_UNAVAILABLE",
    );

    // A proxy that presents no client certificate is refused by the receiver: 403 REC_FORBIDDEN.
    let service = stack.service(0, 0);
    let endpoints = vec![bars_proxy::Endpoint {
        system: "https://fhir.nhs.uk/Id/dos-service-id".into(),
        value: service.clone(),
        name: "x".into(),
        url: stack.receivers[0].url.clone(),
        ods_code: None,
    }];
    for identity in [
        None,
        Some(
            bars_pki::Ca::generate("rogue CA")
                .unwrap()
                .issue_client("rogue")
                .unwrap(),
        ),
    ] {
        let tls = client_config(&stack.pki.ca_pem, identity.as_ref()).unwrap();
        let proxy = bars_proxy::Proxy::new(
            bars_proxy::ProxyConfig::new("http://p", "http://r"),
            bars_proxy::Catalogue::from_entries(endpoints.clone()).unwrap(),
            (*stack.proxy.state.auth).clone(),
            Some(tls),
            None,
        );
        let server = RunningServer::start(
            "127.0.0.1:0".parse().unwrap(),
            proxy.router(),
            ServerOptions::default(),
        )
        .await
        .unwrap();
        let mut req = stack.request(Method::GET, "/metadata", Some(&service));
        req.url = format!("http://{}/metadata", server.addr);
        assert_outcome(&req.send().await, 403, "forbidden", "REC_FORBIDDEN");
        server.shutdown().await;
    }
    fake.shutdown().await;
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn credentials_never_reach_a_receiver_and_request_ids_survive_the_round_trip() {
    let stack = Stack::start(1).await;
    let fake = fake_receiver().await;
    register(&stack, "echo", &format!("http://{}/echo", fake.addr)).await;
    let request = stack
        .request(
            Method::GET,
            "/Slot?status=free&_include=Slot:schedule",
            Some("echo"),
        )
        .header("nhsd-authenticated-application", "forged-by-sender");
    let r = request.send().await;
    assert_eq!(r.status, 200);
    let seen = r.json().unwrap();
    let headers = &seen["headers"];
    assert!(
        headers.get("authorization").is_none(),
        "the bearer token stayed at the proxy: {headers}"
    );
    assert_eq!(
        headers["nhsd-authenticated-application"], SENDER,
        "the proxy vouches, the sender cannot"
    );
    assert_eq!(headers["nhsd-authenticated-organisation"], SENDER_ODS);
    assert_eq!(headers["x-request-id"], request.request_id());
    assert_eq!(
        seen["path"], "/echo/Slot?status=free&_include=Slot:schedule",
        "path and query pass unchanged"
    );
    assert_eq!(
        r.header("x-request-id"),
        Some(request.request_id().as_str())
    );
    // Ids also come back on the proxy's own refusals and on a real receiver's answers.
    let refused = stack.request(Method::GET, "/metadata", Some("9999999999"));
    assert_eq!(
        refused.send().await.header("x-request-id"),
        Some(refused.request_id().as_str())
    );
    let real = stack.request(Method::GET, "/metadata", Some(&stack.service(0, 0)));
    assert_eq!(
        real.send().await.header("x-request-id"),
        Some(real.request_id().as_str())
    );
    fake.shutdown().await;
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn senders_discover_services_through_the_proxy() {
    let stack = Stack::start(2).await;
    // The Endpoint Catalogue refuses a search without parameters (delta D18).
    assert_outcome(
        &stack
            .request(Method::GET, "/HealthcareService", None)
            .send()
            .await,
        400,
        "required",
        "SEND_BAD_REQUEST",
    );
    let all = stack
        .request(Method::GET, "/HealthcareService?active=true", None)
        .send()
        .await;
    assert_eq!(all.status, 200);
    let bundle = all.json().unwrap();
    assert_eq!(bundle["total"], 4);
    let wanted = &stack.service(1, 0);
    let by_id = stack
        .request(
            Method::GET,
            &format!(
                "/HealthcareService?identifier=https://fhir.nhs.uk/Id/dos-service-id|{wanted}"
            ),
            None,
        )
        .send()
        .await
        .json()
        .unwrap();
    assert_eq!(by_id["total"], 1);
    let found = &by_id["entry"][0]["resource"];
    assert_eq!(found["identifier"][0]["value"], wanted.as_str());
    assert_eq!(found["providedBy"][0]["identifier"]["value"], "RX002");
    let by_name = stack
        .request(
            Method::GET,
            &format!("/HealthcareService?name=service%20{wanted}"),
            None,
        )
        .send()
        .await
        .json()
        .unwrap();
    assert_eq!(by_name["total"], 1);
    // Discovery needs a token like every other call.
    assert_outcome(
        &stack
            .request(Method::GET, "/HealthcareService", None)
            .anonymous()
            .send()
            .await,
        401,
        "unknown",
        "SEND_UNAUTHORIZED",
    );
    stack.stop().await;
}

/// The proxy's own failures: an OperationOutcome with SERVER_ERROR, never a dropped connection
/// (the same guard as in `Proxy::router`).
#[tokio::test]
async fn an_unhandled_proxy_failure_is_a_server_error_outcome() {
    let guard = std::sync::Arc::new(bars_http::guard::Guard::proxy());
    let app = Router::new()
        .route(
            "/boom",
            axum::routing::get(|| async { if true { panic!("deliberate") } else { "never" } }),
        )
        .layer(axum::middleware::from_fn_with_state(
            guard,
            bars_http::guard::guard,
        ));
    let server = RunningServer::start(
        "127.0.0.1:0".parse().unwrap(),
        app,
        ServerOptions::default(),
    )
    .await
    .unwrap();
    let r = bars_http::client::HttpClient::plain(Duration::from_secs(5))
        .call(
            Method::GET,
            &format!("http://{}/boom", server.addr),
            &[],
            None,
        )
        .await
        .unwrap();
    assert_outcome(&r, 500, "exception", "SERVER_ERROR");
    server.shutdown().await;
}
