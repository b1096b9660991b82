//! NHS numbers as people type them.

use bars_fhir::NhsNumber;
use bars_fhir::nhs_number::NhsNumberError;

/// Reads an NHS number as people type it (spaces allowed).
pub fn nhs_number(text: &str) -> Result<NhsNumber, NhsNumberError> {
    let digits: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    NhsNumber::parse(&digits)
}
