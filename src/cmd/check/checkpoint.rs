//! `ca check`'s reading of the signed checkpoint (SPEC.md CHECK-CHECKPOINT): index.json,
//! audit.log, index.log, the counters, ca.crl, chain.pem and acme.json against what the CA key
//! signed.

use crate::hex;
use crate::model::audit;
use crate::pki::ca::CaCert;
use crate::pki::serial::Serial;
use crate::store::{self, AUDIT, CRL, CRLNUMBER, INDEX, INDEX_LOG, SERIAL, Session};

/// The signed checkpoint (SPEC.md CHECK-CHECKPOINT): its signature verifies with ca.crt's
/// key; audit.log's record of its generation ends at its `audit_len` and hashes to its
/// `audit_head`; index.log's first `log_len` bytes chain to its `log_head`; and it is the
/// checkpoint of the state found (every commit signs one). History is then exactly what the
/// CA key signed.
pub(super) fn check_checkpoint(
    session: &Session,
    cert: &CaCert,
    header: &crate::model::header::Header,
    audit: &[u8],
    (serial, crlnumber, crl): (Option<&Serial>, Option<&Serial>, Option<Option<String>>),
) -> Vec<(&'static str, String)> {
    let mut problems = Vec::new();
    let Some(cp) = &header.checkpoint else {
        return vec![(INDEX, "has no signed checkpoint".into())];
    };
    if let Err(e) = cp.verify(cert) {
        problems.push((INDEX, e.to_string()));
    }
    let g = cp.generation;
    if g != header.generation {
        problems.push((
            INDEX,
            format!(
                "its generation {} is not the signed checkpoint's ({g}): history was rewritten",
                header.generation
            ),
        ));
    }
    if let Some(p) = audit_problem(cp, audit) {
        problems.push((AUDIT, p));
    }
    if let Some(p) = log_problem(session, header, cp) {
        problems.push((INDEX_LOG, p));
    }
    for (file, found, signed) in [
        (SERIAL, serial, &cp.serial),
        (CRLNUMBER, crlnumber, &cp.crlnumber),
    ] {
        if found.map(Serial::to_string).as_ref() != Some(signed) {
            problems.push((
                file,
                format!(
                    "is not the counter the signed checkpoint records ({signed}): edited behind \
                     fileca's back"
                ),
            ));
        }
    }
    if crl.as_ref() != Some(&cp.crl_sha256) {
        problems.push((
            CRL,
            match &cp.crl_sha256 {
                Some(_) => "is not the CRL the signed checkpoint records (replaced by an older \
                            one, or removed)"
                    .into(),
                None => "exists, but the signed checkpoint records none".into(),
            },
        ));
    }
    // CHECKPOINT-CHAIN: chain.pem as signed (once recorded).
    if let Some(signed) = &cp.chain_sha256 {
        let found = session
            .read_optional(store::CHAIN)
            .ok()
            .flatten()
            .map(|b| hex::sha256(&b));
        if found.as_ref() != Some(signed) {
            problems.push((
                store::CHAIN,
                "is not the chain the signed checkpoint records (replaced or removed: the name \
                 constraints of the CAs above would no longer be applied)"
                    .into(),
            ));
        }
    }
    // ACME-STATE: acme.json as signed (absent while none is recorded).
    let acme = session
        .read_optional(store::ACME)
        .ok()
        .flatten()
        .map(|b| hex::sha256(&b));
    if acme != cp.acme_sha256 {
        problems.push((
            store::ACME,
            match &cp.acme_sha256 {
                Some(_) => "is not the ACME state the signed checkpoint records (edited, replaced \
                            or removed behind fileca's back)"
                    .into(),
                None => "exists, but the signed checkpoint records none".into(),
            },
        ));
    }
    if header.max_serial != cp.max_serial {
        problems.push((
            INDEX,
            format!(
                "max_serial is not the one the signed checkpoint records ({})",
                cp.max_serial.as_deref().unwrap_or("none")
            ),
        ));
    }
    problems
}

/// audit.log against the checkpoint: its record of the checkpoint's generation ends at
/// `audit_len` and hashes to `audit_head`, and nothing follows it.
fn audit_problem(cp: &crate::model::checkpoint::Checkpoint, audit: &[u8]) -> Option<String> {
    let g = cp.generation;
    let signed_audit = usize::try_from(cp.audit_len)
        .ok()
        .and_then(|n| audit.get(..n))
        .and_then(|a| a.strip_suffix(b"\n"))
        .map(|a| a.rsplit(|&b| b == b'\n').next().unwrap_or(a));
    let audit_ok = signed_audit.is_some_and(|line| {
        audit::line_hash(line) == cp.audit_head
            && serde_json::from_slice::<audit::Record>(line).is_ok_and(|r| r.generation == g)
    });
    if !audit_ok {
        Some(format!(
            "its record of generation {g} is not the one the signed checkpoint names \
             (records edited, removed or re-hashed)"
        ))
    } else if audit.len() as u64 != cp.audit_len {
        Some(format!(
            "holds {} bytes after the record the signed checkpoint ends with (generation {g})",
            audit.len() as u64 - cp.audit_len.min(audit.len() as u64)
        ))
    } else {
        None
    }
}

/// index.log against the checkpoint: its first `log_len` bytes chain to `log_head`, and
/// index.json covers no line the checkpoint does not.
fn log_problem(
    session: &Session,
    header: &crate::model::header::Header,
    cp: &crate::model::checkpoint::Checkpoint,
) -> Option<String> {
    let g = cp.generation;
    let chained = session
        .open_log()
        .and_then(|log| crate::model::log::log_head(&log, cp.log_len))
        .ok();
    if chained.as_ref() != Some(&cp.log_head) {
        Some(format!(
            "its first {} bytes are not the ones the signed checkpoint (generation {g}) \
             covers: lines were edited, removed or inserted",
            cp.log_len
        ))
    } else if header.log_len != cp.log_len || header.log_head != cp.log_head {
        Some(format!(
            "has lines the signed checkpoint (generation {g}) does not cover"
        ))
    } else {
        None
    }
}
