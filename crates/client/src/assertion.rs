//! What a sender does to authenticate: sign a short-lived JWT client assertion (RFC 7523 §2.2)
//! with its private key, to be posted to the token endpoint.
//!
//! This file depends on nothing else in the proxy (only jsonwebtoken, serde, thiserror and
//! uuid) so that it can move into the sender SDK unchanged.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;

pub use crate::key::AssertionError;
use crate::key::{RS512, resolve_algorithm};

/// The `client_assertion_type` that goes with the assertion (RFC 7523 §2.2).
pub const JWT_BEARER_ASSERTION_TYPE: &str =
    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// The claims RFC 7523 §3 and the NHS pattern require.
#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    jti: String,
    iat: u64,
    exp: u64,
}

/// Signs a client assertion for `client_id`, to be sent to the token endpoint at `audience`.
///
/// Header: `alg` (`"RS512"` or `"ES256"`), `kid` (which registered public key verifies it),
/// `typ: "JWT"`. Claims: `iss = sub = client_id`, `aud`, a fresh random `jti` (each assertion
/// is single-use), `iat` now and `exp = iat + lifetime` (whole seconds; the proxy accepts at
/// most five minutes). `private_pem` is a PKCS#8 PEM key (`-----BEGIN PRIVATE KEY-----`; PKCS#1
/// `RSA PRIVATE KEY` is also read for RS512), and `algorithm` must be the one it signs with
/// ([`crate::key::resolve_algorithm`] finds it from the key alone).
pub fn sign_client_assertion(
    client_id: &str,
    kid: &str,
    algorithm: &str,
    private_pem: &str,
    audience: &str,
    lifetime: Duration,
) -> Result<String, AssertionError> {
    let alg = match resolve_algorithm(Some(algorithm), private_pem)? {
        RS512 => Algorithm::RS512,
        _ => Algorithm::ES256,
    };
    if client_id.is_empty() || kid.is_empty() || audience.is_empty() {
        return Err(AssertionError::MissingField);
    }
    let lifetime = lifetime.as_secs();
    if lifetime == 0 {
        return Err(AssertionError::InvalidLifetime);
    }
    let key = match alg {
        Algorithm::RS512 => EncodingKey::from_rsa_pem(private_pem.as_bytes())
            .map_err(|_| AssertionError::InvalidKey("RS512"))?,
        _ => EncodingKey::from_ec_pem(private_pem.as_bytes())
            .map_err(|_| AssertionError::InvalidKey("ES256"))?,
    };
    let iat = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(|_| AssertionError::Clock)?
        .as_secs();
    let claims = Claims {
        iss: client_id,
        sub: client_id,
        aud: audience,
        jti: uuid::Uuid::new_v4().to_string(),
        iat,
        exp: iat.saturating_add(lifetime),
    };
    let mut header = Header::new(alg);
    header.kid = Some(kid.to_string());
    jsonwebtoken::encode(&header, &claims, &key).map_err(|e| match e.kind() {
        // A key of the right PEM shape but the wrong curve or size is still the caller's key.
        jsonwebtoken::errors::ErrorKind::InvalidEcdsaKey
        | jsonwebtoken::errors::ErrorKind::InvalidRsaKey(_)
        | jsonwebtoken::errors::ErrorKind::InvalidKeyFormat => {
            AssertionError::InvalidKey(if alg == Algorithm::RS512 {
                "RS512"
            } else {
                "ES256"
            })
        }
        _ => AssertionError::Signing(e.to_string()),
    })
}

#[cfg(test)]
mod tests {
    //! Self-contained (no proxy helpers) so the file can move as it is.
    use super::*;
    use bars_pki::{Algorithm as KeyAlgorithm, SigningKey};
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use serde_json::Value;
    use std::sync::OnceLock;

    fn rsa() -> &'static SigningKey {
        static KEY: OnceLock<SigningKey> = OnceLock::new();
        KEY.get_or_init(|| SigningKey::generate(KeyAlgorithm::RS512, "rsa-1").expect("RSA key"))
    }

    fn ec() -> &'static SigningKey {
        static KEY: OnceLock<SigningKey> = OnceLock::new();
        KEY.get_or_init(|| SigningKey::generate(KeyAlgorithm::ES256, "ec-1").expect("EC key"))
    }

    fn part(token: &str, index: usize) -> Value {
        let text = token.split('.').nth(index).expect("part");
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(text).expect("base64")).expect("json")
    }

    fn now() -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0)
    }

    #[test]
    fn produces_the_header_and_claims_the_proxy_expects() {
        for key in [rsa(), ec()] {
            let token = sign_client_assertion(
                "client-1",
                &key.kid,
                key.algorithm.as_str(),
                &key.private_pem,
                "https://proxy.example/oauth2/token",
                Duration::from_secs(300),
            )
            .expect("signs");
            assert_eq!(token.split('.').count(), 3);
            let header = part(&token, 0);
            assert_eq!(header["alg"], key.algorithm.as_str());
            assert_eq!(header["kid"], key.kid.as_str());
            assert_eq!(header["typ"], "JWT");
            let claims = part(&token, 1);
            assert_eq!(claims["iss"], "client-1");
            assert_eq!(claims["sub"], "client-1");
            assert_eq!(claims["aud"], "https://proxy.example/oauth2/token");
            let jti = claims["jti"].as_str().expect("jti");
            assert!(uuid::Uuid::parse_str(jti).is_ok());
            // Numbers, not strings, even under arbitrary_precision.
            let iat = claims["iat"].as_i64().expect("iat is an integer");
            let exp = claims["exp"].as_i64().expect("exp is an integer");
            assert_eq!(exp - iat, 300);
            assert!((iat - now()).abs() <= 2);
        }
    }

    #[test]
    fn every_assertion_has_a_fresh_jti() {
        let key = ec();
        let jti = || {
            let token = sign_client_assertion(
                "c",
                &key.kid,
                "ES256",
                &key.private_pem,
                "aud",
                Duration::from_secs(60),
            )
            .expect("signs");
            part(&token, 1)["jti"].as_str().expect("jti").to_string()
        };
        assert_ne!(jti(), jti());
    }

    #[test]
    fn refuses_bad_inputs_without_echoing_the_key() {
        let d = Duration::from_secs(60);
        assert_eq!(
            sign_client_assertion("c", "k", "HS256", &ec().private_pem, "a", d),
            Err(AssertionError::UnsupportedAlgorithm("HS256".into()))
        );
        assert_eq!(
            sign_client_assertion("c", "k", "none", &ec().private_pem, "a", d),
            Err(AssertionError::UnsupportedAlgorithm("none".into()))
        );
        // an RSA key offered for ES256 and the reverse
        assert_eq!(
            sign_client_assertion("c", "k", "ES256", &rsa().private_pem, "a", d),
            Err(AssertionError::AlgorithmMismatch {
                requested: "ES256".into(),
                key: "RS512"
            })
        );
        assert_eq!(
            sign_client_assertion("c", "k", "RS512", &ec().private_pem, "a", d),
            Err(AssertionError::AlgorithmMismatch {
                requested: "RS512".into(),
                key: "ES256"
            })
        );
        let err =
            sign_client_assertion("c", "k", "ES256", "not a pem", "a", d).expect_err("refused");
        assert!(!err.to_string().contains("not a pem"));
        assert_eq!(
            sign_client_assertion("", "k", "ES256", &ec().private_pem, "a", d),
            Err(AssertionError::MissingField)
        );
        assert_eq!(
            sign_client_assertion("c", "k", "ES256", &ec().private_pem, "a", Duration::ZERO),
            Err(AssertionError::InvalidLifetime)
        );
    }
}
