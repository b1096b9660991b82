//! `bars registry`: the national store of appointment pointers.
//!
//! Its settings come from `--config FILE` (TOML, see `config/registry.toml`), environment
//! variables and flags, in rising order of precedence.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use bars_registry::RegistryConfig;
use bars_stack::roles::registry::{self, RegistrySettings};
use serde::Deserialize;

use crate::roles::{self, Role};
use crate::settings::{self, Problems, Rebase, loopback, rebase_database};

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

impl settings::RoleSettings for RegistryArgs {
    const ROLE: &'static str = "registry";

    fn config_file(&self) -> Option<&Path> {
        self.config.as_deref()
    }

    fn problems(&self) -> Problems {
        let mut problems = self.common_problems();
        if self.trust_plain_proxy && self.tls.tls_cert.is_some() {
            problems.error(
                "trust_plain_proxy",
                "is for plain development networks; with TLS the proxy is recognised by its certificate",
            );
        }
        problems
    }
}

roles::role!(RegistryArgs {
    listen: loopback(9100),
    admin_listen: loopback(9101),
    database: "sqlite://data/registry.db",
    admin_token_env: "BARS_REGISTRY_ADMIN_TOKEN",
});

impl RegistryArgs {
    /// What the registry starts with: its configuration, database and bound listeners.
    pub async fn settings(&self) -> anyhow::Result<RegistrySettings> {
        let mut config = RegistryConfig::new(self.base_url());
        config.body_limit = self.limits.body_limit();
        Ok(RegistrySettings {
            config,
            database: self.database().to_string(),
            trust_plain_proxy: self.trust_plain_proxy,
            listeners: roles::listeners(self).await?,
        })
    }
}

pub async fn run(args: RegistryArgs) -> anyhow::Result<()> {
    let args = settings::resolve(args)?;
    let running = registry::start(args.settings().await?).await?;
    roles::until_signal("registry", running, args.database()).await;
    Ok(())
}
