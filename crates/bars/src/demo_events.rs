//! The demo's stand-in for a clinic's own systems: one small webhook subscriber per receiver
//! that checks each delivery's signature and writes a line per event to a log file (and the
//! demo's log), so that a person booking through the CLI sees the clinic's side react.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use bars_http::server::{RunningServer, ServerOptions};
use bars_receiver::provider::signing;
use bars_stack::StackReceiver;
use bars_store::Subscriber;
use bytes::Bytes;

/// A running subscriber and where it writes.
pub struct EventLog {
    pub log: PathBuf,
    server: RunningServer,
}

struct Listener {
    ods: String,
    key: Vec<u8>,
    log: PathBuf,
    /// Event ids seen, so a delivery sent again (at-least-once) is logged once.
    seen: std::sync::Mutex<std::collections::HashSet<String>>,
}

impl EventLog {
    /// Starts a subscriber for `receiver` on a free loopback port and subscribes it to every
    /// service the receiver hosts, logging to `<dir>/events-<ODS>.log`.
    pub async fn start(dir: &Path, receiver: &StackReceiver) -> anyhow::Result<EventLog> {
        let secret = signing::new_secret();
        let log = dir.join(format!("events-{}.log", receiver.ods));
        let listener = Arc::new(Listener {
            ods: receiver.ods.clone(),
            key: signing::secret_key(&secret).context("a fresh webhook secret")?,
            log: log.clone(),
            seen: Default::default(),
        });
        let app = Router::new()
            .route("/events", post(receive))
            .with_state(listener);
        let server = RunningServer::start(
            "127.0.0.1:0".parse().context("a loopback address")?,
            app,
            ServerOptions::default(),
        )
        .await
        .context("starting the demo's event subscriber")?;
        let url = format!("http://{}/events", server.addr);
        for (service, _) in &receiver.services {
            receiver
                .store
                .put_subscriber(Subscriber {
                    id: format!("demo-event-log-{service}"),
                    service_id: service.clone(),
                    url: url.clone(),
                    secret: secret.clone(),
                })
                .await
                .context("subscribing the demo's event log")?;
        }
        Ok(EventLog { log, server })
    }

    pub async fn stop(self) {
        self.server.shutdown().await;
    }
}

async fn receive(State(l): State<Arc<Listener>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    };
    let id = header("webhook-id");
    let verified = header("webhook-timestamp")
        .parse::<i64>()
        .is_ok_and(|ts| signing::verify(&l.key, id, ts, &body, header("webhook-signature")));
    if !verified {
        tracing::info_span!("event_delivery", event_id = %id).in_scope(|| {
            tracing::warn!(receiver = %l.ods, "demo event log: a delivery with a bad signature was refused")
        });
        return StatusCode::UNAUTHORIZED;
    }
    let first_time = l
        .seen
        .lock()
        .map(|mut seen| seen.insert(id.to_string()))
        .unwrap_or(true);
    if first_time {
        let event: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        let line = crate::commands::provider::describe(&event);
        tracing::info_span!("event_delivery", event_id = %id)
            .in_scope(|| tracing::info!(receiver = %l.ods, "clinic system heard: {line}"));
        let written = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&l.log)
            .and_then(|mut f| writeln!(f, "{line}"));
        if let Err(e) = written {
            tracing::warn!(error = %e, "demo event log: cannot write {}", l.log.display());
            return StatusCode::SERVICE_UNAVAILABLE;
        }
    }
    StatusCode::NO_CONTENT
}
