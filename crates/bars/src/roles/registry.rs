//! `bars registry`: the national store of appointment pointers.
//!
//! Its settings come from `--config FILE` (TOML, see `config/registry.toml`), environment
//! variables and flags, in rising order of precedence.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use bars_http::server::{RunningServer, ServerOptions};
use bars_http::transport::Trust;
use bars_registry::{Registry, RegistryConfig};
use bars_store::postgres::redact;
use serde::Deserialize;

use crate::admin_listener::AdminListener;
use crate::settings::{self, Problems, Rebase, loopback, rebase_database};

const DEFAULT_LISTEN: SocketAddr = loopback(9100);
const DEFAULT_ADMIN_LISTEN: SocketAddr = loopback(9101);
const DEFAULT_DATABASE: &str = "sqlite://data/registry.db";

/// The registry's settings: its flags, and the format of its configuration file.
#[derive(Debug, Clone, Default, clap::Args, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RegistryArgs {
    /// A configuration file (TOML); environment variables and flags override what it says.
    #[arg(long, env = "BARS_CONFIG")]
    #[serde(skip)]
    pub config: Option<PathBuf>,
    /// The role a file says it configures (`registry`).
    #[arg(skip)]
    pub role: Option<String>,
    /// Address the proxy reaches the registry at [default: 127.0.0.1:9100].
    #[arg(long, env = "BARS_REGISTRY_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Address of the operators' listener (metrics, health). Keep it private
    /// [default: 127.0.0.1:9101].
    #[arg(long, env = "BARS_REGISTRY_ADMIN_LISTEN")]
    pub admin_listen: Option<SocketAddr>,
    /// Bearer token the operators' listener requires for /metrics; required when admin_listen
    /// is not a loopback address.
    #[arg(long, env = "BARS_REGISTRY_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    /// Serve the operators' listener over HTTPS with the registry's certificate ([tls]).
    #[arg(long, env = "BARS_REGISTRY_ADMIN_TLS")]
    pub admin_tls: bool,
    /// Database URL: sqlite://path/to/file.db (or a bare path), or
    /// postgres://user@host:5432/db with optional pool_size, pool_timeout, statement_timeout
    /// [default: sqlite://data/registry.db].
    #[arg(long, env = "BARS_REGISTRY_DATABASE")]
    pub database: Option<String>,
    /// The public base URL (default: http(s)://<listen>).
    #[arg(long, env = "BARS_REGISTRY_BASE_URL")]
    pub base_url: Option<String>,
    /// Believe the proxy's identity headers on plain connections. Only for a private
    /// development network: in production the proxy is recognised by its client certificate.
    #[arg(long, env = "BARS_REGISTRY_TRUST_PLAIN_PROXY")]
    pub trust_plain_proxy: bool,
    #[command(flatten)]
    pub tls: crate::tls_args::TlsArgs,
    #[command(flatten)]
    pub limits: crate::limit_args::LimitArgs,
}

crate::layered!(RegistryArgs {
    config,
    role,
    listen,
    admin_listen,
    admin_token,
    admin_tls,
    database,
    base_url,
    trust_plain_proxy,
    tls,
    limits,
});

impl Rebase for RegistryArgs {
    fn rebase(&mut self, dir: &Path) {
        rebase_database(&mut self.database, dir);
        self.tls.rebase(dir);
    }
}

pub struct RunningRegistry {
    pub api: RunningServer,
    pub admin: RunningServer,
}

impl settings::RoleSettings for RegistryArgs {
    const ROLE: &'static str = "registry";

    fn config_file(&self) -> Option<&Path> {
        self.config.as_deref()
    }

    fn problems(&self) -> Problems {
        let mut problems = Problems::default();
        settings::check_role(&mut problems, self.role.as_deref(), "registry");
        if self.listen() == self.admin_listen() {
            problems.error("admin_listen", "must differ from listen");
        }
        problems.url("base_url", self.base_url.as_deref());
        problems.database("database", self.database.as_deref());
        if self.trust_plain_proxy && self.tls.tls_cert.is_some() {
            problems.error(
                "trust_plain_proxy",
                "is for plain development networks; with TLS the proxy is recognised by its certificate",
            );
        }
        self.tls.check(&mut problems);
        self.admin().check(&self.tls, &mut problems);
        self.limits.check(&mut problems);
        problems
    }
}

impl RegistryArgs {
    pub fn listen(&self) -> SocketAddr {
        self.listen.unwrap_or(DEFAULT_LISTEN)
    }

    pub fn admin_listen(&self) -> SocketAddr {
        self.admin_listen.unwrap_or(DEFAULT_ADMIN_LISTEN)
    }

    pub fn admin(&self) -> AdminListener<'_> {
        AdminListener {
            listen: self.admin_listen(),
            token: self.admin_token.as_deref(),
            tls: self.admin_tls,
            token_env: "BARS_REGISTRY_ADMIN_TOKEN",
        }
    }

    pub fn database(&self) -> &str {
        self.database.as_deref().unwrap_or(DEFAULT_DATABASE)
    }

    pub async fn start(&self) -> anyhow::Result<RunningRegistry> {
        let database = self.database();
        let store = bars_registry::open_store(database)
            .await
            .with_context(|| format!("opening {}", redact(database)))?;
        let base = self
            .base_url
            .clone()
            .unwrap_or_else(|| format!("{}://{}", self.tls.scheme(), self.listen()));
        let mut config = RegistryConfig::new(base);
        config.body_limit = self.limits.body_limit();
        let registry = Registry::new(config, store);
        let mut rules = Registry::production_rules();
        if self.trust_plain_proxy {
            rules.trust_application_header = Trust::Always;
        }
        let options = match self.tls.listener()? {
            Some(l) => {
                rules.require_client_certificate = l.require_client_certificate;
                ServerOptions {
                    tls: Some(l.server_config),
                    ..self.limits.server(registry_server())
                }
            }
            None => self.limits.server(registry_server()),
        };
        let api = RunningServer::start(self.listen(), registry.router(rules), options)
            .await
            .with_context(|| format!("listening on {}", self.listen()))?;
        let admin = RunningServer::start(
            self.admin_listen(),
            registry.admin_router(self.admin_token.clone()),
            self.admin()
                .server(&self.tls, self.limits.server(registry_server()))?,
        )
        .await
        .with_context(|| format!("listening on {}", self.admin_listen()))?;
        Ok(RunningRegistry { api, admin })
    }
}

/// The Registry's listeners refuse oversized heads with its own (Spine) codes.
fn registry_server() -> ServerOptions {
    ServerOptions {
        refuse: bars_registry::errors::REFUSE,
        ..ServerOptions::default()
    }
}

pub async fn run(args: RegistryArgs) -> anyhow::Result<()> {
    let args = settings::resolve(args)?;
    let running = args.start().await?;
    tracing::info!(api = %running.api.addr, admin = %running.admin.addr, database = %redact(args.database()), "registry ready");
    crate::shutdown::signal().await;
    tracing::info!("stopping: draining in-flight requests");
    running.api.shutdown().await;
    running.admin.shutdown().await;
    Ok(())
}
