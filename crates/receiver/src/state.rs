//! What every handler shares.

use std::sync::Arc;

use bars_store::Store;

use crate::availability::Availability;
use crate::capability::Capabilities;
use crate::config::ReceiverConfig;
use crate::metrics::ReceiverMetrics;
use crate::requests::InFlight;
use crate::service::Bookings;

/// What every handler shares. The router clones it for every request, so it is one reference
/// count: as a struct of a dozen `Arc`s it cost a dozen atomic increments and decrements per
/// request (about 2% of a read's CPU).
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl AppState {
    pub fn new(shared: Shared) -> AppState {
        AppState(Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

pub struct Shared {
    pub store: Arc<dyn Store>,
    pub config: Arc<ReceiverConfig>,
    pub bookings: Bookings,
    pub availability: Availability,
    pub inflight: InFlight,
    /// The CapabilityStatement of each version served, built once at start-up.
    pub capability: Arc<Capabilities>,
    pub metrics: Arc<ReceiverMetrics>,
    /// The provider's side: event settings and the wake-up of its worker and feed readers.
    pub provider: crate::provider::Provider,
}

/// The admin listener's state: the same receiver, a router type of its own so that the admin
/// routes (operators' and the provider's) cannot be mounted on the API by mistake.
#[derive(Clone)]
pub(crate) struct AdminState {
    pub(crate) app: AppState,
}
