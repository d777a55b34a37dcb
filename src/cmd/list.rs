//! `ca list`: the inventory of issued certificates (SPEC.md `LIST-*`).
//!
//! `run` parses the filters and opens a shared session; [`query`] streams the selected rows
//! out of index.log; `render::list` writes each as it comes (the table or the JSON array).

use time::OffsetDateTime;

use std::collections::HashMap;

use super::Context;
use crate::cli::ListArgs;
use crate::error::Result;
use crate::model::header::Header;
use crate::model::log::{CertState, Entry};
use crate::render::list::{Row, ThisCa};
use crate::store::{Access, Session};

/// Runs `ca list`.
pub fn run(args: &ListArgs, ctx: &Context) -> Result<()> {
    let within = args.expiring;
    let needle = args.matching.as_deref().map(str::to_lowercase);
    let session = Session::open(&ctx.dir, Access::Read, &ctx.open)?;
    // Read under the lock: a concurrent renew-ca may have installed a newer ca.crt.
    let now = ctx.now()?;
    // VERIFIED-READ: only the state the signed checkpoint covers is listed.
    let state = &session.verified_state()?;
    let header = &state.header;
    let ca = super::this_ca(state);
    let accounts = acme_accounts(&session, state)?;
    let keep = |e: &Entry| {
        args.status.is_none_or(|s| e.state(now) == s)
            && within.is_none_or(|d| {
                // A difference of two times never overflows; `now + d` could (`99999999999d`).
                e.state(now) == CertState::Valid && e.not_after - now <= d
            })
            && needle.as_deref().is_none_or(|n| {
                crate::pki::names::shown(&e.subject)
                    .to_lowercase()
                    .contains(n)
                    || e.sans.iter().any(|s| s.to_lowercase().contains(n))
            })
    };
    // Rows are written as the log is read, so memory does not grow with the number of
    // certificates (SPEC.md LIST-STREAM). Output is buffered; if the log turns out damaged
    // the buffer is discarded, so a failed list prints nothing unless it had already
    // produced more than the buffer holds.
    let mut out = crate::term::Stream::new(OUT_BUFFER);
    let listed = crate::render::list::write(&mut out, args.json, header.max_serial(), |row| {
        query(&session, header, (now, &ca, &accounts), keep, row)
    });
    match listed {
        Ok(()) => out.finish(),
        Err(e) => {
            out.discard();
            Err(e)
        }
    }
}

/// The ACME account each certificate issued through ACME went to (LIST-ACME), from the
/// signed audit trail's `acme-issue` records (acme.json forgets orders 30 days after they
/// expire; audit.log keeps them). Read only by a CA that has served ACME (acme.json exists).
fn acme_accounts(
    session: &Session,
    state: &crate::model::snapshot::Snapshot,
) -> Result<HashMap<String, String>> {
    if state.acme.is_none() {
        return Ok(Default::default());
    }
    let path = session.dir().join(crate::store::AUDIT);
    let bytes = session.read(crate::store::AUDIT)?;
    let records = crate::model::audit::verified_records(&bytes, &state.header, &path)?;
    Ok(records
        .into_iter()
        .filter(|r| r.operation == "acme-issue")
        .filter_map(|r| Some((r.serials.into_iter().next()?, r.acme_account?)))
        .collect())
}

/// Output buffer of `ca list`: 64 KiB, about 150 rows.
const OUT_BUFFER: usize = 1 << 16;

/// Reads index.log and hands `row` the row at `now` of each certificate `keep` selects, in
/// the log's order; `ca` places the sub-CAs this CA issued (LIST-CA), `accounts` names the
/// ACME account of a certificate issued through ACME (LIST-ACME).
pub fn query(
    session: &Session,
    header: &Header,
    (now, ca, accounts): (OffsetDateTime, &ThisCa, &HashMap<String, String>),
    keep: impl Fn(&Entry) -> bool,
    row: &mut dyn FnMut(&Row<'_>) -> Result<()>,
) -> Result<()> {
    crate::model::log::for_each_entry(&session.open_log()?, header, |e| {
        if keep(&e) {
            let mut r = Row::new(&e, now, ca);
            r.acme_account = accounts.get(r.serial.as_str()).map(String::as_str);
            row(&r)?;
        }
        Ok(())
    })
}
