//! The gate in front of every role's admin API: a bearer token, when one is configured. Admin
//! listeners are for operators and staff, never senders; a role refuses to start an admin
//! listener that is reachable beyond loopback without a token (see each role's settings).
//!
//! The token is compared in constant time in its content and its length: the gate keeps only
//! the SHA-256 digest of the expected token and compares it with the digest of the one given,
//! two 32-byte values, with `subtle`. Neither how long the token is nor how much of a guess is
//! right shows in the time a refusal takes.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::header;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::ApiError;
use crate::transport::apply_security_headers;

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
