//! Reading index.log: a [`Log`] (the file opened once, or its bytes in a snapshot) walked
//! line by line, each walk chained to the signed `log_head` before its result is used
//! (SPEC.md VERIFIED-READ, CRL-CHAIN); the queries built on it: [`find`] one serial,
//! [`revocations`] for a CRL, [`for_each_entry`] for list and status, [`load_all`] (every
//! line checked) for check and upgrade, [`resolve`] a serial as typed.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};

use super::{
    Entry, Halt, ISSUED, Line, LineError, LogError, Revocation, Standing, concerns, parse_line,
};
use crate::error::{Error, Result};
use crate::model::checkpoint;
use crate::model::header::Header;
use crate::model::layout::INDEX;
use crate::pki::serial::Serial;

/// index.log as a command reads it: the file opened once under the lock (a walk that reads it
/// twice — a listing's two passes — reads the same file both times, whatever is renamed into
/// place between them), or its bytes (a plan's snapshot built in memory by a test).
/// [`crate::store::Session::open_log`] opens it.
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

    /// The log read whole into memory (a reader that walks it after letting the lock go).
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
/// header's `log_head` is the signed checkpoint's ([`crate::model::snapshot::Snapshot::from_raw`]
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

/// Every certificate, in issue order, with its revocations and releases applied. Checks the
/// whole log: every line parses, no serial is issued twice, every revocation and release
/// follows its issue and keeps [`Standing`]'s rule, and the header's highest serial is right.
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
pub(super) struct Table {
    pub(super) entries: Vec<Entry>,
    /// Where each issued serial is in `entries`.
    pos: HashMap<String, usize>,
    /// The highest serial issued.
    pub(super) max: Option<Serial>,
}

impl Table {
    /// Adds one line: the issue of a serial no earlier line issues, or the first revocation of
    /// one an earlier line issues.
    pub(super) fn add(&mut self, line: &[u8]) -> std::result::Result<(), LineError> {
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
                Some(&i) => self.entries[i].revoke(&r),
                None => Err(LineError::RevokesUnissued(r.line.revoked)),
            },
            Line::Released(r) => match self.pos.get(&r.released) {
                Some(&i) => self.entries[i].release(&r),
                None => Err(LineError::ReleasesUnheld(r.released)),
            },
        }
    }
}

/// Calls `f` with every certificate, in issue order, with its revocations and releases
/// applied, holding only those events' result in memory: a first pass folds them, a second
/// streams the issued lines. Every line is parsed and checked on its own, and each serial's
/// events keep [`Standing`]'s rule; cross-line invariants beyond "every revocation names an
/// issued serial" (a serial issued twice, an event before its issue) are [`load_all`]'s and
/// `ca check`'s. `f` may stop the walk with an error.
pub fn for_each_entry(
    log: &Log,
    header: &Header,
    mut f: impl FnMut(Entry) -> Result<()>,
) -> Result<()> {
    let mut revoked = standings(log, header)?;
    walk_verified(log, header, |line| {
        if !line.starts_with(ISSUED) {
            return Ok(());
        }
        if let Line::Issued(l) = parse_line(line)? {
            let mut e = Entry::from_issued(l)?;
            if let Some(s) = revoked.remove(&e.serial.to_string()) {
                s.set(&mut e);
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

/// Where every serial that a revocation or release names stands at the end of the log, the
/// log's events folded in order (the first pass of [`for_each_entry`]).
fn standings(log: &Log, header: &Header) -> Result<HashMap<String, Standing>> {
    let mut out: HashMap<String, Standing> = HashMap::new();
    walk_verified(log, header, |line| {
        if line.starts_with(ISSUED) {
            return Ok(());
        }
        Ok(fold(&mut out, &parse_line(line)?)?)
    })?;
    Ok(out)
}

/// Applies a revocation or release line to the standing of the serial it names (an issued line
/// changes none): the one fold [`standings`] and [`scan_issued`] share.
fn fold(out: &mut HashMap<String, Standing>, line: &Line) -> std::result::Result<(), LineError> {
    match line {
        Line::Issued(_) => {}
        Line::Revoked(r) => {
            let s = out.entry(r.line.revoked.clone()).or_default();
            *s = s.revoke(&r.line.revoked, r)?;
        }
        Line::Released(r) => {
            let s = out.entry(r.released.clone()).or_default();
            *s = s.release(r)?;
        }
    }
    Ok(())
}

/// One pass over index.log, chained to the signed `log_head` before it returns: `issued` is
/// called with each issued line's serial and dates (scanned without a JSON parser,
/// [`super::scan`]; a line of another shape is parsed in full, which reports damage), and the
/// result is where each serial a revocation or release names stands at the end. What `ca
/// status` counts: one read and one hash of the log, memory in the number of revocations.
pub fn scan_issued(
    log: &Log,
    header: &Header,
    mut issued: impl FnMut(super::IssuedDates<'_>),
) -> Result<HashMap<String, Standing>> {
    let mut out: HashMap<String, Standing> = HashMap::new();
    walk_verified(log, header, |line| {
        if let Some(dates) = super::scan::issued_dates(line) {
            issued(dates);
            return Ok(());
        }
        match parse_line(line)? {
            Line::Issued(l) => {
                let e = Entry::from_issued(l)?;
                let serial = e.serial.to_string();
                issued(super::IssuedDates {
                    serial: serial.as_bytes(),
                    not_before: e.not_before.unix_timestamp(),
                    not_after: e.not_after.unix_timestamp(),
                });
            }
            event => fold(&mut out, &event)?,
        }
        Ok(())
    })?;
    Ok(out)
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
                Some(e) => Ok(e.revoke(&r)?),
                None => Err(LineError::RevokesUnissued(r.line.revoked).into()),
            },
            Line::Released(r) => match &mut found {
                Some(e) => Ok(e.release(&r)?),
                None => Err(LineError::ReleasesUnheld(r.released).into()),
            },
        }
    })?;
    Ok(found)
}

/// The certificates revoked at the end of the log, each with its last revocation, in the
/// order of those revocation lines, parsing only revocation and release lines: what a CRL
/// needs. A released hold is not listed (SPEC.md UNHOLD); a hold made final is listed once,
/// with its final reason.
///
/// The CRL is what relying parties act on: the whole log read here chains to index.json's
/// signed `log_head` ([`for_each_line`], SPEC.md CRL-CHAIN), so a line edited behind fileca's
/// back, even at the same length, never reaches a signed CRL.
pub fn revocations(log: &Log, header: &Header) -> Result<Vec<Revocation>> {
    // Each serial's standing, and where its current revocation is in `order`.
    let mut standing: HashMap<String, (Standing, Option<usize>)> = HashMap::new();
    let mut order: Vec<Option<Revocation>> = Vec::new();
    for_each_line(log, header, |line| {
        if line.starts_with(ISSUED) {
            return Ok(());
        }
        let parsed = parse_line(line)?;
        let Some(serial) = parsed.event_serial() else {
            return Ok(());
        };
        let (s, at) = standing.entry(serial.to_string()).or_default();
        if let Some(i) = at.take() {
            order[i] = None;
        }
        match parsed {
            Line::Issued(_) => {}
            Line::Revoked(r) => {
                *s = s.revoke(&r.line.revoked, &r)?;
                *at = Some(order.len());
                order.push(Some(r.line));
            }
            Line::Released(r) => *s = s.release(&r)?,
        }
        Ok(())
    })?;
    Ok(order.into_iter().flatten().collect())
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

pub use crate::error::model::SerialLookup;

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
pub(super) fn pick(
    typed: &Typed,
    mut matches: Vec<Entry>,
) -> std::result::Result<Entry, SerialLookup> {
    match matches.len() {
        1 => Ok(matches.remove(0)),
        0 => Err(SerialLookup::NotFound {
            typed: typed.digits.clone(),
            decimal: typed.digits.bytes().all(|b| b.is_ascii_digit()),
            short: typed.digits.len() < MIN_SUFFIX_DIGITS,
        }),
        _ => Err(SerialLookup::Ambiguous {
            typed: typed.digits.clone(),
            matches: matches.iter().map(|e| e.serial.to_string()).collect(),
        }),
    }
}
