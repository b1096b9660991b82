//! Search-parameter parsing: the query string as FHIR sees it.
//!
//! Parameters repeat (`start=ge…&start=le…`, `_include=…&_include=…`), so the query is kept as
//! an ordered list of pairs rather than a map.

use std::ops::RangeInclusive;

use percent_encoding::percent_decode_str;

use crate::instant::{Instant, InstantError};

/// Longest query string looked at; longer ones are refused before parsing.
pub const MAX_QUERY_LEN: usize = 8 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Query {
    pairs: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    #[error("the query string is too long")]
    TooLong,
    #[error("the query string is not valid percent-encoded UTF-8")]
    Encoding,
}

impl Query {
    /// Parses `a=1&b=2`. `+` decodes to a space (form encoding); date parameters turn a space
    /// back into the `+` of an offset.
    pub fn parse(raw: Option<&str>) -> Result<Query, QueryError> {
        let raw = raw.unwrap_or("");
        if raw.len() > MAX_QUERY_LEN {
            return Err(QueryError::TooLong);
        }
        let mut pairs = Vec::new();
        for part in raw.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = part.split_once('=').unwrap_or((part, ""));
            pairs.push((decode(k)?, decode(v)?));
        }
        Ok(Query { pairs })
    }

    pub fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }

    /// Every value given for any of `names` (names compared exactly; FHIR names are case-sensitive).
    pub fn all(&self, names: &[&str]) -> Vec<&str> {
        self.pairs
            .iter()
            .filter(|(k, _)| names.contains(&k.as_str()))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    pub fn first(&self, names: &[&str]) -> Option<&str> {
        self.all(names).into_iter().next()
    }

    pub fn has(&self, name: &str) -> bool {
        self.pairs.iter().any(|(k, _)| k == name)
    }

    /// The one value of a whole-number parameter (`_count`, a limit), within `range`; `None`
    /// when absent. A repeat is refused rather than resolved: two page sizes are ambiguous,
    /// and a server that picks one silently answers a question nobody asked.
    pub fn whole_number(
        &self,
        name: &str,
        range: RangeInclusive<u64>,
    ) -> Result<Option<u64>, NumberError> {
        match self.all(&[name]).as_slice() {
            [] => Ok(None),
            [one] => {
                whole_number(one, range.clone())
                    .map(Some)
                    .ok_or_else(|| NumberError::OutOfRange {
                        name: name.to_string(),
                        min: *range.start(),
                        max: *range.end(),
                    })
            }
            _ => Err(NumberError::Repeated {
                name: name.to_string(),
            }),
        }
    }
}

/// Why a whole-number parameter was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NumberError {
    #[error("{name} may be given only once")]
    Repeated { name: String },
    #[error("{name} must be a whole number from {min} to {max}")]
    OutOfRange { name: String, min: u64, max: u64 },
}

/// Reads a whole number within `range`: ASCII digits only (no sign, space, fraction or
/// exponent), so what is accepted is exactly what the bounds say. A value too large for
/// `u64` is out of range like any other, never wrapped or clamped.
pub fn whole_number(text: &str, range: RangeInclusive<u64>) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse::<u64>().ok().filter(|n| range.contains(n))
}

fn decode(s: &str) -> Result<String, QueryError> {
    let spaced = s.replace('+', " ");
    percent_decode_str(&spaced)
        .decode_utf8()
        .map(|c| c.into_owned())
        .map_err(|_| QueryError::Encoding)
}

/// Encodes one query component for a self or next link.
pub fn encode_component(s: &str) -> String {
    const SET: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~')
        .remove(b':')
        .remove(b'|')
        .remove(b'/');
    percent_encoding::utf8_percent_encode(s, SET).to_string()
}

/// The comparison prefixes of FHIR date and number parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prefix {
    Eq,
    Ne,
    Gt,
    Lt,
    Ge,
    Le,
    Sa,
    Eb,
    Ap,
}

impl Prefix {
    pub fn as_str(self) -> &'static str {
        match self {
            Prefix::Eq => "eq",
            Prefix::Ne => "ne",
            Prefix::Gt => "gt",
            Prefix::Lt => "lt",
            Prefix::Ge => "ge",
            Prefix::Le => "le",
            Prefix::Sa => "sa",
            Prefix::Eb => "eb",
            Prefix::Ap => "ap",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateParam {
    pub prefix: Prefix,
    pub value: Instant,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DateParamError {
    #[error("{0}")]
    Instant(#[from] InstantError),
}

impl DateParam {
    /// Parses `[prefix]instant`; without a prefix the comparison is `eq`.
    pub fn parse(text: &str) -> Result<DateParam, DateParamError> {
        let prefixes = [
            Prefix::Eq,
            Prefix::Ne,
            Prefix::Gt,
            Prefix::Lt,
            Prefix::Ge,
            Prefix::Le,
            Prefix::Sa,
            Prefix::Eb,
            Prefix::Ap,
        ];
        let (prefix, rest) = prefixes
            .iter()
            .find_map(|p| text.strip_prefix(p.as_str()).map(|rest| (*p, rest)))
            .unwrap_or((Prefix::Eq, text));
        Ok(DateParam {
            prefix,
            value: Instant::parse_query_value(rest)?,
        })
    }
}

/// A token parameter: `system|code`, `|code` (no system) or `code` (any system).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub system: Option<String>,
    pub code: String,
}

impl Token {
    pub fn parse(text: &str) -> Option<Token> {
        match text.split_once('|') {
            Some((system, code)) if !code.is_empty() => Some(Token {
                system: Some(system.to_string()),
                code: code.to_string(),
            }),
            Some(_) => None,
            None if !text.is_empty() => Some(Token {
                system: None,
                code: text.to_string(),
            }),
            None => None,
        }
    }

    /// Parses a token that must name both a system and a code.
    pub fn parse_qualified(text: &str) -> Option<Token> {
        Token::parse(text).filter(|t| t.system.as_deref().is_some_and(|s| !s.is_empty()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_repeats_in_order_and_decodes() {
        let q = Query::parse(Some("start=ge2022-03-01T12:00:00%2B00:00&start=le2022-03-01T13:30:00+00:00&_include=Slot:schedule")).unwrap();
        let starts = q.all(&["start"]);
        assert_eq!(
            starts,
            vec!["ge2022-03-01T12:00:00+00:00", "le2022-03-01T13:30:00 00:00"]
        );
        let lo = DateParam::parse(starts[0]).unwrap();
        let hi = DateParam::parse(starts[1]).unwrap();
        assert_eq!(lo.prefix, Prefix::Ge);
        assert_eq!(hi.prefix, Prefix::Le);
        assert!(lo.value < hi.value);
    }

    #[test]
    fn rejects_bad_encoding_and_length() {
        assert_eq!(Query::parse(Some("a=%FF")), Err(QueryError::Encoding));
        assert_eq!(
            Query::parse(Some(&"a".repeat(MAX_QUERY_LEN + 1))),
            Err(QueryError::TooLong)
        );
    }

    #[test]
    fn tokens() {
        assert_eq!(
            Token::parse("https://fhir.nhs.uk/Id/nhs-number|9434765919")
                .unwrap()
                .code,
            "9434765919"
        );
        assert!(Token::parse_qualified("9434765919").is_none());
        assert!(Token::parse("sys|").is_none());
        assert_eq!(Token::parse("free").unwrap().system, None);
    }

    #[test]
    fn whole_numbers_are_digits_within_bounds() {
        for (text, expected) in [
            ("0", Some(0)),
            ("7", Some(7)),
            ("007", Some(7)),
            ("100", Some(100)),
            ("101", None),
            ("-1", None),
            ("+1", None),
            (" 1", None),
            ("1.0", None),
            ("1e2", None),
            ("", None),
            ("ten", None),
            ("9223372036854775808", None),
            ("18446744073709551616", None),
            ("99999999999999999999999999999999", None),
        ] {
            assert_eq!(whole_number(text, 0..=100), expected, "{text:?}");
        }
        assert_eq!(whole_number("0", 1..=5), None);
    }

    #[test]
    fn a_number_parameter_is_single_and_bounded() {
        let q = Query::parse(Some("_count=5&limit=500&twice=1&twice=2")).unwrap();
        assert_eq!(q.whole_number("_count", 0..=10), Ok(Some(5)));
        assert_eq!(q.whole_number("absent", 0..=10), Ok(None));
        let e = q.whole_number("limit", 1..=100).unwrap_err();
        assert_eq!(e.to_string(), "limit must be a whole number from 1 to 100");
        assert_eq!(
            q.whole_number("twice", 0..=10),
            Err(NumberError::Repeated {
                name: "twice".into()
            })
        );
    }

    #[test]
    fn dates_without_offset_are_refused() {
        assert!(DateParam::parse("ge2022-03-01T12:00:00").is_err());
        assert!(DateParam::parse("ge2022-03-01").is_err());
    }
}
