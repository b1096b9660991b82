//! RFC 6901 JSON Pointer: parsing and navigation, as JSON Patch uses it.
//!
//! A pointer's reference tokens mean an object member or an array index depending on what the
//! document holds at that point, so tokens are kept as unescaped strings and interpreted while
//! walking.

use std::fmt;

use serde_json::Value;

use super::{PatchError, clip};
use crate::issue::IssueType;

/// A parsed pointer: its reference tokens with `~1` and `~0` already unescaped, plus the
/// original text for diagnostics. The empty pointer (no tokens) is the whole document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Pointer {
    pub(super) tokens: Vec<String>,
    text: String,
}

/// What an array reference token asks for: an existing position, or `-`, the (nonexistent)
/// element after the last one, which only `add` can target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ArrayPosition {
    At(usize),
    End,
}

impl Pointer {
    pub(super) fn parse(text: &str) -> Result<Pointer, PatchError> {
        if text.is_empty() {
            return Ok(Pointer {
                tokens: Vec::new(),
                text: String::new(),
            });
        }
        let Some(body) = text.strip_prefix('/') else {
            return Err(invalid_pointer(text, "it must be empty or start with '/'"));
        };
        let tokens = body
            .split('/')
            .map(|token| {
                unescape(token)
                    .ok_or_else(|| invalid_pointer(text, "'~' must be followed by 0 or 1"))
            })
            .collect::<Result<_, _>>()?;
        Ok(Pointer {
            tokens,
            text: text.to_string(),
        })
    }

    /// True when `self` lies strictly inside `other` (RFC 6902 §4.4: a location cannot be moved
    /// into one of its children).
    pub(super) fn is_strictly_inside(&self, other: &Pointer) -> bool {
        self.tokens.len() > other.tokens.len() && self.tokens.starts_with(&other.tokens)
    }

    /// The last token and the pointer to its container, or `None` for the root.
    pub(super) fn split_last(&self) -> Option<(&String, &[String])> {
        self.tokens.split_last()
    }
}

impl fmt::Display for Pointer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.text.is_empty() {
            f.write_str("the document root")
        } else {
            f.write_str(&clip(&self.text))
        }
    }
}

fn unescape(token: &str) -> Option<String> {
    let mut out = String::with_capacity(token.len());
    let mut chars = token.chars();
    while let Some(c) = chars.next() {
        if c == '~' {
            match chars.next() {
                Some('0') => out.push('~'),
                Some('1') => out.push('/'),
                _ => return None,
            }
        } else {
            out.push(c);
        }
    }
    Some(out)
}

fn invalid_pointer(text: &str, why: &str) -> PatchError {
    PatchError::malformed(
        IssueType::Value,
        format!("'{}' is not a valid JSON pointer: {why}", clip(text)),
    )
}

/// Reads an array reference token. RFC 6901 §4 allows only `0` or a decimal without leading
/// zeros (or `-`); anything else is a malformed pointer rather than a missing element.
/// Indexes too large for `usize` are well-formed but can never exist, so they map to `usize::MAX`.
pub(super) fn array_position(token: &str) -> Result<ArrayPosition, PatchError> {
    if token == "-" {
        return Ok(ArrayPosition::End);
    }
    let well_formed = !token.is_empty()
        && token.bytes().all(|b| b.is_ascii_digit())
        && (token == "0" || !token.starts_with('0'));
    if !well_formed {
        return Err(PatchError::malformed(
            IssueType::Value,
            format!("'{}' is not a valid array index", clip(token)),
        ));
    }
    Ok(ArrayPosition::At(token.parse().unwrap_or(usize::MAX)))
}

/// The value at `tokens`, `None` when nothing is there. `-` never names an existing element.
pub(super) fn get<'a>(doc: &'a Value, tokens: &[String]) -> Result<Option<&'a Value>, PatchError> {
    let mut current = doc;
    for token in tokens {
        let next = match current {
            Value::Object(map) => map.get(token.as_str()),
            Value::Array(items) => match array_position(token)? {
                ArrayPosition::At(index) => items.get(index),
                ArrayPosition::End => None,
            },
            _ => None,
        };
        match next {
            Some(value) => current = value,
            None => return Ok(None),
        }
    }
    Ok(Some(current))
}

/// Mutable twin of [`get`].
pub(super) fn get_mut<'a>(
    doc: &'a mut Value,
    tokens: &[String],
) -> Result<Option<&'a mut Value>, PatchError> {
    let mut current = doc;
    for token in tokens {
        let next = match current {
            Value::Object(map) => map.get_mut(token.as_str()),
            Value::Array(items) => match array_position(token)? {
                ArrayPosition::At(index) => items.get_mut(index),
                ArrayPosition::End => None,
            },
            _ => None,
        };
        match next {
            Some(value) => current = value,
            None => return Ok(None),
        }
    }
    Ok(Some(current))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn tokens(text: &str) -> Vec<String> {
        Pointer::parse(text).unwrap().tokens
    }

    #[test]
    fn parses_rfc6901_examples() {
        // RFC 6901 §5.
        let doc = json!({"foo": ["bar", "baz"], "": 0, "a/b": 1, "c%d": 2, "e^f": 3, "g|h": 4, "i\\j": 5, "k\"l": 6, " ": 7, "m~n": 8});
        let at = |p: &str| get(&doc, &tokens(p)).unwrap().cloned();
        assert_eq!(at(""), Some(doc.clone()));
        assert_eq!(at("/foo"), Some(json!(["bar", "baz"])));
        assert_eq!(at("/foo/0"), Some(json!("bar")));
        assert_eq!(at("/"), Some(json!(0)));
        assert_eq!(at("/a~1b"), Some(json!(1)));
        assert_eq!(at("/c%d"), Some(json!(2)));
        assert_eq!(at("/e^f"), Some(json!(3)));
        assert_eq!(at("/g|h"), Some(json!(4)));
        assert_eq!(at("/i\\j"), Some(json!(5)));
        assert_eq!(at("/k\"l"), Some(json!(6)));
        assert_eq!(at("/ "), Some(json!(7)));
        assert_eq!(at("/m~0n"), Some(json!(8)));
        assert_eq!(at("/foo/2"), None);
        assert_eq!(at("/foo/-"), None);
        assert_eq!(at("/nope/x"), None);
    }

    #[test]
    fn escapes_decode_in_order() {
        // "~01" is "~1" unescaped, not "/".
        assert_eq!(tokens("/~01"), vec!["~1".to_string()]);
    }

    #[test]
    fn rejects_malformed_pointers() {
        assert!(Pointer::parse("foo").unwrap_err().is_malformed());
        assert!(Pointer::parse("/a~2b").unwrap_err().is_malformed());
        assert!(Pointer::parse("/a~").unwrap_err().is_malformed());
    }

    #[test]
    fn array_indexes_follow_rfc6901() {
        assert_eq!(array_position("0").unwrap(), ArrayPosition::At(0));
        assert_eq!(array_position("12").unwrap(), ArrayPosition::At(12));
        assert_eq!(array_position("-").unwrap(), ArrayPosition::End);
        assert_eq!(
            array_position("99999999999999999999999999").unwrap(),
            ArrayPosition::At(usize::MAX)
        );
        for bad in ["01", "", "1a", "-1", "+1", " 1", "1.0"] {
            assert!(array_position(bad).unwrap_err().is_malformed(), "{bad}");
        }
        let doc = json!({"a": [1, 2]});
        assert!(get(&doc, &tokens("/a/01")).is_err());
        // Leading zeros are fine for object members.
        assert_eq!(
            get(&json!({"01": true}), &tokens("/01")).unwrap(),
            Some(&json!(true))
        );
    }
}
