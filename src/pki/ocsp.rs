//! OCSP (RFC 6960) as fileca answers it: reading an OCSPRequest, and signing a
//! BasicOCSPResponse with the delegated responder's key (SPEC.md OCSP-*). Pure: bytes, keys
//! and times in, DER out.
//!
//! The encoding is written with yasna (already rcgen's DER writer here): RustCrypto's
//! `x509-ocsp` 0.2, the crate made for these types, is built on `der` 0.7 while the rest of
//! fileca's RustCrypto stack is on `der` 0.8, so it would bring a second copy of the ASN.1
//! stack. The request side is read in DER mode, bounded in size and in the number of
//! certificates asked about; anything it does not understand is `malformedRequest`, never a
//! guess. A CertID is echoed in the response exactly as it was asked (its DER bytes), so a
//! client that compares CertIDs field by field or byte for byte finds its own.
//!
//! Invariants: a response never says `good` for a serial the caller did not say is good —
//! [`Status`] comes in from the caller, who folds the signed index; this module only encodes
//! it. A nonce is echoed only when it is 1 to 32 octets (RFC 8954 2.1); any other length is
//! refused with `malformedRequest`.

use rcgen::{KeyPair, PublicKeyData, SigningKey};
use ring::digest;
use time::OffsetDateTime;
use yasna::models::{GeneralizedTime, ObjectIdentifier};
use yasna::{ASN1Error, ASN1ErrorKind, BERReader, DERWriter, Tag};

use crate::pki::CryptoError;
use crate::pki::reason::Reason;
use crate::pki::serial::Serial;

/// The largest OCSPRequest read (RFC 5019 requests are about 100 bytes; a signed request
/// with a certificate chain is a few kilobytes).
pub const MAX_REQUEST_BYTES: usize = 8 * 1024;

/// The most certificates one request may ask about.
pub const MAX_CERT_IDS: usize = 16;

/// The longest nonce echoed (RFC 8954 2.1); 0 or more octets are refused.
pub const MAX_NONCE: usize = 32;

const SHA1: &[u64] = &[1, 3, 14, 3, 2, 26];
const SHA256: &[u64] = &[2, 16, 840, 1, 101, 3, 4, 2, 1];
const OCSP_BASIC: &[u64] = &[1, 3, 6, 1, 5, 5, 7, 48, 1, 1];
const OCSP_NONCE: &[u64] = &[1, 3, 6, 1, 5, 5, 7, 48, 1, 2];
const ECDSA_SHA256: &[u64] = &[1, 2, 840, 10045, 4, 3, 2];
const ECDSA_SHA384: &[u64] = &[1, 2, 840, 10045, 4, 3, 3];
const ED25519: &[u64] = &[1, 3, 101, 112];

/// OCSPResponseStatus (RFC 6960 4.2.1) of a response that carries no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorStatus {
    /// The request does not parse as an OCSPRequest fileca accepts.
    MalformedRequest = 1,
    /// The responder failed on its own side.
    InternalError = 2,
    /// The responder cannot answer now (no verified state, no responder certificate).
    TryLater = 3,
    /// The request asks about certificates of an issuer this responder does not serve.
    Unauthorized = 6,
}

/// The hash a CertID was computed with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HashAlg {
    Sha1,
    Sha256,
    /// Another hash: it names no issuer fileca can recognise, so the answer is
    /// `unauthorized`, not `malformedRequest`.
    Other,
}

impl HashAlg {
    fn digest(self, data: &[u8]) -> Vec<u8> {
        let alg = match self {
            HashAlg::Sha1 => &digest::SHA1_FOR_LEGACY_USE_ONLY,
            HashAlg::Sha256 | HashAlg::Other => &digest::SHA256,
        };
        digest::digest(alg, data).as_ref().to_vec()
    }
}

/// One CertID of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertId {
    pub alg: HashAlg,
    pub issuer_name_hash: Vec<u8>,
    pub issuer_key_hash: Vec<u8>,
    /// The serial asked about; `None` for zero or a negative number, which no certificate
    /// fileca issues has (the answer is `unknown`).
    pub serial: Option<Serial>,
    /// The CertID's DER, echoed in the response.
    pub der: Vec<u8>,
}

/// A parsed OCSPRequest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub ids: Vec<CertId>,
    /// The nonce extension's extnValue content (the DER of the Nonce OCTET STRING), echoed.
    pub nonce: Option<Vec<u8>>,
}

/// Why a request is refused with `malformedRequest`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    #[error("the request is larger than {MAX_REQUEST_BYTES} bytes")]
    TooLarge,
    #[error("the request is not a DER OCSPRequest")]
    Malformed,
    #[error("the request asks about no certificate or more than {MAX_CERT_IDS}")]
    CertCount,
    #[error("the nonce is not 1 to {MAX_NONCE} octets (RFC 8954)")]
    BadNonce,
    #[error("the request carries a critical extension fileca does not know")]
    UnknownCritical,
}

/// Reads an OCSPRequest (RFC 6960 4.1.1). A request signature, a requestor name and
/// per-certificate extensions are accepted and ignored: every answer is public.
pub fn parse_request(der: &[u8]) -> Result<Request, RequestError> {
    if der.len() > MAX_REQUEST_BYTES {
        return Err(RequestError::TooLarge);
    }
    let mut nonce_error = None;
    let parsed = yasna::parse_der(der, |r| {
        r.read_sequence(|r| {
            let request = r.next().read_sequence(|r| read_tbs(r, &mut nonce_error))?;
            // optionalSignature [0] EXPLICIT Signature: not checked.
            r.read_optional(|r| r.read_tagged(Tag::context(0), |r| r.read_der().map(drop)))?;
            Ok(request)
        })
    });
    if let Some(e) = nonce_error {
        return Err(e);
    }
    let request = parsed.map_err(|_| RequestError::Malformed)?;
    if request.ids.is_empty() || request.ids.len() > MAX_CERT_IDS {
        return Err(RequestError::CertCount);
    }
    Ok(request)
}

fn read_tbs(
    r: &mut yasna::BERReaderSeq<'_, '_>,
    error: &mut Option<RequestError>,
) -> Result<Request, ASN1Error> {
    let version = r.read_optional(|r| r.read_tagged(Tag::context(0), |r| r.read_u8()))?;
    if version.is_some_and(|v| v != 0) {
        return Err(ASN1Error::new(ASN1ErrorKind::Invalid));
    }
    r.read_optional(|r| r.read_tagged(Tag::context(1), |r| r.read_der().map(drop)))?;
    let mut ids = Vec::new();
    r.next().read_sequence_of(|r| {
        if ids.len() > MAX_CERT_IDS {
            return Err(ASN1Error::new(ASN1ErrorKind::Invalid));
        }
        ids.push(r.read_sequence(|r| {
            let id = r.next().read_der()?;
            r.read_optional(|r| r.read_tagged(Tag::context(0), |r| r.read_der().map(drop)))?;
            cert_id(&id)
        })?);
        Ok(())
    })?;
    let mut nonce = None;
    r.read_optional(|r| {
        r.read_tagged(Tag::context(2), |r| {
            r.read_sequence_of(|r| {
                let (oid, critical, value) = read_extension(r)?;
                if oid == ObjectIdentifier::from_slice(OCSP_NONCE) {
                    let inner = yasna::parse_der(&value, |r| r.read_bytes());
                    match inner {
                        Ok(n) if (1..=MAX_NONCE).contains(&n.len()) && nonce.is_none() => {
                            nonce = Some(value);
                            Ok(())
                        }
                        _ => {
                            *error = Some(RequestError::BadNonce);
                            Err(ASN1Error::new(ASN1ErrorKind::Invalid))
                        }
                    }
                } else if critical {
                    *error = Some(RequestError::UnknownCritical);
                    Err(ASN1Error::new(ASN1ErrorKind::Invalid))
                } else {
                    Ok(())
                }
            })
        })
    })?;
    Ok(Request { ids, nonce })
}

fn read_extension(r: BERReader<'_, '_>) -> Result<(ObjectIdentifier, bool, Vec<u8>), ASN1Error> {
    r.read_sequence(|r| {
        let oid = r.next().read_oid()?;
        let critical = r.read_optional(|r| r.read_bool())?.unwrap_or(false);
        let value = r.next().read_bytes()?;
        Ok((oid, critical, value))
    })
}

fn cert_id(der: &[u8]) -> Result<CertId, ASN1Error> {
    yasna::parse_der(der, |r| {
        r.read_sequence(|r| {
            let alg = r.next().read_sequence(|r| {
                let oid = r.next().read_oid()?;
                r.read_optional(|r| r.read_null())?;
                if oid == ObjectIdentifier::from_slice(SHA1) {
                    Ok(HashAlg::Sha1)
                } else if oid == ObjectIdentifier::from_slice(SHA256) {
                    Ok(HashAlg::Sha256)
                } else {
                    Ok(HashAlg::Other)
                }
            })?;
            let issuer_name_hash = r.next().read_bytes()?;
            let issuer_key_hash = r.next().read_bytes()?;
            let (magnitude, non_negative) = r.next().read_bigint_bytes()?;
            let serial = Some(Serial::from_magnitude(&magnitude))
                .filter(|s| non_negative && !s.is_zero() && magnitude.len() <= 20);
            Ok(CertId {
                alg,
                issuer_name_hash,
                issuer_key_hash,
                serial,
                der: der.to_vec(),
            })
        })
    })
}

/// What identifies an issuer in a CertID: the hashes of its subject name's DER and of its
/// subjectPublicKey's bits, under both hashes fileca answers for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuerHashes {
    sha1: (Vec<u8>, Vec<u8>),
    sha256: (Vec<u8>, Vec<u8>),
}

impl IssuerHashes {
    /// The hashes of an issuer certificate (DER). `None` if it does not parse.
    pub fn of_certificate(der: &[u8]) -> Option<IssuerHashes> {
        let cert = crate::pki::pem::certificate(der).ok()?;
        let name = cert.subject().as_raw();
        let key = &cert.public_key().subject_public_key.data;
        Some(IssuerHashes {
            sha1: (HashAlg::Sha1.digest(name), HashAlg::Sha1.digest(key)),
            sha256: (HashAlg::Sha256.digest(name), HashAlg::Sha256.digest(key)),
        })
    }

    /// The CertID a client asks with about `serial` of this issuer (`alg` SHA-1 or SHA-256;
    /// anything else is SHA-256): what a pre-signed response answers.
    pub fn cert_id(&self, alg: HashAlg, serial: &Serial) -> CertId {
        let (alg, oid, (name, key)) = match alg {
            HashAlg::Sha1 => (HashAlg::Sha1, SHA1, &self.sha1),
            HashAlg::Sha256 | HashAlg::Other => (HashAlg::Sha256, SHA256, &self.sha256),
        };
        let der = yasna::construct_der(|w| {
            w.write_sequence(|w| {
                w.next().write_sequence(|w| {
                    w.next().write_oid(&ObjectIdentifier::from_slice(oid));
                    w.next().write_null();
                });
                w.next().write_bytes(name);
                w.next().write_bytes(key);
                w.next().write_bigint_bytes(serial.as_bytes(), true);
            })
        });
        CertId {
            alg,
            issuer_name_hash: name.clone(),
            issuer_key_hash: key.clone(),
            serial: Some(serial.clone()),
            der,
        }
    }

    /// Does `id` name this issuer?
    pub fn matches(&self, id: &CertId) -> bool {
        let (name, key) = match id.alg {
            HashAlg::Sha1 => &self.sha1,
            HashAlg::Sha256 => &self.sha256,
            HashAlg::Other => return false,
        };
        *name == id.issuer_name_hash && *key == id.issuer_key_hash
    }
}

/// What the signed index says of one certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Good,
    Revoked {
        at: OffsetDateTime,
        reason: Reason,
    },
    /// This CA never issued the serial.
    Unknown,
}

/// The delegated responder: its key and its certificate (DER), issued by the CA.
pub struct Responder<'a> {
    pub key: &'a KeyPair,
    pub cert_der: &'a [u8],
}

/// The times a response states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Times {
    pub produced_at: OffsetDateTime,
    /// When the status was known to be correct: the signed state was read.
    pub this_update: OffsetDateTime,
    /// When a newer answer will be available; a client must not use it after.
    pub next_update: OffsetDateTime,
}

/// Signs a successful response answering each `(CertID, status)`, echoing `nonce` (the
/// extnValue content of the request's nonce extension).
pub fn sign_response(
    responder: &Responder<'_>,
    answers: &[(&CertId, Status)],
    nonce: Option<&[u8]>,
    times: Times,
) -> Result<Vec<u8>, CryptoError> {
    let sig_alg: &[u64] = if responder.key.algorithm() == &rcgen::PKCS_ECDSA_P256_SHA256 {
        ECDSA_SHA256
    } else if responder.key.algorithm() == &rcgen::PKCS_ECDSA_P384_SHA384 {
        ECDSA_SHA384
    } else if responder.key.algorithm() == &rcgen::PKCS_ED25519 {
        ED25519
    } else {
        return Err(CryptoError::OcspKey);
    };
    let key_hash = HashAlg::Sha1.digest(responder.key.der_bytes());
    let tbs = yasna::construct_der(|w| {
        w.write_sequence(|w| {
            // version v1 is the DEFAULT: not encoded. responderID byKey [2] EXPLICIT.
            w.next()
                .write_tagged(Tag::context(2), |w| w.write_bytes(&key_hash));
            write_time(w.next(), times.produced_at);
            w.next().write_sequence_of(|w| {
                for (id, status) in answers {
                    w.next()
                        .write_sequence(|w| write_single(w, id, *status, &times));
                }
            });
            if let Some(nonce) = nonce {
                w.next().write_tagged(Tag::context(1), |w| {
                    w.write_sequence_of(|w| {
                        w.next().write_sequence(|w| {
                            w.next()
                                .write_oid(&ObjectIdentifier::from_slice(OCSP_NONCE));
                            w.next().write_bytes(nonce);
                        })
                    })
                });
            }
        })
    });
    let signature = responder.key.sign(&tbs).map_err(CryptoError::SignOcsp)?;
    let basic = yasna::construct_der(|w| {
        w.write_sequence(|w| {
            w.next().write_der(&tbs);
            w.next().write_sequence(|w| {
                w.next().write_oid(&ObjectIdentifier::from_slice(sig_alg));
            });
            w.next().write_bitvec_bytes(&signature, signature.len() * 8);
            w.next().write_tagged(Tag::context(0), |w| {
                w.write_sequence_of(|w| w.next().write_der(responder.cert_der))
            });
        })
    });
    Ok(yasna::construct_der(|w| {
        w.write_sequence(|w| {
            w.next().write_enum(0);
            w.next().write_tagged(Tag::context(0), |w| {
                w.write_sequence(|w| {
                    w.next()
                        .write_oid(&ObjectIdentifier::from_slice(OCSP_BASIC));
                    w.next().write_bytes(&basic);
                })
            });
        })
    }))
}

/// A response carrying only an error status (no signature: RFC 6960 4.2.1).
pub fn error_response(status: ErrorStatus) -> Vec<u8> {
    yasna::construct_der(|w| w.write_sequence(|w| w.next().write_enum(status as i64)))
}

fn write_single(w: &mut yasna::DERWriterSeq<'_>, id: &CertId, status: Status, times: &Times) {
    w.next().write_der(&id.der);
    match status {
        Status::Good => w
            .next()
            .write_tagged_implicit(Tag::context(0), |w| w.write_null()),
        Status::Revoked { at, reason } => w.next().write_tagged_implicit(Tag::context(1), |w| {
            w.write_sequence(|w| {
                write_time(w.next(), at);
                w.next()
                    .write_tagged(Tag::context(0), |w| w.write_enum(i64::from(reason.code())));
            })
        }),
        Status::Unknown => w
            .next()
            .write_tagged_implicit(Tag::context(2), |w| w.write_null()),
    }
    write_time(w.next(), times.this_update);
    w.next()
        .write_tagged(Tag::context(0), |w| write_time(w, times.next_update));
}

/// GeneralizedTime in whole seconds (RFC 5280 4.1.2.5.2: no fractional seconds).
fn write_time(w: DERWriter<'_>, t: OffsetDateTime) {
    let t = t
        .to_offset(time::UtcOffset::UTC)
        .replace_nanosecond(0)
        .unwrap_or(t);
    w.write_generalized_time(&GeneralizedTime::from_datetime(t));
}

#[cfg(test)]
mod tests;
