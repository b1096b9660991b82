//! `bars registry`: the national store of appointment pointers.

use std::net::SocketAddr;

use anyhow::Context;
use bars_http::server::{RunningServer, ServerOptions};
use bars_http::transport::Trust;
use bars_registry::{Registry, RegistryConfig};

#[derive(Debug, Clone, clap::Args)]
pub struct RegistryArgs {
    #[arg(long, env = "BARS_REGISTRY_LISTEN", default_value = "127.0.0.1:9100")]
    pub listen: SocketAddr,
    /// Database URL: sqlite://path/to/file.db (or a bare path), or
    /// postgres://user@host:5432/db with optional pool_size, pool_timeout, statement_timeout.
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
}

impl RegistryArgs {
    pub async fn start(&self) -> anyhow::Result<RunningRegistry> {
        let store = bars_registry::open_store(&self.database)
            .await
            .with_context(|| format!("opening {}", bars_store::postgres::redact(&self.database)))?;
        let scheme = if self.tls.tls_cert.is_some() {
            "https"
        } else {
            "http"
        };
        let base = self
            .base_url
            .clone()
            .unwrap_or_else(|| format!("{scheme}://{}", self.listen));
        let registry = Registry::new(RegistryConfig::new(base), store);
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
        Ok(RunningRegistry { api })
    }
}

pub async fn run(args: RegistryArgs) -> anyhow::Result<()> {
    let running = args.start().await?;
    tracing::info!(api = %running.api.addr, database = %bars_store::postgres::redact(&args.database), "registry ready");
    crate::shutdown::signal().await;
    tracing::info!("stopping: draining in-flight requests");
    running.api.shutdown().await;
    Ok(())
}
