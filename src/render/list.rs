//! `ca list`'s output (SPEC.md LIST-JSON, LIST-STREAM): the [`Row`] of one certificate (also the
//! core of `ca show --json`), and the table or JSON array, written row by row while
//! `cmd/list.rs` reads the log, so memory does not grow with the number of certificates.

use std::io::Write;

use time::OffsetDateTime;

use crate::error::{Error, Result};
use crate::model::log::{CertState, Entry};
use crate::pki::serial::Serial;

/// One row of `ca list --json` (SPEC.md LIST-JSON). Field names and types are stable.
#[derive(Debug, serde::Serialize)]
pub struct Row<'a> {
    pub serial: String,
    /// RFC 4514 order (index.log keeps ASN.1 order).
    pub subject: String,
    pub sans: &'a [String],
    pub profile: &'a str,
    pub not_before: String,
    pub not_after: String,
    pub state: CertState,
    pub revoked_at: Option<String>,
    pub revocation_reason: Option<&'a str>,
    /// When a certificateHold of it was last released (`ca unhold`), else null (UNHOLD).
    pub hold_released_at: Option<String>,
    pub renewed_from: Option<String>,
    pub sha256: &'a str,
    /// For a sub-CA this CA issued (profile `sub-ca`): this CA's subject, else null
    /// (LIST-CA).
    pub parent: Option<&'a str>,
    /// For a sub-CA: this CA's depth + 1 (a root's sub-CA is 1), else null.
    pub depth: Option<usize>,
    /// For a certificate issued through ACME: the account it went to (audit.log's
    /// `acme-issue` record), else null (LIST-ACME).
    pub acme_account: Option<&'a str>,
}

/// Where this CA stands, for the rows of the sub-CAs it issued: its subject (RFC 4514) and
/// its depth (0 for a root, chain.pem's length for a sub-CA).
#[derive(Debug, Clone)]
pub struct ThisCa {
    pub subject: String,
    pub depth: usize,
}

impl<'a> Row<'a> {
    /// The STATE column: the state's name, but `held` for a certificate on hold (LIST-HELD:
    /// a certificateHold can be released, unlike the revocations the column calls
    /// `revoked`). `--json` keeps `"state": "revoked"` with the reason beside it.
    pub fn shown_state(&self) -> &'static str {
        match (self.state, self.revocation_reason) {
            (CertState::Revoked, Some("certificateHold")) => "held",
            (state, _) => state.name(),
        }
    }

    pub fn new(e: &'a Entry, now: OffsetDateTime, ca: &'a ThisCa) -> Row<'a> {
        // The built-in sub-CA profile's name (a policy's own sub-ca profiles under other names are not
        // recognised here: the row does not hold the certificate).
        let sub_ca = e.profile == "sub-ca";
        Row {
            serial: e.serial.to_string(),
            subject: crate::pki::names::shown(&e.subject),
            sans: &e.sans,
            profile: &e.profile,
            not_before: crate::clock::fmt(e.not_before),
            not_after: crate::clock::fmt(e.not_after),
            state: e.state(now),
            revoked_at: e.revoked.map(|r| crate::clock::fmt(r.at)),
            revocation_reason: e.revoked.map(|r| r.reason.name()),
            hold_released_at: e.released.map(crate::clock::fmt),
            renewed_from: e.renewed_from.as_ref().map(|s| s.to_string()),
            sha256: &e.sha256,
            parent: sub_ca.then_some(ca.subject.as_str()),
            depth: sub_ca.then_some(ca.depth + 1),
            acme_account: None,
        }
    }
}

/// Writes the rows `query` produces, as a JSON array or as the table: `query` calls the
/// function it is given once for each row, as it reads them. `widest` is the highest serial
/// the CA issued (index.json records it): a canonical serial never gets shorter as it grows,
/// so the SERIAL column is as wide as it (40 digits for 20 octets).
pub fn write(
    out: &mut impl Write,
    json: bool,
    widest: Option<Serial>,
    query: impl FnOnce(&mut dyn FnMut(&Row<'_>) -> Result<()>) -> Result<()>,
) -> Result<()> {
    // A closed pipe is a normal end (SPEC.md EXIT-PIPE): the same mapping as every other
    // stdout write, whether the row or the buffer's flush met it.
    let io = crate::term::stdout_error;
    if json {
        use serde::ser::{SerializeSeq, Serializer};
        let json = |e: serde_json::Error| match e.io_error_kind() {
            Some(std::io::ErrorKind::BrokenPipe) => Error::Closed,
            _ => Error::io("<stdout>", std::io::Error::other(e)),
        };
        let mut ser =
            serde_json::Serializer::with_formatter(&mut *out, super::json::SafeFormatter::new());
        let mut seq = ser.serialize_seq(None).map_err(json)?;
        query(&mut |row| seq.serialize_element(row).map_err(json))?;
        seq.end().map_err(json)?;
        return writeln!(out).map_err(io);
    }
    let width = widest.map_or(6, |s| s.to_string().len()).max(6);
    writeln!(
        out,
        "{:<width$}  {:<7}  {:<20}  {:<13}  SUBJECT / SANS",
        "SERIAL", "STATE", "NOT AFTER", "PROFILE"
    )
    .map_err(io)?;
    query(&mut |r| {
        writeln!(
            out,
            "{:<width$}  {:<7}  {:<20}  {:<13}  {}{}{}",
            r.serial,
            r.shown_state(),
            r.not_after,
            r.profile,
            crate::term::escape(&r.subject),
            if r.sans.is_empty() {
                String::new()
            } else {
                crate::term::escape(&format!(" [{}]", r.sans.join(", ")))
            },
            r.acme_account
                .map(|a| crate::term::escape(&format!(" (ACME account {a})")))
                .unwrap_or_default()
        )
        .map_err(io)
    })
}
