//! JSON value equality as RFC 6902 `test` (and FHIRPath `=` on JSON) needs it.
//!
//! The workspace enables serde_json's `arbitrary_precision`, under which `Value::Number` compares
//! by its text: `1` and `1.0` would differ. Both specifications compare numbers by value, so
//! numbers are compared as exact decimals here; object member order never matters.

use serde_json::{Number, Value};

/// Structural equality with numbers compared by value and object member order ignored.
pub fn json_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => numbers_equal(x, y),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| json_equal(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(key, value)| y.get(key).is_some_and(|other| json_equal(value, other)))
        }
        _ => a == b,
    }
}

/// Compares two numbers by value without going through `f64`, so large or long decimals that
/// would round to the same float are still told apart.
pub(super) fn numbers_equal(x: &Number, y: &Number) -> bool {
    let (x_text, y_text) = (x.to_string(), y.to_string());
    if x_text == y_text {
        return true;
    }
    match (Decimal::parse(&x_text), Decimal::parse(&y_text)) {
        (Some(a), Some(b)) => a == b,
        // Only reachable for exponents beyond i64; fall back to the float view.
        _ => matches!((x.as_f64(), y.as_f64()), (Some(a), Some(b)) if a == b),
    }
}

/// A JSON number reduced to sign, significant digits and a power-of-ten exponent, so that `1`,
/// `1.0`, `10e-1` and `0.1E1` all reduce to the same value.
#[derive(Debug, PartialEq, Eq)]
struct Decimal {
    negative: bool,
    digits: String,
    exponent: i64,
}

impl Decimal {
    fn parse(text: &str) -> Option<Decimal> {
        let (negative, unsigned) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let (mantissa, exponent) = match unsigned.split_once(['e', 'E']) {
            Some((mantissa, exponent)) => (mantissa, exponent.parse::<i64>().ok()?),
            None => (unsigned, 0),
        };
        let (integer, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if integer.is_empty() || !all_digits(integer) || !all_digits(fraction) {
            return None;
        }
        let joined = format!("{integer}{fraction}");
        let without_leading = joined.trim_start_matches('0');
        let significant = without_leading.trim_end_matches('0');
        if significant.is_empty() {
            // Zero has no sign worth keeping: -0 == 0.
            return Some(Decimal {
                negative: false,
                digits: String::new(),
                exponent: 0,
            });
        }
        let trailing_zeros = i64::try_from(without_leading.len() - significant.len()).ok()?;
        let fraction_len = i64::try_from(fraction.len()).ok()?;
        let exponent = exponent
            .checked_sub(fraction_len)?
            .checked_add(trailing_zeros)?;
        Some(Decimal {
            negative,
            digits: significant.to_string(),
            exponent,
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn number(text: &str) -> Value {
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn numbers_compare_by_value() {
        assert!(json_equal(&number("1"), &number("1.0")));
        assert!(json_equal(&number("10e-1"), &number("1")));
        assert!(json_equal(&number("0.1E1"), &number("1.000")));
        assert!(json_equal(&number("-0"), &number("0.0")));
        assert!(json_equal(&number("100"), &number("1e2")));
        assert!(!json_equal(&number("1"), &number("-1")));
        assert!(!json_equal(&number("1.5"), &number("1.05")));
        assert!(!json_equal(
            &number("12345678901234567890123"),
            &number("12345678901234567890124")
        ));
    }

    #[test]
    fn objects_ignore_member_order_but_arrays_do_not() {
        assert!(json_equal(
            &json!({"a": 1, "b": [1, 2]}),
            &json!({"b": [1, 2.0], "a": 1.0})
        ));
        assert!(!json_equal(&json!([1, 2]), &json!([2, 1])));
        assert!(!json_equal(&json!({"a": 1}), &json!({"a": 1, "b": 2})));
        assert!(!json_equal(&json!("1"), &json!(1)));
        assert!(json_equal(&json!(null), &json!(null)));
    }
}
