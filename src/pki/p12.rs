//! PKCS#12 bundles for `ca issue --p12` (SPEC.md ISSUE-P12): the private key, the leaf and
//! the chain up to the root, encrypted under a passphrase, for importers that want one file
//! (Windows, macOS Keychain, Java, browsers).
//!
//! Written by `p12-keystore`, which builds on the RustCrypto `pkcs12`/`pkcs5` crates already
//! in our tree (the one PKCS#12 crate fileca names: [`is_pfx`] reads the outer structure with
//! `der`, not with the pre-release `pkcs12` directly). Two forms: the modern one (PBES2: PBKDF2-HMAC-SHA-256 and AES-256-CBC for the
//! key bag and the certificate bag, an HMAC-SHA-256 MAC), which OpenSSL 3 reads without
//! `-legacy`; and the legacy one (pbeWithSHAAnd3-KeyTripleDES-CBC for both bags, an HMAC-SHA-1
//! MAC) for old Windows and macOS importers. Pure: bytes in, bytes out.

use p12_keystore::{
    Certificate, EncryptionAlgorithm, KeyStore, KeyStoreEntry, MacAlgorithm, PrivateKey,
    PrivateKeyChain,
};

/// Iterations of the key derivation for the bags and for the MAC (OpenSSL 3's default is
/// 2048; more costs an importer nothing noticeable).
pub const ITERATIONS: u32 = 10_000;

/// Which encryption the bundle uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum P12Form {
    /// PBES2 (PBKDF2-HMAC-SHA-256, AES-256-CBC), HMAC-SHA-256 MAC.
    Modern,
    /// pbeWithSHAAnd3-KeyTripleDES-CBC, HMAC-SHA-1 MAC.
    Legacy,
}

/// The PKCS#12 (DER) of a key (PKCS#8 DER: v1 for Ed25519, which OpenSSL 3.0 reads) and its
/// certificates, leaf first and the root last. The key bag is named `name` (its
/// friendlyName) and tied to the leaf by a localKeyId, the leaf's subject key identifier.
pub fn bundle(
    name: &str,
    key_pkcs8_der: &[u8],
    key_id: &[u8],
    certs_der: &[&[u8]],
    passphrase: &str,
    form: P12Form,
) -> Result<Vec<u8>, P12Error> {
    let key = PrivateKey::from_der(key_pkcs8_der).map_err(P12Error::Key)?;
    let certs = certs_der
        .iter()
        .map(|der| Certificate::from_der(der).map_err(P12Error::Certificate))
        .collect::<Result<Vec<_>, _>>()?;
    let mut store = KeyStore::new();
    store.add_entry(
        name,
        KeyStoreEntry::PrivateKeyChain(PrivateKeyChain::new(key_id, key, certs)),
    );
    let (enc, mac) = match form {
        P12Form::Modern => (
            EncryptionAlgorithm::PbeWithHmacSha256AndAes256,
            MacAlgorithm::HmacSha256,
        ),
        P12Form::Legacy => (
            EncryptionAlgorithm::PbeWithShaAnd3KeyTripleDesCbc,
            MacAlgorithm::HmacSha1,
        ),
    };
    store
        .writer(passphrase)
        .encryption_algorithm(enc)
        .encryption_iterations(ITERATIONS)
        .mac_algorithm(mac)
        .mac_iterations(ITERATIONS)
        .write()
        .map_err(P12Error::Write)
}

/// Why a PKCS#12 bundle cannot be written.
#[derive(Debug, thiserror::Error)]
pub enum P12Error {
    /// The key is not a PKCS#8 document p12-keystore reads.
    #[error("PKCS#12 key: {0}")]
    Key(p12_keystore::error::Error),
    #[error("PKCS#12 certificate: {0}")]
    Certificate(p12_keystore::error::Error),
    /// Encrypting or MACing the bundle failed (a passphrase the PKCS#12 password encoding
    /// cannot hold, or the writer's own failure).
    #[error("writing the PKCS#12 bundle: {0}")]
    Write(p12_keystore::error::Error),
}

/// Is `bytes` a DER PFX (version 3, with a MAC)? All recovery can check of a bundle it
/// publishes from a journal: its content is encrypted under a passphrase it does not have.
/// RFC 7292 4: `PFX ::= SEQUENCE { version INTEGER {v3(3)}, authSafe ContentInfo, macData
/// MacData OPTIONAL }`, `ContentInfo ::= SEQUENCE { contentType OID, content [0] EXPLICIT ANY }`
/// — read with the `der` crate p12-keystore is built on.
pub fn is_pfx(bytes: &[u8]) -> bool {
    use pkcs8::der::asn1::{AnyRef, ObjectIdentifier};
    use pkcs8::der::{Reader, SliceReader, Tag, TagNumber, Tagged};
    let pfx = |r: &mut SliceReader<'_>| -> pkcs8::der::Result<bool> {
        r.sequence(|r| {
            let version: u8 = r.decode()?;
            let content_info = r.sequence(|r| -> pkcs8::der::Result<bool> {
                let _content_type: ObjectIdentifier = r.decode()?;
                let content: AnyRef<'_> = r.decode()?;
                Ok(content.tag()
                    == Tag::ContextSpecific {
                        constructed: true,
                        number: TagNumber(0),
                    })
            })?;
            let mac: Option<AnyRef<'_>> = r.decode()?;
            Ok(version == 3 && content_info && mac.is_some_and(|m| m.tag() == Tag::Sequence))
        })
    };
    SliceReader::new(bytes)
        .and_then(|mut r| {
            let ok = pfx(&mut r)?;
            r.finish()?;
            Ok(ok)
        })
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bundle_reads_back_with_its_passphrase_in_both_forms() {
        let (key, pem) = crate::pki::keys::generate(crate::pki::keys::KeyType::EcdsaP256).unwrap();
        let params = rcgen::CertificateParams::new(vec!["p12.test".to_string()]).unwrap();
        let cert = params.self_signed(&key).unwrap();
        let key_der =
            crate::pki::pem::decode_one(pem.as_bytes(), &["PRIVATE KEY"], 1 << 16).unwrap();
        for form in [P12Form::Modern, P12Form::Legacy] {
            let p12 = bundle(
                "p12.test",
                &key_der,
                b"id",
                &[cert.der()],
                "secret pass",
                form,
            )
            .unwrap();
            assert!(is_pfx(&p12));
            assert!(!is_pfx(&p12[..p12.len() - 1]), "truncated");
            assert!(!is_pfx(&[&p12[..], &[0]].concat()), "trailing bytes");
            let back = KeyStore::from_pkcs12(
                &p12,
                "secret pass",
                p12_keystore::Pkcs12ImportPolicy::Strict,
            )
            .unwrap();
            let (alias, chain) = back.private_key_chain().unwrap();
            assert_eq!(alias, "p12.test");
            assert_eq!(chain.key().as_der(), &key_der[..]);
            assert_eq!(chain.certs()[0].as_der(), &cert.der()[..]);
            assert!(KeyStore::from_pkcs12(&p12, "wrong", Default::default()).is_err());
        }
        assert!(!is_pfx(b"not a pfx"));
    }
}
