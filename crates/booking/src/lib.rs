//! The booking domain of the BaRS Appointment Management Foundation.
//!
//! Pure rules, no I/O: the HTTP edge extracts a [`model::Requested`] from the sender's FHIR
//! Appointment, the store supplies the [`model::Current`] appointment and [`model::SlotView`]s,
//! and [`decide`] says what must change. The store then applies the [`decide::Plan`] in one
//! transaction, re-checking its guards.

pub mod decide;
pub mod edit;
pub mod error;
pub mod model;
pub mod provider;
pub mod scope;
pub mod status;
pub mod version;

pub use decide::{Event, Plan, PointerAction, check_freshness, decide_create, decide_update};
pub use edit::{EditKind, EditRequest};
pub use error::{DomainError, Fault};
pub use model::{Current, Requested, Rules, SlotView};
pub use scope::Scope;
pub use status::{AppointmentStatus, SlotStatus};
pub use version::CoreVersion;

#[cfg(test)]
mod tests;
