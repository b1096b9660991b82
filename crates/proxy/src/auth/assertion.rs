//! What the proxy checks in a client assertion (RFC 7523 §3, NHS signed-JWT pattern) before it
//! issues a token.
//!
//! Order: shape and required fields first (so a malformed request is told what is missing),
//! then the registered application and key, the signature, and only then the claims whose
//! values matter (audience, times) — those are judged on authenticated data. The `jti` is
//! recorded last, after everything else has passed, so a refused assertion does not burn it.

use std::sync::Arc;

use serde_json::Value;

use super::applications::{Application, Applications};
use super::jwt::{self, ClaimError};
use super::replay::{ReplayCache, ReplayError};
use super::{AuthConfig, jwk, secs};

/// The longest `jti` remembered; a UUID is 36 characters. Bounds the replay cache's memory.
pub const MAX_JTI_LEN: usize = 256;

/// An assertion that passed every check; its `jti` is now recorded.
#[derive(Debug, Clone)]
pub struct VerifiedAssertion {
    pub application: Arc<Application>,
    pub jti: String,
    /// The assertion's `exp`.
    pub expires_at: i64,
}

impl VerifiedAssertion {
    pub fn client_id(&self) -> &str {
        &self.application.client_id
    }
}

/// Why an assertion was refused. The `Display` text is written for the sender (it goes into
/// `error_description`) and never echoes the assertion or key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AssertionFailure {
    // The assertion is malformed or breaks a fixed rule: the sender must fix its code.
    #[error("client_assertion is not a valid JWT: {0}")]
    Malformed(String),
    #[error("missing 'kid' header in client_assertion JWT")]
    MissingKid,
    #[error("the client_assertion JWT has a 'crit' header, which is not supported")]
    CriticalHeader,
    #[error("missing '{0}' claim in client_assertion JWT")]
    MissingClaim(&'static str),
    #[error("invalid '{0}' claim in client_assertion JWT")]
    InvalidClaim(&'static str),
    #[error("'iss' and 'sub' claims in client_assertion JWT must both be the client_id")]
    IssSubMismatch,
    #[error("the client_id parameter does not match the client_assertion 'iss'")]
    ClientIdMismatch,
    #[error("invalid 'exp' claim in client_assertion JWT: more than {0} seconds in the future")]
    LifetimeTooLong(i64),

    // The assertion does not authenticate a registered client.
    #[error("client_assertion JWT 'alg' must be RS512 or ES256")]
    UnsupportedAlgorithm,
    #[error("unknown client: 'iss' is not a registered client_id")]
    UnknownClient,
    #[error("the 'kid' of the client_assertion JWT is not a registered key of this client")]
    UnknownKey,
    #[error("the key registered under this 'kid' is not for the JWT's 'alg'")]
    KeyAlgorithmMismatch,
    #[error("the client_assertion JWT signature is not valid")]
    BadSignature,
    #[error("invalid 'aud' claim in client_assertion JWT: it must be the token endpoint URL")]
    WrongAudience,
    #[error("the client_assertion JWT has expired")]
    Expired,
    #[error("invalid 'iat' claim in client_assertion JWT: it is in the future")]
    IssuedInFuture,
    #[error("the client_assertion JWT is not valid yet ('nbf' is in the future)")]
    NotYetValid,
    #[error("the client_assertion JWT 'jti' has already been used")]
    Replayed,

    // The proxy cannot take the assertion now.
    #[error("too many token requests are in flight; retry shortly")]
    ReplayCacheFull,
}

impl AssertionFailure {
    /// True when the request is malformed (RFC 6749 `invalid_request`) rather than a failed
    /// authentication (`invalid_client`); see the endpoint for the full mapping.
    pub fn is_malformed(&self) -> bool {
        matches!(
            self,
            AssertionFailure::Malformed(_)
                | AssertionFailure::MissingKid
                | AssertionFailure::CriticalHeader
                | AssertionFailure::MissingClaim(_)
                | AssertionFailure::InvalidClaim(_)
                | AssertionFailure::IssSubMismatch
                | AssertionFailure::ClientIdMismatch
                | AssertionFailure::LifetimeTooLong(_)
        )
    }
}

/// Checks `assertion` and, when it passes, records its `jti`.
///
/// `client_id` is the optional `client_id` form parameter; when given it must name the same
/// client as the assertion. `now` is seconds since the epoch.
pub fn verify_client_assertion(
    assertion: &str,
    client_id: Option<&str>,
    applications: &Applications,
    replay: &ReplayCache,
    config: &AuthConfig,
    now: i64,
) -> Result<VerifiedAssertion, AssertionFailure> {
    let parsed = jwt::parse(assertion).map_err(|e| AssertionFailure::Malformed(e.to_string()))?;

    // Header. `alg` is judged before anything else is trusted: `none`, HMAC (whose "secret"
    // would be our public key) and every other algorithm are refused outright.
    let alg_name = match parsed.header.get("alg") {
        Some(Value::String(name)) => name.as_str(),
        Some(_) => return Err(AssertionFailure::Malformed("'alg' is not a string".into())),
        None => return Err(AssertionFailure::Malformed("missing 'alg' header".into())),
    };
    let alg = jwk::sender_algorithm(alg_name).ok_or(AssertionFailure::UnsupportedAlgorithm)?;
    // RFC 7515 §4.1.11: a recipient must refuse extensions it does not understand.
    if parsed.header.contains_key("crit") {
        return Err(AssertionFailure::CriticalHeader);
    }
    let kid = match jwt::string(&parsed.header, "kid") {
        Ok(kid) => kid,
        Err(_) => return Err(AssertionFailure::MissingKid),
    };

    // Required claims, present and of the right type.
    let claims = &parsed.claims;
    let iss = required_string(claims, "iss")?;
    let sub = required_string(claims, "sub")?;
    let jti = required_string(claims, "jti")?;
    if jti.len() > MAX_JTI_LEN {
        return Err(AssertionFailure::InvalidClaim("jti"));
    }
    if !claims.contains_key("aud") {
        return Err(AssertionFailure::MissingClaim("aud"));
    }
    let exp = required_date(claims, "exp")?;
    let iat = optional_date(claims, "iat")?;
    let nbf = optional_date(claims, "nbf")?;
    if iss != sub {
        return Err(AssertionFailure::IssSubMismatch);
    }
    if client_id.is_some_and(|id| id != iss) {
        return Err(AssertionFailure::ClientIdMismatch);
    }

    // The registered client and key, then the signature.
    let application = applications
        .get(iss)
        .ok_or(AssertionFailure::UnknownClient)?;
    let key = {
        let mut candidates = application.keys_with_kid(kid).peekable();
        if candidates.peek().is_none() {
            return Err(AssertionFailure::UnknownKey);
        }
        candidates
            .find_map(|jwk| jwk::verifying_key(jwk, alg).ok())
            .ok_or(AssertionFailure::KeyAlgorithmMismatch)?
    };
    if !jwt::signature_valid(parsed.signing_input, parsed.signature, &key, alg) {
        return Err(AssertionFailure::BadSignature);
    }

    // Authenticated claims.
    if !jwt::audience_contains(claims, &config.token_url) {
        return Err(AssertionFailure::WrongAudience);
    }
    let leeway = secs(config.leeway);
    let max_lifetime = secs(config.max_assertion_lifetime);
    if now > exp.saturating_add(leeway) {
        return Err(AssertionFailure::Expired);
    }
    if exp > now.saturating_add(max_lifetime).saturating_add(leeway) {
        return Err(AssertionFailure::LifetimeTooLong(max_lifetime));
    }
    if iat.is_some_and(|iat| iat > now.saturating_add(leeway)) {
        return Err(AssertionFailure::IssuedInFuture);
    }
    // RFC 7523 §3 item 5: an assertion must not be accepted before its `nbf`.
    if nbf.is_some_and(|nbf| nbf > now.saturating_add(leeway)) {
        return Err(AssertionFailure::NotYetValid);
    }

    // Single use: remembered for as long as the assertion could still be accepted.
    replay
        .check_and_set(iss, jti, exp.saturating_add(leeway), now)
        .map_err(|e| match e {
            ReplayError::Replayed => AssertionFailure::Replayed,
            ReplayError::Full => AssertionFailure::ReplayCacheFull,
        })?;

    Ok(VerifiedAssertion {
        jti: jti.to_string(),
        expires_at: exp,
        application,
    })
}

fn required_string<'a>(
    claims: &'a serde_json::Map<String, Value>,
    name: &'static str,
) -> Result<&'a str, AssertionFailure> {
    jwt::string(claims, name).map_err(|e| match e {
        ClaimError::Missing => AssertionFailure::MissingClaim(name),
        ClaimError::WrongType => AssertionFailure::InvalidClaim(name),
    })
}

fn required_date(
    claims: &serde_json::Map<String, Value>,
    name: &'static str,
) -> Result<i64, AssertionFailure> {
    jwt::numeric_date(claims, name).map_err(|e| match e {
        ClaimError::Missing => AssertionFailure::MissingClaim(name),
        ClaimError::WrongType => AssertionFailure::InvalidClaim(name),
    })
}

fn optional_date(
    claims: &serde_json::Map<String, Value>,
    name: &'static str,
) -> Result<Option<i64>, AssertionFailure> {
    match jwt::numeric_date(claims, name) {
        Ok(date) => Ok(Some(date)),
        Err(ClaimError::Missing) => Ok(None),
        Err(ClaimError::WrongType) => Err(AssertionFailure::InvalidClaim(name)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::testkit::{self, EC_CLIENT, RSA_CLIENT};
    use crate::auth::{AuthState, unix_now};
    use jsonwebtoken::Algorithm;
    use serde_json::json;

    fn verify(state: &AuthState, assertion: &str) -> Result<VerifiedAssertion, AssertionFailure> {
        verify_at(state, assertion, unix_now())
    }

    fn verify_at(
        state: &AuthState,
        assertion: &str,
        now: i64,
    ) -> Result<VerifiedAssertion, AssertionFailure> {
        verify_client_assertion(
            assertion,
            None,
            &state.applications,
            &state.replay,
            &state.config,
            now,
        )
    }

    #[test]
    fn valid_rs512_and_es256_assertions_pass() {
        let state = testkit::state();
        let rs = testkit::assertion(RSA_CLIENT, testkit::rsa_key(), |_| {});
        let ok = verify(&state, &rs).expect("RS512 passes");
        assert_eq!(ok.client_id(), RSA_CLIENT);
        let es = testkit::assertion(EC_CLIENT, testkit::ec_key(), |_| {});
        assert_eq!(
            verify(&state, &es).expect("ES256 passes").client_id(),
            EC_CLIENT
        );
        assert_eq!(state.replay.len(), 2);
    }

    #[test]
    fn the_signing_api_output_passes() {
        let state = testkit::state();
        for (client, key) in [
            (RSA_CLIENT, testkit::rsa_key()),
            (EC_CLIENT, testkit::ec_key()),
        ] {
            let token = crate::auth::sign_client_assertion(
                client,
                &key.kid,
                key.algorithm.as_str(),
                &key.private_pem,
                testkit::TOKEN_URL,
                testkit::ASSERTION_LIFETIME,
            )
            .expect("signs");
            assert!(verify(&state, &token).is_ok(), "{client}");
        }
    }

    #[test]
    fn a_jti_is_single_use() {
        let state = testkit::state();
        let a = testkit::assertion(EC_CLIENT, testkit::ec_key(), |_| {});
        assert!(verify(&state, &a).is_ok());
        assert_eq!(verify(&state, &a).err(), Some(AssertionFailure::Replayed));
    }

    #[test]
    fn a_refused_assertion_does_not_burn_its_jti() {
        let state = testkit::state();
        let now = unix_now();
        let mut c = testkit::claims(EC_CLIENT, now);
        c["aud"] = json!("https://elsewhere/token");
        let key = testkit::ec_key();
        let bad = testkit::sign_jwt(
            &testkit::header("ES256", &key.kid),
            &c,
            &key.private_pem,
            Algorithm::ES256,
        );
        assert_eq!(
            verify(&state, &bad).err(),
            Some(AssertionFailure::WrongAudience)
        );
        assert!(state.replay.is_empty());
    }

    #[test]
    fn expiry_and_lifetime_limits() {
        let state = testkit::state();
        let key = testkit::ec_key();
        let now = unix_now();
        let with_exp = |exp: i64| {
            testkit::assertion(EC_CLIENT, key, |c| {
                c["exp"] = json!(exp);
                c["iat"] = json!(now - 10);
            })
        };
        // expired, but within the 30 s leeway: accepted
        assert!(verify_at(&state, &with_exp(now - 20), now).is_ok());
        // expired beyond the leeway
        assert_eq!(
            verify_at(&state, &with_exp(now - 31), now).err(),
            Some(AssertionFailure::Expired)
        );
        // exactly five minutes ahead (plus leeway) is allowed; more is not
        assert!(verify_at(&state, &with_exp(now + 300), now).is_ok());
        assert!(verify_at(&state, &with_exp(now + 330), now).is_ok());
        assert_eq!(
            verify_at(&state, &with_exp(now + 331), now).err(),
            Some(AssertionFailure::LifetimeTooLong(300))
        );
        assert_eq!(
            verify_at(&state, &with_exp(now + 3600), now).err(),
            Some(AssertionFailure::LifetimeTooLong(300))
        );
    }

    #[test]
    fn iat_is_optional_but_not_in_the_future() {
        let state = testkit::state();
        let key = testkit::ec_key();
        let no_iat =
            testkit::assertion(EC_CLIENT, key, |c| *c = testkit::without(c.clone(), "iat"));
        assert!(verify(&state, &no_iat).is_ok());
        let future = testkit::assertion(EC_CLIENT, key, |c| c["iat"] = json!(unix_now() + 120));
        assert_eq!(
            verify(&state, &future).err(),
            Some(AssertionFailure::IssuedInFuture)
        );
        let within = testkit::assertion(EC_CLIENT, key, |c| c["iat"] = json!(unix_now() + 20));
        assert!(verify(&state, &within).is_ok());
        let text = testkit::assertion(EC_CLIENT, key, |c| c["iat"] = json!("yesterday"));
        assert_eq!(
            verify(&state, &text).err(),
            Some(AssertionFailure::InvalidClaim("iat"))
        );
    }

    #[test]
    fn nbf_is_honoured_when_present() {
        let state = testkit::state();
        let key = testkit::ec_key();
        let now = unix_now();
        let past = testkit::assertion(EC_CLIENT, key, |c| c["nbf"] = json!(now - 5));
        assert!(verify(&state, &past).is_ok());
        let within = testkit::assertion(EC_CLIENT, key, |c| c["nbf"] = json!(now + 20));
        assert!(verify(&state, &within).is_ok());
        let future = testkit::assertion(EC_CLIENT, key, |c| c["nbf"] = json!(now + 120));
        assert_eq!(
            verify(&state, &future).err(),
            Some(AssertionFailure::NotYetValid)
        );
        let text = testkit::assertion(EC_CLIENT, key, |c| c["nbf"] = json!("now"));
        assert_eq!(
            verify(&state, &text).err(),
            Some(AssertionFailure::InvalidClaim("nbf"))
        );
    }

    #[test]
    fn numeric_claims_with_fractions_and_exponents_are_read_exactly() {
        // "1.7e9"-style and fractional NumericDates are legal JSON numbers (RFC 7519 §2).
        let state = testkit::state();
        let key = testkit::ec_key();
        let now = unix_now();
        let exp = format!("{}.5", now + 120);
        let a = testkit::assertion(EC_CLIENT, key, |c| {
            c["exp"] = serde_json::from_str(&exp).expect("number");
            c["iat"] = serde_json::from_str(&format!("{}e0", now)).expect("number");
        });
        let ok = verify(&state, &a).expect("passes");
        assert_eq!(ok.expires_at, now + 120);
    }

    #[test]
    fn a_bad_signature_is_refused() {
        let state = testkit::state();
        // signed by another RSA key published under the same kid
        let forged = testkit::assertion(RSA_CLIENT, testkit::other_rsa_key(), |_| {});
        assert_eq!(
            verify(&state, &forged).err(),
            Some(AssertionFailure::BadSignature)
        );
        // claims altered after signing
        let good = testkit::assertion(EC_CLIENT, testkit::ec_key(), |_| {});
        let mut parts: Vec<&str> = good.split('.').collect();
        let altered_claims = {
            use base64::Engine;
            let mut c = testkit::claims(EC_CLIENT, unix_now());
            c["exp"] = json!(unix_now() + 200);
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(c.to_string())
        };
        parts[1] = &altered_claims;
        assert_eq!(
            verify(&state, &parts.join(".")).err(),
            Some(AssertionFailure::BadSignature)
        );
        assert!(state.replay.is_empty());
    }

    #[test]
    fn unknown_clients_and_keys_are_refused() {
        let state = testkit::state();
        let stranger = testkit::assertion("nobody", testkit::ec_key(), |_| {});
        assert_eq!(
            verify(&state, &stranger).err(),
            Some(AssertionFailure::UnknownClient)
        );
        let key = testkit::ec_key();
        let c = testkit::claims(EC_CLIENT, unix_now());
        let wrong_kid = testkit::sign_jwt(
            &testkit::header("ES256", "not-registered"),
            &c,
            &key.private_pem,
            Algorithm::ES256,
        );
        assert_eq!(
            verify(&state, &wrong_kid).err(),
            Some(AssertionFailure::UnknownKey)
        );
        // the EC client's kid used with RS512
        let rsa = testkit::rsa_key();
        let mismatch = testkit::sign_jwt(
            &testkit::header("RS512", &key.kid),
            &c,
            &rsa.private_pem,
            Algorithm::RS512,
        );
        assert_eq!(
            verify(&state, &mismatch).err(),
            Some(AssertionFailure::KeyAlgorithmMismatch)
        );
    }

    #[test]
    fn alg_none_hmac_and_others_are_refused() {
        let state = testkit::state();
        let c = testkit::claims(EC_CLIENT, unix_now());
        let none = testkit::unsigned_jwt(&testkit::header("none", testkit::EC_KID), &c);
        assert_eq!(
            verify(&state, &none).err(),
            Some(AssertionFailure::UnsupportedAlgorithm)
        );
        // key confusion: the public JWK's text as an HMAC secret
        let secret = testkit::ec_key().public_jwk.to_string();
        let hs = testkit::hs256_jwt(
            &testkit::header("HS256", testkit::EC_KID),
            &c,
            secret.as_bytes(),
        );
        assert_eq!(
            verify(&state, &hs).err(),
            Some(AssertionFailure::UnsupportedAlgorithm)
        );
        let rs256 = testkit::sign_jwt(
            &testkit::header("RS256", testkit::RSA_KID),
            &testkit::claims(RSA_CLIENT, unix_now()),
            &testkit::rsa_key().private_pem,
            Algorithm::RS256,
        );
        assert_eq!(
            verify(&state, &rs256).err(),
            Some(AssertionFailure::UnsupportedAlgorithm)
        );
        let no_alg = testkit::unsigned_jwt(&json!({"kid": "ec-1"}), &c);
        assert!(matches!(
            verify(&state, &no_alg),
            Err(AssertionFailure::Malformed(_))
        ));
        assert!(state.replay.is_empty());
    }

    #[test]
    fn missing_and_malformed_fields_are_reported_by_name() {
        let state = testkit::state();
        let key = testkit::ec_key();
        for claim in ["iss", "sub", "jti", "exp", "aud"] {
            let a = testkit::assertion(EC_CLIENT, key, |c| *c = testkit::without(c.clone(), claim));
            assert_eq!(
                verify(&state, &a).err(),
                Some(AssertionFailure::MissingClaim(claim)),
                "{claim}"
            );
        }
        let a = testkit::assertion(EC_CLIENT, key, |c| c["exp"] = json!("soon"));
        assert_eq!(
            verify(&state, &a).err(),
            Some(AssertionFailure::InvalidClaim("exp"))
        );
        let a = testkit::assertion(EC_CLIENT, key, |c| c["jti"] = json!(42));
        assert_eq!(
            verify(&state, &a).err(),
            Some(AssertionFailure::InvalidClaim("jti"))
        );
        let a = testkit::assertion(EC_CLIENT, key, |c| {
            c["jti"] = json!("j".repeat(MAX_JTI_LEN + 1))
        });
        assert_eq!(
            verify(&state, &a).err(),
            Some(AssertionFailure::InvalidClaim("jti"))
        );
        let a = testkit::assertion(EC_CLIENT, key, |c| c["sub"] = json!("someone-else"));
        assert_eq!(
            verify(&state, &a).err(),
            Some(AssertionFailure::IssSubMismatch)
        );

        let c = testkit::claims(EC_CLIENT, unix_now());
        let no_kid = testkit::sign_jwt(
            &testkit::without(testkit::header("ES256", "x"), "kid"),
            &c,
            &key.private_pem,
            Algorithm::ES256,
        );
        assert_eq!(
            verify(&state, &no_kid).err(),
            Some(AssertionFailure::MissingKid)
        );
        let mut crit = testkit::header("ES256", testkit::EC_KID);
        crit["crit"] = json!(["exp"]);
        let crit = testkit::sign_jwt(&crit, &c, &key.private_pem, Algorithm::ES256);
        assert_eq!(
            verify(&state, &crit).err(),
            Some(AssertionFailure::CriticalHeader)
        );
        assert!(matches!(
            verify(&state, "not-a-jwt"),
            Err(AssertionFailure::Malformed(_))
        ));
        assert!(state.replay.is_empty());
    }

    #[test]
    fn the_audience_must_be_the_token_url() {
        let state = testkit::state();
        let key = testkit::ec_key();
        for aud in [
            json!("https://proxy.test/oauth2"),
            json!("https://proxy.test/oauth2/token/"),
            json!(["x"]),
            json!(7),
        ] {
            let a = testkit::assertion(EC_CLIENT, key, |c| c["aud"] = aud.clone());
            assert_eq!(
                verify(&state, &a).err(),
                Some(AssertionFailure::WrongAudience),
                "{aud}"
            );
        }
        let listed = testkit::assertion(EC_CLIENT, key, |c| {
            c["aud"] = json!(["x", testkit::TOKEN_URL])
        });
        assert!(verify(&state, &listed).is_ok());
    }

    #[test]
    fn the_client_id_parameter_must_match() {
        let state = testkit::state();
        let a = testkit::assertion(EC_CLIENT, testkit::ec_key(), |_| {});
        let check = |id| {
            verify_client_assertion(
                &a,
                Some(id),
                &state.applications,
                &state.replay,
                &state.config,
                unix_now(),
            )
        };
        assert_eq!(
            check(RSA_CLIENT).err(),
            Some(AssertionFailure::ClientIdMismatch)
        );
        assert!(check(EC_CLIENT).is_ok());
    }

    #[test]
    fn a_removed_application_can_no_longer_authenticate() {
        let state = testkit::state();
        assert!(state.applications.remove(EC_CLIENT));
        let a = testkit::assertion(EC_CLIENT, testkit::ec_key(), |_| {});
        assert_eq!(
            verify(&state, &a).err(),
            Some(AssertionFailure::UnknownClient)
        );
    }

    #[test]
    fn failures_are_classified() {
        assert!(AssertionFailure::MissingClaim("jti").is_malformed());
        assert!(AssertionFailure::LifetimeTooLong(300).is_malformed());
        assert!(AssertionFailure::IssSubMismatch.is_malformed());
        assert!(!AssertionFailure::BadSignature.is_malformed());
        assert!(!AssertionFailure::Replayed.is_malformed());
        assert!(!AssertionFailure::Expired.is_malformed());
        assert!(!AssertionFailure::UnsupportedAlgorithm.is_malformed());
    }
}
