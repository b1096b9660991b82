//! The recording layer in front of the proxy: every request that reaches it (the token request
//! and each API request) and what the proxy answered, kept whole for grading and attributed to
//! the application that sent it (by the access token the proxy issued to it).
//!
//! Recording at the proxy sees exactly what a sender put on the wire, before the proxy checks
//! anything; the stack's own receivers write their pointers through the same proxy, and their
//! requests are recorded too but attributed to them, so grading can leave them out.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

use axum::body::Body;
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bars_fhir::IssueType;
use bars_fhir::codes::BarsCode;
use bars_http::error::ApiError;
use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode};
use serde_json::Value;

use super::jwt;

/// The proxy's token endpoint.
pub const TOKEN_PATH: &str = "/oauth2/token";
/// Bodies larger than this are refused before the proxy sees them (the proxy's own limit is
/// 1 MiB), so that recording never holds more than this per request.
const BODY_LIMIT: usize = 4 * 1024 * 1024;
/// Answers are buffered whole to be recorded; the proxy's own upstream client refuses answers
/// over 16 MiB, so nothing it passes on is larger than this.
const ANSWER_LIMIT: usize = 32 * 1024 * 1024;
/// Exchanges kept; a session longer than this is graded on its first exchanges and says so.
pub const MAX_RECORDED: usize = 20_000;

/// One request to the proxy and its answer.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// Order of arrival, from 0.
    pub seq: usize,
    pub at: SystemTime,
    pub method: Method,
    /// Path and query, as sent.
    pub path: String,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub status: u16,
    pub response_headers: HeaderMap,
    pub response_body: Bytes,
    /// The application that sent it: the assertion's issuer for a token request, the holder of
    /// the bearer token otherwise; `None` when it named none the proxy issued.
    pub client: Option<String>,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn response_header(&self, name: &str) -> Option<&str> {
        self.response_headers
            .get(name)
            .and_then(|v| v.to_str().ok())
    }

    pub fn is_token_request(&self) -> bool {
        self.path.split('?').next() == Some(TOKEN_PATH)
    }

    /// The path without its query.
    pub fn route(&self) -> &str {
        self.path.split('?').next().unwrap_or("")
    }

    pub fn query(&self) -> &str {
        self.path.split_once('?').map(|(_, q)| q).unwrap_or("")
    }

    pub fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }

    pub fn response_json(&self) -> Option<Value> {
        serde_json::from_slice(&self.response_body).ok()
    }

    /// The bearer token it carried.
    pub fn bearer(&self) -> Option<&str> {
        self.header("authorization")?
            .strip_prefix("Bearer ")
            .map(str::trim)
    }
}

#[derive(Default)]
struct State {
    recorded: Vec<Recorded>,
    /// Access token -> the application it was issued to.
    tokens: HashMap<String, String>,
    dropped: usize,
    last_graded_activity: Option<Instant>,
}

/// What the proxy saw, shared between the layer and whoever grades it.
pub struct Recorder {
    state: Mutex<State>,
    /// Applications whose requests are recorded but never graded (the stack's receivers).
    ignored: HashSet<String>,
}

fn lock(m: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Recorder {
    pub fn new(ignored: impl IntoIterator<Item = String>) -> Arc<Recorder> {
        Arc::new(Recorder {
            state: Mutex::new(State::default()),
            ignored: ignored.into_iter().collect(),
        })
    }

    /// Whether requests of `client` are left out of grading.
    pub fn ignores(&self, client: Option<&str>) -> bool {
        client.is_some_and(|c| self.ignored.contains(c))
    }

    /// Everything recorded so far.
    pub fn recorded(&self) -> Vec<Recorded> {
        lock(&self.state).recorded.clone()
    }

    /// The exchanges graded: everything but the ignored applications'.
    pub fn graded(&self) -> Vec<Recorded> {
        lock(&self.state)
            .recorded
            .iter()
            .filter(|r| !self.ignores(r.client.as_deref()))
            .cloned()
            .collect()
    }

    /// How many graded requests were recorded, and how many of them were token requests.
    pub fn counts(&self) -> (usize, usize) {
        let state = lock(&self.state);
        let graded = state
            .recorded
            .iter()
            .filter(|r| !self.ignores(r.client.as_deref()));
        graded.fold((0, 0), |(all, tokens), r| {
            (all + 1, tokens + usize::from(r.is_token_request()))
        })
    }

    /// Exchanges not kept because the session was longer than [`MAX_RECORDED`].
    pub fn dropped(&self) -> usize {
        lock(&self.state).dropped
    }

    /// When a graded request last arrived (`None` before the first).
    pub fn last_activity(&self) -> Option<Instant> {
        lock(&self.state).last_graded_activity
    }

    /// The layer for [`bars_stack::StackLayers::proxy`].
    pub fn layer(self: &Arc<Self>) -> bars_stack::RouterWrap {
        let recorder = Arc::clone(self);
        Arc::new(move |router: axum::Router| {
            let recorder = Arc::clone(&recorder);
            router.layer(axum::middleware::from_fn(
                move |req: Request, next: Next| {
                    let recorder = Arc::clone(&recorder);
                    async move { recorder.through(req, next).await }
                },
            ))
        })
    }

    /// Passes one request to the proxy and records it with the answer.
    async fn through(&self, request: Request, next: Next) -> Response {
        let at = SystemTime::now();
        let (parts, body) = request.into_parts();
        let Ok(body) = axum::body::to_bytes(body, BODY_LIMIT).await else {
            return ApiError::bars(
                BarsCode::SendBadRequest,
                IssueType::TooLong,
                format!("the body is larger than {BODY_LIMIT} bytes"),
            )
            .with_status(StatusCode::PAYLOAD_TOO_LARGE)
            .into_response();
        };
        let method = parts.method.clone();
        let path = parts
            .uri
            .path_and_query()
            .map(|p| p.to_string())
            .unwrap_or_default();
        let headers = parts.headers.clone();
        let response = next
            .run(Request::from_parts(parts, Body::from(body.clone())))
            .await;
        let (parts, answer) = response.into_parts();
        let Ok(answer) = axum::body::to_bytes(answer, ANSWER_LIMIT).await else {
            return ApiError::bars(
                BarsCode::RecServerError,
                IssueType::TooLong,
                format!("the conformance recorder cannot hold an answer over {ANSWER_LIMIT} bytes"),
            )
            .into_response();
        };
        let recorded = Recorded {
            seq: 0,
            at,
            method,
            path,
            headers,
            body,
            status: parts.status.as_u16(),
            response_headers: parts.headers.clone(),
            response_body: answer.clone(),
            client: None,
        };
        self.keep(recorded);
        Response::from_parts(parts, Body::from(answer))
    }

    fn keep(&self, mut r: Recorded) {
        let mut state = lock(&self.state);
        if r.is_token_request() {
            r.client = jwt::form_assertion(&r.body)
                .and_then(|a| jwt::claims(&a))
                .and_then(|c| c["iss"].as_str().map(str::to_string));
            if let (Some(client), Some(token)) = (
                &r.client,
                r.response_json()
                    .and_then(|v| v["access_token"].as_str().map(str::to_string)),
            ) {
                state.tokens.insert(token, client.clone());
            }
        } else {
            r.client = r.bearer().and_then(|t| state.tokens.get(t).cloned());
        }
        if !self.ignores(r.client.as_deref()) {
            state.last_graded_activity = Some(Instant::now());
        }
        if state.recorded.len() >= MAX_RECORDED {
            state.dropped += 1;
            return;
        }
        r.seq = state.recorded.len();
        state.recorded.push(r);
    }
}
