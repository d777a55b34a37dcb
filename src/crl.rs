//! Building the CRL from the index (SPEC.md `CRL-*`).

use rcgen::{CertificateRevocationListParams, KeyIdMethod, RevokedCertParams};
use time::{Duration, OffsetDateTime};

use crate::ca::Ca;
use crate::cli::Reason;
use crate::error::{Error, Result};
use crate::index::{Index, Status};
use crate::serial::Serial;

/// Signs a CRL numbered `number` listing every revoked certificate in `index`.
/// The reason code is omitted for `unspecified`, as RFC 5280 5.3.1 recommends.
pub fn build(
    ca: &Ca,
    index: &Index,
    number: &Serial,
    now: OffsetDateTime,
    days: u32,
) -> Result<String> {
    let mut revoked = Vec::new();
    for e in index
        .certificates
        .iter()
        .filter(|e| e.status == Status::Revoked)
    {
        let serial = Serial::parse_canonical(&e.serial)
            .ok_or_else(|| Error::Internal(format!("bad serial {}", e.serial)))?;
        let reason = e
            .revocation_reason
            .as_deref()
            .and_then(Reason::from_name)
            .filter(|r| *r != Reason::Unspecified);
        revoked.push(RevokedCertParams {
            serial_number: rcgen::SerialNumber::from_slice(serial.as_bytes()),
            revocation_time: e.revoked_at.unwrap_or(now),
            reason_code: reason.map(Reason::to_rcgen),
            invalidity_date: None,
        });
    }
    let params = CertificateRevocationListParams {
        this_update: now,
        next_update: now + Duration::days(i64::from(days)),
        crl_number: rcgen::SerialNumber::from_slice(number.as_bytes()),
        issuing_distribution_point: None,
        revoked_certs: revoked,
        key_identifier_method: KeyIdMethod::PreSpecified(ca.cert.key_id.clone()),
    };
    let crl = params
        .signed_by(&ca.issuer()?)
        .map_err(|e| Error::Internal(format!("signing the CRL: {e}")))?;
    crl.pem()
        .map_err(|e| Error::Internal(format!("encoding the CRL: {e}")))
}
