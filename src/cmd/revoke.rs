//! `ca revoke`: record a revocation in index.log, optionally publishing a new
//! CRL in the same commit (SPEC.md `REVOKE-*`).

use super::{AuditInfo, Context, Planned};
use crate::cli::RevokeArgs;
use crate::error::Result;
use crate::model::change::{crl_writes, mark_revoked};
use crate::model::log::LogAppend;
use crate::model::snapshot::State;
use crate::pki::reason::Reason;
use crate::pki::serial::Serial;
use crate::render::Note;

/// Runs `ca revoke`.
pub fn run(args: &RevokeArgs, ctx: &Context) -> Result<()> {
    let serial = crate::cli::serial(&args.serial)?;
    let crl_days = args.crl.then_some(args.crl_days);
    super::mutate(ctx, &args.mutation, |state| {
        plan(state, &serial, args.reason, crl_days, ctx)
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
    let subject = mark_revoked(state, &mut log, serial, reason, &ctx.env)?;
    let mut notes = vec![Note::act(
        "revoked",
        "would revoke",
        &format!(
            "{serial} ({}), reason {}",
            crate::render::escape(&subject),
            reason.name()
        ),
    )];
    let mut writes = Vec::new();
    let mut stdout = String::new();
    let operation = match crl_days {
        Some(days) => {
            let mut revoked = state.revocations()?;
            revoked.push(crate::model::log::Revocation {
                revoked: serial.to_string(),
                at: ctx.env.now,
                reason: reason.name().to_string(),
            });
            let (crl, pem, note) = crl_writes(state, &revoked, days, &ctx.env)?;
            writes = crl;
            stdout = pem;
            notes.push(Note::text(note));
            "revoke+crl"
        }
        None => {
            notes.push(Note::text("run `ca crl` to publish it"));
            "revoke"
        }
    };
    let plan = super::finish_plan(
        state,
        &ctx.env,
        log,
        writes,
        AuditInfo::of(operation, vec![serial.to_string()]),
    )?;
    Ok(Planned::new(plan, stdout, notes))
}
