//! The PKI core: pure functions over bytes and values — no I/O, no clap, no paths. What a
//! certificate, a CSR, a name, a key, a serial, a reason, a profile and a CRL are, and how one
//! is issued. Commands feed it what they read; the store writes what it returns.
//!
//! It imports nothing from the rest of the crate (as rcgen and webpki stand alone): each module
//! returns its own typed error, which `crate::error::Error` wraps; time and the random bytes of
//! an encryption come in as arguments; what it tells the operator are typed values
//! ([`issuance::Notice`]) that `crate::render` words and escapes.

#![forbid(unsafe_code)]

pub mod ca;
pub mod chain;
pub mod constraints;
pub mod crl;
pub mod csr;
pub mod extensions;
pub mod hex;
pub mod issuance;
pub mod keys;
pub mod legacy_pem;
pub mod names;
pub mod ocsp;
pub mod p12;
pub mod pem;
pub mod profile;
pub mod reason;
pub mod rfc3339;
pub mod serial;
pub mod strict_der;
pub mod text;

/// A cryptographic library failed on what fileca made itself (its own keys, certificates and
/// CRLs): nothing the operator gave can cause it, so it is reported as a bug (exit 70).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    #[error("key generation failed: {0}")]
    Generate(rcgen::Error),
    /// ring's Ed25519 PKCS#8 v2 document is not laid out as [`keys`] expects.
    #[error("unexpected Ed25519 PKCS#8 layout")]
    Ed25519Layout,
    #[error("re-reading the Ed25519 key failed: {0}")]
    Ed25519Reload(rcgen::Error),
    #[error("RSA key generation failed: {0}")]
    RsaGenerate(rsa::Error),
    #[error("encoding the RSA key failed: {0}")]
    RsaEncode(rsa::pkcs8::Error),
    #[error("loading the RSA key failed: {0}")]
    RsaLoad(rcgen::Error),
    /// A certificate could not be signed.
    #[error("signing: {0}")]
    Sign(rcgen::Error),
    #[error("signing the CRL: {0}")]
    SignCrl(rcgen::Error),
    #[error("encoding the CRL: {0}")]
    EncodeCrl(rcgen::Error),
    /// A command that signs loaded the CA without its key.
    #[error("the CA key was not loaded")]
    NoKey,
    #[error("signing an OCSP response: {0}")]
    SignOcsp(rcgen::Error),
    /// The responder key is of a kind fileca does not sign OCSP responses with.
    #[error("the OCSP responder key is not P-256, P-384 or Ed25519")]
    OcspKey,
    #[error("building the issuer from ca.crt: {0}")]
    Issuer(rcgen::Error),
}

/// The dotted form of an OBJECT IDENTIFIER's content octets (X.690 8.19), for any arc that
/// fits 64 bits (x509-parser's `to_id_string` misreads a first subidentifier above 2^63:
/// `2.18446744073709551534` showed as `3.9.…`). None for octets that are not an OID.
pub fn oid_string(octets: &[u8]) -> Option<String> {
    let mut subids: Vec<u128> = Vec::new();
    let mut acc: u128 = 0;
    for b in octets {
        if acc == 0 && *b == 0x80 {
            return None; // not minimal
        }
        acc = acc.checked_mul(128)? | u128::from(b & 0x7f);
        if b & 0x80 == 0 {
            subids.push(acc);
            acc = 0;
        }
    }
    let (&first, rest) = subids.split_first()?;
    if acc != 0 || octets.last().is_none_or(|b| b & 0x80 != 0) {
        return None;
    }
    let (a, b) = match first {
        f if f < 40 => (0, f),
        f if f < 80 => (1, f - 40),
        f => (2, f - 80),
    };
    let arcs: Vec<String> = [a, b]
        .into_iter()
        .chain(rest.iter().copied())
        .map(|x| x.to_string())
        .collect();
    Some(arcs.join("."))
}

#[cfg(test)]
mod oid_tests {
    #[test]
    fn oid_strings_of_every_size() {
        let dotted = |arcs: &[u64]| {
            let oid = yasna::models::ObjectIdentifier::from_slice(arcs);
            let der = yasna::construct_der(|w| w.write_oid(&oid));
            super::oid_string(&der[2..]).unwrap()
        };
        assert_eq!(dotted(&[1, 3, 6, 1, 4, 1, 99999, 1]), "1.3.6.1.4.1.99999.1");
        assert_eq!(dotted(&[2, 18446744073709551534]), "2.18446744073709551534");
        assert_eq!(
            dotted(&[2, 5, 18446744073709551615]),
            "2.5.18446744073709551615"
        );
        assert_eq!(super::oid_string(&[0x80, 0x01]), None);
        assert_eq!(super::oid_string(&[0x81]), None);
        assert_eq!(super::oid_string(&[]), None);
    }
}
