//! `ca revoke`: record a revocation in index.log, optionally publishing a new
//! CRL in the same commit (SPEC.md `REVOKE-*`).

use super::{AuditInfo, Context, Planned};
use crate::Env;
use crate::cli::RevokeArgs;
use std::path::PathBuf;

use crate::error::Result;
use crate::model::change::{crl_writes, mark_revoked};
use crate::model::log::LogAppend;
use crate::model::log::Revocation;
use crate::model::log::Typed;
use crate::model::snapshot::Snapshot;
use crate::pki::reason::Reason;
use crate::pki::serial::Serial;
use crate::term::Note;

/// Which certificate to revoke.
pub enum Target {
    /// A serial as typed (exact, or a unique tail).
    Typed(Typed),
    /// `--cert FILE`: the certificate itself (its DER), which must be the recorded one.
    Cert { path: PathBuf, der: Vec<u8> },
}

/// What `ca revoke` is asked to do.
pub struct Revoke {
    pub target: Target,
    pub reason: Reason,
    /// `--crl`: publish a CRL valid this many days in the same commit.
    pub crl_days: Option<u32>,
}

/// Runs `ca revoke`.
pub fn run(args: &RevokeArgs, ctx: &Context) -> Result<()> {
    let target = match (&args.serial, &args.cert) {
        (_, Some(path)) => Target::Cert {
            path: path.clone(),
            der: crate::input::read_certificate(path)?,
        },
        (Some(s), None) => Target::Typed(crate::cli::serial(s)?),
        (None, None) => return Err(crate::error::Refused::RevokeTarget.into()),
    };
    let request = Revoke {
        target,
        reason: args.reason,
        crl_days: args.publish.days(),
    };
    super::mutate(
        ctx,
        &args.mutation,
        crate::store::Reads::SIGN_WITH_LOG,
        |state, env| plan(state, &request, env),
    )
}

/// Validation phase: the new index (and, with `crl_days`, the new CRL).
pub fn plan(state: &Snapshot, request: &Revoke, env: &Env) -> Result<Planned> {
    let entry = match &request.target {
        Target::Typed(typed) => state.resolve(typed)?,
        Target::Cert { path, der } => {
            if *der == state.ca.cert.der {
                return Err(crate::model::change::Refusal::OwnCaCert(path.clone()).into());
            }
            state.recorded_entry(path, der)?
        }
    };
    let serial = &entry.serial;
    let (reason, crl_days) = (request.reason, request.crl_days);
    let mut log = LogAppend::default();
    let mut held = Vec::new();
    let subject = mark_revoked(state, &mut log, (serial, reason), env, &mut held)?;
    let mut notes = vec![Note::act(
        "revoked",
        "would revoke",
        &format!(
            "{serial} ({}), reason {}",
            crate::term::escape(&subject),
            reason.typed()
        ),
    )];
    notes.append(&mut held);
    let mut writes = Vec::new();
    let mut stdout = String::new();
    let operation = match crl_days {
        Some(days) => {
            let revoked = with_revocation(state.revocations()?, serial, env.now, reason);
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

/// `revoked` (the revocations a CRL lists) with `serial` revoked at `at` for `reason`: a hold
/// made final is listed once, with its final reason.
fn with_revocation(
    mut revoked: Vec<Revocation>,
    serial: &Serial,
    at: time::OffsetDateTime,
    reason: Reason,
) -> Vec<Revocation> {
    let serial = serial.to_string();
    revoked.retain(|r| r.revoked != serial);
    revoked.push(Revocation {
        revoked: serial,
        at,
        reason: reason.name().to_string(),
    });
    revoked
}
