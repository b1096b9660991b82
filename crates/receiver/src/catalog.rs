//! What this receiver publishes about itself, read by both the CapabilityStatement
//! ([`crate::capability`]) and the MessageDefinitions ([`crate::messaging::definitions`]).

/// When the served capabilities last changed; bump it with [`crate::capability::SERVED`].
pub const CAPABILITIES_DATE: &str = "2026-12-06";

pub const SLOT_PROFILE: &str = "https://fhir.hl7.org.uk/StructureDefinition/UKCore-Slot";

/// The `_include` values a receiver supports, in their canonical spelling.
pub const INCLUDES: [&str; 6] = [
    "Slot:schedule",
    "Schedule:actor:Practitioner",
    "Schedule:actor:PractitionerRole",
    "Schedule:actor:HealthcareService",
    "HealthcareService:providedBy",
    "HealthcareService:location",
];
/// The includes BaRS requires on every slot search.
pub const REQUIRED_INCLUDES: [&str; 2] = ["Slot:schedule", "Schedule:actor:HealthcareService"];
/// The canonical name of the service parameter; other spellings are accepted.
pub const SERVICE_PARAM: &str = "Schedule.actor:HealthcareService";
