//! The gate in front of every role's admin API: a bearer token, when one is configured. Admin
//! listeners are for operators and staff, never senders; a role refuses to start an admin
//! listener that is reachable beyond loopback without a token (see each role's settings).
//!
//! The token is compared in constant time in its content and its length: the gate keeps only
//! the SHA-256 digest of the expected token and compares it with the digest of the one given,
//! two 32-byte values, with `subtle`. Neither how long the token is nor how much of a guess is
//! right shows in the time a refusal takes.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use http::header;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::ApiError;
use crate::observe::{HttpMetrics, Observer, observe};
use crate::transport::apply_security_headers;

/// What a role's admin listener says of itself: its name (in metrics and logs), where its
/// request metrics go, and its own codes for a refused token and an unknown path.
pub struct AdminRole {
    pub role: &'static str,
    pub metrics: Arc<HttpMetrics>,
    pub refused: fn() -> ApiError,
    pub not_found: fn() -> ApiError,
}

/// A role's admin listener, put together the one way every role has it: `routes` (its admin API
/// and `/metrics`) and any unknown path behind the token gate; `health` (`/_ping`, `/_status`)
/// outside it, because load balancers and orchestrators call it without the token and it
/// reveals only counts; all of it observed as the role's `admin` listener.
pub fn router<S: Clone + Send + Sync + 'static>(
    role: AdminRole,
    token: Option<String>,
    routes: Router<S>,
    health: Router<S>,
    state: S,
) -> Router {
    let AdminRole {
        role,
        metrics,
        refused,
        not_found,
    } = role;
    routes
        .fallback(move || async move { not_found() })
        .layer(middleware::from_fn_with_state(
            AdminGate::new(token, refused),
            admin_gate,
        ))
        .merge(health)
        .layer(middleware::from_fn_with_state(
            Arc::new(Observer::new(role, "admin", metrics)),
            observe,
        ))
        .with_state(state)
}

/// The SHA-256 digest of a token.
type TokenDigest = [u8; 32];

fn digest(token: &[u8]) -> TokenDigest {
    Sha256::digest(token).into()
}

#[derive(Clone)]
pub struct AdminGate {
    /// The digest of the token requests must present; `None` lets every request through (only
    /// allowed on a loopback listener).
    expected: Option<TokenDigest>,
    /// The role's refusal (its own error code for "unauthorised").
    pub refusal: fn() -> ApiError,
}

impl AdminGate {
    pub fn new(token: Option<String>, refusal: fn() -> ApiError) -> Self {
        AdminGate {
            expected: token.map(|t| digest(t.as_bytes())),
            refusal,
        }
    }

    /// Whether the gate asks for a token at all.
    pub fn requires_token(&self) -> bool {
        self.expected.is_some()
    }

    /// True when `given` is the configured token (or no token is configured).
    pub fn admits(&self, given: Option<&str>) -> bool {
        match &self.expected {
            None => true,
            Some(expected) => given.is_some_and(|g| tokens_match(g.as_bytes(), expected)),
        }
    }
}

/// Compares fixed-length digests, so the time taken depends on neither token's length nor on
/// how many of its bytes are right.
fn tokens_match(given: &[u8], expected: &TokenDigest) -> bool {
    digest(given).ct_eq(expected).into()
}

/// Middleware: refuses requests without the admin token; adds the security headers.
pub async fn admin_gate(State(gate): State<AdminGate>, request: Request, next: Next) -> Response {
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if !gate.admits(given) {
        let mut refused = (gate.refusal)().into_response();
        apply_security_headers(refused.headers_mut());
        return refused;
    }
    let mut response = next.run(request).await;
    apply_security_headers(response.headers_mut());
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use bars_fhir::IssueType;
    use bars_fhir::codes::BarsCode;

    fn refused() -> ApiError {
        ApiError::bars(BarsCode::SendUnauthorized, IssueType::Security, "no")
    }

    fn not_found() -> ApiError {
        ApiError::bars(
            BarsCode::NotFound,
            IssueType::NotFound,
            "no such admin path",
        )
    }

    /// (status, BaRS code if an OperationOutcome, whether the security headers are there)
    async fn call(app: &Router, path: &str, token: Option<&str>) -> (u16, String, bool) {
        use tower::ServiceExt;
        let mut request = http::Request::get(path);
        if let Some(t) = token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        let response = app
            .clone()
            .oneshot(request.body(axum::body::Body::empty()).unwrap())
            .await
            .unwrap();
        let status = response.status().as_u16();
        let secured = response.headers().contains_key(header::X_FRAME_OPTIONS);
        let bytes = http_body_util::BodyExt::collect(response.into_body())
            .await
            .unwrap()
            .to_bytes();
        let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
        let code = body["issue"][0]["details"]["coding"][0]["code"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        (status, code, secured)
    }

    #[tokio::test]
    async fn an_admin_listener_gates_its_routes_and_unknown_paths_but_not_health() {
        let metrics = Arc::new(HttpMetrics::default());
        let role = AdminRole {
            role: "proxy",
            metrics: metrics.clone(),
            refused,
            not_found,
        };
        let routes =
            Router::new().route("/admin/things", axum::routing::get(|| async { "things" }));
        let health = Router::new().route("/_ping", axum::routing::get(|| async { "pong" }));
        let app = router(role, Some("s3cret-admin-token".into()), routes, health, ());
        let token = Some("s3cret-admin-token");
        assert_eq!(
            call(&app, "/admin/things", None).await,
            (401, "SEND_UNAUTHORIZED".into(), true)
        );
        assert_eq!(
            call(&app, "/admin/things", token).await,
            (200, String::new(), true)
        );
        assert_eq!(
            call(&app, "/admin/nothing", None).await,
            (401, "SEND_UNAUTHORIZED".into(), true)
        );
        assert_eq!(
            call(&app, "/admin/nothing", token).await,
            (404, "NOT_FOUND".into(), true)
        );
        assert_eq!(call(&app, "/_ping", None).await.0, 200);
        let mut text = crate::metrics::Exposition::default();
        metrics.render(&mut text);
        let text = text.into_text();
        assert!(
            text.contains(r#"listener="admin",route="/admin/things",method="GET",status="200""#)
                && text.contains(r#"listener="admin",route="unmatched",method="GET",status="404""#),
            "every request is observed as the admin listener's: {text}"
        );
    }

    #[test]
    fn only_the_exact_token_is_admitted() {
        let gate = AdminGate::new(Some("s3cret-token".into()), refused);
        assert!(gate.requires_token());
        assert!(gate.admits(Some("s3cret-token")));
        for wrong in [
            "",
            "s",
            "s3cret-toke",
            "s3cret-token ",
            "s3cret-tokenX",
            "S3cret-token",
            "x3cret-token",
        ] {
            assert!(!gate.admits(Some(wrong)), "{wrong:?} admitted");
        }
        assert!(!gate.admits(None));
    }

    #[test]
    fn without_a_token_every_request_is_admitted() {
        let gate = AdminGate::new(None, refused);
        assert!(!gate.requires_token());
        assert!(gate.admits(None));
        assert!(gate.admits(Some("anything")));
    }

    #[test]
    fn the_compared_values_have_one_length_whatever_the_tokens_lengths() {
        // What is compared is always two 32-byte digests: a one-byte guess and a megabyte guess
        // against a short or a long token take the same comparison.
        for token in ["a", "a much longer admin token than anyone would guess"] {
            let expected = digest(token.as_bytes());
            for guess in [&b"a"[..], &[b'a'; 1 << 20][..], token.as_bytes()] {
                assert_eq!(digest(guess).len(), expected.len());
                assert_eq!(tokens_match(guess, &expected), guess == token.as_bytes());
            }
        }
    }

    #[test]
    fn the_token_itself_is_not_kept() {
        let gate = AdminGate::new(Some("keep-me-secret".into()), refused);
        let kept = gate.expected.unwrap_or_default();
        assert_ne!(&kept[..], b"keep-me-secret");
        assert!(
            !kept
                .windows("keep-me-secret".len())
                .any(|w| w == b"keep-me-secret")
        );
    }
}
