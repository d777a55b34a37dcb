//! index.log: one JSON line per event, append-only — a certificate issued, a certificate
//! revoked, a certificateHold released (SPEC.md `INDEX-*`, UNHOLD). This file is the codec (the lines, [`Entry`]) and
//! [`LogAppend`], what a commit adds; log/read.rs reads it: through a [`Log`] (index.log
//! opened under the session's lock, or its bytes in a snapshot), [`find`] one serial,
//! [`revocations`] for the CRL, [`for_each_entry`] for list and status, [`load_all`] (every
//! line checked) for check and upgrade. Nothing here writes.
//!
//! What is wrong with the log is typed: [`LineError`] for one line (the codec and the
//! cross-line rules: a serial issued twice, a revocation of a serial no earlier line issues),
//! [`LogError`] for the file (a line's number with its [`LineError`], a torn or short log, a
//! broken hash chain), which [`StateError`](crate::error::StateError) carries.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::error::Error;
use crate::pki::reason::Reason;
use crate::pki::serial::Serial;

mod read;
mod scan;
pub use crate::error::model::{LineError, LogError};
pub use read::{
    Log, MIN_SUFFIX_DIGITS, SerialLookup, Typed, find, for_each_entry, load_all, log_head, resolve,
    revocations, scan_issued,
};
pub use scan::IssuedDates;

/// Why a walk over index.log's lines stopped before its end: a line that is not what
/// SPEC.md says (numbered by the walk), or the caller's own error, passed through.
pub(super) enum Halt {
    Line(LineError),
    Caller(Error),
}

impl From<LineError> for Halt {
    fn from(err: LineError) -> Self {
        Halt::Line(err)
    }
}

/// An index.log line recording an issued certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct IssuedLine {
    issued: String,
    subject: String,
    sans: Vec<String>,
    profile: String,
    #[serde(with = "time::serde::rfc3339")]
    not_before: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    not_after: OffsetDateTime,
    sha256: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    renewed_from: Option<String>,
}

/// An index.log line recording a revocation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Revocation {
    pub revoked: String,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// RFC 5280 reason name (`keyCompromise`, …).
    pub reason: String,
}

/// An index.log line recording that a certificateHold was released (`ca unhold`): the
/// certificate is no longer revoked from `at` on (SPEC.md UNHOLD).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Release {
    pub released: String,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

/// Every issued line starts with this, every revocation line with [`REVOKED`], every release
/// of a hold with [`RELEASED`].
pub(super) const ISSUED: &[u8] = b"{\"issued\":\"";
pub(super) const REVOKED: &[u8] = b"{\"revoked\":\"";
pub(super) const RELEASED: &[u8] = b"{\"released\":\"";

/// One issued certificate, as the log's events leave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Canonical uppercase hex; the certificate is at `certs/<serial>.pem`.
    pub serial: Serial,
    pub subject: String,
    /// `DNS:…`, `IP:…`, `email:…` as issued.
    pub sans: Vec<String>,
    pub profile: String,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    /// Set while the log records it revoked: its last revocation not released since.
    pub revoked: Option<Revoked>,
    /// When a certificateHold of it was last released (`ca unhold`), if ever: the hold is
    /// history (a CRL signed before may list it), not a deletion.
    pub released: Option<OffsetDateTime>,
    /// SHA-256 of the certificate's DER, lowercase hex.
    pub sha256: String,
    /// Serial of the certificate this one renewed (`ca renew`).
    pub renewed_from: Option<Serial>,
}

/// A certificate's revocation, as index.log records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Revoked {
    pub at: OffsetDateTime,
    pub reason: Reason,
}

/// The state of an issued certificate at a given time (what `ca list` shows).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CertState {
    Valid,
    Revoked,
    Expired,
}

impl CertState {
    pub const ALL: [CertState; 3] = [CertState::Valid, CertState::Revoked, CertState::Expired];

    /// The name `ca list` prints and `--status` takes (the JSON value too).
    pub fn name(self) -> &'static str {
        match self {
            CertState::Valid => "valid",
            CertState::Revoked => "revoked",
            CertState::Expired => "expired",
        }
    }
}

impl Entry {
    /// Revoked, expired (past notAfter) or valid at `now`.
    pub fn state(&self, now: OffsetDateTime) -> CertState {
        match self.revoked {
            Some(_) => CertState::Revoked,
            None if self.not_after < now => CertState::Expired,
            None => CertState::Valid,
        }
    }

    /// The index.log line that records this certificate's issue (with its newline).
    pub fn issued_line(&self) -> Vec<u8> {
        let line = IssuedLine {
            issued: self.serial.to_string(),
            subject: self.subject.clone(),
            sans: self.sans.clone(),
            profile: self.profile.clone(),
            not_before: self.not_before,
            not_after: self.not_after,
            sha256: self.sha256.clone(),
            renewed_from: self.renewed_from.as_ref().map(Serial::to_string),
        };
        let mut out = crate::model::to_json(&line, false);
        out.push(b'\n');
        out
    }

    /// The index.log line that records this certificate's revocation, if it is revoked.
    pub fn revoked_line(&self) -> Option<Vec<u8>> {
        let r = self.revoked?;
        Some(revoked_line(
            &self.serial.to_string(),
            r.at,
            r.reason.name(),
        ))
    }

    fn from_issued(l: IssuedLine) -> std::result::Result<Entry, LineError> {
        let serial = |s: &str| {
            Serial::parse_canonical(s).ok_or_else(|| LineError::NamesInvalidSerial(s.into()))
        };
        Ok(Entry {
            serial: serial(&l.issued)?,
            subject: l.subject,
            sans: l.sans,
            profile: l.profile,
            not_before: l.not_before,
            not_after: l.not_after,
            revoked: None,
            released: None,
            sha256: l.sha256,
            renewed_from: l.renewed_from.as_deref().map(serial).transpose()?,
        })
    }

    /// Applies a revocation [`parse_line`] checked (its reason is known).
    fn revoke(&mut self, r: &Checked) -> std::result::Result<(), LineError> {
        Standing::of(self).revoke(&r.line.revoked, r)?.set(self);
        Ok(())
    }

    /// Applies the release of a hold.
    fn release(&mut self, r: &Release) -> std::result::Result<(), LineError> {
        Standing::of(self).release(r)?.set(self);
        Ok(())
    }
}

/// Where a certificate stands after the revocations and releases read so far: the one rule
/// for a serial's events (SPEC.md INDEX-LOG, UNHOLD). A certificate not revoked may be
/// revoked; one on hold (certificateHold) may be released or revoked for good (another
/// reason), never held twice; a revocation for any other reason is final.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Standing {
    pub revoked: Option<Revoked>,
    pub released: Option<OffsetDateTime>,
}

impl Standing {
    fn of(e: &Entry) -> Standing {
        Standing {
            revoked: e.revoked,
            released: e.released,
        }
    }

    fn set(self, e: &mut Entry) {
        e.revoked = self.revoked;
        e.released = self.released;
    }

    /// After `r`, a revocation of `serial`.
    pub(super) fn revoke(
        mut self,
        serial: &str,
        r: &Checked,
    ) -> std::result::Result<Standing, LineError> {
        if r.reason == Reason::RemoveFromCrl {
            return Err(LineError::RemoveFromCrl(serial.to_string()));
        }
        match self.revoked {
            None => {}
            Some(held)
                if held.reason == Reason::CertificateHold
                    && r.reason != Reason::CertificateHold => {}
            Some(_) => return Err(LineError::RevokedTwice(serial.to_string())),
        }
        self.revoked = Some(Revoked {
            at: r.line.at,
            reason: r.reason,
        });
        Ok(self)
    }

    /// After `r`, the release of a hold.
    pub(super) fn release(mut self, r: &Release) -> std::result::Result<Standing, LineError> {
        match self.revoked {
            Some(held) if held.reason == Reason::CertificateHold => {
                self.revoked = None;
                self.released = Some(r.at);
                Ok(self)
            }
            _ => Err(LineError::ReleasesUnheld(r.released.clone())),
        }
    }
}

/// The index.log line that records a revocation (with its newline).
pub fn revoked_line(serial: &str, at: OffsetDateTime, reason: &str) -> Vec<u8> {
    let line = Revocation {
        revoked: serial.to_string(),
        at,
        reason: reason.to_string(),
    };
    let mut out = crate::model::to_json(&line, false);
    out.push(b'\n');
    out
}

/// The index.log line that records the release of a hold (with its newline).
pub fn released_line(serial: &str, at: OffsetDateTime) -> Vec<u8> {
    let line = Release {
        released: serial.to_string(),
        at,
    };
    let mut out = crate::model::to_json(&line, false);
    out.push(b'\n');
    out
}

/// One parsed index.log line.
pub(super) enum Line {
    Issued(IssuedLine),
    Revoked(Checked),
    Released(Release),
}

impl Line {
    /// The serial a revocation or release names (`None` for an issued line).
    pub(super) fn event_serial(&self) -> Option<&str> {
        match self {
            Line::Issued(_) => None,
            Line::Revoked(r) => Some(&r.line.revoked),
            Line::Released(r) => Some(&r.released),
        }
    }
}

/// A revocation line with its reason parsed.
pub(super) struct Checked {
    line: Revocation,
    reason: Reason,
}

pub(super) fn parse_line(line: &[u8]) -> std::result::Result<Line, LineError> {
    if line.starts_with(ISSUED) {
        let l: IssuedLine =
            serde_json::from_slice(line).map_err(|e| LineError::IssuedJson(e.to_string()))?;
        if Serial::parse_canonical(&l.issued).is_none() {
            return Err(LineError::IssuesInvalidSerial(l.issued));
        }
        if l.sha256.len() != 64
            || !l
                .sha256
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        {
            return Err(LineError::InvalidSha256(l.issued));
        }
        Ok(Line::Issued(l))
    } else if line.starts_with(REVOKED) {
        let r: Revocation =
            serde_json::from_slice(line).map_err(|e| LineError::RevocationJson(e.to_string()))?;
        if Serial::parse_canonical(&r.revoked).is_none() {
            return Err(LineError::RevokesInvalidSerial(r.revoked));
        }
        let Some(reason) = Reason::from_name(&r.reason) else {
            return Err(LineError::UnknownReason {
                serial: r.revoked,
                reason: r.reason,
            });
        };
        Ok(Line::Revoked(Checked { line: r, reason }))
    } else if line.starts_with(RELEASED) {
        let r: Release =
            serde_json::from_slice(line).map_err(|e| LineError::ReleaseJson(e.to_string()))?;
        if Serial::parse_canonical(&r.released).is_none() {
            return Err(LineError::ReleasesInvalidSerial(r.released));
        }
        Ok(Line::Released(r))
    } else {
        Err(LineError::NotARecord)
    }
}

/// Does `line` (issued, revoked or released) concern `serial`? Compares bytes, parses nothing.
pub(super) fn concerns(line: &[u8], serial: &str) -> bool {
    let rest = if let Some(r) = line.strip_prefix(ISSUED) {
        r
    } else if let Some(r) = line.strip_prefix(REVOKED) {
        r
    } else if let Some(r) = line.strip_prefix(RELEASED) {
        r
    } else {
        return true; // let the parser report it
    };
    rest.strip_prefix(serial.as_bytes())
        .is_some_and(|r| r.first() == Some(&b'"'))
}

/// What a commit appends to index.log, and the highest serial it issues.
#[derive(Debug, Default)]
pub struct LogAppend {
    pub bytes: Vec<u8>,
    pub max_serial: Option<Serial>,
}

impl LogAppend {
    /// The whole log of a set of certificates: every issue in the given order, then every
    /// revocation in order of its time (so each follows its issue). Used where a log is
    /// written from scratch: a new CA (init, import-openssl) and `ca upgrade`.
    pub fn of_entries(entries: &[Entry]) -> LogAppend {
        let mut log = LogAppend::default();
        for e in entries {
            log.issued(e);
        }
        let mut revoked: Vec<&Entry> = entries.iter().filter(|e| e.revoked.is_some()).collect();
        revoked.sort_by_key(|e| e.revoked.map(|r| r.at));
        for line in revoked.into_iter().filter_map(Entry::revoked_line) {
            log.bytes.extend_from_slice(&line);
        }
        log
    }

    /// Records an issued certificate.
    pub fn issued(&mut self, e: &Entry) {
        self.bytes.extend_from_slice(&e.issued_line());
        if Some(&e.serial) > self.max_serial.as_ref() {
            self.max_serial = Some(e.serial.clone());
        }
    }

    /// Records a revocation.
    pub fn revoked(&mut self, serial: &Serial, at: OffsetDateTime, reason: &str) {
        self.bytes
            .extend_from_slice(&revoked_line(&serial.to_string(), at, reason));
    }

    /// Records the release of a hold.
    pub fn released(&mut self, serial: &Serial, at: OffsetDateTime) {
        self.bytes
            .extend_from_slice(&released_line(&serial.to_string(), at));
    }
}

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;
