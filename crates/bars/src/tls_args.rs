//! TLS flags shared by the roles that listen.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, bail};
use bars_pki::Identity;
use bars_pki::tls::{ClientAuth, server_config};

#[derive(Debug, Clone, Default, clap::Args)]
pub struct TlsArgs {
    /// Serve HTTPS with this certificate (PEM); needs --tls-key.
    #[arg(long, env = "BARS_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,
    /// The certificate's private key (PEM).
    #[arg(long, env = "BARS_TLS_KEY")]
    pub tls_key: Option<PathBuf>,
    /// Verify client certificates against this CA (PEM): mutual TLS with the proxy.
    #[arg(long, env = "BARS_CLIENT_CA")]
    pub client_ca: Option<PathBuf>,
    /// With --client-ca: refuse requests without a client certificate (403 REC_FORBIDDEN).
    #[arg(long, env = "BARS_REQUIRE_CLIENT_CERT")]
    pub require_client_cert: bool,
}

/// A TLS listener ready to use.
pub struct Listener {
    pub server_config: Arc<rustls::ServerConfig>,
    pub require_client_certificate: bool,
}

fn read(path: &PathBuf) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

impl TlsArgs {
    pub fn listener(&self) -> anyhow::Result<Option<Listener>> {
        let (cert, key) = match (&self.tls_cert, &self.tls_key) {
            (None, None) => {
                if self.client_ca.is_some() || self.require_client_cert {
                    bail!("--client-ca and --require-client-cert need --tls-cert and --tls-key");
                }
                return Ok(None);
            }
            (Some(c), Some(k)) => (c, k),
            _ => bail!("--tls-cert and --tls-key go together"),
        };
        if self.require_client_cert && self.client_ca.is_none() {
            bail!("--require-client-cert needs --client-ca");
        }
        let identity = Identity {
            cert_pem: read(cert)?,
            key_pem: read(key)?,
        };
        let ca = self.client_ca.as_ref().map(read).transpose()?;
        let auth = if ca.is_some() {
            ClientAuth::Optional
        } else {
            ClientAuth::None
        };
        let server_config =
            server_config(&identity, ca.as_deref(), auth).map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(Some(Listener {
            server_config,
            require_client_certificate: self.require_client_cert,
        }))
    }
}
