//! The outbound HTTP client every role shares: pooled keep-alive connections, optional TLS
//! with a client certificate, and a deadline on every call.

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tracing::Instrument;

/// Responses larger than this are refused rather than buffered.
pub const MAX_RESPONSE_BYTES: usize = 16 * 1024 * 1024;

#[derive(Clone)]
pub struct HttpClient {
    inner: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    timeout: Duration,
}

#[derive(Debug, Clone)]
pub struct ClientResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl ClientResponse {
    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Why a call produced no response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    /// Nothing listens there, or the TLS handshake was refused.
    #[error("could not connect: {0}")]
    Connect(String),
    /// No complete response within the deadline.
    #[error("no response within {0:?}")]
    Timeout(Duration),
    #[error("{0}")]
    Other(String),
}

impl HttpClient {
    /// A client for plain HTTP and for HTTPS verified against `tls` (which may carry a client
    /// certificate for mutual TLS).
    pub fn new(tls: Option<rustls::ClientConfig>, timeout: Duration) -> Self {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(timeout.min(Duration::from_secs(10))));
        let builder = hyper_rustls::HttpsConnectorBuilder::new();
        let connector = match tls {
            Some(mut config) => {
                // The connector negotiates ALPN for the HTTP versions it enables.
                config.alpn_protocols.clear();
                builder
                    .with_tls_config(config)
                    .https_or_http()
                    .enable_http1()
                    .wrap_connector(http)
            }
            None => builder
                .with_tls_config(empty_tls())
                .https_or_http()
                .enable_http1()
                .wrap_connector(http),
        };
        let inner = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(64)
            .build(connector);
        HttpClient { inner, timeout }
    }

    pub fn plain(timeout: Duration) -> Self {
        HttpClient::new(None, timeout)
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    pub async fn send(&self, request: Request<Bytes>) -> Result<ClientResponse, ClientError> {
        self.send_with_timeout(request, self.timeout).await
    }

    pub async fn send_with_timeout(
        &self,
        request: Request<Bytes>,
        timeout: Duration,
    ) -> Result<ClientResponse, ClientError> {
        // The span names the host, never the path or query: those can name a patient.
        let span = tracing::debug_span!(
            "upstream",
            method = %request.method(),
            host = request.uri().authority().map_or("-", |a| a.as_str()),
            status = tracing::field::Empty,
        );
        let request = request.map(Full::new);
        let call = async {
            let response = self.inner.request(request).await.map_err(|e| {
                if e.is_connect() {
                    ClientError::Connect(error_chain(&e))
                } else {
                    ClientError::Other(error_chain(&e))
                }
            })?;
            let (parts, body) = response.into_parts();
            let body = Limited::new(body, MAX_RESPONSE_BYTES)
                .collect()
                .await
                .map_err(|e| ClientError::Other(e.to_string()))?
                .to_bytes();
            Ok(ClientResponse {
                status: parts.status,
                headers: parts.headers,
                body,
            })
        };
        let result = tokio::time::timeout(timeout, call)
            .instrument(span.clone())
            .await
            .unwrap_or(Err(ClientError::Timeout(timeout)));
        if let Ok(response) = &result {
            span.record("status", response.status.as_u16());
        }
        result
    }

    /// Convenience for simple calls.
    pub async fn call(
        &self,
        method: Method,
        url: &str,
        headers: &[(&str, String)],
        body: Option<Bytes>,
    ) -> Result<ClientResponse, ClientError> {
        let uri: Uri = url
            .parse()
            .map_err(|e| ClientError::Other(format!("bad URL: {e}")))?;
        let mut builder = Request::builder().method(method).uri(uri);
        for (k, v) in headers {
            builder = builder.header(*k, v);
        }
        let request = builder
            .body(body.unwrap_or_default())
            .map_err(|e| ClientError::Other(e.to_string()))?;
        self.send(request).await
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        s.push_str(": ");
        s.push_str(&cause.to_string());
        source = cause.source();
    }
    s
}

/// A TLS configuration that trusts nothing: used when only plain HTTP is expected, so an
/// `https` URL fails closed instead of trusting an unknown certificate.
fn empty_tls() -> rustls::ClientConfig {
    rustls::ClientConfig::builder()
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth()
}

/// Where an outbound caller gets its OAuth bearer token (renewing it as needed).
pub trait BearerSource: Send + Sync {
    fn bearer(
        &self,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<String, String>> + Send + '_>>;
}
