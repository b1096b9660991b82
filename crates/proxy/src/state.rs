//! What the proxy's handlers share.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bars_http::client::HttpClient;
use bars_http::health::Check;
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
    /// Client ids of the applications that change any Endpoint Catalogue record (the IG's
    /// "Admin"); every other application changes only its own organisation's.
    pub catalogue_admins: Vec<String>,
}

impl ProxyConfig {
    pub fn new(base_url: impl Into<String>, registry_url: impl Into<String>) -> Self {
        ProxyConfig {
            base_url: base_url.into().trim_end_matches('/').to_string(),
            registry_url: registry_url.into(),
            receiver_timeout: Duration::from_secs(32),
            body_limit: bars_http::fhir_json::DEFAULT_BODY_LIMIT,
            default_rate_limit_per_minute: None,
            catalogue_admins: Vec::new(),
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
    pub upstream_health: ProbeCache,
}

/// The last upstream health probe and when it was made. Here, beside the state that holds it,
/// rather than in `health` (which reads the state): the health checks and the state each need
/// the other's type otherwise.
#[derive(Default)]
pub struct ProbeCache {
    last: Mutex<Option<(Instant, Vec<Check>)>>,
}

impl ProbeCache {
    /// The checks of the last probe, if it was made less than `reuse` ago.
    pub fn within(&self, reuse: Duration) -> Option<Vec<Check>> {
        let last = self.last.lock().ok()?;
        let (at, checks) = last.as_ref()?;
        (at.elapsed() < reuse).then(|| checks.clone())
    }

    /// Remembers `checks` as the latest probe.
    pub fn keep(&self, checks: &[Check]) {
        if let Ok(mut last) = self.last.lock() {
            *last = Some((Instant::now(), checks.to_vec()));
        }
    }
}

#[cfg(test)]
mod tests {
    use bars_http::health::Health;

    use super::*;

    #[test]
    fn a_probe_is_reused_only_within_its_time() {
        let cache = ProbeCache::default();
        assert!(cache.within(Duration::from_secs(5)).is_none());
        cache.keep(&[Check::new("upstream:responseTime", Health::Warn)]);
        let reused = cache.within(Duration::from_secs(5)).unwrap_or_default();
        assert_eq!(reused.len(), 1);
        assert_eq!(reused[0].status, Health::Warn);
        assert!(cache.within(Duration::ZERO).is_none());
    }
}
