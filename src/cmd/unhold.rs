//! `ca unhold`: release a certificateHold — record in index.log that a certificate on hold is
//! no longer revoked, optionally publishing a new CRL without it in the same commit (SPEC.md
//! UNHOLD). The hold stays in the log as history; only a hold can be released.

use super::{AuditInfo, Context, Planned};
use crate::Env;
use crate::cli::UnholdArgs;
use crate::error::Result;
use crate::model::change::{Refusal, crl_writes};
use crate::model::log::{Entry, LogAppend, Typed};
use crate::model::snapshot::Snapshot;
use crate::pki::reason::Reason;
use crate::term::Note;

/// What `ca unhold` is asked to do.
pub struct Unhold {
    pub serial: Typed,
    /// `--crl`: publish a CRL valid this many days in the same commit.
    pub crl_days: Option<u32>,
}

/// Runs `ca unhold`.
pub fn run(args: &UnholdArgs, ctx: &Context) -> Result<()> {
    let request = Unhold {
        serial: crate::cli::serial(&args.serial)?,
        crl_days: args.publish.days(),
    };
    super::mutate(
        ctx,
        &args.mutation,
        crate::store::Reads::SIGN_WITH_LOG,
        |state, env| plan(state, &request, env),
    )
}

/// Validation phase: the release line (and, with `crl_days`, the new CRL).
pub fn plan(state: &Snapshot, request: &Unhold, env: &Env) -> Result<Planned> {
    let entry = state.resolve(&request.serial)?;
    let serial = &entry.serial;
    let since = match entry.revoked {
        Some(r) if r.reason == Reason::CertificateHold => r.at,
        _ => {
            return Err(Refusal::NotOnHold {
                serial: serial.clone(),
                standing: standing(&entry, env.now),
            }
            .into());
        }
    };
    let mut log = LogAppend::default();
    log.released(serial, env.now);
    let mut notes = vec![Note::act(
        "released",
        "would release",
        &format!(
            "{serial} ({}) from its hold (certificateHold since {})",
            crate::term::escape(&crate::pki::names::shown(&entry.subject)),
            crate::clock::fmt(since)
        ),
    )];
    let mut writes = Vec::new();
    let mut stdout = String::new();
    let operation = match request.crl_days {
        Some(days) => {
            let wanted = serial.to_string();
            let mut revoked = state.revocations()?;
            revoked.retain(|r| r.revoked != wanted);
            let (crl, pem, note) = crl_writes(state, &revoked, days, env)?;
            writes = crl;
            stdout = pem;
            notes.push(Note::text(note));
            "unhold+crl"
        }
        None => {
            notes.push(Note::text(if crl_lists(state, serial) {
                "run `ca crl` to publish it: the current ca.crl still lists the hold"
            } else {
                "run `ca crl` to publish it"
            }));
            "unhold"
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

/// Where a certificate that is not on hold stands, in words.
fn standing(e: &Entry, now: time::OffsetDateTime) -> String {
    match e.revoked {
        Some(r) => format!(
            "it was revoked for {} at {}, which is final",
            r.reason.typed(),
            crate::clock::fmt(r.at)
        ),
        None if e.not_after < now => "it is not revoked (it has expired)".into(),
        None => "it is not revoked".into(),
    }
}

/// Does the published ca.crl list `serial`?
fn crl_lists(state: &Snapshot, serial: &crate::pki::serial::Serial) -> bool {
    state.crl.as_deref().is_some_and(|bytes| {
        crate::pki::crl::parse(bytes, bytes.len(), None)
            .is_ok_and(|c| c.listed.iter().any(|s| s == serial))
    })
}
