//! What this receiver publishes about itself, read by both the CapabilityStatement
//! ([`crate::capability`]) and the MessageDefinitions ([`crate::messaging::definitions`]).

/// The BaRS Core version this receiver implements.
pub const BARS_CORE_VERSION: &str = "1.1.6";
/// When the served capabilities last changed; bump it with [`crate::capability::SERVED`].
pub const CAPABILITIES_DATE: &str = "2026-12-06";
