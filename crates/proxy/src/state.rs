//! What the proxy's handlers share.

use std::sync::Arc;
use std::time::Duration;

use bars_http::client::HttpClient;
use serde_json::Value;

use crate::auth::AuthState;
use crate::catalogue::Catalogue;
use crate::directory::Directory;
use crate::metrics::ProxyMetrics;
use crate::ratelimit::RateLimiter;

#[derive(Debug, Clone)]
pub struct ProxyConfig {
    /// The proxy's public base URL.
    pub base_url: String,
    /// Where `/DocumentReference` requests go.
    pub registry_url: String,
    /// How long a receiver has to answer (BaRS: 32 s) before the sender gets 408 `REC_TIMEOUT`.
    pub receiver_timeout: Duration,
    pub body_limit: usize,
    /// The allowance for applications registered without one of their own.
    pub default_rate_limit_per_minute: Option<u32>,
}

impl ProxyConfig {
    pub fn new(base_url: impl Into<String>, registry_url: impl Into<String>) -> Self {
        ProxyConfig {
            base_url: base_url.into().trim_end_matches('/').to_string(),
            registry_url: registry_url.into(),
            receiver_timeout: Duration::from_secs(32),
            body_limit: bars_http::fhir_json::DEFAULT_BODY_LIMIT,
            default_rate_limit_per_minute: None,
        }
    }
}

pub struct ProxyState {
    pub config: ProxyConfig,
    pub catalogue: Arc<Catalogue>,
    pub auth: Arc<AuthState>,
    /// The catalogue and the applications as the admin API changes them (and, with a
    /// database, as other proxies changed them).
    pub directory: Arc<Directory>,
    pub limiter: RateLimiter,
    /// Pooled, keep-alive connections to receivers, presenting the proxy's client certificate.
    pub receivers: HttpClient,
    pub registry: HttpClient,
    pub capability: Value,
    pub metrics: Arc<ProxyMetrics>,
    /// The last upstream health probe, reused for a few seconds so `/_status` cannot be used
    /// to flood receivers.
    pub upstream_health: crate::health::ProbeCache,
}
