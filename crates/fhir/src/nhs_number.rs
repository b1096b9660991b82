//! NHS numbers: ten digits whose last is a Modulus 11 check digit.

use std::fmt;

/// The identifier system for NHS numbers.
pub const NHS_NUMBER_SYSTEM: &str = "https://fhir.nhs.uk/Id/nhs-number";

/// A syntactically valid NHS number. Deliberately has no `Debug` output of the digits: it is
/// patient-identifying and must not leak into logs through `{:?}`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NhsNumber(String);

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NhsNumberError {
    #[error("an NHS number is exactly ten digits")]
    Format,
    #[error("the NHS number check digit is wrong")]
    CheckDigit,
}

impl NhsNumber {
    pub fn parse(text: &str) -> Result<Self, NhsNumberError> {
        let b = text.as_bytes();
        if b.len() != 10 || !b.iter().all(u8::is_ascii_digit) {
            return Err(NhsNumberError::Format);
        }
        let sum: u32 = b[..9]
            .iter()
            .enumerate()
            .map(|(i, d)| u32::from(d - b'0') * (10 - i as u32))
            .sum();
        let check = 11 - (sum % 11);
        let check = match check {
            11 => 0,
            10 => return Err(NhsNumberError::CheckDigit),
            c => c,
        };
        if check != u32::from(b[9] - b'0') {
            return Err(NhsNumberError::CheckDigit);
        }
        Ok(NhsNumber(text.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Builds a valid NHS number from nine leading digits by appending the check digit, or
    /// `None` when those digits admit no valid check digit. Used to mint demo patients.
    pub fn with_check_digit(first_nine: &str) -> Option<Self> {
        let b = first_nine.as_bytes();
        if b.len() != 9 || !b.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let sum: u32 = b
            .iter()
            .enumerate()
            .map(|(i, d)| u32::from(d - b'0') * (10 - i as u32))
            .sum();
        let check = match 11 - (sum % 11) {
            11 => 0,
            10 => return None,
            c => c,
        };
        Some(NhsNumber(format!("{first_nine}{check}")))
    }
}

impl fmt::Debug for NhsNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NhsNumber(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_valid_numbers() {
        for n in ["9434765919", "4409815415", "9000000009"] {
            NhsNumber::parse(n).unwrap_or_else(|e| panic!("{n}: {e}"));
        }
    }

    #[test]
    fn rejects_bad_check_digits_and_shapes() {
        assert_eq!(
            NhsNumber::parse("9434765918"),
            Err(NhsNumberError::CheckDigit)
        );
        // the number in the official GET /Appointment example fails its own check digit
        assert_eq!(
            NhsNumber::parse("4857773456"),
            Err(NhsNumberError::CheckDigit)
        );
        assert_eq!(NhsNumber::parse("943476591"), Err(NhsNumberError::Format));
        assert_eq!(NhsNumber::parse("94347659a9"), Err(NhsNumberError::Format));
        // a remainder giving check digit 10 is never valid
        assert!(
            NhsNumber::with_check_digit("000000001").is_none()
                || NhsNumber::parse("0000000010").is_err()
        );
    }

    #[test]
    fn minted_numbers_validate_and_debug_hides_digits() {
        let n = NhsNumber::with_check_digit("943476591").unwrap();
        assert_eq!(n.as_str(), "9434765919");
        assert_eq!(format!("{n:?}"), "NhsNumber(***)");
    }
}
