//! The media type every role answers in. Its own module because both the error renderer and the
//! body helpers write it, and neither should depend on the other for it.

pub const FHIR_JSON: &str = "application/fhir+json; charset=utf-8";
