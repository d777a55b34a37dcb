//! `ca crl`: sign and publish a new CRL with the next CRL number (SPEC.md `CRL-*`).

use super::{AuditInfo, Context, Planned};
use crate::cli::CrlArgs;
use crate::error::{Error, Result};
use crate::index::{self, LogAppend, Revocation};
use crate::state::State;
use crate::store::{CRL, CRLNUMBER, FileWrite};

/// Runs `ca crl`.
pub fn run(args: &CrlArgs, ctx: &Context) -> Result<()> {
    let out = args.out.out.clone().map(|o| (o, args.out.force));
    super::mutate(ctx, &args.mutation, |state| {
        plan(state, args.days, ctx).and_then(|p| p.with_out(out))
    })
}

/// Validation phase: ca.crl, crlnumber and the index (its generation moves on).
pub fn plan(state: &State, days: u32, ctx: &Context) -> Result<Planned> {
    let revoked = index::revocations(&ctx.dir, &state.header)?;
    let (writes, pem, note) = crl_writes(state, &revoked, days, ctx)?;
    let plan = super::finish_plan(
        state,
        ctx,
        LogAppend::default(),
        writes,
        AuditInfo {
            operation: "crl",
            serials: Vec::new(),
            csr_sha256: None,
        },
    )?;
    Ok(Planned::new(plan, pem, vec![note]))
}

/// The new ca.crl (listing `revoked`) and crlnumber; also the PEM and a note.
pub fn crl_writes(
    state: &State,
    revoked: &[Revocation],
    days: u32,
    ctx: &Context,
) -> Result<(Vec<FileWrite>, String, String)> {
    state.ca.check_valid_at(ctx.now, &ctx.dir)?;
    let number = state.crlnumber.clone();
    let next = number
        .next()
        .ok_or_else(|| Error::refused("the CRL number is exhausted (20 octets)"))?;
    let pem = crate::crl::build(&state.ca, revoked, &number, ctx.now, days)?;
    let revoked = revoked.len();
    let note = format!(
        "CRL number {number} lists {revoked} revoked certificate(s); next update in {days} days"
    );
    Ok((
        vec![
            FileWrite::public(CRL, pem.clone()),
            FileWrite::public(CRLNUMBER, next.to_file()),
        ],
        pem,
        note,
    ))
}
