//! What every handler shares.

use std::sync::Arc;

use bars_store::Store;
use serde_json::Value;

use crate::availability::Availability;
use crate::config::ReceiverConfig;
use crate::metrics::ReceiverMetrics;
use crate::requests::InFlight;
use crate::service::Bookings;

#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub config: Arc<ReceiverConfig>,
    pub bookings: Bookings,
    pub availability: Availability,
    pub inflight: InFlight,
    /// The CapabilityStatement, built once at start-up.
    pub capability: Arc<Value>,
    pub metrics: Arc<ReceiverMetrics>,
    /// The provider's side: event settings and the wake-up of its worker and feed readers.
    pub provider: crate::provider::Provider,
}
