//! What every handler shares.

use std::sync::Arc;

use bars_http::observe::HttpMetrics;

use crate::config::RegistryConfig;
use crate::store::RegistryStore;

#[derive(Clone)]
pub struct RegistryState {
    pub store: Arc<dyn RegistryStore>,
    pub config: Arc<RegistryConfig>,
    /// Requests on the API and admin listeners.
    pub http: Arc<HttpMetrics>,
}

impl RegistryState {
    pub fn new(config: RegistryConfig, store: Arc<dyn RegistryStore>) -> Self {
        RegistryState {
            store,
            config: Arc::new(config),
            http: Arc::default(),
        }
    }
}
