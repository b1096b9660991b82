//! `bars registry`: the national store of appointment pointers.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use bars_http::server::{RunningServer, ServerOptions};
use bars_http::transport::Trust;
use bars_registry::{Registry, RegistryConfig, SqliteRegistryStore};

#[derive(Debug, Clone, clap::Args)]
pub struct RegistryArgs {
    #[arg(long, env = "BARS_REGISTRY_LISTEN", default_value = "127.0.0.1:9100")]
    pub listen: SocketAddr,
    /// Address of the operators' listener (metrics, health). Keep it private.
    #[arg(
        long,
        env = "BARS_REGISTRY_ADMIN_LISTEN",
        default_value = "127.0.0.1:9101"
    )]
    pub admin_listen: SocketAddr,
    /// Bearer token the operators' listener requires for /metrics.
    #[arg(long, env = "BARS_REGISTRY_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    /// Database URL: sqlite://path/to/file.db (or a bare path).
    #[arg(
        long,
        env = "BARS_REGISTRY_DATABASE",
        default_value = "sqlite://data/registry.db"
    )]
    pub database: String,
    /// The public base URL (default: http(s)://<listen>).
    #[arg(long, env = "BARS_REGISTRY_BASE_URL")]
    pub base_url: Option<String>,
    /// Believe the proxy's identity headers on plain connections. Only for a private
    /// development network: in production the proxy is recognised by its client certificate.
    #[arg(long, env = "BARS_REGISTRY_TRUST_PLAIN_PROXY")]
    pub trust_plain_proxy: bool,
    #[command(flatten)]
    pub tls: crate::tls_args::TlsArgs,
}

pub struct RunningRegistry {
    pub api: RunningServer,
    pub admin: RunningServer,
}

impl RegistryArgs {
    pub async fn start(&self) -> anyhow::Result<RunningRegistry> {
        let path = self
            .database
            .strip_prefix("sqlite://")
            .or_else(|| self.database.strip_prefix("sqlite:"))
            .unwrap_or(&self.database);
        let store = SqliteRegistryStore::open(path)
            .with_context(|| format!("opening {}", self.database))?;
        let scheme = if self.tls.tls_cert.is_some() {
            "https"
        } else {
            "http"
        };
        let base = self
            .base_url
            .clone()
            .unwrap_or_else(|| format!("{scheme}://{}", self.listen));
        let registry = Registry::new(RegistryConfig::new(base), Arc::new(store));
        let mut rules = Registry::production_rules();
        if self.trust_plain_proxy {
            rules.trust_application_header = Trust::Always;
        }
        let options = match self.tls.listener()? {
            Some(l) => {
                rules.require_client_certificate = l.require_client_certificate;
                ServerOptions {
                    tls: Some(l.server_config),
                    ..ServerOptions::default()
                }
            }
            None => ServerOptions::default(),
        };
        let api = RunningServer::start(self.listen, registry.router(rules), options)
            .await
            .with_context(|| format!("listening on {}", self.listen))?;
        let admin = RunningServer::start(
            self.admin_listen,
            registry.admin_router(self.admin_token.clone()),
            ServerOptions::default(),
        )
        .await
        .with_context(|| format!("listening on {}", self.admin_listen))?;
        Ok(RunningRegistry { api, admin })
    }
}

pub async fn run(args: RegistryArgs) -> anyhow::Result<()> {
    let running = args.start().await?;
    tracing::info!(api = %running.api.addr, admin = %running.admin.addr, database = %args.database, "registry ready");
    crate::shutdown::signal().await;
    tracing::info!("stopping: draining in-flight requests");
    running.api.shutdown().await;
    running.admin.shutdown().await;
    Ok(())
}
