//! The registry: its database, the registry over it, and its two listeners.

use anyhow::Context;
use bars_http::transport::Trust;
use bars_registry::{Registry, RegistryConfig};
use bars_store::postgres::redact;

use super::{Conduct, Finish, Listeners, Running};

/// The registry's listeners refuse oversized heads with its own (Spine) codes.
const CONDUCT: Conduct = Conduct {
    refuse: bars_registry::errors::REFUSE,
    admin_drain: None,
};

/// Everything the registry is started with.
pub struct RegistrySettings {
    pub config: RegistryConfig,
    /// `sqlite://path` (or a bare path) or `postgres://...`.
    pub database: String,
    /// Believe the proxy's identity headers on plain connections: only for a private
    /// development network, where no client certificate recognises the proxy.
    pub trust_plain_proxy: bool,
    pub listeners: Listeners,
}

/// The registry serving its two listeners.
pub type RunningRegistry = Running<Registry>;

/// Opens the database and starts both listeners.
pub async fn start(settings: RegistrySettings) -> anyhow::Result<RunningRegistry> {
    let database = &settings.database;
    let store = bars_registry::open_store(database)
        .await
        .with_context(|| format!("opening {}", redact(database)))?;
    let registry = Registry::new(settings.config, store);
    let listeners = settings.listeners;
    let mut rules = Registry::production_rules();
    if settings.trust_plain_proxy {
        rules.trust_application_header = Trust::Always;
    }
    rules.require_client_certificate = listeners.require_client_certificate();
    let servers = listeners.serve(CONDUCT, registry.router(rules), |token| {
        registry.admin_router(token)
    });
    Ok(Running {
        role: registry,
        servers,
    })
}

impl Finish for Registry {
    /// Nothing runs beside its listeners.
    async fn finish(self) {}
}
