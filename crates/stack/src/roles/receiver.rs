//! A receiver: its database, the receiver over it, the pointer worker, and its two listeners.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use bars_http::server::refuse_with_bars_code;
use bars_http::transport::TransportRules;
use bars_receiver::pointers::RegistryTarget;
use bars_receiver::{Receiver, ReceiverConfig};
use bars_store::Store;
use bars_store::postgres::redact;

use super::{Conduct, Finish, Listeners, Running};

/// Staff requests on the admin listener get a short drain: publishing slots can be retried,
/// and a stopping receiver should not wait on it.
const CONDUCT: Conduct = Conduct {
    refuse: refuse_with_bars_code::RECEIVER,
    admin_drain: Some(Duration::from_secs(5)),
};

/// Everything a receiver is started with.
pub struct ReceiverSettings {
    pub config: ReceiverConfig,
    /// `sqlite://path` (or a bare path) or `postgres://...`.
    pub database: String,
    /// Where Registry pointers are written; `None` leaves pointer jobs waiting in the outbox.
    pub pointers: Option<RegistryTarget>,
    pub listeners: Listeners,
}

/// A receiver serving its two listeners, its pointer worker running.
pub type RunningReceiver = Running<Receiver>;

/// Opens the database and starts the receiver, its pointer worker and both listeners.
pub async fn start(settings: ReceiverSettings) -> anyhow::Result<RunningReceiver> {
    start_wrapped(settings, |api| api).await
}

/// [`start`], with the API router passed through `wrap` before it is served: a layer in front
/// of the receiver (the conformance kit's sender mode puts one there), its code unchanged.
pub async fn start_wrapped(
    settings: ReceiverSettings,
    wrap: impl FnOnce(axum::Router) -> axum::Router,
) -> anyhow::Result<RunningReceiver> {
    let database = &settings.database;
    let store = bars_store::open(database)
        .await
        .with_context(|| format!("opening the database {}", redact(database)))?;
    let mut receiver = Receiver::new(settings.config, store)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    if let Some(target) = settings.pointers {
        receiver
            .start_pointer_worker(target)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    let listeners = settings.listeners;
    let rules = TransportRules {
        require_client_certificate: listeners.require_client_certificate(),
        ..TransportRules::receiver()
    };
    let servers = listeners.serve(CONDUCT, wrap(receiver.router(rules)), |token| {
        receiver.admin_router(token)
    });
    Ok(Running {
        role: receiver,
        servers,
    })
}

impl RunningReceiver {
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.role.state.store
    }
}

impl Finish for Receiver {
    /// Stops the pointer worker and writes the queued audit entries.
    async fn finish(self) {
        self.close().await;
    }
}
