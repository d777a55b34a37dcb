//! `ca crl`: sign and publish a new CRL with the next CRL number (SPEC.md `CRL-*`).

use std::path::PathBuf;

use super::{AuditInfo, Context, Planned};
use crate::Env;
use crate::cli::CrlArgs;
use crate::error::Result;
use crate::model::change::crl_writes;
use crate::model::log::LogAppend;
use crate::model::snapshot::State;

/// Runs `ca crl`.
pub fn run(args: &CrlArgs, ctx: &Context) -> Result<()> {
    let out = args.out.out.clone().map(|o| (o, args.out.force));
    if let Some((path, force)) = &out {
        crate::store::output::precheck(path, *force)?;
    }
    // DER on stdout (CRL-DER), as `show --ca --der`: never to a terminal, refused before the
    // lock and the key (a stream `--out` is judged once opened, below).
    let to_stdout = out.as_ref().is_none_or(|(p, _)| p.as_os_str() == "-");
    if args.der && to_stdout && crate::render::stdout_is_terminal() {
        return Err(der_to_terminal());
    }
    super::mutate(ctx, &args.mutation, |state, env| {
        let planned = plan(state, args.days, env)?;
        match (&out, args.der) {
            (Some((path, force)), true)
                if path.as_os_str() != "-" && !crate::render::is_stream(path) =>
            {
                let mut p = planned;
                p.plan.outputs = vec![p.output_der(path.clone(), crate::store::CRL, *force)?];
                Ok(p)
            }
            (_, true) => {
                // DER to stdout or a stream (CRL-DER): never a terminal.
                let mut p = planned.with_out(out.clone())?;
                let terminal = match &p.stream {
                    Some((_, stream)) => stream.is_terminal(),
                    None => crate::render::stdout_is_terminal(),
                };
                if terminal {
                    return Err(der_to_terminal());
                }
                let der = p
                    .output_der(PathBuf::new(), crate::store::CRL, false)?
                    .bytes;
                p.binary = Some(der);
                Ok(p)
            }
            _ => planned.with_out(out),
        }
    })
}

/// `--der` to a terminal: a usage error (exit 2), as `show --der`.
fn der_to_terminal() -> crate::error::Error {
    crate::error::Error::Usage(
        "--der writes binary DER: give --out FILE or redirect it (ca crl --der > FILE.crl)".into(),
    )
}

/// Validation phase: ca.crl, crlnumber and the index (its generation moves on).
pub fn plan(state: &State, days: u32, env: &Env) -> Result<Planned> {
    let revoked = state.revocations()?;
    let (writes, pem, note) = crl_writes(state, &revoked, days, env)?;
    let plan = super::finish_plan(
        state,
        env,
        LogAppend::default(),
        writes,
        AuditInfo::of("crl", Vec::new()),
    )?;
    Ok(Planned::new(
        plan,
        pem,
        vec![crate::render::Note::Text(note)],
    ))
}
