//! `ca revoke`: record a revocation in index.log, optionally publishing a new
//! CRL in the same commit (SPEC.md `REVOKE-*`).

use super::{AuditInfo, Context, Planned};
use crate::cli::{Reason, RevokeArgs};
use crate::error::{Error, Result};
use crate::index::{self, LogAppend, Status};
use crate::serial::Serial;
use crate::state::State;
use crate::store::INDEX_LOG;

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
    let mut log = LogAppend::default();
    let subject = mark_revoked(state, &mut log, serial, reason, ctx)?;
    let mut notes = vec![format!(
        "revoked {serial} ({}), reason {}",
        crate::render::escape(&subject),
        reason.name()
    )];
    let mut writes = Vec::new();
    let mut stdout = String::new();
    let operation = match crl_days {
        Some(days) => {
            let mut revoked = index::revocations(&ctx.dir, &state.header)?;
            revoked.push(index::Revocation {
                revoked: serial.to_string(),
                at: ctx.now,
                reason: reason.name().to_string(),
            });
            let (crl, pem, note) = super::crl::crl_writes(state, &revoked, days, ctx)?;
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
        log,
        writes,
        AuditInfo {
            operation,
            serials: vec![serial.to_string()],
            csr_sha256: None,
        },
    )?;
    Ok(Planned::new(plan, stdout, notes))
}

/// Records the revocation of `serial` in `log`; returns its subject. Refuses unknown and
/// already revoked serials and removeFromCRL.
pub fn mark_revoked(
    state: &State,
    log: &mut LogAppend,
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
    let entry = index::find(&ctx.dir, &state.header, serial)?.ok_or_else(|| {
        Error::refused(format!(
            "no certificate with serial {serial} in {}",
            ctx.dir.join(INDEX_LOG).display()
        ))
    })?;
    if entry.status == Status::Revoked {
        return Err(Error::refused(format!(
            "certificate {serial} is already revoked (since {}, reason {})",
            entry.revoked_at.map(crate::clock::fmt).unwrap_or_default(),
            entry.revocation_reason.as_deref().unwrap_or("unspecified")
        )));
    }
    log.revoked(serial, ctx.now, reason.name());
    Ok(entry.subject)
}
