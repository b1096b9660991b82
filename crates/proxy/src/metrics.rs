//! What the proxy counts for its operators: its requests, every upstream call by target, tokens
//! issued and refused, and rate limiting.

use std::sync::Arc;
use std::time::Duration;

use bars_http::ApiError;
use bars_http::client::ClientResponse;
use bars_http::metrics::{CounterVec, Exposition, HistogramVec, LATENCY_BUCKETS};
use bars_http::observe::HttpMetrics;

/// The sender authentication counters, kept with the auth state the token endpoint shares.
pub struct AuthMetrics {
    pub tokens_issued: CounterVec,
    pub token_rejections: CounterVec,
    pub bearer_rejections: CounterVec,
}

impl Default for AuthMetrics {
    fn default() -> Self {
        AuthMetrics {
            tokens_issued: CounterVec::new(
                "bars_proxy_tokens_issued_total",
                "Access tokens issued at /oauth2/token.",
                &[],
            ),
            token_rejections: CounterVec::new(
                "bars_proxy_token_rejections_total",
                "Token requests refused, by OAuth error (invalid_request, invalid_client, unsupported_grant_type, ...).",
                &["error"],
            ),
            bearer_rejections: CounterVec::new(
                "bars_proxy_bearer_rejections_total",
                "Routed calls refused at the bearer check: missing, invalid, not_enabled.",
                &["reason"],
            ),
        }
    }
}

impl AuthMetrics {
    pub fn render(&self, out: &mut Exposition) {
        self.tokens_issued.render(out);
        self.token_rejections.render(out);
        self.bearer_rejections.render(out);
    }
}

pub struct ProxyMetrics {
    pub http: Arc<HttpMetrics>,
    /// Time to an upstream's answer (or failure), by target: a service id, or `registry`.
    pub upstream_latency: HistogramVec,
    /// Upstream calls that failed or that the proxy answered for, by target and BaRS code.
    pub upstream_errors: CounterVec,
    pub rate_limited: CounterVec,
}

impl Default for ProxyMetrics {
    fn default() -> Self {
        ProxyMetrics {
            http: Arc::default(),
            upstream_latency: HistogramVec::new(
                "bars_proxy_upstream_duration_seconds",
                "Time to an upstream's answer, by target (the service id, or registry).",
                &["target"],
                LATENCY_BUCKETS,
            ),
            upstream_errors: CounterVec::new(
                "bars_proxy_upstream_errors_total",
                "Upstream calls that failed (the BaRS code the proxy answered with) or returned a 5xx (code upstream_5xx), by target.",
                &["target", "code"],
            ),
            rate_limited: CounterVec::new(
                "bars_proxy_rate_limited_total",
                "Routed calls refused with 429 because the application used its allowance.",
                &[],
            ),
        }
    }
}

impl ProxyMetrics {
    /// Records one upstream call.
    pub fn upstream(
        &self,
        target: &str,
        elapsed: Duration,
        answer: &Result<ClientResponse, ApiError>,
    ) {
        self.upstream_latency.observe(&[target], elapsed);
        match answer {
            Ok(response) if response.status.is_server_error() => {
                self.upstream_errors.inc(&[target, "upstream_5xx"])
            }
            Ok(_) => {}
            Err(e) => self.upstream_errors.inc(&[target, &e.coding.code]),
        }
    }

    pub fn render(&self, auth: &AuthMetrics) -> String {
        let mut out = Exposition::default();
        self.http.render(&mut out);
        self.upstream_latency.render(&mut out);
        self.upstream_errors.render(&mut out);
        self.rate_limited.render(&mut out);
        auth.render(&mut out);
        out.into_text()
    }
}
