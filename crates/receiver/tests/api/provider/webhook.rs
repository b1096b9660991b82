//! A subscriber as a provider's system runs it: a real HTTP server that checks each
//! delivery's Standard Webhooks signature and keeps what it received. Tests make it answer
//! 500, answer slowly, or go away and come back on the same port.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use bars_http::server::{RunningServer, ServerOptions};
use bars_receiver::provider::signing;
use bytes::Bytes;
use serde_json::Value;

/// How the subscriber answers the next deliveries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Accept,
    /// 500 to everything.
    Fail,
    /// Waits this long, then accepts (a timeout when longer than the receiver's).
    Slow(Duration),
}

/// One delivery as it arrived.
#[derive(Debug, Clone)]
pub struct Received {
    pub id: String,
    pub timestamp: String,
    pub signature: String,
    pub raw: Bytes,
    pub body: Value,
    /// Whether this answer was a success (the delivery counts as made).
    pub accepted: bool,
}

#[derive(Default)]
struct Inner {
    mode: Option<Mode>,
    received: Vec<Received>,
    /// Deliveries of each event id being handled right now, and the most seen at once.
    in_flight: HashMap<String, usize>,
    most_at_once: usize,
    bad_signatures: usize,
}

#[derive(Clone)]
pub struct Subscriber {
    pub secret: String,
    pub addr: SocketAddr,
    inner: Arc<Mutex<Inner>>,
    server: Arc<tokio::sync::Mutex<Option<RunningServer>>>,
}

impl Subscriber {
    pub async fn start() -> Subscriber {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let s = Subscriber {
            secret: signing::new_secret(),
            addr,
            inner: Arc::new(Mutex::new(Inner {
                mode: Some(Mode::Accept),
                ..Inner::default()
            })),
            server: Arc::new(tokio::sync::Mutex::new(None)),
        };
        s.serve(listener).await;
        s
    }

    async fn serve(&self, listener: tokio::net::TcpListener) {
        let app = Router::new()
            .route("/hook", post(receive))
            .with_state(self.clone());
        *self.server.lock().await = Some(RunningServer::start_on(
            listener,
            app,
            ServerOptions::default(),
        ));
    }

    pub fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    pub fn set_mode(&self, mode: Mode) {
        self.inner.lock().unwrap().mode = Some(mode);
    }

    /// Stops listening: deliveries now fail to connect.
    pub async fn go_down(&self) {
        if let Some(server) = self.server.lock().await.take() {
            server.shutdown().await;
        }
    }

    /// Listens again on the same port.
    pub async fn come_back(&self) {
        let mut listener = None;
        for _ in 0..100 {
            match tokio::net::TcpListener::bind(self.addr).await {
                Ok(l) => {
                    listener = Some(l);
                    break;
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
        self.serve(listener.expect("the subscriber's port again"))
            .await;
    }

    pub fn received(&self) -> Vec<Received> {
        self.inner.lock().unwrap().received.clone()
    }

    /// The events accepted, deduplicated by id, in the order first accepted.
    pub fn accepted_once(&self) -> Vec<Received> {
        let mut seen = std::collections::HashSet::new();
        self.received()
            .into_iter()
            .filter(|r| r.accepted && seen.insert(r.id.clone()))
            .collect()
    }

    pub fn most_at_once(&self) -> usize {
        self.inner.lock().unwrap().most_at_once
    }

    pub fn bad_signatures(&self) -> usize {
        self.inner.lock().unwrap().bad_signatures
    }
}

async fn receive(State(s): State<Subscriber>, headers: HeaderMap, raw: Bytes) -> StatusCode {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let (id, timestamp, signature) = (
        header("webhook-id"),
        header("webhook-timestamp"),
        header("webhook-signature"),
    );
    let key = signing::secret_key(&s.secret).unwrap();
    let signed = timestamp
        .parse::<i64>()
        .is_ok_and(|ts| signing::verify(&key, &id, ts, &raw, &signature));
    let mode = {
        let mut inner = s.inner.lock().unwrap();
        if !signed {
            inner.bad_signatures += 1;
        }
        let n = inner.in_flight.entry(id.clone()).or_default();
        *n += 1;
        let n = *n;
        inner.most_at_once = inner.most_at_once.max(n);
        inner.mode.unwrap_or(Mode::Accept)
    };
    let status = match mode {
        Mode::Accept => StatusCode::NO_CONTENT,
        Mode::Fail => StatusCode::INTERNAL_SERVER_ERROR,
        Mode::Slow(d) => {
            tokio::time::sleep(d).await;
            StatusCode::OK
        }
    };
    let mut inner = s.inner.lock().unwrap();
    if let Some(n) = inner.in_flight.get_mut(&id) {
        *n -= 1;
    }
    inner.received.push(Received {
        id,
        timestamp,
        signature,
        body: serde_json::from_slice(&raw).unwrap_or(Value::Null),
        raw,
        accepted: status.is_success() && signed,
    });
    if signed {
        status
    } else {
        StatusCode::UNAUTHORIZED
    }
}
