//! Building the CRL from the index (SPEC.md `CRL-*`).

use rcgen::{CertificateRevocationListParams, KeyIdMethod, RevokedCertParams};
use time::{Duration, OffsetDateTime};

use crate::error::{Error, Result};
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
    days: u32,
) -> Result<String> {
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
        next_update: now + Duration::days(i64::from(days)),
        crl_number: rcgen::SerialNumber::from_slice(number.as_bytes()),
        issuing_distribution_point: None,
        revoked_certs: list,
        key_identifier_method: KeyIdMethod::PreSpecified(ca.cert.key_id.clone()),
    };
    let crl = params
        .signed_by(&ca.issuer()?)
        .map_err(|e| Error::Internal(format!("signing the CRL: {e}")))?;
    crl.pem()
        .map_err(|e| Error::Internal(format!("encoding the CRL: {e}")))
}
