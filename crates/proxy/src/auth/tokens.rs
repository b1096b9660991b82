//! The proxy's own access tokens: an ES256 key (generated at start-up or loaded from PEM),
//! issuing short-lived JWTs to authenticated applications, and validating them as bearer
//! tokens on every routed call.
//!
//! Self-contained JWTs rather than opaque tokens in a table: any proxy instance (or a receiver
//! holding the public JWK) can check one without shared state, and a token's lifetime is short
//! (10 minutes by default) so revocation by expiry is acceptable. Tokens carry
//! `typ: "at+jwt"` (RFC 9068) so that no other kind of JWT signed by the key can pass as one.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError, RwLock};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use jsonwebtoken::jwk::{AlgorithmParameters, Jwk, ThumbprintHash};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header};
use serde::Serialize;
use serde_json::{Value, json};

use super::applications::Application;
use super::{ACCESS_TOKEN_AUDIENCE, jwt, secs};

/// The JOSE `typ` of access tokens (RFC 9068 §2.1).
pub const ACCESS_TOKEN_TYPE: &str = "at+jwt";

/// Why a signing key could not be made or loaded. Never carries key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("the key is not a PKCS#8 PEM (BEGIN PRIVATE KEY) P-256 key")]
    NotP256,
    #[error("the JWK is not a P-256 public key with a kid")]
    BadPublicJwk,
    #[error("no key could be generated: {0}")]
    Generation(String),
}

/// The proxy's ES256 signing key with its public JWK. `Debug` never shows the private key.
pub struct ProxySigningKey {
    kid: String,
    pkcs8_der: Vec<u8>,
    encoding: EncodingKey,
    decoding: DecodingKey,
    public_jwk: Value,
}

impl std::fmt::Debug for ProxySigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProxySigningKey")
            .field("kid", &self.kid)
            .field("private_key", &"[redacted]")
            .finish()
    }
}

impl Drop for ProxySigningKey {
    fn drop(&mut self) {
        // Best effort: clear our copy of the private key (EncodingKey clears its own).
        self.pkcs8_der.fill(0);
        std::hint::black_box(&self.pkcs8_der);
    }
}

impl ProxySigningKey {
    /// A fresh random P-256 key from the TLS library's generator (aws-lc), its `kid` the
    /// RFC 7638 thumbprint of the public key.
    pub fn generate() -> Result<ProxySigningKey, KeyError> {
        let key = bars_pki::SigningKey::generate(bars_pki::Algorithm::ES256, "proxy")
            .map_err(|e| KeyError::Generation(e.to_string()))?;
        ProxySigningKey::from_pem(&key.private_pem)
    }

    /// Loads a PKCS#8 PEM P-256 key; the `kid` is its RFC 7638 thumbprint, so every instance
    /// loading the same key names it the same way.
    pub fn from_pem(pem: &str) -> Result<ProxySigningKey, KeyError> {
        let key = EncodingKey::from_ec_pem(pem.as_bytes()).map_err(|_| KeyError::NotP256)?;
        ProxySigningKey::from_pkcs8(key.as_bytes().to_vec(), None)
    }

    /// Loads a PKCS#8 PEM P-256 key under a chosen `kid`.
    pub fn from_pem_with_kid(pem: &str, kid: &str) -> Result<ProxySigningKey, KeyError> {
        let key = EncodingKey::from_ec_pem(pem.as_bytes()).map_err(|_| KeyError::NotP256)?;
        ProxySigningKey::from_pkcs8(key.as_bytes().to_vec(), Some(kid.to_string()))
    }

    fn from_pkcs8(der: Vec<u8>, kid: Option<String>) -> Result<ProxySigningKey, KeyError> {
        let encoding = EncodingKey::from_ec_der(&der);
        // Deriving the public key also proves the private key is a usable P-256 key.
        let jwk =
            Jwk::from_encoding_key(&encoding, Algorithm::ES256).map_err(|_| KeyError::NotP256)?;
        let AlgorithmParameters::EllipticCurve(ec) = &jwk.algorithm else {
            return Err(KeyError::NotP256);
        };
        let kid = match kid.filter(|k| !k.is_empty()) {
            Some(kid) => kid,
            None => jwk
                .thumbprint(ThumbprintHash::SHA256)
                .map_err(|_| KeyError::NotP256)?,
        };
        let decoding =
            DecodingKey::from_ec_components(&ec.x, &ec.y).map_err(|_| KeyError::NotP256)?;
        let public_jwk = json!({
            "kty": "EC", "crv": "P-256", "x": ec.x, "y": ec.y,
            "use": "sig", "alg": "ES256", "kid": kid,
        });
        Ok(ProxySigningKey {
            kid,
            pkcs8_der: der,
            encoding,
            decoding,
            public_jwk,
        })
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public half, for other proxy instances and receivers to verify tokens with.
    pub fn public_jwk(&self) -> &Value {
        &self.public_jwk
    }

    /// A JWK Set holding the public key (the shape of a `/jwks` document).
    pub fn jwks(&self) -> Value {
        json!({ "keys": [self.public_jwk] })
    }

    /// The private key as PKCS#8 PEM, to persist a generated key (store it owner-only).
    pub fn to_pem(&self) -> String {
        let body = STANDARD.encode(&self.pkcs8_der);
        let mut pem = String::from("-----BEGIN PRIVATE KEY-----\n");
        for line in body.as_bytes().chunks(64) {
            pem.push_str(&String::from_utf8_lossy(line));
            pem.push('\n');
        }
        pem.push_str("-----END PRIVATE KEY-----\n");
        pem
    }
}

/// Who a valid access token speaks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub client_id: String,
    pub ods_code: String,
    /// The application's name.
    pub name: String,
    pub scopes: Vec<String>,
}

impl Principal {
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }
}

/// Why a bearer token is not accepted. For logs; callers answer every case alike.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("the token is malformed: {0}")]
    Malformed(&'static str),
    #[error("the token's alg is not ES256")]
    UnsupportedAlgorithm,
    #[error("the token's kid is not a key of this proxy")]
    UnknownKey,
    #[error("the token's signature is not valid")]
    BadSignature,
    #[error("the token was issued by someone else")]
    WrongIssuer,
    #[error("the token is not for BaRS")]
    WrongAudience,
    #[error("the token has expired")]
    Expired,
    #[error("the token's iat is in the future")]
    NotYetValid,
    #[error("the token has no valid {0} claim")]
    MissingClaim(&'static str),
}

/// A freshly issued access token. `Debug` does not show the token itself.
#[derive(Clone)]
pub struct IssuedToken {
    pub access_token: String,
    /// Seconds until it expires.
    pub expires_in: u64,
    /// When it was issued, in milliseconds since the epoch.
    pub issued_at_millis: i64,
    pub jti: String,
}

impl std::fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedToken")
            .field("access_token", &"[redacted]")
            .field("expires_in", &self.expires_in)
            .field("issued_at_millis", &self.issued_at_millis)
            .field("jti", &self.jti)
            .finish()
    }
}

/// Signing failed (an internal fault, not the sender's).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("could not sign the access token: {0}")]
pub struct IssueError(String);

#[derive(Serialize)]
struct AccessClaims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    client_id: &'a str,
    iat: i64,
    exp: i64,
    jti: &'a str,
    scope: String,
    ods: &'a str,
    app_name: &'a str,
}

/// Issues and validates the proxy's access tokens.
#[derive(Debug)]
pub struct TokenService {
    key: ProxySigningKey,
    issuer: String,
    lifetime: Duration,
    leeway: Duration,
    /// Public keys of other proxy instances sharing the issuer, by `kid`.
    peers: RwLock<HashMap<String, DecodingKey>>,
    /// Tokens that passed every check, with whom they are for and when they expire. A sender
    /// presents the same token for minutes; verifying its ES256 signature again on every call
    /// was the largest cost of a routed request. Only a token this proxy (or a trusted peer)
    /// signed gets in, so no unauthenticated client can add an entry; the application's
    /// registration is still checked by the caller on every call. Only the times change with
    /// the clock, so a hit re-checks `exp` and `iat`.
    verified: VerifiedTokens,
}

/// The verified tokens; its `Debug` shows how many, never the tokens (they are credentials).
#[derive(Default)]
struct VerifiedTokens(Mutex<HashMap<String, Verified>>);

/// A token that passed every check: whom it is for, and its `iat` and `exp`.
struct Verified {
    principal: Principal,
    iat: i64,
    exp: i64,
}

impl VerifiedTokens {
    #[cfg(test)]
    fn holds(&self, token: &str) -> bool {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains_key(token)
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).len()
    }
}

impl std::fmt::Debug for VerifiedTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.0.lock().map_or(0, |m| m.len());
        write!(f, "VerifiedTokens({n})")
    }
}

/// Verified tokens remembered. Past this the expired ones are dropped; should every one still
/// be live (more senders than this in one token lifetime), the memory is cleared and refilled
/// as tokens are seen, which costs a signature check each, never a wrong answer.
const VERIFIED_CAPACITY: usize = 4_096;

impl TokenService {
    pub fn new(
        key: ProxySigningKey,
        issuer: impl Into<String>,
        lifetime: Duration,
        leeway: Duration,
    ) -> TokenService {
        TokenService {
            key,
            issuer: issuer.into(),
            lifetime,
            leeway,
            peers: RwLock::new(HashMap::new()),
            verified: VerifiedTokens::default(),
        }
    }

    pub fn key(&self) -> &ProxySigningKey {
        &self.key
    }

    pub fn public_jwk(&self) -> &Value {
        self.key.public_jwk()
    }

    pub fn lifetime(&self) -> Duration {
        self.lifetime
    }

    /// Also accepts tokens signed by another instance's key (its public JWK, with a `kid`),
    /// so a sender's token works whichever instance it reaches.
    pub fn trust_peer(&self, public_jwk: &Value) -> Result<(), KeyError> {
        let kid = public_jwk
            .get("kid")
            .and_then(Value::as_str)
            .filter(|k| !k.is_empty())
            .ok_or(KeyError::BadPublicJwk)?;
        let key = super::jwk::verifying_key(public_jwk, Algorithm::ES256)
            .map_err(|_| KeyError::BadPublicJwk)?;
        self.peers
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(kid.to_string(), key);
        Ok(())
    }

    /// An access token for `app`, valid for the configured lifetime from now.
    pub fn issue(&self, app: &Application) -> Result<IssuedToken, IssueError> {
        self.issue_at(app, super::unix_now_millis())
    }

    pub(crate) fn issue_at(
        &self,
        app: &Application,
        now_millis: i64,
    ) -> Result<IssuedToken, IssueError> {
        let iat = now_millis.div_euclid(1000);
        let lifetime = secs(self.lifetime);
        let jti = uuid::Uuid::new_v4().to_string();
        let claims = AccessClaims {
            iss: &self.issuer,
            sub: &app.client_id,
            aud: ACCESS_TOKEN_AUDIENCE,
            client_id: &app.client_id,
            iat,
            exp: iat.saturating_add(lifetime),
            jti: &jti,
            scope: app.scopes().join(" "),
            ods: &app.ods_code,
            app_name: &app.name,
        };
        let mut header = Header::new(Algorithm::ES256);
        header.typ = Some(ACCESS_TOKEN_TYPE.to_string());
        header.kid = Some(self.key.kid.clone());
        let access_token = jsonwebtoken::encode(&header, &claims, &self.key.encoding)
            .map_err(|e| IssueError(e.to_string()))?;
        Ok(IssuedToken {
            access_token,
            expires_in: self.lifetime.as_secs(),
            issued_at_millis: now_millis,
            jti,
        })
    }

    /// Checks a bearer token: shape, `alg`, `typ`, signature by this proxy's key (or a trusted
    /// peer's), `iss`, `aud`, `exp` (with the leeway) and `iat`, and returns who it is for.
    pub fn validate_bearer(&self, token: &str) -> Result<Principal, AuthError> {
        self.validate_at(token, super::unix_now())
    }

    pub(crate) fn validate_at(&self, token: &str, now: i64) -> Result<Principal, AuthError> {
        let leeway = secs(self.leeway);
        if let Some(v) = self
            .verified
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(token)
        {
            if now > v.exp.saturating_add(leeway) {
                return Err(AuthError::Expired);
            }
            if v.iat > now.saturating_add(leeway) {
                return Err(AuthError::NotYetValid);
            }
            return Ok(v.principal.clone());
        }
        let (principal, iat, exp) = self.verify(token, now)?;
        let mut verified = self
            .verified
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if verified.len() >= VERIFIED_CAPACITY {
            verified.retain(|_, v| now <= v.exp.saturating_add(leeway));
            if verified.len() >= VERIFIED_CAPACITY {
                verified.clear();
            }
        }
        verified.insert(
            token.to_string(),
            Verified {
                principal: principal.clone(),
                iat,
                exp,
            },
        );
        Ok(principal)
    }

    /// Every check of [`TokenService::validate_bearer`]; the principal and the token's `iat`
    /// and `exp`.
    fn verify(&self, token: &str, now: i64) -> Result<(Principal, i64, i64), AuthError> {
        let parsed = jwt::parse(token).map_err(|_| AuthError::Malformed("not a compact JWS"))?;
        let header = &parsed.header;
        if header.get("alg").and_then(Value::as_str) != Some("ES256") {
            return Err(AuthError::UnsupportedAlgorithm);
        }
        if header.get("typ").and_then(Value::as_str) != Some(ACCESS_TOKEN_TYPE) {
            return Err(AuthError::Malformed("typ is not at+jwt"));
        }
        if header.contains_key("crit") {
            return Err(AuthError::Malformed("crit is not supported"));
        }
        let kid = header
            .get("kid")
            .and_then(Value::as_str)
            .ok_or(AuthError::UnknownKey)?;
        let valid = if kid == self.key.kid {
            jwt::signature_valid(
                parsed.signing_input,
                parsed.signature,
                &self.key.decoding,
                Algorithm::ES256,
            )
        } else {
            let peers = self.peers.read().unwrap_or_else(PoisonError::into_inner);
            let key = peers.get(kid).ok_or(AuthError::UnknownKey)?;
            jwt::signature_valid(
                parsed.signing_input,
                parsed.signature,
                key,
                Algorithm::ES256,
            )
        };
        if !valid {
            return Err(AuthError::BadSignature);
        }

        let claims = &parsed.claims;
        if jwt::string(claims, "iss").ok() != Some(self.issuer.as_str()) {
            return Err(AuthError::WrongIssuer);
        }
        if !jwt::audience_contains(claims, ACCESS_TOKEN_AUDIENCE) {
            return Err(AuthError::WrongAudience);
        }
        let leeway = secs(self.leeway);
        let exp = jwt::numeric_date(claims, "exp").map_err(|_| AuthError::MissingClaim("exp"))?;
        if now > exp.saturating_add(leeway) {
            return Err(AuthError::Expired);
        }
        let iat = jwt::numeric_date(claims, "iat").map_err(|_| AuthError::MissingClaim("iat"))?;
        if iat > now.saturating_add(leeway) {
            return Err(AuthError::NotYetValid);
        }
        let text = |name: &'static str| {
            jwt::string(claims, name)
                .map(str::to_string)
                .map_err(|_| AuthError::MissingClaim(name))
        };
        let scopes = match claims.get("scope") {
            None => Vec::new(),
            Some(Value::String(s)) => s.split_whitespace().map(str::to_string).collect(),
            Some(_) => return Err(AuthError::MissingClaim("scope")),
        };
        Ok((
            Principal {
                client_id: text("sub")?,
                ods_code: text("ods")?,
                name: text("app_name")?,
                scopes,
            },
            iat,
            exp,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{BARS_SCOPE, testkit, unix_now, unix_now_millis};

    fn service() -> TokenService {
        TokenService::new(
            ProxySigningKey::generate().expect("key"),
            testkit::ISSUER,
            Duration::from_secs(600),
            Duration::from_secs(30),
        )
    }

    fn bars_app() -> Application {
        testkit::application("client-1", &[testkit::ec_key()], true)
    }

    #[test]
    fn generated_keys_are_distinct_usable_p256_keys() {
        let a = ProxySigningKey::generate().expect("key");
        let b = ProxySigningKey::generate().expect("key");
        assert_ne!(a.kid(), b.kid());
        assert_ne!(a.public_jwk()["x"], b.public_jwk()["x"]);
        let jwk = a.public_jwk();
        assert_eq!(jwk["kty"], "EC");
        assert_eq!(jwk["crv"], "P-256");
        assert_eq!(jwk["alg"], "ES256");
        assert_eq!(jwk["kid"], a.kid());
        assert_eq!(a.jwks()["keys"][0], *jwk);
        // the public JWK is one the assertion-side JWK reader accepts too
        assert!(crate::auth::jwk::verifying_key(jwk, Algorithm::ES256).is_ok());
        assert!(!format!("{a:?}").contains(&a.to_pem()[30..60]));
    }

    #[test]
    fn a_generated_key_survives_a_pem_round_trip() {
        let key = ProxySigningKey::generate().expect("key");
        let pem = key.to_pem();
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"));
        let again = ProxySigningKey::from_pem(&pem).expect("loads");
        assert_eq!(again.kid(), key.kid());
        assert_eq!(again.public_jwk(), key.public_jwk());
    }

    #[test]
    fn loads_a_pkcs8_pem_from_elsewhere_and_refuses_other_keys() {
        let pem = &testkit::ec_key().private_pem;
        let key = ProxySigningKey::from_pem(pem).expect("P-256 PKCS#8");
        // same public key as the one bars-pki computed
        assert_eq!(key.public_jwk()["x"], testkit::ec_key().public_jwk["x"]);
        assert_eq!(key.public_jwk()["y"], testkit::ec_key().public_jwk["y"]);
        let named = ProxySigningKey::from_pem_with_kid(pem, "proxy-2026").expect("loads");
        assert_eq!(named.kid(), "proxy-2026");
        assert_eq!(
            ProxySigningKey::from_pem(&testkit::rsa_key().private_pem).err(),
            Some(KeyError::NotP256)
        );
        assert_eq!(
            ProxySigningKey::from_pem("junk").err(),
            Some(KeyError::NotP256)
        );
    }

    #[test]
    fn issued_tokens_validate_and_carry_the_application() {
        let tokens = service();
        let issued = tokens.issue(&bars_app()).expect("issues");
        assert_eq!(issued.expires_in, 600);
        assert!((issued.issued_at_millis - unix_now_millis()).abs() < 5_000);
        let principal = tokens.validate_bearer(&issued.access_token).expect("valid");
        assert_eq!(
            principal,
            Principal {
                client_id: "client-1".into(),
                ods_code: "A1001".into(),
                name: "App client-1".into(),
                scopes: vec![BARS_SCOPE.into()],
            }
        );
        assert!(principal.has_scope(BARS_SCOPE));
        assert!(!format!("{issued:?}").contains(&issued.access_token));
    }

    #[test]
    fn the_token_has_the_documented_claims_as_numbers() {
        let tokens = service();
        let issued = tokens.issue(&bars_app()).expect("issues");
        let parsed = jwt::parse(&issued.access_token).expect("parses");
        assert_eq!(parsed.header["alg"], "ES256");
        assert_eq!(parsed.header["typ"], "at+jwt");
        assert_eq!(parsed.header["kid"], tokens.key().kid());
        let c = &parsed.claims;
        assert_eq!(c["iss"], testkit::ISSUER);
        assert_eq!(c["sub"], "client-1");
        assert_eq!(c["aud"], "bars");
        assert_eq!(c["scope"], BARS_SCOPE);
        assert_eq!(c["ods"], "A1001");
        assert_eq!(c["app_name"], "App client-1");
        assert_eq!(c["jti"], issued.jti.as_str());
        let iat = c["iat"].as_i64().expect("iat is a number");
        let exp = c["exp"].as_i64().expect("exp is a number");
        assert_eq!(exp - iat, 600);
    }

    #[test]
    fn an_application_without_bars_gets_a_token_without_the_scope() {
        let tokens = service();
        let app = testkit::application("plain", &[], false);
        let issued = tokens.issue(&app).expect("issues");
        let principal = tokens.validate_bearer(&issued.access_token).expect("valid");
        assert!(principal.scopes.is_empty());
    }

    #[test]
    fn expiry_honours_the_leeway() {
        let tokens = service();
        let now = unix_now();
        let issued = tokens.issue_at(&bars_app(), now * 1000).expect("issues");
        assert!(tokens.validate_at(&issued.access_token, now + 600).is_ok());
        assert!(tokens.validate_at(&issued.access_token, now + 630).is_ok());
        assert_eq!(
            tokens.validate_at(&issued.access_token, now + 631),
            Err(AuthError::Expired)
        );
        // issued in the future beyond the leeway
        assert_eq!(
            tokens.validate_at(&issued.access_token, now - 31),
            Err(AuthError::NotYetValid)
        );
    }

    #[test]
    fn only_verified_tokens_are_remembered_and_expired_ones_go_first() {
        let tokens = service();
        let app = bars_app();
        let now = unix_now();
        // Nothing a client makes up is remembered: garbage, or a token signed by another key.
        let stranger = service().issue_at(&app, now * 1000).expect("issues");
        for token in ["a.b.c", "not a token", &stranger.access_token] {
            assert!(tokens.validate_at(token, now).is_err());
        }
        assert_eq!(tokens.verified.len(), 0);

        // A token valid for its whole lifetime, then a cache full of tokens issued so long
        // ago that they expire a minute from now.
        let live = tokens
            .issue_at(&app, now * 1000)
            .expect("issues")
            .access_token;
        tokens.validate_at(&live, now).expect("valid");
        let old = (now - 600 + 60) * 1000;
        while tokens.verified.len() < VERIFIED_CAPACITY {
            let t = tokens.issue_at(&app, old).expect("issues").access_token;
            tokens.validate_at(&t, now).expect("valid");
        }
        // Past their expiry, one more token makes room by dropping the expired ones only.
        let later = now + 60 + 31;
        let next = tokens
            .issue_at(&app, later * 1000)
            .expect("issues")
            .access_token;
        tokens.validate_at(&next, later).expect("valid");
        assert!(tokens.verified.holds(&live), "a live token was forgotten");
        assert_eq!(tokens.verified.len(), 2);
    }

    #[test]
    fn tokens_of_another_proxy_are_refused_unless_trusted() {
        let ours = service();
        let theirs = service();
        let token = theirs.issue(&bars_app()).expect("issues").access_token;
        assert_eq!(ours.validate_bearer(&token), Err(AuthError::UnknownKey));
        ours.trust_peer(theirs.public_jwk()).expect("valid JWK");
        assert!(ours.validate_bearer(&token).is_ok());
        assert_eq!(
            ours.trust_peer(&json!({"kty": "EC"})),
            Err(KeyError::BadPublicJwk)
        );
    }

    #[test]
    fn a_token_signed_by_another_key_under_our_kid_is_refused() {
        let ours = service();
        let impostor_key = ProxySigningKey::from_pem_with_kid(
            &ProxySigningKey::generate().expect("k").to_pem(),
            ours.key().kid(),
        )
        .expect("loads");
        let impostor = TokenService::new(
            impostor_key,
            testkit::ISSUER,
            Duration::from_secs(600),
            Duration::from_secs(30),
        );
        let token = impostor.issue(&bars_app()).expect("issues").access_token;
        assert_eq!(ours.validate_bearer(&token), Err(AuthError::BadSignature));
    }

    #[test]
    fn wrong_issuer_audience_type_and_algorithm_are_refused() {
        let tokens = service();
        let pem = tokens.key().to_pem();
        let kid = tokens.key().kid().to_string();
        let now = unix_now();
        let claims = |iss: &str, aud: &str| {
            json!({"iss": iss, "sub": "c", "aud": aud, "iat": now, "exp": now + 60,
                   "jti": "j", "scope": "", "ods": "o", "app_name": "n"})
        };
        let header = json!({"alg": "ES256", "typ": "at+jwt", "kid": kid});
        let sign = |h: &Value, c: &Value| testkit::sign_jwt(h, c, &pem, Algorithm::ES256);

        assert!(
            tokens
                .validate_bearer(&sign(&header, &claims(testkit::ISSUER, "bars")))
                .is_ok()
        );
        assert_eq!(
            tokens.validate_bearer(&sign(&header, &claims("https://evil", "bars"))),
            Err(AuthError::WrongIssuer)
        );
        assert_eq!(
            tokens.validate_bearer(&sign(&header, &claims(testkit::ISSUER, "other"))),
            Err(AuthError::WrongAudience)
        );
        let jwt_typ = json!({"alg": "ES256", "typ": "JWT", "kid": kid});
        assert_eq!(
            tokens.validate_bearer(&sign(&jwt_typ, &claims(testkit::ISSUER, "bars"))),
            Err(AuthError::Malformed("typ is not at+jwt"))
        );
        let hs = testkit::hs256_jwt(
            &json!({"alg": "HS256", "typ": "at+jwt", "kid": kid}),
            &claims(testkit::ISSUER, "bars"),
            b"secret",
        );
        assert_eq!(
            tokens.validate_bearer(&hs),
            Err(AuthError::UnsupportedAlgorithm)
        );
        let none = testkit::unsigned_jwt(
            &json!({"alg": "none", "typ": "at+jwt", "kid": kid}),
            &claims(testkit::ISSUER, "bars"),
        );
        assert_eq!(
            tokens.validate_bearer(&none),
            Err(AuthError::UnsupportedAlgorithm)
        );
        // signed correctly but missing a claim
        let mut no_exp = claims(testkit::ISSUER, "bars");
        if let Some(obj) = no_exp.as_object_mut() {
            obj.remove("exp");
        }
        assert_eq!(
            tokens.validate_bearer(&sign(&header, &no_exp)),
            Err(AuthError::MissingClaim("exp"))
        );
    }

    #[test]
    fn garbage_is_malformed() {
        let tokens = service();
        for junk in ["", "abc", "a.b.c", "Bearer x", &"x".repeat(20_000)] {
            assert!(matches!(
                tokens.validate_bearer(junk),
                Err(AuthError::Malformed(_))
            ));
        }
        // a valid token with its signature cut off
        let token = tokens.issue(&bars_app()).expect("issues").access_token;
        let cut = &token[..token.rfind('.').unwrap_or(0) + 1];
        assert_eq!(tokens.validate_bearer(cut), Err(AuthError::BadSignature));
    }
}
