//! `ca revoke`: mark an issued certificate revoked in index.json, optionally publishing a new
//! CRL in the same commit (SPEC.md `REVOKE-*`).

use super::{AuditInfo, Context, Planned};
use crate::cli::{Reason, RevokeArgs};
use crate::error::{Error, Result};
use crate::index::{Index, Status};
use crate::serial::Serial;
use crate::state::State;
use crate::store::INDEX;

/// Runs `ca revoke`.
pub fn run(args: &RevokeArgs, ctx: &Context) -> Result<()> {
    let serial = parse_serial(&args.serial)?;
    let crl_days = args.crl.then_some(args.crl_days);
    super::mutate(ctx, &args.mutation, |state| {
        plan(state, &serial, args.reason, crl_days, ctx)
    })
}

/// Parses a serial typed by the user; never a path.
pub fn parse_serial(s: &str) -> Result<Serial> {
    Serial::parse_user(s).ok_or_else(|| {
        Error::refused(format!(
            "{s:?} is not a serial number (hex digits, optionally with colons)"
        ))
    })
}

/// Validation phase: the new index (and, with `crl_days`, the new CRL).
pub fn plan(
    state: &State,
    serial: &Serial,
    reason: Reason,
    crl_days: Option<u32>,
    ctx: &Context,
) -> Result<Planned> {
    let mut index = state.index.clone();
    let subject = mark_revoked(&mut index, serial, reason, ctx)?;
    let mut notes = vec![format!(
        "revoked {serial} ({subject}), reason {}",
        reason.name()
    )];
    let mut writes = Vec::new();
    let mut stdout = String::new();
    let operation = match crl_days {
        Some(days) => {
            let (crl, pem, note) = super::crl::crl_writes(state, &index, days, ctx)?;
            writes = crl;
            stdout = pem;
            notes.push(note);
            "revoke+crl"
        }
        None => {
            notes.push("run `ca crl` to publish it".into());
            "revoke"
        }
    };
    let plan = super::finish_plan(
        state,
        ctx,
        index,
        writes,
        AuditInfo {
            operation,
            serials: vec![serial.to_string()],
            csr_sha256: None,
        },
    );
    Ok(Planned::new(plan, stdout, notes))
}

/// Marks `serial` revoked in `index`; returns its subject. Refuses unknown and already revoked
/// serials and removeFromCRL.
pub fn mark_revoked(
    index: &mut Index,
    serial: &Serial,
    reason: Reason,
    ctx: &Context,
) -> Result<String> {
    if reason == Reason::RemoveFromCrl {
        return Err(Error::refused(
            "removeFromCRL is only meaningful in delta CRLs (RFC 5280 5.3.1), which fileca does \
             not issue; it cannot be a reason to revoke",
        ));
    }
    let i = index.find(serial).ok_or_else(|| {
        Error::refused(format!(
            "no certificate with serial {serial} in {}",
            ctx.dir.join(INDEX).display()
        ))
    })?;
    let entry = &mut index.certificates[i];
    if entry.status == Status::Revoked {
        return Err(Error::refused(format!(
            "certificate {serial} is already revoked (since {}, reason {})",
            entry.revoked_at.map(crate::clock::fmt).unwrap_or_default(),
            entry.revocation_reason.as_deref().unwrap_or("unspecified")
        )));
    }
    entry.status = Status::Revoked;
    entry.revoked_at = Some(ctx.now);
    entry.revocation_reason = Some(reason.name().to_string());
    Ok(entry.subject.clone())
}
