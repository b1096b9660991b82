//! Just enough DER to read the two integers of a PKCS#1 RSA public key.

/// Reads one TLV of the given tag; returns its content and the rest.
fn tlv(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let (&t, rest) = input.split_first()?;
    if t != tag {
        return None;
    }
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (first as usize, rest)
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | *b as usize);
        (len, &rest[n..])
    };
    (rest.len() >= len).then(|| rest.split_at(len))
}

/// `RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }` -> (n, e), unsigned
/// big-endian with leading zero bytes removed.
pub fn rsa_public_key(pkcs1: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    let (seq, _) = tlv(pkcs1, 0x30)?;
    let (n, rest) = tlv(seq, 0x02)?;
    let (e, _) = tlv(rest, 0x02)?;
    let strip = |x: &[u8]| {
        let i = x
            .iter()
            .position(|b| *b != 0)
            .unwrap_or(x.len().saturating_sub(1));
        x[i..].to_vec()
    };
    Some((strip(n), strip(e)))
}
