//! The workbench's own addresses, built in one place: a service is a path segment (its DoS id,
//! or `system|value` for another identifier system).

use bars_fhir::headers::{DOS_SERVICE_SYSTEM, TargetIdentifier};
use bars_fhir::search::encode_component;

/// The path segment for a service.
pub fn service_segment(t: &TargetIdentifier) -> String {
    if t.system == DOS_SERVICE_SYSTEM {
        encode_component(&t.value)
    } else {
        encode_component(&t.token())
    }
}

pub fn appointment_path(t: &TargetIdentifier, id: &str) -> String {
    format!(
        "/services/{}/appointments/{}",
        service_segment(t),
        encode_component(id)
    )
}
