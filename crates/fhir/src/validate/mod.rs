//! Validation of FHIR resources (see the module brief); being written.
