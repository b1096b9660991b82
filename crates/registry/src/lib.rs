//! The Registry role: the national store of DocumentReference "pointers" to patients'
//! appointments, modelled on NHS England's National Record Locator (NRL).
//!
//! Receivers write one pointer per booked appointment; senders search them by NHS number to
//! find a patient's appointments and where each is held. Only a pointer's custodian may read it
//! by id, change it or delete it; any organisation the proxy authenticated may search.
//!
//! Read in this order: [`api`] (routes and handlers), [`rules`] (what makes a valid pointer),
//! [`search`] (search parameters), [`access`] (who may do what), [`store`] (the storage
//! contract) with its backends [`sqlite`] and [`postgres`] (chosen by [`open_store`]), [`errors`]
//! and [`responses`] (what callers see).

pub mod access;
pub mod admin;
pub mod api;
pub mod config;
pub mod errors;
pub mod openapi;
pub mod postgres;
pub mod request;
pub mod responses;
pub mod rules;
pub mod search;
pub mod sqlite;
pub mod state;
pub mod store;
mod table;

use std::sync::Arc;

use axum::Router;
use bars_http::transport::{TransportRules, Trust};

pub use config::RegistryConfig;
pub use postgres::PgRegistryStore;
pub use sqlite::SqliteRegistryStore;
pub use state::RegistryState;
pub use store::RegistryStore;

/// Opens the Registry's store a database URL names: `sqlite://path`, `sqlite:path` or a bare
/// path (SQLite), or `postgres://...` / `postgresql://...` (PostgreSQL). Either way the schema is
/// brought up to date.
pub async fn open_store(url: &str) -> Result<Arc<dyn RegistryStore>, bars_store::StoreError> {
    if bars_store::postgres::is_postgres_url(url) {
        return Ok(Arc::new(PgRegistryStore::connect(url).await?));
    }
    Ok(Arc::new(SqliteRegistryStore::open(
        bars_store::sqlite_path(url)?,
    )?))
}

/// A registry ready to serve.
#[derive(Clone)]
pub struct Registry {
    pub state: RegistryState,
}

impl Registry {
    pub fn new(config: RegistryConfig, store: Arc<dyn RegistryStore>) -> Registry {
        Registry {
            state: RegistryState::new(config, store),
        }
    }

    /// The `/DocumentReference` API behind `rules`.
    pub fn router(&self, rules: TransportRules) -> Router {
        api::router(self.state.clone(), rules)
    }

    /// The operators' API: metrics and health.
    pub fn admin_router(&self, token: Option<String>) -> Router {
        admin::router(self.state.clone(), token)
    }

    /// The transport rules for production: the proxy forwards over mutual TLS and vouches for
    /// the caller's organisation, which is believed only on a verified client connection. The
    /// proxy has already checked request ids and `Accept`, so they are not enforced twice.
    pub fn production_rules() -> TransportRules {
        TransportRules {
            require_request_ids: false,
            accept_major: None,
            trust_application_header: Trust::VerifiedClient,
            ..TransportRules::receiver()
        }
    }
}
