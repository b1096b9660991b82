//! The Receiver role: a healthcare service's BaRS appointment server.
//!
//! Read in this order: [`api`] (routes and handlers), [`service`] (the one path of every
//! appointment read and write), [`booking_error`] and [`errors`] (what the service refuses, and
//! how the edge tells it), [`mapping`] (FHIR <-> domain), [`slots`] (availability search),
//! [`requests`] (idempotency), [`messaging`] (booking by FHIR message), [`availability`] and
//! [`admin`] (publishing slots), [`capability`].

pub mod access;
pub mod admin;
pub mod answer;
pub mod api;
pub mod audit;
pub mod availability;
pub mod booking_error;
pub mod capability;
pub mod catalog;
pub mod config;
pub mod demographics;
pub mod errors;
pub mod health;
pub mod mapping;
pub mod messaging;
pub mod metrics;
pub mod openapi;
pub mod opening_hours;
pub mod paging;
pub mod pointers;
pub mod provider;
pub mod requests;
pub mod scope;
pub mod service;
pub mod slot_resource;
pub mod slots;
pub mod state;

use std::sync::Arc;

use axum::Router;
use bars_http::transport::TransportRules;
use bars_store::{Store, StoreError};
use tokio::task::JoinHandle;

pub use bars_booking::CoreVersion;
pub use config::{DemographicsMinimum, HostedService, ReceiverConfig};
pub use state::AppState;

/// Why a receiver could not start: it publishes its services and takes back its pointer
/// jobs from the store before it serves, and the store failed.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("publishing service {service}: {source}")]
    Publish { service: String, source: StoreError },
    #[error("releasing the pointer leases of a previous run: {0}")]
    PointerLeases(StoreError),
    #[error("writing the configured event subscribers: {0}")]
    Subscribers(StoreError),
}

/// A receiver ready to serve: its state and background tasks.
pub struct Receiver {
    pub state: AppState,
    audit_flusher: JoinHandle<()>,
    housekeeping: JoinHandle<()>,
    pointer_worker: Option<(tokio::sync::watch::Sender<bool>, JoinHandle<()>)>,
    event_worker: (tokio::sync::watch::Sender<bool>, JoinHandle<()>),
}

impl Receiver {
    /// Builds the receiver over `store`, publishing every hosted service.
    pub async fn new(
        config: ReceiverConfig,
        store: Arc<dyn Store>,
    ) -> Result<Receiver, StartError> {
        let config = Arc::new(config);
        let (audit, audit_flusher) = audit::AuditSink::start(store.clone());
        let metrics = Arc::new(metrics::ReceiverMetrics::default());
        let state = AppState::new(state::Shared {
            capability: Arc::new(capability::Capabilities::new(&config)),
            bookings: service::Bookings {
                store: store.clone(),
                config: config.clone(),
                pointer_jobs: Arc::new(tokio::sync::Notify::new()),
                metrics: metrics.clone(),
                audit,
            },
            availability: availability::Availability {
                store: store.clone(),
                config: config.clone(),
            },
            inflight: requests::InFlight::default(),
            provider: provider::Provider {
                settings: config.events.clone(),
                wake: Arc::new(tokio::sync::Notify::new()),
            },
            store,
            config,
            metrics,
        });
        for service in &state.config.services {
            state
                .availability
                .ensure_service(service)
                .await
                .map_err(|source| StartError::Publish {
                    service: service.id.clone(),
                    source,
                })?;
        }
        let housekeeping = tokio::spawn(requests::forget_old_requests(
            state.store.clone(),
            state.config.idempotency_retention,
        ));
        let event_worker = start_event_worker(&state)
            .await
            .map_err(StartError::Subscribers)?;
        Ok(Receiver {
            state,
            audit_flusher,
            housekeeping,
            pointer_worker: None,
            event_worker,
        })
    }

    /// Starts delivering Registry pointer jobs to `target`, until [`Receiver::close`].
    pub async fn start_pointer_worker(
        &mut self,
        target: pointers::RegistryTarget,
    ) -> Result<(), StartError> {
        if self.state.store.is_embedded() {
            // Leases in an embedded database can only be this process's previous run's.
            self.state
                .store
                .release_pointer_leases()
                .await
                .map_err(StartError::PointerLeases)?;
        }
        let worker = Arc::new(pointers::worker::PointerWorker {
            store: self.state.store.clone(),
            registry: pointers::registry::RegistryClient {
                http: target.client(),
                base: target.url.clone(),
                ods: self.state.config.ods_code.clone(),
                organisation_name: self.state.config.organisation_name.clone(),
                auth: target.auth.clone(),
            },
            settings: target.settings.clone(),
            ods: self.state.config.ods_code.clone(),
            base_url: self.state.config.base_url.clone(),
            owner: self
                .state
                .config
                .instance
                .clone()
                .unwrap_or_else(|| format!("receiver-{}", uuid::Uuid::new_v4())),
            wake: self.state.bookings.pointer_jobs.clone(),
            backoff: target.backoff,
            metrics: self.state.metrics.clone(),
        });
        let (stop, stopped) = tokio::sync::watch::channel(false);
        self.pointer_worker = Some((stop, tokio::spawn(worker.run(stopped))));
        Ok(())
    }

    /// The sender-facing API.
    pub fn router(&self, rules: TransportRules) -> Router {
        api::routes::router(self.state.clone(), rules)
    }

    /// The staff-facing admin API.
    pub fn admin_router(&self, token: Option<String>) -> Router {
        admin::router(self.state.clone(), token)
    }

    /// Waits for queued audit entries to be written. Call after the servers have stopped.
    pub async fn close(self) {
        let Receiver {
            state,
            audit_flusher,
            housekeeping,
            pointer_worker,
            event_worker,
        } = self;
        housekeeping.abort();
        let _ = event_worker.0.send(true);
        let _ = event_worker.1.await;
        if let Some((stop, worker)) = pointer_worker {
            let _ = stop.send(true);
            let _ = worker.await;
        }
        drop(state);
        let _ = audit_flusher.await;
    }
}

/// Writes the configured subscribers and starts sending events to every subscriber.
async fn start_event_worker(
    state: &AppState,
) -> Result<(tokio::sync::watch::Sender<bool>, JoinHandle<()>), StoreError> {
    for subscriber in &state.config.events.subscribers {
        state.store.put_subscriber(subscriber.clone()).await?;
    }
    if state.store.is_embedded() {
        // Leases in an embedded database can only be this process's previous run's.
        state.store.release_delivery_leases().await?;
    }
    let settings = state.config.events.clone();
    let worker = Arc::new(provider::worker::EventWorker {
        store: state.store.clone(),
        http: bars_http::client::HttpClient::new(Some(webhook_tls()), settings.timeout),
        owner: state
            .config
            .instance
            .clone()
            .unwrap_or_else(|| format!("receiver-{}", uuid::Uuid::new_v4())),
        wake: state.provider.wake.clone(),
        metrics: state.metrics.clone(),
        settings,
    });
    let (stop, stopped) = tokio::sync::watch::channel(false);
    Ok((stop, tokio::spawn(worker.run(stopped))))
}

/// Subscribers are the provider's own systems, reached over plain HTTP or HTTPS verified
/// against the platform's trust store (as a browser would).
fn webhook_tls() -> rustls::ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
    rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth()
}
