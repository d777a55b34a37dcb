//! `ca log`: print the audit trail (SPEC.md `LOG-*`).
//!
//! `run` opens a shared session; [`query`] reads and parses audit.log's records; `render::log`
//! prints them as columns or JSON.

use super::Context;
use crate::cli::JsonArgs;
use crate::error::Result;
use crate::model::audit::{Record, verified_records};
use crate::store::{AUDIT, Access, Session};

/// Runs `ca log`.
pub fn run(args: &JsonArgs, ctx: &Context) -> Result<()> {
    let session = Session::open(&ctx.dir, Access::Read, &ctx.open)?;
    let records = query(&session)?;
    crate::render::log::print(&records, args.json)
}

/// The records of audit.log, in order, only from the history the CA signed (VERIFIED-READ):
/// the state is loaded (its checkpoint verified with ca.crt's key), and every record must
/// chain to the one before it up to the signed `audit_head` ([`verified_records`]).
pub fn query(session: &Session) -> Result<Vec<Record>> {
    let state = session.verified_state()?;
    let bytes = session.read(AUDIT)?;
    verified_records(&bytes, &state.header, &session.dir().join(AUDIT))
}
