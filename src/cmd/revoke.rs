//! `ca revoke`: record a revocation in index.log, optionally publishing a new
//! CRL in the same commit (SPEC.md `REVOKE-*`).

use super::{AuditInfo, Context, Planned};
use crate::Env;
use crate::cli::RevokeArgs;
use crate::error::Result;
use crate::model::change::{crl_writes, mark_revoked};
use crate::model::log::LogAppend;
use crate::model::snapshot::State;
use crate::pki::reason::Reason;
use crate::pki::serial::Serial;
use crate::render::Note;

/// What `ca revoke` is asked to do.
pub struct Revoke {
    pub serial: Serial,
    pub reason: Reason,
    /// `--crl`: publish a CRL valid this many days in the same commit.
    pub crl_days: Option<u32>,
}

/// Runs `ca revoke`.
pub fn run(args: &RevokeArgs, ctx: &Context) -> Result<()> {
    let request = Revoke {
        serial: crate::cli::serial(&args.serial)?,
        reason: args.reason,
        crl_days: args.crl.then_some(args.crl_days),
    };
    super::mutate(ctx, &args.mutation, |state| plan(state, &request, &ctx.env))
}

/// Validation phase: the new index (and, with `crl_days`, the new CRL).
pub fn plan(state: &State, request: &Revoke, env: &Env) -> Result<Planned> {
    let Revoke {
        serial,
        reason,
        crl_days,
    } = request;
    let (reason, crl_days) = (*reason, *crl_days);
    let mut log = LogAppend::default();
    let subject = mark_revoked(state, &mut log, serial, reason, env)?;
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
                at: env.now,
                reason: reason.name().to_string(),
            });
            let (crl, pem, note) = crl_writes(state, &revoked, days, env)?;
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
        env,
        log,
        writes,
        AuditInfo::of(operation, vec![serial.to_string()]),
    )?;
    Ok(Planned::new(plan, stdout, notes))
}
