//! `ca crl`: sign and publish a new CRL with the next CRL number (SPEC.md `CRL-*`).

use std::path::PathBuf;

use super::{AuditInfo, Context, Planned};
use crate::Env;
use crate::cli::CrlArgs;
use crate::error::Result;
use crate::model::change::crl_writes;
use crate::model::log::LogAppend;
use crate::model::snapshot::Snapshot;

/// Runs `ca crl`.
pub fn run(args: &CrlArgs, ctx: &Context) -> Result<()> {
    let out = super::Out::open(args.out.out.clone().map(|o| (o, args.out.force)))?;
    // DER on stdout or a stream (CRL-DER), as `show --ca --der`: never to a terminal, refused
    // before the lock and the key.
    let terminal = match &out {
        super::Out::Stdout => crate::term::stdout_is_terminal(),
        super::Out::Stream(_, stream) => stream.is_terminal(),
        super::Out::File { .. } => false,
    };
    if args.der && terminal {
        return Err(der_to_terminal());
    }
    super::mutate(
        ctx,
        &args.mutation,
        crate::store::Reads::SIGN_WITH_LOG,
        |state, env| {
            let planned = plan(state, args.days, env)?;
            if let (super::Out::File { path, force }, true) = (&out, args.der) {
                let mut p = planned;
                p.plan.outputs = vec![p.output_der(path.clone(), crate::store::CRL, *force)?];
                return Ok(p);
            }
            let mut p = planned.with_out(out)?;
            if args.der {
                p.binary = Some(
                    p.output_der(PathBuf::new(), crate::store::CRL, false)?
                        .bytes,
                );
            }
            Ok(p)
        },
    )
}

/// `--der` to a terminal: a usage error (exit 2), as `show --der`.
fn der_to_terminal() -> crate::error::Error {
    crate::error::Error::Usage(
        "--der writes binary DER: give --out FILE or redirect it (ca crl --der > FILE.crl)".into(),
    )
}

/// Validation phase: ca.crl, crlnumber and the index (its generation moves on).
pub fn plan(state: &Snapshot, days: u32, env: &Env) -> Result<Planned> {
    let revoked = state.revocations()?;
    let (writes, pem, note) = crl_writes(state, &revoked, days, env)?;
    let plan = super::finish_plan(
        state,
        env,
        LogAppend::default(),
        writes,
        AuditInfo::of("crl", Vec::new()),
    )?;
    Ok(Planned::new(plan, pem, vec![crate::term::Note::Text(note)]))
}
