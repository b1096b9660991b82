//! Registered public JWKs: which algorithms a key may verify, and the verifying key itself.
//!
//! JWKs are read from plain JSON rather than through `jsonwebtoken::jwk::Jwk`, which is built
//! on `#[serde(flatten)]` (avoided in this workspace because of serde_json's
//! `arbitrary_precision`), and so that each refusal can say exactly what is wrong with a
//! registration.

use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::Value;

/// The algorithms a sender may sign client assertions with (NHS signed-JWT pattern: RS512;
/// ES256 is accepted as the smaller, faster alternative).
pub(crate) const SENDER_ALGORITHMS: [&str; 2] = ["RS512", "ES256"];

/// Maps an accepted algorithm name to jsonwebtoken's; `None` for everything else, which
/// includes `none` and every HMAC algorithm (a public key must never be used as an HMAC secret).
pub(crate) fn sender_algorithm(name: &str) -> Option<Algorithm> {
    match name {
        "RS512" => Some(Algorithm::RS512),
        "ES256" => Some(Algorithm::ES256),
        _ => None,
    }
}

/// The `kid` of a JWK, if it has a non-empty one.
pub(crate) fn kid(jwk: &Value) -> Option<&str> {
    jwk.get("kid")
        .and_then(Value::as_str)
        .filter(|k| !k.is_empty())
}

/// Why a registered JWK cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum JwkError {
    #[error("the JWK is not a JSON object")]
    NotAnObject,
    #[error("the JWK has no kid")]
    NoKid,
    #[error("the JWK's kty must be RSA or EC (P-256)")]
    UnsupportedKeyType,
    #[error("the JWK's alg must be RS512 or ES256 and fit its key type")]
    UnsupportedAlgorithm,
    #[error("the JWK's use must be sig")]
    NotForSigning,
    #[error("the JWK is missing {0} or it is not base64url")]
    BadComponent(&'static str),
}

/// The verifying key for `jwk` when used with `alg`: the key type must fit the algorithm, and
/// a JWK that states an `alg` (or a `use` other than `sig`) is held to it.
pub(crate) fn verifying_key(jwk: &Value, alg: Algorithm) -> Result<DecodingKey, JwkError> {
    let obj = jwk.as_object().ok_or(JwkError::NotAnObject)?;
    if let Some(stated) = obj.get("alg") {
        let stated = stated.as_str().and_then(sender_algorithm);
        if stated != Some(alg) {
            return Err(JwkError::UnsupportedAlgorithm);
        }
    }
    if let Some(usage) = obj.get("use")
        && usage.as_str() != Some("sig")
    {
        return Err(JwkError::NotForSigning);
    }
    let component = |name: &'static str| {
        obj.get(name)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or(JwkError::BadComponent(name))
    };
    match (obj.get("kty").and_then(Value::as_str), alg) {
        (Some("RSA"), Algorithm::RS512) => {
            DecodingKey::from_rsa_components(component("n")?, component("e")?)
                .map_err(|_| JwkError::BadComponent("n/e"))
        }
        (Some("EC"), Algorithm::ES256) => {
            if obj.get("crv").and_then(Value::as_str) != Some("P-256") {
                return Err(JwkError::UnsupportedKeyType);
            }
            let x = component("x")?;
            let y = component("y")?;
            // P-256 coordinates are exactly 32 bytes (43 base64url characters); anything else
            // would only fail later, at verification, with a less useful message.
            if x.len() != 43 || y.len() != 43 {
                return Err(JwkError::BadComponent("x/y"));
            }
            DecodingKey::from_ec_components(x, y).map_err(|_| JwkError::BadComponent("x/y"))
        }
        (Some("RSA" | "EC"), _) => Err(JwkError::UnsupportedAlgorithm),
        _ => Err(JwkError::UnsupportedKeyType),
    }
}

/// Checks a JWK offered for registration: it has a `kid` and verifies at least one of the
/// sender algorithms.
pub(crate) fn check_registrable(jwk: &Value) -> Result<(), JwkError> {
    if !jwk.is_object() {
        return Err(JwkError::NotAnObject);
    }
    if kid(jwk).is_none() {
        return Err(JwkError::NoKid);
    }
    let mut first_error = None;
    for name in SENDER_ALGORITHMS {
        let Some(alg) = sender_algorithm(name) else {
            continue;
        };
        match verifying_key(jwk, alg) {
            Ok(_) => return Ok(()),
            // A type error says more than "wrong algorithm" when the other algorithm is tried.
            Err(JwkError::UnsupportedAlgorithm) => {}
            Err(e) => first_error = first_error.or(Some(e)),
        }
    }
    Err(first_error.unwrap_or(JwkError::UnsupportedAlgorithm))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::testkit;
    use serde_json::json;

    #[test]
    fn registered_keys_verify_their_own_algorithm_only() {
        let rsa = &testkit::rsa_key().public_jwk;
        let ec = &testkit::ec_key().public_jwk;
        assert!(verifying_key(rsa, Algorithm::RS512).is_ok());
        assert!(verifying_key(ec, Algorithm::ES256).is_ok());
        assert_eq!(
            verifying_key(rsa, Algorithm::ES256).err(),
            Some(JwkError::UnsupportedAlgorithm)
        );
        assert_eq!(
            verifying_key(ec, Algorithm::RS512).err(),
            Some(JwkError::UnsupportedAlgorithm)
        );
        assert!(check_registrable(rsa).is_ok());
        assert!(check_registrable(ec).is_ok());
    }

    #[test]
    fn a_jwk_without_alg_fits_by_key_type() {
        let mut ec = testkit::ec_key().public_jwk.clone();
        if let Some(obj) = ec.as_object_mut() {
            obj.remove("alg");
            obj.remove("use");
        }
        assert!(verifying_key(&ec, Algorithm::ES256).is_ok());
        assert_eq!(
            verifying_key(&ec, Algorithm::RS512).err(),
            Some(JwkError::UnsupportedAlgorithm)
        );
    }

    #[test]
    fn unusable_registrations_are_refused_with_a_reason() {
        assert_eq!(check_registrable(&json!("x")), Err(JwkError::NotAnObject));
        assert_eq!(
            check_registrable(&json!({"kty": "EC"})),
            Err(JwkError::NoKid)
        );
        assert_eq!(
            check_registrable(&json!({"kid": "k", "kty": "oct", "k": "c2VjcmV0"})),
            Err(JwkError::UnsupportedKeyType)
        );
        assert_eq!(
            check_registrable(
                &json!({"kid": "k", "kty": "RSA", "alg": "HS256", "n": "AQAB", "e": "AQAB"})
            ),
            Err(JwkError::UnsupportedAlgorithm)
        );
        assert_eq!(
            check_registrable(
                &json!({"kid": "k", "kty": "EC", "crv": "P-384", "x": "a", "y": "b"})
            ),
            Err(JwkError::UnsupportedKeyType)
        );
        assert_eq!(
            check_registrable(
                &json!({"kid": "k", "kty": "EC", "crv": "P-256", "x": "short", "y": "short"})
            ),
            Err(JwkError::BadComponent("x/y"))
        );
        assert_eq!(
            check_registrable(&json!({"kid": "k", "kty": "RSA", "e": "AQAB"})),
            Err(JwkError::BadComponent("n"))
        );
        let mut enc = testkit::ec_key().public_jwk.clone();
        enc["use"] = json!("enc");
        assert_eq!(check_registrable(&enc), Err(JwkError::NotForSigning));
    }

    #[test]
    fn only_rs512_and_es256_are_sender_algorithms() {
        assert_eq!(sender_algorithm("RS512"), Some(Algorithm::RS512));
        assert_eq!(sender_algorithm("ES256"), Some(Algorithm::ES256));
        for refused in [
            "none", "None", "HS256", "HS512", "RS256", "PS512", "ES384", "EdDSA", "",
        ] {
            assert_eq!(sender_algorithm(refused), None, "{refused}");
        }
    }
}
