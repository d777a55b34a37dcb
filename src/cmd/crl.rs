//! `ca crl`: sign and publish a new CRL with the next CRL number (SPEC.md `CRL-*`).

use super::{Context, Planned};
use crate::cli::CrlArgs;
use crate::error::{Error, Result};
use crate::state::State;
use crate::store::{CRL, CRLNUMBER, FileWrite, INDEX, Plan};

/// Runs `ca crl`.
pub fn run(args: &CrlArgs, ctx: &Context) -> Result<()> {
    super::mutate(ctx, args.mutation.expect_generation, |state| {
        plan(state, args.days, ctx).map(|mut p| {
            p.out_file = args.out.out.clone().map(|o| (o, args.out.force));
            p
        })
    })
}

/// Validation phase: ca.crl, crlnumber and the index (its generation moves on).
pub fn plan(state: &State, days: u32, ctx: &Context) -> Result<Planned> {
    state.ca.check_valid_at(ctx.now, &ctx.dir)?;
    let number = state.crlnumber.clone();
    let next = number
        .next()
        .ok_or_else(|| Error::refused("the CRL number is exhausted (20 octets)"))?;
    let pem = crate::crl::build(&state.ca, &state.index, &number, ctx.now, days)?;
    let mut index = state.index.clone();
    let generation_before = index.generation;
    index.generation += 1;
    let revoked = index
        .certificates
        .iter()
        .filter(|e| e.status == crate::index::Status::Revoked)
        .count();
    Ok(Planned {
        plan: Plan {
            operation: "crl",
            generation_before,
            generation_after: index.generation,
            writes: vec![
                FileWrite::public(CRL, pem.clone()),
                FileWrite::public(CRLNUMBER, next.to_file()),
                FileWrite::public(INDEX, index.to_bytes()),
            ],
        },
        stdout: pem.clone(),
        out_file: None,
        out_bytes: pem.into_bytes(),
        notes: vec![format!(
            "CRL number {number} lists {revoked} revoked certificate(s); next update in {days} days"
        )],
    })
}
