//! The delegated OCSP responder of a CA (SPEC.md OCSP-RESPONDER): `ocsp.key` and `ocsp.crt`
//! in the state directory, written by `ca ocsp-responder renew`, read by `ca ocsp`, `ca serve`
//! and `ca check`.
//!
//! Invariant: an OCSP response is signed only with a key whose certificate is one this CA
//! issued and recorded in index.log (byte for byte), with the OCSPSigning extended key usage,
//! not revoked, and whose public key is the key's — a pair planted or swapped behind fileca's
//! back is refused here, before anything is signed with it. Pure: bytes in, values out.

use rcgen::{KeyPair, PublicKeyData};
use time::OffsetDateTime;
use x509_parser::extensions::ParsedExtension;

use crate::error::{Error, Result};
use crate::model::layout::{OCSP_CERT, OCSP_KEY};
use crate::model::snapshot::Snapshot;
use crate::pki::serial::Serial;

pub use crate::error::model::ResponderError;

/// A responder fit to sign: its key, its certificate and when the certificate expires.
pub struct Responder {
    pub key: KeyPair,
    pub cert_der: Vec<u8>,
    pub serial: Serial,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
}

/// Is the responder certificate in the last third of its validity at `now` (SPEC.md
/// OCSP-RESPONDER: `ca status`, `ca ocsp` and `ca serve` warn)?
pub fn in_last_third(responder: &Responder, now: OffsetDateTime) -> bool {
    let life = responder.not_after - responder.not_before;
    now >= responder.not_after - life / 3
}

/// Checks ocsp.key (`key` with its permission bits) and ocsp.crt against the verified
/// `state` (index.log opened or in memory). `Ok(None)`: the CA has no responder.
pub fn load(
    state: &Snapshot,
    key: Option<(&[u8], u32)>,
    cert: Option<&[u8]>,
) -> Result<Option<Responder>> {
    let dir = &state.dir;
    let (key, mode, cert) = match (key, cert) {
        (None, None) => return Ok(None),
        (Some(_), None) => return Err(Error::state(dir.join(OCSP_CERT), ResponderError::Half)),
        (None, Some(_)) => return Err(Error::state(dir.join(OCSP_KEY), ResponderError::Half)),
        (Some((k, mode)), Some(c)) => (k, mode, c),
    };
    let fail = |file: &str, e: ResponderError| Err(Error::state(dir.join(file), e));
    if mode & 0o037 != 0 {
        return fail(OCSP_KEY, ResponderError::InsecureKey(mode & 0o777));
    }
    let key = match std::str::from_utf8(key)
        .ok()
        .and_then(|t| crate::pki::keys::key_pair(t).ok())
    {
        Some(k) => k,
        None => return fail(OCSP_KEY, ResponderError::Key),
    };
    let Ok(der) =
        crate::pki::pem::decode_one(cert, &["CERTIFICATE"], crate::pki::pem::MAX_PEM_BYTES)
    else {
        return fail(OCSP_CERT, ResponderError::Cert);
    };
    let Ok(parsed) = crate::pki::pem::certificate(&der) else {
        return fail(OCSP_CERT, ResponderError::Cert);
    };
    if parsed.public_key().subject_public_key.data.as_ref() != key.der_bytes() {
        return fail(OCSP_CERT, ResponderError::KeyMismatch);
    }
    if !state.ca.cert.issued(&parsed) {
        return fail(OCSP_CERT, ResponderError::NotIssued);
    }
    let ocsp_signing = parsed.extensions().iter().any(|e| {
        matches!(e.parsed_extension(), ParsedExtension::ExtendedKeyUsage(eku) if eku.ocsp_signing)
    });
    if !ocsp_signing {
        return fail(OCSP_CERT, ResponderError::NotOcspSigning);
    }
    let serial = Serial::from_magnitude(parsed.raw_serial());
    match state.find(&serial)? {
        Some(e) if e.sha256 == crate::hex::sha256(&der) => {
            if e.revoked.is_some() {
                return fail(OCSP_CERT, ResponderError::Revoked(serial));
            }
        }
        _ => return fail(OCSP_CERT, ResponderError::NotRecorded(serial)),
    }
    let not_after = parsed.validity().not_after.to_datetime();
    let not_before = parsed.validity().not_before.to_datetime();
    Ok(Some(Responder {
        key,
        cert_der: der,
        serial,
        not_before,
        not_after,
    }))
}

/// What an OCSP response says of a recorded certificate: revoked (time and reason) as
/// index.log records it, else good — expired certificates included (RFC 6960 2.2: `good`
/// says only that it is not revoked). A serial index.log does not record is `unknown`.
pub fn status_of(entry: &crate::model::log::Entry) -> crate::pki::ocsp::Status {
    match entry.revoked {
        Some(r) => crate::pki::ocsp::Status::Revoked {
            at: r.at,
            reason: r.reason,
        },
        None => crate::pki::ocsp::Status::Good,
    }
}

/// The times of an answer from a snapshot last confirmed to be the newest state at
/// `confirmed_at` (SERVE-RELOAD): thisUpdate is that time, not now, so a newer state that
/// cannot be served freezes it; `None` once that is older than `validity` (the answer is then
/// tryLater, never a fresh "good" from a superseded state).
pub fn times_confirmed(
    responder: &Responder,
    confirmed_at: OffsetDateTime,
    now: OffsetDateTime,
    validity: time::Duration,
) -> Option<crate::pki::ocsp::Times> {
    let mut times = times(responder, confirmed_at.min(now), validity);
    times.produced_at = now;
    (times.next_update > now).then_some(times)
}

/// The times of responses signed at `now` to be valid `validity` long, never past the
/// responder certificate's notAfter (a client refuses a response whose signer has expired).
pub fn times(
    responder: &Responder,
    now: OffsetDateTime,
    validity: time::Duration,
) -> crate::pki::ocsp::Times {
    crate::pki::ocsp::Times {
        produced_at: now,
        this_update: now,
        next_update: (now + validity).min(responder.not_after),
    }
}
