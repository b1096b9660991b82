//! The `Authorization: Bearer` check on routed calls, answered as the live proxy answers
//! (BaRS digest §3.3 row 2):
//!
//! | Situation | HTTP | code | issue |
//! |---|---|---|---|
//! | no `Authorization` header, or not the `Bearer` scheme, or no token after it | 401 | `SEND_UNAUTHORIZED` | `unknown` |
//! | token invalid, expired, or its application no longer registered | 401 | `SEND_UNAUTHORIZED` | `security` |
//! | valid token, but BaRS is not enabled for the application | 403 | `SEND_FORBIDDEN` | `forbidden` |
//!
//! The diagnostics are the live proxy's fixed texts: the precise reason a token failed goes to
//! the log (never the token), not to the caller, so the response is no oracle for forgers.
//! 401s carry `WWW-Authenticate` as RFC 6750 §3 asks.

use bars_fhir::IssueType;
use bars_fhir::codes::BarsCode;
use bars_http::ApiError;
use http::{HeaderMap, header};

use super::tokens::Principal;
use super::{AuthState, BARS_PRODUCT, BARS_SCOPE};
use crate::metrics::BearerRejection;

pub const NO_TOKEN: &str = "No Access token was provided.";
pub const INVALID_TOKEN: &str = "The user or system was not able to be authenticated, either the access token was invalid, or not provided.";
pub const NOT_ENABLED: &str = "The access token was provided, but BaRS is not enabled.";

const REALM: &str = "Bearer realm=\"booking-and-referral\"";

/// Authenticates a routed call from its headers.
pub fn authenticate(headers: &HeaderMap, state: &AuthState) -> Result<Principal, ApiError> {
    let token = bearer_token(headers).inspect_err(|_| {
        state.metrics.bearer_rejected(BearerRejection::Missing);
    })?;
    let principal = state.tokens.validate_bearer(token).map_err(|reason| {
        tracing::info!(%reason, "bearer token refused");
        state.metrics.bearer_rejected(BearerRejection::Invalid);
        invalid_token()
    })?;
    // The registry has the last word: an application removed since the token was issued is
    // refused, and a product withdrawn since then takes effect at once.
    let Some(application) = state.applications.get(&principal.client_id) else {
        tracing::info!(client_id = %principal.client_id, "bearer token for an unregistered application");
        state.metrics.bearer_rejected(BearerRejection::Invalid);
        return Err(invalid_token());
    };
    if !principal.has_scope(BARS_SCOPE) || !application.has_product(BARS_PRODUCT) {
        tracing::info!(client_id = %principal.client_id, "BaRS is not enabled for the application");
        state.metrics.bearer_rejected(BearerRejection::NotEnabled);
        return Err(
            ApiError::bars(BarsCode::SendForbidden, IssueType::Forbidden, NOT_ENABLED).with_header(
                header::WWW_AUTHENTICATE,
                &format!("{REALM}, error=\"insufficient_scope\", scope=\"{BARS_SCOPE}\""),
            ),
        );
    }
    Ok(principal)
}

/// The token from the one `Authorization` header, if it uses the `Bearer` scheme (the scheme
/// name is case-insensitive, RFC 7235 §2.1).
fn bearer_token(headers: &HeaderMap) -> Result<&str, ApiError> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        return Err(if headers.contains_key(header::AUTHORIZATION) {
            // Several Authorization headers: ambiguous, so refused as invalid.
            invalid_token()
        } else {
            no_token()
        });
    };
    let Ok(value) = value.to_str() else {
        return Err(invalid_token());
    };
    let value = value.trim();
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("Bearer") {
        return Err(no_token());
    }
    let token = rest.trim();
    if token.is_empty() {
        return Err(no_token());
    }
    Ok(token)
}

fn no_token() -> ApiError {
    ApiError::bars(BarsCode::SendUnauthorized, IssueType::Unknown, NO_TOKEN)
        .with_header(header::WWW_AUTHENTICATE, REALM)
}

fn invalid_token() -> ApiError {
    ApiError::bars(
        BarsCode::SendUnauthorized,
        IssueType::Security,
        INVALID_TOKEN,
    )
    .with_header(
        header::WWW_AUTHENTICATE,
        &format!("{REALM}, error=\"invalid_token\""),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::testkit::{self, EC_CLIENT, NO_BARS_CLIENT};
    use crate::auth::tokens::AuthError;
    use crate::auth::{ProxySigningKey, TokenService, unix_now};
    use http::{HeaderValue, StatusCode};
    use std::time::Duration;

    fn headers(authorization: &[&[u8]]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for value in authorization {
            map.append(
                header::AUTHORIZATION,
                HeaderValue::from_bytes(value).expect("header value"),
            );
        }
        map
    }

    fn token_for(state: &AuthState, client_id: &str) -> String {
        let app = state.applications.get(client_id).expect("registered");
        state.tokens.issue(&app).expect("issues").access_token
    }

    /// Asserts the status, BaRS code and issue type, and the OperationOutcome carrying them.
    fn assert_refused(
        result: Result<Principal, ApiError>,
        status: u16,
        code: &str,
        issue: IssueType,
    ) {
        let err = result.expect_err("refused");
        assert_eq!(err.status, StatusCode::from_u16(status).expect("status"));
        assert_eq!(err.code(), code);
        assert_eq!(err.issue, issue);
        let outcome = err.outcome();
        assert_eq!(outcome["resourceType"], "OperationOutcome");
        let issue0 = &outcome["issue"][0];
        assert_eq!(issue0["code"], issue.as_str());
        assert_eq!(issue0["details"]["coding"][0]["code"], code);
        assert_eq!(
            issue0["details"]["coding"][0]["system"],
            "https://fhir.nhs.uk/Codesystem/http-error-codes"
        );
        assert!(err.headers.contains_key(header::WWW_AUTHENTICATE));
    }

    #[test]
    fn a_valid_token_yields_the_principal() {
        let state = testkit::state();
        let token = token_for(&state, EC_CLIENT);
        for value in [
            format!("Bearer {token}"),
            format!("bearer {token}"),
            format!("BEARER   {token} "),
        ] {
            let principal =
                authenticate(&headers(&[value.as_bytes()]), &state).expect("authenticated");
            assert_eq!(principal.client_id, EC_CLIENT);
            assert_eq!(principal.ods_code, "A1001");
            assert_eq!(principal.name, format!("App {EC_CLIENT}"));
            assert_eq!(principal.scopes, [BARS_SCOPE]);
        }
    }

    #[test]
    fn no_header_is_unknown() {
        let state = testkit::state();
        let result = authenticate(&HeaderMap::new(), &state);
        let err = result.clone().expect_err("refused");
        assert_eq!(err.diagnostics, NO_TOKEN);
        assert_refused(result, 401, "SEND_UNAUTHORIZED", IssueType::Unknown);
    }

    #[test]
    fn other_schemes_and_empty_bearer_are_unknown() {
        let state = testkit::state();
        for value in [
            &b"Basic dXNlcjpwYXNz"[..],
            b"Bearer",
            b"Bearer    ",
            b"",
            b"Token abc",
            b"Bearerabc",
        ] {
            assert_refused(
                authenticate(&headers(&[value]), &state),
                401,
                "SEND_UNAUTHORIZED",
                IssueType::Unknown,
            );
        }
    }

    #[test]
    fn garbage_tokens_are_security() {
        let state = testkit::state();
        for value in [
            &b"Bearer garbage"[..],
            b"Bearer a.b.c",
            b"Bearer eyJ.eyJ.sig",
            b"Bearer \xff\xfe",
        ] {
            let result = authenticate(&headers(&[value]), &state);
            if let Err(e) = &result {
                assert_eq!(e.diagnostics, INVALID_TOKEN);
            }
            assert_refused(result, 401, "SEND_UNAUTHORIZED", IssueType::Security);
        }
    }

    #[test]
    fn two_authorization_headers_are_security() {
        let state = testkit::state();
        let token = format!("Bearer {}", token_for(&state, EC_CLIENT));
        assert_refused(
            authenticate(&headers(&[token.as_bytes(), token.as_bytes()]), &state),
            401,
            "SEND_UNAUTHORIZED",
            IssueType::Security,
        );
    }

    #[test]
    fn an_expired_token_is_security() {
        let state = testkit::state();
        let app = state.applications.get(EC_CLIENT).expect("registered");
        // issued 20 minutes ago with a 10-minute lifetime
        let issued = state
            .tokens
            .issue_at(&app, (unix_now() - 1200) * 1000)
            .expect("issues");
        let value = format!("Bearer {}", issued.access_token);
        assert_refused(
            authenticate(&headers(&[value.as_bytes()]), &state),
            401,
            "SEND_UNAUTHORIZED",
            IssueType::Security,
        );
    }

    #[test]
    fn a_token_with_a_tiny_lifetime_expires() {
        let mut state = testkit::state();
        state.tokens = std::sync::Arc::new(TokenService::new(
            ProxySigningKey::generate().expect("key"),
            testkit::ISSUER,
            Duration::from_secs(1),
            Duration::ZERO,
        ));
        let app = state.applications.get(EC_CLIENT).expect("registered");
        let issued = state.tokens.issue(&app).expect("issues");
        let (token, iat) = (&issued.access_token, issued.issued_at_millis / 1000);
        // Valid when issued, and remembered as verified ...
        assert!(state.tokens.validate_at(token, iat).is_ok());
        assert!(
            state.tokens.validate_at(token, iat + 1).is_ok(),
            "valid up to exp"
        );
        // ... which does not outlive its one second (the clock is the caller's, not a sleep).
        assert!(matches!(
            state.tokens.validate_at(token, iat + 2),
            Err(AuthError::Expired)
        ));
        // The same lifetime, issued two seconds ago: refused at the door.
        let old = state
            .tokens
            .issue_at(&app, (unix_now() - 2) * 1000)
            .expect("issues");
        assert_refused(
            authenticate(
                &headers(&[format!("Bearer {}", old.access_token).as_bytes()]),
                &state,
            ),
            401,
            "SEND_UNAUTHORIZED",
            IssueType::Security,
        );
    }

    #[test]
    fn a_token_from_another_proxy_key_is_security() {
        let state = testkit::state();
        let other = testkit::state();
        let value = format!("Bearer {}", token_for(&other, EC_CLIENT));
        assert_refused(
            authenticate(&headers(&[value.as_bytes()]), &state),
            401,
            "SEND_UNAUTHORIZED",
            IssueType::Security,
        );
    }

    #[test]
    fn an_application_without_bars_is_forbidden() {
        let state = testkit::state();
        let value = format!("Bearer {}", token_for(&state, NO_BARS_CLIENT));
        let result = authenticate(&headers(&[value.as_bytes()]), &state);
        if let Err(e) = &result {
            assert_eq!(e.diagnostics, NOT_ENABLED);
        }
        assert_refused(result, 403, "SEND_FORBIDDEN", IssueType::Forbidden);
    }

    #[test]
    fn withdrawing_the_product_or_the_application_takes_effect_at_once() {
        let state = testkit::state();
        let value = format!("Bearer {}", token_for(&state, EC_CLIENT));
        let h = headers(&[value.as_bytes()]);
        assert!(authenticate(&h, &state).is_ok());

        let mut app = (*state.applications.get(EC_CLIENT).expect("registered")).clone();
        app.products.clear();
        state.applications.add(app).expect("valid");
        assert_refused(
            authenticate(&h, &state),
            403,
            "SEND_FORBIDDEN",
            IssueType::Forbidden,
        );

        assert!(state.applications.remove(EC_CLIENT));
        assert_refused(
            authenticate(&h, &state),
            401,
            "SEND_UNAUTHORIZED",
            IssueType::Security,
        );
    }

    #[test]
    fn the_error_renders_as_an_operation_outcome_response() {
        use axum::response::IntoResponse;
        let state = testkit::state();
        let response = authenticate(&HeaderMap::new(), &state)
            .expect_err("refused")
            .into_response();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            response
                .headers()
                .get(header::WWW_AUTHENTICATE)
                .and_then(|v| v.to_str().ok()),
            Some(REALM)
        );
    }
}
