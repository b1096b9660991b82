//! One configured catalogue entry: a service and the receiver that serves it. Its own module
//! because the catalogue, its seed and the proxy's store all speak of it, and the store must not
//! depend on the catalogue that reads it.

use bars_fhir::headers::TargetIdentifier;
use serde::{Deserialize, Serialize};

/// One service and the receiver that serves it, as configured.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    pub system: String,
    pub value: String,
    /// The service's name, shown to senders choosing where to book.
    pub name: String,
    /// The receiver's base URL; requests keep their path and query below it.
    pub url: String,
    /// The receiving organisation's ODS code: the owner of the records made from the entry.
    #[serde(default)]
    pub ods_code: Option<String>,
}

impl Endpoint {
    pub fn target(&self) -> TargetIdentifier {
        TargetIdentifier::new(&self.system, &self.value)
    }
}
