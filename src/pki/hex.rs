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
    if !s.len().is_multiple_of(2) || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}
