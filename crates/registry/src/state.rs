//! What every handler shares.

use std::sync::Arc;

use crate::config::RegistryConfig;
use crate::store::RegistryStore;

#[derive(Clone)]
pub struct RegistryState {
    pub store: Arc<dyn RegistryStore>,
    pub config: Arc<RegistryConfig>,
}

impl RegistryState {
    pub fn new(config: RegistryConfig, store: Arc<dyn RegistryStore>) -> Self {
        RegistryState {
            store,
            config: Arc::new(config),
        }
    }
}
