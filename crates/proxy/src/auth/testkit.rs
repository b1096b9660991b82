//! Test fixtures: sender keys (generated once; RSA generation is slow), applications, a ready
//! `AuthState`, and helpers that craft JWTs the signing API would never produce.

use std::sync::OnceLock;
use std::time::Duration;

use bars_pki::{Algorithm as KeyAlgorithm, SigningKey};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{Value, json};

use super::{AuthConfig, AuthState, BARS_PRODUCT, ProxySigningKey, applications::*};

pub const TOKEN_URL: &str = "https://proxy.test/oauth2/token";
pub const ISSUER: &str = "https://proxy.test";
pub const RSA_KID: &str = "rsa-1";
pub const EC_KID: &str = "ec-1";

/// Registered applications in [`state`].
pub const RSA_CLIENT: &str = "rsa-client";
pub const EC_CLIENT: &str = "ec-client";
pub const NO_BARS_CLIENT: &str = "no-bars-client";

/// Lets the rustls-based HTTP client and server run (ignored when already installed).
pub fn install_providers() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

pub fn rsa_key() -> &'static SigningKey {
    static KEY: OnceLock<SigningKey> = OnceLock::new();
    KEY.get_or_init(|| SigningKey::generate(KeyAlgorithm::RS512, RSA_KID).expect("RSA key"))
}

pub fn ec_key() -> &'static SigningKey {
    static KEY: OnceLock<SigningKey> = OnceLock::new();
    KEY.get_or_init(|| SigningKey::generate(KeyAlgorithm::ES256, EC_KID).expect("EC key"))
}

/// A different RSA key published under the same kid as [`rsa_key`] (an impostor).
pub fn other_rsa_key() -> &'static SigningKey {
    static KEY: OnceLock<SigningKey> = OnceLock::new();
    KEY.get_or_init(|| SigningKey::generate(KeyAlgorithm::RS512, RSA_KID).expect("RSA key"))
}

pub fn application(client_id: &str, keys: &[&SigningKey], bars: bool) -> Application {
    Application {
        client_id: client_id.to_string(),
        name: format!("App {client_id}"),
        ods_code: "A1001".to_string(),
        keys: keys.iter().map(|k| k.public_jwk.clone()).collect(),
        products: if bars {
            vec![BARS_PRODUCT.to_string()]
        } else {
            vec!["some-other-api".to_string()]
        },
        rate_limit_per_minute: None,
    }
}

/// Three applications (RS512, ES256, and ES256 without BaRS) and a fresh proxy key.
pub fn state() -> AuthState {
    let apps = Applications::from_list([
        application(RSA_CLIENT, &[rsa_key()], true),
        application(EC_CLIENT, &[ec_key()], true),
        application(NO_BARS_CLIENT, &[ec_key()], false),
    ])
    .expect("valid applications");
    AuthState::new(
        AuthConfig::new(TOKEN_URL, ISSUER),
        apps,
        ProxySigningKey::generate().expect("proxy key"),
    )
}

/// The claims of a good assertion from `client_id`, issued `now`.
pub fn claims(client_id: &str, now: i64) -> Value {
    json!({
        "iss": client_id,
        "sub": client_id,
        "aud": TOKEN_URL,
        "jti": uuid::Uuid::new_v4().to_string(),
        "iat": now,
        "exp": now + 240,
    })
}

pub fn header(alg: &str, kid: &str) -> Value {
    json!({ "alg": alg, "kid": kid, "typ": "JWT" })
}

fn b64(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}

/// Signs any header and claims with a PEM key (whatever the header says).
pub fn sign_jwt(header: &Value, claims: &Value, pem: &str, alg: Algorithm) -> String {
    let input = format!("{}.{}", b64(header), b64(claims));
    let key = match alg {
        Algorithm::ES256 => EncodingKey::from_ec_pem(pem.as_bytes()),
        _ => EncodingKey::from_rsa_pem(pem.as_bytes()),
    }
    .expect("test key");
    let sig = jsonwebtoken::crypto::sign(input.as_bytes(), &key, alg).expect("signs");
    format!("{input}.{sig}")
}

/// A good assertion signed by `key` for `client_id`, with claims adjusted by `edit`.
pub fn assertion(client_id: &str, key: &SigningKey, edit: impl FnOnce(&mut Value)) -> String {
    let mut c = claims(client_id, super::unix_now());
    edit(&mut c);
    let alg = match key.algorithm {
        KeyAlgorithm::RS512 => Algorithm::RS512,
        KeyAlgorithm::ES256 => Algorithm::ES256,
    };
    sign_jwt(
        &header(key.algorithm.as_str(), &key.kid),
        &c,
        &key.private_pem,
        alg,
    )
}

/// `alg: none` style: no signature at all.
pub fn unsigned_jwt(header: &Value, claims: &Value) -> String {
    format!("{}.{}.", b64(header), b64(claims))
}

/// HMAC-signed with `secret` (the classic key-confusion attempt uses the public key as secret).
pub fn hs256_jwt(header: &Value, claims: &Value, secret: &[u8]) -> String {
    let input = format!("{}.{}", b64(header), b64(claims));
    let sig = jsonwebtoken::crypto::sign(
        input.as_bytes(),
        &EncodingKey::from_secret(secret),
        Algorithm::HS256,
    )
    .expect("signs");
    format!("{input}.{sig}")
}

/// Removes a claim or header field.
pub fn without(mut value: Value, name: &str) -> Value {
    if let Some(obj) = value.as_object_mut() {
        obj.remove(name);
    }
    value
}

pub const ASSERTION_LIFETIME: Duration = Duration::from_secs(240);
