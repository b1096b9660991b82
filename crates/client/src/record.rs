//! A hook for watching the exchanges a client makes: each HTTP request it sends (token requests
//! and BaRS calls alike, every retry its own) and what came back, with timings. A teaching tool
//! or a test can show them; the SDK does nothing with them itself.
//!
//! The exchange is given as it went on the wire: the bearer token and the signed client
//! assertion are in it, so whoever shows it must redact them (the workbench does).

use std::time::{Duration, SystemTime};

use bars_http::client::{ClientError, ClientResponse, HttpClient};
use bytes::Bytes;
use http::Method;

/// One request and its answer (or why there was none).
#[derive(Debug, Clone)]
pub struct Exchange {
    pub method: Method,
    pub url: String,
    pub request_headers: Vec<(String, String)>,
    pub request_body: Option<Bytes>,
    pub response: Result<ClientResponse, String>,
    pub started: SystemTime,
    pub elapsed: Duration,
}

/// Receives every exchange a client makes, in the order they finish.
pub trait Recorder: Send + Sync {
    fn record(&self, exchange: Exchange);
}

/// Sends one request with `http`, telling `recorder` (when there is one) what happened.
pub(crate) async fn call(
    http: &HttpClient,
    recorder: Option<&dyn Recorder>,
    method: Method,
    url: &str,
    headers: &[(&str, String)],
    body: Option<Bytes>,
) -> Result<ClientResponse, ClientError> {
    let Some(recorder) = recorder else {
        return http.call(method, url, headers, body).await;
    };
    let started = SystemTime::now();
    let clock = std::time::Instant::now();
    let result = http.call(method.clone(), url, headers, body.clone()).await;
    recorder.record(Exchange {
        method,
        url: url.to_string(),
        request_headers: headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect(),
        request_body: body,
        response: result.clone().map_err(|e| e.to_string()),
        started,
        elapsed: clock.elapsed(),
    });
    result
}
