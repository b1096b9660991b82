//! The provider's side: the service's staff see and run their day, and the service's own
//! systems hear of every appointment change.
//!
//! - [`day`]: the day list (admin API and `bars appointments`).
//! - [`staff`]: arrived, fulfilled, no-show, entered in error, provider cancellation; each a
//!   versioned, audited appointment change whose rules are [`bars_booking::provider`]'s.
//! - [`sync`]: slots kept in step with the provider's scheduling system by its own ids.
//! - Events: the store writes one per appointment change in the change's transaction (the
//!   outbox rule pointers follow), with a delivery per subscriber of the service; [`worker`]
//!   sends them as Standard Webhooks ([`signing`], [`payload`]), and the admin API serves them
//!   as a pull feed ([`admin`]).

pub mod admin;
pub mod config;
pub mod day;
pub mod payload;
pub mod signing;
pub mod staff;
pub mod sync;
pub mod worker;

use std::sync::Arc;

use tokio::sync::Notify;

pub use config::EventSettings;

/// What the provider's handlers share.
#[derive(Clone)]
pub struct Provider {
    pub settings: EventSettings,
    /// Wakes the event worker and waiting feed readers when this instance wrote an event
    /// through the admin API; events written by bookings are found by polling
    /// ([`EventSettings::poll`]), as are other instances'.
    pub wake: Arc<Notify>,
}
