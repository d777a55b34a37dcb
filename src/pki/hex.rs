//! Hex encoding and SHA-256 fingerprints, the two textual encodings of the state files. In the
//! PKI core because serials, key ids and CSR digests need them; `crate::hex` re-exports it.

use ring::digest;

/// Lowercase hex of `bytes`.
pub fn lower(bytes: &[u8]) -> String {
    encode(bytes, b"0123456789abcdef")
}

/// Uppercase hex of `bytes`.
pub fn upper(bytes: &[u8]) -> String {
    encode(bytes, b"0123456789ABCDEF")
}

/// Hex of `bytes` with these 16 digits: one allocation (every serial a listing prints, every
/// hash the log chain compares, goes through here).
fn encode(bytes: &[u8], digits: &[u8; 16]) -> String {
    let mut out = String::with_capacity(2 * bytes.len());
    for b in bytes {
        out.push(char::from(digits[usize::from(b >> 4)]));
        out.push(char::from(digits[usize::from(b & 0xf)]));
    }
    out
}

/// Lowercase hex SHA-256 of `bytes`.
pub fn sha256(bytes: &[u8]) -> String {
    lower(digest::digest(&digest::SHA256, bytes).as_ref())
}

/// Decodes hex (either case); `None` if `s` is not an even-length hex string.
pub fn decode(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    if !b.len().is_multiple_of(2) {
        return None;
    }
    // By nibble, not by from_str_radix on each pair: listings decode a serial per line.
    b.chunks_exact(2)
        .map(|p| Some((nibble(p[0])? << 4) | nibble(p[1])?))
        .collect()
}

/// The value of one hex digit (either case).
fn nibble(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn decode_takes_even_hex_of_either_case_and_nothing_else() {
        assert_eq!(super::decode("0aFf10"), Some(vec![0x0a, 0xff, 0x10]));
        assert_eq!(super::decode(""), Some(vec![]));
        for bad in ["0", "0g", "+1", " 1", "é1", "1é"] {
            assert_eq!(super::decode(bad), None, "{bad}");
        }
        for b in 0..=255u8 {
            assert_eq!(super::decode(&format!("{b:02X}")), Some(vec![b]));
            assert_eq!(super::decode(&format!("{b:02x}")), Some(vec![b]));
        }
    }
}
