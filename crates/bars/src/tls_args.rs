//! TLS flags shared by the roles that listen.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use bars_pki::Identity;
use bars_pki::tls::{ClientAuth, server_config};
use bars_stack::roles::ServerTls;

use crate::settings::{Problems, Rebase, rebase_path};

/// The `[tls]` table of a role's file, or the `--tls-*` flags.
#[derive(Debug, Clone, Default, clap::Args, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsArgs {
    /// Serve HTTPS with this certificate (PEM); needs --tls-key.
    #[arg(long, env = "BARS_TLS_CERT")]
    #[serde(rename = "cert", default)]
    pub tls_cert: Option<PathBuf>,
    /// The certificate's private key (PEM).
    #[arg(long, env = "BARS_TLS_KEY")]
    #[serde(rename = "key", default)]
    pub tls_key: Option<PathBuf>,
    /// Verify client certificates against this CA (PEM): mutual TLS with the proxy.
    #[arg(long, env = "BARS_CLIENT_CA")]
    #[serde(default)]
    pub client_ca: Option<PathBuf>,
    /// With --client-ca: refuse requests without a client certificate (403 REC_FORBIDDEN).
    #[arg(long, env = "BARS_REQUIRE_CLIENT_CERT")]
    #[serde(default)]
    pub require_client_cert: bool,
}

crate::layered!(TlsArgs {
    tls_cert,
    tls_key,
    client_ca,
    require_client_cert
});

impl Rebase for TlsArgs {
    fn rebase(&mut self, dir: &Path) {
        rebase_path(&mut self.tls_cert, dir);
        rebase_path(&mut self.tls_key, dir);
        rebase_path(&mut self.client_ca, dir);
    }
}

impl TlsArgs {
    pub fn check(&self, problems: &mut Problems) {
        problems.together(("tls.cert", &self.tls_cert), ("tls.key", &self.tls_key));
        if self.tls_cert.is_none() && self.client_ca.is_some() {
            problems.error("tls.client_ca", "needs tls.cert and tls.key");
        }
        if self.require_client_cert && self.client_ca.is_none() {
            problems.error("tls.require_client_cert", "needs tls.client_ca");
        }
        problems.readable("tls.cert", self.tls_cert.as_ref());
        problems.readable("tls.key", self.tls_key.as_ref());
        problems.readable("tls.client_ca", self.client_ca.as_ref());
    }

    pub fn scheme(&self) -> &'static str {
        if self.tls_cert.is_some() {
            "https"
        } else {
            "http"
        }
    }
}

fn read(path: &PathBuf) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

impl TlsArgs {
    /// The API listener's TLS, read from the files; `None` serves plain HTTP.
    pub fn listener(&self) -> anyhow::Result<Option<ServerTls>> {
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
        let config =
            server_config(&identity, ca.as_deref(), auth).map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(Some(ServerTls {
            config,
            require_client_certificate: self.require_client_cert,
        }))
    }
}
