//! The new CRL of a plan (`crl`, `revoke --crl`): ca.crl and the advanced crlnumber.

use super::Refusal;
use crate::Env;
use crate::error::{Error, Result};
use crate::model::layout::{CERT, CRL, CRLNUMBER};
use crate::model::log::Revocation;
use crate::model::plan::FileWrite;
use crate::model::snapshot::{Snapshot, check_valid};
use crate::pki::reason::Reason;
use crate::pki::serial::Serial;

/// The new ca.crl (listing `revoked`) and crlnumber; also the PEM and a note.
pub fn crl_writes(
    state: &Snapshot,
    revoked: &[Revocation],
    days: u32,
    env: &Env,
) -> Result<(Vec<FileWrite>, String, String)> {
    check_valid(&state.ca.cert, env.now, &state.dir.join(CERT))?;
    let number = state.crlnumber.clone();
    let next = number
        .next()
        .ok_or(Error::Refusal(Refusal::CrlNumbersExhausted))?;
    let listed = revoked
        .iter()
        .map(|r| {
            Ok(crate::pki::crl::Listed {
                serial: Serial::parse_canonical(&r.revoked).ok_or_else(|| {
                    Error::bug("a recorded revocation whose serial does not parse")
                })?,
                at: r.at,
                reason: Reason::from_name(&r.reason).ok_or_else(|| {
                    Error::bug("a recorded revocation whose reason is not one fileca writes")
                })?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    // A CRL never claims to be current past the CA certificate that signs it (CRL-CLAMP), as
    // a leaf's notAfter never outlives the CA.
    let wanted = env.now + time::Duration::days(i64::from(days));
    let next_update = wanted.min(state.ca.cert.not_after);
    let pem = crate::pki::crl::build(&state.ca, &listed, &number, env.now, next_update)?;
    let revoked = revoked.len();
    let note = if next_update < wanted {
        format!(
            "CRL number {number} lists {revoked} revoked certificate(s); nextUpdate clamped to \
             the CA certificate's notAfter {}",
            crate::clock::fmt(next_update)
        )
    } else {
        format!(
            "CRL number {number} lists {revoked} revoked certificate(s); next update in {days} days"
        )
    };
    Ok((
        vec![
            FileWrite::public(CRL, pem.clone()),
            FileWrite::public(CRLNUMBER, next.to_file()),
        ],
        pem,
        note,
    ))
}
