//! A development PKI so that the whole BaRS stack runs locally with real TLS: a certificate
//! authority, server certificates for receivers and the registry, the proxy's client
//! certificate for mutual TLS, and signing keys (with public JWKs) for sender applications.
//!
//! Also the rustls configurations every role builds from PEM files, so that TLS set-up lives
//! in one place.

mod der;
pub mod keys;
pub mod tls;

use std::path::Path;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use time::{Duration, OffsetDateTime};

pub use keys::{Algorithm, SigningKey};

#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error("certificate generation failed: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("{0}")]
    Io(String),
    #[error("invalid PEM or key material: {0}")]
    Invalid(String),
    #[error("TLS configuration failed: {0}")]
    Tls(String),
}

/// The name a development CA is generated and reloaded under (`bars pki init`, `bars demo`).
pub const DEV_CA_NAME: &str = "BaRS development CA";

/// A certificate and its private key, both PEM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub cert_pem: String,
    pub key_pem: String,
}

impl Identity {
    pub fn write(&self, dir: &Path, name: &str) -> Result<(), PkiError> {
        write_file(&dir.join(format!("{name}.pem")), &self.cert_pem)?;
        write_secret(&dir.join(format!("{name}.key.pem")), &self.key_pem)
    }

    pub fn read(dir: &Path, name: &str) -> Result<Identity, PkiError> {
        Ok(Identity {
            cert_pem: read_file(&dir.join(format!("{name}.pem")))?,
            key_pem: read_file(&dir.join(format!("{name}.key.pem")))?,
        })
    }
}

/// A certificate authority that issues the stack's certificates.
pub struct Ca {
    identity: Identity,
    issuer: Issuer<'static, KeyPair>,
}

/// How long development certificates stay valid.
const VALIDITY_DAYS: i64 = 825;

fn validity(params: &mut CertificateParams) {
    let now = OffsetDateTime::now_utc();
    params.not_before = now - Duration::days(1);
    params.not_after = now + Duration::days(VALIDITY_DAYS);
}

fn name(common_name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "BaRS development PKI");
    dn.push(DnType::CommonName, common_name);
    dn
}

impl Ca {
    pub fn generate(common_name: &str) -> Result<Ca, PkiError> {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.distinguished_name = name(common_name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        validity(&mut params);
        let cert = params.self_signed(&key)?;
        let identity = Identity {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        };
        Ok(Ca {
            identity,
            issuer: Issuer::new(params, key),
        })
    }

    /// Reloads a CA this crate generated under `common_name`: the issuer is rebuilt from the
    /// key and the name, which is all a signer puts into the certificates it issues.
    pub fn load(identity: Identity, common_name: &str) -> Result<Ca, PkiError> {
        let key = KeyPair::from_pem(&identity.key_pem)?;
        tls::check_certificates(&identity.cert_pem)?;
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.distinguished_name = name(common_name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        Ok(Ca {
            identity,
            issuer: Issuer::new(params, key),
        })
    }

    pub fn cert_pem(&self) -> &str {
        &self.identity.cert_pem
    }

    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// A server certificate for these DNS names and IP addresses.
    pub fn issue_server(&self, common_name: &str, names: &[&str]) -> Result<Identity, PkiError> {
        self.issue(common_name, names, ExtendedKeyUsagePurpose::ServerAuth)
    }

    /// A client certificate, as the proxy presents to receivers.
    pub fn issue_client(&self, common_name: &str) -> Result<Identity, PkiError> {
        self.issue(common_name, &[], ExtendedKeyUsagePurpose::ClientAuth)
    }

    fn issue(
        &self,
        common_name: &str,
        names: &[&str],
        usage: ExtendedKeyUsagePurpose,
    ) -> Result<Identity, PkiError> {
        let key = KeyPair::generate()?;
        let mut params =
            CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())?;
        params.distinguished_name = name(common_name);
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![usage];
        params.use_authority_key_identifier_extension = true;
        validity(&mut params);
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok(Identity {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }
}

pub fn write_file(path: &Path, text: &str) -> Result<(), PkiError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| PkiError::Io(format!("{}: {e}", dir.display())))?;
    }
    std::fs::write(path, text).map_err(|e| PkiError::Io(format!("{}: {e}", path.display())))
}

/// Writes a private key readable by its owner only.
pub fn write_secret(path: &Path, text: &str) -> Result<(), PkiError> {
    write_file(path, text)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| PkiError::Io(format!("{}: {e}", path.display())))?;
    }
    Ok(())
}

pub fn read_file(path: &Path) -> Result<String, PkiError> {
    std::fs::read_to_string(path).map_err(|e| PkiError::Io(format!("{}: {e}", path.display())))
}

#[cfg(test)]
mod tests;
