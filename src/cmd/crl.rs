//! `ca crl`: sign and publish a new CRL with the next CRL number (SPEC.md `CRL-*`).

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
    if let Some((path, _)) = &out
        && args.der
        && (path.as_os_str() == "-" || crate::render::is_stream(path))
    {
        return Err(crate::error::Error::Usage(
            "--der writes a file: give --out FILE (not a stream)".into(),
        ));
    }
    super::mutate(ctx, &args.mutation, |state, env| {
        let planned = plan(state, args.days, env)?;
        match (&out, args.der) {
            (Some((path, force)), true) => {
                let mut p = planned;
                p.plan.outputs = vec![p.output_der(path.clone(), crate::store::CRL, *force)?];
                Ok(p)
            }
            _ => planned.with_out(out),
        }
    })
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
