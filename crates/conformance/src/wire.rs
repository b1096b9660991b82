//! How the kit reaches a receiver, and the record of every exchange (a check's evidence).
//!
//! Through a proxy the kit is a sender: a token, the access-control headers, the target. Directly
//! it stands where the proxy stands and names the authenticated application and organisation
//! itself, as the proxy does on every forwarded call.

use std::sync::{Arc, Mutex};

use bars_client::{SenderIdentity, TokenSource};
use bars_fhir::headers::TargetIdentifier;
use bars_http::client::HttpClient;
use bars_http::context::{AUTHENTICATED_APPLICATION, AUTHENTICATED_ORGANISATION};
use bytes::Bytes;
use http::{HeaderMap, Method};
use serde::Serialize;
use serde_json::Value;

pub const FHIR_JSON: &str = "application/fhir+json; version=1.1.0";
/// Evidence keeps this much of a body; the rest is summarised.
const EVIDENCE_BODY_LIMIT: usize = 8 * 1024;
/// Headers whose values are secrets: never written into a report.
const SECRET_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
];
/// JSON members whose values are secrets.
const SECRET_MEMBERS: &[&str] = &[
    "access_token",
    "refresh_token",
    "client_assertion",
    "private_key",
    "privateKey",
];

pub enum Route {
    /// As a sender through a proxy.
    Proxy { tokens: Arc<TokenSource> },
    /// Straight to the receiver, the kit acting as the proxy for `application`.
    Direct { application: String },
}

/// One request as a check builds it. The kit adds the route's headers; a check may override or
/// remove any of them (an empty value removes).
#[derive(Debug, Clone)]
pub struct Request {
    pub method: Method,
    pub path: String,
    pub service: Option<String>,
    pub headers: Vec<(String, String)>,
    pub body: Option<(String, Bytes)>,
}

impl Request {
    pub fn new(method: Method, path: impl Into<String>) -> Request {
        Request {
            method,
            path: path.into(),
            service: None,
            headers: vec![
                ("x-request-id".into(), uuid::Uuid::new_v4().to_string()),
                ("x-correlation-id".into(), uuid::Uuid::new_v4().to_string()),
                ("accept".into(), FHIR_JSON.into()),
            ],
            body: None,
        }
    }

    pub fn get(path: impl Into<String>) -> Request {
        Request::new(Method::GET, path)
    }

    pub fn post(path: impl Into<String>) -> Request {
        Request::new(Method::POST, path)
    }

    pub fn put(path: impl Into<String>) -> Request {
        Request::new(Method::PUT, path)
    }

    pub fn patch(path: impl Into<String>) -> Request {
        Request::new(Method::PATCH, path)
    }

    pub fn to(mut self, service: &str) -> Request {
        self.service = Some(service.to_string());
        self
    }

    /// Sets a header, replacing the kit's value; an empty value removes the header.
    pub fn header(mut self, name: &str, value: &str) -> Request {
        let name = name.to_ascii_lowercase();
        self.headers.retain(|(k, _)| *k != name);
        self.headers.push((name, value.to_string()));
        self
    }

    pub fn without(self, name: &str) -> Request {
        self.header(name, "")
    }

    pub fn json(self, body: &Value) -> Request {
        self.body(FHIR_JSON, body.to_string())
    }

    pub fn body(mut self, content_type: &str, body: impl Into<Bytes>) -> Request {
        self.body = Some((content_type.to_string(), body.into()));
        self
    }

    pub fn header_value(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A receiver's answer.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Response {
    pub fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The BaRS code of an OperationOutcome answer.
    pub fn bars_code(&self) -> Option<String> {
        let body = self.json()?;
        body.pointer("/issue/0/details/coding/0/code")
            .and_then(Value::as_str)
            .map(str::to_string)
    }

    /// The FHIR issue code of an OperationOutcome answer.
    pub fn issue_code(&self) -> Option<String> {
        let body = self.json()?;
        body.pointer("/issue/0/code")
            .and_then(Value::as_str)
            .map(str::to_string)
    }

    /// `status code/issue`, as failure messages show an answer.
    pub fn summary(&self) -> String {
        match (self.bars_code(), self.issue_code()) {
            (Some(c), Some(i)) => format!("{} {c}/{i}", self.status),
            _ => self.status.to_string(),
        }
    }
}

/// One request and what came back, secrets redacted.
#[derive(Debug, Clone, Serialize)]
pub struct Exchange {
    pub method: String,
    pub url: String,
    pub request_headers: Vec<(String, String)>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_body: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    pub response_headers: Vec<(String, String)>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_body: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

pub fn redact_header(name: &str, value: &str) -> String {
    if SECRET_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
        "[redacted]".into()
    } else {
        value.to_string()
    }
}

fn redact_json(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                if SECRET_MEMBERS.contains(&k.as_str()) {
                    *v = Value::String("[redacted]".into());
                } else {
                    redact_json(v);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact_json),
        _ => {}
    }
}

/// A body as evidence: JSON with its secrets redacted, text cut at a limit, bytes counted.
pub fn evidence_body(body: &[u8]) -> Option<String> {
    if body.is_empty() {
        return None;
    }
    let text = match serde_json::from_slice::<Value>(body) {
        Ok(mut v) => {
            redact_json(&mut v);
            v.to_string()
        }
        Err(_) => match std::str::from_utf8(body) {
            Ok(t) => t.to_string(),
            Err(_) => return Some(format!("[{} bytes, not UTF-8]", body.len())),
        },
    };
    if text.len() <= EVIDENCE_BODY_LIMIT {
        return Some(text);
    }
    let mut end = EVIDENCE_BODY_LIMIT;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    Some(format!("{}… [{} bytes in all]", &text[..end], text.len()))
}

pub struct Wire {
    http: HttpClient,
    base: String,
    route: Route,
    identity: SenderIdentity,
    log: Mutex<Vec<Exchange>>,
    /// The TLS settings of `http`, for the requests the kit holds in flight itself (`held`).
    tls: Option<Arc<rustls::ClientConfig>>,
    /// A client trusting the same CA but presenting no client certificate (the TLS-MA row).
    anonymous: Option<HttpClient>,
}

impl Wire {
    pub fn new(http: HttpClient, base: &str, route: Route, identity: SenderIdentity) -> Wire {
        Wire {
            http,
            base: base.trim_end_matches('/').to_string(),
            route,
            identity,
            log: Mutex::new(Vec::new()),
            tls: None,
            anonymous: None,
        }
    }

    /// A client like the wire's own but without its client certificate, to check that the
    /// receiver refuses a connection that does not authenticate (directly over https only).
    pub fn with_anonymous(mut self, http: HttpClient) -> Wire {
        self.anonymous = Some(http);
        self
    }

    pub fn has_anonymous(&self) -> bool {
        self.anonymous.is_some()
    }

    /// [`Wire::send`] without the client certificate (`Err` too when the wire has no such
    /// client).
    pub async fn send_anonymously(&self, request: &Request) -> Result<Response, String> {
        match &self.anonymous {
            Some(http) => self.send_via(http, request).await,
            None => Err("no client without a certificate".into()),
        }
    }

    /// The TLS settings `http` was built with, for requests held in flight (an https receiver
    /// without them skips the in-flight check).
    pub fn with_tls(mut self, tls: rustls::ClientConfig) -> Wire {
        self.tls = Some(Arc::new(tls));
        self
    }

    pub fn tls(&self) -> Option<Arc<rustls::ClientConfig>> {
        self.tls.clone()
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    pub fn is_direct(&self) -> bool {
        matches!(self.route, Route::Direct { .. })
    }

    /// The exchanges since the last call (one check's evidence).
    pub fn take_log(&self) -> Vec<Exchange> {
        match self.log.lock() {
            Ok(mut log) => std::mem::take(&mut *log),
            Err(poisoned) => std::mem::take(&mut *poisoned.into_inner()),
        }
    }

    /// Adds an exchange the kit made outside [`Wire::send`] to the evidence.
    pub fn record(&self, exchange: Exchange) {
        match self.log.lock() {
            Ok(mut log) => log.push(exchange),
            Err(poisoned) => poisoned.into_inner().push(exchange),
        }
    }

    /// The headers `request` leaves with: the route's (a token, or the identity the kit
    /// vouches for), the sender's, the target, the content type, then the check's own.
    pub async fn headers_for(&self, request: &Request) -> Result<Vec<(String, String)>, String> {
        let mut headers: Vec<(String, String)> = Vec::new();
        match &self.route {
            Route::Proxy { tokens } => {
                let token = tokens
                    .token()
                    .await
                    .map_err(|e| format!("no access token from the proxy: {e}"))?;
                headers.push(("authorization".into(), format!("Bearer {token}")));
            }
            Route::Direct { application } => {
                headers.push((AUTHENTICATED_APPLICATION.into(), application.clone()));
                headers.push((
                    AUTHENTICATED_ORGANISATION.into(),
                    self.identity.ods_code.clone(),
                ));
            }
        }
        headers.extend(
            self.identity
                .headers()
                .into_iter()
                .map(|(k, v)| (k.to_string(), v)),
        );
        if let Some(service) = &request.service {
            headers.push((
                "nhsd-target-identifier".into(),
                TargetIdentifier::dos(service.clone()).encode(),
            ));
        }
        if let Some((content_type, _)) = &request.body {
            headers.push(("content-type".into(), content_type.clone()));
        }
        for (name, value) in &request.headers {
            headers.retain(|(k, _)| k != name);
            if !value.is_empty() {
                headers.push((name.clone(), value.clone()));
            }
        }
        Ok(headers)
    }

    /// Redacted request headers, as evidence shows them.
    pub fn shown(headers: &[(String, String)]) -> Vec<(String, String)> {
        headers
            .iter()
            .map(|(k, v)| (k.clone(), redact_header(k, v)))
            .collect()
    }

    /// Sends `request` once (no retries: a check sees exactly what the receiver answered) and
    /// records the exchange. `Err` means no answer at all.
    pub async fn send(&self, request: &Request) -> Result<Response, String> {
        self.send_via(&self.http, request).await
    }

    async fn send_via(&self, http: &HttpClient, request: &Request) -> Result<Response, String> {
        let headers = self.headers_for(request).await?;
        let url = format!("{}{}", self.base, request.path);
        let refs: Vec<(&str, String)> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.clone()))
            .collect();
        let answer = http
            .call(
                request.method.clone(),
                &url,
                &refs,
                request.body.as_ref().map(|(_, b)| b.clone()),
            )
            .await;
        let mut exchange = Exchange {
            method: request.method.to_string(),
            url,
            request_headers: Wire::shown(&headers),
            request_body: request.body.as_ref().and_then(|(_, b)| evidence_body(b)),
            status: None,
            response_headers: Vec::new(),
            response_body: None,
            error: None,
        };
        match answer {
            Ok(r) => {
                exchange.status = Some(r.status.as_u16());
                exchange.response_headers = r
                    .headers
                    .iter()
                    .map(|(k, v)| {
                        let v = v.to_str().unwrap_or("[not text]");
                        (k.to_string(), redact_header(k.as_str(), v))
                    })
                    .collect();
                exchange.response_body = evidence_body(&r.body);
                self.record(exchange);
                Ok(Response {
                    status: r.status.as_u16(),
                    headers: r.headers,
                    body: r.body,
                })
            }
            Err(e) => {
                exchange.error = Some(e.to_string());
                self.record(exchange);
                Err(e.to_string())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_redacted() {
        assert_eq!(redact_header("Authorization", "Bearer abc"), "[redacted]");
        assert_eq!(redact_header("x-request-id", "abc"), "abc");
        let body =
            evidence_body(br#"{"access_token":"t","nested":[{"client_assertion":"a"}],"id":"1"}"#)
                .unwrap_or_default();
        assert!(!body.contains("\"t\"") && !body.contains("\"a\""), "{body}");
        assert!(body.contains("\"id\":\"1\""), "{body}");
    }
}
