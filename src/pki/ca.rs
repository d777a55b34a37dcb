//! The CA: its certificate and key, checked to belong together and to be a CA, and the rcgen
//! issuer built from them. Pure: bytes and keys in, typed errors out — where the files live,
//! and how the key was decrypted, is the caller's business (model::snapshot).

use rcgen::{Issuer, KeyPair, PublicKeyData, SignatureAlgorithm, SigningKey};
use time::OffsetDateTime;
use x509_parser::extensions::ParsedExtension;

use crate::pki::CryptoError;
use crate::pki::keys::{self, KeyKind};
use crate::pki::pem::{MAX_PEM_BYTES, decode_one};

/// Why a certificate cannot be this CA's certificate. The caller names the file.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CaCertError {
    /// Not one PEM or DER certificate (framing, X.509 syntax, trailing bytes).
    #[error("{0}")]
    Encoding(#[from] crate::pki::pem::PemError),
    #[error("is not a CA certificate (basicConstraints CA:TRUE is missing)")]
    NotCa,
    #[error("its key usage does not allow signing certificates and CRLs (keyCertSign, cRLSign)")]
    CannotSign,
    /// A public key fileca does not accept.
    #[error("{0}")]
    Key(#[from] keys::KeyError),
}

/// The CA certificate is not valid at the time of the command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NotValid {
    #[error("expired on {}; nothing can be signed with it", crate::pki::rfc3339::fmt(*.0))]
    Expired(OffsetDateTime),
    #[error("is not valid before {}", crate::pki::rfc3339::fmt(*.0))]
    NotYet(OffsetDateTime),
}

/// A CA: its certificate and, when the command signs, the key that belongs to it.
pub struct Ca {
    pub cert: CaCert,
    key: Option<CaKey>,
}

/// A key that signs somewhere else (a PKCS#11 token): pki only asks it to sign, from any of
/// the threads a batch signs on.
pub trait RemoteKey: SigningKey + Send + Sync {}

/// The CA's signing key: in memory (ca.key, wiped on drop), or remote (ca.key is a reference
/// to a token key, SPEC.md KEYREF). Both sign through rcgen's `SigningKey`, so certificates,
/// CRLs and checkpoints take one path.
#[allow(clippy::large_enum_variant)] // one per command; boxing the key would add a copy to wipe
pub enum CaKey {
    File(KeyPair),
    Remote(Box<dyn RemoteKey>),
}

impl CaKey {
    /// The key pair in memory, when the key is a file (`passwd`, the PKCS#8 of a pending CA).
    pub fn in_memory(&self) -> Option<&KeyPair> {
        match self {
            CaKey::File(k) => Some(k),
            CaKey::Remote(_) => None,
        }
    }
}

impl PublicKeyData for CaKey {
    fn der_bytes(&self) -> &[u8] {
        match self {
            CaKey::File(k) => k.der_bytes(),
            CaKey::Remote(k) => k.der_bytes(),
        }
    }

    fn algorithm(&self) -> &'static SignatureAlgorithm {
        match self {
            CaKey::File(k) => PublicKeyData::algorithm(k),
            CaKey::Remote(k) => k.algorithm(),
        }
    }
}

impl SigningKey for CaKey {
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        match self {
            CaKey::File(k) => k.sign(msg),
            CaKey::Remote(k) => k.sign(msg),
        }
    }
}

/// The parts of ca.crt fileca relies on.
pub struct CaCert {
    /// DER of ca.crt.
    pub der: Vec<u8>,
    /// The subject as x509-parser prints it (ASN.1 order), for comparing names.
    pub subject: String,
    /// The subject in RFC 4514 order, for showing it.
    pub subject_shown: String,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    /// Subject key identifier of ca.crt (the authority key id of everything it signs).
    pub key_id: Vec<u8>,
    pub key_kind: KeyKind,
    /// DER SubjectPublicKeyInfo of ca.crt.
    pub spki_der: Vec<u8>,
    /// The subjectPublicKey bit string content.
    pub subject_public_key: Vec<u8>,
    /// basicConstraints pathLenConstraint: how many CAs may follow below (None: any).
    pub path_len: Option<u32>,
    /// Its nameConstraints (SPEC.md NC-*), enforced when it signs.
    pub constraints: crate::pki::constraints::Constraints,
}

impl CaCert {
    /// Parses a CA certificate (PEM or DER) and checks that it may sign certificates and CRLs.
    pub fn parse(bytes: &[u8]) -> Result<CaCert, CaCertError> {
        let der =
            decode_one(bytes, &["CERTIFICATE"], MAX_PEM_BYTES).map_err(CaCertError::Encoding)?;
        let cert = crate::pki::pem::certificate(&der).map_err(CaCertError::Encoding)?;
        let mut is_ca = false;
        let mut path_len = None;
        let mut can_sign = true;
        let mut key_id = None;
        for ext in cert.extensions() {
            match ext.parsed_extension() {
                ParsedExtension::BasicConstraints(bc) => {
                    is_ca = bc.ca;
                    path_len = bc.path_len_constraint;
                }
                ParsedExtension::KeyUsage(ku) => can_sign = ku.key_cert_sign() && ku.crl_sign(),
                ParsedExtension::SubjectKeyIdentifier(id) => key_id = Some(id.0.to_vec()),
                _ => {}
            }
        }
        if !is_ca {
            return Err(CaCertError::NotCa);
        }
        if !can_sign {
            return Err(CaCertError::CannotSign);
        }
        let spki = &cert.tbs_certificate.subject_pki;
        let key_kind = keys::classify(spki)?;
        let key_id = key_id.unwrap_or_else(|| keys::key_id(&spki.subject_public_key.data));
        Ok(CaCert {
            subject: cert.subject().to_string(),
            subject_shown: crate::pki::names::name_shown(cert.subject()),
            path_len,
            constraints: crate::pki::constraints::Constraints::of_certificate(&cert),
            not_before: cert.validity().not_before.to_datetime(),
            not_after: cert.validity().not_after.to_datetime(),
            key_id,
            key_kind,
            spki_der: spki.raw.to_vec(),
            subject_public_key: spki.subject_public_key.data.to_vec(),
            der,
        })
    }

    /// Does this CA's key verify `cert`'s signature?
    pub fn signed(&self, cert: &x509_parser::certificate::X509Certificate<'_>) -> bool {
        use x509_parser::prelude::FromDer;
        x509_parser::x509::SubjectPublicKeyInfo::from_der(&self.spki_der)
            .is_ok_and(|(_, spki)| cert.verify_signature(Some(&spki)).is_ok())
    }

    /// Did this CA issue `cert`: its issuer is this CA's subject and the signature verifies?
    pub fn issued(&self, cert: &x509_parser::certificate::X509Certificate<'_>) -> bool {
        cert.issuer().to_string() == self.subject && self.signed(cert)
    }

    /// Is the certificate valid at `now`? Nothing is signed outside its validity.
    pub fn valid_at(&self, now: OffsetDateTime) -> Result<(), NotValid> {
        if now > self.not_after {
            return Err(NotValid::Expired(self.not_after));
        }
        if now < self.not_before {
            return Err(NotValid::NotYet(self.not_before));
        }
        Ok(())
    }
}

/// The private key is wiped from memory when the CA is dropped (SPEC.md HOSTILE: secrets).
impl Drop for Ca {
    fn drop(&mut self) {
        if let Some(CaKey::File(key)) = &mut self.key {
            zeroize::Zeroize::zeroize(key);
        }
    }
}

/// ca.key does not hold the private key of ca.crt's public key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the private key does not match the certificate's public key")]
pub struct KeyMismatch;

impl Ca {
    /// A CA without its key: for commands that only verify.
    pub fn public(cert: CaCert) -> Ca {
        Ca { cert, key: None }
    }

    /// A CA with its key, which must belong to the certificate.
    pub fn with_key(cert: CaCert, key: CaKey) -> Result<Ca, KeyMismatch> {
        if key.der_bytes() != cert.subject_public_key.as_slice() {
            return Err(KeyMismatch);
        }
        Ok(Ca {
            cert,
            key: Some(key),
        })
    }

    /// The private key; an internal error if this CA was loaded without it.
    pub fn key(&self) -> Result<&CaKey, CryptoError> {
        self.key.as_ref().ok_or(CryptoError::NoKey)
    }

    /// The private key when this CA was loaded with it (the command signs).
    pub fn signing_key(&self) -> Option<&CaKey> {
        self.key.as_ref()
    }

    /// The rcgen issuer: ca.crt's subject, key usages and key identifier, signing with ca.key.
    pub fn issuer(&self) -> Result<Issuer<'static, &CaKey>, CryptoError> {
        Issuer::from_ca_cert_der(&self.cert.der.as_slice().into(), self.key()?)
            .map_err(CryptoError::Issuer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyUsagePurpose};

    fn cert(is_ca: bool, usages: Vec<KeyUsagePurpose>, key: &KeyPair) -> Vec<u8> {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        if is_ca {
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        }
        params.key_usages = usages;
        params.self_signed(key).unwrap().der().to_vec()
    }

    #[test]
    fn a_ca_certificate_is_checked_with_typed_errors() {
        let key = KeyPair::generate().unwrap();
        let signing = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let good = CaCert::parse(&cert(true, signing.clone(), &key)).unwrap();
        assert_eq!(good.key_kind, KeyKind::P256);
        assert_eq!(
            CaCert::parse(&cert(false, signing.clone(), &key)).err(),
            Some(CaCertError::NotCa)
        );
        assert_eq!(
            CaCert::parse(&cert(true, vec![KeyUsagePurpose::KeyCertSign], &key)).err(),
            Some(CaCertError::CannotSign)
        );
        assert!(matches!(
            CaCert::parse(b"junk"),
            Err(CaCertError::Encoding(_))
        ));

        assert_eq!(good.valid_at(good.not_before), Ok(()));
        let late = good.not_after + time::Duration::seconds(1);
        assert_eq!(good.valid_at(late), Err(NotValid::Expired(good.not_after)));
        let early = good.not_before - time::Duration::seconds(1);
        assert_eq!(good.valid_at(early), Err(NotValid::NotYet(good.not_before)));

        let other = KeyPair::generate().unwrap();
        assert!(matches!(
            Ca::with_key(good, CaKey::File(other)),
            Err(KeyMismatch)
        ));
        let good = CaCert::parse(&cert(true, signing, &key)).unwrap();
        assert!(Ca::with_key(good, CaKey::File(key)).is_ok());
    }
}
