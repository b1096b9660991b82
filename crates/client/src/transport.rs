//! Sending one BaRS request through the proxy: the headers, the token, and retries exactly as
//! BaRS 4.6 says — the same `X-Request-ID` and `X-Correlation-ID` on every attempt, exponential
//! back-off, and never a retry of 409 `duplicate` (which means the first attempt succeeded).

use std::sync::Arc;
use std::time::Duration;

use bars_fhir::headers::TargetIdentifier;
use bars_http::client::HttpClient;
use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode};

use crate::error::BarsError;
use crate::identity::SenderIdentity;
use crate::record::{self, Recorder};
use crate::token::TokenSource;
use crate::version::BarsVersion;

/// A FHIR body's media type; the transport adds the `version=` the client speaks.
const FHIR_JSON: &str = "application/fhir+json";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub attempts: u32,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 4,
            initial_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(8),
        }
    }
}

/// One logical request. Its ids are fixed when it is made and reused by every attempt.
#[derive(Debug, Clone)]
pub struct Call {
    pub method: Method,
    /// Path and query, from the proxy's base URL.
    pub path: String,
    pub target: Option<TargetIdentifier>,
    pub body: Option<(&'static str, Bytes)>,
    pub if_match: Option<String>,
    pub request_id: String,
    pub correlation_id: String,
}

impl Call {
    pub fn new(method: Method, path: impl Into<String>) -> Call {
        Call {
            method,
            path: path.into(),
            target: None,
            body: None,
            if_match: None,
            request_id: uuid::Uuid::new_v4().to_string(),
            correlation_id: uuid::Uuid::new_v4().to_string(),
        }
    }

    pub fn to(mut self, target: &TargetIdentifier) -> Call {
        self.target = Some(target.clone());
        self
    }

    pub fn fhir(mut self, body: &serde_json::Value) -> Call {
        self.body = Some((FHIR_JSON, Bytes::from(body.to_string())));
        self
    }

    pub fn json_patch(mut self, patch: &serde_json::Value) -> Call {
        self.body = Some((
            "application/json-patch+json",
            Bytes::from(patch.to_string()),
        ));
        self
    }

    pub fn if_match(mut self, etag: Option<String>) -> Call {
        self.if_match = etag;
        self
    }

    /// Keeps a conversation's correlation id across its requests (BaRS 5.10).
    pub fn in_conversation(mut self, correlation_id: &str) -> Call {
        self.correlation_id = correlation_id.to_string();
        self
    }
}

/// A successful answer.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn json(&self) -> Result<serde_json::Value, BarsError> {
        serde_json::from_slice(&self.body)
            .map_err(|_| BarsError::Unexpected("the answer is not JSON".into()))
    }

    pub fn etag(&self) -> Option<String> {
        self.headers
            .get(http::header::ETAG)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }
}

pub struct Transport {
    pub http: HttpClient,
    pub base: String,
    pub tokens: Arc<TokenSource>,
    pub identity: SenderIdentity,
    pub retry: RetryPolicy,
    /// Told of every attempt's exchange, when set.
    pub recorder: Option<Arc<dyn Recorder>>,
    /// Named in `Accept` (and a FHIR body's `Content-Type`): the receiver answers by its rules.
    pub version: BarsVersion,
}

/// Whether a refusal is worth repeating unchanged (BaRS 4.6).
fn retryable(status: u16, code: Option<&str>, has_outcome: bool) -> bool {
    match status {
        408 | 425 | 429 | 502 | 503 | 504 => true,
        500 => !has_outcome || code.is_some_and(|c| c.starts_with("PROXY_") || c == "SERVER_ERROR"),
        _ => false,
    }
}

impl Transport {
    fn backoff(&self, attempt: u32) -> Duration {
        let d = self
            .retry
            .initial_backoff
            .saturating_mul(1u32 << attempt.min(10));
        d.min(self.retry.max_backoff)
    }

    pub async fn send(&self, call: &Call) -> Result<Reply, BarsError> {
        let mut token_renewed = false;
        let mut last_error = BarsError::Unreachable("no attempt was made".into());
        for attempt in 0..self.retry.attempts.max(1) {
            if attempt > 0 {
                tracing::debug!(attempt, request_id = %call.request_id, "retrying with the same ids");
            }
            let token = self
                .tokens
                .token()
                .await
                .map_err(|e| BarsError::Token(e.to_string()))?;
            let mut headers: Vec<(&str, String)> = vec![
                ("authorization", format!("Bearer {token}")),
                ("x-request-id", call.request_id.clone()),
                ("x-correlation-id", call.correlation_id.clone()),
                (
                    "accept",
                    format!("{FHIR_JSON}; version={}", self.version.media_version()),
                ),
            ];
            headers.extend(self.identity.headers());
            if let Some(t) = &call.target {
                headers.push(("nhsd-target-identifier", t.encode()));
            }
            if let Some((content_type, _)) = &call.body {
                let content_type = match *content_type {
                    FHIR_JSON => format!("{FHIR_JSON}; version={}", self.version.media_version()),
                    other => other.to_string(),
                };
                headers.push(("content-type", content_type));
            }
            if let Some(tag) = &call.if_match {
                headers.push(("if-match", tag.clone()));
            }
            let url = format!("{}{}", self.base.trim_end_matches('/'), call.path);
            let answer = record::call(
                &self.http,
                self.recorder.as_deref(),
                call.method.clone(),
                &url,
                &headers,
                call.body.as_ref().map(|(_, b)| b.clone()),
            )
            .await;
            let r = match answer {
                Ok(r) => r,
                Err(e) => {
                    // No answer at all: the request may or may not have been processed; the
                    // retry carries the same ids, so it cannot be applied twice.
                    last_error = BarsError::Unreachable(e.to_string());
                    tokio::time::sleep(self.backoff(attempt)).await;
                    continue;
                }
            };
            if r.status.is_success() {
                return Ok(Reply {
                    status: r.status,
                    headers: r.headers,
                    body: r.body,
                });
            }
            let mut refusal = BarsError::refused(r.status.as_u16(), &r.body);
            if let BarsError::Refused {
                content_location, ..
            } = &mut refusal
            {
                *content_location = r.header("content-location").map(str::to_string);
            }
            let has_outcome = refusal.code().is_some();
            if r.status == StatusCode::UNAUTHORIZED
                && refusal.code() == Some("SEND_UNAUTHORIZED")
                && !token_renewed
            {
                // An expired or revoked token: one fresh token, then the same request again.
                self.tokens.invalidate().await;
                token_renewed = true;
                last_error = refusal;
                continue;
            }
            if refusal.is_duplicate() || !retryable(r.status.as_u16(), refusal.code(), has_outcome)
            {
                return Err(refusal);
            }
            let wait = r
                .header("retry-after")
                .and_then(|s| s.trim().parse::<u64>().ok())
                .map(Duration::from_secs)
                .unwrap_or_else(|| self.backoff(attempt));
            last_error = refusal;
            tokio::time::sleep(wait.min(self.retry.max_backoff)).await;
        }
        Err(last_error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_rules() {
        for s in [408, 425, 429, 503, 504] {
            assert!(retryable(s, Some("REC_X"), true), "{s}");
        }
        assert!(
            retryable(500, None, false),
            "a 500 without an OperationOutcome"
        );
        assert!(!retryable(500, Some("REC_SERVER_ERROR"), true));
        for s in [400, 401, 403, 404, 409, 412, 422] {
            assert!(!retryable(s, Some("REC_X"), true), "{s}");
        }
    }
}
