//! index.log: one JSON line per event, append-only — a certificate issued, a certificate
//! revoked (SPEC.md `INDEX-*`). Commands that need certificates read it as a stream: [`find`]
//! for one serial, [`revocations`] for the CRL, [`for_each_entry`] for list and status,
//! [`load_all`] (every line checked) for check and upgrade. [`LogAppend`] is what a commit adds
//! to it. Reads go through a [`Log`]: index.log opened under the session's lock, or its bytes in a
//! snapshot; nothing here does I/O besides reading it, and nothing here writes.
//!
//! What is wrong with the log is typed: [`LineError`] for one line (the codec and the
//! cross-line rules: a serial issued twice, a revocation of a serial no earlier line issues),
//! [`LogError`] for the file (a line's number with its [`LineError`], a torn or short log, a
//! broken hash chain), which [`StateError`](crate::error::StateError) carries.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::error::{Error, Result};
use crate::model::checkpoint;
use crate::model::header::Header;
use crate::model::layout::INDEX;
use crate::pki::reason::Reason;
use crate::pki::serial::Serial;

mod error;
pub use error::{LineError, LogError};

/// Why a walk over index.log's lines stopped before its end: a line that is not what
/// SPEC.md says (numbered by the walk), or the caller's own error, passed through.
enum Halt {
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
struct IssuedLine {
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

/// Every issued line starts with this, every revocation line with [`REVOKED`].
const ISSUED: &[u8] = b"{\"issued\":\"";
const REVOKED: &[u8] = b"{\"revoked\":\"";

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
    /// Set once the log records its revocation.
    pub revoked: Option<Revoked>,
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
            sha256: l.sha256,
            renewed_from: l.renewed_from.as_deref().map(serial).transpose()?,
        })
    }

    /// Applies a revocation [`parse_line`] checked (its reason is known).
    fn revoke(&mut self, r: Checked) -> std::result::Result<(), LineError> {
        if self.revoked.is_some() {
            return Err(LineError::RevokedTwice(self.serial.clone()));
        }
        self.revoked = Some(Revoked {
            at: r.line.at,
            reason: r.reason,
        });
        Ok(())
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

/// One parsed index.log line.
enum Line {
    Issued(IssuedLine),
    Revoked(Checked),
}

/// A revocation line with its reason parsed.
struct Checked {
    line: Revocation,
    reason: Reason,
}

fn parse_line(line: &[u8]) -> std::result::Result<Line, LineError> {
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
    } else {
        Err(LineError::NotARecord)
    }
}

/// Does `line` (issued or revoked) concern `serial`? Compares bytes, parses nothing.
fn concerns(line: &[u8], serial: &str) -> bool {
    let rest = if let Some(r) = line.strip_prefix(ISSUED) {
        r
    } else if let Some(r) = line.strip_prefix(REVOKED) {
        r
    } else {
        return true; // let the parser report it
    };
    rest.strip_prefix(serial.as_bytes())
        .is_some_and(|r| r.first() == Some(&b'"'))
}

/// index.log as a command reads it: the file opened once (a walk that reads it twice — a
/// listing's two passes — reads the same file both times, whatever is renamed into place
/// between them), or its bytes already in memory (a plan's snapshot: a value, read under the
/// lock before the plan runs). [`crate::store::Session::open_log`] opens it.
pub struct Log {
    source: Source,
    len: u64,
    path: std::path::PathBuf,
}

enum Source {
    File(std::fs::File),
    Bytes(Vec<u8>),
}

impl Log {
    /// index.log open at `path`, `len` bytes long.
    pub fn file(file: std::fs::File, len: u64, path: std::path::PathBuf) -> Log {
        Log {
            source: Source::File(file),
            len,
            path,
        }
    }

    /// index.log's bytes as read (`path` names it in messages).
    pub fn bytes(bytes: Vec<u8>, path: std::path::PathBuf) -> Log {
        Log {
            len: bytes.len() as u64,
            source: Source::Bytes(bytes),
            path,
        }
    }

    /// The log read whole into memory (a plan's snapshot holds it as a value).
    pub fn into_memory(self) -> Result<Log> {
        match self.source {
            Source::Bytes(_) => Ok(self),
            Source::File(mut file) => {
                use std::io::Seek;
                let mut bytes = Vec::with_capacity(self.len as usize);
                file.seek(std::io::SeekFrom::Start(0))
                    .and_then(|_| (&file).take(self.len).read_to_end(&mut bytes))
                    .map_err(|e| Error::io(&self.path, e))?;
                Ok(Log::bytes(bytes, self.path))
            }
        }
    }

    /// The path, for messages.
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }
}

/// Calls `f` with each line of index.log (without its newline) up to the header's length, and
/// then checks that the lines read chain to the header's `log_head` (SPEC.md VERIFIED-READ,
/// CRL-CHAIN): nothing read here is answered from unless it is the log the CA signed — the
/// header's `log_head` is the signed checkpoint's ([`crate::model::snapshot::State::load`]
/// checks that first). `f` must keep what it reads until this returns: a line edited behind
/// fileca's back, even at the same length, is found only at the end.
fn for_each_line(
    log: &Log,
    header: &Header,
    f: impl FnMut(&[u8]) -> std::result::Result<(), Halt>,
) -> Result<()> {
    walk_verified(log, header, f)
}

/// [`for_each_line`] over an index.log already open.
fn walk_verified(
    log: &Log,
    header: &Header,
    mut f: impl FnMut(&[u8]) -> std::result::Result<(), Halt>,
) -> Result<()> {
    let mut chain = checkpoint::LogChain::new();
    walk(log, header.log_len, |line| {
        chain.step(line);
        f(line)
    })?;
    if !chain.is(&header.log_head) {
        return Err(Error::state(&log.path, LogError::Chain));
    }
    Ok(())
}

/// index.log's hash chain over its first `len` bytes (SPEC.md INDEX-LOG-HEAD), read as a
/// stream: what `ca upgrade` starts the chain with and `ca check` compares with the signed
/// checkpoint.
pub fn log_head(log: &Log, len: u64) -> Result<String> {
    let mut chain = checkpoint::LogChain::new();
    walk(log, len, |line| {
        chain.step(line);
        Ok(())
    })?;
    Ok(chain.head())
}

/// Calls `f` with each line of the open index.log's first `log_len` bytes, from its start.
fn walk(
    log: &Log,
    log_len: u64,
    mut f: impl FnMut(&[u8]) -> std::result::Result<(), Halt>,
) -> Result<()> {
    use std::io::Seek;
    let path = &log.path;
    if log.len < log_len {
        return Err(Error::state(
            path,
            LogError::Short {
                len: log.len,
                recorded: log_len,
            },
        ));
    }
    let mut reader: Box<dyn BufRead + '_> = match &log.source {
        Source::File(file) => {
            let mut file = file;
            file.seek(std::io::SeekFrom::Start(0))
                .map_err(|e| Error::io(path, e))?;
            Box::new(BufReader::with_capacity(1 << 16, file.take(log_len)))
        }
        Source::Bytes(bytes) => Box::new(&bytes[..log_len as usize]),
    };
    let mut buf = Vec::with_capacity(512);
    let mut n = 0usize;
    loop {
        buf.clear();
        let got = reader
            .read_until(b'\n', &mut buf)
            .map_err(|e| Error::io(path, e))?;
        if got == 0 {
            return Ok(());
        }
        n += 1;
        let Some(line) = buf.strip_suffix(b"\n") else {
            return Err(Error::state(path, LogError::Torn { n }));
        };
        f(line).map_err(|halt| match halt {
            Halt::Line(err) => Error::state(path, LogError::Line { n, err }),
            Halt::Caller(e) => e,
        })?;
    }
}

/// Every certificate, in issue order, with its revocation applied. Checks the whole log:
/// every line parses, no serial is issued twice, every revocation follows its issue and
/// happens once, and the header's highest serial is right.
///
/// The lines are not checked against `log_head` here: `ca check` compares the chain itself
/// and reports every problem, and `ca upgrade` starts the chain from what it finds.
pub fn load_all(log: &Log, header: &Header) -> Result<Vec<Entry>> {
    let mut table = Table::default();
    walk(log, header.log_len, |line| Ok(table.add(line)?))?;
    if table.max != header.max_serial() {
        return Err(Error::state(
            log.path.with_file_name(INDEX),
            LogError::MaxSerial {
                recorded: header.max_serial.clone(),
                found: table.max,
            },
        ));
    }
    Ok(table.entries)
}

/// The certificates of a log read line by line, each line checked against the ones before
/// it: what [`load_all`] builds.
#[derive(Default)]
struct Table {
    entries: Vec<Entry>,
    /// Where each issued serial is in `entries`.
    pos: HashMap<String, usize>,
    /// The highest serial issued.
    max: Option<Serial>,
}

impl Table {
    /// Adds one line: the issue of a serial no earlier line issues, or the first revocation of
    /// one an earlier line issues.
    fn add(&mut self, line: &[u8]) -> std::result::Result<(), LineError> {
        match parse_line(line)? {
            Line::Issued(l) => {
                if self.pos.contains_key(&l.issued) {
                    return Err(LineError::IssuedTwice(l.issued));
                }
                let key = l.issued.clone();
                let e = Entry::from_issued(l)?;
                if Some(&e.serial) > self.max.as_ref() {
                    self.max = Some(e.serial.clone());
                }
                self.pos.insert(key, self.entries.len());
                self.entries.push(e);
                Ok(())
            }
            Line::Revoked(r) => match self.pos.get(&r.line.revoked) {
                Some(&i) => self.entries[i].revoke(r),
                None => Err(LineError::RevokesUnissued(r.line.revoked)),
            },
        }
    }
}

/// Calls `f` with every certificate, in issue order, with its revocation applied, holding only
/// the revocations in memory: a first pass collects them, a second streams the issued lines.
/// Every line is parsed and checked on its own; cross-line invariants beyond "every revocation
/// names an issued serial" (a serial issued twice, revoked twice) are [`load_all`]'s and
/// `ca check`'s. `f` may stop the walk with an error.
pub fn for_each_entry(
    log: &Log,
    header: &Header,
    mut f: impl FnMut(Entry) -> Result<()>,
) -> Result<()> {
    let mut revoked: HashMap<String, Checked> = HashMap::new();
    walk_verified(log, header, |line| {
        if line.starts_with(ISSUED) {
            return Ok(());
        }
        if let Line::Revoked(r) = parse_line(line)? {
            let serial = r.line.revoked.clone();
            if revoked.insert(serial.clone(), r).is_some() {
                return Err(LineError::RevokedAgain(serial).into());
            }
        }
        Ok(())
    })?;
    walk_verified(log, header, |line| {
        if !line.starts_with(ISSUED) {
            return Ok(());
        }
        if let Line::Issued(l) = parse_line(line)? {
            let mut e = Entry::from_issued(l)?;
            if let Some(r) = revoked.remove(&e.serial.to_string()) {
                e.revoke(r)?;
            }
            f(e).map_err(Halt::Caller)?;
        }
        Ok(())
    })?;
    if let Some(serial) = revoked.keys().min() {
        return Err(Error::state(&log.path, LogError::Unissued(serial.clone())));
    }
    Ok(())
}

/// The certificate with this serial, reading the log as a stream and parsing only the lines
/// that name it.
pub fn find(log: &Log, header: &Header, serial: &Serial) -> Result<Option<Entry>> {
    let wanted = serial.to_string();
    let mut found: Option<Entry> = None;
    for_each_line(log, header, |line| {
        if !concerns(line, &wanted) {
            return Ok(());
        }
        match parse_line(line)? {
            Line::Issued(l) if found.is_some() => Err(LineError::IssuedTwice(l.issued).into()),
            Line::Issued(l) => {
                found = Some(Entry::from_issued(l)?);
                Ok(())
            }
            Line::Revoked(r) => match &mut found {
                Some(e) => Ok(e.revoke(r)?),
                None => Err(LineError::RevokesUnissued(r.line.revoked).into()),
            },
        }
    })?;
    Ok(found)
}

/// Every revocation in log order, parsing only revocation lines: what a CRL needs.
///
/// The CRL is what relying parties act on: the whole log read here chains to index.json's
/// signed `log_head` ([`for_each_line`], SPEC.md CRL-CHAIN), so a line edited behind fileca's
/// back, even at the same length, never reaches a signed CRL.
pub fn revocations(log: &Log, header: &Header) -> Result<Vec<Revocation>> {
    let mut out = Vec::new();
    for_each_line(log, header, |line| {
        if line.starts_with(ISSUED) {
            return Ok(());
        }
        match parse_line(line)? {
            Line::Revoked(r) => {
                out.push(r.line);
                Ok(())
            }
            Line::Issued(_) => Ok(()),
        }
    })?;
    Ok(out)
}

/// A serial as a user typed it: the number, and what is needed to resolve it when no
/// certificate has exactly that serial.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Typed {
    pub serial: Serial,
    /// The hex digits typed, uppercase, without prefix or colons.
    pub digits: String,
}

impl Typed {
    /// Parses a typed serial (see [`Serial::parse_user`]).
    pub fn parse(s: &str) -> Option<Typed> {
        Some(Typed {
            serial: Serial::parse_user(s)?,
            digits: Serial::user_digits(s).to_ascii_uppercase(),
        })
    }
}

/// The shortest tail of a serial that may stand for it: serials end in random bits, so eight
/// hex digits tell certificates apart (SPEC.md SERIAL-INPUT).
pub const MIN_SUFFIX_DIGITS: usize = 8;

/// Why a typed serial names no single certificate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SerialLookup {
    #[error("no certificate with serial {typed} in index.log{}{}", if *.decimal { " (serials are hexadecimal, as `ca list` shows them; decimal is not accepted)" } else { "" }, if *.short { " (a serial's tail must have at least 8 digits)" } else { "" })]
    NotFound {
        typed: String,
        decimal: bool,
        short: bool,
    },
    #[error("{typed} is the end of {} serials; give more digits: {}", .matches.len(), .matches.join(", "))]
    Ambiguous { typed: String, matches: Vec<String> },
}

/// The certificate a typed serial names: the one with exactly that serial, else the only one
/// whose serial ends with at least [`MIN_SUFFIX_DIGITS`] typed hex digits.
pub fn resolve(
    log: &Log,
    header: &Header,
    typed: &Typed,
) -> Result<std::result::Result<Entry, SerialLookup>> {
    if let Some(e) = find(log, header, &typed.serial)? {
        return Ok(Ok(e));
    }
    let tail = typed.digits.trim_start_matches('0');
    let mut matches: Vec<Entry> = Vec::new();
    if typed.digits.len() >= MIN_SUFFIX_DIGITS && !tail.is_empty() {
        for_each_entry(log, header, |e| {
            if e.serial.to_string().ends_with(&typed.digits) {
                matches.push(e);
            }
            Ok(())
        })?;
    }
    Ok(pick(typed, matches))
}

/// The one certificate among those whose serial ends with what was typed.
fn pick(typed: &Typed, mut matches: Vec<Entry>) -> std::result::Result<Entry, SerialLookup> {
    match matches.len() {
        1 => Ok(matches.remove(0)),
        0 => Err(SerialLookup::NotFound {
            typed: typed.serial.to_string(),
            decimal: typed.digits.bytes().all(|b| b.is_ascii_digit()),
            short: typed.digits.len() < MIN_SUFFIX_DIGITS,
        }),
        _ => Err(SerialLookup::Ambiguous {
            typed: typed.digits.clone(),
            matches: matches.iter().map(|e| e.serial.to_string()).collect(),
        }),
    }
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
}

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;
