//! `POST /oauth2/token`: the client-credentials grant with a JWT client assertion, in the wire
//! format of RFC 6749 §4.4 / §5 and RFC 7523 §2.2, answered the way NHS APIM answers.
//!
//! Error codes (RFC 6749 §5.2), and why:
//! * `unsupported_grant_type` (400) — `grant_type` present but not `client_credentials`.
//! * `invalid_request` (400) — the request cannot be understood or breaks a fixed rule,
//!   whoever sends it: wrong content type, oversized or undecodable body, a missing or repeated
//!   parameter, the wrong `client_assertion_type`, a `client_id` parameter that contradicts the
//!   assertion, a `client_assertion` that is not a JWT, a missing `kid`, a `crit` header, a
//!   missing or mistyped claim, `iss` ≠ `sub`, an `exp` more than 5 minutes ahead. RFC 6749
//!   defines `invalid_request` for "missing a required parameter … or otherwise malformed", and
//!   it is what NHS APIM returns for these cases, so senders see the same codes here as there.
//! * `invalid_client` (401) — a well-formed assertion that does not authenticate a registered
//!   client: an unsupported `alg` (`none`, HS*, …: an unsupported authentication method), an
//!   unknown client, an unknown `kid` or one whose key is for another algorithm, a bad
//!   signature, the wrong `aud`, an expired assertion, an `iat` or `nbf` in the future, a reused
//!   `jti`.
//!   RFC 7523 §3.2 requires `invalid_client` when a client-authentication JWT is not valid.
//! * `invalid_grant` is not used: RFC 7523 §3.1 applies it to JWTs used as authorization grants
//!   (`grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer`); here the grant is
//!   `client_credentials` and the JWT authenticates the client (§3.2).
//! * `temporarily_unavailable` (503) when the replay cache is full, and `server_error` (500)
//!   when a token cannot be signed: neither is the sender's fault.
//!
//! Every response carries `Cache-Control: no-store` and `Pragma: no-cache` (RFC 6749 §5.1).

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde_json::json;

use super::assertion::{AssertionFailure, VerifiedAssertion, verify_client_assertion};
use super::client_assertion::JWT_BEARER_ASSERTION_TYPE;
use super::form::Form;
use super::{AuthState, secs, unix_now_millis};

/// Where the token endpoint is mounted.
pub const TOKEN_PATH: &str = "/oauth2/token";

/// The largest token request body read: a maximal assertion (16 KiB) plus the other parameters
/// percent-encoded, with room to spare.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

const FORM_CONTENT_TYPE: &str = "application/x-www-form-urlencoded";
const CLIENT_CREDENTIALS: &str = "client_credentials";

/// A router serving `POST /oauth2/token` (other methods get 405 from axum). Takes the state
/// by value or already shared (`Arc<AuthState>`); the router it returns fits into a router of
/// any state type, so it can be merged into the proxy's own.
pub fn router<S>(state: impl Into<Arc<AuthState>>) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    Router::new()
        .route(TOKEN_PATH, post(token))
        .with_state(state.into())
}

/// An RFC 6749 §5.2 error response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthError {
    pub status: StatusCode,
    pub error: &'static str,
    pub description: String,
}

impl OAuthError {
    fn invalid_request(description: impl Into<String>) -> OAuthError {
        OAuthError {
            status: StatusCode::BAD_REQUEST,
            error: "invalid_request",
            description: description.into(),
        }
    }

    /// The response for a refused assertion (see the module documentation for why).
    pub fn from_failure(failure: &AssertionFailure) -> OAuthError {
        let (status, error) = if failure.is_malformed() {
            (StatusCode::BAD_REQUEST, "invalid_request")
        } else if *failure == AssertionFailure::ReplayCacheFull {
            (StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable")
        } else {
            (StatusCode::UNAUTHORIZED, "invalid_client")
        };
        OAuthError {
            status,
            error,
            description: failure.to_string(),
        }
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let body = json!({ "error": self.error, "error_description": self.description });
        json_response(self.status, &body)
    }
}

async fn token(State(state): State<Arc<AuthState>>, headers: HeaderMap, body: Body) -> Response {
    match handle(&state, &headers, body).await {
        Ok(response) => {
            state.metrics.token_issued();
            response
        }
        Err(e) => {
            // The reason only: never the assertion, never a token.
            tracing::info!(error = e.error, reason = %e.description, "token request refused");
            state.metrics.token_rejected(e.error);
            e.into_response()
        }
    }
}

async fn handle(
    state: &AuthState,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, OAuthError> {
    if !is_form(headers) {
        return Err(OAuthError::invalid_request(format!(
            "the Content-Type must be {FORM_CONTENT_TYPE}"
        )));
    }
    let body = axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|_| {
            OAuthError::invalid_request(format!(
                "the request body is larger than {MAX_BODY_BYTES} bytes or could not be read"
            ))
        })?;
    let form = Form::parse(&body).map_err(|e| OAuthError::invalid_request(e.to_string()))?;
    let param = |name: &'static str| {
        form.single(name)
            .map_err(|e| OAuthError::invalid_request(e.to_string()))
    };
    let required = |name: &'static str| {
        param(name)?
            .filter(|v| !v.is_empty())
            .ok_or_else(|| OAuthError::invalid_request(format!("the {name} parameter is missing")))
    };

    let grant_type = required("grant_type")?;
    if grant_type != CLIENT_CREDENTIALS {
        return Err(OAuthError {
            status: StatusCode::BAD_REQUEST,
            error: "unsupported_grant_type",
            description: format!("grant_type must be {CLIENT_CREDENTIALS}"),
        });
    }
    if required("client_assertion_type")? != JWT_BEARER_ASSERTION_TYPE {
        return Err(OAuthError::invalid_request(format!(
            "client_assertion_type must be {JWT_BEARER_ASSERTION_TYPE}"
        )));
    }
    let assertion = required("client_assertion")?;
    let client_id = param("client_id")?.filter(|v| !v.is_empty());
    // Read (and refused when repeated) though the application's scopes are fixed by its
    // products; a requested `scope` does not widen or narrow them.
    param("scope")?;

    let now_millis = unix_now_millis();
    let verified = verify_client_assertion(
        assertion,
        client_id,
        &state.applications,
        &state.replay,
        &state.config,
        now_millis.div_euclid(1000),
    )
    .map_err(|f| OAuthError::from_failure(&f))?;
    first_use_everywhere(state, &verified, now_millis.div_euclid(1000)).await?;

    let issued = state
        .tokens
        .issue_at(&verified.application, now_millis)
        .map_err(|e| {
            tracing::error!(error = %e, "access token signing failed");
            OAuthError {
                status: StatusCode::INTERNAL_SERVER_ERROR,
                error: "server_error",
                description: "the access token could not be issued".into(),
            }
        })?;
    tracing::info!(
        client_id = %verified.client_id(),
        token_id = %issued.jti,
        expires_in = issued.expires_in,
        "access token issued"
    );
    let body = json!({
        "access_token": issued.access_token,
        "token_type": "Bearer",
        "expires_in": issued.expires_in,
        "issued_at": issued.issued_at_millis.to_string(),
    });
    Ok(json_response(StatusCode::OK, &body))
}

/// The assertion's `jti` recorded in the database every proxy shares, so that the assertion
/// replayed to another proxy is refused there too. When the database cannot say, no token is
/// issued (503 `temporarily_unavailable`): a replay must never pass for lack of a check.
async fn first_use_everywhere(
    state: &AuthState,
    verified: &VerifiedAssertion,
    now: i64,
) -> Result<(), OAuthError> {
    let Some(store) = &state.jti_store else {
        return Ok(());
    };
    let remember_until = verified
        .expires_at
        .saturating_add(secs(state.config.leeway));
    match store
        .use_jti(verified.client_id(), &verified.jti, remember_until, now)
        .await
    {
        Ok(true) => Ok(()),
        Ok(false) => Err(OAuthError::from_failure(&AssertionFailure::Replayed)),
        Err(e) => {
            tracing::error!(error = %e, "the shared replay cache could not be consulted");
            Err(OAuthError {
                status: StatusCode::SERVICE_UNAVAILABLE,
                error: "temporarily_unavailable",
                description: "the replay check is unavailable; retry shortly with a new assertion"
                    .into(),
            })
        }
    }
}

fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|media| media.trim().eq_ignore_ascii_case(FORM_CONTENT_TYPE))
}

fn json_response(status: StatusCode, body: &serde_json::Value) -> Response {
    let mut response = (status, body.to_string()).into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::testkit::{self, EC_CLIENT, NO_BARS_CLIENT, RSA_CLIENT};
    use crate::auth::{BARS_SCOPE, unix_now};
    use bars_http::client::{ClientResponse, HttpClient};
    use bars_http::server::{RunningServer, ServerOptions};
    use bars_store::testing::{Backend, TestDatabase};
    use bytes::Bytes;
    use http::Method;
    use jsonwebtoken::Algorithm;
    use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
    use serde_json::Value;
    use std::time::Duration;

    /// The token router on a real local server, and a client for it.
    struct Harness {
        state: AuthState,
        server: RunningServer,
        client: HttpClient,
    }

    impl Harness {
        async fn start() -> Harness {
            Harness::with_state(testkit::state()).await
        }

        async fn with_state(state: AuthState) -> Harness {
            testkit::install_providers();
            let server = RunningServer::start(
                ([127, 0, 0, 1], 0).into(),
                router(state.clone()),
                ServerOptions::default(),
            )
            .await
            .expect("server starts");
            Harness {
                state,
                server,
                client: HttpClient::plain(Duration::from_secs(10)),
            }
        }

        fn url(&self) -> String {
            format!("http://{}{TOKEN_PATH}", self.server.addr)
        }

        async fn send(
            &self,
            method: Method,
            content_type: Option<&str>,
            body: Vec<u8>,
        ) -> ClientResponse {
            let mut headers = Vec::new();
            if let Some(ct) = content_type {
                headers.push(("content-type", ct.to_string()));
            }
            self.client
                .call(method, &self.url(), &headers, Some(Bytes::from(body)))
                .await
                .expect("response")
        }

        async fn post_raw(&self, body: impl Into<Vec<u8>>) -> ClientResponse {
            self.send(Method::POST, Some(FORM_CONTENT_TYPE), body.into())
                .await
        }

        async fn post(&self, params: &[(&str, &str)]) -> ClientResponse {
            self.post_raw(encode(params)).await
        }

        async fn request_token(&self, assertion: &str) -> ClientResponse {
            self.post(&good_params(assertion)).await
        }
    }

    fn encode(params: &[(&str, &str)]) -> String {
        params
            .iter()
            .map(|(k, v)| {
                format!(
                    "{}={}",
                    utf8_percent_encode(k, NON_ALPHANUMERIC),
                    utf8_percent_encode(v, NON_ALPHANUMERIC)
                )
            })
            .collect::<Vec<_>>()
            .join("&")
    }

    fn good_params(assertion: &str) -> Vec<(&'static str, &str)> {
        vec![
            ("grant_type", "client_credentials"),
            ("client_assertion_type", JWT_BEARER_ASSERTION_TYPE),
            ("client_assertion", assertion),
        ]
    }

    fn json(response: &ClientResponse) -> Value {
        response.json().expect("JSON body")
    }

    /// Asserts an RFC 6749 error response and returns its description.
    fn assert_error(response: &ClientResponse, status: u16, error: &str) -> String {
        assert_eq!(
            response.status.as_u16(),
            status,
            "body: {:?}",
            response.body
        );
        let body = json(response);
        assert_eq!(body["error"], error, "body: {body}");
        assert_eq!(response.header("cache-control"), Some("no-store"));
        assert_eq!(response.header("content-type"), Some("application/json"));
        body["error_description"]
            .as_str()
            .expect("error_description")
            .to_string()
    }

    fn rs_assertion() -> String {
        testkit::assertion(RSA_CLIENT, testkit::rsa_key(), |_| {})
    }

    fn ec_assertion() -> String {
        testkit::assertion(EC_CLIENT, testkit::ec_key(), |_| {})
    }

    #[tokio::test]
    async fn rs512_and_es256_assertions_get_tokens_that_validate() {
        let h = Harness::start().await;
        for (client, assertion) in [(RSA_CLIENT, rs_assertion()), (EC_CLIENT, ec_assertion())] {
            let before = crate::auth::unix_now_millis();
            let response = h.request_token(&assertion).await;
            assert_eq!(
                response.status,
                StatusCode::OK,
                "{client}: {:?}",
                response.body
            );
            assert_eq!(response.header("cache-control"), Some("no-store"));
            assert_eq!(response.header("pragma"), Some("no-cache"));
            assert_eq!(response.header("content-type"), Some("application/json"));
            let body = json(&response);
            assert_eq!(body["token_type"], "Bearer");
            // a JSON number, exactly the configured lifetime
            assert!(body["expires_in"].is_number());
            assert_eq!(body["expires_in"].as_u64(), Some(600));
            assert!(!response.body.windows(5).any(|w| w == b"\"600\""));
            // epoch milliseconds as a string, as NHS APIM sends it
            let issued_at: i64 = body["issued_at"]
                .as_str()
                .expect("issued_at is a string")
                .parse()
                .expect("digits");
            assert!(issued_at >= before && issued_at <= crate::auth::unix_now_millis());
            let token = body["access_token"].as_str().expect("access_token");
            let principal = h
                .state
                .tokens
                .validate_bearer(token)
                .expect("token validates");
            assert_eq!(principal.client_id, client);
            assert_eq!(principal.scopes, [BARS_SCOPE]);
        }
    }

    #[tokio::test]
    async fn form_encoding_variants_are_understood() {
        let h = Harness::start().await;
        // charset parameter on the content type, unencoded ':' in the assertion type, and a
        // client_id parameter that agrees with the assertion
        let body = format!(
            "grant_type=client_credentials&client_assertion_type={JWT_BEARER_ASSERTION_TYPE}&client_assertion={}&client_id={EC_CLIENT}&scope=ignored+scope",
            ec_assertion()
        );
        let response = h
            .send(
                Method::POST,
                Some("Application/X-WWW-Form-Urlencoded; charset=UTF-8"),
                body.into_bytes(),
            )
            .await;
        assert_eq!(response.status, StatusCode::OK, "{:?}", response.body);
    }

    #[tokio::test]
    async fn an_application_without_bars_gets_a_token_without_the_scope() {
        let h = Harness::start().await;
        let assertion = testkit::assertion(NO_BARS_CLIENT, testkit::ec_key(), |_| {});
        let response = h.request_token(&assertion).await;
        assert_eq!(response.status, StatusCode::OK);
        let token = json(&response)["access_token"]
            .as_str()
            .expect("token")
            .to_string();
        let principal = h.state.tokens.validate_bearer(&token).expect("valid");
        assert!(principal.scopes.is_empty());
    }

    #[tokio::test]
    async fn an_expired_assertion_is_refused() {
        let h = Harness::start().await;
        let now = unix_now();
        let a = testkit::assertion(EC_CLIENT, testkit::ec_key(), |c| {
            c["iat"] = json!(now - 400);
            c["exp"] = json!(now - 100);
        });
        let d = assert_error(&h.request_token(&a).await, 401, "invalid_client");
        assert!(d.contains("expired"), "{d}");
    }

    #[tokio::test]
    async fn exp_more_than_five_minutes_ahead_is_refused() {
        let h = Harness::start().await;
        let a = testkit::assertion(EC_CLIENT, testkit::ec_key(), |c| {
            c["exp"] = json!(unix_now() + 600);
        });
        let d = assert_error(&h.request_token(&a).await, 400, "invalid_request");
        assert!(d.contains("exp"), "{d}");
    }

    #[tokio::test]
    async fn a_bad_signature_is_refused() {
        let h = Harness::start().await;
        let forged = testkit::assertion(RSA_CLIENT, testkit::other_rsa_key(), |_| {});
        let d = assert_error(&h.request_token(&forged).await, 401, "invalid_client");
        assert!(d.contains("signature"), "{d}");
    }

    #[tokio::test]
    async fn the_wrong_audience_is_refused() {
        let h = Harness::start().await;
        let a = testkit::assertion(EC_CLIENT, testkit::ec_key(), |c| {
            c["aud"] = json!("https://int.api.service.nhs.uk/oauth2/token");
        });
        let d = assert_error(&h.request_token(&a).await, 401, "invalid_client");
        assert!(d.contains("aud"), "{d}");
    }

    #[tokio::test]
    async fn a_replayed_jti_is_refused() {
        let h = Harness::start().await;
        let a = ec_assertion();
        assert_eq!(h.request_token(&a).await.status, StatusCode::OK);
        let d = assert_error(&h.request_token(&a).await, 401, "invalid_client");
        assert!(d.contains("jti") && d.contains("already been used"), "{d}");
    }

    #[tokio::test]
    async fn twenty_racing_uses_of_one_jti_get_exactly_one_token() {
        let h = Arc::new(Harness::start().await);
        let assertion = Arc::new(ec_assertion());
        let barrier = Arc::new(tokio::sync::Barrier::new(20));
        let tasks: Vec<_> = (0..20)
            .map(|_| {
                let h = h.clone();
                let assertion = assertion.clone();
                let barrier = barrier.clone();
                tokio::spawn(async move {
                    barrier.wait().await;
                    h.request_token(&assertion).await.status
                })
            })
            .collect();
        let mut ok = 0;
        let mut refused = 0;
        for task in tasks {
            match task.await.expect("task") {
                StatusCode::OK => ok += 1,
                StatusCode::UNAUTHORIZED => refused += 1,
                other => panic!("unexpected status {other}"),
            }
        }
        assert_eq!((ok, refused), (1, 19));
    }

    #[tokio::test]
    async fn unknown_clients_and_kids_are_refused() {
        let h = Harness::start().await;
        let stranger = testkit::assertion("stranger", testkit::ec_key(), |_| {});
        let d = assert_error(&h.request_token(&stranger).await, 401, "invalid_client");
        assert!(d.contains("unknown client"), "{d}");

        let key = testkit::ec_key();
        let wrong_kid = testkit::sign_jwt(
            &testkit::header("ES256", "retired-key"),
            &testkit::claims(EC_CLIENT, unix_now()),
            &key.private_pem,
            Algorithm::ES256,
        );
        let d = assert_error(&h.request_token(&wrong_kid).await, 401, "invalid_client");
        assert!(d.contains("kid"), "{d}");
    }

    #[tokio::test]
    async fn alg_none_and_hs256_are_refused() {
        let h = Harness::start().await;
        let claims = testkit::claims(EC_CLIENT, unix_now());
        let none = testkit::unsigned_jwt(&testkit::header("none", testkit::EC_KID), &claims);
        let d = assert_error(&h.request_token(&none).await, 401, "invalid_client");
        assert!(d.contains("alg"), "{d}");
        let secret = testkit::ec_key().public_jwk.to_string();
        let hs = testkit::hs256_jwt(
            &testkit::header("HS256", testkit::EC_KID),
            &claims,
            secret.as_bytes(),
        );
        assert_error(&h.request_token(&hs).await, 401, "invalid_client");
        assert!(h.state.replay.is_empty());
    }

    #[tokio::test]
    async fn missing_claims_and_mismatched_iss_sub_are_malformed() {
        let h = Harness::start().await;
        let key = testkit::ec_key();
        for claim in ["jti", "exp", "iss"] {
            let a = testkit::assertion(EC_CLIENT, key, |c| *c = testkit::without(c.clone(), claim));
            let d = assert_error(&h.request_token(&a).await, 400, "invalid_request");
            assert!(d.contains(&format!("'{claim}'")), "{claim}: {d}");
        }
        let a = testkit::assertion(EC_CLIENT, key, |c| c["sub"] = json!(RSA_CLIENT));
        let d = assert_error(&h.request_token(&a).await, 400, "invalid_request");
        assert!(d.contains("'iss' and 'sub'"), "{d}");
        let no_kid = testkit::sign_jwt(
            &json!({"alg": "ES256", "typ": "JWT"}),
            &testkit::claims(EC_CLIENT, unix_now()),
            &key.private_pem,
            Algorithm::ES256,
        );
        let d = assert_error(&h.request_token(&no_kid).await, 400, "invalid_request");
        assert!(d.contains("kid"), "{d}");
    }

    #[tokio::test]
    async fn an_unparseable_assertion_is_malformed() {
        let h = Harness::start().await;
        for junk in [
            "x",
            "a.b.c",
            "eyJhbGciOiJFUzI1NiJ9.e30",
            "....",
            "\u{1F600}",
        ] {
            assert_error(&h.request_token(junk).await, 400, "invalid_request");
        }
    }

    #[tokio::test]
    async fn the_wrong_grant_type_is_unsupported() {
        let h = Harness::start().await;
        let a = ec_assertion();
        for grant in [
            "authorization_code",
            "urn:ietf:params:oauth:grant-type:jwt-bearer",
            "CLIENT_CREDENTIALS",
        ] {
            let mut params = good_params(&a);
            params[0].1 = grant;
            let d = assert_error(&h.post(&params).await, 400, "unsupported_grant_type");
            assert!(d.contains("client_credentials"), "{d}");
        }
        // the refused request did not use up the jti
        assert_eq!(h.request_token(&a).await.status, StatusCode::OK);
    }

    #[tokio::test]
    async fn the_wrong_assertion_type_is_malformed() {
        let h = Harness::start().await;
        let a = ec_assertion();
        let mut params = good_params(&a);
        params[1].1 = "urn:ietf:params:oauth:client-assertion-type:saml2-bearer";
        let d = assert_error(&h.post(&params).await, 400, "invalid_request");
        assert!(d.contains("client_assertion_type"), "{d}");
    }

    #[tokio::test]
    async fn missing_and_repeated_parameters_are_malformed() {
        let h = Harness::start().await;
        let a = ec_assertion();
        for missing in 0..3 {
            let mut params = good_params(&a);
            let (name, _) = params.remove(missing);
            let d = assert_error(&h.post(&params).await, 400, "invalid_request");
            assert!(d.contains(name), "{name}: {d}");
        }
        let mut params = good_params(&a);
        params.push(("client_assertion", &a));
        let d = assert_error(&h.post(&params).await, 400, "invalid_request");
        assert!(d.contains("repeated"), "{d}");
        let mut params = good_params(&a);
        params.push(("grant_type", "client_credentials"));
        assert_error(&h.post(&params).await, 400, "invalid_request");
        // an empty value counts as missing
        let mut params = good_params(&a);
        params[2].1 = "";
        assert_error(&h.post(&params).await, 400, "invalid_request");
        // a client_id that contradicts the assertion
        let mut params = good_params(&a);
        params.push(("client_id", RSA_CLIENT));
        let d = assert_error(&h.post(&params).await, 400, "invalid_request");
        assert!(d.contains("client_id"), "{d}");
        assert!(h.state.replay.is_empty());
    }

    #[tokio::test]
    async fn junk_bodies_get_400_and_never_crash_the_server() {
        let h = Harness::start().await;
        let bodies: Vec<Vec<u8>> = vec![
            b"".to_vec(),
            b"&&&&".to_vec(),
            b"====".to_vec(),
            b"%".to_vec(),
            b"grant_type=%E2%82".to_vec(),
            b"\xff\xfe\xfd".to_vec(),
            b"grant_type=client_credentials&client_assertion_type=%zz&client_assertion=%".to_vec(),
            b"{\"grant_type\":\"client_credentials\"}".to_vec(),
            "a=1&".repeat(100).into_bytes(),
            vec![b'a'; MAX_BODY_BYTES + 1],
            (0..=255u8).collect(),
        ];
        for body in bodies {
            let response = h.post_raw(body.clone()).await;
            assert_eq!(
                response.status,
                StatusCode::BAD_REQUEST,
                "{:?}",
                String::from_utf8_lossy(&body)
            );
            assert!(json(&response)["error"].is_string());
        }
        // still serving
        assert_eq!(
            h.request_token(&ec_assertion()).await.status,
            StatusCode::OK
        );
    }

    #[tokio::test]
    async fn only_form_posts_are_accepted() {
        let h = Harness::start().await;
        let body = encode(&good_params(&ec_assertion())).into_bytes();
        let d = assert_error(
            &h.send(Method::POST, Some("application/json"), body.clone())
                .await,
            400,
            "invalid_request",
        );
        assert!(d.contains("Content-Type"), "{d}");
        assert_error(
            &h.send(Method::POST, None, body.clone()).await,
            400,
            "invalid_request",
        );
        let get = h.send(Method::GET, None, Vec::new()).await;
        assert_eq!(get.status, StatusCode::METHOD_NOT_ALLOWED);
    }

    #[tokio::test]
    async fn a_full_replay_cache_is_a_temporary_refusal() {
        let mut state = testkit::state();
        state.replay = Arc::new(crate::auth::ReplayCache::with_capacity(1));
        let h = Harness::with_state(state).await;
        assert_eq!(
            h.request_token(&ec_assertion()).await.status,
            StatusCode::OK
        );
        assert_error(
            &h.request_token(&ec_assertion()).await,
            503,
            "temporarily_unavailable",
        );
    }

    /// A proxy (its own token endpoint and in-process replay cache) on the shared database.
    async fn sharing(store: Arc<dyn crate::store::ProxyStore>) -> Harness {
        let mut state = testkit::state();
        state.jti_store = Some(store);
        Harness::with_state(state).await
    }

    bars_store::on_both! {
        #[tokio::test]
        async fn an_assertion_used_at_one_proxy_is_refused_at_another(backend: Backend) {
            let db = TestDatabase::new(backend, "proxy.db").await.expect("a database");
            let url = db.url();
            let first = sharing(crate::store::open_store(&url).await.expect("opens")).await;
            let second = sharing(crate::store::open_store(&url).await.expect("opens")).await;
            let a = ec_assertion();
            assert_eq!(first.request_token(&a).await.status, StatusCode::OK);
            let d = assert_error(&second.request_token(&a).await, 401, "invalid_client");
            assert!(d.contains("jti") && d.contains("already been used"), "{d}");
            // Both in the other order, and a fresh assertion is fine anywhere.
            let b = rs_assertion();
            assert_eq!(second.request_token(&b).await.status, StatusCode::OK);
            assert_error(&first.request_token(&b).await, 401, "invalid_client");
            assert_eq!(
                second.request_token(&ec_assertion()).await.status,
                StatusCode::OK
            );
        }
    }

    bars_store::on_both! {
        #[tokio::test]
        async fn no_token_is_issued_while_the_shared_replay_check_cannot_answer(backend: Backend) {
            let db = TestDatabase::new(backend, "proxy.db").await.expect("a database");
            let store: Arc<dyn crate::store::ProxyStore> = match backend {
                Backend::Sqlite => Arc::new(
                    crate::store::SqliteProxyStore::open_with(
                        db.file(),
                        bars_store::sqlite::SqliteOptions {
                            busy_timeout: Duration::from_millis(200),
                            ..Default::default()
                        },
                    )
                    .expect("opens"),
                ),
                Backend::Postgres => Arc::new(
                    crate::store::PgProxyStore::connect(&db.url_with("statement_timeout=200ms"))
                        .await
                        .expect("connects"),
                ),
            };
            let h = sharing(store).await;
            let held = db.lock_writes("proxy_replay").await;
            let refused = h.request_token(&ec_assertion()).await;
            // Released before anything is asserted: a failing test must not leave the lock
            // standing in the way of dropping the test schema.
            held.release().await;
            let d = assert_error(&refused, 503, "temporarily_unavailable");
            assert!(d.contains("replay check"), "{d}");
            assert_eq!(
                h.request_token(&ec_assertion()).await.status,
                StatusCode::OK
            );
        }
    }

    #[test]
    fn every_failure_maps_to_a_documented_code() {
        use AssertionFailure as F;
        let cases = [
            (F::Malformed("x".into()), 400, "invalid_request"),
            (F::MissingKid, 400, "invalid_request"),
            (F::CriticalHeader, 400, "invalid_request"),
            (F::MissingClaim("jti"), 400, "invalid_request"),
            (F::InvalidClaim("exp"), 400, "invalid_request"),
            (F::IssSubMismatch, 400, "invalid_request"),
            (F::ClientIdMismatch, 400, "invalid_request"),
            (F::LifetimeTooLong(300), 400, "invalid_request"),
            (F::UnsupportedAlgorithm, 401, "invalid_client"),
            (F::UnknownClient, 401, "invalid_client"),
            (F::UnknownKey, 401, "invalid_client"),
            (F::KeyAlgorithmMismatch, 401, "invalid_client"),
            (F::BadSignature, 401, "invalid_client"),
            (F::WrongAudience, 401, "invalid_client"),
            (F::Expired, 401, "invalid_client"),
            (F::IssuedInFuture, 401, "invalid_client"),
            (F::NotYetValid, 401, "invalid_client"),
            (F::Replayed, 401, "invalid_client"),
            (F::ReplayCacheFull, 503, "temporarily_unavailable"),
        ];
        for (failure, status, error) in cases {
            let e = OAuthError::from_failure(&failure);
            assert_eq!((e.status.as_u16(), e.error), (status, error), "{failure:?}");
            assert!(!e.description.is_empty());
        }
    }
}
