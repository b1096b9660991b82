//! `bars proxy`: the central gateway senders talk to.
//!
//! Its settings, endpoint catalogue and registered applications come from `--config FILE`
//! (TOML, see `config/proxy.toml`); environment variables and flags override the settings.
//! The catalogue and applications live in the proxy's database (`database`), which the file
//! seeds and the admin API changes; proxies sharing a PostgreSQL database share them, and the
//! record of used client assertions.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use bars_pki::Identity;
use bars_proxy::auth::{Application, ProxySigningKey};
use bars_proxy::{Endpoint, ProxyConfig, Seed};
use bars_stack::roles::proxy::{self, ProxySettings};
use serde::Deserialize;

use crate::roles::{self, Role};
use crate::settings::{self, Problems, Rebase, loopback, rebase_database, rebase_path};

const DEFAULT_REGISTRY_URL: &str = "http://127.0.0.1:9100";
const DEFAULT_RECEIVER_TIMEOUT: u64 = 32;
const DEFAULT_REFRESH_SECONDS: u64 = 2;

/// The proxy's settings: its flags, and the format of its configuration file.
#[derive(Debug, Clone, Default, clap::Args, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProxyArgs {
    /// A configuration file (TOML): settings, the endpoint catalogue and registered
    /// applications. Environment variables and flags override its settings.
    #[arg(long, env = "BARS_CONFIG")]
    #[serde(skip)]
    pub config: Option<PathBuf>,
    /// The role a file says it configures (`proxy`).
    #[arg(skip)]
    pub role: Option<String>,
    /// Address senders reach the proxy at [default: 127.0.0.1:9000].
    #[arg(long, env = "BARS_PROXY_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Address of the admin API (catalogue, applications, metrics). Keep it private
    /// [default: 127.0.0.1:9001].
    #[arg(long, env = "BARS_PROXY_ADMIN_LISTEN")]
    pub admin_listen: Option<SocketAddr>,
    /// Database URL for the endpoint catalogue, the applications and used client assertions:
    /// sqlite://path/to/file.db (one proxy) or postgres://user@host:5432/db (several proxies
    /// sharing them) [default: sqlite://data/proxy.db].
    #[arg(long, env = "BARS_PROXY_DATABASE")]
    pub database: Option<String>,
    /// How often, in seconds, the proxy looks for changes other proxies made in the database:
    /// the longest an admin change at one proxy takes to reach the others [default: 2].
    #[arg(long, env = "BARS_PROXY_DATABASE_REFRESH")]
    #[serde(rename = "database_refresh_seconds")]
    pub database_refresh: Option<u64>,
    /// The proxy's public base URL (default: http(s)://<listen>).
    #[arg(long, env = "BARS_PROXY_BASE_URL")]
    pub base_url: Option<String>,
    /// Where `/DocumentReference` goes [default: http://127.0.0.1:9100].
    #[arg(long, env = "BARS_REGISTRY_URL")]
    pub registry_url: Option<String>,
    /// Seconds a receiver has to answer before senders get 408 REC_TIMEOUT [default: 32].
    #[arg(long, env = "BARS_RECEIVER_TIMEOUT")]
    #[serde(rename = "receiver_timeout_seconds")]
    pub receiver_timeout: Option<u64>,
    /// Requests a minute an application may make, unless its registration says otherwise.
    #[arg(long, env = "BARS_DEFAULT_RATE_LIMIT")]
    #[serde(rename = "default_rate_limit_per_minute")]
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
    /// Bearer token the admin API requires; required when admin_listen is not a loopback
    /// address.
    #[arg(long, env = "BARS_PROXY_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    /// Serve the admin API over HTTPS with the proxy's certificate ([tls]).
    #[arg(long, env = "BARS_PROXY_ADMIN_TLS")]
    pub admin_tls: bool,
    #[command(flatten)]
    pub tls: crate::tls_args::TlsArgs,
    #[command(flatten)]
    pub limits: crate::limit_args::LimitArgs,
    /// Applications (client ids) that may change any Endpoint Catalogue record through the
    /// FHIR API, as the IG's "Admin" writer; others change only their organisation's. Repeatable.
    #[arg(
        long = "catalogue-admin",
        env = "BARS_CATALOGUE_ADMINS",
        value_delimiter = ','
    )]
    pub catalogue_admins: Vec<String>,
    /// The endpoint catalogue (file only).
    #[arg(skip)]
    pub endpoints: Vec<Endpoint>,
    /// Registered sender applications (file only).
    #[arg(skip)]
    pub applications: Vec<ApplicationEntry>,
}

crate::layered!(ProxyArgs {
    config,
    role,
    listen,
    admin_listen,
    database,
    database_refresh,
    base_url,
    registry_url,
    receiver_timeout,
    default_rate_limit,
    upstream_ca,
    client_cert,
    client_key,
    token_signing_key,
    admin_token,
    admin_tls,
    tls,
    limits,
    catalogue_admins,
    endpoints,
    applications,
});

/// An application as written in the file: its public keys in a JWKS file.
#[derive(Debug, Clone, Deserialize)]
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
    fn keys(&self) -> anyhow::Result<Vec<serde_json::Value>> {
        let Some(path) = &self.jwks_file else {
            anyhow::bail!("no jwks_file")
        };
        let jwks: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?,
        )
        .with_context(|| format!("{} is not JSON", path.display()))?;
        let keys = jwks["keys"].as_array().cloned().unwrap_or_default();
        if keys.is_empty() {
            anyhow::bail!("{} holds no keys", path.display());
        }
        Ok(keys)
    }

    pub fn load(self) -> anyhow::Result<Application> {
        let keys = self
            .keys()
            .with_context(|| format!("application {}", self.client_id))?;
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

fn read(path: &PathBuf) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

impl Rebase for ProxyArgs {
    fn rebase(&mut self, dir: &Path) {
        rebase_database(&mut self.database, dir);
        rebase_path(&mut self.upstream_ca, dir);
        rebase_path(&mut self.client_cert, dir);
        rebase_path(&mut self.client_key, dir);
        rebase_path(&mut self.token_signing_key, dir);
        self.tls.rebase(dir);
        for app in &mut self.applications {
            rebase_path(&mut app.jwks_file, dir);
        }
    }
}

impl settings::RoleSettings for ProxyArgs {
    const ROLE: &'static str = "proxy";

    fn config_file(&self) -> Option<&Path> {
        self.config.as_deref()
    }

    fn problems(&self) -> Problems {
        let mut problems = self.common_problems();
        problems.url("registry_url", self.registry_url.as_deref());
        if let Some(r) = self.database_refresh
            && !(1..=60).contains(&r)
        {
            problems.error(
                "database_refresh_seconds",
                format!("{r} is not between 1 and 60"),
            );
        }
        match self.receiver_timeout {
            Some(0) => problems.error("receiver_timeout_seconds", "must be at least 1"),
            Some(t) if t > 300 => {
                problems.error("receiver_timeout_seconds", format!("{t} is over 300"))
            }
            _ => {}
        }
        if self.default_rate_limit == Some(0) {
            problems.error("default_rate_limit_per_minute", "must be at least 1");
        }
        problems.together(
            ("client_cert", &self.client_cert),
            ("client_key", &self.client_key),
        );
        if self.client_cert.is_some() && self.upstream_ca.is_none() {
            problems.error("upstream_ca", "is required with client_cert");
        }
        for (field, path) in [
            ("upstream_ca", &self.upstream_ca),
            ("client_cert", &self.client_cert),
            ("client_key", &self.client_key),
            ("token_signing_key", &self.token_signing_key),
        ] {
            problems.readable(field, path.as_ref());
        }
        let mut targets = std::collections::HashSet::new();
        for (i, e) in self.endpoints.iter().enumerate() {
            if e.system.is_empty() || e.value.is_empty() || e.name.is_empty() {
                problems.error(
                    format!("endpoints[{i}]"),
                    "needs a system, a value and a name",
                );
            }
            problems.url(&format!("endpoints[{i}].url"), Some(&e.url));
            if !targets.insert((e.system.clone(), e.value.clone())) {
                problems.error(
                    format!("endpoints[{i}]"),
                    format!(
                        "{}|{} is listed twice; senders would get 404 multiple-matches",
                        e.system, e.value
                    ),
                );
            }
        }
        let mut clients = std::collections::HashSet::new();
        for (i, app) in self.applications.iter().enumerate() {
            if app.client_id.trim().is_empty() {
                problems.error(format!("applications[{i}].client_id"), "required");
            }
            if !clients.insert(app.client_id.clone()) {
                problems.error(
                    format!("applications[{i}].client_id"),
                    format!("{} is registered twice", app.client_id),
                );
            }
            if app.ods_code.trim().is_empty() {
                problems.error(format!("applications[{i}].ods_code"), "required");
            }
            match &app.jwks_file {
                None => problems.error(
                    format!("applications[{i}].jwks_file"),
                    "required: the application's public keys",
                ),
                Some(_) => {
                    if let Err(e) = app.keys() {
                        problems.0.push(settings::Problem {
                            field: format!("applications[{i}].jwks_file"),
                            message: format!("{e:#}"),
                            environment: true,
                        });
                    }
                }
            }
        }
        problems
    }
}

roles::role!(ProxyArgs {
    listen: loopback(9000),
    admin_listen: loopback(9001),
    database: "sqlite://data/proxy.db",
    admin_token_env: "BARS_PROXY_ADMIN_TOKEN",
});

impl ProxyArgs {
    fn refresh(&self) -> Duration {
        Duration::from_secs(
            self.database_refresh
                .unwrap_or(DEFAULT_REFRESH_SECONDS)
                .clamp(1, 60),
        )
    }

    /// What the proxy starts with: its configuration, its database and the file's endpoints
    /// and applications to seed it with, its token signing key, how it reaches receivers and
    /// the registry, and its bound listeners.
    pub async fn settings(&self) -> anyhow::Result<ProxySettings> {
        let signing_key = match &self.token_signing_key {
            Some(path) => ProxySigningKey::from_pem(&read(path)?)
                .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?,
            None => ProxySigningKey::generate().map_err(|e| anyhow::anyhow!("{e}"))?,
        };
        let mut seed = Seed {
            endpoints: self.endpoints.clone(),
            applications: Vec::with_capacity(self.applications.len()),
        };
        for entry in self.applications.clone() {
            let app = entry.load()?;
            app.validate()
                .map_err(|e| anyhow::anyhow!("application {}: {e}", app.client_id))?;
            seed.applications.push(app);
        }
        let upstream_ca = self.upstream_ca.as_ref().map(read).transpose()?;
        let identity = match (&self.client_cert, &self.client_key) {
            (Some(c), Some(k)) => Some(Identity {
                cert_pem: read(c)?,
                key_pem: read(k)?,
            }),
            _ => None,
        };
        let upstream_tls = match &upstream_ca {
            Some(ca) => Some(
                bars_pki::tls::client_config(ca, identity.as_ref())
                    .map_err(|e| anyhow::anyhow!("{e}"))?,
            ),
            None => None,
        };
        let mut config = ProxyConfig::new(
            self.base_url(),
            self.registry_url.as_deref().unwrap_or(DEFAULT_REGISTRY_URL),
        );
        config.receiver_timeout =
            Duration::from_secs(self.receiver_timeout.unwrap_or(DEFAULT_RECEIVER_TIMEOUT));
        config.default_rate_limit_per_minute = self.default_rate_limit;
        config.catalogue_admins = self.catalogue_admins.clone();
        config.body_limit = self.limits.body_limit();
        Ok(ProxySettings {
            config,
            database: self.database().to_string(),
            refresh: self.refresh(),
            seed,
            signing_key,
            upstream_tls,
            listeners: roles::listeners(self).await?,
        })
    }
}

pub async fn run(args: ProxyArgs) -> anyhow::Result<()> {
    let args = settings::resolve(args)?;
    let running = proxy::start(args.settings().await?).await?;
    roles::until_signal("proxy", running, args.database()).await;
    Ok(())
}
