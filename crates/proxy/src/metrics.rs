//! What the proxy counts for its operators: its requests, every upstream call by target, tokens
//! issued and refused, and rate limiting.
//!
//! Every label is from a bounded set: enums, the OAuth error codes, the BaRS codes, and the
//! service ids of the endpoint catalogue (a call reaches an upstream only after its target
//! resolved there).

use std::sync::Arc;
use std::time::Duration;

use bars_fhir::codes::BarsCode;
use bars_http::ApiError;
use bars_http::client::ClientResponse;
use bars_http::label_values;
use bars_http::metrics::{
    Counter, EncodeLabelValue, Exposition, Family, LabelValueEncoder, LatencyFamily, latency_family,
};
use bars_http::observe::HttpMetrics;
// The derive expands to paths of the crate itself, so it is named here, not re-exported.
use prometheus_client::encoding::EncodeLabelSet;

label_values! {
    /// Why a routed call was refused at the bearer check.
    pub enum BearerRejection {
        Missing => "missing",
        Invalid => "invalid",
        NotEnabled => "not_enabled",
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct TokenErrorLabels {
    /// An OAuth error code (RFC 6749 §5.2), one of the endpoint's constants.
    error: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct BearerLabels {
    reason: BearerRejection,
}

/// The sender authentication counters, kept with the auth state the token endpoint shares.
#[derive(Default)]
pub struct AuthMetrics {
    tokens_issued: Counter,
    token_rejections: Family<TokenErrorLabels, Counter>,
    bearer_rejections: Family<BearerLabels, Counter>,
}

impl AuthMetrics {
    pub fn token_issued(&self) {
        self.tokens_issued.inc();
    }

    /// A refused token request; `error` is its OAuth error code.
    pub fn token_rejected(&self, error: &'static str) {
        self.token_rejections
            .get_or_create(&TokenErrorLabels { error })
            .inc();
    }

    pub fn bearer_rejected(&self, reason: BearerRejection) {
        self.bearer_rejections
            .get_or_create(&BearerLabels { reason })
            .inc();
    }

    pub fn render(&self, out: &mut Exposition) {
        out.register(
            "bars_proxy_tokens_issued",
            "Access tokens issued at /oauth2/token.",
            self.tokens_issued.clone(),
        );
        out.register(
            "bars_proxy_token_rejections",
            "Token requests refused, by OAuth error (invalid_request, invalid_client, unsupported_grant_type, ...).",
            self.token_rejections.clone(),
        );
        out.register(
            "bars_proxy_bearer_rejections",
            "Routed calls refused at the bearer check: missing, invalid, not_enabled.",
            self.bearer_rejections.clone(),
        );
    }
}

/// Where the proxy sent a call: the Registry, or a receiver's service by the id the endpoint
/// catalogue resolved the sender's target to (never the target as the sender wrote it).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum UpstreamTarget {
    Registry,
    Service(Arc<str>),
}

impl EncodeLabelValue for UpstreamTarget {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        let text = match self {
            UpstreamTarget::Registry => "registry",
            UpstreamTarget::Service(id) => id,
        };
        std::fmt::Write::write_str(encoder, text)
    }
}

/// What went wrong with an upstream call: the BaRS code the proxy answered with, a 5xx the
/// upstream answered itself, or (never expected) an error without a BaRS code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UpstreamError {
    Answered(BarsCode),
    Upstream5xx,
    Other,
}

impl EncodeLabelValue for UpstreamError {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        let text = match self {
            UpstreamError::Answered(code) => code.as_str(),
            UpstreamError::Upstream5xx => "upstream_5xx",
            UpstreamError::Other => "other",
        };
        std::fmt::Write::write_str(encoder, text)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct TargetLabels {
    target: UpstreamTarget,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct UpstreamErrorLabels {
    target: UpstreamTarget,
    code: UpstreamError,
}

pub struct ProxyMetrics {
    pub http: Arc<HttpMetrics>,
    /// Time to an upstream's answer (or failure), by target.
    upstream_latency: LatencyFamily<TargetLabels>,
    /// Upstream calls that failed or that the proxy answered for, by target and BaRS code.
    upstream_errors: Family<UpstreamErrorLabels, Counter>,
    rate_limited: Counter,
}

impl Default for ProxyMetrics {
    fn default() -> Self {
        ProxyMetrics {
            http: Arc::default(),
            upstream_latency: latency_family(),
            upstream_errors: Family::default(),
            rate_limited: Counter::default(),
        }
    }
}

impl ProxyMetrics {
    /// Records one upstream call.
    pub fn upstream(
        &self,
        target: &UpstreamTarget,
        elapsed: Duration,
        answer: &Result<ClientResponse, ApiError>,
    ) {
        self.upstream_latency
            .get_or_create(&TargetLabels {
                target: target.clone(),
            })
            .observe(elapsed.as_secs_f64());
        let code = match answer {
            Ok(response) if response.status.is_server_error() => UpstreamError::Upstream5xx,
            Ok(_) => return,
            Err(e) => BarsCode::parse(&e.coding.code)
                .map_or(UpstreamError::Other, UpstreamError::Answered),
        };
        self.upstream_errors
            .get_or_create(&UpstreamErrorLabels {
                target: target.clone(),
                code,
            })
            .inc();
    }

    /// A routed call refused because its application used its allowance.
    pub fn rate_limited(&self) {
        self.rate_limited.inc();
    }

    pub fn render(&self, auth: &AuthMetrics) -> String {
        let mut out = Exposition::default();
        self.http.render(&mut out);
        out.register(
            "bars_proxy_upstream_duration_seconds",
            "Time to an upstream's answer, by target (the service id, or registry).",
            self.upstream_latency.clone(),
        );
        out.register(
            "bars_proxy_upstream_errors",
            "Upstream calls that failed (the BaRS code the proxy answered with) or returned a 5xx (code upstream_5xx), by target.",
            self.upstream_errors.clone(),
        );
        out.register(
            "bars_proxy_rate_limited",
            "Routed calls refused with 429 because the application used its allowance.",
            self.rate_limited.clone(),
        );
        auth.render(&mut out);
        out.into_text()
    }
}
