//! Which JWT algorithm a sender's private key signs with, read from the key itself.
//!
//! A sender is registered with a key, and the key settles the algorithm: RS512 for RSA, ES256
//! for EC P-256. Asking for the algorithm separately only adds a way to get the pair wrong
//! (`bars pki init` makes RS512 keys unless told otherwise), so the SDK reads it from the key
//! and treats an algorithm that is given anyway as a claim to check.

use aws_lc_rs::rsa::KeyPair as RsaKeyPair;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
use rustls_pki_types::PrivateKeyDer;
use rustls_pki_types::pem::PemObject;

/// RSASSA-PKCS1-v1_5 with SHA-512: what an RSA key signs with.
pub const RS512: &str = "RS512";
/// ECDSA on P-256 with SHA-256: what an EC P-256 key signs with.
pub const ES256: &str = "ES256";

/// Why no assertion was produced. Never carries key material. It is declared here, beside the
/// key rules that raise most of its variants, so that reading a key depends on nothing else in
/// the crate; `assertion` re-exports it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AssertionError {
    #[error("unsupported algorithm {0:?}: use RS512 or ES256")]
    UnsupportedAlgorithm(String),
    #[error("the private key is not a PKCS#8 PEM key for {0}")]
    InvalidKey(&'static str),
    #[error("the private key is not a PEM private key (-----BEGIN PRIVATE KEY-----)")]
    NotAPrivateKey,
    #[error("the private key is neither an RSA nor an EC P-256 key in PKCS#8 PEM")]
    UnsupportedKey,
    #[error(
        "{requested} was asked for, but the private key is an {key} ({}) key: \
         leave the algorithm out or give the matching key",
        if *key == RS512 { "RSA" } else { "EC P-256" }
    )]
    AlgorithmMismatch {
        requested: String,
        key: &'static str,
    },
    #[error("client_id, kid and audience must not be empty")]
    MissingField,
    #[error("the lifetime must be at least one second")]
    InvalidLifetime,
    #[error("the system clock is before 1970")]
    Clock,
    #[error("signing failed: {0}")]
    Signing(String),
}

/// The algorithm `private_pem` signs with: `ES256` for an EC P-256 key in PKCS#8, `RS512` for
/// an RSA key in PKCS#8 (or PKCS#1 `RSA PRIVATE KEY`). The key is parsed by the same library
/// that signs, so a key it cannot use is refused here, never half-way through a call.
pub fn key_algorithm(private_pem: &str) -> Result<&'static str, AssertionError> {
    let key = PrivateKeyDer::from_pem_slice(private_pem.as_bytes())
        .map_err(|_| AssertionError::NotAPrivateKey)?;
    let algorithm = match &key {
        PrivateKeyDer::Pkcs8(der) => {
            let der = der.secret_pkcs8_der();
            if EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der).is_ok() {
                Some(ES256)
            } else if RsaKeyPair::from_pkcs8(der).is_ok() {
                Some(RS512)
            } else {
                None
            }
        }
        PrivateKeyDer::Pkcs1(der) => RsaKeyPair::from_der(der.secret_pkcs1_der())
            .ok()
            .map(|_| RS512),
        // SEC1 `EC PRIVATE KEY`: the signer reads EC keys only as PKCS#8.
        _ => None,
    };
    algorithm.ok_or(AssertionError::UnsupportedKey)
}

/// The algorithm to sign with: the key's own; `requested`, when given, must name the same one.
pub fn resolve_algorithm(
    requested: Option<&str>,
    private_pem: &str,
) -> Result<&'static str, AssertionError> {
    if let Some(requested) = requested
        && requested != RS512
        && requested != ES256
    {
        // Echo at most a short prefix: the value is the caller's, but keep errors tidy.
        return Err(AssertionError::UnsupportedAlgorithm(
            requested.chars().take(16).collect(),
        ));
    }
    let from_key = key_algorithm(private_pem)?;
    match requested {
        Some(requested) if requested != from_key => Err(AssertionError::AlgorithmMismatch {
            requested: requested.to_string(),
            key: from_key,
        }),
        _ => Ok(from_key),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bars_pki::{Algorithm, SigningKey};

    fn pem(algorithm: Algorithm) -> String {
        SigningKey::generate(algorithm, "k")
            .expect("a key")
            .private_pem
    }

    #[test]
    fn the_algorithm_is_read_from_the_key() {
        assert_eq!(key_algorithm(&pem(Algorithm::RS512)), Ok(RS512));
        assert_eq!(key_algorithm(&pem(Algorithm::ES256)), Ok(ES256));
        assert_eq!(resolve_algorithm(None, &pem(Algorithm::RS512)), Ok(RS512));
        assert_eq!(resolve_algorithm(None, &pem(Algorithm::ES256)), Ok(ES256));
    }

    #[test]
    fn an_algorithm_given_as_well_must_agree_with_the_key() {
        let rsa = pem(Algorithm::RS512);
        let ec = pem(Algorithm::ES256);
        assert_eq!(resolve_algorithm(Some("RS512"), &rsa), Ok(RS512));
        assert_eq!(resolve_algorithm(Some("ES256"), &ec), Ok(ES256));
        let wrong = resolve_algorithm(Some("ES256"), &rsa);
        assert_eq!(
            wrong,
            Err(AssertionError::AlgorithmMismatch {
                requested: "ES256".into(),
                key: RS512
            })
        );
        assert_eq!(
            wrong.unwrap_err().to_string(),
            "ES256 was asked for, but the private key is an RS512 (RSA) key: \
             leave the algorithm out or give the matching key"
        );
        assert!(matches!(
            resolve_algorithm(Some("RS512"), &ec),
            Err(AssertionError::AlgorithmMismatch { key: ES256, .. })
        ));
        assert_eq!(
            resolve_algorithm(Some("HS256"), &rsa),
            Err(AssertionError::UnsupportedAlgorithm("HS256".into()))
        );
    }

    #[test]
    fn other_keys_are_refused_without_echoing_them() {
        assert_eq!(
            key_algorithm("not a pem"),
            Err(AssertionError::NotAPrivateKey)
        );
        // A certificate is PEM, but not a private key.
        let ca = bars_pki::Ca::generate("t").expect("a CA");
        assert_eq!(
            key_algorithm(ca.cert_pem()),
            Err(AssertionError::NotAPrivateKey)
        );
        // An EC key on another curve (P-384) is PKCS#8 but neither algorithm's.
        let p384 = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384)
            .expect("a P-384 key")
            .serialize_pem();
        let refused = key_algorithm(&p384);
        assert_eq!(refused, Err(AssertionError::UnsupportedKey));
        assert!(
            !refused
                .unwrap_err()
                .to_string()
                .contains("PRIVATE KEY-----")
        );
    }
}
