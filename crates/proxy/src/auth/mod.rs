//! Sender authentication: OAuth 2.0 client credentials with a signed JWT client assertion
//! (RFC 7523 §2.2, the NHS "application-restricted, signed JWT" pattern), and the bearer check
//! every routed call goes through.
//!
//! The flow (BaRS digest §1.2): a sending application signs a short-lived JWT with its private
//! key ([`client_assertion`]), posts it to `POST /oauth2/token` ([`endpoint`]), where the proxy
//! checks it against the public JWKs registered for that application ([`applications`],
//! [`assertion`]) and refuses a second use of its `jti` ([`replay`]). The proxy then issues an
//! access token it signs with its own key ([`tokens`]); routed calls present it as
//! `Authorization: Bearer …` and [`bearer`] turns it into a [`Principal`] or a BaRS
//! `SEND_UNAUTHORIZED` / `SEND_FORBIDDEN` OperationOutcome (digest §3.3 row 2).
//!
//! Layout, one job per module:
//! * [`applications`] — who may ask for tokens, with which keys and products.
//! * [`client_assertion`] — what a sender does (signing); free of proxy types so it can move
//!   into a sender SDK.
//! * [`assertion`] — what the proxy checks in an assertion.
//! * [`replay`] — the `jti` cache.
//! * [`tokens`] — the proxy's signing key, issuing and validating access tokens.
//! * [`endpoint`] — the token endpoint's wire format (form in, RFC 6749 JSON out).
//! * [`bearer`] — the `Authorization` header on routed calls.
//! * `form`, `jwk`, `jwt` — private helpers (form decoding, registered JWK handling, compact
//!   JWS parsing) kept apart so each can be read on its own.

pub mod applications;
pub mod assertion;
pub mod bearer;
pub mod endpoint;
mod form;
mod jwk;
mod jwt;
pub mod replay;
pub mod tokens;

#[cfg(test)]
pub(crate) mod testkit;

use std::sync::Arc;
use std::time::Duration;

pub use applications::{Application, ApplicationError, Applications, BARS_PRODUCT, BARS_SCOPE};
pub use assertion::{AssertionFailure, VerifiedAssertion, verify_client_assertion};
pub use bars_client::assertion as client_assertion;
pub use bars_client::{AssertionError, sign_client_assertion};
pub use bearer::authenticate;
pub use endpoint::{TOKEN_PATH, router};
pub use replay::{ReplayCache, ReplayError};
pub use tokens::{AuthError, IssuedToken, KeyError, Principal, ProxySigningKey, TokenService};

/// The `aud` of the access tokens the proxy issues: they are good for BaRS calls only.
pub const ACCESS_TOKEN_AUDIENCE: &str = "bars";

/// The settings of sender authentication, built once at start-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthConfig {
    /// The token endpoint's public URL. A client assertion's `aud` must equal it exactly, so an
    /// assertion made for another server (or environment) cannot be replayed here.
    pub token_url: String,
    /// The `iss` of the access tokens this proxy issues (its public base URL).
    pub issuer: String,
    /// How long an access token lives.
    pub access_token_lifetime: Duration,
    /// Clock skew tolerated between a sender and the proxy, and between proxy instances.
    pub leeway: Duration,
    /// The furthest ahead an assertion's `exp` may be (NHS: 5 minutes). Short assertions keep
    /// the replay cache small and limit the damage of a leaked assertion.
    pub max_assertion_lifetime: Duration,
}

impl AuthConfig {
    pub const DEFAULT_ACCESS_TOKEN_LIFETIME: Duration = Duration::from_secs(10 * 60);
    pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(30);
    pub const DEFAULT_MAX_ASSERTION_LIFETIME: Duration = Duration::from_secs(5 * 60);

    /// A configuration with the default lifetimes and leeway.
    pub fn new(token_url: impl Into<String>, issuer: impl Into<String>) -> AuthConfig {
        AuthConfig {
            token_url: token_url.into(),
            issuer: issuer.into(),
            access_token_lifetime: Self::DEFAULT_ACCESS_TOKEN_LIFETIME,
            leeway: Self::DEFAULT_LEEWAY,
            max_assertion_lifetime: Self::DEFAULT_MAX_ASSERTION_LIFETIME,
        }
    }
}

/// Everything the token endpoint and the bearer check share. Cheap to clone: the registry,
/// the token service and the replay cache are shared, not copied.
#[derive(Clone)]
pub struct AuthState {
    pub applications: Applications,
    pub tokens: Arc<TokenService>,
    pub replay: Arc<ReplayCache>,
    /// Where used `jti`s are recorded for every proxy sharing the database, after the
    /// in-process cache above (which also bounds what one process can add). `None`: this
    /// process only.
    pub jti_store: Option<Arc<dyn crate::store::ProxyStore>>,
    pub config: AuthConfig,
    pub metrics: Arc<crate::metrics::AuthMetrics>,
}

impl AuthState {
    /// Wires the parts together so that the token service uses the configured issuer, lifetime
    /// and leeway (one source of truth for each).
    pub fn new(config: AuthConfig, applications: Applications, key: ProxySigningKey) -> AuthState {
        let tokens = TokenService::new(
            key,
            config.issuer.clone(),
            config.access_token_lifetime,
            config.leeway,
        );
        AuthState {
            applications,
            tokens: Arc::new(tokens),
            replay: Arc::new(ReplayCache::default()),
            jti_store: None,
            config,
            metrics: Arc::default(),
        }
    }
}

/// Seconds since the Unix epoch, the unit of JWT `NumericDate`s. A clock before 1970 reads as
/// 0, which makes every token look expired rather than valid.
pub fn unix_now() -> i64 {
    unix_now_millis() / 1000
}

/// Milliseconds since the Unix epoch (the NHS token response's `issued_at`).
pub(crate) fn unix_now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// A `Duration` as whole seconds for claim arithmetic, saturating instead of wrapping.
pub(crate) fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}
