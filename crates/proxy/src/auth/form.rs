//! `application/x-www-form-urlencoded` bodies (the token request, RFC 6749 §4.4.2 / Appendix B):
//! `+` is a space, `%XX` a byte, names may repeat on the wire but OAuth parameters must not
//! (RFC 6749 §3.2), and any byte sequence decodes to a result or an error — never a panic.

use std::borrow::Cow;

use percent_encoding::percent_decode;

/// More pairs than any honest token request sends; refusing early bounds the work.
const MAX_PAIRS: usize = 32;

/// A decoded form, pairs in body order.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Form {
    pairs: Vec<(String, String)>,
}

/// Why a body is not a usable form (messages are safe to show the sender).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum FormError {
    #[error("the request body is not valid UTF-8 once percent-decoded")]
    NotUtf8,
    #[error("the request body has more than {MAX_PAIRS} parameters")]
    TooManyPairs,
    #[error("the {0} parameter is repeated")]
    Repeated(&'static str),
}

impl Form {
    pub(crate) fn parse(body: &[u8]) -> Result<Form, FormError> {
        let mut pairs = Vec::new();
        for piece in body.split(|b| *b == b'&') {
            if piece.is_empty() {
                continue;
            }
            if pairs.len() == MAX_PAIRS {
                return Err(FormError::TooManyPairs);
            }
            let (name, value) = match piece.iter().position(|b| *b == b'=') {
                Some(i) => (&piece[..i], &piece[i + 1..]),
                None => (piece, &[][..]),
            };
            pairs.push((decode(name)?, decode(value)?));
        }
        Ok(Form { pairs })
    }

    /// The value of `name` if it occurs once; an error if it occurs more than once.
    pub(crate) fn single(&self, name: &'static str) -> Result<Option<&str>, FormError> {
        let mut found = self.pairs.iter().filter(|(n, _)| n == name);
        match (found.next(), found.next()) {
            (None, _) => Ok(None),
            (Some((_, v)), None) => Ok(Some(v)),
            (Some(_), Some(_)) => Err(FormError::Repeated(name)),
        }
    }
}

fn decode(raw: &[u8]) -> Result<String, FormError> {
    let spaced: Cow<'_, [u8]> = if raw.contains(&b'+') {
        Cow::Owned(
            raw.iter()
                .map(|b| if *b == b'+' { b' ' } else { *b })
                .collect(),
        )
    } else {
        Cow::Borrowed(raw)
    };
    // A stray `%` not followed by two hex digits is kept literally (as browsers do).
    percent_decode(&spaced)
        .decode_utf8()
        .map(Cow::into_owned)
        .map_err(|_| FormError::NotUtf8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_percent_escapes_and_plus() {
        let form = Form::parse(
            b"grant_type=client_credentials&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&scope=a+b%2Bc&empty=&flag",
        )
        .expect("parses");
        assert_eq!(form.single("grant_type"), Ok(Some("client_credentials")));
        assert_eq!(
            form.single("client_assertion_type"),
            Ok(Some(
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
            ))
        );
        assert_eq!(form.single("scope"), Ok(Some("a b+c")));
        assert_eq!(form.single("empty"), Ok(Some("")));
        assert_eq!(form.single("flag"), Ok(Some("")));
        assert_eq!(form.single("absent"), Ok(None));
    }

    #[test]
    fn encoded_names_are_decoded_too() {
        let form = Form::parse(b"grant%5Ftype=x").expect("parses");
        assert_eq!(form.single("grant_type"), Ok(Some("x")));
    }

    #[test]
    fn repeated_parameters_are_reported() {
        let form = Form::parse(b"grant_type=a&grant_type=a").expect("parses");
        assert_eq!(
            form.single("grant_type"),
            Err(FormError::Repeated("grant_type"))
        );
    }

    #[test]
    fn junk_never_panics() {
        let cases: [&[u8]; 12] = [
            b"",
            b"&&&",
            b"===",
            b"%",
            b"%%",
            b"%zz=%",
            b"a=%E2%82",
            b"\xff\xfe=\x00",
            b"=value",
            b"a=b=c",
            b"%F0%9F%98%80=%F0%9F%98%80",
            b"+++=+++",
        ];
        for body in cases {
            let _ = Form::parse(body);
        }
        assert_eq!(Form::parse(b"a=%E2%82"), Err(FormError::NotUtf8));
        assert_eq!(Form::parse(b"\xff=1"), Err(FormError::NotUtf8));
        let form = Form::parse(b"a=b=c").expect("parses");
        assert_eq!(form.single("a"), Ok(Some("b=c")));
        let form = Form::parse(b"%zz=%").expect("parses");
        assert_eq!(form.single("%zz"), Ok(Some("%")));
    }

    #[test]
    fn too_many_pairs_are_refused() {
        let body = "a=1&".repeat(MAX_PAIRS + 1);
        assert_eq!(Form::parse(body.as_bytes()), Err(FormError::TooManyPairs));
        let body = "a=1&".repeat(MAX_PAIRS);
        assert!(Form::parse(body.as_bytes()).is_ok());
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        // A small deterministic fuzz: every byte value in every position of short bodies.
        let alphabet: Vec<u8> = (0..=255).collect();
        for a in &alphabet {
            for b in [b'%', b'=', b'&', b'+', b'2', b'F', 0xC3, 0x80] {
                let body = [*a, b, *a, b'%', b, *a];
                let _ = Form::parse(&body);
            }
        }
    }
}
