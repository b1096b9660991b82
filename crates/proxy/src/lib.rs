//! The central BaRS proxy: every sender talks to it. It authenticates the sending application,
//! checks the transport headers in the order of BaRS section 3.3, resolves
//! `NHSD-Target-Identifier` in its Endpoint Catalogue, forwards over mutual TLS, sends
//! `/DocumentReference` to the Registry, and answers for receivers that fail to. It serves the
//! catalogue itself (`/HealthcareService`, `/Endpoint`: BaRS 1.5, [`epc`]).
//!
//! Read in this order: [`pipeline`], [`routes`], [`forward`], [`catalogue`], [`epc`],
//! [`directory`], [`auth`].

pub mod admin;
pub mod auth;
pub mod capability;
pub mod catalogue;
pub mod directory;
pub mod endpoint;
pub mod epc;
pub mod forward;
pub mod health;
pub mod metrics;
pub mod openapi;
pub mod pipeline;
pub mod ratelimit;
pub mod routes;
pub mod state;
pub mod store;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::middleware;
use bars_fhir::codes::BarsCode;
use bars_http::client::HttpClient;
use bars_http::guard::{Guard, guard};
use bars_http::observe::{Observer, observe};
use bars_http::transport::{TransportRules, Trust, transport};

pub use catalogue::{Catalogue, Endpoint};
pub use directory::{Directory, DirectoryError};
pub use state::{ProxyConfig, ProxyState};
pub use store::{ProxyStore, Seed, open_store};

/// A proxy ready to serve.
pub struct Proxy {
    pub state: Arc<ProxyState>,
}

/// The proxy checks headers itself, in BaRS order; its transport layer only echoes the request
/// ids and adds the security headers.
fn decoration_only() -> TransportRules {
    TransportRules {
        exempt_paths: vec![],
        bad_request: BarsCode::BadRequest,
        not_acceptable: BarsCode::SendNotAcceptable,
        accept_major: None,
        require_request_ids: false,
        ids_must_be_uuids: false,
        trust_application_header: Trust::Never,
        require_client_certificate: false,
    }
}

impl Proxy {
    /// A proxy whose catalogue and applications live in memory only: admin changes are lost
    /// when it stops and other proxies never see them (tests that embed a proxy).
    /// `receivers_tls` is how the proxy reaches receivers: trusting their CA and presenting its
    /// own client certificate.
    pub fn new(
        config: ProxyConfig,
        catalogue: Catalogue,
        auth: auth::AuthState,
        receivers_tls: Option<rustls::ClientConfig>,
        registry_tls: Option<rustls::ClientConfig>,
    ) -> Proxy {
        let catalogue = Arc::new(catalogue);
        let directory = Directory::in_memory(catalogue.clone(), auth.applications.clone());
        Self::assemble(
            config,
            Arc::new(directory),
            auth,
            receivers_tls,
            registry_tls,
        )
    }

    /// A proxy whose catalogue, applications and used assertion `jti`s live in `store`, shared
    /// with every proxy on the same database. `seed` (the configuration file's entries) is
    /// written first (see [`Seed`]); changes made elsewhere are picked up every `refresh`.
    /// Runs a background task, so it needs a Tokio runtime.
    pub async fn open(
        config: ProxyConfig,
        store: Arc<dyn ProxyStore>,
        seed: Seed,
        mut auth: auth::AuthState,
        receivers_tls: Option<rustls::ClientConfig>,
        registry_tls: Option<rustls::ClientConfig>,
        refresh: Duration,
    ) -> Result<Proxy, DirectoryError> {
        auth.jti_store = Some(store.clone());
        let directory = Arc::new(
            Directory::open(
                store,
                seed,
                Arc::new(Catalogue::default()),
                auth.applications.clone(),
            )
            .await?,
        );
        directory.spawn_refresher(refresh);
        Ok(Self::assemble(
            config,
            directory,
            auth,
            receivers_tls,
            registry_tls,
        ))
    }

    fn assemble(
        config: ProxyConfig,
        directory: Arc<Directory>,
        auth: auth::AuthState,
        receivers_tls: Option<rustls::ClientConfig>,
        registry_tls: Option<rustls::ClientConfig>,
    ) -> Proxy {
        let timeout = config.receiver_timeout;
        let state = ProxyState {
            capability: capability::capability_statement(&config.base_url),
            receivers: HttpClient::new(receivers_tls, timeout),
            registry: HttpClient::new(registry_tls, timeout),
            catalogue: directory.catalogue.clone(),
            directory,
            auth: Arc::new(auth),
            limiter: ratelimit::RateLimiter::default(),
            config,
            metrics: Arc::default(),
            upstream_health: state::ProbeCache::default(),
        };
        Proxy {
            state: Arc::new(state),
        }
    }

    /// The sender-facing API, including the token endpoint.
    pub fn router(&self) -> Router {
        let guard_config = Arc::new(Guard::proxy());
        let observer = Observer {
            fallback_route: |path| routes::route_for(path).map(|r| r.pattern),
            ..Observer::new("proxy", "api", self.state.metrics.http.clone())
        };
        Router::new()
            .merge(health::routes(&self.state))
            .merge(bars_http::openapi::route(openapi::document()))
            .merge(auth::router(self.state.auth.clone()))
            .fallback(pipeline::pipeline)
            .with_state(self.state.clone())
            .layer(middleware::from_fn_with_state(guard_config, guard))
            .layer(middleware::from_fn_with_state(
                Arc::new(decoration_only()),
                transport,
            ))
            .layer(middleware::from_fn_with_state(Arc::new(observer), observe))
    }

    pub fn admin_router(&self, token: Option<String>) -> Router {
        admin::router(self.state.clone(), token)
    }
}
