//! `bars proxy`: the central gateway senders talk to.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use bars_http::server::{RunningServer, ServerOptions};
use bars_pki::Identity;
use bars_proxy::auth::{
    Application, Applications, AuthConfig, AuthState, ProxySigningKey, TOKEN_PATH,
};
use bars_proxy::{Catalogue, Endpoint, Proxy, ProxyConfig};
use serde::Deserialize;

#[derive(Debug, Clone, clap::Args)]
pub struct ProxyArgs {
    /// Address senders reach the proxy at.
    #[arg(long, env = "BARS_PROXY_LISTEN", default_value = "127.0.0.1:9000")]
    pub listen: SocketAddr,
    /// Address of the admin API (catalogue, applications). Keep it private.
    #[arg(
        long,
        env = "BARS_PROXY_ADMIN_LISTEN",
        default_value = "127.0.0.1:9001"
    )]
    pub admin_listen: SocketAddr,
    /// The proxy's public base URL (default: http(s)://<listen>).
    #[arg(long, env = "BARS_PROXY_BASE_URL")]
    pub base_url: Option<String>,
    /// The endpoint catalogue and registered applications (TOML).
    #[arg(long, env = "BARS_PROXY_CONFIG")]
    pub config: Option<PathBuf>,
    /// Where `/DocumentReference` goes.
    #[arg(
        long,
        env = "BARS_REGISTRY_URL",
        default_value = "http://127.0.0.1:9100"
    )]
    pub registry_url: String,
    /// Seconds a receiver has to answer before senders get 408 REC_TIMEOUT.
    #[arg(long, env = "BARS_RECEIVER_TIMEOUT", default_value_t = 32)]
    pub receiver_timeout: u64,
    /// Requests a minute an application may make, unless its registration says otherwise.
    #[arg(long, env = "BARS_DEFAULT_RATE_LIMIT")]
    pub default_rate_limit: Option<u32>,
    /// CA (PEM) that receivers' and the registry's server certificates chain to.
    #[arg(long, env = "BARS_UPSTREAM_CA")]
    pub upstream_ca: Option<PathBuf>,
    /// The proxy's client certificate for mutual TLS with receivers (PEM), with --client-key.
    #[arg(long, env = "BARS_CLIENT_CERT")]
    pub client_cert: Option<PathBuf>,
    #[arg(long, env = "BARS_CLIENT_KEY")]
    pub client_key: Option<PathBuf>,
    /// The key the proxy signs access tokens with (PEM, P-256); generated at start when absent,
    /// which invalidates earlier tokens on restart.
    #[arg(long, env = "BARS_TOKEN_SIGNING_KEY")]
    pub token_signing_key: Option<PathBuf>,
    /// Bearer token the admin API requires.
    #[arg(long, env = "BARS_PROXY_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    #[command(flatten)]
    pub tls: crate::tls_args::TlsArgs,
}

/// The proxy's configuration file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProxyFile {
    #[serde(default)]
    pub endpoints: Vec<Endpoint>,
    #[serde(default)]
    pub applications: Vec<ApplicationEntry>,
}

/// An application as written in the file: its public keys inline or in a JWKS file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApplicationEntry {
    pub client_id: String,
    pub name: String,
    pub ods_code: String,
    #[serde(default = "default_products")]
    pub products: Vec<String>,
    #[serde(default)]
    pub rate_limit_per_minute: Option<u32>,
    /// A JWKS file (`{"keys": [...]}`), relative to the configuration file.
    #[serde(default)]
    pub jwks_file: Option<PathBuf>,
}

fn default_products() -> Vec<String> {
    vec![bars_proxy::auth::BARS_PRODUCT.to_string()]
}

impl ApplicationEntry {
    pub fn load(self, relative_to: &Path) -> anyhow::Result<Application> {
        let Some(file) = &self.jwks_file else {
            bail!("application {} has no jwks_file", self.client_id)
        };
        let path = if file.is_absolute() {
            file.clone()
        } else {
            relative_to.join(file)
        };
        let jwks: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(&path)
                .with_context(|| format!("reading {}", path.display()))?,
        )
        .with_context(|| format!("{} is not JSON", path.display()))?;
        let keys = jwks["keys"].as_array().cloned().unwrap_or_default();
        if keys.is_empty() {
            bail!("{} holds no keys", path.display());
        }
        Ok(Application {
            client_id: self.client_id,
            name: self.name,
            ods_code: self.ods_code,
            keys,
            products: self.products,
            rate_limit_per_minute: self.rate_limit_per_minute,
        })
    }
}

pub fn read_file(path: &Path) -> anyhow::Result<ProxyFile> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    toml::from_str(&text)
        .with_context(|| format!("{} is not a valid proxy configuration", path.display()))
}

fn read(path: &PathBuf) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

pub struct RunningProxy {
    pub api: RunningServer,
    pub admin: RunningServer,
}

impl ProxyArgs {
    /// Builds the proxy from the flags and the configuration file.
    pub fn build(&self) -> anyhow::Result<Proxy> {
        let scheme = if self.tls.tls_cert.is_some() {
            "https"
        } else {
            "http"
        };
        let base_url = self
            .base_url
            .clone()
            .unwrap_or_else(|| format!("{scheme}://{}", self.listen));
        let file = match &self.config {
            Some(p) => read_file(p)?,
            None => ProxyFile::default(),
        };
        let dir = self
            .config
            .as_ref()
            .and_then(|p| p.parent().map(Path::to_path_buf))
            .unwrap_or_default();
        let catalogue = Catalogue::from_entries(file.endpoints)
            .map_err(|e| anyhow::anyhow!("the endpoint catalogue: {e}"))?;
        let key = match &self.token_signing_key {
            Some(path) => ProxySigningKey::from_pem(&read(path)?)
                .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?,
            None => ProxySigningKey::generate().map_err(|e| anyhow::anyhow!("{e}"))?,
        };
        let applications = Applications::new();
        for entry in file.applications {
            let app = entry.load(&dir)?;
            let id = app.client_id.clone();
            applications
                .add(app)
                .map_err(|e| anyhow::anyhow!("application {id}: {e}"))?;
        }
        let auth = AuthState::new(
            AuthConfig::new(format!("{base_url}{TOKEN_PATH}"), base_url.clone()),
            applications,
            key,
        );
        let upstream_ca = self.upstream_ca.as_ref().map(read).transpose()?;
        let identity = match (&self.client_cert, &self.client_key) {
            (Some(c), Some(k)) => Some(Identity {
                cert_pem: read(c)?,
                key_pem: read(k)?,
            }),
            (None, None) => None,
            _ => bail!("--client-cert and --client-key go together"),
        };
        let tls = match &upstream_ca {
            Some(ca) => Some(
                bars_pki::tls::client_config(ca, identity.as_ref())
                    .map_err(|e| anyhow::anyhow!("{e}"))?,
            ),
            None if identity.is_some() => bail!("--client-cert needs --upstream-ca"),
            None => None,
        };
        let mut config = ProxyConfig::new(base_url, &self.registry_url);
        config.receiver_timeout = Duration::from_secs(self.receiver_timeout);
        config.default_rate_limit_per_minute = self.default_rate_limit;
        Ok(Proxy::new(config, catalogue, auth, tls.clone(), tls))
    }

    pub async fn start(&self) -> anyhow::Result<RunningProxy> {
        let proxy = self.build()?;
        let options = match self.tls.listener()? {
            Some(l) => ServerOptions {
                tls: Some(l.server_config),
                ..ServerOptions::default()
            },
            None => ServerOptions::default(),
        };
        let api = RunningServer::start(self.listen, proxy.router(), options)
            .await
            .with_context(|| format!("listening on {}", self.listen))?;
        let admin = RunningServer::start(
            self.admin_listen,
            proxy.admin_router(self.admin_token.clone()),
            ServerOptions::default(),
        )
        .await
        .with_context(|| format!("listening on {}", self.admin_listen))?;
        Ok(RunningProxy { api, admin })
    }
}

pub async fn run(args: ProxyArgs) -> anyhow::Result<()> {
    let running = args.start().await?;
    tracing::info!(api = %running.api.addr, admin = %running.admin.addr, "proxy ready");
    crate::shutdown::signal().await;
    tracing::info!("stopping: draining in-flight requests");
    running.api.shutdown().await;
    running.admin.shutdown().await;
    Ok(())
}
