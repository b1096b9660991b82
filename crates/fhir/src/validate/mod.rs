//! Validation of the resources a BaRS receiver accepts: base FHIR R4, UK Core, and BaRS rules.
//!
//! Each resource and complex datatype is described once, as a static table of elements
//! ([`table`], [`datatypes`]); one generic walker ([`walker`]) checks any JSON object against its
//! table using the FHIR JSON rules; each public function runs the walker and then adds the rules
//! specific to its resource. Findings come back in document order ([`order`]).
//!
//! No diagnostic ever repeats a value from the resource (NHS numbers, names, dates of birth):
//! they name the rule broken, the element, and at most codes from fixed value sets.

mod appointment;
mod datatypes;
mod document_reference;
mod order;
mod schedule;
mod slot;
mod table;
mod uk_core;
mod walker;

#[cfg(test)]
mod tests;

pub use appointment::appointment;
pub use document_reference::document_reference;
pub use schedule::schedule;
pub use slot::slot;

use table::Table;

/// The table for a resource type this module describes, for contained resources.
fn resource_table(resource_type: &str) -> Option<&'static Table> {
    match resource_type {
        "Appointment" => Some(&appointment::APPOINTMENT),
        "Slot" => Some(&slot::SLOT),
        "Schedule" => Some(&schedule::SCHEDULE),
        "DocumentReference" => Some(&document_reference::DOCUMENT_REFERENCE),
        _ => None,
    }
}
