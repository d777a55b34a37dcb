//! revokeCert (RFC 8555 7.6, SPEC.md ACME-REVOKE): a certificate this CA issued is revoked
//! when the request is signed by the account that ordered it (`kid`) or by the certificate's
//! own key (`jwk`). The revocation is the same journaled commit as `ca revoke` — index.log's
//! revoked line, planned by the same [`mark_revoked`] under the exclusive lock — audited as
//! `acme-revoke` with the account, so OCSP and the next CRL say it like any revocation.

use serde::Deserialize;

use super::Acme;
use super::handlers::{Reply, account_id};
use super::ops::{self, Change};
use crate::acme::jws::{Parsed, Signer};
use crate::acme::problem::{Kind, Problem, problem};
use crate::error::Error;
use crate::model::change::{Refusal, mark_revoked};
use crate::model::log::LogAppend;
use crate::pki::reason::Reason;
use crate::pki::serial::Serial;
use crate::store::Reads;

/// What a revokeCert request asks.
#[derive(Deserialize)]
struct Ask {
    certificate: String,
    #[serde(default)]
    reason: Option<i64>,
}

/// Who asked: an account (which must have ordered the certificate) or the certificate's key.
enum By {
    Account(String),
    Key,
}

/// revokeCert: 200 and an empty body once the revocation is committed.
pub fn revoke_cert(acme: &Acme, base: &str, url: &str, parsed: &Parsed) -> Result<Reply, Problem> {
    let ask: Ask = parsed.json()?;
    let der = crate::acme::b64url_decode(&ask.certificate).ok_or_else(|| {
        problem(
            Kind::Malformed,
            "certificate must be the base64url DER of a certificate",
        )
    })?;
    let reason = reason_of(ask.reason)?;
    let cert = crate::pki::pem::certificate(&der)
        .map_err(|_| problem(Kind::Malformed, "certificate is not a DER certificate"))?;
    let serial = Serial::from_magnitude(cert.raw_serial());
    let by = match &parsed.signer {
        Signer::Kid(kid) => {
            let account = account_id(base, kid)?;
            let jwk = ops::read(acme, |_, s| s.account(&account).map(|a| a.jwk.clone()))?;
            parsed.verify(url, &jwk)?;
            By::Account(account)
        }
        Signer::Jwk(jwk) => {
            parsed.verify(url, jwk)?;
            if !jwk.is_key_of(cert.public_key()) {
                return Err(problem(
                    Kind::Unauthorized,
                    "a revocation signed with a jwk must be signed by the certificate's key",
                ));
            }
            By::Key
        }
    };
    let sha256 = crate::hex::sha256(&der);
    let shown = serial.to_string();
    ops::transact_reading(
        acme,
        Reads::SIGN_WITH_LOG,
        Box::new(move |snapshot, state, env| {
            match snapshot.find(&serial).map_err(ops::internal)? {
                Some(e) if e.sha256 == sha256 => {}
                _ => {
                    return Err(problem(
                        Kind::Malformed,
                        "this CA's index.log does not record this certificate",
                    ));
                }
            }
            let text = serial.to_string();
            let ordered_by = state
                .orders
                .values()
                .find(|o| o.certificate.as_deref() == Some(text.as_str()))
                .map(|o| o.account.clone());
            let account = match (by, ordered_by) {
                (By::Account(a), Some(o)) if a == o => o,
                (By::Account(_), _) => {
                    return Err(problem(
                        Kind::Unauthorized,
                        "this account did not order this certificate: sign the request with \
                         the certificate's key instead",
                    ));
                }
                (By::Key, o) => o.unwrap_or_default(),
            };
            let mut log = LogAppend::default();
            let mut notes = Vec::new();
            mark_revoked(snapshot, &mut log, (&serial, reason), env, &mut notes).map_err(|e| {
                match e {
                    Error::Refusal(
                        r @ (Refusal::AlreadyRevoked { .. } | Refusal::AlreadyHeld { .. }),
                    ) => problem(Kind::AlreadyRevoked, r.reason()),
                    e => ops::internal(e),
                }
            })?;
            let change = Change {
                log,
                serials: vec![text],
                ..Change::of("acme-revoke", &account)
            };
            Ok(((), Some(change)))
        }),
    )?;
    crate::term::warn(&format!(
        "serve: acme: revoked {shown} ({})",
        reason.typed()
    ));
    Ok(Reply {
        status: 200,
        headers: Vec::new(),
        body: Vec::new(),
    })
}

/// The reason of a CRLReason code (absent: unspecified); removeFromCRL and codes RFC 5280
/// does not define are `badRevocationReason`.
fn reason_of(code: Option<i64>) -> Result<Reason, Problem> {
    let Some(code) = code else {
        return Ok(Reason::Unspecified);
    };
    match u8::try_from(code).ok().and_then(Reason::from_code) {
        Some(Reason::RemoveFromCrl) => Err(problem(
            Kind::BadRevocationReason,
            "removeFromCRL (8) is not a reason to revoke",
        )),
        Some(r) => Ok(r),
        None => Err(problem(
            Kind::BadRevocationReason,
            format!("{code} is not an RFC 5280 CRLReason code (0-6, 9, 10)"),
        )),
    }
}
