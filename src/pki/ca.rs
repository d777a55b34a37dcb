//! The loaded CA: its certificate and key, checked to belong together and to be a CA, and
//! the rcgen issuer built from them.

use std::path::Path;

use rcgen::{Issuer, KeyPair, PublicKeyData};
use time::OffsetDateTime;
use x509_parser::extensions::ParsedExtension;

use crate::error::{Error, Result};
use crate::passphrase;
use crate::pki::keys::{self, KeyKind};
use crate::pki::pem::{MAX_PEM_BYTES, decode_one};
use crate::store::{CERT, KEY};

/// A CA: its certificate and, when the command signs, the key that belongs to it.
pub struct Ca {
    pub cert: CaCert,
    key: Option<KeyPair>,
}

/// The parts of ca.crt fileca relies on.
pub struct CaCert {
    /// DER of ca.crt.
    pub der: Vec<u8>,
    pub subject: String,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    /// Subject key identifier of ca.crt (the authority key id of everything it signs).
    pub key_id: Vec<u8>,
    pub key_kind: KeyKind,
    /// DER SubjectPublicKeyInfo of ca.crt.
    pub spki_der: Vec<u8>,
    /// The subjectPublicKey bit string content.
    pub subject_public_key: Vec<u8>,
}

impl CaCert {
    /// Parses ca.crt and checks that it is a CA certificate that may sign certificates and CRLs.
    pub fn parse(dir: &Path, bytes: &[u8]) -> Result<CaCert> {
        let path = dir.join(CERT);
        let der = decode_one(bytes, &["CERTIFICATE"], MAX_PEM_BYTES)
            .map_err(|m| Error::state(&path, m))?;
        let cert = crate::pki::pem::certificate(&der).map_err(|m| Error::state(&path, m))?;
        let mut is_ca = false;
        let mut can_sign = true;
        let mut key_id = None;
        for ext in cert.extensions() {
            match ext.parsed_extension() {
                ParsedExtension::BasicConstraints(bc) => is_ca = bc.ca,
                ParsedExtension::KeyUsage(ku) => can_sign = ku.key_cert_sign() && ku.crl_sign(),
                ParsedExtension::SubjectKeyIdentifier(id) => key_id = Some(id.0.to_vec()),
                _ => {}
            }
        }
        if !is_ca {
            return Err(Error::state(
                &path,
                "is not a CA certificate (basicConstraints CA:TRUE is missing)",
            ));
        }
        if !can_sign {
            return Err(Error::state(
                &path,
                "its key usage does not allow signing certificates and CRLs (keyCertSign, cRLSign)",
            ));
        }
        let spki = &cert.tbs_certificate.subject_pki;
        let key_kind = keys::classify(spki).map_err(|m| Error::state(&path, m))?;
        let key_id = key_id.unwrap_or_else(|| keys::key_id(&spki.subject_public_key.data));
        Ok(CaCert {
            subject: cert.subject().to_string(),
            not_before: cert.validity().not_before.to_datetime(),
            not_after: cert.validity().not_after.to_datetime(),
            key_id,
            key_kind,
            spki_der: spki.raw.to_vec(),
            subject_public_key: spki.subject_public_key.data.to_vec(),
            der,
        })
    }
}

/// The private key is wiped from memory when the CA is dropped (SPEC.md HOSTILE: secrets).
impl Drop for Ca {
    fn drop(&mut self) {
        if let Some(key) = &mut self.key {
            zeroize::Zeroize::zeroize(key);
        }
    }
}

impl Ca {
    /// Loads ca.crt and, if `key_bytes` is given, ca.key (decrypting it with a passphrase from
    /// `pass` when it is encrypted), and checks that the key belongs to the certificate.
    pub fn load(
        dir: &Path,
        cert_bytes: &[u8],
        key_bytes: Option<&[u8]>,
        pass: &passphrase::Source,
    ) -> Result<Ca> {
        let cert = CaCert::parse(dir, cert_bytes)?;
        let Some(key_bytes) = key_bytes else {
            return Ok(Ca { cert, key: None });
        };
        let key_path = dir.join(KEY);
        let key_text = std::str::from_utf8(key_bytes)
            .map_err(|_| Error::state(&key_path, "is not a PEM file"))?;
        let plain;
        let key_text = if keys::is_encrypted(key_text) {
            let passphrase = pass.get(&format!("passphrase for {}", key_path.display()))?;
            plain = keys::decrypt_pem(key_text, &passphrase).map_err(|e| match e {
                None => Error::refused(format!(
                    "wrong passphrase for {} (nothing was changed)",
                    key_path.display()
                )),
                Some(m) => Error::state(&key_path, m),
            })?;
            plain.as_str()
        } else {
            // An operator who passes a passphrase expects an encrypted key: a plaintext one
            // may have been swapped in by someone who can write the directory (SPEC.md
            // THREAT-WRITER, the CA swapped whole).
            if pass.given() {
                crate::render::warn(&format!(
                    "warning: a passphrase file was given, but {} is not encrypted (if it was, \
                     it has been replaced: compare ca.crt's fingerprint with a copy you trust)",
                    key_path.display()
                ));
            }
            key_text
        };
        let key = KeyPair::from_pem(key_text).map_err(|e| {
            Error::state(
                &key_path,
                format!("cannot read the private key (PKCS#8 PEM expected): {e}"),
            )
        })?;
        if key.der_bytes() != cert.subject_public_key.as_slice() {
            return Err(Error::KeyCertMismatch {
                key: key_path,
                cert: dir.join(CERT),
            });
        }
        Ok(Ca {
            cert,
            key: Some(key),
        })
    }

    /// The private key; an internal error if this CA was loaded without it.
    pub fn key(&self) -> Result<&KeyPair> {
        self.key
            .as_ref()
            .ok_or_else(|| Error::Internal("the CA key was not loaded".into()))
    }

    /// The private key when this CA was loaded with it (the command signs).
    pub fn signing_key(&self) -> Option<&KeyPair> {
        self.key.as_ref()
    }

    /// The rcgen issuer: ca.crt's subject, key usages and key identifier, signing with ca.key.
    pub fn issuer(&self) -> Result<Issuer<'static, &KeyPair>> {
        Issuer::from_ca_cert_der(&self.cert.der.as_slice().into(), self.key()?)
            .map_err(|e| Error::Internal(format!("building the issuer from ca.crt: {e}")))
    }

    /// Refuses to sign outside the CA certificate's validity.
    pub fn check_valid_at(&self, now: OffsetDateTime, dir: &Path) -> Result<()> {
        if now > self.cert.not_after {
            return Err(Error::refused(format!(
                "the CA certificate {} expired on {}; nothing can be signed with it",
                dir.join(CERT).display(),
                crate::clock::fmt(self.cert.not_after)
            )));
        }
        if now < self.cert.not_before {
            return Err(Error::refused(format!(
                "the CA certificate {} is not valid before {}",
                dir.join(CERT).display(),
                crate::clock::fmt(self.cert.not_before)
            )));
        }
        Ok(())
    }
}
