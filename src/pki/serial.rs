//! Serial numbers and the two counter files, `serial` and `crlnumber`.
//!
//! A serial is a positive integer of at most 20 octets (RFC 5280 4.1.2.2), held as minimal
//! big-endian bytes and written as uppercase hex with an even number of digits — the form
//! `openssl ca` uses, so `certs/<SERIAL>.pem` names look familiar. A new CA starts its counter
//! at a random block, and every certificate's serial is the next block of 2^64 with 64 random
//! low bits ([`Serial::allot`], SPEC.md SERIAL-RANDOM).

use std::fmt;

use crate::pki::hex;

/// A certificate serial number or CRL number.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Serial {
    /// Minimal big-endian magnitude; never empty, never a leading zero byte.
    bytes: Vec<u8>,
}

/// Largest encoded size RFC 5280 allows for a serial (DER content, sign octet included).
const MAX_OCTETS: usize = 20;

impl Serial {
    /// The number `n`.
    pub fn from_u64(n: u64) -> Serial {
        Serial::from_magnitude(&n.to_be_bytes())
    }

    /// A serial from big-endian bytes, leading zeros dropped. Zero stays as a single 0 byte.
    pub fn from_magnitude(b: &[u8]) -> Serial {
        let first = b.iter().position(|&x| x != 0).unwrap_or(b.len());
        let mut bytes = b[first..].to_vec();
        if bytes.is_empty() {
            bytes.push(0);
        }
        Serial { bytes }
    }

    /// The random starting point of a new CA's counter: 16 random bytes, the first one in
    /// 0x10..=0x7F so every serial has exactly 32 hex digits and a positive DER encoding.
    pub fn random_start(mut random: [u8; 16]) -> Serial {
        random[0] = 0x10 + random[0] % 0x70;
        Serial {
            bytes: random.to_vec(),
        }
    }

    /// The start of a new CA's leaf counter: 8 random bytes, the first one in 0x10..=0x7F,
    /// followed by 8 zero bytes (SPEC.md SERIAL-RANDOM), so the CA's serials have exactly 32
    /// hex digits.
    pub fn counter_start(mut random: [u8; 8]) -> Serial {
        random[0] = 0x10 + random[0] % 0x70;
        let mut bytes = random.to_vec();
        bytes.extend_from_slice(&[0; 8]);
        Serial { bytes }
    }

    /// Allots a certificate serial from the counter `self` (SPEC.md SERIAL-RANDOM): the counter
    /// rounded up to a multiple of 2^64 (at least 2^64) with `random` as its low 64 bits.
    /// Returns that serial and the next counter, the following multiple of 2^64 — so serials
    /// keep rising and never repeat, and none can be guessed from the last. `None` when
    /// either would exceed 20 octets.
    pub fn allot(&self, random: [u8; 8]) -> Option<(Serial, Serial)> {
        let split = self.bytes.len().saturating_sub(8);
        let (high, low) = self.bytes.split_at(split);
        let mut block = Serial::from_magnitude(high);
        if low.iter().any(|&b| b != 0) || block.is_zero() {
            block = block.next()?;
        }
        let serial = Serial::from_magnitude(&[block.bytes.as_slice(), &random].concat());
        let next = block.next()?;
        let next = Serial::from_magnitude(&[next.bytes.as_slice(), &[0; 8]].concat());
        (serial.der_len() <= MAX_OCTETS && next.der_len() <= MAX_OCTETS).then_some((serial, next))
    }

    /// Parses the canonical text form (uppercase hex, even length, no leading `00`).
    pub fn parse_canonical(s: &str) -> Option<Serial> {
        if s.is_empty() || !s.len().is_multiple_of(2) || s.len() > 2 * MAX_OCTETS {
            return None;
        }
        if !s
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b))
        {
            return None;
        }
        let bytes = hex::decode(s)?;
        if bytes.len() > 1 && bytes[0] == 0 {
            return None;
        }
        Some(Serial { bytes })
    }

    /// Parses what a user typed: hex in either case, optional `serial=` (as `openssl x509
    /// -serial` prints it) or `0x` prefix, optional colons (`0a:1b`), leading zeros allowed.
    /// Nothing else, so a serial can never be a path.
    pub fn parse_user(s: &str) -> Option<Serial> {
        let digits = Serial::user_digits(s);
        if digits.is_empty() || digits.len() > 2 * MAX_OCTETS + 2 {
            return None;
        }
        if !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let padded = if digits.len() % 2 == 1 {
            format!("0{digits}")
        } else {
            digits
        };
        let bytes = hex::decode(&padded)?;
        let serial = Serial::from_magnitude(&bytes);
        (serial.der_len() <= MAX_OCTETS).then_some(serial)
    }

    /// The hex digits of what a user typed: without blanks around it, a `serial=` or `0x`
    /// prefix, or colons (not checked to be hex).
    pub fn user_digits(s: &str) -> String {
        let s = s.trim();
        let s = match s.get(..7) {
            Some(p) if p.eq_ignore_ascii_case("serial=") => &s[7..],
            _ => s,
        };
        let s = s
            .strip_prefix("0x")
            .or_else(|| s.strip_prefix("0X"))
            .unwrap_or(s);
        s.chars().filter(|&c| c != ':').collect()
    }

    /// Parses a counter file: the canonical form and exactly one final newline.
    pub fn parse_file(bytes: &[u8]) -> Option<Serial> {
        let text = std::str::from_utf8(bytes).ok()?;
        Serial::parse_canonical(text.strip_suffix('\n')?)
    }

    /// The exact content of a counter file holding this number.
    pub fn to_file(&self) -> Vec<u8> {
        format!("{self}\n").into_bytes()
    }

    /// The next number, or `None` when it would no longer fit in 20 octets.
    pub fn next(&self) -> Option<Serial> {
        let mut bytes = self.bytes.clone();
        let mut i = bytes.len();
        loop {
            if i == 0 {
                bytes.insert(0, 1);
                break;
            }
            i -= 1;
            if bytes[i] == 0xFF {
                bytes[i] = 0;
            } else {
                bytes[i] += 1;
                break;
            }
        }
        let next = Serial { bytes };
        (next.der_len() <= MAX_OCTETS).then_some(next)
    }

    /// Minimal big-endian magnitude.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Is this zero? (Zero is not a valid certificate serial.)
    pub fn is_zero(&self) -> bool {
        self.bytes == [0]
    }

    /// Length of the DER INTEGER content (a sign octet is added when the top bit is set).
    fn der_len(&self) -> usize {
        self.bytes.len() + usize::from(self.bytes[0] & 0x80 != 0)
    }
}

/// Numeric order: with minimal encodings a longer magnitude is a larger number.
impl Ord for Serial {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.bytes
            .len()
            .cmp(&other.bytes.len())
            .then_with(|| self.bytes.cmp(&other.bytes))
    }
}

impl PartialOrd for Serial {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Serial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::upper(&self.bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_round_trips() {
        let s = Serial::parse_canonical("01FF").unwrap();
        assert_eq!(s.next().unwrap().to_string(), "0200");
        let s = Serial::parse_canonical("FF").unwrap();
        assert_eq!(s.next().unwrap().to_string(), "0100");
        assert_eq!(Serial::parse_file(b"0A\n").unwrap().to_string(), "0A");
        assert!(Serial::parse_file(b"0A").is_none());
        assert!(Serial::parse_file(b"0a\n").is_none());
        assert!(Serial::parse_file(b"000A\n").is_none());
        assert!(Serial::parse_canonical(&"7F".repeat(21)).is_none());
        assert!(Serial::parse_canonical("0100").unwrap() > Serial::parse_canonical("FF").unwrap());
    }

    #[test]
    fn user_serials_are_only_hex() {
        assert_eq!(Serial::parse_user("0a:1b").unwrap().to_string(), "0A1B");
        assert_eq!(Serial::parse_user("a1b").unwrap().to_string(), "0A1B");
        assert_eq!(Serial::parse_user("0x00ff").unwrap().to_string(), "FF");
        for bad in ["../x", "/etc/passwd", "", "0A/..", "%2e%2e", "１２"] {
            assert!(Serial::parse_user(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn serials_are_allotted_in_blocks_with_random_low_bits() {
        let r = [0xAB; 8];
        // A new CA's counter: the block itself.
        let start = Serial::counter_start([0x05; 8]);
        assert_eq!(start.to_string(), "15050505050505050000000000000000");
        let (s, next) = start.allot(r).unwrap();
        assert_eq!(s.to_string(), "1505050505050505ABABABABABABABAB");
        assert_eq!(next.to_string(), "15050505050505060000000000000000");
        // An older counter that counted up by one: the next block above it.
        let old = Serial::parse_canonical("3A00000000000000FFFFFFFFFFFFFFFE").unwrap();
        let (s, next) = old.allot(r).unwrap();
        assert_eq!(s.to_string(), "3A00000000000001ABABABABABABABAB");
        assert!(s > old);
        assert_eq!(next.to_string(), "3A000000000000020000000000000000");
        // An imported openssl counter such as 1001, and zero: the first block is 2^64.
        for small in ["1001", "00"] {
            let (s, next) = Serial::parse_canonical(small).unwrap().allot(r).unwrap();
            assert_eq!(s.to_string(), "01ABABABABABABABAB");
            assert_eq!(next.to_string(), "020000000000000000");
        }
        // Random bits may be zero; the serial is still the block, never zero.
        let (s, _) = Serial::parse_canonical("00")
            .unwrap()
            .allot([0; 8])
            .unwrap();
        assert_eq!(s.to_string(), "010000000000000000");
        // Twenty octets is the end.
        let top = Serial::parse_canonical(&format!("7F{}", "FF".repeat(11))).unwrap();
        let near = Serial::from_magnitude(&[top.as_bytes(), &[0u8; 8]].concat());
        assert!(near.allot(r).is_none());
    }

    #[test]
    fn random_start_is_positive_and_32_digits() {
        for b in [0u8, 0x0F, 0x80, 0xFF] {
            let s = Serial::random_start([b; 16]);
            assert_eq!(s.to_string().len(), 32);
            assert!(s.as_bytes()[0] >= 0x10 && s.as_bytes()[0] < 0x80);
        }
    }
}

#[cfg(test)]
mod proptests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// SPEC.md DIR-*: any counter value round-trips through its file byte for byte, and the
        /// successor is strictly larger.
        #[test]
        fn counter_files_round_trip(bytes in proptest::collection::vec(any::<u8>(), 1..19)) {
            let s = Serial::from_magnitude(&bytes);
            let file = s.to_file();
            let back = Serial::parse_file(&file).unwrap();
            prop_assert_eq!(&back, &s);
            prop_assert_eq!(back.to_file(), file);
            if let Some(n) = s.next() {
                prop_assert!(n > s);
            }
        }

        /// Whatever a user types, a parsed serial is canonical hex: never a path.
        #[test]
        fn user_serials_are_canonical(input in ".{0,50}") {
            if let Some(s) = Serial::parse_user(&input) {
                let text = s.to_string();
                prop_assert!(text.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_lowercase()));
                prop_assert_eq!(Serial::parse_canonical(&text), Some(s));
            }
        }

        /// Arbitrary bytes never panic the counter parser.
        #[test]
        fn counter_parser_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = Serial::parse_file(&bytes);
        }
    }
}
