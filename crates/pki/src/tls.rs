//! rustls configurations from PEM: servers (optionally demanding client certificates from one
//! CA) and clients (trusting one CA, optionally presenting a certificate).

use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};

use crate::{Identity, PkiError};

fn certs(pem: &str) -> Result<Vec<CertificateDer<'static>>, PkiError> {
    let certs: Vec<_> = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<_, _>>()
        .map_err(|e| PkiError::Invalid(format!("certificate PEM: {e}")))?;
    if certs.is_empty() {
        return Err(PkiError::Invalid("no certificate in the PEM".into()));
    }
    Ok(certs)
}

/// Checks that a PEM text holds at least one readable certificate.
pub fn check_certificates(pem: &str) -> Result<(), PkiError> {
    certs(pem).map(|_| ())
}

fn key(pem: &str) -> Result<PrivateKeyDer<'static>, PkiError> {
    PrivateKeyDer::from_pem_slice(pem.as_bytes())
        .map_err(|e| PkiError::Invalid(format!("private key PEM: {e}")))
}

fn roots(ca_pem: &str) -> Result<RootCertStore, PkiError> {
    let mut roots = RootCertStore::empty();
    for c in certs(ca_pem)? {
        roots.add(c).map_err(|e| PkiError::Tls(e.to_string()))?;
    }
    Ok(roots)
}

/// Whether a server asks clients for certificates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// Plain server TLS.
    None,
    /// Clients may present a certificate from the CA; one from elsewhere fails the handshake,
    /// none at all is let through for the application to refuse with a proper 403.
    Optional,
    /// The handshake fails without a certificate from the CA.
    Required,
}

pub fn server_config(
    identity: &Identity,
    client_ca_pem: Option<&str>,
    auth: ClientAuth,
) -> Result<Arc<ServerConfig>, PkiError> {
    let builder = ServerConfig::builder();
    let builder = match (auth, client_ca_pem) {
        (ClientAuth::None, _) => builder.with_no_client_auth(),
        (_, None) => {
            return Err(PkiError::Tls(
                "client certificate checks need a client CA".into(),
            ));
        }
        (mode, Some(ca)) => {
            let verifier = WebPkiClientVerifier::builder(Arc::new(roots(ca)?));
            let verifier = if mode == ClientAuth::Optional {
                verifier.allow_unauthenticated()
            } else {
                verifier
            };
            builder.with_client_cert_verifier(
                verifier.build().map_err(|e| PkiError::Tls(e.to_string()))?,
            )
        }
    };
    let mut config = builder
        .with_single_cert(certs(&identity.cert_pem)?, key(&identity.key_pem)?)
        .map_err(|e| PkiError::Tls(e.to_string()))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

pub fn client_config(
    trust_ca_pem: &str,
    identity: Option<&Identity>,
) -> Result<ClientConfig, PkiError> {
    let builder = ClientConfig::builder().with_root_certificates(roots(trust_ca_pem)?);
    match identity {
        Some(id) => builder
            .with_client_auth_cert(certs(&id.cert_pem)?, key(&id.key_pem)?)
            .map_err(|e| PkiError::Tls(e.to_string())),
        None => Ok(builder.with_no_client_auth()),
    }
}
