//! `ca revoke`: mark an issued certificate revoked in index.json (SPEC.md `REVOKE-*`).

use super::{Context, Planned};
use crate::cli::{Reason, RevokeArgs};
use crate::error::{Error, Result};
use crate::index::Status;
use crate::serial::Serial;
use crate::state::State;
use crate::store::{FileWrite, INDEX, Plan};

/// Runs `ca revoke`.
pub fn run(args: &RevokeArgs, ctx: &Context) -> Result<()> {
    let serial = Serial::parse_user(&args.serial).ok_or_else(|| {
        Error::refused(format!(
            "{:?} is not a serial number (hex digits, optionally with colons)",
            args.serial
        ))
    })?;
    super::mutate(ctx, args.mutation.expect_generation, |state| {
        plan(state, &serial, args.reason, ctx)
    })
}

/// Validation phase: the new index.
pub fn plan(state: &State, serial: &Serial, reason: Reason, ctx: &Context) -> Result<Planned> {
    if reason == Reason::RemoveFromCrl {
        return Err(Error::refused(
            "removeFromCRL is only meaningful in delta CRLs (RFC 5280 5.3.1), which fileca does \
             not issue; it cannot be a reason to revoke",
        ));
    }
    let mut index = state.index.clone();
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
    let subject = entry.subject.clone();
    let generation_before = index.generation;
    index.generation += 1;
    Ok(Planned {
        plan: Plan {
            operation: "revoke",
            generation_before,
            generation_after: index.generation,
            writes: vec![FileWrite::public(INDEX, index.to_bytes())],
        },
        stdout: String::new(),
        out_file: None,
        out_bytes: Vec::new(),
        notes: vec![format!(
            "revoked {serial} ({subject}), reason {}; run `ca crl` to publish it",
            reason.name()
        )],
    })
}
