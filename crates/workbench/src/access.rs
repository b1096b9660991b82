//! Who may use the workbench. It acts with a sender's credentials, so by default it listens on
//! loopback only; another address needs an access secret, which every request must then carry
//! (HTTP Basic authentication, any user name: browsers ask for it without any page code).
//! Cross-site form posts are refused whatever the address, so a web page the person happens to
//! visit cannot book through a workbench running on their machine.

use std::net::SocketAddr;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http::{HeaderMap, Method, StatusCode, header};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Shorter secrets are refused: the workbench books with real credentials.
pub const MIN_SECRET_CHARS: usize = 16;

/// The access secret, kept as its digest so requests are compared in constant time.
#[derive(Clone)]
pub struct AccessSecret {
    digest: [u8; 32],
}

impl std::fmt::Debug for AccessSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AccessSecret(..)")
    }
}

impl AccessSecret {
    pub fn new(secret: &str) -> Result<AccessSecret, AccessError> {
        if secret.chars().count() < MIN_SECRET_CHARS {
            return Err(AccessError::WeakSecret);
        }
        Ok(AccessSecret {
            digest: Sha256::digest(secret.as_bytes()).into(),
        })
    }

    fn matches(&self, given: &str) -> bool {
        let digest: [u8; 32] = Sha256::digest(given.as_bytes()).into();
        bool::from(self.digest.ct_eq(&digest))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccessError {
    #[error(
        "the workbench acts with a sender's credentials: listening on {0}, which is not a loopback address, needs an access secret (--access-secret)"
    )]
    SecretNeeded(SocketAddr),
    #[error("the access secret must be at least {MIN_SECRET_CHARS} characters")]
    WeakSecret,
}

/// Refuses a non-loopback address without a secret.
pub fn check_bind(addr: SocketAddr, secret: Option<&AccessSecret>) -> Result<(), AccessError> {
    if addr.ip().is_loopback() || secret.is_some() {
        Ok(())
    } else {
        Err(AccessError::SecretNeeded(addr))
    }
}

/// The password of a Basic `Authorization` header.
fn basic_password(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    decoded.split_once(':').map(|(_, p)| p.to_string())
}

/// A form post from another site: its `Origin` names another host, or the browser says so.
fn cross_site(request: &Request) -> bool {
    if request.method() == Method::GET || request.method() == Method::HEAD {
        return false;
    }
    let headers = request.headers();
    if headers
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|s| s == "cross-site" || s == "same-site")
    {
        return true;
    }
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    match headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        None => false,
        Some(origin) => {
            let origin_host = origin.split_once("://").map(|(_, h)| h);
            origin_host.is_none() || origin_host != host
        }
    }
}

pub async fn guard(
    State(secret): State<Option<AccessSecret>>,
    request: Request,
    next: Next,
) -> Response {
    if let Some(secret) = &secret
        && !basic_password(request.headers()).is_some_and(|p| secret.matches(&p))
    {
        return (
            StatusCode::UNAUTHORIZED,
            [(
                header::WWW_AUTHENTICATE,
                "Basic realm=\"BaRS workbench\", charset=\"UTF-8\"",
            )],
            "The workbench needs its access secret (as the password; any user name).",
        )
            .into_response();
    }
    if cross_site(&request) {
        return (
            StatusCode::FORBIDDEN,
            "Refused: this form was sent from another site.",
        )
            .into_response();
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_needs_no_secret_and_others_do() {
        let secret = AccessSecret::new("a-long-enough-secret").unwrap();
        assert!(check_bind("127.0.0.1:0".parse().unwrap(), None).is_ok());
        assert!(check_bind("[::1]:0".parse().unwrap(), None).is_ok());
        assert_eq!(
            check_bind("0.0.0.0:8088".parse().unwrap(), None),
            Err(AccessError::SecretNeeded("0.0.0.0:8088".parse().unwrap()))
        );
        assert!(check_bind("0.0.0.0:8088".parse().unwrap(), Some(&secret)).is_ok());
        assert_eq!(
            AccessSecret::new("short").unwrap_err(),
            AccessError::WeakSecret
        );
        assert!(secret.matches("a-long-enough-secret"));
        assert!(!secret.matches("a-long-enough-secreT"));
    }
}
