//! The proxy: its database (the directory it seeds and the used client assertions), sender
//! authentication, and its two listeners.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use bars_http::server::refuse_with_bars_code;
use bars_proxy::auth::{Applications, AuthConfig, AuthState, ProxySigningKey, TOKEN_PATH};
use bars_proxy::{Proxy, ProxyConfig, Seed, open_store};
use bars_store::postgres::redact;

use super::{Conduct, Finish, Listeners, Running};

/// The proxy's listeners refuse oversized heads with its own `BAD_REQUEST` code.
const CONDUCT: Conduct = Conduct {
    refuse: refuse_with_bars_code::PROXY,
    admin_drain: None,
};

/// Everything the proxy is started with.
pub struct ProxySettings {
    pub config: ProxyConfig,
    /// `sqlite://path` (one proxy) or `postgres://...` (several sharing their directory).
    pub database: String,
    /// How often the proxy looks for changes other proxies made in the database.
    pub refresh: Duration,
    /// The configuration's endpoints and applications, written into the database at start-up
    /// (see [`Seed`] for how they combine with admin changes).
    pub seed: Seed,
    /// The key access tokens are signed with.
    pub signing_key: ProxySigningKey,
    /// How the proxy reaches receivers and the registry: trusting their CA and presenting its
    /// own client certificate.
    pub upstream_tls: Option<rustls::ClientConfig>,
    pub listeners: Listeners,
}

/// The proxy serving its two listeners.
pub type RunningProxy = Running<Arc<Proxy>>;

/// Opens the database, seeds it and starts both listeners. The token endpoint is at
/// `<base_url>/oauth2/token`, and the access tokens name the base URL as their issuer.
pub async fn start(settings: ProxySettings) -> anyhow::Result<RunningProxy> {
    start_wrapped(settings, |api| api).await
}

/// [`start`], with the API router passed through `wrap` before it is served: a layer in front
/// of the proxy (the conformance kit's sender mode records there), its code unchanged.
pub async fn start_wrapped(
    settings: ProxySettings,
    wrap: impl FnOnce(axum::Router) -> axum::Router,
) -> anyhow::Result<RunningProxy> {
    let ProxySettings {
        config,
        database,
        refresh,
        seed,
        signing_key,
        upstream_tls,
        listeners,
    } = settings;
    let base_url = config.base_url.clone();
    let auth = AuthState::new(
        AuthConfig::new(format!("{base_url}{TOKEN_PATH}"), base_url),
        Applications::new(),
        signing_key,
    );
    let store = open_store(&database)
        .await
        .with_context(|| format!("opening the proxy database {}", redact(&database)))?;
    let proxy = Proxy::open(
        config,
        store,
        seed,
        auth,
        upstream_tls.clone(),
        upstream_tls,
        refresh,
    )
    .await
    .map_err(|e| anyhow::anyhow!("the proxy database {}: {e}", redact(&database)))?;
    let proxy = Arc::new(proxy);
    let servers = listeners.serve(CONDUCT, wrap(proxy.router()), |token| {
        proxy.admin_router(token)
    });
    Ok(Running {
        role: proxy,
        servers,
    })
}

impl Finish for Arc<Proxy> {
    /// Its directory refresher ends by itself once the proxy is dropped.
    async fn finish(self) {}
}
