//! Access tokens for a sending application: a signed client assertion exchanged at the proxy's
//! token endpoint, cached and renewed shortly before it expires.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bars_http::client::{BearerSource, HttpClient};
use bytes::Bytes;
use http::Method;
use tokio::sync::Mutex;

use crate::assertion::{AssertionError, JWT_BEARER_ASSERTION_TYPE, sign_client_assertion};
use crate::key::resolve_algorithm;
use crate::record::{self, Recorder};

/// What a sending application is registered with at the proxy.
#[derive(Clone)]
pub struct Credentials {
    pub client_id: String,
    pub kid: String,
    /// `RS512` or `ES256`: the key's own ([`Credentials::from_key`] reads it from the key).
    pub algorithm: String,
    pub private_pem: String,
    pub token_url: String,
}

impl Credentials {
    /// Credentials that sign with the algorithm of `private_pem` itself; `algorithm`, when the
    /// caller names one anyway, must be that one (see [`crate::key::resolve_algorithm`]).
    pub fn from_key(
        client_id: &str,
        kid: &str,
        private_pem: String,
        token_url: &str,
        algorithm: Option<&str>,
    ) -> Result<Credentials, AssertionError> {
        let algorithm = resolve_algorithm(algorithm, &private_pem)?;
        Ok(Credentials {
            client_id: client_id.to_string(),
            kid: kid.to_string(),
            algorithm: algorithm.to_string(),
            private_pem,
            token_url: token_url.to_string(),
        })
    }
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("client_id", &self.client_id)
            .field("kid", &self.kid)
            .field("token_url", &self.token_url)
            .finish_non_exhaustive()
    }
}

/// Renew this long before a token expires, so a call never leaves with a token about to die.
const RENEW_BEFORE: Duration = Duration::from_secs(30);
/// Assertions live a minute: well inside the proxy's five-minute limit.
const ASSERTION_LIFETIME: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the client assertion could not be signed: {0}")]
    Assertion(String),
    #[error("the token endpoint could not be reached: {0}")]
    Unreachable(String),
    #[error("the token endpoint refused: {error}: {description}")]
    Refused {
        status: u16,
        error: String,
        description: String,
    },
    #[error("the token endpoint's answer was not understood")]
    Malformed,
}

struct Cached {
    token: String,
    renew_at: Instant,
}

/// A cached access token, renewed on demand. One renewal at a time: concurrent callers wait
/// for it rather than each asking the proxy.
pub struct TokenSource {
    credentials: Credentials,
    http: HttpClient,
    cached: Mutex<Option<Cached>>,
    recorder: Option<Arc<dyn Recorder>>,
}

impl TokenSource {
    pub fn new(credentials: Credentials, http: HttpClient) -> Arc<TokenSource> {
        TokenSource::recorded(credentials, http, None)
    }

    /// A token source that tells `recorder` of every token request it makes.
    pub fn recorded(
        credentials: Credentials,
        http: HttpClient,
        recorder: Option<Arc<dyn Recorder>>,
    ) -> Arc<TokenSource> {
        Arc::new(TokenSource {
            credentials,
            http,
            cached: Mutex::new(None),
            recorder,
        })
    }

    pub fn client_id(&self) -> &str {
        &self.credentials.client_id
    }

    /// A token good for at least the renewal margin.
    pub async fn token(&self) -> Result<String, TokenError> {
        let mut cached = self.cached.lock().await;
        if let Some(c) = cached.as_ref()
            && Instant::now() < c.renew_at
        {
            return Ok(c.token.clone());
        }
        let (token, lifetime) = self.fetch().await?;
        let renew_at = Instant::now()
            + lifetime
                .saturating_sub(RENEW_BEFORE)
                .max(Duration::from_secs(1));
        *cached = Some(Cached {
            token: token.clone(),
            renew_at,
        });
        Ok(token)
    }

    /// Forgets the cached token (after a 401, say), so the next call gets a fresh one.
    pub async fn invalidate(&self) {
        *self.cached.lock().await = None;
    }

    async fn fetch(&self) -> Result<(String, Duration), TokenError> {
        let c = &self.credentials;
        let assertion = sign_client_assertion(
            &c.client_id,
            &c.kid,
            &c.algorithm,
            &c.private_pem,
            &c.token_url,
            ASSERTION_LIFETIME,
        )
        .map_err(|e| TokenError::Assertion(e.to_string()))?;
        let form = format!(
            "grant_type=client_credentials&client_assertion_type={}&client_assertion={}",
            percent_encoding::utf8_percent_encode(
                JWT_BEARER_ASSERTION_TYPE,
                percent_encoding::NON_ALPHANUMERIC
            ),
            assertion
        );
        let r = record::call(
            &self.http,
            self.recorder.as_deref(),
            Method::POST,
            &c.token_url,
            &[("content-type", "application/x-www-form-urlencoded".into())],
            Some(Bytes::from(form)),
        )
        .await
        .map_err(|e| TokenError::Unreachable(e.to_string()))?;
        let body = r.json().ok_or(TokenError::Malformed)?;
        if !r.status.is_success() {
            return Err(TokenError::Refused {
                status: r.status.as_u16(),
                error: body["error"].as_str().unwrap_or("unknown").to_string(),
                description: body["error_description"].as_str().unwrap_or("").to_string(),
            });
        }
        let token = body["access_token"]
            .as_str()
            .ok_or(TokenError::Malformed)?
            .to_string();
        let seconds = body["expires_in"]
            .as_u64()
            .or_else(|| body["expires_in"].as_str().and_then(|s| s.parse().ok()))
            .unwrap_or(60);
        Ok((token, Duration::from_secs(seconds)))
    }
}

impl BearerSource for TokenSource {
    fn bearer(
        &self,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<String, String>> + Send + '_>>
    {
        Box::pin(async move { self.token().await.map_err(|e| e.to_string()) })
    }
}
