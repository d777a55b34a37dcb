//! The CRL: signing one from the revocations the index lists, and reading ca.crl back
//! (SPEC.md `CRL-*`). Pure.

use rcgen::{CertificateRevocationListParams, KeyIdMethod, RevokedCertParams};
use time::OffsetDateTime;

use crate::pki::CryptoError;
use crate::pki::ca::Ca;
use crate::pki::reason::Reason;
use crate::pki::serial::Serial;

/// One revoked certificate, as a CRL lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub serial: Serial,
    pub at: OffsetDateTime,
    pub reason: Reason,
}

/// Signs a CRL numbered `number` listing every revocation in `revoked`.
/// The reason code is omitted for `unspecified`, as RFC 5280 5.3.1 recommends.
pub fn build(
    ca: &Ca,
    revoked: &[Listed],
    number: &Serial,
    now: OffsetDateTime,
    next_update: OffsetDateTime,
) -> Result<String, CryptoError> {
    let mut list = Vec::with_capacity(revoked.len());
    for r in revoked {
        let reason = Some(r.reason).filter(|r| *r != Reason::Unspecified);
        list.push(RevokedCertParams {
            serial_number: rcgen::SerialNumber::from_slice(r.serial.as_bytes()),
            revocation_time: r.at,
            reason_code: reason.map(Reason::to_rcgen),
            invalidity_date: None,
        });
    }
    let params = CertificateRevocationListParams {
        this_update: now,
        next_update,
        crl_number: rcgen::SerialNumber::from_slice(number.as_bytes()),
        issuing_distribution_point: None,
        revoked_certs: list,
        key_identifier_method: KeyIdMethod::PreSpecified(ca.cert.key_id.clone()),
    };
    let crl = params
        .signed_by(&ca.issuer()?)
        .map_err(CryptoError::SignCrl)?;
    crl.pem().map_err(CryptoError::EncodeCrl)
}

/// Why ca.crl cannot be read. The caller names the file.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CrlError {
    #[error("{0}")]
    Pem(#[from] crate::pki::pem::PemError),
    #[error("not a valid CRL: {0}")]
    Invalid(x509_parser::nom::Err<x509_parser::error::X509Error>),
}

/// What fileca reads back from a CRL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    /// The cRLNumber extension, if present.
    pub number: Option<Serial>,
    pub this_update: OffsetDateTime,
    pub next_update: Option<OffsetDateTime>,
    /// The serials it lists.
    pub listed: Vec<Serial>,
    /// What it says of each: the revocation time and reason (no reasonCode: unspecified;
    /// a code RFC 5280 does not define: `None`).
    pub entries: Vec<(Serial, OffsetDateTime, Option<Reason>)>,
    /// Does `ca`'s key verify its signature (`None` without a CA to check against)?
    pub verified: Option<bool>,
}

/// Reads a CRL (one PEM block or DER, at most `max` bytes) and checks its signature against
/// `ca` when one is given.
pub fn parse(
    bytes: &[u8],
    max: usize,
    ca: Option<&crate::pki::ca::CaCert>,
) -> Result<Parsed, CrlError> {
    use x509_parser::prelude::FromDer;
    let der = crate::pki::pem::decode_one(bytes, &["X509 CRL"], max)?;
    let (_, crl) = x509_parser::revocation_list::CertificateRevocationList::from_der(&der)
        .map_err(CrlError::Invalid)?;
    let verified = ca.map(|ca| {
        x509_parser::x509::SubjectPublicKeyInfo::from_der(&ca.spki_der)
            .is_ok_and(|(_, spki)| crl.verify_signature(&spki).is_ok())
    });
    Ok(Parsed {
        number: crl
            .crl_number()
            .map(|n| Serial::from_magnitude(&n.to_bytes_be())),
        this_update: crl.last_update().to_datetime(),
        next_update: crl.next_update().map(|t| t.to_datetime()),
        listed: crl
            .iter_revoked_certificates()
            .map(|r| Serial::from_magnitude(r.raw_serial()))
            .collect(),
        entries: crl
            .iter_revoked_certificates()
            .map(|r| {
                let reason = match r.reason_code() {
                    None => Some(Reason::Unspecified),
                    Some((_, code)) => Reason::from_code(code.0),
                };
                (
                    Serial::from_magnitude(r.raw_serial()),
                    r.revocation_date.to_datetime(),
                    reason,
                )
            })
            .collect(),
        verified,
    })
}
