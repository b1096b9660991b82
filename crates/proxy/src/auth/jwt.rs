//! Compact JWS parsing and claim reading shared by the assertion check and the access-token
//! check.
//!
//! Why not `jsonwebtoken::decode`: the workspace turns on serde_json's `arbitrary_precision`,
//! under which a non-integer number reaches a `deserialize_any` visitor as a map. jsonwebtoken's
//! built-in `exp` / `nbf` reader is such a visitor, so a legal fractional `NumericDate`
//! (RFC 7519 §2, e.g. `"exp": 1760010148.5`) is reported as a *missing* `exp` (checked against
//! jsonwebtoken 11.1). Its `Header` also relies on `#[serde(flatten)]`, which this workspace
//! avoids. And the proxy needs checks it does not offer (an upper bound on `exp`, `iat` not in
//! the future, `iss == sub`, single use) with a precise reason for each. So the header and
//! claims are read here as plain JSON objects (numbers through `serde_json::Number`, exact
//! under the feature), the signature is checked with `jsonwebtoken::crypto::verify`, and every
//! claim check is explicit in the callers.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::{Map, Value};

/// Longer tokens are refused before any decoding: a 4096-bit RSA signature is under 700
/// characters, so 16 KiB leaves ample room for claims while bounding the work per request.
pub(crate) const MAX_JWT_LEN: usize = 16 * 1024;

/// A compact JWS split into its parts, header and claims decoded but nothing verified.
#[derive(Debug)]
pub(crate) struct Compact<'a> {
    /// `base64url(header) "." base64url(claims)`: the bytes the signature covers.
    pub signing_input: &'a str,
    pub signature: &'a str,
    pub header: Map<String, Value>,
    pub claims: Map<String, Value>,
}

/// Why a string is not a compact JWS (the messages are safe to show the sender).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum FormatError {
    #[error("the JWT is longer than {MAX_JWT_LEN} characters")]
    TooLong,
    #[error("the JWT must have three dot-separated parts")]
    Shape,
    #[error("a JWT part is not base64url without padding")]
    Base64,
    #[error("the JWT header or claims are not a JSON object")]
    Json,
}

/// Splits and decodes `token`. Never panics, whatever the input.
pub(crate) fn parse(token: &str) -> Result<Compact<'_>, FormatError> {
    if token.len() > MAX_JWT_LEN {
        return Err(FormatError::TooLong);
    }
    let mut parts = token.split('.');
    let (Some(header), Some(claims), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(FormatError::Shape);
    };
    if header.is_empty() || claims.is_empty() {
        return Err(FormatError::Shape);
    }
    let signing_input = &token[..header.len() + 1 + claims.len()];
    Ok(Compact {
        signing_input,
        signature,
        header: json_object(header)?,
        claims: json_object(claims)?,
    })
}

fn json_object(part: &str) -> Result<Map<String, Value>, FormatError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| FormatError::Base64)?;
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(FormatError::Json),
    }
}

/// True when `signature` is a valid `alg` signature over `signing_input` by `key`. An empty or
/// undecodable signature, or a key of the wrong family, is simply not valid.
pub(crate) fn signature_valid(
    signing_input: &str,
    signature: &str,
    key: &DecodingKey,
    alg: Algorithm,
) -> bool {
    if signature.is_empty() {
        return false;
    }
    jsonwebtoken::crypto::verify(signature, signing_input.as_bytes(), key, alg).unwrap_or(false)
}

/// A claim that is absent or has the wrong JSON type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ClaimError {
    Missing,
    WrongType,
}

/// A string claim. Empty strings count as missing: no claim we read may be blank.
pub(crate) fn string<'a>(map: &'a Map<String, Value>, name: &str) -> Result<&'a str, ClaimError> {
    match map.get(name) {
        None | Some(Value::Null) => Err(ClaimError::Missing),
        Some(Value::String(s)) if s.is_empty() => Err(ClaimError::Missing),
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(ClaimError::WrongType),
    }
}

/// A `NumericDate` claim (RFC 7519 §2: seconds since the epoch, fractions allowed, which are
/// truncated). Read through `serde_json::Number`, which stays exact under
/// `arbitrary_precision`; values outside `i64` are the wrong type.
pub(crate) fn numeric_date(map: &Map<String, Value>, name: &str) -> Result<i64, ClaimError> {
    match map.get(name) {
        None | Some(Value::Null) => Err(ClaimError::Missing),
        Some(Value::Number(n)) => {
            if let Some(i) = n.as_i64() {
                Ok(i)
            } else {
                match n.as_f64() {
                    Some(f) if f.is_finite() && f.abs() < 9.0e15 => Ok(f.trunc() as i64),
                    _ => Err(ClaimError::WrongType),
                }
            }
        }
        Some(_) => Err(ClaimError::WrongType),
    }
}

/// True when the `aud` claim names `expected`: either the string itself, or an array holding
/// it (RFC 7519 §4.1.3 allows both). Anything else does not name it.
pub(crate) fn audience_contains(map: &Map<String, Value>, expected: &str) -> bool {
    match map.get("aud") {
        Some(Value::String(s)) => s == expected,
        Some(Value::Array(items)) => items.iter().any(|v| v.as_str() == Some(expected)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn encode(value: &Value) -> String {
        URL_SAFE_NO_PAD.encode(value.to_string())
    }

    #[test]
    fn parses_three_parts_and_keeps_the_signing_input() {
        let h = encode(&json!({"alg": "ES256"}));
        let c = encode(&json!({"iss": "a"}));
        let token = format!("{h}.{c}.c2ln");
        let parsed = parse(&token).expect("valid shape");
        assert_eq!(parsed.signing_input, format!("{h}.{c}"));
        assert_eq!(parsed.signature, "c2ln");
        assert_eq!(parsed.header["alg"], "ES256");
        assert_eq!(string(&parsed.claims, "iss"), Ok("a"));
    }

    #[test]
    fn refuses_junk_without_panicking() {
        let h = encode(&json!({"alg": "ES256"}));
        for junk in [
            "",
            ".",
            "..",
            "a.b",
            "a.b.c.d",
            "%%%.%%%.%%%",
            "eyJ.eyJ.",
            "\u{0}\u{1}.\u{2}.\u{3}",
            "é.é.é",
        ] {
            assert!(parse(junk).is_err(), "{junk:?} must not parse");
        }
        // valid base64 but not a JSON object
        let arr = URL_SAFE_NO_PAD.encode("[1,2]");
        assert_eq!(
            parse(&format!("{h}.{arr}.x")).err(),
            Some(FormatError::Json)
        );
        let long = "a".repeat(MAX_JWT_LEN + 1);
        assert_eq!(parse(&long).err(), Some(FormatError::TooLong));
    }

    #[test]
    fn numeric_dates_decode_under_arbitrary_precision() {
        // Parsed from text, the way tokens arrive: numbers are kept as their digits by the
        // workspace's serde_json features, and must still read as integers.
        let claims: Value = serde_json::from_str(
            r#"{"exp": 1760010148, "iat": 1760009848.75, "big": 1e300, "neg": -5,
                "s": "1760010148", "huge": 123456789012345678901234567890}"#,
        )
        .expect("json");
        let map = claims.as_object().expect("object");
        assert_eq!(numeric_date(map, "exp"), Ok(1_760_010_148));
        assert_eq!(numeric_date(map, "iat"), Ok(1_760_009_848));
        assert_eq!(numeric_date(map, "neg"), Ok(-5));
        assert_eq!(numeric_date(map, "big"), Err(ClaimError::WrongType));
        assert_eq!(numeric_date(map, "huge"), Err(ClaimError::WrongType));
        assert_eq!(numeric_date(map, "s"), Err(ClaimError::WrongType));
        assert_eq!(numeric_date(map, "nbf"), Err(ClaimError::Missing));
    }

    #[test]
    fn audience_may_be_a_string_or_an_array() {
        let one = json!({"aud": "https://x/token"});
        let many = json!({"aud": ["other", "https://x/token"]});
        let wrong = json!({"aud": ["other"]});
        let number = json!({"aud": 5});
        let url = "https://x/token";
        assert!(audience_contains(one.as_object().expect("obj"), url));
        assert!(audience_contains(many.as_object().expect("obj"), url));
        assert!(!audience_contains(wrong.as_object().expect("obj"), url));
        assert!(!audience_contains(number.as_object().expect("obj"), url));
        assert!(!audience_contains(&Map::new(), url));
    }

    #[test]
    fn blank_strings_are_missing_and_other_types_are_wrong() {
        let claims = json!({"a": "", "b": 3, "c": null, "d": "x"});
        let map = claims.as_object().expect("obj");
        assert_eq!(string(map, "a"), Err(ClaimError::Missing));
        assert_eq!(string(map, "b"), Err(ClaimError::WrongType));
        assert_eq!(string(map, "c"), Err(ClaimError::Missing));
        assert_eq!(string(map, "d"), Ok("x"));
    }
}
