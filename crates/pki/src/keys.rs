//! Signing keys for sender applications' client assertions (RFC 7523), with the public JWK the
//! proxy registers to verify them.

use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rcgen::KeyPair;
use serde_json::{Value, json};

use crate::{PkiError, der, read_file, write_file, write_secret};

/// The JWT algorithms BaRS senders use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Algorithm {
    RS512,
    ES256,
}

impl Algorithm {
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::RS512 => "RS512",
            Algorithm::ES256 => "ES256",
        }
    }

    pub fn parse(s: &str) -> Option<Algorithm> {
        match s {
            "RS512" => Some(Algorithm::RS512),
            "ES256" => Some(Algorithm::ES256),
            _ => None,
        }
    }
}

/// A private signing key (PKCS#8 PEM) and its public half as a JWK.
#[derive(Debug, Clone, PartialEq)]
pub struct SigningKey {
    pub kid: String,
    pub algorithm: Algorithm,
    pub private_pem: String,
    pub public_jwk: Value,
}

impl SigningKey {
    pub fn generate(algorithm: Algorithm, kid: &str) -> Result<SigningKey, PkiError> {
        let key = match algorithm {
            Algorithm::RS512 => KeyPair::generate_for(&rcgen::PKCS_RSA_SHA512)?,
            Algorithm::ES256 => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?,
        };
        let public_jwk = jwk(algorithm, kid, key.public_key_raw())?;
        Ok(SigningKey {
            kid: kid.to_string(),
            algorithm,
            private_pem: key.serialize_pem(),
            public_jwk,
        })
    }

    /// Writes `<name>.key.pem` (owner-only) and `<name>.jwk.json`.
    pub fn write(&self, dir: &Path, name: &str) -> Result<(), PkiError> {
        write_secret(&dir.join(format!("{name}.key.pem")), &self.private_pem)?;
        let jwks = json!({ "keys": [self.public_jwk] });
        write_file(
            &dir.join(format!("{name}.jwk.json")),
            &serde_json::to_string_pretty(&jwks).unwrap_or_default(),
        )
    }

    pub fn read(dir: &Path, name: &str) -> Result<SigningKey, PkiError> {
        let private_pem = read_file(&dir.join(format!("{name}.key.pem")))?;
        let jwks: Value = serde_json::from_str(&read_file(&dir.join(format!("{name}.jwk.json")))?)
            .map_err(|e| PkiError::Invalid(e.to_string()))?;
        let public_jwk = jwks["keys"][0].clone();
        let kid = public_jwk["kid"]
            .as_str()
            .ok_or_else(|| PkiError::Invalid("the JWK has no kid".into()))?
            .to_string();
        let algorithm = public_jwk["alg"]
            .as_str()
            .and_then(Algorithm::parse)
            .ok_or_else(|| PkiError::Invalid("the JWK has no supported alg".into()))?;
        Ok(SigningKey {
            kid,
            algorithm,
            private_pem,
            public_jwk,
        })
    }
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The public JWK for a raw public key: PKCS#1 for RSA, an uncompressed point for P-256.
fn jwk(algorithm: Algorithm, kid: &str, raw: &[u8]) -> Result<Value, PkiError> {
    match algorithm {
        Algorithm::RS512 => {
            let (n, e) = der::rsa_public_key(raw)
                .ok_or_else(|| PkiError::Invalid("unreadable RSA public key".into()))?;
            Ok(
                json!({ "kty": "RSA", "use": "sig", "alg": "RS512", "kid": kid, "n": b64(&n), "e": b64(&e) }),
            )
        }
        Algorithm::ES256 => {
            if raw.len() != 65 || raw[0] != 4 {
                return Err(PkiError::Invalid("unexpected P-256 public key".into()));
            }
            Ok(
                json!({ "kty": "EC", "use": "sig", "alg": "ES256", "kid": kid, "crv": "P-256", "x": b64(&raw[1..33]), "y": b64(&raw[33..]) }),
            )
        }
    }
}
