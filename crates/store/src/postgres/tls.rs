//! Encryption of the link to PostgreSQL, set by libpq's URL parameters `sslmode` and
//! `sslrootcert`, on rustls with the process's crypto provider (aws-lc-rs, as everywhere else).
//!
//! The driver knows only `disable`, `prefer` and `require`, none of which checks who answers;
//! so the store takes both parameters out of the URL itself, and the certificate check lives
//! in the rustls configuration it hands the driver:
//!
//! * `disable`: plain TCP.
//! * `require`: encrypted, the certificate not checked (as libpq): safe against listening,
//!   not against a machine in the middle.
//! * `verify-full`: encrypted, the certificate chained to `sslrootcert` (a PEM file, or
//!   `system` for the platform's trust store, which is also what no `sslrootcert` means) and
//!   issued for the host name (or IP address) the URL connects to.
//!
//! Without `sslmode`, a server reached only on this machine (loopback, a Unix socket) gets
//! `disable` and any other `verify-full`: data never crosses a network in clear unless the URL
//! says `sslmode=disable`, and a local development server needs no certificate. libpq's
//! `allow`, `prefer` (a machine in the middle can turn them into plain text) and `verify-ca`
//! (any certificate of the CA would do) are refused rather than weakened or strengthened
//! silently.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use tokio_postgres::config::Host;
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::error::StoreError;

/// What the link to the server must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    Disable,
    Require,
    VerifyFull,
}

/// Where the CAs that `verify-full` trusts come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Roots {
    /// A PEM file of one or more CA certificates (`sslrootcert=PATH`).
    File(PathBuf),
    /// The platform's trust store (`sslrootcert=system`, or no `sslrootcert`).
    Platform,
}

/// The TLS settings of one database URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    pub mode: SslMode,
    pub roots: Roots,
}

fn bad(what: &str) -> StoreError {
    StoreError::Internal(format!("invalid PostgreSQL URL: {what}"))
}

/// The URL's `sslmode` and `sslrootcert` (already percent-decoded), resolved against the
/// driver's configuration for the default.
pub fn settings(
    sslmode: Option<&str>,
    sslrootcert: Option<&str>,
    driver: &tokio_postgres::Config,
) -> Result<TlsSettings, StoreError> {
    let roots = match sslrootcert {
        None | Some("system") => Roots::Platform,
        Some("") => return Err(bad("sslrootcert is empty")),
        Some(path) => Roots::File(PathBuf::from(path)),
    };
    let mode = match sslmode {
        Some("disable") => SslMode::Disable,
        Some("require") => SslMode::Require,
        Some("verify-full") => SslMode::VerifyFull,
        Some(weak @ ("allow" | "prefer")) => {
            return Err(bad(&format!(
                "sslmode={weak} is not supported: it falls back to plain text whenever the \
                 server (or a machine in the middle) says so; use verify-full, require, or \
                 disable for a server on this machine"
            )));
        }
        Some("verify-ca") => {
            return Err(bad(
                "sslmode=verify-ca is not supported: it accepts any certificate of the CA, \
                 whatever host it was issued for; use verify-full",
            ));
        }
        Some(other) => {
            return Err(bad(&format!(
                "sslmode={other} is unknown; use disable, require or verify-full"
            )));
        }
        None if sslrootcert.is_none() && only_this_machine(driver) => SslMode::Disable,
        None => SslMode::VerifyFull,
    };
    if sslrootcert.is_some() && mode != SslMode::VerifyFull {
        return Err(bad(
            "sslrootcert is given but sslmode does not check certificates; use sslmode=verify-full",
        ));
    }
    Ok(TlsSettings { mode, roots })
}

/// True when every address the driver may connect to is on this machine.
fn only_this_machine(driver: &tokio_postgres::Config) -> bool {
    let hosts = driver.get_hosts();
    let addrs = driver.get_hostaddrs();
    if hosts.is_empty() && addrs.is_empty() {
        return false;
    }
    let local_host = |h: &Host| match h {
        Host::Tcp(name) => {
            name.eq_ignore_ascii_case("localhost")
                || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
        }
        #[cfg(unix)]
        Host::Unix(_) => true,
    };
    (0..hosts.len().max(addrs.len())).all(|i| match addrs.get(i) {
        Some(ip) => ip.is_loopback(),
        None => hosts.get(i).is_some_and(local_host),
    })
}

impl TlsSettings {
    /// The driver's own mode: it only needs to know whether to insist on TLS.
    pub fn driver_mode(&self) -> tokio_postgres::config::SslMode {
        match self.mode {
            SslMode::Disable => tokio_postgres::config::SslMode::Disable,
            SslMode::Require | SslMode::VerifyFull => tokio_postgres::config::SslMode::Require,
        }
    }

    /// The connector the driver opens TLS with; reads the CA file now, so a missing or
    /// unreadable one stops start-up.
    pub fn connector(&self) -> Result<MakeRustlsConnect, StoreError> {
        let provider = CryptoProvider::get_default()
            .cloned()
            .unwrap_or_else(|| Arc::new(rustls::crypto::aws_lc_rs::default_provider()));
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| StoreError::Internal(format!("TLS for PostgreSQL: {e}")))?;
        let config = match self.mode {
            // Never used (the driver does not ask for TLS), and it would trust nothing.
            SslMode::Disable => builder
                .with_root_certificates(RootCertStore::empty())
                .with_no_client_auth(),
            SslMode::Require => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(EncryptOnly(provider)))
                .with_no_client_auth(),
            SslMode::VerifyFull => builder
                .with_root_certificates(self.load_roots()?)
                .with_no_client_auth(),
        };
        Ok(MakeRustlsConnect::new(config))
    }

    fn load_roots(&self) -> Result<RootCertStore, StoreError> {
        let mut store = RootCertStore::empty();
        match &self.roots {
            Roots::File(path) => {
                for cert in read_pem(path)? {
                    store.add(cert).map_err(|e| {
                        StoreError::Internal(format!(
                            "sslrootcert={}: not a usable CA certificate: {e}",
                            path.display()
                        ))
                    })?;
                }
            }
            Roots::Platform => {
                let found = rustls_native_certs::load_native_certs();
                store.add_parsable_certificates(found.certs);
                if store.is_empty() {
                    return Err(StoreError::Internal(
                        "sslmode=verify-full: the platform's trust store has no certificates \
                         to verify the PostgreSQL server with; set sslrootcert=PATH to its CA"
                            .into(),
                    ));
                }
            }
        }
        Ok(store)
    }

    fn roots_named(&self) -> String {
        match &self.roots {
            Roots::File(path) => format!("the CA in sslrootcert={}", path.display()),
            Roots::Platform => {
                "any CA of the platform's trust store (set sslrootcert=PATH to the server's CA)"
                    .into()
            }
        }
    }

    /// Says why a connection could not be opened in words an operator can act on, when TLS is
    /// the reason: which check failed and against what. `None` for any other failure.
    pub fn explain(&self, e: &tokio_postgres::Error, hosts: &str) -> Option<String> {
        // The driver's message is only "error performing TLS handshake": the reason is its
        // source (the driver's own words, or the rustls error inside an I/O error).
        let source = std::error::Error::source(e)?;
        if !e.to_string().contains("TLS") {
            return None;
        }
        if source.to_string().contains("server does not support TLS") {
            return Some(format!(
                "the PostgreSQL server at {hosts} does not accept TLS connections, and the URL \
                 requires them (sslmode); turn ssl on at the server"
            ));
        }
        let rustls_error = source
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .and_then(|inner| inner.downcast_ref::<rustls::Error>());
        let problem = match rustls_error {
            Some(rustls::Error::InvalidCertificate(cert)) => match cert {
                CertificateError::UnknownIssuer => {
                    format!("its certificate is not signed by {}", self.roots_named())
                }
                CertificateError::NotValidForName
                | CertificateError::NotValidForNameContext { .. } => format!(
                    "its certificate is not issued for the host name the URL connects to \
                     ({cert}); connect by a name the certificate carries"
                ),
                CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                    format!("its certificate has expired ({cert})")
                }
                other => format!("its certificate was refused ({other})"),
            },
            Some(other) => format!("the TLS handshake failed ({other})"),
            None => format!("the TLS handshake failed ({source})"),
        };
        let mode = match self.mode {
            SslMode::Disable => "disable",
            SslMode::Require => "require",
            SslMode::VerifyFull => "verify-full",
        };
        Some(format!(
            "refused the PostgreSQL server at {hosts} (sslmode={mode}): {problem}"
        ))
    }
}

fn read_pem(path: &Path) -> Result<Vec<CertificateDer<'static>>, StoreError> {
    let fail =
        |what: String| StoreError::Internal(format!("sslrootcert={}: {what}", path.display()));
    let pem = std::fs::read(path).map_err(|e| fail(format!("cannot be read: {e}")))?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| fail(format!("not a PEM file of certificates: {e}")))?;
    if certs.is_empty() {
        return Err(fail("holds no PEM certificate".into()));
    }
    Ok(certs)
}

/// `sslmode=require`: any certificate is accepted (there is nothing to check it against), but
/// the handshake's signatures are still verified, so the session key is the server's.
#[derive(Debug)]
struct EncryptOnly(Arc<CryptoProvider>);

impl ServerCertVerifier for EncryptOnly {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    fn driver(url: &str) -> tokio_postgres::Config {
        tokio_postgres::Config::from_str(url).unwrap()
    }

    fn mode(url: &str, sslmode: Option<&str>, root: Option<&str>) -> Result<SslMode, String> {
        settings(sslmode, root, &driver(url))
            .map(|s| s.mode)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn without_sslmode_only_a_server_on_this_machine_is_reached_in_clear() {
        for local in [
            "postgres://u@127.0.0.1/db",
            "postgres://u@localhost:5433/db",
            "postgres://u@[::1]/db",
            "postgres://u@%2Fvar%2Frun%2Fpostgresql/db",
            "postgres://u@db.example/db?hostaddr=127.0.0.1",
        ] {
            assert_eq!(mode(local, None, None), Ok(SslMode::Disable), "{local}");
        }
        for remote in [
            "postgres://u@db.example/db",
            "postgres://u@10.1.2.3/db",
            "postgres://u@127.0.0.1,db.example/db",
            "postgres://u@localhost/db?hostaddr=10.0.0.7",
        ] {
            assert_eq!(
                mode(remote, None, None),
                Ok(SslMode::VerifyFull),
                "{remote}"
            );
        }
        // A CA file says the operator wants the server checked, wherever it is.
        assert_eq!(
            mode("postgres://u@127.0.0.1/db", None, Some("/ca.pem")),
            Ok(SslMode::VerifyFull)
        );
    }

    #[test]
    fn an_explicit_mode_wins_and_weak_or_unknown_modes_are_refused() {
        let url = "postgres://u@db.example/db";
        assert_eq!(mode(url, Some("disable"), None), Ok(SslMode::Disable));
        assert_eq!(mode(url, Some("require"), None), Ok(SslMode::Require));
        assert_eq!(
            mode("postgres://u@127.0.0.1/db", Some("verify-full"), None),
            Ok(SslMode::VerifyFull)
        );
        for (weak, says) in [
            ("prefer", "falls back to plain text"),
            ("allow", "falls back to plain text"),
            ("verify-ca", "whatever host"),
            ("verify_full", "is unknown"),
        ] {
            let e = mode(url, Some(weak), None).unwrap_err();
            assert!(e.contains(says), "{weak}: {e}");
        }
        let e = mode(url, Some("require"), Some("/ca.pem")).unwrap_err();
        assert!(e.contains("use sslmode=verify-full"), "{e}");
    }

    #[test]
    fn sslrootcert_names_a_file_or_the_platform_store() {
        let d = driver("postgres://u@db.example/db");
        let file = settings(None, Some("/etc/bars/pg-ca.pem"), &d).unwrap();
        assert_eq!(file.roots, Roots::File("/etc/bars/pg-ca.pem".into()));
        assert_eq!(
            settings(None, Some("system"), &d).unwrap().roots,
            Roots::Platform
        );
        assert_eq!(settings(None, None, &d).unwrap().roots, Roots::Platform);
    }

    #[test]
    fn a_missing_or_empty_ca_file_stops_start_up_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.pem");
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        for (path, says) in [
            (&missing, "cannot be read"),
            (&empty, "holds no PEM certificate"),
        ] {
            let tls = TlsSettings {
                mode: SslMode::VerifyFull,
                roots: Roots::File(path.clone()),
            };
            let e = tls.connector().err().unwrap().to_string();
            assert!(e.contains(&path.display().to_string()), "{e}");
            assert!(e.contains(says), "{e}");
        }
    }

    /// A server that answers the TLS request with "no" (PostgreSQL's `N`, as with `ssl = off`).
    async fn plain_only_server() -> u16 {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut request = [0u8; 8];
            socket.read_exact(&mut request).await.unwrap();
            socket.write_all(b"N").await.unwrap();
            let _ = socket.read(&mut request).await;
        });
        port
    }

    #[tokio::test]
    async fn a_server_without_tls_is_refused_saying_so() {
        let port = plain_only_server().await;
        let url = format!("postgres://u@127.0.0.1:{port}/db?sslmode=require");
        let e = crate::postgres::connect_client(&url).await.err().unwrap();
        let e = e.to_string();
        assert!(e.contains("does not accept TLS connections"), "{e}");
        assert!(e.contains("127.0.0.1"), "{e}");
    }
}
