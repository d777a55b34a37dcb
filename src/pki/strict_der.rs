//! DER, not BER: x509-parser also reads BER, in which one request has many encodings (its
//! SHA-256 in audit.log would then not identify it) and parsers may disagree; DER has exactly
//! one (X.690 section 10). The CSR gate accepts only DER requests, as `openssl req` writes them.

/// How deeply [`strict_der`] follows nested constructed values; PKCS#10 needs about ten.
const MAX_DER_DEPTH: usize = 32;

/// Checks that `bytes` is a sequence of DER TLVs, recursively: every length definite and in
/// the fewest octets (X.690 10.1), no constructed string encodings (X.690 10.2), every value
/// inside its parent. x509-parser also reads BER, in which one request has many encodings
/// (its SHA-256 in audit.log would then not identify it) and parsers may disagree; DER has
/// exactly one. Lengths are decoded by the `der` crate, which enforces the minimal form;
/// tags are read here so that every universal tag (UniversalString too) passes.
pub fn strict_der(bytes: &[u8]) -> Result<(), NotDer> {
    use pkcs8::der::{Decode, ErrorKind, Length, Reader, SliceReader};

    fn walk(bytes: &[u8], depth: usize) -> Result<(), NotDer> {
        let at = |r: &SliceReader<'_>| u32::from(r.position());
        let mut r = SliceReader::new(bytes).map_err(NotDer::Reader)?;
        while !r.is_finished() {
            let start = at(&r);
            let first = r.read_byte().map_err(NotDer::Reader)?;
            if first & 0x1f == 0x1f {
                // High tag number: base-128 digits, the first not zero (X.690 8.1.2.4.2).
                let mut digits = 0;
                loop {
                    let b = r.read_byte().map_err(NotDer::Reader)?;
                    digits += 1;
                    if (digits == 1 && b == 0x80) || digits > 4 {
                        return Err(NotDer::Tag(start));
                    }
                    if b & 0x80 == 0 {
                        break;
                    }
                }
            }
            let len = Length::decode(&mut r).map_err(|e| match e.kind() {
                ErrorKind::Overlength => NotDer::LongLength(start),
                ErrorKind::IndefiniteLength => NotDer::IndefiniteLength(start),
                _ => NotDer::Length {
                    at: start,
                    error: e,
                },
            })?;
            let value = r
                .read_slice(len)
                .map_err(|_| NotDer::PastContainer(start))?;
            let constructed = first & 0x20 != 0;
            let universal = first & 0xc0 == 0;
            if constructed && universal && first != 0x30 && first != 0x31 {
                return Err(NotDer::Constructed(start));
            }
            if constructed {
                if depth == MAX_DER_DEPTH {
                    return Err(NotDer::TooDeep);
                }
                walk(value, depth + 1)?;
            }
        }
        Ok(())
    }
    walk(bytes, 0)
}

/// Why bytes are not DER ([`strict_der`]); the number is the offset of the TLV.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NotDer {
    #[error("{0}")]
    Reader(pkcs8::der::Error),
    #[error("malformed tag at byte {0}")]
    Tag(u32),
    #[error("the length at byte {0} is encoded in more octets than needed")]
    LongLength(u32),
    #[error("the length at byte {0} is indefinite")]
    IndefiniteLength(u32),
    #[error("the length at byte {at} is malformed ({error})")]
    Length { at: u32, error: pkcs8::der::Error },
    #[error("the value at byte {0} runs past its container")]
    PastContainer(u32),
    #[error("constructed encoding of a primitive type at byte {0}")]
    Constructed(u32),
    #[error("nested deeper than {MAX_DER_DEPTH} levels")]
    TooDeep,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_der_accepts_der_and_refuses_ber_forms_csr_gate() {
        // SEQUENCE { INTEGER 0, UniversalString "a", [31] (high tag) NULL, SET {} }
        let good = [
            0x30, 0x0e, 0x02, 0x01, 0x00, 0x1c, 0x04, 0, 0, 0, b'a', 0x9f, 0x1f, 0x00, 0x31, 0x00,
        ];
        assert_eq!(strict_der(&good), Ok(()));
        let long = [vec![0x04, 0x81, 0x80], vec![0; 0x80]].concat();
        assert_eq!(strict_der(&long), Ok(()), "81 80 is minimal for 128");
        for (bad, why) in [
            (&[0x30, 0x81, 0x03, 0x02, 0x01, 0x00][..], "more octets"),
            (&[0x30, 0x03, 0x02, 0x81, 0x01, 0x00], "more octets"),
            (&[0x30, 0x82, 0x00, 0x03, 0x02, 0x01, 0x00], "more octets"),
            (&[0x30, 0x80, 0x02, 0x01, 0x00, 0x00, 0x00], "indefinite"),
            (&[0x24, 0x03, 0x04, 0x01, 0x00], "constructed encoding"),
            (&[0x30, 0x03, 0x02, 0x05, 0x00], "runs past"),
            (&[0x9f, 0x80, 0x1f, 0x00], "malformed tag"),
        ] {
            let err = strict_der(bad).unwrap_err().to_string();
            assert!(err.contains(why), "{bad:02x?}: {err}");
        }
        let mut deep = vec![0x05, 0x00];
        for _ in 0..=MAX_DER_DEPTH {
            deep = [vec![0x30, deep.len() as u8], deep].concat();
        }
        assert_eq!(strict_der(&deep), Err(NotDer::TooDeep));
    }
}
