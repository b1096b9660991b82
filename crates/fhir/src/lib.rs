//! The FHIR R4 subset BaRS needs, as pure functions over JSON.
//!
//! Resources are held as `serde_json::Value` so that every element a sender wrote (extensions,
//! unknown-to-us elements, decimal precision, element order) survives a round trip untouched;
//! the few elements the booking domain reads are extracted into typed values at the edge.

pub mod bundle;
pub mod codes;
pub mod headers;
pub mod instant;
pub mod issue;
pub mod nhs_number;
pub mod outcome;
pub mod patch;
pub mod resource;
pub mod search;
pub mod validate;

pub use instant::Instant;
pub use issue::{Issue, IssueType, Severity};
pub use nhs_number::NhsNumber;
