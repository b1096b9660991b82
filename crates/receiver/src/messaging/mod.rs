//! Booking by FHIR message (BaRS section 6): `POST /$process-message` and
//! `GET /MessageDefinition`.
//!
//! A message is a second front door to the same booking service as REST (section 6.5): it is
//! read ([`bundle`]), checked in the order of section 6.3 ([`version`], [`process`],
//! [`structure`]), translated into the Appointment a REST sender would have sent
//! ([`translate`]), and handed to [`crate::service::Bookings`] - so slot locking, the state
//! machine, versioning, idempotency, audit and Registry pointers cannot differ between the two.
//! Success is answered with the message Bundle of section 6.4 ([`response`]); failures are
//! OperationOutcomes exactly as on the REST API, never message Bundles.
//!
//! The definitions a sender can discover ([`definitions`]) are generated from the same table the
//! structural check enforces.

pub mod bundle;
pub mod definitions;
pub mod process;
pub mod response;
pub mod structure;
pub mod translate;
pub mod version;

use crate::config::HostedService;

/// `MessageHeader.eventCoding` system.
pub const EVENT_SYSTEM: &str = "https://fhir.nhs.uk/CodeSystem/message-events-bars";
/// `MessageHeader.reason.coding` system.
pub const REASON_SYSTEM: &str = "https://fhir.nhs.uk/CodeSystem/message-reason-bars";
/// The message Bundle profile.
pub const BUNDLE_PROFILE: &str = "https://fhir.nhs.uk/StructureDefinition/BARSBundleMessage";
/// The MessageHeader profile of booking requests (and of our responses to them).
pub const HEADER_PROFILE: &str =
    "https://fhir.nhs.uk/StructureDefinition/BARSMessageHeader-booking-request";
/// The message version this receiver implements; its MessageDefinitions carry it.
pub const MESSAGE_VERSION: &str = "1.1.0";

pub use crate::scope::is_dos_service_system;

/// The destination the message was accepted for.
#[derive(Debug, Clone, Copy)]
pub struct Destination<'c, 'm> {
    pub service: &'c HostedService,
    /// `destination.receiver.reference`: the receiving Organization entry.
    pub receiver: &'m str,
}
