//! `ca log`: print the audit trail (SPEC.md `LOG-*`).
//!
//! `run` opens a shared session; [`query`] reads and parses audit.log's records; `render::log`
//! prints them as columns or JSON.

use super::Context;
use crate::cli::JsonArgs;
use crate::error::{Error, Result};
use crate::model::audit::{AuditError, Record};
use crate::store::{AUDIT, Access, Session};

/// Runs `ca log`.
pub fn run(args: &JsonArgs, ctx: &Context) -> Result<()> {
    let session = Session::open(&ctx.dir, Access::Read, &ctx.open)?;
    let records = query(&session)?;
    crate::render::log::print(&records, args.json)
}

/// The records of audit.log, in order, only from the history the CA signed (VERIFIED-READ):
/// the state is loaded (its checkpoint verified with ca.crt's key, audit.log as long as it
/// records), and every record must chain to the one before it up to the signed
/// `audit_head`. A line that is not a record, or a broken chain, is a state error.
pub fn query(session: &Session) -> Result<Vec<Record>> {
    let state = session.verified_state()?;
    let bytes = session.read(AUDIT)?;
    let path = session.dir().join(AUDIT);
    let problems =
        crate::model::audit::verify(&bytes, state.header.generation, &state.header.audit_head);
    if let Some(first) = problems.first() {
        return Err(Error::state(&path, AuditError::Unchained(first.clone())));
    }
    std::str::from_utf8(&bytes)
        .map_err(|_| Error::state(&path, AuditError::NotUtf8))?
        .lines()
        .enumerate()
        .map(|(i, l)| {
            serde_json::from_str::<Record>(l).map_err(|e| {
                let line = i + 1;
                let (column, category) = (e.column(), e.classify().into());
                Error::state(
                    &path,
                    AuditError::Line {
                        line,
                        column,
                        category,
                    },
                )
            })
        })
        .collect()
}
